/*
 * cmd_search.c — SEARCH and UID SEARCH (RFC 3501 §6.4.4) with ESEARCH results (RFC
 * 4731 RETURN MIN MAX COUNT ALL). Flag, size, date, UID and sequence keys use the
 * store's records. Header keys on the ENVELOPE fields (FROM TO CC BCC SUBJECT SENT*,
 * HEADER Date/Subject/From/...) use the header fields of the rendered-item cache
 * (imap_rcache.c), then those the store's persistent index kept from an earlier process
 * (mailbox_hdrcache_get), and otherwise read only the message header (no mapping, no
 * MIME parse of the body), caching those fields in both; a text key on a cached field
 * (FROM, SUBJECT, HEADER To, ...) searches the cached block where it lies, without a
 * copy or a parse (header_key_cached, mail_search_header_block). Other header keys
 * read the header; text keys open the message through the parsed-message cache only
 * when such a key is reached. Text matching is i;unicode-casemap substring
 * matching (src/mail/search.h), bounded per message.
 */
#include "imap/imap_local.h"
#include "imap/imap_context.h"
#include "imap/imap_search_parse.h"
#include "imap/imap_thread.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/address.h"
#include "mail/rfc2047.h"
#include "mail/search.h"
#include "mail/subject.h"
#include "mailproc/mail_thread.h"

struct search_ctx {
	struct imap_client *client;
	struct imap_view *view;
	size_t idx;			/* view index of the message */
	/*
	 * A copy: opening the message may rescan the folder, which invalidates pointers
	 * into the store's message array.
	 */
	struct mailbox_msg msgcopy;
	const struct mailbox_msg *m;	/* == &msgcopy */
	struct imap_cached_msg *msg;	/* loaded on demand */
	struct mail_message *hdrmsg;	/* header-only parse (of *hdrbuf) */
	bool hdr_full;			/* hdrmsg is the whole header, not the rcache fields */
	unsigned char **hdrbuf;		/* the run's reused header buffer */
	size_t *hdrcap;
	struct buf *tmp;		/* the run's scratch for IMAP_RC_HEADER */
	/* the message's IMAP_RC_HEADER block read from the store's index into *hdrbuf */
	const unsigned char *blk;
	size_t blk_len;
	bool hdrcache_missed;		/* the store's index has no such block */
	bool load_failed;
	bool error;
};

static void
free_matcher(void *p)
{
	struct mail_search_key *k = p;

	mail_search_key_destroy(&k);
}

static const struct mail_message *
ctx_message(struct search_ctx *s)
{
	enum store_status st;

	if (s->msg == NULL && !s->load_failed) {
		st = imap_msgcache_get_scan(s->client->iu->cache, s->view->mbox, s->m->uid,
		    true, &s->msg);
		if (st != STORE_OK) {
			s->load_failed = true;
			if (st != STORE_EXPUNGED)
				s->error = true;
		}
	}
	return s->msg != NULL ? imap_cached_msg_parse(s->msg) : NULL;
}

/* The root header for a key on field (NULL: every field), or NULL. */
static const struct mail_message *
ctx_header(struct search_ctx *s, const char *field)
{
	struct imap_rcache *rc = s->client->iu->rcache;
	struct mailbox *mb = s->view->mbox;
	const char *name = mailbox_name(mb), *d;
	uint32_t uidv = mailbox_uidvalidity(mb), uid = s->m->uid;
	bool reduced_ok = field != NULL && imap_rc_header_field(field), complete;
	enum store_status st;
	size_t len;

	if (s->msg != NULL)
		return imap_cached_msg_parse(s->msg);
	if (s->hdrmsg != NULL && (s->hdr_full || reduced_ok))
		return s->hdrmsg;
	if (s->load_failed)
		return NULL;
	if (s->hdrmsg != NULL)
		mail_message_free(&s->hdrmsg);
	if (reduced_ok && imap_rcache_get(rc, name, uidv, uid, IMAP_RC_HEADER, &d, &len)) {
		/* a copy: a later put may move the rcache's arena */
		if (*s->hdrcap < len) {
			*s->hdrcap = len;
			*s->hdrbuf = xrealloc(*s->hdrbuf, len);
		}
		memcpy(*s->hdrbuf, d, len);
		s->blk = NULL;
		s->hdrmsg = mail_message_parse(*s->hdrbuf, len, NULL);
		s->hdr_full = false;
		return s->hdrmsg;
	}
	if (reduced_ok && s->blk != NULL) {
		s->hdrmsg = mail_message_parse(s->blk, s->blk_len, NULL);
		s->hdr_full = false;
		return s->hdrmsg;
	}
	s->blk = NULL;		/* *hdrbuf is overwritten below */
	if (reduced_ok && !s->hdrcache_missed && mailbox_hdrcache_get(mb, uid,
	    IMAP_RC_HEADER_KIND, s->hdrbuf, s->hdrcap, &len) == 1) {
		/* kept in the store's index by an earlier process: no file read */
		imap_rcache_put(rc, name, uidv, uid, IMAP_RC_HEADER, *s->hdrbuf, len);
		s->hdrmsg = mail_message_parse(*s->hdrbuf, len, NULL);
		s->hdr_full = false;
		return s->hdrmsg;
	}
	st = imap_msg_read_header(mb, uid, s->hdrbuf, s->hdrcap, &len, &complete);
	if (st != STORE_OK) {
		s->load_failed = true;
		if (st != STORE_EXPUNGED)
			s->error = true;
		return NULL;
	}
	if (!complete)
		return ctx_message(s);
	s->hdrmsg = mail_message_parse(*s->hdrbuf, len, NULL);
	s->hdr_full = true;
	if (!imap_rcache_has(rc, name, uidv, uid, IMAP_RC_HEADER) &&
	    imap_rc_header_build(s->hdrmsg->data + s->hdrmsg->root->hdr_off,
	    s->hdrmsg->root->hdr_len, s->tmp) == 0) {
		imap_rcache_put(rc, name, uidv, uid, IMAP_RC_HEADER, s->tmp->data, s->tmp->len);
		mailbox_hdrcache_put(mb, uid, IMAP_RC_HEADER_KIND, s->tmp->data, s->tmp->len);
	}
	return s->hdrmsg;
}

static struct mail_search_key *
key_matcher(struct imap_search_key *k)
{
	if (k->matcher == NULL)
		k->matcher = mail_search_key_create(k->str, k->str_len);
	return k->matcher;
}

/*
 * A header key on one of the cached header fields (IMAP_RC_HEADER), searched in the
 * cached block where it lies, without a copy or a parse: in the rendered-item cache,
 * else in the store's index (then kept in the rendered-item cache and in *hdrbuf for
 * the message's other keys). The answer is that of ctx_header + mail_search_header.
 * Returns false when it cannot tell (no cached block, the message is already read):
 * the caller takes the general path.
 */
static bool
header_key_cached(struct search_ctx *s, struct imap_search_key *k, bool *hit_r)
{
	struct imap_rcache *rc = s->client->iu->rcache;
	struct mailbox *mb = s->view->mbox;
	const char *d;
	size_t len;
	int r;

	if (k->cached_field == 0)
		k->cached_field = k->field != NULL && imap_rc_header_field(k->field) ? 1 : -1;
	if (k->cached_field < 0 || s->msg != NULL || s->hdrmsg != NULL || s->load_failed)
		return false;
	if (s->blk == NULL) {
		if (imap_rcache_get(rc, mailbox_name(mb), mailbox_uidvalidity(mb), s->m->uid,
		    IMAP_RC_HEADER, &d, &len)) {
			/* no rcache put until the search below is done: d stays valid */
			r = mail_search_header_block(key_matcher(k), (const unsigned char *)d,
			    len, k->field);
			if (r < 0)
				return false;
			*hit_r = r > 0;
			return true;
		}
		if (s->hdrcache_missed || mailbox_hdrcache_get(mb, s->m->uid,
		    IMAP_RC_HEADER_KIND, s->hdrbuf, s->hdrcap, &len) != 1) {
			s->hdrcache_missed = true;
			return false;
		}
		/* kept in the store's index by an earlier process: no file read */
		imap_rcache_put(rc, mailbox_name(mb), mailbox_uidvalidity(mb), s->m->uid,
		    IMAP_RC_HEADER, *s->hdrbuf, len);
		s->blk = *s->hdrbuf;
		s->blk_len = len;
	}
	r = mail_search_header_block(key_matcher(k), s->blk, s->blk_len, k->field);
	if (r < 0)
		return false;
	*hit_r = r > 0;
	return true;
}

/* Day (days since the epoch) of t in zone tz_min. */
static int64_t
day_of(time_t t, int tz_min)
{
	int64_t x = (int64_t)t + (int64_t)tz_min * 60;

	return x >= 0 ? x / 86400 : -((-x + 86399) / 86400);
}

static int
cmp_day(int64_t msg_day, time_t key)
{
	int64_t k = day_of(key, 0);

	return msg_day < k ? -1 : msg_day > k ? 1 : 0;
}

static bool
sent_day(struct search_ctx *s, int64_t *day_r)
{
	const struct mail_message *m = ctx_header(s, "Date");
	char *v;
	time_t t;
	int tz;
	bool ok = false;

	if (m == NULL)
		return false;
	v = mail_header_get(m->data + m->root->hdr_off, m->root->hdr_len, "Date");
	if (v != NULL && mail_date_parse(v, strlen(v), &t, &tz) == 0) {
		/* RFC 3501: disregarding time and timezone: the date as written */
		*day_r = day_of(t, tz);
		ok = true;
	}
	free(v);
	return ok;
}

/* The save date's day (RFC 8514), the INTERNALDATE's for a message older than the
 * index (as FETCH SAVEDATE shows it). */
static int64_t
saved_day(const struct mailbox_msg *m)
{
	return day_of(m->savedate != 0 ? m->savedate : m->internaldate, 0);
}

