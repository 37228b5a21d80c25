/*
 * section.c — BODY[section] parsing and resolution (RFC 3501 §6.4.5; see section.h).
 * Runs in the mail process: the section text comes from the client, the message from
 * disk. Part numbers and field names are bounded before anything is allocated; the
 * generated HEADER.FIELDS output is bounded by the caller's limit.
 */
#include "mail/section.h"

#include "lib/base64.h"
#include "lib/util.h"
#include "mail/header.h"
#include "mail/search.h"

static bool
kw_at(const char *p, size_t len, size_t i, const char *kw)
{
	size_t n = strlen(kw);

	return len - i >= n && strncasecmp(p + i, kw, n) == 0;
}

static bool
is_field_char(unsigned char c)
{
	/* RFC 5322 ftext: printable US-ASCII except ':' */
	return c > 0x20 && c < 0x7f && c != ':';
}

int
mail_section_add_field(struct mail_section *s, const char *name, size_t len)
{
	if (s->nfields >= MAIL_SECTION_MAX_FIELDS || len == 0 ||
	    len > MAIL_SECTION_MAX_FIELD_LEN)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!is_field_char((unsigned char)name[i]))
			return -1;
	s->fields = xreallocarray(s->fields, s->nfields + 1, sizeof(*s->fields));
	s->fields[s->nfields++] = xstrndup(name, len);
	return 0;
}

void
mail_section_deinit(struct mail_section *s)
{
	for (unsigned int i = 0; i < s->nfields; i++)
		free(s->fields[i]);
	free(s->fields);
	s->fields = NULL;
	s->nfields = 0;
}

/* " (a b \"c\")" at p[i..len) to the end. */
static int
parse_field_list(struct mail_section *s, const char *p, size_t len, size_t i,
    const char **error_r)
{
	if (i >= len || p[i] != ' ') {
		*error_r = "Missing header field list";
		return -1;
	}
	i++;
	if (i >= len || p[i] != '(') {
		*error_r = "Missing header field list";
		return -1;
	}
	i++;
	for (;;) {
		size_t start;
		char tmp[MAIL_SECTION_MAX_FIELD_LEN];
		size_t n = 0;

		if (i >= len) {
			*error_r = "Unterminated header field list";
			return -1;
		}
		if (p[i] == ')') {
			i++;
			break;
		}
		if (s->nfields > 0 || p[i] == ' ') {
			if (p[i] != ' ' || s->nfields == 0) {
				*error_r = "Invalid header field list";
				return -1;
			}
			i++;
		}
		if (i < len && p[i] == '"') {
			i++;
			while (i < len && p[i] != '"') {
				if (p[i] == '\\' && i + 1 < len)
					i++;
				if (n >= sizeof(tmp)) {
					*error_r = "Header field name too long";
					return -1;
				}
				tmp[n++] = p[i++];
			}
			if (i >= len) {
				*error_r = "Unterminated quoted string";
				return -1;
			}
			i++;
			if (mail_section_add_field(s, tmp, n) < 0) {
				*error_r = "Invalid header field name";
				return -1;
			}
			continue;
		}
		start = i;
		while (i < len && p[i] != ' ' && p[i] != ')')
			i++;
		if (mail_section_add_field(s, p + start, i - start) < 0) {
			*error_r = "Invalid header field name";
			return -1;
		}
	}
	if (s->nfields == 0) {
		*error_r = "Empty header field list";
		return -1;
	}
	if (i != len) {
		*error_r = "Junk after header field list";
		return -1;
	}
	return 0;
}

int
mail_section_parse(const char *p, size_t len, struct mail_section *s, const char **error_r)
{
	size_t i = 0;

	memset(s, 0, sizeof(*s));
	s->kind = MAIL_SECTION_BODY;
	/* part numbers: 1*DIGIT *("." 1*DIGIT), each followed by '.' or the end */
	while (i < len && p[i] >= '0' && p[i] <= '9') {
		size_t start = i;
		uint32_t n;

		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
		if (parse_u32(p + start, i - start, &n) < 0 || n == 0 || p[start] == '0') {
			*error_r = "Invalid part number";
			return -1;
		}
		if (s->depth >= MAIL_SECTION_MAX_DEPTH) {
			*error_r = "Too many part numbers";
			return -1;
		}
		s->part[s->depth++] = n;
		if (i == len)
			return 0;
		if (p[i] != '.' || i + 1 == len) {
			*error_r = "Invalid section";
			return -1;
		}
		i++;
	}
	if (i == len) {
		if (len == 0)
			return 0;
		*error_r = "Invalid section";
		return -1;
	}
	if (kw_at(p, len, i, "HEADER.FIELDS.NOT")) {
		s->kind = MAIL_SECTION_HEADER_FIELDS_NOT;
		i += 17;
	} else if (kw_at(p, len, i, "HEADER.FIELDS")) {
		s->kind = MAIL_SECTION_HEADER_FIELDS;
		i += 13;
	} else if (kw_at(p, len, i, "HEADER") && len - i == 6) {
		s->kind = MAIL_SECTION_HEADER;
		return 0;
	} else if (kw_at(p, len, i, "TEXT") && len - i == 4) {
		s->kind = MAIL_SECTION_TEXT;
		return 0;
	} else if (kw_at(p, len, i, "MIME") && len - i == 4 && s->depth > 0) {
		s->kind = MAIL_SECTION_MIME;
		return 0;
	} else {
		*error_r = "Invalid section";
		return -1;
	}
	if (parse_field_list(s, p, len, i, error_r) < 0) {
		mail_section_deinit(s);
		return -1;
	}
	return 0;
}

