/*
 * mailbox_cache.c — what the mail process keeps of folders that nobody has open: the
 * closed-folder cache (message array, directory mtimes, uidlist stat and inotify watches
 * of up to MBOX_CACHE_MAX_FOLDERS folders and MBOX_CACHE_MAX_BYTES, the least recently
 * closed evicted first), mstore_cache_drop for deletes and renames, and the \\Recent UIDs
 * of closed folders that are no longer cached. Runs in the per-user mail process.
 * Security role: the cache takes a small, fixed part of the process's RLIMIT_AS; a cached
 * folder whose directory, cur/ or new/ was replaced meanwhile (device and inode) is
 * opened afresh, never served from the old state.
 */
#include "store/store_private.h"

#include <fcntl.h>

#include "lib/util.h"

/* ------------------------------------------------------------------ closed-folder cache */

/*
 * When the last reference goes, the folder's state (message array, uidlist stat,
 * directory mtimes, inotify watches) stays in memory, so that the next open of the
 * folder — a client that selects and leaves, a STATUS, the IDLE of a phone moving
 * between folders — is mbox_sync()'s stat of the directories and the uidlist (plus the
 * inotify events that arrived meanwhile) instead of a rescan. Changes made by other
 * programs while the folder was closed are seen exactly as for an open folder: the
 * watches stay in place (events set force_sync), the mtimes and the uidlist are
 * compared, and without inotify a directory changed within the last second is rescanned.
 * A folder whose directory was replaced or removed meanwhile is opened afresh.
 */

/* Record the identity of the folder directory and its cur/ new/ (at open). */
bool
remember_identity(struct mbox *mbox)
{
	struct stat sd, sc, sn;

	if (fstat(mbox->dir_fd, &sd) < 0 || fstat(mbox->cur_fd, &sc) < 0 ||
	    fstat(mbox->new_fd, &sn) < 0)
		return false;
	mbox->dir_dev = sd.st_dev;
	mbox->dir_ino = sd.st_ino;
	mbox->cur_ino = sc.st_ino;
	mbox->new_ino = sn.st_ino;
	return true;
}

