if size :over 18446744073709551615 { keep; }
if size :under 17179869183G { keep; }
