/*
 * ipc.h — typed, length-prefixed messages between buzon processes over
 * SOCK_SEQPACKET socketpairs (one message per datagram, optionally carrying one fd via
 * SCM_RIGHTS), in the spirit of OpenBSD's imsg. A message is a header {type, len} and
 * a payload of fields written with ipc_put_* and read with ipc_get_*; every read is
 * bounds-checked, and a malformed message makes the reader fail (the caller then kills
 * the peer or exits). All message types of all processes live in this one header.
 */
#ifndef BUZON_IPC_H
#define BUZON_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_PAYLOAD 16384
/* Bumped whenever a message type or field changes (checked on every message). */
#define IPC_VERSION 11

enum ipc_type {
	/*
	 * Login. Field order, in ipc_put order (limits below):
	 * master -> login  IPC_LOGIN_CONN   u32 conn id, u32 listener index; fd: the
	 *                                   accepted client socket
	 * login -> master  IPC_LOGIN_AUTH   u32 conn id, u32 proto (IPC_PROTO_*), str mech,
	 *                                   bytes user, bytes password, str ip, u32 flags
	 *                                   (IPC_CONN_*), str tag
	 * master -> login  IPC_LOGIN_RESULT u32 conn id, u32 status (IPC_AUTH_*); after OK
	 *                                   the master waits for the connection:
	 * login -> master  IPC_LOGIN_HANDOFF u32 conn id, bytes pipelined input; fd: the
	 *                                   client socket or the proxy's end, passed on to
	 *                                   the user's mail process at once (the master
	 *                                   holds no client descriptor while auth thinks)
	 * login -> master  IPC_LOGIN_CLOSED u32 conn id: the connection is gone from the
	 *                                   login process (closed, or handed over)
	 * master -> login  IPC_LOGIN_KICK   u32 conn id: close this connection not yet
	 *                                   logged in (the pre-login total is full and its
	 *                                   address holds the most)
	 * master -> login  IPC_LOGIN_DRAIN  (empty): take no more connections, exit when
	 *                                   the last one ends
	 * The user name and password are the client's words: one the master cannot accept
	 * (NUL, too long) is a failed login, never a reason to kill the login process.
	 */
	IPC_LOGIN_AUTH = 1,
	IPC_LOGIN_RESULT,
	IPC_LOGIN_DRAIN,
	/* master -> auth: verify credentials */
	IPC_AUTH_REQUEST,
	/* auth -> master: verification result with the user's identity */
	IPC_AUTH_REPLY,
	/* master -> mail: the user this process serves (first message) */
	IPC_MAIL_USER,
	/* master -> mail: a logged-in client connection (fd) */
	IPC_MAIL_CLIENT,
	/* mail -> master: no clients left (with the count of clients received) */
	IPC_MAIL_EMPTY,
	/* master -> mail: exit now (sent only when the process is empty) */
	IPC_MAIL_SHUTDOWN,
	/*
	 * Delivery (LMTP). Field order, in ipc_put order:
	 * lmtp -> master   IPC_LMTP_RCPT      u32 id, str address
	 * master -> lmtp   IPC_LMTP_RCPT_RESULT u32 id, u32 status (IPC_DELIVER_*), str user
	 * lmtp -> master   IPC_LMTP_DELIVER   u32 id, str address, str folder ("" = INBOX),
	 *                                     bytes header prefix (<= 4 KiB); fd: the message
	 *                                     (memfd, LF line ends, read from offset 0)
	 * master -> lmtp   IPC_LMTP_DELIVER_RESULT u32 id, u32 status (IPC_DELIVER_*)
	 * master -> auth   IPC_AUTH_LOOKUP    u32 id, str address (no password)
	 *   auth replies with IPC_AUTH_REPLY (status OK or FAIL = unknown, TEMPFAIL)
	 * master -> mail   IPC_MAIL_DELIVER   u32 id, str folder, bytes prefix; fd
	 * mail -> master   IPC_MAIL_DELIVERED u32 id, u32 status (IPC_DELIVER_*)
	 */
	IPC_LMTP_RCPT,
	IPC_LMTP_RCPT_RESULT,
	IPC_LMTP_DELIVER,
	IPC_LMTP_DELIVER_RESULT,
	IPC_AUTH_LOOKUP,
	IPC_MAIL_DELIVER,
	IPC_MAIL_DELIVERED,
	IPC_LOGIN_CONN,
	IPC_LOGIN_CLOSED,
	IPC_LOGIN_HANDOFF,
	IPC_LOGIN_KICK,
	/*
	 * mail -> master  IPC_MAIL_TAKEN   (empty): the oldest IPC_MAIL_CLIENT not yet
	 *                                  acknowledged has been received. Until then the
	 *                                  master keeps a duplicate of the connection and
	 *                                  gives it to a new mail process if this one dies.
	 */
	IPC_MAIL_TAKEN,
	/*
	 * The auth_listen socket (docs/postfix.md): a password check, never a hand-over.
	 * login -> master  IPC_LOGIN_VERIFY   u32 conn id, u32 request id (the client's, on
	 *                                     that connection), str mech, bytes user, bytes
	 *                                     password, str ip (the client's rip, else
	 *                                     "local"), u32 flags (IPC_CONN_*)
	 * master -> login  IPC_LOGIN_VERIFIED u32 conn id, u32 request id, u32 status
	 *                                     (IPC_AUTH_*), str user: the name auth gave
	 *                                     ("" unless OK), bytes extra: SCRAM's
	 *                                     ServerSignature after OK, else empty
	 * Only for connections of an auth_listen socket, at most IPC_VERIFY_MAX of one
	 * connection at a time; anything else kills the login process. A SCRAM-SHA-*
	 * request's password is ClientProof + AuthMessage, as in IPC_LOGIN_AUTH.
	 */
	IPC_LOGIN_VERIFY,
	IPC_LOGIN_VERIFIED,
	/*
	 * The socketmap_listen socket (Postfix's recipient check): is this a user?
	 * login -> master  IPC_LOGIN_LOOKUP   u32 conn id, u32 request id, str address;
	 *                                     answered with IPC_LOGIN_VERIFIED (status OK
	 *                                     with auth's name, FAIL = no such user,
	 *                                     TEMPFAIL). Only for socketmap_listen
	 *                                     connections, IPC_VERIFY_MAX at a time.
	 */
	IPC_LOGIN_LOOKUP,
	/*
	 * SCRAM (RFC 5802; docs/architecture.md, "SCRAM"): the salt round trip. The proof
	 * then comes as an IPC_LOGIN_AUTH with mech SCRAM-SHA-* and pass = ClientProof
	 * followed by the AuthMessage (at most IPC_SCRAM_MAX); auth's ServerSignature comes
	 * back in IPC_AUTH_REPLY's and IPC_LOGIN_RESULT's extra.
	 * login -> master  IPC_LOGIN_SCRAM        u32 conn id, str mech, bytes user,
	 *                                         u32 request id (auth_listen: the
	 *                                         client's; 0 elsewhere)
	 * master -> auth   IPC_AUTH_SCRAM         u32 request id, str mech, str user
	 * auth -> master   IPC_AUTH_SCRAM_PARAMS  u32 request id, u32 status, bytes salt,
	 *                                         u32 iterations
	 * master -> login  IPC_LOGIN_SCRAM_PARAMS u32 conn id, u32 status, bytes salt,
	 *                                         u32 iterations, u32 request id (as sent)
	 * An unknown user gets a salt and count like a real one's (status OK): the answer
	 * never says who exists. One IPC_LOGIN_SCRAM per connection at a time, and only
	 * while no login of it is being answered; on an auth_listen connection it counts
	 * as one of its IPC_VERIFY_MAX requests in flight, and the proof then comes as an
	 * IPC_LOGIN_VERIFY whose IPC_LOGIN_VERIFIED carries the ServerSignature.
	 */
	IPC_LOGIN_SCRAM,
	IPC_AUTH_SCRAM,
	IPC_AUTH_SCRAM_PARAMS,
	IPC_LOGIN_SCRAM_PARAMS,
	/*
	 * The quota_policy_listen socket (Postfix's check_policy_service; docs/
	 * architecture.md, "The quota policy service"): has this recipient room for a
	 * message of this size? The usage is read by the user's mail process (its uid):
	 * login -> master  IPC_LOGIN_QUOTA       u32 conn id, u32 request id, str address,
	 *                                        u32 size high, u32 size low (octets)
	 * master -> mail   IPC_MAIL_QUOTA        u32 id, u32 size high, u32 size low
	 * mail -> master   IPC_MAIL_QUOTA_RESULT u32 id, u32 status (IPC_DELIVER_OK,
	 *                                        _OVERQUOTA or _TEMPFAIL)
	 * The login process gets IPC_LOGIN_VERIFIED whose status is an IPC_DELIVER_* (OK,
	 * NOUSER, TEMPFAIL, OVERQUOTA). Only for quota_policy_listen connections,
	 * IPC_VERIFY_MAX at a time.
	 */
	IPC_LOGIN_QUOTA,
	IPC_MAIL_QUOTA,
	IPC_MAIL_QUOTA_RESULT,
	/*
	 * Metrics (docs/architecture.md, "Metrics"; lib/metrics.h). A block is
	 * METRICS_SLOTS uint64_t in host order (every process is the same binary).
	 * login, mail -> master  IPC_METRICS_REPORT  bytes block: counters added since the
	 *                                    last report, gauges' current values; only the
	 *                                    sender role's slots may be non-zero, else the
	 *                                    sender is killed
	 * login -> master  IPC_LOGIN_METRICS  u32 conn id (a metrics_listen connection)
	 * master -> login  IPC_LOGIN_METRICS_SNAPSHOT u32 conn id, bytes block: the totals
	 */
	IPC_METRICS_REPORT,
	IPC_LOGIN_METRICS,
	IPC_LOGIN_METRICS_SNAPSHOT,
	/*
	 * The control socket's verbs (docs/architecture.md, "The control socket"): the
	 * master asks the user's mail process or auth, and relays the text of the answer.
	 * master -> mail, auth  IPC_ADMIN_REQUEST u32 id, u32 verb (IPC_ADMIN_*), str arg
	 *                                         (a client address, a folder, or "")
	 * mail, auth -> master  IPC_ADMIN_REPLY   u32 id, u32 status (0 ok, 1 error),
	 *                                         bytes text (lines, at most
	 *                                         IPC_ADMIN_TEXT_MAX; an error: one line)
	 * The master relays the text to the control client as it is: a child's reply is
	 * framed (a control character other than LF makes it an error).
	 */
	IPC_ADMIN_REQUEST,
	IPC_ADMIN_REPLY,
	/*
	 * Sieve reject at delivery over LMTP (RFC 5429 §2.1.1, docs/sieve.md): the message
	 * of one recipient refused with the script's reason, stored nowhere; the lmtp process
	 * answers that recipient "550 5.7.1 REASON" in its DATA replies.
	 * mail -> master   IPC_MAIL_REJECTED  u32 id, str reason (<= IPC_REASON_MAX)
	 * master -> lmtp   IPC_LMTP_REJECTED  u32 id, str reason
	 */
	IPC_MAIL_REJECTED,
	IPC_LMTP_REJECTED,
};

