# expect 2:1 the if command requires one sub-test, but none
if { keep; }
