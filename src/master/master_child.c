/*
 * master_child.c — the master's children (see master_private.h): fork+exec with only
 * their own descriptors and a clean environment, their IPC peers (every message from a
 * child is decoded here and handed to the part that owns it; a type its role may not
 * send, or broken framing, kills it), their stderr lines, and their supervision
 * (reaping, restarting with a pause). Runs in the master (root).
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

const char *const role_names[] = { "auth", "login", "mail", "lmtp" };

static void child_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx);
static void child_peer_error_cb(struct ipc_peer *peer, int error, void *ctx);
static void child_log_cb(evutil_socket_t fd, short what, void *ctx);

/* Write one line a child logged; lines that do not name the child get its name. */
static void
child_log_line(struct child *ch, const char *p, size_t n)
{
	static const char *const names[] = { "auth", "login", "mail", "lmtp" };
	char tag[32], out[4200];
	int k;

	if (log_json_child_line(names[ch->role], (long)ch->pid, p, n))
		return;
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

static bool
env_allowed(const char *e)
{
	return !str_has_prefix(e, "LD_") && !str_has_prefix(e, "MALLOC_") &&
	    !str_has_prefix(e, "BUZON_LOGIN_") && !str_has_prefix(e, "NOTIFY_SOCKET=");
}

struct child *
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
void
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
	control_child_gone(ch);
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
			if (p->mail != NULL)
				p->mail->handoffs--;
			handoff_abandon(p);
		} else {
			hp = &p->next;
		}
	}
	while (ch->untaken != NULL) {
		struct pending *p = ch->untaken;

		ch->untaken = p->next;
		pending_free(p);
	}
	master_metrics_forget(ch);
	free(ch->user);
	free(ch);
}

/*
 * Send m (with fd >= 0 attached; it stays ours) to a child without waiting: what its
 * socket does not take is queued. A child that does not drain its queue is killed
 * (child_peer_error_cb). Returns -1 when the message cannot reach it.
 */
int
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
void
child_kill(struct child *ch)
{
	kill(ch->pid, SIGKILL);
	ipc_peer_destroy(&ch->peer);
	if (ch->role == ROLE_MAIL)
		ch->closing = true;
}

void
spawn_lmtp(void)
{
	char spec[32];

	if (M.lmtp_fd < 0)
		return;
	snprintf(spec, sizeof(spec), "lmtp=%d", CHILD_FD_FIRST_EXTRA);
	if (child_spawn(ROLE_LMTP, "lmtp", &M.lmtp_fd, 1, "--fds", spec) == NULL)
		log_error("cannot start the lmtp process");
}

void
spawn_auth(void)
{
	M.auth = child_spawn(ROLE_AUTH, "auth", NULL, 0, NULL, NULL);
	if (M.auth == NULL)
		log_error("cannot start the auth process");
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
	} else if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_VERIFY) {
		handle_login_verify(ch, m);
	} else if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_LOOKUP) {
		handle_login_lookup(ch, m);
	} else if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_QUOTA) {
		handle_login_quota(ch, m);
	} else if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_SCRAM) {
		handle_login_scram(ch, m);
	} else if (ch->role == ROLE_LOGIN && m->type == IPC_LOGIN_METRICS) {
		handle_login_metrics(ch, m);
	} else if ((ch->role == ROLE_LOGIN || ch->role == ROLE_MAIL) &&
	    m->type == IPC_METRICS_REPORT) {
		handle_metrics_report(ch, m);
	} else if (ch->role == ROLE_AUTH && m->type == IPC_AUTH_REPLY) {
		handle_auth_reply(ch, m);
	} else if (ch->role == ROLE_AUTH && m->type == IPC_AUTH_SCRAM_PARAMS) {
		handle_auth_scram_params(ch, m);
	} else if (ch->role == ROLE_MAIL && m->type == IPC_MAIL_TAKEN) {
		handle_mail_taken(ch, m);
	} else if (ch->role == ROLE_MAIL && m->type == IPC_MAIL_EMPTY) {
		handle_mail_empty(ch, m);
	} else if (ch->role == ROLE_MAIL && m->type == IPC_MAIL_DELIVERED) {
		handle_mail_delivered(ch, m);
	} else if (ch->role == ROLE_MAIL && m->type == IPC_MAIL_REJECTED) {
		handle_mail_rejected(ch, m);
	} else if (ch->role == ROLE_MAIL && m->type == IPC_MAIL_QUOTA_RESULT) {
		handle_mail_quota_result(ch, m);
	} else if ((ch->role == ROLE_MAIL || ch->role == ROLE_AUTH) &&
	    m->type == IPC_ADMIN_REPLY) {
		handle_admin_reply(ch, m);
	} else if (ch->role == ROLE_LMTP &&
	    (m->type == IPC_LMTP_RCPT || m->type == IPC_LMTP_DELIVER)) {
		handle_lmtp(ch, m);
	} else {
		log_error("unexpected message type=%u (%s) from %s pid=%d: killing it", m->type,
		    ipc_type_name(m->type), role_names[ch->role], (int)ch->pid);
		child_kill(ch);
	}
}

void
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

void
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
		if (role == ROLE_MAIL) {
			fail_deliveries_of(ch);
			mail_reroute_untaken(ch);
		}
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
