/*
 * lmtp_cmd.h — pure parsers for LMTP (RFC 2033) / SMTP (RFC 5321) input: finding a
 * command line, parsing one command (verb, reverse/forward path with quoted local
 * parts, ESMTP parameters) and decoding the DATA stream (dot-unstuffing, CRLF -> LF,
 * end at CRLF "." CRLF only). Runs in the LMTP process on bytes from the MTA (Postfix,
 * or anyone who can reach lmtp_listen): every field is bounded, nothing is allocated,
 * no I/O, no logging. Replies for errors are constant texts the caller sends as is.
 */
#ifndef BUZON_LMTP_CMD_H
#define BUZON_LMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMTP_LINE_MAX	4096	/* a command line including CRLF (RFC 5321 4.5.3.1.4 is 512) */
#define LMTP_PATH_MAX	256	/* a path including "<" ">" (RFC 5321 4.5.3.1.3) */
#define LMTP_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define LMTP_ARG_MAX	512	/* LHLO domain, VRFY argument */

enum lmtp_verb {
	LMTP_VERB_LHLO,
	LMTP_VERB_HELO,
	LMTP_VERB_EHLO,
	LMTP_VERB_MAIL,
	LMTP_VERB_RCPT,
	LMTP_VERB_DATA,
	LMTP_VERB_BDAT,
	LMTP_VERB_RSET,
	LMTP_VERB_NOOP,
	LMTP_VERB_QUIT,
	LMTP_VERB_VRFY,
	LMTP_VERB_EXPN,
	LMTP_VERB_HELP,
	LMTP_VERB_STARTTLS,
};

enum lmtp_body {
	LMTP_BODY_NONE,		/* no BODY= parameter */
	LMTP_BODY_7BIT,
	LMTP_BODY_8BITMIME,	/* RFC 6152 */
};

/* One parsed command; text fields are NUL-terminated copies (no pointers into the line). */
struct lmtp_cmd {
	enum lmtp_verb verb;
	/* LHLO/HELO/EHLO domain, VRFY/EXPN/HELP/NOOP argument ("" if none) */
	char arg[LMTP_ARG_MAX + 1];
	/*
	 * MAIL/RCPT: the mailbox of the path, without "<" ">" and without a source route;
	 * "" for the null reverse path "<>". A quoted local part whose content is a valid
	 * dot-string is unquoted ("\"john\"@x" -> "john@x"); otherwise it stays quoted with
	 * only '"' and '\\' escaped. Never contains control characters or spaces outside quotes.
	 */
	char addr[LMTP_PATH_MAX + 1];
	size_t addr_len;
	bool has_size;		/* MAIL SIZE=n given (RFC 1870) */
	uint64_t size;
	enum lmtp_body body;	/* MAIL BODY= */
};

enum lmtp_line_result {
	LMTP_LINE_MORE,		/* no complete line yet: wait for more bytes */
	LMTP_LINE_DONE,		/* one line found */
	LMTP_LINE_TOOLONG,	/* no line end within LMTP_LINE_MAX bytes */
};

/*
 * Find the first command line in data[0..len). A line ends with LF (a CR before it is
 * stripped; commands are accepted with bare LF ends, DATA is not). On DONE *line_len_r
 * is the length without the line end and *consumed_r includes it. TOOLONG when len
 * reaches LMTP_LINE_MAX without a line end.
 */
enum lmtp_line_result lmtp_line_find(const unsigned char *data, size_t len,
    size_t *line_len_r, size_t *consumed_r);

/*
 * Parse one command line (without its line end). Returns 0 with *cmd filled, or -1 with
 * *reply_r a complete reply line without CRLF ("500 5.5.2 ...", "501 5.5.4 ...",
 * "555 5.5.4 ..."; static text, safe to send). Verbs are case-insensitive; unknown verbs,
 * control characters and bytes >= 0x80 (no SMTPUTF8) are refused.
 * MAIL accepts SIZE= and BODY=7BIT|8BITMIME; RCPT takes no parameters.
 */
int lmtp_cmd_parse(const char *line, size_t len, struct lmtp_cmd *cmd, const char **reply_r);

/*
 * DATA decoder (RFC 5321 4.1.1.4, 4.5.2). Feed the bytes after the 354 reply; it writes
 * the message with LF line ends and leading dots removed. The end is CRLF "." CRLF
 * only: a bare LF or bare CR never ends a line (so "\n.\n" or "\r.\r" cannot end the
 * data early: SMTP smuggling, RFC 5321 2.3.8). Both are passed through and counted; the
 * LMTP process refuses a message with a bare LF (it would become a line end in the
 * Maildir; no MTA sends one) and keeps a bare CR inside a line as data (Postfix relays
 * such lines of broken messages as they came).
 */
struct lmtp_data {
	int state;		/* private */
	uint64_t size;		/* decoded bytes produced so far */
	uint64_t bare_cr;	/* CR not followed by LF */
	uint64_t bare_lf;	/* LF not preceded by CR */
};

void lmtp_data_init(struct lmtp_data *d);
/*
 * Decode in[0..len) into out (room for len + 1 bytes: a CR held back from the previous
 * call may come out first; out must not overlap in). *out_len_r gets the bytes written, *consumed_r the input bytes
 * used. Returns true when the final CRLF "." CRLF was consumed (bytes after it belong to
 * the next command and are not consumed), false when all of in was consumed.
 */
bool lmtp_data_feed(struct lmtp_data *d, const unsigned char *in, size_t len,
    unsigned char *out, size_t *out_len_r, size_t *consumed_r);

#endif
