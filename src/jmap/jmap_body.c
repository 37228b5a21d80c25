/*
 * jmap_body.c — the body and header properties of an Email (RFC 8621 §4.1.2-§4.1.4):
 * bodyStructure, textBody, htmlBody, attachments, hasAttachment, bodyValues, headers,
 * header:{name}:as{form}[:all] and the header shortcuts (messageId, sender, ...), over
 * the MIME parse IMAP's BODYSTRUCTURE uses (src/mail/message.c); the blobs of body parts
 * (download) and Email/parse (§4.9). Runs in the mail process on untrusted message bytes:
 * parts walked, depth, header fields and the bytes of values are bounded below.
 */
#include "jmap/jmap_local.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "jmap/jmap_bodyprop.h"
#include "jmap/jmap_request.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/message.h"
#include "mail/preview.h"
#include "mail/rfc2047.h"
#include "mail/search.h"
#include "mailproc/mail_user.h"

#define BODY_PARTS_MAX		256		/* parts of one Email walked */
#define BODY_DEPTH_MAX		32		/* multipart nesting walked */
#define BODY_FIELDS_MAX		1000		/* header fields of one part read */
#define BODY_ADDRESSES_MAX	256		/* addresses of one field */
#define BODY_RESPONSE_MAX	(10u * 1000 * 1000)	/* value octets in one response */
#define BODY_BLOB_MAX		(64u * 1024 * 1024)	/* a decoded part (download, parse) */
#define PARTID_MAX		(BODY_DEPTH_MAX * 8)
#define BODY_HEADER_PROPS_MAX	64		/* header:... names in properties */
#define BODY_WORK_MAX		(20u * 1000 * 1000)	/* header fields visited per call */

/* ---------------------------------------------------------------- arguments */

static const char *const body_props_known[] = { "partId", "blobId", "size", "headers",
	"name", "type", "charset", "disposition", "cid", "language", "location", "subParts",
	NULL };
static const char *const body_props_default[] = { "partId", "blobId", "size", "name",
	"type", "charset", "disposition", "cid", "language", "location", NULL };
/* the Email properties this file serves */
static const char *const email_body_props[] = { "bodyStructure", "textBody", "htmlBody",
	"attachments", "hasAttachment", "bodyValues", "headers", "messageId", "inReplyTo",
	"references", "sender", "bcc", "replyTo", NULL };
/* RFC 8621 §4.2: what Email/get returns when properties is null */
static const char *const get_default[] = { "id", "blobId", "threadId", "mailboxIds",
	"keywords", "size", "receivedAt", "messageId", "inReplyTo", "references", "sender",
	"from", "to", "cc", "bcc", "replyTo", "subject", "sentAt", "hasAttachment", "preview",
	"bodyValues", "textBody", "htmlBody", "attachments", NULL };
/* §4.9: what Email/parse returns when properties is null */
static const char *const parse_default[] = { "messageId", "inReplyTo", "references",
	"sender", "from", "to", "cc", "bcc", "replyTo", "subject", "sentAt", "hasAttachment",
	"preview", "bodyValues", "textBody", "htmlBody", "attachments", NULL };
static const char *const parse_known[] = { "id", "blobId", "threadId", "mailboxIds",
	"keywords", "size", "receivedAt", "from", "to", "cc", "subject", "sentAt", "preview",
	NULL };

static bool
in_list(const char *const *l, const char *s)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

/* props null: the default list; else the array names s. */
static bool
want(json_t *props, const char *const *dflt, const char *s)
{
	size_t i;
	json_t *p;

	if (props == NULL || json_is_null(props))
		return in_list(dflt, s);
	json_array_foreach(props, i, p)
		if (json_is_string(p) && strcmp(json_string_value(p), s) == 0)
			return true;
	return false;
}

static bool
check_props(json_t *props, const char *const *known, const char *const *more)
{
	size_t i;
	json_t *p;
	unsigned nheader = 0;

	if (props == NULL || json_is_null(props))
		return true;
	if (!json_is_array(props))
		return false;
	json_array_foreach(props, i, p) {
		const char *s = json_string_value(p);
		struct jmap_header_prop hp;

		if (s == NULL)
			return false;
		if (in_list(known, s) || (more != NULL && in_list(more, s)))
			continue;
		if (jmap_header_prop_parse(s, strlen(s), &hp) < 0 ||
		    ++nheader > BODY_HEADER_PROPS_MAX)
			return false;
	}
	return true;
}

bool
jmap_body_check_properties(struct jmap_call *call, json_t *props, const char *const *known)
{
	if (!check_props(props, known, email_body_props)) {
		jmap_set_error(call, "invalidArguments", "unknown property");
		return false;
	}
	return true;
}

bool
jmap_body_args_parse(struct jmap_call *call, struct jmap_body_args *a)
{
	json_t *bp = json_object_get(call->args, "bodyProperties");
	json_int_t max;
	const char *names[] = { "fetchTextBodyValues", "fetchHTMLBodyValues",
		"fetchAllBodyValues" };
	bool *flags[] = { &a->fetch_text, &a->fetch_html, &a->fetch_all };

	memset(a, 0, sizeof(*a));
	a->budget = BODY_RESPONSE_MAX;
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		json_t *v = json_object_get(call->args, names[i]);

		if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
			jmap_set_error(call, "invalidArguments", "fetch*BodyValues must be a Boolean");
			return false;
		}
		*flags[i] = json_is_true(v);
	}
	if (!jmap_json_uint(json_object_get(call->args, "maxBodyValueBytes"), 0, &max)) {
		jmap_set_error(call, "invalidArguments", "maxBodyValueBytes must be an UnsignedInt");
		return false;
	}
	a->max_value_bytes = (size_t)MIN(max, (json_int_t)BODY_RESPONSE_MAX);
	if (max > 0 && a->max_value_bytes == 0)
		a->max_value_bytes = 1;
	if (bp != NULL && !json_is_null(bp)) {
		if (!check_props(bp, body_props_known, NULL)) {
			jmap_set_error(call, "invalidArguments", "unknown body property");
			return false;
		}
		a->body_props = bp;
	}
	return true;
}

