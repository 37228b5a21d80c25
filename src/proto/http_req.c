/*
 * http_req.c — the head of an HTTP/1.x request (see http_req.h). Runs in the login
 * process on bytes from any client of metrics_listen: everything is bounded and every
 * octet is checked; nothing is allocated.
 */
#include <string.h>
#include <strings.h>

#include "proto/http_req.h"

/* RFC 9110 §5.6.2 tchar */
static bool
is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* One line of data[0..len) from off: [off, *end_r) without the line end, *next_r after it.
 * Returns 1, 0 (no line end yet), -1 (bare CR). */
static int
next_line(const unsigned char *data, size_t len, size_t off, size_t *end_r, size_t *next_r)
{
	const unsigned char *nl = memchr(data + off, '\n', len - off);
	size_t e;

	if (nl == NULL)
		return 0;
	e = (size_t)(nl - data);
	*next_r = e + 1;
	if (e > off && data[e - 1] == '\r')
		e--;
	*end_r = e;
	return 1;
}

/* Does a field value list application/openmetrics-text (case-insensitive)? */
static bool
value_has_openmetrics(const unsigned char *v, size_t n)
{
	static const char want[] = "application/openmetrics-text";
	size_t k = sizeof(want) - 1;

	for (size_t i = 0; i + k <= n; i++) {
		size_t j;

		for (j = 0; j < k; j++) {
			unsigned char a = v[i + j];

			if (a >= 'A' && a <= 'Z')
				a = (unsigned char)(a - 'A' + 'a');
			if (a != (unsigned char)want[j])
				break;
		}
		if (j == k)
			return true;
	}
	return false;
}

static enum http_req_result
parse_request_line(const unsigned char *p, size_t n, struct http_req *req)
{
	size_t i = 0, sp1, sp2;

	/* method SP request-target SP HTTP/1.x (RFC 9112 §3) */
	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return HTTP_REQ_ERROR;
	sp1 = i++;
	while (i < n && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == sp1 + 1 || i >= n || p[i] != ' ')
		return HTTP_REQ_ERROR;
	sp2 = i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || p[i + 7] < '0' || p[i + 7] > '9')
		return HTTP_REQ_ERROR;
	req->method = (const char *)p;
	req->method_len = sp1;
	req->target = (const char *)p + sp1 + 1;
	req->target_len = sp2 - sp1 - 1;
	req->version_minor = (unsigned)(p[i + 7] - '0');
	return HTTP_REQ_DONE;
}

/* name ":" OWS value OWS (RFC 9112 §5); value octets: VCHAR, SP, HTAB, obs-text */
static enum http_req_result
parse_field(const unsigned char *p, size_t n, struct http_req *req)
{
	size_t i = 0;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return HTTP_REQ_ERROR;	/* also a folded line: it starts with SP/HTAB */
	for (size_t j = i + 1; j < n; j++)
		if ((p[j] < ' ' && p[j] != '\t') || p[j] == 0x7f)
			return HTTP_REQ_ERROR;
	if (i == 6 && strncasecmp((const char *)p, "accept", 6) == 0 &&
	    value_has_openmetrics(p + i + 1, n - i - 1))
		req->accept_openmetrics = true;
	return HTTP_REQ_DONE;
}

enum http_req_result
http_req_parse(const unsigned char *data, size_t len, struct http_req *req, size_t *used_r)
{
	size_t off = 0, end, next, nfields = 0;
	size_t lim = len < HTTP_REQ_MAX ? len : HTTP_REQ_MAX;
	bool first = true;
	int r;

	*used_r = 0;
	memset(req, 0, sizeof(*req));
	for (;;) {
		if ((r = next_line(data, lim, off, &end, &next)) == 0)
			return len >= HTTP_REQ_MAX ? HTTP_REQ_TOOBIG : HTTP_REQ_MORE;
		if (memchr(data + off, '\0', end - off) != NULL ||
		    memchr(data + off, '\r', end - off) != NULL)
			return HTTP_REQ_ERROR;
		if (first) {
			/* RFC 9112 §2.2: empty lines before the request line may be ignored;
			 * this server does not: a request starts with its request line */
			if (parse_request_line(data + off, end - off, req) != HTTP_REQ_DONE)
				return HTTP_REQ_ERROR;
			first = false;
		} else if (end == off) {
			*used_r = next;
			return HTTP_REQ_DONE;
		} else {
			if (++nfields > HTTP_REQ_FIELDS_MAX)
				return HTTP_REQ_TOOBIG;
			if (parse_field(data + off, end - off, req) != HTTP_REQ_DONE)
				return HTTP_REQ_ERROR;
		}
		off = next;
	}
}

size_t
http_req_path_len(const struct http_req *req)
{
	const char *q = memchr(req->target, '?', req->target_len);

	return q != NULL ? (size_t)(q - req->target) : req->target_len;
}
