/*
 * test_store.c — the Maildir++ store on a real temporary directory: folders (create,
 * list, rename, delete, hostile names), durable saves and stable UIDs across reopen,
 * external deliveries and flag renames picked up by sync and inotify with listener
 * callbacks, expunge, copy, keywords, subscriptions files, corrupted uidlists (F-08)
 * and symlink attacks (SEC-34/36).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store_private.h"
#include "lib/buf.h"
#include "mailproc/mail_thread.h"
#include "lib/util.h"

struct fixture {
	char base[64];		/* temp dir holding root/ and outside/ */
	char root[128];
	char outside[128];
	struct mstore *store;
};

struct events {
	uint32_t appended[64], expunged[64], flags[64];
	size_t nappended, nexpunged, nflags, nkeywords;
};

static void
ev_appended(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct events *e = ctx;

	(void)mbox;
	if (e->nappended < 64)
		e->appended[e->nappended++] = uid;
}

static void
ev_expunged(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct events *e = ctx;

	(void)mbox;
	assert_null(mailbox_lookup(mbox, uid, NULL));	/* already gone from the array */
	if (e->nexpunged < 64)
		e->expunged[e->nexpunged++] = uid;
}

static void
ev_flags(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct events *e = ctx;

	(void)mbox;
	if (e->nflags < 64)
		e->flags[e->nflags++] = uid;
}

static void
ev_keyword(void *ctx, struct mailbox *mbox, unsigned int idx)
{
	struct events *e = ctx;

	(void)mbox;
	(void)idx;
	e->nkeywords++;
}

static const struct mailbox_listener_ops ev_ops = {
	.expunged = ev_expunged, .appended = ev_appended, .flags_changed = ev_flags,
	.keyword_added = ev_keyword,
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

	snprintf(f->base, sizeof(f->base), "/tmp/buzon-store-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->root, sizeof(f->root), "%s/root/Maildir", f->base);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
	assert_int_equal(mkdir(f->outside, 0700), 0);
	assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* a failed assertion skips the test's unrefs: release them here (closed folders
	 * stay in the cache, which mstore_close empties) */
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

static char *
path_of(struct fixture *f, const char *rel)
{
	return xasprintf("%s/%s", f->root, rel);
}

static void
write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static char *
read_all(const char *path)
{
	struct buf b;
	char tmp[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	buf_init(&b, BUF_UNLIMITED);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(&b, tmp, (size_t)n);
	close(fd);
	buf_append(&b, "", 0);
	return buf_steal(&b);
}

/* Save one message; returns its UID. */
static uint32_t
save_msg(struct mailbox *mbox, const char *body, uint8_t flags, uint32_t kw, time_t date)
{
	struct mailbox_save *ctx = mailbox_save_begin(mbox, 0);
	uint32_t first, last;

	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, body, strlen(body)), STORE_OK);
	assert_int_equal(mailbox_save_msg_end(ctx, flags, kw, date), STORE_OK);
	assert_int_equal(mailbox_save_commit(&ctx, &first, &last), STORE_OK);
	assert_null(ctx);
	assert_int_equal(first, last);
	return first;
}

/* Deliver like an external MDA: tmp/ then rename into new/. */
static void
external_deliver(struct fixture *f, const char *folder_dir, const char *name,
    const char *body)
{
	char *tmp = xasprintf("%s/%s/tmp/%s", f->root, folder_dir, name);
	char *dst = xasprintf("%s/%s/new/%s", f->root, folder_dir, name);

	write_file(tmp, body);
	assert_int_equal(rename(tmp, dst), 0);
	free(tmp);
	free(dst);
}

static size_t
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static const struct mstore_folder *
find_folder(const struct mstore_folder *list, size_t count, const char *name)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}

/* ------------------------------------------------------------------ folders */

static void
test_folders(void **state)
{
	struct fixture *f = *state;
	struct mstore_folder *list;
	const struct mstore_folder *x;
	size_t count;
	struct stat st;
	char *p;

	assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
	assert_int_equal(count, 1);
	assert_string_equal(list[0].name, "INBOX");
	assert_true(list[0].attrs & MSTORE_ATTR_HASNOCHILDREN);
	mstore_list_free(list, count);

	assert_int_equal(mstore_create(f->store, "Work.Projects."), STORE_OK);
	assert_int_equal(mstore_create(f->store, "Work.Projects"), STORE_EXISTS);
	assert_int_equal(mstore_create(f->store, "inbox"), STORE_EXISTS);
	assert_int_equal(mstore_create(f->store, "Sent"), STORE_OK);
	p = path_of(f, ".Work.Projects/maildirfolder");
	assert_int_equal(stat(p, &st), 0);
	free(p);
	p = path_of(f, ".Work.Projects/cur");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(p);

	assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
	assert_int_equal(count, 4);
	assert_string_equal(list[0].name, "INBOX");
	x = find_folder(list, count, "Work");
	assert_non_null(x);
	assert_true(x->attrs & MSTORE_ATTR_HASCHILDREN);
	assert_false(x->attrs & MSTORE_ATTR_NOSELECT);	/* parents are created */
	x = find_folder(list, count, "Work.Projects");
	assert_true(x->attrs & MSTORE_ATTR_HASNOCHILDREN);
	x = find_folder(list, count, "Sent");
	assert_true(x->attrs & MSTORE_ATTR_SENT);
	mstore_list_free(list, count);

	/* a missing intermediate level (made by another program) is \Noselect */
	p = path_of(f, ".A.B");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	p = path_of(f, ".A.B/cur");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
	x = find_folder(list, count, "A");
	assert_non_null(x);
	assert_true(x->attrs & MSTORE_ATTR_NOSELECT);
	assert_true(x->attrs & MSTORE_ATTR_HASCHILDREN);
	assert_false(x->attrs & MSTORE_ATTR_NONEXISTENT);
	mstore_list_free(list, count);
	{
		struct mailbox *m;

		assert_int_equal(mailbox_open(f->store, "A", &m), STORE_NONEXISTENT);
		assert_int_equal(mstore_delete(f->store, "A"), STORE_CANNOT);
	}
}

static const char *const hostile_names[] = {
	"..", "../x", "INBOX/../../etc", "INBOX/..", "./x", "INBOX/./x", "INBOX//x",
	"/etc/passwd", "~root/x", "~/x", "x/", "a\r\nb", "&AC4ALg-", "&AC8-etc", "cur",
	"new", "tmp", "INBOX/cur", ".Sent", "a/b", "..x", "a..b", "",
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
};

static void
test_hostile_names(void **state)
{
	struct fixture *f = *state;
	struct mailbox_status stt;
	struct mailbox *m;
	char *rootdir;
	size_t i, before, after;

	assert_true(strlen(hostile_names[N_ELEMENTS(hostile_names) - 1]) == 256);
	rootdir = xasprintf("%s/root", f->base);
	before = count_dir(f->root) + count_dir(rootdir) + count_dir(f->base) +
	    count_dir(f->outside);
	for (i = 0; i < N_ELEMENTS(hostile_names); i++) {
		const char *n = hostile_names[i];
		enum store_status st;

		print_message("hostile \"%s\"\n", n);
		st = mstore_create(f->store, n);
		assert_true(st == STORE_BADNAME || st == STORE_LIMIT);
		assert_int_not_equal(mstore_delete(f->store, n), STORE_OK);
		assert_int_not_equal(mstore_rename(f->store, n, "Ok"), STORE_OK);
		assert_int_not_equal(mstore_rename(f->store, "INBOX", n), STORE_OK);
		assert_int_not_equal(mailbox_open(f->store, n, &m), STORE_OK);
		assert_int_not_equal(mstore_status(f->store, n, &stt), STORE_OK);
		assert_int_not_equal(mstore_subscribe(f->store, n, true), STORE_OK);
	}
	after = count_dir(f->root) + count_dir(rootdir) + count_dir(f->base) +
	    count_dir(f->outside);
	assert_int_equal(before, after);
	free(rootdir);
}

/* ------------------------------------------------------------------ messages */

static void
test_save_reopen(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_msg *msg;
	struct mailbox *m;
	struct events ev = { 0 };
	struct mailbox_listener *l;
	uint32_t uv, u1, u2, u3;
	char buf[64];
	ssize_t n;
	int fd;

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	uv = mailbox_uidvalidity(m);
	assert_true(uv > 0);
	assert_int_equal(mailbox_uidnext(m), 1);
	l = mailbox_listen(m, &ev_ops, &ev);
	u1 = save_msg(m, "Subject: a\n\nline1\nline2\n", MAILBOX_FLAG_SEEN, 0, 1000000000);
	u2 = save_msg(m, "Subject: b\r\n\r\nbody\r\n", 0, 0, 0);
	u3 = save_msg(m, "x", MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DRAFT, 0, 0);
	assert_int_equal(u1, 1);
	assert_int_equal(u2, 2);
	assert_int_equal(u3, 3);
	assert_int_equal(ev.nappended, 3);
	assert_int_equal(mailbox_count(m), 3);
	assert_int_equal(mailbox_uidnext(m), 4);
	msg = mailbox_lookup(m, 1, NULL);
	assert_non_null(msg);
	assert_int_equal(msg->size, 24);
	assert_int_equal(msg->vsize, 28);
	assert_true(strstr(msg->filename, ",S=24,W=28:2,S") != NULL);
	assert_true(str_has_prefix(msg->filename, "cur/"));
	assert_int_equal(mailbox_msg_info(m, 1, &msg), STORE_OK);
	assert_int_equal(msg->internaldate, 1000000000);
	msg = mailbox_lookup(m, 3, NULL);
	assert_true(strstr(msg->filename, ":2,DF") != NULL);
	assert_int_equal(mailbox_msg_open(m, 2, &fd), STORE_OK);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 20);
	assert_memory_equal(buf, "Subject: b\r\n\r\nbody\r\n", 20);
	assert_int_equal(mailbox_msg_open(m, 99, &fd), STORE_EXPUNGED);
	mailbox_unlisten(m, &l);
	mailbox_unref(&m);

	/* the uidlist on disk is what a Dovecot would read */
	{
		char *p = path_of(f, "dovecot-uidlist"), *data = read_all(p);
		char hdr[64];

		struct uidlist ul;

		/* written when the folder was first opened, then appended to */
		snprintf(hdr, sizeof(hdr), "3 V%u N1 G", uv);
		assert_true(str_has_prefix(data, hdr));
		assert_non_null(strstr(data, "\n1 S24 W28 :"));
		uidlist_init(&ul);
		assert_int_equal(uidlist_parse(data, strlen(data), &ul), UIDLIST_PARSE_OK);
		assert_int_equal(ul.nextuid, 4);
		assert_int_equal(ul.count, 3);
		uidlist_deinit(&ul);
		free(data);
		free(p);
	}

	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(mailbox_uidvalidity(m), uv);
	assert_int_equal(mailbox_count(m), 3);
	assert_int_equal(mailbox_msg_at(m, 0)->uid, 1);
	assert_int_equal(mailbox_msg_at(m, 2)->uid, 3);
	assert_int_equal(mailbox_msg_at(m, 0)->flags, MAILBOX_FLAG_SEEN);	/* new process */
	assert_int_equal(mailbox_uidnext(m), 4);
	/* expunge the last one: its UID is never reused */
	{
		uint32_t u = 3;

		assert_int_equal(mailbox_expunge(m, &u, 1), STORE_OK);
	}
	mailbox_unref(&m);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(mailbox_count(m), 2);
	assert_int_equal(save_msg(m, "y", 0, 0, 0), 4);
	mailbox_unref(&m);
}

