# expect 2:15 expected ',' or ')' in the test list
if anyof (true; false) { keep; }
