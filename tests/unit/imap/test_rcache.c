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
#include "mail/envelope.h"
#include "mail/header.h"
#include "mail/search.h"

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
	/* what did not fit is absent, not wrong, and put says so */
	expect_field(rc, "C", 1, 2000, IMAP_RC_BODYSTRUCTURE, NULL);
	assert_false(imap_rcache_put(rc, "C", 1, 2001, IMAP_RC_BODYSTRUCTURE, big, sizeof(big)));
	/* one already there: true */
	assert_true(imap_rcache_put(rc, "C", 1, 1, IMAP_RC_BODYSTRUCTURE, "other", 5));
	expect_field(rc, "C", 1, 1, IMAP_RC_BODYSTRUCTURE, big);
	/* an item larger than a quarter of the bound is not cached */
	{
		size_t n = max / 4 + 1;
		char *huge = xmalloc(n);

		memset(huge, 'y', n);
		assert_false(imap_rcache_put(rc, "D", 1, 1, IMAP_RC_ENVELOPE, huge, n));
		expect_field(rc, "D", 1, 1, IMAP_RC_ENVELOPE, NULL);
		free(huge);
	}
	imap_rcache_destroy(&rc);
}

struct vcase {
	const char *s;
	size_t len;		/* 0: strlen */
	enum imap_rc_field field;
	bool want;
};

/* Items read back from the index must keep the response framing intact. */
static void
test_item_valid(void **state)
{
	static const struct vcase cases[] = {
		{ "(\"a\" NIL (\"b\" 1) {3}\r\nx\xc3\xa9)", 0, IMAP_RC_ENVELOPE, true },
		{ "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 40 2)", 0, IMAP_RC_BODY, true },
		{ "((\"q\\\"x\\\\\") ())", 0, IMAP_RC_BODYSTRUCTURE, true },
		{ "\"hello\"", 0, IMAP_RC_PREVIEW, true },
		{ "\"\"", 0, IMAP_RC_PREVIEW, true },
		{ "{2}\r\n\xc3\xa9", 0, IMAP_RC_PREVIEW, true },
		{ "{0}\r\n", 0, IMAP_RC_PREVIEW, true },
		/* damaged */
		{ "", 0, IMAP_RC_ENVELOPE, false },
		{ "\"x\"", 0, IMAP_RC_ENVELOPE, false },		/* not a list */
		{ "(a", 0, IMAP_RC_ENVELOPE, false },
		{ "(a))", 0, IMAP_RC_ENVELOPE, false },
		{ "(a)(b)", 0, IMAP_RC_ENVELOPE, false },
		{ "(a)\r\n* 1 EXPUNGE", 0, IMAP_RC_ENVELOPE, false },
		{ "(\"a\r\n\")", 0, IMAP_RC_ENVELOPE, false },
		{ "(\"a)", 0, IMAP_RC_ENVELOPE, false },
		{ "(\"\xc3\xa9\")", 0, IMAP_RC_ENVELOPE, false },
		{ "(\xc3\xa9)", 0, IMAP_RC_ENVELOPE, false },
		{ "({5}\r\nab)", 0, IMAP_RC_ENVELOPE, false },	/* literal past the end */
		{ "({2}\nab)", 0, IMAP_RC_ENVELOPE, false },
		{ "({}\r\n)", 0, IMAP_RC_ENVELOPE, false },
		{ "({99999999999}\r\n)", 0, IMAP_RC_ENVELOPE, false },
		{ "({1}\r\n\0)", 7, IMAP_RC_ENVELOPE, false },
		{ "(a\0)", 4, IMAP_RC_ENVELOPE, false },
		{ "NIL", 0, IMAP_RC_PREVIEW, false },
		{ "(\"a\")", 0, IMAP_RC_PREVIEW, false },	/* a list is no string */
		{ "\"a\" \"b\"", 0, IMAP_RC_PREVIEW, false },
		{ "\"a\"\r\n", 0, IMAP_RC_PREVIEW, false },
		{ "(\"a\")", 0, IMAP_RC_HEADER, false },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].s);

		if (imap_rc_item_valid((const unsigned char *)cases[i].s, len, cases[i].field) !=
		    cases[i].want)
			fail_msg("case %zu [%s]: want %d", i, cases[i].s, cases[i].want);
	}
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

/* Deterministic pseudo-random numbers (xorshift32). */
static uint32_t rnd_state = 2463534242u;

static uint32_t
rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state % n;
}

/*
 * The IMAP_RC_HEADER block stands in for the header: for random headers (kept and
 * other fields in any case, folding, LF and CRLF, lines without a colon, a leading
 * continuation, RFC 2047 words, missing final line end, no blank line), header SEARCH
 * on every kept field, the Date field and the ENVELOPE agree between the original and
 * the block.
 */
