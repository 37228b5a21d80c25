# expect 3:18 the :index tag for the header test cannot be zero
require "index";
if header :index 0 "a" "b" { keep; }
