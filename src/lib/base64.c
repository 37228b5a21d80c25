/*
 * base64.c — base64 encoding and decoding in three modes (see base64.h). Runs in the
 * login and auth processes on client SASL responses (strict) and in the mail process on
 * message headers and bodies (encoded words, lenient). Decoding never writes past the
 * caller's bound and wipes its scratch space and, into a buf, partial output on failure,
 * because strict input usually carries a password.
 */
#include "base64.h"

#include <stdint.h>

#include "util.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1 ('=', whitespace and everything else). */
static const signed char b64_value[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* Where decoded bytes go: a fixed array or a struct buf. */
struct sink {
	unsigned char *dst;
	size_t size, len;
	struct buf *buf;
};

static int
sink_put(struct sink *k, const unsigned char *p, size_t n)
{
	if (k->buf != NULL)
		return buf_append(k->buf, p, n);
	if (n > k->size - k->len)
		return -1;
	memcpy(k->dst + k->len, p, n);
	k->len += n;
	return 0;
}

/*
 * The end of strict input: src[i..len) is the padding, nchars characters were decoded
 * and rest holds the bits that did not make a byte. The final quantum is "xx==", "xxx="
 * or complete, and the dropped bits are zero (RFC 4648 §3.3, §3.5).
 */
static bool
strict_end_ok(const unsigned char *s, size_t i, size_t len, size_t nchars, uint32_t rest)
{
	size_t pad = len - i;

	if (len % 4 != 0 || nchars % 4 == 1 || pad > 2 || rest != 0)
		return false;
	for (; i < len; i++)
		if (s[i] != '=')
			return false;
	return true;
}

static int
decode(const char *src, size_t len, enum base64_mode mode, struct sink *k)
{
	const unsigned char *s = (const unsigned char *)src;
	unsigned char out[192];
	size_t i, o = 0, nchars = 0;
	uint32_t acc = 0;
	unsigned int bits = 0;
	int ret = 0;

	if (mode == BASE64_STRICT && len % 4 != 0)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64_value[s[i]];

		if (v < 0) {
			if (mode == BASE64_LENIENT)
				continue;
			if (s[i] == '=')
				break;
			ret = -1;
			goto done;
		}
		acc = (acc << 6) | (uint32_t)v;
		nchars++;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)((acc >> bits) & 0xff);
			if (o == sizeof(out)) {
				if (sink_put(k, out, o) < 0) {
					ret = -1;
					goto done;
				}
				o = 0;
			}
		}
	}
	if (mode == BASE64_STRICT) {
		if (!strict_end_ok(s, i, len, nchars, acc & ((1u << bits) - 1)))
			ret = -1;
	} else if (mode == BASE64_ENCODED_WORD) {
		for (; i < len && ret == 0; i++)
			if (s[i] != '=')
				ret = -1;
	}
	if (ret == 0 && o > 0)
		ret = sink_put(k, out, o);
done:
	secret_wipe(out, sizeof(out));
	secret_wipe(&acc, sizeof(acc));
	return ret;
}

int
base64_decode(const char *src, size_t len, enum base64_mode mode, unsigned char *dst,
    size_t dst_size, size_t *len_r)
{
	struct sink k = { .dst = dst, .size = dst_size };

	if (decode(src, len, mode, &k) < 0)
		return -1;
	*len_r = k.len;
	return 0;
}

int
base64_decode_buf(const char *src, size_t len, enum base64_mode mode, struct buf *out)
{
	struct sink k = { .buf = out };
	size_t old = out->len;

	if (decode(src, len, mode, &k) < 0) {
		if (out->len > old)
			secret_wipe(out->data + old, out->len - old);
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}

int
base64_encode(const void *src, size_t len, struct buf *out)
{
	const unsigned char *s = src;
	size_t i, old = out->len;

	if (BASE64_ENCODED_LEN(len) < len || BASE64_ENCODED_LEN(len) > out->max - out->len)
		return -1;
	for (i = 0; i < len; i += 3) {
		char q[4];
		unsigned v = (unsigned)s[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		q[0] = b64chars[v >> 18];
		q[1] = b64chars[(v >> 12) & 0x3f];
		q[2] = i + 1 < len ? b64chars[(v >> 6) & 0x3f] : '=';
		q[3] = i + 2 < len ? b64chars[v & 0x3f] : '=';
		if (buf_append(out, q, 4) < 0) {
			buf_truncate(out, old);
			return -1;
		}
	}
	return 0;
}