static void
test_header_equivalence(void **state)
{
	static const char *const names[] = {
		"From", "FROM", "to", "Cc", "bcc", "Subject", "subject ", "Date", "Sender",
		"Reply-To", "In-Reply-To", "Message-ID", "message-id", "Received", "X-Mailer",
		"DKIM-Signature", "Content-Type", "References", "From-X", "Subjec",
	};
	static const char *const values[] = {
		" Alice <alice@example.org>", " =?UTF-8?Q?R=C3=A9sum=C3=A9?= report",
		" bob@example.net, Carol <carol@example.com>", "",
		" Mon, 02 Jan 2023 10:00:00 +0000", " <id-1@example.org>", " report",
		" a\r\n\tfolded report", "\tweird  spacing ", " =?ISO-8859-1?B?SGVsbG8=?=",
	};
	static const char *const needles[] = { "report", "alice", "", "example", "hello",
	    "r\xc3\xa9sum" };
	static const char *const kept[] = { "From", "To", "Cc", "Bcc", "Subject", "Date",
	    "Sender", "Reply-To", "In-Reply-To", "Message-ID" };
	struct mail_search_key *keys[sizeof(needles) / sizeof(needles[0])];
	struct buf hdr, block, e1, e2;
	unsigned iter, i, k;

	for (k = 0; k < sizeof(needles) / sizeof(needles[0]); k++)
		keys[k] = mail_search_key_create(needles[k], strlen(needles[k]));
	buf_init(&hdr, BUF_UNLIMITED);
	buf_init(&block, BUF_UNLIMITED);
	buf_init(&e1, BUF_UNLIMITED);
	buf_init(&e2, BUF_UNLIMITED);
	for (iter = 0; iter < 3000; iter++) {
		const char *eol = rnd(2) ? "\r\n" : "\n";
		unsigned nf = rnd(12);
		struct mail_message *orig, *red;

		buf_reset(&hdr);
		if (rnd(10) == 0)
			(void)buf_appendf(&hdr, " stray continuation%s", eol);
		for (i = 0; i < nf; i++) {
			if (rnd(10) == 0)
				(void)buf_appendf(&hdr, "no colon here%s", eol);
			(void)buf_appendf(&hdr, "%s:%s%s", names[rnd(sizeof(names) /
			    sizeof(names[0]))], values[rnd(sizeof(values) / sizeof(values[0]))],
			    eol);
			if (rnd(5) == 0)
				(void)buf_appendf(&hdr, "\t%s%s", values[rnd(sizeof(values) /
				    sizeof(values[0]))], eol);
		}
		switch (rnd(4)) {
		case 0:
			break;			/* header only, no blank line */
		case 1:
			if (hdr.len > 0)
				buf_truncate(&hdr, hdr.len - 1);	/* no final line end */
			break;
		default:
			(void)buf_appendf(&hdr, "%sbody report alice%s", eol, eol);
			break;
		}
		orig = mail_message_parse((const unsigned char *)hdr.data, hdr.len, NULL);
		if (imap_rc_header_build(orig->data + orig->root->hdr_off, orig->root->hdr_len,
		    &block) < 0) {
			mail_message_free(&orig);
			continue;	/* not cacheable: the caller reads the file */
		}
		red = mail_message_parse((const unsigned char *)block.data, block.len, NULL);
		for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
			for (k = 0; k < sizeof(needles) / sizeof(needles[0]); k++) {
				bool a = mail_search_header(keys[k], orig, NULL, kept[i]);
				bool b = mail_search_header(keys[k], red, NULL, kept[i]);

				if (a != b)
					fail_msg("field %s needle '%s' header:\n%s", kept[i],
					    needles[k], buf_cstr(&hdr));
			}
		}
		{
			char *d1 = mail_header_get(orig->data + orig->root->hdr_off,
			    orig->root->hdr_len, "Date");
			char *d2 = mail_header_get(red->data + red->root->hdr_off,
			    red->root->hdr_len, "Date");

			assert_true((d1 == NULL) == (d2 == NULL));
			if (d1 != NULL)
				assert_string_equal(d1, d2);
			free(d1);
			free(d2);
		}
		buf_reset(&e1);
		buf_reset(&e2);
		assert_int_equal(mail_envelope_write(&e1, orig, NULL), 0);
		assert_int_equal(mail_envelope_write(&e2, red, NULL), 0);
		assert_int_equal(e1.len, e2.len);
		assert_memory_equal(e1.data, e2.data, e1.len);
		mail_message_free(&orig);
		mail_message_free(&red);
	}
	for (k = 0; k < sizeof(needles) / sizeof(needles[0]); k++)
		mail_search_key_destroy(&keys[k]);
	buf_deinit(&hdr);
	buf_deinit(&block);
	buf_deinit(&e1);
	buf_deinit(&e2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_uidvalidity),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_item_valid),
		cmocka_unit_test(test_header_build),
		cmocka_unit_test(test_header_equivalence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
