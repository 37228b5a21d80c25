# expect 3:10 unknown tagged argument ':seconds' for the vacation command (it needs require "vacation-seconds")
require "vacation";
vacation :seconds 60 "x";
