/*
 * test_search_parse.c — SEARCH program parsing: every key, groups, OR/NOT, sets, dates,
 * CHARSET, ESEARCH RETURN options, and malformed programs (table-driven; each line is
 * parsed whole and byte by byte through the real command parser).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "imap/imap_search_parse.h"
#include "lib/buf.h"
#include "parse_helper.h"
#include "store/store.h"

static void
dump(struct buf *b, const struct imap_search_key *k)
{
	static const char *const names[] = {
		"ALL", "AND", "OR", "NOT", "SEQ", "UIDSET", "FLAG", "KEYWORD", "RECENT", "NEW",
		"OLD", "LARGER", "SMALLER", "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON",
		"SENTSINCE", "HEADER", "BODY", "TEXT", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE",
		"SAVEDATESUPPORTED", "MODSEQ", "EMAILID", "THREADID", "OLDER", "YOUNGER",
	};
	for (; k != NULL; k = k->next) {
		buf_append_str(b, names[k->type]);
		switch (k->type) {
		case SEARCH_FLAG:
			buf_appendf(b, ":%u", k->flag);
			break;
		case SEARCH_KEYWORD:
		case SEARCH_BODY:
		case SEARCH_TEXT:
			buf_appendf(b, ":%s", k->str);
			break;
		case SEARCH_HEADER:
			buf_appendf(b, ":%s=%s", k->field, k->str);
			break;
		case SEARCH_LARGER:
		case SEARCH_SMALLER:
		case SEARCH_MODSEQ:
		case SEARCH_EMAILID:
		case SEARCH_OLDER:
		case SEARCH_YOUNGER:
			buf_appendf(b, ":%llu", (unsigned long long)k->number);
			break;
		case SEARCH_BEFORE:
		case SEARCH_ON:
		case SEARCH_SINCE:
		case SEARCH_SENTBEFORE:
		case SEARCH_SENTON:
		case SEARCH_SENTSINCE:
		case SEARCH_SAVEDBEFORE:
		case SEARCH_SAVEDON:
		case SEARCH_SAVEDSINCE:
			buf_appendf(b, ":%lld", (long long)k->date);
			break;
		case SEARCH_SEQSET:
		case SEARCH_UIDSET:
			buf_append_c(b, ':');
			if (k->saved)
				buf_append_c(b, '$');	/* RFC 5182: no set until resolved */
			else
				seqset_format(k->set, b);
			break;
		default:
			break;
		}
		if (k->child != NULL) {
			buf_append_c(b, '(');
			dump(b, k->child);	/* walks the sibling list itself */
			buf_append_c(b, ')');
		}
		if (k->next != NULL)
			buf_append_c(b, ' ');
	}
}

struct tcase {
	const char *args;
	enum imap_search_parse_result want;
	const char *tree;	/* for OK */
	unsigned ret;		/* SEARCH_RETURN_* */
	bool esearch;
	bool needs_message;
};

