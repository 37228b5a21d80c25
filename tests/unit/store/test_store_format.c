/*
 * test_store_format.c — unit tests of the pure store formats: dovecot-uidlist v1/v3
 * (a Dovecot-written sample, F-08 corruptions, every truncation), dovecot-keywords,
 * subscriptions v1/v2, Maildir file names and mailbox-name validation (SEC-30 list).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store_format.h"

static const char dovecot_sample[] =
    "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n"
    "25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n"
    "25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n"
    "25018 S1002 W1029 :1276535000.M1P2.host,S=1002\n"
    "25020 X99 :1276535001.M2P3.host\n";

static void
test_uidlist_dovecot_sample(void **state)
{
	struct uidlist ul;
	struct buf out;

	(void)state;
	uidlist_init(&ul);
	assert_int_equal(uidlist_parse(dovecot_sample, sizeof(dovecot_sample) - 1, &ul),
	    UIDLIST_PARSE_OK);
	assert_int_equal(ul.version, 3);
	assert_int_equal(ul.uidvalidity, 1275660208u);
	assert_int_equal(ul.nextuid, 25022);
	assert_string_equal(ul.guid, "3085f01b7f11094c501100008c4a11c1");
	assert_int_equal(ul.count, 4);
	assert_int_equal(ul.recs[0].uid, 25006);
	assert_string_equal(ul.recs[0].base, "1276528487.M364837P9451.kurkku,S=1355,W=1394");
	assert_true(ul.recs[0].size == MAILBOX_SIZE_UNKNOWN);
	assert_int_equal(ul.recs[1].uid, 25017);
	assert_string_equal(ul.recs[1].base, "1276533073.M242911P3632.kurkku");
	assert_int_equal(ul.recs[1].vsize, 2481);
	assert_int_equal(ul.recs[2].size, 1002);
	assert_int_equal(ul.recs[2].vsize, 1029);
	assert_int_equal(ul.recs[3].uid, 25020);

	/* round trip: format, parse again, same records */
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(uidlist_format(&ul, &out), 0);
	assert_true(str_has_prefix(buf_cstr(&out),
	    "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n25006 :1276528487"));
	{
		struct uidlist ul2;
		size_t i;

		uidlist_init(&ul2);
		assert_int_equal(uidlist_parse(out.data, out.len, &ul2), UIDLIST_PARSE_OK);
		assert_int_equal(ul2.count, ul.count);
		for (i = 0; i < ul.count; i++) {
			assert_int_equal(ul2.recs[i].uid, ul.recs[i].uid);
			assert_string_equal(ul2.recs[i].base, ul.recs[i].base);
			assert_true(ul2.recs[i].size == ul.recs[i].size);
			assert_true(ul2.recs[i].vsize == ul.recs[i].vsize);
		}
		uidlist_deinit(&ul2);
	}
	buf_deinit(&out);
	uidlist_deinit(&ul);
}

static void
test_uidlist_v1(void **state)
{
	static const char v1[] = "1 1000 5\n1 a.host\n3 b.host:2,S\n";
	struct uidlist ul;

	(void)state;
	uidlist_init(&ul);
	assert_int_equal(uidlist_parse(v1, sizeof(v1) - 1, &ul), UIDLIST_PARSE_OK);
	assert_int_equal(ul.uidvalidity, 1000);
	assert_int_equal(ul.nextuid, 5);
	assert_int_equal(ul.count, 2);
	assert_string_equal(ul.recs[1].base, "b.host");
	uidlist_deinit(&ul);
}

struct corrupt_case {
	const char *name;
	const char *data;
	enum uidlist_parse_result want;
	size_t count;
	uint32_t nextuid;
};

