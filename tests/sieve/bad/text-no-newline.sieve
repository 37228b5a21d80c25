# expect 3:8 text: must be followed by a line end
require "reject";
reject text: trailing stuff
.
;
