/*
 * preview.c — the text preview of a message (see preview.h; RFC 8970 semantics). Runs in
 * the mail process on untrusted message bytes. Security role: a pure function of the
 * message with bounded work (MAIL_PREVIEW_SCAN_MAX raw bytes, one pass over the decoded
 * text) and bounded output (a fixed array of 4 * MAIL_PREVIEW_CHARS bytes); it never
 * reads outside the part's byte range; fuzzed by fuzz/mail/fuzz_preview.c.
 */
#include "mail/preview.h"

#include "lib/base64.h"
#include "lib/util.h"
#include "mail/rfc2047.h"
#include "mail/search.h"

#define PREVIEW_BYTES	(4 * MAIL_PREVIEW_CHARS)
/* A preview from a prefix of the part is taken when the 201st character came at least
 * this many bytes before the prefix's converted end: what the cut garbles (a split
 * character, a character reference such as "&#x20AC;" read as text, an escape) is
 * within its last few characters. */
#define PREVIEW_TAIL_MARGIN	64

/* The text written so far; white space is held back until a character follows it. */
struct emitter {
	unsigned char out[PREVIEW_BYTES];
	size_t len;
	unsigned chars;
	bool space;			/* a space is due before the next character */
	bool full;
};

static void
emit(struct emitter *e, uint32_t cp)
{
	unsigned need = 1;
	size_t n;

	if (e->full)
		return;
	/* C0, DEL, C1, and the Unicode spaces and separators: one space for a run */
	if (cp <= 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200b) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff) {
		e->space = e->chars > 0;
		return;
	}
	if (e->space)
		need++;
	if (e->chars + need > MAIL_PREVIEW_CHARS) {
		e->full = true;
		return;
	}
	if (e->space) {
		e->out[e->len++] = ' ';
		e->chars++;
		e->space = false;
	}
	if (cp < 0x80) {
		e->out[e->len++] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		e->out[e->len++] = (unsigned char)(0xc0 | cp >> 6);
		n = 2;
	} else if (cp < 0x10000) {
		e->out[e->len++] = (unsigned char)(0xe0 | cp >> 12);
		e->out[e->len++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		n = 3;
	} else {
		e->out[e->len++] = (unsigned char)(0xf0 | cp >> 18);
		e->out[e->len++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		e->out[e->len++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		n = 4;
	}
	if (n > 1)
		e->out[e->len++] = (unsigned char)(0x80 | (cp & 0x3f));
	e->chars++;
}

static bool
ascii_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Does p[0..len) start with the ASCII word w, case-insensitively? */
static bool
starts_ci(const unsigned char *p, size_t len, const char *w)
{
	size_t n = strlen(w);

	return len >= n && mem_ieq((const char *)p, n, w);
}

/* Where the first occurrence of the ASCII string w (case-insensitive) in p[0..len)
 * ends, or len. */
static size_t
skip_past(const unsigned char *p, size_t len, const char *w)
{
	size_t n = strlen(w), i;

	for (i = 0; i + n <= len; i++)
		if (starts_ci(p + i, len - i, w))
			return i + n;
	return len;
}

/* Tags that separate words (block-level and line breaks); other tags do not. */
static bool
tag_breaks(const unsigned char *name, size_t n)
{
	static const char *const tags[] = {
		"br", "p", "div", "tr", "td", "th", "li", "ul", "ol", "dl", "dt", "dd", "table",
		"h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote", "pre", "title",
		"section", "article", "header", "footer", "center", "body", "html",
	};
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (strlen(tags[i]) == n && mem_ieq((const char *)name, n, tags[i]))
			return true;
	return false;
}

/* An HTML tag, comment or declaration at p[0] == '<': how many bytes it takes (with the
 * content of script, style and head elements), and whether it separates words. */
static size_t
html_tag(const unsigned char *p, size_t len, bool *breaks_r)
{
	size_t i = 1, name_off, name_len;
	unsigned char quote = 0;

	*breaks_r = false;
	if (starts_ci(p, len, "<!--"))
		return 4 + skip_past(p + 4, len - 4, "-->");
	if (i < len && p[i] == '/')
		i++;
	name_off = i;
	while (i < len && (ascii_alpha(p[i]) || (p[i] >= '0' && p[i] <= '9')))
		i++;
	name_len = i - name_off;
	if (name_len == 0 && !(i < len && (p[i] == '!' || p[i] == '?'))) {
		*breaks_r = false;
		return 0;		/* a lone '<' is text */
	}
	for (; i < len; i++) {
		if (quote != 0) {
			if (p[i] == quote)
				quote = 0;
		} else if (p[i] == '"' || p[i] == '\'')
			quote = p[i];
		else if (p[i] == '>')
			break;
	}
	i = i < len ? i + 1 : len;
	*breaks_r = tag_breaks(p + name_off, name_len);
	if (p[1] != '/') {
		static const char *const skip[][2] = {
			{ "script", "</script" }, { "style", "</style" }, { "head", "</head" },
		};
		size_t k;

		for (k = 0; k < sizeof(skip) / sizeof(skip[0]); k++) {
			if (strlen(skip[k][0]) != name_len ||
			    !mem_ieq((const char *)p + name_off, name_len, skip[k][0]))
				continue;
			i += skip_past(p + i, len - i, skip[k][1]);
			i += skip_past(p + i, len - i, ">");
			*breaks_r = true;
		}
	}
	return i;
}

/* A character reference at p[0] == '&': its length (0: not one) and code point. */
static size_t
html_entity(const unsigned char *p, size_t len, uint32_t *cp_r)
{
	static const struct { const char *name; uint32_t cp; } named[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
		{ "apos;", '\'' }, { "nbsp;", 0xa0 }, { "copy;", 0xa9 }, { "reg;", 0xae },
		{ "hellip;", 0x2026 }, { "mdash;", 0x2014 }, { "ndash;", 0x2013 },
		{ "rsquo;", 0x2019 }, { "lsquo;", 0x2018 }, { "rdquo;", 0x201d },
		{ "ldquo;", 0x201c }, { "euro;", 0x20ac },
	};
	size_t i, k;
	uint32_t cp = 0;

	if (len >= 3 && p[1] == '#') {
		bool hex = p[2] == 'x' || p[2] == 'X';
		int d;

		for (i = hex ? 3 : 2, k = 0; i < len && k < 7; i++, k++) {
			d = hex ? hex_digit_value(p[i]) : (p[i] >= '0' && p[i] <= '9' ?
			    p[i] - '0' : -1);
			if (d < 0)
				break;
			cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (k == 0 || i >= len || p[i] != ';')
			return 0;
		if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			cp = 0xfffd;
		*cp_r = cp;
		return i + 1;
	}
	for (k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
		size_t n = strlen(named[k].name);

		if (len - 1 >= n && memcmp(p + 1, named[k].name, n) == 0) {
			*cp_r = named[k].cp;
			return n + 1;
		}
	}
	return 0;
}

/* Run the text through e until it is full; returns where it stopped. */
static size_t
preview_run(struct emitter *e, const unsigned char *p, size_t len, bool html)
{
	size_t i = 0, n;
	uint32_t cp;

	e->len = 0;
	e->chars = 0;
	e->space = false;
	e->full = false;
	while (i < len && !e->full) {
		if (html && p[i] == '<') {
			bool breaks;

			n = html_tag(p + i, len - i, &breaks);
			if (n > 0) {
				if (breaks)
					emit(e, ' ');
				i += n;
				continue;
			}
		}
		if (html && p[i] == '&' && (n = html_entity(p + i, len - i, &cp)) > 0) {
			emit(e, cp);
			i += n;
			continue;
		}
		n = mail_utf8_next(p + i, len - i, &cp);
		if (n == 0) {
			i++;		/* not UTF-8: dropped */
			continue;
		}
		emit(e, cp);
		i += n;
	}
	return i;
}

int
mail_preview_text(struct buf *out, const unsigned char *p, size_t len, bool html)
{
	struct emitter e;

	(void)preview_run(&e, p, len, html);
	return buf_append(out, e.out, e.len);
}

/* The first part of type text/subtype that is not an attachment and not inside an
 * attached message (depth-first, in the order of the message). */
static const struct mail_part *
find_text(const struct mail_message *m, const char *subtype)
{
	const struct mail_part *p = m->root;

	while (p != NULL) {
		if ((p->flags & MAIL_PART_MULTIPART) && p->children != NULL) {
			p = p->children;
			continue;
		}
		if (!(p->flags & (MAIL_PART_RFC822 | MAIL_PART_LIMITED)) &&
		    mail_part_is(p, "text", subtype) &&
		    (p->disposition == NULL || !str_ieq(p->disposition, "attachment")))
			return p;
		while (p != NULL && p->next == NULL)
			p = p->parent;
		if (p != NULL)
			p = p->next;
	}
	return NULL;
}

/*
 * Decode and convert the first len raw bytes of part p and run them through e; returns
 * true when e is final for the whole part: it filled up far enough before the end of
 * the prefix (PREVIEW_TAIL_MARGIN), or the prefix is all that is read.
 */
static bool
preview_prefix(struct emitter *e, const struct mail_message *m, const struct mail_part *p,
    size_t len, bool html, bool last)
{
	const struct mail_param *cs;
	const unsigned char *body = m->data + p->body_off, *text = body;
	unsigned char *decoded = NULL;
	size_t text_len = len, stop;
	struct buf utf8;
	bool done;

	if (p->encoding != NULL && str_ieq(p->encoding, "base64")) {
		decoded = xmalloc(len + 1);
		/* RFC 2045 §6.8: characters outside the alphabet are ignored */
		if (base64_decode((const char *)body, len, BASE64_LENIENT, decoded, len,
		    &text_len) < 0)
			text_len = 0;
		text = decoded;
	} else if (p->encoding != NULL && str_ieq(p->encoding, "quoted-printable")) {
		decoded = xmalloc(len + 1);
		text_len = mail_qp_decode(decoded, body, len);
		text = decoded;
	}
	cs = mail_param_find(p->params, p->nparams, "charset");
	/* the converted text is at most 4 bytes a byte read (U+FFFD for each invalid one) */
	buf_init(&utf8, 4 * (size_t)MAIL_PREVIEW_SCAN_MAX + 16);
	if (mail_charset_to_utf8(&utf8, cs != NULL ? cs->utf8 : NULL, text, text_len) < 0)
		buf_reset(&utf8);
	stop = preview_run(e, (const unsigned char *)utf8.data, utf8.len, html);
	done = last || (e->full && stop + PREVIEW_TAIL_MARGIN <= utf8.len);
	buf_deinit(&utf8);
	free(decoded);
	return done;
}

int
mail_preview_write(struct buf *out, const struct mail_message *m)
{
	/* most previews need the first KiB: decode and convert growing prefixes */
	static const size_t steps[] = {
		MAIL_PREVIEW_FIRST_READ, 16 * MAIL_PREVIEW_FIRST_READ, MAIL_PREVIEW_SCAN_MAX,
	};
	const struct mail_part *p = find_text(m, "plain");
	struct emitter e;
	size_t i, max;
	bool html = false;

	if (p == NULL) {
		p = find_text(m, "html");
		html = true;
	}
	if (p == NULL)
		return 0;
	max = MIN(p->body_len, (size_t)MAIL_PREVIEW_SCAN_MAX);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t len = MIN(max, steps[i]);

		if (preview_prefix(&e, m, p, len, html, len == max))
			break;
	}
	return buf_append(out, e.out, e.len);
}
