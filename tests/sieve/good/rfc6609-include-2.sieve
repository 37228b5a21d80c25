require ["variables", "include", "relational"];
global "test";
global "test_mailbox";
global ["a", "b"];
set "test" "$$";
set "global.x" "1";
include "subscript1";
if string :count "eq" "${test}" "0" { return; }
