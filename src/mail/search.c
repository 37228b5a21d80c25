/*
 * search.c — SEARCH text matching (see search.h): i;unicode-casemap (RFC 5051) via
 * utf8proc casefold + compatibility decomposition, over decoded header values and
 * decoded text bodies. Runs in the mail process on untrusted messages; the decoded text
 * examined per message is bounded by mail_limits.max_search_bytes, one part at a time.
 */
#include <strings.h>
#include <utf8proc.h>

#include "mail/search.h"

#include "lib/base64.h"
#include "mail/address.h"
#include "mail/header.h"
#include "mail/rfc2047.h"

/* Scratch buffers reused across the texts of one message (fewer allocations). */
struct scratch {
	struct buf folded, tmp;		/* mail_search_text */
	struct buf unfolded, decoded;	/* header values */
};

struct mail_search_key {
	char *folded;
	size_t len;
	bool ascii;			/* folded has no byte >= 0x80 */
	/*
	 * Reused by the header searches of this key (mail_search_header,
	 * mail_search_header_block): no allocation per message once grown. Not reentrant;
	 * the mail process is single-threaded and never nests searches of one key.
	 */
	struct scratch *hs;
};

/*
 * Folding is done run by run: ASCII bytes are lower-cased here (casefold and NFKD map
 * ASCII to itself except A-Z), and only the runs of bytes >= 0x80 go through
 * mail_charset_to_utf8 (invalid UTF-8 taken as ISO-8859-1) and utf8proc. This equals
 * folding the whole text at once: a UTF-8 sequence, valid or not, never contains an
 * ASCII byte, so the validation of a run does not depend on its neighbours; and every
 * ASCII character is a starter (combining class 0), so the canonical reordering of
 * combining marks never crosses it. Compatibility decomposition may turn non-ASCII into
 * ASCII (fullwidth letters, ligatures): that happens inside the run's own output.
 */
#define FOLD_OPTIONS (UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | \
    UTF8PROC_CASEFOLD)
/* Text folded and searched per step of mail_search_text (then extended to an ASCII byte). */
#define SEARCH_CHUNK (64 * 1024)

/* Length of the run of bytes < 0x80 at p[0..len). */
static size_t
ascii_run(const unsigned char *p, size_t len)
{
	size_t i = 0;

	for (; len - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w & UINT64_C(0x8080808080808080))
			break;
	}
	while (i < len && p[i] < 0x80)
		i++;
	return i;
}

/* Append a run of bytes >= 0x80, folded. */
static void
fold_nonascii(struct buf *out, struct buf *tmp, const unsigned char *p, size_t len)
{
	utf8proc_int32_t cps[256];
	utf8proc_ssize_t n;
	utf8proc_uint8_t *dst = NULL;

	buf_reset(tmp);
	(void)mail_charset_to_utf8(tmp, NULL, p, len);
	/* a run of 4 * 255 bytes has at least 255 code points: do not try the array */
	n = tmp->len >= 4 * (N_ELEMENTS(cps) - 1) ? -1 :
	    utf8proc_decompose((const utf8proc_uint8_t *)buf_cstr(tmp),
	    (utf8proc_ssize_t)tmp->len, cps, (utf8proc_ssize_t)N_ELEMENTS(cps), FOLD_OPTIONS);
	if (n >= 0 && (size_t)n < N_ELEMENTS(cps)) {
		/*
		 * short run (the common case): no allocation. Strictly less than the
		 * array: utf8proc_reencode writes a NUL after up to 4 bytes per code point.
		 */
		n = utf8proc_reencode(cps, n, FOLD_OPTIONS);
		if (n >= 0) {
			(void)buf_append(out, cps, (size_t)n);
			return;
		}
	}
	n = utf8proc_map((const utf8proc_uint8_t *)buf_cstr(tmp), (utf8proc_ssize_t)tmp->len,
	    &dst, FOLD_OPTIONS);
	if (n < 0) {
		/* cannot happen for valid UTF-8; fall back to the cleaned text */
		(void)buf_append(out, tmp->data, tmp->len);
		return;
	}
	(void)buf_append(out, dst, (size_t)n);
	free(dst);
}