/* IPC_ADMIN_REQUEST verbs: mail process (WHO .. INDEX_REBUILD), auth (BAN_*). */
enum ipc_admin_verb {
	IPC_ADMIN_WHO = 1,		/* one line per session: proto ip since */
	IPC_ADMIN_KICK,			/* arg: client address or "": the count ended */
	IPC_ADMIN_STATUS,		/* arg: folder ("" = INBOX) */
	IPC_ADMIN_QUOTA_GET,
	IPC_ADMIN_QUOTA_RECALC,
	IPC_ADMIN_INDEX_REBUILD,	/* arg: folder ("" = every folder) */
	IPC_ADMIN_BAN_LIST,		/* auth: one line per banned address */
	IPC_ADMIN_BAN_REMOVE,		/* auth, arg: address */
};

/* Field limits shared by senders and receivers (bytes, without a NUL). */
#define IPC_USER_MAX	255	/* user names (content: longer is a failed login) */
#define IPC_CRED_FRAME	8192	/* framing limit of a credential from a client (a line) */
#define IPC_PASS_MAX	1024	/* passwords (content: longer is a failed login) */
#define IPC_MECH_MAX	20
#define IPC_IP_MAX	64
#define IPC_TAG_MAX	80
#define IPC_INPUT_MAX	(12 * 1024)	/* pipelined input handed over with a login */
#define IPC_ADDR_MAX	1024	/* LMTP addresses */
#define IPC_FOLDER_MAX	1024
#define IPC_PREFIX_MAX	4096	/* header lines prepended at delivery */
#define IPC_PATH_MAX	4096
#define IPC_QUOTA_MAX	128	/* userdb_quota_fields() */
#define IPC_VERIFY_MAX	64	/* IPC_LOGIN_VERIFY in flight per connection */
#define IPC_SCRAM_MAX	4096	/* SCRAM proof + AuthMessage (the pass of IPC_LOGIN_AUTH) */
#define IPC_OAUTH_MAX	IPC_CRED_FRAME	/* OAUTHBEARER/XOAUTH2 token (IPC_LOGIN_AUTH's pass) */
#define IPC_SALT_MAX	64	/* SCRAM salt */
#define IPC_REASON_MAX	512	/* a Sieve reject reason in an LMTP reply */
#define IPC_EXTRA_MAX	64	/* IPC_AUTH_REPLY/IPC_LOGIN_RESULT extra: a ServerSignature */
#define IPC_METRICS_MAX	8192	/* a metrics block (METRICS_BLOCK_BYTES, checked in metrics.c) */
#define IPC_ADMIN_TEXT_MAX	12288	/* IPC_ADMIN_REPLY text */

