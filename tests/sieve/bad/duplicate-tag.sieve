# expect 3:18 duplicate :days argument for the vacation command
require "vacation";
vacation :days 1 :days 2 "x";
