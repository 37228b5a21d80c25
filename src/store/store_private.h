/*
 * store_private.h — structures and helpers shared by the files of src/store: the user's
 * store (store.c, store_folders.c, store_list.c) and one folder (mailbox*.c,
 * name_arena.c). Internal to src/store and its unit tests; runs in the mail process.
 */
#ifndef BUZON_STORE_PRIVATE_H
#define BUZON_STORE_PRIVATE_H

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store.h"
#include "store/store_format.h"

#define UIDLIST_NAME		"dovecot-uidlist"
#define UIDLIST_LOCK_NAME	"dovecot-uidlist.lock"
#define KEYWORDS_NAME		"dovecot-keywords"
#define SUBSCRIPTIONS_NAME	"subscriptions"
#define UIDVALIDITY_NAME	"dovecot-uidvalidity"
#define MAILDIRFOLDER_NAME	"maildirfolder"
#define DELETED_PREFIX		"..buzon-deleted."	/* never a valid folder dir */
#define LOCK_STALE_SECS		120
/* A "..buzon-deleted.*" directory left by a DELETE whose cleanup failed is removed by
 * the next LIST once it is this old (a younger one may still be emptied by its own
 * DELETE in another process). A variable so the unit tests can set 0. */
extern unsigned mstore_deleted_sweep_secs;
#define TMP_MAX_AGE_SECS	(36 * 3600)

struct commit_pipe;

struct mstore {
	int root_fd;
	char *root_path;
	int inotify_fd;
	struct mailbox *mailboxes;	/* open folders */
	char host[64];			/* hostname for unique file names, sanitized */
	uint32_t seq;			/* Q<seq> of unique names */
	struct recent_cache *recent;	/* \Recent UIDs of folders not open now */
	/* closed folders kept in memory (refcount 0, box->cached) so that the next open
	 * is a stat of the directories instead of a rescan; LRU by cache_seq */
	size_t cache_count, cache_bytes;
	uint64_t cache_seq;
	struct commit_pipe *commit;	/* the commit thread (mailbox_commit.c), or NULL */
	struct mstore_index *index;	/* the LMDB index (mailbox_index.c), opened lazily */
	bool index_off;			/* unusable this run (logged once) */
	bool index_bypass;		/* neither read nor write it (index check) */
	/* mstore_set_folders_cb: the root's inotify watch (-1: none) */
	int wd_root;
	bool folders_changed;
	mstore_folders_cb *folders_cb;
	void *folders_ctx;
	/* mstore_folders_watch: more callbacks of the same kind (JMAP push) */
	struct mstore_folders_watch { mstore_folders_cb *cb; void *ctx; } folders_watch[MSTORE_FOLDERS_WATCH_MAX];
	size_t n_folders_watch;
	/* mstore_release_watch */
	struct mstore_release_watch { mstore_release_cb *cb; void *ctx; }
	    release_watch[MSTORE_FOLDERS_WATCH_MAX];
	size_t n_release_watch;
	/* quota.c: limits (0 = none), warning percent, bytes and messages of transactions
	 * queued for commit (checked against but not yet in maildirsize), MOVE's copy */
	uint64_t quota_storage, quota_messages;
	unsigned int quota_warn;
	uint64_t quota_rsv_bytes, quota_rsv_count;
	bool quota_move;
	/* mstore_set_added_cb */
	mstore_added_cb *added_cb;
	void *added_ctx;
};

/* Bounds of the closed-folder cache: the mail process runs under an RLIMIT_AS
 * (MAIL_RLIMIT_AS in src/mailproc) shared with every session's view of every folder,
 * so the cache takes a small, fixed part of it. A folder costs
 * ~154 bytes a message (72 of struct mailbox_msg, the rest its file name): 20,000 messages
 * ~3.1 MiB, 100,000 ~15 MiB; folders above ~215,000 messages are not kept. */
#define MAILBOX_CACHE_MAX_FOLDERS	16
#define MAILBOX_CACHE_MAX_BYTES		(32u * 1024 * 1024)

/* RECENT flags of a closed folder, restored when it is opened again. */
struct recent_cache {
	struct recent_cache *next;
	char *name;
	uint32_t uidvalidity;
	uint32_t *uids;
	size_t count;
};

/* File names of a folder's messages ("cur/<name>"), in chunks that never move; names
 * replaced or dropped are garbage until the arena is rebuilt. */