bool
jmap_body_needed(json_t *props)
{
	size_t i;
	json_t *p;

	if (props == NULL || json_is_null(props))
		return true;
	json_array_foreach(props, i, p) {
		const char *s = json_string_value(p);

		if (in_list(email_body_props, s) || strncmp(s, "header:", 7) == 0)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- text helpers */

/* Append p[0..len) as valid UTF-8: a run of invalid octets becomes U+FFFD, NUL is dropped. */
static void
append_sane(struct buf *b, const unsigned char *p, size_t len)
{
	bool bad = false;

	for (size_t i = 0; i < len; ) {
		size_t n = mail_utf8_next(p + i, len - i, NULL);

		if (n == 0) {
			if (!bad)
				(void)buf_append(b, "\xef\xbf\xbd", 3);
			bad = true;
			i++;
			continue;
		}
		bad = false;
		if (!(n == 1 && p[i] == '\0'))
			(void)buf_append(b, p + i, n);
		i += n;
	}
}

static json_t *
sane_json(struct jmap_body_args *a, const unsigned char *p, size_t len)
{
	struct buf b;
	json_t *v;

	buf_init(&b, 4 * len + 16);
	append_sane(&b, p, len);
	a->used += b.len;
	v = json_stringn(b.len > 0 ? (const char *)b.data : "", b.len);
	buf_deinit(&b);
	return v != NULL ? v : json_null();
}

/* NFC of valid UTF-8 s (a new json string). */
static json_t *
nfc_json(struct jmap_body_args *a, const char *s, size_t len)
{
	utf8proc_uint8_t *n = NULL;
	utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
	    &n, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
	json_t *v;

	if (r < 0) {
		free(n);
		return sane_json(a, (const unsigned char *)s, len);
	}
	v = sane_json(a, n, (size_t)r);
	free(n);
	return v;
}

/* §4.1.2.3 Text: unfolded, leading space removed, RFC 2047 words decoded, NFC. */
static json_t *
text_json(struct jmap_body_args *a, const unsigned char *raw, size_t len)
{
	char *u = mail_header_unfold_dup(raw, len);
	char *d = mail_rfc2047_decode_dup(u, strlen(u));
	struct buf b;
	json_t *v;
	size_t n;

	if (d == NULL)
		d = xstrdup(u);
	n = strlen(d);

	buf_init(&b, 4 * n + 16);
	append_sane(&b, (const unsigned char *)d, n);
	v = nfc_json(a, b.len > 0 ? (const char *)b.data : "", b.len);
	buf_deinit(&b);
	free(d);
	free(u);
	return v;
}

/* RFC 8620 §1.4 Date with the field's zone (as sentAt); null if unparsable. */
static json_t *
date_json(const unsigned char *raw, size_t len)
{
	char *d = mail_header_unfold_dup(raw, len);
	json_t *v = jmap_date_json(d, strlen(d));

	free(d);
	return v;
}

static json_t *
address_json(struct jmap_body_args *a, const struct mail_address *ad)
{
	char *email = ad->host != NULL ? xasprintf("%s@%s", ad->mailbox, ad->host) :
	    xstrdup(ad->mailbox);
	json_t *o = json_object();

	(void)json_object_set_new(o, "name", ad->name != NULL ? text_json(a,
	    (const unsigned char *)ad->name, strlen(ad->name)) : json_null());
	(void)json_object_set_new(o, "email", sane_json(a, (const unsigned char *)email,
	    strlen(email)));
	free(email);
	return o;
}

/* §4.1.2.3 Addresses (grouped: false) and GroupedAddresses (true, §4.1.2.4). */
static json_t *
addresses_json(struct jmap_body_args *a, const unsigned char *raw, size_t len, bool grouped)
{
	char *v = mail_header_unfold_dup(raw, len);
	struct mail_address *list;
	unsigned count;
	json_t *arr = json_array(), *group = NULL, *loose = NULL;

	mail_address_parse(v, strlen(v), BODY_ADDRESSES_MAX, &list, &count);
	free(v);
	for (unsigned i = 0; i < count; i++) {
		const struct mail_address *ad = &list[i];

		if (ad->group_start) {
			loose = NULL;
			if (!grouped)
				continue;
			group = json_array();
			(void)json_array_append_new(arr, json_pack("{s:o, s:o}", "name",
			    ad->mailbox != NULL ? text_json(a, (const unsigned char *)ad->mailbox,
			    strlen(ad->mailbox)) : json_null(), "addresses", group));
			continue;
		}
		if (ad->group_end || ad->mailbox == NULL) {
			group = NULL;
			continue;
		}
		if (!grouped) {
			(void)json_array_append_new(arr, address_json(a, ad));
			continue;
		}
		if (group == NULL && loose == NULL) {
			/* addresses outside a group: a group whose name is null */
			loose = json_array();
			(void)json_array_append_new(arr, json_pack("{s:n, s:o}", "name",
			    "addresses", loose));
		}
		(void)json_array_append_new(group != NULL ? group : loose, address_json(a, ad));
	}
	mail_address_list_free(&list, count);
	return arr;
}

/*
 * §4.1.2.3 MessageIds: the msg-ids without their angle brackets; null when there is
 * none or something other than CFWS, a msg-id (or a phrase word, as obsolete
 * In-Reply-To fields have) is found.
 */
static json_t *
msgids_json(struct jmap_body_args *a, const unsigned char *raw, size_t len)
{
	json_t *arr = json_array();
	size_t i = 0;

	while ((i = mail_header_skip_cfws(raw, len, i)) < len) {
		const unsigned char *gt;

		if (raw[i] != '<') {
			/* obs-phrase words (RFC 5322 §4.5.4) are skipped */
			if (raw[i] == '"' || raw[i] == '>' || raw[i] == ',')
				goto bad;
			while (i < len && raw[i] != '<' && raw[i] != ' ' && raw[i] != '\t' &&
			    raw[i] != '\r' && raw[i] != '\n' && raw[i] != '(')
				i++;
			continue;
		}
		gt = memchr(raw + i, '>', len - i);
		if (gt == NULL || gt == raw + i + 1 || memchr(raw + i + 1, '@',
		    (size_t)(gt - raw) - i - 1) == NULL)
			goto bad;
		for (const unsigned char *c = raw + i + 1; c < gt; c++)
			if (*c <= ' ' || *c == '<')
				goto bad;
		if (json_array_size(arr) >= BODY_ADDRESSES_MAX)
			break;
		(void)json_array_append_new(arr, sane_json(a, raw + i + 1,
		    (size_t)(gt - raw) - i - 1));
		i = (size_t)(gt - raw) + 1;
	}
	if (json_array_size(arr) > 0)
		return arr;
bad:
	json_decref(arr);
	return json_null();
}

/* §4.1.2.3 URLs: the <...> of a List-* field (RFC 2369), comma separated; else null. */
static json_t *
urls_json(struct jmap_body_args *a, const unsigned char *raw, size_t len)
{
	json_t *arr = json_array();
	size_t i = 0;

	while ((i = mail_header_skip_cfws(raw, len, i)) < len) {
		const unsigned char *gt;

		if (raw[i] == ',') {
			i++;
			continue;
		}
		if (raw[i] != '<' || (gt = memchr(raw + i, '>', len - i)) == NULL)
			goto bad;
		if (json_array_size(arr) < BODY_ADDRESSES_MAX) {
			/* whitespace inside the brackets is ignored (RFC 2369 §2) */
			struct buf u;

			buf_init(&u, (size_t)(gt - raw) - i);
			for (const unsigned char *c = raw + i + 1; c < gt; c++)
				if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
					(void)buf_append_c(&u, (char)*c);
			(void)json_array_append_new(arr, sane_json(a, u.data != NULL ?
			    (const unsigned char *)u.data : (const unsigned char *)"", u.len));
			buf_deinit(&u);
		}
		i = (size_t)(gt - raw) + 1;
	}
	if (json_array_size(arr) > 0)
		return arr;
bad:
	json_decref(arr);
	return json_null();
}

/*
 * Count one header field visited; past BODY_WORK_MAX in a call the response is given
 * up (used > budget: requestTooLarge), so many header:... names over many parts and
 * Emails cannot keep the process busy without end.
 */
static bool
over_work(struct jmap_body_args *a)
{
	if (++a->work <= BODY_WORK_MAX)
		return false;
	a->used = a->budget + 1;
	return true;
}

static json_t *
form_json(struct jmap_body_args *a, enum jmap_header_form form, const unsigned char *raw,
    size_t len)
{
	switch (form) {
	case JMAP_FORM_TEXT:
		return text_json(a, raw, len);
	case JMAP_FORM_ADDRESSES:
		return addresses_json(a, raw, len, false);
	case JMAP_FORM_GROUPED:
		return addresses_json(a, raw, len, true);
	case JMAP_FORM_MESSAGEIDS:
		return msgids_json(a, raw, len);
	case JMAP_FORM_DATE:
		return date_json(raw, len);
	case JMAP_FORM_URLS:
		return urls_json(a, raw, len);
	case JMAP_FORM_RAW:
	default:
		return sane_json(a, raw, len);
	}
}

/* header:{name}:as{form}[:all] of the header block hdr[0..len). */
static json_t *
header_prop_json(struct jmap_body_args *a, const struct jmap_header_prop *hp,
    const unsigned char *hdr, size_t len)
{
	struct mail_header_field f, last;
	size_t pos = 0;
	unsigned n = 0;
	bool found = false;
	json_t *all = hp->all ? json_array() : NULL;

	while (n++ < BODY_FIELDS_MAX && !over_work(a) &&
	    mail_header_next(hdr, len, &pos, &f) == 1) {
		if (!mail_header_name_eq(f.name, f.name_len, hp->name))
			continue;
		if (all != NULL)
			(void)json_array_append_new(all, form_json(a, hp->form, f.value,
			    f.value_len));
		last = f;
		found = true;
	}
	if (all != NULL)
		return all;
	return found ? form_json(a, hp->form, last.value, last.value_len) : json_null();
}

/* §4.1.3 headers: every field, in order, Raw. */
static json_t *
headers_json(struct jmap_body_args *a, const unsigned char *hdr, size_t len)
{
	struct mail_header_field f;
	size_t pos = 0;
	unsigned n = 0;
	json_t *arr = json_array();

	while (n++ < BODY_FIELDS_MAX && !over_work(a) &&
	    mail_header_next(hdr, len, &pos, &f) == 1)
		(void)json_array_append_new(arr, json_pack("{s:o, s:o}", "name",
		    sane_json(a, f.name, f.name_len), "value", sane_json(a, f.value,
		    f.value_len)));
	return arr;
}

/* The header:... properties of props into o, read from hdr[0..len). */
static void
header_props(struct jmap_body_args *a, json_t *props, const unsigned char *hdr, size_t len,
    json_t *o)
{
	size_t i;
	json_t *p;

	if (props == NULL || json_is_null(props))
		return;
	json_array_foreach(props, i, p) {
		const char *s = json_string_value(p);
		struct jmap_header_prop hp;

		if (s != NULL && jmap_header_prop_parse(s, strlen(s), &hp) == 0)
			(void)json_object_set_new(o, s, header_prop_json(a, &hp, hdr, len));
	}
}

/* ---------------------------------------------------------------- decoding */

/* Lower-case "type/subtype" of a part into out. */
static void
part_type(const struct mail_part *p, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", p->type, p->subtype);
	for (char *c = out; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
}

static bool
b64_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/';
}

/* base64 that RFC 2045 §6.8 would not accept as it is: junk, '=' inside, a lone sextet. */
static bool
b64_problem(const unsigned char *p, size_t len)
{
	size_t alpha = 0;
	bool pad = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (b64_alpha(c)) {
			if (pad)
				return true;
			alpha++;
		} else if (c == '=')
			pad = true;
		else if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
			return true;
	}
	return alpha % 4 == 1;
}

/* quoted-printable with an '=' that is neither =XX nor a soft line break (§6.7). */
static bool
qp_problem(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		size_t j;

		if (p[i] != '=')
			continue;
		if (i + 2 < len && hex_digit_value(p[i + 1]) >= 0 && hex_digit_value(p[i + 2]) >= 0)
			continue;
		for (j = i + 1; j < len && (p[j] == ' ' || p[j] == '\t'); j++)
			;
		if (j < len && p[j] == '\r')
			j++;
		if (j < len && p[j] != '\n')
			return true;
	}
	return false;
}

