# expect 3:11 specified field name 'a:b' is invalid
require "editheader";
addheader "a:b" "x";
