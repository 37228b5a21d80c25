/*
 * mailbox_index.c — the persistent per-user index (docs/formats.md, "Index (LMDB)"): one
 * LMDB file <root>/buzon.index holding, per folder, a snapshot of the message array
 * (UIDs, flags, sizes, dates, MODSEQs, file names), the directory and uidlist stat it
 * corresponds to, and the last expunges, so that a freshly started mail process opens an
 * unchanged folder without a readdir, and MODSEQs survive restarts. Runs in the per-user
 * mail process (and the `buzon index` CLI) with the mailbox owner's uid. The index is a
 * cache: Maildir and dovecot-uidlist stay the truth, commits do not fsync, and a snapshot
 * is trusted only when the directories and the uidlist are exactly as it recorded them.
 * Security role: the file is writable by the mailbox owner, so every value read is
 * validated (index_format.c) and anything that does not validate is logged, dropped and
 * rebuilt from the Maildir; a symlink in place of the file is removed, never followed.
 */
#include "store/store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

#define INDEX_FILE		"buzon.index"
#define INDEX_LOCK_FILE		"buzon.index-lock"
/* The mail process runs under a 1 GiB RLIMIT_AS (src/mailproc/mailproc.c): the map
 * starts small (sparse) and doubles on MDB_MAP_FULL up to a fixed cap. */
#define INDEX_MAP_INITIAL	(64ul << 20)
#define INDEX_MAP_MAX		(512ul << 20)
/* A snapshot is trusted only if the directories last changed this long before the
 * moment memory was known to reflect them: a change in the same timestamp tick as the
 * recorded mtime would not alter it. */
#define INDEX_TRUST_MARGIN_NS	(2LL * 1000000000LL)
#define MAILBOX_MODSEQ_RESERVE	65536
/* `items` keys: fid(4) + item(1) + uid(4), so one item of one folder is one key range
 * in UID order (a FETCH 1:* walks it with a cursor) */
#define ITEM_KEY_LEN		9
/* the pending queue's length word: item number in the top byte (0: header fields) */
#define PEND_ITEM_SHIFT		24
#define PEND_LEN_MASK		0xffffffu

struct mstore_index {
	MDB_env *env;
	MDB_dbi meta, folders, msgs, expunges, headers, items, threads;
	size_t mapsize;
	unsigned int psize;		/* LMDB page size */
	int fd;				/* the file behind the map */
};

/* ------------------------------------------------------------------ helpers */

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_ns(&ts);
}

