/*
 * mbox.c — one open Maildir folder shared by all sessions of the user: the message
 * array (UID order), dovecot-uidlist and dovecot-keywords handling, sync with the
 * directories, flag renames, expunge, copy, durable saves and listener notification.
 * Runs in the per-user mail process (mailbox owner's uid).
 *
 * Security and reliability role: message files are opened relative to the cur/ new/
 * tmp/ directory fds with O_NOFOLLOW; new files are created O_CREAT|O_EXCL 0600 in
 * tmp/, fsync'ed, renamed, and the directory fsync'ed before a UID is assigned and the
 * uidlist (written to its dotlock file, fsync'ed, renamed into place) is committed —
 * only then does a save report success (RELIABILITY rule 1). UIDs only grow; a corrupt
 * uidlist never yields two messages with one UID.
 */
#include "store/store_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#define LOCK_WAIT_MS	10000	/* give up on a held uidlist lock after this */
#define LOCK_DEAD_SECS	1	/* an unlocked dotlock this old was left by a dead process */

static void recent_save(struct mbox *mbox);
static void recent_restore(struct mbox *mbox);
static void cache_evict(struct mbox *mbox);
static bool uidlist_changed(struct mbox *mbox);

/* ------------------------------------------------------------------ helpers */

static const char *
msg_name(const struct mbox_msg *m)
{
	return m->filename + 4;		/* skip "cur/" or "new/" */
}

static int
msg_dirfd(const struct mbox *mbox, const struct mbox_msg *m)
{
	return m->filename[0] == 'n' ? mbox->new_fd : mbox->cur_fd;
}

static size_t
msg_base_len(const struct mbox_msg *m)
{
	const char *n = msg_name(m), *c = strchr(n, ':');

	return c == NULL ? strlen(n) : (size_t)(c - n);
}

static bool
ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static void
notify_expunged(struct mbox *mbox, uint32_t uid)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->expunged != NULL)
			l->ops->expunged(l->ctx, mbox, uid);
}

static void
notify_appended(struct mbox *mbox, uint32_t uid)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->appended != NULL)
			l->ops->appended(l->ctx, mbox, uid);
}

static void
notify_flags(struct mbox *mbox, uint32_t uid)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->flags_changed != NULL)
			l->ops->flags_changed(l->ctx, mbox, uid);
}

static void
notify_keyword(struct mbox *mbox, unsigned int idx)
{
	struct mbox_listener *l;

	for (l = mbox->listeners; l != NULL; l = l->next)
		if (l->ops->keyword_added != NULL)
			l->ops->keyword_added(l->ctx, mbox, idx);
}

/* ------------------------------------------------------------------ name arena */

#define NAME_CHUNK	(64 * 1024)

