/*
 * login.c — the login process (see login.h). One process multiplexes many pre-auth
 * connections with libevent. Security role: it parses every byte a client sends before
 * authentication, so it runs as login_user in an empty chroot with no way back to
 * root; it holds the TLS sessions (the key was loaded before the drop); passwords are
 * passed to the master (and on to auth) and wiped here at once. After a successful
 * login a plaintext connection's fd is handed to the user's mail process through the
 * master; a TLS connection stays here and is proxied over a socketpair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/tls.h"
#include "login/login.h"
#include "proto/imap_parser.h"
#include "proto/sasl.h"
#include "lib/buf.h"

#define LOGIN_MAX_LISTENERS	32
#define LOGIN_MAX_PER_IP	50		/* pre-auth connections per IP */
#define LOGIN_MAX_BAD		3		/* bad commands before BYE */
#define LOGIN_MAX_AUTH_FAILS	3		/* failed logins per connection */
#define LOGIN_INPUT_MAX		(12 * 1024)	/* input buffered while pre-auth */
#define PROXY_HIGH		(256 * 1024)	/* output backlog before we stop reading */
#define LOGIN_IPC_FD		3

enum lconn_state {
	LC_CMD,			/* reading commands */
	LC_SASL_PLAIN,		/* waiting for the PLAIN response line */
	LC_SASL_LOGIN_USER,	/* waiting for the LOGIN user name line */
	LC_SASL_LOGIN_PASS,	/* waiting for the LOGIN password line */
	LC_AUTH_WAIT,		/* credentials sent to the master */
	LC_STARTTLS,		/* "OK Begin TLS" queued, switching when flushed */
	LC_PROXY,		/* logged in over TLS: proxying */
	LC_CLOSING,		/* flushing the last reply */
};

struct login;

struct lconn {
	struct login *l;
	struct lconn *prev, *next;
	int fd;
	struct bufferevent *bev;
	bool tls;		/* TLS active on this connection */
	bool implicit_tls;	/* imaps listener */
	bool loopback;		/* client address == server address (same host) */
	char ip[INET6_ADDRSTRLEN];
	enum lconn_state state;
	struct imap_parser *parser;
	unsigned bad, auth_fails;
	char tag[80];
	char *sasl_user;	/* LOGIN mechanism: user name until the password comes */
	uint32_t req_id;
	size_t pending_len;	/* input bytes handed over with the credentials */
	int proxy_fd;		/* our end of the socketpair to the mail process */
	struct bufferevent *proxy;
	struct event *deadline;
};

struct login {
	struct event_base *base;
	struct config *cfg;
	struct tls_server *tls;
	struct evconnlistener *listeners[LOGIN_MAX_LISTENERS];
	bool listener_tls[LOGIN_MAX_LISTENERS];
	unsigned nlisteners;
	struct event *ipc_ev;
	struct lconn *conns;
	unsigned nconns;
	uint32_t next_req;
	bool draining;
};

static void lconn_read_cb(struct bufferevent *bev, void *ctx);
static void lconn_event_cb(struct bufferevent *bev, short what, void *ctx);
static void lconn_input(struct lconn *c);
static void lconn_write_cb(struct bufferevent *bev, void *ctx);

