# expect 2:1 the if command requires a command block
if true;