static const struct corrupt_case corrupt_cases[] = {
	{ "empty", "", UIDLIST_PARSE_BAD_HEADER, 0, 0 },
	{ "header cut", "3 V12", UIDLIST_PARSE_BAD_HEADER, 0, 0 },
	{ "bad numbers", "3 Vabc Nxyz\n1 :a\n", UIDLIST_PARSE_BAD_HEADER, 0, 0 },
	{ "V0", "3 V0 N5\n", UIDLIST_PARSE_BAD_HEADER, 0, 0 },
	{ "no N", "3 V5\n", UIDLIST_PARSE_BAD_HEADER, 0, 0 },
	{ "version 2", "2 V5 N5\n", UIDLIST_PARSE_BAD_HEADER, 0, 0 },
	{ "overflow", "3 V4294967296 N5\n", UIDLIST_PARSE_BAD_HEADER, 0, 0 },
	{ "cut mid-line", "3 V5 N9\n1 :a\n2 :b.ho", UIDLIST_PARSE_DAMAGED, 1, 9 },
	{ "duplicate uid", "3 V5 N9\n1 :a\n1 :b\n2 :c\n", UIDLIST_PARSE_DAMAGED, 2, 9 },
	{ "not ascending", "3 V5 N9\n4 :a\n2 :b\n5 :c\n", UIDLIST_PARSE_DAMAGED, 2, 9 },
	{ "uid >= next", "3 V5 N3\n1 :a\n7 :b\n", UIDLIST_PARSE_OK, 2, 8 },
	{ "uid 0", "3 V5 N9\n0 :a\n", UIDLIST_PARSE_DAMAGED, 0, 9 },
	{ "path name", "3 V5 N9\n1 :../../etc/passwd\n2 :.hidden\n3 :ok\n",
	  UIDLIST_PARSE_DAMAGED, 1, 9 },
	{ "NUL", "3 V5 N9\n1 :a\0b\n2 :c\n", UIDLIST_PARSE_DAMAGED, 1, 9 },
	{ "no name", "3 V5 N9\n1 S5\n2\n", UIDLIST_PARSE_DAMAGED, 0, 9 },
	{ "uid max", "3 V5 N9\n4294967295 :a\n", UIDLIST_PARSE_OK, 1, 4294967295u },
};

static void
test_uidlist_corrupt(void **state)
{
	struct uidlist ul;
	size_t i, j;

	(void)state;
	uidlist_init(&ul);
	for (i = 0; i < N_ELEMENTS(corrupt_cases); i++) {
		const struct corrupt_case *c = &corrupt_cases[i];
		size_t len = strlen(c->data);

		if (strcmp(c->name, "NUL") == 0)
			len = 20;	/* the NUL is inside the data */
		print_message("case %s\n", c->name);
		assert_int_equal(uidlist_parse(c->data, len, &ul), c->want);
		assert_int_equal(ul.count, c->count);
		if (c->want != UIDLIST_PARSE_BAD_HEADER)
			assert_int_equal(ul.nextuid, c->nextuid);
		/* invariant: UIDs strictly ascending and below nextuid (or == max) */
		for (j = 0; j < ul.count; j++) {
			if (j > 0)
				assert_true(ul.recs[j].uid > ul.recs[j - 1].uid);
			assert_true(ul.recs[j].uid < ul.nextuid || ul.nextuid == UINT32_MAX);
		}
	}
	uidlist_deinit(&ul);
}

/* Every truncation of a valid file: no crash, records are a prefix of the full set. */
static void
test_uidlist_truncations(void **state)
{
	struct uidlist full, ul;
	size_t len = sizeof(dovecot_sample) - 1, cut, i;

	(void)state;
	uidlist_init(&full);
	uidlist_init(&ul);
	assert_int_equal(uidlist_parse(dovecot_sample, len, &full), UIDLIST_PARSE_OK);
	for (cut = 0; cut <= len; cut++) {
		char *copy = xstrndup(dovecot_sample, cut);
		enum uidlist_parse_result r = uidlist_parse(copy, cut, &ul);

		if (r == UIDLIST_PARSE_BAD_HEADER)
			assert_int_equal(ul.count, 0);
		assert_true(ul.count <= full.count);
		for (i = 0; i < ul.count; i++) {
			assert_int_equal(ul.recs[i].uid, full.recs[i].uid);
			assert_string_equal(ul.recs[i].base, full.recs[i].base);
		}
		if (cut == len)
			assert_int_equal(r, UIDLIST_PARSE_OK);
		free(copy);
	}
	uidlist_deinit(&ul);
	uidlist_deinit(&full);
}

