/*
 * main.c — the one buzon binary: dispatches to the subcommand (serve, user, check,
 * reload, stop, deliver, import, version) and to the internal child roles the master
 * execs (login, auth, mail). Runs in every process before its role starts.
 */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
