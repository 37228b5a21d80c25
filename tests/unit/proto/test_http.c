/*
 * test_http.c — unit tests for the HTTP/1.1 request-head parser (src/proto/http.c):
 * request heads whole and as every prefix (MORE until the last octet, never an early
 * DONE or ERROR); the fields JMAP uses (Content-Length, Authorization, Host, Connection,
 * Expect); malformed heads (bare LF or CR, NUL, obsolete folding, two Content-Lengths,
 * Transfer-Encoding, bad versions, long targets, the size bound) with their status; and
 * Basic credentials (RFC 7617); the Accept field and the target's path (metrics), If-None-Match (webmail).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto/http.h"
#include "lib/util.h"

struct hcase {
	const char *in;
	size_t len;		/* 0: strlen */
	enum http_parse_result res;
	unsigned status;	/* ERROR */
	enum http_method method;
	const char *target;
	uint64_t clen;
	bool keep;
	const char *auth;	/* NULL: none */
};

static const struct hcase cases[] = {
	{ "GET /.well-known/jmap HTTP/1.1\r\nHost: x\r\n\r\n", 0, HTTP_PARSE_DONE, 0,
	  HTTP_GET, "/.well-known/jmap", 0, true, NULL },
	{ "\r\nPOST /jmap/api HTTP/1.1\r\nContent-Length: 12\r\nAuthorization: Basic YTpi \r\n"
	  "\r\n", 0, HTTP_PARSE_DONE, 0, HTTP_POST, "/jmap/api", 12, true, "Basic YTpi" },
	{ "GET / HTTP/1.0\r\n\r\n", 0, HTTP_PARSE_DONE, 0, HTTP_GET, "/", 0, false, NULL },
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, HTTP_PARSE_DONE, 0, HTTP_GET,
	  "/", 0, true, NULL },
	{ "GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", 0, HTTP_PARSE_DONE, 0, HTTP_GET,
	  "/", 0, false, NULL },
	{ "DELETE /x HTTP/1.1\r\n\r\n", 0, HTTP_PARSE_DONE, 0, HTTP_OTHER, "/x", 0, true, NULL },
	{ "GET / HTTP/1.1\nHost: x\n\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false, NULL },
	{ "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false,
	  NULL },
	{ "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false,
	  NULL },
	{ "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false,
	  NULL },
	{ "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 0,
	  HTTP_PARSE_ERROR, 400, 0, NULL, 0, false, NULL },
	{ "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0,
	  false, NULL },
	{ "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 0,
	  HTTP_PARSE_ERROR, 400, 0, NULL, 0, false, NULL },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, HTTP_PARSE_ERROR, 501, 0,
	  NULL, 0, false, NULL },
	{ "GET / HTTP/2.0\r\n\r\n", 0, HTTP_PARSE_ERROR, 505, 0, NULL, 0, false, NULL },
	{ "GET / FOO/1.1\r\n\r\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false, NULL },
	{ "GET  / HTTP/1.1\r\n\r\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false, NULL },
	{ "G(T / HTTP/1.1\r\n\r\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false, NULL },
	{ "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 0, HTTP_PARSE_ERROR, 400, 0, NULL, 0, false,
	  NULL },
	{ "GET / HTTP/1.1\r\nExpect: magic\r\n\r\n", 0, HTTP_PARSE_ERROR, 417, 0, NULL, 0,
	  false, NULL },
};

static void
check(const struct hcase *c, enum http_parse_result r, const struct http_request *q,
    size_t used, size_t len)
{
	assert_int_equal(r, c->res);
	if (r == HTTP_PARSE_ERROR) {
		assert_int_equal(q->status, c->status);
		assert_non_null(q->error);
		return;
	}
	assert_int_equal(used, len);
	assert_int_equal(q->method, c->method);
	assert_int_equal(q->target_len, strlen(c->target));
	assert_memory_equal(q->target, c->target, q->target_len);
	assert_int_equal(q->content_length, c->clen);
	assert_int_equal(q->keep_alive, c->keep);
	if (c->auth == NULL) {
		assert_null(q->auth);
	} else {
		assert_int_equal(q->auth_len, strlen(c->auth));
		assert_memory_equal(q->auth, c->auth, q->auth_len);
	}
}

static void
test_heads(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct hcase *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in), used = 0;
		struct http_request q;
		enum http_parse_result r;

		r = http_request_parse((const unsigned char *)c->in, len, HTTP_HEAD_MAX, &q, &used);
		check(c, r, &q, used, len);
	}
}

