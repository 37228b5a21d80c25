# expect 2:1 the redirect command requires 1 positional argument(s), but 0 were found
redirect;
