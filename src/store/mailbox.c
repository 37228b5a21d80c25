/*
 * mailbox.c — one Maildir folder as all sessions of the user share it: open (creating a
 * missing new/ or tmp/, or taking the folder's state back from the closed-folder cache),
 * reference counting and close, the message array in UID order, and opening a message
 * file (rescanning once if a flag change elsewhere renamed it) and filling in its sizes
 * and INTERNALDATE. Runs in the per-user mail process with the mailbox owner's uid.
 * Security role: the folder directory is reached from the root fd by its validated name,
 * its cur/ new/ tmp/ are opened O_NOFOLLOW and message files are opened read-only
 * relative to those fds with O_NOFOLLOW, so a symlink planted in the Maildir is never
 * followed; tmp/ files older than 36 hours (a crashed save) are removed at open.
 */
#include "store/store_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

/* ------------------------------------------------------------------ open / close */

static void
tmp_cleanup(struct mailbox *box)
{
	struct dirent *de;
	struct stat st;
	time_t limit = time(NULL) - TMP_MAX_AGE_SECS;
	DIR *dir;
	int fd;

	fd = openat(box->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(box->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode) && st.st_mtime < limit && st.st_ctime < limit)
			(void)unlinkat(box->tmp_fd, de->d_name, 0);
	}
	closedir(dir);
}

