# expect 3:26 the :header and :uniqueid arguments cannot be combined
require "duplicate";
if duplicate :header "a" :uniqueid "b" { keep; }
