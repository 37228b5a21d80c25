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
tmp_cleanup(struct mbox *mbox)
{
	struct dirent *de;
	struct stat st;
	time_t limit = time(NULL) - TMP_MAX_AGE_SECS;
	DIR *dir;
	int fd;

	fd = openat(mbox->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(mbox->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode) && st.st_mtime < limit && st.st_ctime < limit)
			(void)unlinkat(mbox->tmp_fd, de->d_name, 0);
	}
	closedir(dir);
}

static int
open_subdir(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

enum store_status
mbox_open(struct mstore *store, const char *name, struct mbox **mbox_r)
{
	enum store_status st;
	struct mbox *mbox;
	char *canon;

	st = mstore_name_check(name);
	if (st != STORE_OK)
		return st;
	canon = mstore_canonical(name);
	for (mbox = store->mboxes; mbox != NULL; mbox = mbox->next)
		if (strcmp(mbox->name, canon) == 0 && !mbox->deleted)
			break;
	if (mbox != NULL && mbox->cached && !cache_take(mbox)) {
		cache_evict(mbox);	/* replaced or removed while closed: open afresh */
		mbox = NULL;
	}
	if (mbox != NULL) {
		free(canon);
		mbox->refcount++;
		st = mbox_sync(mbox);
		if (st != STORE_OK) {
			if (--mbox->refcount == 0)
				cache_evict(mbox);	/* do not keep a state that failed */
			return st;
		}
		*mbox_r = mbox;
		return STORE_OK;
	}
	mbox = xcalloc(1, sizeof(*mbox));
	mbox->store = store;
	mbox->refcount = 1;
	mbox->name = canon;
	mbox->dirname = mstore_dirname(canon);
	mbox->cur_fd = mbox->new_fd = mbox->tmp_fd = -1;
	mbox->wd_new = mbox->wd_cur = -1;
	mbox->dir_fd = strcmp(mbox->dirname, ".") == 0 ?
	    openat(store->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
	    open_subdir(store->root_fd, mbox->dirname);
	if (mbox->dir_fd < 0) {
		/* ENOENT, or ELOOP/ENOTDIR for a symlink or file: not a folder */
		st = errno == ENOENT || errno == ELOOP || errno == ENOTDIR ?
		    STORE_NONEXISTENT : STORE_IOERROR;
		if (st == STORE_IOERROR)
			log_error("store open failed mailbox=%s error=%s", canon, strerror(errno));
		mbox_free_internal(mbox);
		return st;
	}
	mbox->cur_fd = open_subdir(mbox->dir_fd, "cur");
	mbox->new_fd = open_subdir(mbox->dir_fd, "new");
	mbox->tmp_fd = open_subdir(mbox->dir_fd, "tmp");
	if (mbox->cur_fd < 0 && errno == ENOENT) {
		mbox_free_internal(mbox);
		return STORE_NOSELECT;
	}
	if (mbox->new_fd < 0 && errno == ENOENT && mkdirat(mbox->dir_fd, "new", 0700) == 0)
		mbox->new_fd = open_subdir(mbox->dir_fd, "new");
	if (mbox->tmp_fd < 0 && errno == ENOENT && mkdirat(mbox->dir_fd, "tmp", 0700) == 0)
		mbox->tmp_fd = open_subdir(mbox->dir_fd, "tmp");
	if (mbox->cur_fd < 0 || mbox->new_fd < 0 || mbox->tmp_fd < 0) {
		log_error("store open subdirs failed mailbox=%s error=%s", canon,
		    strerror(errno));
		mbox_free_internal(mbox);
		return STORE_IOERROR;
	}
	if (!remember_identity(mbox)) {
		log_error("store open stat failed mailbox=%s error=%s", canon, strerror(errno));
		mbox_free_internal(mbox);
		return STORE_IOERROR;
	}
	tmp_cleanup(mbox);
	keywords_reload(mbox);
	/* watch first, then scan: nothing can fall between the two */
	mbox_notify_add(mbox);
	st = sync_full(mbox);
	if (st != STORE_OK) {
		mbox_free_internal(mbox);
		return st;
	}
	recent_restore(mbox);
	mbox->next = store->mboxes;
	store->mboxes = mbox;
	*mbox_r = mbox;
	return STORE_OK;
}

void
mbox_free_internal(struct mbox *mbox)
{
	struct mbox_listener *l, *next;
	unsigned int i;

	mbox_notify_remove(mbox);
	if (mbox->dir_fd >= 0)
		close(mbox->dir_fd);
	if (mbox->cur_fd >= 0)
		close(mbox->cur_fd);
	if (mbox->new_fd >= 0)
		close(mbox->new_fd);
	if (mbox->tmp_fd >= 0)
		close(mbox->tmp_fd);
	free(mbox->msgs);
	arena_free(&mbox->names);
	own_events_free(mbox);
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		free(mbox->keywords[i]);
	for (l = mbox->listeners; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
	free(mbox->name);
	free(mbox->dirname);
	free(mbox);
}

void
mbox_ref(struct mbox *mbox)
{
	mbox->refcount++;
}

void
mbox_unref(struct mbox **mboxp)
{
	struct mbox *mbox = *mboxp, **pp;

	if (mbox == NULL)
		return;
	*mboxp = NULL;
	if (--mbox->refcount > 0)
		return;
	if (!mbox->deleted && cache_put(mbox))
		return;
	if (!mbox->deleted)
		recent_save(mbox);
	for (pp = &mbox->store->mboxes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == mbox) {
			*pp = mbox->next;
			break;
		}
	mbox_free_internal(mbox);
}

void
mbox_mark_deleted(struct mbox *mbox)
{
	size_t i, n = mbox->count;
	struct mbox_msg *msgs = mbox->msgs;

	mbox->msgs = NULL;
	mbox->count = mbox->cap = 0;
	mbox->deleted = true;
	mbox_notify_remove(mbox);
	for (i = 0; i < n; i++)
		notify_expunged(mbox, msgs[i].uid);
	free(msgs);
	arena_free(&mbox->names);
}

const char *
mbox_name(const struct mbox *mbox)
{
	return mbox->name;
}

uint32_t
mbox_uidvalidity(const struct mbox *mbox)
{
	return mbox->uidvalidity;
}

uint32_t
mbox_uidnext(const struct mbox *mbox)
{
	return mbox->nextuid;
}

bool
mbox_is_deleted(const struct mbox *mbox)
{
	return mbox->deleted;
}

size_t
mbox_count(const struct mbox *mbox)
{
	return mbox->count;
}

const struct mbox_msg *
mbox_msg_at(const struct mbox *mbox, size_t idx)
{
	return idx < mbox->count ? &mbox->msgs[idx] : NULL;
}

const struct mbox_msg *
mbox_lookup(const struct mbox *mbox, uint32_t uid, size_t *idx_r)
{
	size_t lo = 0, hi = mbox->count, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mbox->msgs[mid].uid == uid) {
			if (idx_r != NULL)
				*idx_r = mid;
			return &mbox->msgs[mid];
		}
		if (mbox->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ------------------------------------------------------------------ message access */

/* Open the file of msg; on ENOENT resync once. */
static enum store_status
msg_open_retry(struct mbox *mbox, uint32_t uid, int *fd_r, const struct mbox_msg **m_r)
{
	const struct mbox_msg *m;
	int attempt, fd;

	for (attempt = 0; attempt < 2; attempt++) {
		m = mbox_lookup(mbox, uid, NULL);
		if (m == NULL)
			return STORE_EXPUNGED;
		fd = openat(msg_dirfd(mbox, m), msg_name(m),
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0) {
			*fd_r = fd;
			*m_r = m;
			return STORE_OK;
		}
		if (errno != ENOENT) {
			log_error("store message open failed mailbox=%s uid=%u error=%s",
			    mbox->name, uid, strerror(errno));
			return STORE_IOERROR;
		}
		/* renamed by a flag change elsewhere, or expunged: rescan */
		mbox->force_sync = true;
		if (sync_full(mbox) != STORE_OK)
			return STORE_IOERROR;
	}
	return STORE_EXPUNGED;
}

enum store_status
mbox_msg_open(struct mbox *mbox, uint32_t uid, int *fd_r)
{
	const struct mbox_msg *m;

	if (mbox->deleted)
		return STORE_EXPUNGED;
	return msg_open_retry(mbox, uid, fd_r, &m);
}

/* W= size: size plus one for every LF not preceded by CR. */
int
count_vsize(int fd, uint64_t *size_r, uint64_t *vsize_r)
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
mbox_msg_info(struct mbox *mbox, uint32_t uid, const struct mbox_msg **msg_r)
{
	const struct mbox_msg *cm;
	struct mbox_msg *m;
	enum store_status st;
	struct stat s;
	uint64_t size, vsize;
	int fd;

	if (mbox->deleted)
		return STORE_EXPUNGED;
	cm = mbox_lookup(mbox, uid, NULL);
	if (cm == NULL)
		return STORE_EXPUNGED;
	if (cm->size != MBOX_SIZE_UNKNOWN && cm->vsize != MBOX_SIZE_UNKNOWN &&
	    cm->internaldate != 0) {
		*msg_r = cm;
		return STORE_OK;
	}
	st = msg_open_retry(mbox, uid, &fd, &cm);
	if (st != STORE_OK)
		return st;
	m = (struct mbox_msg *)cm;
	if (fstat(fd, &s) < 0) {
		close(fd);
		return STORE_IOERROR;
	}
	m->internaldate = s.st_mtime;
	if (m->size == MBOX_SIZE_UNKNOWN)
		m->size = (uint64_t)s.st_size;
	if (m->vsize == MBOX_SIZE_UNKNOWN) {
		if (count_vsize(fd, &size, &vsize) < 0) {
			log_error("store read failed mailbox=%s uid=%u error=%s", mbox->name,
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
