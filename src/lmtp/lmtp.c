/*
 * lmtp.c — the LMTP process (see lmtp.h). One process multiplexes every LMTP session
 * with libevent bufferevents; the session itself (commands, RCPT bookkeeping, DATA,
 * replies in RCPT order) is src/lmtp/lmtp_session.c, and this file is its environment:
 * listeners, bufferevents (lib/conn.h, CONN_LMTP), timeouts, the master and the message
 * store. Each RCPT is checked with the master (IPC_LMTP_RCPT -> auth lookup); DATA goes
 * into a memfd (MFD_ALLOW_SEALING), sealed against every change, and passed once per
 * accepted recipient with IPC_LMTP_DELIVER. A message above lmtp_spool_threshold, or one
 * that would take the memfds of all sessions past LMTP_MEM_MAX, goes to an unlinked file
 * in lmtp_spool_dir instead (opened before the chroot) and is passed as a read-only fd,
 * so no mail process can change what the next recipient reads (see docs/delivery.md).
 * Security role: unprivileged and chrooted like the login process; a session holds at
 * most 256 KiB of unread input and about 64 KiB of unsent replies (it stops reading
 * while more are unsent) and is closed after 5 idle minutes; lmtp_session.h has the rest.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/role.h"
#include "lib/sandbox.h"
#include "lmtp/lmtp.h"
#include "lmtp/lmtp_session.h"

#define LMTP_IPC_FD		3
#define LMTP_MAX_LISTENERS	8
#define LMTP_MAX_SESSIONS	256
#define LMTP_IDLE_SECS		300
#define LMTP_CHUNK		LMTP_SESSION_CHUNK
#define LMTP_MEM_MAX		(64ULL * 1024 * 1024)	/* memfd bytes of all sessions */
#define LMTP_SPOOL_TRIES	8

struct lsess {
	struct lmtp *l;
	struct lsess *prev, *next;
	struct bufferevent *bev;
	struct lmtp_session *sess;
	char ip[64];
	int msg_fd;		/* the message being written: a memfd or a spool file */
	int ro_fd;		/* spooled: the read-only fd that is passed on, else -1 */
	uint64_t mem_bytes;	/* in the memfd, counted in lmtp.mem_bytes until released */
	bool closing;		/* flush the output, then close */
	bool eof;		/* the client shut down its side */
};

struct lmtp {
	struct event_base *base;
	struct config *cfg;
	struct evconnlistener *listeners[LMTP_MAX_LISTENERS];
	unsigned nlisteners;
	struct ipc_peer *master;
	struct lsess *sessions;
	unsigned nsessions;
	uint32_t next_id;
	bool draining;		/* IPC_LOGIN_DRAIN: no new connections, exit when idle */
	int spool_fd;		/* lmtp_spool_dir, opened before the chroot; -1 if unusable */
	uint64_t spool_seq;
	uint64_t mem_bytes;	/* memfd bytes of every session's transaction */
	char hostname[256];
};

static void
sess_printf(struct lsess *s, const char *fmt, ...) PRINTF(2, 3);