static bool
eval(struct search_ctx *s, struct imap_search_key *k)
{
	const struct mailbox_msg *m = s->m;
	const struct imap_view_msg *vm = &s->view->msgs[s->idx];
	const struct mail_message *msg;
	struct imap_search_key *c;
	int64_t day;
	int idx;
	bool hit;

	switch (k->type) {
	case SEARCH_ALL:
		return true;
	case SEARCH_AND:
		for (c = k->child; c != NULL; c = c->next)
			if (!eval(s, c))
				return false;
		return true;
	case SEARCH_OR:
		return eval(s, k->child) || eval(s, k->child->next);
	case SEARCH_NOT:
		return !eval(s, k->child);
	case SEARCH_SEQSET:
		return seqset_contains(k->set, (uint32_t)s->idx + 1);
	case SEARCH_UIDSET:
		return seqset_contains(k->set, m->uid);
	case SEARCH_FLAG:
		return (m->flags & k->flag) != 0;
	case SEARCH_KEYWORD:
		idx = mailbox_keyword_lookup(s->view->mbox, k->str);
		return idx >= 0 && (m->keywords & (1u << idx)) != 0;
	case SEARCH_RECENT:
		return vm->recent;
	case SEARCH_NEW:
		return vm->recent && !(m->flags & MAILBOX_FLAG_SEEN);
	case SEARCH_OLD:
		return !vm->recent;
	case SEARCH_LARGER:
		return m->vsize != MAILBOX_SIZE_UNKNOWN && m->vsize > k->number;
	case SEARCH_SMALLER:
		return m->vsize != MAILBOX_SIZE_UNKNOWN && m->vsize < k->number;
	case SEARCH_BEFORE:
		return cmp_day(day_of(m->internaldate, 0), k->date) < 0;
	case SEARCH_ON:
		return cmp_day(day_of(m->internaldate, 0), k->date) == 0;
	case SEARCH_SINCE:
		return cmp_day(day_of(m->internaldate, 0), k->date) >= 0;
	case SEARCH_SAVEDBEFORE:
		return cmp_day(saved_day(m), k->date) < 0;
	case SEARCH_SAVEDON:
		return cmp_day(saved_day(m), k->date) == 0;
	case SEARCH_SAVEDSINCE:
		return cmp_day(saved_day(m), k->date) >= 0;
	case SEARCH_SAVEDATESUPPORTED:
		return true;	/* every folder keeps save dates */
	case SEARCH_MODSEQ:
		return m->modseq >= k->number;
	case SEARCH_EMAILID:
		return k->number != 0 && mailbox_msg_emailid(s->view->mbox, m) == k->number;
	case SEARCH_THREADID:
		/* RFC 8474 §5.2 (mail_thread.h); s->m is a copy: a read may rescan */
		return k->number != 0 && mail_thread_id(s->client->user->store, s->view->mbox,
		    s->m->uid, mailbox_msg_emailid(s->view->mbox, s->m)) == k->number;
	case SEARCH_OLDER:
		return m->internaldate < k->date;
	case SEARCH_YOUNGER:
		return m->internaldate >= k->date;
	case SEARCH_SENTBEFORE:
		return sent_day(s, &day) && cmp_day(day, k->date) < 0;
	case SEARCH_SENTON:
		return sent_day(s, &day) && cmp_day(day, k->date) == 0;
	case SEARCH_SENTSINCE:
		return sent_day(s, &day) && cmp_day(day, k->date) >= 0;
	case SEARCH_HEADER:
		if (header_key_cached(s, k, &hit))
			return hit;
		msg = ctx_header(s, k->field);
		return msg != NULL && mail_search_header(key_matcher(k), msg, NULL, k->field);
	case SEARCH_BODY:
		msg = ctx_message(s);
		return msg != NULL && mail_search_body(key_matcher(k), msg, false);
	case SEARCH_TEXT:
		msg = ctx_message(s);
		return msg != NULL && mail_search_body(key_matcher(k), msg, true);
	}
	return false;
}

static void
resolve_sets(struct imap_search_key *k, struct imap_view *v, time_t now)
{
	uint32_t max_uid = v->count > 0 ? v->msgs[v->count - 1].uid : 0;

	for (; k != NULL; k = k->next) {
		/* RFC 5032: within number seconds before the command (from its start) */
		if (k->type == SEARCH_OLDER || k->type == SEARCH_YOUNGER)
			k->date = now - (time_t)k->number;
		if (k->saved && k->set == NULL)
			k->set = imap_view_searchres(v);
		if (k->type == SEARCH_SEQSET)
			seqset_resolve(k->set, (uint32_t)v->count);
		else if (k->type == SEARCH_UIDSET)
			seqset_resolve(k->set, max_uid);
		resolve_sets(k->child, v, now);
	}
}

/* Does a UID set of the program end in "*" (before resolve_sets)? */
static bool
prog_has_star(const struct imap_search_key *k)
{
	for (; k != NULL; k = k->next) {
		if (k->type == SEARCH_UIDSET && k->set != NULL && seqset_has_star(k->set))
			return true;
		if (prog_has_star(k->child))
			return true;
	}
	return false;
}

struct sort_run;
static void sort_run_free(struct sort_run *sr);
struct search_run;
static void search_save(struct imap_client *c, struct search_run *r);

/* A SEARCH in progress: evaluated in slices so other sessions of the user keep going. */
struct search_run {
	struct imap_search_program *prog;
	struct seqset *hits;
	struct buf out;
	size_t next;			/* next view index */
	uint64_t count;
	uint32_t min, max;
	uint64_t max_modseq;		/* of the hits (RFC 7162 §3.1.5) */
	struct seqset *save;		/* RETURN (SAVE): the UIDs found (RFC 5182) */
	uint32_t save_min, save_max;
	bool error;
	size_t hint;			/* store index of the next message, likely */
	unsigned char *hdrbuf;		/* header reads, reused */
	size_t hdrcap;
	struct buf tmp;
	struct sort_run *sort;		/* SORT: the hits and their keys */
	bool no_update;			/* RETURN (UPDATE) of a program it cannot keep */
};

#define SEARCH_SLICE_MSGS	2000	/* messages per slice when no file is opened */
#define SEARCH_SLICE_MS		20	/* time per slice */

static void
search_run_free(void *p)
{
	struct search_run *r = p;

	imap_search_program_free(&r->prog, free_matcher);
	seqset_destroy(&r->hits);
	seqset_destroy(&r->save);
	buf_deinit(&r->out);
	buf_deinit(&r->tmp);
	free(r->hdrbuf);
	sort_run_free(r->sort);
	free(r);
}


/* ---------------------------------------------------------------- SORT */

/* RFC 5256 §3 sort keys, RFC 5957 DISPLAYFROM and DISPLAYTO. */
enum sort_key {
	SORT_ARRIVAL, SORT_CC, SORT_DATE, SORT_FROM, SORT_SIZE, SORT_SUBJECT, SORT_TO,
	SORT_DISPLAYFROM, SORT_DISPLAYTO,
};
#define SORT_MAX_CRITERIA	16
#define SORT_ARENA_MAX		(256u * 1024 * 1024)	/* folded key strings per SORT */

struct sort_criterion {
	enum sort_key key;
	bool reverse;
};

/* One hit: its view index and what is answered (sequence number or UID). Its keys
 * are n_slots values at keys[item number * n_slots]: a number for ARRIVAL, DATE and
 * SIZE; for a string three, its first 16 octets as two big-endian numbers (zero-padded:
 * most comparisons end there) and then (offset << 32 | length) in the arena. */
struct sort_item {
	uint32_t idx, id;
};

/* Keys blocks read from the store's index for a range of UIDs (sort_batch_load). */
struct sort_batch {
	uint32_t *uid, *off, *len;
	size_t n, cap, next;
	struct buf data;
	uint32_t lo, hi;	/* the UIDs it answers for (no entry: not in the index) */
	bool valid;
};

struct sort_run {
	struct sort_criterion crit[SORT_MAX_CRITERIA];
	unsigned n_crit;
	uint8_t slot[SORT_MAX_CRITERIA];	/* each criterion's first slot */
	unsigned n_slots;
	struct sort_item *items;
	size_t n_items, cap;
	uint64_t *keys;
	struct buf arena;	/* folded strings */
	struct buf val, tmp;	/* scratch */
	struct buf blk;		/* a message's keys block being built */
	struct buf oldblk;	/* the cached block it grows */
	struct buf tmp2, disp[2];	/* scratch: a field's value, DISPLAYFROM/TO text */
	uint8_t parts;		/* SORT_PART_* the criteria (or THREAD) read */
	char memo_key[4 + 2 * SORT_MAX_CRITERIA];	/* sort_memo_key; 0 length: none */
	size_t memo_key_len;
	struct sort_batch batch;
	struct imap_thread *thread;	/* THREAD instead of SORT */
	enum imap_thread_algorithm alg;
	size_t removed;		/* RFC 5267 contexts: items removed since the arena's last
				   compaction */
};

static void
sort_run_free(struct sort_run *sr)
{
	if (sr == NULL)
		return;
	free(sr->items);
	free(sr->keys);
	buf_deinit(&sr->arena);
	buf_deinit(&sr->val);
	buf_deinit(&sr->tmp);
	buf_deinit(&sr->blk);
	buf_deinit(&sr->oldblk);
	buf_deinit(&sr->tmp2);
	buf_deinit(&sr->disp[0]);
	buf_deinit(&sr->disp[1]);
	free(sr->batch.uid);
	free(sr->batch.off);
	free(sr->batch.len);
	buf_deinit(&sr->batch.data);
	imap_thread_destroy(&sr->thread);
	free(sr);
}

static void
sort_run_init_bufs(struct sort_run *sr)
{
	buf_init(&sr->val, 4 * MAIL_BASE_SUBJECT_MAX);
	buf_init(&sr->tmp, BUF_UNLIMITED);
	buf_init(&sr->blk, BUF_UNLIMITED);
	buf_init(&sr->oldblk, BUF_UNLIMITED);
	buf_init(&sr->tmp2, BUF_UNLIMITED);
	buf_init(&sr->disp[0], 4 * MAIL_BASE_SUBJECT_MAX);
	buf_init(&sr->disp[1], 4 * MAIL_BASE_SUBJECT_MAX);
	buf_init(&sr->batch.data, BUF_UNLIMITED);
}

/*
 * The sort keys of one message, kept with its other derived items in the rendered-item
 * cache (IMAP_RC_SORT) and in the store's index (item IMAP_RC_SORT + 1, format tag
 * IMAP_RC_SORT_KIND; messages are immutable): the sent date (8 octets, big-endian, so
 * it orders as the date), one octet of SORT_BLOCK_* flags, one octet of the SORT_PART_*
 * parts computed, then eight strings, each a 2-octet big-endian length and its octets
 * (cut at 65535): the i;unicode-casemap folding of SUBJECT, FROM, TO, CC, DISPLAYFROM
 * and DISPLAYTO, then THREAD's raw Message-ID and References (or In-Reply-To). The
 * date and the base subject are always there (one short pass over the header finds
 * both); the other parts only once a SORT or THREAD needed them (empty strings before:
 * the block then grows), so a date or subject sort parses no address.
 */
