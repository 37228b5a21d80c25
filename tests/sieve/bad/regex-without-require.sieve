# expect 2:11 unknown tagged argument ':regex' for the header test
if header :regex "a" "b" { keep; }
