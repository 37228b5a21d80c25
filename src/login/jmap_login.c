/*
 * jmap_login.c — JMAP (RFC 8620) before login, in the login process: HTTP/1.1 requests
 * are parsed with src/proto/http under the pre-login bound (the request head within
 * LOGIN_INPUT_MAX); a request without credentials is answered 401 with a Basic
 * challenge (RFC 7617) and the connection kept; one with "Authorization: Basic" goes to
 * the master as IPC_LOGIN_AUTH (IPC_PROTO_JMAP), so failure delays, bans and limits are
 * IMAP's; "Authorization: Bearer" (RFC 6750, when OAuth is configured: docs/oauth.md)
 * goes the same way as OAUTHBEARER, the token judged by auth. After a successful login the connection is handed over with the request
 * still unread (head and what came of its body), and the user's mail process parses and
 * answers it and every later request (docs/jmap.md, "Login and hand-over"). Runs
 * unprivileged and chrooted; the decoded password is copied once into the IPC message
 * and wiped.
 */
#include "login/login_private.h"
#include "lib/log.h"
#include "proto/autoconfig.h"
#include "proto/http.h"
#include "proto/sasl.h"
#include "proto/webmail.h"

/* the larger of maxSizeRequest and maxSizeUpload (src/jmap), which the mail process
 * checks per route after the hand-over: no body is read here */
#define JMAP_LOGIN_BODY_MAX	(50 * 1000 * 1000)

struct jmap_login {
	size_t head_len;	/* the request being authenticated: its head's octets */
	bool has_body;
	bool bearer;		/* ... with a Bearer token */
	size_t drain;		/* a refused request's head, dropped before parsing on */
};

static void *
jl_create(struct lconn *c)
{
	(void)c;
	return xcalloc(1, sizeof(struct jmap_login));
}

static void
jl_destroy(struct lconn *c, void *state)
{
	(void)c;
	free(state);
}

static void
jl_greet(struct lconn *c)
{
	(void)c;	/* the client speaks first */
}

static void
reply(struct lconn *c, unsigned status, bool keep, const char *extra, const char *text)
{
	lconn_printf(c, "HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n%s", status,
	    http_reason(status), strlen(text), extra, keep ? "" : "Connection: close\r\n", text);
	if (!keep)
		lconn_close_after(c);
}

/* A document (autoconfig): 200 with its type; HEAD gets the head only. */
static void
reply_doc(struct lconn *c, bool keep, bool head_only, const char *type, const struct buf *b)
{
	lconn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: max-age=3600\r\n%s\r\n", type, b->len,
	    keep ? "" : "Connection: close\r\n");
	if (!head_only && b->len > 0)
		lconn_printf(c, "%.*s", (int)b->len, (const char *)b->data);
	if (!keep)
		lconn_close_after(c);
}

/*
 * Client autoconfiguration before login (docs/autoconfig.md), when autoconfig_host is
 * set: Thunderbird's GET and Outlook's POST. Returns false while Outlook's body is
 * still coming (call again with more input), true once the request is answered (its
 * octets drained, or the connection closing).
 */
static bool
autoconfig(struct lconn *c, const struct http_request *r, enum autoconfig_route route,
    struct evbuffer *in, size_t head)
{
	const struct config *cfg = lconn_config(c);
	struct autoconfig_params ap = {
		.host = cfg->autoconfig_host, .imap_port = cfg->imap_port,
		.imaps_port = cfg->imaps_port, .pop3_port = cfg->pop3_port,
		.pop3s_port = cfg->pop3s_port, .submission_port = cfg->autoconfig_submission_port,
		.address = cfg->autoconfig_address,
	};
	char addr[AUTOCONFIG_ADDR_MAX + 1];
	const char *domain = NULL;
	struct buf b;
	int found;

