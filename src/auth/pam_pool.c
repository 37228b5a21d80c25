/*
 * pam_pool.c — the PAM worker pool of the auth process (see pam_pool.h). The pool
 * side runs inside auth's event loop and must never block: it sends with
 * MSG_DONTWAIT, reads results from a read event and kills what does not answer. The
 * worker side is a forked copy of auth (root, not dumpable, every fd but its socket
 * and stderr closed, default signal handlers) that loops on blocking reads; it holds
 * one plaintext password at a time and wipes it before it answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <poll.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/pam_pool.h"
#include "auth/password.h"
#include "lib/log.h"
#include "lib/util.h"

#define WORKER_FD		3
#define RESPAWN_RETRY_SEC	1

struct pam_pool_job {
	struct pam_pool_job *next;
	uint32_t kind;
	char *user, *rhost;
	char *password;
	size_t password_len;
	pam_pool_cb *cb;
	void *ctx;
};

struct pam_worker {
	pid_t pid;		/* 0: no process */
	bool reaped;		/* pid has been waited for: never kill() it (reuse) */
	int fd;			/* -1 if none */
	struct event *ev;	/* readable: a result or EOF */
	struct event *timer;	/* the job's deadline */
	struct pam_pool_job *job;	/* in flight, NULL when idle */
	uint32_t job_id;
	uint64_t job_start_ms;
	uint64_t start_ms;	/* forked at */
};

static struct {
	struct event_base *base;
	unsigned nworkers;
	unsigned timeout_ms;
	struct pam_worker w[PAM_POOL_MAX_WORKERS];
	struct pam_pool_job *qhead, *qtail;
	unsigned queued;
	uint32_t next_id;
	char *dummy;		/* the dummy template the workers use */
	struct event *sigchld, *respawn, *kick;
	bool started;
} P;

static struct ipc_msg worker_msg;	/* a worker's only buffer */

/* ---- protocol --------------------------------------------------------------------- */

int
pam_job_encode(struct ipc_msg *m, uint32_t id, uint32_t kind, const char *user,
    const char *password, size_t password_len, const char *rhost)
{
	size_t ulen = strlen(user), rlen = strlen(rhost);

	if ((kind != PAM_JOB_AUTH && kind != PAM_JOB_DUMMY) ||
	    (ulen == 0 && kind == PAM_JOB_AUTH) || ulen > USER_NAME_MAX || rlen > PAM_POOL_RHOST_MAX ||
	    password_len > PAM_POOL_PASS_MAX || memchr(password, '\0', password_len) != NULL)
		return -1;
	ipc_msg_init(m, PAM_MSG_JOB);
	ipc_put_u32(m, PAM_MSG_JOB);
	ipc_put_u32(m, id);
	ipc_put_u32(m, kind);
	ipc_put_str(m, user);
	ipc_put_bytes(m, password, password_len);
	ipc_put_str(m, rhost);
	return m->overflow ? -1 : 0;
}

