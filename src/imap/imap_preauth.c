/*
 * imap_preauth.c — `buzon imap -c FILE -u USER`: one PREAUTH IMAP session on stdin and
 * stdout, for IMAP over ssh and for the protocol tests. Started by the user (or by root,
 * in which case it drops to the mail user's uid/gid before opening any mail, with the
 * children's drop in src/lib/priv.c: setgroups, setresgid, setresuid, verified, then
 * PR_SET_NO_NEW_PRIVS). stdin/stdout may be pipes, so they are bridged to one end of a
 * socketpair whose other end is the session's socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/conn.h"
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/util.h"

struct bridge {
	struct event_base *base;
	struct bufferevent *in;		/* stdin, read only */
	struct bufferevent *out;	/* stdout, write only */
	struct bufferevent *sock;	/* our end of the socketpair */
	bool in_eof;
	bool sock_shut;
	bool sock_eof;
	bool session_gone;
};

static void
bridge_maybe_exit(struct bridge *b)
{
	if (b->sock_eof &&
	    evbuffer_get_length(bufferevent_get_output(b->out)) == 0)
		event_base_loopexit(b->base, NULL);
}

/*
 * The bridge is bounded both ways: while the buffer towards one side holds the output
 * bound of an IMAP session (lib/conn.h) or more, the other side is not read, so the session's own output
 * backpressure still works when stdout is a slow pipe.
 */
static void
in_read_cb(struct bufferevent *bev, void *ctx)
{
	struct bridge *b = ctx;

	bufferevent_write_buffer(b->sock, bufferevent_get_input(bev));
	if (conn_output_full(b->sock, CONN_IMAP))
		bufferevent_disable(bev, EV_READ);
}

static void
in_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct bridge *b = ctx;

	/* stdin closed: pass the EOF on once the buffered bytes are written */
	bufferevent_disable(bev, EV_READ);
	b->in_eof = true;
	if (evbuffer_get_length(bufferevent_get_output(b->sock)) == 0 && !b->sock_shut) {
		b->sock_shut = true;
		shutdown(bufferevent_getfd(b->sock), SHUT_WR);
	}
}

static void
sock_read_cb(struct bufferevent *bev, void *ctx)
{
	struct bridge *b = ctx;

	bufferevent_write_buffer(b->out, bufferevent_get_input(bev));
	if (conn_output_full(b->out, CONN_IMAP))
		bufferevent_disable(bev, EV_READ);
}

static void
sock_write_cb(struct bufferevent *bev, void *ctx)
{
	struct bridge *b = ctx;

	if (!b->in_eof)
		bufferevent_enable(b->in, EV_READ);

	if (b->in_eof && !b->sock_shut && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		b->sock_shut = true;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
}

static void
sock_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct bridge *b = ctx;

	if ((what & BEV_EVENT_WRITING) && !(what & BEV_EVENT_EOF)) {
		/*
		 * The session stopped reading (it closed after a BYE): drop the rest of
		 * stdin but keep reading its last responses until EOF.
		 */
		bufferevent_disable(bev, EV_WRITE);
		bufferevent_disable(b->in, EV_READ);
		b->in_eof = true;
		return;
	}
	b->sock_eof = true;
	bufferevent_disable(bev, EV_READ);
	bridge_maybe_exit(b);
}

static void
out_write_cb(struct bufferevent *bev, void *ctx)
{
	struct bridge *b = ctx;

	if (!b->sock_eof)
		bufferevent_enable(b->sock, EV_READ);
	bridge_maybe_exit(b);
}

static void
out_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct bridge *b = ctx;

	/* stdout is gone (the peer closed): nobody can see anything any more */
	event_base_loopexit(b->base, NULL);
}

static void
session_empty_cb(void *ctx)
{
	struct bridge *b = ctx;

	b->session_gone = true;
	/* the session's last bytes may still be in the socketpair: read them first */
}

