/*
 * sieve_msg.c — the message as the Sieve interpreter's tests see it: the header fields
 * (with the edits of addheader / deleteheader, RFC 5293 §3-§4), address parts (RFC 5228
 * §2.7.4, RFC 5233), body text (RFC 5173), date parts (RFC 5260 §4) and the edited header
 * block for the caller. Runs in the mail process on untrusted message bytes through the
 * bounded parsers of src/mail; the field list is bounded by headers_max.
 */
#include <ctype.h>

#include "lib/base64.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/message.h"
#include "mail/rfc2047.h"
#include "mail/search.h"
#include "sieve/sieve_run.h"

static void
hdr_push(struct sieve_run *x, const struct sieve_hdr *h, bool front)
{
	if (x->nhdrs == x->hdr_cap) {
		x->hdr_cap = x->hdr_cap == 0 ? 32 : x->hdr_cap * 2;
		x->hdrs = xreallocarray(x->hdrs, x->hdr_cap, sizeof(*x->hdrs));
	}
	if (front)
		memmove(x->hdrs + 1, x->hdrs, x->nhdrs * sizeof(*x->hdrs));
	x->hdrs[front ? 0 : x->nhdrs] = *h;
	x->nhdrs++;
}

void
sieve_msg_init(struct sieve_run *x)
{
	const unsigned char *m = x->env->msg;
	struct mail_header_field f;
	bool complete;
	size_t pos = 0;

	x->hdr_end = mail_header_block_end(m, x->env->msg_len, NULL, &complete);
	while (x->nhdrs < x->lim->headers_max && mail_header_next(m, x->hdr_end, &pos, &f) == 1) {
		struct sieve_hdr h = {
			.name = (const char *)f.name, .name_len = f.name_len,
			.value = (const char *)f.value, .value_len = f.value_len,
			.raw_off = f.off, .raw_len = f.len,
		};

		hdr_push(x, &h, false);
	}
	if (x->nhdrs >= x->lim->headers_max)
		x->hdr_full = true;
}

void
sieve_msg_deinit(struct sieve_run *x)
{
	for (unsigned i = 0; i < x->nhdrs; i++)
		if (x->hdrs[i].owned) {
			free((char *)x->hdrs[i].name);
			free((char *)x->hdrs[i].value);
		}
	free(x->hdrs);
	x->hdrs = NULL;
	x->nhdrs = 0;
	mail_message_free(&x->mime);
}

static bool
hdr_is(const struct sieve_hdr *h, const char *name)
{
	return !h->deleted && mail_header_name_eq((const unsigned char *)h->name, h->name_len,
	    name);
}

/* Index of the field that :index / :last selects among those called name, or -1. */
static long
hdr_pick(struct sieve_run *x, const struct sieve_node *n, const char *name)
{
	uint32_t vi = sieve_node_tag_value(x->s, n, SIEVE_TAG_INDEX);
	uint64_t want = x->s->args[vi].number, seen = 0;
	bool last = (n->tags & (1ull << SIEVE_TAG_LAST)) != 0;

	for (unsigned k = 0; k < x->nhdrs; k++) {
		unsigned i = last ? x->nhdrs - 1 - k : k;

		if (hdr_is(&x->hdrs[i], name) && ++seen == want)
			return (long)i;
	}
	return -1;
}

static void
add_value(struct sieve_run *x, const struct sieve_hdr *h, bool decode,
    struct sieve_strlist *out)
{
	struct buf u, d;

	buf_init(&u, SIEVE_EXPAND_MAX);
	buf_init(&d, SIEVE_EXPAND_MAX);
	(void)mail_header_unfold(&u, (const unsigned char *)h->value, h->value_len);
	/* trailing white space is not part of the value (RFC 5228 §2.4.2.2) */
	while (u.len > 0 && (u.data[u.len - 1] == ' ' || u.data[u.len - 1] == '\t'))
		u.len--;
	if (decode && u.len > 0) {
		(void)mail_rfc2047_decode(&d, u.data, u.len);
		sieve_strlist_add(out, d.len > 0 ? d.data : "", d.len);
	} else {
		sieve_strlist_add(out, u.len > 0 ? u.data : "", u.len);
	}
	buf_deinit(&u);
	buf_deinit(&d);
}

