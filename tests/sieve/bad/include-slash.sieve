# expect 3:9 invalid script name 'a/b'
require "include";
include "a/b";
