# expect 2:15 the :is and :contains arguments cannot be combined
if header :is :contains "a" "b" { keep; }
