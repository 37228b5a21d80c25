/*
 * mailbox_commit.c — making saves durable: group commit in a commit thread beside the
 * mail process's event loop, and the same steps run inline for synchronous callers
 * (docs/architecture.md, Group commit; docs/formats.md, Saving).
 *
 * Two stages, each a thread, so that the file fsyncs of the next transactions overlap
 * the directory and uidlist fsyncs of the group being committed:
 *   files (thread "buzon-fsync")  every transaction queued meanwhile: start the
 *                         writeback of all its new files, then fsync each; a
 *                         transaction whose file fails, fails alone;
 *   prepare (event loop)  a group of the transactions whose files are durable, plus
 *                         uidlist rewrites that expunges left behind; per folder: take
 *                         the uidlist lock, bring the memory state up to date, assign
 *                         UIDs, choose the final names, format the uidlist bytes known;
 *   commit (thread "buzon-commit") append the uidlist records in place (when it can),
 *                         rename each file into cur/ or new/, fsync those directories,
 *                         then fsync the uidlist (or write a whole new uidlist of the
 *                         messages that made it, rename it over the old one and fsync
 *                         its directory);
 *   finish (event loop)   release the locks, add the messages to the folders, tell the
 *                         listeners, run the callbacks (the OK / 250 goes out now).
 * The threads touch only their group: file descriptors (duplicates of the folders'),
 * names and byte buffers made in prepare; they never log and never touch a struct
 * mailbox. Within a thread the system calls of a group run in a fixed order (the fault
 * tests count them per thread), and the grouping turns a burst of saves into one
 * directory fsync and one uidlist write per folder, not one each.
 * Reliability role: a callback reports STORE_OK only after its files, their directory
 * and the uidlist were fsync'ed; every failure removes the transaction's files; an fsync
 * error is final and never retried on the same file.
 */
#include "store/store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

/* fsync(2), its latency counted for the metrics endpoint (lib/metrics.h); thread-safe */
static int
timed_fsync(int fd)
{
	struct timespec a, b;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &a);
	r = fsync(fd);
	clock_gettime(CLOCK_MONOTONIC, &b);
	metrics_observe(MS_FSYNC, (uint64_t)(b.tv_sec - a.tv_sec) * 1000000 +
	    (uint64_t)(b.tv_nsec / 1000) - (uint64_t)(a.tv_nsec / 1000));
	return r;
}

/* Largest group: a transaction never waits for more than this many before it. */
#define COMMIT_GROUP_MAX_REQS	256
/* A folder's uidlist lock is kept from one group to the next while more saves for it
 * are queued, for at most this long since it was taken: a burst of deliveries creates
 * one lock file per LOCK_HOLD_MS instead of one per group, and other processes (Dovecot,
 * `buzon deliver`) wait for it no longer than that (docs/formats.md, Saving). */
#define LOCK_HOLD_MS		100

struct commit_box;

struct mailbox_commit {
	struct mailbox_commit *next;
	struct mailbox *box;		/* referenced */
	struct mailbox_save *save;	/* NULL: only a uidlist rewrite */
	mailbox_commit_cb *cb;		/* NULL once cancelled */
	void *cbctx;
	struct commit_box *cbox;
	int tmp_fd;			/* the folder's tmp/ for the files stage, or -1 */
	enum store_status st;
	uint32_t first, last;
	bool failed;			/* in prepare or in the thread */
};

/* One folder of a group. */
struct commit_box {
	struct commit_box *next;
	struct mailbox *box;		/* borrowed from its requests */
	int lockfd;			/* uidlist lock, prepare .. finish */
	uint64_t lock_since;		/* clock_ms() when the lock was taken */
	int dir_fd, cur_fd, new_fd, tmp_fd;	/* duplicates for the thread */
	bool rewrite;			/* whole uidlist via the lock file, else append */
	int uidlist_fd;			/* append: the uidlist, O_WRONLY */
	off_t append_off;		/* append: its size before */
	struct buf data;		/* rewrite: header + kept records; then new records */
	bool sync_cur, sync_new;
	bool active;			/* prepared: the thread works on it */
	/* results of the thread */
	int err;
	const char *err_what;
	bool renamed;			/* rewrite: the new uidlist is in place */
	bool appended;			/* append: records written (and not taken back) */
	bool dangling;			/* a file failed after its record was written */
	struct stat uidlist_st;
};

struct commit_group {
	struct mailbox_commit *reqs;	/* in queue order */
	struct commit_box *boxes;
};

struct commit_pipe;

