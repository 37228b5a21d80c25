/*
 * mailbox_sync.c — bringing a folder's message array in line with its directories and
 * its dovecot-uidlist: the scan of new/ and cur/ (new/ files move into cur/ as Dovecot
 * does; a base name found twice is renamed apart), the sync that keeps the UIDs the
 * uidlist gives to existing files, numbers unknown files in name order, drops vanished
 * ones and tells the listeners what changed; the cheap test that nothing can have changed
 * (directory mtimes, uidlist stat, inotify); and the lock-and-sync that precedes every
 * change. Runs in the per-user mail process. Security and reliability role: only
 * directory entries that parse as Maildir message names (mdname_parse) become messages;
 * UIDs only grow, and an unusable or foreign uidlist gives the folder a new, larger
 * UIDVALIDITY instead of two messages with one UID; the uidlist lock is held from the
 * scan to the uidlist write.
 */
#include "store/store_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

/* ------------------------------------------------------------------ scanning */

struct dentry {
	char *name;		/* file name in its directory */
	size_t base_len;
	bool in_new;		/* still in new/ (could not be moved) */
	bool recent;		/* found in new/ by this scan */
	bool claimed;
	struct mdname md;
};

struct scan {
	struct dentry *e;
	size_t count, cap;
	char **moved;		/* bases moved from new/ to cur/ by this scan */
	size_t nmoved, movedcap;
	size_t *hash;		/* indexes + 1; 0 = empty */
	size_t hsize;
	struct name_arena names;	/* e[].name */
};

static void
scan_add(struct scan *s, const char *name, size_t len, bool in_new, bool recent,
    const struct mdname *md)
{
	struct dentry *e;

	if (s->count == s->cap) {
		s->cap = s->cap == 0 ? 256 : s->cap * 2;
		s->e = xreallocarray(s->e, s->cap, sizeof(*s->e));
	}
	e = &s->e[s->count++];
	e->name = memcpy(name_arena_alloc(&s->names, len + 1), name, len + 1);
	e->base_len = md->base_len;
	e->in_new = in_new;
	e->recent = recent;
	e->claimed = false;
	e->md = *md;
}

static void
scan_free(struct scan *s)
{
	size_t i;

	name_arena_free(&s->names);
	free(s->e);
	free(s->hash);
	for (i = 0; i < s->nmoved; i++)
		free(s->moved[i]);
	free(s->moved);
}

/* index of the entry with this base, or SIZE_MAX */
static size_t
scan_find(const struct scan *s, const char *base, size_t len)
{
	size_t h = (size_t)mstore_hash_bytes(base, len) & (s->hsize - 1), idx;

	while ((idx = s->hash[h]) != 0) {
		const struct dentry *e = &s->e[idx - 1];

		if (e->base_len == len && memcmp(e->name, base, len) == 0)
			return idx - 1;
		h = (h + 1) & (s->hsize - 1);
	}
	return SIZE_MAX;
}

static int
dentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dentry *)a)->name, ((const struct dentry *)b)->name);
}

/* Build the hash; rename entries whose base duplicates another's (a crash in the middle
 * of a rename by some program can leave two links), so each base is one message. */
static void
scan_index(struct mailbox *box, struct scan *s)
{
	size_t i, h;

	if (s->count > 1)
		qsort(s->e, s->count, sizeof(*s->e), dentry_cmp);
	s->hsize = 16;
	while (s->hsize < s->count * 2)
		s->hsize *= 2;
	s->hash = xcalloc(s->hsize, sizeof(*s->hash));
	for (i = 0; i < s->count; i++) {
		struct dentry *e = &s->e[i];

		if (scan_find(s, e->name, e->base_len) != SIZE_MAX) {
			struct buf nn;
			int dfd = e->in_new ? box->new_fd : box->cur_fd;

			buf_init(&nn, 1024);
			mstore_unique_name(box->store, &nn);
			if (e->md.size != MAILBOX_SIZE_UNKNOWN)
				buf_appendf(&nn, ",S=%llu", (unsigned long long)e->md.size);
			if (e->md.vsize != MAILBOX_SIZE_UNKNOWN)
				buf_appendf(&nn, ",W=%llu", (unsigned long long)e->md.vsize);
			e->base_len = nn.len;
			buf_append_str(&nn, e->name + (strchr(e->name, ':') != NULL ?
			    (size_t)(strchr(e->name, ':') - e->name) : strlen(e->name)));
			log_warn("store duplicate file base renamed mailbox=%s file=%s",
			    box->name, e->name);
			mailbox_own_event(box, e->in_new, e->name);
			mailbox_own_event(box, e->in_new, buf_cstr(&nn));
			if (renameat(dfd, e->name, dfd, buf_cstr(&nn)) < 0) {
				buf_deinit(&nn);
				e->claimed = true;	/* ignore it this time */
				continue;
			}
			e->name = name_arena_strdup(&s->names, buf_cstr(&nn));
			buf_deinit(&nn);
		}
		h = (size_t)mstore_hash_bytes(e->name, e->base_len) & (s->hsize - 1);
		while (s->hash[h] != 0)
			h = (h + 1) & (s->hsize - 1);
		s->hash[h] = i + 1;
	}
}

