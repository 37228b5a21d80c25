# expect 2:4 the not test requires one sub-test, but none
if not { keep; }
