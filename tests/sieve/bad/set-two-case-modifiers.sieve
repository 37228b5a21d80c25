# expect 3:12 the :lower and :upper arguments cannot be combined
require "variables";
set :lower :upper "a" "x";
