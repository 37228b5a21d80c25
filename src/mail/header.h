/*
 * header.h — access to RFC 5322 header fields inside a header block held in memory, for
 * MIME parsing, ENVELOPE, SEARCH HEADER/FROM/TO/SUBJECT and SORT. Runs in the mail
 * process on untrusted bytes; pure, bounded by the block length, no allocation except
 * where a function says it returns a malloc'd string.
 */
#ifndef BUZON_MAIL_HEADER_H
#define BUZON_MAIL_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

struct mail_header_field {
	const unsigned char *name;	/* field name, without trailing WSP */
	size_t name_len;
	const unsigned char *value;	/* raw folded value after "name:" up to the final line end */
	size_t value_len;
	size_t off, len;		/* whole field incl. its final line end, relative to hdr */
};

/*
 * Iterate over the fields of hdr[0..len). *pos starts at 0. Returns 1 and fills *f_r, or
 * 0 at the end of the block (blank line or end of data). Lines without a colon are
 * skipped (as Dovecot does); a continuation line at the very start is skipped too.
 */
int mail_header_next(const unsigned char *hdr, size_t len, size_t *pos,
    struct mail_header_field *f_r);

/*
 * Unfold a raw field value (RFC 5322 §2.2.3: remove CRLF / LF before WSP, keep the WSP),
 * skip leading whitespace (trailing whitespace is kept, as Dovecot does). Appends to out; returns 0 or
 * -1 (buffer limit).
 */
int mail_header_unfold(struct buf *out, const unsigned char *value, size_t len);
/* As mail_header_unfold into a new malloc'd C string (caller frees). */
char *mail_header_unfold_dup(const unsigned char *value, size_t len);

/*
 * Skip CFWS (RFC 5322 §3.2.2) in p[0..len) from i: whitespace and comments, which nest
 * and may quote a character with '\\'. Returns the index of the first other byte, or
 * len (also inside a comment that is not closed).
 */
size_t mail_header_skip_cfws(const unsigned char *p, size_t len, size_t i);

/*
 * First field called `name` (case-insensitive) in hdr[0..len): returns its unfolded value
 * as a malloc'd string (caller frees) or NULL if there is no such field.
 */
char *mail_header_get(const unsigned char *hdr, size_t len, const char *name);

/* true if field name n[0..nlen) equals the C string name, ignoring ASCII case. */
bool mail_header_name_eq(const unsigned char *n, size_t nlen, const char *name);

#endif