static void
sess_printf(struct lsess *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
sess_destroy(struct lsess *s)
{
	struct lmtp *l = s->l;

	lmtp_session_destroy(&s->sess);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		l->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	l->nsessions--;
	free(s);
	if (l->draining && l->nsessions == 0)
		event_base_loopexit(l->base, NULL);
}

/* Send the last reply and close once it is written. */
static void
sess_close(struct lsess *s)
{
	s->closing = true;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		sess_destroy(s);
}

static struct ipc_peer *lmtp_master;	/* the master, for ipc_to_master */

static int
ipc_to_master(struct ipc_msg *m, int fd)
{
	if (lmtp_master == NULL || ipc_peer_send(lmtp_master, m, fd) < 0) {
		log_error("lmtp: cannot reach the master: %s", strerror(errno));
		return -1;
	}
	return 0;
}
/*
 * Create a spool file: a fresh name (O_EXCL, O_NOFOLLOW) in lmtp_spool_dir, opened
 * read-write for us and read-only for the recipients' mail processes, and unlinked at
 * once, so the data lives exactly as long as the last fd. (O_TMPFILE would leave no
 * name at all, but its only fd is read-write, and reopening it read-only needs /proc,
 * which the chroot does not have.) Returns the read-write fd and *ro_r, or -1.
 */
static int
spool_create(struct lmtp *l, int *ro_r)
{
	for (int i = 0; i < LMTP_SPOOL_TRIES; i++) {
		char name[80];
		uint32_t rnd = 0;
		int fd, ro, saved;

		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = (uint32_t)clock_ms();
		snprintf(name, sizeof(name), "msg.%ld.%llu.%08x", (long)getpid(),
		    (unsigned long long)++l->spool_seq, rnd);
		fd = openat(l->spool_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return -1;
		ro = openat(l->spool_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		saved = errno;
		if (unlinkat(l->spool_fd, name, 0) < 0)
			log_error("lmtp: unlink spool file %s: %s", name, strerror(errno));
		if (ro < 0) {
			close(fd);
			errno = saved;
			return -1;
		}
		*ro_r = ro;
		return fd;
	}
	errno = EEXIST;
	return -1;
}

/* Move the message from its memfd to a spool file. Returns 0, or -1 (logged). */
static int
sess_spool(struct lsess *s)
{
	struct lmtp *l = s->l;
	unsigned char *buf;
	int fd, ro = -1;
	off_t off = 0;

	if (l->spool_fd < 0) {
		log_error("lmtp: message over %llu bytes and no spool directory ip=%s",
		    (unsigned long long)l->cfg->lmtp_spool_threshold, s->ip);
		return -1;
	}
	if ((fd = spool_create(l, &ro)) < 0) {
		log_error("lmtp: spool file in %s: %s", l->cfg->lmtp_spool_dir, strerror(errno));
		return -1;
	}
	/* what is in the memfd so far (at most the threshold; s->chunk holds pending data) */
	buf = xmalloc(LMTP_CHUNK);
	while (s->msg_fd >= 0) {
		ssize_t r = pread(s->msg_fd, buf, LMTP_CHUNK, off), w = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				goto fail;
			break;
		}
		while (w < r) {
			ssize_t n = write(fd, buf + w, (size_t)(r - w));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto fail;
			w += n;
		}
		off += r;
	}
	free(buf);
	if (s->msg_fd >= 0)
		close(s->msg_fd);
	l->mem_bytes -= s->mem_bytes;
	s->mem_bytes = 0;
	s->msg_fd = fd;
	s->ro_fd = ro;
	log_debug("lmtp spooling message ip=%s", s->ip);
	return 0;
fail:
	log_error("lmtp: writing the spool file: %s", strerror(errno));
	free(buf);
	close(fd);
	close(ro);
	return -1;
}

/* The session's environment (struct lmtp_session_ops): bufferevent, master, message. */

static void
op_write(void *ctx, const char *data, size_t len)
{
	struct lsess *s = ctx;

	evbuffer_add(bufferevent_get_output(s->bev), data, len);
}

static const unsigned char *
op_input(void *ctx, size_t max, bool whole, size_t *len_r)
{
	struct lsess *s = ctx;
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v;
	size_t avail = evbuffer_get_length(in);

	*len_r = 0;
	if (avail == 0)
		return NULL;
	if (whole) {
		*len_r = MIN(avail, max);
		return evbuffer_pullup(in, (ssize_t)*len_r);
	}
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return NULL;
	*len_r = MIN(v.iov_len, max);
	return v.iov_base;
}

static void
op_consume(void *ctx, size_t n)
{
	struct lsess *s = ctx;

	evbuffer_drain(bufferevent_get_input(s->bev), n);
}

static bool
op_output_full(void *ctx)
{
	struct lsess *s = ctx;

	/* input then stops at its bound; sess_write_cb goes on (lib/conn.h, CONN_LMTP) */
	if (!conn_output_full(s->bev, CONN_LMTP))
		return false;
	bufferevent_disable(s->bev, EV_READ);
	return true;
}

static int
op_rcpt_lookup(void *ctx, const char *addr, uint32_t *id_r)
{
	struct lsess *s = ctx;
	struct ipc_lmtp_rcpt rc;
	struct ipc_msg m;

	*id_r = ++s->l->next_id;
	rc.id = *id_r;
	rc.address = addr;
	if (ipc_encode(&m, IPC_LMTP_RCPT, &rc) < 0 || ipc_to_master(&m, -1) < 0)
		return -1;
	return 0;
}

static int
op_deliver(void *ctx, const char *addr, const char *folder, const unsigned char *prefix,
    size_t prefix_len, uint32_t *id_r)
{
	struct lsess *s = ctx;
	struct ipc_lmtp_deliver d;
	struct ipc_msg m;

	*id_r = ++s->l->next_id;
	d.id = *id_r;
	d.address = addr;
	d.folder = folder;
	d.prefix.p = prefix;
	d.prefix.len = prefix_len;
	/* a spool file goes out read-only; a memfd is sealed */
	if (ipc_encode(&m, IPC_LMTP_DELIVER, &d) < 0 ||
	    ipc_to_master(&m, s->ro_fd >= 0 ? s->ro_fd : s->msg_fd) < 0)
		return -1;
	return 0;
}

static int
op_msg_open(void *ctx)
{
	struct lsess *s = ctx;

	s->msg_fd = memfd_create("lmtp-msg", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->msg_fd < 0) {
		log_error("lmtp: memfd_create: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int
op_msg_write(void *ctx, const unsigned char *p, size_t w)
{
	struct lsess *s = ctx;
	size_t off = 0;

	/* over the threshold, or the memfds of all sessions would be: to a file */
	if (s->ro_fd < 0 && (s->mem_bytes + w > s->l->cfg->lmtp_spool_threshold ||
	    s->l->mem_bytes + w > LMTP_MEM_MAX) && sess_spool(s) < 0)
		return -1;
	while (off < w) {
		ssize_t r = write(s->msg_fd, p + off, w - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("lmtp: writing the message: %s", strerror(errno));
			return -1;
		}
		off += (size_t)r;
		if (s->ro_fd < 0) {
			s->mem_bytes += (uint64_t)r;
			s->l->mem_bytes += (uint64_t)r;
		}
	}
	return 0;
}

static int
op_msg_seal(void *ctx)
{
	struct lsess *s = ctx;

	if (s->ro_fd < 0 && fcntl(s->msg_fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		log_error("lmtp: sealing the message: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Close the message's descriptors; the memfd stays counted until release. */
static void
op_msg_close(void *ctx, bool release)
{
	struct lsess *s = ctx;

	if (s->msg_fd >= 0)
		close(s->msg_fd);
	if (s->ro_fd >= 0)
		close(s->ro_fd);
	s->msg_fd = s->ro_fd = -1;
	if (release) {
		/* the memfd may still be with the master or a mail process: counted until here */
		s->l->mem_bytes -= s->mem_bytes;
		s->mem_bytes = 0;
	}
}

static void
op_close(void *ctx)
{
	sess_close(ctx);
}

static const struct lmtp_session_ops lmtp_ops = {
	.write = op_write,
	.input = op_input,
	.consume = op_consume,
	.output_full = op_output_full,
	.rcpt_lookup = op_rcpt_lookup,
	.deliver = op_deliver,
	.msg_open = op_msg_open,
	.msg_write = op_msg_write,
	.msg_seal = op_msg_seal,
	.msg_close = op_msg_close,
	.close = op_close,
};

static void
sess_read_cb(struct bufferevent *bev, void *ctx)
{
	struct lsess *s = ctx;

	lmtp_session_process(s->sess);
}

static void
sess_write_cb(struct bufferevent *bev, void *ctx)
{
	struct lsess *s = ctx;

	if (s->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			sess_destroy(s);
		return;
	}
	if (lmtp_session_drained(s->sess)) {
		/* drained to the write watermark (CONN_LMTP): take commands again */
		if (!s->eof)
			bufferevent_enable(bev, EV_READ);
		lmtp_session_process(s->sess);
	}
}

static void
sess_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct lsess *s = ctx;

	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		if (lmtp_session_waiting(s->sess)) {
			/* we are the slow side: keep waiting */
			bufferevent_enable(bev, EV_READ);
			return;
		}
		log_info("lmtp idle timeout ip=%s", s->ip);
		sess_printf(s, "421 4.4.2 %s Idle timeout, closing connection", s->l->hostname);
		sess_close(s);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/*
		 * The client shut down its side (or closed): answer what it sent, then close.
		 * Waiting sessions finish when their results come (the session ends them).
		 */
		s->eof = true;
		bufferevent_disable(bev, EV_READ);
		if (!s->closing)
			lmtp_session_eof(s->sess);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		/*
		 * Deliveries already handed to the master still complete (the MTA will
		 * retry them: a duplicate at worst, never a loss); their results find no
		 * session and are dropped.
		 */
		sess_destroy(s);
	}
}

static void
accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *ctx)
{
	struct lmtp *l = ctx;
	struct lsess *s;
	struct timeval tv = { LMTP_IDLE_SECS, 0 };
	struct lmtp_session_conf conf;

	if (l->nsessions >= LMTP_MAX_SESSIONS) {
		static const char busy[] = "421 4.3.2 Too many connections, try again later\r\n";

		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* nothing to do: the MTA retries */
		}
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->l = l;
	s->msg_fd = s->ro_fd = -1;
	if (sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, s->ip,
		    sizeof(s->ip));
	else if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, s->ip,
		    sizeof(s->ip));
	else
		snprintf(s->ip, sizeof(s->ip), "local");
	evutil_make_socket_nonblocking(fd);
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		int one = 1;

		/* replies come one by one as lookups finish: no Nagle + delayed-ACK stalls */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	s->bev = conn_new(l->base, fd, NULL, CONN_LMTP, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		log_error("lmtp: bufferevent_socket_new failed");
		close(fd);
		free(s);
		return;
	}
	conf.hostname = l->hostname;
	conf.max_size = l->cfg->mail_max_size;
	conf.delimiter = l->cfg->recipient_delimiter;
	conf.ip = s->ip;
	conf.quota_tempfail = l->cfg->quota_full_tempfail;
	s->sess = lmtp_session_create(&lmtp_ops, s, &conf);
	bufferevent_setcb(s->bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->next = l->sessions;
	if (l->sessions != NULL)
		l->sessions->prev = s;
	l->sessions = s;
	l->nsessions++;
	sess_printf(s, "220 %s buzon LMTP ready", l->hostname);
}

static void
accept_error_cb(struct evconnlistener *lst, void *ctx)
{
	log_warn("lmtp: accept: %s", strerror(errno));
}

/* Find the session waiting for request id (RCPT lookup or a recipient's delivery). */


static void
master_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx)
{
	struct lmtp *l = ctx;
	struct ipc_lmtp_rcpt_result rr;
	struct ipc_result dr;
	uint32_t id, status;
	struct lsess *s;

	if (m->type == IPC_LOGIN_DRAIN && m->len == 0) {
		/* reload: a new LMTP process takes over the listeners */
		l->draining = true;
		for (unsigned i = 0; i < l->nlisteners; i++)
			evconnlistener_disable(l->listeners[i]);
		log_info("lmtp draining sessions=%u", l->nsessions);
		if (l->nsessions == 0)
			event_base_loopexit(l->base, NULL);
		return;
	}
	if (m->type == IPC_LMTP_REJECTED) {
		struct ipc_rejected rj;

		if (ipc_decode(m, m->type, &rj) < 0)
			fatal("lmtp: malformed message type=%u from the master", m->type);
		for (s = l->sessions; s != NULL; s = s->next)
			if (!s->closing && lmtp_session_deliver_rejected(s->sess, rj.id, rj.reason))
				break;
		return;
	}
	if (m->type == IPC_LMTP_RCPT_RESULT && ipc_decode(m, m->type, &rr) == 0) {
		id = rr.id;
		status = rr.status;
	} else if (m->type == IPC_LMTP_DELIVER_RESULT && ipc_decode(m, m->type, &dr) == 0) {
		id = dr.id;
		status = dr.status;
	} else {
		fatal("lmtp: malformed message type=%u from the master", m->type);
	}
	if (status > IPC_DELIVER_TOOBIG)
		fatal("lmtp: malformed message type=%u from the master", m->type);
	/* the session waiting for it answers and may end; none: its session is gone */
	for (s = l->sessions; s != NULL; s = s->next) {
		if (s->closing)
			continue;
		if (m->type == IPC_LMTP_RCPT_RESULT ?
		    lmtp_session_rcpt_result(s->sess, id, status) :
		    lmtp_session_deliver_result(s->sess, id, status))
			break;
	}
}

static void
master_error_cb(struct ipc_peer *peer, int error, void *ctx)
{
	log_info("lmtp: master gone (%s), exiting", error == 0 ? "EOF" : strerror(error));
	exit(0);
}

static void
parse_fds(struct lmtp *l, const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		uint32_t fd;

		if (strncmp(tok, "lmtp=", 5) != 0 || parse_u32(tok + 5, strlen(tok + 5), &fd) < 0 ||
		    l->nlisteners == LMTP_MAX_LISTENERS)
			fatal("lmtp: bad --fds");
		/* libevent accepts until EAGAIN: a blocking listener would hang the process */
		if (evutil_make_socket_nonblocking((evutil_socket_t)fd) < 0)
			fatal("lmtp: fd %u is not a socket", fd);
		l->listeners[l->nlisteners] = evconnlistener_new(l->base, accept_cb, l,
		    LEV_OPT_CLOSE_ON_FREE, -1, (evutil_socket_t)fd);
		if (l->listeners[l->nlisteners] == NULL)
			fatal("lmtp: cannot listen on fd %u", fd);
		evconnlistener_set_error_cb(l->listeners[l->nlisteners], accept_error_cb);
		l->nlisteners++;
	}
	free(copy);
	if (l->nlisteners == 0)
		fatal("lmtp: no listener in --fds");
}

/* Open lmtp_spool_dir (created by the master, owned by login_user) before the chroot. */
static void
spool_open(struct lmtp *l)
{
	struct statfs sf;

	l->spool_fd = open(l->cfg->lmtp_spool_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (l->spool_fd < 0) {
		log_error("lmtp: spool directory %s: %s (messages over %llu bytes get 451)",
		    l->cfg->lmtp_spool_dir, strerror(errno),
		    (unsigned long long)l->cfg->lmtp_spool_threshold);
		return;
	}
	if (fstatfs(l->spool_fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		log_warn("lmtp: spool directory %s is on tmpfs: spooled messages still use "
		    "memory; set lmtp_spool_dir to a directory on disk", l->cfg->lmtp_spool_dir);
}

int
lmtp_main(int argc, char **argv)
{
	struct lmtp l;
	const char *fds = NULL;

	memset(&l, 0, sizeof(l));
	l.cfg = role_start("lmtp", argc, argv, &fds);
	if (gethostname(l.hostname, sizeof(l.hostname) - 1) < 0 || l.hostname[0] == '\0')
		snprintf(l.hostname, sizeof(l.hostname), "localhost");
	for (char *p = l.hostname; *p != '\0'; p++)
		if ((unsigned char)*p <= 32 || (unsigned char)*p >= 127)
			*p = '_';
	l.base = event_base_new();
	parse_fds(&l, fds);
	spool_open(&l);
	sandbox_set_spool_dir(l.spool_fd);
	/* everything this process needs is loaded: confine it like the login process */
	role_confine_unprivileged(l.cfg, SANDBOX_LMTP);
	l.master = ipc_peer_create(l.base, LMTP_IPC_FD, master_msg_cb, master_error_cb, &l);
	lmtp_master = l.master;
	event_base_dispatch(l.base);
	/* drained: every session has ended */
	while (l.sessions != NULL)
		sess_destroy(l.sessions);
	for (unsigned i = 0; i < l.nlisteners; i++)
		evconnlistener_free(l.listeners[i]);
	lmtp_master = NULL;
	(void)ipc_peer_flush(l.master, 5000);
	ipc_peer_destroy(&l.master);
	event_base_free(l.base);
	if (l.spool_fd >= 0)
		close(l.spool_fd);
	config_free(&l.cfg);
	/* ASan builds: LeakSanitizer's check at exit cannot stop this confined, non-dumpable
	 * process and would wait forever (a drained process never went away): end here */
	if (SANDBOX_ASAN)
		_exit(0);
	return 0;
}