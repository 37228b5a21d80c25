# expect 3:19 the :personal and :global arguments cannot be combined
require "include";
include :personal :global "a";
