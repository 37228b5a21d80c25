/*
 * test_msgcache.c — the parsed-message cache of the mail process: a second lookup of the
 * same message returns the same mapping and the same parsed structure (no reparse), the
 * LRU bound evicts unpinned entries only, and expunged messages are reported as such.
 * Uses a real temporary Maildir through the store API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imap/imap_local.h"
#include "lib/log.h"

static char root[256];

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[1024];
	struct stat sb;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			rm_rf(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/buzon-test-msgcache-XXXXXX";

	log_set_level(LOG_LEVEL_WARN);
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(root, sizeof(root), "%s", tmpl);
	return 0;
}

static int
teardown(void **state)
{
	rm_rf(root);
	return 0;
}

/* Save n small messages into INBOX; returns the open mbox. */
static struct mailbox *
fill(struct mstore **store_r, unsigned n)
{
	struct mstore *store;
	struct mailbox *mbox;
	struct mailbox_save *save;
	const char *err = NULL;
	uint32_t first, last;
	char text[128];
	unsigned i;

	assert_int_equal(mstore_open(root, &store, &err), 0);
	assert_int_equal(mailbox_open(store, "INBOX", &mbox), STORE_OK);
	save = mailbox_save_begin(mbox, 0);
	for (i = 0; i < n; i++) {
		int len = snprintf(text, sizeof(text),
		    "Subject: m%u\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
		    "--b\r\n\r\nx\r\n--b--\r\n", i);

		assert_int_equal(mailbox_save_msg_begin(save), STORE_OK);
		assert_int_equal(mailbox_save_write(save, text, (size_t)len), STORE_OK);
		assert_int_equal(mailbox_save_msg_end(save, 0, 0, 0), STORE_OK);
	}
	assert_int_equal(mailbox_save_commit(&save, &first, &last), STORE_OK);
	assert_int_equal(last - first + 1, n);
	*store_r = store;
	return mbox;
}

static void
test_hit_no_reparse(void **state)
{
	struct mstore *store;
	struct mailbox *mbox = fill(&store, 2);
	struct imap_msgcache *cache = imap_msgcache_create(8, 1 << 20);
	struct imap_cached_msg *a = NULL, *b = NULL;
	const struct mail_message *pa, *pb;
	uint32_t uid = mailbox_msg_at(mbox, 0)->uid;

	assert_int_equal(imap_msgcache_get(cache, mbox, uid, &a), STORE_OK);
	assert_non_null(a);
	assert_true(a->len > 0 && memcmp(a->data, "Subject: m0", 11) == 0);
	assert_null(a->parsed);
	pa = imap_cached_msg_parse(a);
	assert_non_null(pa);
	assert_int_equal(pa->root->nchildren, 1);
	imap_msgcache_release(cache, &a);
	assert_null(a);

	assert_int_equal(imap_msgcache_get(cache, mbox, uid, &b), STORE_OK);
	assert_non_null(b->parsed);		/* still parsed: no second parse */
	pb = imap_cached_msg_parse(b);
	assert_ptr_equal(pa, pb);
	imap_msgcache_release(cache, &b);

	imap_msgcache_destroy(&cache);
	assert_null(cache);
	mailbox_unref(&mbox);
	mstore_close(&store);
}

static void
test_lru_bound_and_pins(void **state)
{
	struct mstore *store;
	struct mailbox *mbox = fill(&store, 5);
	struct imap_msgcache *cache = imap_msgcache_create(2, 1 << 20);
	struct imap_cached_msg *pinned = NULL, *m = NULL, *again = NULL;
	const struct mail_message *p0;
	size_t i;

	/* pin message 0, then touch 1..4: the bound is 2, the pinned entry survives */
	assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, 0)->uid, &pinned),
	    STORE_OK);
	p0 = imap_cached_msg_parse(pinned);
	for (i = 1; i < 5; i++) {
		assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, i)->uid, &m),
		    STORE_OK);
		(void)imap_cached_msg_parse(m);
		imap_msgcache_release(cache, &m);
	}
	assert_ptr_equal(pinned->parsed, p0);
	imap_msgcache_release(cache, &pinned);
	/* message 0 is the least recently used now and the cache is over its bound */
	for (i = 3; i < 5; i++) {
		assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, i)->uid, &m),
		    STORE_OK);
		imap_msgcache_release(cache, &m);
	}
	assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, 0)->uid, &again),
	    STORE_OK);
	assert_null(again->parsed);		/* evicted and mapped again */
	imap_msgcache_release(cache, &again);

	imap_msgcache_destroy(&cache);
	mailbox_unref(&mbox);
	mstore_close(&store);
}

