/*
 * test_fetch_parse.c — FETCH item parsing: macros, every item, BODY[section]<partial>,
 * PEEK, PREVIEW (LAZY), EMAILID and THREADID, BINARY[part]<partial>, BINARY.PEEK,
 * BINARY.SIZE, response names, UID FETCH, duplicates, and malformed item lists
 * (table-driven;
 * each line parsed whole and byte by byte through the real command parser).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "imap/imap_fetch_parse.h"
#include "lib/buf.h"
#include "parse_helper.h"

struct tcase {
	const char *items;
	bool uid;
	bool ok;
	const char *names;	/* item response names joined by ' ', '!' after a PEEK section,
				 * '~' after a lazy PREVIEW */
	bool need_message, need_parse, sets_seen;
};

static const struct tcase cases[] = {
	{ "FLAGS", false, true, "FLAGS", false, false, false },
	{ "(UID FLAGS RFC822.SIZE)", false, true, "UID FLAGS RFC822.SIZE", false, false, false },
	{ "FLAGS", true, true, "UID FLAGS", false, false, false },
	{ "(FLAGS UID)", true, true, "UID FLAGS", false, false, false },
	{ "FAST", false, true, "FLAGS INTERNALDATE RFC822.SIZE", false, false, false },
	{ "all", false, true, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE", true, true, false },
	{ "FULL", false, true, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY", true, true,
	  false },
	{ "(ENVELOPE BODYSTRUCTURE BODY)", false, true, "ENVELOPE BODYSTRUCTURE BODY", true,
	  true, false },
	{ "BODY[]", false, true, "BODY[]", true, true, true },
	{ "BODY.PEEK[]", false, true, "BODY[]!", true, true, false },
	{ "body.peek[text]<0.10>", false, true, "BODY[TEXT]<0>!", true, true, false },
	{ "BODY[1.2.MIME]<5.1>", false, true, "BODY[1.2.MIME]<5>", true, true, true },
	{ "(BODY.PEEK[HEADER.FIELDS (From To)] BODY[2])", false, true,
	  "BODY[HEADER.FIELDS (FROM TO)]! BODY[2]", true, true, true },
	{ "BODY.PEEK[HEADER.FIELDS.NOT (X-A)]", false, true, "BODY[HEADER.FIELDS.NOT (X-A)]!",
	  true, true, false },
	{ "RFC822", false, true, "RFC822", true, true, true },
	{ "RFC822.HEADER", false, true, "RFC822.HEADER!", true, true, false },
	{ "RFC822.TEXT", false, true, "RFC822.TEXT", true, true, true },
	{ "(FLAGS FLAGS UID UID)", false, true, "FLAGS UID", false, false, false },
	{ "(INTERNALDATE)", false, true, "INTERNALDATE", false, false, false },
	/* RFC 8970 */
	{ "PREVIEW", false, true, "PREVIEW", true, true, false },
	{ "preview (lazy)", false, true, "PREVIEW~", true, true, false },
	{ "(UID PREVIEW (LAZY) FLAGS)", false, true, "UID PREVIEW~ FLAGS", true, true, false },
	{ "(PREVIEW (LAZY LAZY))", false, true, "PREVIEW~", true, true, false },
	{ "(PREVIEW (LAZY) PREVIEW)", false, true, "PREVIEW", true, true, false },
	{ "(PREVIEW PREVIEW (LAZY))", false, true, "PREVIEW", true, true, false },
	{ "(PREVIEW (LAZY) PREVIEW (LAZY))", false, true, "PREVIEW~", true, true, false },
	/* RFC 7162 */
	{ "MODSEQ", false, true, "MODSEQ", false, false, false },
	{ "(FLAGS MODSEQ MODSEQ)", true, true, "UID FLAGS MODSEQ", false, false, false },
	{ "(PREVIEW (FOO))", false, false, NULL, false, false, false },
	{ "(PREVIEW ())", false, false, NULL, false, false, false },
	{ "(PREVIEW LAZY)", false, false, NULL, false, false, false },
	{ "(PREVIEW ((LAZY)))", false, false, NULL, false, false, false },
	{ "(PREVIEW (\"LAZY\"))", false, false, NULL, false, false, false },
	{ "PREVIEW (LAZY) FLAGS", false, false, NULL, false, false, false },
	{ "FLAGS (LAZY)", false, false, NULL, false, false, false },
	{ "((LAZY) PREVIEW)", false, false, NULL, false, false, false },
	/* RFC 8474: no message file needed, no \Seen */
	{ "(EMAILID THREADID)", false, true, "EMAILID THREADID", false, false, false },
	{ "emailid", true, true, "UID EMAILID", false, false, false },
	{ "(EMAILID FLAGS EMAILID)", false, true, "EMAILID FLAGS", false, false, false },
	{ "EMAILID (x)", false, false, NULL, false, false, false },
	/* RFC 3516 */
	{ "BINARY[1]", false, true, "BINARY[1]", true, true, true },
	{ "binary.peek[1.2]<0.100>", false, true, "BINARY[1.2]<0>!", true, true, false },
	{ "BINARY[]", false, true, "BINARY[]", true, true, true },
	{ "(BINARY.SIZE[2] BINARY.PEEK[2])", false, true, "BINARY.SIZE[2] BINARY[2]!", true,
	  true, false },
	{ "(BINARY.PEEK[1] BINARY.PEEK[1])", false, true, "BINARY[1]! BINARY[1]!", true, true,
	  false },
	{ "BINARY[1.MIME]", false, false, NULL, false, false, false },
	{ "BINARY[HEADER]", false, false, NULL, false, false, false },
	{ "BINARY.PEEK[1.TEXT]", false, false, NULL, false, false, false },
	{ "BINARY.SIZE[1]<0.5>", false, false, NULL, false, false, false },
	{ "BINARY[1]<0.0>", false, false, NULL, false, false, false },
	{ "BINARY[0]", false, false, NULL, false, false, false },
	{ "BINARY", false, false, NULL, false, false, false },
	{ "BINARY.SIZE", false, false, NULL, false, false, false },
	/* malformed */
	{ "(ALL)", false, false, NULL, false, false, false },
	{ "(FLAGS FAST)", false, false, NULL, false, false, false },
	{ "FOO", false, false, NULL, false, false, false },
	{ "()", false, false, NULL, false, false, false },
	{ "\"FLAGS\"", false, false, NULL, false, false, false },
	{ "(FLAGS (UID))", false, false, NULL, false, false, false },
	{ "BODY[", false, false, NULL, false, false, false },
	{ "BODY[]<0.0>", false, false, NULL, false, false, false },
	{ "BODY[]<x.1>", false, false, NULL, false, false, false },
	{ "BODY[]<1>", false, false, NULL, false, false, false },
	{ "BODY[]<1.2>x", false, false, NULL, false, false, false },
	{ "BODY[]<99999999999.1>", false, false, NULL, false, false, false },
	{ "BODY[HEADER.FIELDS]", false, false, NULL, false, false, false },
	{ "BODY[FOO]", false, false, NULL, false, false, false },
	{ "BODY[0]", false, false, NULL, false, false, false },
	{ "BODY.PEEK", false, false, NULL, false, false, false },
	{ "FLAGS UID", false, false, NULL, false, false, false },
};

static void
check_case(const struct tcase *tc, size_t split)
{
	char line[512];
	const struct imap_arg *args = NULL;
	unsigned argc = 0, i;
	struct imap_parser *p;
	struct imap_fetch_request *req = NULL;
	const char *err = NULL;
	struct buf b;
	int r;

	snprintf(line, sizeof(line), "t FETCH 1 %s\r\n", tc->items);
	p = helper_parse_split(line, split, &args, &argc);
	if (p == NULL) {
		/* refused by the command parser already (e.g. an unclosed "[") */
		if (tc->ok)
			fail_msg("%s: does not parse", tc->items);
		return;
	}
	r = imap_fetch_parse(args + 1, argc - 1, tc->uid, &req, &err);
	if ((r == 0) != tc->ok)
		fail_msg("%s: result %d (%s)", tc->items, r, err != NULL ? err : "");
	if (r < 0) {
		assert_non_null(err);
		assert_null(req);
		imap_parser_destroy(&p);
		return;
	}
	buf_init(&b, 4096);
	for (i = 0; i < req->count; i++) {
		if (i > 0)
			buf_append_c(&b, ' ');
		buf_append_str(&b, req->items[i].name);
		if ((req->items[i].kind == IMAP_FETCH_SECTION ||
		    req->items[i].kind == IMAP_FETCH_BINARY) && req->items[i].peek)
			buf_append_c(&b, '!');
		if (req->items[i].kind == IMAP_FETCH_PREVIEW && req->items[i].lazy)
			buf_append_c(&b, '~');
	}
	if (strcmp(buf_cstr(&b), tc->names) != 0)
		fail_msg("%s: items %s, want %s", tc->items, buf_cstr(&b), tc->names);
	assert_int_equal(req->need_message, tc->need_message);
	assert_int_equal(req->need_parse, tc->need_parse);
	assert_int_equal(req->sets_seen, tc->sets_seen);
	buf_deinit(&b);
	imap_fetch_request_free(&req);
	assert_null(req);
	imap_parser_destroy(&p);
}

static void
test_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t k, len = strlen(cases[i].items) + 16;

		check_case(&cases[i], 0);
		check_case(&cases[i], (size_t)-1);
		/* split at every offset of the command line */
		for (k = 1; k < len; k++)
			check_case(&cases[i], k);
	}
}

