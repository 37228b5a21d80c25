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
#include "lib/role.h"
#include "lib/tls.h"
#include "login/login.h"
#include "login/login_private.h"
#include "lib/buf.h"
#include "proto/sasl.h"

#define LOGIN_MAX_LISTENERS	32
#define LOGIN_MAX_PER_IP	50		/* pre-auth connections per IP */
#define PROXY_HIGH		(256 * 1024)	/* output backlog before we stop reading */
#define LOGIN_IPC_FD		3

struct login {
	struct event_base *base;
	struct config *cfg;
	struct tls_server *tls[2];	/* by protocol: [0] imap, [1] pop3 (ALPN differs) */
	struct evconnlistener *listeners[LOGIN_MAX_LISTENERS];
	bool listener_tls[LOGIN_MAX_LISTENERS];
	const struct login_proto_ops *listener_ops[LOGIN_MAX_LISTENERS];
	unsigned nlisteners;
	struct event *ipc_ev;
	struct lconn *conns;
	unsigned nconns;
	uint32_t next_req;
	bool draining;
};

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
	free(c);
	if (l->draining && l->nconns == 0)
		event_base_loopexit(l->base, NULL);
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
	return c->l->tls[c->ops->ipc_proto == IPC_PROTO_POP3 ? 1 : 0];
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
		/* the deadline has passed: look again once the answer is in (PRE-04) */
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
	bufferevent_setwatermark(c->bev, EV_READ, 0, LOGIN_INPUT_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int
lconn_start_tls(struct lconn *c)
{
	SSL *ssl = tls_server_new_ssl(lconn_tls_server(c));

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
}

static void
lconn_write_cb(struct bufferevent *bev, void *ctx)
{
	struct lconn *c = ctx;

	/* a write callback queued earlier may run after more output was added: check */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
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
	if (c->state == LC_AUTH_WAIT && !c->tls) {
		/* the fd now belongs to the master/mail process: forget it, keep the request */
		return;
	}
	lconn_destroy(c);
}

void
lconn_send_auth(struct lconn *c, const char *tag, const char *mech, const char *user,
    size_t ulen, char *pass, size_t plen)
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
			secret_wipe(pass, plen);
			free(m);
			c->ops->auth_failed(c, IPC_AUTH_TEMPFAIL);
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
	ipc_put_u32(m, c->ops->ipc_proto);
	ipc_put_str(m, mech);
	ipc_put_bytes(m, user, ulen);
	ipc_put_bytes(m, pass, plen);
	ipc_put_str(m, c->ip);
	ipc_put_u32(m, (c->tls ? 1 : 0) | (c->local ? 2 : 0));
	ipc_put_str(m, tag);
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
	struct lconn *c = ctx;

	if (c->state == LC_CMD || c->state == LC_SASL)
		c->ops->input(c, bufferevent_get_input(bev));
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
	c->ops->destroy(c, c->pstate);
	c->pstate = NULL;
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
	c->ops->auth_failed(c, status);
	if (c->state == LC_CLOSING)
		return;
	bufferevent_enable(c->bev, EV_READ);
	c->ops->input(c, bufferevent_get_input(c->bev));
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
	if (idx >= l->nlisteners) {
		close(fd);
		free(c);
		return;
	}
	c->implicit_tls = l->listener_tls[idx];
	c->ops = l->listener_ops[idx];
	c->local = addr_is_local(fd, sa);
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
		static const char imap_bye[] = "* BYE Too many connections from your address.\r\n";
		static const char pop3_bye[] = "-ERR [SYS/TEMP] Too many connections from your address.\r\n";
		bool pop3 = c->ops->ipc_proto == IPC_PROTO_POP3;

		log_warn("%s-login too many connections ip=%s", c->ops->name, c->ip);
		if (!c->implicit_tls)
			(void)!write(fd, pop3 ? pop3_bye : imap_bye,
			    (pop3 ? sizeof(pop3_bye) : sizeof(imap_bye)) - 1);
		lconn_destroy(c);
		return;
	}
	c->pstate = c->ops->create(c);
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
	c->ops->greet(c);
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
	log_error("login accept: %s", evutil_socket_error_to_string(e));
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
		if (strcmp(tok, "imap") == 0 || strcmp(tok, "imaps") == 0)
			l->listener_ops[l->nlisteners] = &imap_login_ops;
		else if (strcmp(tok, "pop3") == 0 || strcmp(tok, "pop3s") == 0)
			l->listener_ops[l->nlisteners] = &pop3_login_ops;
		else
			fatal("login: unknown listener kind in --fds");
		l->listener_tls[l->nlisteners] = tok[strlen(tok) - 1] == 's';
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
	const char *fds = NULL;
	char *err = NULL;

	memset(&l, 0, sizeof(l));
	l.cfg = role_start("login", argc, argv, &fds);
	if (l.cfg->ssl_count > 0 &&
	    ((l.tls[0] = tls_server_create(l.cfg, imap_login_ops.alpn, &err)) == NULL ||
	    (l.tls[1] = tls_server_create(l.cfg, pop3_login_ops.alpn, &err)) == NULL))
		fatal("%s", err);
	l.base = event_base_new();
	parse_fds(&l, fds);
	/* everything this process needs is loaded: confine it (SEC-41) */
	role_confine_unprivileged(l.cfg, SANDBOX_LOGIN);
	evutil_make_socket_nonblocking(LOGIN_IPC_FD);
	l.ipc_ev = event_new(l.base, LOGIN_IPC_FD, EV_READ | EV_PERSIST, ipc_cb, &l);
	event_add(l.ipc_ev, NULL);
	event_base_dispatch(l.base);
	return 0;
}
