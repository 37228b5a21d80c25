/*
 * rfc2047.c — RFC 2047 encoded words and charset conversion to UTF-8 with iconv (see
 * rfc2047.h). Runs in the mail process on untrusted header and body text. Charset names
 * are checked (length, characters) before they reach iconv_open; invalid input never
 * fails a conversion, it is replaced (U+FFFD) or taken as ISO-8859-1.
 */
#include <errno.h>
#include <iconv.h>

#include "mail/rfc2047.h"

#include "lib/base64.h"

#define CHARSET_MAX 64

static const char utf8_replacement[] = "\xef\xbf\xbd";

size_t
mail_utf8_next(const unsigned char *p, size_t len, uint32_t *cp_r)
{
	unsigned char c = p[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80) {
		if (cp_r != NULL)
			*cp_r = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp_r != NULL)
		*cp_r = cp;
	return n;
}

/* Copy text that should be UTF-8; invalid bytes are taken as ISO-8859-1. */
static int
append_utf8_or_latin1(struct buf *out, const unsigned char *p, size_t len)
{
	size_t i = 0, start = 0, n;

	if (len == 0)
		return 0;
	while (i < len) {
		n = mail_utf8_next(p + i, len - i, NULL);
		if (n > 0) {
			i += n;
			continue;
		}
		if (buf_append(out, p + start, i - start) < 0)
			return -1;
		if (buf_append_c(out, (char)(0xc0 | (p[i] >> 6))) < 0 ||
		    buf_append_c(out, (char)(0x80 | (p[i] & 0x3f))) < 0)
			return -1;
		start = ++i;
	}
	return buf_append(out, p + start, i - start);
}

static bool
charset_name_ok(const char *cs)
{
	size_t i;

	for (i = 0; cs[i] != '\0'; i++) {
		unsigned char c = (unsigned char)cs[i];

		if (i >= CHARSET_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':' ||
		    c == '+'))
			return false;
	}
	return i > 0;
}

static bool
charset_is_utf8ish(const char *cs)
{
	return cs == NULL || str_ieq(cs, "utf-8") || str_ieq(cs, "utf8") ||
	    str_ieq(cs, "us-ascii") || str_ieq(cs, "ascii") || !charset_name_ok(cs);
}

bool
mail_charset_is_utf8(const char *charset)
{
	return charset_is_utf8ish(charset);
}

int
mail_charset_to_utf8(struct buf *out, const char *charset, const unsigned char *p, size_t len)
{
	bool problem;

	return mail_charset_to_utf8_check(out, charset, p, len, &problem);
}

/* Is p[0..len) valid UTF-8? */
static bool
utf8_valid(const unsigned char *p, size_t len)
{
	for (size_t i = 0, n; i < len; i += n)
		if ((n = mail_utf8_next(p + i, len - i, NULL)) == 0)
			return false;
	return true;
}

int
mail_charset_to_utf8_check(struct buf *out, const char *charset, const unsigned char *p,
    size_t len, bool *problem_r)
{
	char tmp[4096];
	iconv_t cd;
	char *in = (char *)(uintptr_t)p;
	size_t inleft = len;
	int ret = 0;

	*problem_r = false;
	if (charset_is_utf8ish(charset)) {
		/* a name iconv is never asked about but not UTF-8 or ASCII: unknown */
		*problem_r = !utf8_valid(p, len) || (charset != NULL &&
		    !charset_name_ok(charset));
		return append_utf8_or_latin1(out, p, len);
	}
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1) {
		*problem_r = true;
		return append_utf8_or_latin1(out, p, len);
	}
	while (inleft > 0) {
		char *o = tmp;
		size_t oleft = sizeof(tmp);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		int err = errno;

		if (buf_append(out, tmp, (size_t)(o - tmp)) < 0) {
			ret = -1;
			break;
		}
		if (r != (size_t)-1)
			continue;
		if (err == E2BIG)
			continue;
		/* EILSEQ or EINVAL (truncated): replace one byte and resume */
		*problem_r = true;
		if (buf_append(out, utf8_replacement, 3) < 0) {
			ret = -1;
			break;
		}
		in++;
		inleft--;
		(void)iconv(cd, NULL, NULL, NULL, NULL);
	}
	if (ret == 0) {
		/* flush any shift state */
		char *o = tmp;
		size_t oleft = sizeof(tmp);

		(void)iconv(cd, NULL, NULL, &o, &oleft);
		ret = buf_append(out, tmp, (size_t)(o - tmp));
	}
	iconv_close(cd);
	return ret;
}

