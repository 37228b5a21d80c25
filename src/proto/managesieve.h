/*
 * managesieve.h — the ManageSieve (RFC 5804) command line parser: a command name and up
 * to MS_ARGS_MAX arguments (atoms, quoted strings, literals {n+} and {n}), ending in
 * CRLF. Pure: bytes in, a command and a consumed count out; no I/O, no logging. Used by
 * the login process (before authentication) and the mail process (after it) on
 * untrusted input: the bytes outside literals are bounded by line_max, each literal by
 * literal_max, both checked before anything waits for more input.
 */
#ifndef BUZON_PROTO_MANAGESIEVE_H
#define BUZON_PROTO_MANAGESIEVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MS_ARGS_MAX	4	/* RENAMESCRIPT and HAVESPACE take two: room for junk */
#define MS_QUOTED_MAX	1024	/* RFC 5804 §4: quoted = DQUOTE *1024QUOTED-CHAR DQUOTE */
#define MS_NAME_MAX	32	/* command names and atoms */

enum ms_parse_result { MS_PARSE_DONE, MS_PARSE_MORE, MS_PARSE_ERROR };

enum ms_error {
	MS_ERR_NONE,
	MS_ERR_SYNTAX,		/* not a command line: the line is dropped (used_r) */
	MS_ERR_NUL,		/* a NUL outside a literal: the line is dropped (used_r) */
	MS_ERR_ARGS,		/* more than MS_ARGS_MAX arguments: the line is dropped */
	MS_ERR_TOOLONG,		/* more than line_max bytes outside literals: close */
	MS_ERR_LITERAL,		/* a literal over literal_max (see managesieve_parse) */
};

enum ms_arg_type { MS_ARG_ATOM, MS_ARG_STRING };

struct ms_arg {
	enum ms_arg_type type;
	const char *p;		/* into the input (atoms, literals) or ms_cmd.qbuf (quoted) */
	size_t len;
	bool literal;
};

struct ms_cmd {
	struct ms_arg name;	/* the command (string_only: unused) */
	unsigned argc;
	struct ms_arg args[MS_ARGS_MAX];
	enum ms_error error;
	uint64_t skip;		/* MS_ERR_LITERAL: the literal's length (0: unbounded) */
	char qbuf[MS_ARGS_MAX][MS_QUOTED_MAX];	/* unescaped quoted strings */
};

struct ms_limits {
	size_t line_max;	/* bytes of one line outside literal contents */
	uint64_t literal_max;	/* bytes of one literal */
};

/*
 * Parse one command line from data[0..len). string_only: the line is one string (a
 * SASL response, RFC 5804 §2.1) stored in args[0]. Returns MS_PARSE_DONE (cmd filled,
 * pointing into data and cmd->qbuf; *used_r bytes through the CRLF), MS_PARSE_MORE
 * (*used_r = 0: call again with more bytes), or MS_PARSE_ERROR (cmd->error; for SYNTAX,
 * NUL and ARGS *used_r is the line through its LF, to drop; TOOLONG means the connection
 * cannot be resynchronised; LITERAL: *used_r is through the literal's header and
 * cmd->skip its length, which the caller discards with the rest of the line (or closes),
 * or *used_r = 0 and skip = 0 for a length of 20 digits or more: close).
 */
enum ms_parse_result managesieve_parse(const unsigned char *data, size_t len,
    const struct ms_limits *lim, bool string_only, struct ms_cmd *cmd, size_t *used_r);

/* A number argument (atom of digits, RFC 5804 §4 number, < 2^32) into *n_r; 0 or -1. */
int managesieve_arg_u32(const struct ms_arg *a, uint32_t *n_r);

/* Whether a[0..len) is valid UTF-8 without control characters (RFC 5804 §1.6 names). */
bool managesieve_name_valid(const char *p, size_t len);

#endif
