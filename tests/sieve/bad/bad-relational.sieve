# expect 3:18 the :value match-type requires a constant string argument
require "relational";
if header :value "xx" "a" "b" { keep; }