static void
test_keywords(void **state)
{
	static const char kw[] = "0 $Forwarded\n1 Junk\n3 work\n30 toolarge\nx bad\n"
	    "2 a(b\n4 junk\n5 \\Seen\n6 $label1";
	char *names[STORE_KEYWORDS_MAX];
	struct buf out;

	(void)state;
	assert_int_equal(keywords_parse(kw, sizeof(kw) - 1, names), 5);
	assert_string_equal(names[0], "$Forwarded");
	assert_string_equal(names[1], "Junk");
	assert_null(names[2]);
	assert_string_equal(names[3], "work");
	assert_null(names[4]);		/* duplicate of Junk, case-insensitively */
	assert_null(names[5]);
	assert_string_equal(names[6], "$label1");
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(keywords_format(names, &out), 0);
	assert_string_equal(buf_cstr(&out), "0 $Forwarded\n1 Junk\n3 work\n6 $label1\n");
	buf_deinit(&out);
	keywords_free(names);

	assert_int_equal(keyword_name_check("ok", 2), STORE_OK);
	assert_int_equal(keyword_name_check("", 0), STORE_BADNAME);
	assert_int_equal(keyword_name_check("a b", 3), STORE_BADNAME);
	assert_int_equal(keyword_name_check("a]", 2), STORE_BADNAME);
	assert_int_equal(keyword_name_check("\\x", 2), STORE_BADNAME);
	assert_int_equal(keyword_name_check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 50),
	    STORE_OK);
	assert_int_equal(keyword_name_check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 51),
	    STORE_LIMIT);
}

static void
test_subscriptions(void **state)
{
	static const char v2[] = "V\t2\n\nINBOX\nWork\tProjects\nSent\nbad\t\tname\nWork\tProjects\n"
	    "a.b\n";
	static const char v1[] = "INBOX\r\nWork.Projects\n../etc\n\nSent";
	char **names;
	size_t count, bad;
	struct buf out;

	(void)state;
	bad = subs_parse(v2, sizeof(v2) - 1, &names, &count);
	assert_int_equal(bad, 2);	/* empty level, '.' inside a v2 level */
	assert_int_equal(count, 3);
	assert_string_equal(names[0], "INBOX");
	assert_string_equal(names[1], "Sent");
	assert_string_equal(names[2], "Work.Projects");
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(subs_format(names, count, &out), 0);
	assert_string_equal(buf_cstr(&out), "V\t2\n\nINBOX\nSent\nWork\tProjects\n");
	mstore_names_free(names, count);

	bad = subs_parse(v1, sizeof(v1) - 1, &names, &count);
	assert_int_equal(bad, 1);
	assert_int_equal(count, 3);
	assert_string_equal(names[2], "Work.Projects");
	mstore_names_free(names, count);

	/* our own output parses back */
	bad = subs_parse(out.data, out.len, &names, &count);
	assert_int_equal(bad, 0);
	assert_int_equal(count, 3);
	mstore_names_free(names, count);
	buf_deinit(&out);
}

static void
test_mdname(void **state)
{
	struct mdname md;
	struct buf out;

	(void)state;
	assert_true(mdname_parse("123.M4P5.host,S=10,W=12:2,FSa", 29, &md));
	assert_int_equal(md.base_len, 23);
	assert_true(md.has_info);
	assert_int_equal(md.flags, MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_SEEN);
	assert_int_equal(md.keywords, 1);
	assert_int_equal(md.size, 10);
	assert_int_equal(md.vsize, 12);
	assert_true(mdname_parse("plain", 5, &md));
	assert_false(md.has_info);
	assert_true(md.size == MAILBOX_SIZE_UNKNOWN);
	assert_true(mdname_parse("x,S=abc:2,DPRT", 14, &md));
	assert_true(md.size == MAILBOX_SIZE_UNKNOWN);
	assert_int_equal(md.flags, MAILBOX_FLAG_DRAFT | MAILBOX_FLAG_PASSED | MAILBOX_FLAG_ANSWERED |
	    MAILBOX_FLAG_DELETED);
	assert_false(mdname_parse(".hidden", 7, &md));
	assert_false(mdname_parse("", 0, &md));
	assert_false(mdname_parse("a\nb", 3, &md));
	assert_false(mdname_parse(":2,S", 4, &md));

	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(mdname_format_info(MAILBOX_FLAG_SEEN | MAILBOX_FLAG_DRAFT | MAILBOX_FLAG_DELETED |
	    MAILBOX_FLAG_RECENT, (1u << 2) | 1u, &out), 0);
	assert_string_equal(buf_cstr(&out), ":2,DSTac");
	buf_deinit(&out);
}