/* The same drop as every child's (priv_drop), but a refusal is an exit status. */
static int
drop_privileges(const struct user_info *u)
{
	const char *step;

	if (u->uid == 0 || u->gid == 0) {
		log_error("imap user=%s error=\"refusing to run as root\"", u->name);
		return -1;
	}
	if (priv_drop_try(u->uid, u->gid, NULL, &step) < 0) {
		log_error("imap user=%s error=\"cannot drop privileges: %s: %s\"", u->name, step,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Load the config, look the user up and drop privileges. Returns 0 or an exit status. */
static int
preauth_setup(const char *config_path, const char *username, struct config **cfg_r,
    struct user_info *u)
{
	char *err = NULL;
	const char *lerr = NULL;
	int r;

	log_set_ident("imap");
	signal(SIGPIPE, SIG_IGN);
	memset(u, 0, sizeof(*u));
	if (config_load(config_path, cfg_r, &err) < 0) {
		log_error("imap error=\"%s\"", err != NULL ? err : "cannot load config");
		free(err);
		return 78;	/* EX_CONFIG */
	}
	if ((*cfg_r)->log_level != NULL) {
		const char *l = (*cfg_r)->log_level;

		log_set_level(strcmp(l, "debug") == 0 ? LOG_LEVEL_DEBUG :
		    strcmp(l, "warn") == 0 ? LOG_LEVEL_WARN :
		    strcmp(l, "error") == 0 ? LOG_LEVEL_ERROR : LOG_LEVEL_INFO);
	}
	log_set_json((*cfg_r)->log_json);
	if (!userdb_name_valid(username, strlen(username))) {
		log_error("imap error=\"invalid user name\"");
		config_free(cfg_r);
		return 67;	/* EX_NOUSER */
	}
	r = userdb_lookup(*cfg_r, username, u, &lerr);
	if (r <= 0) {
		log_error("imap user lookup failed: %s", r == 0 ? "no such user" :
		    (lerr != NULL ? lerr : "error"));
		config_free(cfg_r);
		return r == 0 ? 67 : 75;
	}
	if (geteuid() == 0 && drop_privileges(u) < 0) {
		userdb_info_free(u);
		config_free(cfg_r);
		return 77;	/* EX_NOPERM */
	}
	return 0;
}

int
imap_preauth_main(const char *config_path, const char *username)
{
	struct config *cfg = NULL;
	struct user_info u;
	struct mail_user *mu;
	struct event_base *base;
	struct bridge b;
	int sv[2], r;

	r = preauth_setup(config_path, username, &cfg, &u);
	if (r != 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		log_error("imap socketpair: %s", strerror(errno));
		userdb_info_free(&u);
		config_free(&cfg);
		return 71;
	}
	{
		/*
		 * stdin/stdout may be regular files or ttys, which epoll refuses (EPERM);
		 * poll(2) handles every fd type and one session does not need epoll.
		 */
		struct event_config *ec = event_config_new();

		if (ec == NULL)
			fatal("imap: event_config_new failed");
		event_config_avoid_method(ec, "epoll");
		base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	if (base == NULL)
		fatal("imap: event_base_new failed");
	mu = mail_user_create(base, cfg, &u);
	if (mu == NULL) {
		printf("* BYE Mailbox unavailable\r\n");
		fflush(stdout);
		close(sv[0]);
		close(sv[1]);
		event_base_free(base);
		userdb_info_free(&u);
		config_free(&cfg);
		return 75;	/* EX_TEMPFAIL */
	}
	memset(&b, 0, sizeof(b));
	b.base = base;
	evutil_make_socket_nonblocking(sv[1]);
	evutil_make_socket_nonblocking(STDIN_FILENO);
	evutil_make_socket_nonblocking(STDOUT_FILENO);
	b.in = conn_new(base, STDIN_FILENO, NULL, CONN_IMAP, 0);
	b.out = conn_new(base, STDOUT_FILENO, NULL, CONN_IMAP, 0);
	b.sock = conn_new(base, sv[1], NULL, CONN_IMAP, BEV_OPT_CLOSE_ON_FREE);
	if (b.in == NULL || b.out == NULL || b.sock == NULL)
		fatal("imap: bufferevent_socket_new failed");
	bufferevent_setcb(b.in, in_read_cb, NULL, in_event_cb, &b);
	bufferevent_setcb(b.out, NULL, out_write_cb, out_event_cb, &b);
	bufferevent_setcb(b.sock, sock_read_cb, sock_write_cb, sock_event_cb, &b);
	bufferevent_enable(b.in, EV_READ);
	bufferevent_enable(b.out, EV_WRITE);
	bufferevent_enable(b.sock, EV_READ | EV_WRITE);
	mail_user_set_empty_cb(mu, session_empty_cb, &b);
	if (imap_client_create(mu, sv[0], NULL, NULL, 0, "stdio", true) < 0) {
		mail_user_destroy(&mu);
		r = 75;
	} else {
		event_base_dispatch(base);
		r = 0;
		mail_user_destroy(&mu);
	}
	bufferevent_free(b.in);
	bufferevent_free(b.out);
	bufferevent_free(b.sock);
	event_base_free(base);
	userdb_info_free(&u);
	config_free(&cfg);
	return r;
}

/* ---------------------------------------------------------------- test server mode */

struct listen_ctx {
	struct mail_user *mu;
	struct event_base *base;
};

static void
accept_cb(evutil_socket_t lfd, short what, void *ctx)
{
	struct listen_ctx *l = ctx;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	(void)imap_client_create(l->mu, fd, NULL, NULL, 0, "127.0.0.1", true);
}

static void
term_cb(evutil_socket_t sig, short what, void *ctx)
{
	struct listen_ctx *l = ctx;

	event_base_loopexit(l->base, NULL);
}

int
imap_preauth_serve(const char *config_path, const char *username, int listen_fd)
{
	struct config *cfg = NULL;
	struct user_info u;
	struct listen_ctx l;
	struct event *ev, *sig;
	int r;

	r = preauth_setup(config_path, username, &cfg, &u);
	if (r != 0)
		return r;
	l.base = event_base_new();
	if (l.base == NULL)
		fatal("imap: event_base_new failed");
	l.mu = mail_user_create(l.base, cfg, &u);
	if (l.mu == NULL) {
		event_base_free(l.base);
		userdb_info_free(&u);
		config_free(&cfg);
		return 75;
	}
	evutil_make_socket_nonblocking(listen_fd);
	ev = event_new(l.base, listen_fd, EV_READ | EV_PERSIST, accept_cb, &l);
	sig = evsignal_new(l.base, SIGTERM, term_cb, &l);
	event_add(ev, NULL);
	event_add(sig, NULL);
	event_base_dispatch(l.base);
	event_free(ev);
	event_free(sig);
	mail_user_destroy(&l.mu);
	event_base_free(l.base);
	userdb_info_free(&u);
	config_free(&cfg);
	return 0;
}
