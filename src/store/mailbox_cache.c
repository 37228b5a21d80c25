/*
 * mailbox_cache.c — what the mail process keeps of folders that nobody has open: the
 * closed-folder cache (message array, directory mtimes, uidlist stat and inotify watches
 * of up to MAILBOX_CACHE_MAX_FOLDERS folders and MAILBOX_CACHE_MAX_BYTES, the least recently
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
 * between folders — is mailbox_sync()'s stat of the directories and the uidlist (plus the
 * inotify events that arrived meanwhile) instead of a rescan. Changes made by other
 * programs while the folder was closed are seen exactly as for an open folder: the
 * watches stay in place (events set force_sync), the mtimes and the uidlist are
 * compared, and without inotify a directory changed within the last second is rescanned.
 * A folder whose directory was replaced or removed meanwhile is opened afresh.
 */

/* Record the identity of the folder directory and its cur/ new/ (at open). */
bool
mailbox_remember_identity(struct mailbox *box)
{
	struct stat sd, sc, sn;

	if (fstat(box->dir_fd, &sd) < 0 || fstat(box->cur_fd, &sc) < 0 ||
	    fstat(box->new_fd, &sn) < 0)
		return false;
	box->dir_dev = sd.st_dev;
	box->dir_ino = sd.st_ino;
	box->cur_ino = sc.st_ino;
	box->new_ino = sn.st_ino;
	return true;
}

/* Is the cached folder still the one its name leads to? */
static bool
identity_ok(struct mailbox *box)
{
	struct stat st;

	if (fstatat(box->store->root_fd, box->dirname, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_dev != box->dir_dev || st.st_ino != box->dir_ino)
		return false;
	if (fstatat(box->dir_fd, "cur", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_ino != box->cur_ino)
		return false;
	if (fstatat(box->dir_fd, "new", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_ino != box->new_ino)
		return false;
	return true;
}

/* Estimated heap bytes of a folder's state. */
static size_t
mailbox_mem(const struct mailbox *box)
{
	return sizeof(*box) + box->cap * sizeof(*box->msgs) + box->names.bytes +
	    mailbox_emailid_mem(box);
}

static void
cache_unlink(struct mailbox *box)
{
	struct mstore *store = box->store;

	box->cached = false;
	store->cache_count--;
	store->cache_bytes -= box->cache_bytes;
	box->cache_bytes = 0;
}

/* Free a closed folder (cached or not; refcount 0). */
void
mailbox_cache_evict(struct mailbox *box)
{
	if (box->cached)
		cache_unlink(box);
	mailbox_discard(box);
}

/* Take a cached folder out of the cache for reuse; false if it must be reopened. */
bool
mailbox_cache_take(struct mailbox *box)
{
	cache_unlink(box);
	return identity_ok(box);
}

/* The least recently closed cached folder other than keep, or NULL. */
static struct mailbox *
cache_oldest(struct mstore *store, const struct mailbox *keep)
{
	struct mailbox *m, *old = NULL;

	for (m = store->mailboxes; m != NULL; m = m->next)
		if (m->cached && m != keep && (old == NULL || m->cache_seq < old->cache_seq))
			old = m;
	return old;
}

/* Keep a folder whose last reference went; false if it is not to be kept. */
bool
mailbox_cache_put(struct mailbox *box)
{
	struct mstore *store = box->store;
	struct mailbox_listener *l, *next;
	struct mailbox *old;
	size_t bytes;

	/* keep no slack: names of renamed or expunged messages, unused array room */
	if (box->names.garbage > box->names.bytes / 16)
		mailbox_names_compact(box);
	if (box->count > 0 && box->cap > box->count + box->count / 8) {
		box->msgs = xreallocarray(box->msgs, box->count, sizeof(*box->msgs));
		box->cap = box->count;
	}
	/* the snapshot is written now, while the folder is known to be current, so a
	 * restart finds it trusted even if the cache keeps it until the process exits */
	mailbox_index_write(box);
	bytes = mailbox_mem(box);
	if (bytes > MAILBOX_CACHE_MAX_BYTES)
		return false;	/* a huge folder alone: rescanned when opened again */
	/* listeners belong to sessions that are gone; none may be called any more */
	for (l = box->listeners; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
	box->listeners = NULL;
	box->cached = true;
	box->cache_seq = ++store->cache_seq;
	box->cache_bytes = bytes;
	store->cache_count++;
	store->cache_bytes += bytes;
	while ((store->cache_count > MAILBOX_CACHE_MAX_FOLDERS ||
	    store->cache_bytes > MAILBOX_CACHE_MAX_BYTES) &&
	    (old = cache_oldest(store, box)) != NULL)
		mailbox_cache_evict(old);
	return true;
}

void
mstore_cache_drop(struct mstore *store, const char *name, bool children)
{
	struct mailbox *m, *next;
	size_t len = name == NULL ? 0 : strlen(name);

	for (m = store->mailboxes; m != NULL; m = next) {
		next = m->next;
		if (!m->cached)
			continue;
		if (name == NULL || strcmp(m->name, name) == 0 || (children &&
		    strncmp(m->name, name, len) == 0 && m->name[len] == STORE_SEP))
			mailbox_cache_evict(m);
	}
}

/* Remember the RECENT UIDs of a folder being closed (replacing an older entry). */
void
mailbox_recent_save(struct mailbox *box)
{
	struct mstore *store = box->store;
	struct recent_cache *rc, **pp;
	size_t i, n = 0;

	for (pp = &store->recent; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, box->name) == 0) {
			rc = *pp;
			*pp = rc->next;
			free(rc->name);
			free(rc->uids);
			free(rc);
			break;
		}
	/* messages never loaded: none got \Recent in this process */
	if (box->msgs_lazy)
		return;
	for (i = 0; i < box->count; i++)
		if (box->msgs[i].flags & MAILBOX_FLAG_RECENT)
			n++;
	if (n == 0)
		return;
	rc = xcalloc(1, sizeof(*rc));
	rc->name = xstrdup(box->name);
	rc->uidvalidity = box->uidvalidity;
	rc->uids = xcalloc(n, sizeof(*rc->uids));
	for (i = 0; i < box->count; i++)
		if (box->msgs[i].flags & MAILBOX_FLAG_RECENT)
			rc->uids[rc->count++] = box->msgs[i].uid;
	rc->next = store->recent;
	store->recent = rc;
}

/* Give an opened folder back the RECENT flags it had when it was closed. */
void
mailbox_recent_restore(struct mailbox *box)
{
	struct recent_cache *rc, **pp;
	struct mailbox_msg *m;
	size_t i;

	for (pp = &box->store->recent; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, box->name) == 0)
			break;
	rc = *pp;
	if (rc == NULL)
		return;
	*pp = rc->next;
	if (rc->uidvalidity == box->uidvalidity)
		for (i = 0; i < rc->count; i++)
			if ((m = (struct mailbox_msg *)mailbox_lookup(box, rc->uids[i],
			    NULL)) != NULL)
				m->flags |= MAILBOX_FLAG_RECENT;
	free(rc->name);
	free(rc->uids);
	free(rc);
}