struct name_case {
	const char *name;
	enum store_status want;
};

static const struct name_case name_cases[] = {
	{ "INBOX", STORE_OK },
	{ "Sent", STORE_OK },
	{ "Work.Projects.2026", STORE_OK },
	{ "Entw&APw-rfe", STORE_OK },		/* "Entwürfe" */
	{ "A&-B", STORE_OK },			/* "A&B" */
	{ "&ZeVnLIqe-", STORE_OK },		/* Japanese */
	{ "..", STORE_BADNAME },
	{ ".", STORE_BADNAME },
	{ "../x", STORE_BADNAME },
	{ "INBOX/../../etc", STORE_BADNAME },
	{ "INBOX/..", STORE_BADNAME },
	{ "./x", STORE_BADNAME },
	{ "INBOX/./x", STORE_BADNAME },
	{ "INBOX//x", STORE_BADNAME },
	{ "/etc/passwd", STORE_BADNAME },
	{ "~root/x", STORE_BADNAME },
	{ "~/x", STORE_BADNAME },
	{ "x/", STORE_BADNAME },
	{ "a\rb", STORE_BADNAME },
	{ "a\r\nb", STORE_BADNAME },
	{ "a\tb", STORE_BADNAME },
	{ "&AC4ALg-", STORE_BADNAME },		/* mUTF-7 ".." */
	{ "&AC8-etc", STORE_BADNAME },		/* mUTF-7 "/" */
	{ "&Jjo", STORE_BADNAME },		/* unterminated */
	{ "&Jjo!-", STORE_BADNAME },
	{ "&2D3eAQ-", STORE_OK },		/* surrogate pair U+1F601 */
	{ "&2D0-", STORE_BADNAME },		/* lone high surrogate */
	{ "&-&", STORE_BADNAME },
	{ "cur", STORE_BADNAME },
	{ "new", STORE_BADNAME },
	{ "tmp", STORE_BADNAME },
	{ "INBOX/cur", STORE_BADNAME },
	{ ".Sent", STORE_BADNAME },
	{ "a..b", STORE_BADNAME },
	{ "a.", STORE_BADNAME },
	{ "a/b", STORE_BADNAME },
	{ "a*", STORE_BADNAME },
	{ "a%", STORE_BADNAME },
	{ "a.~b", STORE_BADNAME },
	{ "caf\xc3\xa9", STORE_BADNAME },	/* raw 8-bit */
	{ "", STORE_BADNAME },
};

static void
test_names(void **state)
{
	char big[1100];
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(name_cases); i++) {
		print_message("name \"%s\"\n", name_cases[i].name);
		assert_int_equal(mstore_name_check(name_cases[i].name), name_cases[i].want);
	}
	assert_int_equal(store_name_check_len("a\0b", 3), STORE_BADNAME);
	/* 255-byte component ok, 256 not */
	memset(big, 'x', 256);
	big[255] = '\0';
	assert_int_equal(mstore_name_check(big), STORE_OK);
	big[255] = 'x';
	big[256] = '\0';
	assert_int_equal(mstore_name_check(big), STORE_LIMIT);
	/* 32 levels ok, 33 not */
	for (i = 0; i < 33; i++) {
		big[i * 2] = 'a';
		big[i * 2 + 1] = '.';
	}
	big[31 * 2 + 1] = '\0';
	assert_int_equal(mstore_name_check(big), STORE_OK);
	big[31 * 2 + 1] = '.';
	big[32 * 2 + 1] = '\0';
	assert_int_equal(mstore_name_check(big), STORE_LIMIT);
	/* total length */
	for (i = 0; i < 1030; i++)
		big[i] = (i % 100 == 99) ? '.' : 'y';
	big[1030] = '\0';
	assert_int_equal(mstore_name_check(big), STORE_LIMIT);
}

