# expect 3:18 the :days and :seconds arguments cannot be combined
require "vacation-seconds";
vacation :days 1 :seconds 60 "x";
