# expect 3:5 referring to variable in unknown namespace 'a'
require "variables";
set "a.b" "x";
