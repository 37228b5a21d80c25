/*
 * test_socketmap.c — unit tests for Postfix's socketmap netstrings: requests whole, split
 * at every offset and byte by byte; pipelined requests; malformed lengths (sign, leading
 * zero, too many digits, over the limit), a missing comma or colon, NUL, no key or no
 * name; and the replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/socketmap.h"
#include "lib/util.h"

struct scase {
	const char *in;
	size_t len;		/* 0: strlen */
	enum socketmap_result res;
	const char *name, *key;
};

static const struct scase cases[] = {
	{ "23:buzon alice@example.org,", 0, SOCKETMAP_DONE, "buzon", "alice@example.org" },
	{ "9:buzon a b,", 0, SOCKETMAP_DONE, "buzon", "a b" },
	{ "3:m k,", 0, SOCKETMAP_DONE, "m", "k" },
	{ "0:,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "6:buzon ,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "6: alice,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "5:alice,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "07:buzon a,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "-7:buzon a,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "+7:buzon a,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "123456:x", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "4097:", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "7 buzon a,", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "7:buzon a;", 0, SOCKETMAP_ERROR, NULL, NULL },
	{ "7:buzo\0 a,", 10, SOCKETMAP_ERROR, NULL, NULL },
	{ "GET / HTTP/1.1\r\n", 0, SOCKETMAP_ERROR, NULL, NULL },
};

static void
check(const struct scase *c, enum socketmap_result r, const struct socketmap_req *q,
    size_t used, size_t len)
{
	assert_int_equal(r, c->res);
	if (r != SOCKETMAP_DONE) {
		assert_int_equal(used, 0);
		return;
	}
	assert_int_equal(used, len);
	assert_int_equal(q->name_len, strlen(c->name));
	assert_memory_equal(q->name, c->name, q->name_len);
	assert_int_equal(q->key_len, strlen(c->key));
	assert_memory_equal(q->key, c->key, q->key_len);
}

static void
test_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct scase *c = &cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->in), used;
		struct socketmap_req q;
		enum socketmap_result r;

		r = socketmap_parse((const unsigned char *)c->in, len, &q, &used);
		check(c, r, &q, used, len);
		/* every prefix: MORE, or the same error as soon as it shows */
		for (size_t k = 0; k < len; k++) {
			r = socketmap_parse((const unsigned char *)c->in, k, &q, &used);
			assert_true(r == SOCKETMAP_MORE || (r == SOCKETMAP_ERROR &&
			    c->res == SOCKETMAP_ERROR));
			assert_int_equal(used, 0);
		}
	}
}

static void
test_pipelined(void **state)
{
	static const char in[] = "7:buzon a,7:buzon b,";
	struct socketmap_req q;
	size_t used;

	(void)state;
	assert_int_equal(socketmap_parse((const unsigned char *)in, sizeof(in) - 1, &q, &used),
	    SOCKETMAP_DONE);
	assert_int_equal(used, 10);
	assert_memory_equal(q.key, "a", 1);
	assert_int_equal(socketmap_parse((const unsigned char *)in + used,
	    sizeof(in) - 1 - used, &q, &used), SOCKETMAP_DONE);
	assert_memory_equal(q.key, "b", 1);
}

static void
test_limit(void **state)
{
	char *big = malloc(SOCKETMAP_DATA_MAX + 16);
	struct socketmap_req q;
	size_t used, n;

	(void)state;
	n = (size_t)snprintf(big, 16, "%d:", SOCKETMAP_DATA_MAX);
	memset(big + n, 'k', SOCKETMAP_DATA_MAX);
	memcpy(big + n, "buzon ", 6);
	big[n + SOCKETMAP_DATA_MAX] = ',';
	assert_int_equal(socketmap_parse((unsigned char *)big, n + SOCKETMAP_DATA_MAX + 1, &q,
	    &used), SOCKETMAP_DONE);
	assert_int_equal(q.key_len, SOCKETMAP_DATA_MAX - 6);
	free(big);
}

static void
test_reply(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(socketmap_reply(out, sizeof(out), "OK", "alice"), 11);
	assert_string_equal(out, "8:OK alice,");
	assert_int_equal(socketmap_reply(out, sizeof(out), "NOTFOUND", NULL), 12);
	assert_string_equal(out, "9:NOTFOUND ,");
	assert_int_equal(socketmap_reply(out, sizeof(out), "TEMP", "lookup failed"), 22);
	assert_string_equal(out, "18:TEMP lookup failed,");
	assert_int_equal(socketmap_reply(out, 10, "OK", "alice"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
