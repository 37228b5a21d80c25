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

struct master M;

char *
master_pid_path(const char *base_dir)
{
	return xasprintf("%s/buzon.pid", base_dir);
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
	master_notify_stopping();
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
reload_config(void)
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
	    ncfg->managesieve_port != M.cfg->managesieve_port ||
	    ncfg->jmap_port != M.cfg->jmap_port || ncfg->jmap_tls != M.cfg->jmap_tls ||
	    (ncfg->lmtp_listen == NULL) != (M.cfg->lmtp_listen == NULL) ||
	    (ncfg->lmtp_listen != NULL && strcmp(ncfg->lmtp_listen, M.cfg->lmtp_listen) != 0) ||
	    (ncfg->auth_listen == NULL) != (M.cfg->auth_listen == NULL) ||
	    (ncfg->auth_listen != NULL && strcmp(ncfg->auth_listen, M.cfg->auth_listen) != 0) ||
	    (ncfg->socketmap_listen == NULL) != (M.cfg->socketmap_listen == NULL) ||
	    (ncfg->socketmap_listen != NULL &&
	    strcmp(ncfg->socketmap_listen, M.cfg->socketmap_listen) != 0) ||
	    (ncfg->quota_policy_listen == NULL) != (M.cfg->quota_policy_listen == NULL) ||
	    (ncfg->quota_policy_listen != NULL &&
	    strcmp(ncfg->quota_policy_listen, M.cfg->quota_policy_listen) != 0) ||
	    (ncfg->metrics_listen == NULL) != (M.cfg->metrics_listen == NULL) ||
	    (ncfg->metrics_listen != NULL &&
	    strcmp(ncfg->metrics_listen, M.cfg->metrics_listen) != 0) ||
	    strcmp(ncfg->control_socket, M.cfg->control_socket) != 0)
		log_warn("reload: listener changes take effect at the next restart");
	config_free(&M.cfg);
	M.cfg = ncfg;
	log_set_json(M.cfg->log_json);
	rcpt_cache_clear();	/* the users may have changed with it */
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

static void
sighup_cb(evutil_socket_t sig, short what, void *ctx)
{
	master_notify_reloading();
	reload_config();
	master_notify_ready();
}

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
	if ((fd = master_sockact_take_inet(res->ai_addr)) >= 0) {
		log_info("listen %s port %u: the service manager's socket", addr, port);
		freeaddrinfo(res);
		return fd;
	}
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
 * The socket gets its mode and group (lmtp_socket_mode/group, auth_listen_mode/group) as
 * it is created: the umask and the effective gid in force at bind(2) decide them, so
 * root never chmods or chowns a path in a directory someone else may write (Postfix's
 * private/ belongs to postfix). key names the setting in messages.
 */
