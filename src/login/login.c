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
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/conn.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/role.h"
#include "lib/tls.h"
#include "login/login.h"
#include "login/login_private.h"
#include "lib/buf.h"
#include "proto/sasl.h"

#define LOGIN_MAX_LISTENERS	32
#define LOGIN_IPC_FD		3

struct login {
	struct event_base *base;
	struct config *cfg;
	struct tls_server *tls[4];	/* by protocol: [0] imap, [1] pop3, [2] managesieve,
					 * [3] jmap (ALPN) */
	/* the master's listeners, by the index it sends with each connection */
	bool listener_tls[LOGIN_MAX_LISTENERS];
	const struct login_proto_ops *listener_ops[LOGIN_MAX_LISTENERS];
	unsigned nlisteners;
	struct ipc_peer *master;
	struct lconn *conns;
	unsigned nconns;
	bool single;		/* login_mode = per-connection: exit after the one connection */
	bool draining;
	struct metrics_extra metrics_extra;	/* metrics_listen: build, certificates */
	struct event *metrics_timer;	/* reports the pre-login connections */
};

static void lconn_input(struct lconn *c);
static struct lconn *lconn_find(struct login *l, uint32_t conn_id);

/* To the master, never waiting; a master that does not read is a dead master. */
static int
login_send(struct login *l, struct ipc_msg *m, int fd)
{
	if (l->master == NULL || ipc_peer_send(l->master, m, fd) < 0) {
		log_error("login: cannot send to the master: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void lconn_read_cb(struct bufferevent *bev, void *ctx);
static void lconn_event_cb(struct bufferevent *bev, short what, void *ctx);
static void lconn_write_cb(struct bufferevent *bev, void *ctx);

static void
lconn_destroy(struct lconn *c)
{
	struct login *l = c->l;

	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->bev != NULL && c->tls && c->tls_ready) {
		/* end the TLS session properly (close_notify), not just the TCP connection */
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		if (ssl != NULL)
			(void)SSL_shutdown(ssl);
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* TLS bevs close their fd; plain ones do not */
	if (!c->tls && c->fd >= 0)
		close(c->fd);
	if (c->proxy != NULL)
		bufferevent_free(c->proxy);
	else if (c->proxy_fd >= 0)
		close(c->proxy_fd);
	if (c->pstate != NULL)
		c->ops->destroy(c, c->pstate);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	l->nconns--;
	if (c->conn_id != 0) {
		struct ipc_login_closed lc = { c->conn_id };
		struct ipc_msg m;

		if (ipc_encode(&m, IPC_LOGIN_CLOSED, &lc) == 0)
			(void)login_send(l, &m, -1);
	}
	free(c);
	if ((l->draining || l->single) && l->nconns == 0)
		event_base_loopexit(l->base, NULL);
}

bool
lconn_output_full(const struct lconn *c)
{
	return c->bev != NULL && conn_output_full(c->bev, CONN_PRELOGIN);
}

/*
 * Backpressure (lib/conn.h, CONN_PRELOGIN): while the output bound is reached nothing
 * more is read or parsed; the write callback resumes once it has drained. A client that
 * sends commands and never reads the answers costs at most that much.
 */
static void
lconn_throttle(struct lconn *c)
{
	c->throttled = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* Parse what the client has sent, as far as the output bound allows. */
static void
lconn_input(struct lconn *c)
{
	if (c->state != LC_CMD && c->state != LC_SASL)
		return;
	if (!lconn_output_full(c))
		c->ops->input(c, bufferevent_get_input(c->bev));
	if ((c->state == LC_CMD || c->state == LC_SASL) && lconn_output_full(c))
		lconn_throttle(c);
}

void
lconn_printf(struct lconn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

void
lconn_close_after(struct lconn *c)
{
	struct timeval now = { 0, 0 };

	c->state = LC_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	/* never free c under the caller: an empty output buffer closes from the loop */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && c->deadline != NULL)
		evtimer_add(c->deadline, &now);
}

const struct config *
lconn_config(const struct lconn *c)
{
	return c->l->cfg;
}

enum config_cleartext
lconn_cleartext_policy(const struct lconn *c)
{
	return c->l->cfg->auth_allow_cleartext;
}

bool
lconn_cleartext_ok(const struct lconn *c)
{
	switch (c->l->cfg->auth_allow_cleartext) {
	case CLEARTEXT_YES: return true;
	case CLEARTEXT_LOOPBACK: return c->tls || c->local;
	case CLEARTEXT_NO: return c->tls;
	}
	return false;
}

static struct tls_server *
lconn_tls_server(const struct lconn *c)
{
	return c->l->tls[c->ops->ipc_proto == IPC_PROTO_POP3 ? 1 :
	    c->ops->ipc_proto == IPC_PROTO_MANAGESIEVE ? 2 :
	    c->ops->ipc_proto == IPC_PROTO_JMAP ? 3 : 0];
}

bool
lconn_starttls_available(const struct lconn *c)
{
	return !c->tls && lconn_tls_server(c) != NULL;
}

void
lconn_starttls(struct lconn *c)
{
	c->state = LC_STARTTLS;
	bufferevent_disable(c->bev, EV_READ);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct lconn *c = ctx;
	struct timeval grace = { 2, 0 };

	if (c->state == LC_PROXY)
		return;
	if (c->state == LC_AUTH_WAIT) {
		/* past the deadline: look again once the answer is in (docs/security.md) */
		struct timeval again = { 1, 0 };

		evtimer_add(c->deadline, &again);
		return;
	}
	/* a second expiry: the goodbye could not be sent (TLS never done, client not reading) */
	if (c->state == LC_CLOSING || c->state == LC_STARTTLS || c->bev == NULL ||
	    (c->tls && !c->tls_ready)) {
		lconn_destroy(c);
		return;
	}
	log_info("%s-login timeout ip=%s", c->ops->name, c->ip);
	c->ops->timeout(c);
	lconn_close_after(c);
	evtimer_add(c->deadline, &grace);
}

static void
lconn_setup_bev(struct lconn *c)
{
	bufferevent_setcb(c->bev, lconn_read_cb, lconn_write_cb, lconn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int
lconn_start_tls(struct lconn *c)
{
	SSL *ssl = tls_server_new_ssl(lconn_tls_server(c));

	c->bev = conn_new(c->l->base, c->fd, ssl, CONN_PRELOGIN, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		return -1;
	c->tls = true;
	lconn_setup_bev(c);
	return 0;
}

/* STARTTLS reply flushed: drop everything the client sent after it, start TLS. */
static void
lconn_switch_tls(struct lconn *c)
{
	/* RFC 3501 §6.2.1 / CVE-2011-0411: plaintext buffered behind STARTTLS is discarded */
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->ops->tls_started(c);
	c->state = LC_CMD;
	c->bad = 0;
	if (lconn_start_tls(c) < 0) {
		lconn_destroy(c);
		return;
	}
	if (c->ops->after_tls != NULL)
		c->ops->after_tls(c);
}

static void
lconn_write_cb(struct bufferevent *bev, void *ctx)
{
	struct lconn *c = ctx;
	size_t out = conn_output_len(bev);

	if (c->throttled && conn_output_drained(bev, CONN_PRELOGIN)) {
		c->throttled = false;
		if (c->state == LC_CMD || c->state == LC_SASL) {
			bufferevent_enable(bev, EV_READ);
			lconn_input(c);
			return;
		}
	}
	/* a write callback queued earlier may run after more output was added: check */
	if (out > 0)
		return;
	if (c->state == LC_CLOSING)
		lconn_destroy(c);
	else if (c->state == LC_STARTTLS)
		lconn_switch_tls(c);
}

static void
lconn_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct lconn *c = ctx;

	if (what & BEV_EVENT_CONNECTED) {
		c->tls_ready = true;	/* the TLS handshake is done */
		return;
	}
	if ((what & BEV_EVENT_ERROR) && c->tls) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		if (e != 0) {
			char ebuf[160];

			ERR_error_string_n(e, ebuf, sizeof(ebuf));
			log_info("%s-login tls error ip=%s error=\"%s\"", c->ops->name, c->ip, ebuf);
		}
	}
	lconn_destroy(c);
}

void
lconn_send_auth(struct lconn *c, const char *tag, const char *mech, const char *user,
    size_t ulen, char *pass, size_t plen)
{
	struct ipc_login_auth a;
	struct ipc_msg *m;
	int r;

	if ((ulen == 0 && !sasl_mech_is_oauth(mech)) || ulen > IPC_USER_MAX ||
	    memchr(user, '\0', ulen) != NULL || plen > sasl_mech_cred_max(mech)) {
		/* no such user can exist: a failed login */
		secret_wipe(pass, plen);
		log_info("%s-login failed user=<invalid> ip=%s reason=invalid-name",
		    c->ops->name, c->ip);
		c->ops->auth_failed(c, IPC_AUTH_FAIL);
		return;
	}
	m = xmalloc(sizeof(*m));
	a.id = c->conn_id;
	a.proto = c->ops->ipc_proto;
	a.mech = mech;
	a.user.p = (const unsigned char *)user;
	a.user.len = ulen;
	a.pass.p = (const unsigned char *)pass;
	a.pass.len = plen;
	a.ip = c->ip;
	a.flags = (c->tls ? IPC_CONN_TLS : 0) | (c->local ? IPC_CONN_LOCAL : 0);
	a.tag = tag;
	r = ipc_encode(m, IPC_LOGIN_AUTH, &a);
	secret_wipe(pass, plen);
	if (r < 0 || login_send(c->l, m, -1) < 0) {
		secret_wipe(m, sizeof(*m));
		free(m);
		c->ops->auth_failed(c, IPC_AUTH_TEMPFAIL);
		return;
	}
	secret_wipe(m, sizeof(*m));
	free(m);
	/* what the client pipelines meanwhile waits: it is the mail process's after a login */
	bufferevent_disable(c->bev, EV_READ);
	c->state = LC_AUTH_WAIT;
}

void
lconn_send_scram(struct lconn *c, const char *mech, const char *user, size_t ulen)
{
	struct ipc_scram sc;
	struct ipc_msg m;

	if (ulen == 0 || ulen > IPC_USER_MAX || memchr(user, '\0', ulen) != NULL) {
		log_info("%s-login failed user=<invalid> ip=%s reason=invalid-name",
		    c->ops->name, c->ip);
		c->ops->auth_failed(c, IPC_AUTH_FAIL);
		return;
	}
	sc.id = c->conn_id;
	sc.mech = mech;
	sc.user.p = (const unsigned char *)user;
	sc.user.len = ulen;
	sc.name = NULL;
	sc.req = 0;
	if (ipc_encode(&m, IPC_LOGIN_SCRAM, &sc) < 0 || login_send(c->l, &m, -1) < 0) {
		c->ops->auth_failed(c, IPC_AUTH_TEMPFAIL);
		return;
	}
	bufferevent_disable(c->bev, EV_READ);
	c->state = LC_AUTH_WAIT;
}

int
lconn_send_scram_req(struct lconn *c, uint32_t req, const char *mech, const char *user,
    size_t ulen, bool *temp_r)
{
	struct ipc_scram sc;
	struct ipc_msg m;

	*temp_r = false;
	if (ulen == 0 || ulen > IPC_USER_MAX || memchr(user, '\0', ulen) != NULL) {
		log_info("%s-login failed user=<invalid> ip=%s reason=invalid-name",
		    c->ops->name, c->ip);
		return -1;
	}
	sc.id = c->conn_id;
	sc.mech = mech;
	sc.user.p = (const unsigned char *)user;
	sc.user.len = ulen;
	sc.name = NULL;
	sc.req = req;
	if (ipc_encode(&m, IPC_LOGIN_SCRAM, &sc) < 0 || login_send(c->l, &m, -1) < 0) {
		*temp_r = true;
		return -1;
	}
	return 0;
}

int
lconn_send_verify(struct lconn *c, uint32_t req, const char *mech, const char *ip,
    bool secured, const char *user, size_t ulen, char *pass, size_t plen, bool *temp_r)
{
	struct ipc_login_verify v;
	struct ipc_msg *m;
	int r;

	*temp_r = false;
	if ((ulen == 0 && !sasl_mech_is_oauth(mech)) || ulen > IPC_USER_MAX ||
	    memchr(user, '\0', ulen) != NULL || plen > sasl_mech_cred_max(mech)) {
		secret_wipe(pass, plen);
		log_info("%s-login failed user=<invalid> ip=%s reason=invalid-name",
		    c->ops->name, ip);
		return -1;
	}
	m = xmalloc(sizeof(*m));
	v.id = c->conn_id;
	v.req = req;
	v.mech = mech;
	v.user.p = (const unsigned char *)user;
	v.user.len = ulen;
	v.pass.p = (const unsigned char *)pass;
	v.pass.len = plen;
	v.ip = ip;
	v.flags = (secured ? IPC_CONN_TLS : 0) | IPC_CONN_LOCAL;
	r = ipc_encode(m, IPC_LOGIN_VERIFY, &v);
	secret_wipe(pass, plen);
	if (r == 0)
		r = login_send(c->l, m, -1);
	secret_wipe(m, sizeof(*m));
	free(m);
	if (r < 0)
		*temp_r = true;
	return r;
}

int
lconn_send_lookup(struct lconn *c, uint32_t req, const char *address, size_t len)
{
	struct ipc_login_lookup lk;
	struct ipc_msg m;
	char *a;
	int r;

	if (len > IPC_ADDR_MAX || memchr(address, '\0', len) != NULL)
		return -1;
	a = xstrndup(address, len);
	lk.id = c->conn_id;
	lk.req = req;
	lk.address = a;
	r = ipc_encode(&m, IPC_LOGIN_LOOKUP, &lk);
	if (r == 0)
		r = login_send(c->l, &m, -1);
	free(a);
	return r;
}

int
lconn_send_quota(struct lconn *c, uint32_t req, const char *address, size_t len,
    uint64_t size)
{
	struct ipc_login_quota lq;
	struct ipc_msg m;
	char *a;
	int r;

	if (len > IPC_ADDR_MAX || memchr(address, '\0', len) != NULL)
		return -1;
	a = xstrndup(address, len);
	lq.id = c->conn_id;
	lq.req = req;
	lq.address = a;
	lq.size_hi = (uint32_t)(size >> 32);
	lq.size_lo = (uint32_t)size;
	r = ipc_encode(&m, IPC_LOGIN_QUOTA, &lq);
	if (r == 0)
		r = login_send(c->l, &m, -1);
	free(a);
	return r;
}

int
lconn_send_metrics(struct lconn *c)
{
	struct ipc_metrics q = { c->conn_id, { NULL, 0 } };
	struct ipc_msg m;

	if (ipc_encode(&m, IPC_LOGIN_METRICS, &q) < 0)
		return -1;
	return login_send(c->l, &m, -1);
}

const struct metrics_extra *
lconn_metrics_extra(const struct lconn *c)
{
	return &c->l->metrics_extra;
}

void
lconn_resume(struct lconn *c)
{
	lconn_input(c);
}

void
lconn_deadline(struct lconn *c, unsigned secs)
{
	struct timeval tv = { (time_t)secs, 0 };

	if (c->deadline != NULL)
		evtimer_add(c->deadline, &tv);
}

/*
 * The login succeeded: give the master the connection for the user's mail process — the
 * client socket itself, or for TLS one end of a new socketpair that this process proxies
 * to — with what the client pipelined after the login command. Returns 0, or -1 when
 * the connection cannot be handed over (the client gets a temporary failure).
 */
static int
lconn_handoff(struct lconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t pending = MIN(evbuffer_get_length(in), (size_t)LOGIN_INPUT_MAX);
	struct ipc_login_handoff h;
	struct ipc_msg *m;
	int sp[2] = { -1, -1 }, fd, r;

	if (c->tls) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
			log_error("socketpair: %s", strerror(errno));
			return -1;
		}
		fd = sp[1];
	} else {
		fd = c->fd;
	}
	m = xmalloc(sizeof(*m));
	h.id = c->conn_id;
	h.input.p = evbuffer_pullup(in, (ssize_t)pending);
	h.input.len = pending;
	r = ipc_encode(m, IPC_LOGIN_HANDOFF, &h);
	if (r == 0)
		r = login_send(c->l, m, fd);
	free(m);
	if (sp[1] >= 0)
		close(sp[1]);
	if (r < 0) {
		if (sp[0] >= 0)
			close(sp[0]);
		return -1;
	}
	/* the mail process has the pipelined input now */
	evbuffer_drain(in, pending);
	c->proxy_fd = sp[0];
	return 0;
}

char *
lconn_sasl_line(struct lconn *c, struct evbuffer *in, size_t *len_r, const char *too_long)
{
	char *line = evbuffer_readln(in, len_r, EVBUFFER_EOL_CRLF);

	if (line == NULL && evbuffer_get_length(in) > SASL_MAX_LINE + 2) {
		lconn_printf(c, "%s\r\n", too_long);
		lconn_close_after(c);
	}
	return line;
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

	/* the backlog has drained (lib/conn.h, CONN_PROXY): read from the other side again */
	bufferevent_setcb(bev, proxy_read_cb, NULL, proxy_event_cb, c);
	bufferevent_enable(other, EV_READ);
}

static void
proxy_read_cb(struct bufferevent *bev, void *ctx)
{
	struct lconn *c = ctx;
	struct bufferevent *dst = bev == c->bev ? c->proxy : c->bev;
	struct evbuffer *out = bufferevent_get_output(dst);

	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (conn_output_full(dst, CONN_PROXY)) {
		bufferevent_disable(bev, EV_READ);
		bufferevent_setcb(dst, proxy_read_cb, proxy_drained_cb, proxy_event_cb, c);
	}
}

static void
proxy_close_write_cb(struct bufferevent *bev, void *ctx)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
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
	c->proxy = conn_new(c->l->base, c->proxy_fd, NULL, CONN_PROXY, BEV_OPT_CLOSE_ON_FREE);
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
	c->ops->destroy(c, c->pstate);
	c->pstate = NULL;
	bufferevent_setcb(c->bev, proxy_read_cb, NULL, proxy_event_cb, c);
	bufferevent_setcb(c->proxy, proxy_read_cb, NULL, proxy_event_cb, c);
	conn_set_kind(c->bev, CONN_PROXY);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	bufferevent_enable(c->proxy, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------------ master IPC */

static struct lconn *
lconn_find(struct login *l, uint32_t conn_id)
{
	for (struct lconn *c = l->conns; c != NULL; c = c->next)
		if (c->conn_id == conn_id)
			return c;
	return NULL;
}

static void
login_finish(struct lconn *c)
{
	if (lconn_handoff(c) < 0) {
		c->state = LC_CMD;
		c->ops->auth_failed(c, IPC_AUTH_TEMPFAIL);
		lconn_close_after(c);
		return;
	}
	if (c->tls) {
		lconn_start_proxy(c);
	} else {
		/* the mail process owns the socket now */
		bufferevent_free(c->bev);
		c->bev = NULL;
		lconn_destroy(c);
	}
}

struct finish_later {
	struct login *l;
	uint32_t conn_id;
};

static void
finish_later_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct finish_later *fl = ctx;
	struct lconn *c = lconn_find(fl->l, fl->conn_id);

	if (c != NULL && c->state == LC_AUTH_WAIT)
		login_finish(c);
	free(fl);
}

void
lconn_login_finish(struct lconn *c)
{
	struct finish_later *fl = xmalloc(sizeof(*fl));
	struct timeval now = { 0, 0 };

	/* from the loop: the caller (a front end parsing input) still uses c */
	fl->l = c->l;
	fl->conn_id = c->conn_id;
	c->state = LC_AUTH_WAIT;
	bufferevent_disable(c->bev, EV_READ);
	if (event_base_once(c->l->base, -1, EV_TIMEOUT, finish_later_cb, fl, &now) < 0)
		fatal("login: event_base_once failed");
}

static void
login_result(struct login *l, uint32_t conn_id, uint32_t status, const unsigned char *extra,
    size_t extra_len)
{
	struct lconn *c = lconn_find(l, conn_id);

	if (c == NULL || c->state != LC_AUTH_WAIT)
		return;		/* the client went away meanwhile */
	if (status == IPC_AUTH_OK && extra_len > 0 && c->ops->scram_success != NULL) {
		/* SCRAM: the client checks the ServerSignature first (RFC 5802 §5) */
		c->state = LC_SASL;
		c->ops->scram_success(c, extra, extra_len);
		if (c->state == LC_SASL) {
			bufferevent_enable(c->bev, EV_READ);
			lconn_input(c);
		}
		return;
	}
	if (status == IPC_AUTH_OK) {
		login_finish(c);
		return;
	}
	c->state = LC_CMD;
	c->ops->auth_failed(c, status);
	if (c->state == LC_CLOSING)
		return;
	bufferevent_enable(c->bev, EV_READ);
	lconn_input(c);
}

/* The master needs room for new connections: this one (not logged in) goes. */
static void
login_kick(struct login *l, uint32_t conn_id)
{
	struct lconn *c = lconn_find(l, conn_id);

	if (c == NULL || c->state == LC_PROXY || c->state == LC_CLOSING || c->bev == NULL)
		return;
	log_info("%s-login disconnected ip=%s reason=connection-queue-full", c->ops->name,
	    c->ip);
	if (!c->tls || c->tls_ready)
		c->ops->kicked(c);
	lconn_close_after(c);
}

static void
login_drain(struct login *l)
{
	l->draining = true;
	if (l->nconns == 0)
		event_base_loopexit(l->base, NULL);
}

static void login_conn_new(struct login *l, uint32_t id, uint32_t idx, int fd);

static void
master_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx)
{
	struct login *l = ctx;
	struct ipc_login_conn lc;
	struct ipc_login_result lr;
	struct ipc_login_closed lk;

	switch (m->type) {
	case IPC_LOGIN_CONN:
		if (ipc_decode(m, IPC_LOGIN_CONN, &lc) < 0 || lc.id == 0 ||
		    lc.listener >= l->nlisteners)
			fatal("login: malformed connection from master");
		login_conn_new(l, lc.id, lc.listener, m->fd);
		m->fd = -1;
		break;
	case IPC_LOGIN_RESULT:
		if (ipc_decode(m, IPC_LOGIN_RESULT, &lr) < 0)
			fatal("login: malformed message from master");
		login_result(l, lr.id, lr.status, lr.extra.p, lr.extra.len);
		break;
	case IPC_LOGIN_DRAIN:
		if (ipc_decode(m, IPC_LOGIN_DRAIN, NULL) < 0)
			fatal("login: malformed message from master");
		login_drain(l);
		break;
	case IPC_LOGIN_KICK:
		if (ipc_decode(m, IPC_LOGIN_KICK, &lk) < 0)
			fatal("login: malformed message from master");
		login_kick(l, lk.id);
		break;
	case IPC_LOGIN_SCRAM_PARAMS: {
		struct ipc_scram_params sp;
		struct lconn *c;

		if (ipc_decode(m, IPC_LOGIN_SCRAM_PARAMS, &sp) < 0)
			fatal("login: malformed message from master");
		c = lconn_find(l, sp.id);
		if (c != NULL && c->ops->scram_req_params != NULL) {
			/* auth_listen: one request of many; the connection kept reading */
			if (c->state == LC_CMD)
				c->ops->scram_req_params(c, sp.req, sp.status, sp.salt.p,
				    sp.salt.len, sp.iter);
			break;
		}
		if (c == NULL || c->state != LC_AUTH_WAIT || c->ops->scram_params == NULL)
			break;	/* gone meanwhile */
		c->state = LC_SASL;
		c->ops->scram_params(c, sp.status, sp.salt.p, sp.salt.len, sp.iter);
		if (c->state == LC_SASL || c->state == LC_CMD) {
			bufferevent_enable(c->bev, EV_READ);
			lconn_input(c);
		}
		break;
	}
	case IPC_LOGIN_VERIFIED: {
		struct ipc_login_verified lv;
		struct lconn *c;

		if (ipc_decode(m, IPC_LOGIN_VERIFIED, &lv) < 0)
			fatal("login: malformed message from master");
		c = lconn_find(l, lv.id);
		/* gone or closing meanwhile: nobody to tell */
		if (c != NULL && c->ops->verified_sig != NULL && c->state == LC_CMD)
			c->ops->verified_sig(c, lv.req, lv.status, lv.user, lv.extra.p,
			    lv.extra.len);
		else if (c != NULL && c->ops->verified != NULL && c->state == LC_CMD)
			c->ops->verified(c, lv.req, lv.status, lv.user);
		break;
	}
	case IPC_LOGIN_METRICS_SNAPSHOT: {
		struct ipc_metrics ms;
		struct lconn *c;

		if (ipc_decode(m, IPC_LOGIN_METRICS_SNAPSHOT, &ms) < 0 ||
		    ms.block.len != METRICS_BLOCK_BYTES)
			fatal("login: malformed message from master");
		c = lconn_find(l, ms.id);
		if (c != NULL && c->ops->metrics != NULL && c->state == LC_CMD)
			c->ops->metrics(c, ms.block.p, ms.block.len);
		break;
	}
	default:
		fatal("login: unexpected message %u from master", m->type);
	}
}

static void
master_error_cb(struct ipc_peer *peer, int error, void *ctx)
{
	if (error == 0)
		exit(0);	/* the master is gone */
	fatal("login: ipc: %s", strerror(error));
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

/* A connection the master accepted for us (IPC_LOGIN_CONN). */
static void
login_conn_new(struct login *l, uint32_t id, uint32_t idx, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct sockaddr *sa = (struct sockaddr *)&ss;
	struct lconn *c;
	struct timeval tv;
	int one = 1;

	c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->fd = fd;
	c->proxy_fd = -1;
	c->conn_id = id;
	c->implicit_tls = l->listener_tls[idx];
	c->ops = l->listener_ops[idx];
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, sa, &sl) < 0) {
		lconn_destroy(c);	/* the client is already gone */
		return;
	}
	c->local = addr_is_local(fd, sa);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr, c->ip, sizeof(c->ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, c->ip,
		    sizeof(c->ip));
	else
		snprintf(c->ip, sizeof(c->ip), "local");
	evutil_make_socket_nonblocking(fd);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->pstate = c->ops->create(c);
	if (c->implicit_tls) {
		if (lconn_start_tls(c) < 0) {
			lconn_destroy(c);
			return;
		}
	} else {
		if ((c->bev = conn_new(l->base, fd, NULL, CONN_PRELOGIN, 0)) == NULL) {
			lconn_destroy(c);
			return;
		}
		lconn_setup_bev(c);
	}
	tv.tv_sec = l->cfg->login_timeout;
	tv.tv_usec = 0;
	c->deadline = evtimer_new(l->base, deadline_cb, c);
	evtimer_add(c->deadline, &tv);
	c->ops->greet(c);
}

/* ------------------------------------------------------------------ metrics */

#define METRICS_REPORT_SECS	1
/* as src/cli/cli.c's BUZON_VERSION (tests/metrics compares the two) */
#define METRICS_BUILD_VERSION	"0.1.0"

/* Every second: this process's pre-login connections by protocol, when they changed. */
static void
metrics_report_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct login *l = ctx;
	unsigned n[METRICS_PROTO_N] = { 0, 0, 0 };
	uint64_t block[METRICS_SLOTS];
	struct ipc_metrics r;
	struct ipc_msg *m;

	for (struct lconn *c = l->conns; c != NULL; c = c->next) {
		if (c->state == LC_PROXY)
			continue;	/* logged in: the mail process counts it */
		if (c->ops->ipc_proto == IPC_PROTO_IMAP)
			n[METRICS_PROTO_IMAP]++;
		else if (c->ops->ipc_proto == IPC_PROTO_POP3)
			n[METRICS_PROTO_POP3]++;
		else if (c->ops->ipc_proto == IPC_PROTO_MANAGESIEVE)
			n[METRICS_PROTO_MANAGESIEVE]++;
	}
	for (unsigned i = 0; i < METRICS_PROTO_N; i++)
		metrics_gauge_set(MS_CONN_PRELOGIN + i, n[i]);
	if (!metrics_take(block) || l->master == NULL)
		return;
	r.id = 0;
	r.block.p = (const unsigned char *)block;
	r.block.len = sizeof(block);
	m = xmalloc(sizeof(*m));
	if (ipc_encode(m, IPC_METRICS_REPORT, &r) == 0)
		(void)login_send(l, m, -1);
	free(m);
}

