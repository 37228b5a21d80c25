# expect 3:1 unknown command 'fileinot'
require "fileinto";
fileinot "x";
