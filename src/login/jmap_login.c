/*
 * jmap_login.c — JMAP (RFC 8620) before login, in the login process: HTTP/1.1 requests
 * are parsed with src/proto/http under the pre-login bound (the request head within
 * LOGIN_INPUT_MAX); a request without credentials is answered 401 with a Basic
 * challenge (RFC 7617) and the connection kept; one with "Authorization: Basic" goes to
 * the master as IPC_LOGIN_AUTH (IPC_PROTO_JMAP), so failure delays, bans and limits are
 * IMAP's. After a successful login the connection is handed over with the request
 * still unread (head and what came of its body), and the user's mail process parses and
 * answers it and every later request (docs/jmap.md, "Login and hand-over"). Runs
 * unprivileged and chrooted; the decoded password is copied once into the IPC message
 * and wiped.
 */
#include "login/login_private.h"
#include "lib/log.h"
#include "proto/http.h"

#define JMAP_LOGIN_BODY_MAX	(10 * 1000 * 1000)	/* maxSizeRequest (src/jmap) */

struct jmap_login {
	size_t head_len;	/* the request being authenticated: its head's octets */
	bool has_body;
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

static const char challenge[] = "WWW-Authenticate: Basic realm=\"buzon\", charset=\"UTF-8\"\r\n";

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
		struct http_request r;
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
		if (r.auth == NULL) {
			/* RFC 9110 §11.6.1: the challenge; a body we do not read ends the connection */
			reply(c, 401, r.keep_alive && r.content_length == 0, challenge,
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
		n = http_basic_decode(r.auth, r.auth_len, cred, sizeof(cred), &ulen);
		if (n < 0) {
			reply(c, 401, false, challenge, "Malformed credentials");
			return;
		}
		jl->head_len = head;
		jl->has_body = r.content_length > 0;
		/* the request stays in the input: the mail process answers it after the login */
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
	reply(c, 401, keep, challenge, "Authentication failed");
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
