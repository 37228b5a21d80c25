/*
 * message.h — RFC 5322 / MIME structure of one message held in memory (the caller mmaps
 * the Maildir file). Runs in the per-user mail process on untrusted message bytes: the
 * parser never fails, never reads outside [data, data+len), and is bounded by struct
 * mail_limits (depth, parts, header bytes and fields, parameters). Malformed input gets
 * a best-effort structure in the manner of Dovecot.
 *
 * Octet conventions (read this once): raw offsets (`*_off`, `*_len`, size_t) index the
 * file as stored; lines may end in CRLF or bare LF. Every size or line count that a
 * client sees (`*_size`, `*_lines`, uint64_t) is in "IMAP octets": the file as if every
 * bare LF were CRLF. BODY[...] output is produced with mail_octets_append() /
 * struct mail_octets_reader, which do that conversion and map IMAP-octet partial
 * ranges (<origin.count>) onto the raw bytes exactly, also when a range starts or ends
 * between a synthesised CR and its LF.
 */
#ifndef BUZON_MAIL_MESSAGE_H
#define BUZON_MAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct mail_limits {
	unsigned int max_depth;		/* MIME nesting (multipart + message/rfc822): 100 */
	unsigned int max_parts;		/* parts per message: 10000 */
	size_t max_header_bytes;	/* one header block: 8 MiB; the rest is parsed as body */
	unsigned int max_header_fields;	/* fields per header block considered: 10000 */
	unsigned int max_params;	/* Content-Type / -Disposition parameters kept: 128 */
	unsigned int max_addresses;	/* addresses per header field (ENVELOPE, SEARCH): 10000 */
	size_t max_search_bytes;	/* decoded text examined per message by SEARCH: 64 MiB */
};

/* Fill *l with the defaults above. */
void mail_limits_default(struct mail_limits *l);

struct mail_param {
	/*
	 * name and value as BODYSTRUCTURE shows them (Dovecot style): RFC 2231 continuations
	 * merged; an extended parameter keeps its '*' and its "charset'lang'%XX" value.
	 * name is lowercase. utf8 is the decoded value (RFC 2231 charset or RFC 2047 words
	 * converted to UTF-8 where possible, else the raw value); utf8_name has no '*'.
	 */
	char *name;
	char *value;
	char *utf8_name;
	char *utf8;
};

enum mail_part_flags {
	MAIL_PART_MULTIPART = 0x01,	/* type "multipart": children are the body parts */
	MAIL_PART_RFC822 = 0x02,	/* message/rfc822: one child, the embedded message */
	MAIL_PART_TEXT = 0x04,		/* type "text": BODYSTRUCTURE has body-fld-lines */
	MAIL_PART_LIMITED = 0x08,	/* a limit was hit: served as application/octet-stream */
	MAIL_PART_NO_SEPARATOR = 0x10,	/* header ended without a blank line */
};

struct mail_part {
	struct mail_part *parent;
	struct mail_part *children;	/* first child; multipart parts or the rfc822 message */
	struct mail_part *next;		/* next sibling */
	unsigned int nchildren;
	unsigned int flags;		/* enum mail_part_flags */

	/*
	 * Header block including its terminating blank line (if any); body follows it.
	 * For the child of a message/rfc822 part, header and body are those of the
	 * embedded message and together cover the parent's body.
	 */
	size_t hdr_off, hdr_len;	/* raw */
	size_t body_off, body_len;	/* raw */
	uint64_t hdr_size, body_size;	/* IMAP octets */
	uint64_t hdr_lines, body_lines;	/* lines as IMAP counts them (RFC 3501 body-fld-lines) */

	/* Content-Type; never NULL: defaults "text" "plain" (charset us-ascii), or
	 * "message" "rfc822" inside multipart/digest. As written, not case-folded. */
	char *type;
	char *subtype;
	struct mail_param *params;
	unsigned int nparams;

	/* Other MIME fields: unfolded raw values, NULL when absent. */
	char *id;			/* Content-ID */
	char *description;		/* Content-Description (raw, RFC 2047 not decoded) */
	char *encoding;			/* Content-Transfer-Encoding, NULL => "7bit" */
	char *md5;			/* Content-MD5 */
	char *disposition;		/* Content-Disposition type, e.g. "attachment" */
	struct mail_param *disp_params;
	unsigned int ndisp_params;
	char **languages;		/* Content-Language list, NULL when absent */
	unsigned int nlanguages;
	char *location;			/* Content-Location */
};

struct mail_message {
	const unsigned char *data;	/* borrowed from the caller; must outlive the message */
	size_t len;
	struct mail_limits limits;
	struct mail_part *root;		/* never NULL */
	unsigned int nparts;
	bool limited;			/* some limit was hit somewhere */
	bool header_only;		/* from mail_message_parse_header */
};

