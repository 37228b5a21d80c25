# expect 2:23 unknown comparator 'i;foo'
if header :comparator "i;foo" "a" "b" { keep; }