	if (route == AUTOCONFIG_THUNDERBIRD) {
		if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
			reply(c, 405, false, "Allow: GET, HEAD\r\n", "Method not allowed");
			return true;
		}
		if (r->content_length > 0) {
			reply(c, 400, false, "", "A GET request has no body");
			return true;
		}
		found = autoconfig_query_address(r->target, r->target_len, addr, sizeof(addr));
		if (found > 0)
			domain = strrchr(addr, '@') + 1;
		buf_init(&b, 16 * 1024);
		if (autoconfig_thunderbird(&ap, domain, &b) < 0) {
			buf_deinit(&b);
			reply(c, 500, false, "", "Internal error");
			return true;
		}
		log_info("autoconfig ip=%s client=thunderbird", c->ip);
		reply_doc(c, r->keep_alive, r->method == HTTP_HEAD, "application/xml; charset=utf-8",
		    &b);
		buf_deinit(&b);
		evbuffer_drain(in, head);
		return true;
	}
	if (r->method != HTTP_POST) {
		reply(c, 405, false, "Allow: POST\r\n", "Method not allowed");
		return true;
	}
	if (r->content_length > AUTOCONFIG_BODY_MAX || head + r->content_length > LOGIN_INPUT_MAX) {
		reply(c, 413, false, "", "Request too large");
		return true;
	}
	if (evbuffer_get_length(in) < head + r->content_length)
		return false;	/* the rest of the body */
	found = autoconfig_outlook_address(evbuffer_pullup(in, (ssize_t)(head +
	    r->content_length)) + head, (size_t)r->content_length, addr, sizeof(addr));
	buf_init(&b, 16 * 1024);
	if (autoconfig_outlook(&ap, found > 0 ? addr : NULL, &b) < 0) {
		buf_deinit(&b);
		reply(c, 500, false, "", "Internal error");
		return true;
	}
	log_info("autoconfig ip=%s client=outlook address=%s", c->ip, found > 0 ? "given" :
	    found == 0 ? "none" : "malformed");
	reply_doc(c, r->keep_alive, false, "text/xml; charset=utf-8", &b);
	buf_deinit(&b);
	evbuffer_drain(in, head + (size_t)r->content_length);
	return true;
}

#define BASIC_CHALLENGE	"WWW-Authenticate: Basic realm=\"buzon\", charset=\"UTF-8\"\r\n"
#define BEARER_CHALLENGE "WWW-Authenticate: Bearer realm=\"buzon\"\r\n"

/* RFC 9110 §11.6.1: the schemes we take; after a refused token, RFC 6750 §3.1's error. */
static const char *
challenge(const struct lconn *c, bool bad_token)
{
	if (!loauth_offered(c))
		return BASIC_CHALLENGE;
	return bad_token ? BASIC_CHALLENGE "WWW-Authenticate: Bearer realm=\"buzon\", "
	    "error=\"invalid_token\"\r\n" : BASIC_CHALLENGE BEARER_CHALLENGE;
}

/*
 * The built-in webmail's files before login (docs/webmail.md), when webmail is on: they
 * are public, so a request with credentials gets them too. The policy confines the page
 * to its own origin and the message reader (a sandboxed srcdoc frame with its own
 * policy) to what the reader allows.
 */
static const char webmail_headers[] =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:; "
    "connect-src 'self'; frame-src 'self' blob:; font-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
    "X-Frame-Options: DENY\r\nCross-Origin-Opener-Policy: same-origin\r\n";

static void
webmail(struct lconn *c, const struct http_request *r, enum webmail_route route,
    const struct webmail_file *f)
{
	bool keep = r->keep_alive && r->content_length == 0;

	if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
		reply(c, 405, false, "Allow: GET, HEAD\r\n", "Method not allowed");
		return;
	}
	if (route != WEBMAIL_FILE) {
		lconn_printf(c, "HTTP/1.1 301 Moved Permanently\r\nLocation: /webmail/\r\n"
		    "Content-Length: 0\r\nCache-Control: no-cache\r\n%s\r\n",
		    keep ? "" : "Connection: close\r\n");
		if (!keep)
			lconn_close_after(c);
		return;
	}
	if (f == NULL) {
		reply(c, 404, keep, webmail_headers, "Not found");
		return;
	}
	if (webmail_not_modified(r->if_none_match, r->if_none_match_len, f->etag)) {
		lconn_printf(c, "HTTP/1.1 304 Not Modified\r\nETag: %s\r\n"
		    "Cache-Control: no-cache\r\n%s%s\r\n", f->etag, webmail_headers,
		    keep ? "" : "Connection: close\r\n");
	} else {
		lconn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		    "ETag: %s\r\nCache-Control: no-cache\r\n%s%s\r\n", f->type, f->len, f->etag,
		    webmail_headers, keep ? "" : "Connection: close\r\n");
		if (r->method == HTTP_GET)	/* static: referenced, not copied */
			evbuffer_add_reference(bufferevent_get_output(c->bev), f->data, f->len,
			    NULL, NULL);
	}
	if (!keep)
		lconn_close_after(c);
}

