/*
 * master.c — supervision, listening sockets and login routing (see master.h). Runs as
 * root in production. Security role: the master trusts no child. Every IPC message is
 * bounds-checked; a login process can only ask "check these credentials and, if they
 * are right, give this connection to that user's mail process"; whether they are right
 * is decided by the auth process, and the user's identity (uid, mail root) comes only
 * from auth. Children are exec'ed fresh (no inherited memory) with only their own fds.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/priv.h"
#include "lib/tls.h"
#include "master/master.h"
#include "lib/buf.h"

#define MASTER_MAX_LISTENERS	32
#define MAIL_IDLE_EXIT_SECS	10
#define CHILD_FD_IPC		3
#define CHILD_FD_FIRST_EXTRA	4

enum child_role { ROLE_AUTH, ROLE_LOGIN, ROLE_MAIL, ROLE_LMTP };

static const char *const role_names[] = { "auth", "login", "mail", "lmtp" };

struct child {
	struct child *next;
	enum child_role role;
	pid_t pid;
	uint64_t started_ms;
	struct ipc_peer *peer;	/* NULL once it is broken or gone */
	int log_fd;		/* read end of the child's stderr pipe */
	struct event *log_ev;
	struct buf log_line;	/* a partial line from it */
	bool draining;		/* login: told to drain (reload) */
	/* login */
	bool single;		/* login_mode = per-connection: one connection, then exit */
	unsigned nconns;	/* connections handed to it and not yet closed */
	/* mail */
	char *user;
	uid_t uid;
	uint32_t sent;		/* clients handed over */
	unsigned handoffs;	/* logins accepted for it whose connection is on its way */
	bool empty;		/* said IPC_MAIL_EMPTY with sent clients: idle */
	struct event *idle_timer;
	bool closing;		/* told to shut down; no new clients */
};

enum pending_kind {
	PK_LOGIN,	/* login process: credentials, waiting for auth */
	PK_HANDOFF,	/* login process: logged in, waiting for its connection (IPC_LOGIN_HANDOFF) */
	PK_RCPT,	/* lmtp process: does this recipient exist? */
	PK_DELIVER,	/* lmtp process: a message for a recipient, then to its mail process */
};

/*
 * A request from a child, waiting for auth (M.pending), for a login process's connection
 * (M.handoffs) or for a mail process (M.delivering).
 */
struct pending {
	struct pending *next;
	enum pending_kind kind;
	uint32_t id;
	struct child *from;	/* the requesting login/lmtp process; NULL once it is gone */
	uint32_t from_req;	/* its request id */
	struct child *mail;	/* PK_DELIVER, PK_HANDOFF: the user's mail process */
	int fd;			/* PK_DELIVER: the message */
	char *address, *folder;	/* PK_RCPT, PK_DELIVER */
	unsigned char *prefix;	/* PK_DELIVER: header lines to prepend */
	size_t prefix_len;
	char *tag, *ip, *mech, *user;
	char *name;		/* PK_HANDOFF: the user as auth named it */
	uint32_t proto;		/* IPC_PROTO_* */
	uint32_t flags;
};

/*
 * A connection the master accepted and handed to a login process, until that process
 * says it closed (IPC_LOGIN_CLOSED) or dies. Counted against the pre-login caps until
 * its login succeeds.
 */
struct mconn {
	struct mconn *hnext;	/* hash chain by id */
	uint32_t id;
	uint64_t seq;		/* accept order */
	struct child *login;
	struct ipcount *ipc;	/* its address's pre-login count (NULL: none, or logged in) */
	struct mconn *iprev, *inext;	/* in ipc's list, oldest first */
	bool prelogin;		/* counted in M.prelogin */
	bool authing;		/* a login request of it is being answered */
};

/* Pre-login connections of one IPv4 address or IPv6 /64. */
struct ipcount {
	struct ipcount *hnext;
	unsigned char key[16];
	unsigned n;
	struct mconn *head, *tail;	/* its pre-login connections, oldest first */
};

#define MCONN_BUCKETS	4096
#define IPCOUNT_BUCKETS	1024
#define ACCEPT_BATCH	64
#define ACCEPT_PAUSE_MIN_MS	50
#define ACCEPT_PAUSE_MAX_MS	5000

struct master {
	struct event_base *base;
	struct config *cfg;
	char *cfgpath;
	int listen_fd[MASTER_MAX_LISTENERS];
	bool listen_tls[MASTER_MAX_LISTENERS];
	const char *listen_kind[MASTER_MAX_LISTENERS];	/* "imap", "imaps", "pop3", "pop3s" */
	struct event *listen_ev[MASTER_MAX_LISTENERS];
	unsigned nlisten;
	/* accepting */
	struct mconn *mconns[MCONN_BUCKETS];
	struct ipcount *ipcounts[IPCOUNT_BUCKETS];
	unsigned prelogin;		/* connections not yet logged in */
	uint32_t next_conn;
	uint64_t conn_seq;
	bool accept_paused;
	unsigned accept_pause_ms;	/* current backoff; 0 = not in an episode */
	uint64_t episode_start_ms;
	unsigned episode_refused;
	struct event *accept_timer;
	uint64_t refuse_log_ms;		/* rate limit of the "too many connections" line */
	unsigned refuse_suppressed;
	unsigned login_streak;		/* login processes that died right after start */
	bool login_respawn_pending;
	struct child *children;
	struct child *auth;
	struct pending *pending;
	struct pending *delivering;
	struct pending *handoffs;
	uint32_t next_id;
	int lmtp_fd;		/* LMTP listener, -1 if none */
	bool stopping;
	struct event *stop_timer;
	char *pidfile;
	uid_t login_uid;
	gid_t login_gid;
	char *login_chroot;
};

static struct master M;

static void child_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx);
static void handoff_abandon(struct pending *p);
static void child_peer_error_cb(struct ipc_peer *peer, int error, void *ctx);
static void child_log_cb(evutil_socket_t fd, short what, void *ctx);
static void mconn_forget_login(struct child *login);
static void respawn_cb(evutil_socket_t fd, short what, void *ctx);
static void accept_update(void);

/* Write one line a child logged; lines that do not name the child get its name. */
static void
child_log_line(struct child *ch, const char *p, size_t n)
{
	static const char *const names[] = { "auth", "login", "mail", "lmtp" };
	char tag[32], out[4200];
	int k;

	snprintf(tag, sizeof(tag), "[%d]", (int)ch->pid);
	if (n > 4096)
		n = 4096;
	if (memmem(p, MIN(n, 64), tag, strlen(tag)) != NULL)
		k = snprintf(out, sizeof(out), "%.*s\n", (int)n, p);
	else
		k = snprintf(out, sizeof(out), "%s%s: %.*s\n", names[ch->role], tag, (int)n, p);
	if (k > 0)
		(void)!write(STDERR_FILENO, out, MIN((size_t)k, sizeof(out) - 1));
}

static void
child_log_flush(struct child *ch)
{
	if (ch->log_line.len > 0)
		child_log_line(ch, ch->log_line.data, ch->log_line.len);
	buf_reset(&ch->log_line);
}

static void
child_log_read(struct child *ch)
{
	char tmp[4096];
	ssize_t r;

	while ((r = read(ch->log_fd, tmp, sizeof(tmp))) > 0) {
		const char *p = tmp, *end = tmp + r;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			if (buf_append(&ch->log_line, p, n) < 0) {
				child_log_flush(ch);	/* an over-long line is cut, not lost */
				(void)buf_append(&ch->log_line, p, MIN(n, ch->log_line.max));
			}
			if (nl != NULL)
				child_log_flush(ch);
			p += n + (nl ? 1 : 0);
		}
	}
	if (r == 0) {
		/* EOF: the child closed its stderr (it is exiting) */
		child_log_flush(ch);
		event_del(ch->log_ev);
	}
}

static void
child_log_cb(evutil_socket_t fd, short what, void *ctx)
{
	child_log_read(ctx);
}