static void
key_make(unsigned char k[8], uint32_t fid, uint32_t uid)
{
	k[0] = (unsigned char)(fid >> 24);
	k[1] = (unsigned char)(fid >> 16);
	k[2] = (unsigned char)(fid >> 8);
	k[3] = (unsigned char)fid;
	k[4] = (unsigned char)(uid >> 24);
	k[5] = (unsigned char)(uid >> 16);
	k[6] = (unsigned char)(uid >> 8);
	k[7] = (unsigned char)uid;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* LMDB errors that mean the file itself is bad (not our environment). */
static bool
rc_corrupt(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
	    rc == MDB_VERSION_MISMATCH || rc == MDB_BAD_TXN || rc == MDB_INCOMPATIBLE;
}

static void
index_unlink(struct mstore *store)
{
	(void)unlinkat(store->root_fd, INDEX_FILE, 0);
	(void)unlinkat(store->root_fd, INDEX_LOCK_FILE, 0);
}

static void
index_env_close(struct mstore *store)
{
	struct mailbox *m;

	if (store->index == NULL)
		return;
	/* folder ids are per file: a recreated file numbers folders afresh */
	for (m = store->mailboxes; m != NULL; m = m->next)
		m->index_fid = 0;
	mdb_env_close(store->index->env);
	free(store->index);
	store->index = NULL;
}

/* An LMDB call failed: log it; a damaged file is removed (rebuilt at the next use),
 * anything else turns the index off for this process. */
static void
index_fail(struct mstore *store, int rc, const char *what)
{
	log_error("store index %s failed root=%s error=%s", what, store->root_path,
	    mdb_strerror(rc));
	index_env_close(store);
	if (rc_corrupt(rc))
		index_unlink(store);
	else if (rc != MDB_MAP_FULL && rc != MDB_MAP_RESIZED)
		store->index_off = true;	/* else reopened at the next use */
}

/* Remove a symlink or non-file planted where the index lives. */
static void
index_path_check(struct mstore *store, const char *name)
{
	struct stat st;

	if (fstatat(store->root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode)) {
		log_error("store index not a regular file, removed root=%s file=%s",
		    store->root_path, name);
		(void)unlinkat(store->root_fd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	}
}

static int
index_env_try(struct mstore *store, struct mstore_index *ix)
{
	MDB_envinfo info;
	MDB_stat mst;
	MDB_txn *txn;
	MDB_val k, v;
	struct stat st;
	char *path;
	int rc, fd;
	uint32_t ver = INDEX_FORMAT_VERSION;

	rc = mdb_env_create(&ix->env);
	if (rc != 0)
		return rc;
	(void)mdb_env_set_maxdbs(ix->env, 8);
	(void)mdb_env_set_mapsize(ix->env, ix->mapsize);
	path = xasprintf("%s/%s", store->root_path, INDEX_FILE);
	rc = mdb_env_open(ix->env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC, 0600);
	free(path);
	if (rc != 0)
		goto fail;
	/* a truncated file: LMDB would fault reading pages past its end */
	if ((rc = mdb_env_info(ix->env, &info)) != 0 || (rc = mdb_env_stat(ix->env, &mst)) != 0)
		goto fail;
	if (mdb_env_get_fd(ix->env, &fd) != 0 || fstat(fd, &st) < 0 ||
	    (uint64_t)(info.me_last_pgno + 1) * mst.ms_psize > (uint64_t)st.st_size ||
	    info.me_mapsize > INDEX_MAP_MAX) {
		rc = MDB_CORRUPTED;
		goto fail;
	}
	ix->mapsize = info.me_mapsize;
	ix->psize = mst.ms_psize;
	ix->fd = fd;
	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ix->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "folders", MDB_CREATE, &ix->folders)) != 0 ||
	    (rc = mdb_dbi_open(txn, "msgs", MDB_CREATE, &ix->msgs)) != 0 ||
	    (rc = mdb_dbi_open(txn, "expunges", MDB_CREATE, &ix->expunges)) != 0 ||
	    (rc = mdb_dbi_open(txn, "headers", MDB_CREATE, &ix->headers)) != 0 ||
	    (rc = mdb_dbi_open(txn, "items", MDB_CREATE, &ix->items)) != 0 ||
	    (rc = mdb_dbi_open(txn, "threads", MDB_CREATE, &ix->threads)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	k.mv_data = (void *)"version";
	k.mv_size = 7;
	rc = mdb_get(txn, ix->meta, &k, &v);
	if (rc == 0 && (v.mv_size != 4 || memcmp(v.mv_data, &ver, 4) != 0)) {
		log_error("store index has another format version, rebuilt root=%s",
		    store->root_path);
		if ((rc = mdb_drop(txn, ix->folders, 0)) != 0 ||
		    (rc = mdb_drop(txn, ix->msgs, 0)) != 0 ||
		    (rc = mdb_drop(txn, ix->expunges, 0)) != 0 ||
		    (rc = mdb_drop(txn, ix->headers, 0)) != 0 ||
		    (rc = mdb_drop(txn, ix->items, 0)) != 0 ||
		    (rc = mdb_drop(txn, ix->threads, 0)) != 0 ||
		    (rc = mdb_drop(txn, ix->meta, 0)) != 0) {
			mdb_txn_abort(txn);
			goto fail;
		}
		rc = MDB_NOTFOUND;
	}
	if (rc == MDB_NOTFOUND) {
		v.mv_data = &ver;
		v.mv_size = 4;
		rc = mdb_put(txn, ix->meta, &k, &v, 0);
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
fail:
	mdb_env_close(ix->env);
	ix->env = NULL;
	return rc;
}

/* Open the index if it is not open yet. Returns it or NULL (unusable: logged). */
static struct mstore_index *
index_get(struct mstore *store)
{
	struct mstore_index *ix;
	int attempt, rc = 0;

	if (store->index_bypass)
		return NULL;
	if (store->index != NULL || store->index_off)
		return store->index;
	index_path_check(store, INDEX_FILE);
	index_path_check(store, INDEX_LOCK_FILE);
	ix = xcalloc(1, sizeof(*ix));
	ix->mapsize = INDEX_MAP_INITIAL;
	for (attempt = 0; attempt < 2; attempt++) {
		rc = index_env_try(store, ix);
		if (rc == 0) {
			store->index = ix;
			return ix;
		}
		log_error("store index unusable root=%s error=%s%s", store->root_path,
		    mdb_strerror(rc), attempt == 0 ? ", recreated" : "");
		if (rc == ENOENT || rc == EACCES || rc == EROFS || rc == ENOSPC)
			break;
		index_unlink(store);
	}
	free(ix);
	store->index_off = true;
	return NULL;
}

void
mstore_index_close(struct mstore *store)
{
	if (store->index != NULL)
		(void)mdb_env_sync(store->index->env, 1);
	index_env_close(store);
}

/* The folder id of name: 1 found, 0 not (created if create), -1 error (rc in *rc_r). */
static int
fid_get(struct mstore_index *ix, MDB_txn *txn, const char *name, bool create,
    uint32_t *fid_r, int *rc_r)
{
	MDB_val k = { strlen(name), (void *)name }, v, nk, nv;
	unsigned char b[4];
	uint32_t next = 1;
	int rc;

	rc = mdb_get(txn, ix->folders, &k, &v);
	if (rc == 0 && v.mv_size == 4) {
		*fid_r = be32(v.mv_data);
		if (*fid_r != 0)
			return 1;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		*rc_r = rc;
		return -1;
	}
	if (!create)
		return 0;
	nk.mv_data = (void *)"nextfid";
	nk.mv_size = 7;
	rc = mdb_get(txn, ix->meta, &nk, &nv);
	if (rc == 0 && nv.mv_size == 4)
		next = be32(nv.mv_data);
	if (next == 0 || next == UINT32_MAX) {
		*rc_r = MDB_CORRUPTED;
		return -1;
	}
	b[0] = (unsigned char)((next + 1) >> 24);
	b[1] = (unsigned char)((next + 1) >> 16);
	b[2] = (unsigned char)((next + 1) >> 8);
	b[3] = (unsigned char)(next + 1);
	nv.mv_data = b;
	nv.mv_size = 4;
	if ((rc = mdb_put(txn, ix->meta, &nk, &nv, 0)) != 0) {
		*rc_r = rc;
		return -1;
	}
	b[0] = (unsigned char)(next >> 24);
	b[1] = (unsigned char)(next >> 16);
	b[2] = (unsigned char)(next >> 8);
	b[3] = (unsigned char)next;
	if ((rc = mdb_put(txn, ix->folders, &k, &nv, 0)) != 0) {
		*rc_r = rc;
		return -1;
	}
	*fid_r = next;
	return 1;
}

/* Delete the records of folder fid in dbi (keys fid(4) + ... + uid(4), klen bytes): all
 * (box NULL) or those of messages no longer in box. */
static int
cache_prune(MDB_txn *txn, MDB_dbi dbi, size_t klen, uint32_t fid, const struct mailbox *box)
{
	unsigned char kb[4];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	kb[0] = (unsigned char)(fid >> 24);
	kb[1] = (unsigned char)(fid >> 16);
	kb[2] = (unsigned char)(fid >> 8);
	kb[3] = (unsigned char)fid;
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
		return rc;
	k.mv_data = kb;
	k.mv_size = 4;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 4 && be32(k.mv_data) == fid) {
		if (box == NULL || k.mv_size != klen || mailbox_lookup(box,
		    be32((unsigned char *)k.mv_data + klen - 4), NULL) == NULL) {
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Delete the cached header fields and rendered items of folder fid: all (box NULL) or
 * those of messages no longer in box. */
static int
headers_prune(struct mstore_index *ix, MDB_txn *txn, uint32_t fid, const struct mailbox *box)
{
	int rc;

	if ((rc = cache_prune(txn, ix->headers, 8, fid, box)) != 0)
		return rc;
	return cache_prune(txn, ix->items, ITEM_KEY_LEN, fid, box);
}

/* Delete the `msgs` records of folder fid from key (fid, first) on. 0 or an LMDB error. */
static int
msgs_delete_from(struct mstore_index *ix, MDB_txn *txn, uint32_t fid, uint32_t first)
{
	unsigned char kb[8];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, ix->msgs, &c)) != 0)
		return rc;
	key_make(kb, fid, first);
	k.mv_data = kb;
	k.mv_size = 8;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 8 && be32(k.mv_data) == fid) {
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Delete every record of folder fid (header, messages, expunges, header fields). */
static int
fid_clear(struct mstore_index *ix, MDB_txn *txn, uint32_t fid)
{
	unsigned char kb[8];
	MDB_val k;
	int rc;

	key_make(kb, fid, 0);
	if ((rc = msgs_delete_from(ix, txn, fid, 0)) != 0)
		return rc;
	if ((rc = headers_prune(ix, txn, fid, NULL)) != 0)
		return rc;
	k.mv_data = kb;
	k.mv_size = 4;
	rc = mdb_del(txn, ix->expunges, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Drop one folder's records (after a bad record): logged by the caller. */
static void
index_drop_folder(struct mstore *store, const char *name)
{
	struct mstore_index *ix = store->index;
	MDB_txn *txn;
	uint32_t fid;
	int rc = 0;

	if (ix == NULL)
		return;
	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0) {
		index_fail(store, rc, "drop");
		return;
	}
	if (fid_get(ix, txn, name, false, &fid, &rc) == 1)
		rc = fid_clear(ix, txn, fid);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0)
		index_fail(store, rc, "drop");
}

void
mstore_index_drop(struct mstore *store, const char *name, bool children)
{
	struct mstore_index *ix = index_get(store);
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	size_t len = strlen(name);
	uint32_t fid;
	int rc;

	if (ix == NULL)
		return;
	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0) {
		index_fail(store, rc, "drop");
		return;
	}
	if ((rc = mdb_cursor_open(txn, ix->folders, &c)) != 0)
		goto out;
	k.mv_data = (void *)name;
	k.mv_size = len;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		bool exact = k.mv_size == len && memcmp(k.mv_data, name, len) == 0;
		bool child = children && k.mv_size > len + 1 &&
		    memcmp(k.mv_data, name, len) == 0 && ((char *)k.mv_data)[len] == STORE_SEP;

		if (k.mv_size < len || memcmp(k.mv_data, name, len) != 0)
			break;	/* past every name with this prefix */
		if (exact || child) {
			if (v.mv_size == 4 && (fid = be32(v.mv_data)) != 0 &&
			    (rc = fid_clear(ix, txn, fid)) != 0)
				break;
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0)
		index_fail(store, rc, "drop");
}

/* ------------------------------------------------------------------ MODSEQ */

void
mailbox_expunge_record(struct mailbox *box, uint32_t uid, uint64_t modseq, uint64_t emailid)
{
	if (box->n_expunges == MAILBOX_EXPUNGES_MAX) {
		/* forget the oldest tenth at once: amortised O(1) */
		size_t drop = MAILBOX_EXPUNGES_MAX / 10;

		box->expunge_forgotten = box->expunges[drop - 1].modseq;
		memmove(box->expunges, box->expunges + drop,
		    (box->n_expunges - drop) * sizeof(*box->expunges));
		box->n_expunges -= drop;
	}
	if (box->n_expunges == box->expunges_cap) {
		box->expunges_cap = box->expunges_cap == 0 ? 64 :
		    MIN(box->expunges_cap * 2, (size_t)MAILBOX_EXPUNGES_MAX);
		box->expunges = xreallocarray(box->expunges, box->expunges_cap,
		    sizeof(*box->expunges));
	}
	box->expunges[box->n_expunges].uid = uid;
	box->expunges[box->n_expunges].modseq = modseq;
	box->expunges[box->n_expunges].emailid = emailid;
	box->n_expunges++;
	box->hdr_prune = true;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool
mailbox_vanished_since(struct mailbox *box, uint64_t since, mailbox_range_cb *cb, void *ctx)
{
	uint32_t *uids, lo = 0, hi = 0, next;
	size_t n = 0, i;

	mailbox_msgs_load(box);
	if (since < box->expunge_forgotten) {
		/* records that old are gone: every UID below UIDNEXT not in the folder
		 * (more than were expunged since, never fewer) */
		next = 1;
		for (i = 0; i < box->count; i++) {
			if (MAILBOX_MSGS(box)[i].uid > next)
				cb(ctx, next, MAILBOX_MSGS(box)[i].uid - 1);
			next = MAILBOX_MSGS(box)[i].uid + 1;
		}
		if (next < box->nextuid)
			cb(ctx, next, box->nextuid - 1);
		return false;
	}
	/* records are in MODSEQ order: the newer ones are at the end */
	for (i = box->n_expunges; i > 0 && box->expunges[i - 1].modseq > since; i--)
		n++;
	if (n == 0)
		return true;
	uids = xreallocarray(NULL, n, sizeof(*uids));
	for (i = 0; i < n; i++)
		uids[i] = box->expunges[box->n_expunges - n + i].uid;
	qsort(uids, n, sizeof(*uids), uid_cmp);
	for (i = 0; i < n; i++) {
		if (hi != 0 && uids[i] <= hi + 1) {
			hi = MAX(hi, uids[i]);
			continue;
		}
		if (hi != 0)
			cb(ctx, lo, hi);
		lo = hi = uids[i];
	}
	cb(ctx, lo, hi);
	free(uids);
	return true;
}

bool
mailbox_expunges_since(struct mailbox *box, uint64_t since, mailbox_expunge_cb *cb, void *ctx)
{
	size_t i;

	mailbox_msgs_load(box);
	if (since < box->expunge_forgotten)
		return false;
	/* in MODSEQ order: the newer ones are at the end */
	for (i = box->n_expunges; i > 0 && box->expunges[i - 1].modseq > since; i--)
		;
	for (; i < box->n_expunges; i++)
		cb(ctx, box->expunges[i].uid, box->expunges[i].modseq, box->expunges[i].emailid);
	return true;
}

uint64_t
mailbox_highestmodseq(const struct mailbox *box)
{
	return box->highestmodseq;
}

uint64_t
mailbox_msg_emailid(const struct mailbox *box, const struct mailbox_msg *m)
{
	(void)box;
	return m->emailid;
}

/* ------------------------------------------------------------------ snapshot header */

static void
hdr_fill(struct mailbox *box, struct index_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->version = INDEX_FORMAT_VERSION;
	h->uidvalidity = box->uidvalidity;
	h->nextuid = box->nextuid;
	h->count = (uint32_t)box->count;
	h->highestmodseq = box->highestmodseq;
	h->modseq_ceiling = box->highestmodseq;
	h->new_mtime_ns = ts_ns(&box->new_mtime);
	h->cur_mtime_ns = ts_ns(&box->cur_mtime);
	h->uidlist_ino = (uint64_t)box->uidlist_st.st_ino;
	h->uidlist_size = (uint64_t)box->uidlist_st.st_size;
	h->uidlist_mtime_ns = ts_ns(&box->uidlist_st.st_mtim);
	h->new_ino = (uint64_t)box->new_ino;
	h->cur_ino = (uint64_t)box->cur_ino;
	h->expunge_forgotten = MIN(box->expunge_forgotten, box->highestmodseq);
	memcpy(h->guid, box->guid, sizeof(h->guid));
	for (size_t i = strlen(h->guid); i < 32; i++)
		h->guid[i] = '0';
}

/* The summary SELECT answers from while the messages are not loaded: one pass over them
 * (only when the snapshot is written, not when an unchanged one is compared). */
static void
hdr_summary(struct mailbox *box, struct index_hdr *h)
{
	mailbox_msgs_load(box);
	h->unseen = h->first_unseen_seq = h->first_unseen_uid = 0;
	h->vsize_total = 0;
	h->flags |= INDEX_HDR_VSIZE_KNOWN;
	for (size_t i = 0; i < box->count; i++) {
		const struct mailbox_msg *m = &box->msgs[i];

		if ((m->flags & MAILBOX_FLAG_SEEN) == 0 && h->unseen++ == 0) {
			h->first_unseen_seq = (uint32_t)i + 1;
			h->first_unseen_uid = m->uid;
		}
		if (m->vsize == MAILBOX_SIZE_UNKNOWN)
			h->flags &= ~INDEX_HDR_VSIZE_KNOWN;
		else
			h->vsize_total += m->vsize;
	}
	if ((h->flags & INDEX_HDR_VSIZE_KNOWN) == 0)
		h->vsize_total = 0;
}

/* A header of an empty folder: no messages, no summary. */
static void
hdr_empty(struct index_hdr *h)
{
	h->count = 0;
	h->unseen = h->first_unseen_seq = h->first_unseen_uid = 0;
	h->flags |= INDEX_HDR_VSIZE_KNOWN;
	h->vsize_total = 0;
}

/*
 * Does memory reflect the directories right now? With inotify watching new/ and cur/,
 * draining the queue shows every change by others up to this moment; then equal mtimes
 * and an unchanged uidlist mean the snapshot is current as of now. Without inotify, it
 * is current as of the last full scan's stat (synced_at). Returns the time (ns) it is
 * current as of, or 0 if it is not.
 */
static int64_t
snapshot_current_at(struct mailbox *box)
{
	struct stat sn, sc;

	mstore_notify_drain(box->store);
	if (box->force_sync || box->own_overflow || box->uidlist_st.st_ino == 0 ||
	    box->synced_at == 0)
		return 0;
	if (fstat(box->new_fd, &sn) < 0 || fstat(box->cur_fd, &sc) < 0 ||
	    !mstore_ts_eq(&sn.st_mtim, &box->new_mtime) ||
	    !mstore_ts_eq(&sc.st_mtim, &box->cur_mtime) || mailbox_uidlist_changed(box))
		return 0;
	if (box->wd_new >= 0 && box->wd_cur >= 0)
		return now_ns();
	return (int64_t)box->synced_at * 1000000000LL;
}

/* ------------------------------------------------------------------ header fields */

static void
item_key_make(unsigned char k[ITEM_KEY_LEN], uint32_t fid, uint8_t item, uint32_t uid)
{
	key_make(k, fid, 0);
	k[4] = item;
	k[5] = (unsigned char)(uid >> 24);
	k[6] = (unsigned char)(uid >> 16);
	k[7] = (unsigned char)(uid >> 8);
	k[8] = (unsigned char)uid;
}

/* Write the queued header fields and rendered items of box (value: kind, uidvalidity,
 * bytes); entries of messages expunged meanwhile are skipped. */
static int
hdrcache_flush_txn(struct mstore_index *ix, MDB_txn *txn, uint32_t fid, struct mailbox *box)
{
	unsigned char kb[ITEM_KEY_LEN];
	MDB_val k, v;
	size_t off = 0;
	int rc;

	while (off + 16 <= box->hdr_pend_len) {
		uint32_t uid, lw, len;
		uint8_t item;
		unsigned char *p = box->hdr_pend + off;

		memcpy(&uid, p, 4);
		memcpy(&lw, p + 4, 4);
		len = lw & PEND_LEN_MASK;
		item = (uint8_t)(lw >> PEND_ITEM_SHIFT);
		/* p + 8: kind, p + 12: uidvalidity + bytes, stored as they are queued */
		if (item == 0)
			key_make(kb, fid, uid);
		else
			item_key_make(kb, fid, item, uid);
		k.mv_data = kb;
		k.mv_size = item == 0 ? 8 : ITEM_KEY_LEN;
		v.mv_data = p + 8;
		v.mv_size = (size_t)len + 8;
		if (mailbox_lookup(box, uid, NULL) != NULL &&
		    (rc = mdb_put(txn, item == 0 ? ix->headers : ix->items, &k, &v, 0)) != 0)
			return rc;
		off += 16 + (size_t)len;
	}
	return 0;
}

static void
hdrcache_pending_free(struct mailbox *box)
{
	free(box->hdr_pend);
	box->hdr_pend = NULL;
	box->hdr_pend_len = box->hdr_pend_cap = 0;
}

int
mailbox_hdrcache_get(struct mailbox *box, uint32_t uid, uint32_t kind, unsigned char **buf,
    size_t *cap, size_t *len_r)
{
	struct mstore_index *ix;
	unsigned char kb[8], *p;
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t fid, vkind, vvalidity;
	int rc, found = 0;

	if (box->uidvalidity == 0 || (ix = index_get(box->store)) == NULL)
		return 0;
	if (mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	fid = box->index_fid;
	if (fid == 0 && fid_get(ix, txn, box->name, false, &fid, &rc) == 1)
		box->index_fid = fid;
	if (fid != 0) {
		key_make(kb, fid, uid);
		k.mv_data = kb;
		k.mv_size = 8;
		if (mdb_get(txn, ix->headers, &k, &v) == 0 && v.mv_size >= 8 &&
		    v.mv_size - 8 <= MAILBOX_HDRCACHE_MAX) {
			p = v.mv_data;
			memcpy(&vkind, p, 4);
			memcpy(&vvalidity, p + 4, 4);
			if (vkind == kind && vvalidity == box->uidvalidity) {
				if (*cap < v.mv_size - 8 || *buf == NULL) {
					*cap = MAX(v.mv_size - 8, 1);
					*buf = xrealloc(*buf, *cap);
				}
				memcpy(*buf, p + 8, v.mv_size - 8);
				*len_r = v.mv_size - 8;
				found = 1;
			}
		}
	}
	mdb_txn_abort(txn);
	return found;
}

/* Queue len bytes of item (0: header fields) of uid for the next write. */
static void
pend_put(struct mailbox *box, uint32_t uid, uint8_t item, uint32_t kind, const void *data,
    size_t len)
{
	uint32_t lw = (uint32_t)len | (uint32_t)item << PEND_ITEM_SHIFT;
	unsigned char *p;

	if (box->deleted || box->store->index_off || box->store->index_bypass ||
	    box->uidvalidity == 0)
		return;
	if (box->hdr_pend_len + 16 + len > box->hdr_pend_cap) {
		box->hdr_pend_cap = MAX(box->hdr_pend_cap * 2, box->hdr_pend_len + 16 + len + 4096);
		box->hdr_pend = xrealloc(box->hdr_pend, box->hdr_pend_cap);
	}
	p = box->hdr_pend + box->hdr_pend_len;
	memcpy(p, &uid, 4);
	memcpy(p + 4, &lw, 4);
	memcpy(p + 8, &kind, 4);
	memcpy(p + 12, &box->uidvalidity, 4);
	if (len > 0)
		memcpy(p + 16, data, len);
	box->hdr_pend_len += 16 + len;
	box->index_dirty = true;
	/* a long SEARCH or FETCH over a big folder: write in batches, not all at close */
	if (box->hdr_pend_len >= MAILBOX_HDRCACHE_BATCH)
		mailbox_hdrcache_flush(box);
}

void
mailbox_hdrcache_put(struct mailbox *box, uint32_t uid, uint32_t kind, const void *data,
    size_t len)
{
	if (len <= MAILBOX_HDRCACHE_MAX)
		pend_put(box, uid, 0, kind, data, len);
}

void
mailbox_items_put(struct mailbox *box, uint32_t uid, uint8_t item, uint32_t kind,
    const void *data, size_t len)
{
	if (item != 0 && len <= MAILBOX_ITEMS_MAX)
		pend_put(box, uid, item, kind, data, len);
}

int
mailbox_items_walk(struct mailbox *box, uint8_t item, uint32_t kind, uint32_t first,
    uint32_t last, size_t max_bytes, mailbox_items_cb *cb, void *ctx, uint32_t *done_r)
{
	struct mstore_index *ix;
	unsigned char kb[ITEM_KEY_LEN];
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t fid, uid, vkind, vvalidity;
	size_t bytes = 0;
	int rc;

	/* without an index (or an entry) the range is answered: nothing is stored */
	*done_r = last;
	if (item == 0 || first > last || box->uidvalidity == 0 ||
	    (ix = index_get(box->store)) == NULL)
		return 0;
	if (mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	fid = box->index_fid;
	if (fid == 0 && fid_get(ix, txn, box->name, false, &fid, &rc) == 1)
		box->index_fid = fid;
	if (fid == 0 || mdb_cursor_open(txn, ix->items, &c) != 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	item_key_make(kb, fid, item, first);
	k.mv_data = kb;
	k.mv_size = ITEM_KEY_LEN;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *kp = k.mv_data, *p = v.mv_data;

		if (k.mv_size != ITEM_KEY_LEN || memcmp(kp, kb, 5) != 0)
			break;
		uid = be32(kp + 5);
		if (uid > last)
			break;
		if (bytes >= max_bytes && bytes > 0) {
			*done_r = uid - 1;	/* uid > first: one was passed */
			break;
		}
		if (v.mv_size < 8 || v.mv_size - 8 > MAILBOX_ITEMS_MAX)
			continue;	/* not ours: a miss, rewritten at the next render */
		memcpy(&vkind, p, 4);
		memcpy(&vvalidity, p + 4, 4);
		if (vkind != kind || vvalidity != box->uidvalidity)
			continue;
		cb(ctx, uid, p + 8, v.mv_size - 8);
		bytes += v.mv_size - 8;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return 1;
}

void
mailbox_hdrcache_flush(struct mailbox *box)
{
	struct mstore_index *ix;
	MDB_txn *txn;
	uint32_t fid = 0;
	int rc = 0, tries;

	if (box->hdr_pend_len == 0)
		return;
	if ((ix = index_get(box->store)) == NULL) {
		hdrcache_pending_free(box);
		return;
	}
	/* rendered items fill the map faster than snapshots: grow it here as
	 * mailbox_index_write does */
	for (tries = 0; tries < 4; tries++) {
		if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
			break;
		if (fid_get(ix, txn, box->name, true, &fid, &rc) == 1)
			rc = hdrcache_flush_txn(ix, txn, fid, box);
		if (rc == 0) {
			rc = mdb_txn_commit(txn);
			if (rc != MDB_MAP_FULL)
				break;
		} else
			mdb_txn_abort(txn);
		if (rc != MDB_MAP_FULL || ix->mapsize >= INDEX_MAP_MAX)
			break;
		ix->mapsize = MIN(ix->mapsize * 2, INDEX_MAP_MAX);
		if ((rc = mdb_env_set_mapsize(ix->env, ix->mapsize)) != 0)
			break;
	}
	/* a long SEARCH or SORT queues the next batch right away: keep one batch's buffer
	 * (the snapshot write, or the folder leaving memory, frees it) */
	if (box->hdr_pend_cap <= 2 * MAILBOX_HDRCACHE_BATCH)
		box->hdr_pend_len = 0;
	else
		hdrcache_pending_free(box);
	if (rc == 0)
		box->index_fid = fid;
	else if (rc != MDB_MAP_FULL)
		index_fail(box->store, rc, "header write");
}

/* ------------------------------------------------------------------ write */

static int
records_write(struct mstore_index *ix, MDB_txn *txn, uint32_t fid, struct mailbox *box,
    const unsigned char *hb)
{
	unsigned char kb[8], *rb = NULL, hcopy[INDEX_HDR_SIZE];
	struct index_hdr old;
	size_t rbcap = 0, i, nchunks, ci;
	MDB_val k, v;
	int rc;

	key_make(kb, fid, 0);
	k.mv_data = kb;
	k.mv_size = 8;
	/* a MODSEQ ceiling another process reserved (a `buzon deliver` next to the mail
	 * process) stays: only our own reservation is given back */
	if (mdb_get(txn, ix->msgs, &k, &v) == 0 &&
	    index_hdr_decode(v.mv_data, v.mv_size, &old) == 0 &&
	    old.uidvalidity == box->uidvalidity &&
	    old.modseq_ceiling != box->modseq_ceiling &&
	    old.modseq_ceiling > box->highestmodseq) {
		struct index_hdr h;

		(void)index_hdr_decode(hb, INDEX_HDR_SIZE, &h);
		h.modseq_ceiling = old.modseq_ceiling;
		index_hdr_encode(&h, hcopy);
		hb = hcopy;
	}
	v.mv_data = (void *)hb;
	v.mv_size = INDEX_HDR_SIZE;
	if ((rc = mdb_put(txn, ix->msgs, &k, &v, 0)) != 0)
		return rc;
	/* the messages in chunks of INDEX_CHUNK_MAX: a chunk that encodes to the bytes
	 * stored is not rewritten (flag changes and appends touch one or two) */
	nchunks = (box->count + INDEX_CHUNK_MAX - 1) / INDEX_CHUNK_MAX;
	for (ci = 0; ci < nchunks; ci++) {
		size_t first = ci * INDEX_CHUNK_MAX, names = 0, off = 0, n;
		uint32_t cnt = (uint32_t)MIN((size_t)INDEX_CHUNK_MAX, box->count - first);

		for (i = first; i < first + cnt; i++)
			names += strlen(mailbox_msg_name(&box->msgs[i])) + 5;
		n = index_chunk_size(cnt, names);
		if (n > rbcap) {
			rbcap = n;
			free(rb);
			rb = xmalloc(rbcap);
		}
		index_chunk_begin(rb, cnt, (uint32_t)names);
		for (i = first; i < first + cnt; i++) {
			const struct mailbox_msg *m = &box->msgs[i];
			struct index_rec r;

			r.uid = m->uid;
			r.flags = m->flags & (MAILBOX_FLAGS_IMAP | MAILBOX_FLAG_PASSED);
			r.in_new = m->filename[0] == 'n';
			r.keywords = m->keywords;
			r.modseq = m->modseq != 0 ? m->modseq : 1;
			r.size = m->size;
			r.vsize = m->vsize;
			r.internaldate = m->internaldate;
			r.savedate = m->savedate;
			r.emailid = m->emailid;
			r.name = mailbox_msg_name(m);
			r.name_len = strlen(r.name);
			off = index_chunk_put(rb, cnt, (uint32_t)(i - first), off, &r);
		}
		key_make(kb, fid, (uint32_t)ci + 1);
		k.mv_data = kb;
		k.mv_size = 8;
		rc = mdb_get(txn, ix->msgs, &k, &v);
		if (rc == 0 && v.mv_size == n && memcmp(v.mv_data, rb, n) == 0)
			continue;
		if (rc != 0 && rc != MDB_NOTFOUND)
			break;
		v.mv_data = rb;
		v.mv_size = n;
		if ((rc = mdb_put(txn, ix->msgs, &k, &v, 0)) != 0)
			break;
	}
	free(rb);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	/* chunks past the last: the folder shrank */
	if ((rc = msgs_delete_from(ix, txn, fid, (uint32_t)nchunks + 1)) != 0)
		return rc;
	if ((rc = hdrcache_flush_txn(ix, txn, fid, box)) != 0)
		return rc;
	if (box->hdr_prune) {
		if ((rc = headers_prune(ix, txn, fid, box)) != 0)
			return rc;
	}
	/* expunges: one value, (uid, modseq, emailid) records */
	k.mv_data = kb;
	k.mv_size = 4;
	if (box->n_expunges == 0) {
		rc = mdb_del(txn, ix->expunges, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	rb = xcalloc(box->n_expunges, INDEX_EXPUNGE_REC);
	for (i = 0; i < box->n_expunges; i++) {
		unsigned char *p = rb + i * INDEX_EXPUNGE_REC;
		uint64_t ms = box->expunges[i].modseq, eid = box->expunges[i].emailid;

		memcpy(p, &box->expunges[i].uid, 4);
		memcpy(p + 4, &ms, 8);
		memcpy(p + 12, &eid, 8);
	}
	v.mv_data = rb;
	v.mv_size = box->n_expunges * INDEX_EXPUNGE_REC;
	rc = mdb_put(txn, ix->expunges, &k, &v, 0);
	free(rb);
	return rc;
}

void
mailbox_index_write(struct mailbox *box)
{
	struct mstore *store = box->store;
	struct mstore_index *ix;
	struct index_hdr h;
	unsigned char hb[INDEX_HDR_SIZE], kb[8];
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t fid;
	int64_t at;
	bool header_only = false;
	int rc = 0, tries;

	if (box->deleted || box->uidvalidity == 0 || box->nextuid == 0)
		return;
	/* messages never loaded: nothing changed since the trusted snapshot (every
	 * change loads them first), which stays as it is */
	if (box->msgs_lazy && box->hdr_pend_len == 0)
		return;
	if ((ix = index_get(store)) == NULL)
		return;
	hdr_fill(box, &h);
	at = snapshot_current_at(box);
	if (at != 0) {
		h.flags |= INDEX_HDR_CURRENT;
		h.snap_ns = at;
	}
	if (!box->index_dirty && mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn) == 0) {
		/* nothing changed: skip the write if the stored header says the same,
		 * ignoring the snapshot time; but a snapshot taken right after a change
		 * (not trusted: mtimes within INDEX_TRUST_MARGIN_NS of it) gets the later
		 * time now that memory is still current, so a restart can trust it */
		struct index_hdr sh;
		bool same = false, trusted_soon = false;
		int64_t newest = MAX(h.new_mtime_ns, MAX(h.cur_mtime_ns, h.uidlist_mtime_ns));

		if (fid_get(ix, txn, box->name, false, &fid, &rc) == 1) {
			key_make(kb, fid, 0);
			k.mv_data = kb;
			k.mv_size = 8;
			if (mdb_get(txn, ix->msgs, &k, &v) == 0 && v.mv_size == INDEX_HDR_SIZE &&
			    index_hdr_decode(v.mv_data, v.mv_size, &sh) == 0) {
				/* no message changed since it was written or loaded: its
				 * summary stands (not counted again at every close) */
				h.unseen = sh.unseen;
				h.first_unseen_seq = sh.first_unseen_seq;
				h.first_unseen_uid = sh.first_unseen_uid;
				h.vsize_total = sh.vsize_total;
				h.flags |= sh.flags & INDEX_HDR_VSIZE_KNOWN;
				index_hdr_encode(&h, hb);
				same = memcmp(v.mv_data, hb, 72) == 0 &&
				    memcmp((char *)v.mv_data + 80, hb + 80,
				    INDEX_HDR_SIZE - 80) == 0;
				trusted_soon = same && at != 0 &&
				    sh.snap_ns - INDEX_TRUST_MARGIN_NS < newest &&
				    at - INDEX_TRUST_MARGIN_NS >= newest;
			}
		}
		mdb_txn_abort(txn);
		if (same && !trusted_soon)
			return;
		header_only = same;
	}
	if (!header_only) {
		h.flags &= ~INDEX_HDR_VSIZE_KNOWN;
		hdr_summary(box, &h);
	}
	index_hdr_encode(&h, hb);
	for (tries = 0; tries < 4; tries++) {
		if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
			break;
		if (fid_get(ix, txn, box->name, true, &fid, &rc) == 1) {
			if (header_only) {
				key_make(kb, fid, 0);
				k.mv_data = kb;
				k.mv_size = 8;
				v.mv_data = hb;
				v.mv_size = INDEX_HDR_SIZE;
				rc = mdb_put(txn, ix->msgs, &k, &v, 0);
			} else
				rc = records_write(ix, txn, fid, box, hb);
		}
		if (rc == 0) {
			rc = mdb_txn_commit(txn);
			if (rc != MDB_MAP_FULL)
				break;
		} else
			mdb_txn_abort(txn);
		if (rc != MDB_MAP_FULL || ix->mapsize >= INDEX_MAP_MAX)
			break;
		ix->mapsize = MIN(ix->mapsize * 2, INDEX_MAP_MAX);
		if ((rc = mdb_env_set_mapsize(ix->env, ix->mapsize)) != 0)
			break;
	}
	if (rc != 0) {
		index_fail(store, rc, "write");
		return;
	}
	box->index_dirty = false;
	box->hdr_prune = false;
	box->index_fid = fid;
	hdrcache_pending_free(box);
	box->modseq_ceiling = box->highestmodseq;
}

void
mailbox_index_reserve(struct mailbox *box)
{
	struct mstore *store = box->store;
	struct mstore_index *ix;
	struct index_hdr h;
	unsigned char hb[INDEX_HDR_SIZE], kb[8];
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t fid;
	int rc = 0;

	box->modseq_ceiling = box->highestmodseq + MAILBOX_MODSEQ_RESERVE;
	if (box->uidvalidity == 0 || (ix = index_get(store)) == NULL)
		return;
	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0) {
		index_fail(store, rc, "reserve");
		return;
	}
	if (fid_get(ix, txn, box->name, true, &fid, &rc) != 1)
		goto fail;
	key_make(kb, fid, 0);
	k.mv_data = kb;
	k.mv_size = 8;
	rc = mdb_get(txn, ix->msgs, &k, &v);
	if (rc == 0 && index_hdr_decode(v.mv_data, v.mv_size, &h) == 0 &&
	    h.uidvalidity == box->uidvalidity) {
		/* keep the snapshot as a starting point; it is no longer current */
		h.flags &= ~INDEX_HDR_CURRENT;
	} else if (rc == 0 || rc == MDB_NOTFOUND) {
		/* no usable snapshot: an empty one that carries the ceiling */
		if ((rc = fid_clear(ix, txn, fid)) != 0)
			goto fail;
		hdr_fill(box, &h);
		hdr_empty(&h);
		h.expunge_forgotten = 0;
	} else
		goto fail;
	h.modseq_ceiling = MAX(h.modseq_ceiling, box->modseq_ceiling);
	h.highestmodseq = MIN(h.highestmodseq, h.modseq_ceiling);
	index_hdr_encode(&h, hb);
	v.mv_data = hb;
	v.mv_size = INDEX_HDR_SIZE;
	if ((rc = mdb_put(txn, ix->msgs, &k, &v, 0)) != 0)
		goto fail;
	if ((rc = mdb_txn_commit(txn)) != 0) {
		index_fail(store, rc, "reserve");
		return;
	}
	return;
fail:
	mdb_txn_abort(txn);
	index_fail(store, rc, "reserve");
}

/* ------------------------------------------------------------------ load */

/* Read the expunges value; false if it does not validate. */
static bool
expunges_load(struct mailbox *box, const MDB_val *v, const struct index_hdr *h)
{
	const unsigned char *p = v->mv_data;
	size_t n = v->mv_size / INDEX_EXPUNGE_REC, i;
	uint64_t last = h->expunge_forgotten;

	if (v->mv_size % INDEX_EXPUNGE_REC != 0 || n > MAILBOX_EXPUNGES_MAX)
		return false;
	box->expunges = xcalloc(MAX(n, 1), sizeof(*box->expunges));
	box->expunges_cap = MAX(n, 1);
	for (i = 0; i < n; i++) {
		uint32_t uid;
		uint64_t ms, eid;

		memcpy(&uid, p + i * INDEX_EXPUNGE_REC, 4);
		memcpy(&ms, p + i * INDEX_EXPUNGE_REC + 4, 8);
		memcpy(&eid, p + i * INDEX_EXPUNGE_REC + 12, 8);
		if (uid == 0 || uid >= h->nextuid || ms < last || ms > h->highestmodseq)
			return false;
		last = ms;
		box->expunges[i].uid = uid;
		box->expunges[i].modseq = ms;
		box->expunges[i].emailid = eid;
	}
	box->n_expunges = n;
	box->expunge_forgotten = h->expunge_forgotten;
	return true;
}

/*
 * Memory for a big array filled at once (a loaded snapshot's message array and file
 * names): 2 MiB-aligned and marked for transparent huge pages, because a fresh mail
 * process pays a page fault for every 4 KiB it touches first (about 10 us each on the
 * test VMs, more than decoding the message), and a huge page is one fault. Plain
 * malloc memory as far as free() and realloc() are concerned; *size_r is the usable
 * size (rounded up). Small sizes: calloc.
 */
#define INDEX_HUGE_MIN		(256u << 10)
#define INDEX_HUGE_ALIGN	(2u << 20)

static void *
index_big_alloc(size_t size, size_t *size_r)
{
	void *p;

	if (size < INDEX_HUGE_MIN) {
		*size_r = size;
		return xcalloc(1, MAX(size, 1));
	}
	if (size > SIZE_MAX - INDEX_HUGE_ALIGN)
		fatal("index_big_alloc: %zu bytes", size);
	size = (size + INDEX_HUGE_ALIGN - 1) & ~((size_t)INDEX_HUGE_ALIGN - 1);
	if (posix_memalign(&p, INDEX_HUGE_ALIGN, size) != 0)
		fatal("out of memory (%zu bytes)", size);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, size, MADV_HUGEPAGE);
#endif
	*size_r = size;
	return p;
}

/* A first chunk of the name arena large enough for n bytes of names. */
static void
names_reserve(struct name_arena *a, size_t n)
{
	struct name_chunk *c;
	size_t got;

	if (n < INDEX_HUGE_MIN)
		return;	/* name_arena_alloc's 64 KiB chunks */
	c = index_big_alloc(sizeof(*c) + n, &got);
	c->size = got - sizeof(*c);
	c->used = 0;
	c->next = a->head;
	a->head = c;
}

/*
 * Copy len bytes at off of an LMDB value into dst. A large value lives in overflow
 * pages: contiguous in the file, right after a 16-byte page header that holds the page
 * number (LMDB 0.9's MDB_page). Then the bytes are read with pread() from the file
 * instead of through the map: the map would take a page fault per 4 KiB first touched
 * in a fresh process, the kernel's copy from the page cache takes none (our read
 * transaction keeps those pages from being reused meanwhile). The first 16 and the
 * last 8 bytes are compared with the map, and anything unexpected falls back to
 * memcpy from the map; the bytes are validated afterwards either way.
 */
#define LMDB_PAGEHDRSZ		16
#define LMDB_P_OVERFLOW		0x04

static void
value_copy(struct mstore_index *ix, const MDB_val *v, size_t off, size_t len, void *dst)
{
	const unsigned char *src = (const unsigned char *)v->mv_data + off;
	const unsigned char *pg = (const unsigned char *)v->mv_data - LMDB_PAGEHDRSZ;
	uint64_t pgno;
	uint16_t flags;
	off_t foff;

	if (len >= 64 * 1024 && ix->psize != 0 && ((uintptr_t)pg % ix->psize) == 0) {
		memcpy(&pgno, pg, 8);
		memcpy(&flags, pg + 10, 2);
		if ((flags & LMDB_P_OVERFLOW) != 0 && pgno < ix->mapsize / ix->psize) {
			foff = (off_t)(pgno * ix->psize + LMDB_PAGEHDRSZ + off);
			if (pread(ix->fd, dst, len, foff) == (ssize_t)len &&
			    memcmp(dst, src, 16) == 0 &&
			    memcmp((char *)dst + len - 8, src + len - 8, 8) == 0)
				return;
		}
	}
	memcpy(dst, src, len);
}

static void
load_reset(struct mailbox *box)
{
	free(box->msgs);
	box->msgs = NULL;
	box->count = box->cap = 0;
	mailbox_msgs_changed(box);
	name_arena_free(&box->names);
	free(box->expunges);
	box->expunges = NULL;
	box->n_expunges = box->expunges_cap = 0;
	box->expunge_forgotten = 0;
}

/* Does the stored header h describe the same snapshot as the one a lazy open trusted?
 * A writer that changes any message changes HIGHESTMODSEQ or the directories' or the
 * uidlist's stat; only the snapshot time, the flags and the MODSEQ ceiling may differ
 * (a later header-only write, mailbox_index_reserve of another process). */
static bool
hdr_same_snapshot(const struct index_hdr *a, const struct index_hdr *b)
{
	return a->uidvalidity == b->uidvalidity && a->nextuid == b->nextuid &&
	    a->count == b->count && a->highestmodseq == b->highestmodseq &&
	    a->new_mtime_ns == b->new_mtime_ns && a->cur_mtime_ns == b->cur_mtime_ns &&
	    a->uidlist_ino == b->uidlist_ino && a->uidlist_size == b->uidlist_size &&
	    a->uidlist_mtime_ns == b->uidlist_mtime_ns && a->new_ino == b->new_ino &&
	    a->cur_ino == b->cur_ino && a->expunge_forgotten == b->expunge_forgotten &&
	    a->unseen == b->unseen && a->first_unseen_seq == b->first_unseen_seq &&
	    a->first_unseen_uid == b->first_unseen_uid &&
	    memcmp(a->guid, b->guid, sizeof(a->guid)) == 0;
}

/*
 * Read the folder's snapshot. expect == NULL: an open (mailbox_index_load); a trusted
 * header with lazy set returns 1 without reading the messages. expect != NULL: the
 * messages of the snapshot a lazy open trusted (mailbox_index_load_msgs); -1 if the
 * stored header no longer describes it.
 */
static int
snapshot_load(struct mailbox *box, const struct index_hdr *expect, bool lazy)
{
	struct mstore *store = box->store;
	struct mstore_index *ix;
	struct index_hdr h;
	struct stat sn, sc, su;
	unsigned char kb[8];
	MDB_cursor *c = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t fid, prev = 0;
	struct index_chunk *chunks = NULL;
	size_t nchunks, have = 0, chunks_cap = 0, ci, total = 0, names = 0;
	const char *bad = NULL;
	int64_t newest, snap_cut;
	bool trusted;
	int rc = 0, ret;
	uint32_t unseen = 0;
	uint64_t vsize = 0;

	if ((ix = index_get(store)) == NULL)
		return -1;
	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) != 0) {
		index_fail(store, rc, "read");
		return -1;
	}
	ret = fid_get(ix, txn, box->name, false, &fid, &rc);
	if (ret != 1) {
		mdb_txn_abort(txn);
		if (ret < 0)
			index_fail(store, rc, "read");
		return -1;
	}
	key_make(kb, fid, 0);
	k.mv_data = kb;
	k.mv_size = 8;
	rc = mdb_get(txn, ix->msgs, &k, &v);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return -1;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		index_fail(store, rc, "read");
		return -1;
	}
	ret = index_hdr_decode(v.mv_data, v.mv_size, &h);
	if (ret < 0) {
		bad = ret == -2 ? "other format version" : "bad folder header";
		goto bad;
	}
	if (expect != NULL && !hdr_same_snapshot(&h, expect)) {
		/* rewritten by another process (`buzon deliver`) since the open */
		mdb_txn_abort(txn);
		log_info("store index snapshot changed since open mailbox=%s", box->name);
		return -1;
	}
	/* trusted only if the directories and the uidlist are as recorded, and had not
	 * changed for INDEX_TRUST_MARGIN_NS when the snapshot was known current */
	trusted = false;
	if (expect == NULL && (h.flags & INDEX_HDR_CURRENT) && fstat(box->new_fd, &sn) == 0 &&
	    fstat(box->cur_fd, &sc) == 0 &&
	    fstatat(box->dir_fd, UIDLIST_NAME, &su, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(su.st_mode)) {
		newest = MAX(ts_ns(&sn.st_mtim), MAX(ts_ns(&sc.st_mtim), ts_ns(&su.st_mtim)));
		snap_cut = h.snap_ns - INDEX_TRUST_MARGIN_NS;
		trusted = ts_ns(&sn.st_mtim) == h.new_mtime_ns &&
		    ts_ns(&sc.st_mtim) == h.cur_mtime_ns &&
		    (uint64_t)sn.st_ino == h.new_ino && (uint64_t)sc.st_ino == h.cur_ino &&
		    (uint64_t)su.st_ino == h.uidlist_ino &&
		    (uint64_t)su.st_size == h.uidlist_size &&
		    ts_ns(&su.st_mtim) == h.uidlist_mtime_ns && newest <= snap_cut;
	}
	if (trusted && lazy) {
		/* the header says all an open needs: the messages wait for
		 * mailbox_msgs_load (the first command that needs them) */
		mdb_txn_abort(txn);
		box->msgs_lazy = true;
		box->lazy = h;
		box->count = h.count;
		goto trusted;
	}
	/* the chunks, one cursor walk: keys fid+1, fid+2, ... without a gap, their
	 * message counts adding up to the header's (which then sizes the allocations) */
	if ((rc = mdb_cursor_open(txn, ix->msgs, &c)) != 0) {
		mdb_txn_abort(txn);
		index_fail(store, rc, "read");
		return -1;
	}
	nchunks = ((size_t)h.count + INDEX_CHUNK_MAX - 1) / INDEX_CHUNK_MAX;
	key_make(kb, fid, 1);
	k.mv_data = kb;
	k.mv_size = 8;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || be32(k.mv_data) != fid)
			break;
		if (have == chunks_cap) {
			chunks_cap = chunks_cap * 2 + 8;
			chunks = xreallocarray(chunks, chunks_cap, sizeof(*chunks));
		}
		if (have == nchunks || be32((unsigned char *)k.mv_data + 4) != have + 1 ||
		    index_chunk_open(v.mv_data, v.mv_size, &chunks[have]) != 0 ||
		    total + chunks[have].n > h.count) {
			bad = "bad message chunk";
			goto bad;
		}
		total += chunks[have].n;
		names += chunks[have].names_len;
		have++;
	}
	mdb_cursor_close(c);
	c = NULL;
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		free(chunks);
		index_fail(store, rc, "read");
		return -1;
	}
	if (total != h.count) {
		bad = "record count differs";
		goto bad;
	}
	if (h.count != 0) {
		size_t got;
		unsigned char *t;
		char *dst;

		/*
		 * The chunk headers and entries are read into the end of the message array
		 * itself, one chunk at a time, and decoded forwards: message b+i (S bytes
		 * each, S >= the entry size E) ends at S(b+i+1) <= S(b+n) <= S*count, below
		 * entry i+1 at got - E(n-i-1), so no entry is overwritten before it is read
		 * (index_chunk_next copies an entry out before the message is written), and
		 * no scratch memory is faulted in. The extra INDEX_CHUNK_HDR bytes keep the
		 * chunk header inside the buffer too.
		 */
		_Static_assert(sizeof(struct mailbox_msg) >= INDEX_CHUNK_ENTRY,
		    "messages decoded in place over their entries");
		box->msgs = index_big_alloc((size_t)h.count * sizeof(*box->msgs) +
		    INDEX_CHUNK_HDR, &got);
		box->cap = (got - INDEX_CHUNK_HDR) / sizeof(*box->msgs);
		mailbox_msgs_changed(box);
		/* the names blobs are the in-memory file names: copied as they are into the
		 * arena */
		names_reserve(&box->names, names);
		dst = name_arena_alloc(&box->names, names);
		for (ci = 0; ci < have; ci++) {
			struct index_chunk *ch = &chunks[ci];
			size_t hlen = index_chunk_size(ch->n, 0);
			MDB_val cv = { hlen + ch->names_len, (void *)ch->p };
			struct index_rec r;
			int got_rec;

			t = (unsigned char *)box->msgs + got - hlen;
			value_copy(ix, &cv, 0, hlen, t);
			value_copy(ix, &cv, hlen, ch->names_len, dst);
			if (memcmp(t, ch->p, INDEX_CHUNK_HDR) != 0) {
				bad = "bad message chunk";
				goto bad;
			}
			ch->p = t;
			ch->names = (const unsigned char *)dst;
			while ((got_rec = index_chunk_next(ch, &r)) == 1) {
				struct mailbox_msg *m;

				if (r.uid <= prev || r.uid >= h.nextuid) {
					bad = "UID out of order or range";
					goto bad;
				}
				if (r.modseq > h.highestmodseq) {
					bad = "bad message record";
					goto bad;
				}
				prev = r.uid;
				if ((r.flags & MAILBOX_FLAG_SEEN) == 0 && unseen++ == 0 &&
				    (h.first_unseen_uid != r.uid ||
				    h.first_unseen_seq != box->count + 1)) {
					bad = "summary differs from the messages";
					goto bad;
				}
				vsize = r.vsize == MAILBOX_SIZE_UNKNOWN || vsize == UINT64_MAX ?
				    UINT64_MAX : vsize + r.vsize;
				m = &box->msgs[box->count++];
				m->uid = r.uid;
				m->flags = r.flags;
				m->keywords = r.keywords;
				m->size = r.size;
				m->vsize = r.vsize;
				m->internaldate = (time_t)r.internaldate;
				m->savedate = (time_t)r.savedate;
				m->modseq = r.modseq;
				m->emailid = r.emailid;
				m->filename = (char *)r.name - 4;
			}
			if (got_rec < 0) {
				bad = "bad message record";
				goto bad;
			}
			dst += ch->names_len;
		}
		/* what is left of the entries past the messages */
		memset(box->msgs + box->count, 0,
		    got - box->count * sizeof(*box->msgs));
	}
	free(chunks);
	chunks = NULL;
	if (box->count != h.count) {
		bad = "record count differs";
		goto bad;
	}
	if (unseen != h.unseen || ((h.flags & INDEX_HDR_VSIZE_KNOWN) != 0 ?
	    vsize != h.vsize_total : vsize != UINT64_MAX && h.count != 0)) {
		bad = "summary differs from the messages";
		goto bad;
	}
	k.mv_data = kb;
	k.mv_size = 4;
	rc = mdb_get(txn, ix->expunges, &k, &v);
	if (rc == 0 && !expunges_load(box, &v, &h)) {
		bad = "bad expunge list";
		goto bad;
	}
	mdb_txn_abort(txn);
	if (expect != NULL) {
		/* the rest of the box was set up by the open */
		log_debug("store index messages loaded mailbox=%s messages=%zu", box->name,
		    box->count);
		return 1;
	}
