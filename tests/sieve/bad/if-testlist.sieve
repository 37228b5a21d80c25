# expect 2:1 the if command requires one sub-test, but a list of tests is specified
if (true) { keep; }
