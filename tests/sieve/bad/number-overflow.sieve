# expect 2:15 number exceeds integer limits
if size :over 18446744073709551616 { keep; }
