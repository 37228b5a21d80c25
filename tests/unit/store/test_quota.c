/*
 * test_quota.c — unit tests of Maildir++ quota: the maildirsize parser (table of good
 * and damaged files, every truncation), the limits line, and the store's use of it
 * (a save over quota refused with nothing left in tmp/, COPY and MOVE, expunge deltas,
 * a damaged or foreign-limits file counted again).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "store/store_format.h"

struct pcase {
	const char *name;
	const char *input;
	int ret;
	uint64_t storage, messages, bytes, count;
	unsigned int lines;
};

static const struct pcase pcases[] = {
	{ "Dovecot's recalculated file", "1073741824S\n12345 7\n", 0, 1073741824, 0, 12345, 7, 1 },
	{ "both limits and deltas", "2048S,10C\n100 1\n-40 -1\n7 1\n", 0, 2048, 10, 67, 1, 3 },
	{ "count only", "10C\n5 2\n", 0, 0, 10, 5, 2, 1 },
	{ "no limits (0S)", "0S\n5 2\n", 0, 0, 0, 5, 2, 1 },
	{ "Courier's padded lines", "1000S\n       500      3\n\t1 1 \n", 0, 1000, 0, 501, 4, 2 },
	{ "unterminated last line ignored", "1000S\n10 1\n99", 0, 1000, 0, 10, 1, 1 },
	{ "plus sign", "1000S\n+10 +1\n", 0, 1000, 0, 10, 1, 1 },
	{ "limits only: no lines", "1000S\n", 0, 1000, 0, 0, 0, 0 },
	{ "empty", "", -1, 0, 0, 0, 0, 0 },
	{ "empty limits line", "\n1 1\n", -1, 0, 0, 0, 0, 0 },
	{ "unknown limit", "1000X\n1 1\n", -1, 0, 0, 0, 0, 0 },
	{ "trailing comma", "1000S,\n1 1\n", -1, 0, 0, 0, 0, 0 },
	{ "limit without number", "S\n1 1\n", -1, 0, 0, 0, 0, 0 },
	{ "one number", "1000S\n1\n", -1, 0, 0, 0, 0, 0 },
	{ "three numbers", "1000S\n1 1 1\n", -1, 0, 0, 0, 0, 0 },
	{ "not a number", "1000S\nabc 1\n", -1, 0, 0, 0, 0, 0 },
	{ "negative total", "1000S\n10 1\n-20 -1\n", -1, 0, 0, 0, 0, 0 },
	{ "huge number", "1000S\n99999999999999999999999 1\n", -1, 0, 0, 0, 0, 0 },
	{ "over 2^50", "1000S\n1125899906842625 1\n", -1, 0, 0, 0, 0, 0 },
	{ "total over 2^50 (fuzz)", "1000S\n662600050154573 -0\n662600050154573 -0\n", -1, 0, 0, 0,
	    0, 0 },
	{ "total of 2^50", "1000S\n562949953421312 1\n562949953421312 1\n", 0, 1000, 0,
	    1125899906842624, 2, 2 },
	{ "limit overflow", "99999999999999999999999S\n1 1\n", -1, 0, 0, 0, 0, 0 },
	{ "NUL", "1000S\n1\0 1\n", -1, 0, 0, 0, 0, 0 },
	{ "CR line ends", "1000S\r\n1 1\r\n", -1, 0, 0, 0, 0, 0 },
	{ "blank line", "1000S\n1 1\n\n", -1, 0, 0, 0, 0, 0 },
};

static size_t
case_len(const struct pcase *c)
{
	/* the NUL case has a NUL inside: its length is up to the last '\n' */
	if (strcmp(c->name, "NUL") == 0)
		return 13;
	return strlen(c->input);
}

static void
test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(pcases); i++) {
		const struct pcase *c = &pcases[i];
		struct maildirsize ms;
		int r = maildirsize_parse(c->input, case_len(c), &ms);

		if (r != c->ret)
			fail_msg("%s: ret %d", c->name, r);
		if (r != 0)
			continue;
		if (ms.storage_limit != c->storage || ms.messages_limit != c->messages ||
		    ms.bytes != c->bytes || ms.count != c->count || ms.lines != c->lines)
			fail_msg("%s: %llu %llu %llu %llu %u", c->name,
			    (unsigned long long)ms.storage_limit,
			    (unsigned long long)ms.messages_limit, (unsigned long long)ms.bytes,
			    (unsigned long long)ms.count, ms.lines);
	}
}