static void
lconn_destroy(struct lconn *c)
{
	struct login *l = c->l;

	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* TLS bevs close their fd; plain ones do not */
	if (!c->tls && c->fd >= 0)
		close(c->fd);
	if (c->proxy != NULL)
		bufferevent_free(c->proxy);
	else if (c->proxy_fd >= 0)
		close(c->proxy_fd);
	imap_parser_destroy(&c->parser);
	if (c->sasl_user != NULL) {
		secret_wipe(c->sasl_user, strlen(c->sasl_user));
		free(c->sasl_user);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	l->nconns--;
	free(c);
	if (l->draining && l->nconns == 0)
		event_base_loopexit(l->base, NULL);
}

static void
lconn_printf(struct lconn *c, const char *fmt, ...) PRINTF(2, 3);

static void
lconn_printf(struct lconn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

/* Write the reply and close once it has been flushed. */
static void
lconn_close_after(struct lconn *c)
{
	c->state = LC_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		lconn_destroy(c);
}

static bool
lconn_cleartext_ok(const struct lconn *c)
{
	switch (c->l->cfg->auth_allow_cleartext) {
	case CLEARTEXT_YES: return true;
	case CLEARTEXT_LOOPBACK: return c->tls || c->loopback;
	case CLEARTEXT_NO: return c->tls;
	}
	return false;
}

static void
lconn_capability(struct lconn *c, struct buf *b)
{
	(void)buf_append_str(b, "IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+");
	if (!c->tls && c->l->tls != NULL)
		(void)buf_append_str(b, " STARTTLS");
	if (lconn_cleartext_ok(c))
		(void)buf_append_str(b, " AUTH=PLAIN AUTH=LOGIN");
	else
		(void)buf_append_str(b, " LOGINDISABLED");
}

static void
lconn_greet(struct lconn *c)
{
	struct buf b;

	buf_init(&b, 1024);
	lconn_capability(c, &b);
	lconn_printf(c, "* OK [CAPABILITY %s] buzon ready.\r\n", buf_cstr(&b));
	buf_deinit(&b);
}

static void
lconn_bad(struct lconn *c, const char *tag, const char *text)
{
	if (tag != NULL)
		lconn_printf(c, "%s BAD %s\r\n", tag, text);
	else
		lconn_printf(c, "* BAD %s\r\n", text);
	if (++c->bad >= LOGIN_MAX_BAD) {
		lconn_printf(c, "* BYE Too many invalid commands.\r\n");
		lconn_close_after(c);
	}
}

static void
deadline_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct lconn *c = ctx;

	if (c->state == LC_AUTH_WAIT || c->state == LC_PROXY)
		return;
	log_info("imap-login timeout ip=%s", c->ip);
	if (c->state == LC_STARTTLS || c->bev == NULL) {
		lconn_destroy(c);
		return;
	}
	lconn_printf(c, "* BYE Disconnected for inactivity.\r\n");
	lconn_close_after(c);
}

static void
lconn_setup_bev(struct lconn *c)
{
	bufferevent_setcb(c->bev, lconn_read_cb, lconn_write_cb, lconn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, LOGIN_INPUT_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int
lconn_start_tls(struct lconn *c)
{
	SSL *ssl = tls_server_new_ssl(c->l->tls);

	c->bev = bufferevent_openssl_socket_new(c->l->base, c->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		return -1;
	}
	c->tls = true;
	lconn_setup_bev(c);
	return 0;
}

/* STARTTLS reply flushed: drop everything the client sent after it, start TLS. */
static void
lconn_switch_tls(struct lconn *c)
{
	struct imap_parser_limits lim;

	/* RFC 3501 §6.2.1 / CVE-2011-0411: plaintext buffered behind STARTTLS is discarded */
	bufferevent_free(c->bev);
	c->bev = NULL;
	imap_parser_destroy(&c->parser);
	imap_parser_limits_default(&lim, false);
	c->parser = imap_parser_create(&lim, 0);
	c->state = LC_CMD;
	c->bad = 0;
	if (lconn_start_tls(c) < 0) {
		lconn_destroy(c);
		return;
	}
}

static void
lconn_write_cb(struct bufferevent *bev, void *ctx)
{
	struct lconn *c = ctx;

	if (c->state == LC_CLOSING)
		lconn_destroy(c);
	else if (c->state == LC_STARTTLS)
		lconn_switch_tls(c);
}

static void
lconn_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct lconn *c = ctx;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if ((what & BEV_EVENT_ERROR) && c->tls) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		if (e != 0) {
			char ebuf[160];

			ERR_error_string_n(e, ebuf, sizeof(ebuf));
			log_info("imap-login tls error ip=%s error=\"%s\"", c->ip, ebuf);
		}
	}
	if (c->state == LC_AUTH_WAIT && !c->tls) {
		/* the fd now belongs to the master/mail process: forget it, keep the request */
		return;
	}
	lconn_destroy(c);
}

/* Hand the credentials to the master with the connection. Wipes pass. */
static void
lconn_send_auth(struct lconn *c, const char *mech, const char *user, size_t ulen,
    char *pass, size_t plen)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t pending = evbuffer_get_length(in);
	struct ipc_msg *m = xmalloc(sizeof(*m));
	int sp[2] = { -1, -1 }, fd;

	if (pending > LOGIN_INPUT_MAX)
		pending = LOGIN_INPUT_MAX;
	if (c->tls) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
			log_error("socketpair: %s", strerror(errno));
			lconn_printf(c, "%s NO [UNAVAILABLE] Temporary failure.\r\n", c->tag);
			secret_wipe(pass, plen);
			free(m);
			return;
		}
		c->proxy_fd = sp[0];
		fd = sp[1];
	} else {
		fd = c->fd;
	}
	c->req_id = ++c->l->next_req;
	ipc_msg_init(m, IPC_LOGIN_AUTH);
	ipc_put_u32(m, c->req_id);
	ipc_put_str(m, mech);
	ipc_put_bytes(m, user, ulen);
	ipc_put_bytes(m, pass, plen);
	ipc_put_str(m, c->ip);
	ipc_put_u32(m, (c->tls ? 1 : 0) | (c->loopback ? 2 : 0));
	ipc_put_str(m, c->tag);
	ipc_put_bytes(m, evbuffer_pullup(in, (ssize_t)pending), pending);
	secret_wipe(pass, plen);
	bufferevent_disable(c->bev, EV_READ);
	c->state = LC_AUTH_WAIT;
	if (ipc_send(LOGIN_IPC_FD, m, fd) < 0)
		fatal("login: lost the master: %s", strerror(errno));
	secret_wipe(m, sizeof(*m));
	free(m);
	/* kept until the result: after a failure they are still this process's commands */
	c->pending_len = pending;
	if (sp[1] >= 0)
		close(sp[1]);
}

