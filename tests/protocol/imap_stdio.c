/*
 * imap_stdio.c — test driver: `buzon-imap-stdio -c FILE -u USER` runs the same code as
 * `buzon imap -c FILE -u USER` (imap_preauth_main), so the protocol tests can run
 * before (and independently of) the CLI wiring. Not installed.
 */
#include <stdio.h>
#include <string.h>

#include "imap/imap_client.h"

int
main(int argc, char **argv)
{
	const char *cfg = NULL, *user = NULL;
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-c") == 0)
			cfg = argv[i + 1];
		else if (strcmp(argv[i], "-u") == 0)
			user = argv[i + 1];
	}
	if (cfg == NULL || user == NULL) {
		fprintf(stderr, "usage: buzon-imap-stdio -c FILE -u USER\n");
		return 64;
	}
	return imap_preauth_main(cfg, user);
}