#define SORT_BLOCK_HDR	10	/* date, flags, parts */
#define SORT_BLOCK_REPLY	0x01	/* the base subject had a reply/forward marker */
#define SORT_BLOCK_IRT		0x02	/* the references string is In-Reply-To */
#define SORT_PART_SUBJECT	0x01
#define SORT_PART_FROM		0x02	/* FROM and DISPLAYFROM */
#define SORT_PART_TO		0x04	/* TO and DISPLAYTO */
#define SORT_PART_CC		0x08
#define SORT_PART_IDS		0x10	/* Message-ID, References or In-Reply-To */
#define SORT_BLOCK_IDS		2	/* raw strings after the keys: Message-ID, refs */
#define SORT_BLOCK_STRINGS	8
#define SORT_BLOCK_REFS_MAX	16384	/* the end of a longer References is kept */
#define SORT_BATCH_BYTES	(1024 * 1024)	/* blocks read from the index at once */
static const enum sort_key sort_block_order[] = {
	SORT_SUBJECT, SORT_FROM, SORT_TO, SORT_CC, SORT_DISPLAYFROM, SORT_DISPLAYTO,
};
/* the part each string of the block belongs to */
static const uint8_t sort_block_part[SORT_BLOCK_STRINGS] = {
	SORT_PART_SUBJECT, SORT_PART_FROM, SORT_PART_TO, SORT_PART_CC, SORT_PART_FROM,
	SORT_PART_TO, SORT_PART_IDS, SORT_PART_IDS,
};

/* The header fields a keys block is made of; the first occurrence of each counts. */
enum sort_hf {
	HF_DATE, HF_SUBJECT, HF_FROM, HF_TO, HF_CC, HF_MSGID, HF_REFS, HF_IRT, HF_N
};
static const char *const sort_hf_name[HF_N] = {
	"Date", "Subject", "From", "To", "Cc", "Message-ID", "References", "In-Reply-To",
};
static const uint8_t sort_hf_len[HF_N] = { 4, 7, 4, 2, 2, 10, 10, 11 };

struct sort_hdr {
	const unsigned char *v[HF_N];	/* raw value, NULL when the field is absent */
	size_t n[HF_N];
};

/*
 * The raw root header of the message: the cached IMAP_RC_HEADER block where it lies in
 * the rendered-item cache (no copy, no parse; valid until the next put), else through
 * ctx_header (the store's index or the file). False when the message cannot be read.
 */
static bool
sort_raw_header(struct search_ctx *s, const unsigned char **p_r, size_t *len_r)
{
	struct mailbox *mb = s->view->mbox;
	const struct mail_message *m;
	const char *d;
	size_t len;

	if (s->msg == NULL && s->hdrmsg == NULL &&
	    imap_rcache_get(s->client->iu->rcache, mailbox_name(mb), mailbox_uidvalidity(mb),
	    s->m->uid, IMAP_RC_HEADER, &d, &len)) {
		*p_r = (const unsigned char *)d;
		*len_r = len;
		return true;
	}
	if ((m = ctx_header(s, "Date")) == NULL)
		return false;
	*p_r = m->data + m->root->hdr_off;
	*len_r = m->root->hdr_len;
	return true;
}

/* The fields the parts need (HF_* bits; the date always). */
static unsigned
sort_hf_wanted(uint8_t parts)
{
	unsigned w = 1u << HF_DATE;

	if (parts & SORT_PART_SUBJECT)
		w |= 1u << HF_SUBJECT;
	if (parts & SORT_PART_FROM)
		w |= 1u << HF_FROM;
	if (parts & SORT_PART_TO)
		w |= 1u << HF_TO;
	if (parts & SORT_PART_CC)
		w |= 1u << HF_CC;
	if (parts & SORT_PART_IDS)
		w |= 1u << HF_MSGID | 1u << HF_REFS | 1u << HF_IRT;
	return w;
}

/* One pass over the header for the wanted fields of sort_hf_name (as mail_header_get
 * finds each: its first occurrence), ending when all are found. */
static void
sort_hdr_scan(const unsigned char *hdr, size_t len, unsigned wanted, struct sort_hdr *h)
{
	struct mail_header_field f;
	size_t pos = 0;
	unsigned i;

	memset(h, 0, sizeof(*h));
	while (wanted != 0 && mail_header_next(hdr, len, &pos, &f) > 0) {
		for (i = 0; i < HF_N; i++) {
			if ((wanted & (1u << i)) && f.name_len == sort_hf_len[i] &&
			    mail_header_name_eq(f.name, f.name_len, sort_hf_name[i])) {
				h->v[i] = f.value != NULL ? f.value : hdr;
				h->n[i] = f.value_len;
				wanted &= ~(1u << i);
				break;
			}
		}
	}
}

/* The unfolded value of field i into out (NUL-terminated), or NULL when absent. */
static const char *
sort_hdr_get(const struct sort_hdr *h, enum sort_hf i, struct buf *out)
{
	buf_reset(out);
	if (h->v[i] == NULL)
		return NULL;
	(void)mail_header_unfold(out, h->v[i], h->n[i]);
	return buf_cstr(out);
}

/* RFC 5256 §2.2: the sent date (UTC), or INTERNALDATE when it cannot be read. */
static uint64_t
sort_date(struct search_ctx *s, struct sort_run *sr, const struct sort_hdr *h)
{
	const char *v = sort_hdr_get(h, HF_DATE, &sr->val);
	time_t t = s->m->internaldate;
	int tz;

	if (v == NULL || mail_date_parse(v, strlen(v), &t, &tz) < 0)
		t = s->m->internaldate;
	/* signed to unsigned, order kept */
	return (uint64_t)(int64_t)t ^ (UINT64_C(1) << 63);
}

/*
 * The texts an address field sorts on (UTF-8, not folded), from one parse of it:
 * RFC 5256 §3 the addr-mailbox of the first address into mbox (FROM, TO, CC) and
 * RFC 5957 the decoded display name of the first address, else its addr-spec, into
 * disp (DISPLAYFROM, DISPLAYTO; NULL: not wanted). A missing field sorts as "".
 */
static void
sort_addr(const char *v, struct buf *mbox, struct buf *disp)
{
	struct mail_address *addrs = NULL;
	unsigned int n = 0, i;

	buf_reset(mbox);
	if (disp != NULL)
		buf_reset(disp);
	if (v == NULL)
		return;
	mail_address_parse(v, strlen(v), 50, &addrs, &n);
	for (i = 0; i < n; i++) {
		const struct mail_address *a = &addrs[i];

		if (a->group_start || a->group_end || a->mailbox == NULL)
			continue;
		(void)buf_append_str(mbox, a->mailbox);
		if (disp != NULL && a->name != NULL && a->name[0] != '\0')
			(void)mail_rfc2047_decode(disp, a->name, strlen(a->name));
		else if (disp != NULL)
			(void)buf_appendf(disp, "%s@%s", a->mailbox,
			    a->host != NULL ? a->host : "");
		break;
	}
	mail_address_list_free(&addrs, n);
}

/* The part a sort key reads (0: none, the date or the message's own data). */
static uint8_t
sort_key_part(enum sort_key key)
{
	switch (key) {
	case SORT_SUBJECT:
		return SORT_PART_SUBJECT;
	case SORT_FROM:
	case SORT_DISPLAYFROM:
		return SORT_PART_FROM;
	case SORT_TO:
	case SORT_DISPLAYTO:
		return SORT_PART_TO;
	case SORT_CC:
		return SORT_PART_CC;
	default:
		return 0;
	}
}

/* The idx-th string of a keys block (the folded keys, then the raw IDs): false when
 * the block is shorter than its lengths say. */
static bool
block_string(const unsigned char *blk, size_t len, unsigned idx, const unsigned char **p_r,
    size_t *n_r)
{
	size_t pos = SORT_BLOCK_HDR, n = 0;
	unsigned i;

	for (i = 0; i <= idx; i++) {
		if (pos + 2 > len)
			return false;
		n = (size_t)blk[pos] << 8 | blk[pos + 1];
		if (pos + 2 + n > len)
			return false;
		if (i < idx)
			pos += 2 + n;
	}
	*p_r = blk + pos + 2;
	*n_r = n;
	return true;
}

/* Is blk[0..len) a whole keys block with the parts `need`? (Blocks read from the index,
 * a file the mailbox owner can write, are checked before use.) */
static bool
block_has(const unsigned char *blk, size_t len, uint8_t need)
{
	const unsigned char *p;
	size_t n;

	return len >= SORT_BLOCK_HDR + 2 * SORT_BLOCK_STRINGS && (blk[9] & need) == need &&
	    block_string(blk, len, SORT_BLOCK_STRINGS - 1, &p, &n) && p + n == blk + len;
}

/* Append string i of the block: from old when it has the part, else computed. */
static void
block_put_string(struct buf *blk, const void *p, size_t n)
{
	size_t at = blk->len;

	n = MIN(n, (size_t)UINT16_MAX);
	(void)buf_append(blk, "\0\0", 2);
	if (n > 0)
		(void)buf_append(blk, p, n);
	blk->data[at] = (char)(n >> 8);
	blk->data[at + 1] = (char)(n & 0xff);
}

static void
block_put_folded(struct sort_run *sr, struct buf *blk, struct buf *text)
{
	size_t at = blk->len, n;

	(void)buf_append(blk, "\0\0", 2);
	if (text->len > 0)
		mail_casemap_fold(blk, &sr->tmp, buf_cstr(text), text->len);
	n = MIN(blk->len - at - 2, (size_t)UINT16_MAX);
	buf_truncate(blk, at + 2 + n);
	blk->data[at] = (char)(n >> 8);
	blk->data[at + 1] = (char)(n & 0xff);
}

/*
 * Build the block with parts `parts` into blk, taking the strings of the parts old (a
 * valid block, or NULL) already has from it. False when the header could not be read
 * (the block then holds INTERNALDATE and empty strings, and is not to be kept).
 */