int
mail_section_write(struct buf *out, const struct mail_section *s)
{
	static const char *const names[] = {
		"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"
	};
	int ret = 0;

	for (unsigned int i = 0; i < s->depth; i++)
		ret |= buf_appendf(out, i == 0 ? "%u" : ".%u", s->part[i]);
	if (s->kind != MAIL_SECTION_BODY) {
		if (s->depth > 0)
			ret |= buf_append_c(out, '.');
		ret |= buf_append_str(out, names[s->kind]);
	}
	if (s->kind == MAIL_SECTION_HEADER_FIELDS || s->kind == MAIL_SECTION_HEADER_FIELDS_NOT) {
		ret |= buf_append_str(out, " (");
		for (unsigned int i = 0; i < s->nfields; i++) {
			if (i > 0)
				ret |= buf_append_c(out, ' ');
			for (const char *c = s->fields[i]; *c != '\0'; c++) {
				char u = (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : *c;

				/* names with quoted-specials go out as quoted strings */
				if (c == s->fields[i] && strpbrk(s->fields[i], "\"\\(){%*]") != NULL)
					ret |= buf_append_c(out, '"');
				if (u == '"' || u == '\\')
					ret |= buf_append_c(out, '\\');
				ret |= buf_append_c(out, u);
				if (c[1] == '\0' && strpbrk(s->fields[i], "\"\\(){%*]") != NULL)
					ret |= buf_append_c(out, '"');
			}
		}
		ret |= buf_append_c(out, ')');
	}
	return ret < 0 ? -1 : 0;
}

static bool
field_listed(const struct mail_section *s, const struct mail_header_field *f)
{
	for (unsigned int i = 0; i < s->nfields; i++)
		if (mail_header_name_eq(f->name, f->name_len, s->fields[i]))
			return true;
	return false;
}

static void
set_range(struct mail_section_result *r, const struct mail_message *m, size_t off,
    size_t len, uint64_t size)
{
	r->found = true;
	r->raw_off = off;
	r->raw_len = len;
	r->size = size;
	(void)m;
}

int
mail_section_resolve(const struct mail_message *m, const struct mail_section *s,
    size_t max_generated, struct mail_section_result *r)
{
	const struct mail_part *p;
	struct mail_header_field f;
	size_t pos = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&r->buf, max_generated);
	p = mail_part_find(m, s->part, s->depth);
	if (p == NULL)
		return 0;
	if (s->kind == MAIL_SECTION_HEADER || s->kind == MAIL_SECTION_TEXT ||
	    s->kind == MAIL_SECTION_HEADER_FIELDS || s->kind == MAIL_SECTION_HEADER_FIELDS_NOT) {
		/* these address a message: the root, or the message inside a rfc822 part */
		if (s->depth > 0) {
			if (!(p->flags & MAIL_PART_RFC822) || p->children == NULL)
				return 0;
			p = p->children;
		}
	}
	switch (s->kind) {
	case MAIL_SECTION_BODY:
		if (s->depth == 0)
			set_range(r, m, 0, m->len, mail_octets_size(m->data, m->len));
		else
			set_range(r, m, p->body_off, p->body_len, p->body_size);
		return 0;
	case MAIL_SECTION_MIME:
	case MAIL_SECTION_HEADER:
		set_range(r, m, p->hdr_off, p->hdr_len, p->hdr_size);
		return 0;
	case MAIL_SECTION_TEXT:
		set_range(r, m, p->body_off, p->body_len, p->body_size);
		return 0;
	case MAIL_SECTION_HEADER_FIELDS:
	case MAIL_SECTION_HEADER_FIELDS_NOT:
		break;
	}
	r->found = true;
	r->generated = true;
	while (mail_header_next(m->data + p->hdr_off, p->hdr_len, &pos, &f) > 0) {
		bool listed = field_listed(s, &f);

		if (listed != (s->kind == MAIL_SECTION_HEADER_FIELDS))
			continue;
		if (mail_octets_append(&r->buf, m->data + p->hdr_off + f.off, f.len, 0,
		    UINT64_MAX) < 0)
			goto toobig;
		/* a last field without line end still gets one */
		if (f.len > 0 && m->data[p->hdr_off + f.off + f.len - 1] != '\n' &&
		    buf_append(&r->buf, "\r\n", 2) < 0)
			goto toobig;
	}
	/* RFC 3501 §6.4.5: the subset includes the blank line */
	if (buf_append(&r->buf, "\r\n", 2) < 0)
		goto toobig;
	r->size = r->buf.len;
	return 0;
toobig:
	buf_reset(&r->buf);
	r->size = 0;
	r->generated = false;
	r->found = false;
	return -1;
}