/* Every proper prefix of a good head is MORE: the end is only the empty line. */
static void
test_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct hcase *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in), used;
		struct http_request q;

		if (c->res != HTTP_PARSE_DONE)
			continue;
		for (size_t n = 0; n < len; n++)
			assert_int_equal(http_request_parse((const unsigned char *)c->in, n,
			    HTTP_HEAD_MAX, &q, &used), HTTP_PARSE_MORE);
	}
}

static void
test_bounds(void **state)
{
	static unsigned char big[HTTP_HEAD_MAX + 100];
	struct http_request q;
	size_t used;
	char target[HTTP_TARGET_MAX + 40];

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	/* no end within max: 431, whatever follows */
	assert_int_equal(http_request_parse(big, sizeof(big), HTTP_HEAD_MAX, &q, &used),
	    HTTP_PARSE_ERROR);
	assert_int_equal(q.status, 431);
	assert_int_equal(http_request_parse(big, 1000, 1000, &q, &used), HTTP_PARSE_ERROR);
	assert_int_equal(q.status, 431);
	assert_int_equal(http_request_parse(big, 999, 1000, &q, &used), HTTP_PARSE_MORE);
	/* a target over HTTP_TARGET_MAX: 414 */
	memset(target, 'x', sizeof(target));
	memcpy(target, "GET /", 5);
	memcpy(target + HTTP_TARGET_MAX + 6, " HTTP/1.1\r\n\r\n", 13);
	assert_int_equal(http_request_parse((const unsigned char *)target,
	    HTTP_TARGET_MAX + 19, HTTP_HEAD_MAX, &q, &used), HTTP_PARSE_ERROR);
	assert_int_equal(q.status, 414);
	/* more than HTTP_FIELDS_MAX fields: 431 */
	{
		static unsigned char many[HTTP_HEAD_MAX];
		size_t n = 0;

		memcpy(many, "GET / HTTP/1.1\r\n", 16);
		n = 16;
		for (int i = 0; i <= HTTP_FIELDS_MAX; i++) {
			memcpy(many + n, "A: b\r\n", 6);
			n += 6;
		}
		memcpy(many + n, "\r\n", 2);
		n += 2;
		assert_int_equal(http_request_parse(many, n, HTTP_HEAD_MAX, &q, &used),
		    HTTP_PARSE_ERROR);
		assert_int_equal(q.status, 431);
	}
}

static void
test_basic(void **state)
{
	unsigned char out[64];
	size_t ulen;
	long n;

	(void)state;
	/* "demo:pa:ss" — the password may hold ':' (RFC 7617 §2) */
	n = http_basic_decode("Basic ZGVtbzpwYTpzcw==", 22, out, sizeof(out), &ulen);
	assert_int_equal(n, 10);
	assert_int_equal(ulen, 4);
	assert_memory_equal(out, "demo:pa:ss", 10);
	n = http_basic_decode("basic   ZGVtbzpwYTpzcw==", 24, out, sizeof(out), &ulen);
	assert_int_equal(n, 10);
	assert_int_equal(http_basic_decode("Bearer ZGVtbzpwYTpzcw==", 23, out, sizeof(out),
	    &ulen), -1);
	assert_int_equal(http_basic_decode("Basic ZGVtbw==", 13, out, sizeof(out), &ulen), -1);
	assert_int_equal(http_basic_decode("Basic !!!!", 10, out, sizeof(out), &ulen), -1);
	assert_int_equal(http_basic_decode("Basic ZGVtbzpwYTpzcw==", 22, out, 4, &ulen), -1);
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
}

/* RFC 6750 §2.1 Bearer credentials: the b64token syntax, nothing else. */
static void
test_bearer(void **state)
{
	static const char *const bad[] = { "Bearer", "Bearer ", "Bearer  ", "Basic abc",
		"Bearerabc", "Bearer a b", "Bearer a=b", "Bearer ab\"", "Bearer =", "Bearer a,b" };
	const char *tok;

	(void)state;
	assert_int_equal(http_bearer_token("Bearer eyJ.a-b_c~d+e/f==", 24, &tok), 17);
	assert_memory_equal(tok, "eyJ.a-b_c~d+e/f==", 17);
	assert_int_equal(http_bearer_token("bearer   x", 10, &tok), 1);
	assert_int_equal(*tok, 'x');
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http_bearer_token(bad[i], strlen(bad[i]), &tok), -1);
	/* a NUL inside the value is not a token character */
	assert_int_equal(http_bearer_token("Bearer a\0b", 10, &tok), -1);
}