struct name_chunk {
	struct name_chunk *next;
	size_t size, used;
	char data[];
};

struct name_arena {
	struct name_chunk *head;
	size_t bytes;			/* handed out, including garbage */
	size_t garbage;			/* of which no longer referenced */
};

struct own_event {
	uint64_t hash;
	size_t off;			/* name in box->own_names */
	uint32_t len;
	bool is_new;
	bool live;			/* not matched yet */
};

/* An expunged UID, the MODSEQ of its expunge (QRESYNC) and its EMAILID (JMAP
 * Email/changes tells destroyed Emails: index format 5). */
struct mailbox_expunge {
	uint32_t uid;
	uint64_t modseq;
	uint64_t emailid;
};
#define MAILBOX_EXPUNGES_MAX	10000	/* kept per folder; older ones are forgotten */

struct mailbox_listener {
	struct mailbox_listener *next;
	const struct mailbox_listener_ops *ops;
	void *ctx;
	bool lazy;		/* waits for the messages (mailbox_listen_lazy) */
};

struct mailbox {
	struct mstore *store;
	struct mailbox *next;
	unsigned int refcount;
	char *name;			/* canonical mailbox name */
	char *dirname;			/* "." for INBOX, ".Name" otherwise */
	int dir_fd;			/* the folder directory */
	int cur_fd, new_fd, tmp_fd;	/* its subdirectories, opened O_NOFOLLOW */
	int wd_new, wd_cur;		/* inotify watches or -1 */
	bool deleted;
	bool force_sync;
	bool cached;			/* closed (refcount 0), kept in the cache */
	uint64_t cache_seq;		/* LRU order while cached */
	size_t cache_bytes;		/* memory estimate while cached */
	dev_t dir_dev;			/* identity of dir, cur/, new/ at open time: a */
	ino_t dir_ino, cur_ino, new_ino;	/* cached folder replaced meanwhile is reopened */
	/* inotify events our own renames/unlinks will cause (name in new/ or cur/):
	 * matched and ignored so our own changes do not trigger rescans. A multiset: the
	 * records in order, their names in one arena, an open-addressing hash on top. */
	struct own_event *own_ev;
	size_t n_own, own_cap, own_live, own_since_drain;
	char *own_names;
	size_t own_names_len, own_names_cap;
	uint32_t *own_tab;		/* index + 1 into own_ev; 0 = empty */
	size_t own_tabsize;		/* power of two, 0 if none */
	bool own_overflow;

	/* what the last full scan saw */
	struct timespec new_mtime, cur_mtime;
	struct stat uidlist_st;		/* st_ino 0 if never read */
	struct stat keywords_st;

	uint32_t uidvalidity, nextuid;
	char guid[33];
	/* The messages in UID order. NULL while msgs_lazy: opened from a trusted snapshot
	 * (mailbox_index.c), count, UIDNEXT and the summary come from its header `lazy`,
	 * and every function that reads or changes the messages calls mailbox_msgs_load
	 * first (MAILBOX_MSGS asserts it), so a path that forgets crashes in the tests. */
	struct mailbox_msg *msgs;
	size_t count, cap;
	bool msgs_lazy;
	struct index_hdr lazy;		/* the snapshot header while msgs_lazy */
	struct name_arena names;	/* msgs[].filename */
	/* EMAILID lookup (mailbox_emailid.c): positions in msgs by emailid, covering
	 * msgs[0 .. eid_count) while eid_gen == msgs_gen; msgs_gen is raised by every
	 * change of msgs other than an append at its end (mailbox_msgs_changed) */
	uint64_t msgs_gen, eid_gen;
	uint32_t *eid_tab;		/* index + 1 into msgs; 0 = empty */
	size_t eid_tabsize;		/* power of two, 0 if none */
	size_t eid_count;
	char *keywords[STORE_KEYWORDS_MAX];
	struct mailbox_listener *listeners;

	/* group commit (mailbox_commit.c) */
	bool commit_busy;		/* a commit holds the uidlist lock: no rescans now */
	bool uidlist_stale;		/* records of expunged messages still in the uidlist */
	bool rewrite_queued;		/* a uidlist rewrite request is pending */

