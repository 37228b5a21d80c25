/*
 * store.h — the Maildir++ mail store of one user: folders, messages, flags, keywords,
 * UIDs (Dovecot-compatible dovecot-uidlist v3, dovecot-keywords, subscriptions),
 * durable saves, copies, expunges and change notification. Runs inside the per-user
 * mail process, which already has the mailbox owner's uid; one process serves all
 * IMAP/POP3 sessions of that user, so the objects here are shared by those sessions and
 * tell each of them (listeners) about every change. No event loop code: the caller polls
 * mstore_notify_fd() and calls mstore_notify_process().
 *
 * Security role: every path is built from a validated mailbox name (a name, never a path)
 * and opened relative to directory fds with O_NOFOLLOW; symlinks are never followed;
 * files are created 0600, directories 0700. Mailbox names at this API are modified
 * UTF-7 (RFC 3501 §5.1.3) with '.' as the hierarchy separator, exactly as over IMAP4rev1;
 * "INBOX" is matched case-insensitively. Not thread-safe (one event loop per process).
 *
 * Error convention: functions return enum store_status. STORE_OK is 0; every other value
 * is a failure whose details (paths, errno) have already been logged by the store, so the
 * caller only maps the status to a protocol reply (store_status_str() gives a short text
 * safe for clients).
 */
#ifndef BUZON_STORE_H
#define BUZON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum store_status {
	STORE_OK = 0,
	STORE_NONEXISTENT,	/* no such mailbox (IMAP [NONEXISTENT]) */
	STORE_EXISTS,		/* mailbox already exists ([ALREADYEXISTS]) */
	STORE_BADNAME,		/* invalid mailbox/keyword name ([CANNOT] or BAD) */
	STORE_CANNOT,		/* not allowed: delete INBOX, rename onto itself... ([CANNOT]) */
	STORE_NOSELECT,		/* mailbox exists only as a \Noselect level ([NONEXISTENT]) */
	STORE_LIMIT,		/* a limit: 26 keywords, name length, depth ([LIMIT]) */
	STORE_EXPUNGED,		/* message no longer exists ([EXPUNGEISSUED]) */
	STORE_OVERQUOTA,	/* EDQUOT ([OVERQUOTA]) */
	STORE_NOSPACE,		/* ENOSPC ([UNAVAILABLE], temporary) */
	STORE_IOERROR,		/* any other environment error ([SERVERBUG]), logged */
};

/* Short client-safe text for a status ("Mailbox does not exist", ...). Static string. */
const char *store_status_str(enum store_status st);

/* Limits (docs/security.md, Limits: mailbox names, keywords). */
#define STORE_NAME_MAX		1024	/* bytes of a whole mailbox name */
#define STORE_COMPONENT_MAX	255	/* bytes of one hierarchy level */
#define STORE_DEPTH_MAX		32	/* hierarchy levels */
#define STORE_KEYWORDS_MAX	26	/* Maildir letters a..z */
#define STORE_KEYWORD_LEN_MAX	50
#define STORE_SEP		'.'	/* IMAP hierarchy separator == Maildir++ separator */

/* ---------------------------------------------------------------- the user's store */

struct mstore;
struct mailbox;

/*
 * Open the Maildir++ root at root_path (absolute or relative to the cwd), creating it
 * (and cur/ new/ tmp/) 0700 if missing. Call it as the mailbox owner, never as root:
 * the missing levels are created with the caller's rights, wherever they are. An
 * existing root may be reached through symlinks (it is configured by the administrator);
 * a root created here is opened O_NOFOLLOW, and nothing below it is followed. Sets umask
 * 077.
 * Returns 0 and *store_r (free with mstore_close), or -1 and *err_r (static text).
 */
int mstore_open(const char *root_path, struct mstore **store_r, const char **err_r);
/* Close the store; every mailbox must have been unreferenced before (panics otherwise).
 * Closed folders kept in the cache (see mailbox_unref) are freed here. */
void mstore_close(struct mstore **store);

/* The Maildir++ root directory (borrowed, O_NOFOLLOW): for files of the store's
 * users that are not folders (JMAP uploads, docs/jmap.md); never a '.' name there. */
int mstore_root_fd(const struct mstore *store);

/* Validate a mailbox name (mUTF-7, '.' separator). A trailing '.' is NOT accepted here;
 * mstore_create strips one first. Returns STORE_OK, STORE_BADNAME or STORE_LIMIT. */
enum store_status mstore_name_check(const char *name);

