/*
 * http_req.h — the head of an HTTP/1.x request (RFC 9112 §2-3, §5): request line and
 * header fields up to the empty line, for the metrics endpoint (metrics_listen, served
 * by the login process, src/login/metrics_login.c). Pure: no I/O, no logging, nothing
 * allocated; results point into the caller's bytes. Bounded by HTTP_REQ_MAX; a NUL,
 * a bare CR, a control character, an obsolete folded line or a malformed request line
 * is an error (the caller answers 400 and closes).
 */
#ifndef BUZON_HTTP_REQ_H
#define BUZON_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_REQ_MAX		8192	/* request line, fields and the empty line */
#define HTTP_REQ_FIELDS_MAX	64	/* header fields in one request */

enum http_req_result {
	HTTP_REQ_MORE,		/* no empty line yet and under HTTP_REQ_MAX: add more */
	HTTP_REQ_DONE,		/* the head is in *req */
	HTTP_REQ_ERROR,		/* malformed (400) */
	HTTP_REQ_TOOBIG,	/* over HTTP_REQ_MAX or HTTP_REQ_FIELDS_MAX (431) */
};

struct http_req {
	const char *method, *target;	/* in the caller's bytes, not NUL-terminated */
	size_t method_len, target_len;
	unsigned version_minor;		/* HTTP/1.x */
	bool accept_openmetrics;	/* an Accept field names application/openmetrics-text */
};

/*
 * Parse the head of one request from data[0..len). DONE: *used_r octets (up to and
 * including the empty line) make the head; else *used_r = 0. Lines may end with CRLF
 * or LF (RFC 9112 §2.2).
 */
enum http_req_result http_req_parse(const unsigned char *data, size_t len,
    struct http_req *req, size_t *used_r);

/* The target's path: target[0..len) up to '?' (origin-form), its length. */
size_t http_req_path_len(const struct http_req *req);

#endif