static bool
sort_block_build(struct search_ctx *s, struct sort_run *sr, uint8_t parts,
    const unsigned char *old, size_t old_len, struct buf *blk)
{
	struct sort_hdr h;
	const unsigned char *hdr = NULL, *op;
	size_t hdr_len = 0, i, on;
	uint8_t have = old != NULL ? old[9] : 0, flags = old != NULL ? old[8] : 0;
	uint64_t date;
	unsigned char be[8];
	bool ok;

	/* the base subject comes with the date: the same pass over the header finds both */
	parts |= SORT_PART_SUBJECT;
	ok = sort_raw_header(s, &hdr, &hdr_len);
	if (ok)
		sort_hdr_scan(hdr, hdr_len, sort_hf_wanted((uint8_t)(parts & ~have)), &h);
	else
		memset(&h, 0, sizeof(h));
	date = sort_date(s, sr, &h);
	for (i = 0; i < 8; i++)
		be[i] = (unsigned char)(date >> (56 - 8 * i));
	parts |= have;
	buf_reset(blk);
	(void)buf_append(blk, be, 8);
	(void)buf_append_c(blk, 0);
	(void)buf_append_c(blk, (char)parts);
	for (i = 0; i < SORT_BLOCK_STRINGS; i++) {
		uint8_t part = sort_block_part[i];

		if ((have & part) && block_string(old, old_len, (unsigned)i, &op, &on)) {
			block_put_string(blk, op, on);
			if (part == SORT_PART_SUBJECT)
				blk->data[8] |= (char)(flags & SORT_BLOCK_REPLY);
			if (part == SORT_PART_IDS)
				blk->data[8] |= (char)(flags & SORT_BLOCK_IRT);
			continue;
		}
		if (!(parts & part)) {
			block_put_string(blk, NULL, 0);
			continue;
		}
		switch (i) {
		case 0: {
			const char *v = sort_hdr_get(&h, HF_SUBJECT, &sr->tmp2);
			bool reply = false;

			buf_reset(&sr->val);
			if (v != NULL)
				(void)mail_base_subject(v, strlen(v), &sr->val, &reply);
			if (reply)
				blk->data[8] |= SORT_BLOCK_REPLY;
			block_put_folded(sr, blk, &sr->val);
			break;
		}
		case 1:
		case 2:
		case 3:
			/* FROM/TO with their DISPLAY twin (strings 4, 5): one parse */
			sort_addr(sort_hdr_get(&h, i == 1 ? HF_FROM : i == 2 ? HF_TO : HF_CC,
			    &sr->tmp2), &sr->val, i < 3 ? &sr->disp[i - 1] : NULL);
			block_put_folded(sr, blk, &sr->val);
			break;
		case 4:
		case 5:
			block_put_folded(sr, blk, &sr->disp[i - 4]);
			break;
		case 6: {
			const char *v = sort_hdr_get(&h, HF_MSGID, &sr->tmp2);

			block_put_string(blk, v, v != NULL ? MIN(strlen(v), (size_t)1024) : 0);
			break;
		}
		default: {
			const char *v = sort_hdr_get(&h, HF_REFS, &sr->tmp2);
			size_t n;

			/* RFC 5256 §4 (1)(A): In-Reply-To when References is absent or holds
			 * no valid message ID */
			if ((v == NULL || !imap_thread_has_id(v, strlen(v))) &&
			    h.v[HF_IRT] != NULL) {
				v = sort_hdr_get(&h, HF_IRT, &sr->tmp2);
				blk->data[8] |= SORT_BLOCK_IRT;
			}
			n = v != NULL ? strlen(v) : 0;
			if (n > SORT_BLOCK_REFS_MAX) {
				v += n - SORT_BLOCK_REFS_MAX;
				n = SORT_BLOCK_REFS_MAX;
			}
			block_put_string(blk, v, n);
			break;
		}
		}
	}
	return ok;
}

static void
sort_batch_add(void *ctx, uint32_t uid, const unsigned char *data, size_t len)
{
	struct sort_batch *b = ctx;

	if (b->n == b->cap) {
		b->cap = MAX(b->cap * 2, 1024);
		b->uid = xreallocarray(b->uid, b->cap, sizeof(*b->uid));
		b->off = xreallocarray(b->off, b->cap, sizeof(*b->off));
		b->len = xreallocarray(b->len, b->cap, sizeof(*b->len));
	}
	if (buf_append(&b->data, data, len) < 0)
		return;
	b->uid[b->n] = uid;
	b->off[b->n] = (uint32_t)(b->data.len - len);
	b->len[b->n] = (uint32_t)len;
	b->n++;
}

/* Read the blocks the index holds for the view's messages from uid on (a batch). */
static void
sort_batch_load(struct search_ctx *s, struct sort_batch *b, uint32_t uid)
{
	const struct imap_view *v = s->view;
	uint32_t last = v->count > 0 ? v->msgs[v->count - 1].uid : uid, done;

	b->n = b->next = 0;
	buf_reset(&b->data);
	(void)mailbox_items_walk(v->mbox, (uint8_t)(IMAP_RC_SORT + 1), IMAP_RC_SORT_KIND, uid,
	    MAX(last, uid), SORT_BATCH_BYTES, sort_batch_add, b, &done);
	b->lo = uid;
	b->hi = done;
	b->valid = true;
}

/* The block of uid in the batch (which covers it), or false. */
static bool
sort_batch_find(struct sort_batch *b, uint32_t uid, const unsigned char **p_r,
    size_t *len_r)
{
	size_t lo = 0, hi = b->n;

	/* messages come in UID order: usually the next entry */
	while (b->next < b->n && b->uid[b->next] < uid)
		b->next++;
	if (b->next < b->n && b->uid[b->next] == uid) {
		lo = b->next;
	} else {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (b->uid[mid] < uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == b->n || b->uid[lo] != uid)
			return false;
	}
	*p_r = (const unsigned char *)b->data.data + b->off[lo];
	*len_r = b->len[lo];
	return true;
}

/*
 * The block of the message with at least the parts sr->parts: from the rendered-item
 * cache, else from the store's index (read in batches for the following messages),
 * else built, growing what was found, and kept in both.
 */
static void
sort_block(struct search_ctx *s, struct sort_run *sr, const unsigned char **p_r,
    size_t *len_r)
{
	struct imap_rcache *rc = s->client->iu->rcache;
	struct mailbox *mb = s->view->mbox;
	struct sort_batch *b = &sr->batch;
	const unsigned char *old = NULL, *p;
	uint32_t uid = s->m->uid, uidv = mailbox_uidvalidity(mb);
	const char *d;
	size_t old_len = 0, len;

	if (imap_rcache_get(rc, mailbox_name(mb), uidv, uid, IMAP_RC_SORT, &d, &len) &&
	    block_has((const unsigned char *)d, len, 0)) {
		p = (const unsigned char *)d;
		if (block_has(p, len, sr->parts)) {
			*p_r = p;
			*len_r = len;
			return;
		}
		/* a copy: reading the header may put into the rcache and move its arena */
		buf_reset(&sr->oldblk);
		(void)buf_append(&sr->oldblk, p, len);
		old = (const unsigned char *)sr->oldblk.data;
		old_len = sr->oldblk.len;
	}
	if (!b->valid || uid < b->lo || uid > b->hi)
		sort_batch_load(s, b, uid);
	if (sort_batch_find(b, uid, &p, &len) && block_has(p, len, 0) &&
	    (old == NULL || (p[9] & ~old[9]) != 0)) {
		if (block_has(p, len, sr->parts)) {
			/* best effort: the batch holds it until the next load */
			(void)imap_rcache_replace(rc, mailbox_name(mb), uidv, uid, IMAP_RC_SORT,
			    p, len);
			*p_r = p;
			*len_r = len;
			return;
		}
		if (old == NULL || (old[9] & ~p[9]) == 0) {
			old = p;
			old_len = len;
		}
	}
	if (sort_block_build(s, sr, sr->parts, old, old_len, &sr->blk)) {
		(void)imap_rcache_replace(rc, mailbox_name(mb), uidv, uid, IMAP_RC_SORT,
		    sr->blk.data, sr->blk.len);
		mailbox_items_put(mb, uid, (uint8_t)(IMAP_RC_SORT + 1), IMAP_RC_SORT_KIND,
		    sr->blk.data, sr->blk.len);
	}
	*p_r = (const unsigned char *)sr->blk.data;
	*len_r = sr->blk.len;
}

/* Record a hit and its keys. Returns 0, or -1 when the keys pass SORT_ARENA_MAX. */
static int
sort_add(struct search_ctx *s, struct sort_run *sr, uint32_t idx, uint32_t id)
{
	const unsigned char *blk = NULL;
	size_t blk_len = 0;
	struct sort_item *it;
	uint64_t *k;
	unsigned c;

	if (sr->n_items == sr->cap) {
		sr->cap = MAX(sr->cap * 2, 256);
		sr->items = xreallocarray(sr->items, sr->cap, sizeof(*sr->items));
		sr->keys = xreallocarray(sr->keys, sr->cap, sr->n_slots * sizeof(*sr->keys));
	}
	it = &sr->items[sr->n_items];
	it->idx = idx;
	it->id = id;
	k = sr->keys + sr->n_items * sr->n_slots;
	sr->n_items++;
	for (c = 0; c < sr->n_crit; c++) {
		enum sort_key key = sr->crit[c].key;
		uint64_t *kc = k + sr->slot[c];
		size_t pos, i, n;

		if (key == SORT_ARRIVAL) {
			*kc = (uint64_t)(int64_t)s->m->internaldate ^ (UINT64_C(1) << 63);
			continue;
		}
		if (key == SORT_SIZE) {
			*kc = s->m->vsize != MAILBOX_SIZE_UNKNOWN ? s->m->vsize : 0;
			continue;
		}
		if (blk == NULL)
			sort_block(s, sr, &blk, &blk_len);
		if (key == SORT_DATE) {
			for (*kc = 0, i = 0; i < 8; i++)
				*kc = *kc << 8 | blk[i];
			continue;
		}
		/* the string: walk the lengths to it (a cached block is checked as read) */
		pos = SORT_BLOCK_HDR;
		n = 0;
		for (i = 0; i < N_ELEMENTS(sort_block_order); i++) {
			if (pos + 2 > blk_len)
				return -1;
			n = (size_t)blk[pos] << 8 | blk[pos + 1];
			if (pos + 2 + n > blk_len)
				return -1;
			if (sort_block_order[i] == key)
				break;
			pos += 2 + n;
		}
		if (i == N_ELEMENTS(sort_block_order))
			return -1;
		if (sr->arena.len + n > SORT_ARENA_MAX ||
		    buf_append(&sr->arena, blk + pos + 2, n) < 0)
			return -1;
		for (kc[0] = kc[1] = 0, i = 0; i < 8; i++) {
			kc[0] = kc[0] << 8 | (i < n ? blk[pos + 2 + i] : 0);
			kc[1] = kc[1] << 8 | (i + 8 < n ? blk[pos + 10 + i] : 0);
		}
		kc[2] = (uint64_t)(sr->arena.len - n) << 32 | (uint32_t)n;
	}
	return 0;
}

