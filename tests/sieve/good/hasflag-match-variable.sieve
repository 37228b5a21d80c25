require ["imap4flags", "variables"];
if hasflag :is "2" "\\Seen" { keep; }