	/* MODSEQ (RFC 7162) and the persistent index (mailbox_index.c) */
	uint64_t highestmodseq;
	uint64_t modseq_ceiling;	/* reserved in the index: no restart goes below */
	struct mailbox_expunge *expunges;	/* ascending modseq, at most _MAX */
	size_t n_expunges, expunges_cap;
	uint64_t expunge_forgotten;	/* highest modseq of a dropped expunge record */
	time_t synced_at;		/* when the last full scan stat'ed new/ and cur/ */
	bool index_dirty;		/* changed since the last snapshot */
	bool index_preloaded;		/* state came from an untrusted snapshot */
	bool hdr_prune;			/* expunges: drop their cached header fields */
	uint32_t index_fid;		/* folder id in the index, 0 if not known yet */
	/* header fields and rendered items to write (mailbox_hdrcache_put, mailbox_items_put):
	 * uid, item << 24 | len, kind, uidvalidity, bytes */
	unsigned char *hdr_pend;
	size_t hdr_pend_len, hdr_pend_cap;
};

/* One message of a save transaction (mailbox_save.c, mailbox_commit.c). */
struct save_msg {
	char *tmpname;		/* in tmp/ until commit */
	char *final;		/* name in cur/ or new/ after commit */
	int fd;			/* open tmp file not yet fsync'ed, or -1 */
	bool needs_sync;	/* fsync still due (through fd, or by name if fd is -1) */
	uint64_t size, vsize;
	uint8_t flags;
	uint32_t keywords;
	bool moved;		/* renamed out of tmp/ */
	uint64_t emailid;	/* a copy's source's (kept, RFC 8474), 0: from the name */
	int err;		/* errno of a failed fsync/rename in the commit thread */
};

/* Files of a transaction kept open for the commit thread's fsync; beyond this many the
 * thread opens the tmp file by name (docs/formats.md, Saving). */
#define SAVE_OPEN_FILES_MAX	32

struct mailbox_save {
	struct mailbox *box;
	unsigned int save_flags;
	struct save_msg *msgs;
	size_t count, cap;
	int fd;			/* current message, -1 if none */
	size_t open_files;	/* msgs[].fd >= 0 */
	uint64_t written, extra;
	char last;
	bool failed;
	uint64_t quota_bytes;	/* sizes of msgs[] so far (quota.c) */
	bool quota_exempt;	/* MOVE's copy, MAILBOX_SAVE_NOQUOTA */
	bool quota_reserved;	/* counted in store->quota_rsv_* until finished */
};

/* Names of existing folders (store_list.c). */
struct mstore_namelist {
	char **names;
	size_t count, cap;
};

/* ---------------------------------------------------------------- inline helpers */

/* A message's file name in its directory (msgs[].filename without "cur/" or "new/"). */
static inline const char *
mailbox_msg_name(const struct mailbox_msg *m)
{
	return m->filename + 4;		/* skip "cur/" or "new/" */
}

/* The fd of the directory (new/ or cur/) a message's file is in. */
static inline int
mailbox_msg_dirfd(const struct mailbox *box, const struct mailbox_msg *m)
{
	return m->filename[0] == 'n' ? box->new_fd : box->cur_fd;
}

/* Length of a message's base name (its file name without ":2,<flags>"). */
static inline size_t
mailbox_msg_base_len(const struct mailbox_msg *m)
{
	const char *n = mailbox_msg_name(m), *c = strchr(n, ':');

	return c == NULL ? strlen(n) : (size_t)(c - n);
}