/* Copy a length-prefixed field into buf (max bytes + NUL); NUL inside is malformed. */
static int
get_field(struct ipc_msg *m, char *buf, size_t max, size_t *len_r)
{
	const void *p;
	size_t len;

	if (ipc_get_bytes(m, &p, &len) < 0 || len > max || memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (len_r != NULL)
		*len_r = len;
	return 0;
}

int
pam_job_decode(struct ipc_msg *m, struct pam_job *j)
{
	uint32_t type;
	size_t ulen;

	memset(j, 0, sizeof(*j));
	if (ipc_get_u32(m, &type) < 0 || type != PAM_MSG_JOB || ipc_get_u32(m, &j->id) < 0 ||
	    ipc_get_u32(m, &j->kind) < 0 ||
	    (j->kind != PAM_JOB_AUTH && j->kind != PAM_JOB_DUMMY) ||
	    get_field(m, j->user, USER_NAME_MAX, &ulen) < 0 ||
	    (ulen == 0 && j->kind == PAM_JOB_AUTH) ||
	    get_field(m, j->password, PAM_POOL_PASS_MAX, &j->password_len) < 0 ||
	    get_field(m, j->rhost, PAM_POOL_RHOST_MAX, NULL) < 0 || !ipc_get_done(m)) {
		secret_wipe(j, sizeof(*j));
		return -1;
	}
	return 0;
}

void
pam_result_encode(struct ipc_msg *m, uint32_t id, int result)
{
	ipc_msg_init(m, PAM_MSG_RESULT);
	ipc_put_u32(m, PAM_MSG_RESULT);
	ipc_put_u32(m, id);
	ipc_put_u32(m, result > 0 ? 1 : result == 0 ? 0 : 2);
}

int
pam_result_decode(struct ipc_msg *m, uint32_t *id_r, int *result_r)
{
	uint32_t type, v;

	if (ipc_get_u32(m, &type) < 0 || type != PAM_MSG_RESULT || ipc_get_u32(m, id_r) < 0 ||
	    ipc_get_u32(m, &v) < 0 || v > 2 || !ipc_get_done(m))
		return -1;
	*result_r = v == 2 ? -1 : (int)v;
	return 0;
}

/* One datagram into m (without blocking when flags has MSG_DONTWAIT): 1, 0 EOF, -1. */
static int
msg_recv(int fd, struct ipc_msg *m, int flags)
{
	ssize_t n;

	ipc_msg_init(m, 0);
	do {
		n = recv(fd, m->data, sizeof(m->data), flags | MSG_TRUNC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	if ((size_t)n > sizeof(m->data)) {
		errno = EBADMSG;
		return -1;
	}
	m->len = (uint32_t)n;
	return 1;
}

/* ---- the worker ------------------------------------------------------------------- */

struct conv_ctx {
	const char *password;
};

static int
conv_fn(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct conv_ctx *ctx = data;
	struct pam_response *r;

	if (n <= 0 || n > 16)
		return PAM_CONV_ERR;
	r = xcalloc((size_t)n, sizeof(*r));
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			/* PAM frees the responses with free() */
			r[i].resp = strdup(ctx->password);
			if (r[i].resp == NULL)
				goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			secret_wipe(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

/* PAM_FAIL_DELAY: PAM must not sleep; auth delays failures per client network. */
static void
no_fail_delay(int retval, unsigned usec_delay, void *appdata)
{
}

/* Returns 1 ok, 0 refused, -1 PAM trouble (logged). */
static int
worker_pam(const char *name, const char *password, const char *rhost)
{
	struct conv_ctx ctx = { password };
	struct pam_conv conv = { conv_fn, &ctx };
	pam_handle_t *h = NULL;
	int r;

	r = pam_start("buzon", name, &conv, &h);
	if (r != PAM_SUCCESS) {
		log_error("auth pam_start failed: %s", pam_strerror(h, r));
		return -1;
	}
	r = pam_set_item(h, PAM_FAIL_DELAY, (const void *)no_fail_delay);
	if (r == PAM_SUCCESS && rhost[0] != '\0')
		r = pam_set_item(h, PAM_RHOST, rhost);
	if (r == PAM_SUCCESS)
		r = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(h, PAM_SILENT);
	switch (r) {
	case PAM_SUCCESS:
		pam_end(h, r);
		return 1;
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_PERM_DENIED:
	case PAM_MAXTRIES:
		pam_end(h, r);
		return 0;
	default:
		log_error("auth pam error=\"%s\"", pam_strerror(h, r));
		pam_end(h, r);
		return -1;
	}
}

static void
worker_reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &sa, NULL);	/* fails harmlessly for KILL, STOP, RT */
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn))
worker_main(int sock, pid_t parent)
{
	struct ipc_msg *m = &worker_msg;
	struct pam_job job;
	uint32_t id;

	/*
	 * Only the own socket (as WORKER_FD) and stdio stay: not auth's IPC socket to the
	 * master, not the other workers' sockets, not libevent's fds (whose signal
	 * handlers would write to reused fd numbers, hence the reset).
	 */
	if (sock != WORKER_FD && dup3(sock, WORKER_FD, O_CLOEXEC) < 0)
		_exit(1);
	if (close_range(WORKER_FD + 1, ~0U, 0) < 0)
		_exit(1);
	worker_reset_signals();
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	/* a replacement is forked late: wipe the passwords queued in its copy of the pool */
	for (struct pam_pool_job *j = P.qhead; j != NULL; j = j->next)
		secret_wipe(j->password, j->password_len);
	if (P.dummy != NULL && password_dummy_set(P.dummy) < 0)
		log_warn("auth pam worker: unusable dummy template, using the default");
	for (;;) {
		int r = msg_recv(WORKER_FD, m, 0), res;

		if (r == 0)
			_exit(0);	/* auth is gone */
		if (r < 0) {
			log_error("auth pam worker: read: %s", strerror(errno));
			_exit(1);
		}
		if (pam_job_decode(m, &job) < 0) {
			log_error("auth pam worker: malformed job");
			_exit(1);
		}
		secret_wipe(m->data, m->len);
		if (job.kind == PAM_JOB_AUTH) {
			res = worker_pam(job.user, job.password, job.rhost);
		} else {
			password_verify_dummy(job.password, job.password_len);
			res = 0;
		}
		id = job.id;
		secret_wipe(&job, sizeof(job));
		pam_result_encode(m, id, res);
		if (send(WORKER_FD, m->data, m->len, MSG_NOSIGNAL) < 0)
			_exit(0);
	}
}

/* ---- the pool (auth's event loop) --------------------------------------------------- */

static void worker_read_cb(evutil_socket_t fd, short what, void *ctx);
static void worker_timeout_cb(evutil_socket_t fd, short what, void *ctx);
static void dispatch(void);

static void
job_free(struct pam_pool_job *j)
{
	if (j->password != NULL) {
		secret_wipe(j->password, j->password_len);
		free(j->password);
	}
	free(j->user);
	free(j->rhost);
	free(j);
}

static void
job_finish(struct pam_pool_job *j, int result)
{
	pam_pool_cb *cb = j->cb;
	void *ctx = j->ctx;

	job_free(j);
	cb(result, ctx);
}

static int
worker_spawn(struct pam_worker *w)
{
	int sv[2];
	pid_t parent = getpid(), pid;

	if (ipc_socketpair(sv) < 0) {
		log_error("auth pam worker: socketpair: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("auth pam worker: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		worker_main(sv[1], parent);
	}
	close(sv[1]);
	evutil_make_socket_nonblocking(sv[0]);
	w->pid = pid;
	w->reaped = false;
	w->start_ms = clock_ms();
	w->fd = sv[0];
	w->job = NULL;
	w->ev = event_new(P.base, w->fd, EV_READ | EV_PERSIST, worker_read_cb, w);
	w->timer = evtimer_new(P.base, worker_timeout_cb, w);
	event_add(w->ev, NULL);
	log_debug("auth pam worker started pid=%d", (int)pid);
	return 0;
}

static void
kick_cb(evutil_socket_t fd, short what, void *ctx)
{
	dispatch();
}

static void
respawn_cb(evutil_socket_t fd, short what, void *ctx)
{
	bool missing = false;

	for (unsigned i = 0; i < P.nworkers; i++)
		if (P.w[i].fd < 0 && worker_spawn(&P.w[i]) < 0)
			missing = true;
	if (missing) {
		struct timeval tv = { RESPAWN_RETRY_SEC, 0 };

		evtimer_add(P.respawn, &tv);
	}
	dispatch();
}

/*
 * Drop a worker (killed if still running) and start a replacement; its job fails. A
 * worker that died idle within a second of its start is replaced a second later, so a
 * worker that cannot start does not make auth fork in a loop.
 */
static void
worker_fail(struct pam_worker *w, const char *why)
{
	struct pam_pool_job *j = w->job;
	bool early = j == NULL && clock_ms() - w->start_ms < RESPAWN_RETRY_SEC * 1000;

	log_error("auth pam worker pid=%d %s; replaced", (int)w->pid, why);
	w->job = NULL;
	if (w->pid > 0 && !w->reaped)
		(void)kill(w->pid, SIGKILL);	/* reaped by sigchld_cb */
	w->pid = 0;
	w->reaped = false;
	event_free(w->ev);
	event_free(w->timer);
	w->ev = w->timer = NULL;
	close(w->fd);
	w->fd = -1;
	if (early || worker_spawn(w) < 0) {
		struct timeval tv = { RESPAWN_RETRY_SEC, 0 };

		evtimer_add(P.respawn, &tv);
	}
	if (j != NULL)
		job_finish(j, -1);
	dispatch();
}

static void
worker_read_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct pam_worker *w = ctx;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	struct pam_pool_job *j;
	uint32_t id;
	int r, result;

	r = msg_recv(w->fd, m, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		free(m);
		return;
	}
	if (r <= 0) {
		free(m);
		worker_fail(w, r == 0 ? "exited" : "read error");
		return;
	}
	r = pam_result_decode(m, &id, &result);
	free(m);
	if (r < 0 || w->job == NULL || id != w->job_id) {
		worker_fail(w, "sent a malformed or unexpected result");
		return;
	}
	j = w->job;
	w->job = NULL;
	evtimer_del(w->timer);
	log_debug("auth pam job pid=%d kind=%u result=%d ms=%llu queued=%u", (int)w->pid,
	    j->kind, result, (unsigned long long)(clock_ms() - w->job_start_ms), P.queued);
	job_finish(j, result);
	dispatch();
}

static void
worker_timeout_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct pam_worker *w = ctx;

	worker_fail(w, "did not answer in time");
}

/*
 * Reap workers. A worker that exited is replaced here (its socket's EOF may come later
 * or never, if a PAM module's child inherited it); one killed by worker_fail() has
 * already been replaced and matches no slot.
 */
static void
sigchld_cb(evutil_socket_t sig, short what, void *ctx)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (unsigned i = 0; i < P.nworkers; i++) {
			if (P.w[i].pid != pid)
				continue;
			P.w[i].reaped = true;
			worker_fail(&P.w[i], WIFSIGNALED(st) ? "was killed by a signal" : "exited");
			break;
		}
	}
}