static int
listen_unix(const char *key, const char *path, unsigned mode_bits, gid_t gid)
{
	struct sockaddr_un sun;
	struct stat st;
	gid_t saved_gid = getegid();
	mode_t mode = (mode_t)mode_bits, old_umask;
	int fd, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatal("%s: unix socket path too long", key);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = master_sockact_take_unix(path)) >= 0) {
		/* its mode and group are the socket unit's (SocketMode=, SocketGroup=) */
		log_info("%s socket %s: the service manager's", key, path);
		return fd;
	}
	/* a stale socket from an earlier run is replaced; anything else is an error */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatal("%s: %s exists and is not a socket", key, path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	if (gid != (gid_t)-1 && gid != saved_gid && setegid(gid) < 0)
		fatal("%s group %u: %s", key, (unsigned)gid, strerror(errno));
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
		fatal("%s %s: the socket did not get mode %04o group %d (set-group-ID "
		    "directory?)", key, path, (unsigned)mode, gid == (gid_t)-1 ? -1 : (int)gid);
	if (listen(fd, 1024) < 0)
		fatal("listen %s: %s", path, strerror(errno));
	log_info("%s socket %s mode=%04o gid=%u", key, path, (unsigned)mode, (unsigned)st.st_gid);
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
		return listen_unix("lmtp_listen", spec + 5, M.cfg->lmtp_socket_mode,
		    M.cfg->lmtp_socket_gid);
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

/* quota_policy_listen: "unix:/path", or a loopback "host:port" (checked by config.c). */
static int
listen_quota_policy(const char *spec)
{
	const char *colon = strrchr(spec, ':');
	char host[64];
	uint32_t port = 0;
	size_t hlen;

	if (str_has_prefix(spec, "unix:"))
		return listen_unix("quota_policy_listen", spec + 5, M.cfg->quota_policy_listen_mode,
		    M.cfg->quota_policy_listen_gid);
	hlen = (size_t)(colon - spec);
	if (spec[0] == '[') {
		spec++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host) || parse_u32(colon + 1, strlen(colon + 1), &port) < 0)
		fatal("quota_policy_listen = %s: bad address", spec);
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
		if (M.cfg->managesieve_port != 0 && M.nlisten < MASTER_MAX_LISTENERS) {
			M.listen_tls[M.nlisten] = false;
			M.listen_kind[M.nlisten] = "managesieve";
			M.listen_fd[M.nlisten++] = listen_on(M.cfg->listen[i],
			    M.cfg->managesieve_port);
		}
		/* JMAP over HTTPS (docs/jmap.md); "jmaps" is the implicit-TLS kind */
		if (M.cfg->jmap_port != 0 && M.nlisten < MASTER_MAX_LISTENERS) {
			if (M.cfg->jmap_tls && M.cfg->ssl_count == 0)
				fatal("jmap_port is set with jmap_tls = yes but no ssl_cert/ssl_key "
				    "is configured");
			M.listen_tls[M.nlisten] = M.cfg->jmap_tls;
			M.listen_kind[M.nlisten] = M.cfg->jmap_tls ? "jmaps" : "jmap";
			M.listen_fd[M.nlisten++] = listen_on(M.cfg->listen[i], M.cfg->jmap_port);
		}
	}
	/* the Dovecot auth protocol for Postfix: served by the login processes too */
	if (M.cfg->auth_listen != NULL && M.nlisten < MASTER_MAX_LISTENERS) {
		M.listen_tls[M.nlisten] = false;
		M.listen_kind[M.nlisten] = "auth";
		M.listen_fd[M.nlisten++] = listen_unix("auth_listen", M.cfg->auth_listen + 5,
		    M.cfg->auth_listen_mode, M.cfg->auth_listen_gid);
	}
	/* Postfix's socketmap recipient check: the login processes too */
	if (M.cfg->socketmap_listen != NULL && M.nlisten < MASTER_MAX_LISTENERS) {
		M.listen_tls[M.nlisten] = false;
		M.listen_kind[M.nlisten] = "socketmap";
		M.listen_fd[M.nlisten++] = listen_unix("socketmap_listen",
		    M.cfg->socketmap_listen + 5, M.cfg->socketmap_listen_mode,
		    M.cfg->socketmap_listen_gid);
	}
	/* Postfix's quota policy service: the login processes too */
	if (M.cfg->quota_policy_listen != NULL && M.nlisten < MASTER_MAX_LISTENERS) {
		M.listen_tls[M.nlisten] = false;
		M.listen_kind[M.nlisten] = "quotapolicy";
		M.listen_fd[M.nlisten++] = listen_quota_policy(M.cfg->quota_policy_listen);
	}
	/* the metrics endpoint (HTTP): the login processes too, never parsed here */
	if (M.cfg->metrics_listen != NULL && M.nlisten < MASTER_MAX_LISTENERS) {
		M.listen_tls[M.nlisten] = false;
		M.listen_kind[M.nlisten] = "metrics";
		M.listen_fd[M.nlisten++] = listen_lmtp(M.cfg->metrics_listen);
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
	master_sockact_collect();	/* before any other descriptor is opened */
	M.cfgpath = xstrdup(config_path);
	if (config_load(config_path, &M.cfg, &err) < 0)
		fatal("%s", err);
	if (strcmp(M.cfg->log_level, "debug") == 0)
		log_set_level(LOG_LEVEL_DEBUG);
	log_set_json(M.cfg->log_json);
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
	master_sockact_close_unused();
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
	control_init();
	M.accept_timer = evtimer_new(M.base, accept_resume_cb, NULL);
	for (unsigned i = 0; i < M.nlisten; i++)
		M.listen_ev[i] = event_new(M.base, M.listen_fd[i], EV_READ | EV_PERSIST,
		    listener_cb, (void *)(uintptr_t)i);
	spawn_auth();
	spawn_logins();
	spawn_lmtp();
	accept_update();
	master_notify_ready();
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
	control_deinit();
	master_notify_deinit();
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
	rcpt_cache_clear();
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