/* Saves append to the uidlist; a torn line written by someone else is repaired first. */
static void
test_uidlist_append(void **state)
{
	struct fixture *f = *state;
	struct uidlist ul;
	struct mailbox *m;
	char *p, *data;
	int fd;

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(save_msg(m, "1\n", 0, 0, 0), 1);
	assert_int_equal(save_msg(m, "2\n", 0, 0, 0), 2);
	p = path_of(f, "dovecot-uidlist");
	data = read_all(p);
	assert_true(str_has_prefix(data, "3 V"));
	assert_non_null(strstr(data, " N1 "));	/* header from the first open... */
	uidlist_init(&ul);
	assert_int_equal(uidlist_parse(data, strlen(data), &ul), UIDLIST_PARSE_OK);
	assert_int_equal(ul.nextuid, 3);	/* ...nextuid implied by the appended line */
	assert_int_equal(ul.count, 2);
	free(data);
	/* another writer crashed mid-line */
	fd = open(p, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "77 :torn", 8), 8);
	close(fd);
	/* the torn record was never acknowledged: dropped, the file rewritten clean */
	assert_int_equal(save_msg(m, "3\n", 0, 0, 0), 3);
	data = read_all(p);
	assert_int_equal(uidlist_parse(data, strlen(data), &ul), UIDLIST_PARSE_OK);
	assert_null(strstr(data, "torn"));
	assert_int_equal(ul.count, 3);
	assert_int_equal(ul.recs[2].uid, 3);
	assert_int_equal(ul.nextuid, 4);
	uidlist_deinit(&ul);
	free(data);
	free(p);
	mailbox_unref(&m);
}

/* Two processes saving into one folder at once (another buzon, or an LDA): the
 * uidlist lock keeps every UID unique and every message numbered exactly once. */
static void
test_two_processes(void **state)
{
	struct fixture *f = *state;
	struct mailbox *m;
	struct uidlist ul;
	char *p, *data;
	pid_t pid;
	int i, status;

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	mailbox_unref(&m);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mstore *s2;
		struct mailbox *m2;
		const char *err;
		int ok = 1;

		if (mstore_open(f->root, &s2, &err) < 0 ||
		    mailbox_open(s2, "INBOX", &m2) != STORE_OK)
			_exit(2);
		for (i = 0; i < 40 && ok; i++) {
			struct mailbox_save *ctx = mailbox_save_begin(m2, i % 2 ? MAILBOX_SAVE_DELIVERY : 0);
			uint32_t a, b;

			ok = mailbox_save_msg_begin(ctx) == STORE_OK &&
			    mailbox_save_write(ctx, "child\n", 6) == STORE_OK &&
			    mailbox_save_msg_end(ctx, 0, 0, 0) == STORE_OK;
			if (ok)
				ok = mailbox_save_commit(&ctx, &a, &b) == STORE_OK;
			else
				mailbox_save_abort(&ctx);
		}
		mailbox_unref(&m2);
		mstore_close(&s2);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	for (i = 0; i < 40; i++)
		save_msg(m, "parent\n", 0, 0, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	m->force_sync = true;
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(mailbox_count(m), 80);
	assert_int_equal(mailbox_uidnext(m), 81);
	for (i = 0; i < 80; i++)
		assert_int_equal(mailbox_msg_at(m, (size_t)i)->uid, (uint32_t)i + 1);
	mailbox_unref(&m);
	p = path_of(f, "dovecot-uidlist");
	data = read_all(p);
	uidlist_init(&ul);
	assert_int_equal(uidlist_parse(data, strlen(data), &ul), UIDLIST_PARSE_OK);
	assert_int_equal(ul.count, 80);
	uidlist_deinit(&ul);
	free(data);
	free(p);
}

/* LMTP/LDA-style delivery into new/ */
static void
test_delivery(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_msg *msg;
	struct mailbox_save *ctx;
	struct mailbox *m;
	uint32_t first, last;
	char *p;

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	ctx = mailbox_save_begin(m, MAILBOX_SAVE_DELIVERY);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, "From: a\n\nx\n", 11), STORE_OK);
	assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
	assert_int_equal(mailbox_save_commit(&ctx, &first, &last), STORE_OK);
	assert_int_equal(first, 1);
	msg = mailbox_lookup(m, 1, NULL);
	assert_true(str_has_prefix(msg->filename, "new/"));
	assert_null(strchr(msg->filename, ':'));
	assert_true(msg->flags & MAILBOX_FLAG_RECENT);
	p = path_of(f, "new");
	assert_int_equal(count_dir(p), 1);
	free(p);
	mailbox_unref(&m);
	/* another process (a fresh store) moves it to cur/, keeping the UID */
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	msg = mailbox_lookup(m, 1, NULL);
	assert_non_null(msg);
	assert_true(str_has_prefix(msg->filename, "cur/"));
	assert_true(msg->flags & MAILBOX_FLAG_RECENT);
	mailbox_unref(&m);
}

/* A failing write (here: RLIMIT_FSIZE -> EFBIG) is never reported as success and
 * leaves nothing behind; a failing uidlist update takes the message back. */
static void
test_write_errors(void **state)
{
	struct fixture *f = *state;
	struct mailbox_save *ctx;
	struct rlimit old, lim;
	struct stat st;
	struct mailbox *m;
	uint32_t first, last;
	char big[8192], *p, *tmp, *before, *after;

	memset(big, 'a', sizeof(big));
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(save_msg(m, "first\n", 0, 0, 0), 1);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ctx = mailbox_save_begin(m, 0);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, big, sizeof(big)), STORE_IOERROR);
	mailbox_save_abort(&ctx);
	tmp = path_of(f, "tmp");
	assert_int_equal(count_dir(tmp), 0);
	assert_int_equal(mailbox_count(m), 1);

	/* the uidlist cannot grow: the commit fails and the message is removed */
	p = path_of(f, "dovecot-uidlist");
	assert_int_equal(stat(p, &st), 0);
	before = read_all(p);
	lim.rlim_cur = (rlim_t)st.st_size + 8;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ctx = mailbox_save_begin(m, 0);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, "tiny\n", 5), STORE_OK);
	assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
	assert_int_not_equal(mailbox_save_commit(&ctx, &first, &last), STORE_OK);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(mailbox_count(m), 1);
	assert_int_equal(count_dir(tmp), 0);
	free(tmp);
	tmp = path_of(f, "cur");
	assert_int_equal(count_dir(tmp), 1);
	after = read_all(p);
	assert_string_equal(before, after);	/* old uidlist intact */
	/* and the next save works without a restart, with a fresh UID */
	assert_true(save_msg(m, "again\n", 0, 0, 0) >= 2);
	free(before);
	free(after);
	free(tmp);
	free(p);
	mailbox_unref(&m);
	signal(SIGXFSZ, SIG_DFL);
}

static void
test_multiappend_abort(void **state)
{
	struct fixture *f = *state;
	struct mailbox_save *ctx;
	struct mailbox *m;
	uint32_t first, last;
	char *tmp;

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	/* abort: nothing visible, tmp/ empty */
	ctx = mailbox_save_begin(m, 0);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, "abc", 3), STORE_OK);
	assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	mailbox_save_abort(&ctx);
	tmp = path_of(f, "tmp");
	assert_int_equal(count_dir(tmp), 0);
	assert_int_equal(mailbox_count(m), 0);
	/* multi-message commit: consecutive UIDs; one written through the fd */
	ctx = mailbox_save_begin(m, 0);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, "one\n", 4), STORE_OK);
	assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(write(mailbox_save_fd(ctx), "a\nb\n", 4), 4);
	assert_int_equal(mailbox_save_msg_end(ctx, MAILBOX_FLAG_SEEN, 0, 0), STORE_OK);
	assert_int_equal(mailbox_save_commit(&ctx, &first, &last), STORE_OK);
	assert_int_equal(first, 1);
	assert_int_equal(last, 2);
	assert_int_equal(mailbox_lookup(m, 2, NULL)->vsize, 6);
	assert_int_equal(mailbox_lookup(m, 1, NULL)->vsize, 5);
	assert_int_equal(count_dir(tmp), 0);
	free(tmp);
	mailbox_unref(&m);
}