/* Casefold valid-or-not UTF-8 text p[0..len), appending to out (unlimited). */
static void
fold_append(struct buf *out, struct buf *tmp, const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n = ascii_run(p + i, len - i);

		if (n > 0) {
			size_t at = out->len;
			unsigned char *d;

			(void)buf_append(out, p + i, n);
			d = (unsigned char *)out->data + at;
			for (size_t j = 0; j < n; j++)
				d[j] = d[j] >= 'A' && d[j] <= 'Z' ? d[j] | 0x20 : d[j];
			i += n;
			continue;
		}
		for (n = 1; i + n < len && p[i + n] >= 0x80; n++)
			;
		fold_nonascii(out, tmp, p + i, n);
		i += n;
	}
}

void
mail_casemap_fold(struct buf *out, struct buf *tmp, const char *p, size_t len)
{
	fold_append(out, tmp, (const unsigned char *)p, len);
}

/* Casefold p[0..len) into a malloc'd string (length in *len_r). */
static char *
fold(const char *p, size_t len, size_t *len_r)
{
	struct buf out, tmp;

	buf_init(&out, BUF_UNLIMITED);
	buf_init(&tmp, BUF_UNLIMITED);
	fold_append(&out, &tmp, (const unsigned char *)p, len);
	buf_deinit(&tmp);
	*len_r = out.len;
	if (out.data == NULL)
		return xstrdup("");
	return buf_steal(&out);
}

static void
scratch_init(struct scratch *s)
{
	buf_init(&s->folded, BUF_UNLIMITED);
	buf_init(&s->tmp, BUF_UNLIMITED);
	buf_init(&s->unfolded, BUF_UNLIMITED);
	buf_init(&s->decoded, BUF_UNLIMITED);
}

static void
scratch_deinit(struct scratch *s)
{
	buf_deinit(&s->folded);
	buf_deinit(&s->tmp);
	buf_deinit(&s->unfolded);
	buf_deinit(&s->decoded);
}

struct mail_search_key *
mail_search_key_create(const char *utf8, size_t len)
{
	struct mail_search_key *k = xcalloc(1, sizeof(*k));

	k->folded = fold(utf8, len, &k->len);
	k->ascii = ascii_run((const unsigned char *)k->folded, k->len) == k->len;
	k->hs = xmalloc(sizeof(*k->hs));
	scratch_init(k->hs);
	return k;
}

void
mail_search_key_destroy(struct mail_search_key **kp)
{
	if (*kp == NULL)
		return;
	scratch_deinit((*kp)->hs);
	free((*kp)->hs);
	free((*kp)->folded);
	free(*kp);
	*kp = NULL;
}

static bool
search_text(const struct mail_search_key *k, const unsigned char *p, size_t len,
    struct scratch *s)
{
	struct buf *f = &s->folded;
	size_t i = 0;
	bool hit = false;

	if (k->len == 0)
		return true;
	/*
	 * Fold and search a chunk at a time, stopping at the first hit. Chunks end after
	 * an ASCII byte, so folding them one by one gives the whole text's folding; the
	 * last k->len - 1 folded bytes are kept to find a match that straddles chunks.
	 */
	buf_reset(f);
	while (i < len && !hit) {
		size_t end = len - i > SEARCH_CHUNK ? i + SEARCH_CHUNK : len;

		while (end < len && p[end - 1] >= 0x80)
			end++;
		fold_append(f, &s->tmp, p + i, end - i);
		i = end;
		hit = f->len >= k->len && memmem(f->data, f->len, k->folded, k->len) != NULL;
		if (f->len >= k->len)
			buf_consume(f, f->len - (k->len - 1));
	}
	return hit;
}

bool
mail_search_text(const struct mail_search_key *k, const char *utf8, size_t len)
{
	struct scratch s;
	bool hit;

	if (k->len == 0)
		return true;
	scratch_init(&s);
	hit = search_text(k, (const unsigned char *)utf8, len, &s);
	scratch_deinit(&s);
	return hit;
}