/* The hand-written record formatter writes what printf would, at the extremes too. */
static void
test_uidlist_format_rec(void **state)
{
	static const struct {
		uint32_t uid;
		uint64_t size, vsize;
	} cases[] = {
		{ 1, 0, 0 },
		{ 9, 9, 10 },
		{ 10, 99, 100 },
		{ 4294967295u, 18446744073709551614ull, 18446744073709551614ull },
		{ 123456, MAILBOX_SIZE_UNKNOWN, 77 },
		{ 7, 1000000, MAILBOX_SIZE_UNKNOWN },
		{ 1000000000, MAILBOX_SIZE_UNKNOWN, MAILBOX_SIZE_UNKNOWN },
	};
	struct buf out, want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&out, BUF_UNLIMITED);
		buf_init(&want, BUF_UNLIMITED);
		assert_int_equal(uidlist_format_rec(&out, cases[i].uid, cases[i].size,
		    cases[i].vsize, "1700.M1P2.host,S=3:2,S", 14, 0), 0);
		buf_appendf(&want, "%u", cases[i].uid);
		if (cases[i].size != MAILBOX_SIZE_UNKNOWN)
			buf_appendf(&want, " S%llu", (unsigned long long)cases[i].size);
		if (cases[i].vsize != MAILBOX_SIZE_UNKNOWN)
			buf_appendf(&want, " W%llu", (unsigned long long)cases[i].vsize);
		buf_appendf(&want, " :1700.M1P2.host\n");
		assert_string_equal(buf_cstr(&out), buf_cstr(&want));
		buf_deinit(&out);
		buf_deinit(&want);
	}
	/* out's limit: -1, never a partial overrun */
	buf_init(&out, 10);
	assert_int_equal(uidlist_format_rec(&out, 1, 2, 3, "base", 4, 0), -1);
	assert_true(out.len <= 10);
	buf_deinit(&out);
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(uidlist_format_header(&out, 5, 6, ""), 0);
	assert_string_equal(buf_cstr(&out), "3 V5 N6\n");
	buf_deinit(&out);
}

/* RFC 8474 EMAILID in the uidlist: G fields Dovecot writes (its message GUID) are
 * hashed, the 16 hex digits buzon writes are the id, unusable ones are ignored; a
 * record without G has its base name's id; a round trip keeps every id. */
