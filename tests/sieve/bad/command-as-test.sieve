# expect 2:4 unknown test 'keep'
if keep { stop; }
