/*
 * pop3_cmd.h — pure POP3 helpers (RFC 1939, RFC 2449): finding and splitting a command
 * line under the 255-octet limit, message-number arguments (the UIDL template is
 * src/lib/pop3_uidl.h, included here), and the encoder that turns a stored message (LF
 * or CRLF line ends) into the RETR/TOP wire form (CRLF, dot-stuffed, TOP line limit).
 * Used by the login process (pre-auth attacker bytes) and the mail process; nothing is
 * allocated, no I/O, no logging: results point into the caller's bytes.
 */
#ifndef BUZON_POP3_CMD_H
#define BUZON_POP3_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/pop3_uidl.h"	/* the UIDL template, shared with the config check */

#define POP3_LINE_MAX	255	/* a command line including CRLF (RFC 2449 §4) */
#define POP3_MAX_ARGS	2	/* arguments kept (argc still counts all of them) */

enum pop3_cmd_id {
	POP3_CMD_UNKNOWN = 0,
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_APOP,
	POP3_CMD_AUTH,
	POP3_CMD_STLS,
	POP3_CMD_CAPA,
	POP3_CMD_QUIT,
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_RETR,
	POP3_CMD_DELE,
	POP3_CMD_NOOP,
	POP3_CMD_RSET,
	POP3_CMD_TOP,
	POP3_CMD_UIDL,
};

enum pop3_parse_result {
	POP3_PARSE_MORE,	/* no complete line yet: keep the unconsumed bytes, add more */
	POP3_PARSE_DONE,	/* one command in *cmd */
	POP3_PARSE_ERROR,	/* cmd->error says why; the bad line is consumed */
};

enum pop3_parse_error {
	POP3_ERR_NONE = 0,
	POP3_ERR_TOOLONG,	/* over POP3_LINE_MAX; the rest of the line is skipped */
	POP3_ERR_NUL,		/* a NUL octet in the line */
	POP3_ERR_EMPTY,		/* empty line or no keyword (leading space) */
};

/* Length-counted text inside the caller's input. Not NUL-terminated. */
struct pop3_arg {
	const char *p;
	size_t len;
};

struct pop3_cmd {
	enum pop3_cmd_id id;		/* UNKNOWN for anything else, also keywords > 4 */
	struct pop3_arg keyword;	/* as sent */
	unsigned argc;			/* space-separated words after the keyword */
	struct pop3_arg args[POP3_MAX_ARGS];	/* the first POP3_MAX_ARGS of them */
	/* everything after the keyword and one space, unsplit (PASS: spaces allowed) */
	struct pop3_arg rest;
	enum pop3_parse_error error;
};

/* Parser state: only whether the rest of an overlong line is being skipped. */
struct pop3_cmd_parser {
	bool skipping;
	size_t line_max;
};

/* line_max: the longest accepted line including CRLF (POP3_LINE_MAX). */
void pop3_cmd_parser_init(struct pop3_cmd_parser *p, size_t line_max);

/*
 * Parse one command line from data[0..len). The caller drains *used_r bytes (also on
 * MORE: skipped bytes of an overlong line are consumed) and calls again with more input
 * while the result is not MORE or *used_r > 0. A line ends at LF, an optional CR before
 * it is removed. On DONE/ERROR cmd points into data (valid until the caller drains).
 * An overlong line gives one ERROR (POP3_ERR_TOOLONG) when it is detected; the rest of
 * it, up to and including its LF, is skipped silently.
 */
enum pop3_parse_result pop3_cmd_parse(struct pop3_cmd_parser *p, const unsigned char *data,
    size_t len, struct pop3_cmd *cmd, size_t *used_r);

/* Keyword text for an id ("USER"), "?" for UNKNOWN. Static string. */
const char *pop3_cmd_name(enum pop3_cmd_id id);

/*
 * A decimal argument (digits only, no sign, fits in 32 bits). Returns 0 or -1. Message
 * numbers must additionally be >= 1 (the caller checks).
 */
int pop3_arg_u32(const struct pop3_arg *a, uint32_t *val_r);


/*
 * RETR/TOP encoder: message bytes with LF or CRLF line ends in, RFC 1939 §3 wire form
 * out: every bare LF becomes CRLF (CRLF stays, so the size is the store's W= size),
 * a "." at the start of a line is doubled. For TOP, only the header, the blank line and
 * the first `lines` body lines are sent. The terminating ".\r\n" (with a CRLF before it
 * when the message does not end with a line end) comes from pop3_encoder_finish.
 */
struct pop3_encoder {
	bool bol;		/* at the start of a line */
	bool cr;		/* the last byte sent was CR */
	bool nonempty;		/* the current line has a byte other than CR */
	bool in_body;		/* past the blank line after the header */
	bool top;		/* count body lines */
	bool done;		/* TOP: enough lines sent, ignore the rest */
	uint64_t lines_left;
};

/* top false: whole message (RETR); true: header + `lines` body lines (TOP). */
void pop3_encoder_init(struct pop3_encoder *e, bool top, uint64_t lines);
/*
 * Encode in[0..inlen) into out[0..out_size). Stops when out has less than 2 bytes of
 * room. *consumed_r gets the input bytes used (all of them once e->done is set); returns
 * the bytes written.
 */
size_t pop3_encode(struct pop3_encoder *e, const unsigned char *in, size_t inlen,
    unsigned char *out, size_t out_size, size_t *consumed_r);
/* The end: writes [CRLF] ".\r\n" into out (at least 5 bytes); returns the length. */
size_t pop3_encoder_finish(struct pop3_encoder *e, unsigned char *out, size_t out_size);

#endif