/*
 * With a metrics listener: the build and the certificates' notAfter (the files are
 * read now, before the chroot). Every login process reports its connections.
 */
static void
metrics_setup(struct login *l)
{
	struct timeval tv = { METRICS_REPORT_SECS, 0 };

	if (l->cfg->metrics_listen == NULL)
		return;
	l->metrics_extra.version = METRICS_BUILD_VERSION;
	for (unsigned i = 0; i < l->cfg->ssl_count && i < METRICS_CERTS_MAX; i++) {
		char *names = NULL, *err = NULL;
		long long left;

		if (tls_cert_info(l->cfg->ssl[i].cert, &names, &left, &err) < 0) {
			free(err);
			continue;
		}
		free(names);
		l->metrics_extra.cert_path[l->metrics_extra.ncerts] = l->cfg->ssl[i].cert;
		l->metrics_extra.cert_not_after[l->metrics_extra.ncerts++] =
		    (int64_t)time(NULL) + left;
	}
	l->metrics_timer = event_new(l->base, -1, EV_PERSIST, metrics_report_cb, l);
	evtimer_add(l->metrics_timer, &tv);
}

/* --fds: the master's listener kinds in index order ("imap,imaps,pop3s"), and "single". */
static void
parse_fds(struct login *l, const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "single") == 0) {
			l->single = true;
			continue;
		}
		if (l->nlisteners == LOGIN_MAX_LISTENERS)
			fatal("login: bad --fds");
		if (strcmp(tok, "imap") == 0 || strcmp(tok, "imaps") == 0)
			l->listener_ops[l->nlisteners] = &imap_login_ops;
		else if (strcmp(tok, "pop3") == 0 || strcmp(tok, "pop3s") == 0)
			l->listener_ops[l->nlisteners] = &pop3_login_ops;
		else if (strcmp(tok, "managesieve") == 0)
			l->listener_ops[l->nlisteners] = &managesieve_login_ops;
		else if (strcmp(tok, "jmap") == 0 || strcmp(tok, "jmaps") == 0)
			l->listener_ops[l->nlisteners] = &jmap_login_ops;
		else if (strcmp(tok, "auth") == 0)
			l->listener_ops[l->nlisteners] = &auth_login_ops;
		else if (strcmp(tok, "socketmap") == 0)
			l->listener_ops[l->nlisteners] = &socketmap_login_ops;
		else if (strcmp(tok, "quotapolicy") == 0)
			l->listener_ops[l->nlisteners] = &quota_policy_login_ops;
		else if (strcmp(tok, "metrics") == 0)
			l->listener_ops[l->nlisteners] = &metrics_login_ops;
		else
			fatal("login: unknown listener kind in --fds");
		l->listener_tls[l->nlisteners] = tok[strlen(tok) - 1] == 's' &&
		    l->listener_ops[l->nlisteners] != &metrics_login_ops;
		l->nlisteners++;
	}
	free(copy);
}

