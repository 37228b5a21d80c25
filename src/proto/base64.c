/*
 * base64.c — strict base64 (see base64.h). Runs in the login and auth processes on
 * client SASL responses. Decoding accepts exactly one spelling per byte string (padding
 * required, no whitespace, zero trailing bits), never writes past the caller's bound,
 * and wipes partial output on failure because it usually carries a password.
 */
#include "proto/base64.h"

#include "lib/util.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode the quantum s[0..4) into q; returns the number of bytes (1..3) or -1. Padding
 * is allowed only when last is true (RFC 4648 §3.3, §4).
 */
static int
quantum(const unsigned char *s, bool last, unsigned char q[3])
{
	int v[4], i, n = 3;

	for (i = 0; i < 4; i++) {
		if (s[i] == '=' && last && i >= 2) {
			/* "xx==" or "xxx=": everything after the first '=' must be '=' */
			if (i == 2 && s[3] != '=')
				return -1;
			n = i - 1;
			break;
		}
		if ((v[i] = b64val(s[i])) < 0)
			return -1;
	}
	/* the bits that do not fit in the output must be zero */
	if (n == 1 && (v[1] & 0x0f) != 0)
		return -1;
	if (n == 2 && (v[2] & 0x03) != 0)
		return -1;
	q[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
	if (n >= 2)
		q[1] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
	if (n == 3)
		q[2] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
	return n;
}

int
base64_decode(const char *src, size_t len, unsigned char *dst, size_t dst_size,
    size_t *len_r)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, out = 0;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		unsigned char q[3];
		int n = quantum(s + i, i + 4 == len, q);

		if (n < 0 || (size_t)n > dst_size - out) {
			secret_wipe(q, sizeof(q));
			return -1;
		}
		memcpy(dst + out, q, (size_t)n);
		out += (size_t)n;
		secret_wipe(q, sizeof(q));
	}
	*len_r = out;
	return 0;
}

int
base64_decode_buf(const char *src, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, old = out->len;
	int ret = 0;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len && ret == 0; i += 4) {
		unsigned char q[3];
		int n = quantum(s + i, i + 4 == len, q);

		if (n < 0 || buf_append(out, q, (size_t)n) < 0)
			ret = -1;
		secret_wipe(q, sizeof(q));
	}
	if (ret < 0) {
		if (out->len > old)
			secret_wipe(out->data + old, out->len - old);
		buf_truncate(out, old);
	}
	return ret;
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
