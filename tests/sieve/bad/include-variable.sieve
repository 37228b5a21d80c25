# expect 3:19 the include command requires a constant string
require ["include", "variables"];
include :optional "${name}";