static void
lconn_sasl_plain(struct lconn *c, const char *line, size_t len)
{
	struct sasl_plain sp;
	const char *err;
	enum sasl_response r = sasl_plain_decode(line, len, &sp, &err);

	if (r == SASL_RESPONSE_CANCEL) {
		lconn_printf(c, "%s BAD Authentication aborted by client.\r\n", c->tag);
		c->state = LC_CMD;
	} else if (r != SASL_RESPONSE_OK) {
		lconn_printf(c, "%s BAD Invalid AUTHENTICATE response.\r\n", c->tag);
		c->state = LC_CMD;
	} else if (sp.authzid_len != 0 && (sp.authzid_len != sp.authcid_len ||
	    memcmp(sp.authzid, sp.authcid, sp.authcid_len) != 0)) {
		/* no master users: acting as someone else is refused (SEC-17) */
		lconn_printf(c, "%s NO [AUTHORIZATIONFAILED] Authorization failed.\r\n", c->tag);
		c->state = LC_CMD;
	} else {
		lconn_send_auth(c, "PLAIN", sp.authcid, sp.authcid_len, sp.passwd, sp.passwd_len);
	}
	sasl_plain_wipe(&sp);
}

static void
lconn_sasl_line(struct lconn *c, char *line, size_t len)
{
	char out[SASL_MAX_PASSWORD + 1];
	const char *err;
	size_t olen = 0;
	enum sasl_response r;

	if (c->state == LC_SASL_PLAIN) {
		lconn_sasl_plain(c, line, len);
		return;
	}
	r = sasl_login_decode(line, len, out, c->state == LC_SASL_LOGIN_USER ?
	    SASL_MAX_USER + 1 : SASL_MAX_PASSWORD + 1, &olen, &err);
	if (r != SASL_RESPONSE_OK) {
		lconn_printf(c, "%s BAD %s\r\n", c->tag, r == SASL_RESPONSE_CANCEL ?
		    "Authentication aborted by client." : "Invalid AUTHENTICATE response.");
		c->state = LC_CMD;
	} else if (c->state == LC_SASL_LOGIN_USER) {
		c->sasl_user = xstrndup(out, olen);
		c->state = LC_SASL_LOGIN_PASS;
		lconn_printf(c, "+ UGFzc3dvcmQ6\r\n");
	} else {
		lconn_send_auth(c, "LOGIN", c->sasl_user, strlen(c->sasl_user), out, olen);
	}
	secret_wipe(out, sizeof(out));
	if (c->state != LC_SASL_LOGIN_PASS && c->sasl_user != NULL) {
		secret_wipe(c->sasl_user, strlen(c->sasl_user));
		free(c->sasl_user);
		c->sasl_user = NULL;
	}
}