trusted:
	box->uidvalidity = h.uidvalidity;
	box->nextuid = h.nextuid;
	memcpy(box->guid, h.guid, sizeof(box->guid));
	box->highestmodseq = h.modseq_ceiling;	/* an unclean exit may have used up to it */
	box->modseq_ceiling = h.modseq_ceiling;
	if (trusted) {
		box->new_mtime = sn.st_mtim;
		box->cur_mtime = sc.st_mtim;
		box->uidlist_st = su;
		box->synced_at = (time_t)(h.snap_ns / 1000000000LL);
		box->index_dirty = h.modseq_ceiling != h.highestmodseq;
		box->index_fid = fid;
		log_debug("store index snapshot trusted mailbox=%s messages=%zu", box->name,
		    box->count);
		metrics_add(MS_INDEX_HITS, 1);
		return 1;
	}
	log_debug("store index snapshot stale, rescanning mailbox=%s messages=%zu",
	    box->name, box->count);
	metrics_add(MS_INDEX_STALE, 1);
	box->index_preloaded = true;
	box->index_dirty = true;
	memset(&box->uidlist_st, 0, sizeof(box->uidlist_st));
	return 0;
bad:
	if (c != NULL)
		mdb_cursor_close(c);
	free(chunks);
	mdb_txn_abort(txn);
	log_error("store index invalid, folder rebuilt from the Maildir mailbox=%s "
	    "reason=\"%s\" uid=%u", box->name, bad, prev);
	metrics_add(MS_INDEX_INVALID, 1);
	load_reset(box);
	if (ret == 0 && expect == NULL) {
		/* the header was sound: its MODSEQ ceiling still holds */
		box->highestmodseq = box->modseq_ceiling = h.modseq_ceiling;
	}
	index_drop_folder(store, box->name);
	return -1;
}

