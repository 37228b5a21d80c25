/*
 * message.c — MIME structure of a message in memory (see message.h). Runs in the mail
 * process over mmapped, untrusted message files. The parser works on byte ranges: a part
 * is a header block and a body; a multipart body is split at its boundary lines, each
 * child parsed within its own range, so an outer boundary always ends inner parts (RFC
 * 2046 §5.1.2). Recursion depth and part count are bounded by struct mail_limits;
 * nothing here can fail except by aborting on memory exhaustion.
 */
#include "mail/message.h"

#include "mail/header.h"
#include "mail/mimefield.h"

void
mail_limits_default(struct mail_limits *l)
{
	l->max_depth = 100;
	l->max_parts = 10000;
	l->max_header_bytes = 8 * 1024 * 1024;
	l->max_header_fields = 10000;
	l->max_params = 128;
	l->max_addresses = 10000;
	l->max_search_bytes = 64 * 1024 * 1024;
}

struct parse_ctx {
	struct mail_message *m;
	const unsigned char *d;
	bool header_only;	/* mail_message_parse_header: no descent into the body */
};

static void parse_part(struct parse_ctx *ctx, struct mail_part *part, size_t start,
    size_t end, unsigned int depth, bool digest_child);

static size_t
next_line(const unsigned char *d, size_t i, size_t end)
{
	const unsigned char *lf = memchr(d + i, '\n', end - i);

	return lf == NULL ? end : (size_t)(lf - d) + 1;
}

/*
 * IMAP-octet size and line count of a body assembled from consecutive ranges, so that
 * every byte is counted once: a multipart body is its preamble, boundary lines and
 * epilogue (counted here) plus its children's headers and bodies (counted by their own
 * parse). Joining ranges only changes the size when a segment starts with the LF of a
 * CRLF split between them: counted bare in the segment, it is not bare in the whole.
 */
struct octet_acc {
	size_t start, pos;	/* counts so far are those of d[start, pos) */
	uint64_t size, lines;
};

static void
acc_init(struct octet_acc *a, size_t start)
{
	a->start = a->pos = start;
	a->size = a->lines = 0;
}

/* Add d[a->pos, to), whose own counts are size and lines. */
static void
acc_add(const unsigned char *d, struct octet_acc *a, size_t to, uint64_t size,
    uint64_t lines)
{
	if (a->pos > a->start && to > a->pos && d[a->pos - 1] == '\r' && d[a->pos] == '\n')
		size--;
	a->size += size;
	a->lines += lines;
	a->pos = to;
}

/* Count d[a->pos, to) and add it. */
static void
acc_scan(const unsigned char *d, struct octet_acc *a, size_t to)
{
	uint64_t size, lines;

	mail_octets_count(d + a->pos, to - a->pos, &size, &lines);
	acc_add(d, a, to, size, lines);
}

/* Add a parsed part's header and body (they follow each other). */
static void
acc_part(const unsigned char *d, struct octet_acc *a, const struct mail_part *p)
{
	acc_add(d, a, p->body_off, p->hdr_size, p->hdr_lines);
	acc_add(d, a, p->body_off + p->body_len, p->body_size, p->body_lines);
}

/*
 * The header block of d[start, end): returns its end (just past the blank line, or
 * where the header stops). *found_r: a blank line ended it, or the header hit
 * `limit` (the rest is then body): either way a longer d could not change the result.
 * *oversized_r: the limit was hit.
 */
static size_t
scan_header_end(const unsigned char *d, size_t start, size_t end, size_t limit,
    bool *found_r, bool *oversized_r)
{
	size_t i = start;

	*found_r = true;
	*oversized_r = false;
	while (i < end) {
		size_t e;

		if (d[i] == '\n')
			return i + 1;
		if (d[i] == '\r' && i + 1 < end && d[i + 1] == '\n')
			return i + 2;
		e = next_line(d, i, end);
		if (e - start > limit) {
			/* oversized header: the rest is body */
			*oversized_r = true;
			return i > start ? i : MIN(end, start + limit);
		}
		i = e;
	}
	*found_r = false;
	return end;
}