static void
test_external_changes(void **state)
{
	struct fixture *f = *state;
	struct events ev = { 0 };
	struct mailbox_listener *l;
	const struct mailbox_msg *msg;
	struct mailbox *m;
	char *from, *to;
	uint32_t u1;

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	l = mailbox_listen(m, &ev_ops, &ev);
	u1 = save_msg(m, "hello\n", 0, 0, 0);
	ev.nappended = 0;

	/* delivery by another program into new/ */
	external_deliver(f, ".", "1700000000.M1P1.otherhost", "From: x\n\nhi\n");
	m->force_sync = true;		/* as an inotify event would */
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(ev.nappended, 1);
	assert_int_equal(ev.appended[0], u1 + 1);
	msg = mailbox_lookup(m, u1 + 1, NULL);
	assert_non_null(msg);
	assert_true(msg->flags & MAILBOX_FLAG_RECENT);
	assert_string_equal(msg->filename, "cur/1700000000.M1P1.otherhost:2,");
	from = path_of(f, "new");
	assert_int_equal(count_dir(from), 0);
	free(from);

	/* flag change by another program (a rename in cur/) */
	from = path_of(f, "cur/1700000000.M1P1.otherhost:2,");
	to = path_of(f, "cur/1700000000.M1P1.otherhost:2,RS");
	assert_int_equal(rename(from, to), 0);
	m->force_sync = true;
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(ev.nflags, 1);
	assert_int_equal(ev.flags[0], u1 + 1);
	msg = mailbox_lookup(m, u1 + 1, NULL);
	assert_int_equal(msg->flags & MAILBOX_FLAGS_IMAP, MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_SEEN);
	assert_true(msg->flags & MAILBOX_FLAG_RECENT);	/* kept across the rename */

	/* renamed again behind our back: store_flags rescans and retries */
	assert_int_equal(rename(to, from), 0);
	assert_int_equal(mailbox_store_flags(m, u1 + 1, MAILBOX_FLAG_FLAGGED, 0), STORE_OK);
	msg = mailbox_lookup(m, u1 + 1, NULL);
	assert_string_equal(msg->filename, "cur/1700000000.M1P1.otherhost:2,F");
	free(to);
	to = path_of(f, "cur/1700000000.M1P1.otherhost:2,F");
	assert_int_equal(access(to, F_OK), 0);

	/* message opened after a rename elsewhere: found by rescan */
	assert_int_equal(rename(to, from), 0);
	{
		int fd;

		assert_int_equal(mailbox_msg_open(m, u1 + 1, &fd), STORE_OK);
		close(fd);
	}

	/* removed by another program: expunged */
	ev.nexpunged = 0;
	assert_int_equal(unlink(from), 0);
	m->force_sync = true;
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(ev.nexpunged, 1);
	assert_int_equal(ev.expunged[0], u1 + 1);
	assert_int_equal(mailbox_count(m), 1);
	free(from);
	free(to);

	/* nothing changed: sync is a no-op */
	ev.nappended = ev.nexpunged = ev.nflags = 0;
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(ev.nappended + ev.nexpunged + ev.nflags, 0);
	mailbox_unlisten(m, &l);
	mailbox_unref(&m);
}

/* The UIDs of emailid in box, checked against a walk of every message. */
static size_t
emailid_uids_checked(struct mailbox *box, uint64_t emailid, uint32_t *uids, size_t max)
{
	size_t n = mailbox_emailid_uids(box, emailid, uids, max), walk = 0;

	for (size_t i = 0; i < mailbox_count(box); i++) {
		const struct mailbox_msg *m = mailbox_msg_at(box, i);

		if (m->emailid != emailid)
			continue;
		if (walk < max)
			assert_int_equal(uids[walk], m->uid);
		walk++;
	}
	assert_int_equal(n, walk);
	return n;
}

/* mailbox_emailid_uids after every kind of change of the message array, with the
 * table built before each: appends, COPY within and between folders, expunges, an
 * outside delivery, removal and move, a rescan, a reload from the index */