/* THREAD: a hit with its date, base subject and message IDs (RFC 5256 §4), all from
 * the message's keys block. */
static int
thread_add(struct search_ctx *s, struct sort_run *sr, uint32_t id)
{
	const unsigned char *blk, *subj, *mid, *refs;
	size_t blk_len, n_subj, n_mid, n_refs, i;
	struct imap_thread_msg tm;

	memset(&tm, 0, sizeof(tm));
	sort_block(s, sr, &blk, &blk_len);
	for (i = 0; i < 8; i++)
		tm.date = tm.date << 8 | blk[i];
	/* the base subject is the first string (sort_block_order), the IDs follow the keys */
	if (!block_string(blk, blk_len, 0, &subj, &n_subj) ||
	    !block_string(blk, blk_len, N_ELEMENTS(sort_block_order), &mid, &n_mid) ||
	    !block_string(blk, blk_len, N_ELEMENTS(sort_block_order) + 1, &refs, &n_refs))
		return -1;
	tm.id = id;
	/* signed to unsigned, order kept (as sort_date) */
	tm.arrival = (uint64_t)(int64_t)s->m->internaldate ^ (UINT64_C(1) << 63);
	tm.subject = (const char *)subj;
	tm.subject_len = n_subj;
	tm.reply = (blk[8] & SORT_BLOCK_REPLY) != 0;
	if (n_mid > 0) {
		tm.message_id = (const char *)mid;
		tm.message_id_len = n_mid;
	}
	/* the block keeps References, else In-Reply-To (flagged) */
	if (n_refs > 0 && (blk[8] & SORT_BLOCK_IRT)) {
		tm.in_reply_to = (const char *)refs;
		tm.in_reply_to_len = n_refs;
	} else if (n_refs > 0) {
		tm.references = (const char *)refs;
		tm.references_len = n_refs;
	}
	imap_thread_add(sr->thread, &tm);
	return 0;
}

static bool
sort_key_is_number(enum sort_key key)
{
	return key == SORT_ARRIVAL || key == SORT_SIZE || key == SORT_DATE;
}

/* Compare two item numbers. */
static int
sort_cmp(const void *a, const void *b, void *ctx)
{
	const struct sort_run *sr = ctx;
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
	const uint64_t *kx = sr->keys + (size_t)ia * sr->n_slots;
	const uint64_t *ky = sr->keys + (size_t)ib * sr->n_slots;
	unsigned c;

	for (c = 0; c < sr->n_crit; c++) {
		unsigned sl = sr->slot[c];
		int r;

		r = kx[sl] < ky[sl] ? -1 : kx[sl] > ky[sl];
		if (r == 0 && !sort_key_is_number(sr->crit[c].key))
			r = kx[sl + 1] < ky[sl + 1] ? -1 : kx[sl + 1] > ky[sl + 1];
		if (r == 0 && !sort_key_is_number(sr->crit[c].key)) {
			uint64_t px = kx[sl + 2], py = ky[sl + 2];
			size_t lx = (uint32_t)px, ly = (uint32_t)py;

			r = memcmp(sr->arena.data + (px >> 32), sr->arena.data + (py >> 32),
			    MIN(lx, ly));
			if (r == 0)
				r = lx < ly ? -1 : lx > ly;
		}
		if (r != 0)
			return sr->crit[c].reverse ? -r : r;
	}
	/* RFC 5256 §3: equal messages in mailbox order */
	return sr->items[ia].idx < sr->items[ib].idx ? -1 : sr->items[ia].idx > sr->items[ib].idx;
}

/* The item numbers in the sorted order (n_items of them; free() it). */
static uint32_t *
sort_order(struct sort_run *sr)
{
	uint32_t *order = xreallocarray(NULL, MAX(sr->n_items, 1), sizeof(*order));
	size_t i;

	for (i = 0; i < sr->n_items; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, sr->n_items, sizeof(*order), sort_cmp, sr);
	return order;
}

