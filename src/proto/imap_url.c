/*
 * imap_url.c — the IMAP URL parser of imap_url.h (RFC 5092 ABNF, restricted to
 * imessagepart). Runs in the imap session process on CATENATE's URL arguments. A single
 * left-to-right pass over bounded input: every decoded field is copied into a
 * fixed-size array after its length is checked, numbers go through one parser with
 * per-digit overflow checks, and error texts never echo client bytes.
 */
#include "proto/imap_url.h"

#include <string.h>

#include "lib/util.h"

struct cursor {
	const char *s;
	size_t len;
	size_t pos;
};

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5092 achar without pct-encoded: unreserved / sub-delims-sh / "&" / "=" */
static bool
is_achar(unsigned char c)
{
	return is_alnum(c) || memchr("-._~!$'()*+,&=", c, 14) != NULL;
}

/* bchar without pct-encoded: achar / ":" / "@" / "/" */
static bool
is_bchar(unsigned char c)
{
	return is_achar(c) || c == ':' || c == '@' || c == '/';
}

/* RFC 3986 reg-name octets (no pct-encoding decoded here): unreserved / sub-delims */
static bool
is_host_char(unsigned char c)
{
	return is_alnum(c) || memchr("-._~!$&'()*+,=", c, 14) != NULL;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
at_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

/* Consume the case-insensitive keyword kw if it is next. */
static bool
take(struct cursor *c, const char *kw)
{
	size_t n = strlen(kw);

	if (c->len - c->pos < n || !mem_ieq(c->s + c->pos, n, kw))
		return false;
	c->pos += n;
	return true;
}

/*
 * A run of chars accepted by ok (with pct-encoding), decoded into out[0..max) and
 * NUL-terminated. Returns the decoded length, or -1 (empty, over max, bad or NUL
 * escape).
 */
static long
take_encoded(struct cursor *c, bool (*ok)(unsigned char), char *out, size_t max)
{
	size_t n = 0;

	while (!at_end(c)) {
		unsigned char ch = (unsigned char)c->s[c->pos];

		if (ch == '%') {
			int hi, lo;

			if (c->len - c->pos < 3)
				return -1;
			hi = hexval((unsigned char)c->s[c->pos + 1]);
			lo = hexval((unsigned char)c->s[c->pos + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			ch = (unsigned char)(hi * 16 + lo);
			c->pos += 3;
		} else if (ok(ch)) {
			c->pos++;
		} else {
			break;
		}
		if (n >= max)
			return -1;
		out[n++] = (char)ch;
	}
	if (n == 0)
		return -1;
	out[n] = '\0';
	return (long)n;
}

/* 1*DIGIT up to max (RFC 5092 number: 32 bits); nz: no 0. No leading-zero check:
 * RFC 3501 numbers may have them. */
static int
take_number(struct cursor *c, uint64_t max, bool nz, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t start = c->pos;

	while (!at_end(c) && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
		unsigned d = (unsigned)(c->s[c->pos] - '0');

		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
		c->pos++;
	}
	if (c->pos == start || (nz && v == 0))
		return -1;
	*v_r = v;
	return 0;
}

/* iserver after "imap://": [iuserinfo "@"] host [":" port], up to the "/" of the path. */
static int
parse_server(struct cursor *c, struct imap_url *url, const char **error_r)
{
	const char *at, *slash;
	size_t end, n;
	uint64_t port;

	slash = memchr(c->s + c->pos, '/', c->len - c->pos);
	end = slash != NULL ? (size_t)(slash - c->s) : c->len;
	at = memchr(c->s + c->pos, '@', end - c->pos);
	if (at != NULL) {
		struct cursor u = { c->s, (size_t)(at - c->s), c->pos };

		/* iuserinfo = enc-user [iauth] / [enc-user] iauth */
		if (!(u.len - u.pos >= 6 && mem_ieq(u.s + u.pos, 6, ";AUTH="))) {
			if (take_encoded(&u, is_achar, url->user, IMAP_URL_USER_MAX) < 0) {
				*error_r = "Invalid user in URL";
				return -1;
			}
			url->has_user = true;
		}
		if (!at_end(&u)) {
			char auth[IMAP_URL_USER_MAX + 1];

			if (!take(&u, ";AUTH=")) {
				*error_r = "Invalid user in URL";
				return -1;
			}
			if (u.len - u.pos == 1 && u.s[u.pos] == '*')
				u.pos++;
			else if (take_encoded(&u, is_achar, auth, IMAP_URL_USER_MAX) < 0 ||
			    !at_end(&u)) {
				*error_r = "Invalid AUTH in URL";
				return -1;
			}
		}
		c->pos = (size_t)(at - c->s) + 1;
	}
	/* host = IP-literal / IPv4address / reg-name */
	n = 0;
	if (!at_end(c) && c->s[c->pos] == '[') {
		while (!at_end(c) && c->s[c->pos] != ']') {
			unsigned char ch = (unsigned char)c->s[c->pos];

			if (n > 0 && !(hexval(ch) >= 0 || ch == ':' || ch == '.' || ch == 'v' ||
			    ch == 'V'))
				break;
			if (n >= IMAP_URL_HOST_MAX - 1)
				break;
			url->host[n++] = (char)ch;
			c->pos++;
		}
		if (at_end(c) || c->s[c->pos] != ']' || n < 2) {
			*error_r = "Invalid host in URL";
			return -1;
		}
		url->host[n++] = ']';
		c->pos++;
	} else {
		while (!at_end(c) && (is_host_char((unsigned char)c->s[c->pos]) ||
		    c->s[c->pos] == '%')) {
			if (n >= IMAP_URL_HOST_MAX) {
				*error_r = "Invalid host in URL";
				return -1;
			}
			url->host[n++] = c->s[c->pos++];
		}
	}
	url->host[n] = '\0';
	if (n == 0) {
		*error_r = "Invalid host in URL";
		return -1;
	}
	if (!at_end(c) && c->s[c->pos] == ':') {
		c->pos++;
		if (take_number(c, 65535, true, &port) < 0) {
			*error_r = "Invalid port in URL";
			return -1;
		}
		url->port = (uint16_t)port;
	}
	if (c->pos != end) {
		*error_r = "Invalid host in URL";
		return -1;
	}
	return 0;
}

/* A field ending in '/' before the next ";KEY=" gives that '/' back: "INBOX/;UID=1". */
static bool
strip_slash(struct cursor *c, char *field, size_t *len)
{
	if (*len < 2 || field[*len - 1] != '/' || c->s[c->pos - 1] != '/')
		return false;
	field[--*len] = '\0';
	c->pos--;
	return true;
}

/* imessagepart = imailbox-ref iuid [isection] [ipartial], after the path's "/". */
static int
parse_messagepart(struct cursor *c, struct imap_url *url, const char **error_r)
{
	long n;
	uint64_t v;

	n = take_encoded(c, is_bchar, url->mailbox, IMAP_URL_MAILBOX_MAX + 1);
	if (n < 0) {
		*error_r = "Invalid mailbox in URL";
		return -1;
	}
	url->mailbox_len = (size_t)n;
	if (take(c, ";UIDVALIDITY=")) {
		if (take_number(c, UINT32_MAX, true, &v) < 0) {
			*error_r = "Invalid UIDVALIDITY in URL";
			return -1;
		}
		url->uidvalidity = (uint32_t)v;
	} else if (!strip_slash(c, url->mailbox, &url->mailbox_len)) {
		*error_r = "URL names no message";
		return -1;
	}
	if (url->mailbox_len > IMAP_URL_MAILBOX_MAX) {
		*error_r = "Invalid mailbox in URL";
		return -1;
	}
	if (!take(c, "/;UID=") || take_number(c, UINT32_MAX, true, &v) < 0) {
		*error_r = "URL names no message";
		return -1;
	}
	url->uid = (uint32_t)v;
	if (take(c, "/;SECTION=")) {
		n = take_encoded(c, is_bchar, url->section, IMAP_URL_SECTION_MAX + 1);
		if (n < 0) {
			*error_r = "Invalid SECTION in URL";
			return -1;
		}
		url->section_len = (size_t)n;
		url->has_section = true;
		if (!at_end(c))
			(void)strip_slash(c, url->section, &url->section_len);
		if (url->section_len > IMAP_URL_SECTION_MAX) {
			*error_r = "Invalid SECTION in URL";
			return -1;
		}
	}
	if (take(c, "/;PARTIAL=")) {
		if (take_number(c, UINT32_MAX, false, &v) < 0) {
			*error_r = "Invalid PARTIAL in URL";
			return -1;
		}
		url->partial_offset = v;
		if (!at_end(c) && c->s[c->pos] == '.') {
			c->pos++;
			if (take_number(c, UINT32_MAX, true, &v) < 0) {
				*error_r = "Invalid PARTIAL in URL";
				return -1;
			}
			url->partial_length = v;
		}
		url->has_partial = true;
	}
	if (!at_end(c)) {
		/* ";EXPIRE=", ";URLAUTH=" (RFC 4467) and anything else */
		*error_r = "Unsupported URL";
		return -1;
	}
	return 0;
}

int
imap_url_parse(const char *s, size_t len, struct imap_url *url, const char **error_r)
{
	struct cursor c = { s, len, 0 };

	memset(url, 0, sizeof(*url));
	if (len == 0 || len > IMAP_URL_MAX || memchr(s, '\0', len) != NULL) {
		*error_r = "Invalid URL";
		return -1;
	}
	if (take(&c, "imap://")) {
		url->absolute = true;
		if (parse_server(&c, url, error_r) < 0)
			return -1;
	} else if (c.len >= 2 && s[0] == '/' && s[1] == '/') {
		/* inetwork-path without the scheme */
		*error_r = "Unsupported URL";
		return -1;
	}
	if (!take(&c, "/")) {
		*error_r = "Invalid URL";
		return -1;
	}
	return parse_messagepart(&c, url, error_r);
}
