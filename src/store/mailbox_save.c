/*
 * mailbox_save.c — the changes that add or remove messages: save transactions (APPEND,
 * MULTIAPPEND, LMTP and `buzon deliver`), COPY (a hard link, else a byte copy, in one
 * transaction) and EXPUNGE. Runs in the per-user mail process with the mailbox owner's
 * uid. Security and reliability role: new files are created O_CREAT|O_EXCL|O_NOFOLLOW
 * 0600 in tmp/, written, fsync'ed, renamed into cur/ or new/, the directory is fsync'ed
 * and the uidlist written under its lock before a save reports success (docs/formats.md,
 * Saving); on any failure every file of the transaction is removed; expunged files are
 * unlinked relative to the folder's fds, then the uidlist is rewritten once.
 */
#include "store/store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

/* ------------------------------------------------------------------ expunge */

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

enum store_status
mailbox_expunge(struct mailbox *box, const uint32_t *uids, size_t count)
{
	enum store_status st;
	uint32_t *sorted, *gone;
	uint64_t *gone_ids;
	size_t i, j, ngone = 0, kept;
	bool dirty, async, quota = mstore_quota_on(box->store);
	uint64_t qbytes = 0, qcount = 0;
	int lockfd, ur;

	if (box->deleted)
		return STORE_NONEXISTENT;
	if (count == 0)
		return STORE_OK;
	mailbox_msgs_load(box);
	/* With the commit thread, the files go now and the uidlist is rewritten in the next
	 * group: records of missing files are harmless (the next scan drops them) and no
	 * fsync waits in the event loop. Without it, under the lock as before. */
	async = mstore_commit_async(box->store);
	dirty = false;
	st = STORE_OK;
	lockfd = async ? -1 : mailbox_lock_and_sync(box, &dirty, &st);
	if (!async && lockfd < 0)
		return st;
	sorted = xcalloc(count, sizeof(*sorted));
	memcpy(sorted, uids, count * sizeof(*uids));
	qsort(sorted, count, sizeof(*sorted), uid_cmp);
	gone = xcalloc(count, sizeof(*gone));
	gone_ids = xcalloc(count, sizeof(*gone_ids));
	for (i = 0, j = 0, kept = 0; i < box->count; i++) {
		struct mailbox_msg *m = &MAILBOX_MSGS(box)[i];

		while (j < count && sorted[j] < m->uid)
			j++;
		if (j < count && sorted[j] == m->uid) {
			uint64_t size = m->size;
			struct stat fst;

			if (size == MAILBOX_SIZE_UNKNOWN && quota)
				size = fstatat(mailbox_msg_dirfd(box, m), mailbox_msg_name(m),
				    &fst, AT_SYMLINK_NOFOLLOW) == 0 ? (uint64_t)fst.st_size : 0;
			mailbox_own_event(box, m->filename[0] == 'n', mailbox_msg_name(m));
			ur = unlinkat(mailbox_msg_dirfd(box, m), mailbox_msg_name(m), 0);
			if (ur == 0) {
				/* ours to subtract (a file already gone was someone else's) */
				if (size != MAILBOX_SIZE_UNKNOWN)
					qbytes += size;
				qcount++;
			}
			if (ur == 0 || errno == ENOENT) {
				gone_ids[ngone] = m->emailid;
				gone[ngone++] = m->uid;
				mailbox_name_release(box, m->filename);
				continue;
			}
			log_error("store expunge unlink failed mailbox=%s uid=%u error=%s",
			    box->name, m->uid, strerror(errno));
			st = STORE_IOERROR;
		}
		box->msgs[kept++] = *m;
	}
	box->count = kept;
	mailbox_msgs_changed(box);
	mstore_quota_update(box->store, -(int64_t)qbytes, -(int64_t)qcount);
	mailbox_names_maybe_compact(box);
	if (async) {
		if (ngone > 0) {
			box->uidlist_stale = true;
			(void)mailbox_commit_rewrite(box);
		}
	} else if (ngone > 0 || dirty) {
		enum store_status cst = mailbox_uidlist_commit(box, lockfd);

		if (cst != STORE_OK)
			st = cst;
	} else
		mailbox_uidlist_unlock(box, lockfd);
	mailbox_remember_mtimes(box);
	for (i = 0; i < ngone; i++)
		mailbox_notify_expunged(box, gone[i], gone_ids[i]);
	free(sorted);
	free(gone);
	free(gone_ids);
	return st;
}

/* ------------------------------------------------------------------ saving */

