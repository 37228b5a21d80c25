# expect 3:1 require commands can only be placed
keep;
require "fileinto";