static void
cmd_authenticate(struct lconn *c, const struct imap_arg *args, unsigned argc)
{
	const char *mech, *ir = NULL;
	size_t mlen, irlen = 0;

	if (argc < 1 || argc > 2 || !imap_arg_get_astring(&args[0], &mech, &mlen) ||
	    (argc == 2 && !imap_arg_get_astring(&args[1], &ir, &irlen))) {
		lconn_bad(c, c->tag, "Invalid AUTHENTICATE arguments.");
		return;
	}
	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, "%s NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
		    "on non-secure (SSL/TLS) connections.\r\n", c->tag);
		return;
	}
	if (mem_ieq(mech, mlen, "PLAIN")) {
		c->state = LC_SASL_PLAIN;
		if (ir != NULL) {
			char *copy = xstrndup(ir, irlen);

			lconn_sasl_line(c, copy, irlen);	/* RFC 4959 SASL-IR */
			secret_wipe(copy, irlen);
			free(copy);
		} else {
			lconn_printf(c, "+ \r\n");
		}
	} else if (mem_ieq(mech, mlen, "LOGIN")) {
		c->state = LC_SASL_LOGIN_USER;
		if (ir != NULL) {
			char *copy = xstrndup(ir, irlen);

			lconn_sasl_line(c, copy, irlen);
			free(copy);
		} else {
			lconn_printf(c, "+ VXNlcm5hbWU6\r\n");
		}
	} else {
		lconn_printf(c, "%s NO Unsupported authentication mechanism.\r\n", c->tag);
	}
}

static void
cmd_login(struct lconn *c, const struct imap_arg *args, unsigned argc)
{
	const char *user, *pass;
	size_t ulen, plen;
	char *pcopy;

	if (argc != 2 || !imap_arg_get_astring(&args[0], &user, &ulen) ||
	    !imap_arg_get_astring(&args[1], &pass, &plen)) {
		lconn_bad(c, c->tag, "Invalid LOGIN arguments.");
		return;
	}
	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, "%s NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
		    "on non-secure (SSL/TLS) connections.\r\n", c->tag);
		return;
	}
	if (ulen > SASL_MAX_USER || plen > SASL_MAX_PASSWORD) {
		lconn_printf(c, "%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", c->tag);
		return;
	}
	pcopy = xstrndup(pass, plen);
	secret_wipe((char *)pass, plen);	/* the parser's copy */
	lconn_send_auth(c, "LOGIN", user, ulen, pcopy, plen);
	free(pcopy);
}

/* Post-login commands a real client may send too early: answered with its tag. */
static bool
imap_known_command(const char *cmd)
{
	static const char *const known[] = { "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME",
	    "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "CHECK", "CLOSE",
	    "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID", "IDLE", "ENABLE",
	    "NAMESPACE", "UNSELECT", "GETQUOTAROOT", "GETQUOTA", "COMPRESS", "XLIST" };

	for (size_t i = 0; i < N_ELEMENTS(known); i++)
		if (str_ieq(cmd, known[i]))
			return true;
	return false;
}

