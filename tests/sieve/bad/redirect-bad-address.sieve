# expect 2:10 specified redirect address 'foo' is invalid
redirect "foo";