char *
master_pid_path(const char *base_dir)
{
	return xasprintf("%s/buzon.pid", base_dir);
}

/* ------------------------------------------------------------------ children */

static bool
env_allowed(const char *e)
{
	return !str_has_prefix(e, "LD_") && !str_has_prefix(e, "MALLOC_") &&
	    !str_has_prefix(e, "BUZON_LOGIN_");
}

static struct child *
child_spawn(enum child_role role, const char *rolename, const int *fds, unsigned nfds,
    const char *extra_arg_name, const char *extra_arg)
{
	extern char **environ;
	struct child *ch;
	int sp[2], lp[2];
	pid_t pid;

	if (ipc_socketpair(sp) < 0) {
		log_error("socketpair: %s", strerror(errno));
		return NULL;
	}
	/* children log through us over a pipe, not to our log (docs/security.md) */
	if (pipe2(lp, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		close(lp[0]);
		close(lp[1]);
		return NULL;
	}
	if (pid == 0) {
		char *argv[8], *envp[256];
		unsigned n = 0, e = 0;
		int high[MASTER_MAX_LISTENERS + 1];

		/* move every fd we keep out of the way, then into place */
		int devnull = open("/dev/null", O_RDWR);

		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
		    dup2(lp[1], 2) < 0)
			_exit(71);
		high[0] = fcntl(sp[1], F_DUPFD, 100);
		for (unsigned i = 0; i < nfds; i++)
			high[i + 1] = fcntl(fds[i], F_DUPFD, 100);
		if (dup2(high[0], CHILD_FD_IPC) < 0)
			_exit(71);
		for (unsigned i = 0; i < nfds; i++)
			if (dup2(high[i + 1], CHILD_FD_FIRST_EXTRA + (int)i) < 0)
				_exit(71);
		close_range(CHILD_FD_FIRST_EXTRA + nfds, ~0U, 0);
		argv[n++] = (char *)"buzon";
		argv[n++] = (char *)"--role";
		argv[n++] = (char *)rolename;
		argv[n++] = (char *)"-c";
		argv[n++] = M.cfgpath;
		if (extra_arg_name != NULL) {
			argv[n++] = (char *)extra_arg_name;
			argv[n++] = (char *)extra_arg;
		}
		argv[n] = NULL;
		for (char **p = environ; *p != NULL && e < N_ELEMENTS(envp) - 4; p++)
			if (env_allowed(*p))
				envp[e++] = *p;
		if ((role == ROLE_LOGIN || role == ROLE_LMTP) && priv_is_root()) {
			envp[e++] = xasprintf("BUZON_LOGIN_UID=%u", (unsigned)M.login_uid);
			envp[e++] = xasprintf("BUZON_LOGIN_GID=%u", (unsigned)M.login_gid);
			envp[e++] = xasprintf("BUZON_LOGIN_CHROOT=%s", M.login_chroot);
		}
		envp[e] = NULL;
		execve("/proc/self/exe", argv, envp);
		_exit(71);
	}
	close(sp[1]);
	close(lp[1]);
	ch = xcalloc(1, sizeof(*ch));
	ch->log_fd = lp[0];
	buf_init(&ch->log_line, 4096);
	evutil_make_socket_nonblocking(ch->log_fd);
	ch->log_ev = event_new(M.base, ch->log_fd, EV_READ | EV_PERSIST, child_log_cb, ch);
	event_add(ch->log_ev, NULL);
	ch->role = role;
	ch->pid = pid;
	ch->started_ms = clock_ms();
	ch->peer = ipc_peer_create(M.base, sp[0], child_msg_cb, child_peer_error_cb, ch);
	ch->next = M.children;
	M.children = ch;
	log_debug("spawned role=%s pid=%d", rolename, (int)pid);
	return ch;
}

/* Forget a child's IPC (the process itself is reaped by SIGCHLD). */
static void
child_forget(struct child *ch)
{
	struct child **pp;

	for (pp = &M.children; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	ipc_peer_destroy(&ch->peer);
	if (ch->role == ROLE_LOGIN)
		mconn_forget_login(ch);
	if (ch->log_ev != NULL) {
		child_log_read(ch);	/* what it said last */
		event_free(ch->log_ev);
	}
	if (ch->log_fd >= 0)
		close(ch->log_fd);
	child_log_flush(ch);
	buf_deinit(&ch->log_line);
	if (ch->idle_timer != NULL)
		event_free(ch->idle_timer);
	if (M.auth == ch)
		M.auth = NULL;
	for (struct pending *p = M.pending; p != NULL; p = p->next)
		if (p->from == ch)
			p->from = NULL;
	for (struct pending *p = M.delivering; p != NULL; p = p->next)
		if (p->from == ch)
			p->from = NULL;
	for (struct pending **hp = &M.handoffs; *hp != NULL;) {
		struct pending *p = *hp;

		if (p->from == ch) {
			*hp = p->next;
			p->mail->handoffs--;
			handoff_abandon(p);
		} else {
			hp = &p->next;
		}
	}
	free(ch->user);
	free(ch);
}

/*
 * Send m (with fd >= 0 attached; it stays ours) to a child without waiting: what its
 * socket does not take is queued. A child that does not drain its queue is killed
 * (child_peer_error_cb). Returns -1 when the message cannot reach it.
 */
static int
child_send(struct child *ch, struct ipc_msg *m, int fd)
{
	if (ch->peer == NULL) {
		errno = EPIPE;
		return -1;
	}
	if (ipc_peer_send(ch->peer, m, fd) == 0)
		return 0;
	log_error("%s pid=%d: cannot send: %s", role_names[ch->role], (int)ch->pid,
	    strerror(errno));
	return -1;
}

/* A child's IPC broke: EOF (it is exiting), or it is killed; SIGCHLD does the rest. */
static void
child_peer_error_cb(struct ipc_peer *peer, int error, void *ctx)
{
	struct child *ch = ctx;
	const char *role = role_names[ch->role];

	ipc_peer_destroy(&ch->peer);
	if (ch->role == ROLE_MAIL)
		ch->closing = true;
	if (error == 0)
		return;
	if (error == EMFILE)
		log_error("%s pid=%d: a descriptor it passed was lost (MSG_CTRUNC: the master "
		    "is out of descriptors): restarting it", role, (int)ch->pid);
	else if (error == ENOBUFS)
		log_error("%s pid=%d does not read its messages (over %u bytes queued): killing "
		    "it", role, (int)ch->pid, (unsigned)IPC_QUEUE_MAX_BYTES);
	else if (error == ETIMEDOUT)
		log_error("%s pid=%d has not read its messages for %d s: killing it", role,
		    (int)ch->pid, IPC_STALL_SECS);
	else if (error == EBADMSG)
		log_error("%s pid=%d sent a malformed message: killing it", role, (int)ch->pid);
	else
		log_error("%s pid=%d: ipc: %s: killing it", role, (int)ch->pid, strerror(error));
	kill(ch->pid, SIGKILL);
}

/* Kill a child that broke the protocol; nothing more it sent is read. */
static void
child_kill(struct child *ch)
{
	kill(ch->pid, SIGKILL);
	ipc_peer_destroy(&ch->peer);
	if (ch->role == ROLE_MAIL)
		ch->closing = true;
}

/* ------------------------------------------------------------------ accepted connections */

static uint32_t
hash_bytes(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static struct ipcount *
ipcount_get(const unsigned char key[16], bool create)
{
	struct ipcount **pp = &M.ipcounts[hash_bytes(key, 16) % IPCOUNT_BUCKETS], *ic;

	for (ic = *pp; ic != NULL; ic = ic->hnext)
		if (memcmp(ic->key, key, 16) == 0)
			return ic;
	if (!create)
		return NULL;
	ic = xcalloc(1, sizeof(*ic));
	memcpy(ic->key, key, 16);
	ic->hnext = *pp;
	*pp = ic;
	return ic;
}

static void
ipcount_release(struct ipcount *ic)
{
	struct ipcount **pp = &M.ipcounts[hash_bytes(ic->key, 16) % IPCOUNT_BUCKETS];

	if (--ic->n > 0)
		return;
	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == ic) {
			*pp = ic->hnext;
			break;
		}
	}
	free(ic);
}