/* IPC_LOGIN_AUTH / IPC_MAIL_CLIENT flags. */
#define IPC_CONN_TLS	1u	/* the client connection is encrypted */
#define IPC_CONN_LOCAL	2u	/* the client is on this host */

/* Delivery results (LMTP reply codes in brackets). */
enum ipc_deliver_status {
	IPC_DELIVER_OK = 0,		/* 250 2.0.0: on disk (fsync'd, in new/, dir fsync'd) */
	IPC_DELIVER_NOUSER = 1,		/* 550 5.1.1 */
	IPC_DELIVER_TEMPFAIL = 2,	/* 451 4.3.0 */
	IPC_DELIVER_NOSPACE = 3,	/* 452 4.3.1 */
	IPC_DELIVER_OVERQUOTA = 4,	/* 552 5.2.2 */
	IPC_DELIVER_TOOBIG = 5,		/* 552 5.3.4 */
};

/* Protocols in IPC_LOGIN_AUTH and IPC_MAIL_CLIENT. */
enum ipc_proto {
	IPC_PROTO_IMAP = 1,
	IPC_PROTO_POP3 = 2,
	IPC_PROTO_MANAGESIEVE = 3,
	IPC_PROTO_JMAP = 4,	/* docs/jmap.md: the connection after an authenticated request */
};

