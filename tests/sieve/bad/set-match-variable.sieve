# expect 3:5 cannot assign to match variable
require "variables";
set "1" "x";