static void
test_expunged(void **state)
{
	struct mstore *store;
	struct mailbox *mbox = fill(&store, 1);
	struct imap_msgcache *cache = imap_msgcache_create(8, 1 << 20);
	struct imap_cached_msg *m = NULL;
	uint32_t uid = mailbox_msg_at(mbox, 0)->uid;

	assert_int_equal(mailbox_expunge(mbox, &uid, 1), STORE_OK);
	assert_int_equal(imap_msgcache_get(cache, mbox, uid, &m), STORE_EXPUNGED);
	assert_null(m);
	assert_int_equal(imap_msgcache_get(cache, mbox, uid + 100, &m), STORE_EXPUNGED);
	imap_msgcache_destroy(&cache);
	mailbox_unref(&mbox);
	mstore_close(&store);
}

/* A scan (imap_msgcache_get_scan) evicts its own entries, not the hot ones. */
static void
test_scan_keeps_hot(void **state)
{
	struct mstore *store;
	struct mailbox *mbox = fill(&store, 40);
	struct imap_msgcache *cache = imap_msgcache_create(4, 1 << 20);
	struct imap_cached_msg *m = NULL;
	const struct mail_message *hot[2];
	unsigned i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, i)->uid, &m),
		    STORE_OK);
		hot[i] = imap_cached_msg_parse(m);
		imap_msgcache_release(cache, &m);
	}
	for (i = 0; i < 40; i++) {
		char want[16];

		assert_int_equal(imap_msgcache_get_scan(cache, mbox, mailbox_msg_at(mbox, i)->uid,
		    true, &m), STORE_OK);
		snprintf(want, sizeof(want), "Subject: m%u\r", i);
		assert_true(m->len > strlen(want));
		assert_memory_equal(m->data, want, strlen(want));
		imap_msgcache_release(cache, &m);
	}
	/* the two hot messages are still cached, with their parse */
	for (i = 0; i < 2; i++) {
		assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, i)->uid, &m),
		    STORE_OK);
		assert_ptr_equal(m->parsed, hot[i]);
		imap_msgcache_release(cache, &m);
	}
	/* without the scan hint the same walk does evict them */
	for (i = 2; i < 40; i++) {
		assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, i)->uid, &m),
		    STORE_OK);
		imap_msgcache_release(cache, &m);
	}
	assert_int_equal(imap_msgcache_get(cache, mbox, mailbox_msg_at(mbox, 0)->uid, &m),
	    STORE_OK);
	assert_null(m->parsed);
	imap_msgcache_release(cache, &m);
	imap_msgcache_destroy(&cache);
	mailbox_unref(&mbox);
	mstore_close(&store);
}

/* Small messages are read, large ones mapped: both give the file's bytes. */
static void
test_read_and_map(void **state)
{
	static const size_t sizes[] = { 1, 100, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1,
	    700 * 1024 };
	struct mstore *store;
	struct mailbox *mbox;
	struct mailbox_save *save;
	struct imap_msgcache *cache = imap_msgcache_create(64, 64 << 20);
	const char *err = NULL;
	uint32_t first, last;
	unsigned char *text;
	size_t i, j;

	assert_int_equal(mstore_open(root, &store, &err), 0);
	assert_int_equal(mailbox_open(store, "INBOX", &mbox), STORE_OK);
	save = mailbox_save_begin(mbox, 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		text = malloc(sizes[i]);
		assert_non_null(text);
		for (j = 0; j < sizes[i]; j++)
			text[j] = (unsigned char)(j % 61 == 60 ? '\n' : 'a' + (i + j) % 26);
		assert_int_equal(mailbox_save_msg_begin(save), STORE_OK);
		assert_int_equal(mailbox_save_write(save, text, sizes[i]), STORE_OK);
		assert_int_equal(mailbox_save_msg_end(save, 0, 0, 0), STORE_OK);
		free(text);
	}
	assert_int_equal(mailbox_save_commit(&save, &first, &last), STORE_OK);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct imap_cached_msg *m = NULL;
		uint32_t uid = mailbox_msg_at(mbox, i)->uid;
		int fd;
		unsigned char *file;

		assert_int_equal(mailbox_msg_open(mbox, uid, &fd), STORE_OK);
		file = malloc(sizes[i] + 16);
		assert_non_null(file);
		/* the store may have converted line ends: compare with the file itself */
		j = (size_t)read(fd, file, sizes[i] + 16);
		close(fd);
		assert_int_equal(imap_msgcache_get(cache, mbox, uid, &m), STORE_OK);
		assert_int_equal(m->len, j);
		assert_memory_equal(m->data, file, j);
		imap_msgcache_release(cache, &m);
		free(file);
	}
	imap_msgcache_destroy(&cache);
	mailbox_unref(&mbox);
	mstore_close(&store);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hit_no_reparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_bound_and_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_keeps_hot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_and_map, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
