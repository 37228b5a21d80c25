/*
 * test_imap_url.c — unit tests for the IMAP URL parser (RFC 5092 imessagepart, as
 * CATENATE uses it): a table of URLs with the fields they give, malformed and
 * unsupported ones, bounds, every prefix of each case, and the libFuzzer target's
 * checks (fuzz/proto/fuzz_imap_url.c, linked in) run over the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/imap_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ucase {
	const char *in;
	int ret;
	bool absolute;
	const char *user;		/* NULL: none */
	const char *host;
	const char *mailbox;
	uint32_t uidvalidity, uid;
	const char *section;		/* NULL: none */
	bool partial;
	uint64_t off, len;
};

static const struct ucase cases[] = {
	/* RFC 4469 examples */
	{ "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER", 0, false, NULL, "",
	  "Drafts", 385759045, 20, "HEADER", false, 0, 0 },
	{ "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME", 0, false, NULL, "",
	  "Drafts", 385759045, 20, "1.MIME", false, 0, 0 },
	{ "/Drafts;UIDVALIDITY=385759045/;UID=30", 0, false, NULL, "", "Drafts", 385759045, 30,
	  NULL, false, 0, 0 },
	{ "/INBOX;UIDVALIDITY=785799047/;UID=113330;section=1.5.9", -1, false, NULL, "", "",
	  0, 0, NULL, false, 0, 0 },
	{ "/INBOX;UIDVALIDITY=785799047/;UID=113330/;section=1.5.9", 0, false, NULL, "",
	  "INBOX", 785799047, 113330, "1.5.9", false, 0, 0 },
	/* absolute, with user, AUTH, port */
	{ "imap://alice@mail.example.org/INBOX;UIDVALIDITY=7/;UID=3", 0, true, "alice",
	  "mail.example.org", "INBOX", 7, 3, NULL, false, 0, 0 },
	{ "IMAP://alice;AUTH=*@h:993/INBOX/;UID=3", 0, true, "alice", "h", "INBOX", 0, 3,
	  NULL, false, 0, 0 },
	{ "imap://;AUTH=PLAIN@h/INBOX/;UID=3", 0, true, NULL, "h", "INBOX", 0, 3, NULL, false,
	  0, 0 },
	{ "imap://a%40b.example@h/INBOX/;UID=3", 0, true, "a@b.example", "h", "INBOX", 0, 3,
	  NULL, false, 0, 0 },
	{ "imap://h/INBOX/;UID=3", 0, true, NULL, "h", "INBOX", 0, 3, NULL, false, 0, 0 },
	{ "imap://alice@[2001:db8::1]:143/INBOX/;UID=3", 0, true, "alice", "[2001:db8::1]",
	  "INBOX", 0, 3, NULL, false, 0, 0 },
	/* mailbox without UIDVALIDITY, encoded, with hierarchy */
	{ "/INBOX/;UID=1", 0, false, NULL, "", "INBOX", 0, 1, NULL, false, 0, 0 },
	{ "/Sent%20Items/;UID=2", 0, false, NULL, "", "Sent Items", 0, 2, NULL, false, 0, 0 },
	{ "/a/b;UIDVALIDITY=1/;UID=2", 0, false, NULL, "", "a/b", 1, 2, NULL, false, 0, 0 },
	{ "/Entw%C3%BCrfe/;UID=2", 0, false, NULL, "", "Entw\xc3\xbcrfe", 0, 2, NULL, false, 0,
	  0 },
	/* SECTION and PARTIAL */
	{ "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(FROM%20TO)", 0, false, NULL, "", "INBOX",
	  0, 1, "HEADER.FIELDS (FROM TO)", false, 0, 0 },
	{ "/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=10.20", 0, false, NULL, "", "INBOX", 0, 1,
	  "TEXT", true, 10, 20 },
	{ "/INBOX/;UID=1/;PARTIAL=0", 0, false, NULL, "", "INBOX", 0, 1, NULL, true, 0, 0 },
	{ "/INBOX/;UID=1/;partial=5.4294967295", 0, false, NULL, "", "INBOX", 0, 1, NULL, true,
	  5, 4294967295ULL },
	/* malformed */
	{ "", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX;UIDVALIDITY=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=0", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=4294967296", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX;UIDVALIDITY=0/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=1x", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=1/;SECTION=", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=1/;PARTIAL=1.0", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=1/;PARTIAL=.5", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/IN%00BOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/IN%4/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/IN%zzBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/IN BOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "/INBOX?SUBJECT%20x", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "//h/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap:///INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://h", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://h:0/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://h:65536/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://@h/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://a;AUTH=@h/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://a;X=1@h/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://a b@h/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "imap://[::1/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	{ "http://h/INBOX/;UID=1", -1, false, NULL, "", "", 0, 0, NULL, false, 0, 0 },
	/* RFC 4467 URLAUTH is not offered */
	{ "imap://a@h/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z", -1, false, NULL, "", "", 0,
	  0, NULL, false, 0, 0 },
	{ "imap://a@h/INBOX/;UID=1;URLAUTH=anonymous:internal:0123", -1, false, NULL, "", "",
	  0, 0, NULL, false, 0, 0 },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ucase *t = &cases[i];
		struct imap_url u;
		const char *err = NULL;
		int r = imap_url_parse(t->in, strlen(t->in), &u, &err);

		if (r != t->ret)
			fail_msg("case %zu (%s): got %d", i, t->in, r);
		if (r < 0) {
			assert_non_null(err);
			continue;
		}
		assert_int_equal(u.absolute, t->absolute);
		assert_int_equal(u.has_user, t->user != NULL);
		if (t->user != NULL)
			assert_string_equal(u.user, t->user);
		assert_string_equal(u.host, t->host);
		assert_string_equal(u.mailbox, t->mailbox);
		assert_int_equal(u.mailbox_len, strlen(t->mailbox));
		assert_int_equal(u.uidvalidity, t->uidvalidity);
		assert_int_equal(u.uid, t->uid);
		assert_int_equal(u.has_section, t->section != NULL);
		if (t->section != NULL) {
			assert_string_equal(u.section, t->section);
			assert_int_equal(u.section_len, strlen(t->section));
		}
		assert_int_equal(u.has_partial, t->partial);
		assert_int_equal(u.partial_offset, t->off);
		assert_int_equal(u.partial_length, t->len);
	}
}