/* One of the two threads and its job slot (one group at a time). */
struct commit_worker {
	pthread_t thread;
	bool started;
	struct commit_pipe *pipe;
	const char *name;		/* thread name: the fault tests find it by it */
	void (*work)(struct commit_group *g);
	struct commit_group *todo;	/* handed to the thread */
	struct commit_group *done;	/* handed back */
	bool busy;			/* handed over and not yet taken back (loop) */
	struct commit_group *inflight;	/* the group handed over (loop only; its
					 * requests' box pointers do not change) */
};

/* A uidlist lock kept between two groups of its folder. */
struct held_lock {
	struct held_lock *next;
	struct mailbox *box;		/* referenced */
	int fd;
	uint64_t since;			/* clock_ms() when taken */
};

struct commit_pipe {
	pthread_mutex_t mu;		/* todo/done of both workers, stop */
	pthread_cond_t cv;
	bool stop;
	int wake[2];			/* socketpair: the threads send, the loop reads [0] */
	struct commit_worker files;	/* stage 1: fsync the new files */
	struct commit_worker commit;	/* stage 2: renames, directory, uidlist */
	struct mailbox_commit *pending, **pending_tail;	/* files not yet synced */
	struct mailbox_commit *ready, **ready_tail;	/* files durable: next group */
	struct held_lock *held;		/* loop only */
};

/* ------------------------------------------------------------------ the thread's work */

static void
cbox_fail(struct commit_box *cb, int err, const char *what)
{
	if (cb->err == 0) {
		cb->err = err != 0 ? err : EIO;
		cb->err_what = what;
	}
}

static int
dst_fd(const struct commit_box *cb, const struct mailbox_commit *r)
{
	return (r->save->save_flags & MAILBOX_SAVE_DELIVERY) ? cb->new_fd : cb->cur_fd;
}

/* fsync every new file of the group (starting the writeback of all of them first, so
 * the fsyncs find most data already on its way); a failed file fails its transaction. */