static struct mconn *
mconn_find(uint32_t id)
{
	struct mconn *mc;

	for (mc = M.mconns[id % MCONN_BUCKETS]; mc != NULL; mc = mc->hnext)
		if (mc->id == id)
			return mc;
	return NULL;
}

/* The connection logged in (or left): it no longer counts against the pre-login caps. */
static void
mconn_prelogin_end(struct mconn *mc)
{
	if (!mc->prelogin)
		return;
	mc->prelogin = false;
	M.prelogin--;
	if (mc->ipc != NULL) {
		struct ipcount *ic = mc->ipc;

		if (mc->iprev != NULL)
			mc->iprev->inext = mc->inext;
		else
			ic->head = mc->inext;
		if (mc->inext != NULL)
			mc->inext->iprev = mc->iprev;
		else
			ic->tail = mc->iprev;
		mc->iprev = mc->inext = NULL;
		ipcount_release(ic);
	}
	mc->ipc = NULL;
}

static void
mconn_remove(struct mconn *mc)
{
	struct mconn **pp;

	mconn_prelogin_end(mc);
	for (pp = &M.mconns[mc->id % MCONN_BUCKETS]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == mc) {
			*pp = mc->hnext;
			break;
		}
	}
	mc->login->nconns--;
	free(mc);
}

/* A login process is gone: so are its connections. */
static void
mconn_forget_login(struct child *login)
{
	for (unsigned b = 0; b < MCONN_BUCKETS && login->nconns > 0; b++) {
		struct mconn *mc = M.mconns[b], *next;

		for (; mc != NULL; mc = next) {
			next = mc->hnext;
			if (mc->login == login)
				mconn_remove(mc);
		}
	}
}

static unsigned
login_pool_size(void)
{
	long n;

	if (M.cfg->login_processes > 0)
		return M.cfg->login_processes;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static struct child *
spawn_login(bool single)
{
	struct buf spec;
	struct child *ch;

	buf_init(&spec, 4096);
	for (unsigned i = 0; i < M.nlisten; i++)
		(void)buf_appendf(&spec, "%s%s", i ? "," : "", M.listen_kind[i]);
	if (single)
		(void)buf_append_str(&spec, ",single");
	ch = child_spawn(ROLE_LOGIN, "login", NULL, 0, "--fds", buf_cstr(&spec));
	if (ch == NULL)
		log_error("cannot start a login process");
	else
		ch->single = single;
	buf_deinit(&spec);
	return ch;
}

/* Pool mode: start login processes until the pool is full. */
static void
spawn_logins(void)
{
	unsigned have = 0, want = login_pool_size();

	if (M.nlisten == 0 || M.cfg->login_per_connection || M.stopping)
		return;
	for (struct child *ch = M.children; ch != NULL; ch = ch->next)
		if (ch->role == ROLE_LOGIN && !ch->draining && !ch->single)
			have++;
	while (have++ < want) {
		if (spawn_login(false) == NULL) {
			/* out of descriptors or processes: try again in a second */
			struct timeval tv = { 1, 0 };

			if (!M.login_respawn_pending) {
				M.login_respawn_pending = true;
				event_base_once(M.base, -1, EV_TIMEOUT, respawn_cb,
				    (void *)(uintptr_t)ROLE_LOGIN, &tv);
			}
			break;
		}
	}
}

/* The login process for a new connection: the least loaded of the pool, or a new one. */
static struct child *
login_pick(void)
{
	struct child *best = NULL;

	if (M.cfg->login_per_connection)
		return spawn_login(true);
	for (struct child *ch = M.children; ch != NULL; ch = ch->next)
		if (ch->role == ROLE_LOGIN && !ch->draining && !ch->single && ch->peer != NULL &&
		    (best == NULL || ch->nconns < best->nconns))
			best = ch;
	return best;
}

static void login_request_drop(struct child *login, uint32_t conn_id);

/*
 * The pre-login total is full: make room by closing the oldest connection of the
 * address that holds the most (Dovecot's login processes drop their oldest client
 * likewise), so a flood from many addresses cannot lock newcomers out. Returns false
 * when there is nothing to evict.
 */
static bool
prelogin_evict(void)
{
	struct ipcount *busiest = NULL;
	struct ipc_login_closed k;
	struct ipc_msg m;
	struct mconn *mc;

	/* the address with the most; among equals, the one with the oldest connection */
	for (unsigned b = 0; b < IPCOUNT_BUCKETS; b++)
		for (struct ipcount *ic = M.ipcounts[b]; ic != NULL; ic = ic->hnext)
			if (ic->head != NULL && (busiest == NULL || ic->n > busiest->n ||
			    (ic->n == busiest->n && ic->head->seq < busiest->head->seq)))
				busiest = ic;
	if (busiest == NULL)
		return false;
	mc = busiest->head;
	k.id = mc->id;
	if (ipc_encode(&m, IPC_LOGIN_KICK, &k) == 0)
		(void)child_send(mc->login, &m, -1);
	/* an answer auth still owes it is for nobody now */
	if (mc->authing)
		login_request_drop(mc->login, mc->id);
	mc->authing = false;
	mconn_prelogin_end(mc);
	return true;
}

/* Refuse a connection before any login process sees it (plaintext: one line first). */
static void
conn_refuse(unsigned idx, int fd, const char *why)
{
	static const char imap_bye[] = "* BYE Too many connections, try again later.\r\n";
	static const char pop3_err[] = "-ERR [SYS/TEMP] Too many connections, try again later.\r\n";
	bool pop3 = strncmp(M.listen_kind[idx], "pop3", 4) == 0;
	uint64_t now = clock_ms();

	if (!M.listen_tls[idx])
		(void)!send(fd, pop3 ? pop3_err : imap_bye,
		    (pop3 ? sizeof(pop3_err) : sizeof(imap_bye)) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	/* one line a second at most: a flood must not flood the log too */
	if (now - M.refuse_log_ms < 1000) {
		M.refuse_suppressed++;
		return;
	}
	log_warn("connection refused listener=%s reason=%s prelogin=%u suppressed=%u",
	    M.listen_kind[idx], why, M.prelogin, M.refuse_suppressed);
	M.refuse_log_ms = now;
	M.refuse_suppressed = 0;
}

static void
conn_dispatch(unsigned idx, int fd, const struct sockaddr_storage *ss)
{
	unsigned char key[16];
	bool haskey = netaddr_key_sockaddr((const struct sockaddr *)ss, key);
	struct ipcount *ic;
	struct child *login;
	struct mconn *mc;
	struct ipc_login_conn conn;
	struct ipc_msg m;
	uint32_t id;

	if (M.prelogin >= M.cfg->login_max_connections && !prelogin_evict()) {
		conn_refuse(idx, fd, "login_max_connections");
		return;
	}
	if (haskey && M.cfg->login_max_connections_per_ip > 0 &&
	    (ic = ipcount_get(key, false)) != NULL &&
	    ic->n >= M.cfg->login_max_connections_per_ip) {
		conn_refuse(idx, fd, "login_max_connections_per_ip");
		return;
	}
	if ((login = login_pick()) == NULL) {
		conn_refuse(idx, fd, "no-login-process");
		return;
	}
	do {
		id = ++M.next_conn;
	} while (id == 0 || mconn_find(id) != NULL);
	conn.id = id;
	conn.listener = idx;
	if (ipc_encode(&m, IPC_LOGIN_CONN, &conn) < 0 || child_send(login, &m, fd) < 0) {
		close(fd);
		return;
	}
	close(fd);
	mc = xcalloc(1, sizeof(*mc));
	mc->id = id;
	mc->seq = ++M.conn_seq;
	mc->login = login;
	mc->prelogin = true;
	login->nconns++;
	M.prelogin++;
	if (haskey) {
		ic = ipcount_get(key, true);
		ic->n++;
		mc->ipc = ic;
		mc->iprev = ic->tail;
		if (ic->tail != NULL)
			ic->tail->inext = mc;
		else
			ic->head = mc;
		ic->tail = mc;
	}
	mc->hnext = M.mconns[id % MCONN_BUCKETS];
	M.mconns[id % MCONN_BUCKETS] = mc;
}

static void
accept_enable(bool on)
{
	for (unsigned i = 0; i < M.nlisten; i++) {
		if (M.listen_ev[i] == NULL)
			continue;
		if (on)
			event_add(M.listen_ev[i], NULL);
		else
			event_del(M.listen_ev[i]);
	}
}

static void
accept_update(void)
{
	accept_enable(!M.accept_paused && !M.stopping);
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *ctx)
{
	M.accept_paused = false;
	accept_update();
}

/*
 * Out of descriptors (EMFILE/ENFILE) or kernel memory: stop accepting for a while
 * instead of spinning on a listener that stays readable; the pause doubles while the
 * condition lasts. Logged once per episode.
 */
static void
accept_pause(int error)
{
	struct timeval tv;

	if (M.accept_pause_ms == 0) {
		log_error("accept: %s: pausing new connections (logged once until it clears)",
		    strerror(error));
		M.accept_pause_ms = ACCEPT_PAUSE_MIN_MS;
		M.episode_start_ms = clock_ms();
		M.episode_refused = 0;
	} else if (M.accept_pause_ms < ACCEPT_PAUSE_MAX_MS) {
		M.accept_pause_ms = MIN(M.accept_pause_ms * 2, ACCEPT_PAUSE_MAX_MS);
	}
	M.episode_refused++;
	M.accept_paused = true;
	accept_update();
	tv.tv_sec = M.accept_pause_ms / 1000;
	tv.tv_usec = (M.accept_pause_ms % 1000) * 1000;
	evtimer_add(M.accept_timer, &tv);
}

static void
listener_cb(evutil_socket_t lfd, short what, void *ctx)
{
	unsigned idx = (unsigned)(uintptr_t)ctx;

	for (int n = 0; n < ACCEPT_BATCH && !M.accept_paused; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_pause(errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_error("accept: %s", strerror(errno));
			return;
		}
		if (M.accept_pause_ms != 0) {
			log_info("accepting connections again after %llu ms (%u pauses)",
			    (unsigned long long)(clock_ms() - M.episode_start_ms), M.episode_refused);
			M.accept_pause_ms = 0;
		}
		memset((char *)&ss + sl, 0, sizeof(ss) - MIN(sl, sizeof(ss)));
		conn_dispatch(idx, fd, &ss);
	}
}

static void
spawn_lmtp(void)
{
	char spec[32];

	if (M.lmtp_fd < 0)
		return;
	snprintf(spec, sizeof(spec), "lmtp=%d", CHILD_FD_FIRST_EXTRA);
	if (child_spawn(ROLE_LMTP, "lmtp", &M.lmtp_fd, 1, "--fds", spec) == NULL)
		log_error("cannot start the lmtp process");
}

static void
spawn_auth(void)
{
	M.auth = child_spawn(ROLE_AUTH, "auth", NULL, 0, NULL, NULL);
	if (M.auth == NULL)
		log_error("cannot start the auth process");
}

/* ------------------------------------------------------------------ logins */

static const char *
proto_name(uint32_t proto)
{
	return proto == IPC_PROTO_POP3 ? "pop3" : "imap";
}

static void
pending_free(struct pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->tag);
	free(p->ip);
	free(p->mech);
	free(p->user);
	free(p->name);
	free(p->address);
	free(p->folder);
	free(p->prefix);
	free(p);
}

static void
login_reply(struct pending *p, uint32_t status)
{
	struct ipc_login_result r;
	struct ipc_msg m;
	struct mconn *mc;

	if (p->from == NULL)
		return;
	if ((mc = mconn_find(p->from_req)) != NULL && mc->login == p->from)
		mc->authing = false;
	r.id = p->from_req;
	r.status = status;
	if (ipc_encode(&m, IPC_LOGIN_RESULT, &r) == 0)
		(void)child_send(p->from, &m, -1);
}

static void
mail_idle_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct child *ch = ctx;
	struct ipc_msg m;

	ch->closing = true;
	if (ipc_encode(&m, IPC_MAIL_SHUTDOWN, NULL) == 0)
		(void)child_send(ch, &m, -1);
}

