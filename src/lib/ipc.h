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

enum ipc_type {
	/* login -> master: credentials + connection fd (client socket or proxy end) */
	IPC_LOGIN_AUTH = 1,
	/* master -> login: result of IPC_LOGIN_AUTH */
	IPC_LOGIN_RESULT,
	/* master -> login: stop accepting, exit when the last connection ends */
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
};

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
};

/* Result codes in IPC_AUTH_REPLY / IPC_LOGIN_RESULT. */
enum ipc_auth_status {
	IPC_AUTH_OK = 0,
	IPC_AUTH_FAIL = 1,	/* wrong credentials: NO [AUTHENTICATIONFAILED] */
	IPC_AUTH_TEMPFAIL = 2,	/* server trouble: NO [UNAVAILABLE] */
	IPC_AUTH_LIMIT = 3,	/* too many connections: NO [LIMIT] */
};

struct ipc_msg {
	uint32_t type;
	uint32_t len;			/* payload bytes */
	unsigned char data[IPC_MAX_PAYLOAD];
	size_t rpos;			/* read position */
	bool overflow;			/* a put did not fit */
	int fd;				/* received/attached fd, -1 if none */
};

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
 * Send m (with fd if fd >= 0; the fd stays open in the sender). Blocks until sent.
 * Returns 0, or -1 with errno (EPIPE: peer gone, EMSGSIZE: overflowed message).
 */
int ipc_send(int sock, struct ipc_msg *m, int fd);
/*
 * Receive one message. Returns 1 with *m filled (m->fd = received fd or -1, caller owns
 * it), 0 on EOF, -1 on error (EAGAIN when nothing is pending on a non-blocking socket,
 * EBADMSG when the message is malformed: any received fd is then closed).
 */
int ipc_recv(int sock, struct ipc_msg *m);

/* Create a SOCK_SEQPACKET socketpair with CLOEXEC. */
int ipc_socketpair(int fds[2]);

#endif
