/*
 * socketmap_login.c — Postfix's socketmap protocol on the socketmap_listen socket, in
 * the login process: "is this address a buzon user?", so Postfix can refuse unknown
 * recipients at RCPT time (virtual_mailbox_maps = socketmap:unix:PATH:buzon,
 * docs/postfix.md). One request at a time per connection, as Postfix sends them: the
 * next netstring is parsed once the answer to the previous one is out.
 *
 * Security role: the client is a local process (the socket's mode and group decide
 * which); its netstrings are parsed here, unprivileged and chrooted
 * (src/proto/socketmap.c, bounded). The lookup goes through the master to auth like an
 * LMTP RCPT (the address as given, without the +detail, the local part alone): no
 * password, no penalty. The answer tells whether a user exists, which the MTA needs and
 * the socket's permissions keep from anyone else. A malformed request closes the
 * connection.
 */
#include "login/login_private.h"
#include "lib/log.h"
#include "proto/socketmap.h"

#define SOCKETMAP_MAP_NAME	"buzon"
#define SOCKETMAP_IDLE_SECS	1800

struct socketmap_login {
	bool busy;		/* a lookup is with the master */
	uint32_t next_req;
};

static void *
socketmap_login_create(struct lconn *c)
{
	return xcalloc(1, sizeof(struct socketmap_login));
}

static void
socketmap_login_destroy(struct lconn *c, void *state)
{
	free(state);
}

static void
socketmap_login_greet(struct lconn *c)
{
	/* the client speaks first */
}

static void
reply(struct lconn *c, const char *status, const char *text)
{
	char out[IPC_USER_MAX + 64];

	if (socketmap_reply(out, sizeof(out), status, text) < 0)
		(void)socketmap_reply(out, sizeof(out), "TEMP", "reply too long");
	lconn_printf(c, "%s", out);
}

/* One request: answered at once, or sent to the master (busy until the answer). */
static void
request(struct lconn *c, struct socketmap_login *sm, const struct socketmap_req *q)
{
	const char *at;

	if (q->name_len != strlen(SOCKETMAP_MAP_NAME) ||
	    memcmp(q->name, SOCKETMAP_MAP_NAME, q->name_len) != 0) {
		reply(c, "PERM", "unknown map name (buzon has only \"" SOCKETMAP_MAP_NAME "\")");
		return;
	}
	/* Postfix also asks for "@domain" (a catch-all): never a user */
	at = memchr(q->key, '@', q->key_len);
	if (at == q->key || q->key_len > IPC_ADDR_MAX ||
	    memchr(q->key, '\0', q->key_len) != NULL) {
		reply(c, "NOTFOUND", NULL);
		return;
	}
	if (lconn_send_lookup(c, ++sm->next_req, q->key, q->key_len) < 0) {
		reply(c, "TEMP", "lookup failed");
		return;
	}
	sm->busy = true;
}

static void
socketmap_login_input(struct lconn *c, struct evbuffer *in)
{
	struct socketmap_login *sm = c->pstate;

	while (c->state == LC_CMD && !sm->busy) {
		size_t len = evbuffer_get_length(in), n, used = 0;
		struct socketmap_req q;
		enum socketmap_result r;
		unsigned char *data;

		if (len == 0 || lconn_output_full(c))
			return;
		/* a whole request: length digits, ':', the data, ',' */
		n = MIN(len, (size_t)SOCKETMAP_DATA_MAX + SOCKETMAP_LEN_DIGITS + 2);
		data = evbuffer_pullup(in, (ssize_t)n);
		r = socketmap_parse(data, n, &q, &used);
		if (r == SOCKETMAP_MORE)
			return;
		if (r == SOCKETMAP_ERROR) {
			log_info("socketmap-login disconnected ip=%s reason=malformed", c->ip);
			lconn_close_after(c);
			return;
		}
		lconn_deadline(c, SOCKETMAP_IDLE_SECS);
		request(c, sm, &q);
		evbuffer_drain(in, used);
	}
}

static void
socketmap_login_verified(struct lconn *c, uint32_t req, uint32_t status, const char *user)
{
	struct socketmap_login *sm = c->pstate;

	if (!sm->busy || req != sm->next_req)
		return;
	sm->busy = false;
	if (status == IPC_AUTH_OK)
		reply(c, "OK", user);
	else if (status == IPC_AUTH_FAIL)
		reply(c, "NOTFOUND", NULL);
	else
		reply(c, "TEMP", "lookup failed");
	lconn_deadline(c, SOCKETMAP_IDLE_SECS);
	lconn_resume(c);
}

static void
socketmap_login_unused(struct lconn *c)
{
	/* STARTTLS, kicks, goodbyes: none on this socket (the idle timeout just closes) */
}

static void
socketmap_login_auth_failed(struct lconn *c, uint32_t status)
{
	/* never: this front end sends no IPC_LOGIN_AUTH */
}

const struct login_proto_ops socketmap_login_ops = {
	.name = "socketmap",
	.ipc_proto = 0,
	.alpn = NULL,
	.create = socketmap_login_create,
	.destroy = socketmap_login_destroy,
	.greet = socketmap_login_greet,
	.input = socketmap_login_input,
	.tls_started = socketmap_login_unused,
	.auth_failed = socketmap_login_auth_failed,
	.timeout = socketmap_login_unused,
	.kicked = socketmap_login_unused,
	.verified = socketmap_login_verified,
};