static int
append_num(struct buf *out, char sep, uint32_t v)
{
	char num[16];
	size_t n = sizeof(num);

	do {
		num[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (sep != '\0')
		num[--n] = sep;
	return buf_append(out, num + n, sizeof(num) - n);
}

/*
 * The ids of order[from..to) as a sequence-set that keeps their order (RFC 5267 §3.1:
 * ESORT ALL): a range only where the ids ascend by one in that order ("3,4:6,2").
 */
static int
append_sorted_set(struct buf *out, const struct sort_run *sr, const uint32_t *order,
    size_t from, size_t to)
{
	size_t i = from;

	while (i < to) {
		uint32_t first = sr->items[order[i]].id, last = first;
		char sep = i == from ? '\0' : ',';

		while (i + 1 < to && last < UINT32_MAX && sr->items[order[i + 1]].id == last + 1) {
			last++;
			i++;
		}
		if (append_num(out, sep, first) < 0)
			return -1;
		if (last != first && append_num(out, ':', last) < 0)
			return -1;
		i++;
	}
	return 0;
}

/* RFC 9394 §3.1: the positions [*from_r, *to_r) (0-based) of a result of count that
 * the PARTIAL range asks for; empty when it lies beyond the result. */
static void
partial_window(const struct imap_search_program *prog, uint64_t count, uint64_t *from_r,
    uint64_t *to_r)
{
	int64_t a = prog->partial_first, b = prog->partial_last;
	uint64_t lo, hi;

	if (a < 0) {
		a = -a;
		b = -b;
	}
	lo = (uint64_t)MIN(a, b);
	hi = (uint64_t)MAX(a, b);
	if (prog->partial_first < 0) {
		/* -1 is the last result */
		*to_r = lo > count ? 0 : count - lo + 1;
		*from_r = hi >= count ? 0 : count - hi;
	} else {
		*from_r = lo - 1 < count ? lo - 1 : count;
		*to_r = hi < count ? hi : count;
	}
	if (*to_r < *from_r)
		*to_r = *from_r;
}

/* " PARTIAL (range set-or-NIL)": set as ESEARCH writes it, or NIL when empty. */
static void
append_partial_head(struct buf *out, const struct imap_search_program *prog)
{
	(void)buf_appendf(out, " PARTIAL (%lld:%lld ", (long long)prog->partial_first,
	    (long long)prog->partial_last);
}

/* The hits of a SEARCH at positions [from, to) of the ascending result. */
static struct seqset *
seqset_slice(const struct seqset *set, uint64_t from, uint64_t to)
{
	struct seqset *out = seqset_create();
	const struct seqset_range *rg;
	unsigned n, i;
	uint64_t pos = 0;

	rg = seqset_ranges(set, &n);
	for (i = 0; i < n && pos < to; i++) {
		uint64_t len = (uint64_t)rg[i].hi - rg[i].lo + 1;

		if (pos + len > from) {
			uint64_t a = from > pos ? from - pos : 0;
			uint64_t b = MIN(len, to - pos);

			(void)seqset_add_range(out, (uint32_t)(rg[i].lo + a),
			    (uint32_t)(rg[i].lo + b - 1));
		}
		pos += len;
	}
	return out;
}

/* "* SORT ..." in the sorted order, or with RETURN (RFC 5267 §3) "* ESEARCH ...". */
static void
sort_finish(struct imap_cmd *cmd, struct search_run *r)
{
	struct sort_run *sr = r->sort;
	const struct imap_search_program *prog = r->prog;
	uint32_t *order = sort_order(sr);
	unsigned opts = prog->return_opts;
	size_t i, n = sr->n_items;

	buf_reset(&r->out);
	if (!prog->esearch) {
		(void)buf_append_str(&r->out, "* SORT");
		for (i = 0; i < n; i++)
			if (append_num(&r->out, ' ', sr->items[order[i]].id) < 0)
				r->error = true;
		free(order);
		return;
	}
	if (opts & SEARCH_RETURN_SAVE) {
		/* the UIDs of RETURN (MIN/MAX) alone are the first and last in the order */
		if (n > 0) {
			r->save_min = cmd->client->view->msgs[sr->items[order[0]].idx].uid;
			r->save_max = cmd->client->view->msgs[sr->items[order[n - 1]].idx].uid;
		}
		search_save(cmd->client, r);
	}
	if ((opts & ~SEARCH_RETURN_SAVE) == 0) {
		free(order);
		return;
	}
	(void)buf_appendf(&r->out, "* ESEARCH (TAG \"%s\")%s", cmd->tag, cmd->uid ? " UID" : "");
	/* RFC 5267 §3.1: MIN and MAX are the first and the last in the sort order */
	if ((opts & SEARCH_RETURN_MIN) && n > 0)
		(void)buf_appendf(&r->out, " MIN %u", sr->items[order[0]].id);
	if ((opts & SEARCH_RETURN_MAX) && n > 0)
		(void)buf_appendf(&r->out, " MAX %u", sr->items[order[n - 1]].id);
	if (opts & SEARCH_RETURN_COUNT)
		(void)buf_appendf(&r->out, " COUNT %zu", n);
	if ((opts & SEARCH_RETURN_ALL) && n > 0) {
		(void)buf_append_str(&r->out, " ALL ");
		if (append_sorted_set(&r->out, sr, order, 0, n) < 0)
			r->error = true;
	}
	if (opts & SEARCH_RETURN_PARTIAL) {
		uint64_t from, to;

		partial_window(prog, n, &from, &to);
		append_partial_head(&r->out, prog);
		if (from == to)
			(void)buf_append_str(&r->out, "NIL");
		else if (append_sorted_set(&r->out, sr, order, from, to) < 0)
			r->error = true;
		(void)buf_append_str(&r->out, ")");
	}
	if (prog->has_modseq && n > 0)
		(void)buf_appendf(&r->out, " MODSEQ %llu", (unsigned long long)r->max_modseq);
	free(order);
}

/*
 * RFC 5182 §2.4: keep what RETURN (SAVE) asks for: every UID found, or with MIN and/or MAX
 * but neither ALL nor COUNT, only those; a failed SEARCH leaves the result empty.
 */
static void
search_save(struct imap_client *c, struct search_run *r)
{
	unsigned opts = r->prog->return_opts;
	struct seqset *set;

	if (r->error) {
		imap_view_set_searchres(c->view, NULL);
		return;
	}
	if ((opts & (SEARCH_RETURN_ALL | SEARCH_RETURN_COUNT)) ||
	    !(opts & (SEARCH_RETURN_MIN | SEARCH_RETURN_MAX))) {
		imap_view_set_searchres(c->view, r->save);
		r->save = NULL;
		return;
	}
	set = seqset_create();
	if (r->count > 0 && (opts & SEARCH_RETURN_MIN))
		(void)seqset_add_range(set, r->save_min, r->save_min);
	if (r->count > 0 && (opts & SEARCH_RETURN_MAX))
		(void)seqset_add_range(set, r->save_max, r->save_max);
	imap_view_set_searchres(c->view, set);
}

/*
 * RFC 5267 §4.3: RETURN (UPDATE): hand the program and its result (UIDs; for SORT the
 * keys of the hits, re-keyed by UID) to the view's contexts, after the result is sent.
 */
static void
search_keep(struct imap_cmd *cmd, struct search_run *r)
{
	struct imap_client *c = cmd->client;
	struct imap_view *v = c->view;
	struct sort_run *sr = r->sort;
	struct seqset_iter it;
	uint32_t *uids, id;
	size_t n = 0, i;

	if (!(r->prog->return_opts & SEARCH_RETURN_UPDATE) || r->error)
		return;
	if (r->no_update) {
		imap_client_line(c, "* NO [NOUPDATE \"%s\"] Updates of this search are not "
		    "available", cmd->tag);
		return;
	}
	if (sr != NULL) {
		/* mailbox order is UID order: the tie-break stays the same */
		for (i = 0; i < sr->n_items; i++) {
			sr->items[i].idx = v->msgs[sr->items[i].idx].uid;
			sr->items[i].id = sr->items[i].idx;
		}
		uids = sort_order(sr);
		n = sr->n_items;
		r->sort = NULL;
	} else {
		uids = xreallocarray(NULL, MAX((size_t)seqset_count(r->hits), 1), sizeof(*uids));
		for (seqset_iter_init(&it, r->hits); seqset_iter_next(&it, &id);)
			uids[n++] = cmd->uid ? id : v->msgs[id - 1].uid;
	}
	imap_context_add(c, cmd->tag, cmd->uid, r->prog, sr, uids, n);
	r->prog = NULL;
}


/* ---------------------------------------------------------------- the last answer */

/*
 * Webmail clients send the same SORT or THREAD of the whole folder for every page they
 * show. The answer depends only on which messages the view holds (their keys never
 * change: messages are immutable), so the view keeps the last such answer with the
 * command it answered and the view's generation (imap_view.gen); the same command while
 * the generation is unchanged is answered from it. Only for the search program ALL
 * without RETURN (a flag or date key would depend on more than the view's messages),
 * and up to SORT_MEMO_MAX octets.
 */
#define SORT_MEMO_MAX	(4u * 1024 * 1024)

static bool
prog_is_all(const struct imap_search_program *prog)
{
	const struct imap_search_key *k;

	if (prog->esearch || prog->root == NULL || prog->root->type != SEARCH_AND)
		return false;
	for (k = prog->root->child; k != NULL; k = k->next)
		if (k->type != SEARCH_ALL)
			return false;
	return true;
}

/* The memo key of a SORT (criteria) or THREAD (algorithm) into sr->memo_key; none when
 * the program is not ALL. */
static void
sort_memo_key(struct sort_run *sr, const struct imap_cmd *cmd,
    const struct imap_search_program *prog)
{
	size_t n = 0;
	unsigned c;

	sr->memo_key_len = 0;
	if (!prog_is_all(prog))
		return;
	sr->memo_key[n++] = sr->thread != NULL ? 'T' : 'S';
	sr->memo_key[n++] = cmd->uid ? 'U' : 'N';
	if (sr->thread != NULL)
		sr->memo_key[n++] = (char)('0' + (int)sr->alg);
	for (c = 0; c < sr->n_crit; c++) {
		sr->memo_key[n++] = (char)('a' + (int)sr->crit[c].key);
		sr->memo_key[n++] = sr->crit[c].reverse ? 'r' : 'f';
	}
	sr->memo_key_len = n;
}

/* Answer from the view's memo: true when it was for this command and is current. */
static bool
sort_memo_answer(struct imap_cmd *cmd, const struct sort_run *sr)
{
	struct imap_view *v = cmd->client->view;

	if (sr->memo_key_len == 0 || v->memo == NULL || v->memo_gen != v->gen ||
	    v->memo_key_len != sr->memo_key_len ||
	    memcmp(v->memo_key, sr->memo_key, sr->memo_key_len) != 0)
		return false;
	imap_client_write(cmd->client, v->memo, v->memo_len);
	return true;
}

/* Keep the untagged answer out[0..len) of the command in the view's memo. */
static void
sort_memo_keep(struct imap_cmd *cmd, const struct sort_run *sr, const char *out,
    size_t len)
{
	struct imap_view *v = cmd->client->view;

	if (sr->memo_key_len == 0 || len > SORT_MEMO_MAX)
		return;
	free(v->memo_key);
	free(v->memo);
	v->memo_key = xmalloc(sr->memo_key_len);
	memcpy(v->memo_key, sr->memo_key, sr->memo_key_len);
	v->memo_key_len = sr->memo_key_len;
	v->memo = xmalloc(MAX(len, 1));
	memcpy(v->memo, out, len);
	v->memo_len = len;
	v->memo_gen = v->gen;
}

static int
search_finish(struct imap_cmd *cmd, struct search_run *r)
{
	struct imap_client *c = cmd->client;

	if (r->sort != NULL && r->sort->thread != NULL) {
		buf_reset(&r->out);
		(void)buf_append_str(&r->out, "* THREAD ");
		if (imap_thread_format(r->sort->thread, r->sort->alg, &r->out) < 0)
			r->error = true;
		if (r->out.len == 9)
			buf_truncate(&r->out, 8);	/* no threads: "* THREAD" */
		(void)buf_append_str(&r->out, "\r\n");
		imap_client_write(c, r->out.data, r->out.len);
		if (!r->error)
			sort_memo_keep(cmd, r->sort, r->out.data, r->out.len);
		if (r->error)
			return imap_cmd_no(cmd, "[SERVERBUG] Internal error while threading");
		return imap_cmd_ok(cmd, "Thread completed.");
	}
	if (r->sort != NULL) {
		sort_finish(cmd, r);
		if (r->prog->has_modseq && r->prog->esearch)
			c->view->modseq_told = true;
		if (r->out.len > 0) {
			(void)buf_append_str(&r->out, "\r\n");
			imap_client_write(c, r->out.data, r->out.len);
			if (!r->error)
				sort_memo_keep(cmd, r->sort, r->out.data, r->out.len);
		}
		search_keep(cmd, r);
		if (r->error)
			return imap_cmd_no(cmd, "[SERVERBUG] Internal error while sorting");
		return imap_cmd_ok(cmd, "Sort completed.");
	}
	if (r->prog->return_opts & SEARCH_RETURN_SAVE)
		search_save(c, r);
	/* RETURN (SAVE) alone: no ESEARCH response (RFC 5182 §2.4) */
	if (r->prog->esearch && (r->prog->return_opts & ~SEARCH_RETURN_SAVE) == 0) {
		buf_reset(&r->out);
	} else if (r->prog->esearch) {
		unsigned opts = r->prog->return_opts;

		buf_reset(&r->out);
		(void)buf_appendf(&r->out, "* ESEARCH (TAG \"%s\")%s", cmd->tag,
		    cmd->uid ? " UID" : "");
		if ((opts & SEARCH_RETURN_MIN) && r->count > 0)
			(void)buf_appendf(&r->out, " MIN %u", r->min);
		if ((opts & SEARCH_RETURN_MAX) && r->count > 0)
			(void)buf_appendf(&r->out, " MAX %u", r->max);
		if (opts & SEARCH_RETURN_COUNT)
			(void)buf_appendf(&r->out, " COUNT %llu", (unsigned long long)r->count);
		if ((opts & SEARCH_RETURN_ALL) && r->count > 0) {
			(void)buf_append_str(&r->out, " ALL ");
			if (seqset_format(r->hits, &r->out) < 0)
				r->error = true;
		}
		if (opts & SEARCH_RETURN_PARTIAL) {
			uint64_t from, to;

			partial_window(r->prog, r->count, &from, &to);
			append_partial_head(&r->out, r->prog);
			if (from == to) {
				(void)buf_append_str(&r->out, "NIL");
			} else {
				struct seqset *part = seqset_slice(r->hits, from, to);

				if (seqset_format(part, &r->out) < 0)
					r->error = true;
				seqset_destroy(&part);
			}
			(void)buf_append_str(&r->out, ")");
		}
		if (r->prog->has_modseq && r->count > 0)
			(void)buf_appendf(&r->out, " MODSEQ %llu",
			    (unsigned long long)r->max_modseq);
	} else if (r->prog->has_modseq && r->count > 0) {
		(void)buf_appendf(&r->out, " (MODSEQ %llu)", (unsigned long long)r->max_modseq);
	}
	if (r->prog->has_modseq)
		c->view->modseq_told = true;
	if (r->out.len > 0) {
		(void)buf_append_str(&r->out, "\r\n");
		imap_client_write(c, r->out.data, r->out.len);
	}
	search_keep(cmd, r);
	if (r->error)
		return imap_cmd_no(cmd, "[SERVERBUG] Internal error while searching");
	return imap_cmd_ok(cmd, "Search completed.");
}

static int
search_continue(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_view *v = c->view;
	struct search_run *r = cmd->ctx;
	uint64_t start = clock_ms();
	unsigned done = 0;
	bool io = false;		/* the last message needed more than the caches */
	struct search_ctx s;

	for (; r->next < v->count; r->next++) {
		size_t i = r->next;
		struct imap_view_msg *vm = &v->msgs[i];
		const struct mailbox_msg *m;
		uint32_t id;

		/* the clock every 16 messages served from the caches (~10 us) */
		if (++done > SEARCH_SLICE_MSGS || ((io || done % 16 == 0) &&
		    clock_ms() - start >= SEARCH_SLICE_MS)) {
			imap_client_schedule_continue(c);
			return IMAP_CMD_MORE;
		}
		if (vm->expunged)
			continue;
		/* both in UID order: mostly the store's next message, without a search */
		m = r->hint < mailbox_count(v->mbox) ? mailbox_msg_at(v->mbox, r->hint) : NULL;
		if ((m == NULL || m->uid != vm->uid) &&
		    (m = mailbox_lookup(v->mbox, vm->uid, &r->hint)) == NULL)
			continue;
		r->hint++;
		if (m->vsize == MAILBOX_SIZE_UNKNOWN || m->internaldate == 0) {
			if (mailbox_msg_info(v->mbox, vm->uid, &m) != STORE_OK)
				continue;
		}
		memset(&s, 0, sizeof(s));
		s.client = c;
		s.view = v;
		s.idx = i;
		s.msgcopy = *m;
		s.msgcopy.filename = NULL;
		s.m = &s.msgcopy;
		s.hdrbuf = &r->hdrbuf;
		s.hdrcap = &r->hdrcap;
		s.tmp = &r->tmp;
		if (eval(&s, r->prog->root)) {
			id = cmd->uid ? s.msgcopy.uid : (uint32_t)i + 1;
			if (r->count == 0)
				r->min = id;
			r->max = id;
			r->count++;
			r->max_modseq = MAX(r->max_modseq, s.msgcopy.modseq);
			if (r->save != NULL) {
				if (r->count == 1)
					r->save_min = s.msgcopy.uid;
				r->save_max = s.msgcopy.uid;
				(void)seqset_add_range(r->save, s.msgcopy.uid, s.msgcopy.uid);
			}
			if (r->sort != NULL && r->sort->thread != NULL) {
				if (thread_add(&s, r->sort, id) < 0)
					r->error = true;
			} else if (r->sort != NULL) {
				if (sort_add(&s, r->sort, (uint32_t)i, id) < 0)
					r->error = true;
			} else if (r->prog->esearch)
				(void)seqset_add_range(r->hits, id, id);
			else if (buf_appendf(&r->out, " %u", id) < 0)
				r->error = true;
		}
		if (s.error)
			r->error = true;
		io = s.msg != NULL || s.hdrmsg != NULL || s.blk != NULL || s.load_failed;
		if (s.msg != NULL)
			imap_msgcache_release(c->iu->cache, &s.msg);
		if (s.hdrmsg != NULL)
			mail_message_free(&s.hdrmsg);
	}
	return search_finish(cmd, r);
}

/* Start evaluating prog (taken) for SEARCH, or for SORT when sort is set (taken). */
static int
search_start(struct imap_cmd *cmd, struct imap_search_program *prog, struct sort_run *sort)
{
	struct imap_client *c = cmd->client;
	struct search_run *r;
	bool no_update = false;

	/* RFC 9586 §3: after ENABLE UIDONLY no sequence-set key either */
	if ((c->enabled & IMAP_ENABLE_UIDONLY) && prog->has_seqset) {
		if (prog->return_opts & SEARCH_RETURN_SAVE)	/* RFC 5182 §2.1 */
			imap_view_set_searchres(c->view, NULL);
		imap_search_program_free(&prog, free_matcher);
		sort_run_free(sort);
		return imap_cmd_bad(cmd, "[UIDREQUIRED] Message sequence numbers are disabled "
		    "(UIDONLY)");
	}
	if (prog->return_opts & SEARCH_RETURN_UPDATE) {
		/* RFC 5267 §4.3: updates name their search by its tag */
		if (imap_context_exists(c->view, cmd->tag)) {
			imap_search_program_free(&prog, free_matcher);
			sort_run_free(sort);
			return imap_cmd_bad(cmd, "RETURN (UPDATE) with a tag already in use");
		}
		/* sequence numbers, and "*" in UID sets, mean other messages later */
		no_update = prog->has_seqset || prog_has_star(prog->root);
	}
	/*
	 * The view does not change while the command runs (updates wait for its end), so
	 * sequence numbers and indexes stay valid across slices.
	 */
	resolve_sets(prog->root, c->view, time(NULL));
	if (prog->has_modseq)
		imap_client_enable(c, IMAP_ENABLE_CONDSTORE);
	if (sort != NULL) {
		sort_memo_key(sort, cmd, prog);
		if (sort_memo_answer(cmd, sort)) {
			bool thread = sort->thread != NULL;

			imap_search_program_free(&prog, free_matcher);
			sort_run_free(sort);
			return imap_cmd_ok(cmd, thread ? "Thread completed." : "Sort completed.");
		}
	}
	r = xcalloc(1, sizeof(*r));
	r->prog = prog;
	r->sort = sort;
	r->no_update = no_update;
	r->hits = seqset_create();
	if (prog->return_opts & SEARCH_RETURN_SAVE)
		r->save = seqset_create();
	buf_init(&r->out, IMAP_RESP_MAX);
	buf_init(&r->tmp, IMAP_HDR_READ_MAX);
	(void)buf_append_str(&r->out, "* SEARCH");
	cmd->ctx = r;
	cmd->ctx_free = search_run_free;
	cmd->cont = search_continue;
	return search_continue(cmd);
}

static int
search_parse_reply(struct imap_cmd *cmd, enum imap_search_parse_result res, const char *err)
{
	if (res == IMAP_SEARCH_BADCHARSET)
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
	return imap_cmd_bad(cmd, "%s", err != NULL ? err : "Invalid search");
}

/* Does the SEARCH command ask for RETURN (... SAVE ...)? */
static bool
search_args_save(const struct imap_arg *args, unsigned argc)
{
	if (argc < 2 || !imap_arg_atom_equals(&args[0], "RETURN") ||
	    args[1].type != IMAP_ARG_LIST)
		return false;
	for (unsigned i = 0; i < args[1].list_count; i++)
		if (imap_arg_atom_equals(&args[1].list[i], "SAVE"))
			return true;
	return false;
}

/* Does the SEARCH program (after an optional RETURN (...)) start with CHARSET? */
static bool
search_has_charset(const struct imap_arg *args, unsigned argc)
{
	unsigned i = 0;

	if (argc >= 2 && imap_arg_atom_equals(&args[0], "RETURN") &&
	    args[1].type == IMAP_ARG_LIST)
		i = 2;
	return i < argc && imap_arg_atom_equals(&args[i], "CHARSET");
}

int
cmd_search(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_search_program *prog = NULL;
	const char *err = NULL;
	enum imap_search_parse_result res;

	/* RFC 6855 §3 (erratum 4029): no CHARSET once UTF8=ACCEPT is enabled */
	if ((c->enabled & IMAP_ENABLE_UTF8) && search_has_charset(cmd->args, cmd->argc)) {
		if (search_args_save(cmd->args, cmd->argc))
			imap_view_set_searchres(c->view, NULL);
		return imap_cmd_bad(cmd, "CHARSET not allowed after ENABLE UTF8=ACCEPT");
	}
	res = imap_search_parse(cmd->args, cmd->argc, &prog, &err);
	/* RFC 5182 §2.1: a SEARCH with SAVE that fails empties the saved result */
	if (res != IMAP_SEARCH_OK && search_args_save(cmd->args, cmd->argc))
		imap_view_set_searchres(c->view, NULL);
	if (res != IMAP_SEARCH_OK)
		return search_parse_reply(cmd, res, err);
	/* RFC 9051 §6.4.4, §7.3.4: IMAP4rev2 answers with ESEARCH, RETURN (ALL) when no
	 * options are given */
	if ((c->enabled & IMAP_ENABLE_REV2) && !prog->esearch) {
		prog->esearch = true;
		prog->return_opts = SEARCH_RETURN_ALL;
	}
	return search_start(cmd, prog, NULL);
}

/* The charset argument of SORT and THREAD: a string; once UTF8=ACCEPT is enabled only
 * UTF-8 (RFC 6855 §3 with its erratum: the client may not ask for another). */
static bool
charset_arg_ok(const struct imap_cmd *cmd, const struct imap_arg *a)
{
	const char *s;
	size_t len;

	if (!imap_arg_get_string(a, &s, &len) && a->type != IMAP_ARG_ATOM)
		return false;
	if (a->type == IMAP_ARG_ATOM) {
		s = a->str;
		len = a->len;
	}
	return !(cmd->client->enabled & IMAP_ENABLE_UTF8) || mem_ieq(s, len, "UTF-8");
}

/*
 * SORT and THREAD: "charset search-criteria" from cmd->args[at + 1] on, parsed by the
 * SEARCH parser as "[RETURN (options)] CHARSET charset search-key..." with cmd->args[at]
 * (the sort criteria, the algorithm) standing in as the atom CHARSET. Returns false
 * (nothing parsed) when the charset argument is not acceptable (charset_arg_ok); else
 * true with the parser's result in *res_r, *prog_r and *err_r.
 */
static bool
parse_charset_program(struct imap_cmd *cmd, unsigned at, enum imap_search_parse_result *res_r,
    struct imap_search_program **prog_r, const char **err_r)
{
	struct imap_arg *args;
	unsigned i;

	if (!charset_arg_ok(cmd, &cmd->args[at + 1]))
		return false;
	args = xcalloc(cmd->argc, sizeof(*args));
	for (i = 0; i < cmd->argc; i++)
		args[i] = cmd->args[i];
	memset(&args[at], 0, sizeof(args[at]));
	args[at].type = IMAP_ARG_ATOM;
	args[at].str = "CHARSET";
	args[at].len = 7;
	*res_r = imap_search_parse(args, cmd->argc, prog_r, err_r);
	free(args);
	return true;
}

/*
 * SORT and UID SORT (RFC 5256 §3, RFC 5957 SORT=DISPLAY): (sort-criteria) charset
 * search-criteria. The search runs as SEARCH does, collecting each hit's keys; the
 * answer is "* SORT" with the hits in order.
 */
int
cmd_sort(struct imap_cmd *cmd)
{
	static const struct {
		const char *name;
		enum sort_key key;
	} keys[] = {
		{ "ARRIVAL", SORT_ARRIVAL }, { "CC", SORT_CC }, { "DATE", SORT_DATE },
		{ "FROM", SORT_FROM }, { "SIZE", SORT_SIZE }, { "SUBJECT", SORT_SUBJECT },
		{ "TO", SORT_TO }, { "DISPLAYFROM", SORT_DISPLAYFROM },
		{ "DISPLAYTO", SORT_DISPLAYTO },
	};
	const struct imap_arg *list;
	struct imap_search_program *prog = NULL;
	struct sort_run *sr;
	enum imap_search_parse_result res;
	const char *err = NULL;
	unsigned n, i, j, b = 0;
	bool reverse = false;

	/* RFC 5267 §3: SORT RETURN (options) (criteria) charset search-criteria */
	if (cmd->argc >= 2 && imap_arg_atom_equals(&cmd->args[0], "RETURN") &&
	    cmd->args[1].type == IMAP_ARG_LIST)
		b = 2;
	if (cmd->argc < b + 3 || !imap_arg_get_list(&cmd->args[b], &list, &n) || n == 0)
		return imap_cmd_bad(cmd, "SORT needs (criteria) charset search-criteria");
	sr = xcalloc(1, sizeof(*sr));
	for (i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&list[i], "REVERSE") && !reverse) {
			reverse = true;
			continue;
		}
		for (j = 0; j < N_ELEMENTS(keys); j++)
			if (imap_arg_atom_equals(&list[i], keys[j].name))
				break;
		if (j == N_ELEMENTS(keys) || sr->n_crit == SORT_MAX_CRITERIA) {
			sort_run_free(sr);
			return imap_cmd_bad(cmd, "Invalid sort criteria");
		}
		sr->crit[sr->n_crit].key = keys[j].key;
		sr->crit[sr->n_crit].reverse = reverse;
		sr->slot[sr->n_crit] = (uint8_t)sr->n_slots;
		sr->n_slots += sort_key_is_number(keys[j].key) ? 1 : 3;
		sr->parts |= sort_key_part(keys[j].key);
		sr->n_crit++;
		reverse = false;
	}
	if (reverse) {
		sort_run_free(sr);
		return imap_cmd_bad(cmd, "REVERSE needs a sort key");
	}
	if (!parse_charset_program(cmd, b, &res, &prog, &err)) {
		sort_run_free(sr);
		return imap_cmd_bad(cmd, "Invalid charset");
	}
	/* RFC 5182 §2.1: a failed command with SAVE empties the saved result */
	if (res != IMAP_SEARCH_OK && search_args_save(cmd->args, cmd->argc))
		imap_view_set_searchres(cmd->client->view, NULL);
	if (res != IMAP_SEARCH_OK) {
		sort_run_free(sr);
		return search_parse_reply(cmd, res, err);
	}
	buf_init(&sr->arena, SORT_ARENA_MAX + MAIL_BASE_SUBJECT_MAX * 8);
	sort_run_init_bufs(sr);
	return search_start(cmd, prog, sr);
}

