# expect 3:13 specified envelope part 'sender' is not supported by the envelope test
require "envelope";
if envelope "sender" "a@b.c" { keep; }
