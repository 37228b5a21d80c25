require ["ereject"];
if header :contains "subject" "viagra" {
    ereject "I don't want your spam";
}