static void
test_emailid_lookup(void **state)
{
	struct fixture *f = *state;
	struct mailbox *m, *t;
	uint32_t uids[8], u[40], cu[2], src[2];
	uint64_t e1, e2, e3;
	char *from, *to;

	assert_int_equal(mstore_create(f->store, "Trash"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Trash", &t), STORE_OK);
	assert_int_equal(mailbox_emailid_uids(m, 1, uids, 8), 0);
	for (size_t i = 0; i < 40; i++) {
		char body[64];

		snprintf(body, sizeof(body), "Subject: %zu\n\nbody\n", i);
		u[i] = save_msg(m, body, 0, 0, 0);
		/* the table follows the appends */
		assert_int_equal(emailid_uids_checked(m, mailbox_lookup(m, u[i],
		    NULL)->emailid, uids, 8), 1);
		assert_int_equal(uids[0], u[i]);
	}
	e1 = mailbox_lookup(m, u[3], NULL)->emailid;
	e2 = mailbox_lookup(m, u[7], NULL)->emailid;
	e3 = mailbox_lookup(m, u[39], NULL)->emailid;
	assert_int_equal(emailid_uids_checked(t, e1, uids, 8), 0);
	/* COPY into the same folder: two UIDs, ascending; and into Trash */
	src[0] = u[3];
	src[1] = u[7];
	assert_int_equal(mailbox_copy(m, src, 2, m, cu), STORE_OK);
	assert_int_equal(emailid_uids_checked(m, e1, uids, 8), 2);
	assert_int_equal(uids[0], u[3]);
	assert_int_equal(uids[1], cu[0]);
	assert_int_equal(emailid_uids_checked(m, e1, uids, 1), 2);	/* max 1: the first */
	assert_int_equal(uids[0], u[3]);
	assert_int_equal(mailbox_copy(m, src, 1, t, cu), STORE_OK);
	assert_int_equal(emailid_uids_checked(t, e1, uids, 8), 1);
	assert_int_equal(uids[0], cu[0]);
	/* expunges move the messages after them: the table is built again */
	assert_int_equal(mailbox_expunge(m, &u[3], 1), STORE_OK);
	assert_int_equal(emailid_uids_checked(m, e1, uids, 8), 1);
	assert_int_equal(emailid_uids_checked(m, e2, uids, 8), 2);
	assert_int_equal(emailid_uids_checked(m, e3, uids, 8), 1);
	assert_int_equal(uids[0], u[39]);
	/* delivered by another program, then moved by it to Trash, then removed */
	external_deliver(f, ".", "1700000000.M1P1.elsewhere", "Subject: x\n\nhi\n");
	m->force_sync = true;
	assert_int_equal(mailbox_sync(m), STORE_OK);
	{
		const struct mailbox_msg *x = mailbox_msg_at(m, mailbox_count(m) - 1);
		uint64_t ex = x->emailid;

		assert_string_equal(x->filename, "cur/1700000000.M1P1.elsewhere:2,");
		assert_int_equal(emailid_uids_checked(m, ex, uids, 8), 1);
		assert_int_equal(emailid_uids_checked(t, ex, uids, 8), 0);
		from = path_of(f, "cur/1700000000.M1P1.elsewhere:2,");
		to = path_of(f, ".Trash/cur/1700000000.M1P1.elsewhere:2,");
		assert_int_equal(rename(from, to), 0);
		m->force_sync = t->force_sync = true;
		assert_int_equal(mailbox_sync(m), STORE_OK);
		assert_int_equal(mailbox_sync(t), STORE_OK);
		assert_int_equal(emailid_uids_checked(m, ex, uids, 8), 0);
		/* the same base name: the same EMAILID in Trash */
		assert_int_equal(emailid_uids_checked(t, ex, uids, 8), 1);
		assert_int_equal(unlink(to), 0);
		t->force_sync = true;
		assert_int_equal(mailbox_sync(t), STORE_OK);
		assert_int_equal(emailid_uids_checked(t, ex, uids, 8), 0);
		free(from);
		free(to);
	}
	/* a reload from the index (closed, evicted, opened lazily) */
	mailbox_unref(&t);
	mailbox_unref(&m);
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(emailid_uids_checked(m, e2, uids, 8), 2);
	assert_int_equal(emailid_uids_checked(m, e1, uids, 8), 1);
	assert_int_equal(mailbox_expunge(m, uids, 1), STORE_OK);
	assert_int_equal(emailid_uids_checked(m, e1, uids, 8), 0);
	mailbox_unref(&m);
}

struct added {
	struct mstore *store;
	uint64_t ids[8];
	size_t n;
};

static void
added_cb(void *ctx, uint64_t emailid, int fd)
{
	struct added *a = ctx;
	char b[9];

	/* the new message's file, from its start */
	assert_int_equal(pread(fd, b, 8, 0), 8);
	b[8] = '\0';
	assert_string_equal(b, "Message-");
	assert_true(a->n < 8);
	a->ids[a->n++] = emailid;
	mail_thread_added(a->store, emailid, fd);
}

/* Thread ids at arrival (mstore_set_added_cb + mail_thread_added): a save, a delivery
 * and a two-message transaction are told, a copy is not; a reply joins its parent's
 * thread without anything asking for the parent's first */
static void
test_added_threads(void **state)
{
	struct fixture *f = *state;
	struct added a = { f->store, { 0 }, 0 };
	struct mailbox *m, *t;
	struct mailbox_save *ctx;
	uint64_t tids[3], ids[3];
	uint32_t ua, ub, first, last, cu;
	static const char *const bodies[] = {
		"Message-ID: <c@x>\nSubject: c\n\nc\n",
		"Message-ID: <d@x>\nReferences: <c@x>\nSubject: d\n\nd\n" };

	mstore_set_added_cb(f->store, added_cb, &a);
	assert_int_equal(mstore_create(f->store, "Trash"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Trash", &t), STORE_OK);
	ua = save_msg(m, "Message-ID: <a@x>\nSubject: a\n\nhi\n", 0, 0, 0);
	assert_int_equal(a.n, 1);
	ids[0] = mailbox_lookup(m, ua, NULL)->emailid;
	assert_true(a.ids[0] == ids[0]);
	/* a delivery (new/) of a reply */
	ctx = mailbox_save_begin(m, MAILBOX_SAVE_DELIVERY);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, "Message-ID: <b@x>\nIn-Reply-To: <a@x>\n\nre\n",
	    strlen("Message-ID: <b@x>\nIn-Reply-To: <a@x>\n\nre\n")), STORE_OK);
	assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
	assert_int_equal(mailbox_save_commit(&ctx, &ub, &last), STORE_OK);
	assert_int_equal(a.n, 2);
	ids[1] = mailbox_lookup(m, ub, NULL)->emailid;
	assert_true(a.ids[1] == ids[1]);
	/* the thread ids are in the index already: the reply's is its parent's */
	mstore_threads_lookup(f->store, 2, ids, tids);
	assert_true(tids[0] == ids[0]);
	assert_true(tids[1] == ids[0]);
	/* a copy keeps its EMAILID and thread: not told */
	assert_int_equal(mailbox_copy(m, &ua, 1, t, &cu), STORE_OK);
	assert_int_equal(a.n, 2);
	/* two messages in one transaction: both, in order */
	ctx = mailbox_save_begin(t, 0);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
		assert_int_equal(mailbox_save_write(ctx, bodies[i], strlen(bodies[i])), STORE_OK);
		assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
	}
	assert_int_equal(mailbox_save_commit(&ctx, &first, &last), STORE_OK);
	assert_int_equal(a.n, 4);
	ids[0] = mailbox_lookup(t, first, NULL)->emailid;
	ids[1] = mailbox_lookup(t, last, NULL)->emailid;
	assert_true(a.ids[2] == ids[0] && a.ids[3] == ids[1]);
	mstore_threads_lookup(f->store, 2, ids, tids);
	assert_true(tids[0] == ids[0] && tids[1] == ids[0]);
	mstore_set_added_cb(f->store, NULL, NULL);
	(void)save_msg(m, "Message-ID: <e@x>\n\ne\n", 0, 0, 0);
	assert_int_equal(a.n, 4);
	mailbox_unref(&t);
	mailbox_unref(&m);
}

/* \Recent survives the last unref of a folder while the store stays open */
static void
test_recent_kept(void **state)
{
	struct fixture *f = *state;
	struct mailbox_status stt;
	struct mailbox *m;

	assert_int_equal(mstore_create(f->store, "R"), STORE_OK);
	external_deliver(f, ".R", "1700000002.M3P3.otherhost", "r\n");
	assert_int_equal(mstore_status(f->store, "R", &stt), STORE_OK);
	assert_int_equal(stt.messages, 1);
	assert_int_equal(stt.recent, 1);
	assert_int_equal(stt.unseen, 1);
	assert_int_equal(stt.uidnext, 2);
	assert_int_equal(mailbox_open(f->store, "R", &m), STORE_OK);
	assert_true(mailbox_msg_at(m, 0)->flags & MAILBOX_FLAG_RECENT);
	mailbox_unref(&m);
	reopen(f);
	assert_int_equal(mstore_status(f->store, "R", &stt), STORE_OK);
	assert_int_equal(stt.recent, 0);
}

static void
test_inotify(void **state)
{
	struct fixture *f = *state;
	struct events ev = { 0 };
	struct mailbox_listener *l;
	struct pollfd pfd;
	struct mailbox *m;
	int fd;

	fd = mstore_notify_fd(f->store);
	if (fd < 0)
		skip();
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	l = mailbox_listen(m, &ev_ops, &ev);
	external_deliver(f, ".", "1700000001.M2P2.otherhost", "x\n");
	pfd.fd = fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	mstore_notify_process(f->store);
	assert_int_equal(ev.nappended, 1);
	assert_int_equal(mailbox_count(m), 1);

	/* our own save, flag change and expunge do not ask for a rescan... */
	{
		uint32_t u = save_msg(m, "own\n", 0, 0, 0);

		assert_int_equal(mailbox_store_flags(m, u, MAILBOX_FLAG_SEEN, 0), STORE_OK);
		assert_int_equal(mailbox_expunge(m, &u, 1), STORE_OK);
	}
	mstore_notify_drain(f->store);
	assert_false(m->force_sync);
	assert_int_equal(m->own_live, 0);
	/* ...but someone else's change in between does */
	save_msg(m, "own2\n", 0, 0, 0);
	external_deliver(f, ".", "1700000003.M4P4.otherhost", "y\n");
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	mstore_notify_drain(f->store);
	assert_true(m->force_sync);
	ev.nappended = 0;
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(ev.nappended, 1);
	assert_int_equal(mailbox_count(m), 3);
	mailbox_unlisten(m, &l);
	mailbox_unref(&m);
}

static void
folders_cb(void *ctx)
{
	(*(unsigned *)ctx)++;
}

/* mstore_set_folders_cb: folder directories appearing or vanishing in the root (NOTIFY
 * MailboxName for other processes' changes); files there and the store's own
 * "..buzon-deleted" directories are not folder changes. */
static void
test_folders_cb(void **state)
{
	struct fixture *f = *state;
	struct pollfd pfd;
	unsigned calls = 0;
	char path[256];
	int fd;

	fd = mstore_notify_fd(f->store);
	if (fd < 0)
		skip();
	pfd.fd = fd;
	pfd.events = POLLIN;
	/* no callback: no root watch, nothing to read */
	snprintf(path, sizeof(path), "%s/.Before", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(poll(&pfd, 1, 100), 0);
	mstore_set_folders_cb(f->store, folders_cb, &calls);
	snprintf(path, sizeof(path), "%s/.Outside", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	mstore_notify_process(f->store);
	assert_int_equal(calls, 1);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	mstore_notify_process(f->store);
	assert_int_equal(calls, 2);
	/* a plain file in the root and an internal ".." directory: not told */
	snprintf(path, sizeof(path), "%s/.plainfile", f->root);
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	snprintf(path, sizeof(path), "%s/..buzon-deleted.x", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	mstore_notify_process(f->store);
	assert_int_equal(calls, 2);
	/* our own CREATE is a change too (the caller compares lists) */
	assert_int_equal(mstore_create(f->store, "Own"), STORE_OK);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	mstore_notify_process(f->store);
	assert_int_equal(calls, 3);
	mstore_set_folders_cb(f->store, NULL, NULL);
	assert_int_equal(mstore_create(f->store, "Own2"), STORE_OK);
	mstore_notify_process(f->store);
	assert_int_equal(calls, 3);
}

static void
delivered_cb(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	(void)mbox;
	(void)uid;
	(*(unsigned *)ctx)++;
}

static const struct mailbox_listener_ops delivered_ops = { .delivered = delivered_cb };

static void
release_cb(void *ctx, const char *name)
{
	struct mailbox **held = ctx;

	assert_string_equal(name, "Held");
	mailbox_unref(held);
}

/* The listener's delivered callback (JMAP EmailDelivery): a save with
 * MAILBOX_SAVE_DELIVERY and a file another program put into new/, not a client's save;
 * mstore_folders_watch beside mstore_set_folders_cb; mstore_release_watch lets a rename
 * through a folder held open only to watch it. */
static void
test_push_hooks(void **state)
{
	struct fixture *f = *state;
	struct mailbox_listener *l;
	struct mailbox_save *ctx;
	struct mailbox *m, *held;
	unsigned delivered = 0, calls = 0, calls2 = 0;
	uint32_t first, last;
	struct pollfd pfd;
	char path[256];

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	l = mailbox_listen(m, &delivered_ops, &delivered);
	(void)save_msg(m, "Subject: append\n\nx\n", 0, 0, 0);
	assert_int_equal(delivered, 0);
	ctx = mailbox_save_begin(m, MAILBOX_SAVE_DELIVERY);
	assert_int_equal(mailbox_save_msg_begin(ctx), STORE_OK);
	assert_int_equal(mailbox_save_write(ctx, "Subject: d\n\nx\n", 15), STORE_OK);
	assert_int_equal(mailbox_save_msg_end(ctx, 0, 0, 0), STORE_OK);
	assert_int_equal(mailbox_save_commit(&ctx, &first, &last), STORE_OK);
	assert_int_equal(delivered, 1);
	external_deliver(f, ".", "1700000000.M1P1.mda", "Subject: mda\n\nx\n");
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(delivered, 2);
	mailbox_unlisten(m, &l);
	mailbox_unref(&m);

	pfd.fd = mstore_notify_fd(f->store);
	pfd.events = POLLIN;
	if (pfd.fd >= 0) {
		mstore_set_folders_cb(f->store, folders_cb, &calls);
		assert_int_equal(mstore_folders_watch(f->store, folders_cb, &calls2, true), 0);
		assert_int_equal(mstore_create(f->store, "Held"), STORE_OK);
		assert_int_equal(poll(&pfd, 1, 2000), 1);
		mstore_notify_process(f->store);
		assert_int_equal(calls, 1);
		assert_int_equal(calls2, 1);
		/* NOTIFY's slot going away leaves the watch */
		mstore_set_folders_cb(f->store, NULL, NULL);
		snprintf(path, sizeof(path), "%s/.Other", f->root);
		assert_int_equal(mkdir(path, 0700), 0);
		assert_int_equal(poll(&pfd, 1, 2000), 1);
		mstore_notify_process(f->store);
		assert_int_equal(calls, 1);
		assert_int_equal(calls2, 2);
		assert_int_equal(mstore_folders_watch(f->store, folders_cb, &calls2, false), 0);
	} else
		assert_int_equal(mstore_create(f->store, "Held"), STORE_OK);

	assert_int_equal(mailbox_open(f->store, "Held", &held), STORE_OK);
	assert_int_equal(mstore_rename(f->store, "Held", "Moved"), STORE_CANNOT);
	assert_int_equal(mstore_release_watch(f->store, release_cb, &held, true), 0);
	assert_int_equal(mstore_rename(f->store, "Held", "Moved"), STORE_OK);
	assert_null(held);
	assert_int_equal(mstore_release_watch(f->store, release_cb, &held, false), 0);
}

static void
test_two_users_of_one_mbox(void **state)
{
	struct fixture *f = *state;
	struct events e1 = { 0 }, e2 = { 0 };
	struct mailbox_listener *l1, *l2;
	struct mailbox *a, *b;
	uint32_t u;

	assert_int_equal(mailbox_open(f->store, "inbox", &a), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "INBOX", &b), STORE_OK);
	assert_ptr_equal(a, b);
	assert_string_equal(mailbox_name(a), "INBOX");
	l1 = mailbox_listen(a, &ev_ops, &e1);
	l2 = mailbox_listen(b, &ev_ops, &e2);
	u = save_msg(a, "m\n", 0, 0, 0);
	assert_int_equal(e1.nappended, 1);
	assert_int_equal(e2.nappended, 1);
	assert_int_equal(mailbox_store_flags(b, u, MAILBOX_FLAG_DELETED, 0), STORE_OK);
	assert_int_equal(e1.nflags, 1);
	assert_int_equal(mailbox_expunge(a, &u, 1), STORE_OK);
	assert_int_equal(e2.nexpunged, 1);
	assert_int_equal(e2.expunged[0], u);
	mailbox_unlisten(a, &l1);
	mailbox_unlisten(b, &l2);
	mailbox_unref(&a);
	mailbox_unref(&b);
}

static void
test_copy_keywords(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_msg *msg;
	struct mailbox *src, *dst;
	uint32_t uids[2], nuids[2];
	unsigned int idx, i;
	struct stat st;
	char name[16];
	char *p;

	assert_int_equal(mstore_create(f->store, "Archive"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "INBOX", &src), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Archive", &dst), STORE_OK);
	/* make the keyword indexes differ between the folders */
	assert_int_equal(mailbox_keyword_add(dst, "other", &idx), STORE_OK);
	assert_int_equal(idx, 0);
	assert_int_equal(mailbox_keyword_add(src, "$Work", &idx), STORE_OK);
	assert_int_equal(idx, 0);
	assert_int_equal(mailbox_keyword_add(src, "$work", &idx), STORE_OK);
	assert_int_equal(idx, 0);	/* case-insensitive */
	assert_int_equal(mailbox_keyword_lookup(src, "$WORK"), 0);
	assert_int_equal(mailbox_keyword_add(src, "bad name", &idx), STORE_BADNAME);
	assert_int_equal(mailbox_keyword_add(src, "\\Seen", &idx), STORE_BADNAME);
	uids[0] = save_msg(src, "one\n", MAILBOX_FLAG_SEEN, 1u, 0);
	uids[1] = save_msg(src, "two\n", 0, 0, 0);
	assert_true(strstr(mailbox_lookup(src, uids[0], NULL)->filename, ":2,Sa") != NULL);
	assert_int_equal(mailbox_copy(src, uids, 2, dst, nuids), STORE_OK);
	assert_int_equal(nuids[0], 1);
	assert_int_equal(nuids[1], 2);
	msg = mailbox_lookup(dst, 1, NULL);
	assert_int_equal(msg->flags, MAILBOX_FLAG_SEEN | MAILBOX_FLAG_RECENT);
	assert_int_equal(msg->keywords, 1u << 1);	/* "$Work" is index 1 there */
	assert_string_equal(mailbox_keyword_name(dst, 1), "$Work");
	/* a hard link: the source file now has two links */
	p = xasprintf("%s/%s", f->root, mailbox_lookup(src, uids[0], NULL)->filename);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 2);
	free(p);
	/* keywords file in Dovecot format */
	p = path_of(f, ".Archive/dovecot-keywords");
	{
		char *data = read_all(p);

		assert_string_equal(data, "0 other\n1 $Work\n");
		free(data);
	}
	free(p);
	/* copy of an expunged UID fails and copies nothing */
	uids[1] = 999;
	assert_int_equal(mailbox_copy(src, uids, 2, dst, nuids), STORE_EXPUNGED);
	assert_int_equal(mailbox_count(dst), 2);
	p = path_of(f, ".Archive/tmp");
	assert_int_equal(count_dir(p), 0);
	free(p);
	/* 26 keywords at most */
	for (i = 2; i < STORE_KEYWORDS_MAX; i++) {
		snprintf(name, sizeof(name), "kw%u", i);
		assert_int_equal(mailbox_keyword_add(dst, name, &idx), STORE_OK);
		assert_int_equal(idx, i);
	}
	assert_int_equal(mailbox_keyword_add(dst, "one-too-many", &idx), STORE_LIMIT);
	assert_int_equal(mailbox_store_flags(dst, 1, 0, 1u << 25 | 1u), STORE_OK);
	assert_true(strstr(mailbox_lookup(dst, 1, NULL)->filename, ":2,az") != NULL);
	mailbox_unref(&dst);
	mailbox_unref(&src);
	/* keywords survive a reopen */
	reopen(f);
	assert_int_equal(mailbox_open(f->store, "Archive", &dst), STORE_OK);
	assert_string_equal(mailbox_keyword_name(dst, 25), "kw25");
	assert_int_equal(mailbox_lookup(dst, 1, NULL)->keywords, 1u << 25 | 1u);
	mailbox_unref(&dst);
}

/* RFC 8474: a copy (and so a MOVE) keeps the message's EMAILID, through the uidlist's
 * G field, across restarts with and without the index; the folder GUID (MAILBOXID)
 * survives RENAME and is new for a folder created again; a Dovecot G field is read. */
static void
test_object_ids(void **state)
{
	struct fixture *f = *state;
	struct mailbox *src, *dst;
	uint32_t uids[2], nuids[2];
	uint64_t id0, id1;
	char guid[33], *p, *data;

	assert_int_equal(mstore_create(f->store, "Archive"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "INBOX", &src), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Archive", &dst), STORE_OK);
	assert_int_equal(strlen(mailbox_guid(dst)), 32);
	assert_string_not_equal(mailbox_guid(src), mailbox_guid(dst));
	memcpy(guid, mailbox_guid(dst), sizeof(guid));
	uids[0] = save_msg(src, "one\n", 0, 0, 0);
	uids[1] = save_msg(src, "two\n", 0, 0, 0);
	id0 = mailbox_msg_emailid(src, mailbox_lookup(src, uids[0], NULL));
	id1 = mailbox_msg_emailid(src, mailbox_lookup(src, uids[1], NULL));
	assert_true(id0 != 0 && id1 != 0 && id0 != id1);
	assert_int_equal(mailbox_copy(src, uids, 2, dst, nuids), STORE_OK);
	assert_true(mailbox_lookup(dst, nuids[0], NULL)->emailid == id0);
	assert_true(mailbox_lookup(dst, nuids[1], NULL)->emailid == id1);
	/* a second copy into the same folder (another name) keeps it too */
	assert_int_equal(mailbox_copy(dst, nuids, 1, dst, uids), STORE_OK);
	assert_true(mailbox_lookup(dst, uids[0], NULL)->emailid == id0);
	/* the destination uidlist carries it as G<16 hex> */
	p = path_of(f, ".Archive/dovecot-uidlist");
	data = read_all(p);
	free(p);
	{
		char want[40];

		snprintf(want, sizeof(want), " G%016llx ", (unsigned long long)id0);
		assert_non_null(strstr(data, want));
	}
	free(data);
	/* MOVE = copy + expunge of the source */
	uids[0] = 1;
	assert_int_equal(mailbox_expunge(src, uids, 1), STORE_OK);
	mailbox_unref(&dst);
	mailbox_unref(&src);

	/* restart: from the index, then from the uidlist alone */
	for (int round = 0; round < 2; round++) {
		reopen(f);
		if (round == 1) {
			char *ix = path_of(f, "buzon.index");

			mstore_close(&f->store);
			assert_int_equal(unlink(ix), 0);
			free(ix);
			reopen(f);
		}
		assert_int_equal(mailbox_open(f->store, "Archive", &dst), STORE_OK);
		assert_string_equal(mailbox_guid(dst), guid);
		assert_int_equal(mailbox_count(dst), 3);
		assert_true(mailbox_msg_at(dst, 0)->emailid == id0);
		assert_true(mailbox_msg_at(dst, 1)->emailid == id1);
		assert_true(mailbox_msg_at(dst, 2)->emailid == id0);
		mailbox_unref(&dst);
	}

	/* RENAME keeps the MAILBOXID and the EMAILIDs */
	assert_int_equal(mstore_rename(f->store, "Archive", "Old"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Old", &dst), STORE_OK);
	assert_string_equal(mailbox_guid(dst), guid);
	assert_true(mailbox_msg_at(dst, 1)->emailid == id1);
	mailbox_unref(&dst);
	/* DELETE + CREATE: a new one */
	assert_int_equal(mstore_delete(f->store, "Old"), STORE_OK);
	assert_int_equal(mstore_create(f->store, "Old"), STORE_OK);
	{
		struct mailbox_status ms;

		assert_int_equal(mstore_status(f->store, "Old", &ms), STORE_OK);
		assert_int_equal(strlen(ms.guid), 32);
		assert_string_not_equal(ms.guid, guid);
	}

	/* a uidlist Dovecot wrote: records with G (its message GUID), no folder GUID */
	assert_int_equal(mstore_create(f->store, "Dove"), STORE_OK);
	p = path_of(f, ".Dove/cur/1700000000.M1P1.host:2,S");
	write_file(p, "x\n");
	free(p);
	p = path_of(f, ".Dove/cur/1700000001.M1P1.host:2,");
	write_file(p, "y\n");
	free(p);
	p = path_of(f, ".Dove/dovecot-uidlist");
	write_file(p, "3 V1700000000 N3\n"
	    "1 G0a1b2c3d4e5f60718293a4b5c6d7e8f9 :1700000000.M1P1.host\n"
	    "2 G" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    " :1700000001.M1P1.host\n");
	assert_int_equal(mailbox_open(f->store, "Dove", &dst), STORE_OK);
	assert_int_equal(mailbox_uidvalidity(dst), 1700000000u);
	assert_true(mailbox_lookup(dst, 1, NULL)->emailid ==
	    maildir_emailid_guid("0a1b2c3d4e5f60718293a4b5c6d7e8f9", 32));
	/* an overlong G is ignored: the base name's id */
	assert_true(mailbox_lookup(dst, 2, NULL)->emailid ==
	    maildir_emailid_base("1700000001.M1P1.host", 20));
	/* the missing folder GUID was given and written */
	assert_int_equal(strlen(mailbox_guid(dst)), 32);
	data = read_all(p);
	assert_true(strncmp(data, "3 V1700000000 N3 G", 18) == 0);
	free(data);
	/* rewritten by another program without it: the folder keeps its MAILBOXID */
	memcpy(guid, mailbox_guid(dst), sizeof(guid));
	write_file(p, "3 V1700000000 N4\n1 :1700000000.M1P1.host\n");
	assert_int_equal(mailbox_sync(dst), STORE_OK);
	assert_int_equal(mailbox_count(dst), 2);
	assert_string_equal(mailbox_guid(dst), guid);
	free(p);
	mailbox_unref(&dst);
}

/* A "..buzon-deleted.*" directory left by a failed DELETE cleanup is removed by a later
 * LIST once old enough, never shown as a folder, and a young one is left alone. */
static void
test_deleted_leftover_swept(void **state)
{
	struct fixture *f = *state;
	struct mstore_folder *list;
	size_t count, i;
	char path[512];
	struct stat st;
	unsigned saved = mstore_deleted_sweep_secs;

	snprintf(path, sizeof(path), "%s/..buzon-deleted.left", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/..buzon-deleted.left/cur", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/..buzon-deleted.left/cur/1.M1P1.h,S=1:2,", f->root);
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	snprintf(path, sizeof(path), "%s/..buzon-deleted.left", f->root);
	mstore_deleted_sweep_secs = 3600;	/* young: maybe being removed right now */
	assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
	for (i = 0; i < count; i++)
		assert_null(strstr(list[i].name, "buzon-deleted"));
	mstore_list_free(list, count);
	assert_int_equal(stat(path, &st), 0);
	mstore_deleted_sweep_secs = 0;		/* old enough */
	assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
	mstore_list_free(list, count);
	mstore_deleted_sweep_secs = saved;
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_delete_rename(void **state)
{
	struct fixture *f = *state;
	struct mstore_folder *list;
	const struct mstore_folder *x;
	struct events ev = { 0 };
	struct mailbox_listener *l;
	struct mailbox_status stt;
	struct mailbox *m;
	uint32_t uv1;
	size_t count;
	char *p;

	assert_int_equal(mstore_delete(f->store, "INBOX"), STORE_CANNOT);
	assert_int_equal(mstore_delete(f->store, "Nope"), STORE_NONEXISTENT);
	assert_int_equal(mstore_create(f->store, "P.C"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "P", &m), STORE_OK);
	uv1 = mailbox_uidvalidity(m);
	save_msg(m, "in P\n", 0, 0, 0);
	l = mailbox_listen(m, &ev_ops, &ev);
	/* delete a folder with children: messages go, name stays as \Noselect */
	assert_int_equal(mstore_delete(f->store, "P"), STORE_OK);
	assert_int_equal(ev.nexpunged, 1);
	assert_true(mailbox_is_deleted(m));
	assert_int_equal(mailbox_count(m), 0);
	mailbox_unlisten(m, &l);
	mailbox_unref(&m);
	assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
	x = find_folder(list, count, "P");
	assert_non_null(x);
	assert_true(x->attrs & MSTORE_ATTR_NOSELECT);
	assert_non_null(find_folder(list, count, "P.C"));
	mstore_list_free(list, count);
	/* recreated: strictly greater UIDVALIDITY, even in the same second */
	assert_int_equal(mstore_create(f->store, "P"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "P", &m), STORE_OK);
	assert_true(mailbox_uidvalidity(m) > uv1);
	assert_int_equal(mailbox_count(m), 0);
	mailbox_unref(&m);

	/* rename with children */
	assert_int_equal(mstore_rename(f->store, "P", "Q.R"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Q.R.C", &m), STORE_OK);
	mailbox_unref(&m);
	assert_int_equal(mailbox_open(f->store, "P.C", &m), STORE_NONEXISTENT);
	assert_int_equal(mstore_rename(f->store, "Q.R", "Q.R.X"), STORE_CANNOT);
	assert_int_equal(mstore_rename(f->store, "Q", "Q.R"), STORE_CANNOT);
	assert_int_equal(mstore_rename(f->store, "Q.R.C", "Q"), STORE_EXISTS);
	assert_int_equal(mstore_rename(f->store, "Missing", "Z"), STORE_NONEXISTENT);
	p = path_of(f, ".Q");
	assert_int_equal(access(p, F_OK), 0);	/* parent made real */
	free(p);

	/* INBOX rename moves the messages, INBOX stays */
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	save_msg(m, "a\n", MAILBOX_FLAG_SEEN, 0, 0);
	save_msg(m, "b\n", 0, 0, 0);
	mailbox_unref(&m);
	assert_int_equal(mstore_rename(f->store, "INBOX", "Old"), STORE_OK);
	assert_int_equal(mstore_status(f->store, "INBOX", &stt), STORE_OK);
	assert_int_equal(stt.messages, 0);
	assert_int_equal(mstore_status(f->store, "Old", &stt), STORE_OK);
	assert_int_equal(stt.messages, 2);
	assert_int_equal(stt.unseen, 1);
	assert_int_equal(stt.uidnext, 3);
	assert_int_equal(mstore_status(f->store, "Nope", &stt), STORE_NONEXISTENT);
}

static void
test_subscriptions_files(void **state)
{
	struct fixture *f = *state;
	char **names, *p, *data;
	size_t count;

	/* Dovecot v1 file */
	p = path_of(f, "subscriptions");
	write_file(p, "INBOX\nWork.Projects\nGone\n");
	assert_int_equal(mstore_subscriptions(f->store, &names, &count), STORE_OK);
	assert_int_equal(count, 3);
	assert_string_equal(names[2], "Work.Projects");
	mstore_names_free(names, count);
	assert_int_equal(mstore_subscribe(f->store, "Gone", false), STORE_OK);
	assert_int_equal(mstore_subscribe(f->store, "A.B", true), STORE_OK);
	assert_int_equal(mstore_subscribe(f->store, "A.B", true), STORE_OK);
	data = read_all(p);
	assert_string_equal(data, "V\t2\n\nA\tB\nINBOX\nWork\tProjects\n");
	free(data);
	/* v2 file by hand */
	write_file(p, "V\t2\n\nSent\nx\ty\n");
	assert_int_equal(mstore_subscriptions(f->store, &names, &count), STORE_OK);
	assert_int_equal(count, 2);
	assert_string_equal(names[1], "x.y");
	mstore_names_free(names, count);
	free(p);
	/* special use: created and subscribed */
	assert_int_equal(mstore_ensure_special_use(f->store), STORE_OK);
	assert_int_equal(mstore_ensure_special_use(f->store), STORE_OK);
	assert_int_equal(mstore_subscriptions(f->store, &names, &count), STORE_OK);
	assert_int_equal(count, 6);	/* x.y Sent + Drafts Trash Junk Archive */
	mstore_names_free(names, count);
	{
		struct mstore_folder *list;
		const struct mstore_folder *x;

		assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
		x = find_folder(list, count, "Trash");
		assert_true(x->attrs & MSTORE_ATTR_TRASH);
		assert_true(x->attrs & MSTORE_ATTR_SUBSCRIBED);
		x = find_folder(list, count, "x.y");
		assert_non_null(x);
		assert_true(x->attrs & MSTORE_ATTR_NONEXISTENT);
		mstore_list_free(list, count);
	}
}

/* ------------------------------------------------------------------ attacks, corruption */

static void
test_symlinks(void **state)
{
	struct fixture *f = *state;
	struct mstore_folder *list;
	struct mailbox *m;
	size_t count, i;
	char *p, *q, *data;

	/* .Evil -> a directory outside that looks like a Maildir */
	q = xasprintf("%s/cur", f->outside);
	assert_int_equal(mkdir(q, 0700), 0);
	free(q);
	q = xasprintf("%s/new", f->outside);
	assert_int_equal(mkdir(q, 0700), 0);
	free(q);
	p = path_of(f, ".Evil");
	assert_int_equal(symlink(f->outside, p), 0);
	free(p);
	assert_int_equal(mstore_list(f->store, &list, &count), STORE_OK);
	for (i = 0; i < count; i++)
		assert_string_not_equal(list[i].name, "Evil");
	mstore_list_free(list, count);
	assert_int_equal(mailbox_open(f->store, "Evil", &m), STORE_NONEXISTENT);
	assert_int_not_equal(mstore_create(f->store, "Evil"), STORE_OK);
	assert_int_not_equal(mstore_delete(f->store, "Evil"), STORE_OK);
	assert_int_equal(count_dir(f->outside), 2);	/* cur, new: nothing added */

	/* uidlist -> a file outside: not read, not written through */
	q = xasprintf("%s/secret", f->outside);
	write_file(q, "3 V1 N1000\n999 :stolen\n");
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	save_msg(m, "x\n", 0, 0, 0);
	mailbox_unref(&m);
	reopen(f);
	p = path_of(f, "dovecot-uidlist");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(mailbox_count(m), 1);
	assert_int_not_equal(mailbox_uidvalidity(m), 1);
	assert_int_equal(mailbox_msg_at(m, 0)->uid, 1);
	mailbox_unref(&m);
	data = read_all(q);
	assert_string_equal(data, "3 V1 N1000\n999 :stolen\n");
	free(data);
	{
		struct stat st;

		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISREG(st.st_mode));	/* replaced, not followed */
	}
	/* a message file that is a symlink is not opened */
	free(p);
	p = path_of(f, "cur/1700000000.M9P9.evil:2,");
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	for (i = 0; i < mailbox_count(m); i++) {
		const struct mailbox_msg *msg = mailbox_msg_at(m, i);
		int fd;

		if (strstr(msg->filename, "evil") != NULL)
			assert_int_not_equal(mailbox_msg_open(m, msg->uid, &fd), STORE_OK);
	}
	mailbox_unref(&m);
	free(p);
	free(q);
}

struct uidlist_damage {
	const char *name;
	const char *content;	/* %1$u = uidvalidity, %2$s/%3$s/%4$s = bases */
	bool keeps_uids;
	unsigned int kept_base;	/* this base ... */
	uint32_t kept_uid;	/* ... keeps this UID (if keeps_uids) */
};

static const struct uidlist_damage damages[] = {
	{ "empty", "", false, 0, 0 },
	{ "cut header", "3 V%1$u N", false, 0, 0 },
	{ "bad numbers", "3 Vabc Nxyz\n", false, 0, 0 },
	{ "cut mid-line", "3 V%1$u N4\n1 :%2$s\n2 :%3$s\n3 :%4$.5s", true, 0, 1 },
	{ "duplicate uid", "3 V%1$u N4\n1 :%2$s\n1 :%3$s\n3 :%4$s\n", true, 0, 1 },
	{ "duplicate name", "3 V%1$u N4\n1 :%2$s\n2 :%2$s%3$.0s\n3 :%4$s\n", true, 0, 1 },
	{ "uid > next", "3 V%1$u N2\n1 :%2$s\n2 :%3$s\n3 :%4$s\n", true, 0, 1 },
	{ "not ascending", "3 V%1$u N4\n2 :%3$s\n1 :%2$s\n3 :%4$s\n", true, 1, 2 },
	{ "missing file", "3 V%1$u N9\n1 :%2$s\n2 :%3$s\n3 :%4$s\n7 :gone.host\n", true, 0, 1 },
	{ "unlisted file", "3 V%1$u N4\n1 :%2$s%3$.0s\n3 :%4$s\n", true, 0, 1 },
	{ "NUL bytes", "3 V%1$u N4\n1 :%2$s\n\0\0\0\n", true, 0, 1 },
};

static void
test_corrupt_uidlists(void **state)
{
	struct fixture *f = *state;
	size_t d, i, j;

	for (d = 0; d < N_ELEMENTS(damages) + 3; d++) {
		struct mailbox *m;
		char bases[3][300], *p, *content = NULL;
		uint32_t uv, nextuid;
		size_t len = 0;

		print_message("damage %zu\n", d);
		assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
		/* start each case from three messages with UIDs 1..3 */
		while (mailbox_count(m) > 0) {
			uint32_t u = mailbox_msg_at(m, 0)->uid;

			assert_int_equal(mailbox_expunge(m, &u, 1), STORE_OK);
		}
		mailbox_unref(&m);
		p = path_of(f, "dovecot-uidlist");
		(void)unlink(p);
		assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
		for (i = 0; i < 3; i++)
			assert_int_equal(save_msg(m, "msg\n", 0, 0, 0), i + 1);
		for (i = 0; i < 3; i++) {
			const struct mailbox_msg *msg = mailbox_msg_at(m, i);
			size_t bl = strcspn(msg->filename + 4, ":");

			memcpy(bases[i], msg->filename + 4, bl);
			bases[i][bl] = '\0';
		}
		uv = mailbox_uidvalidity(m);
		nextuid = mailbox_uidnext(m);
		mailbox_unref(&m);
		reopen(f);
		if (d < N_ELEMENTS(damages)) {
			struct buf b;

			buf_init(&b, BUF_UNLIMITED);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			buf_appendf(&b, damages[d].content, uv, bases[0], bases[1], bases[2]);
#pragma GCC diagnostic pop
			len = b.len;
			if (strstr(damages[d].name, "NUL") != NULL)
				len += 4;	/* the format stopped at the NULs */
			buf_append(&b, "\0\0\0\n", 4);
			content = buf_steal(&b);
			(void)unlink(p);
			{
				int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

				assert_int_equal(write(fd, content, len), (ssize_t)len);
				close(fd);
			}
		} else if (d == N_ELEMENTS(damages)) {
			/* 1 MiB of random bytes */
			int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			char rnd[4096];

			for (i = 0; i < 256; i++) {
				for (j = 0; j < sizeof(rnd); j++)
					rnd[j] = (char)(random() & 0xff);
				assert_int_equal(write(fd, rnd, sizeof(rnd)), (ssize_t)sizeof(rnd));
			}
			close(fd);
		} else if (d == N_ELEMENTS(damages) + 1) {
			/* replaced by a directory */
			(void)unlink(p);
			assert_int_equal(mkdir(p, 0700), 0);
		} else {
			/* mode 000 (as root this is still readable: then it is just valid) */
			assert_int_equal(chmod(p, 0), 0);
		}
		free(content);

		{
			enum store_status st = mailbox_open(f->store, "INBOX", &m);
			bool keeps = d < N_ELEMENTS(damages) ? damages[d].keeps_uids : false;

			if (d == N_ELEMENTS(damages) + 1) {
				/* a directory cannot be replaced by rename: unavailable */
				assert_int_equal(st, STORE_IOERROR);
				assert_int_equal(rmdir(p), 0);
				free(p);
				continue;
			}
			if (d == N_ELEMENTS(damages) + 2 && geteuid() != 0) {
				assert_int_equal(st, STORE_OK);	/* reset: unreadable file replaced */
				keeps = false;
			} else if (d == N_ELEMENTS(damages) + 2) {
				/* root reads mode 000 files: still the valid uidlist */
				assert_int_equal(mailbox_uidvalidity(m), uv);
				assert_int_equal(mailbox_msg_at(m, 0)->uid, 1);
				keeps = false;
				mailbox_unref(&m);
				free(p);
				continue;
			}
			assert_int_equal(st, STORE_OK);
			/* every file listed, never two messages with one UID */
			assert_int_equal(mailbox_count(m), 3);
			for (i = 1; i < 3; i++)
				assert_true(mailbox_msg_at(m, i)->uid > mailbox_msg_at(m, i - 1)->uid);
			if (keeps) {
				assert_int_equal(mailbox_uidvalidity(m), uv);
				/* correctly listed messages keep their UIDs */
				for (i = 0; i < 3; i++)
					if (str_has_prefix(mailbox_msg_at(m, i)->filename + 4,
					    bases[damages[d].kept_base]))
						break;
				assert_true(i < 3);
				assert_int_equal(mailbox_msg_at(m, i)->uid, damages[d].kept_uid);
				assert_true(mailbox_uidnext(m) >= nextuid);
				for (i = 0; i < 3; i++)
					assert_true(mailbox_msg_at(m, i)->uid < mailbox_uidnext(m));
			} else {
				assert_true(mailbox_uidvalidity(m) > uv);
				assert_int_equal(mailbox_msg_at(m, 0)->uid, 1);
				assert_int_equal(mailbox_uidnext(m), 4);
			}
			mailbox_unref(&m);
		}
		/* the rewritten uidlist is clean */
		{
			struct uidlist ul;
			char *data = read_all(p);

			uidlist_init(&ul);
			assert_int_equal(uidlist_parse(data, strlen(data), &ul), UIDLIST_PARSE_OK);
			assert_int_equal(ul.count, 3);
			uidlist_deinit(&ul);
			free(data);
		}
		free(p);
	}
}

static void
test_tmp_cleanup_and_lock(void **state)
{
	struct fixture *f = *state;
	struct timespec ts[2];
	struct mailbox *m;
	char *p, *lock;

	p = path_of(f, "tmp/old-leftover");
	write_file(p, "partial");
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 37 * 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	/* a stale lock left by a crashed process is broken */
	lock = path_of(f, "dovecot-uidlist.lock");
	write_file(lock, "");
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 600;
	assert_int_equal(utimensat(AT_FDCWD, lock, ts, 0), 0);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	/* an old mtime alone does not make it garbage: a hard link made by COPY keeps
	 * the source's mtime, only its ctime is fresh (the ctime cannot be faked here) */
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(save_msg(m, "x\n", 0, 0, 0), 1);
	assert_int_not_equal(access(lock, F_OK), 0);
	mailbox_unref(&m);
	free(p);
	free(lock);
}

/* A lock left by a process killed during a save (nobody holds its flock) is broken at
 * once, not after LOCK_STALE_SECS; a lock whose holder lives (flock held) is not. */
static void
test_dead_lock_holder(void **state)
{
	struct fixture *f = *state;
	struct timespec ts[2];
	struct mailbox *m;
	char *lock;
	int fd;
	uint64_t t0;

	lock = path_of(f, "dovecot-uidlist.lock");
	write_file(lock, "");
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 5;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, lock, ts, 0), 0);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	t0 = clock_ms();
	assert_int_equal(save_msg(m, "x\n", 0, 0, 0), 1);
	assert_true(clock_ms() - t0 < 2000);
	assert_int_not_equal(access(lock, F_OK), 0);
	/* a live holder: the lock is respected (the save waits, then fails) */
	write_file(lock, "");
	assert_int_equal(utimensat(AT_FDCWD, lock, ts, 0), 0);
	fd = open(lock, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	{
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			struct mailbox_save *ctx = mailbox_save_begin(m, 0);
			uint32_t a, b;
			int ok;

			ok = mailbox_save_msg_begin(ctx) == STORE_OK &&
			    mailbox_save_write(ctx, "y\n", 2) == STORE_OK &&
			    mailbox_save_msg_end(ctx, 0, 0, 0) == STORE_OK &&
			    mailbox_save_commit(&ctx, &a, &b) == STORE_OK;
			_exit(ok ? 1 : 0);
		}
		/* still waiting for the lock after 1.5 s (its mtime is 5 s old) */
		usleep(1500 * 1000);
		assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
	}
	assert_int_equal(access(lock, F_OK), 0);
	close(fd);
	(void)unlink(lock);
	mailbox_unref(&m);
	free(lock);
}

static struct mailbox *cached_of(struct fixture *f, const char *name);

/* A bulk flag change (more renames than the kernel's inotify queue holds events) is
 * not mistaken for someone else's change, and does not overflow the queue into a full
 * rescan; a foreign change right after it is still seen. */
static void
test_bulk_store_events(void **state)
{
	struct fixture *f = *state;
	struct events ev = { 0 };
	struct mailbox_listener *l;
	struct mailbox *m;
	char name[96], *p;
	size_t i, n = 10000;
	int fd;

	fd = mstore_notify_fd(f->store);
	if (fd < 0)
		skip();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "cur/17000%05zu.M%zuP9.bulk,S=2,W=3:2,", i, i);
		p = path_of(f, name);
		write_file(p, "b\n");
		free(p);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(mailbox_count(m), n);
	l = mailbox_listen(m, &ev_ops, &ev);
	for (i = 0; i < n; i++)
		assert_int_equal(mailbox_store_flags(m, mailbox_msg_at(m, i)->uid, MAILBOX_FLAG_SEEN, 0),
		    STORE_OK);
	mstore_notify_drain(f->store);
	assert_false(m->force_sync);
	assert_false(m->own_overflow);
	assert_int_equal(m->own_live, 0);
	assert_int_equal(ev.nflags, 64);	/* capped count: all of them were told */
	for (i = 0; i < n; i++)
		assert_int_equal(mailbox_msg_at(m, i)->flags & MAILBOX_FLAGS_IMAP, MAILBOX_FLAG_SEEN);
	/* and back, then someone else's rename */
	for (i = 0; i < n; i++)
		assert_int_equal(mailbox_store_flags(m, mailbox_msg_at(m, i)->uid, 0, 0), STORE_OK);
	{
		char *from, *to;

		from = path_of(f, mailbox_msg_at(m, 7)->filename);
		to = xasprintf("%sF", from);
		assert_int_equal(rename(from, to), 0);
		free(from);
		free(to);
	}
	mstore_notify_drain(f->store);
	assert_true(m->force_sync);
	ev.nflags = 0;
	assert_int_equal(mailbox_sync(m), STORE_OK);
	assert_int_equal(ev.nflags, 1);
	assert_int_equal(ev.flags[0], mailbox_msg_at(m, 7)->uid);
	/* 20,000 renames left names behind in the arena; it was rebuilt on the way, and
	 * every name still leads to its file */
	assert_true(m->names.garbage <= m->names.bytes / 2 || m->names.garbage < 256 * 1024);
	for (i = 0; i < n; i++) {
		p = path_of(f, mailbox_msg_at(m, i)->filename);
		assert_int_equal(access(p, F_OK), 0);
		free(p);
	}
	for (i = 0; i < 3000; i++)
		assert_int_equal(mailbox_store_flags(m, mailbox_msg_at(m, 3)->uid,
		    i % 2 ? MAILBOX_FLAG_SEEN : MAILBOX_FLAG_DRAFT, 0), STORE_OK);
	assert_true(m->names.bytes < 2u * 1024 * 1024);
	p = path_of(f, mailbox_msg_at(m, 3)->filename);
	assert_int_equal(access(p, F_OK), 0);
	assert_true(strstr(p, ":2,S") != NULL);
	free(p);
	mailbox_unlisten(m, &l);
	mailbox_unref(&m);
	/* closed: cached without the garbage names and unused array room */
	m = cached_of(f, "INBOX");
	assert_non_null(m);
	assert_int_equal(m->names.garbage, 0);
	assert_int_equal(m->cap, m->count);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_int_equal(mailbox_count(m), n);
	p = path_of(f, mailbox_msg_at(m, n - 1)->filename);
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	mailbox_unref(&m);
}

/* ---------------------------------------------------------------- closed-folder cache */

/* The cached (closed) state of folder `name`, or NULL. */
static struct mailbox *
cached_of(struct fixture *f, const char *name)
{
	struct mailbox *m;

	for (m = f->store->mailboxes; m != NULL; m = m->next)
		if (m->cached && strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Changes by other programs while a folder is closed and cached are found when it is
 * opened again: a delivery into new/, a flag rename, an unlink — with inotify, and with
 * the mtime check alone (no watch), also when the change kept the directory mtime. */
static void
test_cache_external_changes(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_msg *msg;
	struct mailbox *m, *c;
	struct timespec ts[2];
	struct stat st;
	char *from, *to, *cur;
	uint32_t u1, u2, u3;
	int pass;

	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	u1 = save_msg(m, "one\n", 0, 0, 0);
	u2 = save_msg(m, "two\n", 0, 0, 0);
	u3 = save_msg(m, "three\n", 0, 0, 0);
	mailbox_unref(&m);
	c = cached_of(f, "INBOX");
	assert_non_null(c);
	assert_int_equal(f->store->cache_count, 1);
	assert_true(f->store->cache_bytes > 0);

	/* unchanged: the same state comes back, no rescan */
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_ptr_equal(m, c);
	assert_false(m->cached);
	assert_int_equal(f->store->cache_count, 0);
	assert_int_equal(mailbox_count(m), 3);
	mailbox_unref(&m);

	/* pass 0 with inotify, pass 1 with the directory mtimes only */
	for (pass = 0; pass < 2; pass++) {
		char name[64];

		c = cached_of(f, "INBOX");
		assert_non_null(c);
		if (pass == 1)
			mailbox_notify_remove(c);
		snprintf(name, sizeof(name), "1700000000.M%dP1.otherhost", pass);
		external_deliver(f, ".", name, "From: x\n\nhi\n");
		assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
		assert_ptr_equal(m, c);
		assert_int_equal(mailbox_count(m), 4 + (size_t)pass);
		msg = mailbox_msg_at(m, mailbox_count(m) - 1);
		assert_true(msg->flags & MAILBOX_FLAG_RECENT);
		assert_true(str_has_prefix(msg->filename, "cur/1700000000.M"));
		mailbox_unref(&m);
	}

	/* flag rename and unlink by another program, directory mtime put back as it was:
	 * the watch is gone (pass 1 above), so only the "changed within the last second"
	 * rule can catch it */
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	msg = mailbox_lookup(m, u1, NULL);
	from = path_of(f, msg->filename);
	to = xasprintf("%s,FS", from);	/* ":2," + "FS" */
	msg = mailbox_lookup(m, u2, NULL);
	cur = path_of(f, msg->filename);
	mailbox_unref(&m);
	{
		char *curdir = path_of(f, "cur");

		assert_int_equal(stat(curdir, &st), 0);
		assert_int_equal(rename(from, to), 0);
		assert_int_equal(unlink(cur), 0);
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		assert_int_equal(utimensat(AT_FDCWD, curdir, ts, 0), 0);
		free(curdir);
	}
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_null(mailbox_lookup(m, u2, NULL));
	msg = mailbox_lookup(m, u1, NULL);
	assert_non_null(msg);
	assert_int_equal(msg->flags & MAILBOX_FLAGS_IMAP, MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_SEEN);
	assert_non_null(mailbox_lookup(m, u3, NULL));
	assert_int_equal(mailbox_count(m), 4);
	mailbox_unref(&m);
	free(from);
	free(to);
	free(cur);

	/* the same with inotify: a fresh state (watches in place) */
	mstore_cache_drop(f->store, NULL, false);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	msg = mailbox_lookup(m, u3, NULL);
	cur = path_of(f, msg->filename);
	mailbox_unref(&m);
	assert_non_null(cached_of(f, "INBOX"));
	assert_int_equal(unlink(cur), 0);
	free(cur);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_null(mailbox_lookup(m, u3, NULL));
	assert_int_equal(mailbox_count(m), 3);
	mailbox_unref(&m);

	/* RECENT survives a trip through the cache and its eviction */
	mstore_cache_drop(f->store, NULL, false);
	assert_int_equal(mailbox_open(f->store, "INBOX", &m), STORE_OK);
	assert_true(mailbox_msg_at(m, mailbox_count(m) - 1)->flags & MAILBOX_FLAG_RECENT);
	mailbox_unref(&m);
}

/* A cached folder that was deleted, renamed or replaced is not reused; DELETE and
 * RENAME of cached folders work; the cache is bounded; mstore_close frees it. */
static void
test_cache_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct mailbox *m, *c;
	char name[32];
	char *a, *b;
	int i;

	assert_int_equal(mstore_create(f->store, "A"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "A", &m), STORE_OK);
	(void)save_msg(m, "a\n", 0, 0, 0);
	mailbox_unref(&m);
	assert_non_null(cached_of(f, "A"));

	/* replaced by another program: .A moved away, a new empty .A made */
	a = path_of(f, ".A");
	b = path_of(f, ".A-old");
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(mkdir(a, 0700), 0);
	free(b);
	b = xasprintf("%s/cur", a);
	assert_int_equal(mkdir(b, 0700), 0);
	free(b);
	b = xasprintf("%s/new", a);
	assert_int_equal(mkdir(b, 0700), 0);
	free(b);
	b = xasprintf("%s/tmp", a);
	assert_int_equal(mkdir(b, 0700), 0);
	free(b);
	free(a);
	assert_int_equal(mailbox_open(f->store, "A", &m), STORE_OK);
	assert_int_equal(mailbox_count(m), 0);
	mailbox_unref(&m);

	/* DELETE of a cached folder drops it; a second open fails */
	assert_non_null(cached_of(f, "A"));
	assert_int_equal(mstore_delete(f->store, "A"), STORE_OK);
	assert_null(cached_of(f, "A"));
	assert_int_equal(mailbox_open(f->store, "A", &m), STORE_NONEXISTENT);

	/* RENAME of a cached folder (and a cached child) is not refused */
	assert_int_equal(mstore_create(f->store, "B.C"), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "B", &m), STORE_OK);
	mailbox_unref(&m);
	assert_int_equal(mailbox_open(f->store, "B.C", &m), STORE_OK);
	(void)save_msg(m, "c\n", 0, 0, 0);
	mailbox_unref(&m);
	assert_int_equal(mstore_rename(f->store, "B", "D"), STORE_OK);
	assert_null(cached_of(f, "B"));
	assert_null(cached_of(f, "B.C"));
	assert_int_equal(mailbox_open(f->store, "B.C", &m), STORE_NONEXISTENT);
	assert_int_equal(mailbox_open(f->store, "D.C", &m), STORE_OK);
	assert_int_equal(mailbox_count(m), 1);
	mailbox_unref(&m);
	/* an open one still refuses it */
	assert_int_equal(mailbox_open(f->store, "D.C", &m), STORE_OK);
	assert_int_equal(mstore_rename(f->store, "D", "E"), STORE_CANNOT);
	mailbox_unref(&m);

	/* bounded: the least recently closed go first */
	for (i = 0; i < MAILBOX_CACHE_MAX_FOLDERS + 3; i++) {
		snprintf(name, sizeof(name), "F%d", i);
		assert_int_equal(mstore_create(f->store, name), STORE_OK);
		assert_int_equal(mailbox_open(f->store, name, &m), STORE_OK);
		mailbox_unref(&m);
	}
	assert_int_equal(f->store->cache_count, MAILBOX_CACHE_MAX_FOLDERS);
	assert_null(cached_of(f, "D.C"));	/* D.C, F0, F1, F2 evicted */
	assert_null(cached_of(f, "F0"));
	assert_null(cached_of(f, "F2"));
	assert_non_null(cached_of(f, "F3"));
	snprintf(name, sizeof(name), "F%d", MAILBOX_CACHE_MAX_FOLDERS + 2);
	assert_non_null(cached_of(f, name));
	/* STATUS goes through the cache too */
	{
		struct mailbox_status st;

		c = cached_of(f, "F5");
		assert_int_equal(mstore_status(f->store, "F5", &st), STORE_OK);
		assert_int_equal(st.messages, 0);
		assert_ptr_equal(cached_of(f, "F5"), c);
	}

	/* mstore_close with cached folders and one still open in between */
	assert_int_equal(mailbox_open(f->store, "F3", &m), STORE_OK);
	mailbox_unref(&m);
	reopen(f);
	assert_null(f->store->mailboxes);
	assert_int_equal(f->store->cache_count, 0);
	assert_int_equal(f->store->cache_bytes, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiappend_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uidlist_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inotify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folders_cb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_users_of_one_mbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_leftover_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_uidlists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_cleanup_and_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_lock_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_store_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_external_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emailid_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_added_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
