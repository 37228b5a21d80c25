# expect 3:1 expected a command, but found '}'
keep;
}
