REQUIRE "fileinto";
IF Header :Is "a" "b" { KEEP; } ELSIF TRUE { STOP; } Else { Discard; }
