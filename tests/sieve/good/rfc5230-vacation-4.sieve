require "vacation";
if header :contains "from" "boss@example.edu" {
    redirect "pleeb@isp.example.org";
} else {
    vacation "Sorry, I'm away, I'll read your
message when I get around to it.";
}
if header :contains ["accept-language", "content-language"] "en"
{
    vacation "I am away this week.";
} else {
    vacation "Estoy ausente esta semana.";
}
if address :matches "from" "*@ourdivision.example.com"
{
    vacation :subject "Gone fishing"
             :from "deputy@example.com" :handle "fishing"
             "Please contact my deputy at 555-1234";
}