/* Result codes in IPC_AUTH_REPLY / IPC_LOGIN_RESULT. */
enum ipc_auth_status {
	IPC_AUTH_OK = 0,
	IPC_AUTH_FAIL = 1,	/* wrong credentials: NO [AUTHENTICATIONFAILED] */
	IPC_AUTH_TEMPFAIL = 2,	/* server trouble: NO [UNAVAILABLE] */
	IPC_AUTH_LIMIT = 3,	/* too many connections: NO [LIMIT] */
	IPC_AUTH_BANNED = 4,	/* auth -> master only: refused, the network is banned; the
				 * master answers the login process IPC_AUTH_FAIL */
};

struct ipc_msg {
	uint32_t type;
	uint32_t len;			/* payload bytes */
	unsigned char data[IPC_MAX_PAYLOAD];
	size_t rpos;			/* read position */
	bool overflow;			/* a put did not fit */
	int fd;				/* received/attached fd, -1 if none */
	/* ipc_decode: the string fields, NUL-terminated (they live as long as m) */
	char strs[IPC_MAX_PAYLOAD];
	size_t strs_len;
};

/*
 * Typed messages: one struct per message type, its fields in wire order. ipc_encode
 * and ipc_decode walk one table (ipc.c) that defines, once for both ends, each field's
 * kind and framing limit and whether the message carries a descriptor. A decoded
 * message is well-framed: every field present and within its limit, strings without
 * NUL, nothing left over, the descriptor there exactly when the type has one. What a
 * field *says* (a user name the client chose) is still for the receiver to judge.
 * Strings and bytes point into the ipc_msg they were decoded from.
 */