int
sieve_msg_header_values(struct sieve_run *x, const struct sieve_node *n, const char *name,
    bool decode, struct sieve_strlist *out)
{
	if (sieve_run_charge(x, x->nhdrs) < 0)
		return -1;
	if ((n->tags & (1ull << SIEVE_TAG_INDEX)) != 0) {
		long i = hdr_pick(x, n, name);

		if (i >= 0)
			add_value(x, &x->hdrs[i], decode, out);
		return 0;
	}
	for (unsigned i = 0; i < x->nhdrs; i++) {
		if (!hdr_is(&x->hdrs[i], name))
			continue;
		if (out->n >= SIEVE_VALUES_MAX)
			return sieve_run_error(x, "too many header values");
		if (sieve_run_charge(x, x->hdrs[i].value_len) < 0)
			return -1;
		add_value(x, &x->hdrs[i], decode, out);
	}
	return 0;
}

/* local[0..llen) and domain of one address into out per n->addrpart. */
static void
addr_part(const struct sieve_node *n, const char *local, size_t llen, const char *domain,
    size_t dlen, struct sieve_strlist *out)
{
	const char *plus = memchr(local, '+', llen);
	struct buf b;

	switch (n->addrpart) {
	case SIEVE_ADDR_LOCALPART:
		sieve_strlist_add(out, local, llen);
		return;
	case SIEVE_ADDR_DOMAIN:
		sieve_strlist_add(out, domain, dlen);
		return;
	case SIEVE_ADDR_USER:	/* RFC 5233 §4: the part before the separator */
		sieve_strlist_add(out, local, plus != NULL ? (size_t)(plus - local) : llen);
		return;
	case SIEVE_ADDR_DETAIL:	/* no separator: :detail matches nothing */
		if (plus != NULL)
			sieve_strlist_add(out, plus + 1, llen - (size_t)(plus + 1 - local));
		return;
	default:
		buf_init(&b, BUF_UNLIMITED);
		(void)buf_append(&b, local, llen);
		if (dlen > 0) {
			(void)buf_append_c(&b, '@');
			(void)buf_append(&b, domain, dlen);
		}
		sieve_strlist_add(out, b.len > 0 ? b.data : "", b.len);
		buf_deinit(&b);
	}
}

void
sieve_msg_addr_part(const struct sieve_node *n, const char *addr, size_t len,
    struct sieve_strlist *out)
{
	const char *at = NULL;

	/* the null reverse-path matches "" in every part (RFC 5228 §5.4) */
	if (len == 0) {
		if (n->addrpart != SIEVE_ADDR_DETAIL)
			sieve_strlist_add(out, "", 0);
		return;
	}
	for (size_t i = len; i > 0; i--)
		if (addr[i - 1] == '@') {
			at = addr + i - 1;
			break;
		}
	if (at == NULL)
		addr_part(n, addr, len, "", 0, out);
	else
		addr_part(n, addr, (size_t)(at - addr), at + 1, len - (size_t)(at + 1 - addr), out);
}

static void
address_values_of(struct sieve_run *x, const struct sieve_node *n,
    const struct sieve_hdr *h, struct sieve_strlist *out)
{
	struct sieve_strlist raw = { 0 };
	struct mail_address *list;
	unsigned count, used = 0;

	add_value(x, h, false, &raw);
	mail_address_parse(raw.v[0].p, raw.v[0].len, SIEVE_VALUES_MAX, &list, &count);
	for (unsigned i = 0; i < count && out->n < SIEVE_VALUES_MAX; i++) {
		const struct mail_address *a = &list[i];

		if (a->group_start || a->group_end || a->mailbox == NULL)
			continue;
		used++;
		if (strcmp(a->mailbox, "MISSING_MAILBOX") == 0)
			continue;
		if (a->host == NULL || strcmp(a->host, "MISSING_DOMAIN") == 0)
			addr_part(n, a->mailbox, strlen(a->mailbox), "", 0, out);
		else
			addr_part(n, a->mailbox, strlen(a->mailbox), a->host, strlen(a->host), out);
	}
	/* not an address at all: only :all sees the text (RFC 5228 §2.7.4) */
	if (used == 0 && raw.v[0].len > 0 && n->addrpart == SIEVE_ADDR_ALL)
		sieve_strlist_add(out, raw.v[0].p, raw.v[0].len);
	mail_address_list_free(&list, count);
	sieve_strlist_free(&raw);
}

