/*
 * mimefield.c — parsing of MIME header field values: Content-Type and
 * Content-Disposition with RFC 2045 tokens, quoted strings, comments and RFC 2231
 * parameter continuations / charsets; Content-Language lists. Runs in the mail process on
 * untrusted header text; the number of parameters is capped before anything is kept.
 */
#include "mail/mimefield.h"

#include "mail/header.h"
#include "mail/rfc2047.h"

struct lex {
	const unsigned char *p;
	size_t len, i;
};

static bool
is_tspecial(unsigned char c)
{
	return c <= ' ' || c >= 0x7f || memchr("()<>@,;:\\\"/[]?=", c, 16) != NULL;
}

/* Skip whitespace and (nested) comments. */
static void
lex_cfws(struct lex *l)
{
	l->i = mail_header_skip_cfws(l->p, l->len, l->i);
}

/* RFC 2045 token; returns its length (0 if none). */
static size_t
lex_token(struct lex *l, const unsigned char **tok_r)
{
	size_t start = l->i;

	while (l->i < l->len && !is_tspecial(l->p[l->i]))
		l->i++;
	*tok_r = l->p + start;
	return l->i - start;
}

/* Quoted string at l->i (which is '"'): unescaped content appended to out. */
static void
lex_quoted(struct lex *l, struct buf *out)
{
	l->i++;
	while (l->i < l->len && l->p[l->i] != '"') {
		unsigned char c = l->p[l->i];

		if (c == '\\' && l->i + 1 < l->len) {
			l->i++;
			c = l->p[l->i];
		}
		if (c != '\r' && c != '\n')
			(void)buf_append_c(out, (char)c);
		l->i++;
	}
	if (l->i < l->len)
		l->i++;
}

/* Lenient parameter value: quoted string, or bytes up to ';' / whitespace. */
static char *
lex_value(struct lex *l)
{
	struct buf b;
	size_t start;

	buf_init(&b, BUF_UNLIMITED);
	if (l->i < l->len && l->p[l->i] == '"')
		lex_quoted(l, &b);
	else {
		start = l->i;
		while (l->i < l->len && l->p[l->i] > ' ' && l->p[l->i] != ';' &&
		    l->p[l->i] != '"' && l->p[l->i] != 0x7f && l->p[l->i] != '(')
			l->i++;
		(void)buf_append(&b, l->p + start, l->i - start);
	}
	return buf_steal(&b);
}

static char *
lowercase_dup(const unsigned char *p, size_t n)
{
	char *s = xstrndup((const char *)p, n);

	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	return s;
}

struct raw_param {
	char *base;		/* lowercase name without the RFC 2231 suffix */
	int section;		/* -1: no section number */
	bool extended;		/* name ends in '*' */
	char *value;
};

static void
percent_decode(struct buf *out, const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		int h, l;

		if (s[i] == '%' && s[i + 1] != '\0' &&
		    (h = hex_digit_value((unsigned char)s[i + 1])) >= 0 &&
		    (l = hex_digit_value((unsigned char)s[i + 2])) >= 0) {
			(void)buf_append_c(out, (char)(h * 16 + l));
			i += 2;
		} else
			(void)buf_append_c(out, s[i]);
	}
}

/* Decoded UTF-8 value of an RFC 2231 extended value "charset'lang'%xx" built from parts. */
static char *
decode_2231(struct raw_param **segs, unsigned int n)
{
	struct buf bytes, out;
	const char *v = segs[0]->value, *q1, *q2;
	char *charset = NULL;

	buf_init(&bytes, BUF_UNLIMITED);
	buf_init(&out, BUF_UNLIMITED);
	if (segs[0]->extended && (q1 = strchr(v, '\'')) != NULL &&
	    (q2 = strchr(q1 + 1, '\'')) != NULL) {
		if (q1 > v)
			charset = xstrndup(v, (size_t)(q1 - v));
		v = q2 + 1;
	}
	for (unsigned int i = 0; i < n; i++) {
		const char *s = i == 0 ? v : segs[i]->value;

		if (segs[i]->extended)
			percent_decode(&bytes, s);
		else
			(void)buf_append_str(&bytes, s);
	}
	(void)mail_charset_to_utf8(&out, charset, (const unsigned char *)buf_cstr(&bytes),
	    bytes.len);
	free(charset);
	buf_deinit(&bytes);
	return buf_steal(&out);
}