/* Attributes of a listed folder (RFC 3501 §7.2.2, RFC 3348, RFC 6154, RFC 5258). */
#define MSTORE_ATTR_NOSELECT		0x0001	/* missing intermediate level / deleted parent */
#define MSTORE_ATTR_HASCHILDREN		0x0002
#define MSTORE_ATTR_HASNOCHILDREN	0x0004
#define MSTORE_ATTR_SUBSCRIBED		0x0008
#define MSTORE_ATTR_SENT		0x0010
#define MSTORE_ATTR_DRAFTS		0x0020
#define MSTORE_ATTR_TRASH		0x0040
#define MSTORE_ATTR_JUNK		0x0080
#define MSTORE_ATTR_ARCHIVE		0x0100
#define MSTORE_ATTR_NONEXISTENT		0x0200	/* only subscribed, does not exist (RFC 5258) */

struct mstore_folder {
	char *name;		/* mUTF-7, '.'-separated; "INBOX" for the root */
	unsigned int attrs;	/* MSTORE_ATTR_* */
};

/*
 * All folders: INBOX first, then the rest sorted bytewise by name, including \Noselect
 * intermediate levels ("a" for an existing "a.b" without ".a") and, flagged
 * NONEXISTENT|NOSELECT, subscribed names that do not exist. Folder directories whose
 * names are invalid, symlinks, or not directories are skipped. Caller frees the array
 * with mstore_list_free(). The IMAP layer applies reference/pattern matching.
 */
enum store_status mstore_list(struct mstore *store, struct mstore_folder **list_r,
    size_t *count_r);
void mstore_list_free(struct mstore_folder *list, size_t count);

/*
 * Create a folder (and missing parents). One trailing '.' is allowed and ignored
 * (RFC 3501 §6.3.3). STORE_EXISTS if it already exists (a \Noselect level becomes
 * selectable instead). INBOX always exists.
 */
enum store_status mstore_create(struct mstore *store, const char *name);
/*
 * Delete a folder. INBOX: STORE_CANNOT. A folder with children loses its messages and
 * becomes \Noselect (RFC 3501 §6.3.4); a \Noselect level that still has children:
 * STORE_CANNOT; a \Noselect level without children is removed. Open mailboxes of the
 * deleted folder see all their messages expunged and report mailbox_is_deleted().
 */
enum store_status mstore_delete(struct mstore *store, const char *name);
/*
 * Rename a folder with its children (RFC 3501 §6.3.5). Renaming INBOX moves its
 * messages into the new folder (with fresh UIDs there) and leaves INBOX empty.
 * STORE_EXISTS if the new name exists, STORE_NONEXISTENT if the old one does not.
 * Subscriptions are not changed (as Dovecot). Must not be called while a mailbox of the
 * renamed folder or its children is open (other than INBOX): STORE_CANNOT then.
 */
enum store_status mstore_rename(struct mstore *store, const char *oldname,
    const char *newname);

/* Subscriptions ("subscriptions" file, Dovecot v2 format; v1 is read too). */
/* Caller frees each name and the array with mstore_names_free(). Sorted. */
enum store_status mstore_subscriptions(struct mstore *store, char ***names_r,
    size_t *count_r);
void mstore_names_free(char **names, size_t count);
/* Add or remove one name (validated; need not exist, RFC 3501 §6.3.6). Idempotent. */
enum store_status mstore_subscribe(struct mstore *store, const char *name, bool on);

/* Create Sent, Drafts, Trash, Junk, Archive if absent and subscribe them (first login). */
enum store_status mstore_ensure_special_use(struct mstore *store);

/*
 * Special-use attributes (RFC 6154) come from a folder's name (the five above, at the top
 * level) and, for any folder, from its METADATA entry /private/specialuse
 * (METADATA_SPECIALUSE_ENTRY in store/metadata.h: CREATE ... (USE (...)), RFC 6154 §3
 * and §4), whose attributes mstore_list adds. The entry's value is the attribute names
 * separated by spaces.
 */
#define MSTORE_ATTR_SPECIAL_USE		(MSTORE_ATTR_SENT | MSTORE_ATTR_DRAFTS | \
					 MSTORE_ATTR_TRASH | MSTORE_ATTR_JUNK | \
					 MSTORE_ATTR_ARCHIVE)
#define MSTORE_SPECIAL_USE_TEXT_MAX	64	/* the formatted list of all five, with NUL */
/* The MSTORE_ATTR_* bits of the attribute names s[0..len) ("\Drafts \Sent", case-
 * insensitive, separated by spaces; empty is 0). Returns 0, or -1 when a name is not one
 * of the five (\All, \Flagged and others are not kept). */
int mstore_special_use_parse(const char *s, size_t len, unsigned int *attrs_r);
/* The names of the special-use bits of attrs, separated by spaces, into out. */
void mstore_special_use_format(unsigned int attrs, char out[MSTORE_SPECIAL_USE_TEXT_MAX]);
/* The special-use bits a folder has by its name alone. */
unsigned int mstore_special_use_by_name(const char *name);

/* STATUS counts (RFC 3501 §6.3.10), from the open mailbox if any, else by a short-lived
 * open + sync. STORE_NONEXISTENT / STORE_NOSELECT as mailbox_open. */
