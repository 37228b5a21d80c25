# expect 2:23 unknown comparator 'i;ascii-numeric'
if header :comparator "i;ascii-numeric" "a" "b" { keep; }
