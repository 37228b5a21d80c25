/*
 * test_rcache.c — unit tests of the rendered-item cache (src/imap/imap_rcache.c): get
 * and put per field, immutability, reset on a changed UIDVALIDITY, many UIDs (hash
 * growth), the memory bound with whole-folder LRU eviction, clear, and the header
 * field block that stands in for a message header in SEARCH.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "imap/imap_local.h"
#include "lib/util.h"

static void
expect_field(struct imap_rcache *rc, const char *mb, uint32_t uidv, uint32_t uid,
    enum imap_rc_field field, const char *want)
{
	const char *d = NULL;
	size_t len = 0;

	if (want == NULL) {
		assert_false(imap_rcache_get(rc, mb, uidv, uid, field, &d, &len));
		return;
	}
	assert_true(imap_rcache_get(rc, mb, uidv, uid, field, &d, &len));
	assert_int_equal(len, strlen(want));
	assert_memory_equal(d, want, len);
}

static void
put_str(struct imap_rcache *rc, const char *mb, uint32_t uidv, uint32_t uid,
    enum imap_rc_field field, const char *s)
{
	imap_rcache_put(rc, mb, uidv, uid, field, s, strlen(s));
}

static void
test_basic(void **state)
{
	struct imap_rcache *rc = imap_rcache_create(1024 * 1024);

	expect_field(rc, "INBOX", 7, 1, IMAP_RC_ENVELOPE, NULL);
	put_str(rc, "INBOX", 7, 1, IMAP_RC_ENVELOPE, "(env1)");
	put_str(rc, "INBOX", 7, 2, IMAP_RC_BODYSTRUCTURE, "(bs2)");
	put_str(rc, "INBOX", 7, 1, IMAP_RC_BODY, "");
	expect_field(rc, "INBOX", 7, 1, IMAP_RC_ENVELOPE, "(env1)");
	expect_field(rc, "INBOX", 7, 1, IMAP_RC_BODY, "");
	expect_field(rc, "INBOX", 7, 1, IMAP_RC_BODYSTRUCTURE, NULL);
	expect_field(rc, "INBOX", 7, 2, IMAP_RC_BODYSTRUCTURE, "(bs2)");
	expect_field(rc, "INBOX", 7, 2, IMAP_RC_ENVELOPE, NULL);
	expect_field(rc, "INBOX", 7, 3, IMAP_RC_ENVELOPE, NULL);
	/* another folder, same UID */
	expect_field(rc, "Other", 7, 1, IMAP_RC_ENVELOPE, NULL);
	put_str(rc, "Other", 7, 1, IMAP_RC_ENVELOPE, "(other)");
	expect_field(rc, "Other", 7, 1, IMAP_RC_ENVELOPE, "(other)");
	expect_field(rc, "INBOX", 7, 1, IMAP_RC_ENVELOPE, "(env1)");
	/* immutable: a second put is ignored */
	put_str(rc, "INBOX", 7, 1, IMAP_RC_ENVELOPE, "(changed)");
	expect_field(rc, "INBOX", 7, 1, IMAP_RC_ENVELOPE, "(env1)");
	/* names are case-sensitive keys */
	expect_field(rc, "inbox", 7, 1, IMAP_RC_ENVELOPE, NULL);
	assert_true(imap_rcache_has(rc, "INBOX", 7, 2, IMAP_RC_BODYSTRUCTURE));
	assert_false(imap_rcache_has(rc, "INBOX", 7, 2, IMAP_RC_HEADER));
	imap_rcache_clear(rc);
	expect_field(rc, "INBOX", 7, 1, IMAP_RC_ENVELOPE, NULL);
	assert_int_equal(imap_rcache_bytes(rc), 0);
	imap_rcache_destroy(&rc);
	assert_null(rc);
}

static void
test_uidvalidity(void **state)
{
	struct imap_rcache *rc = imap_rcache_create(1024 * 1024);

	put_str(rc, "Box", 100, 1, IMAP_RC_ENVELOPE, "(old)");
	put_str(rc, "Box2", 5, 1, IMAP_RC_ENVELOPE, "(keep)");
	/* the folder was recreated: same name, same UID, new UIDVALIDITY */
	expect_field(rc, "Box", 101, 1, IMAP_RC_ENVELOPE, NULL);
	put_str(rc, "Box", 101, 1, IMAP_RC_ENVELOPE, "(new)");
	expect_field(rc, "Box", 101, 1, IMAP_RC_ENVELOPE, "(new)");
	/* the old UIDVALIDITY is gone for good (and resets again) */
	expect_field(rc, "Box", 100, 1, IMAP_RC_ENVELOPE, NULL);
	expect_field(rc, "Box", 101, 1, IMAP_RC_ENVELOPE, NULL);
	expect_field(rc, "Box2", 5, 1, IMAP_RC_ENVELOPE, "(keep)");
	imap_rcache_destroy(&rc);
}

