# expect 2:11 the header test expects a string list as argument 1 (header names), but a number was found
if header 1 "b" { keep; }
