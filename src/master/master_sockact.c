/*
 * master_sockact.c — socket activation: listening sockets opened by the service manager
 * (systemd's buzon.socket, or systemd-socket-activate) and passed in at exec with
 * $LISTEN_PID, $LISTEN_FDS (and $LISTEN_FDNAMES), starting at fd 3 — the sd_listen_fds(3)
 * protocol, read here without libsystemd. Runs in the master at start, before any
 * listener is made: each configured listener first looks for a passed socket bound to
 * its exact address and port (or Unix path) and takes it instead of binding; a passed
 * socket no listener wants is logged and closed. The environment variables are removed
 * so that no child sees them. Security role: the sockets are the service manager's; a
 * passed fd that is not a listening stream socket is refused (docs/systemd.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "master/master_private.h"

#define SOCKACT_FIRST_FD	3
#define SOCKACT_MAX		64

static int passed[SOCKACT_MAX];
static unsigned npassed;

static bool
listening_stream(int fd)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return false;
	len = sizeof(acc);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc != 0;
}

void
master_sockact_collect(void)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	uint32_t pid, n;

	if (pid_s == NULL || fds_s == NULL)
		return;
	if (parse_u32(pid_s, strlen(pid_s), &pid) < 0 || (pid_t)pid != getpid() ||
	    parse_u32(fds_s, strlen(fds_s), &n) < 0)
		n = 0;			/* meant for another process */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > SOCKACT_MAX)
		fatal("socket activation: %u sockets passed, at most %d", (unsigned)n,
		    SOCKACT_MAX);
	for (uint32_t i = 0; i < n; i++) {
		int fd = SOCKACT_FIRST_FD + (int)i;

		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			fatal("socket activation: fd %d: %s", fd, strerror(errno));
		if (!listening_stream(fd))
			fatal("socket activation: fd %d is not a listening stream socket", fd);
		passed[npassed++] = fd;
	}
	if (npassed > 0)
		log_info("socket activation: %u socket%s passed by the service manager", npassed,
		    npassed == 1 ? "" : "s");
}

static int
take(unsigned i)
{
	int fd = passed[i], fl;

	passed[i] = passed[--npassed];
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatal("socket activation: fd %d: %s", fd, strerror(errno));
	return fd;
}

/* The same family, port and address. */
static bool
inet_same(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

int
master_sockact_take_inet(const struct sockaddr *sa)
{
	for (unsigned i = 0; i < npassed; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getsockname(passed[i], (struct sockaddr *)&ss, &len) == 0 &&
		    inet_same(sa, &ss))
			return take(i);
	}
	return -1;
}

int
master_sockact_take_unix(const char *path)
{
	for (unsigned i = 0; i < npassed; i++) {
		struct sockaddr_un sun;
		socklen_t len = sizeof(sun);

		memset(&sun, 0, sizeof(sun));
		if (getsockname(passed[i], (struct sockaddr *)&sun, &len) == 0 &&
		    sun.sun_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path) &&
		    strncmp(sun.sun_path, path, sizeof(sun.sun_path)) == 0)
			return take(i);
	}
	return -1;
}

static void
addr_format(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, size, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, size, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *su = (const void *)ss;

		snprintf(out, size, "unix:%.*s", (int)sizeof(su->sun_path), su->sun_path);
	}
}

void
master_sockact_close_unused(void)
{
	while (npassed > 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char addr[128] = "?";
		int fd = passed[--npassed];

		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			addr_format(&ss, addr, sizeof(addr));
		log_warn("socket activation: the passed socket %s matches no listener of the "
		    "configuration; closed", addr);
		close(fd);
	}
}