static void
params_add(struct mail_param **params, unsigned int *n, char *name, char *value, char *uname,
    char *utf8)
{
	*params = xreallocarray(*params, *n + 1, sizeof(**params));
	(*params)[*n].name = name;
	(*params)[*n].value = value;
	(*params)[*n].utf8_name = uname;
	(*params)[*n].utf8 = utf8;
	(*n)++;
}

static int
cmp_base(const void *a, const void *b)
{
	const struct raw_param *const *x = a, *const *y = b;
	int r = strcmp((*x)->base, (*y)->base);

	if (r != 0)
		return r;
	return (*x)->section < (*y)->section ? -1 : (*x)->section > (*y)->section;
}

/*
 * Merge RFC 2231 continuations (§3) and decode values (§4, or RFC 2047 words). Like
 * Dovecot, plain parameters keep their order and merged ones follow, sorted by name.
 * A name whose sections are not 0, 1, 2, ... is kept section by section as written.
 */
static void
params_finish(struct raw_param *raw, unsigned int nraw, struct mail_param **params_r,
    unsigned int *n_r)
{
	struct raw_param **sorted = xcalloc(nraw + 1, sizeof(*sorted));
	unsigned int nsorted = 0;

	*params_r = NULL;
	*n_r = 0;
	for (unsigned int i = 0; i < nraw; i++) {
		char *utf8;

		if (raw[i].section >= 0) {
			sorted[nsorted++] = &raw[i];
			continue;
		}
		if (raw[i].extended) {
			struct raw_param *one[1] = { &raw[i] };

			utf8 = decode_2231(one, 1);
		} else
			utf8 = mail_rfc2047_decode_dup(raw[i].value, strlen(raw[i].value));
		params_add(params_r, n_r, raw[i].extended ?
		    xasprintf("%s*", raw[i].base) : xstrdup(raw[i].base),
		    xstrdup(raw[i].value), xstrdup(raw[i].base), utf8);
	}
	if (nsorted > 1)
		qsort(sorted, nsorted, sizeof(*sorted), cmp_base);
	for (unsigned int i = 0, next; i < nsorted; i = next) {
		bool ok = true;
		struct buf v;

		for (next = i; next < nsorted && strcmp(sorted[next]->base, sorted[i]->base) == 0;
		    next++) {
			if (sorted[next]->section != (int)(next - i))
				ok = false;
		}
		if (!ok) {
			for (unsigned int j = i; j < next; j++) {
				params_add(params_r, n_r, xasprintf("%s*%d%s", sorted[j]->base,
				    sorted[j]->section, sorted[j]->extended ? "*" : ""),
				    xstrdup(sorted[j]->value), xstrdup(sorted[j]->base),
				    decode_2231(&sorted[j], 1));
			}
			continue;
		}
		buf_init(&v, BUF_UNLIMITED);
		for (unsigned int j = i; j < next; j++)
			(void)buf_append_str(&v, sorted[j]->value);
		params_add(params_r, n_r, sorted[i]->extended ?
		    xasprintf("%s*", sorted[i]->base) : xstrdup(sorted[i]->base),
		    buf_steal(&v), xstrdup(sorted[i]->base), decode_2231(&sorted[i], next - i));
	}
	free(sorted);
}