/* Every prefix of every case parses or fails cleanly; the fuzz target's checks hold. */
static void
test_prefixes_and_fuzz_target(void **state)
{
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);

		for (n = 0; n <= len; n++) {
			char *p = malloc(n + 1);
			struct imap_url u;
			const char *err;

			assert_non_null(p);
			memcpy(p, cases[i].in, n);
			(void)imap_url_parse(p, n, &u, &err);
			assert_int_equal(LLVMFuzzerTestOneInput((const uint8_t *)p, n), 0);
			free(p);
		}
	}
}

static void
test_bounds(void **state)
{
	char *s = malloc(IMAP_URL_MAX + 64);
	struct imap_url u;
	const char *err;
	size_t n;

	(void)state;
	assert_non_null(s);
	/* a mailbox of exactly the maximum decoded length, then one more */
	s[0] = '/';
	memset(s + 1, 'a', IMAP_URL_MAILBOX_MAX);
	memcpy(s + 1 + IMAP_URL_MAILBOX_MAX, "/;UID=1", 7);
	n = 1 + IMAP_URL_MAILBOX_MAX + 7;
	assert_int_equal(imap_url_parse(s, n, &u, &err), 0);
	assert_int_equal(u.mailbox_len, IMAP_URL_MAILBOX_MAX);
	s[0] = '/';
	memset(s + 1, 'a', IMAP_URL_MAILBOX_MAX + 1);
	memcpy(s + 2 + IMAP_URL_MAILBOX_MAX, "/;UID=1", 7);
	assert_int_equal(imap_url_parse(s, n + 1, &u, &err), -1);
	/* a URL over IMAP_URL_MAX */
	memset(s, 'a', IMAP_URL_MAX + 1);
	s[0] = '/';
	assert_int_equal(imap_url_parse(s, IMAP_URL_MAX + 1, &u, &err), -1);
	/* an embedded NUL */
	assert_int_equal(imap_url_parse("/INBOX/;UID=1\0", 14, &u, &err), -1);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_prefixes_and_fuzz_target),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
