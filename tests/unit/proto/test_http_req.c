/*
 * test_http_req.c — unit tests for the HTTP request head parser of the metrics endpoint
 * (src/proto/http_req.c): a request as curl and Prometheus send it, whole and split at
 * every offset; LF-only line ends; the Accept field; malformed heads (NUL, bare CR,
 * folded lines, bad request lines, fields without a colon) and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto/http_req.h"

static const char prom_req[] =
	"GET /metrics HTTP/1.1\r\n"
	"Host: 127.0.0.1:9154\r\n"
	"User-Agent: Prometheus/2.42.0\r\n"
	"Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
	"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
	"Accept-Encoding: gzip\r\n"
	"X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"
	"\r\n";

static enum http_req_result
parse(const char *s, size_t len, struct http_req *q, size_t *used)
{
	return http_req_parse((const unsigned char *)s, len, q, used);
}

static void
test_prometheus(void **state)
{
	struct http_req q;
	size_t used, len = strlen(prom_req);

	assert_int_equal(parse(prom_req, len, &q, &used), HTTP_REQ_DONE);
	assert_int_equal(used, len);
	assert_int_equal(q.method_len, 3);
	assert_memory_equal(q.method, "GET", 3);
	assert_int_equal(q.target_len, 8);
	assert_memory_equal(q.target, "/metrics", 8);
	assert_int_equal(http_req_path_len(&q), 8);
	assert_int_equal(q.version_minor, 1);
	assert_true(q.accept_openmetrics);
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(parse(prom_req, i, &q, &used), HTTP_REQ_MORE);
		assert_int_equal(used, 0);
	}
}

static void
test_plain(void **state)
{
	static const char *const ok[] = {
		"GET /metrics HTTP/1.0\n\n",
		"HEAD /metrics?x=1 HTTP/1.1\r\nAccept: */*\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nACCEPT: text/plain\r\nHost:\r\n\r\nGET / HTTP/1.1\r\n",
	};
	struct http_req q;
	size_t used;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse(ok[i], strlen(ok[i]), &q, &used), HTTP_REQ_DONE);
		assert_false(q.accept_openmetrics);
		assert_int_equal(http_req_path_len(&q), 8);
	}
	/* the pipelined second request is not consumed */
	assert_int_equal(used, strlen(ok[2]) - strlen("GET / HTTP/1.1\r\n"));
	assert_int_equal(parse("GET / HTTP/1.1\r\naccept: APPLICATION/OpenMetrics-Text\r\n\r\n",
	    56, &q, &used), HTTP_REQ_DONE);
	assert_true(q.accept_openmetrics);
}

static void
test_malformed(void **state)
{
	static const struct { const char *in; size_t len; } bad[] = {
		{ "\r\nGET /metrics HTTP/1.1\r\n\r\n", 0 },
		{ "GET /metrics\r\n\r\n", 0 },
		{ "GET  /metrics HTTP/1.1\r\n\r\n", 0 },
		{ "GET /metrics HTTP/2.0\r\n\r\n", 0 },
		{ "GET /metrics HTTP/1.1 \r\n\r\n", 0 },
		{ "G@T /metrics HTTP/1.1\r\n\r\n", 0 },
		{ "GET /met\x01rics HTTP/1.1\r\n\r\n", 0 },
		{ "GET /metrics HTTP/1.1\r\nHost 1\r\n\r\n", 0 },
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 0 },
		{ "GET /metrics HTTP/1.1\r\nHo\rst: a\r\n\r\n", 0 },
		{ "GET /metrics HTTP/1.1\r\nHost: a\x01\r\n\r\n", 0 },
		{ "GET /metrics HTTP/1.1\r\n: a\r\n\r\n", 0 },
		{ "GET /metrics HTTP/1.1\r\nHost: a\0b\r\n\r\n", 36 },
		{ "GET /m\0trics HTTP/1.1\r\n\r\n", 25 },
	};
	struct http_req q;
	size_t used;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].in);

		assert_int_equal(parse(bad[i].in, len, &q, &used), HTTP_REQ_ERROR);
		assert_int_equal(used, 0);
	}
}

static void
test_limits(void **state)
{
	static char big[HTTP_REQ_MAX + 64];
	struct http_req q;
	size_t used, n;

	/* one long line, no end: too big once HTTP_REQ_MAX octets are there, not before */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', sizeof(big) - 5);
	assert_int_equal(parse(big, HTTP_REQ_MAX - 1, &q, &used), HTTP_REQ_MORE);
	assert_int_equal(parse(big, HTTP_REQ_MAX, &q, &used), HTTP_REQ_TOOBIG);
	assert_int_equal(parse(big, sizeof(big), &q, &used), HTTP_REQ_TOOBIG);
	/* too many fields */
	n = (size_t)snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_REQ_FIELDS_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: y\r\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
	assert_int_equal(parse(big, n, &q, &used), HTTP_REQ_TOOBIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
