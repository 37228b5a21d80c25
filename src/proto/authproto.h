/*
 * authproto.h — the client side of the Dovecot authentication protocol, version 1.x, as
 * Postfix (smtpd_sasl_type = dovecot) and Exim speak it to an auth server: one command
 * per LF-terminated line, fields separated by TAB (doc: docs/postfix.md). Parsed in the
 * login process (the auth_listen front end, src/login/auth_login.c) from a local but
 * untrusted client: every line is bounded, nothing is allocated, results point into
 * the caller's bytes. Pure, no I/O, no logging.
 */
#ifndef BUZON_AUTHPROTO_H
#define BUZON_AUTHPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One line including its LF: the limit of the protocol's version 1.1 text, below the
 * login process's pre-login input bound (12 KiB), far above what PLAIN with a 255-octet
 * name and a 1024-octet password takes (about 1.7 KiB).
 */
#define AUTHPROTO_LINE_MAX	8192
#define AUTHPROTO_MAJOR		1	/* the protocol version this server speaks */
#define AUTHPROTO_MINOR		2

enum authproto_cmd_id {
	AUTHPROTO_UNKNOWN = 0,	/* any other command word (the server disconnects) */
	AUTHPROTO_VERSION,	/* VERSION major minor */
	AUTHPROTO_CPID,		/* CPID pid */
	AUTHPROTO_AUTH,		/* AUTH id mech [params...] */
	AUTHPROTO_CONT,		/* CONT id data */
};

enum authproto_result {
	AUTHPROTO_MORE,		/* no whole line yet: keep the bytes, add more */
	AUTHPROTO_DONE,		/* one command in *cmd */
	AUTHPROTO_ERROR,	/* cmd->error says why (the server disconnects) */
};

enum authproto_error {
	AUTHPROTO_ERR_NONE = 0,
	AUTHPROTO_ERR_TOOLONG,	/* no LF within AUTHPROTO_LINE_MAX octets (nothing consumed) */
	AUTHPROTO_ERR_NUL,	/* a NUL octet in the line */
	AUTHPROTO_ERR_SYNTAX,	/* a known command with missing or malformed fields */
};

/* Length-counted text inside the caller's input; p is NULL when absent. */
struct authproto_str {
	const char *p;
	size_t len;
};

struct authproto_cmd {
	enum authproto_cmd_id id;
	struct authproto_str word;	/* the command word as sent */
	uint32_t major, minor;		/* VERSION */
	uint32_t pid;			/* CPID (> 0) */
	uint32_t req_id;		/* AUTH, CONT: the client's request id */
	/* AUTH: the mechanism (non-empty) and the optional parameters buzon uses; any
	 * other parameter (nologin, session=, lport= ...) is skipped, as the protocol says.
	 * The same known parameter twice is a syntax error. */
	struct authproto_str mech, service, rip, lip, resp;
	bool secured;			/* AUTH: the client's connection is encrypted */
	struct authproto_str data;	/* CONT: the response (base64, may be empty) */
	enum authproto_error error;
};

/*
 * Parse one line from data[0..len). DONE: *cmd is filled, *used_r octets (the line and
 * its LF) are consumed; a CR before the LF is dropped. ERROR: NUL and SYNTAX consume the
 * line, TOOLONG consumes nothing (the caller drops the connection). MORE: *used_r = 0.
 * Values keep their \001 escapes (the parameters buzon uses are IP addresses, base64
 * and names compared with known words: an escape makes them invalid, never different).
 */
enum authproto_result authproto_parse(const unsigned char *data, size_t len,
    struct authproto_cmd *cmd, size_t *used_r);

/*
 * Write s[0..len) into out (out_size octets, NUL-terminated) with the protocol's \001
 * escapes for NUL, \001, TAB, CR and LF, for values the server sends (user=). Returns
 * the length written, or -1 when it does not fit.
 */
int authproto_escape(const char *s, size_t len, char *out, size_t out_size);

#endif
