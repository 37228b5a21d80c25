/*
 * jmap_email.c — Email/query, Email/get, Email/changes (RFC 8621 §4) and blob download
 * over the user's store. Threads are not kept yet: each Email is its own thread ("T"
 * and the digits of its id). State strings are derived from the folders' UIDVALIDITY,
 * UIDNEXT and HIGHESTMODSEQ, so they change whenever something does.
 */
#include "jmap/jmap_local.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jmap/jmap_request.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/message.h"
#include "mail/preview.h"
#include "mail/rfc2047.h"
#include "mailproc/mail_user.h"
#include "store/store.h"

#define JMAP_HEADER_READ_MAX	(256 * 1024)	/* header block read for Email/get */
#define JMAP_ADDRESSES_MAX	256		/* addresses of one field */

/* ---------------------------------------------------------------- Email state */

/*
 * Email state (docs/jmap.md, "State"): "e1" then per folder ",GUID.UIDVALIDITY.UIDNEXT.
 * HIGHESTMODSEQ" (hex): enough to find what changed since from the MODSEQs alone.
 */
static void
estate_add(struct estate *st, const struct estate_folder *e)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 16;
		st->v = xreallocarray(st->v, st->cap, sizeof(*st->v));
	}
	st->v[st->n++] = *e;
}

static char *
estate_encode(const struct estate *st)
{
	struct buf b;

	buf_init(&b, SIZE_MAX / 2);
	(void)buf_append_str(&b, "e1");
	for (size_t i = 0; i < st->n; i++)
		(void)buf_appendf(&b, ",%s.%x.%x.%llx", st->v[i].guid, st->v[i].uidvalidity,
		    st->v[i].uidnext, (unsigned long long)st->v[i].modseq);
	(void)buf_append_c(&b, '\0');
	return buf_steal(&b);
}

static bool
hex_field(const char **s, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;
	int n = 0;

	for (; (**s >= '0' && **s <= '9') || (**s >= 'a' && **s <= 'f'); (*s)++, n++) {
		if (n == 16)
			return false;
		v = v << 4 | (uint64_t)(**s <= '9' ? **s - '0' : **s - 'a' + 10);
	}
	if (n == 0 || v > max)
		return false;
	*v_r = v;
	return true;
}

int
estate_decode(const char *s, struct estate *st)
{
	memset(st, 0, sizeof(*st));
	if (strncmp(s, "e1", 2) != 0)
		return -1;
	s += 2;
	while (*s == ',') {
		struct estate_folder e;
		const char *g = ++s;
		uint64_t uv, un, ms;
		size_t glen;

		while ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_')
			s++;
		glen = (size_t)(s - g);
		if (glen == 0 || glen > 64 || *s++ != '.' || !hex_field(&s, UINT32_MAX, &uv) ||
		    *s++ != '.' || !hex_field(&s, UINT32_MAX, &un) || *s++ != '.' ||
		    !hex_field(&s, UINT64_MAX, &ms) || st->n >= 100000)
			goto bad;
		memcpy(e.guid, g, glen);
		e.guid[glen] = '\0';
		e.uidvalidity = (uint32_t)uv;
		e.uidnext = (uint32_t)un;
		e.modseq = ms;
		estate_add(st, &e);
	}
	if (*s != '\0')
		goto bad;
	return 0;
bad:
	free(st->v);
	memset(st, 0, sizeof(*st));
	return -1;
}

static void
estate_current(const struct folders *f, struct estate *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < f->n; i++) {
		struct estate_folder e;

		snprintf(e.guid, sizeof(e.guid), "%s", f->v[i].guid);
		e.uidvalidity = f->v[i].st.uidvalidity;
		e.uidnext = f->v[i].st.uidnext;
		e.modseq = f->v[i].st.highestmodseq;
		estate_add(st, &e);
	}
}

char *
email_state(const struct folders *f)
{
	struct estate st;
	char *s;

	estate_current(f, &st);
	s = estate_encode(&st);
	free(st.v);
	return s;
}

char *
jmap_email_state(const struct folders *f)
{
	return email_state(f);
}

const struct estate_folder *
estate_find(const struct estate *st, const char *guid)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->v[i].guid, guid) == 0)
			return &st->v[i];
	return NULL;
}

/* One changed message instance. */
struct echange {
	uint64_t emailid, modseq;
	size_t folder;
};