static const struct tcase cases[] = {
	{ "ALL", IMAP_SEARCH_OK, "AND(ALL)", 0, false, false },
	{ "SEEN UNSEEN", IMAP_SEARCH_OK, "AND(FLAG:1 NOT(FLAG:1))", 0, false, false },
	{ "ANSWERED DELETED DRAFT FLAGGED", IMAP_SEARCH_OK,
	  "AND(FLAG:2 FLAG:8 FLAG:16 FLAG:4)", 0, false, false },
	{ "UNANSWERED UNDELETED UNDRAFT UNFLAGGED", IMAP_SEARCH_OK,
	  "AND(NOT(FLAG:2) NOT(FLAG:8) NOT(FLAG:16) NOT(FLAG:4))", 0, false, false },
	{ "new old recent", IMAP_SEARCH_OK, "AND(NEW OLD RECENT)", 0, false, false },
	{ "KEYWORD $Work UNKEYWORD x", IMAP_SEARCH_OK, "AND(KEYWORD:$Work NOT(KEYWORD:x))",
	  0, false, false },
	{ "OR FROM alice TO \"bob smith\"", IMAP_SEARCH_OK,
	  "AND(OR(HEADER:From=alice HEADER:To=bob smith))", 0, false, true },
	{ "CC a BCC b SUBJECT c", IMAP_SEARCH_OK,
	  "AND(HEADER:Cc=a HEADER:Bcc=b HEADER:Subject=c)", 0, false, true },
	{ "HEADER X-Foo \"\"", IMAP_SEARCH_OK, "AND(HEADER:X-Foo=)", 0, false, true },
	{ "BODY x TEXT {1+}\r\ny", IMAP_SEARCH_OK, "AND(BODY:x TEXT:y)", 0, false, true },
	{ "NOT (SEEN FLAGGED)", IMAP_SEARCH_OK, "AND(NOT(AND(FLAG:1 FLAG:4)))", 0, false, false },
	{ "((SEEN))", IMAP_SEARCH_OK, "AND(AND(AND(FLAG:1)))", 0, false, false },
	{ "1:3,5 UID 2:*", IMAP_SEARCH_OK, "AND(SEQ:1:3,5 UIDSET:2:*)", 0, false, false },
	{ "*", IMAP_SEARCH_OK, "AND(SEQ:*)", 0, false, false },
	{ "LARGER 100 SMALLER 5", IMAP_SEARCH_OK, "AND(LARGER:100 SMALLER:5)", 0, false, false },
	{ "SINCE 1-Feb-1994 BEFORE \"02-Feb-1994\" ON 1-feb-1994", IMAP_SEARCH_OK,
	  "AND(SINCE:760060800 BEFORE:760147200 ON:760060800)", 0, false, false },
	{ "SENTSINCE 1-Jan-1970 SENTBEFORE 2-Jan-1970 SENTON 1-Jan-1970", IMAP_SEARCH_OK,
	  "AND(SENTSINCE:0 SENTBEFORE:86400 SENTON:0)", 0, false, true },
	{ "SAVEDSINCE 1-Jan-1970 SAVEDBEFORE 2-Jan-1970 SAVEDON 1-Jan-1970 SAVEDATESUPPORTED",
	  IMAP_SEARCH_OK, "AND(SAVEDSINCE:0 SAVEDBEFORE:86400 SAVEDON:0 SAVEDATESUPPORTED)", 0,
	  false, false },
	{ "SAVEDBEFORE", IMAP_SEARCH_BAD, NULL, 0, false, false },
	/* RFC 7162 §3.1.5: the entry name and type are checked, then ignored */
	{ "MODSEQ 0 MODSEQ \"/flags/\\\\draft\" all 9223372036854775807", IMAP_SEARCH_OK,
	  "AND(MODSEQ:0 MODSEQ:9223372036854775807)", 0, false, false },
	{ "MODSEQ 9223372036854775808", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "MODSEQ \"/flags/x\" everyone 5", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "MODSEQ \"/flags/x\" priv", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "MODSEQ", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "MODSEQ x", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "CHARSET UTF-8 BODY \"caf\xc3\xa9\"", IMAP_SEARCH_OK, "AND(BODY:caf\xc3\xa9)", 0,
	  false, true },
	{ "CHARSET us-ascii ALL", IMAP_SEARCH_OK, "AND(ALL)", 0, false, false },
	{ "CHARSET KOI8-R BODY x", IMAP_SEARCH_BADCHARSET, NULL, 0, false, false },
	{ "RETURN (MIN COUNT) ALL", IMAP_SEARCH_OK, "AND(ALL)",
	  SEARCH_RETURN_MIN | SEARCH_RETURN_COUNT, true, false },
	{ "RETURN () SEEN", IMAP_SEARCH_OK, "AND(FLAG:1)", SEARCH_RETURN_ALL, true, false },
	{ "RETURN (MAX ALL) CHARSET UTF-8 1", IMAP_SEARCH_OK, "AND(SEQ:1)",
	  SEARCH_RETURN_MAX | SEARCH_RETURN_ALL, true, false },
	/* RFC 8474: ids of another form (or upper-case hex) match nothing */
	{ "EMAILID M00000000000000ff THREADID T1", IMAP_SEARCH_OK, "AND(EMAILID:255 THREADID)",
	  0, false, false },
	{ "emailid \"Mffffffffffffffff\"", IMAP_SEARCH_OK,
	  "AND(EMAILID:18446744073709551615)", 0, false, false },
	{ "EMAILID Mxyz EMAILID M0123456789ABCDEF EMAILID M0123456789abcdef0", IMAP_SEARCH_OK,
	  "AND(EMAILID:0 EMAILID:0 EMAILID:0)", 0, false, false },
	{ "NOT EMAILID a_b-C9", IMAP_SEARCH_OK, "AND(NOT(EMAILID:0))", 0, false, false },
	/* RFC 5182 SEARCHRES */
	{ "RETURN (SAVE) ALL", IMAP_SEARCH_OK, "AND(ALL)", SEARCH_RETURN_SAVE, true, false },
	{ "RETURN (SAVE MIN) $", IMAP_SEARCH_OK, "AND(UIDSET:$)",
	  SEARCH_RETURN_SAVE | SEARCH_RETURN_MIN, true, false },
	{ "OR UID $ $ UID 1:2", IMAP_SEARCH_OK, "AND(OR(UIDSET:$ UIDSET:$) UIDSET:1:2)", 0,
	  false, false },
	{ "$:3", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "UID $$", IMAP_SEARCH_BAD, NULL, 0, false, false },
	/* RFC 5032 WITHIN */
	{ "OLDER 1 younger 4294967295", IMAP_SEARCH_OK, "AND(OLDER:1 YOUNGER:4294967295)", 0,
	  false, false },
	{ "NOT YOUNGER 60", IMAP_SEARCH_OK, "AND(NOT(YOUNGER:60))", 0, false, false },
	{ "OLDER 0", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "OLDER", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "YOUNGER -1", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "YOUNGER 4294967296", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "YOUNGER \"5\"", IMAP_SEARCH_BAD, NULL, 0, false, false },
	/* RFC 9394 PARTIAL */
	{ "RETURN (PARTIAL 1:10) ALL", IMAP_SEARCH_OK, "AND(ALL)", SEARCH_RETURN_PARTIAL, true,
	  false },
	{ "RETURN (COUNT PARTIAL -1:-100 MIN) ALL", IMAP_SEARCH_OK, "AND(ALL)",
	  SEARCH_RETURN_PARTIAL | SEARCH_RETURN_COUNT | SEARCH_RETURN_MIN, true, false },
	{ "RETURN (SAVE PARTIAL 500:400) ALL", IMAP_SEARCH_OK, "AND(ALL)",
	  SEARCH_RETURN_PARTIAL | SEARCH_RETURN_SAVE, true, false },
	{ "RETURN (PARTIAL 1:10 ALL) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (ALL PARTIAL 1:10) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL 1:10 PARTIAL 1:10) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL 0:10) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL 1:-10) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL -1:10) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL 1:*) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL 5) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL 1:4294967296) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL --1:-2) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL \"1:2\") ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL (1:2)) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (PARTIAL 1:2:3) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	/* RFC 5267 CONTEXT and UPDATE */
	{ "RETURN (UPDATE) UNSEEN", IMAP_SEARCH_OK, "AND(NOT(FLAG:1))", SEARCH_RETURN_UPDATE, true,
	  false },
	{ "RETURN (CONTEXT) ALL", IMAP_SEARCH_OK, "AND(ALL)", SEARCH_RETURN_ALL, true, false },
	{ "RETURN (CONTEXT UPDATE COUNT) ALL", IMAP_SEARCH_OK, "AND(ALL)",
	  SEARCH_RETURN_UPDATE | SEARCH_RETURN_COUNT, true, false },
	{ "RETURN (UPDATE PARTIAL 1:10) ALL", IMAP_SEARCH_OK, "AND(ALL)",
	  SEARCH_RETURN_UPDATE | SEARCH_RETURN_PARTIAL, true, false },
	{ "RETURN (UPDATE UPDATE) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (UPDATE (FLAGS)) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (\"UPDATE\") ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	/* malformed */
	{ "EMAILID", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "THREADID", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "EMAILID M1.2", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "EMAILID \"\"", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "EMAILID (M1)", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "THREADID a+b", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "FOO", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "OR SEEN", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "NOT", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "()", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "SINCE 99-Foo-1994", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "SINCE 30-Feb-1994", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "LARGER x", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "LARGER -1", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "LARGER 99999999999", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "KEYWORD \\Seen", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "KEYWORD (x)", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "HEADER \"\" x", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "HEADER a:b x", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "UID x", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "UID", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "0", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "1:x", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "SUBJECT", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "SUBJECT (x)", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "RETURN (BLAH) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "CHARSET", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "CHARSET (x) ALL", IMAP_SEARCH_BAD, NULL, 0, false, false },
	{ "\"ALL\"", IMAP_SEARCH_BAD, NULL, 0, false, false },
};

static void
check_case(const struct tcase *tc, size_t split)
{
	char line[512];
	const struct imap_arg *args = NULL;
	unsigned argc = 0;
	struct imap_parser *p;
	struct imap_search_program *prog = NULL;
	const char *err = NULL;
	enum imap_search_parse_result r;
	struct buf b;

	snprintf(line, sizeof(line), "t SEARCH %s\r\n", tc->args);
	if (tc->args[0] == '\0')
		snprintf(line, sizeof(line), "t SEARCH\r\n");
	p = helper_parse_split(line, split, &args, &argc);
	assert_non_null(p);
	r = imap_search_parse(args, argc, &prog, &err);
	if (r != tc->want)
		fail_msg("%s: result %d, want %d (%s)", tc->args, r, tc->want, err ? err : "");
	if (r == IMAP_SEARCH_BAD)
		assert_non_null(err);
	if (r != IMAP_SEARCH_OK) {
		assert_null(prog);
		imap_parser_destroy(&p);
		return;
	}
	buf_init(&b, 4096);
	dump(&b, prog->root);
	if (strcmp(buf_cstr(&b), tc->tree) != 0)
		fail_msg("%s: tree %s, want %s", tc->args, buf_cstr(&b), tc->tree);
	assert_int_equal(prog->return_opts, tc->ret);
	assert_int_equal(prog->esearch, tc->esearch);
	assert_int_equal(prog->needs_message, tc->needs_message);
	buf_deinit(&b);
	imap_search_program_free(&prog, NULL);
	assert_null(prog);
	imap_parser_destroy(&p);
}

static void
test_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t k, len = strlen(cases[i].args) + 16;

		check_case(&cases[i], 0);
		check_case(&cases[i], (size_t)-1);
		/* split at every offset of the command line */
		for (k = 1; k < len; k++)
			check_case(&cases[i], k);
	}
}

/* RFC 9394: the PARTIAL range is kept as written. */
static void
test_partial(void **state)
{
	static const struct {
		const char *line;
		int64_t first, last;
	} rows[] = {
		{ "t SEARCH RETURN (PARTIAL 1:100) ALL\r\n", 1, 100 },
		{ "t SEARCH RETURN (PARTIAL 100:1) ALL\r\n", 100, 1 },
		{ "t SEARCH RETURN (PARTIAL -1:-100) ALL\r\n", -1, -100 },
		{ "t SEARCH RETURN (PARTIAL -4294967295:-4294967295) ALL\r\n",
		  -4294967295LL, -4294967295LL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct imap_arg *args = NULL;
		unsigned argc = 0;
		struct imap_search_program *prog = NULL;
		const char *err = NULL;
		struct imap_parser *p = helper_parse_split(rows[i].line, 0, &args, &argc);

		assert_non_null(p);
		assert_int_equal(imap_search_parse(args, argc, &prog, &err), IMAP_SEARCH_OK);
		assert_true(rows[i].first == prog->partial_first);
		assert_true(rows[i].last == prog->partial_last);
		imap_search_program_free(&prog, NULL);
		imap_parser_destroy(&p);
	}
}

/* Depth and count limits are checked before the tree grows. */
static void
test_limits(void **state)
{
	struct buf line;
	const struct imap_arg *args = NULL;
	unsigned argc = 0, i;
	struct imap_parser *p;
	struct imap_search_program *prog = NULL;
	const char *err = NULL;

	buf_init(&line, BUF_UNLIMITED);
	buf_append_str(&line, "t SEARCH ");
	for (i = 0; i < IMAP_SEARCH_MAX_DEPTH + 5; i++)
		buf_append_str(&line, "NOT ");
	buf_append_str(&line, "ALL\r\n");
	p = helper_parse(buf_cstr(&line), false, &args, &argc);
	assert_non_null(p);
	assert_int_equal(imap_search_parse(args, argc, &prog, &err), IMAP_SEARCH_BAD);
	assert_string_equal(err, "Search program nested too deeply");
	imap_parser_destroy(&p);

	buf_reset(&line);
	buf_append_str(&line, "t SEARCH ");
	for (i = 0; i < IMAP_SEARCH_MAX_KEYS + 1; i++)
		buf_append_str(&line, "SEEN ");
	buf_append_str(&line, "\r\n");
	p = helper_parse(buf_cstr(&line), false, &args, &argc);
	assert_non_null(p);
	assert_int_equal(imap_search_parse(args, argc, &prog, &err), IMAP_SEARCH_BAD);
	assert_string_equal(err, "Too many search keys");
	imap_parser_destroy(&p);

	/* just under the limits is fine */
	buf_reset(&line);
	buf_append_str(&line, "t SEARCH ");
	for (i = 0; i < IMAP_SEARCH_MAX_DEPTH - 2; i++)
		buf_append_str(&line, "NOT ");
	buf_append_str(&line, "ALL\r\n");
	p = helper_parse(buf_cstr(&line), false, &args, &argc);
	assert_non_null(p);
	assert_int_equal(imap_search_parse(args, argc, &prog, &err), IMAP_SEARCH_OK);
	imap_search_program_free(&prog, NULL);
	imap_parser_destroy(&p);
	buf_deinit(&line);
}

/* RFC 8474 §7 objectid: 1..255 of ALPHA DIGIT "_" "-"; the EMAILID form this server
 * writes ("M" + 16 lowercase hex digits) reads back as its number. */
static void
test_objectid(void **state)
{
	char id[300];

	(void)state;
	memset(id, 'a', sizeof(id));
	assert_true(imap_objectid_valid(id, 255));
	assert_false(imap_objectid_valid(id, 256));
	assert_false(imap_objectid_valid(id, 0));
	assert_true(imap_objectid_valid("Az09_-", 6));
	assert_false(imap_objectid_valid("a b", 3));
	assert_false(imap_objectid_valid("a\0b", 3));
	assert_false(imap_objectid_valid("\xc3\xa9", 2));
	assert_true(imap_emailid_parse("M0123456789abcdef", 17) == 0x0123456789abcdefULL);
	assert_true(imap_emailid_parse("m0123456789abcdef", 17) == 0);
	assert_true(imap_emailid_parse("M0123456789abcde", 16) == 0);
	assert_true(imap_emailid_parse("M0123456789abcdeg", 17) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_objectid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