struct ipc_bytes {
	const unsigned char *p;
	size_t len;
};

struct ipc_login_conn {		/* IPC_LOGIN_CONN, fd: the client socket */
	uint32_t id, listener;
};
struct ipc_login_auth {		/* IPC_LOGIN_AUTH */
	uint32_t id, proto;
	const char *mech;
	struct ipc_bytes user, pass;	/* the client's words: judged by the master */
	const char *ip;
	uint32_t flags;			/* IPC_CONN_* */
	const char *tag;
};
struct ipc_login_verify {	/* IPC_LOGIN_VERIFY */
	uint32_t id, req;
	const char *mech;
	struct ipc_bytes user, pass;	/* the client's words, as in ipc_login_auth */
	const char *ip;
	uint32_t flags;
};
struct ipc_login_verified {	/* IPC_LOGIN_VERIFIED */
	uint32_t id, req, status;
	const char *user;
	struct ipc_bytes extra;	/* SCRAM: the ServerSignature after OK, else empty */
};
struct ipc_login_lookup {	/* IPC_LOGIN_LOOKUP */
	uint32_t id, req;
	const char *address;
};
struct ipc_login_quota {	/* IPC_LOGIN_QUOTA */
	uint32_t id, req;
	const char *address;
	uint32_t size_hi, size_lo;
};
struct ipc_mail_quota {		/* IPC_MAIL_QUOTA */
	uint32_t id, size_hi, size_lo;
};
struct ipc_login_handoff {	/* IPC_LOGIN_HANDOFF, fd: the client socket or proxy end */
	uint32_t id;
	struct ipc_bytes input;
};
struct ipc_login_result {	/* IPC_LOGIN_RESULT */
	uint32_t id, status;
	struct ipc_bytes extra;	/* SCRAM: the ServerSignature after OK, else empty */
};
struct ipc_scram {		/* IPC_LOGIN_SCRAM (user as bytes), IPC_AUTH_SCRAM */
	uint32_t id;
	const char *mech;
	struct ipc_bytes user;	/* IPC_LOGIN_SCRAM: the client's words */
	const char *name;	/* IPC_AUTH_SCRAM */
	uint32_t req;		/* IPC_LOGIN_SCRAM: the auth_listen client's request id */
};
struct ipc_scram_params {	/* IPC_AUTH_SCRAM_PARAMS, IPC_LOGIN_SCRAM_PARAMS */
	uint32_t id, status;
	struct ipc_bytes salt;
	uint32_t iter;
	uint32_t req;		/* IPC_LOGIN_SCRAM_PARAMS: IPC_LOGIN_SCRAM's */
};
struct ipc_login_closed {	/* IPC_LOGIN_CLOSED, IPC_LOGIN_KICK */
	uint32_t id;
};
struct ipc_auth_request {	/* IPC_AUTH_REQUEST */
	uint32_t id;
	const char *user;
	struct ipc_bytes pass;	/* SCRAM mechs: ClientProof + AuthMessage */
	const char *ip;
	const char *mech;	/* the client's mechanism (SCRAM-SHA-* are checked apart) */
};
struct ipc_auth_lookup {	/* IPC_AUTH_LOOKUP */
	uint32_t id;
	const char *address;
};
struct ipc_auth_reply {		/* IPC_AUTH_REPLY */
	uint32_t id, status;
	const char *name;
	uint32_t uid, gid;
	const char *home, *root;
	const char *quota;	/* the userdb's quota extra fields ("" = the defaults) */
	struct ipc_bytes extra;	/* SCRAM: the ServerSignature after OK, else empty */
};
struct ipc_mail_user {		/* IPC_MAIL_USER */
	const char *name;
	uint32_t uid, gid;
	const char *home, *root;
	const char *quota;	/* as ipc_auth_reply */
};
struct ipc_mail_client {	/* IPC_MAIL_CLIENT, fd: the client connection */
	uint32_t proto;
	const char *tag;
	struct ipc_bytes input;
	const char *ip;
	uint32_t flags;
};
struct ipc_mail_empty {		/* IPC_MAIL_EMPTY */
	uint32_t received;
};
struct ipc_mail_deliver {	/* IPC_MAIL_DELIVER, fd: the message */
	uint32_t id;
	const char *folder;
	struct ipc_bytes prefix;
};
struct ipc_rejected {		/* IPC_MAIL_REJECTED, IPC_LMTP_REJECTED */
	uint32_t id;
	const char *reason;
};
struct ipc_result {		/* IPC_MAIL_DELIVERED, IPC_LMTP_DELIVER_RESULT, IPC_MAIL_QUOTA_RESULT */
	uint32_t id, status;
};
struct ipc_lmtp_rcpt {		/* IPC_LMTP_RCPT */
	uint32_t id;
	const char *address;
};
struct ipc_lmtp_rcpt_result {	/* IPC_LMTP_RCPT_RESULT */
	uint32_t id, status;
	const char *user;
};
struct ipc_lmtp_deliver {	/* IPC_LMTP_DELIVER, fd: the message */
	uint32_t id;
	const char *address, *folder;
	struct ipc_bytes prefix;
};
struct ipc_metrics {		/* IPC_METRICS_REPORT (id unused), IPC_LOGIN_METRICS (no
				 * block), IPC_LOGIN_METRICS_SNAPSHOT */
	uint32_t id;
	struct ipc_bytes block;
};
struct ipc_admin_request {	/* IPC_ADMIN_REQUEST */
	uint32_t id, verb;
	const char *arg;
};
struct ipc_admin_reply {	/* IPC_ADMIN_REPLY */
	uint32_t id, status;
	struct ipc_bytes text;
};
/* IPC_LOGIN_DRAIN, IPC_MAIL_SHUTDOWN, IPC_MAIL_TAKEN: no fields (pass NULL). */

