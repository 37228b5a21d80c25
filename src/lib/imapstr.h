/*
 * imapstr.h — writing IMAP strings (RFC 3501 §4.3, RFC 9051 §4.3): quoted when safe,
 * literal otherwise, NIL for absent values. Pure formatting, no I/O.
 */
#ifndef BUZON_IMAPSTR_H
#define BUZON_IMAPSTR_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * Append p[0..len) as an IMAP string: a quoted string if it has only 7-bit characters
 * other than CR, LF and NUL and is at most 1024 octets, else a literal {n}\r\n<bytes>.
 * Returns 0 or -1 (buffer limit).
 */
int imap_append_string(struct buf *out, const char *p, size_t len);
/* As imap_append_string, NIL when p == NULL. */
int imap_append_nstring(struct buf *out, const char *p, size_t len);
/* As imap_append_string, but an atom when the text is a valid non-empty atom. */
int imap_append_astring(struct buf *out, const char *p, size_t len);
/*
 * As imap_append_astring, but 8-bit octets (valid UTF-8, the caller's concern) may be
 * sent in a quoted string (RFC 6855 §3, RFC 9051 §4.3 after ENABLE).
 */
int imap_append_astring_utf8(struct buf *out, const char *p, size_t len);
/* true if c may appear in an atom (ATOM-CHAR of RFC 3501 §9). */
bool imap_is_atom_char(unsigned char c);

#endif
