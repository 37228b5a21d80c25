# expect 2:16 expected ',' or ']' in the string list
if exists ["a" "b"] { keep; }