/*
 * Fill m with a message of this type from the struct at s (NULL for types without
 * fields). Returns 0, or -1 with errno EMSGSIZE (a field over its limit or the
 * message over IPC_MAX_PAYLOAD) or EINVAL (unknown type).
 */
int ipc_encode(struct ipc_msg *m, uint32_t type, const void *s);
/*
 * Decode m, which must be of this type, into the struct at s. Returns 0, or -1 when m
 * is not well-framed (see above): the sender broke the protocol. m->fd stays in m.
 */
int ipc_decode(struct ipc_msg *m, uint32_t type, void *s);
/* The type's name for logs ("LOGIN_AUTH"), or "unknown". */
const char *ipc_type_name(uint32_t type);

void ipc_msg_init(struct ipc_msg *m, uint32_t type);
void ipc_put_u32(struct ipc_msg *m, uint32_t v);
void ipc_put_u64(struct ipc_msg *m, uint64_t v);
/* Bytes with a length prefix; strings are put without their NUL. */
void ipc_put_bytes(struct ipc_msg *m, const void *p, size_t len);
void ipc_put_str(struct ipc_msg *m, const char *s);

/* Readers return 0 or -1 (truncated/malformed message). */
int ipc_get_u32(struct ipc_msg *m, uint32_t *v);
int ipc_get_u64(struct ipc_msg *m, uint64_t *v);
/* Borrowed pointer into the message; *len_r bytes, not NUL-terminated. */
int ipc_get_bytes(struct ipc_msg *m, const void **p, size_t *len_r);
/* Malloc'd NUL-terminated copy; fails if the value contains NUL or exceeds max bytes. */
int ipc_get_str(struct ipc_msg *m, size_t max, char **s_r);
/* true when every byte of the payload was read (trailing junk is malformed). */
bool ipc_get_done(const struct ipc_msg *m);