static inline bool
mstore_ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* FNV-1a, for the scan's base-name hash and the own-event hash. */
static inline uint64_t
mstore_hash_bytes(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The loaded message array of box (mailbox_msgs_load must have run): every direct use
 * of box->msgs in src/store goes through this, so a forgotten load aborts at once. */
#define MAILBOX_MSGS(box)	(mailbox_msgs_assert(box), (box)->msgs)
static inline void
mailbox_msgs_assert(const struct mailbox *box)
{
	if (box->msgs_lazy)
		abort();
}

/* ---------------------------------------------------------------- store.c */

/* Resolve a validated, canonical name to its folder directory name ("." or ".x.y"). */
char *mstore_dirname(const char *canonical_name);
/* Canonical form: "INBOX" (any case) or "INBOX.x" prefix -> "INBOX". Caller frees. */
char *mstore_canonical(const char *name);
/* Next UIDVALIDITY for a new/reset folder: max(now, last + 1), persisted. 0 on error. */
uint32_t mstore_next_uidvalidity(struct mstore *store, uint32_t at_least);
/* Unique base name "<secs>.M<usec>P<pid>Q<seq>R<rand>.<host>" into out. */
void mstore_unique_name(struct mstore *store, struct buf *out);
/* fsync a directory given relative to dirfd ("cur", "." ...); 0 or -1 (logged). */
int mstore_fsync_dir(int dirfd, const char *path);
/* Map errno to a status. */
enum store_status mstore_errno_status(int err);
/* Read a small control file relative to dirfd (O_NOFOLLOW, regular files only).
 * Returns 1 read (data malloc'd into out), 0 missing, -1 error (errno). */
int mstore_read_file(int dirfd, const char *name, size_t max, struct buf *out,
    struct stat *st_r);
/* Write all of p[0..len) to fd, resuming after EINTR and short writes. Returns 0, or the
 * errno value of the failure (EIO for a write that wrote nothing). */
int mstore_write_full(int fd, const void *p, size_t len);
/* Atomically replace dirfd/name with data: temp + fsync + rename + fsync(dir). */
int mstore_write_file(struct mstore *store, int dirfd, const char *name, const void *data,
    size_t len);
/* Create cur/ new/ tmp/ (0700) inside the folder directory fd; existing ones are fine.
 * 0 or -1 (errno). */
int mstore_make_subdirs(int fd);

/* ---------------------------------------------------------------- store_folders.c */

/* 1 selectable folder, 2 directory without cur/ (noselect), 0 missing, -1 error. */
int mstore_folder_stat(struct mstore *store, const char *dirname);
/* Create one folder directory (".a.b") with cur/ new/ tmp/ and maildirfolder. */
enum store_status mstore_folder_create_one(struct mstore *store, const char *dir);

/* ---------------------------------------------------------------- store_list.c */

/* All existing folder names (not INBOX) from the root directory, sorted, unique,
 * appended to l. Free with mstore_namelist_free. */
enum store_status mstore_folder_names(struct mstore *store, struct mstore_namelist *l);
void mstore_namelist_free(struct mstore_namelist *l);

/* ---------------------------------------------------------------- mailbox.c */

void mailbox_free_internal(struct mailbox *box);
/* Forget a folder nobody holds (not in the cache): its recent state is kept for the next
 * open unless it was deleted, it leaves the store's list and is freed. */
void mailbox_discard(struct mailbox *box);
/* The folder was deleted underneath open mailboxes: expunge everything, mark deleted. */
void mailbox_mark_deleted(struct mailbox *box);
/* W= size of an open file (read from the start): size plus one for every LF not
 * preceded by CR. 0, or -1 (errno). */
int mailbox_count_vsize(int fd, uint64_t *size_r, uint64_t *vsize_r);

/* ---------------------------------------------------------------- name_arena.c */

/* n bytes that never move, freed with the whole arena. */
char *name_arena_alloc(struct name_arena *a, size_t n);
/* "<dir>/<name>" (dir is "cur" or "new") copied into the arena, NUL-terminated. */
char *name_arena_path(struct name_arena *a, const char *dir, const char *name, size_t len);
char *name_arena_strdup(struct name_arena *a, const char *s);
void name_arena_free(struct name_arena *a);
/* A message's file name is no longer used (replaced, or the message dropped). */
void mailbox_name_release(struct mailbox *box, const char *filename);
/* Rebuild the arena with only the names in use. */
void mailbox_names_compact(struct mailbox *box);
/* Rebuild the arena once most of it is garbage (many flag renames without a rescan). */
void mailbox_names_maybe_compact(struct mailbox *box);

/* ---------------------------------------------------------------- mailbox_notify.c */

/* Tell every listener of box about one change. */
void mailbox_notify_expunged(struct mailbox *box, uint32_t uid, uint64_t emailid);
void mailbox_notify_appended(struct mailbox *box, uint32_t uid);
void mailbox_notify_delivered(struct mailbox *box, uint32_t uid);
void mailbox_notify_flags(struct mailbox *box, uint32_t uid);
void mailbox_notify_keyword(struct mailbox *box, unsigned int idx);
/* The messages were loaded: every lazy listener builds its state now (ops->loaded),
 * before anything can change them. */
void mailbox_notify_loaded(struct mailbox *box);
/* Record that we are about to rename/unlink `name` in new/ (is_new) or cur/. */
void mailbox_own_event(struct mailbox *box, bool is_new, const char *name);
/* True (and forget it) if the event was one of ours. */
bool mailbox_own_event_match(struct mailbox *box, bool is_new, const char *name);
/* Forget every record and stop ignoring events (a full scan covers them). */
void mailbox_own_events_clear(struct mailbox *box);
void mailbox_own_events_free(struct mailbox *box);
/* inotify watch descriptor handling */
void mailbox_notify_add(struct mailbox *box);
void mailbox_notify_remove(struct mailbox *box);
/* Read pending inotify events (non-blocking) and set force_sync on the mailboxes that
 * others changed; our own changes are recognised and ignored. */
void mstore_notify_drain(struct mstore *store);

/* ---------------------------------------------------------------- mailbox_uidlist.c */

/* Take the uidlist dotlock (waits up to LOCK_WAIT_MS). Returns the lock fd or -1. */
int mailbox_uidlist_lock(struct mailbox *box);
/* Release the lock (fd < 0: nothing). */
void mailbox_uidlist_unlock(struct mailbox *box, int fd);
/* Write the memory state into the lock file and rename it over the uidlist; this also
 * releases the lock. Returns STORE_OK or an error (lock released, old uidlist kept). */
enum store_status mailbox_uidlist_commit(struct mailbox *box, int lockfd);
/* Read the uidlist into ul if it changed on disk (or always if force). 1 read,
 * 0 unchanged, -1 unusable (logged; header lost), -2 missing in a new folder.
 * *damaged_r set if lines were dropped. */
int mailbox_uidlist_read(struct mailbox *box, struct uidlist *ul, bool force, bool *damaged_r);
/* True if the uidlist file differs (inode, size, mtime) from the one last read. */
bool mailbox_uidlist_changed(struct mailbox *box);

/* ---------------------------------------------------------------- mailbox_save.c */

/* Remove the files of a failed or aborted transaction (tmp/ or moved) and close fds. */
void mailbox_save_cleanup_files(struct mailbox_save *ctx);
/* Free the transaction (files must have been committed or cleaned up). */
void mailbox_save_free(struct mailbox_save **ctx);

/* ---------------------------------------------------------------- mailbox_commit.c */

/* Queue a rewrite of box's uidlist (records of expunged messages) for the next group.
 * Without the commit thread the caller rewrites it itself. Returns false then. */
bool mailbox_commit_rewrite(struct mailbox *box);
/* Finish every queued and running commit (blocking; mstore_close, synchronous saves). */
void mstore_commit_drain(struct mstore *store);
/* True when saves go through the commit thread. */
bool mstore_commit_async(const struct mstore *store);
/* Stop the commit thread (after mstore_commit_drain). */
void mstore_commit_stop(struct mstore *store);
/* The uidlist lock of box if the commit pipeline kept it between two groups (handed
 * over to the caller, who unlocks or commits it as usual), else -1. */
int mstore_commit_take_lock(struct mailbox *box);

/* ---------------------------------------------------------------- mailbox_keywords.c */

/* Re-read dovecot-keywords if it changed; new names are told to the listeners. */
void mailbox_keywords_reload(struct mailbox *box);

/* ---------------------------------------------------------------- mailbox_sync.c */

/* Lock, full sync, commit the uidlist if needed. */
enum store_status mailbox_sync_full(struct mailbox *box);
/* Lock and bring the memory state up to date before a change. Returns the lock fd,
 * or -1 with *st_r set. *dirty_r: the uidlist must be rewritten, not appended to. */
int mailbox_lock_and_sync(struct mailbox *box, bool *dirty_r, enum store_status *st_r);
/* After our own change to cur/ or new/: remember the new directory mtimes. */
void mailbox_remember_mtimes(struct mailbox *box);
/* Append *m to a growing message array. */
void mailbox_msgs_push(struct mailbox_msg **arr, size_t *count, size_t *cap,
    const struct mailbox_msg *m);

/* ---------------------------------------------------------------- mailbox_index.c */

/* Load the folder's snapshot into a box that has no messages yet (mailbox_open).
 * Returns 1 if the snapshot is current and trusted (box fully set up: no scan needed;
 * with lazy, the messages are left unloaded: box->msgs_lazy, count and the summary
 * from the header, mailbox_index_load_msgs reads them later),
 * 0 if the old state was loaded as a starting point that a full scan must check
 * (sizes, dates and MODSEQs reused, MODSEQs continue above the stored ones), -1 if
 * nothing was loaded (no index, no record, or a bad one: logged and dropped). */
int mailbox_index_load(struct mailbox *box, bool lazy);
/* The messages of the snapshot a lazy mailbox_index_load trusted. 1 loaded (the box is
 * exactly as at the open), -1 if the stored snapshot changed meanwhile (another
 * process wrote it) or is bad (logged, dropped): box has no messages then, and the
 * caller scans the directories. */
int mailbox_index_load_msgs(struct mailbox *box);
/* Write the folder's snapshot if it changed (no fsync; the index is a cache). */
void mailbox_index_write(struct mailbox *box);
/* Raise the MODSEQ ceiling kept in the index above box->highestmodseq (a small write
 * once per MAILBOX_MODSEQ_RESERVE changes), so that an unclean exit never hands out a
 * MODSEQ twice. */
void mailbox_index_reserve(struct mailbox *box);
/* Forget the records of folder `name` (and "name.*" if children): deleted or renamed. */
void mstore_index_drop(struct mstore *store, const char *name, bool children);
/* Sync and close the index (mstore_close). */
void mstore_index_close(struct mstore *store);
#define MAILBOX_HDRCACHE_BATCH	(1024 * 1024)	/* queued header bytes written at once */
/* Write the queued header fields now. */
void mailbox_hdrcache_flush(struct mailbox *box);
/* Record an expunge with its modseq, keeping at most MAILBOX_EXPUNGES_MAX. */
void mailbox_expunge_record(struct mailbox *box, uint32_t uid, uint64_t modseq,
    uint64_t emailid);

/* ---------------------------------------------------------------- mailbox_emailid.c */

/* The message array changed other than by an append at its end (messages removed,
 * replaced, reloaded): the EMAILID table is built again at its next use. Every such
 * change calls this. */
void mailbox_msgs_changed(struct mailbox *box);
void mailbox_emailid_free(struct mailbox *box);
/* Heap bytes of the table (the closed-folder cache counts them). */
size_t mailbox_emailid_mem(const struct mailbox *box);

/* ---------------------------------------------------------------- mailbox_cache.c */

/* Record the identity of the folder directory and its cur/ new/ (at open). */
bool mailbox_remember_identity(struct mailbox *box);
/* Free a closed folder (cached or not; refcount 0). */
void mailbox_cache_evict(struct mailbox *box);
/* Take a cached folder out of the cache for reuse; false if it must be reopened. */
bool mailbox_cache_take(struct mailbox *box);
/* Keep a folder whose last reference went; false if it is not to be kept. */
bool mailbox_cache_put(struct mailbox *box);
/* Free cached (closed) folders: all of them (name NULL), or those named `name` and, if
 * children, its subfolders "name.*". Never touches folders that are still open. */
void mstore_cache_drop(struct mstore *store, const char *name, bool children);
/* Remember the RECENT UIDs of a folder being closed (replacing an older entry). */
void mailbox_recent_save(struct mailbox *box);
/* Give an opened folder back the RECENT flags it had when it was closed. */
void mailbox_recent_restore(struct mailbox *box);

/* Remove a leftover DELETED_PREFIX directory of the root (store_folders.c). */
void mstore_sweep_deleted(struct mstore *store, const char *name);

/* ---------------------------------------------------------------- quota.c */

/* STORE_OVERQUOTA if the usage plus what is queued plus bytes/count would pass a
 * limit; STORE_OK (also when the quota is off or the usage cannot be read: logged). */
enum store_status mstore_quota_check(struct mstore *store, uint64_t bytes, uint64_t count);
/* A transaction enters the commit queue: count it as reserved. */
void mstore_quota_reserve(struct mailbox_save *ctx);
/* A transaction left the queue: release its reservation; if committed, add its bytes
 * and messages to maildirsize. */
void mstore_quota_finish(struct mailbox_save *ctx, bool committed);
/* Add a delta line to maildirsize (if the quota is on and the file exists). */
void mstore_quota_update(struct mstore *store, int64_t bytes, int64_t count);
/* Messages went away in bulk (folder deleted): remove maildirsize, so the next read
 * counts again. */
void mstore_quota_invalidate(struct mstore *store);

#endif
