require ["envelope", "subaddress", "fileinto"];
if envelope :user "to" "postmaster" {
    fileinto "inbox.postmaster";
    stop;
}
if envelope :detail :is "to" "mta-filters" {
    fileinto "inbox.ietf-mta-filters";
    stop;
}
if envelope :detail :is "to" "" {
    fileinto "inbox.no-detail";
}
if address :user :is "to" "ken" { keep; }