int
login_main(int argc, char **argv)
{
	struct login l;
	const char *fds = NULL;
	char *err = NULL;

	memset(&l, 0, sizeof(l));
	l.cfg = role_start("login", argc, argv, &fds);
	if (l.cfg->ssl_count > 0 &&
	    ((l.tls[0] = tls_server_create(l.cfg, imap_login_ops.alpn, &err)) == NULL ||
	    (l.tls[1] = tls_server_create(l.cfg, pop3_login_ops.alpn, &err)) == NULL ||
	    (l.tls[2] = tls_server_create(l.cfg, managesieve_login_ops.alpn, &err)) == NULL ||
	    (l.tls[3] = tls_server_create(l.cfg, jmap_login_ops.alpn, &err)) == NULL))
		fatal("%s", err);
	l.base = event_base_new();
	parse_fds(&l, fds);
	metrics_setup(&l);
	/* everything this process needs is loaded: confine it (docs/security.md, Seccomp) */
	role_confine_unprivileged(l.cfg, SANDBOX_LOGIN);
	l.master = ipc_peer_create(l.base, LOGIN_IPC_FD, master_msg_cb, master_error_cb, &l);
	event_base_dispatch(l.base);
	/* drained or done: a hand-over or close still queued must reach the master */
	(void)ipc_peer_flush(l.master, 5000);
	return 0;
}