int
mailbox_index_load(struct mailbox *box, bool lazy)
{
	return snapshot_load(box, NULL, lazy);
}

int
mailbox_index_load_msgs(struct mailbox *box)
{
	struct index_hdr expect = box->lazy;

	if (box->store->index_off || box->store->index_bypass)
		return -1;
	return snapshot_load(box, &expect, false);
}

/* ------------------------------------------------------------------ rebuild, check */

/* Empty a folder's snapshot but keep its MODSEQ ceiling (a rebuild must not lower
 * HIGHESTMODSEQ). */
static void
index_reset_folder(struct mstore *store, const char *name)
{
	struct mstore_index *ix = index_get(store);
	struct index_hdr h;
	unsigned char hb[INDEX_HDR_SIZE], kb[8];
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t fid;
	bool keep;
	int rc = 0;

	if (ix == NULL || (rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0) {
		if (ix != NULL)
			index_fail(store, rc, "rebuild");
		return;
	}
	if (fid_get(ix, txn, name, false, &fid, &rc) != 1) {
		mdb_txn_abort(txn);
		return;
	}
	key_make(kb, fid, 0);
	k.mv_data = kb;
	k.mv_size = 8;
	keep = mdb_get(txn, ix->msgs, &k, &v) == 0 &&
	    index_hdr_decode(v.mv_data, v.mv_size, &h) == 0;
	if ((rc = fid_clear(ix, txn, fid)) == 0 && keep) {
		h.flags = 0;
		hdr_empty(&h);
		h.highestmodseq = h.modseq_ceiling;
		h.expunge_forgotten = h.modseq_ceiling;
		index_hdr_encode(&h, hb);
		v.mv_data = hb;
		v.mv_size = INDEX_HDR_SIZE;
		k.mv_data = kb;
		k.mv_size = 8;
		rc = mdb_put(txn, ix->msgs, &k, &v, 0);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0)
		index_fail(store, rc, "rebuild");
}

/* All selectable folders: INBOX first. Caller frees with mstore_namelist_free. */
static enum store_status
index_folders(struct mstore *store, struct mstore_namelist *l)
{
	enum store_status st;
	size_t i, j;

	memset(l, 0, sizeof(*l));
	st = mstore_folder_names(store, l);
	if (st != STORE_OK)
		return st;
	for (i = j = 0; i < l->count; i++) {
		char *d = mstore_dirname(l->names[i]);

		if (mstore_folder_stat(store, d) == 1)
			l->names[j++] = l->names[i];
		else
			free(l->names[i]);
		free(d);
	}
	l->count = j;
	if (l->count == l->cap) {
		l->cap = l->cap * 2 + 1;
		l->names = xreallocarray(l->names, l->cap, sizeof(*l->names));
	}
	memmove(l->names + 1, l->names, l->count * sizeof(*l->names));
	l->names[0] = xstrdup("INBOX");
	l->count++;
	return STORE_OK;
}

enum store_status
mstore_index_rebuild(struct mstore *store, const char *name)
{
	return mstore_index_rebuild_cb(store, name, NULL, NULL);
}

enum store_status
mstore_index_rebuild_cb(struct mstore *store, const char *name, mstore_rebuild_cb *cb,
    void *ctx)
{
	struct mstore_namelist l;
	enum store_status st, ret = STORE_OK;
	struct mstore_index *ix;
	struct mailbox *box;
	size_t i;

	if ((ix = index_get(store)) == NULL)
		return STORE_IOERROR;
	if (name != NULL) {
		char *canon = mstore_canonical(name);

		l.names = xcalloc(1, sizeof(*l.names));
		l.names[0] = canon;
		l.count = l.cap = 1;
	} else {
		MDB_txn *txn = NULL;
		MDB_cursor *c;
		MDB_val k, v;
		struct mstore_namelist gone = { 0 };
		int rc;

		/* forget folders that no longer exist */
		if ((st = index_folders(store, &l)) != STORE_OK)
			return st;
		if (mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn) != 0)
			txn = NULL;
		if (txn != NULL && (rc = mdb_cursor_open(txn, ix->folders, &c)) == 0) {
			for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
			    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
				bool found = false;

				for (i = 0; i < l.count && !found; i++)
					found = strlen(l.names[i]) == k.mv_size &&
					    memcmp(l.names[i], k.mv_data, k.mv_size) == 0;
				if (!found) {
					if (gone.count == gone.cap) {
						gone.cap = gone.cap * 2 + 4;
						gone.names = xreallocarray(gone.names, gone.cap,
						    sizeof(*gone.names));
					}
					gone.names[gone.count++] = xstrndup(k.mv_data, k.mv_size);
				}
			}
			mdb_cursor_close(c);
		}
		if (txn != NULL)
			mdb_txn_abort(txn);
		for (i = 0; i < gone.count; i++)
			mstore_index_drop(store, gone.names[i], false);
		mstore_namelist_free(&gone);
	}
	for (i = 0; i < l.count; i++) {
		if (cb != NULL)
			cb(ctx, i, l.count, l.names[i]);
		mstore_cache_drop(store, l.names[i], false);
		index_reset_folder(store, l.names[i]);
		st = mailbox_open(store, l.names[i], &box);
		if (st != STORE_OK) {
			ret = st;
			continue;
		}
		mailbox_unref(&box);
	}
	mstore_namelist_free(&l);
	return store->index == NULL ? STORE_IOERROR : ret;
}

