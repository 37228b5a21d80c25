# expect 2:1 the keep command does not accept tests
keep true;
