# expect 3:10 the :days tag for the vacation command requires a number as argument, but a string was found
require "vacation";
vacation :days "x";
