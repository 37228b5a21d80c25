/*
 * metadata.h — the user's RFC 5464 METADATA entries (server and per-mailbox), kept in
 * one small file in the Maildir root, `buzon-metadata` (docs/formats.md, "METADATA").
 * Not in the LMDB index: the index is a cache that may be dropped or rebuilt, and these
 * are user data. Runs in the per-user mail process with the mailbox owner's uid.
 * Security role: the file is written by the mailbox owner only; it is still checked
 * whole on load (lengths, entry names, order, limits) before anything reaches a client.
 */
#ifndef BUZON_STORE_METADATA_H
#define BUZON_STORE_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct mstore;

#define METADATA_FILE			"buzon-metadata"
#define METADATA_LOCK_FILE		"buzon-metadata.lock"
/* one value, octets: half the 64 KiB command limit (docs/security.md, Limits), so a
 * value over it still reaches SETMETADATA and gets [METADATA MAXSIZE] */
#define METADATA_VALUE_MAX		(32 * 1024)
#define METADATA_MAILBOX_ENTRIES_MAX	1000		/* per mailbox (and the server) */
/* per user: the sum of mailbox name, entry name and value lengths of every entry */
#define METADATA_USER_BYTES_MAX		(1024 * 1024)
#define METADATA_ENTRY_NAME_MAX		1024		/* one entry name, octets */
#define METADATA_MAILBOX_NAME_MAX	1024		/* larger than STORE_NAME_MAX */
/* RFC 6154 §4: a mailbox's special-use attributes (store.h, mstore_special_use_parse) */
#define METADATA_SPECIALUSE_ENTRY	"/private/specialuse"

struct metadata_entry {
	char *mailbox;		/* store name (mUTF-7); "" for the server */
	char *name;		/* entry name, lower case, checked */
	unsigned char *value;	/* value_len octets (may hold NUL), NUL-terminated too */
	size_t value_len;
};

/* The entries of a user, sorted by (mailbox, name), in memory while a command runs. */
struct metadata {
	struct metadata_entry *e;
	size_t count, cap;
	uint64_t bytes;		/* as METADATA_USER_BYTES_MAX counts */
	int lock_fd;
	bool changed;
};

enum metadata_status {
	METADATA_OK,
	METADATA_MAXSIZE,	/* the value is over METADATA_VALUE_MAX */
	METADATA_TOOMANY,	/* the mailbox has METADATA_MAILBOX_ENTRIES_MAX entries */
	METADATA_OVERQUOTA,	/* the user's entries would pass METADATA_USER_BYTES_MAX */
};

/*
 * Check an entry name s[0..len) against RFC 5464 §3.2 and write its lower-case form
 * (entry names are case-insensitive) into out (out_size > len). It must be "/private"
 * or "/shared", or start with "/private/" or "/shared/"; only printable US-ASCII without
 * '*' and '%'; no "//"; no trailing '/'. Returns 0, or -1 (invalid, or longer than
 * METADATA_ENTRY_NAME_MAX).
 */
int metadata_entry_name_check(const char *s, size_t len, char *out, size_t out_size);

/*
 * Lock the user's metadata (a shared flock of buzon-metadata.lock, exclusive when
 * write) and load it (a missing file is no entries). Returns 0 and *md_r (free with
 * metadata_close), or -1 (logged; a damaged file is left as it is).
 */
int metadata_open(struct mstore *store, bool write, struct metadata **md_r);
/* Write the entries back if they changed (temp file, fsync, rename, directory fsync:
 * durable when it returns 0). Needs write at open. Returns 0 or -1 (logged). */
int metadata_commit(struct mstore *store, struct metadata *md);
/* Unlock and free; sets *md = NULL. Uncommitted changes are lost. */
void metadata_close(struct metadata **md);

/* The entry (mailbox, name) or NULL; name as metadata_entry_name_check wrote it. */
const struct metadata_entry *metadata_find(const struct metadata *md, const char *mailbox,
    const char *name);
/* Index of the first entry of mailbox (md->count if none). Entries of one mailbox are
 * consecutive and sorted by name. */
size_t metadata_first(const struct metadata *md, const char *mailbox);
/* Set (value != NULL) or delete (value == NULL) an entry. Checks the limits first. */
enum metadata_status metadata_set(struct metadata *md, const char *mailbox, const char *name,
    const void *value, size_t value_len);
/* Drop every entry of mailbox (not its children). Returns the number dropped. */
size_t metadata_drop_mailbox(struct metadata *md, const char *mailbox);
/* RENAME: the entries of old and of its children (old + sep + ...) move to new. Returns
 * 0, or -1 when a new name would be over METADATA_MAILBOX_NAME_MAX (nothing changed). */
int metadata_rename_mailbox(struct metadata *md, const char *oldname, const char *newname,
    char sep);

/*
 * A folder's entries follow it (RFC 5464 §3.2: they go with the mailbox): dropped when
 * newname is NULL (a folder deleted, or created where an old one's entries were left),
 * else moved with its children's to newname. Open, change and commit in one: 0, or -1.
 */
int metadata_mailbox_follow(struct mstore *store, const char *name, const char *newname);

/* The file form (exposed for tests): serialize md into out / parse data[0..len) into an
 * empty md. parse returns 0 or -1 with *error_r (static text). */
int metadata_serialize(const struct metadata *md, struct buf *out);
int metadata_parse(struct metadata *md, const unsigned char *data, size_t len,
    const char **error_r);
/* A new empty set without a lock (tests, and what metadata_open builds on). */
struct metadata *metadata_new(void);

#endif
