# expect 2:4 the header test requires 2 positional argument(s), but 6 were found
if header "a" "b" "c" "d" "e" "f" { keep; }
