# expect 3:1 global command requires that variables extension is active
require "include";
global "x";
