# expect 3:7 the else command must follow
if true { keep; }
keep; else { stop; }
