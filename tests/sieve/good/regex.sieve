require ["regex", "variables", "fileinto"];
if address :regex ["from", "reply-to"] "^.*@example\\.com$" {
    discard;
}
if header :regex "List-ID" "<(.*)@" {
    fileinto "lists.${1}";
    stop;
}