static void
test_partial_values(void **state)
{
	const struct imap_arg *args = NULL;
	unsigned argc = 0;
	struct imap_parser *p = helper_parse("t FETCH 1 BODY[]<4294967295.7>\r\n", false,
	    &args, &argc);
	struct imap_fetch_request *req = NULL;
	const char *err = NULL;

	assert_non_null(p);
	assert_int_equal(imap_fetch_parse(args + 1, argc - 1, false, &req, &err), 0);
	assert_int_equal(req->count, 1);
	assert_true(req->items[0].partial);
	assert_int_equal(req->items[0].origin, 4294967295u);
	assert_int_equal(req->items[0].count, 7);
	assert_string_equal(req->items[0].name, "BODY[]<4294967295>");
	imap_fetch_request_free(&req);
	imap_parser_destroy(&p);
}

/* More than IMAP_FETCH_MAX_ITEMS items is refused. */
static void
test_too_many(void **state)
{
	struct buf line;
	const struct imap_arg *args = NULL;
	unsigned argc = 0, i;
	struct imap_parser *p;
	struct imap_fetch_request *req = NULL;
	const char *err = NULL;

	buf_init(&line, BUF_UNLIMITED);
	buf_append_str(&line, "t FETCH 1 (");
	for (i = 0; i <= IMAP_FETCH_MAX_ITEMS; i++)
		buf_appendf(&line, "%sBODY.PEEK[%u]", i > 0 ? " " : "", i + 1);
	buf_append_str(&line, ")\r\n");
	p = helper_parse(buf_cstr(&line), false, &args, &argc);
	assert_non_null(p);
	assert_int_equal(imap_fetch_parse(args + 1, argc - 1, false, &req, &err), -1);
	assert_string_equal(err, "Too many FETCH items");
	imap_parser_destroy(&p);
	buf_deinit(&line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_partial_values),
		cmocka_unit_test(test_too_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
