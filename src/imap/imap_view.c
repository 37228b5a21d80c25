/*
 * imap_view.c — one session's view of its selected mailbox (RFC 3501 §7.4.1): the list
 * of messages the client knows, with sequence numbers that stay stable until this
 * session sends EXPUNGE, the flags last reported, and the \Recent messages it owns.
 * Store listeners mark changes made by any session of the user (or by other writers,
 * seen through inotify); imap_view_send_updates() turns them into EXPUNGE, EXISTS,
 * RECENT and FETCH FLAGS responses at the points the dispatcher allows. A SELECT of a
 * folder whose messages the store has not loaded (a fresh mail process, the folder
 * opened from its snapshot in the index) answers from the store's counts and leaves the
 * array unbuilt (lazy) until a command needs it (imap_view_materialize) or the store
 * loads the messages for a change (l_loaded). Runs in the per-user mail process; memory
 * is one small record per message.
 */
#include "imap/imap_local.h"
#include "imap/imap_context.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <sys/mman.h>


static uint64_t view_gen_last;

/* The view's messages changed (imap_view.gen). */
static void
view_changed(struct imap_view *v)
{
	v->gen = ++view_gen_last;
}

static const struct {
	uint8_t flag;
	const char *name;
} system_flags[] = {
	{ MAILBOX_FLAG_ANSWERED, "\\Answered" },
	{ MAILBOX_FLAG_FLAGGED, "\\Flagged" },
	{ MAILBOX_FLAG_DELETED, "\\Deleted" },
	{ MAILBOX_FLAG_SEEN, "\\Seen" },
	{ MAILBOX_FLAG_DRAFT, "\\Draft" },
};

