/*
 * imap_parser.h — incremental parser for IMAP client commands (RFC 3501 §9, RFC 9051 §9):
 * tag, command name and an argument tree, fed with whatever bytes the socket delivered.
 * Runs in the login process (pre-auth limits) and the imap session process; it is the
 * first code to see attacker bytes, so it is pure (no I/O, no logging, no globals), every
 * size is checked against the limits before memory is allocated, and error texts never
 * echo client bytes.
 */
#ifndef BUZON_IMAP_PARSER_H
#define BUZON_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_NIL,		/* the unquoted atom NIL */
	IMAP_ARG_ATOM,		/* incl. flags (\Seen), "1:*", BODY.PEEK[HEADER.FIELDS (A B)]<0.10> */
	IMAP_ARG_QUOTED,	/* "..." with the escapes removed */
	IMAP_ARG_LITERAL,	/* {n}, {n+}, ~{n}, ~{n+} held in memory */
	IMAP_ARG_LIST,		/* ( ... ) */
	IMAP_ARG_LITERAL_STREAM	/* an APPEND literal the caller read itself */
};

struct imap_arg {
	enum imap_arg_type type;
	/*
	 * ATOM, QUOTED, LITERAL: the bytes, NUL-terminated (a literal may hold NULs: len is
	 * authoritative). NIL: "NIL". LIST, LITERAL_STREAM: "" and 0. Owned by the parser.
	 */
	const char *str;
	size_t len;
	const struct imap_arg *list;	/* LIST: the items, owned by the parser */
	unsigned list_count;
	bool literal8;			/* LITERAL/LITERAL_STREAM sent as ~{n} (RFC 3516) */
	uint64_t stream_size;		/* LITERAL_STREAM: octets the caller read */
	void *stream_handle;		/* LITERAL_STREAM: the handle given to stream_done */
};

struct imap_parser_limits {
	size_t max_line;		/* one command incl. in-memory literals */
	size_t max_literal;		/* one in-memory literal */
	uint64_t max_stream_literal;	/* one streamed APPEND literal (APPENDLIMIT) */
	unsigned max_depth;		/* list nesting; 0 = no lists at all */
	unsigned max_items;		/* arguments + list items in one command */
	size_t max_tag;			/* tag length */
};

/* RFC 7888 §4 (LITERAL-): non-synchronising literals larger than this are refused. */
#define IMAP_PARSER_LITERAL_MINUS_MAX 4096
/* Command names longer than this are a syntax error. */
#define IMAP_PARSER_MAX_COMMAND 64

/*
 * Fill *l with the defaults of docs/security.md, Limits. Pre-auth (authenticated == false):
 * max_line 8 KiB, max_literal 8 KiB, max_stream_literal 0, max_depth 1, max_items 1000,
 * max_tag 64. Post-auth: 64 KiB, 64 KiB, CONFIG_MAIL_MAX_SIZE_DEFAULT (50 MiB), 32, 10000,
 * 64.
 */
void imap_parser_limits_default(struct imap_parser_limits *l, bool authenticated);

enum imap_parse_result {
	IMAP_PARSE_MORE,		/* all input consumed, need more bytes */
	IMAP_PARSE_DONE,		/* one whole command incl. its CRLF parsed */
	IMAP_PARSE_LITERAL_CONT,	/* sync literal accepted: send "+ OK", keep feeding */
	IMAP_PARSE_LITERAL_STREAM,	/* APPEND literal: caller reads it, then stream_done */
	IMAP_PARSE_ERROR		/* see imap_parser_error() */
};

enum imap_parse_error {
	IMAP_PARSE_ERROR_NONE,
	/*
	 * Syntax error (or a count/depth limit): reply "<tag> BAD <text>" (or "* BAD <text>"
	 * when imap_parser_tag() is NULL). The bad line has been consumed through its LF
	 * (including a small non-synchronising literal announced on it): reset and continue.
	 */
	IMAP_PARSE_ERROR_BAD,
	/*
	 * A synchronising literal over a limit: reply "<tag> NO [TOOBIG] <text>" (never "+").
	 * The line, ending with the announcement, has been consumed: reset and continue.
	 */
	IMAP_PARSE_ERROR_TOOBIG,
	/*
	 * Cannot resynchronise (non-synchronising literal over a limit or over 4096 octets,
	 * command over max_line): send "* BYE <text>" and close the connection.
	 */
	IMAP_PARSE_ERROR_FATAL
};

/* Parser flags. */
#define IMAP_PARSER_FLAG_UTF8	0x01	/* accept 8-bit UTF-8 in quoted strings (RFC 6855) */
/*
 * LITERAL+ (RFC 7888 §3) instead of LITERAL-: a non-synchronising literal of any size is
 * accepted; an APPEND one within max_stream_literal is streamed as usual; one over its
 * limit is read and discarded (the data is on its way, the client does not wait) and
 * the command then fails with TOOBIG (APPEND) or BAD, not the connection. The literal
 * data one command may have discarded is bounded (max_stream_literal + 64 MiB); beyond
 * that the error is FATAL.
 */
#define IMAP_PARSER_FLAG_LITERAL_PLUS	0x02
/*
 * A line longer than max_line is read to its end and refused with BAD (the session
 * goes on) instead of FATAL, up to IMAP_PARSER_OVERLONG_MAX octets past max_line.
 */
#define IMAP_PARSER_FLAG_SKIP_LONG	0x04
#define IMAP_PARSER_OVERLONG_MAX	(16 * 1024 * 1024)

struct imap_parser;