/* As scan_header_end for a part: sets MAIL_PART_NO_SEPARATOR without a blank line. */
static size_t
header_end(struct parse_ctx *ctx, struct mail_part *part, size_t start, size_t end)
{
	bool found, oversized;
	size_t he = scan_header_end(ctx->d, start, end, ctx->m->limits.max_header_bytes,
	    &found, &oversized);

	if (!found || oversized)
		part->flags |= MAIL_PART_NO_SEPARATOR;
	if (oversized)
		ctx->m->limited = true;
	return he;
}

size_t
mail_header_block_end(const unsigned char *data, size_t len,
    const struct mail_limits *limits, bool *complete_r)
{
	struct mail_limits def;
	bool oversized;

	if (limits == NULL) {
		mail_limits_default(&def);
		limits = &def;
	}
	return scan_header_end(data, 0, len, limits->max_header_bytes, complete_r,
	    &oversized);
}

static void
set_type(struct mail_part *p, const char *type, const char *subtype)
{
	free(p->type);
	free(p->subtype);
	p->type = xstrdup(type);
	p->subtype = xstrdup(subtype);
}

bool
mail_part_is(const struct mail_part *p, const char *type, const char *subtype)
{
	return str_ieq(p->type, type) && (subtype == NULL || str_ieq(p->subtype, subtype));
}

/* Read the MIME fields of the part's header. */
static void
parse_mime_header(struct parse_ctx *ctx, struct mail_part *part, bool digest_child)
{
	const struct mail_limits *lim = &ctx->m->limits;
	const unsigned char *hdr = ctx->d + part->hdr_off;
	struct mail_header_field f;
	size_t pos = 0;
	unsigned int nfields = 0;
	bool have_ct = false;

	while (nfields < lim->max_header_fields &&
	    mail_header_next(hdr, part->hdr_len, &pos, &f) > 0) {
		char **slot = NULL;
		char *v;

		nfields++;
		if (f.name_len < 8 || !mail_header_name_eq(f.name, 8, "content-"))
			continue;
		v = mail_header_unfold_dup(f.value, f.value_len);
		if (mail_header_name_eq(f.name, f.name_len, "content-type")) {
			char *t, *s;
			size_t ps;

			if (!have_ct && mail_mime_content_type_parse((unsigned char *)v,
			    strlen(v), &t, &s, &ps) == 0) {
				have_ct = true;
				free(part->type);
				free(part->subtype);
				part->type = t;
				part->subtype = s;
				mail_mime_params_parse((unsigned char *)v, strlen(v), ps,
				    lim->max_params, &part->params, &part->nparams);
			}
		} else if (mail_header_name_eq(f.name, f.name_len, "content-transfer-encoding")) {
			size_t e;
			char *tok;

			if (part->encoding == NULL) {
				tok = mail_mime_token_parse((unsigned char *)v, strlen(v), &e);
				/* RFC 2045 §6.1: a single token, else it is invalid */
				if (tok != NULL && v[e + strspn(v + e, " \t")] != '\0') {
					free(tok);
					tok = NULL;
				}
				part->encoding = tok;
			}
		} else if (mail_header_name_eq(f.name, f.name_len, "content-disposition")) {
			size_t e;

			if (part->disposition == NULL) {
				part->disposition = mail_mime_token_parse((unsigned char *)v,
				    strlen(v), &e);
				if (part->disposition != NULL)
					mail_mime_params_parse((unsigned char *)v, strlen(v), e,
					    lim->max_params, &part->disp_params,
					    &part->ndisp_params);
			}
		} else if (mail_header_name_eq(f.name, f.name_len, "content-language")) {
			if (part->languages == NULL)
				mail_mime_language_parse((unsigned char *)v, strlen(v),
				    &part->languages, &part->nlanguages, lim->max_params);
			if (part->nlanguages == 0) {
				free(part->languages);
				part->languages = NULL;
			}
		} else if (mail_header_name_eq(f.name, f.name_len, "content-id"))
			slot = &part->id;
		else if (mail_header_name_eq(f.name, f.name_len, "content-description"))
			slot = &part->description;
		else if (mail_header_name_eq(f.name, f.name_len, "content-md5"))
			slot = &part->md5;
		else if (mail_header_name_eq(f.name, f.name_len, "content-location"))
			slot = &part->location;
		if (slot != NULL && *slot == NULL) {
			*slot = v;
			v = NULL;
		}
		free(v);
	}
	if (!have_ct) {
		if (digest_child)
			set_type(part, "message", "rfc822");
		else
			set_type(part, "text", "plain");
	}
}