/*
 * Unfold and RFC 2047-decode a raw header value, appending to s->decoded (which the
 * caller may have started with "Name: ").
 */
static void
decode_value(const unsigned char *value, size_t len, struct scratch *s)
{
	buf_reset(&s->unfolded);
	(void)mail_header_unfold(&s->unfolded, value, len);
	(void)mail_rfc2047_decode(&s->decoded, buf_cstr(&s->unfolded), s->unfolded.len);
}

/* Byte classes of a raw header value for search_value. */
#define VC_HIGH		0x01	/* >= 0x80 */
#define VC_BREAK	0x02	/* CR, LF, NUL: unfolding changes the value */
#define VC_EQ		0x04	/* '=': maybe an encoded word ("=?") */

static const unsigned char value_class[256] = {
	[0] = VC_BREAK, ['\r'] = VC_BREAK, ['\n'] = VC_BREAK, ['='] = VC_EQ,
#define H4(x) [x] = VC_HIGH, [x + 1] = VC_HIGH, [x + 2] = VC_HIGH, [x + 3] = VC_HIGH
#define H16(x) H4(x), H4(x + 4), H4(x + 8), H4(x + 12)
	H16(0x80), H16(0x90), H16(0xa0), H16(0xb0), H16(0xc0), H16(0xd0), H16(0xe0), H16(0xf0),
#undef H16
#undef H4
};

/* The VC_* classes of p[0..len); VC_EQ only for a "=?" (an encoded word may start). */
static unsigned
classify_value(const unsigned char *p, size_t len)
{
	unsigned cls = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned c = value_class[p[i]];

		if (c == VC_EQ && !(i + 1 < len && p[i + 1] == '?'))
			c = 0;
		cls |= c;
	}
	return cls;
}

static inline unsigned char
ascii_lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26 ? c | 0x20 : c;
}

/* ASCII-only text p[0..len) lower-cased (= its i;unicode-casemap folding) contains k? */
static bool
ascii_search(const struct mail_search_key *k, const unsigned char *p, size_t len,
    struct scratch *s)
{
	const unsigned char *n = (const unsigned char *)k->folded;
	unsigned char *low;
	size_t i, j;

	if (k->len == 0)
		return true;
	/* folding ASCII gives ASCII: a needle with other bytes cannot occur */
	if (!k->ascii || len < k->len)
		return false;
	if (len <= 1024) {
		/* short (the usual header value): compared in place, at most 1 KiB x needle */
		for (i = 0; i <= len - k->len; i++) {
			if (ascii_lower(p[i]) != n[0])
				continue;
			for (j = 1; j < k->len && ascii_lower(p[i + j]) == n[j]; j++)
				;
			if (j == k->len)
				return true;
		}
		return false;
	}
	buf_reset(&s->folded);
	if (buf_append(&s->folded, p, len) < 0)
		return false;
	low = (unsigned char *)s->folded.data;
	for (i = 0; i < len; i++)
		low[i] = ascii_lower(low[i]);
	return memmem(low, len, n, k->len) != NULL;
}

/*
 * Does the raw (folded) header value contain the needle after unfolding and RFC 2047
 * decoding? The same as decode_value + search_text; a value that is (after unfolding)
 * ASCII without "=?" is its own decoding, and its folding is ASCII lower-casing, so it
 * is searched directly without a copy through the decoder and utf8proc.
 */
static bool
search_value(const struct mail_search_key *k, const unsigned char *value, size_t len,
    struct scratch *s)
{
	unsigned cls = classify_value(value, len);

