/*
 * control.h — the control socket's line protocol (docs/architecture.md, "The control
 * socket"): one request line "VERB [ARG...]" of at most CONTROL_LINE_MAX octets ending
 * in LF (a CR before it is dropped), words separated by spaces, a word with spaces or
 * quotes written as a "quoted string" with \" and \\ escapes. Parsed in the master from
 * a local client that passed the peer check, still treated as untrusted: bounded,
 * nothing allocated, no control characters. Pure, no I/O, no logging.
 */
#ifndef BUZON_CONTROL_H
#define BUZON_CONTROL_H

#include <stddef.h>

#define CONTROL_LINE_MAX	4096	/* a request line, LF included */
#define CONTROL_ARGS_MAX	8	/* words of a request */

enum control_result {
	CONTROL_MORE,		/* no LF yet within the limit: keep the bytes, add more */
	CONTROL_DONE,		/* one request in req */
	CONTROL_ERROR,		/* over the limit, a control character, a bad quoted word */
};

/* The verbs; each takes its own count of arguments (control_verb). */
enum control_verb {
	CONTROL_WHO = 1,		/* who */
	CONTROL_KICK,			/* kick USER [ADDRESS] */
	CONTROL_MAILBOX_STATUS,		/* mailbox status USER [FOLDER] */
	CONTROL_BAN_LIST,		/* ban list */
	CONTROL_BAN_REMOVE,		/* ban remove ADDRESS */
	CONTROL_QUOTA_GET,		/* quota get USER */
	CONTROL_QUOTA_RECALC,		/* quota recalc USER */
	CONTROL_INDEX_REBUILD,		/* index rebuild USER [FOLDER] */
};

struct control_req {
	enum control_verb verb;	/* on DONE */
	unsigned argc;		/* the words after the verb's own */
	const char *argv[CONTROL_ARGS_MAX];	/* NUL-terminated, inside buf */
	char buf[CONTROL_LINE_MAX];
};

/*
 * Parse one request from data[0..len). DONE: *used_r octets (the line and its LF) are
 * consumed and req is filled: a known verb with the right number of arguments, none
 * empty. MORE: *used_r = 0. ERROR: *used_r = 0 and *error_r a short reason for the
 * client ("line too long", "unknown verb", ...), static.
 */
enum control_result control_parse(const unsigned char *data, size_t len,
    struct control_req *req, size_t *used_r, const char **error_r);

#endif