/* Returns a new parser (free with imap_parser_destroy); *limits is copied. */
struct imap_parser *imap_parser_create(const struct imap_parser_limits *limits, unsigned flags);
/* Frees everything the parser owns and sets *p = NULL; NULL-safe. */
void imap_parser_destroy(struct imap_parser **p);
/*
 * Forget the current command (tag, name, args, error) and free its memory; call after
 * each DONE or ERROR (BAD/TOOBIG) before feeding the next command. Feeding a parser that
 * returned DONE or ERROR without a reset is a bug and aborts.
 */
void imap_parser_reset(struct imap_parser *p);
/* Replace the limits (e.g. after login); takes effect from the next command. */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits);
void imap_parser_set_flags(struct imap_parser *p, unsigned flags);

/*
 * Parse data[0..len). *consumed_r is set to the number of bytes used; the caller keeps
 * the rest for the next call (after answering DONE/ERROR and resetting, or after sending
 * "+" for LITERAL_CONT). Returns:
 *   MORE            everything consumed (*consumed_r == len); feed more bytes
 *   DONE            a whole command incl. CRLF; tag/command/args are valid until reset
 *   LITERAL_CONT    a synchronising literal {n} / ~{n} was announced and accepted: send
 *                   "+ OK" and keep feeding (the literal bytes follow)
 *   LITERAL_STREAM  APPEND literal (depth 0, argument index >= 1, or the literal8 of
 *                   RFC 6855 §4 "UTF8 (~{n}...)", first in the list after the atom
 *                   UTF8, where it becomes the list's item, or a part "TEXT {n}" in
 *                   the list after the atom CATENATE, RFC 4469; the same for REPLACE
 *                   from index 2 and UID REPLACE from 3, RFC 8508) announced and within
 *                   max_stream_literal: send "+ OK" if imap_parser_literal_is_sync(), read
 *                   exactly imap_parser_literal_size() octets yourself (they are NOT fed
 *                   to the parser), then call imap_parser_stream_done() and keep feeding
 *   ERROR           see imap_parser_error()
 * Bare LF is accepted as a line ending as well as CRLF. An empty line is a BAD without tag.
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const unsigned char *data,
    size_t len, size_t *consumed_r);

/*
 * After LITERAL_STREAM: the caller has read the literal's octets; record them as an
 * IMAP_ARG_LITERAL_STREAM argument (stream_size = the announced size, stream_handle =
 * handle, not touched by the parser) and resume parsing. Calling it in any other state
 * aborts.
 */
void imap_parser_stream_done(struct imap_parser *p, void *handle);

/* Size n of the literal just announced (LITERAL_CONT, LITERAL_STREAM, TOOBIG; UINT64_MAX
 * when the announced number overflowed). */
uint64_t imap_parser_literal_size(const struct imap_parser *p);
/* true if that literal is synchronising ({n} rather than {n+}). */
bool imap_parser_literal_is_sync(const struct imap_parser *p);
/* true if that literal is a literal8 (~{n}, RFC 3516). */
bool imap_parser_literal_is_binary(const struct imap_parser *p);

/*
 * The tag, NUL-terminated, or NULL if no complete valid tag has been seen on this line
 * (missing, over max_tag, or with chars outside tag-char): then never echo anything and
 * answer "* BAD". Valid until reset. Available after DONE and after errors.
 */
const char *imap_parser_tag(const struct imap_parser *p);
/* The command name as sent (NUL-terminated), or NULL if not complete yet. */
const char *imap_parser_command(const struct imap_parser *p);
/*
 * The top-level arguments after the command name (after DONE). *count_r gets their
 * number; the array and everything it points to are owned by the parser until reset.
 */
const struct imap_arg *imap_parser_args(const struct imap_parser *p, unsigned *count_r);

/*
 * The items so far of the innermost list still open (a streamed literal inside a list:
 * CATENATE's TEXT parts, RFC 6855's UTF8 message), which imap_parser_args does not show
 * until it closes (*items_r may be NULL when *count_r is 0). Owned by the parser.
 * Returns false at the top level (no list open).
 */
bool imap_parser_open_list(const struct imap_parser *p, const struct imap_arg **items_r,
    unsigned *count_r);

/*
 * After ERROR: the kind and, in *text_r, a short constant client-safe text (no client
 * bytes, no CRLF). Returns IMAP_PARSE_ERROR_NONE if there was no error.
 */
enum imap_parse_error imap_parser_error(const struct imap_parser *p, const char **text_r);

/* Helpers for command handlers. */

/* true if a is an ATOM equal to name, ASCII case-insensitively. */
bool imap_arg_atom_equals(const struct imap_arg *a, const char *name);
/*
 * astring (RFC 3501 §9: atom, quoted or in-memory literal): sets *str_r and *len_r and
 * returns true. IMAP_ARG_NIL counts as the astring "NIL" (e.g. a mailbox named NIL).
 * false for lists, streamed literals and literal8 (~{n}, which may hold NUL).
 */
bool imap_arg_get_astring(const struct imap_arg *a, const char **str_r, size_t *len_r);
/* string (quoted or in-memory literal only; not literal8). */
bool imap_arg_get_string(const struct imap_arg *a, const char **str_r, size_t *len_r);
/* nstring: NIL gives true with *str_r = NULL, *len_r = 0. */
bool imap_arg_get_nstring(const struct imap_arg *a, const char **str_r, size_t *len_r);
/* LIST: sets *list_r and *count_r. */
bool imap_arg_get_list(const struct imap_arg *a, const struct imap_arg **list_r,
    unsigned *count_r);

#endif