static void
lconn_command(struct lconn *c)
{
	const char *cmd = imap_parser_command(c->parser);
	unsigned argc;
	const struct imap_arg *args = imap_parser_args(c->parser, &argc);

	snprintf(c->tag, sizeof(c->tag), "%s", imap_parser_tag(c->parser));
	if (str_ieq(cmd, "CAPABILITY") && argc == 0) {
		struct buf b;

		buf_init(&b, 1024);
		lconn_capability(c, &b);
		lconn_printf(c, "* CAPABILITY %s\r\n%s OK Pre-login capabilities listed, "
		    "post-login capabilities have more.\r\n", buf_cstr(&b), c->tag);
		buf_deinit(&b);
	} else if (str_ieq(cmd, "NOOP") && argc == 0) {
		lconn_printf(c, "%s OK NOOP completed.\r\n", c->tag);
	} else if (str_ieq(cmd, "LOGOUT") && argc == 0) {
		lconn_printf(c, "* BYE Logging out\r\n%s OK Logout completed.\r\n", c->tag);
		lconn_close_after(c);
	} else if (str_ieq(cmd, "ID")) {
		/* RFC 2971: the client's values are not logged unsanitised, nor echoed */
		lconn_printf(c, "* ID (\"name\" \"buzon\")\r\n%s OK ID completed.\r\n", c->tag);
	} else if (str_ieq(cmd, "STARTTLS") && argc == 0) {
		if (c->tls) {
			lconn_bad(c, c->tag, "TLS is already active.");
		} else if (c->l->tls == NULL) {
			lconn_bad(c, c->tag, "TLS support isn't enabled.");
		} else {
			lconn_printf(c, "%s OK Begin TLS negotiation now.\r\n", c->tag);
			c->state = LC_STARTTLS;
			bufferevent_disable(c->bev, EV_READ);
		}
	} else if (str_ieq(cmd, "LOGIN")) {
		cmd_login(c, args, argc);
	} else if (str_ieq(cmd, "AUTHENTICATE")) {
		cmd_authenticate(c, args, argc);
	} else if (imap_known_command(cmd)) {
		lconn_bad(c, c->tag, "Command not allowed before authentication.");
	} else {
		/* ALPACA (SEC-20): what is not IMAP gets no echo of its bytes, not even the tag */
		lconn_bad(c, NULL, "Unknown command.");
	}
}

static void
lconn_input(struct lconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state == LC_CMD || c->state == LC_SASL_PLAIN ||
	    c->state == LC_SASL_LOGIN_USER || c->state == LC_SASL_LOGIN_PASS) {
		size_t len = evbuffer_get_length(in), used = 0;
		enum imap_parse_result r;
		const char *text;
		unsigned char *data;

		if (len == 0)
			return;
		if (c->state != LC_CMD) {
			size_t n;
			char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);

			if (line == NULL) {
				if (len > SASL_MAX_LINE + 2) {
					lconn_printf(c, "* BYE Authentication response too long.\r\n");
					lconn_close_after(c);
				}
				return;
			}
			lconn_sasl_line(c, line, n);
			secret_wipe(line, n);
			free(line);
			continue;
		}
		data = evbuffer_pullup(in, -1);
		r = imap_parser_feed(c->parser, data, len, &used);
		evbuffer_drain(in, used);
		switch (r) {
		case IMAP_PARSE_MORE:
			return;
		case IMAP_PARSE_LITERAL_CONT:
			lconn_printf(c, "+ OK\r\n");
			continue;
		case IMAP_PARSE_DONE:
			lconn_command(c);
			if (c->parser != NULL)
				imap_parser_reset(c->parser);
			break;
		case IMAP_PARSE_LITERAL_STREAM:	/* APPEND before login */
		case IMAP_PARSE_ERROR:
			switch (imap_parser_error(c->parser, &text)) {
			case IMAP_PARSE_ERROR_FATAL:
				lconn_printf(c, "* BYE %s\r\n", text);
				lconn_close_after(c);
				return;
			case IMAP_PARSE_ERROR_TOOBIG:
				lconn_printf(c, "%s NO [TOOBIG] %s\r\n", imap_parser_tag(c->parser),
				    text);
				break;
			default:
				if (r == IMAP_PARSE_LITERAL_STREAM) {
					lconn_printf(c, "* BYE Command not allowed before authentication.\r\n");
					lconn_close_after(c);
					return;
				}
				lconn_bad(c, imap_parser_tag(c->parser), text);
				break;
			}
			imap_parser_reset(c->parser);
			break;
		}
	}
}