void
mail_mime_params_parse(const unsigned char *p, size_t len, size_t start,
    unsigned int max_params, struct mail_param **params_r, unsigned int *n_r)
{
	struct lex l = { p, len, start };
	struct raw_param *raw = NULL;
	unsigned int nraw = 0;

	for (;;) {
		const unsigned char *tok;
		size_t n, k;
		struct raw_param *rp;

		lex_cfws(&l);
		if (l.i >= l.len)
			break;
		if (l.p[l.i] != ';') {
			/* junk: skip to the next ';' */
			while (l.i < l.len && l.p[l.i] != ';') {
				if (l.p[l.i] == '"') {
					struct buf junk;

					buf_init(&junk, 0);
					lex_quoted(&l, &junk);
					buf_deinit(&junk);
				} else
					l.i++;
			}
			continue;
		}
		l.i++;
		lex_cfws(&l);
		n = lex_token(&l, &tok);
		lex_cfws(&l);
		if (n == 0 || l.i >= l.len || l.p[l.i] != '=')
			continue;
		l.i++;
		lex_cfws(&l);
		if (nraw >= max_params) {
			free(lex_value(&l));
			continue;
		}
		raw = xreallocarray(raw, nraw + 1, sizeof(*raw));
		rp = &raw[nraw++];
		rp->section = -1;
		rp->extended = n > 1 && tok[n - 1] == '*';
		if (rp->extended)
			n--;
		/* "name*12": a section number of at most 3 digits */
		for (k = n; k > 0 && tok[k - 1] >= '0' && tok[k - 1] <= '9'; k--)
			;
		if (k > 1 && k < n && tok[k - 1] == '*' && n - k <= 3 &&
		    (n - k == 1 || tok[k] != '0')) {
			int sec = 0;

			for (size_t d = k; d < n; d++)
				sec = sec * 10 + (tok[d] - '0');
			rp->section = sec;
			n = k - 1;
		}
		rp->base = lowercase_dup(tok, n);
		rp->value = lex_value(&l);
	}
	params_finish(raw, nraw, params_r, n_r);
	for (unsigned int i = 0; i < nraw; i++) {
		free(raw[i].base);
		free(raw[i].value);
	}
	free(raw);
}

int
mail_mime_content_type_parse(const unsigned char *p, size_t len, char **type_r,
    char **subtype_r, size_t *params_start_r)
{
	struct lex l = { p, len, 0 };
	const unsigned char *t, *s;
	size_t tn, sn;

	lex_cfws(&l);
	tn = lex_token(&l, &t);
	lex_cfws(&l);
	if (tn == 0 || l.i >= l.len || l.p[l.i] != '/')
		return -1;
	l.i++;
	lex_cfws(&l);
	sn = lex_token(&l, &s);
	if (sn == 0)
		return -1;
	*type_r = xstrndup((const char *)t, tn);
	*subtype_r = xstrndup((const char *)s, sn);
	*params_start_r = l.i;
	return 0;
}

char *
mail_mime_token_parse(const unsigned char *p, size_t len, size_t *end_r)
{
	struct lex l = { p, len, 0 };
	const unsigned char *t;
	size_t n;

	lex_cfws(&l);
	n = lex_token(&l, &t);
	if (end_r != NULL)
		*end_r = l.i;
	if (n == 0)
		return NULL;
	return xstrndup((const char *)t, n);
}

void
mail_mime_language_parse(const unsigned char *p, size_t len, char ***langs_r,
    unsigned int *n_r, unsigned int max)
{
	struct lex l = { p, len, 0 };
	char **langs = NULL;
	unsigned int n = 0;

	while (l.i < l.len) {
		const unsigned char *t;
		size_t tn;

		lex_cfws(&l);
		tn = lex_token(&l, &t);
		lex_cfws(&l);
		if (tn > 0 && n < max) {
			langs = xreallocarray(langs, n + 1, sizeof(*langs));
			langs[n++] = xstrndup((const char *)t, tn);
		}
		/* skip to the next ',' */
		while (l.i < l.len && l.p[l.i] != ',')
			l.i++;
		if (l.i < l.len)
			l.i++;
	}
	*langs_r = langs;
	*n_r = n;
}

void
mail_params_free(struct mail_param *params, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		free(params[i].name);
		free(params[i].value);
		free(params[i].utf8_name);
		free(params[i].utf8);
	}
	free(params);
}
