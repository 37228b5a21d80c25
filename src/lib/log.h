/*
 * log.h — one event a line, key=value, to stderr. A child's stderr is a pipe to the
 * master, which writes the child's lines to its own stderr, so logging works inside an
 * empty chroot and no child holds the log file (docs/security.md, Processes); each line
 * is written with one write(2) so lines from several processes never interleave. Client-supplied text must go through
 * log_sanitize() (or the "%s" of a sanitized copy) before it is logged.
 */
#ifndef BUZON_LOG_H
#define BUZON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Name of this process in each line ("master", "login", "auth", "imap"...). */
void log_set_ident(const char *ident);
void log_set_level(enum log_level level);
/*
 * log_format = json: each line is one JSON object {"ts","level","proc","pid","msg",
 * fields...}; the key=value words of the text become string fields and the other
 * words the "msg" (docs/architecture.md, Logging).
 */
void log_set_json(bool on);
bool log_json(void);
/* one JSON line, at most LOG_JSON_MAX bytes with its newline */
#define LOG_JSON_MAX 4000
/*
 * Format text as one JSON log line (with its "\n") into out (outsz >= 256, at most
 * LOG_JSON_MAX used); returns its length. Pure: exposed for the unit test.
 */
size_t log_json_format(char *out, size_t outsz, const char *ts, const char *level,
    const char *proc, long pid, const char *text, size_t len);
/*
 * The master's copy of a line a child wrote to its stderr: with log_format = json,
 * writes it as JSON (as is when it already is one of ours) and returns true; returns
 * false in text mode (the caller writes it).
 */
bool log_json_child_line(const char *proc, long pid, const char *p, size_t n);
bool log_debug_enabled(void);

void log_debug(const char *fmt, ...) PRINTF(1, 2);
void log_info(const char *fmt, ...) PRINTF(1, 2);
void log_warn(const char *fmt, ...) PRINTF(1, 2);
void log_error(const char *fmt, ...) PRINTF(1, 2);
/* Log and exit(1): an environment problem at start-up (bad config, missing cert). */
void fatal(const char *fmt, ...) PRINTF(1, 2) __attribute__((noreturn));
/* Log and abort(): a broken invariant, a bug. */
void panic(const char *fmt, ...) PRINTF(1, 2) __attribute__((noreturn));

/*
 * Copy at most `len` bytes of untrusted text into out (size outsz, >= 4), escaping
 * control characters, backslash, quote and non-ASCII as \xNN and truncating with "..."
 * so the result is one printable line. Returns out.
 */
char *log_sanitize(const void *p, size_t len, char *out, size_t outsz);

#endif