static struct child *
mail_child_get(const char *user, uid_t uid, gid_t gid, const char *home, const char *root)
{
	struct ipc_mail_user mu;
	struct child *ch;
	struct ipc_msg m;

	for (ch = M.children; ch != NULL; ch = ch->next)
		if (ch->role == ROLE_MAIL && !ch->closing && ch->uid == uid &&
		    strcmp(ch->user, user) == 0)
			return ch;
	ch = child_spawn(ROLE_MAIL, "mail", NULL, 0, NULL, NULL);
	if (ch == NULL)
		return NULL;
	ch->user = xstrdup(user);
	ch->uid = uid;
	ch->empty = true;	/* no client yet: idle once nothing is on its way */
	mu.name = user;
	mu.uid = (uint32_t)uid;
	mu.gid = (uint32_t)gid;
	mu.home = home;
	mu.root = root;
	if (ipc_encode(&m, IPC_MAIL_USER, &mu) < 0 || child_send(ch, &m, -1) < 0) {
		ch->closing = true;
		return NULL;
	}
	return ch;
}

/* ------------------------------------------------------------------ deliveries */

static void
lmtp_reply(struct pending *p, uint32_t type, uint32_t status, const char *user)
{
	struct ipc_lmtp_rcpt_result rr;
	struct ipc_result dr;
	struct ipc_msg m;
	int r;

	if (p->from == NULL)
		return;
	if (type == IPC_LMTP_RCPT_RESULT) {
		rr.id = p->from_req;
		rr.status = status;
		rr.user = user != NULL ? user : "";
		r = ipc_encode(&m, type, &rr);
	} else {
		dr.id = p->from_req;
		dr.status = status;
		r = ipc_encode(&m, type, &dr);
	}
	if (r == 0)
		(void)child_send(p->from, &m, -1);
}

/* A recipient lookup finished (PK_RCPT) or a message can go to its mail process. */
static void
delivery_auth_reply(struct pending *p, uint32_t status, const char *name, uint32_t uid,
    uint32_t gid, const char *home, const char *root)
{
	uint32_t dstatus = status == IPC_AUTH_OK ? IPC_DELIVER_OK :
	    status == IPC_AUTH_FAIL ? IPC_DELIVER_NOUSER : IPC_DELIVER_TEMPFAIL;
	struct ipc_mail_deliver md;
	struct ipc_msg *out;
	struct child *mail;

	if (p->kind == PK_RCPT || dstatus != IPC_DELIVER_OK) {
		lmtp_reply(p, p->kind == PK_RCPT ? IPC_LMTP_RCPT_RESULT : IPC_LMTP_DELIVER_RESULT,
		    dstatus, dstatus == IPC_DELIVER_OK ? name : "");
		pending_free(p);
		return;
	}
	if ((priv_is_root() && (uid == 0 || gid == 0)) || root[0] != '/' ||
	    (mail = mail_child_get(name, uid, gid, home, root)) == NULL) {
		lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, NULL);
		pending_free(p);
		return;
	}
	out = xmalloc(sizeof(*out));
	md.id = p->id;
	md.folder = p->folder;
	md.prefix.p = p->prefix;
	md.prefix.len = p->prefix_len;
	if (ipc_encode(out, IPC_MAIL_DELIVER, &md) < 0 || child_send(mail, out, p->fd) < 0) {
		lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, NULL);
		pending_free(p);
		free(out);
		return;
	}
	free(out);
	close(p->fd);
	p->fd = -1;
	mail->sent++;
	mail->empty = false;
	if (mail->idle_timer != NULL)
		evtimer_del(mail->idle_timer);
	p->mail = mail;
	p->next = M.delivering;
	M.delivering = p;
}