/* Every prefix of a good file parses to the lines it holds completely, or fails. */
static void
test_parse_truncations(void **state)
{
	static const char file[] = "2048S,10C\n100 1\n-40 -1\n7 1\n";
	static const unsigned int lines_at[] = { 0, 1, 2, 3 };
	size_t len = sizeof(file) - 1;

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		struct maildirsize ms;
		unsigned int complete = 0;
		size_t first_nl = (size_t)(strchr(file, '\n') - file);
		int r = maildirsize_parse(file, n, &ms);

		for (size_t k = first_nl + 1; k < n; k++)
			if (file[k] == '\n')
				complete++;
		if (n <= first_nl) {
			assert_int_equal(r, -1);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(ms.lines, lines_at[complete]);
	}
}

static void
test_parse_bounds(void **state)
{
	struct maildirsize ms;
	struct buf b;

	(void)state;
	/* MAILDIRSIZE_MAX octets and more: recalculate */
	buf_init(&b, BUF_UNLIMITED);
	(void)buf_append_str(&b, "1000S\n");
	while (b.len < MAILDIRSIZE_MAX)
		(void)buf_append_str(&b, "1 1\n");
	assert_int_equal(maildirsize_parse(b.data, b.len, &ms), -1);
	/* more than MAILDIRSIZE_LINES_MAX lines */
	buf_reset(&b);
	(void)buf_append_str(&b, "1000S\n");
	for (int i = 0; i <= MAILDIRSIZE_LINES_MAX; i++)
		(void)buf_append_str(&b, "1 1\n");
	assert_true(b.len < MAILDIRSIZE_MAX);
	assert_int_equal(maildirsize_parse(b.data, b.len, &ms), -1);
	buf_truncate(&b, b.len - 4);
	assert_int_equal(maildirsize_parse(b.data, b.len, &ms), 0);
	assert_int_equal(ms.count, MAILDIRSIZE_LINES_MAX);
	buf_deinit(&b);
}

static void
test_format_limits(void **state)
{
	static const struct { uint64_t s, m; const char *want; } cases[] = {
		{ 0, 0, "0S\n" }, { 1024, 0, "1024S\n" }, { 0, 10, "10C\n" },
		{ 2048, 10, "2048S,10C\n" },
	};
	struct maildirsize ms;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct buf b;

		buf_init(&b, 64);
		assert_int_equal(maildirsize_format_limits(cases[i].s, cases[i].m, &b), 0);
		assert_string_equal(buf_cstr(&b), cases[i].want);
		(void)buf_append_str(&b, "1 1\n");
		assert_int_equal(maildirsize_parse(b.data, b.len, &ms), 0);
		assert_true(ms.storage_limit == cases[i].s && ms.messages_limit == cases[i].m);
		buf_deinit(&b);
	}
}

/* ------------------------------------------------------------------ the store */

struct fixture {
	char base[64];
	char root[128];
	struct mstore *store;
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

