/*
 * imap_stdio.c — test driver. `buzon-imap-stdio -c FILE -u USER` runs the same code as
 * `buzon imap -c FILE -u USER` (imap_preauth_main), so the protocol tests can run
 * independently of the CLI wiring; with `-l PORT` it listens on 127.0.0.1:PORT and
 * serves every connection as a PREAUTH session of USER in this one process (the shared
 * mail-process path: sessions see each other's changes without inotify). Not installed.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap/imap_client.h"
#include "lib/util.h"

static int
listen_port(const char *port_s)
{
	struct sockaddr_in sin;
	uint32_t port;
	int fd, one = 1;

	if (parse_u32(port_s, strlen(port_s), &port) < 0 || port > 65535)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	const char *cfg = NULL, *user = NULL, *port = NULL;
	int i, fd;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-c") == 0)
			cfg = argv[i + 1];
		else if (strcmp(argv[i], "-u") == 0)
			user = argv[i + 1];
		else if (strcmp(argv[i], "-l") == 0)
			port = argv[i + 1];
	}
	if (cfg == NULL || user == NULL) {
		fprintf(stderr, "usage: buzon-imap-stdio -c FILE -u USER [-l PORT]\n");
		return 64;
	}
	if (port == NULL)
		return imap_preauth_main(cfg, user);
	fd = listen_port(port);
	if (fd < 0) {
		perror("listen");
		return 71;
	}
	return imap_preauth_serve(cfg, user, fd);
}
