/*
 * test_jmap_login.c — the JMAP front end before login (src/login/jmap_login.c) through
 * the fake plumbing of login_fake.c (no sockets): a request without credentials gets 401
 * with a Basic challenge and the connection stays; Basic credentials are handed over
 * with the request left unread for the mail process (whole, split at every offset, one
 * byte at a time: the same hand-over); a failure answers 401 and drops that request;
 * three failures, a request with a body, plaintext credentials where they are refused,
 * malformed heads and oversized heads end the connection with their status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "login_fake.h"
#include "lib/util.h"

#define GET_NOAUTH	"GET /.well-known/jmap HTTP/1.1\r\nHost: h\r\n\r\n"
/* demo:pa:ss */
#define GET_AUTH	"GET /.well-known/jmap HTTP/1.1\r\nAuthorization: Basic " \
			"ZGVtbzpwYTpzcw==\r\n\r\n"

static char *
run(struct login_fake *f, const char *in, size_t len, size_t step)
{
	size_t off = 0, n;

	while (off < len) {
		size_t got;

		n = step == 0 ? len - off : MIN(step, len - off);
		got = login_fake_send(f, in + off, n);
		if (got == 0)
			break;	/* not reading (waiting for the master, or closing) */
		off += got;
	}
	return login_fake_take_output(f, &n);
}

static void
test_handover_splits(void **state)
{
	static const char in[] = GET_NOAUTH GET_AUTH "POST /jmap/api HTTP/1.1\r\n";
	size_t len = sizeof(in) - 1;

	(void)state;
	for (size_t step = 0; step <= len; step++) {
		struct login_fake f;
		char *out;

		login_fake_init(&f, &jmap_login_ops, true, false, false);
		out = run(&f, in, len, step);
		assert_non_null(strstr(out, "HTTP/1.1 401 Unauthorized\r\n"));
		assert_non_null(strstr(out, "WWW-Authenticate: Basic realm=\"buzon\""));
		assert_null(strstr(out, "Connection: close"));
		assert_int_equal(f.handovers, 1);
		assert_string_equal(f.user, "demo");
		assert_string_equal(f.pass, "pa:ss");
		assert_string_equal(f.tag, "");
		assert_int_equal(f.c.state, LC_AUTH_WAIT);
		/* the authenticated request and what follows stay for the mail process */
		assert_int_equal(f.consumed_at_auth, strlen(GET_NOAUTH));
		login_fake_auth_result(&f, IPC_AUTH_OK);
		free(out);
		login_fake_deinit(&f);
	}
}

static void
test_failures(void **state)
{
	struct login_fake f;
	char *out;
	size_t n;

	(void)state;
	login_fake_init(&f, &jmap_login_ops, true, false, false);
	for (int i = 0; i < 3; i++) {
		free(run(&f, GET_AUTH, strlen(GET_AUTH), 0));
		assert_int_equal(f.c.state, LC_AUTH_WAIT);
		login_fake_auth_result(&f, IPC_AUTH_FAIL);
		out = login_fake_take_output(&f, &n);
		assert_non_null(strstr(out, "HTTP/1.1 401 "));
		if (i < 2) {
			assert_int_equal(f.c.state, LC_CMD);
			assert_null(strstr(out, "Connection: close"));
		} else {
			assert_int_equal(f.c.state, LC_CLOSING);	/* the third */
			assert_non_null(strstr(out, "Connection: close"));
		}
		free(out);
	}
	login_fake_deinit(&f);
	/* a temporary failure and a limit end the connection */
	login_fake_init(&f, &jmap_login_ops, true, false, false);
	free(run(&f, GET_AUTH, strlen(GET_AUTH), 0));
	login_fake_auth_result(&f, IPC_AUTH_TEMPFAIL);
	out = login_fake_take_output(&f, &n);
	assert_non_null(strstr(out, "HTTP/1.1 503 "));
	assert_int_equal(f.c.state, LC_CLOSING);
	free(out);
	login_fake_deinit(&f);
}

struct ecase {
	const char *in;
	bool cleartext;
	const char *status;
};

static const struct ecase ecases[] = {
	{ "GET / HTTP/1.1\nHost: x\n\n", true, "HTTP/1.1 400 " },
	{ "GET / HTTP/2.0\r\n\r\n", true, "HTTP/1.1 505 " },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", true, "HTTP/1.1 501 " },
	{ GET_AUTH, false, "HTTP/1.1 403 " },
	{ "GET / HTTP/1.1\r\nAuthorization: Basic !!\r\n\r\n", true, "HTTP/1.1 401 " },
	{ "GET / HTTP/1.1\r\nAuthorization: Basic ZGVtbw==\r\n\r\n", true, "HTTP/1.1 401 " },
	{ "POST / HTTP/1.1\r\nAuthorization: Basic ZGVtbzpwYTpzcw==\r\n"
	  "Content-Length: 99999999999\r\n\r\n", true, "HTTP/1.1 413 " },
	{ "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", true, "HTTP/1.1 401 " },
};

static void
test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(ecases); i++) {
		struct login_fake f;
		char *out;

		login_fake_init(&f, &jmap_login_ops, ecases[i].cleartext, true, false);
		out = run(&f, ecases[i].in, strlen(ecases[i].in), 0);
		assert_non_null(strstr(out, ecases[i].status));
		assert_non_null(strstr(out, "Connection: close"));
		assert_int_equal(f.c.state, LC_CLOSING);
		assert_int_equal(f.handovers, 0);
		free(out);
		login_fake_deinit(&f);
	}
}

static void
test_head_bound(void **state)
{
	static char big[LOGIN_INPUT_MAX + 100];
	struct login_fake f;
	char *out;

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	login_fake_init(&f, &jmap_login_ops, true, false, false);
	out = run(&f, big, sizeof(big), 1000);
	assert_non_null(strstr(out, "HTTP/1.1 431 "));
	assert_int_equal(f.c.state, LC_CLOSING);
	free(out);
	login_fake_deinit(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handover_splits),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_head_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
