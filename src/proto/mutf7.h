/*
 * mutf7.h — modified UTF-7 mailbox names (RFC 3501 §5.1.3) to and from UTF-8, with
 * strict validation: printable ASCII must not be encoded, "&" is "&-", base64 segments
 * end with "-", carry no stray bits, hold no broken surrogates, no U+0000 and are not
 * adjacent to another encoded segment; UTF-8 input must be well-formed (no overlongs, no
 * surrogates, <= U+10FFFF). Used by the imap session process on client mailbox names:
 * pure, no I/O; output bounded by the struct buf limit.
 */
#ifndef BUZON_MUTF7_H
#define BUZON_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/*
 * Decode modified UTF-7 src[0..len) and append the UTF-8 text to out. Returns 0, or -1
 * if the input is not strictly valid or out's limit is hit; on -1 out is left at its old
 * length.
 */
int mutf7_to_utf8(const char *src, size_t len, struct buf *out);
/*
 * Encode UTF-8 src[0..len) as modified UTF-7 appended to out. Returns 0, or -1 on invalid
 * UTF-8 (or U+0000) or out's limit; on -1 out is left at its old length.
 * For every valid input, mutf7_to_utf8(utf8_to_mutf7(x)) == x and vice versa.
 */
int mutf7_from_utf8(const char *src, size_t len, struct buf *out);
/* true if src[0..len) is strictly valid modified UTF-7 (as accepted by mutf7_to_utf8). */
bool mutf7_is_valid(const char *src, size_t len);
/* true if src[0..len) is well-formed UTF-8 (RFC 3629) without U+0000. */
bool mutf7_utf8_is_valid(const char *src, size_t len);

#endif
