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

struct mbox_listener *
mbox_listen(struct mbox *mbox, const struct mbox_listener_ops *ops, void *ctx)
{
	struct mbox_listener *l = xcalloc(1, sizeof(*l)), **pp;

	l->ops = ops;
	l->ctx = ctx;
	/* append: notification order = registration order */
	for (pp = &mbox->listeners; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = l;
	return l;
}

void
mbox_unlisten(struct mbox *mbox, struct mbox_listener **lp)
{
	struct mbox_listener **pp;

	if (*lp == NULL)
		return;
	for (pp = &mbox->listeners; *pp != NULL; pp = &(*pp)->next)
		if (*pp == *lp) {
			*pp = (*lp)->next;
			break;
		}
	free(*lp);
	*lp = NULL;
}

void
notify_expunged(struct mbox *mbox, uint32_t uid)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->expunged != NULL)
			l->ops->expunged(l->ctx, mbox, uid);
}

void
notify_appended(struct mbox *mbox, uint32_t uid)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->appended != NULL)
			l->ops->appended(l->ctx, mbox, uid);
}

void
notify_flags(struct mbox *mbox, uint32_t uid)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->flags_changed != NULL)
			l->ops->flags_changed(l->ctx, mbox, uid);
}

void
notify_keyword(struct mbox *mbox, unsigned int idx)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->keyword_added != NULL)
			l->ops->keyword_added(l->ctx, mbox, idx);
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
	return hash_bytes(name, len) ^ (is_new ? 0x9e3779b97f4a7c15ULL : 0);
}

static void
own_tab_insert(struct mbox *mbox, size_t idx)
{
	size_t mask = mbox->own_tabsize - 1, h = (size_t)mbox->own_ev[idx].hash & mask;

	while (mbox->own_tab[h] != 0)
		h = (h + 1) & mask;
	mbox->own_tab[h] = (uint32_t)(idx + 1);
}

/* Forget every record (all matched, or a full scan covers them). */
static void
own_events_reset(struct mbox *mbox)
{
	mbox->n_own = mbox->own_live = 0;
	mbox->own_names_len = 0;
	if (mbox->own_tabsize > 4096) {
		free(mbox->own_tab);	/* do not keep a bulk operation's table */
		mbox->own_tab = NULL;
		mbox->own_tabsize = 0;
	} else if (mbox->own_tab != NULL)
		memset(mbox->own_tab, 0, mbox->own_tabsize * sizeof(*mbox->own_tab));
}

void
mbox_own_event(struct mbox *mbox, bool is_new, const char *name)
{
	struct own_event *e;
	size_t len = strlen(name), i;

	if (mbox->wd_new < 0 || mbox->own_overflow)
		return;
	if (mbox->n_own == OWN_EVENTS_MAX) {
		mbox->own_overflow = true;	/* stop filtering: rescan on any event */
		return;
	}
	if (mbox->n_own == mbox->own_cap) {
		mbox->own_cap = mbox->own_cap == 0 ? 64 : mbox->own_cap * 2;
		mbox->own_ev = xreallocarray(mbox->own_ev, mbox->own_cap, sizeof(*mbox->own_ev));
	}
	if (mbox->own_names_len + len > mbox->own_names_cap) {
		mbox->own_names_cap = MAX(mbox->own_names_cap * 2, mbox->own_names_len + len +
		    4096);
		mbox->own_names = xrealloc(mbox->own_names, mbox->own_names_cap);
	}
	if ((mbox->n_own + 1) * 2 > mbox->own_tabsize) {
		/* grow the hash (load <= 1/2), re-inserting the records still expected */
		free(mbox->own_tab);
		mbox->own_tabsize = mbox->own_tabsize == 0 ? 128 : mbox->own_tabsize * 2;
		mbox->own_tab = xcalloc(mbox->own_tabsize, sizeof(*mbox->own_tab));
		for (i = 0; i < mbox->n_own; i++)
			if (mbox->own_ev[i].live)
				own_tab_insert(mbox, i);
	}
	e = &mbox->own_ev[mbox->n_own];
	e->hash = own_hash(is_new, name, len);
	e->off = mbox->own_names_len;
	e->len = (uint32_t)len;
	e->is_new = is_new;
	e->live = true;
	memcpy(mbox->own_names + mbox->own_names_len, name, len);
	mbox->own_names_len += len;
	own_tab_insert(mbox, mbox->n_own++);
	mbox->own_live++;
	if (++mbox->own_since_drain >= OWN_DRAIN_EVERY) {
		mbox->own_since_drain = 0;
		mstore_notify_drain(mbox->store);
	}
}