	if (cls & VC_BREAK) {
		buf_reset(&s->unfolded);
		(void)mail_header_unfold(&s->unfolded, value, len);
		value = (const unsigned char *)buf_cstr(&s->unfolded);
		len = s->unfolded.len;
		cls = classify_value(value, len);
	} else {
		/* what mail_header_unfold does to a value without CR, LF or NUL */
		while (len > 0 && (*value == ' ' || *value == '\t')) {
			value++;
			len--;
		}
	}
	if ((cls & (VC_HIGH | VC_EQ)) == 0)
		return ascii_search(k, value, len, s);
	buf_reset(&s->decoded);
	(void)mail_rfc2047_decode(&s->decoded, (const char *)value, len);
	return search_text(k, (const unsigned char *)buf_cstr(&s->decoded), s->decoded.len, s);
}

/* Header fields holding address lists: SEARCH FROM/TO/CC/BCC look there. */
static bool
is_address_field(const char *name)
{
	static const char *const names[] = { "From", "To", "Cc", "Bcc", "Sender",
	    "Reply-To" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Could the value spell an address differently from its plain form (comments, quoted
 * pairs, white space around '@')? Only then is it worth parsing. Quoted display names
 * are not a reason: the raw text already holds the name and the address. */
static bool
address_spelled_oddly(const unsigned char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '(' || v[i] == '\\')
			return true;
		if (v[i] == '@' && ((i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t')) ||
		    (i + 1 < len && (v[i + 1] == ' ' || v[i + 1] == '\t' ||
		    v[i + 1] == '\r' || v[i + 1] == '\n'))))
			return true;
	}
	return false;
}

/* Most addresses of one field put into the parsed form (the rest is not searched). */
#define SEARCH_ADDRESSES_MAX	100

/*
 * The addresses of the field as parsed, written "name <mailbox@host>, ...", searched as
 * text: a key written as the plain address finds `<user (comment)@ (comment) host>`,
 * as it finds the plain spelling (issue 13's compliance finding; RFC 3501 §6.4.4 leaves
 * the matching to the server, and the parsed form is what ENVELOPE shows).
 */
static bool
search_parsed_addresses(const struct mail_search_key *k, const unsigned char *value,
    size_t len, struct scratch *s)
{
	struct mail_address *list;
	unsigned int n;
	struct buf text;
	bool found;

	buf_reset(&s->unfolded);
	(void)mail_header_unfold(&s->unfolded, value, len);
	mail_address_parse(buf_cstr(&s->unfolded), s->unfolded.len, SEARCH_ADDRESSES_MAX,
	    &list, &n);
	buf_init(&text, BUF_UNLIMITED);
	for (unsigned int i = 0; i < n; i++) {
		const struct mail_address *a = &list[i];

		if (a->group_start || a->group_end || a->mailbox == NULL)
			continue;
		if (text.len > 0)
			(void)buf_append_str(&text, ", ");
		if (a->name != NULL)
			(void)buf_appendf(&text, "%s ", a->name);
		(void)buf_appendf(&text, "<%s@%s>", a->mailbox, a->host != NULL ? a->host : "");
	}
	mail_address_list_free(&list, n);
	buf_reset(&s->decoded);
	(void)mail_rfc2047_decode(&s->decoded, buf_cstr(&text), text.len);
	buf_deinit(&text);
	found = search_text(k, (const unsigned char *)buf_cstr(&s->decoded), s->decoded.len,
	    s);
	return found;
}

/* A field's value as header keys search it: the text, and for address fields whose
 * text does not match, the parsed addresses. */
static bool
search_field_value(const struct mail_search_key *k, const char *name,
    const unsigned char *value, size_t len, struct scratch *s)
{
	if (search_value(k, value, len, s))
		return true;
	return is_address_field(name) && address_spelled_oddly(value, len) &&
	    search_parsed_addresses(k, value, len, s);
}

bool
mail_search_header_value(const struct mail_search_key *k, const unsigned char *value,
    size_t len)
{
	return search_value(k, value, len, k->hs);
}

/* The fields of the header block hdr[0..hdr_len) as mail_search_header searches them. */
static bool
search_header_fields(const struct mail_search_key *k, const unsigned char *hdr,
    size_t hdr_len, const struct mail_limits *lim, const char *name, size_t *budget,
    struct scratch *s)
{
	struct mail_header_field f;
	size_t pos = 0;
	unsigned int nfields = 0;

	while (nfields++ < lim->max_header_fields &&
	    mail_header_next(hdr, hdr_len, &pos, &f) > 0) {
		if (f.len > *budget)
			return false;
		*budget -= f.len;
		if (name != NULL) {
			if (mail_header_name_eq(f.name, f.name_len, name) &&
			    search_field_value(k, name, f.value, f.value_len, s))
				return true;
			continue;
		}
		/* whole-header search: "Name: value" */
		buf_reset(&s->decoded);
		(void)buf_append(&s->decoded, f.name, f.name_len);
		(void)buf_append_str(&s->decoded, ": ");
		decode_value(f.value, f.value_len, s);
		if (search_text(k, (const unsigned char *)buf_cstr(&s->decoded),
		    s->decoded.len, s))
			return true;
	}
	return false;
}

static bool
search_header_block(const struct mail_search_key *k, const struct mail_message *m,
    const struct mail_part *part, const char *name, size_t *budget, struct scratch *s)
{
	return search_header_fields(k, m->data + part->hdr_off, part->hdr_len, &m->limits,
	    name, budget, s);
}

bool
mail_search_header(const struct mail_search_key *k, const struct mail_message *m,
    const struct mail_part *part, const char *name)
{
	size_t budget = m->limits.max_search_bytes;

	return search_header_block(k, m, part == NULL ? m->root : part, name, &budget, k->hs);
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Index just past the LF of the line starting at i, or len. */
static size_t
line_end(const unsigned char *p, size_t len, size_t i)
{
	const unsigned char *lf = memchr(p + i, '\n', len - i);

	return lf == NULL ? len : (size_t)(lf - p) + 1;
}

/*
 * search_header_fields for one field name of nlen bytes (no ':', WSP, CR, LF, NUL, not
 * empty) over a block of at most max_header_bytes, without splitting fields of other
 * names: the lines are walked as mail_header_next walks them (a line and its
 * continuation lines make a group; the first blank line ends the block), and only a
 * group starting with the name, WSP and ':' is a field of that name, as it is for
 * mail_header_next (the name ends at the first ':' and loses its trailing WSP). The
 * budget never runs out (the fields add up to at most the block). Returns -1 when the
 * block has as many groups as max_header_fields: that limit needs the exact walk.
 */
static int
search_named_fields(const struct mail_search_key *k, const unsigned char *hdr, size_t len,
    const struct mail_limits *lim, const char *name, size_t nlen, struct scratch *s)
{
	unsigned char n0 = ascii_lower((unsigned char)name[0]);
	unsigned int groups = 0;
	size_t i = 0;

	while (i < len) {
		size_t start = i, end, j, vend;

		if (hdr[i] == '\n' || (hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n'))
			break;
		if (++groups >= lim->max_header_fields)
			return -1;
		end = line_end(hdr, len, i);
		while (end < len && is_wsp(hdr[end]))
			end = line_end(hdr, len, end);
		i = end;
		if (ascii_lower(hdr[start]) != n0 || end - start <= nlen ||
		    strncasecmp((const char *)hdr + start, name, nlen) != 0)
			continue;
		for (j = start + nlen; j < end && is_wsp(hdr[j]); j++)
			;
		if (j == end || hdr[j] != ':')
			continue;
		vend = end;
		if (vend > j + 1 && hdr[vend - 1] == '\n') {
			vend--;
			if (vend > j + 1 && hdr[vend - 1] == '\r')
				vend--;
		}
		if (search_field_value(k, name, hdr + j + 1, vend - (j + 1), s))
			return 1;
	}
	return 0;
}

int
mail_search_header_block(const struct mail_search_key *k, const unsigned char *hdr,
    size_t len, const char *name)
{
	struct mail_limits lim;
	size_t budget, nlen = strlen(name), i;
	int r;

	mail_limits_default(&lim);
	/*
	 * Up to max_header_bytes the parser ends the root header at the first blank line,
	 * where mail_header_next stops as well: the whole block is the root header.
	 */
	if (len > lim.max_header_bytes)
		return -1;
	for (i = 0; i < nlen; i++)
		if (name[i] == ':' || is_wsp((unsigned char)name[i]) || name[i] == '\r' ||
		    name[i] == '\n')
			break;
	if (nlen > 0 && i == nlen &&
	    (r = search_named_fields(k, hdr, len, &lim, name, nlen, k->hs)) >= 0)
		return r;
	budget = lim.max_search_bytes;
	return search_header_fields(k, hdr, len, &lim, name, &budget, k->hs) ? 1 : 0;
}

size_t
mail_qp_decode(unsigned char *out, const unsigned char *p, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		int h, l;

		if (p[i] != '=') {
			size_t start = i;
			const unsigned char *eq = memchr(p + i, '=', len - i);

			i = eq == NULL ? len : (size_t)(eq - p);
			memcpy(out + o, p + start, i - start);
			o += i - start;
			continue;
		}
		if (i + 2 < len && (h = hex_digit_value(p[i + 1])) >= 0 &&
		    (l = hex_digit_value(p[i + 2])) >= 0) {
			out[o++] = (unsigned char)(h * 16 + l);
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
		out[o++] = '=';
		i++;
	}
	return o;
}

static bool
search_text_part(const struct mail_search_key *k, const struct mail_message *m,
    const struct mail_part *p, size_t *budget, struct scratch *s)
{
	const unsigned char *body = m->data + p->body_off;
	size_t len = MIN(p->body_len, *budget);
	const struct mail_param *cs = mail_param_find(p->params, p->nparams, "charset");
	const char *charset = cs != NULL ? cs->utf8 : NULL;
	struct buf utf8;
	unsigned char *decoded = NULL;
	const unsigned char *text = body;
	size_t text_len = len;
	bool hit;

	buf_init(&utf8, BUF_UNLIMITED);
	if (p->encoding != NULL && (str_ieq(p->encoding, "base64") ||
	    str_ieq(p->encoding, "quoted-printable"))) {
		/* both decode to at most as many bytes as they read (len <= *budget) */
		decoded = xmalloc(len + 1);
		if (str_ieq(p->encoding, "base64")) {
			/* RFC 2045 §6.8: characters outside the alphabet are ignored */
			if (base64_decode((const char *)body, len, BASE64_LENIENT, decoded, len,
			    &text_len) < 0)
				text_len = 0;
		} else
			text_len = mail_qp_decode(decoded, body, len);
		text = decoded;
	}
	/* else the raw body is searched in place */
	*budget -= MIN(*budget, MAX(len, text_len));
	/*
	 * UTF-8 (or unknown) text needs no conversion here: mail_search_text takes
	 * invalid bytes as ISO-8859-1 itself, exactly as mail_charset_to_utf8 would.
	 */
	if (!mail_charset_is_utf8(charset)) {
		(void)mail_charset_to_utf8(&utf8, charset, text, text_len);
		text = (const unsigned char *)buf_cstr(&utf8);
		text_len = utf8.len;
	}
	hit = search_text(k, text, text_len, s);
	free(decoded);
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
	bool hit = false;
	struct scratch s;

	if (k->len == 0)
		return true;
	scratch_init(&s);
	/* depth-first walk without recursion */
	while (p != NULL && budget > 0) {
		if (include_headers && is_message &&
		    search_header_block(k, m, p, NULL, &budget, &s)) {
			hit = true;
			break;
		}
		if (p->children != NULL) {
			is_message = (p->flags & MAIL_PART_RFC822) != 0;
			p = p->children;
			continue;
		}
		if ((p->flags & MAIL_PART_TEXT) && search_text_part(k, m, p, &budget, &s)) {
			hit = true;
			break;
		}
		while (p != NULL && p->next == NULL)
			p = p->parent;
		if (p == NULL)
			break;
		p = p->next;
		is_message = false;
	}
	scratch_deinit(&s);
	return hit;
}