static void
part_free(struct mail_part *p)
{
	struct mail_part *c, *next;

	for (c = p->children; c != NULL; c = next) {
		next = c->next;
		part_free(c);
	}
	free(p->type);
	free(p->subtype);
	mail_params_free(p->params, p->nparams);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->md5);
	free(p->disposition);
	mail_params_free(p->disp_params, p->ndisp_params);
	for (unsigned int i = 0; i < p->nlanguages; i++)
		free(p->languages[i]);
	free(p->languages);
	free(p->location);
	free(p);
}

/* Turn a container that hit a limit into a leaf application/octet-stream. */
static void
make_limited_leaf(struct parse_ctx *ctx, struct mail_part *part)
{
	set_type(part, "application", "octet-stream");
	mail_params_free(part->params, part->nparams);
	part->params = NULL;
	part->nparams = 0;
	part->flags &= ~(unsigned int)(MAIL_PART_MULTIPART | MAIL_PART_RFC822 | MAIL_PART_TEXT);
	part->flags |= MAIL_PART_LIMITED;
	ctx->m->limited = true;
}

static struct mail_part *
new_part(struct parse_ctx *ctx, struct mail_part *parent)
{
	struct mail_part *p;

	if (ctx->m->nparts >= ctx->m->limits.max_parts)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->parent = parent;
	ctx->m->nparts++;
	return p;
}

static void
append_child(struct mail_part *parent, struct mail_part *child, struct mail_part **last)
{
	if (*last == NULL)
		parent->children = child;
	else
		(*last)->next = child;
	*last = child;
	parent->nchildren++;
}

/*
 * Is the line at d[i..end) a boundary line "--b" for boundary b? Returns 1 for a
 * delimiter, 2 for the close delimiter "--b--", 0 otherwise. After the boundary only
 * whitespace may follow (RFC 2046 §5.1.1 transport padding), so that "--b1" does not
 * match a nested part's "--b10" line; after a close delimiter anything may follow.
 */
