/*
 * search.h — text matching for IMAP SEARCH (RFC 3501 §6.4.4: BODY, TEXT, HEADER, FROM,
 * SUBJECT...): case-insensitive substring match after i;unicode-casemap folding (RFC
 * 5051, utf8proc casefold + NFKD-ish normalisation). Runs in the mail process; work per
 * message is bounded by mail_limits.max_search_bytes of decoded text.
 */
#ifndef BUZON_MAIL_SEARCH_H
#define BUZON_MAIL_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/message.h"

struct mail_search_key;

/*
 * RFC 2045 §6.7 quoted-printable, leniently: invalid escapes are kept (SEARCH BODY, and
 * previews in preview.c). Writes at most len bytes to out; returns how many.
 */
size_t mail_qp_decode(unsigned char *out, const unsigned char *p, size_t len);

/*
 * Append the i;unicode-casemap folding (RFC 5051, as SEARCH compares) of p[0..len) (UTF-8;
 * invalid bytes taken as ISO-8859-1) to out; two strings compare as the comparator
 * orders them when their foldings are compared octet by octet (SORT, RFC 5256). tmp is
 * scratch space. Appends past out's limit are dropped.
 */
void mail_casemap_fold(struct buf *out, struct buf *tmp, const char *p, size_t len);

/* Prepare a UTF-8 needle (invalid UTF-8 bytes taken as ISO-8859-1). Never NULL. */
struct mail_search_key *mail_search_key_create(const char *utf8, size_t len);
void mail_search_key_destroy(struct mail_search_key **k);

/* Does the (already decoded) UTF-8 text contain the needle? An empty needle matches. */
bool mail_search_text(const struct mail_search_key *k, const char *utf8, size_t len);

/* Does the raw header value contain the needle after unfolding and RFC 2047 decoding? */
bool mail_search_header_value(const struct mail_search_key *k, const unsigned char *value,
    size_t len);

/*
 * Does any field called `name` of the part's header (root when part == NULL) contain the
 * needle (decoded as above)? name == NULL searches every field value and name.
 */
bool mail_search_header(const struct mail_search_key *k, const struct mail_message *m,
    const struct mail_part *part, const char *name);

/*
 * As mail_search_header(k, mail_message_parse(hdr, len, NULL), NULL, name) for a block
 * that is only a header (for instance the header fields cached by the IMAP layer),
 * without parsing it: 1 match, 0 no match, -1 the block is over the header size limit
 * (then parse it and use mail_search_header). name must not be NULL.
 */
int mail_search_header_block(const struct mail_search_key *k, const unsigned char *hdr,
    size_t len, const char *name);

/*
 * SEARCH BODY: does the decoded text of the message body contain the needle? Walks
 * "text" parts (and message/rfc822 headers are not included), undoes base64 /
 * quoted-printable, converts the part charset to UTF-8. SEARCH TEXT = include_headers:
 * the header blocks (root and embedded messages, RFC 2047 decoded) are searched as well.
 */
bool mail_search_body(const struct mail_search_key *k, const struct mail_message *m,
    bool include_headers);

#endif
