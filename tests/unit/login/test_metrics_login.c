/*
 * test_metrics_login.c — the metrics endpoint's front end (src/login/metrics_login.c)
 * against the fake plumbing of login_fake.c: a scrape split at every offset asks the
 * master once and answers 200 with the rendered block; OpenMetrics on request; HEAD
 * without a body; 404, 405, 400 and 431 without asking the master; a request that
 * cannot reach the master gets 503; a snapshot after the connection closed is ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login_fake.h"
#include "lib/util.h"

static const char scrape[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9154\r\n"
	"Accept: text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n";

static uint64_t block[METRICS_SLOTS];

static char *
take(struct login_fake *f)
{
	return login_fake_take_output(f, NULL);
}

static void
start(struct login_fake *f)
{
	login_fake_init(f, &metrics_login_ops, false, false, false);
	assert_true(f->deadlines >= 1);		/* the exchange's own deadline */
	assert_int_equal(evbuffer_get_length(f->out), 0);	/* the client speaks first */
}

static void
test_scrape_split(void **state)
{
	size_t len = strlen(scrape);

	block[MS_PROCESSES + METRICS_ROLE_MASTER] = 1;
	for (size_t cut = 0; cut <= len; cut++) {
		struct login_fake f;
		char *out;

		start(&f);
		assert_int_equal(login_fake_send(&f, scrape, cut), cut);
		if (cut < len) {
			assert_int_equal(f.metrics_requests, 0);
			assert_int_equal(login_fake_send(&f, scrape + cut, len - cut), len - cut);
		}
		assert_int_equal(f.metrics_requests, 1);
		login_fake_metrics(&f, block);
		out = take(&f);
		assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
		assert_non_null(strstr(out, "Content-Type: text/plain; version=0.0.4"));
		assert_non_null(strstr(out, "Connection: close\r\n"));
		assert_non_null(strstr(out, "\r\n\r\n# HELP buzon_build_info"));
		assert_non_null(strstr(out, "buzon_processes{role=\"master\"} 1\n"));
		assert_non_null(strstr(out, "buzon_build_info{version=\"0.0-test\"} 1\n"));
		assert_null(strstr(out, "# EOF"));
		assert_int_equal(f.c.state, LC_CLOSING);
		{
			/* Content-Length is the body's length */
			const char *cl = strstr(out, "Content-Length: "), *body = strstr(out,
			    "\r\n\r\n") + 4;

			assert_non_null(cl);
			assert_int_equal(strtoul(cl + 16, NULL, 10), strlen(body));
		}
		free(out);
		login_fake_deinit(&f);
	}
}

static void
test_openmetrics_head(void **state)
{
	struct login_fake f;
	char *out;

	start(&f);
	login_fake_send(&f, "GET /metrics?x HTTP/1.1\r\nAccept: text/plain;q=0.5, "
	    "Application/OpenMetrics-Text; version=1.0.0\r\n\r\n", 98);
	login_fake_metrics(&f, block);
	out = take(&f);
	assert_non_null(strstr(out, "Content-Type: application/openmetrics-text"));
	assert_non_null(strstr(out, "# TYPE buzon_logins counter\n"));
	assert_int_equal(strcmp(out + strlen(out) - 6, "# EOF\n"), 0);
	free(out);
	login_fake_deinit(&f);

	start(&f);
	login_fake_send(&f, "HEAD /metrics HTTP/1.0\r\n\r\n", 26);
	login_fake_metrics(&f, block);
	out = take(&f);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_int_equal(strcmp(out + strlen(out) - 4, "\r\n\r\n"), 0);
	assert_null(strstr(out, "# HELP"));
	free(out);
	login_fake_deinit(&f);
}

static void
test_refused(void **state)
{
	static const struct { const char *in; const char *want; } cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n" },
		{ "GET /metrics/ HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n" },
		{ "POST /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n" },
		{ "get /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n" },
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
		{ "\x16\x03\x01\x02\xa5\x01\x02\x03\xa1\x03\x03\n", "HTTP/1.1 400 Bad Request\r\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct login_fake f;
		char *out;

		start(&f);
		login_fake_send(&f, cases[i].in, strlen(cases[i].in));
		assert_int_equal(f.metrics_requests, 0);
		out = take(&f);
		assert_true(strncmp(out, cases[i].want, strlen(cases[i].want)) == 0);
		assert_int_equal(f.c.state, LC_CLOSING);
		free(out);
		login_fake_deinit(&f);
	}
}

static void
test_limits(void **state)
{
	static char big[8192 + 100];	/* the metrics head bound + 100 */
	struct login_fake f;
	char *out;

	/* a NUL in the request line */
	start(&f);
	login_fake_send(&f, "GET /m\0etrics HTTP/1.1\r\n\r\n", 27);
	out = take(&f);
	assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
	free(out);
	login_fake_deinit(&f);
	/* a head over 8 KiB, never ended */
	start(&f);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', sizeof(big) - 26);
	login_fake_send(&f, big, sizeof(big));
	out = take(&f);
	assert_true(strncmp(out, "HTTP/1.1 431 ", 13) == 0);
	assert_int_equal(f.metrics_requests, 0);
	free(out);
	login_fake_deinit(&f);
	/* the master cannot be asked */
	start(&f);
	f.metrics_fail = true;
	login_fake_send(&f, scrape, strlen(scrape));
	out = take(&f);
	assert_true(strncmp(out, "HTTP/1.1 503 ", 13) == 0);
	free(out);
	login_fake_deinit(&f);
	/* the snapshot comes after the deadline closed the connection: ignored */
	start(&f);
	login_fake_send(&f, scrape, strlen(scrape));
	f.c.ops->timeout(&f.c);
	lconn_close_after(&f.c);
	login_fake_metrics(&f, block);
	out = take(&f);
	assert_int_equal(out[0], '\0');
	free(out);
	login_fake_deinit(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrape_split),
		cmocka_unit_test(test_openmetrics_head),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