void
mail_section_result_deinit(struct mail_section_result *r)
{
	buf_deinit(&r->buf);
}

int
mail_section_result_append(struct buf *out, const struct mail_message *m,
    const struct mail_section_result *r, uint64_t origin, uint64_t count)
{
	if (r->generated) {
		uint64_t n;

		if (origin >= r->buf.len)
			return 0;
		n = r->buf.len - origin;
		if (count < n)
			n = count;
		return buf_append(out, r->buf.data + origin, (size_t)n);
	}
	if (!r->found)
		return 0;
	return mail_octets_append(out, m->data + r->raw_off, r->raw_len, origin, count);
}

enum binary_cte { CTE_IDENTITY, CTE_BASE64, CTE_QP, CTE_UNKNOWN };

/* The encoding BINARY[s] removes: the part's own, for a leaf part only. */
static enum binary_cte
binary_cte(const struct mail_part *p, const struct mail_section *s)
{
	const char *e;

	if (p == NULL || s->depth == 0 || (p->flags & (MAIL_PART_MULTIPART | MAIL_PART_RFC822)))
		return CTE_IDENTITY;
	e = p->encoding;
	if (e == NULL || str_ieq(e, "7bit") || str_ieq(e, "8bit") || str_ieq(e, "binary"))
		return CTE_IDENTITY;
	if (str_ieq(e, "base64"))
		return CTE_BASE64;
	if (str_ieq(e, "quoted-printable"))
		return CTE_QP;
	return CTE_UNKNOWN;
}

bool
mail_section_binary_known_cte(const struct mail_message *m, const struct mail_section *s)
{
	return binary_cte(mail_part_find(m, s->part, s->depth), s) != CTE_UNKNOWN;
}

int
mail_section_binary(const struct mail_message *m, const struct mail_section *s,
    size_t max_bytes, struct mail_section_result *r)
{
	const struct mail_part *p;
	const unsigned char *body;
	size_t len;
	struct buf crlf;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&r->buf, max_bytes);
	r->generated = true;
	if (s->kind != MAIL_SECTION_BODY)
		return -2;
	p = mail_part_find(m, s->part, s->depth);
	if (p == NULL)
		return 0;
	r->found = true;
	if (s->depth == 0) {
		body = m->data;
		len = m->len;
	} else {
		body = m->data + p->body_off;
		len = p->body_len;
	}
	switch (binary_cte(p, s)) {
	case CTE_IDENTITY:
		ret = mail_octets_append(&r->buf, body, len, 0, UINT64_MAX);
		break;
	case CTE_BASE64:
		ret = base64_decode_buf((const char *)body, len, BASE64_LENIENT, &r->buf);
		break;
	case CTE_QP:
		/* line breaks are CRLF in the decoded text; "=0A" stays a bare LF */
		buf_init(&crlf, max_bytes);
		ret = mail_octets_append(&crlf, body, len, 0, UINT64_MAX);
		if (ret == 0 && crlf.len > 0) {
			/* the decoded text is never longer than its encoding */
			unsigned char *dec = xmalloc(crlf.len);
			size_t n = mail_qp_decode(dec, (const unsigned char *)crlf.data, crlf.len);

			ret = buf_append(&r->buf, dec, n);
			free(dec);
		}
		buf_deinit(&crlf);
		break;
	case CTE_UNKNOWN:
	default:
		r->found = false;
		return -2;
	}
	if (ret < 0) {
		buf_reset(&r->buf);
		r->found = false;
		return -1;
	}
	r->size = r->buf.len;
	return 0;
}
