/*
 * cli.c — parses the command line and runs a subcommand. Runs as whoever invoked
 * buzon; `serve` becomes the master process.
 */
#include "cli/cli.h"

#include "lib/log.h"
#include "lib/util.h"

static int
usage(void)
{
	fprintf(stderr,
	    "usage: buzon serve -c FILE\n"
	    "       buzon user add|passwd|del|list -c FILE [NAME]\n"
	    "       buzon check -c FILE\n"
	    "       buzon reload|stop -c FILE\n"
	    "       buzon version\n");
	return 64;
}

int
cli_main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "version") == 0) {
		printf("buzon 0.1.0\n");
		return 0;
	}
	return usage();
}