bool
mbox_own_event_match(struct mbox *mbox, bool is_new, const char *name)
{
	size_t len = strlen(name), mask, h;
	uint64_t hash;
	uint32_t idx;

	if (mbox->own_overflow || mbox->own_live == 0)
		return false;
	hash = own_hash(is_new, name, len);
	mask = mbox->own_tabsize - 1;
	for (h = (size_t)hash & mask; (idx = mbox->own_tab[h]) != 0; h = (h + 1) & mask) {
		struct own_event *e = &mbox->own_ev[idx - 1];

		if (e->live && e->hash == hash && e->is_new == is_new && e->len == len &&
		    memcmp(mbox->own_names + e->off, name, len) == 0) {
			e->live = false;
			if (--mbox->own_live == 0)
				own_events_reset(mbox);
			return true;
		}
	}
	return false;
}

void
own_events_clear(struct mbox *mbox)
{
	own_events_reset(mbox);
	mbox->own_overflow = false;
}

void
own_events_free(struct mbox *mbox)
{
	free(mbox->own_ev);
	free(mbox->own_names);
	free(mbox->own_tab);
	mbox->own_ev = NULL;
	mbox->own_names = NULL;
	mbox->own_tab = NULL;
	mbox->n_own = mbox->own_cap = mbox->own_live = 0;
	mbox->own_names_len = mbox->own_names_cap = mbox->own_tabsize = 0;
}

/* ------------------------------------------------------------------ inotify */

void
mbox_notify_add(struct mbox *mbox)
{
	char path[64];
	uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;

	mbox->wd_new = mbox->wd_cur = -1;
	if (mbox->store->inotify_fd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mbox->new_fd);
	mbox->wd_new = inotify_add_watch(mbox->store->inotify_fd, path, mask);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mbox->cur_fd);
	mbox->wd_cur = inotify_add_watch(mbox->store->inotify_fd, path, mask);
}

void
mbox_notify_remove(struct mbox *mbox)
{
	if (mbox->store->inotify_fd < 0)
		return;
	if (mbox->wd_new >= 0)
		(void)inotify_rm_watch(mbox->store->inotify_fd, mbox->wd_new);
	if (mbox->wd_cur >= 0)
		(void)inotify_rm_watch(mbox->store->inotify_fd, mbox->wd_cur);
	mbox->wd_new = mbox->wd_cur = -1;
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
	struct mbox *m;
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
				for (m = store->mboxes; m != NULL; m = m->next)
					m->force_sync = true;
				continue;
			}
			for (m = store->mboxes; m != NULL; m = m->next) {
				if (ev->wd != m->wd_new && ev->wd != m->wd_cur)
					continue;
				if (ev->len == 0 || !mbox_own_event_match(m, ev->wd == m->wd_new,
				    ev->name))
					m->force_sync = true;
			}
		}
	}
}

void
mstore_notify_process(struct mstore *store)
{
	struct mbox *m, **todo;
	size_t n = 0, i;

	mstore_notify_drain(store);
	/* Sync outside the walk: listeners may open (or close) mboxes, and a closed one
	 * going into the cache can evict others. Cached folders have nobody to tell:
	 * they keep force_sync until they are opened again. */
	for (m = store->mboxes; m != NULL; m = m->next)
		if (m->force_sync && !m->cached && !m->deleted)
			n++;
	if (n == 0)
		return;
	todo = xcalloc(n, sizeof(*todo));
	for (m = store->mboxes, i = 0; m != NULL && i < n; m = m->next)
		if (m->force_sync && !m->cached && !m->deleted) {
			mbox_ref(m);
			todo[i++] = m;
		}
	n = i;
	for (i = 0; i < n; i++) {
		(void)mbox_sync(todo[i]);
		mbox_unref(&todo[i]);
	}
	free(todo);
}
