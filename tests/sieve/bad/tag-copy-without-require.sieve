# expect 3:10 unknown tagged argument ':copy' for the fileinto command
require "fileinto";
fileinto :copy "x";
