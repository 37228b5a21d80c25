# expect 2:1 unknown command 'fileinto' (it needs require "fileinto")
fileinto "x";
