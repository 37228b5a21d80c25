# expect 2:4 unknown test 'heder'
if heder "a" "b" { keep; }
