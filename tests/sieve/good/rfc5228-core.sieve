# RFC 5228 §§2-5: control, actions and tests
/* a bracketed
   comment */
if header :contains ["from"] "coyote" {
   redirect "acm@example.com";
} elsif header :contains "subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
}
if header :contains :comparator "i;octet" "Subject" "MAKE MONEY FAST" {
   discard;
}
if not exists ["From","Date"] {
   discard;
}
if size :over 500K { discard; }
if size :under 1M { keep; } else { discard; }
if allof (header :contains "From" "Cursive", header :contains "X-Mailer" "OutHouse") {
   stop;
}
if address :comparator "i;ascii-casemap" :localpart "from" "tim" { keep; }
if anyof (true, false) { keep; }
if header :matches "Subject" "\"quoted\" \\ and \? escapes" { keep; }
if header :is "X-Text" text: # a comment after text:
first line
..dot-stuffed line
.
{ keep; }
