/*
 * jmap_query.c — threads and searches of RFC 8621: Email/query with the whole
 * FilterCondition and FilterOperator (§4.4.1), its sorts and collapseThreads (§4.4.2),
 * Email/queryChanges (RFC 8620 §5.6), Thread/get and Thread/changes (§3), SearchSnippet/
 * get (§5), and the thread ids Email/get and Mailbox/get give.
 *
 * Per Email the fields searches and sorts read (From, To, Cc, Bcc, Subject, Date,
 * Message-ID, In-Reply-To, References) are kept as a small header block in the store's
 * item cache (item JQ_ITEM), so a query after the first does not read message files;
 * text matching is IMAP SEARCH's (src/mail/search.c). Thread ids live in the index
 * (mstore_threads_*), fixed from those fields the first time an Email is looked at.
 */
#include "jmap/jmap_local.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
#include "mail/search.h"
#include "mail/subject.h"
#include "mail/threadref.h"
#include "mailproc/mail_thread.h"
#include "mailproc/mail_user.h"
#include "store/store.h"

#define JQ_ITEM		8		/* the store item number of the fields block */
#define JQ_KIND		1		/* its format */
#define JQ_HEADER_READ	(256 * 1024)	/* header read from a message file */
#define JQ_HEADER_SMALL	(16 * 1024)	/* read at once, before mapping a longer one */
#define JQ_FIELD_MAX	4096		/* one field value kept (References: the ids) */
#define JQ_FILTER_DEPTH	10		/* FilterOperator nesting */
#define JQ_FILTER_NODES	256		/* conditions and operators in one filter */
#define JQ_SORT_MAX	8		/* Comparators */
#define JQ_SNIPPET_TERMS 16
#define JQ_ASSIGN_BATCH	2048		/* thread ids assigned in one write */

static const char *const jq_fields[] = { "From", "To", "Cc", "Bcc", "Subject", "Date",
	"Message-ID", "In-Reply-To", "References", NULL };

/* ---------------------------------------------------------------- the Emails */

struct jq_inst {		/* one message file: an Email in one folder */
	uint64_t emailid;
	uint64_t modseq;
	uint32_t uid;
	uint32_t fi;
	uint32_t keywords;
	uint8_t flags;
	time_t received;
	uint64_t size;
};

struct jq_email {
	uint64_t emailid, tid;
	size_t first, n;	/* its instances: inst[first .. first + n) */
	unsigned char *hdr;	/* the fields block, NULL until read */
	size_t hlen;
	bool hdr_read;
	bool keep;		/* filter result */
	char *skey[JQ_SORT_MAX];	/* folded sort strings, when a sort needs them */
	time_t sent;
};

struct jq {
	struct mail_user *mu;
	struct folders f;
	struct mailbox **box;		/* per folder, NULL when it did not open */
	char ***kw;			/* per folder: its 26 keyword names, lower-case */
	struct jq_inst *inst;		/* sorted by emailid, then folder */
	size_t ninst;
	struct jq_email *e;
	size_t ne;
	bool threads_done;
	bool confined;			/* only one folder was loaded (jq_load_in) */
};