static void
handle_mail_delivered(struct child *ch, struct ipc_msg *m)
{
	struct pending **pp, *p;
	struct ipc_result r;

	if (ipc_decode(m, IPC_MAIL_DELIVERED, &r) < 0 || r.status > IPC_DELIVER_TOOBIG) {
		log_error("malformed delivery result from pid=%d: killing it", (int)ch->pid);
		child_kill(ch);
		return;
	}
	for (pp = &M.delivering; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == r.id && (*pp)->mail == ch)
			break;
	if ((p = *pp) == NULL)
		return;
	*pp = p->next;
	lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, r.status, NULL);
	pending_free(p);
}

/* A mail process is gone: its unanswered deliveries are temporary failures. */
static void
fail_deliveries_of(struct child *mail)
{
	struct pending **pp = &M.handoffs;

	/* logins on their way to it: the connection that comes is closed (the client sees EOF) */
	while (*pp != NULL) {
		struct pending *p = *pp;

		if (p->mail == mail) {
			*pp = p->next;
			pending_free(p);
		} else {
			pp = &p->next;
		}
	}
	pp = &M.delivering;

	while (*pp != NULL) {
		struct pending *p = *pp;

		if (p->mail == mail) {
			*pp = p->next;
			lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, NULL);
			pending_free(p);
		} else {
			pp = &p->next;
		}
	}
}

static int
auth_lookup(struct pending *p)
{
	struct ipc_msg m;

	if (M.auth == NULL)
		return -1;
	struct ipc_auth_lookup l = { p->id, p->address };

	if (ipc_encode(&m, IPC_AUTH_LOOKUP, &l) < 0)
		return -1;
	return child_send(M.auth, &m, -1);
}

static void
handle_lmtp(struct child *lmtp, struct ipc_msg *m)
{
	struct pending *p;
	struct ipc_lmtp_rcpt rc;
	struct ipc_lmtp_deliver d;
	int r;

	r = m->type == IPC_LMTP_RCPT ? ipc_decode(m, IPC_LMTP_RCPT, &rc) :
	    ipc_decode(m, IPC_LMTP_DELIVER, &d);
	if (r < 0) {
		log_error("malformed lmtp request from pid=%d: killing it", (int)lmtp->pid);
		child_kill(lmtp);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = m->fd;
	m->fd = -1;
	p->from = lmtp;
	if (m->type == IPC_LMTP_RCPT) {
		p->kind = PK_RCPT;
		p->from_req = rc.id;
		p->address = xstrdup(rc.address);
	} else {
		p->kind = PK_DELIVER;
		p->from_req = d.id;
		p->address = xstrdup(d.address);
		p->folder = xstrdup(d.folder);
		p->prefix = xmalloc(d.prefix.len == 0 ? 1 : d.prefix.len);
		memcpy(p->prefix, d.prefix.p, d.prefix.len);
		p->prefix_len = d.prefix.len;
	}
	p->id = ++M.next_id;
	if (auth_lookup(p) < 0) {
		lmtp_reply(p, p->kind == PK_RCPT ? IPC_LMTP_RCPT_RESULT : IPC_LMTP_DELIVER_RESULT,
		    IPC_DELIVER_TEMPFAIL, "");
		pending_free(p);
		return;
	}
	p->next = M.pending;
	M.pending = p;
}

static void
handle_auth_reply(struct child *auth, struct ipc_msg *m)
{
	struct ipc_auth_reply a;
	uint32_t status, uid, gid;
	const char *name, *home, *root;
	struct pending **pp, *p;
	struct child *mail;
	struct mconn *mc;

	if (ipc_decode(m, IPC_AUTH_REPLY, &a) < 0 || a.status > IPC_AUTH_LIMIT) {
		log_error("malformed reply from auth pid=%d: killing it", (int)auth->pid);
		child_kill(auth);
		return;
	}
	status = a.status;
	uid = a.uid;
	gid = a.gid;
	name = a.name;
	home = a.home;
	root = a.root;
	for (pp = &M.pending; *pp != NULL && (*pp)->id != a.id; pp = &(*pp)->next)
		;
	if ((p = *pp) == NULL)
		return;
	*pp = p->next;
	if (p->kind != PK_LOGIN) {
		delivery_auth_reply(p, status, name, uid, gid, home, root);
		return;
	}
	if (status != IPC_AUTH_OK) {
		char safe[128];

		log_info("%s login failed user=\"%s\" method=%s ip=%s tls=%s reason=%s",
		    proto_name(p->proto), log_sanitize(p->user, strlen(p->user), safe, sizeof(safe)),
		    p->mech, p->ip,
		    (p->flags & IPC_CONN_TLS) ? "yes" : "no",
		    status == IPC_AUTH_FAIL ? "password" : "tempfail");
		login_reply(p, status == IPC_AUTH_FAIL ? IPC_AUTH_FAIL : IPC_AUTH_TEMPFAIL);
		pending_free(p);
		return;
	}
	mc = mconn_find(p->from_req);
	if (p->from == NULL || mc == NULL || mc->login != p->from) {
		pending_free(p);	/* the client is gone */
		return;
	}
	if ((priv_is_root() && (uid == 0 || gid == 0)) ||
	    root[0] != '/' || (mail = mail_child_get(name, uid, gid, home, root)) == NULL) {
		login_reply(p, IPC_AUTH_TEMPFAIL);
		pending_free(p);
		return;
	}
	mconn_prelogin_end(mc);
	/* the mail process stays up until the connection arrives (or is abandoned) */
	p->kind = PK_HANDOFF;
	p->mail = mail;
	p->name = xstrdup(name);
	mail->handoffs++;
	if (mail->idle_timer != NULL)
		evtimer_del(mail->idle_timer);
	p->next = M.handoffs;
	M.handoffs = p;
	login_reply(p, IPC_AUTH_OK);
}

/* Arm the idle exit of a mail process that has no clients and none on the way. */
static void
mail_maybe_idle(struct child *ch)
{
	struct timeval tv = { MAIL_IDLE_EXIT_SECS, 0 };

	if (ch->closing || !ch->empty || ch->handoffs > 0)
		return;
	if (ch->idle_timer == NULL)
		ch->idle_timer = evtimer_new(M.base, mail_idle_cb, ch);
	evtimer_add(ch->idle_timer, &tv);
}

/* Take the handoff of login's connection conn_id off the list (NULL if none). */
static struct pending *
handoff_take(struct child *login, uint32_t conn_id)
{
	for (struct pending **pp = &M.handoffs; *pp != NULL; pp = &(*pp)->next) {
		struct pending *p = *pp;

		if (p->from == login && p->from_req == conn_id) {
			*pp = p->next;
			p->mail->handoffs--;
			return p;
		}
	}
	return NULL;
}

/* A logged-in connection will not come (its login or mail process is gone). */
static void
handoff_abandon(struct pending *p)
{
	struct child *mail = p->mail;

	pending_free(p);
	mail_maybe_idle(mail);
}

/* IPC_LOGIN_HANDOFF: the connection of a successful login, on to the mail process. */
static void
handle_login_handoff(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_handoff h;
	struct ipc_mail_client mcl;
	struct ipc_msg *out;
	struct child *mail;
	struct pending *p;

	if (ipc_decode(m, IPC_LOGIN_HANDOFF, &h) < 0) {
		log_error("malformed handoff from login pid=%d: killing it", (int)login->pid);
		child_kill(login);
		return;
	}
	if ((p = handoff_take(login, h.id)) == NULL)
		return;		/* its mail process died meanwhile: the client sees EOF */
	mail = p->mail;
	mcl.proto = p->proto;
	mcl.tag = p->tag;
	mcl.input = h.input;
	mcl.ip = p->ip;
	mcl.flags = p->flags;
	out = xmalloc(sizeof(*out));
	if (ipc_encode(out, IPC_MAIL_CLIENT, &mcl) == 0 && child_send(mail, out, m->fd) == 0) {
		mail->sent++;
		mail->empty = false;
		log_info("%s login user=%s method=%s ip=%s tls=%s mail_pid=%d",
		    proto_name(p->proto), p->name, p->mech, p->ip,
		    (p->flags & IPC_CONN_TLS) ? "yes" : "no", (int)mail->pid);
		pending_free(p);
	} else {
		handoff_abandon(p);
	}
	free(out);
}

/* Forget what a login process asked about conn_id (it closed, or was kicked). */
static void
login_request_drop(struct child *login, uint32_t conn_id)
{
	struct pending *p;

	for (struct pending **pp = &M.pending; *pp != NULL; pp = &(*pp)->next) {
		p = *pp;
		if (p->kind == PK_LOGIN && p->from == login && p->from_req == conn_id) {
			*pp = p->next;
			pending_free(p);
			break;
		}
	}
	if ((p = handoff_take(login, conn_id)) != NULL)
		handoff_abandon(p);
}

static void
handle_login_auth(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_auth a;
	struct ipc_auth_request ar;
	struct pending *p;
	struct ipc_msg *out;
	struct mconn *mc;
	bool valid;

	if (ipc_decode(m, IPC_LOGIN_AUTH, &a) < 0 ||
	    (a.proto != IPC_PROTO_IMAP && a.proto != IPC_PROTO_POP3) ||
	    (mc = mconn_find(a.id)) == NULL || mc->login != login || !mc->prelogin ||
	    mc->authing) {
		log_error("malformed login request from pid=%d: killing it", (int)login->pid);
		child_kill(login);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->from = login;
	p->kind = PK_LOGIN;
	p->from_req = a.id;
	p->proto = a.proto;
	p->mech = xstrdup(a.mech);
	p->ip = xstrdup(a.ip);
	p->flags = a.flags;
	p->tag = xstrdup(a.tag);
	/* the client's choice of name, not the login process's fault: a failed login */
	valid = a.user.len > 0 && a.user.len <= IPC_USER_MAX &&
	    memchr(a.user.p, '\0', a.user.len) == NULL && a.pass.len <= IPC_PASS_MAX;
	if (!valid) {
		log_info("%s login failed user=<invalid> method=%s ip=%s reason=invalid-name",
		    proto_name(p->proto), p->mech, p->ip);
		login_reply(p, IPC_AUTH_FAIL);
		pending_free(p);
		return;
	}
	mc->authing = true;
	p->user = xstrndup((const char *)a.user.p, a.user.len);
	p->id = ++M.next_id;
	ar.id = p->id;
	ar.user = p->user;
	ar.pass = a.pass;
	ar.ip = p->ip;
	out = xmalloc(sizeof(*out));
	if (M.auth == NULL || ipc_encode(out, IPC_AUTH_REQUEST, &ar) < 0 ||
	    child_send(M.auth, out, -1) < 0) {
		secret_wipe(out, sizeof(*out));
		free(out);
		login_reply(p, IPC_AUTH_TEMPFAIL);
		pending_free(p);
		return;
	}
	secret_wipe(out, sizeof(*out));
	free(out);
	p->next = M.pending;
	M.pending = p;
}

static void
handle_login_closed(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_closed lc;
	struct mconn *mc;

	if (ipc_decode(m, IPC_LOGIN_CLOSED, &lc) < 0) {
		log_error("malformed message from login pid=%d: killing it", (int)login->pid);
		child_kill(login);
		return;
	}
	login_request_drop(login, lc.id);
	if ((mc = mconn_find(lc.id)) != NULL && mc->login == login)
		mconn_remove(mc);
}

static void
handle_mail_empty(struct child *ch, struct ipc_msg *m)
{
	struct ipc_mail_empty e;

	if (ipc_decode(m, IPC_MAIL_EMPTY, &e) < 0) {
		/* a mail process runs as its user: nothing it sends may stop the master */
		log_error("malformed message from mail pid=%d: killing it", (int)ch->pid);
		child_kill(ch);
		return;
	}
	/* a client counted by us but not yet by it is on its way: not idle */
	ch->empty = e.received == ch->sent;
	mail_maybe_idle(ch);
}

/* One message from a child; a type its role may not send kills it. */
static void
child_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx)
{
	struct child *ch = ctx;

	if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_AUTH) {
		handle_login_auth(ch, m);
	} else if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_HANDOFF) {
		handle_login_handoff(ch, m);
	} else if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_CLOSED) {
		handle_login_closed(ch, m);
	} else if (ch->role == ROLE_AUTH && m->type == IPC_AUTH_REPLY) {
		handle_auth_reply(ch, m);
	} else if (ch->role == ROLE_MAIL && m->type == IPC_MAIL_EMPTY) {
		handle_mail_empty(ch, m);
	} else if (ch->role == ROLE_MAIL && m->type == IPC_MAIL_DELIVERED) {
		handle_mail_delivered(ch, m);
	} else if (ch->role == ROLE_LMTP &&
	    (m->type == IPC_LMTP_RCPT || m->type == IPC_LMTP_DELIVER)) {
		handle_lmtp(ch, m);
	} else {
		log_error("unexpected message type=%u from pid=%d: killing it", m->type,
		    (int)ch->pid);
		child_kill(ch);
	}
}