static void
lconn_read_cb(struct bufferevent *bev, void *ctx)
{
	lconn_input(ctx);
}

/* ------------------------------------------------------------------ TLS proxy */

static void proxy_read_cb(struct bufferevent *bev, void *ctx);
static void proxy_event_cb(struct bufferevent *bev, short what, void *ctx);

static void
proxy_drained_cb(struct bufferevent *bev, void *ctx)
{
	struct lconn *c = ctx;
	struct bufferevent *other = bev == c->bev ? c->proxy : c->bev;

	/* the backlog is gone: read from the other side again */
	bufferevent_setcb(bev, proxy_read_cb, NULL, proxy_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(other, EV_READ);
}

static void
proxy_read_cb(struct bufferevent *bev, void *ctx)
{
	struct lconn *c = ctx;
	struct bufferevent *dst = bev == c->bev ? c->proxy : c->bev;
	struct evbuffer *out = bufferevent_get_output(dst);

	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (evbuffer_get_length(out) >= PROXY_HIGH) {
		bufferevent_disable(bev, EV_READ);
		bufferevent_setwatermark(dst, EV_WRITE, PROXY_HIGH / 2, PROXY_HIGH);
		bufferevent_setcb(dst, proxy_read_cb, proxy_drained_cb, proxy_event_cb, c);
	}
}

static void
proxy_close_write_cb(struct bufferevent *bev, void *ctx)
{
	lconn_destroy(ctx);
}

static void
proxy_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct lconn *c = ctx;
	struct bufferevent *other = bev == c->bev ? c->proxy : c->bev;

	if (what & BEV_EVENT_CONNECTED)
		return;
	/* one side is gone: flush what the other side still has to receive, then close */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (bev == c->proxy && evbuffer_get_length(bufferevent_get_output(other)) > 0) {
		bufferevent_disable(other, EV_READ);
		bufferevent_setcb(other, NULL, proxy_close_write_cb, NULL, c);
		bufferevent_setwatermark(other, EV_WRITE, 0, 0);
		return;
	}
	lconn_destroy(c);
}