static int
inst_cmp(const void *a, const void *b)
{
	const struct jq_inst *x = a, *y = b;

	if (x->emailid != y->emailid)
		return x->emailid < y->emailid ? -1 : 1;
	if (x->fi != y->fi)
		return x->fi < y->fi ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void
jq_free(struct jq *q)
{
	for (size_t i = 0; i < q->ne; i++) {
		free(q->e[i].hdr);
		for (int k = 0; k < JQ_SORT_MAX; k++)
			free(q->e[i].skey[k]);
	}
	for (size_t fi = 0; fi < q->f.n; fi++) {
		if (q->box[fi] != NULL)
			mailbox_unref(&q->box[fi]);
		if (q->kw[fi] != NULL) {
			for (int k = 0; k < 26; k++)
				free(q->kw[fi][k]);
			free(q->kw[fi]);
		}
	}
	free(q->box);
	free(q->kw);
	free(q->inst);
	free(q->e);
	jmap_folders_free(&q->f);
	memset(q, 0, sizeof(*q));
}

/* Every message of every folder (or of the folder whose id is only), grouped into
 * Emails by id. -1: a store error. */
static int
jq_load_in(struct mail_user *mu, struct jq *q, const char *only)
{
	size_t cap = 0;

	memset(q, 0, sizeof(*q));
	q->mu = mu;
	if (jmap_folders_open(mu, &q->f) < 0)
		return -1;
	q->box = xcalloc(q->f.n + 1, sizeof(*q->box));
	q->confined = only != NULL;
	q->kw = xcalloc(q->f.n + 1, sizeof(*q->kw));
	for (size_t fi = 0; fi < q->f.n; fi++) {
		struct mailbox *box;
		size_t n;

		if (only != NULL && strcmp(q->f.v[fi].guid, only) != 0)
			continue;
		box = q->box[fi] = q->f.v[fi].box;
		mailbox_ref(box);
		mailbox_msgs_load(box);
		q->kw[fi] = xcalloc(26, sizeof(char *));
		for (unsigned k = 0; k < 26; k++) {
			const char *name = mailbox_keyword_name(box, k);

			if (name != NULL) {
				char *lc = xstrdup(name);

				for (char *p = lc; *p != '\0'; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p - 'A' + 'a');
				q->kw[fi][k] = lc;
			}
		}
		for (size_t i = 0; i < (n = mailbox_count(box)); i++) {
			const struct mailbox_msg *m = mailbox_msg_at(box, i);
			struct jq_inst x;

			if ((m->internaldate == 0 || m->vsize == MAILBOX_SIZE_UNKNOWN) &&
			    mailbox_msg_info(box, m->uid, &m) != STORE_OK)
				continue;
			x.emailid = m->emailid;
			x.modseq = m->modseq;
			x.uid = m->uid;
			x.fi = (uint32_t)fi;
			x.keywords = m->keywords;
			x.flags = m->flags;
			x.received = m->internaldate;
			x.size = m->vsize;
			if (q->ninst == cap) {
				cap = cap ? cap * 2 : 256;
				q->inst = xreallocarray(q->inst, cap, sizeof(*q->inst));
			}
			q->inst[q->ninst++] = x;
		}
	}
	if (q->ninst > 0)
		qsort(q->inst, q->ninst, sizeof(*q->inst), inst_cmp);
	q->e = xcalloc(q->ninst + 1, sizeof(*q->e));
	for (size_t i = 0; i < q->ninst; ) {
		struct jq_email *e = &q->e[q->ne++];

		e->emailid = q->inst[i].emailid;
		e->first = i;
		while (i < q->ninst && q->inst[i].emailid == e->emailid)
			i++;
		e->n = i - e->first;
	}
	return 0;
}

static int
jq_load(struct mail_user *mu, struct jq *q)
{
	return jq_load_in(mu, q, NULL);
}

static struct jq_email *
jq_find(struct jq *q, uint64_t emailid)
{
	size_t lo = 0, hi = q->ne;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (q->e[mid].emailid == emailid)
			return &q->e[mid];
		if (q->e[mid].emailid < emailid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct jq_inst *
jq_primary(const struct jq *q, const struct jq_email *e)
{
	return &q->inst[e->first];
}

/* ---------------------------------------------------------------- the fields block */

/* The message file mapped: 0, or -1. */
static int
msg_map(struct mailbox *box, uint32_t uid, unsigned char **map_r, size_t *len_r)
{
	struct stat sb;
	int fd;

	*map_r = NULL;
	*len_r = 0;
	if (mailbox_msg_open(box, uid, &fd) != STORE_OK)
		return -1;
	if (fstat(fd, &sb) < 0) {
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
	return 0;
}

static void
msg_unmap(unsigned char *map, size_t len)
{
	if (map != NULL)
		munmap(map, len);
}

/*
 * The header block of a message: most headers end within the first JQ_HEADER_SMALL
 * bytes, which one pread gives without the mmap and munmap of the whole file (what
 * the first query of a big folder, which reads every message, spends most on); a
 * longer header is mapped, up to JQ_HEADER_READ.
 */
struct hdr_read {
	unsigned char small[JQ_HEADER_SMALL];
	const unsigned char *hdr;
	size_t hlen;
	unsigned char *map;
	size_t maplen;
};

static int
hdr_read(struct mailbox *box, uint32_t uid, struct hdr_read *h)
{
	size_t got = 0;
	bool complete = false;
	int fd;

	h->map = NULL;
	h->maplen = 0;
	if (mailbox_msg_open(box, uid, &fd) != STORE_OK)
		return -1;
	while (got < sizeof(h->small)) {
		ssize_t n = pread(fd, h->small + got, sizeof(h->small) - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	h->hdr = h->small;
	h->hlen = mail_header_block_end(h->small, got, NULL, &complete);
	if (got == sizeof(h->small) && !complete) {
		struct stat sb;
		void *p;

		if (fstat(fd, &sb) < 0 || (p = mmap(NULL, (size_t)sb.st_size, PROT_READ,
		    MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
			close(fd);
			return -1;
		}
		h->map = p;
		h->maplen = (size_t)sb.st_size;
		h->hdr = h->map;
		h->hlen = mail_header_block_end(h->map, MIN(h->maplen, (size_t)JQ_HEADER_READ),
		    NULL, &complete);
	}
	close(fd);
	return 0;
}

/* The fields block of a message's header: "Name: unfolded value\r\n" for the first of
 * each of jq_fields, each value cut at JQ_FIELD_MAX. */
static void
fields_block(const unsigned char *hdr, size_t hlen, struct buf *out)
{
	for (size_t i = 0; jq_fields[i] != NULL; i++) {
		char *v = mail_header_get(hdr, hlen, jq_fields[i]);
		size_t n;

		if (v == NULL)
			continue;
		n = strlen(v);
		if (n > JQ_FIELD_MAX)
			n = JQ_FIELD_MAX;
		for (size_t k = 0; k < n; k++)
			if (v[k] == '\r' || v[k] == '\n')
				v[k] = ' ';
		(void)buf_appendf(out, "%s: ", jq_fields[i]);
		(void)buf_append(out, v, n);
		(void)buf_append_str(out, "\r\n");
		free(v);
	}
}

struct walk_ctx {
	struct jq *q;
	uint32_t fi;
	size_t *idx;		/* per instance of this folder (in uid order): its Email */
	uint32_t *uids;
	size_t n;
};

static void
walk_cb(void *ctx, uint32_t uid, const unsigned char *data, size_t len)
{
	struct walk_ctx *w = ctx;
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->uids[mid] == uid) {
			struct jq_email *e = &w->q->e[w->idx[mid]];

			if (!e->hdr_read) {
				e->hdr = xmalloc(len + 1);
				memcpy(e->hdr, data, len);
				e->hdr[len] = '\0';
				e->hlen = len;
				e->hdr_read = true;
			}
			return;
		}
		if (w->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
}

static int
uidx_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Read the fields blocks of every Email (or of those with want[i]): the item cache,
 * then the message files for what it misses (and cache them). */
static void
jq_headers(struct jq *q, const bool *want)
{
	struct hdr_read *hr = xmalloc(sizeof(*hr));

	for (size_t fi = 0; fi < q->f.n; fi++) {
		struct walk_ctx w = { q, (uint32_t)fi, NULL, NULL, 0 };
		uint32_t *pairs;	/* (uid, email index) pairs, sorted by uid */
		size_t n = 0;
		uint32_t done;

		if (q->box[fi] == NULL)
			continue;
		pairs = xcalloc(2 * q->ne + 2, sizeof(*pairs));
		for (size_t i = 0; i < q->ne; i++) {
			const struct jq_inst *p = jq_primary(q, &q->e[i]);

			if (p->fi != fi || q->e[i].hdr_read || (want != NULL && !want[i]))
				continue;
			pairs[2 * n] = p->uid;
			pairs[2 * n + 1] = (uint32_t)i;
			n++;
		}
		if (n == 0) {
			free(pairs);
			continue;
		}
		qsort(pairs, n, 2 * sizeof(*pairs), uidx_cmp);
		w.uids = xcalloc(n, sizeof(*w.uids));
		w.idx = xcalloc(n, sizeof(*w.idx));
		for (size_t k = 0; k < n; k++) {
			w.uids[k] = pairs[2 * k];
			w.idx[k] = pairs[2 * k + 1];
		}
		w.n = n;
		(void)mailbox_items_walk(q->box[fi], JQ_ITEM, JQ_KIND, w.uids[0], w.uids[n - 1],
		    SIZE_MAX, walk_cb, &w, &done);
		for (size_t k = 0; k < n; k++) {
			struct jq_email *e = &q->e[w.idx[k]];
			struct buf b;

			if (e->hdr_read)
				continue;
			e->hdr_read = true;
			if (hdr_read(q->box[fi], w.uids[k], hr) < 0)
				continue;
			buf_init(&b, MAILBOX_ITEMS_MAX);
			fields_block(hr->hdr, hr->hlen, &b);
			msg_unmap(hr->map, hr->maplen);
			e->hlen = b.len;
			e->hdr = xmalloc(b.len + 1);
			if (b.len > 0)
				memcpy(e->hdr, b.data, b.len);
			e->hdr[b.len] = '\0';
			buf_deinit(&b);
			mailbox_items_put(q->box[fi], w.uids[k], JQ_ITEM, JQ_KIND, e->hdr, e->hlen);
		}
		free(w.uids);
		free(w.idx);
		free(pairs);
	}
	free(hr);
}

static char *
jq_field(const struct jq_email *e, const char *name)
{
	return e->hdr != NULL ? mail_header_get(e->hdr, e->hlen, name) : NULL;
}

/* ---------------------------------------------------------------- threads */

static int
by_received(const void *a, const void *b, void *ctx)
{
	const struct jq *q = ctx;
	const struct jq_email *x = &q->e[*(const size_t *)a], *y = &q->e[*(const size_t *)b];
	time_t tx = jq_primary(q, x)->received, ty = jq_primary(q, y)->received;

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return x->emailid < y->emailid ? -1 : x->emailid > y->emailid;
}

/* The thread id of every Email (assigned now for those that have none yet). */
static void
jq_threads(struct jq *q)
{
	uint64_t *ids, *tids;
	bool *want;
	size_t nmiss = 0;

	if (q->threads_done)
		return;
	q->threads_done = true;
	ids = xcalloc(q->ne + 1, sizeof(*ids));
	tids = xcalloc(q->ne + 1, sizeof(*tids));
	want = xcalloc(q->ne + 1, sizeof(*want));
	for (size_t i = 0; i < q->ne; i++)
		ids[i] = q->e[i].emailid;
	mstore_threads_lookup(mail_user_store(q->mu), q->ne, ids, tids);
	for (size_t i = 0; i < q->ne; i++) {
		q->e[i].tid = tids[i];
		if (tids[i] == 0) {
			want[i] = true;
			nmiss++;
		}
	}
	if (nmiss > 0) {
		struct mstore_thread_refs *refs = xcalloc(JQ_ASSIGN_BATCH, sizeof(*refs));
		uint64_t *hashes = xcalloc(JQ_ASSIGN_BATCH * MSTORE_THREAD_REFS_MAX,
		    sizeof(*hashes));
		size_t *which = xcalloc(nmiss, sizeof(*which));
		size_t k = 0;

		jq_headers(q, want);
		/* in the order of arrival, so a reply comes after its parent and a
		 * thread's id is its first message's */
		for (size_t i = 0; i < q->ne; i++)
			if (want[i])
				which[k++] = i;
		if (k > 1)
			qsort_r(which, k, sizeof(*which), by_received, q);
		/* in batches: one write each, bounded memory for the ids */
		for (size_t b = 0; b < k; b += JQ_ASSIGN_BATCH) {
			size_t nb = MIN(k - b, (size_t)JQ_ASSIGN_BATCH);

			for (size_t j = 0; j < nb; j++) {
				struct jq_email *e = &q->e[which[b + j]];
				uint64_t *h = hashes + j * MSTORE_THREAD_REFS_MAX;

				refs[j].own = 0;
				refs[j].n = e->hdr != NULL ? mail_thread_refs(e->hdr, e->hlen,
				    &refs[j].own, h, MSTORE_THREAD_REFS_MAX) : 0;
				refs[j].emailid = e->emailid;
				refs[j].hashes = h;
			}
			mstore_threads_assign(mail_user_store(q->mu), nb, refs, tids);
			for (size_t j = 0; j < nb; j++)
				q->e[which[b + j]].tid = tids[j];
		}
		free(refs);
		free(hashes);
		free(which);
	}
	free(ids);
	free(tids);
	free(want);
}

uint64_t
jmap_thread_of(struct mail_user *mu, struct mailbox *box, uint32_t uid, uint64_t emailid)
{
	return mail_thread_id(mail_user_store(mu), box, uid, emailid);
}

/* ---------------------------------------------------------------- keywords */

static bool
inst_has_keyword(const struct jq *q, const struct jq_inst *x, const char *kw)
{
	static const struct { const char *name; uint8_t flag; } sys[] = {
		{ "$seen", MAILBOX_FLAG_SEEN }, { "$flagged", MAILBOX_FLAG_FLAGGED },
		{ "$answered", MAILBOX_FLAG_ANSWERED }, { "$draft", MAILBOX_FLAG_DRAFT },
	};

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (strcasecmp(kw, sys[i].name) == 0)
			return (x->flags & sys[i].flag) != 0;
	if (q->kw[x->fi] == NULL)
		return false;
	for (unsigned k = 0; k < 26; k++)
		if ((x->keywords & (1u << k)) && q->kw[x->fi][k] != NULL &&
		    strcasecmp(q->kw[x->fi][k], kw) == 0)
			return true;
	return false;
}

/* An Email's keywords are its first instance's (Email/get says the same). */
static bool
has_keyword(const struct jq *q, const struct jq_email *e, const char *kw)
{
	return inst_has_keyword(q, jq_primary(q, e), kw);
}

/* Thread aggregates: per Email, whether some / all Emails of its thread have kw. */
struct thread_kw {
	bool *some, *all;
};

static int
tid_idx_cmp(const void *a, const void *b, void *ctx)
{
	const struct jq *q = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (q->e[x].tid != q->e[y].tid)
		return q->e[x].tid < q->e[y].tid ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void
thread_kw_compute(struct jq *q, const char *kw, struct thread_kw *t)
{
	size_t *order = xcalloc(q->ne + 1, sizeof(*order));

	jq_threads(q);
	t->some = xcalloc(q->ne + 1, sizeof(bool));
	t->all = xcalloc(q->ne + 1, sizeof(bool));
	for (size_t i = 0; i < q->ne; i++)
		order[i] = i;
	if (q->ne > 0)
		qsort_r(order, q->ne, sizeof(*order), tid_idx_cmp, q);
	for (size_t i = 0; i < q->ne; ) {
		size_t j = i;
		bool some = false, all = true;

		while (j < q->ne && q->e[order[j]].tid == q->e[order[i]].tid) {
			bool h = has_keyword(q, &q->e[order[j]], kw);

			some |= h;
			all &= h;
			j++;
		}
		for (size_t k = i; k < j; k++) {
			t->some[order[k]] = some;
			t->all[order[k]] = all;
		}
		i = j;
	}
	free(order);
}

static void
thread_kw_free(struct thread_kw *t)
{
	free(t->some);
	free(t->all);
}

/* ---------------------------------------------------------------- filters */

enum fop { F_COND, F_AND, F_OR, F_NOT };

struct fnode {
	enum fop op;
	struct fnode **kids;
	size_t n;
	/* F_COND: every property given must match */
	bool has_in, has_before, has_after, has_min, has_max;
	int in_fi;			/* -1: no such mailbox (matches nothing) */
	int *other;			/* inMailboxOtherThan folder indexes (-1: unknown) */
	size_t nother;
	bool has_other;
	time_t before, after;
	uint64_t min, max;
	const char *has_kw, *not_kw, *all_kw, *some_kw, *none_kw;
	struct thread_kw tall, tsome, tnone;
	struct mail_search_key *text, *from, *to, *cc, *bcc, *subject, *body;
	char *hname;
	struct mail_search_key *hvalue;
	int has_att;			/* hasAttachment: -1 not given, 0 false, 1 true */
	bool needs_hdr, needs_file;
	bool thread_dep;		/* a thread keyword condition below */
};

struct fparse {
	struct jq *q;
	size_t nodes;
	const char *error, *desc;
};

static void
fnode_free(struct fnode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		fnode_free(n->kids[i]);
	free(n->kids);
	free(n->other);
	thread_kw_free(&n->tall);
	thread_kw_free(&n->tsome);
	thread_kw_free(&n->tnone);
	mail_search_key_destroy(&n->text);
	mail_search_key_destroy(&n->from);
	mail_search_key_destroy(&n->to);
	mail_search_key_destroy(&n->cc);
	mail_search_key_destroy(&n->bcc);
	mail_search_key_destroy(&n->subject);
	mail_search_key_destroy(&n->body);
	mail_search_key_destroy(&n->hvalue);
	free(n->hname);
	free(n);
}

/* RFC 3339 UTCDate ("2026-03-03T09:15:40Z", fraction allowed) into *t. */
static bool
utcdate_parse(const char *s, time_t *t)
{
	struct tm tm;
	int y, mo, d, h, mi, se, n = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
	    n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	s += n;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (strcmp(s, "Z") != 0)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*t = timegm(&tm);
	return true;
}

static bool
keyword_ok(const char *k)
{
	size_t n = k != NULL ? strlen(k) : 0;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f ||
		    strchr("(){]%*\"\\", k[i]) != NULL)
			return false;
	return true;
}

static struct mail_search_key *
text_key(json_t *v)
{
	return mail_search_key_create(json_string_value(v), json_string_length(v));
}

static struct fnode *fparse_node(struct fparse *p, json_t *j, int depth);

static struct fnode *
fparse_cond(struct fparse *p, json_t *j)
{
	struct fnode *n = xcalloc(1, sizeof(*n));
	const char *k;
	json_t *v;

	n->op = F_COND;
	n->has_att = -1;
	json_object_foreach(j, k, v) {
		bool str = json_is_string(v);

#define BAD(what)	do { p->error = "invalidArguments"; p->desc = what; goto bad; } while (0)
		if (strcmp(k, "inMailbox") == 0) {
			struct folder *fo;

			if (!str)
				BAD("inMailbox must be an Id");
			fo = jmap_folder_by_guid(&p->q->f, json_string_value(v));
			n->has_in = true;
			n->in_fi = fo != NULL ? (int)(fo - p->q->f.v) : -1;
		} else if (strcmp(k, "inMailboxOtherThan") == 0) {
			size_t i;
			json_t *x;

			if (!json_is_array(v) || json_array_size(v) > 10000)
				BAD("inMailboxOtherThan must be an Id[]");
			n->has_other = true;
			n->other = xcalloc(json_array_size(v) + 1, sizeof(int));
			json_array_foreach(v, i, x) {
				struct folder *fo;

				if (!json_is_string(x))
					BAD("inMailboxOtherThan must be an Id[]");
				fo = jmap_folder_by_guid(&p->q->f, json_string_value(x));
				n->other[n->nother++] = fo != NULL ? (int)(fo - p->q->f.v) : -1;
			}
		} else if (strcmp(k, "before") == 0 || strcmp(k, "after") == 0) {
			time_t t;

			if (!utcdate_parse(json_string_value(v), &t))
				BAD("before/after must be a UTCDate");
			if (k[0] == 'b') {
				n->has_before = true;
				n->before = t;
			} else {
				n->has_after = true;
				n->after = t;
			}
		} else if (strcmp(k, "minSize") == 0 || strcmp(k, "maxSize") == 0) {
			json_int_t x;

			if (!json_is_integer(v) || !jmap_json_uint(v, 0, &x))
				BAD("minSize/maxSize must be an UnsignedInt");
			if (k[1] == 'i') {
				n->has_min = true;
				n->min = (uint64_t)x;
			} else {
				n->has_max = true;
				n->max = (uint64_t)x;
			}
		} else if (strcmp(k, "hasKeyword") == 0 || strcmp(k, "notKeyword") == 0 ||
		    strcmp(k, "allInThreadHaveKeyword") == 0 ||
		    strcmp(k, "someInThreadHaveKeyword") == 0 ||
		    strcmp(k, "noneInThreadHaveKeyword") == 0) {
			const char *kw = json_string_value(v);

			n->thread_dep |= k[0] != 'h' && strcmp(k, "notKeyword") != 0;
			if (!keyword_ok(kw))
				BAD("a keyword must be a String of 1-255 allowed characters");
			switch (k[0]) {
			case 'h': n->has_kw = kw; break;
			case 'n': if (k[1] == 'o' && k[2] == 't') n->not_kw = kw;
				  else { n->none_kw = kw; thread_kw_compute(p->q, kw, &n->tnone); }
				  break;
			case 'a': n->all_kw = kw; thread_kw_compute(p->q, kw, &n->tall); break;
			default: n->some_kw = kw; thread_kw_compute(p->q, kw, &n->tsome); break;
			}
		} else if (strcmp(k, "text") == 0 || strcmp(k, "from") == 0 ||
		    strcmp(k, "to") == 0 || strcmp(k, "cc") == 0 || strcmp(k, "bcc") == 0 ||
		    strcmp(k, "subject") == 0 || strcmp(k, "body") == 0) {
			struct mail_search_key **slot;

			if (!str)
				BAD("a text condition must be a String");
			slot = strcmp(k, "text") == 0 ? &n->text : strcmp(k, "from") == 0 ?
			    &n->from : strcmp(k, "to") == 0 ? &n->to : strcmp(k, "cc") == 0 ?
			    &n->cc : strcmp(k, "bcc") == 0 ? &n->bcc :
			    strcmp(k, "subject") == 0 ? &n->subject : &n->body;
			if (*slot == NULL)
				*slot = text_key(v);
			if (strcmp(k, "text") == 0 || strcmp(k, "body") == 0)
				n->needs_file = true;
			n->needs_hdr = true;
		} else if (strcmp(k, "header") == 0) {
			json_t *name = json_array_get(v, 0), *val = json_array_get(v, 1);

			if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 2 ||
			    !json_is_string(name) || (val != NULL && !json_is_string(val)) ||
			    json_string_length(name) == 0 || json_string_length(name) > 255 ||
			    strpbrk(json_string_value(name), ": \t\r\n") != NULL)
				BAD("header must be [name] or [name, value]");
			n->hname = xstrdup(json_string_value(name));
			if (val != NULL)
				n->hvalue = text_key(val);
			n->needs_file = true;
		} else if (strcmp(k, "hasAttachment") == 0) {
			if (!json_is_boolean(v))
				BAD("hasAttachment must be a Boolean");
			n->has_att = json_is_true(v);
			n->needs_file = true;
		} else {
			p->error = "unsupportedFilter";
			p->desc = "unknown filter property";
			goto bad;
		}
#undef BAD
	}
	return n;
bad:
	fnode_free(n);
	return NULL;
}

static struct fnode *
fparse_node(struct fparse *p, json_t *j, int depth)
{
	json_t *op, *conds, *c;
	struct fnode *n;
	size_t i;

	if (!json_is_object(j)) {
		p->error = "invalidArguments";
		p->desc = "a filter must be an object";
		return NULL;
	}
	if (++p->nodes > JQ_FILTER_NODES || depth > JQ_FILTER_DEPTH) {
		p->error = "unsupportedFilter";
		p->desc = "the filter is too large or too deep";
		return NULL;
	}
	op = json_object_get(j, "operator");
	if (op == NULL)
		return fparse_cond(p, j);
	conds = json_object_get(j, "conditions");
	if (!json_is_string(op) || !json_is_array(conds) || json_object_size(j) != 2) {
		p->error = "invalidArguments";
		p->desc = "a FilterOperator has operator and conditions";
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	if (strcmp(json_string_value(op), "AND") == 0)
		n->op = F_AND;
	else if (strcmp(json_string_value(op), "OR") == 0)
		n->op = F_OR;
	else if (strcmp(json_string_value(op), "NOT") == 0)
		n->op = F_NOT;
	else {
		free(n);
		p->error = "invalidArguments";
		p->desc = "operator must be AND, OR or NOT";
		return NULL;
	}
	n->kids = xcalloc(json_array_size(conds) + 1, sizeof(*n->kids));
	json_array_foreach(conds, i, c) {
		struct fnode *k = fparse_node(p, c, depth + 1);

		if (k == NULL) {
			fnode_free(n);
			return NULL;
		}
		n->kids[n->n++] = k;
		n->needs_hdr |= k->needs_hdr;
		n->needs_file |= k->needs_file;
		n->thread_dep |= k->thread_dep;
	}
	return n;
}

/* The message of e mapped, with its header block end, for body and header conditions. */
struct msgfile {
	bool tried;
	unsigned char *map;
	size_t len, hlen;
	struct mail_message *m;
};

static void
msgfile_open(struct jq *q, struct jq_email *e, struct msgfile *mf)
{
	const struct jq_inst *x = jq_primary(q, e);
	bool complete;

	if (mf->tried)
		return;
	mf->tried = true;
	if (q->box[x->fi] == NULL || msg_map(q->box[x->fi], x->uid, &mf->map, &mf->len) < 0)
		return;
	mf->hlen = mf->map != NULL ? mail_header_block_end(mf->map, mf->len, NULL, &complete) :
	    0;
}

static void
msgfile_close(struct msgfile *mf)
{
	mail_message_free(&mf->m);
	msg_unmap(mf->map, mf->len);
	memset(mf, 0, sizeof(*mf));
}

static bool
hdr_match(const struct jq_email *e, const struct mail_search_key *k, const char *name)
{
	return e->hdr != NULL && mail_search_header_block(k, e->hdr, e->hlen, name) == 1;
}

static bool
body_match(struct jq *q, struct jq_email *e, struct msgfile *mf,
    const struct mail_search_key *k)
{
	msgfile_open(q, e, mf);
	if (mf->map == NULL)
		return false;
	if (mf->m == NULL)
		mf->m = mail_message_parse(mf->map, mf->len, NULL);
	return mf->m != NULL && mail_search_body(k, mf->m, false);
}

static bool
cond_match(struct jq *q, const struct fnode *n, size_t ei, struct msgfile *mf)
{
	struct jq_email *e = &q->e[ei];
	const struct jq_inst *x = jq_primary(q, e);

	if (n->has_in) {
		bool in = false;

		for (size_t i = 0; i < e->n && !in; i++)
			in = n->in_fi >= 0 && q->inst[e->first + i].fi == (uint32_t)n->in_fi;
		if (!in)
			return false;
	}
	if (n->has_other) {
		bool other = false;

		for (size_t i = 0; i < e->n && !other; i++) {
			bool listed = false;

			for (size_t j = 0; j < n->nother && !listed; j++)
				listed = n->other[j] >= 0 &&
				    q->inst[e->first + i].fi == (uint32_t)n->other[j];
			other = !listed;
		}
		if (!other)
			return false;
	}
	if ((n->has_before && !(x->received < n->before)) ||
	    (n->has_after && !(x->received >= n->after)) ||
	    (n->has_min && !(x->size >= n->min)) || (n->has_max && !(x->size < n->max)))
		return false;
	if ((n->has_kw && !has_keyword(q, e, n->has_kw)) ||
	    (n->not_kw && has_keyword(q, e, n->not_kw)) ||
	    (n->all_kw && !n->tall.all[ei]) || (n->some_kw && !n->tsome.some[ei]) ||
	    (n->none_kw && n->tnone.some[ei]))
		return false;
	if ((n->from && !hdr_match(e, n->from, "From")) ||
	    (n->to && !hdr_match(e, n->to, "To")) || (n->cc && !hdr_match(e, n->cc, "Cc")) ||
	    (n->bcc && !hdr_match(e, n->bcc, "Bcc")) ||
	    (n->subject && !hdr_match(e, n->subject, "Subject")))
		return false;
	/* RFC 8621 §4.4.1 text: From, To, Cc, Bcc, Subject or the body */
	if (n->text && !hdr_match(e, n->text, "From") && !hdr_match(e, n->text, "To") &&
	    !hdr_match(e, n->text, "Cc") && !hdr_match(e, n->text, "Bcc") &&
	    !hdr_match(e, n->text, "Subject") && !body_match(q, e, mf, n->text))
		return false;
	if (n->body && !body_match(q, e, mf, n->body))
		return false;
	if (n->has_att >= 0) {
		msgfile_open(q, e, mf);
		if (mf->map == NULL)
			return false;
		if (mf->m == NULL)
			mf->m = mail_message_parse(mf->map, mf->len, NULL);
		if (mf->m == NULL || jmap_body_has_attachment(mf->m) != (n->has_att == 1))
			return false;
	}
	if (n->hname != NULL) {
		char *v;

		msgfile_open(q, e, mf);
		if (mf->map == NULL)
			return false;
		if (n->hvalue == NULL) {
			v = mail_header_get(mf->map, mf->hlen, n->hname);
			free(v);
			if (v == NULL)
				return false;
		} else {
			int r = mail_search_header_block(n->hvalue, mf->map, mf->hlen, n->hname);

			if (r < 0) {
				if (mf->m == NULL)
					mf->m = mail_message_parse(mf->map, mf->len, NULL);
				r = mf->m != NULL && mail_search_header(n->hvalue, mf->m, NULL,
				    n->hname);
			}
			if (r != 1)
				return false;
		}
	}
	return true;
}

static bool
fmatch(struct jq *q, const struct fnode *n, size_t ei, struct msgfile *mf)
{
	switch (n->op) {
	case F_COND:
		return cond_match(q, n, ei, mf);
	case F_AND:
		for (size_t i = 0; i < n->n; i++)
			if (!fmatch(q, n->kids[i], ei, mf))
				return false;
		return true;
	case F_OR:
		for (size_t i = 0; i < n->n; i++)
			if (fmatch(q, n->kids[i], ei, mf))
				return true;
		return false;
	case F_NOT:
		for (size_t i = 0; i < n->n; i++)
			if (fmatch(q, n->kids[i], ei, mf))
				return false;
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- sorts */

enum sprop { S_RECEIVED, S_SENT, S_SIZE, S_FROM, S_TO, S_SUBJECT, S_HASKW, S_ALLKW,
	S_SOMEKW };

struct skey {
	enum sprop prop;
	bool asc;
	bool ascii;		/* i;ascii-casemap (else i;unicode-casemap) */
	bool octet;		/* i;octet */
	const char *kw;
	struct thread_kw t;
};

struct sctx {
	struct jq *q;
	struct skey *k;
	size_t nk;
};

/* The first address's name, else its email (RFC 8621 §4.4.2 from/to). */
static char *
first_address(const struct jq_email *e, const char *field)
{
	char *v = jq_field(e, field), *r = NULL;
	struct mail_address *list;
	unsigned count;

	if (v == NULL)
		return xstrdup("");
	mail_address_parse(v, strlen(v), 16, &list, &count);
	for (unsigned i = 0; i < count && r == NULL; i++) {
		const struct mail_address *a = &list[i];

		if (a->group_start || a->group_end || a->mailbox == NULL)
			continue;
		if (a->name != NULL && a->name[0] != '\0') {
			r = mail_rfc2047_decode_dup(a->name, strlen(a->name));
			if (r == NULL)
				r = xstrdup(a->name);
		} else {
			r = a->host != NULL ? xasprintf("%s@%s", a->mailbox, a->host) :
			    xstrdup(a->mailbox);
		}
	}
	mail_address_list_free(&list, count);
	free(v);
	return r != NULL ? r : xstrdup("");
}

static char *
fold_key(const struct skey *k, const char *s)
{
	struct buf out, tmp;
	char *r;

	if (k->octet)
		return xstrdup(s);
	if (k->ascii) {
		r = xstrdup(s);
		for (char *p = r; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		return r;
	}
	buf_init(&out, 4 * JQ_FIELD_MAX);
	buf_init(&tmp, 4 * JQ_FIELD_MAX);
	mail_casemap_fold(&out, &tmp, s, strlen(s));
	(void)buf_append_c(&out, '\0');
	r = buf_steal(&out);
	buf_deinit(&tmp);
	return r;
}

static void
sort_prepare(struct jq *q, struct skey *k, size_t nk, const size_t *idx, size_t n)
{
	bool need_hdr = false;
	bool *want = xcalloc(q->ne + 1, sizeof(bool));

	for (size_t j = 0; j < nk; j++)
		need_hdr |= k[j].prop == S_SENT || k[j].prop == S_FROM || k[j].prop == S_TO ||
		    k[j].prop == S_SUBJECT;
	if (need_hdr) {
		for (size_t i = 0; i < n; i++)
			want[idx[i]] = true;
		jq_headers(q, want);
	}
	for (size_t i = 0; i < n; i++) {
		struct jq_email *e = &q->e[idx[i]];

		for (size_t j = 0; j < nk; j++) {
			char *s = NULL;

			if (k[j].prop == S_SENT) {
				char *d = jq_field(e, "Date");
				int tz;

				if (d == NULL || mail_date_parse(d, strlen(d), &e->sent, &tz) < 0)
					e->sent = jq_primary(q, e)->received;
				free(d);
			} else if (k[j].prop == S_FROM || k[j].prop == S_TO) {
				s = first_address(e, k[j].prop == S_FROM ? "From" : "To");
			} else if (k[j].prop == S_SUBJECT) {
				char *v = jq_field(e, "Subject");
				struct buf b;

				buf_init(&b, MAIL_BASE_SUBJECT_MAX + 1);
				if (v != NULL)
					(void)mail_base_subject(v, strlen(v), &b, NULL);
				(void)buf_append_c(&b, '\0');
				s = buf_steal(&b);
				free(v);
			}
			if (s != NULL) {
				free(e->skey[j]);
				e->skey[j] = fold_key(&k[j], s);
				free(s);
			}
		}
	}
	free(want);
}

static int
email_cmp(const void *a, const void *b, void *ctx)
{
	const struct sctx *s = ctx;
	size_t xi = *(const size_t *)a, yi = *(const size_t *)b;
	const struct jq_email *x = &s->q->e[xi], *y = &s->q->e[yi];
	const struct jq_inst *px = jq_primary(s->q, x), *py = jq_primary(s->q, y);

	for (size_t j = 0; j < s->nk; j++) {
		const struct skey *k = &s->k[j];
		int c = 0;

		switch (k->prop) {
		case S_RECEIVED:
			c = px->received < py->received ? -1 : px->received > py->received;
			break;
		case S_SENT:
			c = x->sent < y->sent ? -1 : x->sent > y->sent;
			break;
		case S_SIZE:
			c = px->size < py->size ? -1 : px->size > py->size;
			break;
		case S_FROM:
		case S_TO:
		case S_SUBJECT:
			c = strcmp(x->skey[j] ? x->skey[j] : "", y->skey[j] ? y->skey[j] : "");
			break;
		case S_HASKW:
			c = (int)has_keyword(s->q, x, k->kw) - (int)has_keyword(s->q, y, k->kw);
			break;
		case S_ALLKW:
			c = (int)k->t.all[xi] - (int)k->t.all[yi];
			break;
		case S_SOMEKW:
			c = (int)k->t.some[xi] - (int)k->t.some[yi];
			break;
		}
		if (c != 0)
			return k->asc ? c : -c;
	}
	/* a total order, so positions and anchors are stable: the newest first, then id */
	if (px->received != py->received)
		return px->received > py->received ? -1 : 1;
	return x->emailid < y->emailid ? -1 : x->emailid > y->emailid;
}

/* Parse the sort argument into k (at most JQ_SORT_MAX); false with the error set. */
static bool
sort_parse(struct jmap_call *call, struct jq *q, json_t *sort, struct skey *k, size_t *nk)
{
	size_t i;
	json_t *c;

	*nk = 0;
	if (sort == NULL || json_is_null(sort)) {
		k[0].prop = S_RECEIVED;
		k[0].asc = false;
		*nk = 1;
		return true;
	}
	if (!json_is_array(sort)) {
		jmap_set_error(call, "invalidArguments", "sort must be an array");
		return false;
	}
	if (json_array_size(sort) > JQ_SORT_MAX) {
		jmap_set_error(call, "unsupportedSort", "too many Comparators");
		return false;
	}
	json_array_foreach(sort, i, c) {
		const char *p = json_string_value(json_object_get(c, "property"));
		json_t *asc = json_object_get(c, "isAscending");
		json_t *coll = json_object_get(c, "collation");
		const char *kw = json_string_value(json_object_get(c, "keyword"));
		struct skey *s = &k[*nk];

		memset(s, 0, sizeof(*s));
		if (!json_is_object(c) || p == NULL || (asc != NULL && !json_is_boolean(asc)) ||
		    (coll != NULL && !json_is_string(coll))) {
			jmap_set_error(call, "invalidArguments", "a Comparator is not valid");
			return false;
		}
		/* RFC 8620 §5.5: isAscending defaults to true */
		s->asc = asc == NULL || json_is_true(asc);
		if (coll != NULL) {
			const char *cs = json_string_value(coll);

			if (strcmp(cs, "i;ascii-casemap") == 0)
				s->ascii = true;
			else if (strcmp(cs, "i;octet") == 0)
				s->octet = true;
			else if (strcmp(cs, "i;unicode-casemap") != 0) {
				jmap_set_error(call, "unsupportedSort", "unknown collation");
				return false;
			}
		}
		if (strcmp(p, "receivedAt") == 0)
			s->prop = S_RECEIVED;
		else if (strcmp(p, "sentAt") == 0)
			s->prop = S_SENT;
		else if (strcmp(p, "size") == 0)
			s->prop = S_SIZE;
		else if (strcmp(p, "from") == 0)
			s->prop = S_FROM;
		else if (strcmp(p, "to") == 0)
			s->prop = S_TO;
		else if (strcmp(p, "subject") == 0)
			s->prop = S_SUBJECT;
		else if (strcmp(p, "hasKeyword") == 0 || strcmp(p, "allInThreadHaveKeyword") == 0 ||
		    strcmp(p, "someInThreadHaveKeyword") == 0) {
			if (!keyword_ok(kw)) {
				jmap_set_error(call, "invalidArguments", "keyword is required");
				return false;
			}
			s->kw = kw;
			s->prop = p[0] == 'h' ? S_HASKW : p[0] == 'a' ? S_ALLKW : S_SOMEKW;
			if (s->prop != S_HASKW)
				thread_kw_compute(q, kw, &s->t);
		} else {
			jmap_set_error(call, "unsupportedSort", "unknown sort property");
			return false;
		}
		(*nk)++;
	}
	if (*nk == 0) {
		k[0].prop = S_RECEIVED;
		*nk = 1;
	}
	return true;
}

/* ---------------------------------------------------------------- a query run */

struct qrun {
	struct jq q;
	struct skey k[JQ_SORT_MAX];
	size_t nk;
	struct fnode *filter;
	bool collapse;
	bool thread_dep;	/* a result depends on other Emails of its thread */
	size_t *all;		/* filtered and sorted, before collapsing */
	size_t nall;
	size_t *res;		/* the results */
	size_t nres;
};

static void
qrun_free(struct qrun *r)
{
	for (size_t j = 0; j < r->nk; j++)
		thread_kw_free(&r->k[j].t);
	fnode_free(r->filter);
	free(r->all);
	free(r->res);
	jq_free(&r->q);
}

static int
u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The folder a query is confined to when only its messages matter: a filter that is
 * one FilterCondition with inMailbox and nothing that looks at other Emails of a
 * thread (collapseThreads, thread keyword conditions or sorts); an Email's keywords
 * are then those of its instance there. NULL: every folder.
 */
static const char *
query_folder(json_t *filter, json_t *sort, json_t *collapse)
{
	const char *in = json_string_value(json_object_get(filter, "inMailbox"));
	size_t i;
	json_t *c;

	if (in == NULL || json_object_get(filter, "operator") != NULL ||
	    json_is_true(collapse) || json_object_get(filter, "allInThreadHaveKeyword") ||
	    json_object_get(filter, "someInThreadHaveKeyword") ||
	    json_object_get(filter, "noneInThreadHaveKeyword"))
		return NULL;
	json_array_foreach(sort, i, c) {
		const char *p = json_string_value(json_object_get(c, "property"));

		if (p == NULL || strstr(p, "InThread") != NULL)
			return NULL;
	}
	return in;
}

/* Load (only the folder of query_folder when there is one: Email/query and
 * Email/queryChanges alike, so they see the same keywords), filter, sort and collapse
 * as the call's arguments say; false: error set. */
static bool
qrun_run(struct jmap_call *call, struct qrun *r)
{
	json_t *filter = json_object_get(call->args, "filter");
	json_t *collapse = json_object_get(call->args, "collapseThreads");

	memset(r, 0, sizeof(*r));
	if (collapse != NULL && !json_is_boolean(collapse) && !json_is_null(collapse)) {
		jmap_set_error(call, "invalidArguments", "collapseThreads must be a Boolean");
		return false;
	}
	r->collapse = json_is_true(collapse);
	if (jq_load_in(call->mu, &r->q, query_folder(filter,
	    json_object_get(call->args, "sort"), collapse)) < 0) {
		jmap_set_error(call, "serverFail", NULL);
		return false;
	}
	if (filter != NULL && !json_is_null(filter)) {
		struct fparse p = { &r->q, 0, NULL, NULL };

		r->filter = fparse_node(&p, filter, 0);
		if (r->filter == NULL) {
			jmap_set_error(call, p.error, p.desc);
			return false;
		}
	}
	if (!sort_parse(call, &r->q, json_object_get(call->args, "sort"), r->k, &r->nk))
		return false;
	r->thread_dep = r->collapse || (r->filter != NULL && r->filter->thread_dep);
	for (size_t j = 0; j < r->nk; j++)
		r->thread_dep |= r->k[j].prop == S_ALLKW || r->k[j].prop == S_SOMEKW;
	if (r->filter != NULL && r->filter->needs_hdr)
		jq_headers(&r->q, NULL);
	r->all = xcalloc(r->q.ne + 1, sizeof(*r->all));
	for (size_t i = 0; i < r->q.ne; i++) {
		struct msgfile mf = { 0 };
		bool keep = r->filter == NULL || fmatch(&r->q, r->filter, i, &mf);

		msgfile_close(&mf);
		if (keep)
			r->all[r->nall++] = i;
	}
	sort_prepare(&r->q, r->k, r->nk, r->all, r->nall);
	if (r->nall > 1) {
		struct sctx s = { &r->q, r->k, r->nk };

		qsort_r(r->all, r->nall, sizeof(*r->all), email_cmp, &s);
	}
	r->res = xcalloc(r->nall + 1, sizeof(*r->res));
	if (!r->collapse) {
		if (r->nall > 0)
			memcpy(r->res, r->all, r->nall * sizeof(*r->res));
		r->nres = r->nall;
	} else {
		/* RFC 8621 §4.4.3: only the first Email of each thread in the sorted list */
		uint64_t *seen = xcalloc(r->nall + 1, sizeof(*seen));
		size_t nseen = 0;

		jq_threads(&r->q);
		for (size_t i = 0; i < r->nall; i++) {
			uint64_t t = r->q.e[r->all[i]].tid;
			bool dup = false;

			/* seen is kept sorted: a binary search and an insertion */
			size_t lo = 0, hi = nseen;

			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (seen[mid] == t) {
					dup = true;
					break;
				}
				if (seen[mid] < t)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (dup)
				continue;
			memmove(seen + lo + 1, seen + lo, (nseen - lo) * sizeof(*seen));
			seen[lo] = t;
			nseen++;
			r->res[r->nres++] = r->all[i];
		}
		free(seen);
	}
	return true;
}

/* ---------------------------------------------------------------- Email/query */

/*
 * The sorted results of the last few queries, keyed by the Email state and the
 * arguments that choose them (filter, sort, collapseThreads): a client asks the same
 * query again and again (a page of a list, every push), and the state changes with any
 * change of what a query can look at (flags, messages, folders), so a hit is exact.
 * Per process, that is per user (one mail process a user); JQ_CACHE_N entries of at most
 * one id per Email.
 */
#define JQ_CACHE_N	4

struct jq_cached {
	const struct mail_user *mu;
	char *key;
	uint64_t *ids;
	size_t n;
	uint64_t used;
};

static struct jq_cached jq_cache[JQ_CACHE_N];
static uint64_t jq_cache_clock;

/* The cache key of call's query at state (caller frees), or NULL. */
static char *
query_key(struct jmap_call *call, const char *state)
{
	json_t *k = json_object();
	char *args, *key;

	(void)json_object_set(k, "f", json_object_get(call->args, "filter"));
	(void)json_object_set(k, "s", json_object_get(call->args, "sort"));
	(void)json_object_set(k, "c", json_object_get(call->args, "collapseThreads"));
	args = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(k);
	if (args == NULL)
		return NULL;
	key = xasprintf("%s\n%s", state, args);
	free(args);
	return key;
}

static const struct jq_cached *
query_cache_get(const struct mail_user *mu, const char *key)
{
	for (size_t i = 0; i < JQ_CACHE_N; i++)
		if (jq_cache[i].key != NULL && jq_cache[i].mu == mu &&
		    strcmp(jq_cache[i].key, key) == 0) {
			jq_cache[i].used = ++jq_cache_clock;
			return &jq_cache[i];
		}
	return NULL;
}

/* Keep the result ids of a query (takes key and ids), replacing the least used. */
static void
query_cache_put(const struct mail_user *mu, char *key, uint64_t *ids, size_t n)
{
	struct jq_cached *c = &jq_cache[0];

	for (size_t i = 1; i < JQ_CACHE_N; i++)
		if (jq_cache[i].used < c->used)
			c = &jq_cache[i];
	free(c->key);
	free(c->ids);
	c->mu = mu;
	c->key = key;
	c->ids = ids;
	c->n = n;
	c->used = ++jq_cache_clock;
}

void
jmap_email_query(struct jmap_call *call)
{
	struct qrun r;
	json_t *e, *anchor, *ids;
	json_int_t position, limit, anchor_offset = 0;
	bool server_limit;
	bool total = json_is_true(json_object_get(call->args, "calculateTotal"));
	char *qs, *key;
	size_t start, nres;
	struct folders f;
	const struct jq_cached *hit;
	const uint64_t *res;
	uint64_t *own = NULL;

	if (!jmap_check_account(call))
		return;
	e = json_object_get(call->args, "position");
	if (e != NULL && !json_is_null(e) && !json_is_integer(e)) {
		jmap_set_error(call, "invalidArguments", "position must be an Int");
		return;
	}
	position = json_is_integer(e) ? json_integer_value(e) : 0;
	if (!jmap_json_uint(json_object_get(call->args, "limit"), -1, &limit)) {
		jmap_set_error(call, "invalidArguments", "limit must be an UnsignedInt");
		return;
	}
	anchor = json_object_get(call->args, "anchor");
	if (anchor != NULL && json_is_null(anchor))
		anchor = NULL;
	if (anchor != NULL && !json_is_string(anchor)) {
		jmap_set_error(call, "invalidArguments", "anchor must be an Id");
		return;
	}
	e = json_object_get(call->args, "anchorOffset");
	if (e != NULL && !json_is_null(e)) {
		if (!json_is_integer(e)) {
			jmap_set_error(call, "invalidArguments", "anchorOffset must be an Int");
			return;
		}
		anchor_offset = json_integer_value(e);
	}
	/* the results: from the cache when this query ran at this state, else computed */
	if (jmap_folders_open(call->mu, &f) < 0) {
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	qs = email_state(&f);
	jmap_folders_free(&f);
	key = query_key(call, qs);
	hit = key != NULL ? query_cache_get(call->mu, key) : NULL;
	if (hit != NULL) {
		res = hit->ids;
		nres = hit->n;
		free(key);
		key = NULL;
	} else {
		if (!qrun_run(call, &r)) {
			qrun_free(&r);
			free(key);
			free(qs);
			return;
		}
		own = xcalloc(r.nres + 1, sizeof(*own));
		for (size_t i = 0; i < r.nres; i++)
			own[i] = r.q.e[r.res[i]].emailid;
		res = own;
		nres = r.nres;
		/* the state the results were computed at (a change may have come between) */
		free(qs);
		qs = email_state(&r.q.f);
		qrun_free(&r);
		if (key != NULL) {
			free(key);
			key = query_key(call, qs);
		}
		if (key != NULL) {
			query_cache_put(call->mu, key, own, nres);
			own = NULL;	/* the cache's now; res stays valid until the next put */
		}
	}
	if (anchor != NULL) {
		/* RFC 8620 §5.5: the anchor's index plus anchorOffset, clamped to 0;
		 * position is ignored */
		uint64_t want = jmap_email_id_parse(json_string_value(anchor), 'M');
		size_t i;

		for (i = 0; i < nres && res[i] != want; i++)
			;
		if (want == 0 || i == nres) {
			jmap_set_error(call, "anchorNotFound", NULL);
			free(own);
			free(qs);
			return;
		}
		position = (json_int_t)i + anchor_offset;
		if (position < 0)
			position = 0;
	} else if (position < 0) {
		/* RFC 8620 §5.5: a negative position counts from the end, clamped to 0 */
		position = (json_int_t)nres + position < 0 ? 0 : (json_int_t)nres + position;
	}
	start = (size_t)position < nres ? (size_t)position : nres;
	server_limit = limit < 0 || limit > JMAP_MAX_OBJECTS_IN_GET;
	if (server_limit)
		limit = JMAP_MAX_OBJECTS_IN_GET;
	ids = json_array();
	for (size_t i = start; i < nres && (json_int_t)(i - start) < limit; i++) {
		char id[18];

		jmap_email_id(res[i], id);
		(void)json_array_append_new(ids, json_string(id));
	}
	call->result = json_pack("{s:s, s:s, s:b, s:I, s:o}", "accountId", call->account_id,
	    "queryState", qs, "canCalculateChanges", 1, "position", (json_int_t)start,
	    "ids", ids);
	if (total)
		(void)json_object_set_new(call->result, "total", json_integer((json_int_t)nres));
	/* the limit is said only when the server chose it (§5.5) */
	if (server_limit)
		(void)json_object_set_new(call->result, "limit", json_integer(limit));
	free(qs);
	free(own);
}

/* ---------------------------------------------------------------- changes since a state */

static void
vanished_lowest(void *ctx, uint32_t lo, uint32_t hi)
{
	uint32_t *lowest = ctx;

	(void)hi;
	if (lo < *lowest)
		*lowest = lo;
}

/*
 * What changed since the Email state `since` (docs/jmap.md, "State"): the Emails with
 * an instance whose MODSEQ is above its folder's there (sorted ids into *changed);
 * *fresh_r gets, sorted, those among them that had no instance then. false: cannot be
 * told (a folder gone, a new UIDVALIDITY, an expunge since).
 */
static bool
changed_since(struct jq *q, const char *since, uint64_t **changed_r, size_t *n_r,
    uint64_t **old_r, size_t *nold_r)
{
	struct estate old;
	uint64_t *ch = NULL, *before = NULL;
	size_t nch = 0, nb = 0;
	bool ok = true;

	*changed_r = NULL;
	*n_r = 0;
	if (estate_decode(since, &old) < 0)
		return false;
	for (size_t i = 0; i < old.n && ok; i++) {
		struct folder *fo = jmap_folder_by_guid(&q->f, old.v[i].guid);

		if (fo == NULL || fo->st.uidvalidity != old.v[i].uidvalidity)
			ok = false;
	}
	for (size_t fi = 0; fi < q->f.n && ok; fi++) {
		const struct estate_folder *o = estate_find(&old, q->f.v[fi].guid);

		if (q->box[fi] == NULL) {
			if (q->confined)
				continue;	/* outside the query's folder: no matter */
			ok = false;
			break;
		}
		if (o != NULL) {
			uint32_t lowest = UINT32_MAX;

			(void)mailbox_vanished_since(q->box[fi], o->modseq, vanished_lowest,
			    &lowest);
			if (lowest < o->uidnext)
				ok = false;
		}
	}
	ch = xcalloc(q->ninst + 1, sizeof(*ch));
	before = xcalloc(q->ninst + 1, sizeof(*before));
	for (size_t i = 0; i < q->ninst && ok; i++) {
		const struct jq_inst *x = &q->inst[i];
		const struct estate_folder *o = estate_find(&old, q->f.v[x->fi].guid);

		if (o != NULL && x->uid < o->uidnext)
			before[nb++] = x->emailid;
		if (o == NULL || x->modseq > o->modseq)
			ch[nch++] = x->emailid;
	}
	free(old.v);
	if (!ok) {
		free(ch);
		free(before);
		return false;
	}
	/* inst is sorted by emailid: ch and before are sorted; drop repeats */
	{
		size_t w = 0;

		for (size_t i = 0; i < nch; i++)
			if (w == 0 || ch[w - 1] != ch[i])
				ch[w++] = ch[i];
		nch = w;
		w = 0;
		for (size_t i = 0; i < nb; i++)
			if (w == 0 || before[w - 1] != before[i])
				before[w++] = before[i];
		nb = w;
	}
	*changed_r = ch;
	*n_r = nch;
	*old_r = before;
	*nold_r = nb;
	return true;
}

static bool
in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
	return n > 0 && bsearch(&x, v, n, sizeof(*v), u64cmp) != NULL;
}

/* ---------------------------------------------------------------- Email/queryChanges */

/*
 * RFC 8620 §5.6 from the MODSEQs: every Email changed since the old state is in
 * `removed` (the RFC allows ids that were not in the old results), and those of them in
 * the results now are `added` with their index; with collapseThreads or a thread
 * keyword condition or sort, every Email of a thread that had a change. An expunge since the old state cannot be told as an id:
 * cannotCalculateChanges.
 */
void
jmap_email_query_changes(struct jmap_call *call)
{
	const char *since = json_string_value(json_object_get(call->args, "sinceQueryState"));
	json_int_t max;
	struct qrun r;
	uint64_t *ch = NULL, *old = NULL, *tids = NULL;
	size_t nch = 0, nold = 0, ntids = 0;
	json_t *removed, *added;
	char *qs;

	if (!jmap_check_account(call))
		return;
	if (since == NULL) {
		jmap_set_error(call, "invalidArguments", "sinceQueryState is required");
		return;
	}
	if (!jmap_json_uint(json_object_get(call->args, "maxChanges"), -1, &max) || max == 0) {
		jmap_set_error(call, "invalidArguments", "maxChanges must be a positive Int");
		return;
	}
	if (!qrun_run(call, &r)) {
		qrun_free(&r);
		return;
	}
	if (!changed_since(&r.q, since, &ch, &nch, &old, &nold)) {
		jmap_set_error(call, "cannotCalculateChanges", NULL);
		goto out;
	}
	if (r.thread_dep) {
		jq_threads(&r.q);
		tids = xcalloc(nch + 1, sizeof(*tids));
		for (size_t i = 0; i < nch; i++) {
			struct jq_email *e = jq_find(&r.q, ch[i]);

			if (e != NULL)
				tids[ntids++] = e->tid;
		}
		if (ntids > 0)
			qsort(tids, ntids, sizeof(*tids), u64cmp);
	}
	removed = json_array();
	added = json_array();
	for (size_t i = 0; i < r.q.ne; i++) {
		const struct jq_email *e = &r.q.e[i];
		char id[18];

		if (in_sorted(ch, nch, e->emailid) ||
		    (r.thread_dep && in_sorted(tids, ntids, e->tid))) {
			jmap_email_id(e->emailid, id);
			(void)json_array_append_new(removed, json_string(id));
		}
	}
	for (size_t i = 0; i < r.nres; i++) {
		const struct jq_email *e = &r.q.e[r.res[i]];
		char id[18];

		if (!in_sorted(ch, nch, e->emailid) &&
		    !(r.thread_dep && in_sorted(tids, ntids, e->tid)))
			continue;
		jmap_email_id(e->emailid, id);
		(void)json_array_append_new(added, json_pack("{s:s, s:I}", "id", id, "index",
		    (json_int_t)i));
	}
	if (max > 0 && (json_int_t)(json_array_size(removed) + json_array_size(added)) > max) {
		json_decref(removed);
		json_decref(added);
		jmap_set_error(call, "tooManyChanges", NULL);
		goto out;
	}
	qs = email_state(&r.q.f);
	call->result = json_pack("{s:s, s:s, s:s, s:o, s:o}", "accountId", call->account_id,
	    "oldQueryState", since, "newQueryState", qs, "removed", removed, "added", added);
	if (json_is_true(json_object_get(call->args, "calculateTotal")))
		(void)json_object_set_new(call->result, "total", json_integer((json_int_t)r.nres));
	free(qs);
out:
	free(ch);
	free(old);
	free(tids);
	qrun_free(&r);
}

/* ---------------------------------------------------------------- Thread/get */

/* The Emails of thread tid, oldest first (RFC 8621 §3: sorted by receivedAt). */
static json_t *
thread_email_ids(struct jq *q, uint64_t tid)
{
	size_t *v = xcalloc(q->ne + 1, sizeof(*v)), n = 0;
	json_t *arr = json_array();

	for (size_t i = 0; i < q->ne; i++)
		if (q->e[i].tid == tid)
			v[n++] = i;
	if (n > 1)
		qsort_r(v, n, sizeof(*v), by_received, q);
	for (size_t i = 0; i < n; i++) {
		char id[18];

		jmap_email_id(q->e[v[i]].emailid, id);
		(void)json_array_append_new(arr, json_string(id));
	}
	free(v);
	return arr;
}

void
jmap_thread_get(struct jmap_call *call)
{
	static const char *const props[] = { "id", "emailIds", NULL };
	json_t *ids = json_object_get(call->args, "ids");
	json_t *pr = json_object_get(call->args, "properties");
	json_t *list, *notfound, *v;
	struct jq q;
	size_t i;
	char *state;

	if (!jmap_check_account(call) || !jmap_check_ids(call, ids) ||
	    !jmap_check_properties(call, pr, props))
		return;
	if (ids == NULL || json_is_null(ids)) {
		jmap_set_error(call, "requestTooLarge", "give ids");
		return;
	}
	if (jq_load(call->mu, &q) < 0) {
		jq_free(&q);
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	jq_threads(&q);
	list = json_array();
	notfound = json_array();
	json_array_foreach(ids, i, v) {
		uint64_t tid = jmap_email_id_parse(json_string_value(v), 'T');
		json_t *emails = tid != 0 ? thread_email_ids(&q, tid) : json_array();

		if (json_array_size(emails) == 0) {
			json_decref(emails);
			(void)json_array_append(notfound, v);
			continue;
		}
		(void)json_array_append_new(list, json_pack("{s:O, s:o}", "id", v, "emailIds",
		    emails));
	}
	state = email_state(&q.f);
	call->result = json_pack("{s:s, s:s, s:o, s:o}", "accountId", call->account_id,
	    "state", state, "list", list, "notFound", notfound);
	free(state);
	jq_free(&q);
}

/* ---------------------------------------------------------------- Thread/changes */

/*
 * RFC 8620 §5.2 for Threads, from the Email changes: a thread with a changed Email is
 * updated, or created when none of its Emails existed at the old state. Thread
 * destruction needs expunged ids: an expunge since is cannotCalculateChanges (as for
 * Email/changes). maxChanges smaller than the changes is cannotCalculateChanges too
 * (the state cannot be cut inside the threads).
 */
void
jmap_thread_changes(struct jmap_call *call)
{
	const char *since;
	json_int_t max;
	struct jq q;
	uint64_t *ch = NULL, *old = NULL, *tids;
	size_t nch = 0, nold = 0, nt = 0;
	json_t *created, *updated;
	char *state;

	if (!jmap_changes_args(call, &since, &max))
		return;
	if (jq_load(call->mu, &q) < 0) {
		jq_free(&q);
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	if (!changed_since(&q, since, &ch, &nch, &old, &nold)) {
		jq_free(&q);
		jmap_set_error(call, "cannotCalculateChanges", NULL);
		return;
	}
	jq_threads(&q);
	tids = xcalloc(nch + 1, sizeof(*tids));
	for (size_t i = 0; i < nch; i++) {
		struct jq_email *e = jq_find(&q, ch[i]);

		if (e != NULL)
			tids[nt++] = e->tid;
	}
	if (nt > 0)
		qsort(tids, nt, sizeof(*tids), u64cmp);
	created = json_array();
	updated = json_array();
	for (size_t i = 0; i < nt; i++) {
		bool existed = false;
		char id[18];

		if (i > 0 && tids[i] == tids[i - 1])
			continue;
		for (size_t k = 0; k < q.ne && !existed; k++)
			existed = q.e[k].tid == tids[i] && in_sorted(old, nold, q.e[k].emailid);
		jmap_email_id(tids[i], id);
		id[0] = 'T';
		(void)json_array_append_new(existed ? updated : created, json_string(id));
	}
	if (max > 0 && (json_int_t)(json_array_size(created) + json_array_size(updated)) > max) {
		json_decref(created);
		json_decref(updated);
		jmap_set_error(call, "cannotCalculateChanges", "more changes than maxChanges");
	} else {
		state = email_state(&q.f);
		call->result = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:[]}", "accountId",
		    call->account_id, "oldState", since, "newState", state, "hasMoreChanges", 0,
		    "created", created, "updated", updated, "destroyed");
		free(state);
	}
	free(tids);
	free(ch);
	free(old);
	jq_free(&q);
}

/* ---------------------------------------------------------------- Mailbox thread counts */

/* The last counts, for the Email state they were counted at: Mailbox/get and
 * Mailbox/changes of an unchanged account do not walk every message again. */
static struct {
	const struct mail_user *mu;
	char *state;
	uint32_t *total, *unread;
	size_t n;
} counts_memo;

static int
thread_counts(struct mail_user *mu, const struct folders *f, uint32_t *total,
    uint32_t *unread)
{
	struct jq q;
	uint64_t *t;

	memset(total, 0, f->n * sizeof(*total));
	memset(unread, 0, f->n * sizeof(*unread));
	if (jq_load(mu, &q) < 0) {
		jq_free(&q);
		return -1;
	}
	jq_threads(&q);
	t = xcalloc(q.ninst + 1, sizeof(*t));
	for (size_t fi = 0; fi < q.f.n; fi++) {
		struct folder *fo = NULL;
		size_t n = 0, nu = 0;

		for (size_t k = 0; k < f->n && fo == NULL; k++)
			if (strcmp(f->v[k].guid, q.f.v[fi].guid) == 0)
				fo = &f->v[k];
		if (fo == NULL)
			continue;
		/* totalThreads: the threads of its Emails; unreadThreads: of those that
		 * have an Email here without $seen (RFC 8621 §2) */
		for (int pass = 0; pass < 2; pass++) {
			n = 0;
			for (size_t i = 0; i < q.ne; i++) {
				const struct jq_email *e = &q.e[i];

				for (size_t j = 0; j < e->n; j++) {
					const struct jq_inst *x = &q.inst[e->first + j];

					if (x->fi == fi && (pass == 0 ||
					    !(x->flags & MAILBOX_FLAG_SEEN))) {
						t[n++] = e->tid;
						break;
					}
				}
			}
			if (n > 1)
				qsort(t, n, sizeof(*t), u64cmp);
			nu = 0;
			for (size_t i = 0; i < n; i++)
				if (i == 0 || t[i] != t[i - 1])
					nu++;
			if (pass == 0)
				total[fo - f->v] = (uint32_t)nu;
			else
				unread[fo - f->v] = (uint32_t)nu;
		}
	}
	free(t);
	jq_free(&q);
	return 0;
}

int
jmap_thread_counts(struct mail_user *mu, const struct folders *f, uint32_t *total,
    uint32_t *unread)
{
	char *state = email_state(f);

	if (counts_memo.mu == mu && counts_memo.n == f->n && counts_memo.state != NULL &&
	    strcmp(counts_memo.state, state) == 0) {
		/* the same state string: the same folders in the same order */
		memcpy(total, counts_memo.total, f->n * sizeof(*total));
		memcpy(unread, counts_memo.unread, f->n * sizeof(*unread));
		free(state);
		return 0;
	}
	if (thread_counts(mu, f, total, unread) < 0) {
		free(state);
		return -1;
	}
	free(counts_memo.state);
	free(counts_memo.total);
	free(counts_memo.unread);
	counts_memo.mu = mu;
	counts_memo.state = state;
	counts_memo.n = f->n;
	counts_memo.total = xcalloc(f->n + 1, sizeof(*total));
	counts_memo.unread = xcalloc(f->n + 1, sizeof(*unread));
	memcpy(counts_memo.total, total, f->n * sizeof(*total));
	memcpy(counts_memo.unread, unread, f->n * sizeof(*unread));
	return 0;
}

/* ---------------------------------------------------------------- SearchSnippet/get */

struct terms {
	const char *v[JQ_SNIPPET_TERMS];
	size_t n;
};

static void
terms_collect(json_t *f, int depth, bool subject, struct terms *t)
{
	json_t *c;
	size_t i;

	if (!json_is_object(f) || depth > JQ_FILTER_DEPTH)
		return;
	if (json_object_get(f, "operator") != NULL) {
		/* a NOT's terms are what must not be there: nothing to mark */
		if (json_is_string(json_object_get(f, "operator")) &&
		    strcmp(json_string_value(json_object_get(f, "operator")), "NOT") == 0)
			return;
		json_array_foreach(json_object_get(f, "conditions"), i, c)
			terms_collect(c, depth + 1, subject, t);
		return;
	}
	for (const char *const *k = (const char *const[]){ "text", subject ? "subject" : "body",
	    NULL }; *k != NULL; k++) {
		const char *s = json_string_value(json_object_get(f, *k));

		if (s != NULL && s[0] != '\0' && t->n < JQ_SNIPPET_TERMS)
			t->v[t->n++] = s;
	}
}

static void
html_escape(struct buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case '<': (void)buf_append_str(b, "&lt;"); break;
		case '>': (void)buf_append_str(b, "&gt;"); break;
		case '&': (void)buf_append_str(b, "&amp;"); break;
		case '"': (void)buf_append_str(b, "&quot;"); break;
		default: (void)buf_append_c(b, p[i]); break;
		}
	}
}

/* s with <mark></mark> around the (ASCII case-insensitive) occurrences of the terms,
 * HTML-escaped (RFC 8621 §5.1); NULL when no term occurs. */
static json_t *
mark_terms(const char *s, const struct terms *t)
{
	struct buf b;
	size_t len = strlen(s), i = 0;
	bool any = false;
	json_t *v;

	buf_init(&b, 32 * len + 64);	/* "<mark>&quot;</mark>" for one octet */
	while (i < len) {
		size_t best = 0;

		for (size_t k = 0; k < t->n; k++) {
			size_t tl = strlen(t->v[k]);

			if (tl > best && tl <= len - i && strncasecmp(s + i, t->v[k], tl) == 0)
				best = tl;
		}
		if (best > 0) {
			(void)buf_append_str(&b, "<mark>");
			html_escape(&b, s + i, best);
			(void)buf_append_str(&b, "</mark>");
			i += best;
			any = true;
		} else {
			html_escape(&b, s + i, 1);
			i++;
		}
	}
	v = any ? json_stringn(b.len > 0 ? (const char *)b.data : "", b.len) : NULL;
	buf_deinit(&b);
	return v != NULL ? v : json_null();
}

void
jmap_search_snippet_get(struct jmap_call *call)
{
	json_t *filter = json_object_get(call->args, "filter");
	json_t *ids = json_object_get(call->args, "emailIds");
	json_t *list, *notfound, *v;
	struct terms ts = { { 0 }, 0 }, tb = { { 0 }, 0 };
	struct jq q;
	size_t i;

	if (!jmap_check_account(call) ||
	    !jmap_check_id_list(call, ids, true, "emailIds (an array of Id) is required"))
		return;
	if (filter != NULL && !json_is_null(filter) && !json_is_object(filter)) {
		jmap_set_error(call, "invalidArguments", "filter must be an object");
		return;
	}
	terms_collect(filter, 0, true, &ts);
	terms_collect(filter, 0, false, &tb);
	if (jq_load(call->mu, &q) < 0) {
		jq_free(&q);
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	list = json_array();
	notfound = json_array();
	json_array_foreach(ids, i, v) {
		struct jq_email *e = jq_find(&q, jmap_email_id_parse(json_string_value(v), 'M'));
		json_t *subj = json_null(), *pv = json_null();

		if (e == NULL) {
			(void)json_array_append(notfound, v);
			continue;
		}
		if (ts.n > 0) {
			char *s, *d;

			if (!e->hdr_read) {
				bool *w = xcalloc(q.ne + 1, sizeof(bool));

				w[e - q.e] = true;
				jq_headers(&q, w);
				free(w);
			}
			s = jq_field(e, "Subject");
			d = s != NULL ? mail_rfc2047_decode_dup(s, strlen(s)) : NULL;
			if (s != NULL)
				subj = mark_terms(d != NULL ? d : s, &ts);
			free(d);
			free(s);
		}
		if (tb.n > 0) {
			struct msgfile mf = { 0 };

			msgfile_open(&q, e, &mf);
			if (mf.map != NULL) {
				struct mail_message *m = mail_message_parse(mf.map, mf.len, NULL);
				struct buf p;

				buf_init(&p, 8 * MAIL_PREVIEW_CHARS);
				if (m != NULL && mail_preview_write(&p, m) == 0) {
					(void)buf_append_c(&p, '\0');
					pv = mark_terms((const char *)p.data, &tb);
				}
				buf_deinit(&p);
				mail_message_free(&m);
			}
			msgfile_close(&mf);
		}
		(void)json_array_append_new(list, json_pack("{s:O, s:o, s:o}", "emailId", v,
		    "subject", subj, "preview", pv));
	}
	call->result = json_pack("{s:s, s:o, s:o}", "accountId", call->account_id, "list",
	    list, "notFound", notfound);
	jq_free(&q);
}