/* Move new/ files to cur/ (adding ":2,") and list cur/. */
static enum store_status
scan_dirs(struct mailbox *box, struct scan *s)
{
	struct dirent *de;
	struct mdname md;
	DIR *dir;
	int fd, pass;

	for (pass = 0; pass < 2; pass++) {
		int dfd = pass == 0 ? box->new_fd : box->cur_fd;

		fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
			log_error("store scan failed mailbox=%s error=%s", box->name,
			    strerror(errno));
			if (fd >= 0)
				close(fd);
			return STORE_IOERROR;
		}
		while ((de = readdir(dir)) != NULL) {
			size_t len = strlen(de->d_name);
			char *target;

			if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
				continue;
			if (!mdname_parse(de->d_name, len, &md))
				continue;
			if (pass == 1) {
				scan_add(s, de->d_name, len, false, false, &md);
				continue;
			}
			/* new/ -> cur/ as Dovecot does; keep an info part if present */
			target = md.has_info ? xstrdup(de->d_name) :
			    xasprintf("%.*s:2,", (int)md.base_len, de->d_name);
			mailbox_own_event(box, true, de->d_name);
			mailbox_own_event(box, false, target);
			if (renameat(box->new_fd, de->d_name, box->cur_fd, target) == 0) {
				free(target);
				/* listed again by the cur/ pass; remember it was new */
				if (s->nmoved == s->movedcap) {
					s->movedcap = s->movedcap == 0 ? 16 : s->movedcap * 2;
					s->moved = xreallocarray(s->moved, s->movedcap,
					    sizeof(*s->moved));
				}
				s->moved[s->nmoved++] = xstrndup(de->d_name, md.base_len);
			} else {
				free(target);
				if (errno != ENOENT)
					scan_add(s, de->d_name, len, true, true, &md);
			}
		}
		closedir(dir);
	}
	return STORE_OK;
}

/* ------------------------------------------------------------------ sync */

static void
new_guid(char guid[33])
{
	unsigned char r[16];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		memset(r, 0, sizeof(r));
	for (i = 0; i < 16; i++)
		snprintf(guid + i * 2, 3, "%02x", r[i]);
}

void
mailbox_msgs_push(struct mailbox_msg **arr, size_t *count, size_t *cap,
    const struct mailbox_msg *m)
{
	if (*count == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*arr = xreallocarray(*arr, *cap, sizeof(**arr));
	}
	(*arr)[(*count)++] = *m;
}

/*
 * Full sync with the uidlist lock held (lockfd). Leaves the lock held; *dirty_r tells
 * whether the uidlist must be rewritten (new UIDs, dropped entries, corruption).
 */
