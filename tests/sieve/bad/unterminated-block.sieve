# expect 4:1 expected '}' closing the block, but found end of script
if true { keep;

