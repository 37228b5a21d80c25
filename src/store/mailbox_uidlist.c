/*
 * mailbox_uidlist.c — a folder's dovecot-uidlist on disk: the dotlock
 * (dovecot-uidlist.lock, created O_CREAT|O_EXCL and held with an flock, so the lock of a
 * process that died is recognised at once; any other after LOCK_STALE_SECS), reading the
 * file when it changed, rewriting it through the lock file (write, fsync, rename over the
 * uidlist, directory fsync) and appending new records in place as Dovecot does. Parsing
 * and formatting are the pure functions of store_format.c. Runs in the per-user mail
 * process. Security and reliability role: a UID is only acknowledged once the uidlist
 * that holds it has been fsync'ed; a failed append is truncated back and a failed rewrite
 * leaves the old file; a file over UIDLIST_MAX_BYTES or with a damaged header is logged
 * and handed to the sync as unusable, which then gives the folder a new UIDVALIDITY
 * rather than two messages one UID.
 */
#include "store/store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#define LOCK_WAIT_MS	10000	/* give up on a held uidlist lock after this */
#define LOCK_DEAD_SECS	1	/* an unlocked dotlock this old was left by a dead process */

/* ------------------------------------------------------------------ uidlist lock */

/*
 * Was the existing dotlock left by a process that died (kill -9 during a save or an
 * expunge)?  Holders keep an flock(2) on it, which the kernel drops when they die: if
 * we can take that flock and the file has not changed for LOCK_DEAD_SECS (the moment
 * between a holder's create and its flock), nobody holds it (docs/security.md,
 * Decisions: locks after a crash).
 */
