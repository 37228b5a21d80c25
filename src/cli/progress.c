/*
 * progress.c — the status line of long administrator commands. Runs in the command's
 * own process, after its privilege drop; writes only to stderr, only on a terminal.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"

#define PROGRESS_INTERVAL_MS 100
#define PROGRESS_WIDTH 79

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
progress_init(struct progress *p)
{
	const char *term = getenv("TERM");

	memset(p, 0, sizeof(*p));
	p->on = isatty(STDERR_FILENO) && (term == NULL || strcmp(term, "dumb") != 0);
}

void
progress_update(struct progress *p, bool force, const char *fmt, ...)
{
	char line[PROGRESS_WIDTH + 1];
	uint64_t t;
	va_list ap;

	if (!p->on)
		return;
	t = now_ms();
	if (!force && p->shown && t - p->last_ms < PROGRESS_INTERVAL_MS)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);	/* cut to one screen line */
	va_end(ap);
	/* carriage return, the text, erase to the end of the line */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->shown = true;
	p->last_ms = t;
}

void
progress_done(struct progress *p)
{
	if (!p->on || !p->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->shown = false;
}