static int
echange_cmp(const void *a, const void *b)
{
	const struct echange *x = a, *y = b;

	if (x->folder != y->folder)
		return x->folder < y->folder ? -1 : 1;
	if (x->modseq != y->modseq)
		return x->modseq < y->modseq ? -1 : 1;
	return 0;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Growing arrays of the changes and of the ids that had an instance at the old state. */
struct echanges {
	struct echange *ch;
	size_t nch, cap;
	uint64_t *before;
	size_t nbefore, capb;
	size_t folder;		/* of the expunges being told */
	uint32_t old_uidnext;
};

static void
echanges_add(struct echanges *e, uint64_t emailid, uint64_t modseq, size_t folder)
{
	if (e->nch == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 256;
		e->ch = xreallocarray(e->ch, e->cap, sizeof(*e->ch));
	}
	e->ch[e->nch].emailid = emailid;
	e->ch[e->nch].modseq = modseq;
	e->ch[e->nch++].folder = folder;
}

static void
echanges_before(struct echanges *e, uint64_t emailid)
{
	if (e->nbefore == e->capb) {
		e->capb = e->capb ? e->capb * 2 : 256;
		e->before = xreallocarray(e->before, e->capb, sizeof(*e->before));
	}
	e->before[e->nbefore++] = emailid;
}

/* An expunge since the old state is a change of its Email (store format 5 keeps the id):
 * it had an instance then when its UID was below the old UIDNEXT. */
static void
expunge_cb(void *ctx, uint32_t uid, uint64_t modseq, uint64_t emailid)
{
	struct echanges *e = ctx;

	if (uid >= e->old_uidnext)
		return;		/* created and expunged since: nothing to tell here */
	echanges_add(e, emailid, modseq, e->folder);
	echanges_before(e, emailid);
}

/*
 * RFC 8620 §5.2 for Emails from MODSEQs: a message whose MODSEQ is above the folder's
 * in the old state changed; it is created when no instance of its id (a copy keeps the
 * id) was there at the old state (UID below the old UIDNEXT of a folder of the old
 * state), else updated. An expunge since the old state (the store keeps the EMAILID
 * of each) changes its Email too: destroyed when no instance of the id is left, else
 * updated (a MOVE). A folder gone, with a new UIDVALIDITY, or whose expunges that old
 * were forgotten gives cannotCalculateChanges.
 */
void
jmap_email_changes(struct jmap_call *call)
{
	const char *since;
	struct estate old, mid;
	struct folders f;
	struct echanges ec = { 0 };
	struct echange *ch;
	size_t nch, take;
	uint64_t *before;		/* ids that had an instance at the old state */
	size_t nbefore;
	uint64_t *now = NULL;		/* ids that have an instance now */
	size_t nnow = 0, capn = 0;
	json_int_t max;
	bool more = false, cannot = false;
	json_t *created, *updated, *destroyed;
	char *newstate;

	if (!jmap_changes_args(call, &since, &max))
		return;
	if (estate_decode(since, &old) < 0) {
		jmap_set_error(call, "cannotCalculateChanges", NULL);
		return;
	}
	if (jmap_folders_open(call->mu, &f) < 0) {
		free(old.v);
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	for (size_t i = 0; i < old.n && !cannot; i++) {
		struct folder *fo = jmap_folder_by_guid(&f, old.v[i].guid);

		if (fo == NULL || fo->st.uidvalidity != old.v[i].uidvalidity)
			cannot = true;
	}
	for (size_t fi = 0; fi < f.n && !cannot; fi++) {
		const struct estate_folder *o = estate_find(&old, f.v[fi].guid);
		struct mailbox *box = f.v[fi].box;

		mailbox_msgs_load(box);
		if (o != NULL) {
			ec.folder = fi;
			ec.old_uidnext = o->uidnext;
			if (!mailbox_expunges_since(box, o->modseq, expunge_cb, &ec))
				cannot = true;	/* expunges that old are forgotten */
		}
		for (size_t k = 0; k < mailbox_count(box) && !cannot; k++) {
			const struct mailbox_msg *m = mailbox_msg_at(box, k);

			if (nnow == capn) {
				capn = capn ? capn * 2 : 256;
				now = xreallocarray(now, capn, sizeof(*now));
			}
			now[nnow++] = m->emailid;
			if (o != NULL && m->uid < o->uidnext)
				echanges_before(&ec, m->emailid);
			if (o != NULL && m->modseq <= o->modseq)
				continue;
			echanges_add(&ec, m->emailid, m->modseq, fi);
		}
	}
	ch = ec.ch;
	nch = ec.nch;
	before = ec.before;
	nbefore = ec.nbefore;
	if (cannot) {
		jmap_set_error(call, "cannotCalculateChanges", NULL);
		goto out;
	}
	if (nch > 0)
		qsort(ch, nch, sizeof(*ch), echange_cmp);
	take = nch;
	mid.v = NULL;
	mid.n = mid.cap = 0;
	if (max >= 0 && (json_int_t)nch > max) {
		/* the first max changes in folder and MODSEQ order, cut where a MODSEQ ends */
		take = (size_t)max;
		while (take > 0 && ch[take].folder == ch[take - 1].folder &&
		    ch[take].modseq == ch[take - 1].modseq)
			take--;
		if (take == 0) {
			jmap_set_error(call, "cannotCalculateChanges", "maxChanges is too small");
			goto out;
		}
		more = true;
		/* the intermediate state: folders before the cut as now, the cut folder at
		 * the last MODSEQ reported, the rest as in the old state */
		for (size_t fi = 0; fi < f.n; fi++) {
			const struct estate_folder *o = estate_find(&old, f.v[fi].guid);
			struct estate_folder e;

			snprintf(e.guid, sizeof(e.guid), "%s", f.v[fi].guid);
			e.uidvalidity = f.v[fi].st.uidvalidity;
			if (fi < ch[take - 1].folder) {
				e.uidnext = f.v[fi].st.uidnext;
				e.modseq = f.v[fi].st.highestmodseq;
			} else if (fi == ch[take - 1].folder) {
				e.uidnext = o != NULL ? o->uidnext : 1;
				e.modseq = ch[take - 1].modseq;
			} else if (o != NULL) {
				e = *o;
			} else {
				continue;	/* a new folder not reached: not in the state yet */
			}
			estate_add(&mid, &e);
		}
	}
	created = json_array();
	updated = json_array();
	destroyed = json_array();
	/* each id once (a copy in two folders is one Email), sorted; "before" sorted too */
	{
		uint64_t *ids = xcalloc(take + 1, sizeof(*ids));
		size_t nids = 0;

		for (size_t i = 0; i < take; i++)
			ids[nids++] = ch[i].emailid;
		if (nids > 0)
			qsort(ids, nids, sizeof(*ids), u64_cmp);
		if (nbefore > 0)
			qsort(before, nbefore, sizeof(*before), u64_cmp);
		if (nnow > 0)
			qsort(now, nnow, sizeof(*now), u64_cmp);
		for (size_t i = 0; i < nids; i++) {
			char id[18];
			bool existed, present;

			if (i > 0 && ids[i] == ids[i - 1])
				continue;
			existed = nbefore > 0 && bsearch(&ids[i], before, nbefore,
			    sizeof(*before), u64_cmp) != NULL;
			present = nnow > 0 && bsearch(&ids[i], now, nnow, sizeof(*now),
			    u64_cmp) != NULL;
			jmap_email_id(ids[i], id);
			if (present)
				(void)json_array_append_new(existed ? updated : created,
				    json_string(id));
			else if (existed)
				(void)json_array_append_new(destroyed, json_string(id));
		}
		free(ids);
	}
	newstate = more ? estate_encode(&mid) : email_state(&f);
	call->result = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:o}", "accountId",
	    call->account_id, "oldState", since, "newState", newstate, "hasMoreChanges", more,
	    "created", created, "updated", updated, "destroyed", destroyed);
	free(newstate);
	free(mid.v);
out:
	free(ec.ch);
	free(ec.before);
	free(now);
	free(old.v);
	jmap_folders_free(&f);
}
/* ---------------------------------------------------------------- Email/get */