static enum store_status
sync_locked(struct mailbox *box, bool *dirty_r)
{
	struct uidlist ul;
	struct scan s = { 0 };
	struct name_arena na = { 0 };
	struct mailbox_msg *nmsgs = NULL, nm;
	size_t ncount = 0, ncap = 0, i, j, k, nr;
	enum store_status st;
	struct stat st_new, st_cur;
	bool damaged = false, reset = false;
	uint32_t old_validity = box->uidvalidity;
	time_t synced_at;
	int ret;

	*dirty_r = false;
	mailbox_msgs_assert(box);
	/* taken before the stat: the index trusts mtimes older than this (mailbox_index.c) */
	synced_at = time(NULL);
	if (fstat(box->new_fd, &st_new) < 0 || fstat(box->cur_fd, &st_cur) < 0)
		return STORE_IOERROR;
	st = scan_dirs(box, &s);
	if (st != STORE_OK) {
		scan_free(&s);
		return st;
	}
	scan_index(box, &s);
	/* files this scan moved out of new/ are \Recent for this process */
	for (i = 0; i < s.nmoved; i++) {
		k = scan_find(&s, s.moved[i], strlen(s.moved[i]));
		if (k != SIZE_MAX)
			s.e[k].recent = true;
	}

	uidlist_init(&ul);
	ret = mailbox_uidlist_read(box, &ul, false, &damaged);
	if (ret == 0) {
		/* unchanged on disk: our memory is the uidlist (records read from
		 * box->msgs below, without copying them into ul) */
		ul.uidvalidity = box->uidvalidity;
		ul.nextuid = box->nextuid;
		memcpy(ul.guid, box->guid, sizeof(ul.guid));
	} else if (ret < 0) {
		/* missing (-2, new folder) or unusable (-1): fresh UIDVALIDITY and UIDs */
		uidlist_clear(&ul);
		ul.uidvalidity = mstore_next_uidvalidity(box->store, old_validity);
		if (ul.uidvalidity == 0) {
			uidlist_deinit(&ul);
			scan_free(&s);
			return STORE_IOERROR;
		}
		ul.nextuid = 1;
		new_guid(ul.guid);
		reset = true;
		*dirty_r = true;
	}
	if (ret == 1 && ul.guid[0] == '\0') {
		/* a v1 uidlist or one without a folder GUID: give it one (RFC 8474
		 * MAILBOXID; the one we knew if the folder is the same), written with
		 * the next rewrite */
		if (box->guid[0] != '\0' && ul.uidvalidity == old_validity)
			memcpy(ul.guid, box->guid, sizeof(ul.guid));
		else
			new_guid(ul.guid);
		*dirty_r = true;
	}
	if (damaged)
		*dirty_r = true;
	if (!reset && old_validity != 0 && ul.uidvalidity != old_validity) {
		if (box->index_preloaded)
			log_info("store index snapshot of an older uidvalidity mailbox=%s",
			    box->name);
		else
			log_warn("store uidvalidity changed by another program mailbox=%s",
			    box->name);
		reset = true;
	}
	if (ul.nextuid < box->nextuid && !reset && old_validity != 0) {
		/* nextuid only grows, whatever the file says */
		ul.nextuid = box->nextuid;
		*dirty_r = true;
	}

	/* known messages: uidlist records whose file exists */
	for (nr = 0; nr < (ret == 0 ? box->count : ul.count); nr++) {
		struct uidlist_rec mr;
		const struct uidlist_rec *r;
		size_t idx;
		struct dentry *e;

		if (ret == 0) {
			const struct mailbox_msg *m = &MAILBOX_MSGS(box)[nr];

			mr.uid = m->uid;
			mr.size = m->size;
			mr.vsize = m->vsize;
			mr.base = (char *)mailbox_msg_name(m);
			mr.emailid = m->emailid;
			r = &mr;
			idx = scan_find(&s, r->base, mailbox_msg_base_len(m));
		} else {
			r = &ul.recs[nr];
			idx = scan_find(&s, r->base, strlen(r->base));
		}
		if (idx == SIZE_MAX || s.e[idx].claimed) {
			*dirty_r = true;	/* vanished: drop from the uidlist */
			continue;
		}
		e = &s.e[idx];
		e->claimed = true;
		memset(&nm, 0, sizeof(nm));
		nm.uid = r->uid;
		nm.flags = e->md.flags | (e->recent ? MAILBOX_FLAG_RECENT : 0);
		nm.keywords = e->md.keywords;
		nm.size = e->md.size != MAILBOX_SIZE_UNKNOWN ? e->md.size : r->size;
		nm.vsize = e->md.vsize != MAILBOX_SIZE_UNKNOWN ? e->md.vsize : r->vsize;
		nm.emailid = r->emailid;
		nm.filename = name_arena_path(&na, e->in_new ? "new" : "cur", e->name,
		    strlen(e->name));
		mailbox_msgs_push(&nmsgs, &ncount, &ncap, &nm);
	}
	/* unknown files get new UIDs in name order */
	for (i = 0; i < s.count; i++) {
		struct dentry *e = &s.e[i];

		if (e->claimed)
			continue;
		if (ul.nextuid == UINT32_MAX) {
			log_error("store UID space exhausted mailbox=%s", box->name);
			break;
		}
		memset(&nm, 0, sizeof(nm));
		nm.uid = ul.nextuid++;
		nm.flags = e->md.flags | (e->recent ? MAILBOX_FLAG_RECENT : 0);
		nm.keywords = e->md.keywords;
		nm.size = e->md.size;
		nm.vsize = e->md.vsize;
		nm.filename = name_arena_path(&na, e->in_new ? "new" : "cur", e->name,
		    strlen(e->name));
		nm.emailid = maildir_emailid_base(mailbox_msg_name(&nm),
		    mailbox_msg_base_len(&nm));
		mailbox_msgs_push(&nmsgs, &ncount, &ncap, &nm);
		*dirty_r = true;
	}
	scan_free(&s);

	/* install the new state, then tell the listeners what changed */
	{
		struct mailbox_msg *old = box->msgs;
		size_t ocount = box->count;

		box->msgs = nmsgs;
		box->count = ncount;
		mailbox_msgs_changed(box);
		box->cap = ncap;
		box->uidvalidity = ul.uidvalidity;
		box->nextuid = MAX(ul.nextuid, reset ? 1 : box->nextuid);
		memcpy(box->guid, ul.guid, sizeof(box->guid));
		box->new_mtime = st_new.st_mtim;
		box->cur_mtime = st_cur.st_mtim;
		box->synced_at = synced_at;
		box->index_preloaded = false;
		uidlist_deinit(&ul);

		for (i = 0, j = 0; i < ocount || j < ncount;) {
			if (reset && i < ocount) {
				{
				mailbox_notify_expunged(box, old[i].uid, old[i].emailid);
				i++;
			}
				continue;
			}
			if (reset) {
				mailbox_notify_appended(box, nmsgs[j++].uid);
				continue;
			}
			if (j == ncount || (i < ocount && old[i].uid < nmsgs[j].uid)) {
				{
				mailbox_notify_expunged(box, old[i].uid, old[i].emailid);
				i++;
			}
			} else if (i == ocount || nmsgs[j].uid < old[i].uid) {
				/* RECENT here: found in new/, another program delivered it */
				bool delivered = (nmsgs[j].flags & MAILBOX_FLAG_RECENT) != 0;
				uint32_t uid = nmsgs[j++].uid;

				mailbox_notify_appended(box, uid);
				if (delivered)
					mailbox_notify_delivered(box, uid);
			} else {
				struct mailbox_msg *n = &nmsgs[j];
				/* the same file? (a snapshot from the index may be older
				 * than a uidlist another program rewrote) */
				bool same = mailbox_msg_base_len(n) ==
				    mailbox_msg_base_len(&old[i]) &&
				    memcmp(mailbox_msg_name(n), mailbox_msg_name(&old[i]),
				    mailbox_msg_base_len(n)) == 0;

				/* same message: keep what we already knew */
				n->flags |= old[i].flags & MAILBOX_FLAG_RECENT;
				n->modseq = old[i].modseq;
				n->savedate = old[i].savedate;
				if (same && n->internaldate == 0)
					n->internaldate = old[i].internaldate;
				if (same && n->size == MAILBOX_SIZE_UNKNOWN)
					n->size = old[i].size;
				if (same && n->vsize == MAILBOX_SIZE_UNKNOWN)
					n->vsize = old[i].vsize;
				if (!same || (n->flags & ~MAILBOX_FLAG_RECENT) !=
				    (old[i].flags & ~MAILBOX_FLAG_RECENT) ||
				    n->keywords != old[i].keywords)
					mailbox_notify_flags(box, n->uid);
				i++;
				j++;
			}
		}
		if (reset) {
			/* expunges of another UIDVALIDITY mean nothing to a client */
			box->n_expunges = 0;
			box->expunge_forgotten = box->highestmodseq;
		}
		free(old);
		name_arena_free(&box->names);
		box->names = na;
	}
	return STORE_OK;
}

