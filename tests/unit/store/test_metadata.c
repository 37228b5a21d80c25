/*
 * test_metadata.c — the RFC 5464 METADATA store (store/metadata.c): entry-name checks
 * (table), set/replace/delete with the per-value, per-mailbox and per-user limits,
 * rename and delete of mailboxes, the file form (round trip, every truncation, damaged
 * files refused and left alone) and persistence through a real store directory; the
 * RFC 6154 special-use attribute lists and their /private/specialuse entries in LIST.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/metadata.h"
#include "store/store.h"
#include "lib/buf.h"
#include "lib/util.h"

static const struct {
	const char *name;
	const char *want;	/* NULL: invalid */
} names[] = {
	{ "/private/comment", "/private/comment" },
	{ "/Shared/Vendor/X-Foo", "/shared/vendor/x-foo" },
	{ "/private", "/private" },
	{ "/shared", "/shared" },
	{ "/shared/a.b_c-d~e", "/shared/a.b_c-d~e" },
	{ "", NULL },
	{ "/", NULL },
	{ "private/comment", NULL },
	{ "/privatex/comment", NULL },
	{ "/other/comment", NULL },
	{ "/private/", NULL },
	{ "/private/a/", NULL },
	{ "/private//a", NULL },
	{ "/private/a*", NULL },
	{ "/private/a%b", NULL },
	{ "/private/a b", NULL },
	{ "/private/a\tb", NULL },
	{ "/private/caf\xc3\xa9", NULL },
	{ "/private/a\x7f", NULL },
};

static void
test_entry_names(void **state)
{
	char out[METADATA_ENTRY_NAME_MAX + 1];
	char *lng;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int r = metadata_entry_name_check(names[i].name, strlen(names[i].name), out,
		    sizeof(out));

		if (names[i].want == NULL) {
			assert_int_equal(r, -1);
		} else {
			assert_int_equal(r, 0);
			assert_string_equal(out, names[i].want);
		}
	}
	/* a NUL inside is not printable */
	assert_int_equal(metadata_entry_name_check("/private/a\0b", 12, out, sizeof(out)), -1);
	/* the length limit, and an output buffer too small */
	lng = xmalloc(METADATA_ENTRY_NAME_MAX + 2);
	memcpy(lng, "/private/", 9);
	memset(lng + 9, 'a', METADATA_ENTRY_NAME_MAX + 1 - 9);
	assert_int_equal(metadata_entry_name_check(lng, METADATA_ENTRY_NAME_MAX, out,
	    sizeof(out)), 0);
	assert_int_equal(metadata_entry_name_check(lng, METADATA_ENTRY_NAME_MAX + 1, out,
	    sizeof(out)), -1);
	assert_int_equal(metadata_entry_name_check("/private/abc", 12, out, 12), -1);
	free(lng);
}