/*
 * The content of a leaf part with its transfer encoding removed (base64, QP; an identity
 * or unknown encoding as stored, the latter a problem), at most `raw_max` raw octets of
 * it read, appended to out. *problem_r: the encoding (of the whole part) was broken or
 * unknown.
 */
static int
part_decode(const struct mail_message *m, const struct mail_part *p, size_t raw_max,
    struct buf *out, bool *problem_r)
{
	const unsigned char *body = m->data + p->body_off;
	size_t len = MIN(p->body_len, raw_max);
	const char *e = p->encoding;

	*problem_r = false;
	if (e != NULL && str_ieq(e, "base64")) {
		*problem_r = b64_problem(body, p->body_len);
		return base64_decode_buf((const char *)body, len, BASE64_LENIENT, out);
	}
	if (e != NULL && str_ieq(e, "quoted-printable")) {
		unsigned char *dec;
		size_t n;
		int r;

		*problem_r = qp_problem(body, p->body_len);
		if (len == 0)
			return 0;
		dec = xmalloc(len);
		n = mail_qp_decode(dec, body, len);
		r = buf_append(out, dec, n);
		free(dec);
		return r;
	}
	if (e != NULL && !str_ieq(e, "7bit") && !str_ieq(e, "8bit") && !str_ieq(e, "binary"))
		*problem_r = true;	/* §4.1.4 isEncodingProblem: an unknown encoding */
	return buf_append(out, body, len);
}

