/*
 * http.c — the bounded HTTP/1.1 request-head parser (http.h). Pure; runs on attacker
 * bytes in the login and mail processes. The head is scanned once: the request line,
 * then header fields one line at a time, every line ended by CRLF (a bare LF or CR is
 * refused rather than guessed at, so no two parsers on the path can disagree on where a
 * request ends: RFC 9112 §11.2).
 */
#include "proto/http.h"

#include <string.h>
#include <strings.h>

#include "lib/base64.h"

static bool
is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return memchr("!#$%&'*+-.^_`|~", ch, 15) != NULL;
}

static bool
name_is(const unsigned char *p, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = p[i], b = (unsigned char)name[i];

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

/* Does the comma-separated list v[0..len) hold the token tok (case-insensitive)? */
static bool
list_has(const unsigned char *v, size_t len, const char *tok)
{
	size_t i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && name_is(v + s, e - s, tok))
			return true;
	}
	return false;
}

static enum http_parse_result
fail(struct http_request *r, unsigned status, const char *error)
{
	r->status = status;
	r->error = error;
	return HTTP_PARSE_ERROR;
}

static enum http_parse_result
parse_request_line(const unsigned char *p, size_t len, struct http_request *r)
{
	const unsigned char *sp1, *sp2;
	size_t mlen, vlen;

	if ((sp1 = memchr(p, ' ', len)) == NULL)
		return fail(r, 400, "malformed request line");
	mlen = (size_t)(sp1 - p);
	if (mlen == 0 || mlen > 16)
		return fail(r, 400, "malformed method");
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(p[i]))
			return fail(r, 400, "malformed method");
	if (mlen == 3 && memcmp(p, "GET", 3) == 0)
		r->method = HTTP_GET;
	else if (mlen == 4 && memcmp(p, "POST", 4) == 0)
		r->method = HTTP_POST;
	else if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
		r->method = HTTP_HEAD;
	else if (mlen == 7 && memcmp(p, "OPTIONS", 7) == 0)
		r->method = HTTP_OPTIONS;
	else
		r->method = HTTP_OTHER;
	sp2 = memchr(sp1 + 1, ' ', len - mlen - 1);
	if (sp2 == NULL || sp2 == sp1 + 1)
		return fail(r, 400, "malformed request line");
	r->target = (const char *)sp1 + 1;
	r->target_len = (size_t)(sp2 - sp1 - 1);
	if (r->target_len > HTTP_TARGET_MAX)
		return fail(r, 414, "request-target too long");
	for (size_t i = 0; i < r->target_len; i++)
		if (sp1[1 + i] <= 0x20 || sp1[1 + i] >= 0x7f)
			return fail(r, 400, "malformed request-target");
	vlen = len - (size_t)(sp2 + 1 - p);
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		if (vlen == 8 && memcmp(sp2 + 1, "HTTP/", 5) == 0)
			return fail(r, 505, "HTTP version not supported");
		return fail(r, 400, "malformed HTTP version");
	}
	if (sp2[8] == '1')
		r->http10 = false;
	else if (sp2[8] == '0')
		r->http10 = true;
	else
		return fail(r, 505, "HTTP version not supported");
	return HTTP_PARSE_DONE;
}

/* Content-Length: 1*DIGIT with an overflow check (RFC 9110 §8.6). */
static int
parse_length(const unsigned char *v, size_t len, uint64_t *n_r)
{
	uint64_t n = 0;

	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*n_r = n;
	return 0;
}

static enum http_parse_result
parse_field(const unsigned char *p, size_t len, struct http_request *r, bool *conn_close,
    bool *conn_keep)
{
	const unsigned char *colon = memchr(p, ':', len);
	const unsigned char *v;
	size_t nlen, vlen;

	if (p[0] == ' ' || p[0] == '\t')
		return fail(r, 400, "obsolete line folding");
	if (colon == NULL || colon == p)
		return fail(r, 400, "malformed header field");
	nlen = (size_t)(colon - p);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(p[i]))
			return fail(r, 400, "malformed header field name");
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (size_t i = 0; i < vlen; i++)
		if (v[i] < 0x20 && v[i] != '\t')
			return fail(r, 400, "control character in header field");
	if (name_is(p, nlen, "content-length")) {
		uint64_t n;

		if (r->has_length || parse_length(v, vlen, &n) < 0)
			return fail(r, 400, "bad Content-Length");
		r->has_length = true;
		r->content_length = n;
	} else if (name_is(p, nlen, "transfer-encoding")) {
		return fail(r, 501, "Transfer-Encoding not supported");
	} else if (name_is(p, nlen, "authorization")) {
		if (r->auth != NULL)
			return fail(r, 400, "several Authorization fields");
		r->auth = (const char *)v;
		r->auth_len = vlen;
	} else if (name_is(p, nlen, "host")) {
		if (r->host != NULL)
			return fail(r, 400, "several Host fields");
		r->host = (const char *)v;
		r->host_len = vlen;
	} else if (name_is(p, nlen, "content-type")) {
		r->content_type = (const char *)v;
		r->content_type_len = vlen;
	} else if (name_is(p, nlen, "if-none-match")) {
		if (r->if_none_match == NULL) {
			r->if_none_match = (const char *)v;
			r->if_none_match_len = vlen;
		}
	} else if (name_is(p, nlen, "accept")) {
		if (r->accept == NULL) {
			r->accept = (const char *)v;
			r->accept_len = vlen;
		}
	} else if (name_is(p, nlen, "connection")) {
		if (list_has(v, vlen, "close"))
			*conn_close = true;
		if (list_has(v, vlen, "keep-alive"))
			*conn_keep = true;
		if (list_has(v, vlen, "upgrade"))
			r->connection_upgrade = true;
	} else if (name_is(p, nlen, "upgrade")) {
		if (list_has(v, vlen, "websocket"))
			r->upgrade_websocket = true;
	} else if (name_is(p, nlen, "sec-websocket-key")) {
		r->ws_key = (const char *)v;
		r->ws_key_len = vlen;
	} else if (name_is(p, nlen, "sec-websocket-version")) {
		r->ws_version = (const char *)v;
		r->ws_version_len = vlen;
	} else if (name_is(p, nlen, "sec-websocket-protocol")) {
		if (list_has(v, vlen, "jmap"))
			r->ws_protocol_jmap = true;
	} else if (name_is(p, nlen, "last-event-id")) {
		r->last_event_id = (const char *)v;
		r->last_event_id_len = vlen;
	} else if (name_is(p, nlen, "expect")) {
		if (!name_is(v, vlen, "100-continue"))
			return fail(r, 417, "unsupported expectation");
		r->expect_continue = true;
	}
	return HTTP_PARSE_DONE;
}