/* Lock, full sync, commit the uidlist if needed. */
enum store_status
mailbox_sync_full(struct mailbox *box)
{
	enum store_status st;
	bool dirty;
	int lockfd;

	/* the scan compares with the messages in memory */
	mailbox_msgs_load(box);
	/* a commit holds the uidlist lock: changes by others that were seen (force_sync)
	 * are synced when it is done (mailbox_commit.c) */
	if (box->commit_busy)
		return STORE_OK;
	/* events queued so far are covered by this scan */
	mstore_notify_drain(box->store);
	mailbox_own_events_clear(box);
	box->force_sync = false;

	lockfd = mailbox_uidlist_lock(box);
	if (lockfd < 0) {
		struct stat dst;

		/* another process deleted the folder: its directory has no link left (a
		 * DELETE here marks the open mailboxes itself, store_folders.c) */
		if (fstat(box->dir_fd, &dst) == 0 && dst.st_nlink == 0) {
			log_info("store folder deleted by another process mailbox=%s",
			    box->name);
			mailbox_mark_deleted(box);
			return STORE_NONEXISTENT;
		}
		return STORE_IOERROR;
	}
	st = sync_locked(box, &dirty);
	if (st == STORE_OK && dirty)
		return mailbox_uidlist_commit(box, lockfd);
	mailbox_uidlist_unlock(box, lockfd);
	return st;
}

