# expect 2:16 expected ';' or '{' after the command's arguments, but found '}'
if true { keep }
