require "envelope";
if envelope :is ["FROM", "to", "auth"] "a@b.c" { keep; }
