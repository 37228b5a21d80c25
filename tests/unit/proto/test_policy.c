/*
 * test_policy.c — unit tests for Postfix's policy delegation requests: a request as
 * Postfix sends it, whole, split at every offset and pipelined; unknown attributes;
 * malformed ones (no '=', empty name, NUL, bad or repeated size=, repeated recipient=,
 * over the size and attribute limits); and the replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto/policy.h"

static const char postfix_req[] =
	"request=smtpd_access_policy\n"
	"protocol_state=RCPT\n"
	"protocol_name=ESMTP\n"
	"client_address=192.0.2.1\n"
	"helo_name=client.example.net\n"
	"sender=bob@example.net\n"
	"recipient=alice@example.org\n"
	"recipient_count=0\n"
	"queue_id=\n"
	"instance=123.456.7\n"
	"size=12345\n"
	"ccert_subject=\n"
	"\n";

static void
test_postfix_request(void **state)
{
	struct policy_req q;
	size_t used, len = strlen(postfix_req);

	assert_int_equal(policy_parse((const unsigned char *)postfix_req, len, &q, &used),
	    POLICY_DONE);
	assert_int_equal(used, len);
	assert_int_equal(q.request_len, strlen("smtpd_access_policy"));
	assert_memory_equal(q.request, "smtpd_access_policy", q.request_len);
	assert_int_equal(q.recipient_len, strlen("alice@example.org"));
	assert_memory_equal(q.recipient, "alice@example.org", q.recipient_len);
	assert_true(q.have_size);
	assert_int_equal(q.size, 12345);
	/* every shorter prefix needs more */
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(policy_parse((const unsigned char *)postfix_req, i, &q, &used),
		    POLICY_MORE);
		assert_int_equal(used, 0);
	}
}

static void
test_pipelined(void **state)
{
	char buf[2 * sizeof(postfix_req) + 64];
	struct policy_req q;
	size_t used, off;

	snprintf(buf, sizeof(buf), "%srecipient=x@y\nsize=\n\n", postfix_req);
	assert_int_equal(policy_parse((const unsigned char *)buf, strlen(buf), &q, &used),
	    POLICY_DONE);
	off = used;
	assert_int_equal(policy_parse((const unsigned char *)buf + off, strlen(buf) - off,
	    &q, &used), POLICY_DONE);
	assert_int_equal(off + used, strlen(buf));
	assert_null(q.request);
	assert_int_equal(q.recipient_len, 3);
	assert_true(q.have_size);
	assert_int_equal(q.size, 0);
	/* an empty request: no attributes at all */
	assert_int_equal(policy_parse((const unsigned char *)"\n", 1, &q, &used), POLICY_DONE);
	assert_int_equal(used, 1);
	assert_null(q.recipient);
	assert_false(q.have_size);
}

static void
test_malformed(void **state)
{
	static const struct {
		const char *in;
		size_t len;
	} bad[] = {
		{ "recipient\n\n", 0 },
		{ "=x\n\n", 0 },
		{ "recipient=a\0b\n\n", 14 },
		{ "recipi\0", 7 },
		{ "size=12a\n\n", 0 },
		{ "size=-1\n\n", 0 },
		{ "size=12345678901234567890\n\n", 0 },
		{ "size=1\nsize=2\n\n", 0 },
		{ "recipient=a\nrecipient=b\n\n", 0 },
		{ "request=a\nrequest=b\n\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0 },
	};
	struct policy_req q;
	size_t used;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].in);

		assert_int_equal(policy_parse((const unsigned char *)bad[i].in, len, &q, &used),
		    POLICY_ERROR);
		assert_int_equal(used, 0);
	}
}

static void
test_limits(void **state)
{
	static char buf[POLICY_REQUEST_MAX + 2];
	struct policy_req q;
	size_t used, n = 0;

	/* one line longer than the whole request may be */
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(policy_parse((unsigned char *)buf, POLICY_REQUEST_MAX - 1, &q, &used),
	    POLICY_MORE);
	assert_int_equal(policy_parse((unsigned char *)buf, sizeof(buf), &q, &used),
	    POLICY_ERROR);
	/* too many attributes */
	for (unsigned i = 0; i <= POLICY_ATTRS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "x=%u\n", i);
	buf[n++] = '\n';
	assert_int_equal(policy_parse((unsigned char *)buf, n, &q, &used), POLICY_ERROR);
	/* the largest size that fits */
	n = (size_t)snprintf(buf, sizeof(buf), "size=9999999999999999999\n\n");
	assert_int_equal(policy_parse((unsigned char *)buf, n, &q, &used), POLICY_DONE);
	assert_true(q.size == 9999999999999999999ULL);
}

static void
test_reply(void **state)
{
	char out[64];

	assert_int_equal(policy_reply(out, sizeof(out), "DUNNO"), 14);
	assert_string_equal(out, "action=DUNNO\n\n");
	assert_int_equal(policy_reply(out, sizeof(out), "552 5.2.2 Mailbox is full"), 34);
	assert_string_equal(out, "action=552 5.2.2 Mailbox is full\n\n");
	assert_int_equal(policy_reply(out, sizeof(out), "DUNNO\nx"), -1);
	assert_int_equal(policy_reply(out, 10, "DUNNO"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postfix_request),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
