require ["fileinto", "mailbox"];
if mailboxexists "Partners" {
  fileinto "Partners";
} else {
  fileinto :create "Partners";
}