/* The decoded size of a leaf part (§4.1.4 size: what its blob download gives). */
static uint64_t
part_size(const struct mail_message *m, const struct mail_part *p)
{
	const unsigned char *body = m->data + p->body_off;
	const char *e = p->encoding;

	if (e != NULL && str_ieq(e, "base64")) {
		uint64_t alpha = 0;

		for (size_t i = 0; i < p->body_len; i++)
			alpha += b64_alpha(body[i]);
		return alpha * 6 / 8;
	}
	if (e != NULL && str_ieq(e, "quoted-printable") && p->body_len > 0) {
		unsigned char *dec = xmalloc(p->body_len);
		size_t n = mail_qp_decode(dec, body, p->body_len);

		free(dec);
		return n;
	}
	return p->body_len;
}

/* ---------------------------------------------------------------- the part tree */

struct node {
	const struct mail_part *p;
	char partid[PARTID_MAX];	/* "" for a multipart */
	char type[160];
	int first, next;		/* children (multipart), siblings: indices or -1 */
	int64_t size;			/* decoded size once known, else -1 */
};

struct tree {
	struct node v[BODY_PARTS_MAX];
	int n;
};

/* Walk p (partid already numbered), its multipart children below; returns its index. */
static int
tree_walk(struct tree *t, const struct mail_part *p, const char *partid, unsigned depth)
{
	int me = t->n++, prev = -1;
	struct node *nd = &t->v[me];
	unsigned k = 0;

	nd->p = p;
	nd->first = nd->next = -1;
	nd->size = -1;
	part_type(p, nd->type, sizeof(nd->type));
	if (!(p->flags & MAIL_PART_MULTIPART)) {
		snprintf(nd->partid, sizeof(nd->partid), "%s", partid);
		return me;
	}
	nd->partid[0] = '\0';
	for (const struct mail_part *c = p->children; c != NULL; c = c->next) {
		char id[PARTID_MAX];
		int ci;

		k++;
		/* deeper or further parts are not shown (bounded work per Email) */
		if (depth + 1 >= BODY_DEPTH_MAX || t->n >= BODY_PARTS_MAX ||
		    snprintf(id, sizeof(id), "%s%s%u", partid, partid[0] != '\0' ? "." : "",
		    k) >= (int)sizeof(id))
			break;
		ci = tree_walk(t, c, id, depth + 1);
		if (prev < 0)
			t->v[me].first = ci;
		else
			t->v[prev].next = ci;
		prev = ci;
	}
	return me;
}

/* ---------------------------------------------------------------- §4.1.4 */

struct list {
	int v[BODY_PARTS_MAX];
	int n;
};

static bool
inline_media(const char *type)
{
	return strncmp(type, "image/", 6) == 0 || strncmp(type, "audio/", 6) == 0 ||
	    strncmp(type, "video/", 6) == 0;
}

static const struct mail_param *
part_name_param(const struct mail_part *p)
{
	const struct mail_param *n = mail_param_find(p->disp_params, p->ndisp_params, "filename");

	return n != NULL ? n : mail_param_find(p->params, p->nparams, "name");
}

static void
list_push(struct list *l, int i)
{
	if (l != NULL && l->n < BODY_PARTS_MAX)
		l->v[l->n++] = i;
}

