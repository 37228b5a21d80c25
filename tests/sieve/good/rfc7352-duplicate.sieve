require ["duplicate", "fileinto", "mailbox", "variables", "imap4flags"];
if duplicate {
  fileinto :create "Trash/Duplicate";
}
if header :matches "subject" "ALERT: *" {
  if duplicate :seconds 60 :uniqueid "${1}" {
    setflag "\\seen";
  }
  fileinto "Alerts";
}
if duplicate :header "message-id" :handle "notifier" :seconds 1800 :last {
  keep;
}
