/*
 * master_accept.c — the master accepts every client connection and hands it to a login
 * process: the least loaded of the pool, or a new one per connection. It counts
 * connections not yet logged in, in total and per IPv4 address / IPv6 /64, refuses or
 * evicts over the caps, and pauses accepting when descriptors run out. It reads
 * nothing a client sends. Runs in the master (root).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/priv.h"
#include "lib/tls.h"
#include "master/master.h"
#include "master/master_private.h"

static struct ipcount *
ipcount_get(const unsigned char key[16], bool create)
{
	struct ipcount **pp = &M.ipcounts[netaddr_key_hash(key) % IPCOUNT_BUCKETS], *ic;

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
	struct ipcount **pp = &M.ipcounts[netaddr_key_hash(ic->key) % IPCOUNT_BUCKETS];

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

struct mconn *
mconn_find(uint32_t id)
{
	struct mconn *mc;

	for (mc = M.mconns[id % MCONN_BUCKETS]; mc != NULL; mc = mc->hnext)
		if (mc->id == id)
			return mc;
	return NULL;
}

/* The connection logged in (or left): it no longer counts against the pre-login caps. */
void
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

void
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
void
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
void
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
	static const char sieve_bye[] = "BYE (TRYLATER) \"Too many connections.\"\r\n";
	static const char http_busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0"
	    "\r\nRetry-After: 5\r\nConnection: close\r\n\r\n";
	bool pop3 = strncmp(M.listen_kind[idx], "pop3", 4) == 0;
	bool sieve = strcmp(M.listen_kind[idx], "managesieve") == 0;
	bool jmap = strncmp(M.listen_kind[idx], "jmap", 4) == 0;
	uint64_t now = clock_ms();

	if (!M.listen_tls[idx] && strcmp(M.listen_kind[idx], "auth") != 0 &&
	    strcmp(M.listen_kind[idx], "socketmap") != 0 &&
	    strcmp(M.listen_kind[idx], "quotapolicy") != 0 &&
	    strcmp(M.listen_kind[idx], "metrics") != 0)
		(void)!send(fd, pop3 ? pop3_err : sieve ? sieve_bye : jmap ? http_busy : imap_bye,
		    (pop3 ? sizeof(pop3_err) : sieve ? sizeof(sieve_bye) : jmap ?
		    sizeof(http_busy) : sizeof(imap_bye)) - 1,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
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
	/* the auth_listen socket's clients are the local MTA's processes (the socket's mode
	 * and group decide who): not pre-login clients, not under their caps */
	bool authsock = strcmp(M.listen_kind[idx], "auth") == 0;
	bool socketmap = strcmp(M.listen_kind[idx], "socketmap") == 0;
	bool quotapolicy = strcmp(M.listen_kind[idx], "quotapolicy") == 0;

	if (authsock || socketmap || quotapolicy) {
		haskey = false;
	} else if (M.prelogin >= M.cfg->login_max_connections && !prelogin_evict()) {
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
	mc->authsock = authsock;
	mc->socketmap = socketmap;
	mc->quotapolicy = quotapolicy;
	/* metrics_listen: an HTTP client, under the pre-login caps like any other */
	mc->metrics = strcmp(M.listen_kind[idx], "metrics") == 0;
	login->nconns++;
	if (!authsock && !socketmap && !quotapolicy) {
		mc->prelogin = true;
		M.prelogin++;
	}
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

void
accept_update(void)
{
	accept_enable(!M.accept_paused && !M.stopping);
}

void
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

void
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
