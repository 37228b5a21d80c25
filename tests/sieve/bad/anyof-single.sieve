# expect 2:4 the anyof test requires a list of sub-tests
if anyof true { keep; }
