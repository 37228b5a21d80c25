# expect 3:4 regex match type only supports i;octet and i;ascii-casemap
require ["regex", "comparator-i;ascii-numeric"];
if header :regex :comparator "i;ascii-numeric" "a" "1" { keep; }