static int
msg_cmp_report(FILE *out, const char *folder, const struct mailbox *a, const struct mailbox *b)
{
	size_t i = 0, j = 0;
	int n = 0;

	if (a->uidvalidity != b->uidvalidity) {
		fprintf(out, "%s: uidvalidity index=%u maildir=%u\n", folder, a->uidvalidity,
		    b->uidvalidity);
		return 1;
	}
	if (a->nextuid > b->nextuid) {
		fprintf(out, "%s: uidnext index=%u maildir=%u\n", folder, a->nextuid,
		    b->nextuid);
		n++;
	}
	while (i < a->count || j < b->count) {
		const struct mailbox_msg *x = i < a->count ? &a->msgs[i] : NULL;
		const struct mailbox_msg *y = j < b->count ? &b->msgs[j] : NULL;

		if (y == NULL || (x != NULL && x->uid < y->uid)) {
			fprintf(out, "%s: uid %u only in the index (%s)\n", folder, x->uid,
			    x->filename);
			i++;
			n++;
		} else if (x == NULL || y->uid < x->uid) {
			fprintf(out, "%s: uid %u only in the maildir (%s)\n", folder, y->uid,
			    y->filename);
			j++;
			n++;
		} else {
			if ((x->flags & ~MAILBOX_FLAG_RECENT) != (y->flags & ~MAILBOX_FLAG_RECENT) ||
			    x->keywords != y->keywords || strcmp(x->filename, y->filename) != 0) {
				fprintf(out, "%s: uid %u index=%s maildir=%s\n", folder, x->uid,
				    x->filename, y->filename);
				n++;
			} else if (x->emailid != y->emailid) {
				fprintf(out, "%s: uid %u emailid index=%016llx maildir=%016llx\n",
				    folder, x->uid, (unsigned long long)x->emailid,
				    (unsigned long long)y->emailid);
				n++;
			}
			i++;
			j++;
		}
	}
	return n;
}