/* Decode B or Q encoded text into out (raw bytes). Returns false if invalid. */
static bool
decode_word_text(struct buf *out, char enc, const unsigned char *p, size_t len)
{
	size_t i;

	if (enc == 'Q' || enc == 'q') {
		for (i = 0; i < len; i++) {
			int h, l;

			if (p[i] == '_')
				(void)buf_append_c(out, ' ');
			else if (p[i] == '=' && i + 2 < len &&
			    (h = hex_digit_value(p[i + 1])) >= 0 &&
			    (l = hex_digit_value(p[i + 2])) >= 0) {
				(void)buf_append_c(out, (char)(h * 16 + l));
				i += 2;
			} else if (p[i] == '=')
				return false;
			else
				(void)buf_append_c(out, (char)p[i]);
		}
		return true;
	}
	if (enc == 'B' || enc == 'b')
		return base64_decode_buf((const char *)p, len, BASE64_ENCODED_WORD, out) == 0;
	return false;
}

/*
 * Where the encoded text starting at `from` stops: the first "?=" or invalid byte (or
 * len). The answer is the same for every start in [from, stop], so it is cached in
 * *cache (stop position, initially 0) and the whole decode stays linear in the input.
 */
static size_t
text_stop(const unsigned char *p, size_t len, size_t from, size_t *cache)
{
	size_t i;

	if (*cache >= from && *cache != 0)
		return *cache;
	for (i = from; i < len; i++) {
		if (p[i] == '?' && i + 1 < len && p[i + 1] == '=')
			break;
		if (p[i] <= ' ' || p[i] >= 0x7f)
			break;
	}
	*cache = i;
	return i;
}

/*
 * Parse an encoded word at p[at..len) (p[at] is "=?"). On success returns its length,
 * the charset (NUL-terminated in cs, "*lang" removed) and decoded bytes appended to raw.
 */
static size_t
parse_word(const unsigned char *p, size_t len, size_t at, size_t *cache,
    char cs[CHARSET_MAX + 1], struct buf *raw)
{
	size_t i = at + 2, cs_start = at + 2, cs_end, text_start, end, raw_start = raw->len;
	char enc;

	/* charset and language are short: bounded scan */
	while (i < len && i - cs_start <= 2 * CHARSET_MAX && p[i] != '?' && p[i] > ' ' &&
	    p[i] < 0x7f)
		i++;
	if (i >= len || p[i] != '?' || i == cs_start)
		return 0;
	cs_end = i;
	if (i + 2 >= len || p[i + 2] != '?')
		return 0;
	enc = (char)p[i + 1];
	text_start = i + 3;
	end = text_stop(p, len, text_start, cache);
	if (end + 1 >= len || p[end] != '?' || p[end + 1] != '=')
		return 0;
	{
		const unsigned char *star = memchr(p + cs_start, '*', cs_end - cs_start);
		size_t n = (star != NULL ? (size_t)(star - p) : cs_end) - cs_start;

		if (n == 0 || n > CHARSET_MAX)
			return 0;
		memcpy(cs, p + cs_start, n);
		cs[n] = '\0';
	}
	if (!decode_word_text(raw, enc, p + text_start, end - text_start)) {
		buf_truncate(raw, raw_start);
		return 0;
	}
	return end + 2 - at;
}

int
mail_rfc2047_decode(struct buf *out, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	char cs[CHARSET_MAX + 1], pending_cs[CHARSET_MAX + 1] = "";
	struct buf raw;
	size_t i = 0, lit = 0, stop_cache = 0;
	bool have_pending = false;
	int ret = 0;

	buf_init(&raw, BUF_UNLIMITED);	/* decoded words are never longer than the input */
	while (i < len) {
		size_t wlen, j;

		if (!(p[i] == '=' && i + 1 < len && p[i + 1] == '?')) {
			i++;
			continue;
		}
		{
			size_t before = raw.len;

			wlen = parse_word(p, len, i, &stop_cache, cs, &raw);
			if (wlen == 0) {
				i++;
				continue;
			}
			/* whitespace-only run between two encoded words is dropped (§6.2) */
			for (j = lit; j < i; j++)
				if (p[j] != ' ' && p[j] != '\t' && p[j] != '\r' && p[j] != '\n')
					break;
			if (!(have_pending && j == i && str_ieq(cs, pending_cs))) {
				/* flush the pending words, then the literal text */
				if (have_pending) {
					ret |= mail_charset_to_utf8(out, pending_cs,
					    (const unsigned char *)raw.data, before);
				}
				if (!(have_pending && j == i))
					ret |= append_utf8_or_latin1(out, p + lit, i - lit);
				buf_consume(&raw, before);
				memcpy(pending_cs, cs, sizeof(cs));
				have_pending = true;
			}
		}
		i += wlen;
		lit = i;
	}
	if (have_pending)
		ret |= mail_charset_to_utf8(out, pending_cs, (const unsigned char *)raw.data,
		    raw.len);
	ret |= append_utf8_or_latin1(out, p + lit, len - lit);
	buf_deinit(&raw);
	return ret < 0 ? -1 : 0;
}

char *
mail_rfc2047_decode_dup(const char *p, size_t len)
{
	struct buf b;

	buf_init(&b, BUF_UNLIMITED);
	(void)mail_rfc2047_decode(&b, p, len);
	return buf_steal(&b);
}