/* ------------------------------------------------------------------ signals */

static void
fail_pending_auth(void)
{
	while (M.pending != NULL) {
		struct pending *p = M.pending;

		M.pending = p->next;
		if (p->kind == PK_LOGIN)
			login_reply(p, IPC_AUTH_TEMPFAIL);
		else
			lmtp_reply(p, p->kind == PK_RCPT ? IPC_LMTP_RCPT_RESULT :
			    IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, "");
		pending_free(p);
	}
}

static void
respawn_cb(evutil_socket_t fd, short what, void *ctx)
{
	enum child_role role = (enum child_role)(uintptr_t)ctx;

	if (role == ROLE_LOGIN)
		M.login_respawn_pending = false;
	if (M.stopping)
		return;
	if (role == ROLE_AUTH)
		spawn_auth();
	else if (role == ROLE_LOGIN)
		spawn_logins();
	else if (role == ROLE_LMTP)
		spawn_lmtp();
}

static void
sigchld_cb(evutil_socket_t sig, short what, void *ctx)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *ch;
		enum child_role role;
		uint64_t started;
		bool draining, single;

		for (ch = M.children; ch != NULL && ch->pid != pid; ch = ch->next)
			;
		if (ch == NULL)
			continue;
		role = ch->role;
		draining = ch->draining;
		single = ch->single;
		started = ch->started_ms;
		if (WIFSIGNALED(status) && !(M.stopping && WTERMSIG(status) == SIGTERM) &&
		    !(WTERMSIG(status) == SIGKILL && M.stopping))
			log_error("child pid=%d role=%s killed by signal %d", (int)pid,
			    role_names[role], WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0 && !M.stopping)
			log_error("child pid=%d exited with status %d", (int)pid, WEXITSTATUS(status));
		if (role == ROLE_MAIL)
			fail_deliveries_of(ch);
		child_forget(ch);
		if (M.stopping)
			continue;
		if (role == ROLE_AUTH)
			fail_pending_auth();
		if (role == ROLE_LOGIN && !draining && !single) {
			/*
			 * The pool is refilled at once after a crash, after 1, 2, 4 ... 30 s
			 * when login processes keep dying right after their start.
			 */
			struct timeval tv = { 0, 0 };

			if (clock_ms() - started < 2000)
				tv.tv_sec = MIN(1L << MIN(M.login_streak, 5U), 30L);
			if (clock_ms() - started < 2000)
				M.login_streak++;
			else
				M.login_streak = 0;
			if (!M.login_respawn_pending) {
				M.login_respawn_pending = true;
				event_base_once(M.base, -1, EV_TIMEOUT, respawn_cb,
				    (void *)(uintptr_t)role, &tv);
			}
		} else if (role == ROLE_AUTH || (role == ROLE_LMTP && !draining)) {
			/* a child that dies at once is restarted after a pause, not in a loop */
			struct timeval tv = { clock_ms() - started < 2000 ? 1 : 0, 0 };

			event_base_once(M.base, -1, EV_TIMEOUT, respawn_cb,
			    (void *)(uintptr_t)role, &tv);
		}
	}
	if (M.stopping && M.children == NULL)
		event_base_loopexit(M.base, NULL);
}

