/*
 * test_control.c — unit tests for the control socket's request line
 * (src/proto/control.c): every verb with its arguments, quoted words, CRLF, requests
 * whole, split at every offset and byte by byte; errors: unknown verbs, wrong argument
 * counts, control characters, NUL, bad quoting, an over-long line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/control.h"

struct ccase {
	const char *in;
	size_t len;		/* 0: strlen */
	enum control_result res;
	enum control_verb verb;
	unsigned argc;
	const char *a0, *a1;
};

static const struct ccase cases[] = {
	{ "who\n", 0, CONTROL_DONE, CONTROL_WHO, 0, NULL, NULL },
	{ "who\r\n", 0, CONTROL_DONE, CONTROL_WHO, 0, NULL, NULL },
	{ "  who  \n", 0, CONTROL_DONE, CONTROL_WHO, 0, NULL, NULL },
	{ "kick alice\n", 0, CONTROL_DONE, CONTROL_KICK, 1, "alice", NULL },
	{ "kick alice 192.0.2.7\n", 0, CONTROL_DONE, CONTROL_KICK, 2, "alice", "192.0.2.7" },
	{ "mailbox status bob\n", 0, CONTROL_DONE, CONTROL_MAILBOX_STATUS, 1, "bob", NULL },
	{ "mailbox status bob \"Sent Items\"\n", 0, CONTROL_DONE, CONTROL_MAILBOX_STATUS, 2,
	  "bob", "Sent Items" },
	{ "mailbox status bob \"a\\\"b\\\\c\"\n", 0, CONTROL_DONE, CONTROL_MAILBOX_STATUS, 2,
	  "bob", "a\"b\\c" },
	{ "mailbox status bob Caf\xc3\xa9\n", 0, CONTROL_DONE, CONTROL_MAILBOX_STATUS, 2,
	  "bob", "Caf\xc3\xa9" },
	{ "ban list\n", 0, CONTROL_DONE, CONTROL_BAN_LIST, 0, NULL, NULL },
	{ "ban remove 2001:db8::/64\n", 0, CONTROL_DONE, CONTROL_BAN_REMOVE, 1, "2001:db8::/64",
	  NULL },
	{ "quota get alice\n", 0, CONTROL_DONE, CONTROL_QUOTA_GET, 1, "alice", NULL },
	{ "quota recalc alice\n", 0, CONTROL_DONE, CONTROL_QUOTA_RECALC, 1, "alice", NULL },
	{ "index rebuild alice\n", 0, CONTROL_DONE, CONTROL_INDEX_REBUILD, 1, "alice", NULL },
	{ "index rebuild alice INBOX\n", 0, CONTROL_DONE, CONTROL_INDEX_REBUILD, 2, "alice",
	  "INBOX" },
	{ "who", 0, CONTROL_MORE, 0, 0, NULL, NULL },
	{ "kick alice\r", 0, CONTROL_MORE, 0, 0, NULL, NULL },
	{ "", 0, CONTROL_MORE, 0, 0, NULL, NULL },
	{ "\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "   \r\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "WHO\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "who extra\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick a b c\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "mailbox\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "mailbox list bob\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "ban\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "ban remove\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "quota set alice\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick \"\"\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick \"alice\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick \"al\"ice\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick al\"ice\"\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick \"a\\x\"\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick ali\tce\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick ali\x7f" "ce\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick al\0ice\n", 12, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "kick al\0", 8, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "a b c d e f g h i j k\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
	{ "GET / HTTP/1.1\r\n", 0, CONTROL_ERROR, 0, 0, NULL, NULL },
};

static void
check_case(const struct ccase *c, const unsigned char *in, size_t len)
{
	struct control_req *req = malloc(sizeof(*req));
	const char *err;
	size_t used;
	enum control_result r;

	assert_non_null(req);
	r = control_parse(in, len, req, &used, &err);
	assert_int_equal(r, c->res);
	if (r == CONTROL_DONE) {
		assert_int_equal(used, len);
		assert_null(err);
		assert_int_equal(req->verb, c->verb);
		assert_int_equal(req->argc, c->argc);
		if (c->a0 != NULL)
			assert_string_equal(req->argv[0], c->a0);
		if (c->a1 != NULL)
			assert_string_equal(req->argv[1], c->a1);
	} else {
		assert_int_equal(used, 0);
		if (r == CONTROL_ERROR)
			assert_non_null(err);
	}
	free(req);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ccase *c = &cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->in);

		check_case(c, (const unsigned char *)c->in, len);
	}
}

