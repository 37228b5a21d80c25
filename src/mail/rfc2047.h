/*
 * rfc2047.h — RFC 2047 encoded-word decoding and charset conversion to UTF-8 (iconv),
 * for SEARCH and SORT (never for ENVELOPE, which is raw). Runs in the mail process on
 * untrusted header text; output is bounded by the caller's buffer limit.
 */
#ifndef BUZON_MAIL_RFC2047_H
#define BUZON_MAIL_RFC2047_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/*
 * Decode p[0..len) (an unfolded header value) to UTF-8: B and Q encoded words are
 * decoded and converted from their charset (RFC 2231 "*lang" suffix ignored); whitespace
 * between adjacent encoded words is dropped (RFC 2047 §6.2); invalid or unknown-charset
 * words are left as they are. Text outside words is copied, with invalid UTF-8 bytes
 * taken as ISO-8859-1. Appends to out; returns 0 or -1 (buffer limit).
 */
int mail_rfc2047_decode(struct buf *out, const char *p, size_t len);
/* As above into a malloc'd C string (caller frees). */
char *mail_rfc2047_decode_dup(const char *p, size_t len);

/*
 * Convert p[0..len) from `charset` (NULL or unknown => treated as UTF-8 with invalid
 * bytes taken as ISO-8859-1; "us-ascii" likewise) to UTF-8, appending to out. Invalid
 * input sequences become U+FFFD. Returns 0, or -1 (buffer limit).
 */
int mail_charset_to_utf8(struct buf *out, const char *charset, const unsigned char *p,
    size_t len);
/*
 * As mail_charset_to_utf8; *problem_r tells whether the charset was unknown or the
 * input had sequences invalid in it (RFC 8621 §4.1.4 isEncodingProblem).
 */
int mail_charset_to_utf8_check(struct buf *out, const char *charset, const unsigned char *p,
    size_t len, bool *problem_r);
/*
 * true when mail_charset_to_utf8 with this charset only copies, taking invalid UTF-8
 * bytes as ISO-8859-1 (NULL, UTF-8, US-ASCII, or a name iconv is never asked about).
 */
bool mail_charset_is_utf8(const char *charset);

/* One UTF-8 sequence at p[0..len) (len > 0): its length and, if cp_r, its code point;
 * 0 for an invalid byte (RFC 3629 §4: no overlongs, surrogates or values past 10FFFF). */
size_t mail_utf8_next(const unsigned char *p, size_t len, uint32_t *cp_r);

#endif