/* Hand queued jobs to idle workers. */
static void
dispatch(void)
{
	for (unsigned i = 0; i < P.nworkers && P.qhead != NULL; i++) {
		struct pam_worker *w = &P.w[i];
		struct pam_pool_job *j;
		struct ipc_msg *m;
		struct timeval tv;
		ssize_t n;
		size_t len;

		if (w->fd < 0 || w->reaped || w->job != NULL)
			continue;
		j = P.qhead;
		P.qhead = j->next;
		if (P.qhead == NULL)
			P.qtail = NULL;
		P.queued--;
		m = xmalloc(sizeof(*m));
		w->job_id = ++P.next_id;
		if (pam_job_encode(m, w->job_id, j->kind, j->user, j->password, j->password_len,
		    j->rhost) < 0) {
			free(m);
			job_finish(j, -1);	/* checked by submit: not reached */
			i--;
			continue;
		}
		len = m->len;
		n = send(w->fd, m->data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		secret_wipe(m->data, len);
		free(m);
		secret_wipe(j->password, j->password_len);
		w->job = j;
		w->job_start_ms = clock_ms();
		if (n != (ssize_t)len) {
			/* an idle worker's socket takes one datagram at once, or it is broken */
			worker_fail(w, "send failed");
			return;	/* worker_fail dispatched again */
		}
		tv.tv_sec = P.timeout_ms / 1000;
		tv.tv_usec = (suseconds_t)(P.timeout_ms % 1000) * 1000;
		evtimer_add(w->timer, &tv);
	}
}

int
pam_pool_submit(enum pam_job_kind kind, const char *user, const char *password,
    size_t password_len, const char *rhost, pam_pool_cb *cb, void *ctx)
{
	struct pam_pool_job *j;
	size_t ulen = strlen(user);

	if (!P.started || P.queued >= PAM_POOL_MAX_QUEUED ||
	    (ulen == 0 && kind == PAM_JOB_AUTH) || ulen > USER_NAME_MAX || strlen(rhost) > PAM_POOL_RHOST_MAX ||
	    password_len > PAM_POOL_PASS_MAX || memchr(password, '\0', password_len) != NULL)
		return -1;
	j = xcalloc(1, sizeof(*j));
	j->kind = kind;
	j->user = xstrdup(user);
	j->rhost = xstrdup(rhost);
	j->password = xmalloc(password_len + 1);
	memcpy(j->password, password, password_len);
	j->password[password_len] = '\0';
	j->password_len = password_len;
	j->cb = cb;
	j->ctx = ctx;
	if (P.qtail != NULL)
		P.qtail->next = j;
	else
		P.qhead = j;
	P.qtail = j;
	P.queued++;
	/* from the loop, so the callback never runs inside the caller */
	event_active(P.kick, EV_TIMEOUT, 0);
	return 0;
}

int
pam_pool_init(struct event_base *base, unsigned workers, unsigned timeout_ms)
{
	unsigned started = 0;

	if (P.started || workers == 0 || workers > PAM_POOL_MAX_WORKERS)
		return -1;
	P.base = base;
	P.nworkers = workers;
	P.timeout_ms = timeout_ms;
	for (unsigned i = 0; i < PAM_POOL_MAX_WORKERS; i++) {
		P.w[i].fd = -1;
		P.w[i].pid = 0;
	}
	P.sigchld = evsignal_new(base, SIGCHLD, sigchld_cb, NULL);
	event_add(P.sigchld, NULL);
	P.respawn = evtimer_new(base, respawn_cb, NULL);
	P.kick = event_new(base, -1, 0, kick_cb, NULL);
	for (unsigned i = 0; i < workers; i++)
		if (worker_spawn(&P.w[i]) == 0)
			started++;
	P.started = true;
	if (started < workers) {
		struct timeval tv = { RESPAWN_RETRY_SEC, 0 };

		evtimer_add(P.respawn, &tv);
	}
	return started > 0 ? 0 : -1;
}

void
pam_pool_start(struct event_base *base, const struct config *cfg)
{
	if (!cfg->system_users)
		return;
	/* unknown system users cost what a hash in /etc/shadow costs (done in the workers) */
	P.dummy = password_hash_system_default();
	if (P.dummy == NULL)
		log_warn("auth: no system-default password hash for the dummy check");
	if (pam_pool_init(base, cfg->auth_pam_workers, PAM_POOL_TIMEOUT_MS) < 0)
		fatal("auth: no PAM worker could be started");
	log_info("auth pam workers=%u", cfg->auth_pam_workers);
}

unsigned
pam_pool_pids(pid_t *pids, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < P.nworkers && n < max; i++)
		if (P.w[i].pid > 0 && !P.w[i].reaped)
			pids[n++] = P.w[i].pid;
	return n;
}

void
pam_pool_stop(void)
{
	struct pam_pool_job *j;

	if (!P.started)
		return;
	for (unsigned i = 0; i < P.nworkers; i++) {
		struct pam_worker *w = &P.w[i];

		if (w->fd < 0)
			continue;
		if (w->pid > 0 && !w->reaped) {
			(void)kill(w->pid, SIGKILL);
			(void)waitpid(w->pid, NULL, 0);
		}
		event_free(w->ev);
		event_free(w->timer);
		close(w->fd);
		w->fd = -1;
		w->pid = 0;
		if (w->job != NULL) {
			j = w->job;
			w->job = NULL;
			job_finish(j, -1);
		}
	}
	while ((j = P.qhead) != NULL) {
		P.qhead = j->next;
		job_finish(j, -1);
	}
	P.qtail = NULL;
	P.queued = 0;
	event_free(P.sigchld);
	event_free(P.respawn);
	event_free(P.kick);
	free(P.dummy);
	memset(&P, 0, sizeof(P));
}