struct mailbox_status {
	uint32_t messages;
	uint32_t recent;
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t unseen;
	uint64_t highestmodseq;		/* RFC 7162 */
	char guid[33];		/* mailbox_guid (RFC 8474 MAILBOXID) */
};
enum store_status mstore_status(struct mstore *store, const char *name,
    struct mailbox_status *st_r);

/*
 * Change notification: one inotify fd watching new/ and cur/ of every open mailbox (and
 * the root, for folder creation). Add it to the event loop; when readable, call
 * mstore_notify_process(), which drains it and syncs the affected mailboxes (listeners are
 * told of every change). Returns -1 if inotify is unavailable (then poll with mailbox_sync).
 */
int mstore_notify_fd(struct mstore *store);
void mstore_notify_process(struct mstore *store);
/*
 * Folder-level changes: once a callback is set, the Maildir root is watched too, and
 * mstore_notify_process calls cb(ctx) after a folder directory appeared, vanished or
 * was renamed there (by this process or another); the caller lists the folders to see
 * what changed. cb == NULL stops it. Without inotify it is never called.
 */
typedef void mstore_folders_cb(void *ctx);
void mstore_set_folders_cb(struct mstore *store, mstore_folders_cb *cb, void *ctx);
/*
 * The same for more than one party (IMAP NOTIFY holds the slot above): add (on) or
 * remove (off) cb with ctx; at most MSTORE_FOLDERS_WATCH_MAX at once (-1 beyond).
 */
#define MSTORE_FOLDERS_WATCH_MAX	4
int mstore_folders_watch(struct mstore *store, mstore_folders_cb *cb, void *ctx, bool on);
/*
 * A party that holds folders open only to watch them (JMAP push) and can let go: before
 * mstore_rename refuses a folder that is open, it calls cb(ctx, name) with the old name,
 * and the party must mailbox_unref every folder it holds at or under name. Add (on) or
 * remove (off); at most MSTORE_FOLDERS_WATCH_MAX (-1 beyond).
 */
typedef void mstore_release_cb(void *ctx, const char *name);
int mstore_release_watch(struct mstore *store, mstore_release_cb *cb, void *ctx, bool on);

/* ---------------------------------------------------------------- the index */

/*
 * The persistent index (docs/formats.md, "Index (LMDB)") is a cache of the folders'
 * state; these are for `buzon index`. Rebuild: forget the snapshot of folder `name`
 * (every folder, and records of folders that no longer exist, if NULL) and write it
 * again from a full scan; MODSEQs continue above the old ones. Check: compare each
 * folder's snapshot with a full scan of its directories (which, like any open, moves
 * new/ files to cur/), print every difference to out; returns the number of
 * differences (a folder without a snapshot is reported, not counted: it is built at its
 * next open), or -1 if the index is unusable.
 */
enum store_status mstore_index_rebuild(struct mstore *store, const char *name);
/* The same, calling cb before each folder (its position, the count, its name). */
typedef void mstore_rebuild_cb(void *ctx, size_t i, size_t count, const char *folder);
enum store_status mstore_index_rebuild_cb(struct mstore *store, const char *name,
    mstore_rebuild_cb *cb, void *ctx);
long mstore_index_check(struct mstore *store, FILE *out);

/*
 * Persistent cache of a message's header fields, next to the folder's snapshot in the
 * index: the IMAP layer keeps there the fields SEARCH header keys need, so that a search
 * after a restart does not read message files. `kind` is the caller's format tag: an
 * entry stored with another kind (or another UIDVALIDITY) is not returned. Get copies
 * the bytes into *buf (grown with xrealloc, *cap updated): 1 found, 0 not. Put queues
 * at most MAILBOX_HDRCACHE_MAX bytes (larger: not cached) and writes them with the
 * folder's next snapshot or in batches; never an fsync.
 */
#define MAILBOX_HDRCACHE_MAX	8192
int mailbox_hdrcache_get(struct mailbox *box, uint32_t uid, uint32_t kind,
    unsigned char **buf, size_t *cap, size_t *len_r);
void mailbox_hdrcache_put(struct mailbox *box, uint32_t uid, uint32_t kind,
    const void *data, size_t len);

/*
 * Persistent cache of rendered items of a message (the IMAP layer's ENVELOPE, BODY,
 * BODYSTRUCTURE and PREVIEW strings), one record per (folder, item, UID), queued and
 * written with the header fields above (with the folder's next snapshot or in batches
 * of MAILBOX_HDRCACHE_BATCH bytes; never an fsync) and removed with them when the
 * message is expunged. `item` is 1…255, the caller's numbering; `kind` its format tag
 * (an entry of another kind or UIDVALIDITY is a miss). Put ignores items over
 * MAILBOX_ITEMS_MAX bytes.
 *
 * Walk: inside one read transaction, call cb(ctx, uid, data, len) in UID order for the
 * valid entries of `item` with first <= uid <= last, stopping before the entry that
 * follows max_bytes (> 0) of values passed. data is borrowed until cb returns.
 * *done_r is the highest UID up to which the walk answered: a UID in first…*done_r
 * without a call has no entry (with no usable index: none has, *done_r = last).
 * Returns 1 if the index was read, 0 if not.
 */
