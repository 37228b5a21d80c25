/*
 * master_private.h — what the parts of the master share: the child, request and
 * connection records, the one master state (M), and the functions one part calls in
 * another. Runs in the master (root). See master.c for the security role.
 */
#ifndef BUZON_MASTER_PRIVATE_H
#define BUZON_MASTER_PRIVATE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/metrics.h"

#define MASTER_MAX_LISTENERS	32
#define CHILD_FD_IPC		3
#define CHILD_FD_FIRST_EXTRA	4

enum child_role { ROLE_AUTH, ROLE_LOGIN, ROLE_MAIL, ROLE_LMTP };

extern const char *const role_names[];	/* by enum child_role */

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
	/* clients sent but not yet acknowledged (IPC_MAIL_TAKEN), oldest first */
	struct pending *untaken, **untaken_tail;
	unsigned nuntaken;
	uint64_t *metrics;	/* its last IPC_METRICS_REPORT (gauges), NULL before one */
};

/* A mail process that leaves this many clients unacknowledged is killed: the master
 * holds a descriptor for each (docs/security.md, Limits). */
#define MAIL_UNTAKEN_MAX	256

enum pending_kind {
	PK_LOGIN,	/* login process: credentials, waiting for auth */
	PK_HANDOFF,	/* login process: logged in, waiting for its connection (IPC_LOGIN_HANDOFF) */
	PK_RCPT,	/* lmtp process: does this recipient exist? */
	PK_DELIVER,	/* lmtp process: a message for a recipient, then to its mail process */
	PK_SENT,	/* mail process: a client sent, not yet acknowledged (child->untaken) */
	PK_VERIFY,	/* login process, auth_listen socket: a password check, no hand-over */
	PK_LOOKUP,	/* login process, socketmap_listen socket: does this user exist? */
	PK_SCRAM,	/* login process: a SCRAM salt and iteration count */
	PK_QUOTA,	/* login process, quota_policy_listen socket: auth, then the mail
			 * process (M.delivering) says whether the user has room */
	PK_ADMIN,	/* control socket: auth names the user of a mailbox verb
			 * (from_req: the control connection, address: the user,
			 * folder: the argument); master_control.c */
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
	int fd;			/* PK_DELIVER: the message; PK_SENT: the client (a dup) */
	char *address, *folder;	/* PK_RCPT, PK_DELIVER */
	unsigned char *prefix;	/* PK_DELIVER: header lines to prepend */
	size_t prefix_len;
	char *tag, *ip, *mech, *user;
	char *name;		/* PK_HANDOFF: the user as auth named it */
	uid_t uid;		/* PK_HANDOFF: the rest of auth's answer, to start */
	gid_t gid;		/* another mail process if this one dies first */
	char *home, *root;
	char *quota;		/* the userdb's quota extra fields */
	struct ipc_msg *msg;	/* PK_SENT: the IPC_MAIL_CLIENT, to send again */
	uint32_t proto;		/* IPC_PROTO_* */
	uint32_t flags;
	uint32_t verify_req;	/* PK_VERIFY, _LOOKUP, _QUOTA: the client's request id */
	uint64_t size;		/* PK_QUOTA: the message's size (Postfix's size=) */
	unsigned char server_sig[IPC_EXTRA_MAX];	/* PK_LOGIN, SCRAM: for the client */
	size_t server_sig_len;
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
	bool authsock;		/* from an auth_listen socket: IPC_LOGIN_VERIFY only */
	bool socketmap;		/* from a socketmap_listen socket: IPC_LOGIN_LOOKUP only */
	bool quotapolicy;	/* from a quota_policy_listen socket: IPC_LOGIN_QUOTA only */
	unsigned verifying;	/* its IPC_LOGIN_VERIFY / _LOOKUP / _QUOTA being answered */
	bool metrics;		/* from metrics_listen: IPC_LOGIN_METRICS only */
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
	const char *listen_kind[MASTER_MAX_LISTENERS];	/* "imap", "imaps", "pop3", "pop3s", "managesieve", "auth", "socketmap", "quotapolicy", "metrics" */
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

extern struct master M;	/* defined in master.c */

/* master_child.c: children — spawn, IPC, logging, supervision */
struct child *child_spawn(enum child_role role, const char *rolename, const int *fds,
    unsigned nfds, const char *extra_arg_name, const char *extra_arg);
void child_forget(struct child *ch);
int child_send(struct child *ch, struct ipc_msg *m, int fd);
void child_kill(struct child *ch);
void spawn_lmtp(void);
void spawn_auth(void);
void respawn_cb(evutil_socket_t fd, short what, void *ctx);
void sigchld_cb(evutil_socket_t sig, short what, void *ctx);

/* master_accept.c: accepting, pre-login caps, the login pool */
struct mconn *mconn_find(uint32_t id);
void mconn_prelogin_end(struct mconn *mc);
void mconn_remove(struct mconn *mc);
void mconn_forget_login(struct child *login);
void spawn_logins(void);
void accept_update(void);
void accept_resume_cb(evutil_socket_t fd, short what, void *ctx);
void listener_cb(evutil_socket_t lfd, short what, void *ctx);

/* master_login.c: login requests, auth replies, hand-over to mail processes */
void pending_free(struct pending *p);
struct child *mail_child_get(const char *user, uid_t uid, gid_t gid, const char *home,
    const char *root, const char *quota);
void handle_auth_reply(struct child *auth, struct ipc_msg *m);
void handoff_abandon(struct pending *p);
void handle_login_handoff(struct child *login, struct ipc_msg *m);
void login_request_drop(struct child *login, uint32_t conn_id);
void handle_login_auth(struct child *login, struct ipc_msg *m);
void handle_login_closed(struct child *login, struct ipc_msg *m);
void handle_login_verify(struct child *login, struct ipc_msg *m);
void handle_login_lookup(struct child *login, struct ipc_msg *m);
void handle_login_quota(struct child *login, struct ipc_msg *m);
void handle_mail_quota_result(struct child *ch, struct ipc_msg *m);
/* Answer a PK_QUOTA request with an IPC_DELIVER_* status (the login process's). */
void quota_reply(struct pending *p, uint32_t status);
void handle_login_scram(struct child *login, struct ipc_msg *m);
void handle_auth_scram_params(struct child *auth, struct ipc_msg *m);
void handle_mail_empty(struct child *ch, struct ipc_msg *m);
void handle_mail_taken(struct child *ch, struct ipc_msg *m);
void mail_sent(struct child *mail, struct pending *p);
void mail_reroute_untaken(struct child *dead);
void fail_pending_auth(void);

/* master_sockact.c: listening sockets passed by the service manager (socket activation):
 * collect them at start, take the one bound to an address or Unix path (-1: none, bind
 * it yourself), close those no listener took. */
void master_sockact_collect(void);
int master_sockact_take_inet(const struct sockaddr *sa);
int master_sockact_take_unix(const char *path);
void master_sockact_close_unused(void);

/* Arm the idle exit of a mail process that has no clients and none on the way. */
void mail_maybe_idle(struct child *ch);

/* master_control.c: the control socket (docs/architecture.md, "The control socket") */
void control_init(void);
void control_deinit(void);
/* IPC_ADMIN_REPLY from a mail process or auth. */
void handle_admin_reply(struct child *ch, struct ipc_msg *m);
/* ch is gone: its unanswered control requests are answered for it. */
void control_child_gone(struct child *ch);
/* auth's answer to a PK_ADMIN lookup; frees p. */
void control_auth_reply(struct pending *p, uint32_t status, const char *name, uint32_t uid,
    uint32_t gid, const char *home, const char *root, const char *quota);

/* master_notify.c: sd_notify(3) READY, RELOADING, STOPPING, STATUS (no-ops without
 * libsystemd) */
void master_notify_ready(void);
void master_notify_reloading(void);
void master_notify_stopping(void);
void master_notify_deinit(void);

/* master_deliver.c: LMTP recipients and deliveries */
void lmtp_reply(struct pending *p, uint32_t type, uint32_t status, const char *user);
void delivery_auth_reply(struct pending *p, uint32_t status, const char *name,
    uint32_t uid, uint32_t gid, const char *home, const char *root, const char *quota);
void handle_mail_delivered(struct child *ch, struct ipc_msg *m);
void handle_mail_rejected(struct child *ch, struct ipc_msg *m);
void fail_deliveries_of(struct child *mail);
void handle_lmtp(struct child *lmtp, struct ipc_msg *m);
void rcpt_cache_clear(void);

/* master_metrics.c: the metrics endpoint's numbers (docs/architecture.md, "Metrics") */
void master_metrics_login(uint32_t proto, const char *mech, enum metrics_login result);
/* An LMTP delivery's result (IPC_DELIVER_*). */
void master_metrics_delivery(uint32_t status);
/* Drop a child's gauges (it is gone). */
void master_metrics_forget(struct child *ch);
void handle_metrics_report(struct child *ch, struct ipc_msg *m);
void handle_login_metrics(struct child *login, struct ipc_msg *m);

#endif