/*
 * THREAD and UID THREAD (RFC 5256 §4): algorithm charset search-criteria, answered with
 * "* THREAD" and the nested lists (imap_thread.c).
 */
int
cmd_thread(struct imap_cmd *cmd)
{
	struct imap_search_program *prog = NULL;
	enum imap_search_parse_result res;
	struct sort_run *sr;
	const char *err = NULL;
	enum imap_thread_algorithm alg;

	if (cmd->argc < 3)
		return imap_cmd_bad(cmd, "THREAD needs algorithm charset search-criteria");
	if (imap_arg_atom_equals(&cmd->args[0], "REFERENCES"))
		alg = IMAP_THREAD_REFERENCES;
	else if (imap_arg_atom_equals(&cmd->args[0], "REFS"))
		alg = IMAP_THREAD_REFS;
	else if (imap_arg_atom_equals(&cmd->args[0], "ORDEREDSUBJECT"))
		alg = IMAP_THREAD_ORDEREDSUBJECT;
	else
		return imap_cmd_bad(cmd, "Unknown thread algorithm");
	if (!parse_charset_program(cmd, 0, &res, &prog, &err))
		return imap_cmd_bad(cmd, "Invalid charset");
	if (res != IMAP_SEARCH_OK)
		return search_parse_reply(cmd, res, err);
	if (prog->esearch) {
		imap_search_program_free(&prog, free_matcher);
		return imap_cmd_bad(cmd, "RETURN is not supported with THREAD");
	}
	sr = xcalloc(1, sizeof(*sr));
	sr->thread = imap_thread_create();
	sr->alg = alg;
	sr->parts = alg == IMAP_THREAD_ORDEREDSUBJECT ? SORT_PART_SUBJECT :
	    SORT_PART_SUBJECT | SORT_PART_IDS;
	buf_init(&sr->arena, 1);
	sort_run_init_bufs(sr);
	return search_start(cmd, prog, sr);
}