static void
work_files(struct commit_group *g)
{
	struct mailbox_commit *r;
	size_t i;

	for (r = g->reqs; r != NULL; r = r->next) {
		if (r->failed || r->save == NULL)
			continue;
		for (i = 0; i < r->save->count; i++) {
			struct save_msg *sm = &r->save->msgs[i];

			if (sm->fd >= 0)
				(void)sync_file_range(sm->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		}
	}
	for (r = g->reqs; r != NULL; r = r->next) {
		if (r->failed || r->save == NULL)
			continue;
		for (i = 0; i < r->save->count && !r->failed; i++) {
			struct save_msg *sm = &r->save->msgs[i];
			int fd = sm->fd;

			if (!sm->needs_sync)
				continue;
			if (fd < 0)
				fd = openat(r->tmp_fd, sm->tmpname,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			/* an fsync error is final, never retried (docs/formats.md, Saving) */
			if (fd < 0 || timed_fsync(fd) < 0) {
				sm->err = errno;
				r->failed = true;
			} else
				sm->needs_sync = false;
			if (fd >= 0)
				close(fd);
			sm->fd = -1;
		}
	}
}

/* Rename the files of the transactions still alive into cur/ or new/. */
static void
work_renames(struct commit_group *g)
{
	struct mailbox_commit *r;
	size_t i;

	for (r = g->reqs; r != NULL; r = r->next) {
		if (r->failed || r->save == NULL || r->cbox->err != 0)
			continue;
		for (i = 0; i < r->save->count; i++) {
			struct save_msg *sm = &r->save->msgs[i];

			if (renameat(r->cbox->tmp_fd, sm->tmpname, dst_fd(r->cbox, r),
			    sm->final) < 0) {
				sm->err = errno;
				r->failed = true;
				r->cbox->dangling = r->cbox->appended;
				break;
			}
			sm->moved = true;
		}
		if (r->save->save_flags & MAILBOX_SAVE_DELIVERY)
			r->cbox->sync_new = true;
		else
			r->cbox->sync_cur = true;
	}
}

/* pwrite all of p[0..len) at off. 0 or errno. */
static int
pwrite_full(int fd, const char *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* The records of the messages of cb that made it, appended to cb->data. */
static void
work_format_records(struct commit_group *g, struct commit_box *cb)
{
	struct mailbox_commit *r;

	for (r = g->reqs; r != NULL; r = r->next) {
		if (r->cbox != cb || r->failed || r->save == NULL)
			continue;
		for (size_t i = 0; i < r->save->count; i++) {
			const struct save_msg *sm = &r->save->msgs[i];
			const char *colon = strchr(sm->final, ':');

			(void)uidlist_format_rec(&cb->data, r->first + (uint32_t)i, sm->size,
			    sm->vsize, sm->final, colon == NULL ? strlen(sm->final) :
			    (size_t)(colon - sm->final), sm->emailid);
		}
	}
}

/*
 * Append mode, before the renames: write the records of every transaction still alive
 * and start their writeback, so that the directory fsync's journal commit carries the
 * uidlist's new size and the uidlist fsync after it has little left to do. A record
 * whose file then fails to arrive is harmless on disk (a UID without a file reads as
 * expunged, here and in Dovecot) and is dropped by the next rewrite (finish_box). Not
 * in rewrite mode: renaming the lock file over the uidlist releases the lock, and the
 * files must be in place before anyone else may sync the folder.
 */
static void
work_records_first(struct commit_group *g, struct commit_box *cb)
{
	int err;

	if (!cb->active || cb->rewrite || cb->err != 0)
		return;
	work_format_records(g, cb);
	if (cb->data.len == 0)
		return;
	err = pwrite_full(cb->uidlist_fd, cb->data.data, cb->data.len, cb->append_off);
	if (err != 0) {
		/* take back a partial append: those records are not acknowledged */
		if (ftruncate(cb->uidlist_fd, cb->append_off) == 0)
			(void)timed_fsync(cb->uidlist_fd);
		cbox_fail(cb, err, "uidlist append");
		return;
	}
	cb->appended = true;
	(void)sync_file_range(cb->uidlist_fd, cb->append_off, (off_t)cb->data.len,
	    SYNC_FILE_RANGE_WRITE);
}

/* Directory fsyncs, then the uidlist of one folder. */
static void
work_box(struct commit_group *g, struct commit_box *cb)
{
	int err;

	if (!cb->active)
		return;
	if (cb->sync_cur && timed_fsync(cb->cur_fd) < 0)
		cbox_fail(cb, errno, "fsync cur");
	if (cb->sync_new && timed_fsync(cb->new_fd) < 0)
		cbox_fail(cb, errno, "fsync new");
	if (!cb->rewrite) {
		if (!cb->appended)
			return;
		if (cb->err == 0 && timed_fsync(cb->uidlist_fd) < 0)
			cbox_fail(cb, errno, "uidlist fsync");
		if (cb->err != 0) {
			/* every transaction of the folder fails: take their records back
			 * (if that fails too, finish_box queues a rewrite) */
			if (ftruncate(cb->uidlist_fd, cb->append_off) == 0 &&
			    timed_fsync(cb->uidlist_fd) == 0)
				cb->appended = false;
			return;
		}
		(void)fstat(cb->uidlist_fd, &cb->uidlist_st);
		return;
	}
	if (cb->err != 0)
		return;
	work_format_records(g, cb);
	err = pwrite_full(cb->lockfd, cb->data.data, cb->data.len, 0);
	if (err == 0 && timed_fsync(cb->lockfd) < 0)
		err = errno;
	if (err == 0 && renameat(cb->dir_fd, UIDLIST_LOCK_NAME, cb->dir_fd, UIDLIST_NAME) < 0)
		err = errno;
	if (err != 0) {
		cbox_fail(cb, err, "uidlist write");
		return;
	}
	cb->renamed = true;
	if (timed_fsync(cb->dir_fd) < 0)
		cbox_fail(cb, errno, "fsync folder");
	(void)fstatat(cb->dir_fd, UIDLIST_NAME, &cb->uidlist_st, AT_SYMLINK_NOFOLLOW);
}

/* Stage 2: renames, then per folder the directory fsyncs and the uidlist. */
static void
work_commit(struct commit_group *g)
{
	struct commit_box *cb;

	for (cb = g->boxes; cb != NULL; cb = cb->next)
		work_records_first(g, cb);
	work_renames(g);
	for (cb = g->boxes; cb != NULL; cb = cb->next)
		work_box(g, cb);
}

static void *
worker_main(void *arg)
{
	struct commit_worker *w = arg;
	struct commit_pipe *p = w->pipe;
	struct commit_group *g;
	char b = 1;

	(void)pthread_setname_np(pthread_self(), w->name);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (w->todo == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (w->todo == NULL)
			break;
		g = w->todo;
		w->todo = NULL;
		pthread_mutex_unlock(&p->mu);
		w->work(g);
		pthread_mutex_lock(&p->mu);
		w->done = g;
		pthread_cond_broadcast(&p->cv);
		/* one byte per group, at most two groups in flight: never blocks */
		(void)send(p->wake[1], &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ------------------------------------------------------------------ held locks */

static bool
list_has_box(const struct mailbox_commit *r, const struct mailbox *box)
{
	for (; r != NULL; r = r->next)
		if (r->box == box)
			return true;
	return false;
}

/* Is a save or rewrite of box queued, or in the files stage? */
static bool
box_queued(const struct commit_pipe *p, const struct mailbox *box)
{
	return list_has_box(p->pending, box) || list_has_box(p->ready, box) ||
	    (p->files.inflight != NULL && list_has_box(p->files.inflight->reqs, box));
}

/* When the lock box is about to take was taken: now, or when a held one was. */
static uint64_t
held_since(const struct mailbox *box)
{
	const struct commit_pipe *p = box->store->commit;

	for (const struct held_lock *h = p != NULL ? p->held : NULL; h != NULL; h = h->next)
		if (h->box == box)
			return h->since;
	return clock_ms();
}

int
mstore_commit_take_lock(struct mailbox *box)
{
	struct commit_pipe *p = box->store->commit;
	struct held_lock **hp, *h;
	int fd;

	for (hp = p != NULL ? &p->held : NULL; hp != NULL && *hp != NULL; hp = &(*hp)->next) {
		if ((*hp)->box != box)
			continue;
		h = *hp;
		*hp = h->next;
		fd = h->fd;
		mailbox_unref(&h->box);	/* the caller holds its own reference */
		free(h);
		return fd;
	}
	return -1;
}

/* Keep the lock of box for its next group, or release it. */
static void
lock_keep_or_release(struct mailbox *box, int fd, uint64_t since)
{
	struct commit_pipe *p = box->store->commit;
	struct held_lock *h;

	if (p == NULL || box->deleted || clock_ms() - since >= LOCK_HOLD_MS ||
	    !box_queued(p, box)) {
		mailbox_uidlist_unlock(box, fd);
		return;
	}
	h = xcalloc(1, sizeof(*h));
	mailbox_ref(box);
	h->box = box;
	h->fd = fd;
	h->since = since;
	h->next = p->held;
	p->held = h;
}

/* Release the held locks whose folder has nothing queued any more (all if all). */
static void
locks_release_idle(struct commit_pipe *p, bool all)
{
	struct held_lock **hp = &p->held, *h;

	while ((h = *hp) != NULL) {
		if (all || !box_queued(p, h->box) || clock_ms() - h->since >= LOCK_HOLD_MS) {
			*hp = h->next;
			mailbox_uidlist_unlock(h->box, h->fd);
			mailbox_unref(&h->box);
			free(h);
		} else
			hp = &h->next;
	}
}

/* ------------------------------------------------------------------ prepare */

static int
dup_fd(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static struct commit_box *
group_box(struct commit_group *g, struct mailbox *box)
{
	struct commit_box *cb, **tail = &g->boxes;

	for (cb = g->boxes; cb != NULL; cb = cb->next) {
		if (cb->box == box)
			return cb;
		tail = &cb->next;
	}
	cb = xcalloc(1, sizeof(*cb));
	cb->box = box;
	cb->lockfd = cb->uidlist_fd = -1;
	cb->dir_fd = cb->cur_fd = cb->new_fd = cb->tmp_fd = -1;
	buf_init(&cb->data, BUF_UNLIMITED);
	*tail = cb;
	return cb;
}

static void
req_fail(struct mailbox_commit *r, enum store_status st)
{
	if (!r->failed || r->st == STORE_OK)
		r->st = st;
	r->failed = true;
}

/* Can the new records be appended to the uidlist in place (as Dovecot does)? Only if it
 * is the file we know and ends in a complete line, so a torn earlier append can never
 * swallow our record. Opens cb->uidlist_fd. */
static bool
prepare_append(struct commit_box *cb)
{
	struct mailbox *box = cb->box;
	struct stat st;
	char last = '\0';
	int fd;

	fd = openat(box->dir_fd, UIDLIST_NAME, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
	    st.st_ino != box->uidlist_st.st_ino || st.st_size != box->uidlist_st.st_size) {
		close(fd);
		return false;
	}
	{
		int rfd = openat(box->dir_fd, UIDLIST_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		bool ok = rfd >= 0 && pread(rfd, &last, 1, st.st_size - 1) == 1 && last == '\n';

		if (rfd >= 0)
			close(rfd);
		if (!ok) {
			close(fd);
			return false;
		}
	}
	cb->uidlist_fd = fd;
	cb->append_off = st.st_size;
	return true;
}

/* Lock one folder of the group and assign the UIDs of its transactions. */
static void
prepare_box(struct commit_group *g, struct commit_box *cb)
{
	struct mailbox *box = cb->box;
	struct mailbox_commit *r;
	enum store_status st;
	bool dirty = false, any = false;
	size_t total = 0;

	box->rewrite_queued = false;
	for (r = g->reqs; r != NULL; r = r->next)
		if (r->cbox == cb && !r->failed && r->save != NULL)
			total += r->save->count;
	if (box->deleted) {
		st = STORE_NONEXISTENT;
		goto fail;
	}
	cb->lock_since = held_since(box);
	cb->lockfd = mailbox_lock_and_sync(box, &dirty, &st);
	if (cb->lockfd < 0)
		goto fail;
	if (box->deleted) {
		st = STORE_NONEXISTENT;
		goto fail;
	}
	if (box->nextuid > UINT32_MAX - total - 1) {
		log_error("store UID space exhausted mailbox=%s", box->name);
		st = STORE_LIMIT;
		goto fail;
	}
	box->commit_busy = true;
	for (r = g->reqs; r != NULL; r = r->next) {
		bool delivery;
		struct buf b;

		if (r->cbox != cb || r->failed || r->save == NULL || r->save->count == 0)
			continue;
		delivery = (r->save->save_flags & MAILBOX_SAVE_DELIVERY) != 0;
		r->first = box->nextuid;
		box->nextuid += (uint32_t)r->save->count;
		r->last = box->nextuid - 1;
		buf_init(&b, BUF_UNLIMITED);
		for (size_t i = 0; i < r->save->count; i++) {
			struct save_msg *sm = &r->save->msgs[i];

			buf_reset(&b);
			buf_appendf(&b, "%s,S=%llu,W=%llu", sm->tmpname,
			    (unsigned long long)sm->size, (unsigned long long)sm->vsize);
			if (!delivery)
				mdname_format_info(sm->flags, sm->keywords, &b);
			free(sm->final);
			sm->final = buf_steal(&b);
			buf_init(&b, BUF_UNLIMITED);
			mailbox_own_event(box, delivery, sm->final);
			any = true;
		}
		buf_deinit(&b);
	}
	cb->rewrite = dirty || box->uidlist_stale || (any && !prepare_append(cb));
	if (cb->rewrite) {
		/* header (nextuid already past every new UID) and the records kept */
		(void)uidlist_format_header(&cb->data, box->uidvalidity, box->nextuid,
		    box->guid);
		for (size_t i = 0; i < box->count; i++) {
			const struct mailbox_msg *m = &box->msgs[i];

			(void)uidlist_format_rec(&cb->data, m->uid, m->size, m->vsize,
			    mailbox_msg_name(m), mailbox_msg_base_len(m), m->emailid);
		}
		box->uidlist_stale = false;
	} else if (!any) {
		/* nothing to write (a rewrite done meanwhile): do not hold the lock */
		mailbox_uidlist_unlock(box, cb->lockfd);
		cb->lockfd = -1;
		box->commit_busy = false;
		return;
	}
	cb->dir_fd = dup_fd(box->dir_fd);
	cb->cur_fd = dup_fd(box->cur_fd);
	cb->new_fd = dup_fd(box->new_fd);
	cb->tmp_fd = dup_fd(box->tmp_fd);
	if (cb->dir_fd < 0 || cb->cur_fd < 0 || cb->new_fd < 0 || cb->tmp_fd < 0) {
		log_error("store commit dup failed mailbox=%s error=%s", box->name,
		    strerror(errno));
		st = STORE_IOERROR;
		goto fail;
	}
	cb->active = true;
	return;
fail:
	if (cb->lockfd >= 0)
		mailbox_uidlist_unlock(box, cb->lockfd);
	cb->lockfd = -1;
	if (cb->rewrite)
		box->uidlist_stale = true;	/* still to be rewritten */
	box->commit_busy = false;
	for (r = g->reqs; r != NULL; r = r->next)
		if (r->cbox == cb)
			req_fail(r, st);
}

static void
prepare_group(struct commit_group *g)
{
	struct mailbox_commit *r;
	struct commit_box *cb;

	for (r = g->reqs; r != NULL; r = r->next)
		r->cbox = group_box(g, r->box);
	for (cb = g->boxes; cb != NULL; cb = cb->next)
		prepare_box(g, cb);
}

/* ------------------------------------------------------------------ finish */

static enum store_status
errno_status(int err)
{
	enum store_status st = mstore_errno_status(err);

	return st == STORE_NONEXISTENT ? STORE_IOERROR : st;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Make the messages of r part of its folder (UIDs assigned in prepare). */
static void
finish_add(struct mailbox_commit *r)
{
	struct mailbox *box = r->box;
	bool delivery = (r->save->save_flags & MAILBOX_SAVE_DELIVERY) != 0;

	for (size_t i = 0; i < r->save->count; i++) {
		struct save_msg *sm = &r->save->msgs[i];
		struct mailbox_msg m;

		memset(&m, 0, sizeof(m));
		m.uid = r->first + (uint32_t)i;
		m.flags = MAILBOX_FLAG_RECENT | (delivery ? 0 : sm->flags);
		m.keywords = delivery ? 0 : sm->keywords;
		m.size = sm->size;
		m.vsize = sm->vsize;
		m.filename = name_arena_path(&box->names, delivery ? "new" : "cur", sm->final,
		    strlen(sm->final));
		m.emailid = sm->emailid != 0 ? sm->emailid :
		    maildir_emailid_base(mailbox_msg_name(&m), mailbox_msg_base_len(&m));
		mailbox_msgs_push(&box->msgs, &box->count, &box->cap, &m);
		sm->moved = false;	/* the folder's now: never removed by cleanup */
	}
}

/* Tell mstore_set_added_cb's callback about the new messages of r (not copies). */
static void
finish_added(struct mailbox *box, struct mailbox_commit *r)
{
	int dirfd = (r->save->save_flags & MAILBOX_SAVE_DELIVERY) ? box->new_fd : box->cur_fd;

	for (size_t i = 0; i < r->save->count; i++) {
		const struct mailbox_msg *m;
		int fd;

		if (r->save->msgs[i].emailid != 0 ||
		    (m = mailbox_lookup(box, r->first + (uint32_t)i, NULL)) == NULL)
			continue;
		/* the name it was committed under; gone already (moved on by another
		 * program): its thread is assigned when first asked for */
		fd = openat(dirfd, r->save->msgs[i].final, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		box->store->added_cb(box->store->added_ctx, m->emailid, fd);
		close(fd);
	}
}

static void
finish_box(struct commit_group *g, struct commit_box *cb)
{
	struct mailbox *box = cb->box;
	struct mailbox_commit *r;

	close_fd(&cb->uidlist_fd);
	close_fd(&cb->dir_fd);
	close_fd(&cb->cur_fd);
	close_fd(&cb->new_fd);
	close_fd(&cb->tmp_fd);
	if (cb->lockfd < 0)
		return;			/* failed in prepare, or nothing to do */
	if (cb->err != 0)
		log_error("store commit %s failed mailbox=%s error=%s", cb->err_what,
		    box->name, strerror(cb->err));
	if (cb->rewrite && cb->renamed)
		close(cb->lockfd);	/* the lock file became the uidlist */
	else if (!cb->rewrite && cb->err == 0)
		lock_keep_or_release(box, cb->lockfd, cb->lock_since);
	else
		mailbox_uidlist_unlock(box, cb->lockfd);
	cb->lockfd = -1;
	if (cb->rewrite && !cb->renamed)
		box->uidlist_stale = true;	/* the old uidlist stays: rewrite later */
	if (cb->appended && (cb->err != 0 || cb->dangling))
		box->uidlist_stale = true;	/* records without files: rewrite later */
	if (cb->uidlist_st.st_ino != 0)
		box->uidlist_st = cb->uidlist_st;
	for (r = g->reqs; r != NULL; r = r->next) {
		if (r->cbox != cb || r->save == NULL)
			continue;
		if (box->deleted)
			req_fail(r, STORE_NONEXISTENT);
		for (size_t i = 0; i < r->save->count; i++)
			if (r->save->msgs[i].err != 0)
				req_fail(r, errno_status(r->save->msgs[i].err));
		if (cb->err != 0)
			req_fail(r, errno_status(cb->err));
		if (!r->failed)
			finish_add(r);
	}
	box->commit_busy = false;
	mailbox_remember_mtimes(box);
	for (r = g->reqs; r != NULL; r = r->next)
		if (r->cbox == cb && !r->failed && r->save != NULL && r->save->count > 0)
			for (uint32_t uid = r->first; uid <= r->last; uid++) {
				mailbox_notify_appended(box, uid);
				if (r->save->save_flags & MAILBOX_SAVE_DELIVERY)
					mailbox_notify_delivered(box, uid);
			}
	for (r = g->reqs; r != NULL && box->store->added_cb != NULL; r = r->next)
		if (r->cbox == cb && !r->failed && r->save != NULL)
			finish_added(box, r);
	/* changes by others seen while the lock was ours */
	if (box->force_sync && !box->deleted)
		(void)mailbox_sync(box);
}

static void
finish_group(struct commit_group *g)
{
	struct mailbox_commit *r, *next;
	struct commit_box *cb, *cnext;

	for (cb = g->boxes; cb != NULL; cb = cb->next)
		finish_box(g, cb);
	for (r = g->reqs; r != NULL; r = next) {
		next = r->next;
		if (r->tmp_fd >= 0)
			close(r->tmp_fd);
		if (r->save != NULL) {
			for (size_t i = 0; i < r->save->count; i++)
				if (r->save->msgs[i].err != 0) {
					log_error("store commit file failed mailbox=%s error=%s",
					    r->box->name, strerror(r->save->msgs[i].err));
					req_fail(r, errno_status(r->save->msgs[i].err));
					break;
				}
			if (r->failed || r->box->deleted) {
				if (!r->failed)
					req_fail(r, STORE_NONEXISTENT);
				mailbox_save_cleanup_files(r->save);
			}
			/* before the callback, so that it sees the usage with this save */
			mstore_quota_finish(r->save, !r->failed);
			mailbox_save_free(&r->save);
		}
		if (r->failed)
			r->first = r->last = 0;
		mailbox_unref(&r->box);
		if (r->cb != NULL)
			r->cb(r->cbctx, r->failed ? r->st : STORE_OK, r->first, r->last);
		free(r);
	}
	for (cb = g->boxes; cb != NULL; cb = cnext) {
		cnext = cb->next;
		buf_deinit(&cb->data);
		free(cb);
	}
	free(g);
}

/* ------------------------------------------------------------------ the pipeline */

static void
worker_hand(struct commit_pipe *p, struct commit_worker *w, struct commit_group *g)
{
	w->inflight = g;
	pthread_mutex_lock(&p->mu);
	w->todo = g;
	w->busy = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static struct commit_group *
worker_take(struct commit_pipe *p, struct commit_worker *w)
{
	struct commit_group *g;

	pthread_mutex_lock(&p->mu);
	g = w->done;
	w->done = NULL;
	if (g != NULL)
		w->busy = false;
	pthread_mutex_unlock(&p->mu);
	if (g != NULL)
		w->inflight = NULL;
	return g;
}

/* Up to COMMIT_GROUP_MAX_REQS requests off the front of a list. */
static struct commit_group *
group_take(struct mailbox_commit **list, struct mailbox_commit ***tailp)
{
	struct commit_group *g = xcalloc(1, sizeof(*g));
	struct mailbox_commit **tail = list;
	size_t n = 0;

	g->reqs = *list;
	while (*tail != NULL && n < COMMIT_GROUP_MAX_REQS) {
		tail = &(*tail)->next;
		n++;
	}
	*list = *tail;
	*tail = NULL;
	if (*list == NULL)
		*tailp = list;
	return g;
}

static void
ready_append(struct commit_pipe *p, struct mailbox_commit *r)
{
	r->next = NULL;
	*p->ready_tail = r;
	p->ready_tail = &r->next;
}

/* Give each idle stage its next work. */
static void
pipe_kick(struct mstore *store)
{
	struct commit_pipe *p = store->commit;
	struct commit_group *g;

	if (!p->files.busy && p->pending != NULL)
		worker_hand(p, &p->files, group_take(&p->pending, &p->pending_tail));
	if (!p->commit.busy && p->ready != NULL) {
		g = group_take(&p->ready, &p->ready_tail);
		prepare_group(g);
		worker_hand(p, &p->commit, g);
	}
}

/* Take back what the stages finished (waiting for one if wait and one is busy). */
static void
pipe_reap(struct mstore *store, bool wait)
{
	struct commit_pipe *p = store->commit;
	struct mailbox_commit *r, *next;
	struct commit_group *g;

	if (wait) {
		pthread_mutex_lock(&p->mu);
		while (p->files.done == NULL && p->commit.done == NULL &&
		    (p->files.busy || p->commit.busy))
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
	if ((g = worker_take(p, &p->files)) != NULL) {
		for (r = g->reqs; r != NULL; r = next) {
			next = r->next;
			ready_append(p, r);
		}
		free(g);
	}
	if ((g = worker_take(p, &p->commit)) != NULL)
		finish_group(g);
}

static int
worker_start(struct commit_pipe *p, struct commit_worker *w, const char *name,
    void (*work)(struct commit_group *))
{
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	w->pipe = p;
	w->name = name;
	w->work = work;
	pthread_attr_init(&attr);
	/* system calls only: a small stack (the mail process runs under RLIMIT_AS) */
	(void)pthread_attr_setstacksize(&attr, 256 * 1024);
	/* signals stay with the event loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->thread, &attr, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		log_error("store commit thread %s: %s; saves stay synchronous", name,
		    strerror(err));
		return -1;
	}
	w->started = true;
	return 0;
}

static void
pipe_free(struct commit_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->files.started)
		pthread_join(p->files.thread, NULL);
	if (p->commit.started)
		pthread_join(p->commit.thread, NULL);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

int
mstore_commit_start(struct mstore *store)
{
	struct commit_pipe *p;

	if (store->commit != NULL)
		return 0;
	p = xcalloc(1, sizeof(*p));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->wake) < 0) {
		log_error("store commit thread: socketpair: %s", strerror(errno));
		free(p);
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->pending_tail = &p->pending;
	p->ready_tail = &p->ready;
	if (worker_start(p, &p->files, "buzon-fsync", work_files) < 0 ||
	    worker_start(p, &p->commit, "buzon-commit", work_commit) < 0) {
		pipe_free(p);
		return -1;
	}
	store->commit = p;
	return 0;
}

bool
mstore_commit_async(const struct mstore *store)
{
	return store->commit != NULL;
}

int
mstore_commit_fd(struct mstore *store)
{
	return store->commit != NULL ? store->commit->wake[0] : -1;
}

bool
mstore_commit_idle(const struct mstore *store)
{
	const struct commit_pipe *p = store->commit;

	return p == NULL || (p->pending == NULL && p->ready == NULL && !p->files.busy &&
	    !p->commit.busy);
}

void
mstore_commit_process(struct mstore *store)
{
	char b[64];

	if (store->commit == NULL)
		return;
	while (recv(store->commit->wake[0], b, sizeof(b), MSG_DONTWAIT) > 0)
		;
	pipe_reap(store, false);
	pipe_kick(store);
	locks_release_idle(store->commit, false);
}

void
mstore_commit_drain(struct mstore *store)
{
	if (store->commit == NULL)
		return;
	while (!mstore_commit_idle(store)) {
		pipe_kick(store);
		pipe_reap(store, true);
	}
	locks_release_idle(store->commit, true);
}

void
mstore_commit_stop(struct mstore *store)
{
	if (store->commit == NULL)
		return;
	mstore_commit_drain(store);
	pipe_free(store->commit);
	store->commit = NULL;
}

static bool
save_needs_sync(const struct mailbox_save *save)
{
	for (size_t i = 0; i < save->count; i++)
		if (save->msgs[i].needs_sync)
			return true;
	return false;
}

static struct mailbox_commit *
pipe_enqueue(struct mailbox *box, struct mailbox_save *save, mailbox_commit_cb *cb,
    void *cbctx)
{
	struct commit_pipe *p = box->store->commit;
	struct mailbox_commit *r = xcalloc(1, sizeof(*r));

	mailbox_ref(box);
	r->box = box;
	r->save = save;
	r->cb = cb;
	r->cbctx = cbctx;
	r->tmp_fd = -1;
	if (save != NULL && save_needs_sync(save)) {
		/* the files stage opens the files it has no descriptor for by name */
		r->tmp_fd = fcntl(box->tmp_fd, F_DUPFD_CLOEXEC, 0);
		*p->pending_tail = r;
		p->pending_tail = &r->next;
	} else
		ready_append(p, r);	/* nothing for the files stage (links, rewrites) */
	pipe_kick(box->store);
	return r;
}

struct mailbox_commit *
mailbox_save_commit_async(struct mailbox_save **ctxp, mailbox_commit_cb *cb, void *cbctx)
{
	struct mailbox_save *ctx = *ctxp;

	if (ctx->box->store->commit == NULL)
		panic("mailbox_save_commit_async without the commit thread");
	if (ctx->fd >= 0 || ctx->failed)
		panic("mailbox_save_commit_async: message not finished or transaction failed");
	*ctxp = NULL;
	mstore_quota_reserve(ctx);
	return pipe_enqueue(ctx->box, ctx, cb, cbctx);
}

void
mailbox_commit_cancel(struct mailbox_commit *c)
{
	if (c != NULL)
		c->cb = NULL;
}

bool
mailbox_commit_rewrite(struct mailbox *box)
{
	if (box->store->commit == NULL)
		return false;
	if (!box->rewrite_queued) {
		box->rewrite_queued = true;
		(void)pipe_enqueue(box, NULL, NULL, NULL);
	}
	return true;
}

/* ------------------------------------------------------------------ synchronous */

struct sync_result {
	enum store_status st;
	uint32_t first, last;
};

static void
sync_done(void *ctx, enum store_status st, uint32_t first, uint32_t last)
{
	struct sync_result *res = ctx;

	res->st = st;
	res->first = first;
	res->last = last;
}

enum store_status
mailbox_save_commit(struct mailbox_save **ctxp, uint32_t *uid_first_r, uint32_t *uid_last_r)
{
	struct mailbox_save *ctx = *ctxp;
	struct sync_result res = { STORE_IOERROR, 0, 0 };
	struct commit_group *g;
	struct mailbox_commit *r;

	*uid_first_r = *uid_last_r = 0;
	if (ctx->fd >= 0 || ctx->failed)
		panic("mailbox_save_commit: message not finished or transaction failed");
	/* a synchronous save in a store with the thread waits for what is queued first */
	mstore_commit_drain(ctx->box->store);
	*ctxp = NULL;
	g = xcalloc(1, sizeof(*g));
	r = xcalloc(1, sizeof(*r));
	mailbox_ref(ctx->box);
	r->box = ctx->box;
	r->save = ctx;
	r->cb = sync_done;
	r->cbctx = &res;
	r->tmp_fd = ctx->box->tmp_fd;	/* borrowed: not closed by finish_group */
	g->reqs = r;
	work_files(g);
	r->tmp_fd = -1;
	prepare_group(g);
	work_commit(g);
	finish_group(g);
	*uid_first_r = res.first;
	*uid_last_r = res.last;
	return res.st;
}