static void
test_many(void **state)
{
	struct imap_rcache *rc = imap_rcache_create(64 * 1024 * 1024);
	char s[64];
	uint32_t uid;

	/* sparse UIDs, two fields each: the hash and the arena grow many times */
	for (uid = 1; uid <= 50000; uid++) {
		snprintf(s, sizeof(s), "(e%u)", uid * 7);
		put_str(rc, "Big", 1, uid * 7, IMAP_RC_ENVELOPE, s);
		snprintf(s, sizeof(s), "(b%u)", uid * 7);
		put_str(rc, "Big", 1, uid * 7, IMAP_RC_BODYSTRUCTURE, s);
	}
	for (uid = 1; uid <= 50000; uid++) {
		snprintf(s, sizeof(s), "(e%u)", uid * 7);
		expect_field(rc, "Big", 1, uid * 7, IMAP_RC_ENVELOPE, s);
		snprintf(s, sizeof(s), "(b%u)", uid * 7);
		expect_field(rc, "Big", 1, uid * 7, IMAP_RC_BODYSTRUCTURE, s);
		expect_field(rc, "Big", 1, uid * 7 + 1, IMAP_RC_ENVELOPE, NULL);
	}
	assert_true(imap_rcache_bytes(rc) <= 64 * 1024 * 1024);
	imap_rcache_destroy(&rc);
}

static void
test_bound(void **state)
{
	size_t max = 512 * 1024;
	struct imap_rcache *rc = imap_rcache_create(max);
	char big[1000];
	uint32_t uid;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put_str(rc, "A", 1, 1, IMAP_RC_ENVELOPE, "(a)");
	put_str(rc, "B", 1, 1, IMAP_RC_ENVELOPE, "(b)");
	/* use A, so B is the least recently used */
	expect_field(rc, "A", 1, 1, IMAP_RC_ENVELOPE, "(a)");
	/* C grows until the bound: B goes first, then A; C never passes the bound */
	for (uid = 1; uid <= 2000; uid++) {
		put_str(rc, "C", 1, uid, IMAP_RC_BODYSTRUCTURE, big);
		assert_true(imap_rcache_bytes(rc) <= max);
	}
	expect_field(rc, "B", 1, 1, IMAP_RC_ENVELOPE, NULL);
	expect_field(rc, "A", 1, 1, IMAP_RC_ENVELOPE, NULL);
	expect_field(rc, "C", 1, 1, IMAP_RC_BODYSTRUCTURE, big);
	/* what did not fit is absent, not wrong */
	expect_field(rc, "C", 1, 2000, IMAP_RC_BODYSTRUCTURE, NULL);
	/* an item larger than a quarter of the bound is not cached */
	{
		size_t n = max / 4 + 1;
		char *huge = xmalloc(n);

		memset(huge, 'y', n);
		imap_rcache_put(rc, "D", 1, 1, IMAP_RC_ENVELOPE, huge, n);
		expect_field(rc, "D", 1, 1, IMAP_RC_ENVELOPE, NULL);
		free(huge);
	}
	imap_rcache_destroy(&rc);
}

struct hcase {
	const char *hdr;
	int ret;
	const char *want;
};

static void
test_header_build(void **state)
{
	static const struct hcase cases[] = {
		{ "Received: x\r\nFrom: a@b\r\nX-Y: z\r\nSubject: s\r\n  folded\r\n"
		  "DKIM-Signature: v=1\r\nTO: c@d\r\n\r\n", 0,
		  "From: a@b\r\nSubject: s\r\n  folded\r\nTO: c@d\r\n\r\n" },
		{ "From: a@b\nDate: Mon, 2 Jan 2023 10:00:00 +0000\nMessage-ID: <x>\n\n", 0,
		  "From: a@b\nDate: Mon, 2 Jan 2023 10:00:00 +0000\nMessage-ID: <x>\n\r\n" },
		{ "X-Only: 1\r\n\r\n", 0, "\r\n" },
		{ "", 0, "\r\n" },
		{ "Subject: a\r\nSubject: b\r\ncc : x\r\nbcc:y\r\nIn-Reply-To: <r>\r\n"
		  "Reply-To: q\r\nSender: s\r\n\r\n", 0,
		  "Subject: a\r\nSubject: b\r\ncc : x\r\nbcc:y\r\nIn-Reply-To: <r>\r\n"
		  "Reply-To: q\r\nSender: s\r\n\r\n" },
		/* a kept field without a line end cannot stand in for the header */
		{ "From: a@b\r\nSubject: cut", -1, NULL },
		/* but one of the others may lack it */
		{ "From: a@b\r\nX-Cut: cut", 0, "From: a@b\r\n\r\n" },
	};
	struct buf out;
	size_t i;

	buf_init(&out, 1024 * 1024);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hcase *c = &cases[i];
		int r = imap_rc_header_build((const unsigned char *)c->hdr, strlen(c->hdr),
		    &out);

		assert_int_equal(r, c->ret);
		if (r == 0) {
			assert_int_equal(out.len, strlen(c->want));
			assert_memory_equal(out.data, c->want, out.len);
		}
	}
	/* more fields than the parser considers: not cacheable */
	{
		struct buf h;
		unsigned k;

		buf_init(&h, BUF_UNLIMITED);
		for (k = 0; k < 10001; k++)
			(void)buf_append_str(&h, "X: y\r\n");
		(void)buf_append_str(&h, "Subject: late\r\n\r\n");
		assert_int_equal(imap_rc_header_build((const unsigned char *)h.data, h.len,
		    &out), -1);
		buf_deinit(&h);
	}
	assert_true(imap_rc_header_field("subject"));
	assert_true(imap_rc_header_field("MESSAGE-ID"));
	assert_false(imap_rc_header_field("Received"));
	assert_false(imap_rc_header_field(""));
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_uidvalidity),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_header_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