static char *
arena_alloc(struct name_arena *a, size_t n)
{
	struct name_chunk *c = a->head;
	char *p;

	if (c == NULL || c->size - c->used < n) {
		size_t size = MAX(n, (size_t)NAME_CHUNK);

		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	a->bytes += n;
	return p;
}

/* "<dir>/<name>" (dir is "cur" or "new") copied into the arena, NUL-terminated. */
static char *
arena_path(struct name_arena *a, const char *dir, const char *name, size_t len)
{
	char *p = arena_alloc(a, 4 + len + 1);

	memcpy(p, dir, 3);
	p[3] = '/';
	memcpy(p + 4, name, len);
	p[4 + len] = '\0';
	return p;
}

static char *
arena_strdup(struct name_arena *a, const char *s)
{
	size_t len = strlen(s) + 1;

	return memcpy(arena_alloc(a, len), s, len);
}

static void
arena_free(struct name_arena *a)
{
	struct name_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
	a->bytes = a->garbage = 0;
}

/* A message's file name is no longer used (replaced, or the message dropped). */
static void
name_release(struct mbox *mbox, const char *filename)
{
	mbox->names.garbage += strlen(filename) + 1;
}

/* Rebuild the arena with only the names in use. */
static void
names_compact(struct mbox *mbox)
{
	struct name_arena na = { 0 };
	size_t i;

	for (i = 0; i < mbox->count; i++)
		mbox->msgs[i].filename = arena_strdup(&na, mbox->msgs[i].filename);
	arena_free(&mbox->names);
	mbox->names = na;
}

/* Rebuild the arena once most of it is garbage (many flag renames without a rescan). */
static void
names_maybe_compact(struct mbox *mbox)
{
	if (mbox->names.garbage >= 256 * 1024 && mbox->names.garbage >= mbox->names.bytes / 2)
		names_compact(mbox);
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

static uint64_t hash_bytes(const char *p, size_t len);

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

static void
own_events_clear(struct mbox *mbox)
{
	own_events_reset(mbox);
	mbox->own_overflow = false;
}

static void
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

/* ------------------------------------------------------------------ uidlist lock */

/*
 * Was the existing dotlock left by a process that died (kill -9 during a save or an
 * expunge)?  Holders keep an flock(2) on it, which the kernel drops when they die: if
 * we can take that flock and the file has not changed for LOCK_DEAD_SECS (the moment
 * between a holder's create and its flock), nobody holds it (RELIABILITY F-02/F-03).
 */
static bool
uidlist_lock_dead(struct mbox *mbox)
{
	struct stat st, st2;
	bool dead = false;
	int fd;

	fd = openat(mbox->dir_fd, UIDLIST_LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_mtime + LOCK_DEAD_SECS <= time(NULL) &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
	    fstatat(mbox->dir_fd, UIDLIST_LOCK_NAME, &st2, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st2.st_ino == st.st_ino && st2.st_dev == st.st_dev)
		dead = true;
	close(fd);
	return dead;
}

/* Dotlock (O_CREAT|O_EXCL) held with an flock; broken when its holder died or after
 * LOCK_STALE_SECS (holders that do not flock). Returns the lock fd or -1. */
static int
uidlist_lock(struct mbox *mbox)
{
	uint64_t start = clock_ms();
	struct stat st;
	int fd;

	for (;;) {
		fd = openat(mbox->dir_fd, UIDLIST_LOCK_NAME,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			(void)flock(fd, LOCK_EX | LOCK_NB);	/* released when we die */
			return fd;
		}
		if (errno != EEXIST) {
			log_error("store uidlist lock failed mailbox=%s error=%s", mbox->name,
			    strerror(errno));
			return -1;
		}
		if (uidlist_lock_dead(mbox)) {
			log_warn("store removing uidlist lock of a dead process mailbox=%s",
			    mbox->name);
			(void)unlinkat(mbox->dir_fd, UIDLIST_LOCK_NAME, 0);
			continue;
		}
		if (fstatat(mbox->dir_fd, UIDLIST_LOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + LOCK_STALE_SECS < time(NULL)) {
			log_warn("store removing stale uidlist lock mailbox=%s", mbox->name);
			(void)unlinkat(mbox->dir_fd, UIDLIST_LOCK_NAME, 0);
			continue;
		}
		if (clock_ms() - start > LOCK_WAIT_MS) {
			log_error("store uidlist lock timeout mailbox=%s", mbox->name);
			errno = EAGAIN;
			return -1;
		}
		usleep(10000);
	}
}

static void
uidlist_unlock(struct mbox *mbox, int fd)
{
	if (fd < 0)
		return;
	close(fd);
	(void)unlinkat(mbox->dir_fd, UIDLIST_LOCK_NAME, 0);
}

/* Write the memory state into the lock file and rename it over the uidlist; this also
 * releases the lock. Returns STORE_OK or an error (lock released, old uidlist kept). */
static enum store_status
uidlist_commit(struct mbox *mbox, int lockfd)
{
	struct buf out;
	const char *p;
	size_t i, len;
	ssize_t n;
	int err = 0;

	buf_init(&out, BUF_UNLIMITED);
	(void)uidlist_format_header(&out, mbox->uidvalidity, mbox->nextuid, mbox->guid);
	for (i = 0; i < mbox->count; i++) {
		const struct mbox_msg *m = &mbox->msgs[i];

		(void)uidlist_format_rec(&out, m->uid, m->size, m->vsize, msg_name(m),
		    msg_base_len(m));
	}
	p = out.data;
	len = out.len;
	while (len > 0) {
		n = write(lockfd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	buf_deinit(&out);
	if (err == 0 && fsync(lockfd) < 0)
		err = errno;
	if (err == 0 && renameat(mbox->dir_fd, UIDLIST_LOCK_NAME, mbox->dir_fd,
	    UIDLIST_NAME) < 0)
		err = errno;
	if (err != 0) {
		log_error("store uidlist write failed mailbox=%s error=%s", mbox->name,
		    strerror(err));
		uidlist_unlock(mbox, lockfd);
		return store_errno_status(err) == STORE_NONEXISTENT ? STORE_IOERROR :
		    store_errno_status(err);
	}
	close(lockfd);
	if (store_fsync_dir(mbox->dir_fd, ".") < 0)
		return STORE_IOERROR;
	(void)fstatat(mbox->dir_fd, UIDLIST_NAME, &mbox->uidlist_st, AT_SYMLINK_NOFOLLOW);
	return STORE_OK;
}

/*
 * Append the records msgs[from..] to the uidlist in place (as Dovecot does) instead of
 * rewriting it: the parser raises nextuid past appended UIDs. Only if the file ends in
 * a complete line, so a torn earlier append can never swallow our record. Releases the
 * lock. Returns STORE_OK, or an error after which the old content is restored.
 */
static enum store_status
uidlist_append(struct mbox *mbox, int lockfd, size_t from)
{
	struct stat st;
	struct buf out;
	const char *p;
	size_t i, len;
	ssize_t n;
	char last = '\0';
	int fd, err = 0;

	fd = openat(mbox->dir_fd, UIDLIST_NAME, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
	    st.st_ino != mbox->uidlist_st.st_ino || st.st_size != mbox->uidlist_st.st_size ||
	    pread(fd, &last, 1, st.st_size - 1) != 1 || last != '\n') {
		/* not the file we know, or a torn last line: rewrite it whole */
		if (fd >= 0)
			close(fd);
		return uidlist_commit(mbox, lockfd);
	}
	buf_init(&out, BUF_UNLIMITED);
	for (i = from; i < mbox->count; i++) {
		const struct mbox_msg *m = &mbox->msgs[i];

		(void)uidlist_format_rec(&out, m->uid, m->size, m->vsize, msg_name(m),
		    msg_base_len(m));
	}
	p = out.data;
	len = out.len;
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	buf_deinit(&out);
	if (err == 0 && fsync(fd) < 0)
		err = errno;
	if (err != 0) {
		/* take back a partial append; the records are not acknowledged */
		if (ftruncate(fd, st.st_size) == 0)
			(void)fsync(fd);
		log_error("store uidlist append failed mailbox=%s error=%s", mbox->name,
		    strerror(err));
		close(fd);
		uidlist_unlock(mbox, lockfd);
		return store_errno_status(err) == STORE_NONEXISTENT ? STORE_IOERROR :
		    store_errno_status(err);
	}
	(void)fstat(fd, &mbox->uidlist_st);
	close(fd);
	uidlist_unlock(mbox, lockfd);
	return STORE_OK;
}

/* ------------------------------------------------------------------ keywords */

static void
keywords_reload(struct mbox *mbox)
{
	struct stat st;
	struct buf b;
	size_t bad;
	int ret;

	if (fstatat(mbox->dir_fd, KEYWORDS_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == mbox->keywords_st.st_ino && st.st_size == mbox->keywords_st.st_size &&
	    ts_eq(&st.st_mtim, &mbox->keywords_st.st_mtim))
		return;
	buf_init(&b, 64 * 1024);
	ret = store_read_file(mbox->dir_fd, KEYWORDS_NAME, b.max, &b, &st);
	if (ret < 0) {
		log_error("store keywords unreadable mailbox=%s error=%s", mbox->name,
		    strerror(errno));
		memset(&mbox->keywords_st, 0, sizeof(mbox->keywords_st));
	} else if (ret > 0) {
		char *names[STORE_KEYWORDS_MAX];
		unsigned int i;

		bad = keywords_parse(b.data == NULL ? "" : b.data, b.len, names);
		if (bad > 0)
			log_error("store keywords file damaged mailbox=%s bad_lines=%zu",
			    mbox->name, bad);
		/* names only ever get added: keep ours where the file lost them */
		for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
			if (names[i] == NULL)
				continue;
			if (mbox->keywords[i] == NULL) {
				mbox->keywords[i] = names[i];
				names[i] = NULL;
				notify_keyword(mbox, i);
			} else if (strcmp(mbox->keywords[i], names[i]) != 0) {
				free(mbox->keywords[i]);
				mbox->keywords[i] = names[i];
				names[i] = NULL;
				notify_keyword(mbox, i);
			}
		}
		keywords_free(names);
		mbox->keywords_st = st;
	}
	buf_deinit(&b);
}

const char *
mbox_keyword_name(const struct mbox *mbox, unsigned int idx)
{
	return idx < STORE_KEYWORDS_MAX ? mbox->keywords[idx] : NULL;
}

int
mbox_keyword_lookup(const struct mbox *mbox, const char *name)
{
	int i;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (mbox->keywords[i] != NULL && strcasecmp(mbox->keywords[i], name) == 0)
			return i;
	return -1;
}

enum store_status
mbox_keyword_add(struct mbox *mbox, const char *name, unsigned int *idx_r)
{
	enum store_status st;
	struct buf out;
	int idx, i;

	if (mbox->deleted)
		return STORE_NONEXISTENT;
	if (name[0] == '\\')
		return STORE_BADNAME;
	st = keyword_name_check(name, strlen(name));
	if (st != STORE_OK)
		return st;
	keywords_reload(mbox);
	idx = mbox_keyword_lookup(mbox, name);
	if (idx >= 0) {
		*idx_r = (unsigned int)idx;
		return STORE_OK;
	}
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (mbox->keywords[i] == NULL)
			break;
	if (i == STORE_KEYWORDS_MAX)
		return STORE_LIMIT;
	mbox->keywords[i] = xstrdup(name);
	buf_init(&out, BUF_UNLIMITED);
	(void)keywords_format(mbox->keywords, &out);
	if (store_write_file(mbox->store, mbox->dir_fd, KEYWORDS_NAME, out.data, out.len) < 0) {
		st = store_errno_status(errno);
		free(mbox->keywords[i]);
		mbox->keywords[i] = NULL;
		buf_deinit(&out);
		return st == STORE_NONEXISTENT ? STORE_IOERROR : st;
	}
	buf_deinit(&out);
	(void)fstatat(mbox->dir_fd, KEYWORDS_NAME, &mbox->keywords_st, AT_SYMLINK_NOFOLLOW);
	notify_keyword(mbox, (unsigned int)i);
	*idx_r = (unsigned int)i;
	return STORE_OK;
}

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

static uint64_t
hash_bytes(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

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
	e->name = memcpy(arena_alloc(&s->names, len + 1), name, len + 1);
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

	arena_free(&s->names);
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
	size_t h = (size_t)hash_bytes(base, len) & (s->hsize - 1), idx;

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
scan_index(struct mbox *mbox, struct scan *s)
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
			int dfd = e->in_new ? mbox->new_fd : mbox->cur_fd;

			buf_init(&nn, 1024);
			mstore_unique_name(mbox->store, &nn);
			if (e->md.size != MBOX_SIZE_UNKNOWN)
				buf_appendf(&nn, ",S=%llu", (unsigned long long)e->md.size);
			if (e->md.vsize != MBOX_SIZE_UNKNOWN)
				buf_appendf(&nn, ",W=%llu", (unsigned long long)e->md.vsize);
			e->base_len = nn.len;
			buf_append_str(&nn, e->name + (strchr(e->name, ':') != NULL ?
			    (size_t)(strchr(e->name, ':') - e->name) : strlen(e->name)));
			log_warn("store duplicate file base renamed mailbox=%s file=%s",
			    mbox->name, e->name);
			mbox_own_event(mbox, e->in_new, e->name);
			mbox_own_event(mbox, e->in_new, buf_cstr(&nn));
			if (renameat(dfd, e->name, dfd, buf_cstr(&nn)) < 0) {
				buf_deinit(&nn);
				e->claimed = true;	/* ignore it this time */
				continue;
			}
			e->name = arena_strdup(&s->names, buf_cstr(&nn));
			buf_deinit(&nn);
		}
		h = (size_t)hash_bytes(e->name, e->base_len) & (s->hsize - 1);
		while (s->hash[h] != 0)
			h = (h + 1) & (s->hsize - 1);
		s->hash[h] = i + 1;
	}
}

/* Move new/ files to cur/ (adding ":2,") and list cur/. */
static enum store_status
scan_dirs(struct mbox *mbox, struct scan *s)
{
	struct dirent *de;
	struct mdname md;
	DIR *dir;
	int fd, pass;

	for (pass = 0; pass < 2; pass++) {
		int dfd = pass == 0 ? mbox->new_fd : mbox->cur_fd;

		fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
			log_error("store scan failed mailbox=%s error=%s", mbox->name,
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
			mbox_own_event(mbox, true, de->d_name);
			mbox_own_event(mbox, false, target);
			if (renameat(mbox->new_fd, de->d_name, mbox->cur_fd, target) == 0) {
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

/* Read the uidlist into ul if it changed on disk (or always if force).
 * Returns 1 read, 0 unchanged, -1 unusable (logged; header lost). *damaged_r set if
 * lines were dropped. */
static int
uidlist_read(struct mbox *mbox, struct uidlist *ul, bool force, bool *damaged_r)
{
	struct stat st;
	struct buf b;
	int ret;

	*damaged_r = false;
	if (fstatat(mbox->dir_fd, UIDLIST_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return mbox->uidvalidity == 0 ? -2 : -1;
		log_error("store uidlist stat failed mailbox=%s error=%s", mbox->name,
		    strerror(errno));
		return -1;
	}
	if (!force && st.st_ino == mbox->uidlist_st.st_ino &&
	    st.st_size == mbox->uidlist_st.st_size &&
	    ts_eq(&st.st_mtim, &mbox->uidlist_st.st_mtim))
		return 0;
	buf_init(&b, UIDLIST_MAX_BYTES);
	ret = store_read_file(mbox->dir_fd, UIDLIST_NAME, b.max, &b, &st);
	if (ret <= 0) {
		log_error("store uidlist unreadable mailbox=%s error=%s", mbox->name,
		    ret == 0 ? "vanished" : strerror(errno));
		buf_deinit(&b);
		return -1;
	}
	switch (uidlist_parse(b.data == NULL ? "" : b.data, b.len, ul)) {
	case UIDLIST_PARSE_OK:
		break;
	case UIDLIST_PARSE_DAMAGED:
		log_error("store uidlist damaged, invalid lines dropped mailbox=%s",
		    mbox->name);
		*damaged_r = true;
		break;
	case UIDLIST_PARSE_BAD_HEADER:
		log_error("store uidlist corrupt, UIDs will be reset mailbox=%s", mbox->name);
		buf_deinit(&b);
		return -1;
	}
	buf_deinit(&b);
	mbox->uidlist_st = st;
	return 1;
}

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

static void
msgs_push(struct mbox_msg **arr, size_t *count, size_t *cap, const struct mbox_msg *m)
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
sync_locked(struct mbox *mbox, bool *dirty_r)
{
	struct uidlist ul;
	struct scan s = { 0 };
	struct name_arena na = { 0 };
	struct mbox_msg *nmsgs = NULL, nm;
	size_t ncount = 0, ncap = 0, i, j, k, nr;
	enum store_status st;
	struct stat st_new, st_cur;
	bool damaged = false, reset = false;
	uint32_t old_validity = mbox->uidvalidity;
	int ret;

	*dirty_r = false;
	if (fstat(mbox->new_fd, &st_new) < 0 || fstat(mbox->cur_fd, &st_cur) < 0)
		return STORE_IOERROR;
	st = scan_dirs(mbox, &s);
	if (st != STORE_OK) {
		scan_free(&s);
		return st;
	}
	scan_index(mbox, &s);
	/* files this scan moved out of new/ are \Recent for this process */
	for (i = 0; i < s.nmoved; i++) {
		k = scan_find(&s, s.moved[i], strlen(s.moved[i]));
		if (k != SIZE_MAX)
			s.e[k].recent = true;
	}

	uidlist_init(&ul);
	ret = uidlist_read(mbox, &ul, false, &damaged);
	if (ret == 0) {
		/* unchanged on disk: our memory is the uidlist (records read from
		 * mbox->msgs below, without copying them into ul) */
		ul.uidvalidity = mbox->uidvalidity;
		ul.nextuid = mbox->nextuid;
		memcpy(ul.guid, mbox->guid, sizeof(ul.guid));
	} else if (ret < 0) {
		/* missing (-2, new folder) or unusable (-1): fresh UIDVALIDITY and UIDs */
		uidlist_clear(&ul);
		ul.uidvalidity = mstore_next_uidvalidity(mbox->store, old_validity);
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
	if (damaged)
		*dirty_r = true;
	if (!reset && old_validity != 0 && ul.uidvalidity != old_validity) {
		log_warn("store uidvalidity changed by another program mailbox=%s", mbox->name);
		reset = true;
	}
	if (ul.nextuid < mbox->nextuid && !reset && old_validity != 0) {
		/* nextuid only grows, whatever the file says */
		ul.nextuid = mbox->nextuid;
		*dirty_r = true;
	}

	/* known messages: uidlist records whose file exists */
	for (nr = 0; nr < (ret == 0 ? mbox->count : ul.count); nr++) {
		struct uidlist_rec mr;
		const struct uidlist_rec *r;
		size_t idx;
		struct dentry *e;

		if (ret == 0) {
			const struct mbox_msg *m = &mbox->msgs[nr];

			mr.uid = m->uid;
			mr.size = m->size;
			mr.vsize = m->vsize;
			mr.base = (char *)msg_name(m);
			r = &mr;
			idx = scan_find(&s, r->base, msg_base_len(m));
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
		nm.flags = e->md.flags | (e->recent ? MBOX_FLAG_RECENT : 0);
		nm.keywords = e->md.keywords;
		nm.size = e->md.size != MBOX_SIZE_UNKNOWN ? e->md.size : r->size;
		nm.vsize = e->md.vsize != MBOX_SIZE_UNKNOWN ? e->md.vsize : r->vsize;
		nm.filename = arena_path(&na, e->in_new ? "new" : "cur", e->name,
		    strlen(e->name));
		msgs_push(&nmsgs, &ncount, &ncap, &nm);
	}
	/* unknown files get new UIDs in name order */
	for (i = 0; i < s.count; i++) {
		struct dentry *e = &s.e[i];

		if (e->claimed)
			continue;
		if (ul.nextuid == UINT32_MAX) {
			log_error("store UID space exhausted mailbox=%s", mbox->name);
			break;
		}
		memset(&nm, 0, sizeof(nm));
		nm.uid = ul.nextuid++;
		nm.flags = e->md.flags | (e->recent ? MBOX_FLAG_RECENT : 0);
		nm.keywords = e->md.keywords;
		nm.size = e->md.size;
		nm.vsize = e->md.vsize;
		nm.filename = arena_path(&na, e->in_new ? "new" : "cur", e->name,
		    strlen(e->name));
		msgs_push(&nmsgs, &ncount, &ncap, &nm);
		*dirty_r = true;
	}
	scan_free(&s);

	/* install the new state, then tell the listeners what changed */
	{
		struct mbox_msg *old = mbox->msgs;
		size_t ocount = mbox->count;

		mbox->msgs = nmsgs;
		mbox->count = ncount;
		mbox->cap = ncap;
		mbox->uidvalidity = ul.uidvalidity;
		mbox->nextuid = MAX(ul.nextuid, reset ? 1 : mbox->nextuid);
		memcpy(mbox->guid, ul.guid, sizeof(mbox->guid));
		mbox->new_mtime = st_new.st_mtim;
		mbox->cur_mtime = st_cur.st_mtim;
		uidlist_deinit(&ul);

		for (i = 0, j = 0; i < ocount || j < ncount;) {
			if (reset && i < ocount) {
				notify_expunged(mbox, old[i++].uid);
				continue;
			}
			if (reset) {
				notify_appended(mbox, nmsgs[j++].uid);
				continue;
			}
			if (j == ncount || (i < ocount && old[i].uid < nmsgs[j].uid)) {
				notify_expunged(mbox, old[i++].uid);
			} else if (i == ocount || nmsgs[j].uid < old[i].uid) {
				notify_appended(mbox, nmsgs[j++].uid);
			} else {
				struct mbox_msg *n = &nmsgs[j];

				/* same message: keep what we already knew */
				n->flags |= old[i].flags & MBOX_FLAG_RECENT;
				if (n->internaldate == 0)
					n->internaldate = old[i].internaldate;
				if (n->size == MBOX_SIZE_UNKNOWN)
					n->size = old[i].size;
				if (n->vsize == MBOX_SIZE_UNKNOWN)
					n->vsize = old[i].vsize;
				if ((n->flags & ~MBOX_FLAG_RECENT) !=
				    (old[i].flags & ~MBOX_FLAG_RECENT) ||
				    n->keywords != old[i].keywords)
					notify_flags(mbox, n->uid);
				i++;
				j++;
			}
		}
		free(old);
		arena_free(&mbox->names);
		mbox->names = na;
	}
	return STORE_OK;
}

/* Lock, full sync, commit the uidlist if needed. */
static enum store_status
sync_full(struct mbox *mbox)
{
	enum store_status st;
	bool dirty;
	int lockfd;

	/* events queued so far are covered by this scan */
	mstore_notify_drain(mbox->store);
	own_events_clear(mbox);
	mbox->force_sync = false;

	lockfd = uidlist_lock(mbox);
	if (lockfd < 0)
		return STORE_IOERROR;
	st = sync_locked(mbox, &dirty);
	if (st == STORE_OK && dirty)
		return uidlist_commit(mbox, lockfd);
	uidlist_unlock(mbox, lockfd);
	return st;
}

/* True if nothing can have changed since the last full scan. */
static bool
sync_unchanged(struct mbox *mbox)
{
	struct stat sn, sc;
	time_t now = time(NULL);

	if (mbox->force_sync)
		return false;
	if (fstat(mbox->new_fd, &sn) < 0 || fstat(mbox->cur_fd, &sc) < 0)
		return false;
	if (!ts_eq(&sn.st_mtim, &mbox->new_mtime) || !ts_eq(&sc.st_mtim, &mbox->cur_mtime))
		return false;
	/* another program may have renumbered (a new uidlist) without touching the dirs */
	if (mbox->uidlist_st.st_ino != 0 && uidlist_changed(mbox))
		return false;
	/* with inotify watching both directories, every change by others has been seen
	 * by mstore_notify_drain() (called by mbox_sync) */
	if (mbox->wd_new >= 0 && mbox->wd_cur >= 0)
		return true;
	/* a change within the same timestamp tick would not alter the mtime */
	if (mbox->new_mtime.tv_sec >= now - 1 || mbox->cur_mtime.tv_sec >= now - 1)
		return false;
	return true;
}

enum store_status
mbox_sync(struct mbox *mbox)
{
	if (mbox->deleted)
		return STORE_NONEXISTENT;
	mstore_notify_drain(mbox->store);
	keywords_reload(mbox);
	if (sync_unchanged(mbox))
		return STORE_OK;
	mbox->force_sync = false;
	return sync_full(mbox);
}

static bool
uidlist_changed(struct mbox *mbox)
{
	struct stat st;

	if (fstatat(mbox->dir_fd, UIDLIST_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return true;
	return st.st_ino != mbox->uidlist_st.st_ino || st.st_size != mbox->uidlist_st.st_size ||
	    !ts_eq(&st.st_mtim, &mbox->uidlist_st.st_mtim);
}

/* Lock and bring the memory state up to date before a change (another process may
 * have changed the uidlist or directories). Returns the lock fd or -1. */
static int
lock_and_sync(struct mbox *mbox, bool *dirty_r, enum store_status *st_r)
{
	int lockfd;

	*dirty_r = false;
	lockfd = uidlist_lock(mbox);
	if (lockfd < 0) {
		*st_r = STORE_IOERROR;
		return -1;
	}
	/* Only the uidlist matters here: files that appeared without it (an MDA that does
	 * not lock) get their UIDs at the next mbox_sync. Not rescanning a 100,000-file
	 * directory before every APPEND keeps saves cheap. */
	if (mbox->uidlist_st.st_ino == 0 || uidlist_changed(mbox)) {
		mbox->force_sync = false;
		*st_r = sync_locked(mbox, dirty_r);
	} else
		*st_r = STORE_OK;
	if (*st_r != STORE_OK) {
		uidlist_unlock(mbox, lockfd);
		return -1;
	}
	return lockfd;
}

/* After our own change to cur/ or new/: remember the new mtimes so that the next
 * NOOP does not rescan (the 1 s rule in sync_unchanged still covers races). */
static void
remember_mtimes(struct mbox *mbox)
{
	struct stat sn, sc;

	if (fstat(mbox->new_fd, &sn) == 0 && fstat(mbox->cur_fd, &sc) == 0) {
		mbox->new_mtime = sn.st_mtim;
		mbox->cur_mtime = sc.st_mtim;
	}
}

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

static int
open_subdir(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

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
static bool
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
static void
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
static bool
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
static bool
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

/* Remember the RECENT UIDs of a folder being closed (replacing an older entry). */
static void
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
static void
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
static int
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

/* ------------------------------------------------------------------ flags */

static char *
msg_new_filename(const struct mbox_msg *m, uint8_t flags, uint32_t keywords)
{
	struct buf b;

	buf_init(&b, BUF_UNLIMITED);
	buf_append(&b, msg_name(m), msg_base_len(m));
	mdname_format_info(flags, keywords, &b);
	return buf_steal(&b);
}

enum store_status
mbox_store_flags(struct mbox *mbox, uint32_t uid, uint8_t flags, uint32_t keywords)
{
	struct mbox_msg *m;
	char *newname;
	int attempt;
	unsigned int i;

	if (mbox->deleted)
		return STORE_EXPUNGED;
	flags &= (uint8_t)~MBOX_FLAG_RECENT;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if ((keywords & (1u << i)) && mbox->keywords[i] == NULL)
			keywords &= ~(1u << i);	/* undefined index: not stored */
	keywords &= (1u << STORE_KEYWORDS_MAX) - 1;
	for (attempt = 0; attempt < 2; attempt++) {
		m = (struct mbox_msg *)mbox_lookup(mbox, uid, NULL);
		if (m == NULL)
			return STORE_EXPUNGED;
		if ((m->flags & ~MBOX_FLAG_RECENT) == flags && m->keywords == keywords &&
		    m->filename[0] == 'c')
			return STORE_OK;
		newname = msg_new_filename(m, flags, keywords);
		mbox_own_event(mbox, m->filename[0] == 'n', msg_name(m));
		mbox_own_event(mbox, false, newname);
		if (renameat(msg_dirfd(mbox, m), msg_name(m), mbox->cur_fd, newname) == 0) {
			name_release(mbox, m->filename);
			m->filename = arena_path(&mbox->names, "cur", newname, strlen(newname));
			free(newname);
			names_maybe_compact(mbox);
			m->flags = flags | (m->flags & MBOX_FLAG_RECENT);
			m->keywords = keywords;
			remember_mtimes(mbox);
			notify_flags(mbox, uid);
			return STORE_OK;
		}
		free(newname);
		if (errno != ENOENT) {
			log_error("store flag rename failed mailbox=%s uid=%u error=%s",
			    mbox->name, uid, strerror(errno));
			return store_errno_status(errno) == STORE_NONEXISTENT ? STORE_IOERROR :
			    store_errno_status(errno);
		}
		mbox->force_sync = true;
		if (sync_full(mbox) != STORE_OK)
			return STORE_IOERROR;
	}
	return STORE_EXPUNGED;
}

/* ------------------------------------------------------------------ expunge */

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

enum store_status
mbox_expunge(struct mbox *mbox, const uint32_t *uids, size_t count)
{
	enum store_status st;
	uint32_t *sorted, *gone;
	size_t i, j, ngone = 0, kept;
	bool dirty;
	int lockfd;

	if (mbox->deleted)
		return STORE_NONEXISTENT;
	if (count == 0)
		return STORE_OK;
	lockfd = lock_and_sync(mbox, &dirty, &st);
	if (lockfd < 0)
		return st;
	sorted = xcalloc(count, sizeof(*sorted));
	memcpy(sorted, uids, count * sizeof(*uids));
	qsort(sorted, count, sizeof(*sorted), uid_cmp);
	gone = xcalloc(count, sizeof(*gone));
	for (i = 0, j = 0, kept = 0; i < mbox->count; i++) {
		struct mbox_msg *m = &mbox->msgs[i];

		while (j < count && sorted[j] < m->uid)
			j++;
		if (j < count && sorted[j] == m->uid) {
			mbox_own_event(mbox, m->filename[0] == 'n', msg_name(m));
			if (unlinkat(msg_dirfd(mbox, m), msg_name(m), 0) == 0 || errno == ENOENT) {
				gone[ngone++] = m->uid;
				name_release(mbox, m->filename);
				continue;
			}
			log_error("store expunge unlink failed mailbox=%s uid=%u error=%s",
			    mbox->name, m->uid, strerror(errno));
			st = STORE_IOERROR;
		}
		mbox->msgs[kept++] = *m;
	}
	mbox->count = kept;
	names_maybe_compact(mbox);
	if (ngone > 0 || dirty) {
		enum store_status cst = uidlist_commit(mbox, lockfd);

		if (cst != STORE_OK)
			st = cst;
	} else
		uidlist_unlock(mbox, lockfd);
	remember_mtimes(mbox);
	for (i = 0; i < ngone; i++)
		notify_expunged(mbox, gone[i]);
	free(sorted);
	free(gone);
	return st;
}

/* ------------------------------------------------------------------ saving */

struct save_msg {
	char *tmpname;		/* in tmp/ until commit */
	char *final;		/* name in cur/ or new/ after commit */
	uint64_t size, vsize;
	uint8_t flags;
	uint32_t keywords;
	bool moved;		/* renamed out of tmp/ */
};

struct mbox_save {
	struct mbox *mbox;
	unsigned int save_flags;
	struct save_msg *msgs;
	size_t count, cap;
	int fd;			/* current message, -1 if none */
	uint64_t written, extra;
	char last;
	bool failed;
};

struct mbox_save *
mbox_save_begin(struct mbox *mbox, unsigned int save_flags)
{
	struct mbox_save *ctx = xcalloc(1, sizeof(*ctx));

	mbox_ref(mbox);
	ctx->mbox = mbox;
	ctx->save_flags = save_flags;
	ctx->fd = -1;
	return ctx;
}

static struct save_msg *
save_new_msg(struct mbox_save *ctx)
{
	struct save_msg *sm;

	if (ctx->count == ctx->cap) {
		ctx->cap = ctx->cap == 0 ? 4 : ctx->cap * 2;
		ctx->msgs = xreallocarray(ctx->msgs, ctx->cap, sizeof(*ctx->msgs));
	}
	sm = &ctx->msgs[ctx->count++];
	memset(sm, 0, sizeof(*sm));
	return sm;
}

enum store_status
mbox_save_msg_begin(struct mbox_save *ctx)
{
	struct mbox *mbox = ctx->mbox;
	struct save_msg *sm;
	struct buf name;
	int tries, err = 0;

	if (ctx->failed || ctx->fd >= 0)
		panic("mbox_save_msg_begin: previous message not finished");
	if (mbox->deleted)
		return STORE_NONEXISTENT;
	buf_init(&name, 1024);
	for (tries = 0; tries < 100; tries++) {
		buf_reset(&name);
		mstore_unique_name(mbox->store, &name);
		ctx->fd = openat(mbox->tmp_fd, buf_cstr(&name),
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (ctx->fd >= 0 || errno != EEXIST)
			break;
	}
	if (ctx->fd < 0) {
		err = errno;
		log_error("store tmp create failed mailbox=%s error=%s", mbox->name,
		    strerror(err));
		buf_deinit(&name);
		ctx->failed = true;
		return store_errno_status(err) == STORE_NONEXISTENT ? STORE_IOERROR :
		    store_errno_status(err);
	}
	sm = save_new_msg(ctx);
	sm->tmpname = buf_steal(&name);
	ctx->written = ctx->extra = 0;
	ctx->last = '\0';
	return STORE_OK;
}

int
mbox_save_fd(struct mbox_save *ctx)
{
	return ctx->fd;
}

static enum store_status
save_fail(struct mbox_save *ctx, int err, const char *what)
{
	log_error("store save %s failed mailbox=%s error=%s", what, ctx->mbox->name,
	    strerror(err));
	ctx->failed = true;
	return store_errno_status(err) == STORE_NONEXISTENT ? STORE_IOERROR :
	    store_errno_status(err);
}

enum store_status
mbox_save_write(struct mbox_save *ctx, const void *data, size_t len)
{
	const char *p = data;
	size_t i;
	ssize_t n;

	if (ctx->fd < 0 || ctx->failed)
		panic("mbox_save_write without an open message");
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
mbox_save_msg_end(struct mbox_save *ctx, uint8_t flags, uint32_t keywords,
    time_t internaldate)
{
	struct save_msg *sm;
	struct timespec ts[2];
	struct stat st;
	int fd = ctx->fd;

	if (fd < 0 || ctx->failed)
		panic("mbox_save_msg_end without an open message");
	ctx->fd = -1;
	sm = &ctx->msgs[ctx->count - 1];
	if (fstat(fd, &st) < 0) {
		close(fd);
		return save_fail(ctx, errno, "fstat");
	}
	sm->size = (uint64_t)st.st_size;
	if (sm->size == ctx->written)
		sm->vsize = ctx->written + ctx->extra;
	else if (count_vsize(fd, &sm->size, &sm->vsize) < 0) {
		/* the caller wrote through mbox_save_fd(): count by reading back */
		close(fd);
		return save_fail(ctx, errno, "read back");
	}
	sm->flags = flags & (uint8_t)~MBOX_FLAG_RECENT;
	sm->keywords = keywords & ((1u << STORE_KEYWORDS_MAX) - 1);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_sec = internaldate;
	ts[1].tv_nsec = internaldate == 0 ? UTIME_NOW : 0;
	if (futimens(fd, ts) < 0) {
		close(fd);
		return save_fail(ctx, errno, "futimens");
	}
	/* RELIABILITY F-06: an fsync error is final, never retried on this fd */
	if (fsync(fd) < 0) {
		close(fd);
		return save_fail(ctx, errno, "fsync");
	}
	if (close(fd) < 0)
		return save_fail(ctx, errno, "close");
	return STORE_OK;
}

static void
save_cleanup_files(struct mbox_save *ctx)
{
	struct mbox *mbox = ctx->mbox;
	size_t i;
	int dfd = (ctx->save_flags & MBOX_SAVE_DELIVERY) ? mbox->new_fd : mbox->cur_fd;

	if (ctx->fd >= 0) {
		close(ctx->fd);
		ctx->fd = -1;
	}
	for (i = 0; i < ctx->count; i++) {
		struct save_msg *sm = &ctx->msgs[i];

		if (sm->moved)
			(void)unlinkat(dfd, sm->final, 0);
		else if (sm->tmpname != NULL)
			(void)unlinkat(mbox->tmp_fd, sm->tmpname, 0);
	}
}

static void
save_free(struct mbox_save **ctxp)
{
	struct mbox_save *ctx = *ctxp;
	size_t i;

	for (i = 0; i < ctx->count; i++) {
		free(ctx->msgs[i].tmpname);
		free(ctx->msgs[i].final);
	}
	free(ctx->msgs);
	mbox_unref(&ctx->mbox);
	free(ctx);
	*ctxp = NULL;
}

void
mbox_save_abort(struct mbox_save **ctxp)
{
	if (*ctxp == NULL)
		return;
	save_cleanup_files(*ctxp);
	save_free(ctxp);
}

/* Rename every tmp file into place, fsync the directory, assign UIDs, write the
 * uidlist. The uidlist lock is held throughout so no other process numbers our files. */
static enum store_status
save_commit_locked(struct mbox_save *ctx, uint32_t *first_r, uint32_t *last_r)
{
	struct mbox *mbox = ctx->mbox;
	bool delivery = (ctx->save_flags & MBOX_SAVE_DELIVERY) != 0;
	int dfd = delivery ? mbox->new_fd : mbox->cur_fd;
	enum store_status st;
	struct buf b;
	size_t i, old_count;
	uint32_t first;
	bool dirty;
	int lockfd;

	lockfd = lock_and_sync(mbox, &dirty, &st);
	if (lockfd < 0)
		return st;
	if (mbox->nextuid > UINT32_MAX - ctx->count - 1) {
		uidlist_unlock(mbox, lockfd);
		log_error("store UID space exhausted mailbox=%s", mbox->name);
		return STORE_LIMIT;
	}
	buf_init(&b, BUF_UNLIMITED);
	for (i = 0; i < ctx->count; i++) {
		struct save_msg *sm = &ctx->msgs[i];

		buf_reset(&b);
		buf_appendf(&b, "%s,S=%llu,W=%llu", sm->tmpname, (unsigned long long)sm->size,
		    (unsigned long long)sm->vsize);
		if (!delivery)
			mdname_format_info(sm->flags, sm->keywords, &b);
		sm->final = buf_steal(&b);
		mbox_own_event(mbox, delivery, sm->final);
		if (renameat(mbox->tmp_fd, sm->tmpname, dfd, sm->final) < 0) {
			st = save_fail(ctx, errno, "rename");
			buf_deinit(&b);
			uidlist_unlock(mbox, lockfd);
			return st;
		}
		sm->moved = true;
	}
	buf_deinit(&b);
	if (store_fsync_dir(dfd, ".") < 0) {
		st = save_fail(ctx, errno, "fsync dir");
		uidlist_unlock(mbox, lockfd);
		return st;
	}
	/* assign UIDs */
	old_count = mbox->count;
	first = mbox->nextuid;
	for (i = 0; i < ctx->count; i++) {
		struct save_msg *sm = &ctx->msgs[i];
		struct mbox_msg m;

		memset(&m, 0, sizeof(m));
		m.uid = mbox->nextuid++;
		m.flags = MBOX_FLAG_RECENT | (delivery ? 0 : sm->flags);
		m.keywords = delivery ? 0 : sm->keywords;
		m.size = sm->size;
		m.vsize = sm->vsize;
		m.filename = arena_path(&mbox->names, delivery ? "new" : "cur", sm->final,
		    strlen(sm->final));
		msgs_push(&mbox->msgs, &mbox->count, &mbox->cap, &m);
	}
	st = dirty ? uidlist_commit(mbox, lockfd) : uidlist_append(mbox, lockfd, old_count);
	if (st != STORE_OK) {
		/* not acknowledged: remove the files again (nextuid stays grown) */
		for (i = old_count; i < mbox->count; i++)
			name_release(mbox, mbox->msgs[i].filename);
		mbox->count = old_count;
		ctx->failed = true;
		return st;
	}
	remember_mtimes(mbox);
	*first_r = first;
	*last_r = mbox->nextuid - 1;
	for (i = 0; i < ctx->count; i++)
		notify_appended(mbox, first + (uint32_t)i);
	return STORE_OK;
}

enum store_status
mbox_save_commit(struct mbox_save **ctxp, uint32_t *uid_first_r, uint32_t *uid_last_r)
{
	struct mbox_save *ctx = *ctxp;
	enum store_status st;

	*uid_first_r = *uid_last_r = 0;
	if (ctx->fd >= 0 || ctx->failed)
		panic("mbox_save_commit: message not finished or transaction failed");
	if (ctx->mbox->deleted)
		st = STORE_NONEXISTENT;
	else if (ctx->count == 0)
		st = STORE_OK;
	else
		st = save_commit_locked(ctx, uid_first_r, uid_last_r);
	if (st != STORE_OK)
		save_cleanup_files(ctx);
	save_free(ctxp);
	return st;
}

/* ------------------------------------------------------------------ copy */

/* Byte copy of a message into a new tmp file of ctx (hard link impossible). */
static enum store_status
copy_bytes(struct mbox_save *ctx, int srcfd, time_t mtime, uint8_t flags, uint32_t kw)
{
	enum store_status st;
	char b[65536];
	ssize_t n;

	st = mbox_save_msg_begin(ctx);
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
		st = mbox_save_write(ctx, b, (size_t)n);
		if (st != STORE_OK)
			return st;
	}
	return mbox_save_msg_end(ctx, flags, kw, mtime);
}

enum store_status
mbox_copy(struct mbox *src, const uint32_t *uids, size_t count, struct mbox *dst,
    uint32_t *dst_uids_r)
{
	struct mbox_save *ctx;
	enum store_status st = STORE_OK;
	uint32_t first, last;
	uint32_t kwmap[STORE_KEYWORDS_MAX], used;
	unsigned int k, idx;
	size_t i;

	if (src->deleted || dst->deleted)
		return STORE_NONEXISTENT;
	if (count == 0)
		return STORE_OK;
	/* keyword indexes differ between folders: map the ones in use by name */
	used = 0;
	for (i = 0; i < count; i++) {
		const struct mbox_msg *m = mbox_lookup(src, uids[i], NULL);

		if (m != NULL)
			used |= m->keywords;
	}
	for (k = 0; k < STORE_KEYWORDS_MAX; k++) {
		kwmap[k] = 0;
		if (src->keywords[k] == NULL || !(used & (1u << k)))
			continue;
		if (mbox_keyword_add(dst, src->keywords[k], &idx) == STORE_OK)
			kwmap[k] = 1u << idx;
		else
			log_warn("store copy drops keyword mailbox=%s keyword=%s", dst->name,
			    src->keywords[k]);
	}
	ctx = mbox_save_begin(dst, 0);
	for (i = 0; i < count && st == STORE_OK; i++) {
		const struct mbox_msg *m;
		struct save_msg *sm;
		struct buf b;
		uint32_t kw = 0;
		bool linked;
		int fd, tries;

		st = mbox_msg_info(src, uids[i], &m);
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
			if (linkat(msg_dirfd(src, m), msg_name(m), dst->tmp_fd, buf_cstr(&b),
			    0) == 0)
				linked = true;
			else if (errno != EEXIST)
				break;
		}
		if (linked) {
			sm = save_new_msg(ctx);
			sm->tmpname = buf_steal(&b);
			sm->size = m->size;
			sm->vsize = m->vsize;
			sm->flags = m->flags & (uint8_t)~MBOX_FLAG_RECENT;
			sm->keywords = kw;
			continue;
		}
		buf_deinit(&b);
		/* EXDEV, EPERM, EMLINK, ENOENT (renamed meanwhile): copy the bytes */
		st = mbox_msg_open(src, uids[i], &fd);
		if (st != STORE_OK)
			break;
		st = mbox_msg_info(src, uids[i], &m);
		if (st == STORE_OK)
			st = copy_bytes(ctx, fd, m->internaldate, m->flags & (uint8_t)~MBOX_FLAG_RECENT,
			    kw);
		close(fd);
	}
	if (st != STORE_OK) {
		mbox_save_abort(&ctx);
		return st;
	}
	st = mbox_save_commit(&ctx, &first, &last);
	if (st != STORE_OK)
		return st;
	for (i = 0; i < count; i++)
		dst_uids_r[i] = first + (uint32_t)i;
	return STORE_OK;
}