static void
jl_input(struct lconn *c, struct evbuffer *in)
{
	struct jmap_login *jl = c->pstate;

	if (jl->drain > 0 && c->state == LC_CMD) {
		evbuffer_drain(in, MIN(jl->drain, evbuffer_get_length(in)));
		jl->drain = 0;
	}
	while (c->state == LC_CMD && !lconn_output_full(c)) {
		size_t len = evbuffer_get_length(in), head, ulen;
		const unsigned char *p;
		const char *token;
		struct http_request r;
		enum autoconfig_route route;
		enum webmail_route wroute;
		const struct webmail_file *wfile;
		unsigned char cred[IPC_PASS_MAX + IPC_USER_MAX + 2];
		long n;

		if (len == 0)
			return;
		if (len > LOGIN_INPUT_MAX)
			len = LOGIN_INPUT_MAX;
		p = evbuffer_pullup(in, (ssize_t)len);
		switch (http_request_parse(p, len, LOGIN_INPUT_MAX, &r, &head)) {
		case HTTP_PARSE_MORE:
			return;
		case HTTP_PARSE_ERROR:
			log_info("jmap-login bad request ip=%s status=%u", c->ip, r.status);
			reply(c, r.status, false, "", r.error);
			return;
		case HTTP_PARSE_DONE:
			break;
		}
		if (lconn_config(c)->webmail && (wroute = webmail_route(webmail_files,
		    webmail_files_count, r.target, r.target_len, &wfile)) != WEBMAIL_NONE) {
			webmail(c, &r, wroute, wfile);
			evbuffer_drain(in, head);
			continue;
		}
		if (lconn_config(c)->autoconfig_host != NULL &&
		    (route = autoconfig_route(r.target, r.target_len)) != AUTOCONFIG_NONE) {
			if (!autoconfig(c, &r, route, in, head))
				return;
			continue;
		}
		if (r.auth == NULL) {
			/* RFC 9110 §11.6.1: the challenge; a body we do not read ends the connection */
			reply(c, 401, r.keep_alive && r.content_length == 0, challenge(c, false),
			    "Authentication required");
			evbuffer_drain(in, head);
			continue;
		}
		if (r.has_length && r.content_length > JMAP_LOGIN_BODY_MAX) {
			reply(c, 413, false, "", "Request too large");
			return;
		}
		if (!lconn_cleartext_ok(c)) {
			log_info("jmap-login refused ip=%s reason=cleartext", c->ip);
			reply(c, 403, false, "", "Credentials over plaintext HTTP are refused");
			return;
		}
		jl->head_len = head;
		jl->has_body = r.content_length > 0;
		jl->bearer = false;
		/* the request stays in the input: the mail process answers it after the login */
		n = http_bearer_token(r.auth, r.auth_len, &token);
		if (n > 0 && loauth_offered(c) && (size_t)n <= SASL_OAUTH_TOKEN_MAX) {
			/* a copy: the request stays in the input, and the copy is wiped */
			char *tok = xmalloc((size_t)n);

			memcpy(tok, token, (size_t)n);
			jl->bearer = true;
			lconn_send_auth(c, "", "OAUTHBEARER", "", 0, tok, (size_t)n);
			free(tok);
			return;
		}
		n = http_basic_decode(r.auth, r.auth_len, cred, sizeof(cred), &ulen);
		if (n < 0) {
			reply(c, 401, false, challenge(c, false), "Malformed credentials");
			return;
		}
		lconn_send_auth(c, "", "PLAIN", (const char *)cred, ulen, (char *)cred + ulen + 1,
		    (size_t)n - ulen - 1);
		secret_wipe(cred, sizeof(cred));
		return;
	}
}

static void
jl_tls_started(struct lconn *c)
{
	(void)c;	/* no STARTTLS in HTTP */
}

static void
jl_auth_failed(struct lconn *c, uint32_t status)
{
	struct jmap_login *jl = c->pstate;
	bool keep;

	/* the request and its credentials are answered here: dropped before the next */
	jl->drain = jl->head_len;
	if (status == IPC_AUTH_TEMPFAIL) {
		reply(c, 503, false, "Retry-After: 5\r\n", "Temporary failure, try again later");
		return;
	}
	if (status == IPC_AUTH_LIMIT) {
		reply(c, 429, false, "Retry-After: 5\r\n", "Too many connections");
		return;
	}
	keep = !jl->has_body && ++c->auth_fails < LOGIN_MAX_AUTH_FAILS;
	reply(c, 401, keep, challenge(c, jl->bearer), "Authentication failed");
}

static void
jl_timeout(struct lconn *c)
{
	reply(c, 408, false, "", "Request timeout");
}

static void
jl_kicked(struct lconn *c)
{
	reply(c, 503, false, "Retry-After: 5\r\n", "Too many connections");
}

const struct login_proto_ops jmap_login_ops = {
	.name = "jmap",
	.ipc_proto = IPC_PROTO_JMAP,
	.alpn = "http/1.1",
	.create = jl_create,
	.destroy = jl_destroy,
	.greet = jl_greet,
	.input = jl_input,
	.tls_started = jl_tls_started,
	.auth_failed = jl_auth_failed,
	.timeout = jl_timeout,
	.kicked = jl_kicked,
};
