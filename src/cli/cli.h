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

#endif