#define MAILBOX_ITEMS_MAX	65536
typedef void mailbox_items_cb(void *ctx, uint32_t uid, const unsigned char *data,
    size_t len);
void mailbox_items_put(struct mailbox *box, uint32_t uid, uint8_t item, uint32_t kind,
    const void *data, size_t len);
int mailbox_items_walk(struct mailbox *box, uint8_t item, uint32_t kind, uint32_t first,
    uint32_t last, size_t max_bytes, mailbox_items_cb *cb, void *ctx, uint32_t *done_r);

/*
 * Thread ids (RFC 8474 §5.2 THREADID, RFC 8621 §3 threadId), kept per user in the index
 * (docs/formats.md, "threads"): an EMAILID's thread is fixed the first time it is asked
 * for, from the message's Message-ID, In-Reply-To and References (at most
 * MSTORE_THREAD_REFS_MAX), given as 64-bit hashes: it joins the thread of the first of
 * those already known (a reply its parent's in any folder, a parent its reply's), else
 * its own EMAILID is the thread id. A copy keeps the EMAILID and so the thread.
 * Lookup: tids_r[i] 0 when not assigned yet (or no index). Assign: one write for the
 * batch; an id already assigned is returned as it is; without an index, the EMAILID.
 */
#define MSTORE_THREAD_REFS_MAX	100
struct mstore_thread_refs {
	uint64_t emailid;
	uint64_t own;			/* hash of the Message-ID, 0: none */
	const uint64_t *hashes;		/* References, then In-Reply-To */
	size_t n;
};
void mstore_threads_lookup(struct mstore *store, size_t n, const uint64_t *emailids,
    uint64_t *tids_r);
void mstore_threads_assign(struct mstore *store, size_t n,
    const struct mstore_thread_refs *refs, uint64_t *tids_r);
/*
 * Thread ids at arrival: once set, cb(ctx, emailid, fd) runs for every message new to
 * the store (saved or delivered, not a copy: a copy keeps its EMAILID and so its
 * thread) right after its commit, with its file open read-only (fd borrowed, at offset
 * 0), so the caller can assign the thread from the header (the mail process does:
 * mail_thread_added). A message whose file is already gone again is skipped (its id is
 * assigned when first asked for). cb must not change the store. NULL: none.
 */
typedef void mstore_added_cb(void *ctx, uint64_t emailid, int fd);
void mstore_set_added_cb(struct mstore *store, mstore_added_cb *cb, void *ctx);

/* ---------------------------------------------------------------- one folder */

/* Message flags. RECENT is in memory only: set for messages this process first found in
 * new/ and for messages it saved, delivered or copied (RFC 3501 §6.3.11, §6.4.7); it is
 * remembered while the store is open, also after the last mailbox_unref of the folder. The
 * IMAP layer decides which session owns \Recent. */
#define MAILBOX_FLAG_SEEN	0x01	/* S */
#define MAILBOX_FLAG_ANSWERED	0x02	/* R */
#define MAILBOX_FLAG_FLAGGED	0x04	/* F */
#define MAILBOX_FLAG_DELETED	0x08	/* T */
#define MAILBOX_FLAG_DRAFT	0x10	/* D */
#define MAILBOX_FLAG_PASSED	0x20	/* P: not an IMAP flag, preserved */
#define MAILBOX_FLAG_RECENT	0x40	/* memory only, ignored by mailbox_store_flags */
#define MAILBOX_FLAGS_IMAP	(MAILBOX_FLAG_SEEN | MAILBOX_FLAG_ANSWERED | \
				 MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DELETED | \
				 MAILBOX_FLAG_DRAFT)

#define MAILBOX_SIZE_UNKNOWN	UINT64_MAX

struct mailbox_msg {
	uint32_t uid;
	uint8_t flags;		/* MAILBOX_FLAG_* */
	uint32_t keywords;	/* bit i = dovecot-keywords index i (letter 'a' + i) */
	/* size and vsize: MAILBOX_SIZE_UNKNOWN until known */
	uint64_t size;		/* file size: S= or stat */
	uint64_t vsize;		/* size with CRLF line ends: W= */
	time_t internaldate;	/* file mtime; 0 until known */
	time_t savedate;	/* when this store first saw the message (RFC 8514) */
	/* RFC 7162 MODSEQ: raised on every change of the message (append, flags);
	 * persisted in the index, never decreases across restarts. Read-only. */
	uint64_t modseq;
	/* RFC 8474 EMAILID: the G field of its uidlist record, else a hash of the base
	 * name; a copy (and so a MOVE) keeps the source's (docs/formats.md, "Message
	 * ids"). Never 0. Read-only. */
	uint64_t emailid;
	char *filename;		/* relative to the folder dir: "cur/<base>:2,<flags>" */
};

