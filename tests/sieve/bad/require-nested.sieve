# expect 2:11 require commands can only be placed
if true { require "fileinto"; }
