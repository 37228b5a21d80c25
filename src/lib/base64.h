/*
 * base64.h — the one base64 codec (RFC 4648 §4 alphabet). Decoding takes a mode for how
 * strictly it reads: strict for SASL in the login and auth processes (one spelling per
 * byte string), encoded words and lenient MIME bodies in the mail process. Pure, bounded
 * by the caller's buffer, no I/O.
 */
#ifndef BUZON_BASE64_H
#define BUZON_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Decoded size of len base64 characters (upper bound), encoded size of n bytes. */
#define BASE64_DECODED_MAX(len) ((len) / 4 * 3)
#define BASE64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)

enum base64_mode {
	/*
	 * RFC 4648 §3.3, §4 exactly (SASL): a length that is a multiple of 4, padding
	 * required and only at the end, no whitespace or other characters, zero trailing
	 * bits, so one encoding maps to one byte string.
	 */
	BASE64_STRICT,
	/*
	 * RFC 2047 §4.1 "B" encoded words: alphabet characters, then nothing but '='
	 * padding (optional, any amount); bits that do not make a whole byte are dropped.
	 * Any other character is an error.
	 */
	BASE64_ENCODED_WORD,
	/*
	 * RFC 2045 §6.8 bodies: every character outside the alphabet (line breaks,
	 * padding, junk) is skipped and decoding goes on. Never fails on its input.
	 */
	BASE64_LENIENT,
};

/*
 * Decode src[0..len) read as mode into dst (dst_size bytes). Returns 0 and sets *len_r,
 * or -1 if the input is invalid for mode or does not fit (dst may then hold partial
 * output: wipe it if it is secret). An empty input decodes to 0 bytes. The output is
 * never longer than len (BASE64_DECODED_MAX(len) in strict mode).
 */
int base64_decode(const char *src, size_t len, enum base64_mode mode, unsigned char *dst,
    size_t dst_size, size_t *len_r);
/* As base64_decode, appending to out; -1 leaves out at its old length (bytes wiped). */
int base64_decode_buf(const char *src, size_t len, enum base64_mode mode, struct buf *out);
/* Append the padded encoding of src[0..len) to out. Returns 0, -1 on out's limit. */
int base64_encode(const void *src, size_t len, struct buf *out);

#endif
