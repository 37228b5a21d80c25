/*
 * test_index.c — the persistent LMDB index (src/store/mailbox_index.c) on a real
 * temporary Maildir: a snapshot round trip (UIDs, flags, keywords, sizes, MODSEQs); a
 * trusted open that skips the readdir and an untrusted one that does not; changes made
 * behind our back while the snapshot was stale (files added, removed, renamed with new
 * flags) give the state of a full scan; corruption (truncated file, garbage, another
 * version, deleted file, a bad record, uid >= nextuid) is logged and rebuilt with the
 * same UIDs; MODSEQ never goes backwards after an unclean exit; the record codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store_private.h"
#include "lib/util.h"

struct fixture {
	char base[64];
	char root[128];
	struct mstore *store;
};

struct snap {
	uint32_t uid;
	uint8_t flags;
	uint32_t keywords;
	uint64_t modseq, size;
	char name[256];
};

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *err;

	snprintf(f->base, sizeof(f->base), "/tmp/buzon-index-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->root, sizeof(f->root), "%s/Maildir", f->base);
	assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (;;) {
		struct mailbox *m;

		for (m = f->store->mailboxes; m != NULL && m->cached; m = m->next)
			;
		if (m == NULL)
			break;
		m->refcount = 1;
		mailbox_unref(&m);
	}
	mstore_close(&f->store);
	nftw(f->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
reopen(struct fixture *f)
{
	const char *err;

	mstore_close(&f->store);
	assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
}

static void
write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void
deliver(struct fixture *f, const char *name, const char *body)
{
	char *p = xasprintf("%s/new/%s", f->root, name);

	write_file(p, body);
	free(p);
}

static void
set_mtime(struct fixture *f, const char *rel, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	char *p = xasprintf("%s/%s", f->root, rel);

	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

/* Make the directories and uidlist look old and let the open mailbox see it, so that
 * the snapshot written at close is trusted at the next open. */
static void
backdate(struct fixture *f, struct mailbox *box)
{
	time_t t = time(NULL) - 10;

	set_mtime(f, "new", t);
	set_mtime(f, "cur", t);
	set_mtime(f, UIDLIST_NAME, t);
	box->force_sync = true;
	assert_int_equal(mailbox_sync(box), STORE_OK);
}

static size_t
take(struct mailbox *box, struct snap *s, size_t max)
{
	size_t i, n = mailbox_count(box);

	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		const struct mailbox_msg *m = mailbox_msg_at(box, i);

		s[i].uid = m->uid;
		s[i].flags = m->flags & ~MAILBOX_FLAG_RECENT;
		s[i].keywords = m->keywords;
		s[i].modseq = m->modseq;
		s[i].size = m->size;
		snprintf(s[i].name, sizeof(s[i].name), "%s", m->filename);
	}
	return n;
}

/* Five delivered messages, one \Seen, one \Flagged + keyword; returns HIGHESTMODSEQ. */
static uint64_t
populate(struct fixture *f, struct mailbox **box_r)
{
	struct mailbox *box;
	unsigned int kw;
	char name[64];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "100000000%d.M1P1.host", i);
		deliver(f, name, "Subject: hi\n\nbody\n");
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_int_equal(mailbox_count(box), 5);
	assert_int_equal(mailbox_keyword_add(box, "$Work", &kw), STORE_OK);
	assert_int_equal(mailbox_store_flags(box, 2, MAILBOX_FLAG_SEEN, 0), STORE_OK);
	assert_int_equal(mailbox_store_flags(box, 4, MAILBOX_FLAG_FLAGGED, 1u << kw),
	    STORE_OK);
	*box_r = box;
	return mailbox_highestmodseq(box);
}

static void
assert_same(const struct snap *a, size_t na, const struct snap *b, size_t nb, bool modseqs)
{
	size_t i;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++) {
		assert_int_equal(a[i].uid, b[i].uid);
		assert_int_equal(a[i].flags, b[i].flags);
		assert_int_equal(a[i].keywords, b[i].keywords);
		assert_string_equal(a[i].name, b[i].name);
		if (modseqs)
			assert_int_equal(a[i].modseq, b[i].modseq);
	}
}

static char *
index_path(struct fixture *f)
{
	return xasprintf("%s/buzon.index", f->root);
}

/* ------------------------------------------------------------------ round trip */

