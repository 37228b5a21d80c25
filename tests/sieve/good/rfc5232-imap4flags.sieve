require ["fileinto", "imap4flags", "variables"];
if size :over 500K {
    setflag "\\Deleted";
}
if size :over 1M {
    addflag "MyFlags" "Big";
    if header :is "From" "boss@company.example.com" {
        # The message will be marked as "\Flagged Big" when filed into
        # mailbox "Big messages"
        addflag "MyFlags" "\\Flagged";
    }
    fileinto :flags "${MyFlags}" "Big messages";
}
if header :is "From" "grandma@example.net" {
    addflag "MyFlags" ["\\Answered", "$MDNSent"];
    fileinto :flags "${MyFlags}" "GrandMa";
}
if header :contains "Subject" "Make money" {
    removeflag "MyFlags" "\\Flagged";
    keep :flags ["\\Seen", "Junk"];
}
if hasflag :contains "MyVar" "Junk" {
    discard;
}
if hasflag :contains "Junk" {
    discard;
}
