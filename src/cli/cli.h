/*
 * cli.h — subcommand dispatch of the buzon binary.
 */
#ifndef BUZON_CLI_H
#define BUZON_CLI_H

int cli_main(int argc, char **argv);
/* `buzon user ...` (argv[0] == "user"). */
int cli_user(int argc, char **argv);

#endif