long
mstore_index_check(struct mstore *store, FILE *out)
{
	struct mstore_namelist l;
	long diffs = 0;
	size_t i;

	if (index_get(store) == NULL)
		return -1;
	if (index_folders(store, &l) != STORE_OK)
		return -1;
	for (i = 0; i < l.count; i++) {
		struct mailbox shadow, *box;
		int r, n;

		/* the snapshot, loaded against the directories as they are now */
		memset(&shadow, 0, sizeof(shadow));
		shadow.store = store;
		shadow.name = l.names[i];
		shadow.dirname = mstore_dirname(l.names[i]);
		shadow.dir_fd = strcmp(shadow.dirname, ".") == 0 ?
		    openat(store->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
		    openat(store->root_fd, shadow.dirname,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		shadow.new_fd = shadow.dir_fd < 0 ? -1 : openat(shadow.dir_fd, "new",
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		shadow.cur_fd = shadow.dir_fd < 0 ? -1 : openat(shadow.dir_fd, "cur",
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = -1;
		if (shadow.new_fd >= 0 && shadow.cur_fd >= 0 && mailbox_remember_identity(&shadow))
			r = mailbox_index_load(&shadow, false);
		/* the truth: a full scan that bypasses the index */
		mstore_cache_drop(store, l.names[i], false);
		store->index_bypass = true;
		if (mailbox_open(store, l.names[i], &box) != STORE_OK) {
			fprintf(out, "%s: cannot open\n", l.names[i]);
			diffs++;
			box = NULL;
		}
		if (box != NULL && r < 0) {
			/* never opened, or dropped as invalid (logged): built at the next
			 * open, not a difference */
			fprintf(out, "%s: no snapshot\n", l.names[i]);
		} else if (box != NULL) {
			n = msg_cmp_report(out, l.names[i], &shadow, box);
			fprintf(out, "%s: %s snapshot, %zu messages, %d difference%s\n",
			    l.names[i], r == 1 ? "current" : "stale", shadow.count, n,
			    n == 1 ? "" : "s");
			diffs += n;
		}
		if (box != NULL) {
			mailbox_unref(&box);
			mstore_cache_drop(store, l.names[i], false);
		}
		store->index_bypass = false;
		free(shadow.msgs);
		free(shadow.expunges);
		name_arena_free(&shadow.names);
		free(shadow.dirname);
		if (shadow.dir_fd >= 0)
			close(shadow.dir_fd);
		if (shadow.new_fd >= 0)
			close(shadow.new_fd);
		if (shadow.cur_fd >= 0)
			close(shadow.cur_fd);
	}
	mstore_namelist_free(&l);
	return diffs;
}

/* ------------------------------------------------------------------ thread ids */

static void
thread_key(unsigned char k[9], char kind, uint64_t v)
{
	k[0] = (unsigned char)kind;
	for (int i = 0; i < 8; i++)
		k[1 + i] = (unsigned char)(v >> (56 - 8 * i));
}

static int
thread_get(struct mstore_index *ix, MDB_txn *txn, char kind, uint64_t v, uint64_t *tid_r)
{
	unsigned char kb[9];
	MDB_val k, d;

	thread_key(kb, kind, v);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	if (mdb_get(txn, ix->threads, &k, &d) != 0 || d.mv_size != 8)
		return 0;
	memcpy(tid_r, d.mv_data, 8);
	return *tid_r != 0;
}

static int
thread_put(struct mstore_index *ix, MDB_txn *txn, char kind, uint64_t v, uint64_t tid,
    bool overwrite)
{
	unsigned char kb[9];
	MDB_val k, d;
	int rc;

	thread_key(kb, kind, v);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	d.mv_data = &tid;
	d.mv_size = 8;
	rc = mdb_put(txn, ix->threads, &k, &d, overwrite ? 0 : MDB_NOOVERWRITE);
	return rc == MDB_KEYEXIST ? 0 : rc;
}

void
mstore_threads_lookup(struct mstore *store, size_t n, const uint64_t *emailids,
    uint64_t *tids_r)
{
	struct mstore_index *ix = index_get(store);
	MDB_txn *txn;

	memset(tids_r, 0, n * sizeof(*tids_r));
	if (ix == NULL || mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		(void)thread_get(ix, txn, 'e', emailids[i], &tids_r[i]);
	mdb_txn_abort(txn);
}

/* One batch in one write transaction; an LMDB error code. */
static int
threads_assign_txn(struct mstore_index *ix, size_t n, const struct mstore_thread_refs *refs,
    uint64_t *tids_r)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct mstore_thread_refs *r = &refs[i];
		uint64_t tid = 0;

		if (thread_get(ix, txn, 'e', r->emailid, &tids_r[i]))
			continue;
		/* the thread of the first known of: the References (root first), then
		 * In-Reply-To, then the message's own Message-ID (RFC 8474 §5.2, as Cyrus
		 * and Dovecot: a reply joins its parent's thread, a parent its reply's) */
		for (size_t j = 0; j < r->n && tid == 0; j++)
			(void)thread_get(ix, txn, 'm', r->hashes[j], &tid);
		if (tid == 0 && r->own != 0)
			(void)thread_get(ix, txn, 'm', r->own, &tid);
		if (tid == 0)
			tid = r->emailid;
		tids_r[i] = tid;
		if (r->own != 0)
			rc = thread_put(ix, txn, 'm', r->own, tid, false);
		for (size_t j = 0; j < r->n && rc == 0; j++)
			rc = thread_put(ix, txn, 'm', r->hashes[j], tid, false);
		if (rc == 0)
			rc = thread_put(ix, txn, 'e', r->emailid, tid, true);
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

void
mstore_threads_assign(struct mstore *store, size_t n, const struct mstore_thread_refs *refs,
    uint64_t *tids_r)
{
	struct mstore_index *ix = index_get(store);
	int rc;

	if (ix == NULL || n == 0) {
		for (size_t i = 0; i < n; i++)
			tids_r[i] = refs[i].emailid;
		return;
	}
	/* a full map doubles, up to its cap, as for the snapshots */
	for (;;) {
		for (size_t i = 0; i < n; i++)
			tids_r[i] = refs[i].emailid;
		rc = threads_assign_txn(ix, n, refs, tids_r);
		if (rc != MDB_MAP_FULL || ix->mapsize >= INDEX_MAP_MAX)
			break;
		ix->mapsize = MIN(ix->mapsize * 2, INDEX_MAP_MAX);
		if ((rc = mdb_env_set_mapsize(ix->env, ix->mapsize)) != 0)
			break;
	}
	if (rc != 0) {
		/* a cache: the ids are the Emails' own until a later try */
		for (size_t i = 0; i < n; i++)
			tids_r[i] = refs[i].emailid;
		log_warn("store index thread ids not written root=%s error=%s",
		    store->root_path, mdb_strerror(rc));
	}
}
