/*
 * test_sasl.c — unit tests for SASL PLAIN (RFC 4616) and LOGIN response decoding: a
 * table of PLAIN messages (valid, missing or extra NULs, empty and over-long fields),
 * base64 and cancel handling, and the LOGIN mechanism lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/sasl.h"
#include "lib/buf.h"

struct pcase {
	const char *msg;
	size_t len;
	int ret;
	const char *authzid, *authcid, *passwd;
};

#define M(s) s, sizeof(s) - 1

static const struct pcase plain[] = {
	{ M("\0alice\0secret"), 0, "", "alice", "secret" },
	{ M("admin\0alice\0secret"), 0, "admin", "alice", "secret" },
	{ M("\0alice\0s p a c e"), 0, "", "alice", "s p a c e" },
	{ M("\0\xc3\xa9\0\xc3\xa9"), 0, "", "\xc3\xa9", "\xc3\xa9" },
	{ M(""), -1, NULL, NULL, NULL },
	{ M("alice"), -1, NULL, NULL, NULL },
	{ M("\0alice"), -1, NULL, NULL, NULL },
	{ M("\0alice\0"), -1, NULL, NULL, NULL },		/* empty passwd */
	{ M("\0\0secret"), -1, NULL, NULL, NULL },		/* empty authcid */
	{ M("\0\0"), -1, NULL, NULL, NULL },
	{ M("\0alice\0sec\0ret"), -1, NULL, NULL, NULL },	/* NUL in passwd */
	{ M("a\0b\0c\0"), -1, NULL, NULL, NULL },
};

static void
test_plain_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(plain); i++) {
		struct sasl_plain p;
		const char *err = NULL;
		int r = sasl_plain_parse((const unsigned char *)plain[i].msg, plain[i].len, &p,
		    &err);

		if (r != plain[i].ret)
			fail_msg("case %zu: %d", i, r);
		if (r == 0) {
			assert_string_equal(p.authzid, plain[i].authzid);
			assert_string_equal(p.authcid, plain[i].authcid);
			assert_string_equal(p.passwd, plain[i].passwd);
			assert_int_equal(p.authcid_len, strlen(plain[i].authcid));
			assert_int_equal(p.passwd_len, strlen(plain[i].passwd));
		} else {
			assert_non_null(err);
			/* nothing of the secret is left behind */
			assert_int_equal(p.passwd[0], '\0');
			assert_int_equal(p.passwd_len, 0);
		}
		sasl_plain_wipe(&p);
	}
}

static void
test_plain_limits(void **state)
{
	unsigned char msg[SASL_MAX_BUF + 1];
	struct sasl_plain p;
	const char *err;
	size_t n;

	/* 255-octet authcid and 1024-octet password fit, one more does not */
	memset(msg, 'u', sizeof(msg));
	msg[0] = '\0';
	msg[1 + SASL_MAX_USER] = '\0';
	n = 2 + SASL_MAX_USER + SASL_MAX_PASSWORD;
	assert_int_equal(sasl_plain_parse(msg, n, &p, &err), 0);
	assert_int_equal(p.authcid_len, SASL_MAX_USER);
	assert_int_equal(p.passwd_len, SASL_MAX_PASSWORD);
	assert_int_equal(sasl_plain_parse(msg, n + 1, &p, &err), -1);
	msg[1 + SASL_MAX_USER] = 'u';
	msg[2 + SASL_MAX_USER] = '\0';
	assert_int_equal(sasl_plain_parse(msg, n, &p, &err), -1);
	/* authzid over the limit */
	memset(msg, 'z', sizeof(msg));
	msg[SASL_MAX_USER + 1] = '\0';
	msg[SASL_MAX_USER + 3] = '\0';
	assert_int_equal(sasl_plain_parse(msg, SASL_MAX_USER + 5, &p, &err), -1);
	/* whole message over 8 KiB */
	memset(msg, 'x', sizeof(msg));
	msg[0] = '\0';
	msg[2] = '\0';
	assert_int_equal(sasl_plain_parse(msg, sizeof(msg), &p, &err), -1);
	sasl_plain_wipe(&p);
}

