/*
 * master_notify.c — tells the service manager what the master is doing, through
 * sd_notify(3) (systemd's Type=notify; contrib/systemd/buzon.service): READY=1 once the
 * listeners are up and the children started, RELOADING=1 (with MONOTONIC_USEC) and then
 * READY=1 around a reload, STOPPING=1 at shutdown, and STATUS= with the session counts,
 * sent again when they change (looked at every MASTER_NOTIFY_STATUS_SEC seconds). Runs
 * in the master. Without libsystemd this compiles to nothing; without $NOTIFY_SOCKET
 * sd_notify does nothing. The children never get $NOTIFY_SOCKET (master_child.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "master/master_private.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

#define MASTER_NOTIFY_STATUS_SEC	2

static struct event *status_timer;
static char last_status[160];

/* "STATUS=..." with the counts the master knows: connections not yet logged in (held
 * by login processes), users with sessions (mail processes not idle), processes. */
static void
status_line(char *out, size_t size)
{
	unsigned users = 0, mail = 0, login = 0;

	for (struct child *ch = M.children; ch != NULL; ch = ch->next) {
		if (ch->role == ROLE_MAIL) {
			mail++;
			if (!ch->empty || ch->handoffs > 0)
				users++;
		} else if (ch->role == ROLE_LOGIN) {
			login++;
		}
	}
	snprintf(out, size, "STATUS=%u logging in, %u users with sessions, %u mail processes, "
	    "%u login processes", M.prelogin, users, mail, login);
}

static void
status_cb(evutil_socket_t fd, short what, void *ctx)
{
	char line[sizeof(last_status)];

	status_line(line, sizeof(line));
	if (strcmp(line, last_status) != 0) {
		memcpy(last_status, line, sizeof(line));
		(void)sd_notify(0, line);
	}
}

void
master_notify_ready(void)
{
	struct timeval tv = { MASTER_NOTIFY_STATUS_SEC, 0 };
	char msg[sizeof(last_status) + 16];

	status_line(last_status, sizeof(last_status));
	snprintf(msg, sizeof(msg), "READY=1\n%s", last_status);
	(void)sd_notify(0, msg);
	if (status_timer == NULL && getenv("NOTIFY_SOCKET") != NULL) {
		status_timer = event_new(M.base, -1, EV_PERSIST, status_cb, NULL);
		evtimer_add(status_timer, &tv);
	}
}

void
master_notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void
master_notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}

void
master_notify_deinit(void)
{
	if (status_timer != NULL)
		event_free(status_timer);
	status_timer = NULL;
}

#else

void master_notify_ready(void) { }
void master_notify_reloading(void) { }
void master_notify_stopping(void) { }
void master_notify_deinit(void) { }

#endif