/*
 * Open (or share) the folder `name`, creating its uidlist if needed, and sync it.
 * Refcounted: every caller holds its own reference (mailbox_unref). STORE_NONEXISTENT if
 * the folder does not exist, STORE_NOSELECT for a \Noselect level, STORE_BADNAME for an
 * invalid name, STORE_IOERROR otherwise.
 */
enum store_status mailbox_open(struct mstore *store, const char *name, struct mailbox **box_r);
void mailbox_ref(struct mailbox *box);
/*
 * Drop a reference. Sets *box = NULL. The last one frees the listeners and keeps the
 * folder's state in the store's cache of closed folders (LRU, MAILBOX_CACHE_MAX_* in
 * store_private.h), so the next mailbox_open of it is a sync of an unchanged folder
 * (directory mtimes, uidlist stat, inotify) instead of a rescan; changes made by
 * others meanwhile are found then. A deleted folder is freed at once.
 */
void mailbox_unref(struct mailbox **box);

/* Canonical name ("INBOX" for any case of inbox); borrowed for the mailbox's lifetime. */
const char *mailbox_name(const struct mailbox *box);
uint32_t mailbox_uidvalidity(const struct mailbox *box);
/* The next UID to be assigned (RFC 3501 UIDNEXT); never decreases. */
uint32_t mailbox_uidnext(const struct mailbox *box);
/* The highest MODSEQ given to a change of this folder (RFC 7162 HIGHESTMODSEQ): appends,
 * flag changes and expunges, ours and those a rescan finds; persisted in the index and
 * never lower after a restart than any value handed out before. */
uint64_t mailbox_highestmodseq(const struct mailbox *box);
/* Raise the folder's HIGHESTMODSEQ by one for a change that is not a message's (RFC 7162
 * §3.2: a SETMETADATA of a mailbox entry, with METADATA and QRESYNC both offered). */
void mailbox_touch_modseq(struct mailbox *box);
/*
 * RFC 7162 VANISHED: call cb(ctx, lo, hi) for the ranges, ascending and disjoint, of
 * UIDs expunged with a MODSEQ above since (the store keeps the last
 * MAILBOX_EXPUNGES_MAX expunges per folder, also across restarts, in the index).
 * Returns true when that is exact; false when expunges that old were forgotten (or
 * never known: a folder changed outside while the index was lost), and then the ranges
 * are every UID below UIDNEXT that is not in the folder, a superset. Loads the
 * messages.
 */
typedef void mailbox_range_cb(void *ctx, uint32_t lo, uint32_t hi);
bool mailbox_vanished_since(struct mailbox *box, uint64_t since, mailbox_range_cb *cb,
    void *ctx);
/*
 * The expunges with a MODSEQ above since, in MODSEQ order: cb(ctx, uid, modseq,
 * emailid) for each (JMAP Email/changes tells destroyed Emails by their EMAILID).
 * False, and no call, when records that old were forgotten (as mailbox_vanished_since).
 */
typedef void mailbox_expunge_cb(void *ctx, uint32_t uid, uint64_t modseq, uint64_t emailid);
bool mailbox_expunges_since(struct mailbox *box, uint64_t since, mailbox_expunge_cb *cb,
    void *ctx);
/* RFC 8474 MAILBOXID: the folder GUID (32 lowercase hex digits, the G field of the
 * uidlist header, as Dovecot keeps it): kept by RENAME and restarts, new for a folder
 * created again. Borrowed for the mailbox's lifetime. */
const char *mailbox_guid(const struct mailbox *box);
/* RFC 8474 EMAILID of a message: m->emailid (see struct mailbox_msg). */
uint64_t mailbox_msg_emailid(const struct mailbox *box, const struct mailbox_msg *m);
/*
 * The messages of box with EMAILID emailid (a COPY within the folder makes more than
 * one): their UIDs, ascending, the first max of them into uids_r; returns how many
 * there are (0: none). A table kept with the message array (docs/architecture.md,
 * "EMAILID lookup"): O(1) after its first use, exact after any change. Loads the
 * messages; does not sync (mailbox_open did).
 */
size_t mailbox_emailid_uids(struct mailbox *box, uint64_t emailid, uint32_t *uids_r,
    size_t max);
/* True if the mailbox's folder was deleted/renamed away underneath it. */
bool mailbox_is_deleted(const struct mailbox *box);

/*
 * A folder opened from a trusted snapshot in the index (docs/formats.md, "Index
 * (LMDB)") has its count, UIDNEXT and summary from the snapshot's header and its
 * messages are read only when something needs them: every function below that returns
 * or changes messages loads them first. mailbox_msgs_load does it explicitly (and tells
 * the lazy listeners); mailbox_msgs_loaded says whether it has happened.
 */
