require ["environment", "fileinto"];
if environment :matches "remote-host" "*.example.com" {
        fileinto "local";
}
if environment :is "location" "MS" { keep; }
