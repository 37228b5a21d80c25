/*
 * store_private.h — structures and helpers shared by store.c (the user's folder tree)
 * and mbox.c (one open folder). Internal to src/store; runs in the mail process.
 */
#ifndef BUZON_STORE_PRIVATE_H
#define BUZON_STORE_PRIVATE_H

#include <sys/stat.h>

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
#define TMP_MAX_AGE_SECS	(36 * 3600)

struct mstore {
	int root_fd;
	char *root_path;
	int inotify_fd;
	struct mbox *mboxes;		/* open folders */
	char host[64];			/* hostname for unique file names, sanitized */
	uint32_t seq;			/* Q<seq> of unique names */
	struct recent_cache *recent;	/* \Recent UIDs of folders not open now */
	/* closed folders kept in memory (refcount 0, mbox->cached) so that the next open
	 * is a stat of the directories instead of a rescan; LRU by cache_seq */
	size_t cache_count, cache_bytes;
	uint64_t cache_seq;
};

/* Bounds of the closed-folder cache: the mail process runs under an RLIMIT_AS
 * (MAIL_RLIMIT_AS in src/mailproc) shared with every session's view of every folder,
 * so the cache takes a small, fixed part of it. A folder costs
 * ~130 bytes a message (48 of struct mbox_msg, the rest its file name): 20,000 messages
 * ~2.6 MiB, 100,000 ~13 MiB; folders above ~250,000 messages are not kept. */
#define MBOX_CACHE_MAX_FOLDERS	16
#define MBOX_CACHE_MAX_BYTES	(32u * 1024 * 1024)

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
	size_t off;			/* name in mbox->own_names */
	uint32_t len;
	bool is_new;
	bool live;			/* not matched yet */
};

struct mbox_listener {
	struct mbox_listener *next;
	const struct mbox_listener_ops *ops;
	void *ctx;
};

struct mbox {
	struct mstore *store;
	struct mbox *next;
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
	struct mbox_msg *msgs;
	size_t count, cap;
	struct name_arena names;	/* msgs[].filename */
	char *keywords[STORE_KEYWORDS_MAX];
	struct mbox_listener *listeners;
};

/* store.c */
/* Resolve a validated, canonical name to its folder directory name ("." or ".x.y"). */
char *mstore_dirname(const char *canonical_name);
/* Canonical form: "INBOX" (any case) or "INBOX.x" prefix -> "INBOX". Caller frees. */
char *mstore_canonical(const char *name);
/* Next UIDVALIDITY for a new/reset folder: max(now, last + 1), persisted. 0 on error. */
uint32_t mstore_next_uidvalidity(struct mstore *store, uint32_t at_least);
/* Unique base name "<secs>.M<usec>P<pid>Q<seq>R<rand>.<host>" into out. */
void mstore_unique_name(struct mstore *store, struct buf *out);
/* fsync a directory given relative to dirfd ("cur", "." ...); 0 or -1 (logged). */
int store_fsync_dir(int dirfd, const char *path);
/* Map errno to a status. */
enum store_status store_errno_status(int err);
/* Read a small control file relative to dirfd (O_NOFOLLOW, regular files only).
 * Returns 1 read (data malloc'd into out), 0 missing, -1 error (errno). */
int store_read_file(int dirfd, const char *name, size_t max, struct buf *out,
    struct stat *st_r);
/* Atomically replace dirfd/name with data: temp + fsync + rename + fsync(dir). */
int store_write_file(struct mstore *store, int dirfd, const char *name, const void *data,
    size_t len);

/* Read pending inotify events (non-blocking) and set force_sync on the mboxes that
 * others changed; our own changes are recognised and ignored. */
void mstore_notify_drain(struct mstore *store);

/* mbox.c */
/* Record that we are about to rename/unlink `name` in new/ (is_new) or cur/. */
void mbox_own_event(struct mbox *mbox, bool is_new, const char *name);
/* True (and forget it) if the event was one of ours. */
bool mbox_own_event_match(struct mbox *mbox, bool is_new, const char *name);
void mbox_free_internal(struct mbox *mbox);
/* The folder was deleted underneath open mboxes: expunge everything, mark deleted. */
void mbox_mark_deleted(struct mbox *mbox);
/* inotify watch descriptor handling */
void mbox_notify_add(struct mbox *mbox);
void mbox_notify_remove(struct mbox *mbox);
/* Free cached (closed) folders: all of them (name NULL), or those named `name` and, if
 * children, its subfolders "name.*". Never touches folders that are still open. */
void mstore_cache_drop(struct mstore *store, const char *name, bool children);

#endif