/* The Accept field (the metrics endpoint's choice of format) and the target's path. */
static void
test_accept_path(void **state)
{
	static const char *const yes[] = {
		"Accept: application/openmetrics-text\r\n",
		"Accept: APPLICATION/OpenMetrics-Text;version=1.0.0\r\n",
		"Accept: text/plain;q=0.5 , application/openmetrics-text; q=0.9\r\n",
		"Accept: application/openmetrics-text\r\nAccept: text/plain\r\n",
	};
	static const char *const no[] = {
		"", "Accept: */*\r\n", "Accept: application/openmetrics-textx\r\n",
		"Accept: text/plain\r\nAccept: application/openmetrics-text\r\n",
		"Accept:\r\n", "Accept: application/openmetrics\r\n",
	};
	char head[256];
	struct http_request q;
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]) + sizeof(no) / sizeof(no[0]); i++) {
		bool want = i < sizeof(yes) / sizeof(yes[0]);
		const char *f = want ? yes[i] : no[i - sizeof(yes) / sizeof(yes[0])];
		int n = snprintf(head, sizeof(head), "GET /metrics?a=b HTTP/1.1\r\n%s\r\n", f);

		assert_int_equal(http_request_parse((const unsigned char *)head, (size_t)n,
		    HTTP_HEAD_MAX, &q, &used), HTTP_PARSE_DONE);
		assert_int_equal(http_accepts(&q, "application/openmetrics-text"), want);
		assert_int_equal(http_target_path_len(&q), 8);
	}
	assert_int_equal(http_request_parse((const unsigned char *)"GET / HTTP/1.1\r\n\r\n",
	    18, HTTP_HEAD_MAX, &q, &used), HTTP_PARSE_DONE);
	assert_int_equal(http_target_path_len(&q), 1);
	/* If-None-Match (the webmail's files): the first such field, not X-If-None-Match */
	{
		static const char h[] = "GET /If-None-Match: HTTP/1.1\r\nX-If-None-Match: \"x\"\r\n"
		    "If-None-Match:  \"ab\", W/\"c\" \r\nIf-None-Match: \"z\"\r\n\r\n";

		assert_int_equal(http_request_parse((const unsigned char *)h, sizeof(h) - 1,
		    HTTP_HEAD_MAX, &q, &used), HTTP_PARSE_DONE);
		assert_int_equal(q.if_none_match_len, 11);
		assert_memory_equal(q.if_none_match, "\"ab\", W/\"c\"", 11);
	}
}

/* The WebSocket opening handshake fields (RFC 6455 §4.1) and Last-Event-ID. */
static void
test_upgrade(void **state)
{
	const char *in = "GET /jmap/ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
	    "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, jmap\r\n"
	    "Last-Event-ID: p1\r\n\r\n";
	struct http_request r;
	size_t used;

	(void)state;
	assert_int_equal(http_request_parse((const unsigned char *)in, strlen(in), HTTP_HEAD_MAX,
	    &r, &used), HTTP_PARSE_DONE);
	assert_true(r.upgrade_websocket);
	assert_true(r.connection_upgrade);
	assert_true(r.ws_protocol_jmap);
	assert_int_equal(r.ws_key_len, 24);
	assert_memory_equal(r.ws_key, "dGhlIHNhbXBsZSBub25jZQ==", 24);
	assert_int_equal(r.ws_version_len, 2);
	assert_int_equal(r.last_event_id_len, 2);
	in = "GET /jmap/ws HTTP/1.1\r\nUpgrade: h2c\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
	assert_int_equal(http_request_parse((const unsigned char *)in, strlen(in), HTTP_HEAD_MAX,
	    &r, &used), HTTP_PARSE_DONE);
	assert_false(r.upgrade_websocket);
	assert_false(r.connection_upgrade);
	assert_false(r.ws_protocol_jmap);
	assert_null(r.ws_key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heads),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_accept_path),
		cmocka_unit_test(test_upgrade),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