void mailbox_msgs_load(struct mailbox *box);
bool mailbox_msgs_loaded(const struct mailbox *box);

/* What SELECT and STATUS need (RFC 3501 §6.3.1, §6.3.10; RFC 8438 SIZE): from the
 * snapshot header while the messages are not loaded (O(1)), else counted (O(n)). */
struct mailbox_summary {
	uint32_t messages;
	uint32_t unseen;		/* messages without \Seen */
	uint32_t first_unseen_seq;	/* 1-based position of the first of them, 0: none */
	uint32_t first_unseen_uid;	/* 0: none */
	bool vsize_known;		/* every message's W= size known */
	uint64_t vsize;			/* their sum, if vsize_known */
};
void mailbox_summary(struct mailbox *box, struct mailbox_summary *sum_r);
/*
 * A folder's size as STATUS SIZE gives it (RFC 8438) and `buzon mailbox status` prints
 * it: the snapshot's total when it knows every size, else the sum of the messages'
 * sizes, the unknown ones found once (mailbox_msg_info) and then kept.
 */
enum store_status mstore_folder_size(struct mstore *store, const char *name,
    uint64_t *size_r);

/*
 * Messages, sorted by ascending UID. Pointers are borrowed until the next store call
 * that can change this mailbox (sync, save, copy into it, expunge, flag store, notify).
 * These load them (the box is logically const), so that mailbox_count and
 * mailbox_msg_at always agree; the count of a folder whose messages are not loaded is
 * mailbox_summary's.
 */
size_t mailbox_count(const struct mailbox *box);
const struct mailbox_msg *mailbox_msg_at(const struct mailbox *box, size_t idx);
/* Binary search: the message or NULL; *idx_r (may be NULL) gets its 0-based index. */
const struct mailbox_msg *mailbox_lookup(const struct mailbox *box, uint32_t uid,
    size_t *idx_r);
/*
 * Like mailbox_lookup but guarantees size, vsize and internaldate are filled in (stat and,
 * if W= is missing, one read of the file). STORE_EXPUNGED if gone.
 */
enum store_status mailbox_msg_info(struct mailbox *box, uint32_t uid,
    const struct mailbox_msg **msg_r);

/*
 * Open the message file read-only (O_NOFOLLOW, relative to the folder fd). On ENOENT the
 * folder is rescanned (a flag change elsewhere renames files) and the open retried once.
 * Caller closes *fd_r. STORE_EXPUNGED if the message is gone.
 */
enum store_status mailbox_msg_open(struct mailbox *box, uint32_t uid, int *fd_r);

/*
 * Rescan the folder: move new/ files into cur/ (adding ":2,"), assign UIDs to unknown
 * files in name order (uidlist updated under its lock), drop vanished files, pick up
 * flag renames by other programs, then tell the listeners. Cheap when nothing changed
 * (directory mtimes and inotify).
 */
enum store_status mailbox_sync(struct mailbox *box);

/* ---------------------------------------------------------------- listeners */

/* Callbacks may be NULL. They run after the mailbox changed (an expunged message is no
 * longer in the array; an appended one is). They must not unref the mailbox or call
 * functions that modify it; they record and return. */
struct mailbox_listener_ops {
	void (*expunged)(void *ctx, struct mailbox *box, uint32_t uid);
	void (*appended)(void *ctx, struct mailbox *box, uint32_t uid);
	void (*flags_changed)(void *ctx, struct mailbox *box, uint32_t uid);
	/* A keyword name got a new index (IMAP: send a new FLAGS/PERMANENTFLAGS). */
	void (*keyword_added)(void *ctx, struct mailbox *box, unsigned int idx);
	/* Optional. A listener registered while the folder's messages were not loaded
	 * (mailbox_msgs_loaded false) with this callback set is told nothing about
	 * messages until they are: then this runs once, before any change is applied or
	 * told, with the messages as they were at registration (or, if the snapshot they
	 * were to come from changed underneath, as the directories are now). */
	void (*loaded)(void *ctx, struct mailbox *box);
	/* Optional. After appended, for a message that arrived through new/: saved with
	 * MAILBOX_SAVE_DELIVERY, or found there by a rescan (another program delivered
	 * it). A client's APPEND or COPY is not a delivery (RFC 8621 §1.5 EmailDelivery). */
	void (*delivered)(void *ctx, struct mailbox *box, uint32_t uid);
};
struct mailbox_listener;
/* Register; every change (including the registrant's own) is delivered to all. */
struct mailbox_listener *mailbox_listen(struct mailbox *box,
    const struct mailbox_listener_ops *ops, void *ctx);
void mailbox_unlisten(struct mailbox *box, struct mailbox_listener **listener);

/* ---------------------------------------------------------------- keywords */

