/*
 * search.c — SEARCH text matching (see search.h): i;unicode-casemap (RFC 5051) via
 * utf8proc casefold + compatibility decomposition, over decoded header values and
 * decoded text bodies. Runs in the mail process on untrusted messages; the decoded text
 * examined per message is bounded by mail_limits.max_search_bytes, one part at a time.
 */
#include <utf8proc.h>

#include "mail/search.h"

#include "mail/header.h"
#include "mail/rfc2047.h"

struct mail_search_key {
	char *folded;
	size_t len;
};

/* Casefold valid-or-not UTF-8 text into a malloc'd string (length in *len_r). */
static char *
fold(const char *p, size_t len, size_t *len_r)
{
	struct buf clean;
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t n;

	buf_init(&clean, BUF_UNLIMITED);
	(void)mail_charset_to_utf8(&clean, NULL, (const unsigned char *)p, len);
	n = utf8proc_map((const utf8proc_uint8_t *)buf_cstr(&clean), (utf8proc_ssize_t)clean.len,
	    &dst, UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD);
	if (n < 0) {
		/* cannot happen for valid UTF-8; fall back to the cleaned text */
		*len_r = clean.len;
		return buf_steal(&clean);
	}
	buf_deinit(&clean);
	*len_r = (size_t)n;
	return (char *)dst;
}

struct mail_search_key *
mail_search_key_create(const char *utf8, size_t len)
{
	struct mail_search_key *k = xcalloc(1, sizeof(*k));

	k->folded = fold(utf8, len, &k->len);
	return k;
}

void
mail_search_key_destroy(struct mail_search_key **kp)
{
	if (*kp == NULL)
		return;
	free((*kp)->folded);
	free(*kp);
	*kp = NULL;
}

static bool
match_folded(const struct mail_search_key *k, const char *text, size_t len)
{
	if (k->len == 0)
		return true;
	return memmem(text, len, k->folded, k->len) != NULL;
}

bool
mail_search_text(const struct mail_search_key *k, const char *utf8, size_t len)
{
	size_t n;
	char *f;
	bool ret;

	if (k->len == 0)
		return true;
	f = fold(utf8, len, &n);
	ret = match_folded(k, f, n);
	free(f);
	return ret;
}

bool
mail_search_header_value(const struct mail_search_key *k, const unsigned char *value,
    size_t len)
{
	struct buf unfolded, decoded;
	bool ret;

	buf_init(&unfolded, BUF_UNLIMITED);
	buf_init(&decoded, BUF_UNLIMITED);
	(void)mail_header_unfold(&unfolded, value, len);
	(void)mail_rfc2047_decode(&decoded, buf_cstr(&unfolded), unfolded.len);
	ret = mail_search_text(k, buf_cstr(&decoded), decoded.len);
	buf_deinit(&unfolded);
	buf_deinit(&decoded);
	return ret;
}

static bool
search_header_block(const struct mail_search_key *k, const struct mail_message *m,
    const struct mail_part *part, const char *name, size_t *budget)
{
	const unsigned char *hdr = m->data + part->hdr_off;
	struct mail_header_field f;
	size_t pos = 0;
	unsigned int nfields = 0;

	while (nfields++ < m->limits.max_header_fields &&
	    mail_header_next(hdr, part->hdr_len, &pos, &f) > 0) {
		if (f.len > *budget)
			return false;
		*budget -= f.len;
		if (name != NULL) {
			if (mail_header_name_eq(f.name, f.name_len, name) &&
			    mail_search_header_value(k, f.value, f.value_len))
				return true;
			continue;
		}
		/* whole-header search: "Name: value" */
		{
			struct buf line;
			bool hit;

			buf_init(&line, BUF_UNLIMITED);
			(void)buf_append(&line, f.name, f.name_len);
			(void)buf_append_str(&line, ": ");
			{
				struct buf unfolded;

				buf_init(&unfolded, BUF_UNLIMITED);
				(void)mail_header_unfold(&unfolded, f.value, f.value_len);
				(void)mail_rfc2047_decode(&line, buf_cstr(&unfolded),
				    unfolded.len);
				buf_deinit(&unfolded);
			}
			hit = mail_search_text(k, buf_cstr(&line), line.len);
			buf_deinit(&line);
			if (hit)
				return true;
		}
	}
	return false;
}

