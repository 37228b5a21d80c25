# expect 3:1 the setflag command only allows for the specification of a variable name
require "imap4flags";
setflag "var" "\\Seen";