/* Name of keyword index idx (0..25), or NULL if unused. Borrowed. */
const char *mailbox_keyword_name(const struct mailbox *box, unsigned int idx);
/* Index of a keyword (case-insensitive), or -1. */
int mailbox_keyword_lookup(const struct mailbox *box, const char *name);
/*
 * Index of a keyword, defining it (dovecot-keywords rewritten atomically) if new.
 * STORE_BADNAME for a name that is not an IMAP atom or starts with '\\', STORE_LIMIT
 * when longer than 50 bytes or all 26 letters are in use.
 */
enum store_status mailbox_keyword_add(struct mailbox *box, const char *name,
    unsigned int *idx_r);

/* ---------------------------------------------------------------- changes */

/*
 * Set the flags (MAILBOX_FLAG_*, RECENT ignored) and keywords (indexes must be defined) of
 * one message by renaming its file. If the file vanished because someone else renamed
 * it, rescan and retry once. STORE_EXPUNGED if the message is gone. Listeners get
 * flags_changed if anything changed.
 */
enum store_status mailbox_store_flags(struct mailbox *box, uint32_t uid, uint8_t flags,
    uint32_t keywords);

/*
 * Expunge the listed UIDs (unknown ones are ignored): unlink the files, then rewrite the
 * uidlist once. Listeners get expunged(uid) for each.
 */
enum store_status mailbox_expunge(struct mailbox *box, const uint32_t *uids, size_t count);

/*
 * Copy messages src[uids[i]] into dst (hard link, falling back to a byte copy), keeping
 * flags and keywords (keyword names are mapped into dst, defining them there; the copies
 * get RECENT), in one
 * transaction: one dir fsync and one uidlist write. dst_uids_r[i] gets the new UIDs,
 * ascending. STORE_EXPUNGED if a source message is gone (then nothing is copied).
 * src == dst is allowed. The IMAP layer implements MOVE as copy + expunge.
 */
enum store_status mailbox_copy(struct mailbox *src, const uint32_t *uids, size_t count,
    struct mailbox *dst, uint32_t *dst_uids_r);

/* ---------------------------------------------------------------- saving */

/*
 * A save transaction holds one or more new messages (MULTIAPPEND): for each message
 * call mailbox_save_msg_begin, write its bytes, then mailbox_save_msg_end; finally
 * mailbox_save_commit (all messages become visible with consecutive UIDs) or
 * mailbox_save_abort (every tmp file is removed). On any error the whole transaction must
 * be aborted. Commit is durable (file fsync, rename, dir fsync, uidlist fsync) before it
 * returns STORE_OK.
 */
struct mailbox_save;

#define MAILBOX_SAVE_DELIVERY	0x01	/* into new/ (LMTP/LDA), messages get RECENT */

struct mailbox_save *mailbox_save_begin(struct mailbox *box, unsigned int save_flags);
/* Start a new message: creates tmp/<unique> (O_EXCL|O_NOFOLLOW, 0600). */
enum store_status mailbox_save_msg_begin(struct mailbox_save *ctx);
/*
 * Append bytes of the current message (streaming; also counts the W= size). STORE_NOSPACE
 * / STORE_OVERQUOTA / STORE_IOERROR on write errors.
 */
enum store_status mailbox_save_write(struct mailbox_save *ctx, const void *data, size_t len);
/*
 * The fd of the current tmp file, for callers that write (or splice) into it directly
 * instead of mailbox_save_write. Borrowed: do not close it. If used, the sizes are taken
 * from fstat and the file is re-read once at msg_end to compute W=.
 */
int mailbox_save_fd(struct mailbox_save *ctx);
/*
 * The current message will have about `size` octets (an announced literal): STORE_OVERQUOTA
 * if that alone would take the store over its quota, so the caller can refuse it before
 * the bytes arrive; STORE_OK otherwise. mailbox_save_msg_end checks the real size.
 */
enum store_status mailbox_save_quota_precheck(struct mailbox_save *ctx, uint64_t size);
/*
 * Finish the current message: flags (MAILBOX_FLAG_*), keywords (indexes defined in the
 * target mailbox), internaldate (the file mtime; 0 = now). fsyncs and closes the tmp file.
 * STORE_OVERQUOTA when the transaction's messages so far would take the store over its
 * quota (mstore_set_quota); the transaction must then be aborted.
 */
enum store_status mailbox_save_msg_end(struct mailbox_save *ctx, uint8_t flags,
    uint32_t keywords, time_t internaldate);
/*
 * Make all finished messages visible. *uid_first_r..*uid_last_r are their UIDs
 * (consecutive); both 0 if no messages. Frees the context (*ctx = NULL) in all cases;
 * on failure every message of the transaction has been removed.
 */
enum store_status mailbox_save_commit(struct mailbox_save **ctx, uint32_t *uid_first_r,
    uint32_t *uid_last_r);
void mailbox_save_abort(struct mailbox_save **ctx);

/* ---------------------------------------------------------------- group commit */