static int
open_subdir(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

enum store_status
mailbox_open(struct mstore *store, const char *name, struct mailbox **box_r)
{
	enum store_status st;
	struct mailbox *box;
	char *canon;

	st = mstore_name_check(name);
	if (st != STORE_OK)
		return st;
	canon = mstore_canonical(name);
	for (box = store->mailboxes; box != NULL; box = box->next)
		if (strcmp(box->name, canon) == 0 && !box->deleted)
			break;
	if (box != NULL && box->cached && !mailbox_cache_take(box)) {
		/* replaced or removed while closed: open afresh */
		mailbox_cache_evict(box);
		box = NULL;
	}
	if (box != NULL) {
		free(canon);
		box->refcount++;
		st = mailbox_sync(box);
		if (st != STORE_OK) {
			if (--box->refcount == 0)
				mailbox_cache_evict(box);	/* do not keep a failed state */
			return st;
		}
		*box_r = box;
		return STORE_OK;
	}
	box = xcalloc(1, sizeof(*box));
	box->store = store;
	box->refcount = 1;
	box->name = canon;
	box->dirname = mstore_dirname(canon);
	box->cur_fd = box->new_fd = box->tmp_fd = -1;
	box->wd_new = box->wd_cur = -1;
	box->dir_fd = strcmp(box->dirname, ".") == 0 ?
	    openat(store->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
	    open_subdir(store->root_fd, box->dirname);
	if (box->dir_fd < 0) {
		/* ENOENT, or ELOOP/ENOTDIR for a symlink or file: not a folder */
		st = errno == ENOENT || errno == ELOOP || errno == ENOTDIR ?
		    STORE_NONEXISTENT : STORE_IOERROR;
		if (st == STORE_IOERROR)
			log_error("store open failed mailbox=%s error=%s", canon, strerror(errno));
		mailbox_free_internal(box);
		return st;
	}
	box->cur_fd = open_subdir(box->dir_fd, "cur");
	box->new_fd = open_subdir(box->dir_fd, "new");
	box->tmp_fd = open_subdir(box->dir_fd, "tmp");
	if (box->cur_fd < 0 && errno == ENOENT) {
		mailbox_free_internal(box);
		return STORE_NOSELECT;
	}
	if (box->new_fd < 0 && errno == ENOENT && mkdirat(box->dir_fd, "new", 0700) == 0)
		box->new_fd = open_subdir(box->dir_fd, "new");
	if (box->tmp_fd < 0 && errno == ENOENT && mkdirat(box->dir_fd, "tmp", 0700) == 0)
		box->tmp_fd = open_subdir(box->dir_fd, "tmp");
	if (box->cur_fd < 0 || box->new_fd < 0 || box->tmp_fd < 0) {
		log_error("store open subdirs failed mailbox=%s error=%s", canon,
		    strerror(errno));
		mailbox_free_internal(box);
		return STORE_IOERROR;
	}
	if (!mailbox_remember_identity(box)) {
		log_error("store open stat failed mailbox=%s error=%s", canon, strerror(errno));
		mailbox_free_internal(box);
		return STORE_IOERROR;
	}
	tmp_cleanup(box);
	mailbox_keywords_reload(box);
	/* watch first, then scan: nothing can fall between the two */
	mailbox_notify_add(box);
	/* a current snapshot in the index spares the readdir of new/ and cur/ and, until
	 * something needs them, the reading of the messages; an older one is the starting
	 * point the full scan corrects (mailbox_index.c) */
	st = mailbox_index_load(box, true) == 1 ? STORE_OK : mailbox_sync_full(box);
	if (st != STORE_OK) {
		mailbox_free_internal(box);
		return st;
	}
	mailbox_recent_restore(box);
	box->next = store->mailboxes;
	store->mailboxes = box;
	*box_r = box;
	return STORE_OK;
}

void
mailbox_free_internal(struct mailbox *box)
{
	struct mailbox_listener *l, *next;
	unsigned int i;

	mailbox_notify_remove(box);
	if (box->dir_fd >= 0)
		close(box->dir_fd);
	if (box->cur_fd >= 0)
		close(box->cur_fd);
	if (box->new_fd >= 0)
		close(box->new_fd);
	if (box->tmp_fd >= 0)
		close(box->tmp_fd);
	free(box->msgs);
	mailbox_emailid_free(box);
	free(box->expunges);
	free(box->hdr_pend);
	name_arena_free(&box->names);
	mailbox_own_events_free(box);
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		free(box->keywords[i]);
	for (l = box->listeners; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
	free(box->name);
	free(box->dirname);
	free(box);
}

void
mailbox_discard(struct mailbox *box)
{
	struct mailbox **pp;

	if (!box->deleted) {
		mailbox_recent_save(box);
		mailbox_index_write(box);
	}
	for (pp = &box->store->mailboxes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == box) {
			*pp = box->next;
			break;
		}
	mailbox_free_internal(box);
}

void
mailbox_ref(struct mailbox *box)
{
	box->refcount++;
}

void
mailbox_unref(struct mailbox **boxp)
{
	struct mailbox *box = *boxp;

	if (box == NULL)
		return;
	*boxp = NULL;
	if (--box->refcount > 0)
		return;
	if (!box->deleted && mailbox_cache_put(box))
		return;
	mailbox_discard(box);
}

void
mailbox_mark_deleted(struct mailbox *box)
{
	size_t i, n;
	struct mailbox_msg *msgs;

	mailbox_msgs_load(box);	/* the sessions hear an EXPUNGE for each */
	n = box->count;
	msgs = box->msgs;

	box->msgs = NULL;
	box->count = box->cap = 0;
	mailbox_msgs_changed(box);
	box->deleted = true;
	mailbox_notify_remove(box);
	for (i = 0; i < n; i++)
		mailbox_notify_expunged(box, msgs[i].uid, msgs[i].emailid);
	free(msgs);
	name_arena_free(&box->names);
}

const char *
mailbox_name(const struct mailbox *box)
{
	return box->name;
}

uint32_t
mailbox_uidvalidity(const struct mailbox *box)
{
	return box->uidvalidity;
}

const char *
mailbox_guid(const struct mailbox *box)
{
	return box->guid;
}

uint32_t
mailbox_uidnext(const struct mailbox *box)
{
	return box->nextuid;
}

bool
mailbox_is_deleted(const struct mailbox *box)
{
	return box->deleted;
}

size_t
mailbox_count(const struct mailbox *box)
{
	/* loads: a count from the header could differ from what mailbox_msg_at finds
	 * (the snapshot rewritten underneath); mailbox_summary is the lazy one */
	if (box->msgs_lazy)
		mailbox_msgs_load((struct mailbox *)box);
	return box->count;
}

void
mailbox_msgs_load(struct mailbox *box)
{
	if (!box->msgs_lazy)
		return;
	box->msgs_lazy = false;
	box->count = 0;
	mailbox_msgs_changed(box);
	if (mailbox_index_load_msgs(box) != 1) {
		/* the snapshot changed underneath (or went bad): the directories are the
		 * truth; the lazy listeners are told nothing of this scan and take the
		 * state it finds */
		box->count = box->cap = 0;
		memset(&box->uidlist_st, 0, sizeof(box->uidlist_st));
		box->force_sync = true;
		box->index_dirty = true;
		/* the expunge records came with the messages: treat them as forgotten */
		box->expunge_forgotten = box->highestmodseq;
		if (mailbox_sync_full(box) != STORE_OK)
			log_error("store folder unreadable after its snapshot changed "
			    "mailbox=%s", box->name);
	}
	mailbox_notify_loaded(box);
}

bool
mailbox_msgs_loaded(const struct mailbox *box)
{
	return !box->msgs_lazy;
}

void
mailbox_summary(struct mailbox *box, struct mailbox_summary *sum_r)
{
	const struct mailbox_msg *msgs;
	size_t i;

	memset(sum_r, 0, sizeof(*sum_r));
	sum_r->messages = (uint32_t)box->count;
	if (box->msgs_lazy) {
		sum_r->unseen = box->lazy.unseen;
		sum_r->first_unseen_seq = box->lazy.first_unseen_seq;
		sum_r->first_unseen_uid = box->lazy.first_unseen_uid;
		sum_r->vsize_known = (box->lazy.flags & INDEX_HDR_VSIZE_KNOWN) != 0;
		sum_r->vsize = box->lazy.vsize_total;
		return;
	}
	msgs = MAILBOX_MSGS(box);
	sum_r->vsize_known = true;
	for (i = 0; i < box->count; i++) {
		if ((msgs[i].flags & MAILBOX_FLAG_SEEN) == 0 && sum_r->unseen++ == 0) {
			sum_r->first_unseen_seq = (uint32_t)i + 1;
			sum_r->first_unseen_uid = msgs[i].uid;
		}
		if (msgs[i].vsize == MAILBOX_SIZE_UNKNOWN)
			sum_r->vsize_known = false;
		else
			sum_r->vsize += msgs[i].vsize;
	}
	if (!sum_r->vsize_known)
		sum_r->vsize = 0;
}

const struct mailbox_msg *
mailbox_msg_at(const struct mailbox *box, size_t idx)
{
	/* logically const: loading changes what is in memory, not the folder */
	if (box->msgs_lazy)
		mailbox_msgs_load((struct mailbox *)box);
	return idx < box->count ? &box->msgs[idx] : NULL;
}

const struct mailbox_msg *
mailbox_lookup(const struct mailbox *box, uint32_t uid, size_t *idx_r)
{
	size_t lo, hi, mid;

	if (box->msgs_lazy)
		mailbox_msgs_load((struct mailbox *)box);
	lo = 0;
	hi = box->count;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (box->msgs[mid].uid == uid) {
			if (idx_r != NULL)
				*idx_r = mid;
			return &box->msgs[mid];
		}
		if (box->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ------------------------------------------------------------------ message access */

/* Open the file of msg; on ENOENT resync once. */
static enum store_status
msg_open_retry(struct mailbox *box, uint32_t uid, int *fd_r, const struct mailbox_msg **m_r)
{
	const struct mailbox_msg *m;
	int attempt, fd;

	for (attempt = 0; attempt < 2; attempt++) {
		m = mailbox_lookup(box, uid, NULL);
		if (m == NULL)
			return STORE_EXPUNGED;
		fd = openat(mailbox_msg_dirfd(box, m), mailbox_msg_name(m),
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0) {
			*fd_r = fd;
			*m_r = m;
			return STORE_OK;
		}
		if (errno != ENOENT) {
			log_error("store message open failed mailbox=%s uid=%u error=%s",
			    box->name, uid, strerror(errno));
			return STORE_IOERROR;
		}
		/* renamed by a flag change elsewhere, or expunged: rescan */
		box->force_sync = true;
		if (mailbox_sync_full(box) != STORE_OK)
			return STORE_IOERROR;
	}
	return STORE_EXPUNGED;
}

enum store_status
mailbox_msg_open(struct mailbox *box, uint32_t uid, int *fd_r)
{
	const struct mailbox_msg *m;

	if (box->deleted)
		return STORE_EXPUNGED;
	return msg_open_retry(box, uid, fd_r, &m);
}

/* W= size: size plus one for every LF not preceded by CR. */
int
mailbox_count_vsize(int fd, uint64_t *size_r, uint64_t *vsize_r)
{
	char b[65536];
	char last = '\0';
	uint64_t size = 0, extra = 0;
	ssize_t n, i;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	for (;;) {
		n = read(fd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			if (b[i] == '\n' && (i > 0 ? b[i - 1] : last) != '\r')
				extra++;
		}
		last = b[n - 1];
		size += (uint64_t)n;
	}
	*size_r = size;
	*vsize_r = size + extra;
	return 0;
}

enum store_status
mailbox_msg_info(struct mailbox *box, uint32_t uid, const struct mailbox_msg **msg_r)
{
	const struct mailbox_msg *cm;
	struct mailbox_msg *m;
	enum store_status st;
	struct stat s;
	uint64_t size, vsize;
	int fd;

	if (box->deleted)
		return STORE_EXPUNGED;
	cm = mailbox_lookup(box, uid, NULL);
	if (cm == NULL)
		return STORE_EXPUNGED;
	if (cm->size != MAILBOX_SIZE_UNKNOWN && cm->vsize != MAILBOX_SIZE_UNKNOWN &&
	    cm->internaldate != 0) {
		*msg_r = cm;
		return STORE_OK;
	}
	st = msg_open_retry(box, uid, &fd, &cm);
	if (st != STORE_OK)
		return st;
	m = (struct mailbox_msg *)cm;
	if (fstat(fd, &s) < 0) {
		close(fd);
		return STORE_IOERROR;
	}
	m->internaldate = s.st_mtime;
	if (m->size == MAILBOX_SIZE_UNKNOWN)
		m->size = (uint64_t)s.st_size;
	if (m->vsize == MAILBOX_SIZE_UNKNOWN) {
		if (mailbox_count_vsize(fd, &size, &vsize) < 0) {
			log_error("store read failed mailbox=%s uid=%u error=%s", box->name,
			    uid, strerror(errno));
			close(fd);
			return STORE_IOERROR;
		}
		m->vsize = vsize;
	}
	close(fd);
	*msg_r = m;
	return STORE_OK;
}

enum store_status
mstore_folder_size(struct mstore *store, const char *name, uint64_t *size_r)
{
	struct mailbox_summary ms;
	struct mailbox *box;
	enum store_status st;
	uint32_t *uids;
	uint64_t sum = 0;
	size_t n;

	if ((st = mailbox_open(store, name, &box)) != STORE_OK)
		return st;
	if (!mailbox_msgs_loaded(box)) {
		mailbox_summary(box, &ms);
		if (ms.vsize_known) {
			mailbox_unref(&box);
			*size_r = ms.vsize;
			return STORE_OK;
		}
	}
	/* the UIDs first: finding a size may rescan the folder */
	n = mailbox_count(box);
	uids = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*uids));
	for (size_t i = 0; i < n; i++) {
		const struct mailbox_msg *m = mailbox_msg_at(box, i);

		uids[i] = m->uid;
		if (m->vsize != MAILBOX_SIZE_UNKNOWN) {
			sum += m->vsize;
			uids[i] = 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct mailbox_msg *m;

		if (uids[i] != 0 && mailbox_msg_info(box, uids[i], &m) == STORE_OK &&
		    m->vsize != MAILBOX_SIZE_UNKNOWN)
			sum += m->vsize;
	}
	free(uids);
	mailbox_unref(&box);
	*size_r = sum;
	return STORE_OK;
}
