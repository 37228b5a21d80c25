require "fileinto";
if header :is "a" "b" {
  fileinto "x";
}
keep; # CRLF script
