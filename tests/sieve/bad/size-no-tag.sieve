# expect 2:4 the size test requires either the :under or the :over tag
if size 10 { keep; }