/* parseStructure of RFC 8621 §4.1.4, over the children of a multipart (or the root). */
static void
parse_structure(const struct tree *t, int first, const char *multipart_type,
    bool in_alternative, struct list *html, struct list *text, struct list *att)
{
	int text_len = text != NULL ? text->n : -1;
	int html_len = html != NULL ? html->n : -1;
	int i = 0;

	for (int pi = first; pi >= 0; pi = t->v[pi].next, i++) {
		const struct node *nd = &t->v[pi];
		const struct mail_part *p = nd->p;
		bool multipart = (p->flags & MAIL_PART_MULTIPART) != 0;
		bool is_inline = (p->disposition == NULL || !str_ieq(p->disposition, "attachment")) &&
		    (strcmp(nd->type, "text/plain") == 0 || strcmp(nd->type, "text/html") == 0 ||
		    inline_media(nd->type)) &&
		    (i == 0 || (strcmp(multipart_type, "related") != 0 &&
		    (inline_media(nd->type) || part_name_param(p) == NULL)));

		if (multipart) {
			const char *sub = nd->type + strlen("multipart/");

			parse_structure(t, nd->first, sub, in_alternative ||
			    strcmp(sub, "alternative") == 0, html, text, att);
		} else if (is_inline) {
			if (strcmp(multipart_type, "alternative") == 0) {
				if (strcmp(nd->type, "text/plain") == 0)
					list_push(text, pi);
				else if (strcmp(nd->type, "text/html") == 0)
					list_push(html, pi);
				else
					list_push(att, pi);
				continue;
			} else if (in_alternative) {
				if (strcmp(nd->type, "text/plain") == 0)
					html = NULL;
				if (strcmp(nd->type, "text/html") == 0)
					text = NULL;
			}
			list_push(text, pi);
			list_push(html, pi);
			if ((text == NULL || html == NULL) && inline_media(nd->type))
				list_push(att, pi);
		} else {
			list_push(att, pi);
		}
	}
	if (strcmp(multipart_type, "alternative") == 0 && text != NULL && html != NULL) {
		/* found an HTML part only: it serves as the text body too, and vice versa */
		if (text_len == text->n && html_len != html->n)
			for (int k = html_len; k < html->n; k++)
				list_push(text, html->v[k]);
		if (html_len == html->n && text_len != text->n)
			for (int k = text_len; k < text->n; k++)
				list_push(html, text->v[k]);
	}
}

/* ---------------------------------------------------------------- EmailBodyPart */

struct body_ctx {
	struct jmap_body_args *a;
	const struct mail_message *m;
	const char *blob_prefix;	/* "B<hex>" or a part's blob id (Email/parse) */
	struct tree *t;
};

/* The blob id of a leaf: the prefix, "_" and the partId with '.' as '_'; NULL if too long. */
static json_t *
part_blob_json(const struct body_ctx *ctx, const struct node *nd)
{
	char id[JMAP_ID_MAX + 1];
	size_t n = (size_t)snprintf(id, sizeof(id), "%s_%s", ctx->blob_prefix, nd->partid);
	unsigned levels = 1;

	if (n >= sizeof(id))
		return json_null();
	for (char *c = id; *c != '\0'; c++)
		if (*c == '.' || *c == '_') {
			*c = '_';
			levels++;
		}
	/* "B<hex>" has no '_': levels counts the part numbers plus one */
	return levels - 1 > JMAP_PART_DEPTH_MAX ? json_null() : json_string(id);
}

static json_t *
param_json(struct jmap_body_args *a, const struct mail_param *pm)
{
	return pm != NULL && pm->utf8 != NULL ? nfc_json(a, pm->utf8, strlen(pm->utf8)) :
	    json_null();
}

static json_t *part_json(struct body_ctx *ctx, int i, bool structure);

static bool
bwant(const struct body_ctx *ctx, const char *name)
{
	return want(ctx->a->body_props, body_props_default, name);
}

static json_t *
part_json(struct body_ctx *ctx, int i, bool structure)
{
	struct node *nd = &ctx->t->v[i];
	const struct mail_part *p = nd->p;
	bool multipart = (p->flags & MAIL_PART_MULTIPART) != 0;
	const unsigned char *hdr = ctx->m->data + p->hdr_off;
	json_t *o = json_object();

	if (bwant(ctx, "partId"))
		(void)json_object_set_new(o, "partId", multipart ? json_null() :
		    json_string(nd->partid));
	if (bwant(ctx, "blobId"))
		(void)json_object_set_new(o, "blobId", multipart ? json_null() :
		    part_blob_json(ctx, nd));
	if (bwant(ctx, "size")) {
		/* a multipart has no blob: the octets of its body as stored */
		if (nd->size < 0)
			nd->size = (int64_t)(multipart ? p->body_len : part_size(ctx->m, p));
		(void)json_object_set_new(o, "size", json_integer((json_int_t)nd->size));
	}
	if (bwant(ctx, "headers"))
		(void)json_object_set_new(o, "headers", headers_json(ctx->a, hdr, p->hdr_len));
	header_props(ctx->a, ctx->a->body_props, hdr, p->hdr_len, o);
	if (bwant(ctx, "name"))
		(void)json_object_set_new(o, "name", param_json(ctx->a, part_name_param(p)));
	if (bwant(ctx, "type"))
		(void)json_object_set_new(o, "type", json_string(nd->type));
	if (bwant(ctx, "charset")) {
		const struct mail_param *cs = mail_param_find(p->params, p->nparams, "charset");

		/* §4.1.4: a text part without one is us-ascii; another part's is null */
		(void)json_object_set_new(o, "charset", cs != NULL ? param_json(ctx->a, cs) :
		    str_ieq(p->type, "text") ? json_string("us-ascii") : json_null());
	}
	if (bwant(ctx, "disposition")) {
		char d[64];

		snprintf(d, sizeof(d), "%s", p->disposition != NULL ? p->disposition : "");
		for (char *c = d; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		(void)json_object_set_new(o, "disposition", p->disposition != NULL ?
		    sane_json(ctx->a, (const unsigned char *)d, strlen(d)) : json_null());
	}
	if (bwant(ctx, "cid")) {
		json_t *v = json_null();

		if (p->id != NULL) {
			/* the Content-ID without CFWS and angle brackets */
			const char *s = p->id, *e;

			while (*s == ' ' || *s == '\t' || *s == '<')
				s++;
			e = s + strlen(s);
			while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '>'))
				e--;
			v = sane_json(ctx->a, (const unsigned char *)s, (size_t)(e - s));
		}
		(void)json_object_set_new(o, "cid", v);
	}
	if (bwant(ctx, "language")) {
		json_t *v = json_null();

		if (p->nlanguages > 0) {
			v = json_array();
			for (unsigned k = 0; k < p->nlanguages; k++)
				(void)json_array_append_new(v, sane_json(ctx->a,
				    (const unsigned char *)p->languages[k],
				    strlen(p->languages[k])));
		}
		(void)json_object_set_new(o, "language", v);
	}
	if (bwant(ctx, "location"))
		(void)json_object_set_new(o, "location", p->location != NULL ?
		    sane_json(ctx->a, (const unsigned char *)p->location, strlen(p->location)) :
		    json_null());
	/* bodyStructure shows the tree (subParts of every multipart); the lists do not */
	if (multipart && (structure || bwant(ctx, "subParts"))) {
		json_t *sub = json_array();

		for (int c = nd->first; c >= 0; c = ctx->t->v[c].next)
			(void)json_array_append_new(sub, part_json(ctx, c, structure));
		(void)json_object_set_new(o, "subParts", sub);
	}
	return o;
}

