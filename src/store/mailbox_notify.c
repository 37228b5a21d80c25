/*
 * mailbox_notify.c — change notification, in one place: the listeners of a folder (every
 * session that has it open) and the calls that tell them of expunges, appends, flag and
 * keyword changes; the inotify watches on new/ and cur/ of every open or cached folder
 * and the draining of the store's inotify fd; and the record of the events our own
 * renames and unlinks are about to cause, made before each change and matched when the
 * queue is drained, so that our own changes do not trigger rescans while those of other
 * programs (an MDA, a second server, a user's shell) do. Runs in the per-user mail
 * process. Security role: an inotify event only marks a folder for a rescan (force_sync)
 * and never names a file that is then opened, so at worst a flood of events costs
 * rescans; the own-event record is bounded (OWN_EVENTS_MAX, then every event rescans) and
 * drained every OWN_DRAIN_EVERY records so a bulk change cannot overflow the kernel queue.
 */
#include "store/store_private.h"

#include <errno.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lib/util.h"

/* ------------------------------------------------------------------ listeners */

struct mailbox_listener *
mailbox_listen(struct mailbox *box, const struct mailbox_listener_ops *ops, void *ctx)
{
	struct mailbox_listener *l = xcalloc(1, sizeof(*l)), **pp;

	l->ops = ops;
	l->ctx = ctx;
	/* registered on a folder whose messages are not loaded: told nothing about them
	 * until they are (mailbox_notify_loaded) */
	l->lazy = box->msgs_lazy && ops->loaded != NULL;
	/* append: notification order = registration order */
	for (pp = &box->listeners; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = l;
	return l;
}

void
mailbox_unlisten(struct mailbox *box, struct mailbox_listener **lp)
{
	struct mailbox_listener **pp;

	if (*lp == NULL)
		return;
	for (pp = &box->listeners; *pp != NULL; pp = &(*pp)->next)
		if (*pp == *lp) {
			*pp = (*lp)->next;
			break;
		}
	free(*lp);
	*lp = NULL;
}

/* The next MODSEQ of box (RFC 7162 §3.1.1: strictly increasing per mailbox). Every
 * change reaches the listeners through the functions below, so they are where MODSEQs
 * are handed out and the folder's snapshot in the index is marked stale. */
static uint64_t
modseq_next(struct mailbox *box)
{
	box->index_dirty = true;
	if (++box->highestmodseq > box->modseq_ceiling)
		mailbox_index_reserve(box);
	return box->highestmodseq;
}

void
mailbox_touch_modseq(struct mailbox *box)
{
	(void)modseq_next(box);
}

static void
modseq_msg(struct mailbox *box, uint32_t uid, bool appended)
{
	struct mailbox_msg *m = (struct mailbox_msg *)mailbox_lookup(box, uid, NULL);

	if (m == NULL)
		return;
	m->modseq = modseq_next(box);
	if (appended && m->savedate == 0)
		m->savedate = time(NULL);
}

void
mailbox_notify_expunged(struct mailbox *box, uint32_t uid, uint64_t emailid)
{
	struct mailbox_listener *l;

	mailbox_expunge_record(box, uid, modseq_next(box), emailid);
	for (l = box->listeners; l != NULL; l = l->next)
		if (l->ops->expunged != NULL && !l->lazy)
			l->ops->expunged(l->ctx, box, uid);
}

void
mailbox_notify_appended(struct mailbox *box, uint32_t uid)
{
	struct mailbox_listener *l;

	modseq_msg(box, uid, true);
	for (l = box->listeners; l != NULL; l = l->next)
		if (l->ops->appended != NULL && !l->lazy)
			l->ops->appended(l->ctx, box, uid);
}

void
mailbox_notify_delivered(struct mailbox *box, uint32_t uid)
{
	struct mailbox_listener *l;

	for (l = box->listeners; l != NULL; l = l->next)
		if (l->ops->delivered != NULL && !l->lazy)
			l->ops->delivered(l->ctx, box, uid);
}

void
mailbox_notify_flags(struct mailbox *box, uint32_t uid)
{
	struct mailbox_listener *l;

	modseq_msg(box, uid, false);
	for (l = box->listeners; l != NULL; l = l->next)
		if (l->ops->flags_changed != NULL && !l->lazy)
			l->ops->flags_changed(l->ctx, box, uid);
}

void
mailbox_notify_loaded(struct mailbox *box)
{
	struct mailbox_listener *l;

	for (l = box->listeners; l != NULL; l = l->next)
		if (l->lazy) {
			l->lazy = false;
			l->ops->loaded(l->ctx, box);
		}
}

void
mailbox_notify_keyword(struct mailbox *box, unsigned int idx)
{
	struct mailbox_listener *l;

	for (l = box->listeners; l != NULL; l = l->next)
		if (l->ops->keyword_added != NULL)
			l->ops->keyword_added(l->ctx, box, idx);
}

/* ------------------------------------------------------------------ own events */

/*
 * Every rename/unlink of ours queues one inotify event per directory entry touched;
 * they are recognised in O(1) each. A bulk change (STORE 1:* of 20,000 messages: 40,000
 * events) would overflow the kernel queue (fs.inotify.max_queued_events, 16,384 by
 * default), and an overflow forces a full rescan of every open folder: so once
 * OWN_DRAIN_EVERY events have been recorded since the last drain, the queue is drained
 * on the spot (our events are queued by the time the system call returns).
 */
#define OWN_EVENTS_MAX	(1u << 20)	/* records between resets; then stop filtering */
#define OWN_DRAIN_EVERY	2048

static uint64_t
own_hash(bool is_new, const char *name, size_t len)
{
	return mstore_hash_bytes(name, len) ^ (is_new ? 0x9e3779b97f4a7c15ULL : 0);
}

static void
own_tab_insert(struct mailbox *box, size_t idx)
{
	size_t mask = box->own_tabsize - 1, h = (size_t)box->own_ev[idx].hash & mask;

	while (box->own_tab[h] != 0)
		h = (h + 1) & mask;
	box->own_tab[h] = (uint32_t)(idx + 1);
}

/* Forget every record (all matched, or a full scan covers them). */
static void
own_events_reset(struct mailbox *box)
{
	box->n_own = box->own_live = 0;
	box->own_names_len = 0;
	if (box->own_tabsize > 4096) {
		free(box->own_tab);	/* do not keep a bulk operation's table */
		box->own_tab = NULL;
		box->own_tabsize = 0;
	} else if (box->own_tab != NULL)
		memset(box->own_tab, 0, box->own_tabsize * sizeof(*box->own_tab));
}

void
mailbox_own_event(struct mailbox *box, bool is_new, const char *name)
{
	struct own_event *e;
	size_t len = strlen(name), i;

	if (box->wd_new < 0 || box->own_overflow)
		return;
	if (box->n_own == OWN_EVENTS_MAX) {
		box->own_overflow = true;	/* stop filtering: rescan on any event */
		return;
	}
	if (box->n_own == box->own_cap) {
		box->own_cap = box->own_cap == 0 ? 64 : box->own_cap * 2;
		box->own_ev = xreallocarray(box->own_ev, box->own_cap, sizeof(*box->own_ev));
	}
	if (box->own_names_len + len > box->own_names_cap) {
		box->own_names_cap = MAX(box->own_names_cap * 2, box->own_names_len + len +
		    4096);
		box->own_names = xrealloc(box->own_names, box->own_names_cap);
	}
	if ((box->n_own + 1) * 2 > box->own_tabsize) {
		/* grow the hash (load <= 1/2), re-inserting the records still expected */
		free(box->own_tab);
		box->own_tabsize = box->own_tabsize == 0 ? 128 : box->own_tabsize * 2;
		box->own_tab = xcalloc(box->own_tabsize, sizeof(*box->own_tab));
		for (i = 0; i < box->n_own; i++)
			if (box->own_ev[i].live)
				own_tab_insert(box, i);
	}
	e = &box->own_ev[box->n_own];
	e->hash = own_hash(is_new, name, len);
	e->off = box->own_names_len;
	e->len = (uint32_t)len;
	e->is_new = is_new;
	e->live = true;
	memcpy(box->own_names + box->own_names_len, name, len);
	box->own_names_len += len;
	own_tab_insert(box, box->n_own++);
	box->own_live++;
	if (++box->own_since_drain >= OWN_DRAIN_EVERY) {
		box->own_since_drain = 0;
		mstore_notify_drain(box->store);
	}
}

bool
mailbox_own_event_match(struct mailbox *box, bool is_new, const char *name)
{
	size_t len = strlen(name), mask, h;
	uint64_t hash;
	uint32_t idx;

	if (box->own_overflow || box->own_live == 0)
		return false;
	hash = own_hash(is_new, name, len);
	mask = box->own_tabsize - 1;
	for (h = (size_t)hash & mask; (idx = box->own_tab[h]) != 0; h = (h + 1) & mask) {
		struct own_event *e = &box->own_ev[idx - 1];

		if (e->live && e->hash == hash && e->is_new == is_new && e->len == len &&
		    memcmp(box->own_names + e->off, name, len) == 0) {
			e->live = false;
			if (--box->own_live == 0)
				own_events_reset(box);
			return true;
		}
	}
	return false;
}

void
mailbox_own_events_clear(struct mailbox *box)
{
	own_events_reset(box);
	box->own_overflow = false;
}

void
mailbox_own_events_free(struct mailbox *box)
{
	free(box->own_ev);
	free(box->own_names);
	free(box->own_tab);
	box->own_ev = NULL;
	box->own_names = NULL;
	box->own_tab = NULL;
	box->n_own = box->own_cap = box->own_live = 0;
	box->own_names_len = box->own_names_cap = box->own_tabsize = 0;
}

/* ------------------------------------------------------------------ inotify */

void
mailbox_notify_add(struct mailbox *box)
{
	char path[64];
	uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;

	box->wd_new = box->wd_cur = -1;
	if (box->store->inotify_fd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", box->new_fd);
	box->wd_new = inotify_add_watch(box->store->inotify_fd, path, mask);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", box->cur_fd);
	box->wd_cur = inotify_add_watch(box->store->inotify_fd, path, mask);
}

void
mailbox_notify_remove(struct mailbox *box)
{
	if (box->store->inotify_fd < 0)
		return;
	if (box->wd_new >= 0)
		(void)inotify_rm_watch(box->store->inotify_fd, box->wd_new);
	if (box->wd_cur >= 0)
		(void)inotify_rm_watch(box->store->inotify_fd, box->wd_cur);
	box->wd_new = box->wd_cur = -1;
}

/* Watch the root while anybody wants folder-level changes. */
static void
root_watch_update(struct mstore *store)
{
	char path[64];
	bool want = store->folders_cb != NULL || store->n_folders_watch > 0;

	if (store->inotify_fd < 0)
		return;
	if (want && store->wd_root < 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", store->root_fd);
		store->wd_root = inotify_add_watch(store->inotify_fd, path, IN_CREATE |
		    IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR);
	} else if (!want && store->wd_root >= 0) {
		(void)inotify_rm_watch(store->inotify_fd, store->wd_root);
		store->wd_root = -1;
	}
}

void
mstore_set_folders_cb(struct mstore *store, mstore_folders_cb *cb, void *ctx)
{
	store->folders_cb = cb;
	store->folders_ctx = ctx;
	store->folders_changed = false;
	root_watch_update(store);
}

int
mstore_folders_watch(struct mstore *store, mstore_folders_cb *cb, void *ctx, bool on)
{
	size_t i;

	for (i = 0; i < store->n_folders_watch; i++)
		if (store->folders_watch[i].cb == cb && store->folders_watch[i].ctx == ctx)
			break;
	if (on && i == store->n_folders_watch) {
		if (i == MSTORE_FOLDERS_WATCH_MAX)
			return -1;
		store->folders_watch[store->n_folders_watch].cb = cb;
		store->folders_watch[store->n_folders_watch++].ctx = ctx;
	} else if (!on && i < store->n_folders_watch) {
		store->folders_watch[i] = store->folders_watch[--store->n_folders_watch];
	}
	root_watch_update(store);
	return 0;
}

int
mstore_release_watch(struct mstore *store, mstore_release_cb *cb, void *ctx, bool on)
{
	size_t i;

	for (i = 0; i < store->n_release_watch; i++)
		if (store->release_watch[i].cb == cb && store->release_watch[i].ctx == ctx)
			break;
	if (on && i == store->n_release_watch) {
		if (i == MSTORE_FOLDERS_WATCH_MAX)
			return -1;
		store->release_watch[store->n_release_watch].cb = cb;
		store->release_watch[store->n_release_watch++].ctx = ctx;
	} else if (!on && i < store->n_release_watch) {
		store->release_watch[i] = store->release_watch[--store->n_release_watch];
	}
	return 0;
}

int
mstore_notify_fd(struct mstore *store)
{
	return store->inotify_fd;
}

void
mstore_notify_drain(struct mstore *store)
{
	char evbuf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct mailbox *m;
	ssize_t n;
	char *p;

	if (store->inotify_fd < 0)
		return;
	for (;;) {
		n = read(store->inotify_fd, evbuf, sizeof(evbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = evbuf; p < evbuf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (m = store->mailboxes; m != NULL; m = m->next)
					m->force_sync = true;
				store->folders_changed = true;
				continue;
			}
			if (store->wd_root >= 0 && ev->wd == store->wd_root) {
				/* a folder directory (".name"; "..buzon-deleted.*" and
				 * other ".." names are the store's own) */
				if ((ev->mask & IN_ISDIR) && ev->len > 1 && ev->name[0] == '.' &&
				    ev->name[1] != '.')
					store->folders_changed = true;
				continue;
			}
			for (m = store->mailboxes; m != NULL; m = m->next) {
				if (ev->wd != m->wd_new && ev->wd != m->wd_cur)
					continue;
				if (ev->len == 0 || !mailbox_own_event_match(m,
				    ev->wd == m->wd_new, ev->name))
					m->force_sync = true;
			}
		}
	}
}

void
mstore_notify_process(struct mstore *store)
{
	struct mailbox *m, **todo;
	size_t n = 0, i;

	mstore_notify_drain(store);
	if (store->folders_changed) {
		store->folders_changed = false;
		if (store->folders_cb != NULL)
			store->folders_cb(store->folders_ctx);
		/* a callback may remove itself: walk a copy */
		{
			size_t nw = store->n_folders_watch;
			struct mstore_folders_watch w[MSTORE_FOLDERS_WATCH_MAX];

			memcpy(w, store->folders_watch, nw * sizeof(w[0]));
			for (size_t k = 0; k < nw; k++)
				w[k].cb(w[k].ctx);
		}
	}
	/* Sync outside the walk: listeners may open (or close) mailboxes, and a closed one
	 * going into the cache can evict others. Cached folders have nobody to tell:
	 * they keep force_sync until they are opened again. */
	for (m = store->mailboxes; m != NULL; m = m->next)
		if (m->force_sync && !m->cached && !m->deleted)
			n++;
	if (n == 0)
		return;
	todo = xcalloc(n, sizeof(*todo));
	for (m = store->mailboxes, i = 0; m != NULL && i < n; m = m->next)
		if (m->force_sync && !m->cached && !m->deleted) {
			mailbox_ref(m);
			todo[i++] = m;
		}
	n = i;
	for (i = 0; i < n; i++) {
		(void)mailbox_sync(todo[i]);
		mailbox_unref(&todo[i]);
	}
	free(todo);
}
