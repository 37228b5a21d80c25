# expect 3:10 expects a string as argument 1 (folder), but a string list was found
require "fileinto";
fileinto ["a", "b"];