static int
boundary_line(const unsigned char *d, size_t i, size_t end, const char *b, size_t blen)
{
	if (end - i < blen + 2 || d[i] != '-' || d[i + 1] != '-' ||
	    memcmp(d + i + 2, b, blen) != 0)
		return 0;
	i += 2 + blen;
	if (end - i >= 2 && d[i] == '-' && d[i + 1] == '-')
		return 2;
	while (i < end && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r'))
		i++;
	return i == end || d[i] == '\n' ? 1 : 0;
}

/*
 * The first "--boundary" (needle) in d[i, end) that starts a line (at line0 or after an
 * LF), or NULL. memchr for '-' skips what cannot start one in long strides (base64 has no
 * '-' at all); a '-' that does not lead to a match moves on to the next line, so a text
 * full of dashes costs two memchr calls per line, as a line-by-line scan would.
 */
static const unsigned char *
find_boundary(const unsigned char *d, size_t i, size_t end, size_t line0,
    const char *needle, size_t nlen)
{
	while (i < end) {
		const unsigned char *q = memchr(d + i, '-', end - i), *lf;
		size_t at;

		if (q == NULL)
			return NULL;
		at = (size_t)(q - d);
		if ((at == line0 || d[at - 1] == '\n') && end - at >= nlen &&
		    memcmp(q, needle, nlen) == 0)
			return q;
		lf = memchr(q, '\n', end - at);
		if (lf == NULL)
			return NULL;
		i = (size_t)(lf - d) + 1;
	}
	return NULL;
}

static void
parse_multipart(struct parse_ctx *ctx, struct mail_part *part, unsigned int depth)
{
	const unsigned char *d = ctx->d;
	const struct mail_param *bp = mail_param_find(part->params, part->nparams, "boundary");
	size_t i = part->body_off, end = part->body_off + part->body_len;
	size_t child_start = 0, blen;
	const char *b;
	char *needle;
	bool in_child = false;
	struct mail_part *last = NULL;
	bool digest = mail_part_is(part, "multipart", "digest");

	struct octet_acc acc;

	acc_init(&acc, part->body_off);
	if (bp == NULL)
		goto none;	/* no boundary: a multipart without parts */
	/* an RFC 2231 boundary* is used decoded, a plain one as written */
	b = bp->name[strlen(bp->name) - 1] == '*' ? bp->utf8 : bp->value;
	blen = strlen(b);
	if (blen == 0)
		goto none;
	needle = xasprintf("--%s", b);
	while (i < end) {
		size_t e;
		int kind;
		const unsigned char *hit;

		hit = find_boundary(d, i, end, part->body_off, needle, blen + 2);
		if (hit == NULL)
			break;
		i = (size_t)(hit - d);
		e = next_line(d, i, end);
		kind = boundary_line(d, i, end, b, blen);
		if (kind != 0) {
			if (in_child) {
				/* the line end before the boundary belongs to it (§5.1.1) */
				size_t cend = i;
				struct mail_part *c;

				if (cend > child_start && d[cend - 1] == '\n') {
					cend--;
					if (cend > child_start && d[cend - 1] == '\r')
						cend--;
				}
				c = new_part(ctx, part);
				if (c == NULL) {
					ctx->m->limited = true;
					part->flags |= MAIL_PART_LIMITED;
					goto out;
				}
				append_child(part, c, &last);
				parse_part(ctx, c, child_start, cend, depth + 1, digest);
				acc_scan(d, &acc, child_start);
				acc_part(d, &acc, c);
			}
			if (kind == 2)
				goto out;	/* the rest is epilogue */
			in_child = true;
			child_start = e;
		}
		i = e;
	}
	if (in_child) {
		/* truncated: the last part runs to the end */
		struct mail_part *c = new_part(ctx, part);

		if (c == NULL) {
			ctx->m->limited = true;
			part->flags |= MAIL_PART_LIMITED;
			goto out;
		}
		append_child(part, c, &last);
		parse_part(ctx, c, child_start, end, depth + 1, digest);
		acc_scan(d, &acc, child_start);
		acc_part(d, &acc, c);
	}
out:
	free(needle);
none:
	acc_scan(d, &acc, end);
	part->body_size = acc.size;
	part->body_lines = acc.lines;
}

static void
parse_part(struct parse_ctx *ctx, struct mail_part *part, size_t start, size_t end,
    unsigned int depth, bool digest_child)
{
	const unsigned char *d = ctx->d;
	size_t he = header_end(ctx, part, start, end);

	part->hdr_off = start;
	part->hdr_len = he - start;
	part->body_off = he;
	part->body_len = end - he;
	mail_octets_count(d + start, part->hdr_len, &part->hdr_size, &part->hdr_lines);
	parse_mime_header(ctx, part, digest_child);

	if (mail_part_is(part, "text", NULL))
		part->flags |= MAIL_PART_TEXT;
	else if (mail_part_is(part, "multipart", NULL))
		part->flags |= MAIL_PART_MULTIPART;
	else if (mail_part_is(part, "message", "rfc822"))
		part->flags |= MAIL_PART_RFC822;
	if ((part->flags & (MAIL_PART_MULTIPART | MAIL_PART_RFC822)) == 0 || ctx->header_only)
		goto leaf;
	if (depth + 1 > ctx->m->limits.max_depth) {
		make_limited_leaf(ctx, part);
		goto leaf;
	}
	if (part->flags & MAIL_PART_MULTIPART) {
		/* counts the body itself, each byte once */
		parse_multipart(ctx, part, depth);
		if (part->nchildren == 0 && (part->flags & MAIL_PART_LIMITED))
			make_limited_leaf(ctx, part);
	} else {
		struct mail_part *last = NULL, *c = new_part(ctx, part);
		struct octet_acc acc;

		if (c == NULL) {
			make_limited_leaf(ctx, part);
			goto leaf;
		}
		append_child(part, c, &last);
		parse_part(ctx, c, part->body_off, end, depth + 1, false);
		/* the embedded message is exactly this body */
		acc_init(&acc, part->body_off);
		acc_part(d, &acc, c);
		part->body_size = acc.size;
		part->body_lines = acc.lines;
	}
	return;
leaf:
	mail_octets_count(d + he, part->body_len, &part->body_size, &part->body_lines);
}

static struct mail_message *
message_new(const unsigned char *data, size_t len, const struct mail_limits *limits)
{
	struct mail_message *m = xcalloc(1, sizeof(*m));

	m->data = data;
	m->len = len;
	if (limits != NULL)
		m->limits = *limits;
	else
		mail_limits_default(&m->limits);
	if (m->limits.max_parts == 0)
		m->limits.max_parts = 1;
	m->root = xcalloc(1, sizeof(*m->root));
	m->nparts = 1;
	return m;
}

struct mail_message *
mail_message_parse(const unsigned char *data, size_t len, const struct mail_limits *limits)
{
	struct mail_message *m = message_new(data, len, limits);
	struct parse_ctx ctx = { m, data, false };

	parse_part(&ctx, m->root, 0, len, 0, false);
	return m;
}

struct mail_message *
mail_message_parse_header(const unsigned char *data, size_t len,
    const struct mail_limits *limits)
{
	struct mail_message *m = message_new(data, len, limits);
	struct parse_ctx ctx = { m, data, true };
	bool found, oversized;
	size_t he = scan_header_end(data, 0, len, m->limits.max_header_bytes, &found,
	    &oversized);

	/* the message as if it ended with its header block */
	m->len = he;
	m->header_only = true;
	parse_part(&ctx, m->root, 0, he, 0, false);
	if (oversized) {
		/* re-scanning [0, he) cannot see the limit: keep what the full parse reports */
		m->root->flags |= MAIL_PART_NO_SEPARATOR;
		m->limited = true;
	}
	return m;
}

void
mail_message_free(struct mail_message **mp)
{
	struct mail_message *m = *mp;

	if (m == NULL)
		return;
	part_free(m->root);
	free(m);
	*mp = NULL;
}

const struct mail_part *
mail_part_find(const struct mail_message *m, const uint32_t *nums, unsigned int depth)
{
	const struct mail_part *cur = m->root;

	for (unsigned int i = 0; i < depth; i++) {
		uint32_t n = nums[i];

		if (n == 0)
			return NULL;
		if (cur->flags & MAIL_PART_MULTIPART) {
			const struct mail_part *c = cur->children;

			if (c == NULL && n == 1) {
				/* a multipart without parts: nothing to address */
				return NULL;
			}
			while (c != NULL && --n > 0)
				c = c->next;
			if (c == NULL)
				return NULL;
			cur = c;
		} else if (n != 1)
			return NULL;
		/* going deeper into a message/rfc822 part means into the embedded message */
		if (i + 1 < depth && (cur->flags & MAIL_PART_RFC822) && cur->children != NULL)
			cur = cur->children;
	}
	return cur;
}

const struct mail_param *
mail_param_find(const struct mail_param *params, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++) {
		if (str_ieq(params[i].utf8_name, name))
			return &params[i];
	}
	return NULL;
}