	snprintf(f->base, sizeof(f->base), "/tmp/buzon-quota-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->root, sizeof(f->root), "%s/Maildir", f->base);
	assert_int_equal(mstore_open(f->root, &f->store, &err), 0);
	assert_int_equal(mstore_create(f->store, "Trash"), STORE_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mstore_close(&f->store);
	(void)nftw(f->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static enum store_status
save_one(struct mstore *store, const char *box, size_t size, uint32_t *uid_r)
{
	struct mailbox *mbox;
	struct mailbox_save *ctx;
	enum store_status st;
	uint32_t first = 0, last;
	char data[4096];

	assert_true(size <= sizeof(data));
	memset(data, 'x', size);
	assert_int_equal(mailbox_open(store, box, &mbox), STORE_OK);
	ctx = mailbox_save_begin(mbox, 0);
	mailbox_unref(&mbox);
	st = mailbox_save_msg_begin(ctx);
	if (st == STORE_OK)
		st = mailbox_save_write(ctx, data, size);
	if (st == STORE_OK)
		st = mailbox_save_msg_end(ctx, 0, 0, 0);
	if (st == STORE_OK)
		st = mailbox_save_commit(&ctx, &first, &last);
	else
		mailbox_save_abort(&ctx);
	if (uid_r != NULL)
		*uid_r = first;
	return st;
}

static size_t
dir_entries(const char *root, const char *sub)
{
	char path[256];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
write_file(const char *root, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static void
test_store_quota(void **state)
{
	struct fixture *f = *state;
	struct mstore_quota q;
	struct mailbox *inbox, *trash;
	uint32_t uid, uids[2], dst[2];

	/* off: no file, usage still counted */
	assert_int_equal(save_one(f->store, "INBOX", 1000, NULL), STORE_OK);
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 1000 && q.count == 1 && q.storage_limit == 0);
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/maildirsize", f->root);
		assert_int_not_equal(access(path, F_OK), 0);
	}

	mstore_set_quota(f->store, 3000, 4, 0);
	assert_int_equal(save_one(f->store, "INBOX", 1500, &uid), STORE_OK);
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 2500 && q.count == 2);
	/* 2500 + 600 > 3000: refused, nothing left in tmp/ or cur/ */
	assert_int_equal(save_one(f->store, "INBOX", 600, NULL), STORE_OVERQUOTA);
	assert_int_equal(dir_entries(f->root, "tmp"), 0);
	assert_int_equal(dir_entries(f->root, "cur"), 2);
	assert_int_equal(save_one(f->store, "INBOX", 500, NULL), STORE_OK);	/* = 3000 */

	/* COPY of 1000 + 1500 refused; MOVE's copy is not */
	assert_int_equal(mailbox_open(f->store, "INBOX", &inbox), STORE_OK);
	assert_int_equal(mailbox_open(f->store, "Trash", &trash), STORE_OK);
	uids[0] = 1;
	uids[1] = uid;
	assert_int_equal(mailbox_copy(inbox, uids, 2, trash, dst), STORE_OVERQUOTA);
	assert_int_equal(dir_entries(f->root, ".Trash/tmp"), 0);
	assert_int_equal(mailbox_count(trash), 0);
	mstore_quota_next_copy_is_move(f->store);
	assert_int_equal(mailbox_copy(inbox, uids, 2, trash, dst), STORE_OK);
	assert_int_equal(mailbox_expunge(inbox, uids, 2), STORE_OK);
	/* the flag was for one copy only */
	assert_int_equal(mailbox_copy(trash, dst, 1, inbox, uids), STORE_OVERQUOTA);
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 3000 && q.count == 3);
	/* expunge gives it back */
	assert_int_equal(mailbox_expunge(trash, dst, 2), STORE_OK);
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 500 && q.count == 1);
	mailbox_unref(&inbox);
	mailbox_unref(&trash);

	/* garbage, other limits, a missing file: counted again from the folders */
	write_file(f->root, "maildirsize", "garbage\n\x01\x02");
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 500 && q.count == 1);
	write_file(f->root, "maildirsize", "999S\n1 1\n");
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 500 && q.count == 1);
	write_file(f->root, "maildirsize", "3000S,4C\n10 1\n");	/* ours: trusted */
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 10 && q.count == 1);
	/* DELETE of a folder: counted again */
	assert_int_equal(save_one(f->store, "Trash", 100, NULL), STORE_OK);
	assert_int_equal(mstore_delete(f->store, "Trash"), STORE_OK);
	assert_int_equal(mstore_quota_get(f->store, &q), STORE_OK);
	assert_true(q.bytes == 500 && q.count == 1);
	/* the message limit */
	assert_int_equal(save_one(f->store, "INBOX", 1, NULL), STORE_OK);
	assert_int_equal(save_one(f->store, "INBOX", 1, NULL), STORE_OK);
	assert_int_equal(save_one(f->store, "INBOX", 1, NULL), STORE_OK);
	assert_int_equal(save_one(f->store, "INBOX", 1, NULL), STORE_OVERQUOTA);
}

static void
test_warn_crossed(void **state)
{
	struct fixture *f = *state;
	struct mstore_quota q;

	mstore_set_quota(f->store, 1000, 0, 50);
	assert_int_equal(save_one(f->store, "INBOX", 400, NULL), STORE_OK);
	assert_false(mstore_quota_warn_crossed(f->store, 400, 1, &q));
	assert_int_equal(save_one(f->store, "INBOX", 200, NULL), STORE_OK);
	assert_true(mstore_quota_warn_crossed(f->store, 200, 1, &q));
	assert_true(q.bytes == 600 && q.storage_limit == 1000 && q.warn_percent == 50);
	assert_int_equal(save_one(f->store, "INBOX", 200, NULL), STORE_OK);
	assert_false(mstore_quota_warn_crossed(f->store, 200, 1, &q));
	mstore_set_quota(f->store, 1000, 0, 0);
	assert_false(mstore_quota_warn_crossed(f->store, 800, 1, &q));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_truncations),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_format_limits),
		cmocka_unit_test_setup_teardown(test_store_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warn_crossed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