static json_t *
list_json(struct body_ctx *ctx, const struct list *l)
{
	json_t *arr = json_array();

	for (int k = 0; k < l->n; k++)
		(void)json_array_append_new(arr, part_json(ctx, l->v[k], false));
	return arr;
}

/* ---------------------------------------------------------------- bodyValues */

/*
 * §4.1.4 EmailBodyValue of a text part: decoded, converted from its charset to UTF-8,
 * cut at maxBodyValueBytes (or what is left of the response's budget) on a character
 * boundary.
 */
static json_t *
body_value_json(struct body_ctx *ctx, const struct node *nd)
{
	struct jmap_body_args *a = ctx->a;
	const struct mail_part *p = nd->p;
	const struct mail_param *cs = mail_param_find(p->params, p->nparams, "charset");
	size_t limit = a->budget > a->used ? a->budget - a->used : 0;
	size_t raw_max;
	struct buf dec, utf8;
	bool problem = false, cs_problem = false, truncated = false;
	json_t *v;

	if (a->max_value_bytes > 0 && a->max_value_bytes < limit)
		limit = a->max_value_bytes;
	/* the raw octets read: 4 per octet of UTF-8 wanted is more than enough but for
	 * UTF-32-like charsets (a value cut shorter is marked isTruncated all the same) */
	raw_max = MIN(limit * 4 + 4096, (size_t)BODY_BLOB_MAX);
	if (raw_max < p->body_len)
		truncated = true;	/* then the output is cut at limit below */
	buf_init(&dec, BODY_BLOB_MAX);
	buf_init(&utf8, 4 * (size_t)BODY_BLOB_MAX);
	if (part_decode(ctx->m, p, raw_max, &dec, &problem) < 0)
		truncated = true;
	(void)mail_charset_to_utf8_check(&utf8, cs != NULL ? cs->utf8 : NULL,
	    dec.data != NULL ? (const unsigned char *)dec.data : (const unsigned char *)"",
	    dec.len, &cs_problem);
	/* input cut inside a sequence is no problem of the text: look at what is kept */
	if (raw_max < p->body_len && cs_problem && utf8.len > limit)
		cs_problem = memmem(utf8.data, limit, "\xef\xbf\xbd", 3) != NULL;
	if (utf8.len > limit) {
		size_t n = limit;

		/* never inside a UTF-8 sequence: back up over continuation octets */
		while (n > 0 && ((unsigned char)utf8.data[n] & 0xc0) == 0x80)
			n--;
		/* §4.2: HTML is not cut inside a tag */
		if (strcmp(nd->type, "text/html") == 0) {
			size_t lt = n;

			while (lt > 0 && utf8.data[lt - 1] != '<' && utf8.data[lt - 1] != '>')
				lt--;
			if (lt > 0 && utf8.data[lt - 1] == '<')
				n = lt - 1;
		}
		buf_truncate(&utf8, n);
		truncated = true;
	}
	a->used += utf8.len;
	v = json_pack("{s:o, s:b, s:b}", "value", json_stringn(utf8.data != NULL ?
	    (const char *)utf8.data : "", utf8.len), "isEncodingProblem", problem || cs_problem,
	    "isTruncated", truncated);
	buf_deinit(&dec);
	buf_deinit(&utf8);
	return v;
}

static void
values_add(struct body_ctx *ctx, json_t *values, const struct list *l, bool text_only)
{
	for (int k = 0; k < l->n; k++) {
		const struct node *nd = &ctx->t->v[l->v[k]];

		if (text_only && strncmp(nd->type, "text/", 5) != 0)
			continue;
		if (json_object_get(values, nd->partid) != NULL)
			continue;
		(void)json_object_set_new(values, nd->partid, body_value_json(ctx, nd));
	}
}

/* ---------------------------------------------------------------- the Email */

/* §4.1.4 hasAttachment: an attachment that is not Content-Disposition: inline. */
static bool
attachment_in(const struct tree *t, const struct list *att)
{
	for (int k = 0; k < att->n; k++) {
		const char *d = t->v[att->v[k]].p->disposition;

		if (d == NULL || !str_ieq(d, "inline"))
			return true;
	}
	return false;
}

bool
jmap_body_has_attachment(const struct mail_message *m)
{
	struct tree *t = xcalloc(1, sizeof(*t));
	struct list *l = xcalloc(3, sizeof(*l));
	int r = tree_walk(t, m->root, (m->root->flags & MAIL_PART_MULTIPART) ? "" : "1", 0);
	bool has;

	parse_structure(t, r, "mixed", false, &l[1], &l[0], &l[2]);
	has = attachment_in(t, &l[2]);
	free(l);
	free(t);
	return has;
}