bool
mail_search_header(const struct mail_search_key *k, const struct mail_message *m,
    const struct mail_part *part, const char *name)
{
	size_t budget = m->limits.max_search_bytes;

	return search_header_block(k, m, part == NULL ? m->root : part, name, &budget);
}

static int
hexv(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 2045 §6.7 quoted-printable, leniently: invalid escapes are kept. */
static void
decode_qp(struct buf *out, const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		int h, l;

		if (p[i] != '=') {
			size_t start = i;
			const unsigned char *eq = memchr(p + i, '=', len - i);

			i = eq == NULL ? len : (size_t)(eq - p);
			if (buf_append(out, p + start, i - start) < 0)
				return;
			continue;
		}
		if (i + 2 < len && (h = hexv(p[i + 1])) >= 0 &&
		    (l = hexv(p[i + 2])) >= 0) {
			if (buf_append_c(out, (char)(h * 16 + l)) < 0)
				return;
			i += 3;
			continue;
		}
		/* soft line break: "=" [WSP] CRLF */
		{
			size_t j = i + 1;

			while (j < len && (p[j] == ' ' || p[j] == '\t'))
				j++;
			if (j < len && p[j] == '\r')
				j++;
			if (j < len && p[j] == '\n') {
				i = j + 1;
				continue;
			}
			if (j >= len) {
				i = len;
				continue;
			}
		}
		if (buf_append_c(out, '=') < 0)
			return;
		i++;
	}
}

static void
decode_base64(struct buf *out, const unsigned char *p, size_t len)
{
	uint32_t acc = 0;
	unsigned int bits = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		int v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			continue;	/* whitespace, padding, junk */
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_append_c(out, (char)((acc >> bits) & 0xff)) < 0)
				return;
		}
	}
}

static bool
search_text_part(const struct mail_search_key *k, const struct mail_message *m,
    const struct mail_part *p, size_t *budget)
{
	const unsigned char *body = m->data + p->body_off;
	size_t len = MIN(p->body_len, *budget);
	const struct mail_param *cs = mail_param_find(p->params, p->nparams, "charset");
	struct buf decoded, utf8;
	bool hit;

	buf_init(&decoded, *budget);
	buf_init(&utf8, BUF_UNLIMITED);
	if (p->encoding != NULL && str_ieq(p->encoding, "base64"))
		decode_base64(&decoded, body, len);
	else if (p->encoding != NULL && str_ieq(p->encoding, "quoted-printable"))
		decode_qp(&decoded, body, len);
	else
		(void)buf_append(&decoded, body, len);
	*budget -= MIN(*budget, MAX(len, decoded.len));
	(void)mail_charset_to_utf8(&utf8, cs != NULL ? cs->utf8 : NULL,
	    (const unsigned char *)buf_cstr(&decoded), decoded.len);
	buf_deinit(&decoded);
	hit = mail_search_text(k, buf_cstr(&utf8), utf8.len);
	buf_deinit(&utf8);
	return hit;
}

bool
mail_search_body(const struct mail_search_key *k, const struct mail_message *m,
    bool include_headers)
{
	const struct mail_part *p = m->root;
	size_t budget = m->limits.max_search_bytes;
	bool is_message = true;	/* p's header is a message header */

	if (k->len == 0)
		return true;
	/* depth-first walk without recursion */
	while (p != NULL && budget > 0) {
		if (include_headers && is_message &&
		    search_header_block(k, m, p, NULL, &budget))
			return true;
		if (p->children != NULL) {
			is_message = (p->flags & MAIL_PART_RFC822) != 0;
			p = p->children;
			continue;
		}
		if ((p->flags & MAIL_PART_TEXT) && search_text_part(k, m, p, &budget))
			return true;
		while (p != NULL && p->next == NULL)
			p = p->parent;
		if (p == NULL)
			break;
		p = p->next;
		is_message = false;
	}
	return false;
}