static void
test_set_limits(void **state)
{
	struct metadata *md = metadata_new();
	static unsigned char big[METADATA_VALUE_MAX + 1];
	char name[64];
	const struct metadata_entry *e;
	size_t i;

	(void)state;
	assert_int_equal(metadata_set(md, "INBOX", "/private/a", "1", 1), METADATA_OK);
	assert_int_equal(metadata_set(md, "", "/shared/a", "s", 1), METADATA_OK);
	assert_int_equal(metadata_set(md, "INBOX", "/shared/a", "2", 1), METADATA_OK);
	assert_int_equal(md->count, 3);
	e = metadata_find(md, "INBOX", "/private/a");
	assert_non_null(e);
	assert_memory_equal(e->value, "1", 1);
	/* replace, then delete; deleting a missing entry is fine */
	assert_int_equal(metadata_set(md, "INBOX", "/private/a", "xyz", 3), METADATA_OK);
	assert_int_equal(metadata_find(md, "INBOX", "/private/a")->value_len, 3);
	assert_int_equal(md->bytes, 5 + 10 + 3 + 9 + 1 + 5 + 9 + 1);
	assert_int_equal(metadata_set(md, "INBOX", "/private/a", NULL, 0), METADATA_OK);
	assert_null(metadata_find(md, "INBOX", "/private/a"));
	assert_int_equal(metadata_set(md, "INBOX", "/private/zz", NULL, 0), METADATA_OK);
	assert_int_equal(md->count, 2);
	/* sorted: the server's first */
	assert_string_equal(md->e[0].mailbox, "");
	assert_int_equal(metadata_first(md, "INBOX"), 1);
	assert_int_equal(metadata_first(md, "Nope"), md->count);
	/* value size */
	assert_int_equal(metadata_set(md, "INBOX", "/private/big", big, sizeof(big)),
	    METADATA_MAXSIZE);
	assert_int_equal(metadata_set(md, "INBOX", "/private/big", big, sizeof(big) - 1),
	    METADATA_OK);
	/* entries a mailbox: replacing is still allowed at the limit */
	for (i = 0; md->count < METADATA_MAILBOX_ENTRIES_MAX + 1; i++) {
		snprintf(name, sizeof(name), "/private/e%zu", i);
		assert_int_equal(metadata_set(md, "INBOX", name, "", 0), METADATA_OK);
	}
	assert_int_equal(metadata_set(md, "INBOX", "/private/new", "", 0), METADATA_TOOMANY);
	assert_int_equal(metadata_set(md, "INBOX", "/private/e1", "v", 1), METADATA_OK);
	assert_int_equal(metadata_set(md, "Other", "/private/new", "", 0), METADATA_OK);
	/* bytes a user */
	for (i = 0; i < 100; i++) {
		enum metadata_status st;

		snprintf(name, sizeof(name), "/shared/q%zu", i);
		st = metadata_set(md, "Quota", name, big, METADATA_VALUE_MAX);
		if (st != METADATA_OK) {
			assert_int_equal(st, METADATA_OVERQUOTA);
			break;
		}
	}
	assert_true(i > 0 && i < 100);
	assert_true(md->bytes <= METADATA_USER_BYTES_MAX);
	metadata_close(&md);
}

static void
test_rename_drop(void **state)
{
	struct metadata *md = metadata_new();

	(void)state;
	assert_int_equal(metadata_set(md, "Work", "/private/c", "w", 1), METADATA_OK);
	assert_int_equal(metadata_set(md, "Work.Sub", "/private/c", "s", 1), METADATA_OK);
	assert_int_equal(metadata_set(md, "Workshop", "/private/c", "x", 1), METADATA_OK);
	assert_int_equal(metadata_set(md, "A", "/private/c", "stale", 5), METADATA_OK);
	md->changed = false;
	assert_int_equal(metadata_rename_mailbox(md, "Work", "A", '.'), 0);
	assert_true(md->changed);
	assert_null(metadata_find(md, "Work", "/private/c"));
	assert_null(metadata_find(md, "Work.Sub", "/private/c"));
	assert_memory_equal(metadata_find(md, "A", "/private/c")->value, "w", 1);
	assert_memory_equal(metadata_find(md, "A.Sub", "/private/c")->value, "s", 1);
	assert_memory_equal(metadata_find(md, "Workshop", "/private/c")->value, "x", 1);
	assert_int_equal(md->count, 3);
	/* still sorted: lookups by binary search find everything */
	assert_string_equal(md->e[0].mailbox, "A");
	assert_string_equal(md->e[1].mailbox, "A.Sub");
	assert_int_equal(metadata_rename_mailbox(md, "", "X", '.'), -1);
	assert_int_equal(metadata_drop_mailbox(md, "A"), 1);
	assert_non_null(metadata_find(md, "A.Sub", "/private/c"));
	assert_int_equal(metadata_drop_mailbox(md, "A"), 0);
	assert_int_equal(md->bytes, 5 + 10 + 1 + 8 + 10 + 1);
	metadata_close(&md);
}