int
sieve_msg_address_values(struct sieve_run *x, const struct sieve_node *n, const char *name,
    struct sieve_strlist *out)
{
	if (sieve_run_charge(x, x->nhdrs) < 0)
		return -1;
	if ((n->tags & (1ull << SIEVE_TAG_INDEX)) != 0) {
		long i = hdr_pick(x, n, name);

		if (i >= 0)
			address_values_of(x, n, &x->hdrs[i], out);
		return 0;
	}
	for (unsigned i = 0; i < x->nhdrs; i++) {
		if (!hdr_is(&x->hdrs[i], name))
			continue;
		if (out->n >= SIEVE_VALUES_MAX)
			return sieve_run_error(x, "too many addresses");
		if (sieve_run_charge(x, x->hdrs[i].value_len) < 0)
			return -1;
		address_values_of(x, n, &x->hdrs[i], out);
	}
	return 0;
}

/* ---- body (RFC 5173) ---- */

/* The transfer-decoded, UTF-8 text of one part, at most max bytes. */
static void
part_text(const struct mail_message *m, const struct mail_part *p, size_t max,
    struct sieve_strlist *out)
{
	const unsigned char *body = m->data + p->body_off;
	size_t len = MIN(p->body_len, max);
	const struct mail_param *cs = mail_param_find(p->params, p->nparams, "charset");
	struct buf dec, utf;

	buf_init(&dec, max + 16);
	buf_init(&utf, max * 3 + 16);
	if (p->encoding != NULL && str_ieq(p->encoding, "base64")) {
		(void)base64_decode_buf((const char *)body, len, BASE64_LENIENT, &dec);
	} else if (p->encoding != NULL && str_ieq(p->encoding, "quoted-printable")) {
		unsigned char *tmp = xmalloc(len + 1);
		size_t n = mail_qp_decode(tmp, body, len);

		(void)buf_append(&dec, tmp, n);
		free(tmp);
	} else {
		(void)buf_append(&dec, body, len);
	}
	(void)mail_charset_to_utf8(&utf, cs != NULL ? cs->value : NULL,
	    (const unsigned char *)(dec.len > 0 ? dec.data : ""), dec.len);
	sieve_strlist_add(out, utf.len > 0 ? utf.data : "", utf.len);
	buf_deinit(&dec);
	buf_deinit(&utf);
}

/* Does the part's type match one of the :content types ("text", "text/plain", "")? */
static bool
type_matches(const struct mail_part *p, const struct sieve_strlist *types)
{
	for (unsigned i = 0; i < types->n; i++) {
		const char *t = types->v[i].p, *slash = memchr(t, '/', types->v[i].len);
		size_t tl = slash != NULL ? (size_t)(slash - t) : types->v[i].len;

		if (types->v[i].len == 0)
			return true;
		if (!mem_ieq(t, tl, p->type))
			continue;
		if (slash == NULL || str_ieq(slash + 1, p->subtype))
			return true;
	}
	return false;
}

/* Without its last line when that is a boundary delimiter ("--..."). */
static size_t
cut_boundary(const unsigned char *p, size_t len)
{
	size_t e = len, start;

	while (e > 0 && (p[e - 1] == '\n' || p[e - 1] == '\r'))
		e--;
	start = e;
	while (start > 0 && p[start - 1] != '\n')
		start--;
	return e - start >= 2 && p[start] == '-' && p[start + 1] == '-' ? start : len;
}

/* A multipart's preamble and epilogue are its text (RFC 5173 §5.2). */
static void
multipart_text(const struct mail_message *m, const struct mail_part *p, size_t max,
    struct sieve_strlist *out)
{
	const struct mail_part *first = p->children, *last = first;
	size_t end = p->body_off + p->body_len, pre_end, epi;

