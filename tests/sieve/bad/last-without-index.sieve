# expect 3:4 the :last tag for the header test cannot be specified without the :index tag
require "index";
if header :last "a" "b" { keep; }