static void
test_plain_decode(void **state)
{
	struct sasl_plain p;
	const char *err;
	struct buf b;

	/* "\0alice\0secret" */
	assert_int_equal(sasl_plain_decode("AGFsaWNlAHNlY3JldA==", 20, &p, &err),
	    SASL_RESPONSE_OK);
	assert_string_equal(p.authcid, "alice");
	assert_string_equal(p.passwd, "secret");
	assert_int_equal(sasl_plain_decode("*", 1, &p, &err), SASL_RESPONSE_CANCEL);
	assert_int_equal(sasl_plain_decode("=", 1, &p, &err), SASL_RESPONSE_ERROR);
	assert_int_equal(sasl_plain_decode("", 0, &p, &err), SASL_RESPONSE_ERROR);
	assert_int_equal(sasl_plain_decode("AGFsaWNlAHNlY3JldA", 18, &p, &err),
	    SASL_RESPONSE_ERROR);
	assert_int_equal(sasl_plain_decode("AGFsaWNlAHNlY3JldA== ", 21, &p, &err),
	    SASL_RESPONSE_ERROR);
	assert_int_equal(p.passwd_len, 0);
	/* a line longer than 8 KiB decoded */
	buf_init(&b, BUF_UNLIMITED);
	for (size_t i = 0; i < SASL_MAX_BUF / 3 + 1; i++)
		buf_append_str(&b, "AAAA");
	assert_int_equal(sasl_plain_decode(b.data, b.len, &p, &err), SASL_RESPONSE_ERROR);
	buf_deinit(&b);
	sasl_plain_wipe(&p);
}

static void
test_login(void **state)
{
	char user[SASL_MAX_USER + 1], pass[SASL_MAX_PASSWORD + 1];
	const char *err;
	size_t n;
	struct buf b;

	assert_int_equal(sasl_login_decode("YWxpY2U=", 8, user, sizeof(user), &n, &err),
	    SASL_RESPONSE_OK);
	assert_string_equal(user, "alice");
	assert_int_equal(n, 5);
	assert_int_equal(sasl_login_decode("*", 1, user, sizeof(user), &n, &err),
	    SASL_RESPONSE_CANCEL);
	assert_int_equal(sasl_login_decode("=", 1, user, sizeof(user), &n, &err),
	    SASL_RESPONSE_ERROR);
	assert_int_equal(sasl_login_decode("", 0, user, sizeof(user), &n, &err),
	    SASL_RESPONSE_ERROR);
	/* "a\0b" */
	assert_int_equal(sasl_login_decode("YQBi", 4, user, sizeof(user), &n, &err),
	    SASL_RESPONSE_ERROR);
	assert_int_equal(sasl_login_decode("YWxpY2U", 7, user, sizeof(user), &n, &err),
	    SASL_RESPONSE_ERROR);
	/* "alice" does not fit in 5 bytes + NUL ... but fits in 6 */
	assert_int_equal(sasl_login_decode("YWxpY2U=", 8, user, 5, &n, &err),
	    SASL_RESPONSE_ERROR);
	assert_int_equal(sasl_login_decode("YWxpY2U=", 8, user, 6, &n, &err),
	    SASL_RESPONSE_OK);
	/* 1024-octet password fits, 1025 does not */
	buf_init(&b, BUF_UNLIMITED);
	memset(pass, 'p', SASL_MAX_PASSWORD + 1);
	assert_int_equal(base64_encode(pass, SASL_MAX_PASSWORD, &b), 0);
	assert_int_equal(sasl_login_decode(b.data, b.len, pass, sizeof(pass), &n, &err),
	    SASL_RESPONSE_OK);
	assert_int_equal(n, SASL_MAX_PASSWORD);
	buf_reset(&b);
	memset(pass, 'p', SASL_MAX_PASSWORD + 1);
	assert_int_equal(base64_encode(pass, SASL_MAX_PASSWORD + 1, &b), 0);
	assert_int_equal(sasl_login_decode(b.data, b.len, pass, sizeof(pass), &n, &err),
	    SASL_RESPONSE_ERROR);
	buf_deinit(&b);
	secret_wipe(pass, sizeof(pass));
}

static void
test_response(void **state)
{
	unsigned char out[16];
	const char *err;
	size_t n = 7;

	assert_int_equal(sasl_decode_response("=", 1, out, sizeof(out), &n, &err),
	    SASL_RESPONSE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(sasl_decode_response("", 0, out, sizeof(out), &n, &err),
	    SASL_RESPONSE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(sasl_decode_response("*", 1, out, sizeof(out), &n, &err),
	    SASL_RESPONSE_CANCEL);
	assert_int_equal(sasl_decode_response("AGEAYgBj", 8, out, sizeof(out), &n, &err),
	    SASL_RESPONSE_OK);
	assert_int_equal(n, 6);
	assert_int_equal(sasl_decode_response("AGEAYgBj", 8, out, 5, &n, &err),
	    SASL_RESPONSE_ERROR);
	assert_int_equal(sasl_decode_response("**", 2, out, sizeof(out), &n, &err),
	    SASL_RESPONSE_ERROR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_table),
		cmocka_unit_test(test_plain_limits),
		cmocka_unit_test(test_plain_decode),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