enum http_parse_result
http_request_parse(const unsigned char *p, size_t len, size_t max, struct http_request *r,
    size_t *consumed_r)
{
	size_t pos = 0, nfields = 0;
	bool conn_close = false, conn_keep = false, line1 = true;
	enum http_parse_result res;

	memset(r, 0, sizeof(*r));
	if (len > max)
		len = max;
	/* RFC 9112 §2.2: at least one empty line before the request line may be ignored */
	while (pos + 1 < len && p[pos] == '\r' && p[pos + 1] == '\n' && pos < 8)
		pos += 2;
	for (;;) {
		const unsigned char *lf, *line = p + pos;
		size_t llen;

		lf = memchr(line, '\n', len - pos);
		if (lf == NULL) {
			if (memchr(line, '\0', len - pos) != NULL)
				return fail(r, 400, "NUL in request head");
			if (len >= max)
				return fail(r, 431, "request head too large");
			return HTTP_PARSE_MORE;
		}
		llen = (size_t)(lf - line);
		if (llen == 0 || line[llen - 1] != '\r')
			return fail(r, 400, "bare LF in request head");
		llen--;
		if (memchr(line, '\r', llen) != NULL || memchr(line, '\0', llen) != NULL)
			return fail(r, 400, "bare CR or NUL in request head");
		pos += llen + 2;
		if (line1) {
			if ((res = parse_request_line(line, llen, r)) != HTTP_PARSE_DONE)
				return res;
			line1 = false;
			continue;
		}
		if (llen == 0)
			break;
		if (++nfields > HTTP_FIELDS_MAX)
			return fail(r, 431, "too many header fields");
		if ((res = parse_field(line, llen, r, &conn_close, &conn_keep)) != HTTP_PARSE_DONE)
			return res;
	}
	r->keep_alive = r->http10 ? conn_keep && !conn_close : !conn_close;
	*consumed_r = pos;
	return HTTP_PARSE_DONE;
}

long
http_basic_decode(const char *value, size_t len, unsigned char *out, size_t out_size,
    size_t *user_len_r)
{
	const unsigned char *colon;
	size_t i = 0, n;

	if (len < 6 || !name_is((const unsigned char *)value, 5, "basic") || value[5] != ' ')
		return -1;
	i = 6;
	while (i < len && value[i] == ' ')
		i++;
	if (base64_decode(value + i, len - i, BASE64_STRICT, out, out_size, &n) < 0 || n == 0)
		return -1;
	if ((colon = memchr(out, ':', n)) == NULL)
		return -1;
	*user_len_r = (size_t)(colon - out);
	return (long)n;
}

static bool
is_b64token(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '/';
}

long
http_bearer_token(const char *value, size_t len, const char **token_r)
{
	size_t i, start, end;

	if (len < 7 || !name_is((const unsigned char *)value, 6, "bearer") || value[6] != ' ')
		return -1;
	for (i = 7; i < len && value[i] == ' '; i++)
		;
	start = i;
	/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
	while (i < len && is_b64token((unsigned char)value[i]))
		i++;
	end = i;
	while (i < len && value[i] == '=')
		i++;
	if (end == start || i != len)
		return -1;
	*token_r = value + start;
	return (long)(len - start);
}

const char *
http_reason(unsigned status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

size_t
http_target_path_len(const struct http_request *r)
{
	const char *q = memchr(r->target, '?', r->target_len);

	return q != NULL ? (size_t)(q - r->target) : r->target_len;
}

bool
http_accepts(const struct http_request *r, const char *type)
{
	size_t tlen = strlen(type), i = 0;

	if (r->accept == NULL)
		return false;
	while (i < r->accept_len) {
		size_t start, end;

		while (i < r->accept_len && (r->accept[i] == ' ' || r->accept[i] == ','))
			i++;
		start = i;
		while (i < r->accept_len && r->accept[i] != ',')
			i++;
		end = start;
		while (end < i && r->accept[end] != ';' && r->accept[end] != ' ')
			end++;
		if (end - start == tlen && strncasecmp(r->accept + start, type, tlen) == 0)
			return true;
	}
	return false;
}
