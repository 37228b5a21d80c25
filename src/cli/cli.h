/*
 * cli.h — subcommand dispatch of the buzon binary.
 */
#ifndef BUZON_CLI_H
#define BUZON_CLI_H

int cli_main(int argc, char **argv);
/* `buzon user ...` (argv[0] == "user"). */
int cli_user(int argc, char **argv);
/* `buzon index rebuild|check ...` (argv[0] == "index"): exit 0 ok, 1 differences
 * (check), 64 usage, 67 no such user, 75 temporary failure. */
int cli_index(int argc, char **argv);

/* `buzon sieve check FILE...` (argv[0] == "sieve"): exit 0 all valid, 1 errors
 * (on stderr, "FILE: line L:C: error: ..."; warnings alike), 2 usage. */
int cli_sieve(int argc, char **argv);

#endif