static void
fill(struct jmap_body_args *a, json_t *props, const char *const *dflt,
    const struct mail_message *m, const struct mail_part *root, const char *blob_prefix,
    json_t *o)
{
	const unsigned char *hdr = m->data + root->hdr_off;
	size_t hlen = root->hdr_len;
	static const struct {
		const char *prop, *field;
		enum jmap_header_form form;
	} shortcuts[] = {
		{ "messageId", "Message-ID", JMAP_FORM_MESSAGEIDS },
		{ "inReplyTo", "In-Reply-To", JMAP_FORM_MESSAGEIDS },
		{ "references", "References", JMAP_FORM_MESSAGEIDS },
		{ "sender", "Sender", JMAP_FORM_ADDRESSES },
		{ "bcc", "Bcc", JMAP_FORM_ADDRESSES },
		{ "replyTo", "Reply-To", JMAP_FORM_ADDRESSES },
		/* Email/parse: what Email/get takes from jmap_email.c */
		{ "from", "From", JMAP_FORM_ADDRESSES },
		{ "to", "To", JMAP_FORM_ADDRESSES },
		{ "cc", "Cc", JMAP_FORM_ADDRESSES },
		{ "subject", "Subject", JMAP_FORM_TEXT },
		{ "sentAt", "Date", JMAP_FORM_DATE },
	};
	bool lists = want(props, dflt, "textBody") || want(props, dflt, "htmlBody") ||
	    want(props, dflt, "attachments") || want(props, dflt, "hasAttachment") ||
	    want(props, dflt, "bodyValues");

	for (size_t i = 0; i < N_ELEMENTS(shortcuts); i++) {
		struct jmap_header_prop hp;

		if (i >= 6 && dflt != parse_default)
			break;
		if (!want(props, dflt, shortcuts[i].prop))
			continue;
		memset(&hp, 0, sizeof(hp));
		snprintf(hp.name, sizeof(hp.name), "%s", shortcuts[i].field);
		hp.form = shortcuts[i].form;
		(void)json_object_set_new(o, shortcuts[i].prop, header_prop_json(a, &hp, hdr,
		    hlen));
	}
	if (want(props, dflt, "headers"))
		(void)json_object_set_new(o, "headers", headers_json(a, hdr, hlen));
	header_props(a, props, hdr, hlen, o);
	if (lists || want(props, dflt, "bodyStructure")) {
		struct tree *t = xcalloc(1, sizeof(*t));
		struct body_ctx ctx = { a, m, blob_prefix, t };
		/* IMAP's numbers: a single part is "1", the parts of a multipart "1", "2" */
		int r = tree_walk(t, root, (root->flags & MAIL_PART_MULTIPART) ? "" : "1", 0);

		if (want(props, dflt, "bodyStructure"))
			(void)json_object_set_new(o, "bodyStructure", part_json(&ctx, r, true));
		if (lists) {
			struct list *text = xcalloc(3, sizeof(*text)), *html = text + 1,
			    *att = text + 2;

			parse_structure(t, r, "mixed", false, html, text, att);
			if (want(props, dflt, "textBody"))
				(void)json_object_set_new(o, "textBody", list_json(&ctx, text));
			if (want(props, dflt, "htmlBody"))
				(void)json_object_set_new(o, "htmlBody", list_json(&ctx, html));
			if (want(props, dflt, "attachments"))
				(void)json_object_set_new(o, "attachments", list_json(&ctx, att));
			if (want(props, dflt, "hasAttachment"))
				(void)json_object_set_new(o, "hasAttachment",
				    json_boolean(attachment_in(t, att)));
			if (want(props, dflt, "bodyValues")) {
				json_t *values = json_object();

				/* §4.2: the parts of type text in textBody, in htmlBody */
				if (a->fetch_text || a->fetch_all)
					values_add(&ctx, values, text, true);
				if (a->fetch_html || a->fetch_all)
					values_add(&ctx, values, html, true);
				if (a->fetch_all) {
					struct list every = { .n = 0 };

					for (int k = 0; k < t->n; k++)
						if (!(t->v[k].p->flags & MAIL_PART_MULTIPART))
							list_push(&every, k);
					values_add(&ctx, values, &every, true);
				}
				(void)json_object_set_new(o, "bodyValues", values);
			}
			free(text);
		}
		free(t);
	}
}

void
jmap_body_fill(struct jmap_body_args *a, json_t *props, const struct mail_message *m,
    const char *email_id, json_t *o)
{
	char blob[18];

	snprintf(blob, sizeof(blob), "B%s", email_id + 1);
	fill(a, props, get_default, m, m->root, blob, o);
}

/* ---------------------------------------------------------------- blobs */

/* The message file of EMAILID id mapped (1), 0 not found, -1 error. */
static int
map_message(struct mail_user *mu, uint64_t id, unsigned char **map_r, size_t *len_r)
{
	char blob[18];
	struct stat sb;
	int fd, r;

	jmap_email_id(id, blob);
	blob[0] = 'B';
	*map_r = NULL;
	*len_r = 0;
	if ((r = jmap_mail_blob_open(mu, blob, &fd)) <= 0)
		return r;
	if (fstat(fd, &sb) < 0 || sb.st_size < 0) {
		close(fd);
		return -1;
	}
	if (sb.st_size > 0) {
		void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			close(fd);
			return -1;
		}
		*map_r = p;
		*len_r = (size_t)sb.st_size;
	}
	close(fd);
	return 1;
}

/*
 * The part a blob id's numbers name, as tree_walk numbers them (IMAP's numbers, without
 * its aliases: "1" of a single part is the part only at the top of a message): the
 * parts of a multipart by position, an attached message/rfc822 part's message as the
 * message at the top. NULL when there is no such part.
 */
static const struct mail_part *
part_find(const struct mail_message *m, const uint32_t *nums, unsigned depth)
{
	const struct mail_part *cur = m->root;
	unsigned i = 0;

	if (!(cur->flags & MAIL_PART_MULTIPART)) {
		if (nums[0] != 1)
			return NULL;
		i = 1;
	}
	while (i < depth) {
		if (cur->flags & MAIL_PART_MULTIPART) {
			const struct mail_part *c = cur->children;

			for (uint32_t n = nums[i]; c != NULL && n > 1; n--)
				c = c->next;
			if (c == NULL || nums[i] == 0)
				return NULL;
			cur = c;
			i++;
		} else if ((cur->flags & MAIL_PART_RFC822) && cur->children != NULL) {
			cur = cur->children;
			if (!(cur->flags & MAIL_PART_MULTIPART)) {
				if (nums[i] != 1)
					return NULL;
				i++;
			}
		} else {
			return NULL;
		}
	}
	return cur;
}

/*
 * The decoded content of a part blob into out (at most BODY_BLOB_MAX octets) and its
 * type into type (lower case). 1 found, 0 not (no such message or part, a multipart),
 * -1 error.
 */
