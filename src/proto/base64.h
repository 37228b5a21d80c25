/*
 * base64.h — strict base64 (RFC 4648 §4) for SASL exchanges: decoding rejects
 * whitespace, missing or misplaced padding and non-zero trailing bits, so one encoding
 * maps to one byte string. Used by the login and auth processes on client input: pure,
 * bounded by the caller's buffer, no I/O.
 */
#ifndef BUZON_BASE64_H
#define BUZON_BASE64_H

#include <stddef.h>

#include "lib/buf.h"

/* Decoded size of len base64 characters (upper bound), encoded size of n bytes. */
#define BASE64_DECODED_MAX(len) ((len) / 4 * 3)
#define BASE64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)

/*
 * Decode src[0..len) into dst (dst_size bytes). Returns 0 and sets *len_r, or -1 if the
 * input is not strict base64 or does not fit (dst may then hold partial output: wipe it
 * if it is secret). An empty input decodes to 0 bytes.
 */
int base64_decode(const char *src, size_t len, unsigned char *dst, size_t dst_size,
    size_t *len_r);
/* As base64_decode, appending to out; -1 leaves out at its old length (bytes wiped). */
int base64_decode_buf(const char *src, size_t len, struct buf *out);
/* Append the padded encoding of src[0..len) to out. Returns 0, -1 on out's limit. */
int base64_encode(const void *src, size_t len, struct buf *out);

#endif
