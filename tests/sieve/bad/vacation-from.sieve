# expect 3:16 specified :from address 'nobody' is invalid for vacation action
require "vacation";
vacation :from "nobody" "x";
