/*
 * header.c — RFC 5322 header field iteration and unfolding over a header block in memory
 * (see header.h). Runs in the mail process on untrusted bytes; every scan is bounded by
 * the block length and nothing here allocates except the *_dup and get functions.
 */
#include "mail/header.h"

#include <ctype.h>

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* End of the line starting at i: index just past its LF, or len. */
static size_t
line_end(const unsigned char *p, size_t len, size_t i)
{
	const unsigned char *lf = memchr(p + i, '\n', len - i);

	return lf == NULL ? len : (size_t)(lf - p) + 1;
}

/* Length of the line content without its CRLF / LF. */
static size_t
line_content_end(const unsigned char *p, size_t start, size_t end)
{
	if (end > start && p[end - 1] == '\n') {
		end--;
		if (end > start && p[end - 1] == '\r')
			end--;
	}
	return end;
}

int
mail_header_next(const unsigned char *hdr, size_t len, size_t *pos,
    struct mail_header_field *f_r)
{
	size_t i = *pos;

	while (i < len) {
		size_t start = i, end, colon, n, vstart, vend;
		const unsigned char *c;

		/* blank line: end of header */
		if (hdr[i] == '\n' || (hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n')) {
			*pos = len;
			return 0;
		}
		end = line_end(hdr, len, i);
		/* continuation lines belong to the field */
		while (end < len && is_wsp(hdr[end]))
			end = line_end(hdr, len, end);
		i = end;
		if (is_wsp(hdr[start]))
			continue;	/* stray continuation at the start */
		c = memchr(hdr + start, ':', end - start);
		if (c == NULL)
			continue;	/* not a field; skipped */
		colon = (size_t)(c - hdr);
		n = colon;
		while (n > start && is_wsp(hdr[n - 1]))
			n--;
		if (n == start)
			continue;	/* empty name */
		vstart = colon + 1;
		vend = line_content_end(hdr, vstart, end);
		f_r->name = hdr + start;
		f_r->name_len = n - start;
		f_r->value = hdr + vstart;
		f_r->value_len = vend - vstart;
		f_r->off = start;
		f_r->len = end - start;
		*pos = i;
		return 1;
	}
	*pos = i;
	return 0;
}

int
mail_header_unfold(struct buf *out, const unsigned char *value, size_t len)
{
	size_t i = 0, start;

	while (i < len && (is_wsp(value[i]) || value[i] == '\r' || value[i] == '\n'))
		i++;
	while (i < len) {
		start = i;
		while (i < len && value[i] != '\r' && value[i] != '\n' && value[i] != '\0')
			i++;
		if (buf_append(out, value + start, i - start) < 0)
			return -1;
		if (i >= len)
			break;
		if (value[i] == '\0') {
			if (buf_append_c(out, ' ') < 0)
				return -1;
		}
		/* CR and LF are dropped: unfolding (RFC 5322 §2.2.3) */
		i++;
	}
	return 0;
}

char *
mail_header_unfold_dup(const unsigned char *value, size_t len)
{
	struct buf b;

	buf_init(&b, BUF_UNLIMITED);
	(void)mail_header_unfold(&b, value, len);
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

bool
mail_header_name_eq(const unsigned char *n, size_t nlen, const char *name)
{
	return mem_ieq((const char *)n, nlen, name);
}

char *
mail_header_get(const unsigned char *hdr, size_t len, const char *name)
{
	struct mail_header_field f;
	size_t pos = 0;

	while (mail_header_next(hdr, len, &pos, &f) > 0) {
		if (mail_header_name_eq(f.name, f.name_len, name))
			return mail_header_unfold_dup(f.value, f.value_len);
	}
	return NULL;
}

size_t
mail_header_skip_cfws(const unsigned char *p, size_t len, size_t i)
{
	unsigned int depth = 0;

	for (; i < len; i++) {
		unsigned char c = p[i];

		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(')
			depth = 1;
		else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
	}
	return i;
}
