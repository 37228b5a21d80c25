# expect 3:15 invalid unicode character 0x0000d800
require "encoded-character";
if header "a" "${unicode:D800}" { keep; }