static struct imap_view_msg *
view_find(struct imap_view *v, uint32_t uid, size_t *idx_r)
{
	size_t lo = 0, hi = v->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->msgs[mid].uid == uid) {
			if (idx_r != NULL)
				*idx_r = mid;
			return &v->msgs[mid];
		}
		if (v->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
l_expunged(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct imap_view *v = ctx;
	struct imap_view_msg *vm = view_find(v, uid, NULL);

	if (vm != NULL && !vm->expunged) {
		vm->expunged = true;
		view_changed(v);
		/* the store gave this expunge the folder's newest MODSEQ */
		if (!v->pending_expunge)
			v->pending_expunge_modseq = mailbox_highestmodseq(mbox);
		v->pending_expunge = true;
		imap_client_schedule_updates(v->client);
	}
}

static void
l_appended(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct imap_view *v = ctx;

	v->pending_new = true;
	imap_client_schedule_updates(v->client);
}

static void
l_flags_changed(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct imap_view *v = ctx;
	struct imap_view_msg *vm = view_find(v, uid, NULL);

	if (vm != NULL) {
		vm->dirty = true;
		v->pending_flags = true;
		imap_context_changed(v, uid);
		imap_client_schedule_updates(v->client);
	}
}

static void
l_keyword_added(void *ctx, struct mailbox *mbox, unsigned int idx)
{
	struct imap_view *v = ctx;

	v->pending_keywords = true;
	imap_client_schedule_updates(v->client);
}

static void view_append(struct imap_view *v, size_t first, size_t end, uint32_t boundary);

/*
 * The store loaded the messages of a lazy view's folder, before any change to them:
 * the client was told of count messages, all below the UIDNEXT of the SELECT, and they
 * are exactly the folder's messages below it now. If the snapshot they came from was
 * rewritten by another process meanwhile, the store rescanned the directories instead:
 * then messages at or above that UIDNEXT are new (EXISTS), and if fewer than count are
 * left below it, which sequence numbers went is unknown and no EXPUNGE can be right, so
 * the session is closed (lost).
 */
static void
l_loaded(void *ctx, struct mailbox *mbox)
{
	struct imap_view *v = ctx;
	size_t n = mailbox_count(mbox), end = n;

	if (!v->lazy)
		return;
	v->lazy = false;
	while (end > 0 && mailbox_msg_at(mbox, end - 1)->uid >= v->lazy_nextuid)
		end--;
	if (end != v->count || mailbox_uidvalidity(mbox) != v->lazy_uidvalidity) {
		log_warn("imap view lost its messages mailbox=%s told=%zu found=%zu",
		    mailbox_name(mbox), v->count, end);
		v->lost = true;
		v->count = 0;
		view_changed(v);
		imap_client_schedule_updates(v->client);
		return;
	}
	v->count = 0;
	view_append(v, 0, end, v->lazy_boundary);
	v->last_uid = v->lazy_nextuid - 1;
	if (end < n) {
		v->pending_new = true;
		imap_client_schedule_updates(v->client);
	}
}

static const struct mailbox_listener_ops view_ops = {
	l_expunged, l_appended, l_flags_changed, l_keyword_added, l_loaded, NULL,
};

/*
 * The first array of a large view (a fresh session selecting a folder of more than
 * ~50,000 messages): 2 MiB-aligned and marked for transparent huge pages, because a
 * fresh mail process pays a page fault for every 4 KiB it touches first (10-20 us on
 * the test VMs: 2 ms for 100,000 messages); one huge page is one fault. Plain malloc
 * memory for realloc() and free(). Smaller views: malloc.
 */
#define VIEW_HUGE_MIN	(256u << 10)
#define VIEW_HUGE_ALIGN	(2u << 20)

static struct imap_view_msg *
view_msgs_alloc(size_t *cap)
{
	size_t bytes = *cap * sizeof(struct imap_view_msg);
	void *p;

	if (bytes < VIEW_HUGE_MIN)
		return xreallocarray(NULL, *cap, sizeof(struct imap_view_msg));
	bytes = (bytes + VIEW_HUGE_ALIGN - 1) & ~((size_t)VIEW_HUGE_ALIGN - 1);
	if (posix_memalign(&p, VIEW_HUGE_ALIGN, bytes) != 0)
		fatal("out of memory (%zu bytes)", bytes);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
	*cap = bytes / sizeof(struct imap_view_msg);
	return p;
}

/* Claim \Recent up to max_uid (read-write) or look at the claims (EXAMINE): returns
 * the boundary above which the view's \Recent messages are its own. */
static uint32_t
view_claim_recent(struct imap_view *v, uint32_t max_uid)
{
	struct imap_user *iu = v->client->iu;

	if (v->readonly)
		return imap_user_recent_boundary(iu, mailbox_name(v->mbox),
		    mailbox_uidvalidity(v->mbox));
	return imap_user_claim_recent(iu, mailbox_name(v->mbox),
	    mailbox_uidvalidity(v->mbox), max_uid);
}

/* Add store messages with UIDs above last_uid to the view; returns how many. */
static size_t
view_add_new(struct imap_view *v)
{
	size_t n = mailbox_count(v->mbox), first = n;
	uint32_t boundary, max_uid;

	while (first > 0 && mailbox_msg_at(v->mbox, first - 1)->uid > v->last_uid)
		first--;
	if (first == n)
		return 0;
	max_uid = mailbox_msg_at(v->mbox, n - 1)->uid;
	boundary = view_claim_recent(v, max_uid);
	view_append(v, first, n, boundary);
	v->last_uid = max_uid;
	return n - first;
}

/* Append the store's messages [first, end) to the view, \Recent above boundary. */
static void
view_append(struct imap_view *v, size_t first, size_t end, uint32_t boundary)
{
	size_t i;

	if (first == end)
		return;
	view_changed(v);
	if (v->count + (end - first) > v->cap) {
		size_t ocap = v->cap;

		v->cap = MAX(v->cap * 2, v->count + (end - first) + 16);
		if (v->msgs == NULL)
			v->msgs = view_msgs_alloc(&v->cap);
		else
			v->msgs = xreallocarray(v->msgs, v->cap, sizeof(*v->msgs));
		if (v->keywords != NULL) {
			v->keywords = xreallocarray(v->keywords, v->cap, sizeof(*v->keywords));
			memset(v->keywords + ocap, 0, (v->cap - ocap) * sizeof(*v->keywords));
		}
	}
	for (i = first; i < end; i++) {
		const struct mailbox_msg *m = mailbox_msg_at(v->mbox, i);
		struct imap_view_msg *vm = &v->msgs[v->count++];

		memset(vm, 0, sizeof(*vm));
		vm->uid = m->uid;
		imap_view_set_reported(v, vm, m->flags, m->keywords);
		/* read-write: this session claimed them; EXAMINE shows them without claiming */
		vm->recent = (m->flags & MAILBOX_FLAG_RECENT) != 0 && m->uid > boundary;
	}
}

enum store_status
imap_view_open(struct imap_client *client, const char *name, bool readonly,
    struct imap_view **view_r)
{
	struct imap_view *v;
	struct mailbox *mbox;
	enum store_status st;

	*view_r = NULL;
	st = mailbox_open(client->user->store, name, &mbox);
	if (st != STORE_OK)
		return st;
	v = xcalloc(1, sizeof(*v));
	v->client = client;
	v->mbox = mbox;
	v->readonly = readonly;
	view_changed(v);
	if (!mailbox_msgs_loaded(mbox)) {
		/* the messages as the snapshot has them: count from the store, the
		 * array when a command needs it (l_loaded). The claim covers every UID
		 * below UIDNEXT, as view_add_new's up to the highest one would. */
		struct mailbox_summary sum;

		mailbox_summary(mbox, &sum);
		v->lazy = true;
		v->count = sum.messages;
		v->lazy_nextuid = mailbox_uidnext(mbox);
		v->lazy_uidvalidity = mailbox_uidvalidity(mbox);
		v->lazy_boundary = view_claim_recent(v, v->lazy_nextuid - 1);
	} else
		view_add_new(v);
	v->reported_exists = (uint32_t)v->count;
	v->reported_recent = imap_view_recent_count(v);
	v->listener = mailbox_listen(mbox, &view_ops, v);
	*view_r = v;
	return STORE_OK;
}

int
imap_view_materialize(struct imap_view *v)
{
	if (v->lazy)
		mailbox_msgs_load(v->mbox);	/* calls l_loaded */
	if (v->lazy)
		panic("imap: view of %s not built after its messages loaded",
		    mailbox_name(v->mbox));
	return v->lost ? -1 : 0;
}

void
imap_view_summary(struct imap_view *v, struct imap_view_summary *sum_r)
{
	struct mailbox_summary ms;
	size_t i;

	memset(sum_r, 0, sizeof(*sum_r));
	sum_r->exists = (uint32_t)v->count;
	sum_r->recent = imap_view_recent_count(v);
	if (v->lazy) {
		/* the view is the folder as the store has it */
		mailbox_summary(v->mbox, &ms);
		sum_r->first_unseen_seq = ms.first_unseen_seq;
		return;
	}
	for (i = 0; i < v->count; i++) {
		if ((v->msgs[i].flags & MAILBOX_FLAG_SEEN) == 0) {
			sum_r->first_unseen_seq = (uint32_t)i + 1;
			break;
		}
	}
}

void
imap_view_close(struct imap_view **vp)
{
	struct imap_view *v = *vp;

	if (v == NULL)
		return;
	*vp = NULL;
	mailbox_unlisten(v->mbox, &v->listener);
	imap_context_free_all(v);
	mailbox_unref(&v->mbox);
	seqset_destroy(&v->searchres);
	free(v->memo_key);
	free(v->memo);
	free(v->msgs);
	free(v->keywords);
	free(v);
}

uint32_t
imap_view_keywords(const struct imap_view *v, const struct imap_view_msg *vm)
{
	return v->keywords != NULL ? v->keywords[vm - v->msgs] : 0;
}

void
imap_view_set_reported(struct imap_view *v, struct imap_view_msg *vm, uint8_t flags,
    uint32_t keywords)
{
	vm->flags = flags & MAILBOX_FLAGS_IMAP;
	vm->dirty = false;
	if (keywords != 0 && v->keywords == NULL)
		v->keywords = xcalloc(v->cap, sizeof(*v->keywords));
	if (v->keywords != NULL)
		v->keywords[vm - v->msgs] = keywords;
}

uint32_t
imap_view_recent_count(const struct imap_view *v)
{
	uint32_t n = 0;
	size_t i;

	/* a lazy view's folder has no \Recent message: the store loads the messages
	 * before it gives any of them the flag (mailbox_recent_restore, saves, scans) */
	if (v->lazy)
		return 0;
	for (i = 0; i < v->count; i++)
		if (v->msgs[i].recent)
			n++;
	return n;
}

uint8_t
imap_view_client_flags(const struct imap_view *v, const struct imap_view_msg *vm,
    const struct mailbox_msg *m)
{
	uint8_t f = m != NULL ? (m->flags & MAILBOX_FLAGS_IMAP) : vm->flags;

	/* IMAP4rev2 has no \Recent flag (RFC 9051 Appendix E) */
	if (vm->recent && !(v->client->enabled & IMAP_ENABLE_REV2))
		f |= MAILBOX_FLAG_RECENT;
	return f;
}

/*
 * The "(...)" list of every combination of the five system flags and \Recent, built
 * once: FETCH FLAGS of a message without keywords is then one append.
 */
#define FLAG_COMBOS	64
static char flag_combo[FLAG_COMBOS][64];
static uint8_t flag_combo_len[FLAG_COMBOS];
static bool flag_combo_ready;

static uint8_t
combo_index(uint8_t flags)
{
	return (uint8_t)((flags & MAILBOX_FLAGS_IMAP) | ((flags & MAILBOX_FLAG_RECENT) ? 0x20 : 0));
}

static void
flag_combo_init(void)
{
	unsigned c;
	size_t i;

	for (c = 0; c < FLAG_COMBOS; c++) {
		uint8_t flags = (uint8_t)((c & MAILBOX_FLAGS_IMAP) | ((c & 0x20) ? MAILBOX_FLAG_RECENT : 0));
		struct buf b;

		buf_init(&b, sizeof(flag_combo[0]) - 1);
		(void)buf_append_c(&b, '(');
		for (i = 0; i < N_ELEMENTS(system_flags); i++) {
			if ((flags & system_flags[i].flag) == 0)
				continue;
			if (b.len > 1)
				(void)buf_append_c(&b, ' ');
			(void)buf_append_str(&b, system_flags[i].name);
		}
		if (flags & MAILBOX_FLAG_RECENT) {
			if (b.len > 1)
				(void)buf_append_c(&b, ' ');
			(void)buf_append_str(&b, "\\Recent");
		}
		(void)buf_append_c(&b, ')');
		if (combo_index(flags) != c)
			panic("imap: flag combination table");
		memcpy(flag_combo[c], b.data, b.len);
		flag_combo_len[c] = (uint8_t)b.len;
		buf_deinit(&b);
	}
	flag_combo_ready = true;
}

int
imap_view_write_flags(struct imap_view *v, struct buf *out, uint8_t flags, uint32_t keywords)
{
	bool first = true;
	size_t i;

	if (keywords == 0) {
		uint8_t c;

		if (!flag_combo_ready)
			flag_combo_init();
		c = combo_index(flags);
		return buf_append(out, flag_combo[c], flag_combo_len[c]);
	}
	if (buf_append_c(out, '(') < 0)
		return -1;
	for (i = 0; i < N_ELEMENTS(system_flags); i++) {
		if ((flags & system_flags[i].flag) == 0)
			continue;
		if ((!first && buf_append_c(out, ' ') < 0) ||
		    buf_append_str(out, system_flags[i].name) < 0)
			return -1;
		first = false;
	}
	if (flags & MAILBOX_FLAG_RECENT) {
		if ((!first && buf_append_c(out, ' ') < 0) || buf_append_str(out, "\\Recent") < 0)
			return -1;
		first = false;
	}
	for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
		const char *kw;

		if ((keywords & (1u << i)) == 0)
			continue;
		kw = mailbox_keyword_name(v->mbox, (unsigned)i);
		if (kw == NULL)
			continue;
		if ((!first && buf_append_c(out, ' ') < 0) || buf_append_str(out, kw) < 0)
			return -1;
		first = false;
	}
	return buf_append_c(out, ')');
}

