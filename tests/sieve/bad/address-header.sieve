# expect 2:16 specified header 'subject' is not allowed for the address test
if address :is "subject" "a@b.c" { keep; }