/* ---------------------------------------------------------------- RFC 5267 contexts */

/* One message evaluated on its own (imap_context.c), with its own scratch. */
struct one_msg {
	struct search_ctx s;
	unsigned char *hdrbuf;
	size_t hdrcap;
	struct buf tmp;
};

static bool
one_msg_begin(struct one_msg *o, struct imap_client *c, size_t idx)
{
	struct imap_view *v = c->view;
	const struct mailbox_msg *m;

	memset(o, 0, sizeof(*o));
	if (idx >= v->count || v->msgs[idx].expunged)
		return false;
	m = mailbox_lookup(v->mbox, v->msgs[idx].uid, NULL);
	if (m == NULL)
		return false;
	if ((m->vsize == MAILBOX_SIZE_UNKNOWN || m->internaldate == 0) &&
	    mailbox_msg_info(v->mbox, v->msgs[idx].uid, &m) != STORE_OK)
		return false;
	buf_init(&o->tmp, IMAP_HDR_READ_MAX);
	o->s.client = c;
	o->s.view = v;
	o->s.idx = idx;
	o->s.msgcopy = *m;
	o->s.msgcopy.filename = NULL;
	o->s.m = &o->s.msgcopy;
	o->s.hdrbuf = &o->hdrbuf;
	o->s.hdrcap = &o->hdrcap;
	o->s.tmp = &o->tmp;
	return true;
}

static void
one_msg_end(struct one_msg *o)
{
	if (o->s.msg != NULL)
		imap_msgcache_release(o->s.client->iu->cache, &o->s.msg);
	if (o->s.hdrmsg != NULL)
		mail_message_free(&o->s.hdrmsg);
	free(o->hdrbuf);
	buf_deinit(&o->tmp);
}

void
imap_search_matcher_free(void *matcher)
{
	free_matcher(matcher);
}

int
imap_search_match(struct imap_client *c, struct imap_search_program *prog, size_t idx)
{
	struct one_msg o;
	bool hit;

	if (!one_msg_begin(&o, c, idx))
		return 0;
	hit = eval(&o.s, prog->root);
	one_msg_end(&o);
	if (o.s.error)
		return -1;
	return hit ? 1 : 0;
}

int
imap_sort_keys_add(struct sort_run *sr, struct imap_client *c, size_t idx)
{
	struct one_msg o;
	uint32_t uid;
	int ret;

	if (!one_msg_begin(&o, c, idx))
		return -1;
	uid = o.s.msgcopy.uid;
	ret = sort_add(&o.s, sr, uid, uid);
	one_msg_end(&o);
	if (ret < 0)
		sr->n_items--;		/* sort_add counted it before its keys */
	return ret;
}

int
imap_sort_keys_cmp(const struct sort_run *sr, uint32_t a, uint32_t b)
{
	return sort_cmp(&a, &b, (void *)sr);
}

uint32_t
imap_sort_keys_uid(const struct sort_run *sr, uint32_t a)
{
	return sr->items[a].idx;
}

/* Copy the live strings to a fresh arena (removed items leave theirs behind). */
static void
sort_arena_compact(struct sort_run *sr)
{
	struct buf fresh, old;
	size_t i;
	unsigned c;

	buf_init(&fresh, SORT_ARENA_MAX + MAIL_BASE_SUBJECT_MAX * 8);
	for (i = 0; i < sr->n_items; i++) {
		for (c = 0; c < sr->n_crit; c++) {
			uint64_t *kc = sr->keys + i * sr->n_slots + sr->slot[c];
			size_t off, len;

			if (sort_key_is_number(sr->crit[c].key))
				continue;
			off = (size_t)(kc[2] >> 32);
			len = (uint32_t)kc[2];
			kc[2] = (uint64_t)fresh.len << 32 | (uint32_t)len;
			if (len > 0 && buf_append(&fresh, sr->arena.data + off, len) < 0)
				panic("imap: sort keys grew in compaction");
		}
	}
	old = sr->arena;
	sr->arena = fresh;
	buf_deinit(&old);
	sr->removed = 0;
}

void
imap_sort_keys_keep(struct sort_run *sr, const uint8_t *keep, uint32_t *map)
{
	size_t i, j = 0;

	for (i = 0; i < sr->n_items; i++) {
		if (!keep[i]) {
			sr->removed++;
			continue;
		}
		map[i] = (uint32_t)j;
		if (j != i) {
			sr->items[j] = sr->items[i];
			memmove(sr->keys + j * sr->n_slots, sr->keys + i * sr->n_slots,
			    sr->n_slots * sizeof(*sr->keys));
		}
		j++;
	}
	sr->n_items = j;
	if (sr->removed > sr->n_items && sr->arena.len > 64 * 1024)
		sort_arena_compact(sr);
}

void
imap_sort_keys_order(const struct sort_run *sr, uint32_t *items, size_t n)
{
	qsort_r(items, n, sizeof(*items), sort_cmp, (void *)sr);
}

size_t
imap_sort_keys_count(const struct sort_run *sr)
{
	return sr->n_items;
}

size_t
imap_sort_keys_bytes(const struct sort_run *sr)
{
	return sr->cap * (sizeof(*sr->items) + sr->n_slots * sizeof(*sr->keys)) +
	    sr->arena.cap;
}

void
imap_sort_keys_free(struct sort_run **sr)
{
	sort_run_free(*sr);
	*sr = NULL;
}