static bool
uidlist_lock_dead(struct mailbox *box)
{
	struct stat st, st2;
	bool dead = false;
	int fd;

	fd = openat(box->dir_fd, UIDLIST_LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_mtime + LOCK_DEAD_SECS <= time(NULL) &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
	    fstatat(box->dir_fd, UIDLIST_LOCK_NAME, &st2, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st2.st_ino == st.st_ino && st2.st_dev == st.st_dev)
		dead = true;
	close(fd);
	return dead;
}

/* Dotlock (O_CREAT|O_EXCL) held with an flock; broken when its holder died or after
 * LOCK_STALE_SECS (holders that do not flock). Returns the lock fd or -1. */
int
mailbox_uidlist_lock(struct mailbox *box)
{
	uint64_t start = clock_ms();
	struct stat st;
	int fd;

	if ((fd = mstore_commit_take_lock(box)) >= 0)
		return fd;
	for (;;) {
		fd = openat(box->dir_fd, UIDLIST_LOCK_NAME,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			(void)flock(fd, LOCK_EX | LOCK_NB);	/* released when we die */
			return fd;
		}
		if (errno != EEXIST) {
			log_error("store uidlist lock failed mailbox=%s error=%s", box->name,
			    strerror(errno));
			return -1;
		}
		if (uidlist_lock_dead(box)) {
			log_warn("store removing uidlist lock of a dead process mailbox=%s",
			    box->name);
			(void)unlinkat(box->dir_fd, UIDLIST_LOCK_NAME, 0);
			continue;
		}
		if (fstatat(box->dir_fd, UIDLIST_LOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + LOCK_STALE_SECS < time(NULL)) {
			log_warn("store removing stale uidlist lock mailbox=%s", box->name);
			(void)unlinkat(box->dir_fd, UIDLIST_LOCK_NAME, 0);
			continue;
		}
		if (clock_ms() - start > LOCK_WAIT_MS) {
			log_error("store uidlist lock timeout mailbox=%s", box->name);
			errno = EAGAIN;
			return -1;
		}
		usleep(10000);
	}
}

void
mailbox_uidlist_unlock(struct mailbox *box, int fd)
{
	if (fd < 0)
		return;
	close(fd);
	(void)unlinkat(box->dir_fd, UIDLIST_LOCK_NAME, 0);
}

/* Append the records of box->msgs[from..count) to out. */
static void
format_recs(struct buf *out, const struct mailbox *box, size_t from)
{
	for (size_t i = from; i < box->count; i++) {
		const struct mailbox_msg *m = &box->msgs[i];

		(void)uidlist_format_rec(out, m->uid, m->size, m->vsize, mailbox_msg_name(m),
		    mailbox_msg_base_len(m), m->emailid);
	}
}

/* Write the memory state into the lock file and rename it over the uidlist; this also
 * releases the lock. Returns STORE_OK or an error (lock released, old uidlist kept). */
enum store_status
mailbox_uidlist_commit(struct mailbox *box, int lockfd)
{
	struct buf out;
	int err;

	buf_init(&out, BUF_UNLIMITED);
	(void)uidlist_format_header(&out, box->uidvalidity, box->nextuid, box->guid);
	format_recs(&out, box, 0);
	err = mstore_write_full(lockfd, out.data, out.len);
	buf_deinit(&out);
	if (err == 0 && fsync(lockfd) < 0)
		err = errno;
	if (err == 0 && renameat(box->dir_fd, UIDLIST_LOCK_NAME, box->dir_fd,
	    UIDLIST_NAME) < 0)
		err = errno;
	if (err != 0) {
		log_error("store uidlist write failed mailbox=%s error=%s", box->name,
		    strerror(err));
		mailbox_uidlist_unlock(box, lockfd);
		return mstore_errno_status(err) == STORE_NONEXISTENT ? STORE_IOERROR :
		    mstore_errno_status(err);
	}
	close(lockfd);
	if (mstore_fsync_dir(box->dir_fd, ".") < 0)
		return STORE_IOERROR;
	(void)fstatat(box->dir_fd, UIDLIST_NAME, &box->uidlist_st, AT_SYMLINK_NOFOLLOW);
	return STORE_OK;
}

/* Read the uidlist into ul if it changed on disk (or always if force).
 * Returns 1 read, 0 unchanged, -1 unusable (logged; header lost). *damaged_r set if
 * lines were dropped. */
int
mailbox_uidlist_read(struct mailbox *box, struct uidlist *ul, bool force, bool *damaged_r)
{
	struct stat st;
	struct buf b;
	int ret;

	*damaged_r = false;
	if (fstatat(box->dir_fd, UIDLIST_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return box->uidvalidity == 0 ? -2 : -1;
		log_error("store uidlist stat failed mailbox=%s error=%s", box->name,
		    strerror(errno));
		return -1;
	}
	if (!force && st.st_ino == box->uidlist_st.st_ino &&
	    st.st_size == box->uidlist_st.st_size &&
	    mstore_ts_eq(&st.st_mtim, &box->uidlist_st.st_mtim))
		return 0;
	buf_init(&b, UIDLIST_MAX_BYTES);
	ret = mstore_read_file(box->dir_fd, UIDLIST_NAME, b.max, &b, &st);
	if (ret <= 0) {
		log_error("store uidlist unreadable mailbox=%s error=%s", box->name,
		    ret == 0 ? "vanished" : strerror(errno));
		buf_deinit(&b);
		return -1;
	}
	switch (uidlist_parse(b.data == NULL ? "" : b.data, b.len, ul)) {
	case UIDLIST_PARSE_OK:
		break;
	case UIDLIST_PARSE_DAMAGED:
		log_error("store uidlist damaged, invalid lines dropped mailbox=%s",
		    box->name);
		*damaged_r = true;
		break;
	case UIDLIST_PARSE_BAD_HEADER:
		log_error("store uidlist corrupt, UIDs will be reset mailbox=%s", box->name);
		buf_deinit(&b);
		return -1;
	}
	buf_deinit(&b);
	box->uidlist_st = st;
	return 1;
}

bool
mailbox_uidlist_changed(struct mailbox *box)
{
	struct stat st;

	if (fstatat(box->dir_fd, UIDLIST_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return true;
	return st.st_ino != box->uidlist_st.st_ino || st.st_size != box->uidlist_st.st_size ||
	    !mstore_ts_eq(&st.st_mtim, &box->uidlist_st.st_mtim);
}