/* Is the cached folder still the one its name leads to? */
static bool
identity_ok(struct mbox *mbox)
{
	struct stat st;

	if (fstatat(mbox->store->root_fd, mbox->dirname, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_dev != mbox->dir_dev || st.st_ino != mbox->dir_ino)
		return false;
	if (fstatat(mbox->dir_fd, "cur", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_ino != mbox->cur_ino)
		return false;
	if (fstatat(mbox->dir_fd, "new", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_ino != mbox->new_ino)
		return false;
	return true;
}

/* Estimated heap bytes of a folder's state. */
static size_t
mbox_mem(const struct mbox *mbox)
{
	return sizeof(*mbox) + mbox->cap * sizeof(*mbox->msgs) + mbox->names.bytes;
}

static void
cache_unlink(struct mbox *mbox)
{
	struct mstore *store = mbox->store;

	mbox->cached = false;
	store->cache_count--;
	store->cache_bytes -= mbox->cache_bytes;
	mbox->cache_bytes = 0;
}

/* Free a closed folder (cached or not; refcount 0). */
void
cache_evict(struct mbox *mbox)
{
	struct mbox **pp;

	if (mbox->cached)
		cache_unlink(mbox);
	if (!mbox->deleted)
		recent_save(mbox);
	for (pp = &mbox->store->mboxes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == mbox) {
			*pp = mbox->next;
			break;
		}
	mbox_free_internal(mbox);
}

/* Take a cached folder out of the cache for reuse; false if it must be reopened. */
bool
cache_take(struct mbox *mbox)
{
	cache_unlink(mbox);
	return identity_ok(mbox);
}

/* The least recently closed cached folder other than keep, or NULL. */
static struct mbox *
cache_oldest(struct mstore *store, const struct mbox *keep)
{
	struct mbox *m, *old = NULL;

	for (m = store->mboxes; m != NULL; m = m->next)
		if (m->cached && m != keep && (old == NULL || m->cache_seq < old->cache_seq))
			old = m;
	return old;
}

/* Keep a folder whose last reference went; false if it is not to be kept. */
bool
cache_put(struct mbox *mbox)
{
	struct mstore *store = mbox->store;
	struct mbox_listener *l, *next;
	struct mbox *old;
	size_t bytes;

	/* keep no slack: names of renamed or expunged messages, unused array room */
	if (mbox->names.garbage > mbox->names.bytes / 16)
		names_compact(mbox);
	if (mbox->count > 0 && mbox->cap > mbox->count + mbox->count / 8) {
		mbox->msgs = xreallocarray(mbox->msgs, mbox->count, sizeof(*mbox->msgs));
		mbox->cap = mbox->count;
	}
	bytes = mbox_mem(mbox);
	if (bytes > MBOX_CACHE_MAX_BYTES)
		return false;	/* a huge folder alone: rescanned when opened again */
	/* listeners belong to sessions that are gone; none may be called any more */
	for (l = mbox->listeners; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
	mbox->listeners = NULL;
	mbox->cached = true;
	mbox->cache_seq = ++store->cache_seq;
	mbox->cache_bytes = bytes;
	store->cache_count++;
	store->cache_bytes += bytes;
	while ((store->cache_count > MBOX_CACHE_MAX_FOLDERS ||
	    store->cache_bytes > MBOX_CACHE_MAX_BYTES) &&
	    (old = cache_oldest(store, mbox)) != NULL)
		cache_evict(old);
	return true;
}

void
mstore_cache_drop(struct mstore *store, const char *name, bool children)
{
	struct mbox *m, *next;
	size_t len = name == NULL ? 0 : strlen(name);

	for (m = store->mboxes; m != NULL; m = next) {
		next = m->next;
		if (!m->cached)
			continue;
		if (name == NULL || strcmp(m->name, name) == 0 || (children &&
		    strncmp(m->name, name, len) == 0 && m->name[len] == STORE_SEP))
			cache_evict(m);
	}
}

/* Remember the RECENT UIDs of a folder being closed (replacing an older entry). */
void
recent_save(struct mbox *mbox)
{
	struct mstore *store = mbox->store;
	struct recent_cache *rc, **pp;
	size_t i, n = 0;

	for (pp = &store->recent; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, mbox->name) == 0) {
			rc = *pp;
			*pp = rc->next;
			free(rc->name);
			free(rc->uids);
			free(rc);
			break;
		}
	for (i = 0; i < mbox->count; i++)
		if (mbox->msgs[i].flags & MBOX_FLAG_RECENT)
			n++;
	if (n == 0)
		return;
	rc = xcalloc(1, sizeof(*rc));
	rc->name = xstrdup(mbox->name);
	rc->uidvalidity = mbox->uidvalidity;
	rc->uids = xcalloc(n, sizeof(*rc->uids));
	for (i = 0; i < mbox->count; i++)
		if (mbox->msgs[i].flags & MBOX_FLAG_RECENT)
			rc->uids[rc->count++] = mbox->msgs[i].uid;
	rc->next = store->recent;
	store->recent = rc;
}

/* Give an opened folder back the RECENT flags it had when it was closed. */
void
recent_restore(struct mbox *mbox)
{
	struct recent_cache *rc, **pp;
	struct mbox_msg *m;
	size_t i;

	for (pp = &mbox->store->recent; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, mbox->name) == 0)
			break;
	rc = *pp;
	if (rc == NULL)
		return;
	*pp = rc->next;
	if (rc->uidvalidity == mbox->uidvalidity)
		for (i = 0; i < rc->count; i++)
			if ((m = (struct mbox_msg *)mbox_lookup(mbox, rc->uids[i], NULL)) != NULL)
				m->flags |= MBOX_FLAG_RECENT;
	free(rc->name);
	free(rc->uids);
	free(rc);
}