	if (first == NULL)
		return;
	while (last->next != NULL)
		last = last->next;
	pre_end = MIN(first->hdr_off, end);
	if (pre_end > p->body_off)
		sieve_strlist_add(out, (const char *)m->data + p->body_off,
		    MIN(cut_boundary(m->data + p->body_off, pre_end - p->body_off), max));
	/* the epilogue starts after the line break and line of the close delimiter */
	epi = MIN(last->body_off + last->body_len, end);
	if (epi < end && m->data[epi] == '\r')
		epi++;
	if (epi < end && m->data[epi] == '\n')
		epi++;
	while (epi < end && m->data[epi] != '\n')
		epi++;
	if (epi + 1 < end)
		sieve_strlist_add(out, (const char *)m->data + epi + 1, MIN(end - epi - 1, max));
}

/* Next part in depth-first order (no recursion: parent links). */
static const struct mail_part *
part_next(const struct mail_part *p)
{
	if (p->children != NULL)
		return p->children;
	while (p != NULL && p->next == NULL)
		p = p->parent;
	return p != NULL ? p->next : NULL;
}

int
sieve_msg_body_values(struct sieve_run *x, const struct sieve_node *n,
    const struct sieve_strlist *types, struct sieve_strlist *out)
{
	const struct sieve_exec_env *env = x->env;
	size_t left = x->lim->body_max;
	struct sieve_strlist text = { .n = 1 };

	if ((n->tags & (1ull << SIEVE_TAG_RAW)) != 0) {
		size_t off = MIN(x->hdr_end, env->msg_len);

		sieve_strlist_add(out, (const char *)env->msg + off, MIN(env->msg_len - off, left));
		return sieve_run_charge(x, out->v[out->n - 1].len);
	}
	if (x->mime == NULL)
		x->mime = mail_message_parse(env->msg, env->msg_len, NULL);
	if ((n->tags & (1ull << SIEVE_TAG_CONTENT)) == 0) {
		static struct sieve_sv t = { (char *)"text", 4 };

		text.v = &t;
		types = &text;
	}
	for (const struct mail_part *p = x->mime->root; p != NULL && left > 0; p = part_next(p)) {
		if ((p->flags & MAIL_PART_MULTIPART) != 0 && type_matches(p, types)) {
			multipart_text(x->mime, p, left, out);
			continue;
		}
		if ((p->flags & (MAIL_PART_MULTIPART | MAIL_PART_RFC822)) != 0 ||
		    !type_matches(p, types))
			continue;
		if (sieve_run_step(x) < 0)
			return -1;
		part_text(x->mime, p, left, out);
		if (sieve_run_charge(x, MIN(p->body_len, left)) < 0)
			return -1;
		left -= MIN(left, out->v[out->n - 1].len);
	}
	return 0;
}

/* ---- dates (RFC 5260 §4) ---- */

bool
sieve_msg_parse_date(const char *v, size_t len, time_t *t_r, int *zone_r)
{
	const char *semi = NULL;

	/* Received: ...; date (RFC 5321 §4.4) */
	for (size_t i = len; i > 0; i--)
		if (v[i - 1] == ';') {
			semi = v + i;
			break;
		}
	if (semi != NULL) {
		len -= (size_t)(semi - v);
		v = semi;
	}
	return mail_date_parse(v, len, t_r, zone_r) == 0;
}

/* Modified Julian Day of a proleptic Gregorian date (RFC 5260 §4.2 "julian"). */
static long
mjd(int y, int m, int d)
{
	long a = (14 - m) / 12, yy = y + 4800 - a, mm = m + 12 * a - 3;
	long jdn = d + (153 * mm + 2) / 5 + 365 * yy + yy / 4 - yy / 100 + yy / 400 - 32045;

	return jdn - 2400001;
}

