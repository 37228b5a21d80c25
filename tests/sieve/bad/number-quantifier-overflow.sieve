# expect 2:15 number exceeds integer limits
if size :over 99999999999G { keep; }