static void
stop_timeout_cb(evutil_socket_t fd, short what, void *ctx)
{
	for (struct child *ch = M.children; ch != NULL; ch = ch->next)
		kill(ch->pid, SIGKILL);
}

static void
sigterm_cb(evutil_socket_t sig, short what, void *ctx)
{
	struct timeval tv = { 5, 0 };

	if (M.stopping)
		return;
	log_info("shutting down (signal %d)", (int)sig);
	M.stopping = true;
	accept_update();
	fail_pending_auth();
	for (struct child *ch = M.children; ch != NULL; ch = ch->next)
		kill(ch->pid, SIGTERM);
	if (M.children == NULL) {
		event_base_loopexit(M.base, NULL);
		return;
	}
	M.stop_timer = evtimer_new(M.base, stop_timeout_cb, NULL);
	evtimer_add(M.stop_timer, &tv);
}

static void
sighup_cb(evutil_socket_t sig, short what, void *ctx)
{
	struct config *ncfg;
	struct tls_server *ts;
	char *err = NULL;

	log_info("reloading configuration %s", M.cfgpath);
	if (config_load(M.cfgpath, &ncfg, &err) < 0) {
		log_error("reload failed, keeping the running configuration: %s", err);
		free(err);
		return;
	}
	if (ncfg->ssl_count > 0 && (ts = tls_server_create(ncfg, "imap", &err)) == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		free(err);
		config_free(&ncfg);
		return;
	} else if (ncfg->ssl_count > 0) {
		tls_server_destroy(&ts);
	}
	if (ncfg->imap_port != M.cfg->imap_port || ncfg->imaps_port != M.cfg->imaps_port ||
	    ncfg->pop3_port != M.cfg->pop3_port || ncfg->pop3s_port != M.cfg->pop3s_port ||
	    (ncfg->lmtp_listen == NULL) != (M.cfg->lmtp_listen == NULL) ||
	    (ncfg->lmtp_listen != NULL && strcmp(ncfg->lmtp_listen, M.cfg->lmtp_listen) != 0))
		log_warn("reload: listener changes take effect at the next restart");
	config_free(&M.cfg);
	M.cfg = ncfg;
	tls_warn_expiry(M.cfg);
	/* new login processes get the new certificates; old ones finish their sessions */
	for (struct child *ch = M.children; ch != NULL; ch = ch->next) {
		struct ipc_msg m;

		if ((ch->role == ROLE_LOGIN || ch->role == ROLE_LMTP) && !ch->draining) {
			ch->draining = true;
			if (ipc_encode(&m, IPC_LOGIN_DRAIN, NULL) == 0)
				(void)child_send(ch, &m, -1);
		} else if (ch->role == ROLE_AUTH) {
			kill(ch->pid, SIGHUP);
		}
	}
	spawn_logins();
	spawn_lmtp();
	accept_update();
}

/* ------------------------------------------------------------------ start-up */

static int
listen_on(const char *addr, uint16_t port)
{
	struct addrinfo hints, *res;
	char portstr[8];
	int fd, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(strcmp(addr, "*") == 0 ? NULL : addr, portstr, &hints, &res) != 0)
		fatal("listen = %s: not a numeric address", addr);
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0)
		fatal("bind %s port %u: %s", addr, port, strerror(errno));
	if (listen(fd, 1024) < 0)
		fatal("listen %s port %u: %s", addr, port, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/*
 * The socket gets lmtp_socket_mode and lmtp_socket_group as it is created: the umask
 * and the effective gid in force at bind(2) decide them, so root never chmods or chowns
 * a path in a directory someone else may write (Postfix's private/ belongs to postfix).
 */
static int
listen_unix(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	gid_t gid = M.cfg->lmtp_socket_gid, saved_gid = getegid();
	mode_t mode = (mode_t)M.cfg->lmtp_socket_mode, old_umask;
	int fd, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatal("lmtp_listen: unix socket path too long");
	memcpy(sun.sun_path, path, strlen(path));
	/* a stale socket from an earlier run is replaced; anything else is an error */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatal("lmtp_listen: %s exists and is not a socket", path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	if (gid != (gid_t)-1 && gid != saved_gid && setegid(gid) < 0)
		fatal("lmtp_socket_group %u: %s", (unsigned)gid, strerror(errno));
	old_umask = umask(~mode & 0777);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (gid != (gid_t)-1 && gid != saved_gid && setegid(saved_gid) < 0)
		panic("setegid back to %u: %s", (unsigned)saved_gid, strerror(errno));
	if (r < 0)
		fatal("bind %s: %s", path, strerror(errno));
	/* a set-group-ID directory overrides our group: say so rather than run with it */
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 0777) != mode ||
	    (gid != (gid_t)-1 && st.st_gid != gid))
		fatal("lmtp_listen %s: the socket did not get mode %04o group %d (set-group-ID "
		    "directory?)", path, (unsigned)mode, gid == (gid_t)-1 ? -1 : (int)gid);
	if (listen(fd, 1024) < 0)
		fatal("listen %s: %s", path, strerror(errno));
	log_info("lmtp socket %s mode=%04o gid=%u", path, (unsigned)mode, (unsigned)st.st_gid);
	return fd;
}

/* lmtp_listen: "unix:/path", "host:port" or "[v6addr]:port". */
static int
listen_lmtp(const char *spec)
{
	const char *colon;
	char host[256];
	uint32_t port;
	size_t hlen;

	if (str_has_prefix(spec, "unix:"))
		return listen_unix(spec + 5);
	colon = strrchr(spec, ':');
	if (colon == NULL || parse_u32(colon + 1, strlen(colon + 1), &port) < 0 || port == 0 ||
	    port > 65535)
		fatal("lmtp_listen = %s: expected host:port or unix:/path", spec);
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		fatal("lmtp_listen = %s: bad host", spec);
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	return listen_on(host, (uint16_t)port);
}

static void
setup_listeners(void)
{
	M.lmtp_fd = M.cfg->lmtp_listen != NULL ? listen_lmtp(M.cfg->lmtp_listen) : -1;
	for (unsigned i = 0; i < M.cfg->listen_count; i++) {
		if (M.cfg->imap_port != 0 && M.nlisten < MASTER_MAX_LISTENERS) {
			M.listen_tls[M.nlisten] = false;
			M.listen_kind[M.nlisten] = "imap";
			M.listen_fd[M.nlisten++] = listen_on(M.cfg->listen[i], M.cfg->imap_port);
		}
		if (M.cfg->imaps_port != 0 && M.nlisten < MASTER_MAX_LISTENERS) {
			if (M.cfg->ssl_count == 0)
				fatal("imaps_port is set but no ssl_cert/ssl_key is configured");
			M.listen_tls[M.nlisten] = true;
			M.listen_kind[M.nlisten] = "imaps";
			M.listen_fd[M.nlisten++] = listen_on(M.cfg->listen[i], M.cfg->imaps_port);
		}
		if (M.cfg->pop3_port != 0 && M.nlisten < MASTER_MAX_LISTENERS) {
			M.listen_tls[M.nlisten] = false;
			M.listen_kind[M.nlisten] = "pop3";
			M.listen_fd[M.nlisten++] = listen_on(M.cfg->listen[i], M.cfg->pop3_port);
		}
		if (M.cfg->pop3s_port != 0 && M.nlisten < MASTER_MAX_LISTENERS) {
			if (M.cfg->ssl_count == 0)
				fatal("pop3s_port is set but no ssl_cert/ssl_key is configured");
			M.listen_tls[M.nlisten] = true;
			M.listen_kind[M.nlisten] = "pop3s";
			M.listen_fd[M.nlisten++] = listen_on(M.cfg->listen[i], M.cfg->pop3s_port);
		}
	}
}