static int
part_blob_read(struct mail_user *mu, const char *blob_id, struct buf *out, char *type,
    size_t type_size)
{
	uint32_t nums[JMAP_PART_DEPTH_MAX];
	unsigned depth;
	uint64_t id;
	unsigned char *map;
	size_t len;
	struct mail_message *m;
	const struct mail_part *p;
	bool problem;
	int r;

	if (jmap_part_blob_parse(blob_id, strlen(blob_id), &id, nums, &depth) < 0)
		return 0;
	if ((r = map_message(mu, id, &map, &len)) <= 0)
		return r;
	m = mail_message_parse(map != NULL ? map : (const unsigned char *)"", len, NULL);
	p = part_find(m, nums, depth);
	r = 0;
	if (p != NULL && !(p->flags & MAIL_PART_MULTIPART)) {
		part_type(p, type, type_size);
		r = part_decode(m, p, SIZE_MAX, out, &problem) < 0 ? -1 : 1;
	}
	mail_message_free(&m);
	if (map != NULL)
		munmap(map, len);
	return r;
}

int
jmap_body_blob_read(struct mail_user *mu, const char *blob_id, char **data_r, size_t *len_r,
    char *type, size_t type_size)
{
	struct buf b;
	int r;

	buf_init(&b, BODY_BLOB_MAX);
	r = part_blob_read(mu, blob_id, &b, type, type_size);
	if (r < 0)
		log_warn("jmap part blob unreadable or too large blob=%s", blob_id);
	if (r <= 0) {
		buf_deinit(&b);
		return r;
	}
	*len_r = b.len;
	*data_r = b.len > 0 ? buf_steal(&b) : xstrdup("");
	buf_deinit(&b);
	return 1;
}

/* ---------------------------------------------------------------- Email/parse */

/* One blob parsed into an Email object; NULL when it is not a message (notParsable). */
static json_t *
parse_one(struct jmap_call *call, struct jmap_body_args *a, json_t *props, const char *blob,
    int *found_r)
{
	const unsigned char *data;
	unsigned char *map = NULL;
	size_t len = 0;
	struct buf b;
	struct mail_message *m;
	json_t *o;
	char type[160];
	int r;

	buf_init(&b, BODY_BLOB_MAX);
	*found_r = 1;
	if (jmap_email_id_parse(blob, 'B') != 0) {
		r = map_message(call->mu, jmap_email_id_parse(blob, 'B'), &map, &len);
		data = map;
	} else {
		/* a message/rfc822 part (§4.9: "an attached message") */
		r = part_blob_read(call->mu, blob, &b, type, sizeof(type));
		if (r > 0 && strcmp(type, "message/rfc822") != 0 &&
		    strcmp(type, "message/global") != 0) {
			buf_deinit(&b);
			return NULL;
		}
		data = (const unsigned char *)b.data;
		len = b.len;
	}
	if (r <= 0) {
		*found_r = r == 0 ? 0 : 1;	/* unreadable or too large: notParsable */
		buf_deinit(&b);
		return NULL;
	}
	m = mail_message_parse(data != NULL ? data : (const unsigned char *)"", len, NULL);
	o = json_object();
	/* §4.9: id, mailboxIds, keywords, receivedAt are null; threadId too (no thread) */
	(void)json_object_set_new(o, "id", json_null());
	if (want(props, parse_default, "blobId"))
		(void)json_object_set_new(o, "blobId", json_string(blob));
	if (want(props, parse_default, "threadId"))
		(void)json_object_set_new(o, "threadId", json_null());
	if (want(props, parse_default, "mailboxIds"))
		(void)json_object_set_new(o, "mailboxIds", json_null());
	if (want(props, parse_default, "keywords"))
		(void)json_object_set_new(o, "keywords", json_null());
	if (want(props, parse_default, "receivedAt"))
		(void)json_object_set_new(o, "receivedAt", json_null());
	/* the octets its download gives: a message with CRLF line ends, a part as it is */
	if (want(props, parse_default, "size"))
		(void)json_object_set_new(o, "size", json_integer((json_int_t)(map != NULL ?
		    mail_octets_size(m->data, m->len) : m->len)));
	if (want(props, parse_default, "preview")) {
		struct buf pv;

		buf_init(&pv, 8 * MAIL_PREVIEW_CHARS);
		if (mail_preview_write(&pv, m) < 0)
			buf_reset(&pv);
		(void)json_object_set_new(o, "preview", sane_json(a, pv.data != NULL ?
		    (const unsigned char *)pv.data : (const unsigned char *)"", pv.len));
		buf_deinit(&pv);
	}
	fill(a, props, parse_default, m, m->root, blob, o);
	mail_message_free(&m);
	if (map != NULL)
		munmap(map, len);
	buf_deinit(&b);
	return o;
}

void
jmap_email_parse(struct jmap_call *call)
{
	json_t *blobs = json_object_get(call->args, "blobIds");
	json_t *props = json_object_get(call->args, "properties");
	json_t *parsed, *notparsable, *notfound, *e;
	struct jmap_body_args a;
	size_t i;

	if (!jmap_check_account(call) ||
	    !jmap_check_id_list(call, blobs, true, "blobIds must be an array of Id"))
		return;
	if (!check_props(props, parse_known, email_body_props)) {
		jmap_set_error(call, "invalidArguments", "unknown property");
		return;
	}
	if (!jmap_body_args_parse(call, &a))
		return;
	parsed = json_object();
	notparsable = json_array();
	notfound = json_array();
	json_array_foreach(blobs, i, e) {
		const char *blob = json_string_value(e);
		int found;
		json_t *o;

		if (json_object_get(parsed, blob) != NULL)
			continue;
		o = parse_one(call, &a, props, blob, &found);
		if (o != NULL)
			(void)json_object_set_new(parsed, blob, o);
		else if (found > 0)
			(void)json_array_append(notparsable, e);
		else
			(void)json_array_append(notfound, e);
		if (a.used > BODY_RESPONSE_MAX) {
			json_decref(parsed);
			json_decref(notparsable);
			json_decref(notfound);
			jmap_set_error(call, "requestTooLarge", "the response would be too large");
			return;
		}
	}
	call->result = json_pack("{s:s, s:o, s:o, s:o}", "accountId", call->account_id,
	    "parsed", parsed, "notParsable", notparsable, "notFound", notfound);
}
