/*
 * progress.h — one status line for long administrator commands (`import mbox`,
 * `index rebuild`, `import-dovecot-config`), written to stderr only when stderr is a
 * terminal; in scripts, cron and pipes the commands stay quiet (README, "Commands").
 */
#ifndef BUZON_CLI_PROGRESS_H
#define BUZON_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool on;		/* stderr is a terminal and TERM is not "dumb" */
	bool shown;		/* a line is on the screen */
	uint64_t last_ms;	/* when the line was last drawn */
};

void progress_init(struct progress *p);
/* Redraw the line with fmt, at most ten times a second unless force. */
void progress_update(struct progress *p, bool force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Erase the line, so the command's own summary is printed on a clean line. */
void progress_done(struct progress *p);

#endif