static void
test_uidlist_guid(void **state)
{
	char big[600];
	struct uidlist ul, ul2;
	struct buf in, out;
	uint64_t b1, b2, b3;
	size_t i;

	(void)state;
	/* as Dovecot writes it (dsync, or maildir saves with a GUID): G before S/W */
	static const char dovecot_g[] =
	    "3 V1275660208 N30 G3085f01b7f11094c501100008c4a11c1\n"
	    "1 G0a1b2c3d4e5f60718293a4b5c6d7e8f9 S1355 W1394 :1276528487.M364837P9451.kurkku\n"
	    "2 G00000000000000ff :2.M2P2.host\n"
	    "3 :3.M3P3.host,S=10\n";

	uidlist_init(&ul);
	assert_int_equal(uidlist_parse(dovecot_g, sizeof(dovecot_g) - 1, &ul),
	    UIDLIST_PARSE_OK);
	assert_int_equal(ul.count, 3);
	assert_int_equal(ul.recs[0].size, 1355);
	assert_int_equal(ul.recs[0].vsize, 1394);
	assert_string_equal(ul.recs[0].base, "1276528487.M364837P9451.kurkku");
	assert_true(ul.recs[0].emailid ==
	    maildir_emailid_guid("0a1b2c3d4e5f60718293a4b5c6d7e8f9", 32));
	assert_true(ul.recs[0].emailid != maildir_emailid_base(ul.recs[0].base,
	    strlen(ul.recs[0].base)));
	assert_true(ul.recs[1].emailid == 0xff);
	assert_true(ul.recs[2].emailid == maildir_emailid_base("3.M3P3.host,S=10", 16));

	/* round trip: G written only where the id is not the name's */
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(uidlist_format(&ul, &out), 0);
	assert_non_null(strstr(buf_cstr(&out), "\n2 G00000000000000ff :2.M2P2.host\n"));
	assert_non_null(strstr(buf_cstr(&out), "\n3 :3.M3P3.host,S=10\n"));
	uidlist_init(&ul2);
	assert_int_equal(uidlist_parse(out.data, out.len, &ul2), UIDLIST_PARSE_OK);
	assert_int_equal(ul2.count, 3);
	for (i = 0; i < 3; i++)
		assert_true(ul2.recs[i].emailid == ul.recs[i].emailid);
	uidlist_deinit(&ul2);
	buf_deinit(&out);
	uidlist_deinit(&ul);

	/* unusable G fields: ignored (the base name's id), the record kept */
	memset(big, 'a', sizeof(big));
	buf_init(&in, BUF_UNLIMITED);
	buf_appendf(&in, "3 V1 N10\n1 G :1.M1P1.h\n2 G0000000000000000 :2.M1P1.h\n");
	buf_appendf(&in, "3 G%.*s :3.M1P1.h\n", MAILDIR_GUID_MAX + 1, big);
	buf_appendf(&in, "4 G%.*s :4.M1P1.h\n", MAILDIR_GUID_MAX, big);
	buf_appendf(&in, "5 Gab\x7f\x01 :5.M1P1.h\n");
	uidlist_init(&ul);
	assert_int_equal(uidlist_parse(in.data, in.len, &ul), UIDLIST_PARSE_OK);
	assert_int_equal(ul.count, 5);
	b1 = maildir_emailid_base("1.M1P1.h", 8);
	b2 = maildir_emailid_base("2.M1P1.h", 8);
	b3 = maildir_emailid_base("3.M1P1.h", 8);
	assert_true(ul.recs[0].emailid == b1);
	assert_true(ul.recs[1].emailid == b2);
	assert_true(ul.recs[2].emailid == b3);
	assert_true(ul.recs[3].emailid == maildir_emailid_guid(big, MAILDIR_GUID_MAX));
	assert_true(ul.recs[4].emailid == maildir_emailid_base("5.M1P1.h", 8));
	uidlist_deinit(&ul);
	buf_deinit(&in);
	assert_true(maildir_emailid_guid(big, 0) == 0);
	assert_true(maildir_emailid_guid("a b", 3) == 0);
	assert_true(maildir_emailid_guid("0123456789ABCDEF", 16) != 0x0123456789abcdefULL);
	assert_true(maildir_emailid_guid("0123456789abcdef", 16) == 0x0123456789abcdefULL);

	/* the writer: a copy's id under another name */
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(uidlist_format_rec(&out, 7, 3, MAILBOX_SIZE_UNKNOWN, "x.M1P1.h", 8,
	    0x00a0000000000001ULL), 0);
	assert_int_equal(uidlist_format_rec(&out, 8, MAILBOX_SIZE_UNKNOWN,
	    MAILBOX_SIZE_UNKNOWN, "y.M1P1.h", 8, maildir_emailid_base("y.M1P1.h", 8)), 0);
	assert_string_equal(buf_cstr(&out),
	    "7 G00a0000000000001 S3 :x.M1P1.h\n8 :y.M1P1.h\n");
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uidlist_dovecot_sample),
		cmocka_unit_test(test_uidlist_format_rec),
		cmocka_unit_test(test_uidlist_guid),
		cmocka_unit_test(test_uidlist_v1),
		cmocka_unit_test(test_uidlist_corrupt),
		cmocka_unit_test(test_uidlist_truncations),
		cmocka_unit_test(test_keywords),
		cmocka_unit_test(test_subscriptions),
		cmocka_unit_test(test_mdname),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