struct mailbox_save *
mailbox_save_begin(struct mailbox *box, unsigned int save_flags)
{
	struct mailbox_save *ctx = xcalloc(1, sizeof(*ctx));

	mailbox_ref(box);
	ctx->box = box;
	ctx->save_flags = save_flags;
	ctx->fd = -1;
	ctx->quota_exempt = (save_flags & MAILBOX_SAVE_NOQUOTA) != 0;
	return ctx;
}

static struct save_msg *
save_new_msg(struct mailbox_save *ctx)
{
	struct save_msg *sm;

	if (ctx->count == ctx->cap) {
		ctx->cap = ctx->cap == 0 ? 4 : ctx->cap * 2;
		ctx->msgs = xreallocarray(ctx->msgs, ctx->cap, sizeof(*ctx->msgs));
	}
	sm = &ctx->msgs[ctx->count++];
	memset(sm, 0, sizeof(*sm));
	sm->fd = -1;
	return sm;
}

enum store_status
mailbox_save_msg_begin(struct mailbox_save *ctx)
{
	struct mailbox *box = ctx->box;
	struct save_msg *sm;
	struct buf name;
	int tries, err = 0;

	if (ctx->failed || ctx->fd >= 0)
		panic("mailbox_save_msg_begin: previous message not finished");
	if (box->deleted)
		return STORE_NONEXISTENT;
	buf_init(&name, 1024);
	for (tries = 0; tries < 100; tries++) {
		buf_reset(&name);
		mstore_unique_name(box->store, &name);
		ctx->fd = openat(box->tmp_fd, buf_cstr(&name),
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (ctx->fd >= 0 || errno != EEXIST)
			break;
	}
	if (ctx->fd < 0) {
		err = errno;
		log_error("store tmp create failed mailbox=%s error=%s", box->name,
		    strerror(err));
		buf_deinit(&name);
		ctx->failed = true;
		return mstore_errno_status(err) == STORE_NONEXISTENT ? STORE_IOERROR :
		    mstore_errno_status(err);
	}
	sm = save_new_msg(ctx);
	sm->tmpname = buf_steal(&name);
	ctx->written = ctx->extra = 0;
	ctx->last = '\0';
	return STORE_OK;
}

int
mailbox_save_fd(struct mailbox_save *ctx)
{
	return ctx->fd;
}

static enum store_status
save_fail(struct mailbox_save *ctx, int err, const char *what)
{
	log_error("store save %s failed mailbox=%s error=%s", what, ctx->box->name,
	    strerror(err));
	ctx->failed = true;
	return mstore_errno_status(err) == STORE_NONEXISTENT ? STORE_IOERROR :
	    mstore_errno_status(err);
}

enum store_status
mailbox_save_write(struct mailbox_save *ctx, const void *data, size_t len)
{
	const char *p = data;
	size_t i;
	ssize_t n;

	if (ctx->fd < 0 || ctx->failed)
		panic("mailbox_save_write without an open message");
	for (i = 0; i < len; i++)
		if (p[i] == '\n' && (i > 0 ? p[i - 1] : ctx->last) != '\r')
			ctx->extra++;
	if (len > 0)
		ctx->last = p[len - 1];
	while (len > 0) {
		n = write(ctx->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return save_fail(ctx, n < 0 ? errno : EIO, "write");
		p += n;
		len -= (size_t)n;
		ctx->written += (uint64_t)n;
	}
	return STORE_OK;
}

enum store_status
mailbox_save_msg_end(struct mailbox_save *ctx, uint8_t flags, uint32_t keywords,
    time_t internaldate)
{
	struct save_msg *sm;
	struct timespec ts[2];
	struct stat st;
	int fd = ctx->fd;

	if (fd < 0 || ctx->failed)
		panic("mailbox_save_msg_end without an open message");
	ctx->fd = -1;
	sm = &ctx->msgs[ctx->count - 1];
	if (fstat(fd, &st) < 0) {
		close(fd);
		return save_fail(ctx, errno, "fstat");
	}
	sm->size = (uint64_t)st.st_size;
	if (sm->size == ctx->written)
		sm->vsize = ctx->written + ctx->extra;
	else if (mailbox_count_vsize(fd, &sm->size, &sm->vsize) < 0) {
		/* the caller wrote through mailbox_save_fd(): count by reading back */
		close(fd);
		return save_fail(ctx, errno, "read back");
	}
	ctx->quota_bytes += sm->size;
	if (!ctx->quota_exempt &&
	    mstore_quota_check(ctx->box->store, ctx->quota_bytes, ctx->count) != STORE_OK) {
		/* refused before anything is committed; the abort removes the tmp files */
		close(fd);
		ctx->failed = true;
		return STORE_OVERQUOTA;
	}
	sm->flags = flags & (uint8_t)~MAILBOX_FLAG_RECENT;
	sm->keywords = keywords & ((1u << STORE_KEYWORDS_MAX) - 1);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_sec = internaldate;
	ts[1].tv_nsec = internaldate == 0 ? UTIME_NOW : 0;
	if (futimens(fd, ts) < 0) {
		close(fd);
		return save_fail(ctx, errno, "futimens");
	}
	/* the fsync is the commit's (in the commit thread when there is one): keep the fd
	 * for it, or close it and let the commit open the file by name (docs/formats.md,
	 * Saving) */
	sm->needs_sync = true;
	if (ctx->open_files < SAVE_OPEN_FILES_MAX) {
		sm->fd = fd;
		ctx->open_files++;
	} else if (close(fd) < 0)
		return save_fail(ctx, errno, "close");
	return STORE_OK;
}

void
mailbox_save_cleanup_files(struct mailbox_save *ctx)
{
	struct mailbox *box = ctx->box;
	size_t i;
	int dfd = (ctx->save_flags & MAILBOX_SAVE_DELIVERY) ? box->new_fd : box->cur_fd;

	if (ctx->fd >= 0) {
		close(ctx->fd);
		ctx->fd = -1;
	}
	for (i = 0; i < ctx->count; i++) {
		struct save_msg *sm = &ctx->msgs[i];

		if (sm->fd >= 0) {
			close(sm->fd);
			sm->fd = -1;
		}
		if (sm->moved) {
			mailbox_own_event(box, (ctx->save_flags & MAILBOX_SAVE_DELIVERY) != 0,
			    sm->final);
			(void)unlinkat(dfd, sm->final, 0);
			sm->moved = false;
		} else if (sm->tmpname != NULL)
			(void)unlinkat(box->tmp_fd, sm->tmpname, 0);
	}
	ctx->open_files = 0;
}

void
mailbox_save_free(struct mailbox_save **ctxp)
{
	struct mailbox_save *ctx = *ctxp;
	size_t i;

	for (i = 0; i < ctx->count; i++) {
		if (ctx->msgs[i].fd >= 0)
			close(ctx->msgs[i].fd);
		free(ctx->msgs[i].tmpname);
		free(ctx->msgs[i].final);
	}
	free(ctx->msgs);
	mailbox_unref(&ctx->box);
	free(ctx);
	*ctxp = NULL;
}

void
mailbox_save_abort(struct mailbox_save **ctxp)
{
	if (*ctxp == NULL)
		return;
	mailbox_save_cleanup_files(*ctxp);
	mailbox_save_free(ctxp);
}

/* ------------------------------------------------------------------ copy */

/* Byte copy of a message into a new tmp file of ctx (hard link impossible). */
static enum store_status
copy_bytes(struct mailbox_save *ctx, int srcfd, time_t mtime, uint8_t flags, uint32_t kw)
{
	enum store_status st;
	char b[65536];
	ssize_t n;

	st = mailbox_save_msg_begin(ctx);
	if (st != STORE_OK)
		return st;
	if (lseek(srcfd, 0, SEEK_SET) < 0)
		return save_fail(ctx, errno, "seek");
	for (;;) {
		n = read(srcfd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return save_fail(ctx, errno, "copy read");
		if (n == 0)
			break;
		st = mailbox_save_write(ctx, b, (size_t)n);
		if (st != STORE_OK)
			return st;
	}
	return mailbox_save_msg_end(ctx, flags, kw, mtime);
}

/* The transaction of a COPY: hard links (or byte copies) in dst's tmp/, not committed.
 * Returns STORE_OK and *ctx_r, or an error (nothing left behind). */
static enum store_status
copy_prepare(struct mailbox *src, const uint32_t *uids, size_t count, struct mailbox *dst,
    struct mailbox_save **ctx_r)
{
	struct mailbox_save *ctx;
	enum store_status st = STORE_OK;
	uint32_t kwmap[STORE_KEYWORDS_MAX], used;
	unsigned int k, idx;
	size_t i;
	bool move = dst->store->quota_move;

	*ctx_r = NULL;
	dst->store->quota_move = false;		/* mstore_quota_next_copy_is_move: one copy */
	if (src->deleted || dst->deleted)
		return STORE_NONEXISTENT;
	/* keyword indexes differ between folders: map the ones in use by name */
	used = 0;
	for (i = 0; i < count; i++) {
		const struct mailbox_msg *m = mailbox_lookup(src, uids[i], NULL);

		if (m != NULL)
			used |= m->keywords;
	}
	for (k = 0; k < STORE_KEYWORDS_MAX; k++) {
		kwmap[k] = 0;
		if (src->keywords[k] == NULL || !(used & (1u << k)))
			continue;
		if (mailbox_keyword_add(dst, src->keywords[k], &idx) == STORE_OK)
			kwmap[k] = 1u << idx;
		else
			log_warn("store copy drops keyword mailbox=%s keyword=%s", dst->name,
			    src->keywords[k]);
	}
	ctx = mailbox_save_begin(dst, 0);
	ctx->quota_exempt = move && src->store == dst->store;
	for (i = 0; i < count && st == STORE_OK; i++) {
		const struct mailbox_msg *m;
		struct save_msg *sm;
		struct buf b;
		uint32_t kw = 0;
		bool linked;
		int fd, tries;

		st = mailbox_msg_info(src, uids[i], &m);
		if (st != STORE_OK)
			break;
		for (k = 0; k < STORE_KEYWORDS_MAX; k++)
			if (m->keywords & (1u << k))
				kw |= kwmap[k];
		/* hard link into tmp/ under a new unique name; commit renames it */
		buf_init(&b, BUF_UNLIMITED);
		linked = false;
		for (tries = 0; tries < 10 && !linked; tries++) {
			buf_reset(&b);
			mstore_unique_name(dst->store, &b);
			if (linkat(mailbox_msg_dirfd(src, m), mailbox_msg_name(m), dst->tmp_fd,
			    buf_cstr(&b), 0) == 0)
				linked = true;
			else if (errno != EEXIST)
				break;
		}
		if (linked) {
			sm = save_new_msg(ctx);
			sm->tmpname = buf_steal(&b);
			sm->size = m->size;
			sm->vsize = m->vsize;
			sm->flags = m->flags & (uint8_t)~MAILBOX_FLAG_RECENT;
			sm->keywords = kw;
			sm->emailid = m->emailid;	/* RFC 8474 §5.1: a copy keeps it */
			ctx->quota_bytes += m->size;
			continue;
		}
		buf_deinit(&b);
		/* EXDEV, EPERM, EMLINK, ENOENT (renamed meanwhile): copy the bytes */
		st = mailbox_msg_open(src, uids[i], &fd);
		if (st != STORE_OK)
			break;
		st = mailbox_msg_info(src, uids[i], &m);
		if (st == STORE_OK)
			st = copy_bytes(ctx, fd, m->internaldate,
			    m->flags & (uint8_t)~MAILBOX_FLAG_RECENT, kw);
		if (st == STORE_OK)
			ctx->msgs[ctx->count - 1].emailid = m->emailid;
		close(fd);
	}
	/* the whole COPY at once (hard links never pass mailbox_save_msg_end) */
	if (st == STORE_OK && !ctx->quota_exempt)
		st = mstore_quota_check(dst->store, ctx->quota_bytes, ctx->count);
	if (st != STORE_OK) {
		mailbox_save_abort(&ctx);
		return st;
	}
	*ctx_r = ctx;
	return STORE_OK;
}

enum store_status
mailbox_copy(struct mailbox *src, const uint32_t *uids, size_t count, struct mailbox *dst,
    uint32_t *dst_uids_r)
{
	struct mailbox_save *ctx;
	enum store_status st;
	uint32_t first, last;

	if (count == 0)
		return src->deleted || dst->deleted ? STORE_NONEXISTENT : STORE_OK;
	st = copy_prepare(src, uids, count, dst, &ctx);
	if (st != STORE_OK)
		return st;
	st = mailbox_save_commit(&ctx, &first, &last);
	if (st != STORE_OK)
		return st;
	for (size_t i = 0; i < count; i++)
		dst_uids_r[i] = first + (uint32_t)i;
	return STORE_OK;
}

struct mailbox_commit *
mailbox_copy_async(struct mailbox *src, const uint32_t *uids, size_t count,
    struct mailbox *dst, mailbox_commit_cb *cb, void *cbctx, enum store_status *st_r)
{
	struct mailbox_save *ctx;

	*st_r = copy_prepare(src, uids, count, dst, &ctx);
	if (*st_r != STORE_OK)
		return NULL;
	return mailbox_save_commit_async(&ctx, cb, cbctx);
}