static const char *const email_props[] = { "id", "blobId", "threadId", "mailboxIds",
	"keywords", "size", "receivedAt", "from", "to", "cc", "subject", "sentAt", "preview",
	NULL };

static json_t *
utc_date(time_t t)
{
	struct tm tm;
	char s[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(s);
}

/*
 * RFC 8621 §4.1.2.3 sentAt: the Date field as a Date (RFC 3339 with the sender's zone
 * offset, §1.4 of RFC 8620); null when it does not parse.
 */
json_t *
jmap_date_json(const char *raw, size_t len)
{
	time_t t;
	int tz;
	struct tm tm;
	char s[96];
	time_t local;

	if (mail_date_parse(raw, len, &t, &tz) < 0 || tz <= -24 * 60 || tz >= 24 * 60)
		return json_null();
	local = t + (time_t)tz * 60;
	if (gmtime_r(&local, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return json_null();
	snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+',
	    (tz < 0 ? -tz : tz) / 60, (tz < 0 ? -tz : tz) % 60);
	return json_string(s);
}

/* A JSON string of p[0..len): invalid UTF-8 (raw 8-bit headers) becomes U+FFFD. */
static json_t *
utf8_json(const char *p, size_t len)
{
	struct buf b;
	json_t *v;

	buf_init(&b, 4 * len + 16);
	for (size_t i = 0; i < len; ) {
		size_t n = mail_utf8_next((const unsigned char *)p + i, len - i, NULL);

		if (n == 0 || (n == 1 && p[i] == '\0')) {
			(void)buf_append_str(&b, n == 0 ? "\xef\xbf\xbd" : " ");
			i++;
			continue;
		}
		(void)buf_append(&b, p + i, n);
		i += n;
	}
	v = json_stringn(b.len > 0 ? (const char *)b.data : "", b.len);
	buf_deinit(&b);
	return v != NULL ? v : json_null();
}

/* A header text with RFC 2047 encoded words decoded. */
static json_t *
text_json(const char *raw)
{
	char *d = mail_rfc2047_decode_dup(raw, strlen(raw));
	json_t *v = utf8_json(d != NULL ? d : raw, strlen(d != NULL ? d : raw));

	free(d);
	return v;
}

static json_t *
addresses_json(const unsigned char *hdr, size_t len, const char *field)
{
	char *v = mail_header_get(hdr, len, field);
	struct mail_address *list;
	unsigned count;
	json_t *arr;

	if (v == NULL)
		return json_null();
	mail_address_parse(v, strlen(v), JMAP_ADDRESSES_MAX, &list, &count);
	free(v);
	arr = json_array();
	for (unsigned i = 0; i < count; i++) {
		const struct mail_address *a = &list[i];
		char *email;
		json_t *o;

		if (a->group_start || a->group_end || a->mailbox == NULL)
			continue;
		email = a->host != NULL ? xasprintf("%s@%s", a->mailbox, a->host) :
		    xstrdup(a->mailbox);
		o = json_object();
		(void)json_object_set_new(o, "name", a->name != NULL ? text_json(a->name) :
		    json_null());
		(void)json_object_set_new(o, "email", utf8_json(email, strlen(email)));
		(void)json_array_append_new(arr, o);
		free(email);
	}
	mail_address_list_free(&list, count);
	return arr;
}
/*
 * The list properties of an Email (what a client's message list shows) are kept in the
 * store's item cache (docs/formats.md, "items": item 9) as one JSON object, so a list
 * after the first reads no message file: the first Email/get of a message renders all
 * of them, later ones copy what they ask for.
 */
#define JMAP_LIST_ITEM		9
#define JMAP_LIST_KIND		1	/* change it when what the properties say changes */

static const char *const list_props[] = { "from", "to", "cc", "subject", "sentAt",
	"preview", NULL };

static void
list_item_cb(void *ctx, uint32_t uid, const unsigned char *data, size_t len)
{
	json_t **v = ctx;

	(void)uid;
	json_decref(*v);
	*v = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
}

/*
 * The properties a call asked for, as bits (EW_ and the index in email_props; the list
 * properties are consecutive, in list_props order), worked out once per call instead
 * of comparing names for every Email.
 */
#define EW(i)		(1u << (i))
#define EW_BLOBID	EW(1)
#define EW_THREADID	EW(2)
#define EW_MAILBOXIDS	EW(3)
#define EW_KEYWORDS	EW(4)
#define EW_SIZE		EW(5)
#define EW_RECEIVEDAT	EW(6)
#define EW_LIST0	7		/* from, to, cc, subject, sentAt, preview */
#define EW_FROM		EW(7)
#define EW_TO		EW(8)
#define EW_CC		EW(9)
#define EW_SUBJECT	EW(10)
#define EW_SENTAT	EW(11)
#define EW_PREVIEW	EW(12)
#define EW_LIST		(EW_FROM | EW_TO | EW_CC | EW_SUBJECT | EW_SENTAT | EW_PREVIEW)
#define EW_BODY		EW(13)		/* a body or header:* property */

static unsigned
email_want(json_t *props)
{
	unsigned w = 0;

	for (unsigned i = 0; email_props[i] != NULL; i++)
		if (jmap_want(props, email_props[i]))
			w |= EW(i);
	if (jmap_body_needed(props))
		w |= EW_BODY;
	return w;
}

/* The cached list properties of uid into o (those of w); false on a miss. */
static bool
list_item_get(struct mailbox *box, uint32_t uid, unsigned w, json_t *o)
{
	json_t *v = NULL;
	uint32_t done;

	(void)mailbox_items_walk(box, JMAP_LIST_ITEM, JMAP_LIST_KIND, uid, uid, 0,
	    list_item_cb, &v, &done);
	if (!json_is_object(v)) {
		json_decref(v);
		return false;
	}
	for (const char *const *p = list_props; *p != NULL; p++)
		if (json_object_get(v, *p) == NULL) {
			json_decref(v);		/* not ours, or damaged: render it again */
			return false;
		}
	for (unsigned i = 0; list_props[i] != NULL; i++)
		if (w & EW(EW_LIST0 + i))
			(void)json_object_set(o, list_props[i], json_object_get(v,
			    list_props[i]));
	json_decref(v);
	return true;
}

/* The header-derived properties of message uid of box (and preview from a full parse). */
static int
email_content(struct mailbox *box, uint32_t uid, json_t *props, unsigned w, json_t *o,
    struct jmap_body_args *ba)
{
	bool need_hdr = (w & (EW_FROM | EW_TO | EW_CC | EW_SUBJECT | EW_SENTAT)) != 0;
	bool need_preview = (w & EW_PREVIEW) != 0;
	bool need_body = (w & EW_BODY) != 0;
	json_t *all = NULL;		/* the list properties rendered for the cache */
	unsigned w_in = w;
	struct stat sb;
	unsigned char *map = NULL;
	int fd;

	if (!need_hdr && !need_preview && !need_body)
		return 0;
	if (!need_body) {
		if (list_item_get(box, uid, w, o))
			return 0;
		/* a miss: render every list property, keep them, give the wanted ones */
		all = json_object();
		w |= EW_LIST;
		need_hdr = need_preview = true;
	}
	if (mailbox_msg_open(box, uid, &fd) != STORE_OK) {
		json_decref(all);
		return -1;
	}
	if (fstat(fd, &sb) < 0 || (sb.st_size > 0 && (map = mmap(NULL, (size_t)sb.st_size,
	    PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)) {
		close(fd);
		json_decref(all);
		return -1;
	}
	close(fd);
	{
		json_t *o_in = o;
		size_t len = (size_t)sb.st_size;
		bool complete;
		size_t hlen = map != NULL ? mail_header_block_end(map, MIN(len,
		    (size_t)JMAP_HEADER_READ_MAX), NULL, &complete) : 0;
		const unsigned char *hdr = map != NULL ? map : (const unsigned char *)"";

		/* rendering for the cache: every list property into all */
		if (all != NULL)
			o = all;

		if (w & EW_SUBJECT) {
			char *s = mail_header_get(hdr, hlen, "Subject");

			(void)json_object_set_new(o, "subject", s != NULL ? text_json(s) :
			    json_null());
			free(s);
		}
		if (w & EW_FROM)
			(void)json_object_set_new(o, "from", addresses_json(hdr, hlen, "From"));
		if (w & EW_TO)
			(void)json_object_set_new(o, "to", addresses_json(hdr, hlen, "To"));
		if (w & EW_CC)
			(void)json_object_set_new(o, "cc", addresses_json(hdr, hlen, "Cc"));
		if (w & EW_SENTAT) {
			char *d = mail_header_get(hdr, hlen, "Date");

			(void)json_object_set_new(o, "sentAt", d != NULL ?
			    jmap_date_json(d, strlen(d)) : json_null());
			free(d);
		}
		if (need_preview || need_body) {
			struct mail_message *m = mail_message_parse(hdr, len, NULL);
			struct buf pv;

			buf_init(&pv, 8 * MAIL_PREVIEW_CHARS);
			if (need_preview && mail_preview_write(&pv, m) < 0)
				buf_reset(&pv);
			/* mail_preview_write gives valid UTF-8 */
			if (need_preview)
				(void)json_object_set_new(o, "preview", utf8_json(pv.len > 0 ?
				    (const char *)pv.data : "", pv.len));
			buf_deinit(&pv);
			if (need_body)
				jmap_body_fill(ba, props, m, json_string_value(json_object_get(o,
				    "id")), o);
			mail_message_free(&m);
		}
		if (all != NULL) {
			char *text = json_dumps(all, JSON_COMPACT);

			if (text != NULL)
				mailbox_items_put(box, uid, JMAP_LIST_ITEM, JMAP_LIST_KIND, text,
				    strlen(text));
			free(text);
			for (unsigned i = 0; list_props[i] != NULL; i++)
				if (w_in & EW(EW_LIST0 + i))
					(void)json_object_set(o_in, list_props[i],
					    json_object_get(all, list_props[i]));
			json_decref(all);
		}
	}
	if (map != NULL)
		munmap(map, (size_t)sb.st_size);
	return 0;
}

static json_t *
keywords_json(struct mailbox *box, const struct mailbox_msg *m)
{
	json_t *k = json_object();

	if (m->flags & MAILBOX_FLAG_SEEN)
		(void)json_object_set_new(k, "$seen", json_true());
	if (m->flags & MAILBOX_FLAG_FLAGGED)
		(void)json_object_set_new(k, "$flagged", json_true());
	if (m->flags & MAILBOX_FLAG_ANSWERED)
		(void)json_object_set_new(k, "$answered", json_true());
	if (m->flags & MAILBOX_FLAG_DRAFT)
		(void)json_object_set_new(k, "$draft", json_true());
	for (unsigned i = 0; i < 26; i++) {
		const char *name;

		if ((m->keywords & (1u << i)) == 0 || (name = mailbox_keyword_name(box, i)) == NULL)
			continue;
		/* RFC 8621 §4.1.1: keywords are lower-case */
		{
			char *lc = xstrdup(name);

			for (char *p = lc; *p != '\0'; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			(void)json_object_set_new(k, lc, json_true());
			free(lc);
		}
	}
	return k;
}

/* Where a wanted Email of Email/get is: the first folder (in folder order) that holds
 * it and its lowest UID there. */
struct eget_hit {
	size_t fi;
	uint32_t uid;
	uint64_t tid;
};

/* The object of one Email from its message uid of folder fi; NULL when it went away. */
static json_t *
email_object(struct jmap_call *call, struct folders *f, const struct eget_hit *h,
    uint64_t eid, json_t *mailbox_ids, json_t *props, unsigned w, struct jmap_body_args *ba)
{
	struct mailbox *box = f->v[h->fi].box;
	const struct mailbox_msg *m;
	char id[18];
	json_t *o;

	if (mailbox_msg_info(box, h->uid, &m) != STORE_OK)
		return NULL;
	o = json_object();
	jmap_email_id(eid, id);
	(void)json_object_set_new(o, "id", json_string(id));
	id[0] = 'B';
	if (w & EW_BLOBID)
		(void)json_object_set_new(o, "blobId", json_string(id));
	if (w & EW_THREADID) {
		jmap_email_id(h->tid, id);
		id[0] = 'T';
		(void)json_object_set_new(o, "threadId", json_string(id));
	}
	if (w & EW_MAILBOXIDS)
		(void)json_object_set(o, "mailboxIds", mailbox_ids);
	if (w & EW_KEYWORDS)
		(void)json_object_set_new(o, "keywords", keywords_json(box, m));
	if (w & EW_SIZE)
		(void)json_object_set_new(o, "size", json_integer((json_int_t)m->vsize));
	if (w & EW_RECEIVEDAT)
		(void)json_object_set_new(o, "receivedAt", utc_date(m->internaldate));
	/* m is not used after this: the folder may be rescanned */
	if (email_content(box, h->uid, props, w, o, ba) < 0)
		log_warn("jmap email content unreadable folder=%s uid=%u", f->v[h->fi].name,
		    h->uid);
	return o;
}

/*
 * Each wanted Email is found in each folder through the store's EMAILID table
 * (mailbox_emailid_uids), never by walking the messages; the thread ids of all of
 * them are read in one index transaction, those not assigned yet are assigned then.
 */
void
jmap_email_get(struct jmap_call *call)
{
	json_t *ids = json_object_get(call->args, "ids");
	json_t *props = json_object_get(call->args, "properties");
	json_t *list, *notfound, *e;
	json_t **mbids;
	struct folders f;
	struct eget_hit *hits;
	uint64_t *want_ids, *eids, *tids;
	size_t nwant = 0, nfound = 0, i;
	unsigned wmask;
	char *state;
	struct jmap_body_args ba;

	if (!jmap_check_account(call) || !jmap_check_ids(call, ids) ||
	    !jmap_body_check_properties(call, props, email_props) ||
	    !jmap_body_args_parse(call, &ba))
		return;
	if (ids == NULL || json_is_null(ids)) {
		jmap_set_error(call, "requestTooLarge", "give ids (from Email/query)");
		return;
	}
	if (jmap_folders_open(call->mu, &f) < 0) {
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	wmask = email_want(props);
	nwant = json_array_size(ids);
	want_ids = xcalloc(nwant + 1, sizeof(*want_ids));
	hits = xcalloc(nwant + 1, sizeof(*hits));
	mbids = xcalloc(nwant + 1, sizeof(*mbids));
	eids = xcalloc(nwant + 1, sizeof(*eids));
	tids = xcalloc(nwant + 1, sizeof(*tids));
	list = json_array();
	notfound = json_array();
	json_array_foreach(ids, i, e) {
		want_ids[i] = jmap_email_id_parse(jmap_resolve_id(call, json_string_value(e)),
		    'M');
		/* the same id again in ids: one object (§5.1), at its first place */
		for (size_t w = 0; w < i && want_ids[i] != 0; w++)
			if (want_ids[w] == want_ids[i])
				want_ids[i] = 0;
	}
	/* where each is: its mailboxIds, and the message its properties come from */
	for (size_t w = 0; w < nwant; w++) {
		if (want_ids[w] == 0)
			continue;
		for (size_t fi = 0; fi < f.n; fi++) {
			uint32_t uid;

			if (mailbox_emailid_uids(f.v[fi].box, want_ids[w], &uid, 1) == 0)
				continue;
			if (mbids[w] == NULL) {
				mbids[w] = json_object();
				hits[w].fi = fi;
				hits[w].uid = uid;
				eids[nfound++] = want_ids[w];
			}
			(void)json_object_set_new(mbids[w], f.v[fi].guid, json_true());
		}
	}
	if ((wmask & EW_THREADID) && nfound > 0) {
		size_t k = 0;

		mstore_threads_lookup(mail_user_store(call->mu), nfound, eids, tids);
		for (size_t w = 0; w < nwant; w++) {
			if (mbids[w] == NULL)
				continue;
			hits[w].tid = tids[k++];
			if (hits[w].tid == 0)
				hits[w].tid = jmap_thread_of(call->mu, f.v[hits[w].fi].box,
				    hits[w].uid, want_ids[w]);
		}
	}
	json_array_foreach(ids, i, e) {
		json_t *o = mbids[i] != NULL ? email_object(call, &f, &hits[i], want_ids[i],
		    mbids[i], props, wmask, &ba) : NULL;

		if (o != NULL)
			(void)json_array_append_new(list, o);
		else if (want_ids[i] != 0 || jmap_email_id_parse(json_string_value(e), 'M') == 0)
			(void)json_array_append(notfound, e);
		json_decref(mbids[i]);
	}
	state = email_state(&f);
	call->result = json_pack("{s:s, s:s, s:o, s:o}", "accountId", call->account_id,
	    "state", state, "list", list, "notFound", notfound);
	if (ba.used > ba.budget) {
		/* header values past the response's bound (jmap_body.c) */
		json_decref(call->result);
		call->result = NULL;
		jmap_set_error(call, "requestTooLarge", "the response would be too large");
	}
	free(state);
	free(want_ids);
	free(hits);
	free(mbids);
	free(eids);
	free(tids);
	jmap_folders_free(&f);
}

int
jmap_mail_blob_open(struct mail_user *mu, const char *blob_id, int *fd_r)
{
	uint64_t want = jmap_email_id_parse(blob_id, 'B');
	struct folders f;
	int found = 0;

	if (want == 0)
		return 0;
	if (jmap_folders_open(mu, &f) < 0)
		return -1;
	for (size_t fi = 0; fi < f.n && found == 0; fi++) {
		uint32_t uid;

		if (mailbox_emailid_uids(f.v[fi].box, want, &uid, 1) > 0)
			found = mailbox_msg_open(f.v[fi].box, uid, fd_r) == STORE_OK ? 1 : -1;
	}
	jmap_folders_free(&f);
	return found;
}