static void
test_file_form(void **state)
{
	struct metadata *md = metadata_new(), *md2;
	const char *err;
	struct buf b;
	size_t i;

	(void)state;
	assert_int_equal(metadata_set(md, "", "/shared/admin", "mailto:a@b", 10), METADATA_OK);
	assert_int_equal(metadata_set(md, "INBOX", "/private/bin", "a\0b", 3), METADATA_OK);
	assert_int_equal(metadata_set(md, "INBOX", "/private/empty", "", 0), METADATA_OK);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(metadata_serialize(md, &b), 0);
	md2 = metadata_new();
	assert_int_equal(metadata_parse(md2, (const unsigned char *)b.data, b.len, &err), 0);
	assert_int_equal(md2->count, 3);
	assert_int_equal(md2->bytes, md->bytes);
	assert_memory_equal(metadata_find(md2, "INBOX", "/private/bin")->value, "a\0b", 3);
	metadata_close(&md2);
	/* every truncation, and trailing data, is refused */
	for (i = 0; i < b.len; i++) {
		md2 = metadata_new();
		assert_int_equal(metadata_parse(md2, (const unsigned char *)b.data, i, &err), -1);
		metadata_close(&md2);
	}
	(void)buf_append_c(&b, 'x');
	md2 = metadata_new();
	assert_int_equal(metadata_parse(md2, (const unsigned char *)b.data, b.len, &err), -1);
	metadata_close(&md2);
	buf_truncate(&b, b.len - 1);
	/* an upper-case entry name (never written) and a name with '*' */
	{
		char *p = memmem(b.data, b.len, "/private/bin", 12);

		assert_non_null(p);
		p[9] = 'B';
		md2 = metadata_new();
		assert_int_equal(metadata_parse(md2, (const unsigned char *)b.data, b.len,
		    &err), -1);
		metadata_close(&md2);
		p[9] = '*';
		md2 = metadata_new();
		assert_int_equal(metadata_parse(md2, (const unsigned char *)b.data, b.len,
		    &err), -1);
		metadata_close(&md2);
		p[9] = 'b';
	}
	/* out of order, and a duplicate */
	{
		struct metadata_entry t = md->e[0];

		md->e[0] = md->e[1];
		md->e[1] = t;
		buf_reset(&b);
		assert_int_equal(metadata_serialize(md, &b), 0);
		md2 = metadata_new();
		assert_int_equal(metadata_parse(md2, (const unsigned char *)b.data, b.len,
		    &err), -1);
		assert_string_equal(err, "out of order");
		metadata_close(&md2);
		md->e[1] = md->e[0];
		buf_reset(&b);
		assert_int_equal(metadata_serialize(md, &b), 0);
		md2 = metadata_new();
		assert_int_equal(metadata_parse(md2, (const unsigned char *)b.data, b.len,
		    &err), -1);
		metadata_close(&md2);
		md->e[1] = md->e[0];
		md->e[0] = t;
	}
	buf_deinit(&b);
	metadata_close(&md);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
test_store_file(void **state)
{
	char base[64], root[128], path[192];
	struct mstore *store;
	struct metadata *md;
	const char *err;
	struct stat st;
	int fd;

	(void)state;
	snprintf(base, sizeof(base), "/tmp/buzon-md-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/Maildir", base);
	assert_int_equal(mstore_open(root, &store, &err), 0);
	/* no file: no entries, and nothing written without a change */
	assert_int_equal(metadata_open(store, true, &md), 0);
	assert_int_equal(md->count, 0);
	assert_int_equal(metadata_commit(store, md), 0);
	metadata_close(&md);
	snprintf(path, sizeof(path), "%s/%s", root, METADATA_FILE);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(metadata_open(store, true, &md), 0);
	assert_int_equal(metadata_set(md, "INBOX", "/private/c", "v", 1), METADATA_OK);
	assert_int_equal(metadata_commit(store, md), 0);
	metadata_close(&md);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* uncommitted changes are lost */
	assert_int_equal(metadata_open(store, true, &md), 0);
	assert_int_equal(metadata_set(md, "INBOX", "/private/d", "v", 1), METADATA_OK);
	metadata_close(&md);
	mstore_close(&store);
	/* a new store (a restart) reads it back */
	assert_int_equal(mstore_open(root, &store, &err), 0);
	assert_int_equal(metadata_open(store, false, &md), 0);
	assert_int_equal(md->count, 1);
	assert_non_null(metadata_find(md, "INBOX", "/private/c"));
	metadata_close(&md);
	/* a damaged file is refused and left as it is */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	assert_int_equal(metadata_open(store, true, &md), -1);
	assert_null(md);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4);
	/* a symlink planted as the lock file is not followed */
	snprintf(path, sizeof(path), "%s/%s", root, METADATA_LOCK_FILE);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(metadata_open(store, false, &md), -1);
	assert_int_equal(unlink(path), 0);
	mstore_close(&store);
	nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const struct {
	const char *in;
	int ret;
	unsigned attrs;
	const char *formatted;
} uses[] = {
	{ "", 0, 0, "" },
	{ "\\Drafts", 0, MSTORE_ATTR_DRAFTS, "\\Drafts" },
	{ "\\archive  \\SENT", 0, MSTORE_ATTR_ARCHIVE | MSTORE_ATTR_SENT,
	  "\\Sent \\Archive" },
	{ "\\Sent \\Drafts \\Trash \\Junk \\Archive \\Sent", 0, MSTORE_ATTR_SPECIAL_USE,
	  "\\Sent \\Drafts \\Trash \\Junk \\Archive" },
	{ "\\All", -1, 0, NULL },
	{ "\\Flagged", -1, 0, NULL },
	{ "\\Important", -1, 0, NULL },
	{ "Drafts", -1, 0, NULL },
	{ "\\Drafts\\Sent", -1, 0, NULL },
	{ "\\Draft", -1, 0, NULL },
	{ "\\Drafts \\Noselect", -1, 0, NULL },
};

static void
test_special_use(void **state)
{
	char base[64], root[128], text[MSTORE_SPECIAL_USE_TEXT_MAX];
	struct mstore_folder *list;
	struct mstore *store;
	struct metadata *md;
	const char *err;
	size_t i, count;
	unsigned attrs;

	(void)state;
	for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		attrs = 0;
		assert_int_equal(mstore_special_use_parse(uses[i].in, strlen(uses[i].in),
		    &attrs), uses[i].ret);
		if (uses[i].ret < 0)
			continue;
		assert_int_equal(attrs, uses[i].attrs);
		mstore_special_use_format(attrs, text);
		assert_string_equal(text, uses[i].formatted);
	}
	assert_int_equal(mstore_special_use_by_name("Drafts"), MSTORE_ATTR_DRAFTS);
	assert_int_equal(mstore_special_use_by_name("drafts"), 0);
	assert_int_equal(mstore_special_use_by_name("a.Sent"), 0);
	/* LIST adds what the entries say to the attributes by name */
	snprintf(base, sizeof(base), "/tmp/buzon-su-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/Maildir", base);
	assert_int_equal(mstore_open(root, &store, &err), 0);
	assert_int_equal(mstore_create(store, "Drafts"), STORE_OK);
	assert_int_equal(mstore_create(store, "Mine"), STORE_OK);
	assert_int_equal(mstore_create(store, "Bad"), STORE_OK);
	assert_int_equal(metadata_open(store, true, &md), 0);
	assert_int_equal(metadata_set(md, "Mine", METADATA_SPECIALUSE_ENTRY,
	    "\\Junk \\Archive", 14), METADATA_OK);
	assert_int_equal(metadata_set(md, "Drafts", METADATA_SPECIALUSE_ENTRY, "\\Sent", 5),
	    METADATA_OK);
	/* not a list LIST can show: ignored; an entry of a folder that is gone too */
	assert_int_equal(metadata_set(md, "Bad", METADATA_SPECIALUSE_ENTRY, "\\All", 4),
	    METADATA_OK);
	assert_int_equal(metadata_set(md, "Gone", METADATA_SPECIALUSE_ENTRY, "\\Trash", 6),
	    METADATA_OK);
	assert_int_equal(metadata_commit(store, md), 0);
	metadata_close(&md);
	assert_int_equal(mstore_list(store, &list, &count), STORE_OK);
	for (i = 0; i < count; i++) {
		attrs = list[i].attrs & MSTORE_ATTR_SPECIAL_USE;
		if (strcmp(list[i].name, "Drafts") == 0)
			assert_int_equal(attrs, MSTORE_ATTR_DRAFTS | MSTORE_ATTR_SENT);
		else if (strcmp(list[i].name, "Mine") == 0)
			assert_int_equal(attrs, MSTORE_ATTR_JUNK | MSTORE_ATTR_ARCHIVE);
		else
			assert_int_equal(attrs, 0);
	}
	mstore_list_free(list, count);
	mstore_close(&store);
	nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_names),
		cmocka_unit_test(test_set_limits),
		cmocka_unit_test(test_rename_drop),
		cmocka_unit_test(test_file_form),
		cmocka_unit_test(test_store_file),
		cmocka_unit_test(test_special_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