/*
 * Try to send m (with fd if fd >= 0; the fd stays open in the sender) once, without
 * waiting. Returns 0, or -1 with errno (EAGAIN: the peer's socket buffer is full,
 * EPIPE: peer gone, EMSGSIZE: overflowed message). Processes with an event loop send
 * through an ipc_peer, which queues what does not fit.
 */
int ipc_send(int sock, struct ipc_msg *m, int fd);
/*
 * Receive one message. Returns 1 with *m filled (m->fd = received fd or -1, caller owns
 * it), 0 on EOF, -1 on error (EAGAIN when nothing is pending on a non-blocking socket,
 * EBADMSG when the message is malformed, EMFILE when a passed descriptor was lost
 * because this process had no descriptor left (MSG_CTRUNC); any received fd is then
 * closed).
 */
int ipc_recv(int sock, struct ipc_msg *m);

/*
 * An IPC peer: one socket to another process, driven by the event loop. Sends never
 * block: what the socket does not take at once is queued (with a dup of its fd) and
 * written when the socket is writable. The queue is bounded (IPC_QUEUE_MAX_BYTES,
 * IPC_QUEUE_MAX_FDS); a peer that lets its queue pass the bound, or that makes no
 * progress draining it for IPC_STALL_SECS, is reported through the error callback
 * (the owner kills the child, or a child exits). See docs/architecture.md, "IPC".
 */
#define IPC_QUEUE_MAX_BYTES	(16 * 1024 * 1024)
#define IPC_QUEUE_MAX_FDS	512
#define IPC_STALL_SECS		30

struct ipc_peer;
struct event_base;

/* One received message; m and its fd belong to the callee for the call (an fd left in
 * m->fd is closed afterwards). */
typedef void ipc_peer_msg_cb(struct ipc_peer *p, struct ipc_msg *m, void *ctx);
/*
 * The peer is unusable: EOF (error 0), broken framing (EBADMSG), a lost descriptor
 * (EMFILE), a full or stalled queue (ENOBUFS, ETIMEDOUT) or a socket error. Called once;
 * no more messages are delivered or sent afterwards. The callee may destroy the peer.
 */
typedef void ipc_peer_error_cb(struct ipc_peer *p, int error, void *ctx);

/* Takes fd (made non-blocking, closed by ipc_peer_destroy). */
struct ipc_peer *ipc_peer_create(struct event_base *base, int fd, ipc_peer_msg_cb *msg_cb,
    ipc_peer_error_cb *error_cb, void *ctx);
/* Safe inside the peer's own callbacks (freed when they return). */
void ipc_peer_destroy(struct ipc_peer **p);
/*
 * Send or queue m with fd (>= 0: attached; it stays the caller's, a queued message
 * holds a duplicate). Returns 0, or -1 with errno: EMSGSIZE (m overflowed), EMFILE (no
 * descriptor for the duplicate), ENOBUFS (the queue is full: the peer is then reported
 * broken through the error callback, from the event loop), EPIPE (the peer is broken).
 */
int ipc_peer_send(struct ipc_peer *p, struct ipc_msg *m, int fd);
/*
 * Before a process exits: send what is queued, waiting at most timeout_ms for the peer
 * to take it (the only blocking send, used when there is no event loop left to serve).
 * Returns 0 when everything went out.
 */
int ipc_peer_flush(struct ipc_peer *p, unsigned timeout_ms);
/* Change the queue bound and the stall timeout of p (tests; the defaults suit buzon). */
void ipc_peer_set_limits(struct ipc_peer *p, size_t max_bytes, unsigned stall_secs);
/* Bytes waiting in the send queue. */
size_t ipc_peer_queued(const struct ipc_peer *p);

/* Create a SOCK_SEQPACKET socketpair with CLOEXEC. */
int ipc_socketpair(int fds[2]);

#endif
