# expect 2:7 unterminated comment
keep; /* no end