/* True if nothing can have changed since the last full scan. */
static bool
sync_unchanged(struct mailbox *box)
{
	struct stat sn, sc;
	time_t now = time(NULL);

	if (box->force_sync)
		return false;
	if (fstat(box->new_fd, &sn) < 0 || fstat(box->cur_fd, &sc) < 0)
		return false;
	if (!mstore_ts_eq(&sn.st_mtim, &box->new_mtime) ||
	    !mstore_ts_eq(&sc.st_mtim, &box->cur_mtime))
		return false;
	/* another program may have renumbered (a new uidlist) without touching the dirs */
	if (box->uidlist_st.st_ino != 0 && mailbox_uidlist_changed(box))
		return false;
	/* with inotify watching both directories, every change by others has been seen
	 * by mstore_notify_drain() (called by mailbox_sync) */
	if (box->wd_new >= 0 && box->wd_cur >= 0)
		return true;
	/* a change within the same timestamp tick would not alter the mtime */
	if (box->new_mtime.tv_sec >= now - 1 || box->cur_mtime.tv_sec >= now - 1)
		return false;
	return true;
}

enum store_status
mailbox_sync(struct mailbox *box)
{
	if (box->deleted)
		return STORE_NONEXISTENT;
	mstore_notify_drain(box->store);
	mailbox_keywords_reload(box);
	if (sync_unchanged(box))
		return STORE_OK;
	/* force_sync stays set until a scan has run: mailbox_sync_full clears it, and
	 * returns at once while a commit holds the lock (the commit's end syncs when it
	 * finds force_sync still set; clearing it here lost another process's APPEND
	 * that arrived during our own EXPUNGE's commit) */
	return mailbox_sync_full(box);
}

/* Lock and bring the memory state up to date before a change (another process may
 * have changed the uidlist or directories). Returns the lock fd or -1. */
int
mailbox_lock_and_sync(struct mailbox *box, bool *dirty_r, enum store_status *st_r)
{
	int lockfd;

	*dirty_r = false;
	/* every change starts here (saves, copies, expunges without the commit thread):
	 * the messages are loaded before it, and lazy listeners see them unchanged */
	mailbox_msgs_load(box);
	lockfd = mailbox_uidlist_lock(box);
	if (lockfd < 0) {
		*st_r = STORE_IOERROR;
		return -1;
	}
	/* Only the uidlist matters here: files that appeared without it (an MDA that does
	 * not lock) get their UIDs at the next mailbox_sync. Not rescanning a 100,000-file
	 * directory before every APPEND keeps saves cheap. */
	if (box->uidlist_st.st_ino == 0 || mailbox_uidlist_changed(box)) {
		box->force_sync = false;
		*st_r = sync_locked(box, dirty_r);
	} else
		*st_r = STORE_OK;
	if (*st_r != STORE_OK) {
		mailbox_uidlist_unlock(box, lockfd);
		return -1;
	}
	return lockfd;
}

/* After our own change to cur/ or new/: remember the new mtimes so that the next
 * NOOP does not rescan (the 1 s rule in sync_unchanged still covers races). */
void
mailbox_remember_mtimes(struct mailbox *box)
{
	struct stat sn, sc;

	/* Without inotify a change by another process between ours and this fstat would
	 * hide in the mtimes once the 1 s rule has passed: rescan at the next sync. */
	if (box->wd_new < 0 || box->wd_cur < 0) {
		box->force_sync = true;
		return;
	}
	if (fstat(box->new_fd, &sn) == 0 && fstat(box->cur_fd, &sc) == 0) {
		box->new_mtime = sn.st_mtim;
		box->cur_mtime = sc.st_mtim;
	}
}