/*
 * lmtp_spool_dir: LMTP messages above lmtp_spool_threshold in transit, as unlinked
 * files of the lmtp process. Created 0700 and owned by login_user (the lmtp process
 * opens it before its chroot). Its parent must be root's alone, so root never creates
 * or chowns anything in a path someone else can write; the directory itself is fchown'ed
 * through an O_NOFOLLOW fd. Names a crashed lmtp process left (it unlinks each file
 * right after opening it) are removed; unlinkat never follows a symlink.
 */
static void
setup_spool_dir(void)
{
	const char *dir = M.cfg->lmtp_spool_dir;
	char *parent = xstrdup(dir), *slash = strrchr(parent, '/');
	struct stat st;
	struct dirent *de;
	DIR *d;
	int pfd, fd;
	unsigned stale = 0;

	if (slash == NULL || slash[1] == '\0')
		fatal("lmtp_spool_dir %s: expected an absolute path to a directory", dir);
	*slash = '\0';
	pfd = open(parent[0] == '\0' ? "/" : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) < 0)
		fatal("lmtp_spool_dir %s: parent directory: %s", dir, strerror(errno));
	if (priv_is_root() && (st.st_uid != 0 || (st.st_mode & 022) != 0))
		fatal("lmtp_spool_dir %s: its parent must be a root-owned directory not writable "
		    "by others", dir);
	if (mkdirat(pfd, slash + 1, 0700) < 0 && errno != EEXIST)
		fatal("lmtp_spool_dir %s: %s", dir, strerror(errno));
	fd = openat(pfd, slash + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fatal("lmtp_spool_dir %s: %s", dir, strerror(errno));
	if (priv_is_root() && (fchown(fd, M.login_uid, M.login_gid) < 0 || fchmod(fd, 0700) < 0))
		fatal("lmtp_spool_dir %s: %s", dir, strerror(errno));
	close(pfd);
	free(parent);
	if ((d = fdopendir(dup(fd))) == NULL)
		fatal("lmtp_spool_dir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			stale++;
	}
	closedir(d);
	close(fd);
	if (stale > 0)
		log_warn("lmtp_spool_dir %s: removed %u stale entries", dir, stale);
}

static void
setup_dirs(void)
{
	struct stat st;

	if (mkdir(M.cfg->base_dir, 0755) < 0 && errno != EEXIST)
		fatal("base_dir %s: %s", M.cfg->base_dir, strerror(errno));
	M.login_chroot = xasprintf("%s/login", M.cfg->base_dir);
	if (mkdir(M.login_chroot, 0755) < 0 && errno != EEXIST)
		fatal("%s: %s", M.login_chroot, strerror(errno));
	if (priv_is_root()) {
		struct passwd *pw = getpwnam(M.cfg->login_user);

		if (pw == NULL)
			fatal("login_user %s does not exist (create it: useradd --system "
			    "--no-create-home --shell /usr/sbin/nologin %s)", M.cfg->login_user,
			    M.cfg->login_user);
		if (pw->pw_uid == 0)
			fatal("login_user must not be root");
		M.login_uid = pw->pw_uid;
		M.login_gid = pw->pw_gid;
		/* the chroot must be root-owned and empty so the login process can change nothing */
		if (lstat(M.login_chroot, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    (st.st_mode & 022) != 0)
			fatal("%s must be a root-owned directory not writable by others",
			    M.login_chroot);
	}
	if (M.cfg->lmtp_listen != NULL)
		setup_spool_dir();
}

/*
 * Every connection costs descriptors (two per TLS session in a login process): take the
 * hard limit as the soft one, for the master and every child it starts.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the open files limit: %s", strerror(errno));
}

static void
write_pidfile(void)
{
	char *tmp = xasprintf("%s.tmp", M.pidfile);
	FILE *f = fopen(tmp, "we");

	if (f == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 ||
	    rename(tmp, M.pidfile) < 0)
		fatal("pid file %s: %s", M.pidfile, strerror(errno));
	free(tmp);
}

int
master_main(const char *config_path)
{
	struct event *sigs[5];
	struct tls_server *ts;
	char *err = NULL;

	memset(&M, 0, sizeof(M));
	log_set_ident("master");
	M.cfgpath = xstrdup(config_path);
	if (config_load(config_path, &M.cfg, &err) < 0)
		fatal("%s", err);
	if (strcmp(M.cfg->log_level, "debug") == 0)
		log_set_level(LOG_LEVEL_DEBUG);
	if (!priv_is_root())
		log_warn("running as uid %u, not root: every process runs as this user, without "
		    "privilege separation", (unsigned)getuid());
	if (M.cfg->ssl_count > 0) {
		if ((ts = tls_server_create(M.cfg, "imap", &err)) == NULL)
			fatal("%s", err);
		tls_server_destroy(&ts);
		tls_warn_expiry(M.cfg);
	} else {
		log_warn("no ssl_cert configured: STARTTLS and imaps are off");
	}
	umask(077);
	raise_nofile();
	setup_dirs();
	setup_listeners();
	signal(SIGPIPE, SIG_IGN);
	M.base = event_base_new();
	sigs[0] = evsignal_new(M.base, SIGCHLD, sigchld_cb, NULL);
	sigs[1] = evsignal_new(M.base, SIGTERM, sigterm_cb, NULL);
	sigs[2] = evsignal_new(M.base, SIGINT, sigterm_cb, NULL);
	sigs[3] = evsignal_new(M.base, SIGHUP, sighup_cb, NULL);
	for (int i = 0; i < 4; i++)
		event_add(sigs[i], NULL);
	M.pidfile = master_pid_path(M.cfg->base_dir);
	write_pidfile();
	M.accept_timer = evtimer_new(M.base, accept_resume_cb, NULL);
	for (unsigned i = 0; i < M.nlisten; i++)
		M.listen_ev[i] = event_new(M.base, M.listen_fd[i], EV_READ | EV_PERSIST,
		    listener_cb, (void *)(uintptr_t)i);
	spawn_auth();
	spawn_logins();
	spawn_lmtp();
	accept_update();
	log_info("buzon started imap_port=%u imaps_port=%u listen=%s", M.cfg->imap_port,
	    M.cfg->imaps_port, M.cfg->listen[0]);
	event_base_dispatch(M.base);
	unlink(M.pidfile);
	for (int i = 0; i < 4; i++)
		event_free(sigs[i]);
	if (M.stop_timer != NULL)
		event_free(M.stop_timer);
	for (unsigned i = 0; i < M.nlisten; i++) {
		if (M.listen_ev[i] != NULL)
			event_free(M.listen_ev[i]);
		close(M.listen_fd[i]);
	}
	event_free(M.accept_timer);
	if (M.lmtp_fd >= 0)
		close(M.lmtp_fd);
	while (M.delivering != NULL) {
		struct pending *p = M.delivering;

		M.delivering = p->next;
		pending_free(p);
	}
	while (M.handoffs != NULL) {
		struct pending *p = M.handoffs;

		M.handoffs = p->next;
		pending_free(p);
	}
	while (M.children != NULL)
		child_forget(M.children);
	event_base_free(M.base);
	free(M.pidfile);
	free(M.login_chroot);
	free(M.cfgpath);
	config_free(&M.cfg);
	log_info("stopped");
	return 0;
}