static void
lconn_start_proxy(struct lconn *c)
{
	c->proxy = bufferevent_socket_new(c->l->base, c->proxy_fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->proxy == NULL) {
		lconn_destroy(c);
		return;
	}
	c->proxy_fd = -1;
	c->state = LC_PROXY;
	if (c->deadline != NULL) {
		event_free(c->deadline);
		c->deadline = NULL;
	}
	imap_parser_destroy(&c->parser);
	bufferevent_setcb(c->bev, proxy_read_cb, NULL, proxy_event_cb, c);
	bufferevent_setcb(c->proxy, proxy_read_cb, NULL, proxy_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 64 * 1024);
	bufferevent_setwatermark(c->proxy, EV_READ, 0, 64 * 1024);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	bufferevent_enable(c->proxy, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------------ master IPC */

static void
login_result(struct login *l, uint32_t req_id, uint32_t status)
{
	struct lconn *c;

	for (c = l->conns; c != NULL; c = c->next)
		if (c->state == LC_AUTH_WAIT && c->req_id == req_id)
			break;
	if (c == NULL)
		return;		/* the client went away meanwhile */
	if (status == IPC_AUTH_OK) {
		/* the mail process has the pipelined input now */
		evbuffer_drain(bufferevent_get_input(c->bev), c->pending_len);
		if (c->tls) {
			lconn_start_proxy(c);
		} else {
			/* the mail process owns the socket now */
			bufferevent_free(c->bev);
			c->bev = NULL;
			lconn_destroy(c);
		}
		return;
	}
	if (c->proxy_fd >= 0) {
		close(c->proxy_fd);
		c->proxy_fd = -1;
	}
	c->state = LC_CMD;
	switch (status) {
	case IPC_AUTH_FAIL:
		lconn_printf(c, "%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", c->tag);
		if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
			lconn_printf(c, "* BYE Too many invalid authentication attempts.\r\n");
			lconn_close_after(c);
			return;
		}
		break;
	case IPC_AUTH_LIMIT:
		lconn_printf(c, "%s NO [LIMIT] Too many connections for this user from this address.\r\n",
		    c->tag);
		break;
	default:
		lconn_printf(c, "%s NO [UNAVAILABLE] Temporary authentication failure.\r\n", c->tag);
		break;
	}
	bufferevent_enable(c->bev, EV_READ);
	lconn_input(c);
}

static void
login_drain(struct login *l)
{
	l->draining = true;
	for (unsigned i = 0; i < l->nlisteners; i++) {
		evconnlistener_free(l->listeners[i]);
		l->listeners[i] = NULL;
	}
	l->nlisteners = 0;
	if (l->nconns == 0)
		event_base_loopexit(l->base, NULL);
}

static void
ipc_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct login *l = ctx;
	struct ipc_msg m;
	uint32_t id, status;
	int r;

	while ((r = ipc_recv(fd, &m)) > 0) {
		if (m.fd >= 0)
			close(m.fd);
		switch (m.type) {
		case IPC_LOGIN_RESULT:
			if (ipc_get_u32(&m, &id) < 0 || ipc_get_u32(&m, &status) < 0 ||
			    !ipc_get_done(&m))
				fatal("login: malformed message from master");
			login_result(l, id, status);
			break;
		case IPC_LOGIN_DRAIN:
			login_drain(l);
			break;
		default:
			fatal("login: unexpected message %u from master", m.type);
		}
	}
	if (r == 0)
		exit(0);	/* the master is gone */
	if (errno != EAGAIN)
		fatal("login: ipc: %s", strerror(errno));
}

/* ------------------------------------------------------------------ accepting */

/*
 * A connection counts as local when the client's address is the address it connected
 * to (Dovecot's rule): 127.0.0.1 -> 127.0.0.1, ::1 -> ::1, or the host talking to its own
 * public address. A client bound to another loopback address (127.0.0.2) is not local.
 */
static bool
addr_is_local(int fd, const struct sockaddr *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || ss.ss_family != peer->sa_family)
		return false;
	if (peer->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)peer)->sin_addr.s_addr ==
		    ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
	if (peer->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, sizeof(struct in6_addr)) == 0;
	return peer->sa_family == AF_UNIX;
}

static void
accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *ctx)
{
	struct login *l = ctx;
	struct imap_parser_limits lim;
	struct lconn *c, *o;
	unsigned same = 0, idx;
	struct timeval tv;
	int one = 1;

	for (idx = 0; idx < l->nlisteners && l->listeners[idx] != lis; idx++)
		;
	c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->fd = fd;
	c->proxy_fd = -1;
	c->implicit_tls = idx < l->nlisteners && l->listener_tls[idx];
	c->loopback = addr_is_local(fd, sa);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr, c->ip, sizeof(c->ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, c->ip,
		    sizeof(c->ip));
	else
		snprintf(c->ip, sizeof(c->ip), "local");
	for (o = l->conns; o != NULL; o = o->next)
		if (o->state != LC_PROXY && strcmp(o->ip, c->ip) == 0)
			same++;
	evutil_make_socket_nonblocking(fd);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	if (same >= LOGIN_MAX_PER_IP) {
		log_warn("imap-login too many connections ip=%s", c->ip);
		if (!c->implicit_tls)
			(void)!write(fd, "* BYE Too many connections from your address.\r\n", 48);
		lconn_destroy(c);
		return;
	}
	imap_parser_limits_default(&lim, false);
	c->parser = imap_parser_create(&lim, 0);
	if (c->implicit_tls) {
		if (lconn_start_tls(c) < 0) {
			lconn_destroy(c);
			return;
		}
	} else {
		c->bev = bufferevent_socket_new(l->base, fd, 0);
		lconn_setup_bev(c);
	}
	tv.tv_sec = l->cfg->login_timeout;
	tv.tv_usec = 0;
	c->deadline = evtimer_new(l->base, deadline_cb, c);
	evtimer_add(c->deadline, &tv);
	lconn_greet(c);
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *ctx)
{
	evconnlistener_enable(ctx);
}

