# expect 2:1 unknown command 'foo'
foo;
bar;
if baz { keep; }
