# expect 2:1 the keep command does not accept a command block
keep { stop; }