bool
sieve_msg_date_part(time_t t, int zone, const char *part, struct buf *out)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t local = t + (time_t)zone * 60;
	int az = zone < 0 ? -zone : zone;
	char sign = zone < 0 ? '-' : '+';
	struct tm tm;

	if (gmtime_r(&local, &tm) == NULL)
		return false;
	buf_reset(out);
	if (str_ieq(part, "year"))
		buf_appendf(out, "%04d", tm.tm_year + 1900);
	else if (str_ieq(part, "month"))
		buf_appendf(out, "%02d", tm.tm_mon + 1);
	else if (str_ieq(part, "day"))
		buf_appendf(out, "%02d", tm.tm_mday);
	else if (str_ieq(part, "date"))
		buf_appendf(out, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	else if (str_ieq(part, "julian"))
		buf_appendf(out, "%ld", mjd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday));
	else if (str_ieq(part, "hour"))
		buf_appendf(out, "%02d", tm.tm_hour);
	else if (str_ieq(part, "minute"))
		buf_appendf(out, "%02d", tm.tm_min);
	else if (str_ieq(part, "second"))
		buf_appendf(out, "%02d", tm.tm_sec);
	else if (str_ieq(part, "time"))
		buf_appendf(out, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	else if (str_ieq(part, "iso8601"))
		buf_appendf(out, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, az / 60,
		    az % 60);
	else if (str_ieq(part, "std11"))
		buf_appendf(out, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", wd[tm.tm_wday],
		    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, sign, az / 60, az % 60);
	else if (str_ieq(part, "zone"))
		buf_appendf(out, "%c%02d%02d", sign, az / 60, az % 60);
	else if (str_ieq(part, "weekday"))
		buf_appendf(out, "%d", tm.tm_wday);
	else
		return false;
	return true;
}

/* ---- editheader (RFC 5293) ---- */

int
sieve_msg_add(struct sieve_run *x, const char *name, const char *value, bool last)
{
	struct sieve_hdr h = { 0 };

	if (x->nhdrs >= x->lim->headers_max || x->hdr_full)
		return sieve_run_error(x, "too many header fields to edit");
	h.name = xstrdup(name);
	h.name_len = strlen(name);
	h.value = xstrdup(value);
	h.value_len = strlen(value);
	h.owned = true;
	hdr_push(x, &h, !last);	/* at the top unless :last (RFC 5293 §4) */
	x->edited = true;
	return 0;
}

unsigned
sieve_msg_delete(struct sieve_run *x, const struct sieve_node *n, const char *name,
    const struct sieve_strlist *patterns, int *err_r)
{
	unsigned deleted = 0;
	long only = -1;

	*err_r = 0;
	if (x->hdr_full) {
		*err_r = sieve_run_error(x, "too many header fields to edit");
		return 0;
	}
	/* Received and Auto-Submitted are never removed (RFC 5293 §9, as Pigeonhole) */
	if (str_ieq(name, "received") || str_ieq(name, "auto-submitted"))
		return 0;
	if ((n->tags & (1ull << SIEVE_TAG_INDEX)) != 0) {
		only = hdr_pick(x, n, name);
		if (only < 0)
			return 0;
	}
	for (unsigned i = 0; i < x->nhdrs; i++) {
		struct sieve_hdr *h = &x->hdrs[i];

		if ((only >= 0 && (long)i != only) || !hdr_is(h, name))
			continue;
		if (patterns->n > 0) {
			struct sieve_strlist v = { 0 };
			int m;

			add_value(x, h, true, &v);
			m = sieve_match_values(x, n, &v, patterns);
			sieve_strlist_free(&v);
			if (m < 0) {
				*err_r = -1;
				return deleted;
			}
			if (m == 0)
				continue;
		}
		h->deleted = true;
		deleted++;
	}
	if (deleted > 0)
		x->edited = true;
	return deleted;
}

void
sieve_msg_write_header(struct sieve_run *x)
{
	struct buf b;

	if (!x->edited)
		return;
	const unsigned char *m = x->env->msg, *nl = memchr(m, '\n', x->env->msg_len);
	/* new lines end like the message's first line: files may be stored with LF */
	const char *eol = nl != NULL && nl > m && nl[-1] != '\r' ? "\n" : "\r\n";

	buf_init(&b, BUF_UNLIMITED);
	for (unsigned i = 0; i < x->nhdrs; i++) {
		const struct sieve_hdr *h = &x->hdrs[i];

		if (h->deleted)
			continue;
		if (h->owned)
			buf_appendf(&b, "%s: %s%s", h->name, h->value, eol);
		else
			(void)buf_append(&b, m + h->raw_off, h->raw_len);
	}
	(void)buf_append_str(&b, eol);
	x->r->header_len = b.len;
	x->r->header = buf_steal(&b);
}
