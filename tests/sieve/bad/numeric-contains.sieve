# expect 3:4 the specified i;ascii-numeric comparator does not support sub-string matching as required by the :contains match type
require "comparator-i;ascii-numeric";
if header :contains :comparator "i;ascii-numeric" "X-Score" "1" { keep; }