/*
 * Parse data[0..len) (borrowed: it must stay mapped until mail_message_free). limits may
 * be NULL for the defaults. Never fails; returns a message the caller frees with
 * mail_message_free(), which sets *m to NULL.
 */
struct mail_message *mail_message_parse(const unsigned char *data, size_t len,
    const struct mail_limits *limits);
void mail_message_free(struct mail_message **m);

/*
 * Header-only parse (added for FETCH ENVELOPE, BODY[HEADER...] and header SEARCH keys:
 * SUBJECT, FROM, HEADER ...; the IMAP layer may use it instead of mail_message_parse
 * when nothing else of the message is needed). Reads data only up to the end of the
 * top-level header block, which is where mail_message_parse would end it; data may be a
 * prefix of the file (see mail_header_block_end). The result is the message as if it
 * ended with its header: m->len is the header block's end, m->header_only is set, the
 * root's header fields (hdr_*, MIME fields, type flags) equal those of a full parse,
 * its body is empty (body_len, body_size, body_lines 0) and it has no children. Use it
 * for mail_envelope_write(m, NULL), mail_search_header(k, m, NULL, ...), and header
 * sections of the root; never for BODYSTRUCTURE, BODY, body SEARCH or sizes of the
 * whole message. Freed with mail_message_free().
 */
struct mail_message *mail_message_parse_header(const unsigned char *data, size_t len,
    const struct mail_limits *limits);

/*
 * Where the top-level header block of data[0..len) ends, as mail_message_parse (with
 * `limits`, NULL = defaults) determines it: just past the blank line; or at the header
 * size limit. *complete_r is true when that end is known from these bytes alone (a blank
 * line or the limit was reached), false when data might be a prefix that stops inside
 * the header (then len is returned): a caller reading the file in pieces reads more,
 * or takes the whole file as header if it has no more bytes.
 */
size_t mail_header_block_end(const unsigned char *data, size_t len,
    const struct mail_limits *limits, bool *complete_r);

/* Case-insensitive test of the part's type (and subtype when subtype != NULL). */
bool mail_part_is(const struct mail_part *p, const char *type, const char *subtype);

/*
 * Find a part by IMAP part number (RFC 3501 §6.4.5): nums[0..depth) are 1-based. depth 0
 * gives the root. Inside a message/rfc822 part, numbers address the embedded message's
 * parts (a non-multipart embedded message has part 1 = its body). For a non-multipart
 * part, part 1 is the part itself. Returns the part, or NULL if it does not exist.
 */
const struct mail_part *mail_part_find(const struct mail_message *m, const uint32_t *nums,
    unsigned int depth);

/* Parameter lookup by name (case-insensitive; "name" matches "name*" too); NULL if absent. */
const struct mail_param *mail_param_find(const struct mail_param *params, unsigned int n,
    const char *name);

/* IMAP-octet size of p[0..len): bytes plus one per bare LF. */
uint64_t mail_octets_size(const unsigned char *p, size_t len);
/* Number of lines in p[0..len) as Dovecot counts them: the number of LF bytes. */
uint64_t mail_octets_lines(const unsigned char *p, size_t len);
/* Both of the above in one pass. */
void mail_octets_count(const unsigned char *p, size_t len, uint64_t *size_r,
    uint64_t *lines_r);

/*
 * Streaming copy of the CRLF view of raw bytes. mail_octets_reader_init positions the
 * reader on IMAP octet `origin` of p[0..len) and limits it to `count` octets (use
 * UINT64_MAX for "to the end"); mail_octets_read appends at most `max` octets (at most 1 GiB) to
 * out and returns how many (0 = finished), or -1 if out's limit was reached (nothing appended).
 * total_r (optional init output) is the number of octets the reader will produce, which
 * is what the client sees as the literal size of BODY[..]<origin.count>.
 */
struct mail_octets_reader {
	const unsigned char *p;
	size_t len;
	size_t pos;		/* next raw byte */
	bool cr_sent;		/* the synthetic CR before p[pos] == LF was already emitted */
	uint64_t left;		/* octets still to produce */
};
void mail_octets_reader_init(struct mail_octets_reader *r, const unsigned char *p, size_t len,
    uint64_t origin, uint64_t count, uint64_t *total_r);
int mail_octets_read(struct mail_octets_reader *r, struct buf *out, size_t max);
/* Append the whole (origin, count) range at once. Returns 0 or -1 (buffer limit). */
int mail_octets_append(struct buf *out, const unsigned char *p, size_t len, uint64_t origin,
    uint64_t count);

#endif