static void
test_roundtrip_trusted(void **state)
{
	struct fixture *f = *state;
	struct snap before[16], after[16];
	struct mailbox *box;
	struct stat st;
	size_t nb, na, i;
	uint64_t hms;
	char *ip;

	hms = populate(f, &box);
	assert_true(hms >= 7);	/* 5 appends + 2 flag changes */
	for (i = 1; i < mailbox_count(box); i++)
		assert_true(mailbox_msg_at(box, i)->modseq > 0);
	assert_int_equal(mailbox_msg_at(box, 3)->modseq, hms);	/* last change: uid 4 */
	backdate(f, box);
	nb = take(box, before, 16);
	mailbox_unref(&box);
	reopen(f);
	ip = index_path(f);
	assert_int_equal(stat(ip, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(ip);

	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	na = take(box, after, 16);
	assert_same(before, nb, after, na, true);
	assert_int_equal(mailbox_highestmodseq(box), hms);
	for (i = 0; i < na; i++)
		assert_int_equal(after[i].size, before[i].size);
	mailbox_unref(&box);
}

/* The directory mtimes of a trusted snapshot: exactly what was recorded. */
static void
test_trusted_skips_readdir(void **state)
{
	struct fixture *f = *state;
	struct snap before[16], after[16];
	struct mailbox *box;
	struct stat sc;
	size_t nb, na;
	uint64_t hms;
	char *p, *cur;

	hms = populate(f, &box);
	backdate(f, box);
	nb = take(box, before, 16);
	mailbox_unref(&box);
	reopen(f);
	cur = xasprintf("%s/cur", f->root);
	assert_int_equal(stat(cur, &sc), 0);
	/* plant a file, then restore cur/'s mtime: only a readdir could find it */
	p = xasprintf("%s/cur/1000000099.M1P1.host:2,", f->root);
	write_file(p, "x\n");
	free(p);
	{
		struct timespec ts[2] = { sc.st_atim, sc.st_mtim };

		assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	na = take(box, after, 16);
	assert_same(before, nb, after, na, true);
	assert_int_equal(mailbox_highestmodseq(box), hms);
	/* once the folder is rescanned, the file is there with a MODSEQ above */
	box->force_sync = true;
	assert_int_equal(mailbox_sync(box), STORE_OK);
	assert_int_equal(mailbox_count(box), nb + 1);
	assert_true(mailbox_msg_at(box, nb)->modseq > hms);
	mailbox_unref(&box);
	free(cur);
}

/* A snapshot written right after a change (not trustable yet) is given a later time
 * when the folder leaves memory unchanged 2 s later: the next open trusts it. */
static void
test_snapshot_refreshed(void **state)
{
	struct fixture *f = *state;
	struct snap before[16], after[16];
	struct mailbox *box;
	struct stat sc;
	size_t nb, na;
	char *p, *cur;

	(void)populate(f, &box);
	nb = take(box, before, 16);
	mailbox_unref(&box);		/* into the cache: snapshot too fresh to trust */
	usleep(2200 * 1000);
	reopen(f);			/* leaves memory: the header gets a later time */
	cur = xasprintf("%s/cur", f->root);
	assert_int_equal(stat(cur, &sc), 0);
	p = xasprintf("%s/cur/1000000099.M1P1.host:2,", f->root);
	write_file(p, "x\n");
	free(p);
	{
		struct timespec ts[2] = { sc.st_atim, sc.st_mtim };

		assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	na = take(box, after, 16);
	assert_same(before, nb, after, na, true);	/* trusted: no readdir */
	mailbox_unref(&box);
	free(cur);
}

/* A snapshot of recently changed directories is not trusted: the same planted file is
 * found at open. */
static void
test_recent_snapshot_untrusted(void **state)
{
	struct fixture *f = *state;
	struct snap before[16], after[16];
	struct mailbox *box;
	struct stat sc;
	size_t nb, na;
	uint64_t hms;
	char *p, *cur;

	hms = populate(f, &box);
	nb = take(box, before, 16);
	mailbox_unref(&box);
	reopen(f);
	cur = xasprintf("%s/cur", f->root);
	assert_int_equal(stat(cur, &sc), 0);
	p = xasprintf("%s/cur/1000000099.M1P1.host:2,", f->root);
	write_file(p, "x\n");
	free(p);
	{
		struct timespec ts[2] = { sc.st_atim, sc.st_mtim };

		assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	na = take(box, after, 16);
	assert_int_equal(na, nb + 1);
	assert_same(before, nb, after, nb, true);	/* unchanged ones keep MODSEQs */
	assert_true(after[nb].modseq > hms);
	assert_int_equal(after[nb].uid, before[nb - 1].uid + 1);
	mailbox_unref(&box);
	free(cur);
}

/* ------------------------------------------------------------------ lazy messages */

struct lazy_ev {
	int loaded, appended, expunged;
	size_t count_at_load;
};

static void
lazy_loaded(void *ctx, struct mailbox *box)
{
	struct lazy_ev *e = ctx;

	e->loaded++;
	e->count_at_load = mailbox_count(box);
}

static void
lazy_appended(void *ctx, struct mailbox *box, uint32_t uid)
{
	((struct lazy_ev *)ctx)->appended++;
}

static void
lazy_expunged(void *ctx, struct mailbox *box, uint32_t uid)
{
	((struct lazy_ev *)ctx)->expunged++;
}

static const struct mailbox_listener_ops lazy_ops = {
	.expunged = lazy_expunged, .appended = lazy_appended, .loaded = lazy_loaded,
};

/* A trusted open leaves the messages unloaded: count, UIDNEXT and the summary come from
 * the header, the first accessor loads exactly the snapshot and tells the lazy
 * listener once; the close of a never-loaded folder leaves the snapshot trusted. */
static void
test_lazy_open(void **state)
{
	struct fixture *f = *state;
	struct snap before[16], after[16];
	struct mailbox_summary sum, sum2;
	struct mailbox_listener *l;
	struct lazy_ev ev = { 0 };
	struct mailbox *box;
	size_t nb, na;
	uint64_t hms;
	int round;

	hms = populate(f, &box);
	backdate(f, box);
	nb = take(box, before, 16);
	mailbox_summary(box, &sum2);
	mailbox_unref(&box);
	for (round = 0; round < 2; round++) {
		reopen(f);
		assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
		assert_false(mailbox_msgs_loaded(box));
		assert_null(box->msgs);
		assert_int_equal(mailbox_uidnext(box), 6);
		assert_int_equal(mailbox_highestmodseq(box), hms);
		mailbox_summary(box, &sum);
		assert_false(mailbox_msgs_loaded(box));
		assert_int_equal(sum.messages, nb);
		assert_int_equal(sum.unseen, 4);	/* uid 2 is \Seen */
		assert_int_equal(sum.first_unseen_seq, 1);
		assert_int_equal(sum.first_unseen_uid, 1);
		/* delivered without W=: unknown until a FETCH reads the files */
		assert_false(sum.vsize_known);
		assert_false(sum2.vsize_known);
		assert_int_equal(sum.vsize, 0);
		{
			/* STATUS from the header too */
			struct mailbox_status ms;

			assert_int_equal(mstore_status(f->store, "INBOX", &ms), STORE_OK);
			assert_false(mailbox_msgs_loaded(box));
			assert_int_equal(ms.messages, nb);
			assert_int_equal(ms.unseen, 4);
			assert_int_equal(ms.recent, 0);
			assert_int_equal(ms.uidnext, 6);
			assert_int_equal(ms.highestmodseq, hms);
		}
		if (round == 0) {
			/* closed without loading: nothing written, still trusted next time */
			mailbox_unref(&box);
			continue;
		}
		l = mailbox_listen(box, &lazy_ops, &ev);
		na = take(box, after, 16);
		assert_true(mailbox_msgs_loaded(box));
		assert_int_equal(ev.loaded, 1);
		assert_int_equal(ev.count_at_load, nb);
		assert_int_equal(ev.appended + ev.expunged, 0);
		assert_same(before, nb, after, na, true);
		mailbox_summary(box, &sum);
		assert_int_equal(sum.unseen, sum2.unseen);
		assert_int_equal(sum.first_unseen_uid, sum2.first_unseen_uid);
		/* after the load, changes reach the listener as usual */
		assert_int_equal(mailbox_expunge(box, (uint32_t[]){ 1 }, 1), STORE_OK);
		assert_int_equal(ev.expunged, 1);
		assert_int_equal(ev.loaded, 1);
		mailbox_unlisten(box, &l);
		mailbox_unref(&box);
	}
}

/* Another process rewrites the snapshot while ours is open with its messages unloaded
 * (`buzon deliver` adds one, expunges one): the load sees the header changed and takes
 * the directories' state; the lazy listener hears nothing of that scan, only loaded. */
static void
test_lazy_snapshot_changed(void **state)
{
	struct fixture *f = *state;
	struct mailbox_listener *l;
	struct lazy_ev ev = { 0 };
	struct mailbox *box;
	int status;
	pid_t pid;

	populate(f, &box);
	backdate(f, box);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_false(mailbox_msgs_loaded(box));
	l = mailbox_listen(box, &lazy_ops, &ev);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mstore *st;
		struct mailbox *cb;
		const char *err;

		if (mstore_open(f->root, &st, &err) != 0 ||
		    mailbox_open(st, "INBOX", &cb) != STORE_OK)
			_exit(2);
		deliver(f, "1000000077.M1P1.host", "Subject: late\n\nx\n");
		cb->force_sync = true;
		if (mailbox_sync(cb) != STORE_OK || mailbox_count(cb) != 6 ||
		    mailbox_expunge(cb, (uint32_t[]){ 3 }, 1) != STORE_OK)
			_exit(3);
		mailbox_unref(&cb);
		mstore_close(&st);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		struct mailbox_summary sum;

		mailbox_summary(box, &sum);
		assert_int_equal(sum.messages, 5);	/* still the snapshot's */
	}
	assert_false(mailbox_msgs_loaded(box));
	assert_int_equal(mailbox_count(box), 5);	/* loads: the directories, -1 +1 */
	assert_int_equal(ev.loaded, 1);
	assert_int_equal(ev.appended + ev.expunged, 0);
	assert_null(mailbox_lookup(box, 3, NULL));
	assert_non_null(mailbox_lookup(box, 6, NULL));
	assert_int_equal(mailbox_uidnext(box), 7);
	mailbox_unlisten(box, &l);
	mailbox_unref(&box);
}

/* ------------------------------------------------------------------ stale index */

static void
test_changed_behind_our_back(void **state)
{
	struct fixture *f = *state;
	struct snap before[16], after[16], full[16];
	struct mailbox *box;
	size_t nb, na, nf, i;
	uint64_t hms;
	char *a, *b, *ip;

	hms = populate(f, &box);
	backdate(f, box);
	nb = take(box, before, 16);
	mailbox_unref(&box);
	mstore_close(&f->store);

	/* another program: a delivery, an expunge (uid 1), a flag rename (uid 3) */
	deliver(f, "1000000050.M1P1.host", "Subject: new\n\nx\n");
	a = xasprintf("%s/%s", f->root, before[0].name);
	assert_int_equal(unlink(a), 0);
	free(a);
	a = xasprintf("%s/%s", f->root, before[2].name);
	b = xasprintf("%s/cur/1000000002.M1P1.host:2,RS", f->root);
	assert_int_equal(rename(a, b), 0);
	free(a);
	free(b);

	{
		const char *err;

		assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	na = take(box, after, 16);
	assert_true(mailbox_highestmodseq(box) > hms);
	assert_int_equal(na, nb);	/* -1 +1 */
	assert_int_equal(after[0].uid, 2);
	assert_int_equal(after[0].modseq, before[1].modseq);	/* unchanged */
	assert_int_equal(after[1].uid, 3);
	assert_int_equal(after[1].flags, MAILBOX_FLAG_SEEN | MAILBOX_FLAG_ANSWERED);
	assert_true(after[1].modseq > hms);
	assert_int_equal(after[2].modseq, before[3].modseq);
	assert_int_equal(after[na - 1].uid, 6);
	assert_true(after[na - 1].modseq > hms);
	assert_int_equal(box->n_expunges, 1);
	assert_int_equal(box->expunges[0].uid, 1);
	assert_true(box->expunges[0].modseq > hms);
	mailbox_unref(&box);

	/* the same state as a full scan without any index */
	mstore_close(&f->store);
	ip = index_path(f);
	assert_int_equal(unlink(ip), 0);
	free(ip);
	{
		const char *err;

		assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	nf = take(box, full, 16);
	assert_same(after, na, full, nf, false);
	for (i = 0; i < nf; i++)
		assert_true(full[i].modseq > 0);
	mailbox_unref(&box);
}

/* ------------------------------------------------------------------ corruption */

enum corrupt {
	C_TRUNCATE, C_GARBAGE, C_GARBAGE_HEAD, C_DELETE, C_VERSION, C_BAD_NAME, C_BIG_UID,
	C_UID_RANGE, C_BAD_HDR, C_SUMMARY, C_MAX
};

static void
lmdb_edit(struct fixture *f, enum corrupt how)
{
	char *ip = index_path(f);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, msgs;
	MDB_cursor *c;
	MDB_val k, v;
	uint32_t ver = 99;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, ip, MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_dbi_open(txn, "msgs", 0, &msgs), 0);
	if (how == C_VERSION) {
		k.mv_data = (void *)"version";
		k.mv_size = 7;
		v.mv_data = &ver;
		v.mv_size = 4;
		assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
	} else {
		unsigned char *buf;

		assert_int_equal(mdb_cursor_open(txn, msgs, &c), 0);
		assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);	/* header */
		if (how == C_BAD_HDR || how == C_SUMMARY) {
			buf = malloc(v.mv_size);
			memcpy(buf, v.mv_data, v.mv_size);
			if (how == C_SUMMARY) {
				/* a valid header whose unseen count the messages deny:
				 * found when they are loaded, after the lazy open */
				assert_int_equal(v.mv_size, INDEX_HDR_SIZE);
				assert_int_equal(buf[144], 4);
				buf[144] = 3;
			} else
				buf[4] ^= 0x55;	/* version field */
			v.mv_data = buf;
			assert_int_equal(mdb_cursor_put(c, &k, &v, MDB_CURRENT), 0);
		} else {
			uint32_t n;

			assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_NEXT), 0);	/* chunk 1 */
			buf = malloc(v.mv_size);
			memcpy(buf, v.mv_data, v.mv_size);
			n = (uint32_t)buf[4] | (uint32_t)buf[5] << 8;
			assert_true(n > 0 && n <= INDEX_CHUNK_MAX);
			if (how == C_BAD_NAME || how == C_UID_RANGE) {
				if (how == C_BAD_NAME)	/* hidden: not a message name */
					buf[INDEX_CHUNK_HDR + n * INDEX_CHUNK_ENTRY + 4] = '.';
				else	/* the first UID far above UIDNEXT */
					memset(buf + INDEX_CHUNK_HDR, 0xf0, 4);
				v.mv_data = buf;
				assert_int_equal(mdb_cursor_put(c, &k, &v, MDB_CURRENT), 0);
			} else {
				unsigned char nk[8];

				/* a chunk out of sequence */
				memcpy(nk, k.mv_data, 4);
				memset(nk + 4, 0xff, 3);
				nk[7] = 0xfe;
				k.mv_data = nk;
				k.mv_size = 8;
				v.mv_data = buf;
				assert_int_equal(mdb_put(txn, msgs, &k, &v, 0), 0);
			}
		}
		free(buf);
		mdb_cursor_close(c);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(ip);
}

static void
corrupt_index(struct fixture *f, enum corrupt how)
{
	char *ip = index_path(f);
	unsigned char junk[8192];
	struct stat st;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	switch (how) {
	case C_TRUNCATE:
		assert_int_equal(stat(ip, &st), 0);
		assert_int_equal(truncate(ip, st.st_size > 12288 ? 12288 : 100), 0);
		break;
	case C_GARBAGE:
		assert_int_equal(stat(ip, &st), 0);
		fd = open(ip, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
		break;
	case C_GARBAGE_HEAD:
		fd = open(ip, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
		break;
	case C_DELETE:
		assert_int_equal(unlink(ip), 0);
		break;
	default:
		lmdb_edit(f, how);
		break;
	}
	free(ip);
}

static void
test_corruption(void **state)
{
	struct fixture *f = *state;
	struct snap before[16], after[16];
	struct mailbox *box;
	size_t nb, na;
	uint64_t hms;
	int how;

	hms = populate(f, &box);
	backdate(f, box);
	nb = take(box, before, 16);
	mailbox_unref(&box);
	mstore_close(&f->store);
	for (how = 0; how < C_MAX; how++) {
		const char *err;

		corrupt_index(f, (enum corrupt)how);
		assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
		assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
		if (how == C_SUMMARY) {
			struct mailbox_summary sum;

			assert_false(mailbox_msgs_loaded(box));
			mailbox_summary(box, &sum);
			assert_int_equal(sum.unseen, 3);	/* what the header says */
		}
		na = take(box, after, 16);
		assert_same(before, nb, after, na, false);
		/* the header's ceiling survives a bad record; otherwise MODSEQs restart */
		if (how == C_BAD_NAME || how == C_BIG_UID || how == C_UID_RANGE ||
		    how == C_SUMMARY)
			assert_true(mailbox_highestmodseq(box) >= hms);
		backdate(f, box);
		mailbox_unref(&box);
		mstore_close(&f->store);
		/* rebuilt: the next open is trusted and the same */
		assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
		assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
		na = take(box, after, 16);
		assert_same(before, nb, after, na, false);
		mailbox_unref(&box);
		mstore_close(&f->store);
	}
	{
		const char *err;

		assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
	}
}

/* A symlink where the index lives is removed, not followed. */
static void
test_symlink_index(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	struct stat st;
	char *ip = index_path(f), *target = xasprintf("%s/elsewhere", f->base);

	mstore_close(&f->store);
	assert_int_equal(symlink(target, ip), 0);
	{
		const char *err;

		assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	mailbox_unref(&box);
	assert_int_equal(lstat(ip, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(stat(target, &st), -1);
	free(ip);
	free(target);
}

/* ------------------------------------------------------------------ MODSEQ */

static void
test_modseq_unclean_exit(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	uint64_t child_hms = 0, hms;
	int pfd[2], status;
	pid_t pid;

	hms = populate(f, &box);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mailbox *cb;
		uint64_t v;
		int i;

		close(pfd[0]);
		if (mailbox_open(f->store, "INBOX", &cb) != STORE_OK)
			_exit(2);
		for (i = 0; i < 20; i++)
			(void)mailbox_store_flags(cb, 1, i % 2 ? MAILBOX_FLAG_SEEN : 0, 0);
		v = mailbox_highestmodseq(cb);
		if (write(pfd[1], &v, sizeof(v)) != sizeof(v))
			_exit(3);
		_exit(0);	/* no snapshot, no close */
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &child_hms, sizeof(child_hms)),
	    (ssize_t)sizeof(child_hms));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(child_hms >= hms + 19);	/* i = 0 changes nothing */

	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_true(mailbox_highestmodseq(box) >= child_hms);
	assert_int_equal(mailbox_store_flags(box, 5, MAILBOX_FLAG_DRAFT, 0), STORE_OK);
	assert_true(mailbox_lookup(box, 5, NULL)->modseq > child_hms);
	mailbox_unref(&box);
}

struct expunged {
	uint32_t uid[4];
	uint64_t emailid[4];
	size_t n;
};

static void
expunged_add(void *ctx, uint32_t uid, uint64_t modseq, uint64_t emailid)
{
	struct expunged *e = ctx;

	(void)modseq;
	if (e->n < 4) {
		e->uid[e->n] = uid;
		e->emailid[e->n++] = emailid;
	}
}

/* A clean close keeps HIGHESTMODSEQ exactly (no jump) and the expunges, with their
 * EMAILIDs (format 5). */
static void
test_modseq_clean_and_expunges(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	uint32_t uids[2] = { 1, 3 };
	uint64_t hms, id1, id3, before;
	struct expunged ex = { { 0 }, { 0 }, 0 };

	(void)populate(f, &box);
	id1 = mailbox_lookup(box, 1, NULL)->emailid;
	id3 = mailbox_lookup(box, 3, NULL)->emailid;
	before = mailbox_highestmodseq(box);
	assert_int_equal(mailbox_expunge(box, uids, 2), STORE_OK);
	hms = mailbox_highestmodseq(box);
	assert_int_equal(box->n_expunges, 2);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_int_equal(mailbox_highestmodseq(box), hms);
	assert_int_equal(box->n_expunges, 2);
	assert_int_equal(box->expunges[0].uid, 1);
	assert_int_equal(box->expunges[1].uid, 3);
	assert_int_equal(box->expunges[1].modseq, hms);
	assert_true(mailbox_expunges_since(box, before, expunged_add, &ex));
	assert_int_equal(ex.n, 2);
	assert_int_equal(ex.uid[0], 1);
	assert_true(ex.emailid[0] == id1 && id1 != 0);
	assert_int_equal(ex.uid[1], 3);
	assert_true(ex.emailid[1] == id3 && id3 != 0);
	ex.n = 0;
	assert_true(mailbox_expunges_since(box, hms, expunged_add, &ex));
	assert_int_equal(ex.n, 0);
	mailbox_unref(&box);
}

struct ranges {
	uint32_t lo[16], hi[16];
	size_t n;
};

static void
range_add(void *ctx, uint32_t lo, uint32_t hi)
{
	struct ranges *r = ctx;

	assert_true(r->n < 16);
	r->lo[r->n] = lo;
	r->hi[r->n] = hi;
	r->n++;
}

/* VANISHED since a MODSEQ: exact from the records, also after a restart; a superset
 * (every UID below UIDNEXT not in the folder) once the records that old are gone. */
static void
test_vanished_since(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	uint32_t first[2] = { 4, 2 }, second[1] = { 3 };
	struct ranges r;
	uint64_t before, mid;

	before = populate(f, &box);
	assert_int_equal(mailbox_expunge(box, first, 2), STORE_OK);
	mid = mailbox_highestmodseq(box);
	assert_int_equal(mailbox_expunge(box, second, 1), STORE_OK);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	memset(&r, 0, sizeof(r));
	assert_true(mailbox_vanished_since(box, before, range_add, &r));
	assert_int_equal(r.n, 1);
	assert_int_equal(r.lo[0], 2);
	assert_int_equal(r.hi[0], 4);
	memset(&r, 0, sizeof(r));
	assert_true(mailbox_vanished_since(box, mid, range_add, &r));
	assert_int_equal(r.n, 1);
	assert_int_equal(r.lo[0], 3);
	assert_int_equal(r.hi[0], 3);
	memset(&r, 0, sizeof(r));
	assert_true(mailbox_vanished_since(box, mailbox_highestmodseq(box), range_add, &r));
	assert_int_equal(r.n, 0);
	/* records older than `mid` forgotten: UIDs 2..4 are missing, 6 never existed */
	box->expunge_forgotten = mid;
	memset(&r, 0, sizeof(r));
	assert_false(mailbox_vanished_since(box, before, range_add, &r));
	assert_int_equal(r.n, 1);
	assert_int_equal(r.lo[0], 2);
	assert_int_equal(r.hi[0], 4);
	box->nextuid = 8;
	memset(&r, 0, sizeof(r));
	assert_false(mailbox_vanished_since(box, before, range_add, &r));
	assert_int_equal(r.n, 2);
	assert_int_equal(r.lo[1], 6);
	assert_int_equal(r.hi[1], 7);
	mailbox_unref(&box);
}

/* Deleting a folder forgets its records; a new folder of that name starts afresh. */
static void
test_delete_forgets(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	uint32_t uid;

	assert_int_equal(mstore_create(f->store, "Work"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Work", &box), STORE_OK);
	{
		struct mailbox_save *ctx = mailbox_save_begin(box, 0);
		uint32_t last;

		assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
		assert_int_equal(mailbox_save_write(ctx, "a\n", 2), STORE_OK);
		assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
		assert_int_equal(mailbox_save_commit(&ctx, &uid, &last), STORE_OK);
	}
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mstore_delete(f->store, "Work"), STORE_OK);
	assert_int_equal(mstore_create(f->store, "Work"), STORE_OK);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "Work", &box), STORE_OK);
	assert_int_equal(mailbox_count(box), 0);
	mailbox_unref(&box);
}

/* ------------------------------------------------------------------ check, rebuild */

static void
test_check_rebuild(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	uint64_t hms;
	FILE *out = fopen("/dev/null", "w");
	char *a;

	assert_non_null(out);
	assert_int_equal(mstore_create(f->store, "Other"), STORE_OK);	/* no snapshot */
	hms = populate(f, &box);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mstore_index_check(f->store, out), 0);	/* Other: none, ok */
	assert_int_equal(mstore_index_rebuild(f->store, NULL), STORE_OK);
	assert_int_equal(mstore_index_check(f->store, out), 0);
	/* a message removed behind our back: the snapshot differs */
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	a = xasprintf("%s/%s", f->root, mailbox_msg_at(box, 0)->filename);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(unlink(a), 0);
	free(a);
	assert_int_equal(mstore_index_check(f->store, out), 1);
	assert_int_equal(mstore_index_rebuild(f->store, "INBOX"), STORE_OK);
	assert_int_equal(mstore_index_check(f->store, out), 0);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_int_equal(mailbox_count(box), 4);
	assert_true(mailbox_highestmodseq(box) > hms);	/* rebuilt above the old ones */
	mailbox_unref(&box);
	assert_int_equal(mstore_index_rebuild(f->store, "Nope"), STORE_NONEXISTENT);
	fclose(out);
}

/* ------------------------------------------------------------------ header fields */

static void
test_hdrcache(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	unsigned char *buf = NULL, big[MAILBOX_HDRCACHE_MAX + 1];
	size_t cap = 0, len = 0;
	uint32_t uid = 2;

	(void)populate(f, &box);
	mailbox_hdrcache_put(box, 1, 7, "Subject: one\r\n\r\n", 16);
	mailbox_hdrcache_put(box, 2, 7, "Subject: two\r\n\r\n", 16);
	memset(big, 'x', sizeof(big));
	mailbox_hdrcache_put(box, 3, 7, big, sizeof(big));	/* too big: not kept */
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_int_equal(mailbox_hdrcache_get(box, 1, 7, &buf, &cap, &len), 1);
	assert_int_equal(len, 16);
	assert_memory_equal(buf, "Subject: one\r\n\r\n", 16);
	assert_int_equal(mailbox_hdrcache_get(box, 1, 8, &buf, &cap, &len), 0);	/* kind */
	assert_int_equal(mailbox_hdrcache_get(box, 3, 7, &buf, &cap, &len), 0);
	assert_int_equal(mailbox_hdrcache_get(box, 4, 7, &buf, &cap, &len), 0);
	/* an expunged message's fields go with the next snapshot */
	assert_int_equal(mailbox_expunge(box, &uid, 1), STORE_OK);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_int_equal(mailbox_hdrcache_get(box, 2, 7, &buf, &cap, &len), 0);
	assert_int_equal(mailbox_hdrcache_get(box, 1, 7, &buf, &cap, &len), 1);
	mailbox_unref(&box);
	free(buf);
}

/* ------------------------------------------------------------------ rendered items */

struct walk_seen {
	uint32_t uid[8];
	char data[8][16];
	size_t n;
};

static void
walk_cb(void *ctx, uint32_t uid, const unsigned char *data, size_t len)
{
	struct walk_seen *w = ctx;

	assert_true(w->n < 8 && len < 16);
	w->uid[w->n] = uid;
	memcpy(w->data[w->n], data, len);
	w->data[w->n][len] = '\0';
	w->n++;
}

static void
test_items(void **state)
{
	struct fixture *f = *state;
	struct mailbox *box;
	struct walk_seen w;
	static unsigned char big[MAILBOX_ITEMS_MAX + 1];
	uint32_t uid = 2, done;

	(void)populate(f, &box);
	mailbox_items_put(box, 1, 1, 5, "env1", 4);
	mailbox_items_put(box, 2, 1, 5, "env2", 4);
	mailbox_items_put(box, 3, 1, 6, "old3", 4);	/* another format tag */
	mailbox_items_put(box, 1, 3, 5, "bs1", 3);
	mailbox_items_put(box, 3, 3, 5, big, sizeof(big));	/* too big: not kept */
	mailbox_items_put(box, 3, 2, 5, "", 0);
	mailbox_hdrcache_put(box, 1, 5, "Subject: x\r\n\r\n", 14);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	memset(&w, 0, sizeof(w));
	assert_int_equal(mailbox_items_walk(box, 1, 5, 1, 3, 1 << 20, walk_cb, &w, &done), 1);
	assert_int_equal(done, 3);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.uid[0], 1);
	assert_string_equal(w.data[0], "env1");
	assert_int_equal(w.uid[1], 2);
	assert_string_equal(w.data[1], "env2");
	/* items do not mix, and the range is respected */
	memset(&w, 0, sizeof(w));
	assert_int_equal(mailbox_items_walk(box, 3, 5, 2, 3, 1 << 20, walk_cb, &w, &done), 1);
	assert_int_equal(w.n, 0);
	assert_int_equal(done, 3);
	memset(&w, 0, sizeof(w));
	(void)mailbox_items_walk(box, 2, 5, 1, 3, 1 << 20, walk_cb, &w, &done);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.uid[0], 3);
	assert_string_equal(w.data[0], "");
	/* entries of another UIDVALIDITY (the folder was reset) are misses */
	box->uidvalidity++;
	memset(&w, 0, sizeof(w));
	assert_int_equal(mailbox_items_walk(box, 1, 5, 1, 3, 1 << 20, walk_cb, &w, &done), 1);
	assert_int_equal(w.n, 0);
	assert_int_equal(done, 3);
	box->uidvalidity--;
	/* a byte bound stops the walk before the next entry and says where */
	memset(&w, 0, sizeof(w));
	(void)mailbox_items_walk(box, 1, 5, 1, 3, 1, walk_cb, &w, &done);
	assert_int_equal(w.n, 1);
	assert_int_equal(done, 1);
	/* the header fields are a separate record */
	{
		unsigned char *buf = NULL;
		size_t cap = 0, len = 0;

		assert_int_equal(mailbox_hdrcache_get(box, 1, 5, &buf, &cap, &len), 1);
		assert_int_equal(len, 14);
		free(buf);
	}
	/* an expunged message's items go with the next snapshot */
	assert_int_equal(mailbox_expunge(box, &uid, 1), STORE_OK);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	memset(&w, 0, sizeof(w));
	(void)mailbox_items_walk(box, 1, 5, 1, 3, 1 << 20, walk_cb, &w, &done);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.uid[0], 1);
	/* a rebuild forgets them */
	mailbox_unref(&box);
	assert_int_equal(mstore_index_rebuild(f->store, "INBOX"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	memset(&w, 0, sizeof(w));
	(void)mailbox_items_walk(box, 1, 5, 1, 3, 1 << 20, walk_cb, &w, &done);
	assert_int_equal(w.n, 0);
	mailbox_unref(&box);
}

/* ------------------------------------------------------------------ large folders */

static struct snap *
take_all(struct mailbox *box, size_t *n_r)
{
	struct snap *s = xcalloc(mailbox_count(box) + 1, sizeof(*s));

	*n_r = take(box, s, mailbox_count(box));
	return s;
}

/* More than one chunk, each large enough to be read with pread(): a trusted round trip,
 * then expunges that shrink the folder to one chunk (the second one must go). */
static void
test_large_folder(void **state)
{
	struct fixture *f = *state;
	struct snap *before, *after;
	struct mailbox *box;
	size_t nb, na, i;
	uint32_t *uids;
	char *p;
	const size_t n = INDEX_CHUNK_MAX + 904;

	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	mailbox_unref(&box);
	for (i = 0; i < n; i++) {
		p = xasprintf("%s/cur/17%08zu.M%zuP4242.a-rather-long-host-name.example,S=5:2,%s",
		    f->root, i, i, i % 3 == 0 ? "S" : i % 3 == 1 ? "FS" : "");
		write_file(p, "x\n\nx\n");
		free(p);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	assert_int_equal(mailbox_count(box), n);
	backdate(f, box);
	before = take_all(box, &nb);
	mailbox_unref(&box);
	reopen(f);
	/* a file planted behind a restored mtime: a trusted load does not see it */
	{
		struct stat sc;
		char *cur = xasprintf("%s/cur", f->root);
		struct timespec ts[2];

		assert_int_equal(stat(cur, &sc), 0);
		p = xasprintf("%s/cur/1000000099.M1P1.host:2,", f->root);
		write_file(p, "x\n");
		ts[0] = sc.st_atim;
		ts[1] = sc.st_mtim;
		assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
		assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
		after = take_all(box, &na);
		assert_same(before, nb, after, na, true);
		free(after);
		assert_int_equal(unlink(p), 0);
		free(p);
		assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
		free(cur);
	}
	/* shrink to one chunk */
	uids = xcalloc(1000, sizeof(*uids));
	for (i = 0; i < 1000; i++)
		uids[i] = before[i * 2].uid;
	assert_int_equal(mailbox_expunge(box, uids, 1000), STORE_OK);
	free(uids);
	assert_int_equal(mailbox_count(box), n - 1000);
	backdate(f, box);
	free(before);
	before = take_all(box, &nb);
	mailbox_unref(&box);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &box), STORE_OK);
	after = take_all(box, &na);
	assert_same(before, nb, after, na, true);
	/* nothing was found wrong: the index still holds the folder */
	assert_false(box->index_preloaded);
	free(after);
	free(before);
	mailbox_unref(&box);
}

/* ------------------------------------------------------------------ codec */

static void
test_record_codec(void **state)
{
	static const struct {
		const char *name;
		uint8_t flags;
		uint32_t kw;
		bool ok;
	} cases[] = {
		{ "1.M1P1.host:2,S", MAILBOX_FLAG_SEEN, 0, true },
		{ "1.M1P1.host:2,Fab", MAILBOX_FLAG_FLAGGED, 3, true },
		{ "1733000000.M123456P7890.a-long-host-name.example,S=1234,W=1260:2,RS",
		  MAILBOX_FLAG_SEEN | MAILBOX_FLAG_ANSWERED, 0, true },
		{ "1.M1P1.host:2,S", 0, 0, false },		/* flags disagree */
		{ "1.M1P1.host:2,", 0, 1, false },		/* keywords disagree */
		{ ".hidden", 0, 0, false },
		{ "a/b", 0, 0, false },
		{ "1.M1P1.host\x7f:2,", 0, 0, false },
		{ "1.M1P1.host\t0123456789:2,", 0, 0, false },
		{ ":2,S", MAILBOX_FLAG_SEEN, 0, false },	/* no base */
		{ "1.M1P1.host:2,", MAILBOX_FLAG_RECENT, 0, false },
	};
	unsigned char buf[2048], hb[INDEX_HDR_SIZE];
	struct index_rec r, d;
	struct index_chunk ch;
	struct index_hdr h, hd;
	size_t i, n, cut, off;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mdname md;
		uint8_t fl;
		uint32_t kw;

		/* the index's name check agrees with mdname_parse */
		assert_int_equal(index_name_parse(cases[i].name, strlen(cases[i].name), &fl, &kw),
		    mdname_parse(cases[i].name, strlen(cases[i].name), &md));
		memset(&r, 0, sizeof(r));
		r.uid = 3;
		r.flags = cases[i].flags;
		r.keywords = cases[i].kw;
		r.modseq = 7;
		r.size = 10;
		r.vsize = 12;
		r.emailid = 0x123456789abcdef0ULL;
		r.in_new = i == 1;
		r.name = cases[i].name;
		r.name_len = strlen(cases[i].name);
		/* a chunk of two: the case and a valid one after it */
		n = index_chunk_size(2, r.name_len + 5 + 19);
		index_chunk_begin(buf, 2, (uint32_t)(r.name_len + 5 + 19));
		off = index_chunk_put(buf, 2, 0, 0, &r);
		d = r;
		d.uid = 4;
		d.in_new = false;
		d.flags = 0;
		d.keywords = 0;
		d.name = "2.M2P2.host:2,";
		d.name_len = 14;	/* strlen */
		assert_int_equal(index_chunk_put(buf, 2, 1, off, &d), r.name_len + 5 + 19);
		assert_int_equal(index_chunk_open(buf, n, &ch), 0);
		assert_int_equal(index_chunk_next(&ch, &d), cases[i].ok ? 1 : -1);
		if (cases[i].ok) {
			assert_int_equal(d.uid, 3);
			assert_int_equal(d.modseq, 7);
			assert_true(d.emailid == r.emailid);
			assert_int_equal(d.in_new, r.in_new);
			assert_int_equal(d.name_len, r.name_len);
			assert_memory_equal(d.name, r.name, r.name_len);
			assert_memory_equal(d.name - 4, r.in_new ? "new/" : "cur/", 4);
			assert_int_equal(d.name[d.name_len], '\0');
			assert_int_equal(index_chunk_next(&ch, &d), 1);
			assert_int_equal(d.uid, 4);
			assert_int_equal(index_chunk_next(&ch, &d), 0);
			for (cut = 0; cut < n; cut++)
				assert_int_equal(index_chunk_open(buf, cut, &ch), -1);
			assert_int_equal(index_chunk_open(buf, n + 1, &ch), -1);
			/* a name that does not end where the next begins */
			buf[n - 1] = 'x';
			assert_int_equal(index_chunk_open(buf, n, &ch), 0);
			assert_int_equal(index_chunk_next(&ch, &d), 1);
			assert_int_equal(index_chunk_next(&ch, &d), -1);
		}
	}
	memset(&h, 0, sizeof(h));
	h.version = INDEX_FORMAT_VERSION;
	h.uidvalidity = 5;
	h.nextuid = 10;
	h.count = 3;
	h.highestmodseq = 9;
	h.modseq_ceiling = 20;
	memset(h.guid, 'a', 32);
	index_hdr_encode(&h, hb);
	assert_int_equal(index_hdr_decode(hb, sizeof(hb), &hd), 0);
	assert_int_equal(hd.modseq_ceiling, 20);
	assert_int_equal(index_hdr_decode(hb, sizeof(hb) - 1, &hd), -1);
	hb[4] = 1;	/* the previous format */
	assert_int_equal(index_hdr_decode(hb, sizeof(hb), &hd), -2);
	h.count = 10;	/* count >= nextuid */
	index_hdr_encode(&h, hb);
	assert_int_equal(index_hdr_decode(hb, sizeof(hb), &hd), -1);
	h.count = 3;
	/* the summary (format 3): round trip, and what it must agree with */
	{
		static const struct {
			const char *name;
			uint32_t unseen, seq, uid, flags;
			uint64_t vsize;
			int want;
		} sums[] = {
			{ "none unseen", 0, 0, 0, INDEX_HDR_VSIZE_KNOWN, 1234, 0 },
			{ "two unseen from the second", 2, 2, 7, 0, 0, 0 },
			{ "all unseen", 3, 1, 1, INDEX_HDR_VSIZE_KNOWN, 0, 0 },
			{ "more unseen than messages", 4, 1, 1, 0, 0, -1 },
			{ "position past count", 1, 4, 8, 0, 0, -1 },
			{ "uid at nextuid", 1, 1, 10, 0, 0, -1 },
			{ "count without a first", 1, 0, 0, 0, 0, -1 },
			{ "a first without a count", 0, 1, 1, 0, 0, -1 },
			{ "size without its flag", 0, 0, 0, 0, 5, -1 },
			{ "unknown flag bit", 0, 0, 0, 0x04, 0, -1 },
		};
		size_t si;

		for (si = 0; si < sizeof(sums) / sizeof(sums[0]); si++) {
			h.unseen = sums[si].unseen;
			h.first_unseen_seq = sums[si].seq;
			h.first_unseen_uid = sums[si].uid;
			h.flags = sums[si].flags;
			h.vsize_total = sums[si].vsize;
			index_hdr_encode(&h, hb);
			if (index_hdr_decode(hb, sizeof(hb), &hd) != sums[si].want)
				fail_msg("header summary case \"%s\"", sums[si].name);
			if (sums[si].want == 0) {
				assert_int_equal(hd.unseen, sums[si].unseen);
				assert_int_equal(hd.first_unseen_seq, sums[si].seq);
				assert_int_equal(hd.first_unseen_uid, sums[si].uid);
				assert_int_equal(hd.vsize_total, sums[si].vsize);
				assert_int_equal(hd.flags, sums[si].flags);
			}
		}
		/* the padding after the first unseen UID */
		h.unseen = h.first_unseen_seq = h.first_unseen_uid = 0;
		h.flags = 0;
		h.vsize_total = 0;
		index_hdr_encode(&h, hb);
		hb[156] = 1;
		assert_int_equal(index_hdr_decode(hb, sizeof(hb), &hd), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_codec),
		cmocka_unit_test_setup_teardown(test_roundtrip_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trusted_skips_readdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent_snapshot_untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_refreshed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_snapshot_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_behind_our_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modseq_unclean_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modseq_clean_and_expunges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_forgets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hdrcache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_folder, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
