/*
 * mutf7.c — modified UTF-7 (RFC 3501 §5.1.3) <-> UTF-8 (see mutf7.h). Runs in the imap
 * session process on client mailbox names. Decoding is strict so that every mailbox
 * name has exactly one encoding: two spellings of one name could otherwise bypass name
 * checks (e.g. "&AC4ALg-" for ".."). Output is bounded by the caller's struct buf.
 */
#include "proto/mutf7.h"

#include "lib/util.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

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
	if (c == ',')	/* modified base64 uses ',' for '/' */
		return 63;
	return -1;
}

/* Append code point cp as UTF-8. */
static int
put_utf8(struct buf *out, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, u, n);
}

/*
 * Decode one UTF-8 sequence at s[*i..len) (RFC 3629 §4: no overlongs, no surrogates,
 * <= U+10FFFF). Returns the code point and advances *i, or -1.
 */
static int32_t
get_utf8(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	uint32_t cp, min;
	size_t n, k;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i - 1 < n)
		return -1;
	for (k = 1; k <= n; k++) {
		unsigned char d = s[*i + k];

		if ((d & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (d & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	return (int32_t)cp;
}

static bool
is_direct(uint32_t cp)
{
	/* RFC 3501 §5.1.3: 0x20-0x25 and 0x27-0x7e represent themselves ('&' is "&-") */
	return cp >= 0x20 && cp <= 0x7e;
}

static int
decode(const char *src, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)src;
	bool after_segment = false;
	size_t i = 0;

	while (i < len) {
		uint32_t bits = 0, high = 0;
		unsigned nbits = 0, units = 0;

		if (!is_direct(s[i]))
			return -1;
		if (s[i] != '&') {
			if (out != NULL && buf_append_c(out, (char)s[i]) < 0)
				return -1;
			after_segment = false;
			i++;
			continue;
		}
		i++;
		if (i < len && s[i] == '-') {
			if (out != NULL && buf_append_c(out, '&') < 0)
				return -1;
			after_segment = false;
			i++;
			continue;
		}
		/* two adjacent encoded segments would be one in the canonical form */
		if (after_segment)
			return -1;
		for (;;) {
			int v;

			if (i >= len)
				return -1;	/* unterminated */
			if (s[i] == '-') {
				i++;
				break;
			}
			if ((v = b64val(s[i++])) < 0)
				return -1;
			bits = bits << 6 | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t u, cp;

				nbits -= 16;
				u = (bits >> nbits) & 0xffff;
				bits &= (1u << nbits) - 1;
				units++;
				if (high != 0) {
					if (u < 0xdc00 || u > 0xdfff)
						return -1;
					cp = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
					high = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					high = u;
					continue;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					return -1;
				} else {
					cp = u;
				}
				/* printable ASCII must not be encoded; no NUL */
				if (cp == 0 || is_direct(cp))
					return -1;
				if (out != NULL && put_utf8(out, cp) < 0)
					return -1;
			}
		}
		/* no dangling surrogate, no extra base64 char, padding bits zero */
		if (high != 0 || units == 0 || nbits >= 6 || bits != 0)
			return -1;
		after_segment = true;
	}
	return 0;
}

int
mutf7_to_utf8(const char *src, size_t len, struct buf *out)
{
	size_t old = out->len;

	if (decode(src, len, out) < 0) {
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}

bool
mutf7_is_valid(const char *src, size_t len)
{
	return decode(src, len, NULL) == 0;
}

static int
put_b64_bits(struct buf *out, uint32_t *bits, unsigned *nbits, uint32_t unit)
{
	*bits = (*bits << 16) | unit;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		if (buf_append_c(out, b64chars[(*bits >> *nbits) & 0x3f]) < 0)
			return -1;
	}
	*bits &= (1u << *nbits) - 1;
	return 0;
}

static int
encode(const char *src, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0;

	while (i < len) {
		int32_t cp = get_utf8(s, len, &i);
		uint32_t bits = 0;
		unsigned nbits = 0;

		if (cp <= 0)
			return -1;
		if (is_direct((uint32_t)cp)) {
			if (buf_append_c(out, (char)cp) < 0)
				return -1;
			if (cp == '&' && buf_append_c(out, '-') < 0)
				return -1;
			continue;
		}
		/* one segment for the whole run of characters that need encoding */
		if (buf_append_c(out, '&') < 0)
			return -1;
		for (;;) {
			uint32_t c = (uint32_t)cp;
			size_t next;

			if (c >= 0x10000) {
				c -= 0x10000;
				if (put_b64_bits(out, &bits, &nbits, 0xd800 + (c >> 10)) < 0 ||
				    put_b64_bits(out, &bits, &nbits, 0xdc00 + (c & 0x3ff)) < 0)
					return -1;
			} else if (put_b64_bits(out, &bits, &nbits, c) < 0) {
				return -1;
			}
			if (i >= len)
				break;
			next = i;
			cp = get_utf8(s, len, &next);
			if (cp <= 0)
				return -1;
			if (is_direct((uint32_t)cp))
				break;
			i = next;
		}
		if (nbits > 0 && buf_append_c(out, b64chars[(bits << (6 - nbits)) & 0x3f]) < 0)
			return -1;
		if (buf_append_c(out, '-') < 0)
			return -1;
	}
	return 0;
}

int
mutf7_from_utf8(const char *src, size_t len, struct buf *out)
{
	size_t old = out->len;

	if (encode(src, len, out) < 0) {
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}

bool
mutf7_utf8_is_valid(const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0;

	while (i < len) {
		if (get_utf8(s, len, &i) <= 0)
			return false;
	}
	return true;
}