int
imap_view_write_flag_list(struct imap_view *v, struct buf *out, bool permanent)
{
	size_t i;
	unsigned used = 0;

	if (buf_append_str(out, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft") < 0)
		return -1;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
		const char *kw = mailbox_keyword_name(v->mbox, (unsigned)i);

		if (kw == NULL)
			continue;
		used++;
		if (buf_append_c(out, ' ') < 0 || buf_append_str(out, kw) < 0)
			return -1;
	}
	if (permanent && used < STORE_KEYWORDS_MAX && buf_append_str(out, " \\*") < 0)
		return -1;
	return buf_append_c(out, ')');
}

static void
send_flag_lists(struct imap_view *v)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	if (imap_view_write_flag_list(v, &b, false) == 0)
		imap_client_line(v->client, "* FLAGS %s", buf_cstr(&b));
	buf_reset(&b);
	if (v->readonly)
		imap_client_line(v->client, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
	else if (imap_view_write_flag_list(v, &b, true) == 0)
		imap_client_line(v->client, "* OK [PERMANENTFLAGS %s] Flags permitted.",
		    buf_cstr(&b));
	buf_deinit(&b);
}

void
imap_view_send_flag_lists(struct imap_view *v)
{
	send_flag_lists(v);
}

void
imap_view_send_updates(struct imap_view *v, bool allow_expunge)
{
	struct imap_client *c = v->client;
	size_t i, j, old_count;
	uint32_t recent;

	if (v->lost) {
		imap_client_bye(c, "[UNAVAILABLE] Mailbox changed underneath, please reconnect.");
		return;
	}
	if (v->lazy) {
		/* nothing about messages can be pending before they are loaded */
		if (v->pending_keywords) {
			send_flag_lists(v);
			v->pending_keywords = false;
		}
		return;
	}
	if (v->pending_expunge && allow_expunge) {
		size_t removed = 0;

		imap_context_expunging(v);	/* RFC 5267 REMOVEFROM, before EXPUNGE */
		if (c->enabled & (IMAP_ENABLE_QRESYNC | IMAP_ENABLE_UIDONLY)) {
			/* RFC 7162 §3.2.10: VANISHED instead of EXPUNGE, UIDs ascending;
			 * RFC 9586 §3.2: so too after ENABLE UIDONLY */
			struct seqset *gone = seqset_create();
			struct buf b;

			for (i = 0; i < v->count; i++)
				if (v->msgs[i].expunged)
					(void)seqset_add_range(gone, v->msgs[i].uid, v->msgs[i].uid);
			buf_init(&b, IMAP_RESP_MAX);
			if (seqset_count(gone) > 0 && buf_append_str(&b, "* VANISHED ") == 0 &&
			    seqset_format(gone, &b) == 0 && buf_append(&b, "\r\n", 2) == 0)
				imap_client_write(c, b.data, b.len);
			buf_deinit(&b);
			removed = (size_t)seqset_count(gone);
			seqset_destroy(&gone);
		} else {
			/* Highest first: each number is still valid when the client applies it. */
			for (i = v->count; i-- > 0;) {
				if (v->msgs[i].expunged) {
					imap_client_line(c, "* %zu EXPUNGE", i + 1);
					removed++;
				}
			}
		}
		for (i = 0, j = 0; i < v->count; i++) {
			if (v->msgs[i].expunged)
				continue;
			if (v->keywords != NULL)
				v->keywords[j] = v->keywords[i];
			v->msgs[j++] = v->msgs[i];
		}
		v->count = j;
		view_changed(v);
		v->reported_exists -= (uint32_t)MIN(removed, v->reported_exists);
		v->pending_expunge = false;
		if (removed > 0)
			v->reported_recent = imap_view_recent_count(v);
	}
	if (v->pending_keywords) {
		send_flag_lists(v);
		v->pending_keywords = false;
	}
	old_count = v->count;
	if (v->pending_new) {
		v->pending_new = false;
		view_add_new(v);
	}
	if (v->count != v->reported_exists) {
		imap_client_line(c, "* %zu EXISTS", v->count);
		v->reported_exists = (uint32_t)v->count;
		recent = imap_view_recent_count(v);
		if (!(c->enabled & IMAP_ENABLE_REV2))	/* RFC 9051 Appendix E */
			imap_client_line(c, "* %u RECENT", recent);
		v->reported_recent = recent;
	}
	imap_context_added(v, old_count);	/* RFC 5267 ADDTO, after EXISTS */
	/* RFC 5465: under NOTIFY, FETCH FLAGS of others' changes only with FlagChange */
	if (v->pending_flags && (imap_notify_selected_events(c) & IMAP_NOTIFY_EV_FLAGS)) {
		struct buf b;
		char start[IMAP_FETCH_START_MAX];

		buf_init(&b, 64 * 1024);
		v->pending_flags = false;
		for (i = 0; i < v->count; i++) {
			struct imap_view_msg *vm = &v->msgs[i];
			const struct mailbox_msg *m;

			if (!vm->dirty)
				continue;
			vm->dirty = false;
			if (vm->expunged)
				continue;
			m = mailbox_lookup(v->mbox, vm->uid, NULL);
			if (m == NULL)
				continue;
			if ((m->flags & MAILBOX_FLAGS_IMAP) == vm->flags &&
			    m->keywords == imap_view_keywords(v, vm))
				continue;
			imap_view_set_reported(v, vm, m->flags, m->keywords);
			buf_reset(&b);
			if (imap_view_write_flags(v, &b, imap_view_client_flags(v, vm, m),
			    m->keywords) < 0)
				continue;
			if (c->enabled & IMAP_ENABLE_CONDSTORE) {
				imap_client_line(c, "%sFLAGS %s MODSEQ (%llu))",
				    imap_fetch_start(c, start, i + 1, vm->uid, true), buf_cstr(&b),
				    (unsigned long long)m->modseq);
				v->modseq_told = true;
			} else
				imap_client_line(c, "%sFLAGS %s)",
				    imap_fetch_start(c, start, i + 1, vm->uid, true), buf_cstr(&b));
		}
		buf_deinit(&b);
	}
	imap_context_flags(v);		/* RFC 5267 updates of changed flags */
	if (v->pending_expunge && v->modseq_told && v->pending_expunge_modseq > 1) {
		/* RFC 7162 §3.2: MODSEQs told may be above an expunge still held back
		 * (no EXPUNGE during FETCH, STORE, SEARCH); a client keeping the highest
		 * MODSEQ it saw must not skip that expunge when it resynchronises */
		imap_client_line(c, "* OK [HIGHESTMODSEQ %llu] Expunges pending",
		    (unsigned long long)(v->pending_expunge_modseq - 1));
	}
	v->modseq_told = false;
}

const char *
imap_fetch_start(const struct imap_client *c, char *buf, size_t seq, uint32_t uid,
    bool with_uid)
{
	if (c->enabled & IMAP_ENABLE_UIDONLY)
		(void)snprintf(buf, IMAP_FETCH_START_MAX, "* %u UIDFETCH (", uid);
	else if (with_uid)
		(void)snprintf(buf, IMAP_FETCH_START_MAX, "* %zu FETCH (UID %u ", seq, uid);
	else
		(void)snprintf(buf, IMAP_FETCH_START_MAX, "* %zu FETCH (", seq);
	return buf;
}

int
imap_view_resolve(struct imap_view *v, struct seqset *set, bool uid, size_t **idx_r,
    size_t *count_r)
{
	size_t *idx = NULL, n = 0, cap = 0, i;

	*idx_r = NULL;
	*count_r = 0;
	if (!uid) {
		struct seqset_iter it;
		uint32_t seq;

		seqset_resolve(set, (uint32_t)v->count);
		if (seqset_highest(set) > v->count)
			return -1;
		cap = (size_t)seqset_count(set);
		idx = xreallocarray(NULL, MAX(cap, 1), sizeof(*idx));
		for (seqset_iter_init(&it, set); seqset_iter_next(&it, &seq);)
			idx[n++] = seq - 1;
	} else {
		uint32_t max_uid = v->count > 0 ? v->msgs[v->count - 1].uid : 0;

		seqset_resolve(set, max_uid);
		for (i = 0; i < v->count; i++) {
			if (!seqset_contains(set, v->msgs[i].uid))
				continue;
			if (n == cap) {
				cap = MAX(cap * 2, 16);
				idx = xreallocarray(idx, cap, sizeof(*idx));
			}
			idx[n++] = i;
		}
	}
	*idx_r = idx;
	*count_r = n;
	return 0;
}

struct seqset *
imap_view_searchres(const struct imap_view *v)
{
	struct seqset *copy = seqset_create();
	const struct seqset_range *r;
	unsigned n = 0, i;

	if (v->searchres != NULL) {
		r = seqset_ranges(v->searchres, &n);
		for (i = 0; i < n; i++)
			if (seqset_add_range(copy, r[i].lo, r[i].hi) < 0)
				panic("imap: copy of the saved search result");
	}
	return copy;
}

void
imap_view_set_searchres(struct imap_view *v, struct seqset *uids)
{
	seqset_destroy(&v->searchres);
	v->searchres = uids;
}

int
imap_view_parse_set(const struct imap_view *v, const struct imap_arg *a, bool uid,
    struct seqset **set_r, bool *uid_r)
{
	*set_r = NULL;
	*uid_r = uid;
	if (a->type != IMAP_ARG_ATOM)
		return -1;
	if (a->len == 1 && a->str[0] == '$') {
		*set_r = imap_view_searchres(v);
		*uid_r = true;
		return 0;
	}
	return seqset_parse(a->str, a->len, 0, set_r) == SEQSET_PARSE_OK ? 0 : -1;
}