/* Every proper prefix of a complete request is MORE (no LF yet); the whole is DONE. */
static void
test_split(void **state)
{
	struct control_req *req = malloc(sizeof(*req));
	const char *err;
	size_t used;

	(void)state;
	assert_non_null(req);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ccase *c = &cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->in);

		if (c->res != CONTROL_DONE)
			continue;
		for (size_t k = 0; k < len; k++)
			assert_int_equal(control_parse((const unsigned char *)c->in, k, req, &used,
			    &err), CONTROL_MORE);
		check_case(c, (const unsigned char *)c->in, len);
	}
	free(req);
}

/* Two requests in one read: the first is consumed exactly. */
static void
test_pipelined(void **state)
{
	static const char in[] = "ban list\nwho\n";
	struct control_req *req = malloc(sizeof(*req));
	const char *err;
	size_t used;

	(void)state;
	assert_non_null(req);
	assert_int_equal(control_parse((const unsigned char *)in, sizeof(in) - 1, req, &used,
	    &err), CONTROL_DONE);
	assert_int_equal(req->verb, CONTROL_BAN_LIST);
	assert_int_equal(used, 9);
	assert_int_equal(control_parse((const unsigned char *)in + used, sizeof(in) - 1 - used,
	    req, &used, &err), CONTROL_DONE);
	assert_int_equal(req->verb, CONTROL_WHO);
	free(req);
}

/* The limit: a line of CONTROL_LINE_MAX octets with its LF passes, one more does not;
 * a longer line without LF is an error as soon as the limit is reached. */
static void
test_limit(void **state)
{
	struct control_req *req = malloc(sizeof(*req));
	unsigned char *in = malloc(CONTROL_LINE_MAX + 2);
	const char *err;
	size_t used;

	(void)state;
	assert_non_null(req);
	assert_non_null(in);
	memcpy(in, "kick ", 5);
	memset(in + 5, 'a', CONTROL_LINE_MAX - 6);
	in[CONTROL_LINE_MAX - 1] = '\n';
	assert_int_equal(control_parse(in, CONTROL_LINE_MAX, req, &used, &err), CONTROL_DONE);
	assert_int_equal(strlen(req->argv[0]), CONTROL_LINE_MAX - 6);
	memset(in + 5, 'a', CONTROL_LINE_MAX - 5);
	in[CONTROL_LINE_MAX] = '\n';
	assert_int_equal(control_parse(in, CONTROL_LINE_MAX + 1, req, &used, &err),
	    CONTROL_ERROR);
	assert_int_equal(control_parse(in, CONTROL_LINE_MAX, req, &used, &err), CONTROL_ERROR);
	assert_int_equal(control_parse(in, CONTROL_LINE_MAX - 1, req, &used, &err),
	    CONTROL_MORE);
	/* quoted words at the limit: each costs its quotes, never more than the line */
	in[0] = 'k';
	memcpy(in, "kick \"", 6);
	memset(in + 6, '\\', CONTROL_LINE_MAX - 8);
	in[CONTROL_LINE_MAX - 2] = '"';
	in[CONTROL_LINE_MAX - 1] = '\n';
	assert_int_equal(control_parse(in, CONTROL_LINE_MAX, req, &used, &err), CONTROL_DONE);
	free(in);
	free(req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