/*
 * The mail process commits without waiting on the disk in its event loop
 * (docs/architecture.md, Group commit): mstore_commit_start() starts one commit thread;
 * mailbox_save_commit_async() queues a transaction; every transaction queued while a
 * group is being committed joins the next group, which costs one file fsync per message,
 * one fsync per directory and one uidlist write and fsync per folder, all in the
 * thread. The event loop only prepares the group (uidlist lock, UIDs, names) and
 * finishes it (memory state, listeners, callbacks). Stores without the thread (the
 * `buzon deliver` and `import` commands, tests) commit synchronously as before.
 */

/* Called from mstore_commit_process() once the transaction is durable (STORE_OK, with
 * its consecutive UIDs) or has failed and been removed (both UIDs 0). */
typedef void mailbox_commit_cb(void *ctx, enum store_status st, uint32_t uid_first,
    uint32_t uid_last);
struct mailbox_commit;

/* Start the commit thread. 0, or -1 (logged): saves stay synchronous. */
int mstore_commit_start(struct mstore *store);
/* Readable when a group has finished in the thread: add it to the event loop and call
 * mstore_commit_process(), which finishes it, runs the callbacks and starts the next
 * group. -1 without the thread. */
int mstore_commit_fd(struct mstore *store);
void mstore_commit_process(struct mstore *store);
/* True while nothing is queued or being committed. */
bool mstore_commit_idle(const struct mstore *store);

/*
 * Commit a transaction in the next group (needs mstore_commit_start). The callback is
 * never called from inside this function. *ctx is taken (set to NULL). Returns a handle
 * for mailbox_commit_cancel, valid until the callback has run.
 */
struct mailbox_commit *mailbox_save_commit_async(struct mailbox_save **ctx,
    mailbox_commit_cb *cb, void *cbctx);
/* The caller is gone: the commit still completes, but cb is not called. */
void mailbox_commit_cancel(struct mailbox_commit *c);
/*
 * COPY through the commit thread: as mailbox_copy, the new UIDs are uid_first +
 * i for uids[i]. Returns NULL and *st_r when it fails at once (nothing copied).
 */
struct mailbox_commit *mailbox_copy_async(struct mailbox *src, const uint32_t *uids,
    size_t count, struct mailbox *dst, mailbox_commit_cb *cb, void *cbctx,
    enum store_status *st_r);

/* ---------------------------------------------------------------- quota */

/*
 * Maildir++ quota (docs/formats.md, "Quota (maildirsize)"): the usage of the whole store
 * (every folder's cur/ and new/) is kept in `maildirsize` at the root, a file Dovecot
 * reads and writes too. Off until mstore_set_quota() gives a limit; then saves, copies
 * and deliveries that would take the usage over a limit fail with STORE_OVERQUOTA
 * before anything is committed (mailbox_save_msg_end, mailbox_copy*), commits add a
 * line to the file and expunges subtract one. The limits come from the caller
 * (configuration and userdb), never from the file: a file whose limits line differs is
 * recalculated, as are a missing, damaged or overlong one.
 */
struct mstore_quota {
	uint64_t storage_limit;		/* bytes, 0 = unlimited */
	uint64_t messages_limit;	/* 0 = unlimited */
	uint64_t bytes, count;		/* usage */
	unsigned int warn_percent;	/* mstore_set_quota's; 0 = no warnings */
};

/* Set the limits (0 = unlimited for each) and the warning threshold (percent of a
 * limit, 1..100; 0 = no warnings). Both limits 0: quota off, the file is not kept. */
void mstore_set_quota(struct mstore *store, uint64_t storage, uint64_t messages,
    unsigned int warn_percent);
/* True if a limit is set. */
bool mstore_quota_on(const struct mstore *store);
/* Limits and usage (the usage from maildirsize, recalculated if needed; with the quota
 * off, counted by a scan and not written). */
enum store_status mstore_quota_get(struct mstore *store, struct mstore_quota *q_r);
/* Count every folder again and rewrite maildirsize (with the quota off: only count). */
enum store_status mstore_quota_recalc(struct mstore *store, struct mstore_quota *q_r);
/*
 * The next mailbox_copy / mailbox_copy_async of this store is the copy half of a MOVE
 * within the store: it is not checked against the quota (the expunge that follows takes
 * the same bytes off again, so a MOVE never fails for quota), but still counted.
 */
void mstore_quota_next_copy_is_move(struct mstore *store);
/*
 * After a delivery of `bytes` / `count` was committed: true (and *q_r filled) if it took
 * the usage of a resource from below the warning threshold to at or above it (once per
 * crossing: the next delivery starts above it). False with warnings off.
 */
bool mstore_quota_warn_crossed(struct mstore *store, uint64_t bytes, uint64_t count,
    struct mstore_quota *q_r);
/* mailbox_save_begin flag: not checked against the quota (the warning notice). */
#define MAILBOX_SAVE_NOQUOTA	0x02

#endif
