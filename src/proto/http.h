/*
 * http.h — a bounded HTTP/1.1 request-head parser (RFC 9112), pure: bytes in, one parsed
 * request line and the header fields buzon's HTTP services need out, no I/O. Runs on
 * attacker bytes in the login process (JMAP before login, autoconfig, the metrics
 * endpoint) and in the mail process (every later request of a JMAP connection). Only what a JMAP server needs is accepted: GET/POST/HEAD/OPTIONS
 * (others are parsed and refused by the caller), HTTP/1.0 and 1.1, a Content-Length
 * body; Transfer-Encoding (chunked) is refused with 501 rather than decoded
 * (docs/jmap.md, "HTTP").
 */
#ifndef BUZON_PROTO_HTTP_H
#define BUZON_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX		(16 * 1024)	/* request line + header fields + CRLF CRLF */
#define HTTP_TARGET_MAX		2048		/* request-target octets */
#define HTTP_FIELDS_MAX		100		/* header fields in one request */

enum http_parse_result { HTTP_PARSE_DONE, HTTP_PARSE_MORE, HTTP_PARSE_ERROR };

enum http_method { HTTP_GET, HTTP_POST, HTTP_HEAD, HTTP_OPTIONS, HTTP_OTHER };

struct http_request {
	enum http_method method;
	const char *target;		/* into the input, target_len octets, no NUL */
	size_t target_len;
	bool http10;			/* HTTP/1.0 (keep-alive only when asked for) */
	bool keep_alive;		/* the connection may serve another request */
	bool has_length;
	uint64_t content_length;	/* 0 without Content-Length */
	const char *auth;		/* Authorization field value (trimmed), or NULL */
	size_t auth_len;
	const char *host;		/* Host value, or NULL */
	size_t host_len;
	const char *content_type;	/* Content-Type value, or NULL */
	size_t content_type_len;
	const char *accept;		/* the first Accept field's value, or NULL */
	size_t accept_len;
	const char *if_none_match;	/* the first If-None-Match value, or NULL */
	size_t if_none_match_len;
	bool expect_continue;		/* Expect: 100-continue */
	/* RFC 6455 §4.1 opening handshake (RFC 8887): Upgrade lists "websocket",
	 * Connection lists "upgrade"; the other values borrow p (NULL when absent) */
	bool upgrade_websocket;
	bool connection_upgrade;
	const char *ws_key;		/* Sec-WebSocket-Key */
	size_t ws_key_len;
	const char *ws_version;		/* Sec-WebSocket-Version */
	size_t ws_version_len;
	bool ws_protocol_jmap;		/* Sec-WebSocket-Protocol lists "jmap" */
	const char *last_event_id;	/* Last-Event-ID (EventSource reconnection) */
	size_t last_event_id_len;
	unsigned status;		/* HTTP_PARSE_ERROR: the status to answer (400, 431, 501, 505) */
	const char *error;		/* HTTP_PARSE_ERROR: short reason, safe for the client */
};

/*
 * Parse the request head at the start of p[0..len). Empty lines before the request
 * line are skipped (RFC 9112 §2.2). Returns HTTP_PARSE_DONE with *consumed_r the
 * octets of the head (through the empty line), HTTP_PARSE_MORE when the head is not
 * complete and shorter than max (give more bytes), or HTTP_PARSE_ERROR with r->status
 * and r->error: a head longer than max (431), a malformed line, a NUL or bare CR or LF
 * (400), obsolete line folding (400), several or invalid Content-Length (400),
 * Transfer-Encoding (501), an HTTP version other than 1.0 and 1.1 (505). Pointers in r
 * borrow p.
 */
enum http_parse_result http_request_parse(const unsigned char *p, size_t len, size_t max,
    struct http_request *r, size_t *consumed_r);

/*
 * The credentials of an Authorization value "Basic base64(user:pass)" (RFC 7617):
 * decoded into out (caller wipes it), *user_len_r the octets before the first ':',
 * the password follows the ':'. Returns the decoded length, or -1 (not Basic, bad
 * base64, no ':', longer than out_size).
 */
long http_basic_decode(const char *value, size_t len, unsigned char *out, size_t out_size,
    size_t *user_len_r);

/*
 * The token of an Authorization value "Bearer TOKEN" (RFC 6750 §2.1, the scheme
 * case-insensitive): *token_r points into value; returns its length, or -1 when value is
 * not a Bearer credential of the b64token syntax. The token is not judged here.
 */
long http_bearer_token(const char *value, size_t len, const char **token_r);

/* The length of r's target up to its query ('?'): the path of an origin-form target. */
size_t http_target_path_len(const struct http_request *r);

/*
 * Does the Accept value name the media type type (case-insensitive, parameters and
 * quality ignored)? False without an Accept field.
 */
bool http_accepts(const struct http_request *r, const char *type);

/* The reason phrase of status ("Bad Request"), "Error" if unknown. */
const char *http_reason(unsigned status);

#endif
