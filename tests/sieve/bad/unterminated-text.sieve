# expect 2:30 unterminated multi-line string
require "vacation"; vacation text:
no dot line
