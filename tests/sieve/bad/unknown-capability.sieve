# expect 2:9 unknown Sieve capability 'fileinot'
require "fileinot";