static void
accept_error_cb(struct evconnlistener *lis, void *ctx)
{
	struct timeval tv = { 1, 0 };
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: pause accepting for a moment instead of spinning (F-11) */
	log_error("imap-login accept: %s", evutil_socket_error_to_string(e));
	evconnlistener_disable(lis);
	event_base_once(evconnlistener_get_base(lis), -1, EV_TIMEOUT, accept_resume_cb, lis, &tv);
}

static void
parse_fds(struct login *l, const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint32_t fd;

		if (eq == NULL || parse_u32(eq + 1, strlen(eq + 1), &fd) < 0 ||
		    l->nlisteners == LOGIN_MAX_LISTENERS)
			fatal("login: bad --fds");
		*eq = '\0';
		l->listener_tls[l->nlisteners] = strcmp(tok, "imaps") == 0;
		l->listeners[l->nlisteners] = evconnlistener_new(l->base, accept_cb, l,
		    LEV_OPT_CLOSE_ON_FREE, -1, (evutil_socket_t)fd);
		if (l->listeners[l->nlisteners] == NULL)
			fatal("login: cannot listen on fd %u", fd);
		evconnlistener_set_error_cb(l->listeners[l->nlisteners], accept_error_cb);
		l->nlisteners++;
	}
	free(copy);
}

int
login_main(int argc, char **argv)
{
	struct login l;
	const char *cfgpath = NULL, *fds = NULL, *chroot_dir;
	char *err = NULL;

	memset(&l, 0, sizeof(l));
	log_set_ident("imap-login");
	for (int i = 0; i + 1 < argc; i++) {
		if (strcmp(argv[i], "-c") == 0)
			cfgpath = argv[i + 1];
		else if (strcmp(argv[i], "--fds") == 0)
			fds = argv[i + 1];
	}
	if (cfgpath == NULL || fds == NULL)
		fatal("login: missing -c or --fds");
	if (config_load(cfgpath, &l.cfg, &err) < 0)
		fatal("%s", err);
	if (strcmp(l.cfg->log_level, "debug") == 0)
		log_set_level(LOG_LEVEL_DEBUG);
	signal(SIGPIPE, SIG_IGN);
	if (l.cfg->ssl_count > 0 && (l.tls = tls_server_create(l.cfg, "imap", &err)) == NULL)
		fatal("%s", err);
	l.base = event_base_new();
	parse_fds(&l, fds);
	/* everything this process needs is loaded: confine it (SEC-41) */
	priv_no_dump();
	if (priv_is_root()) {
		uid_t uid;
		gid_t gid;
		const char *v[2];

		v[0] = getenv("BUZON_LOGIN_UID");
		v[1] = getenv("BUZON_LOGIN_GID");
		chroot_dir = getenv("BUZON_LOGIN_CHROOT");
		if (v[0] == NULL || v[1] == NULL || chroot_dir == NULL ||
		    parse_u32(v[0], strlen(v[0]), (uint32_t *)&uid) < 0 ||
		    parse_u32(v[1], strlen(v[1]), (uint32_t *)&gid) < 0)
			fatal("login: master did not pass the login identity");
		priv_drop(uid, gid, chroot_dir);
	}
	evutil_make_socket_nonblocking(LOGIN_IPC_FD);
	l.ipc_ev = event_new(l.base, LOGIN_IPC_FD, EV_READ | EV_PERSIST, ipc_cb, &l);
	event_add(l.ipc_ev, NULL);
	event_base_dispatch(l.base);
	return 0;
}
