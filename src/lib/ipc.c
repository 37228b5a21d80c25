/*
 * ipc.c — message framing and fd passing between buzon processes (see ipc.h). Runs
 * in every process. The privileged side never trusts the payload it reads: every field
 * is length-checked here, and values are validated by the receiver.
 */
#include <errno.h>
#include <stddef.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

/*
 * On the wire: {version << 24 | type, payload length}, then the payload, in one
 * SOCK_SEQPACKET datagram. Every process is the same binary (the master execs
 * /proc/self/exe), so a version mismatch means a broken peer and is malformed framing.
 */
struct ipc_wire_hdr {
	uint32_t vtype;
	uint32_t len;
};

#define IPC_TYPE_MASK		0xffffffu
#define IPC_WIRE_TYPE(t)	(((uint32_t)IPC_VERSION << 24) | ((t) & IPC_TYPE_MASK))

void
ipc_msg_init(struct ipc_msg *m, uint32_t type)
{
	m->type = type;
	m->len = 0;
	m->rpos = 0;
	m->overflow = false;
	m->fd = -1;
}

static void
ipc_put(struct ipc_msg *m, const void *p, size_t n)
{
	if (n > IPC_MAX_PAYLOAD - m->len) {
		m->overflow = true;
		return;
	}
	if (n == 0)
		return;
	memcpy(m->data + m->len, p, n);
	m->len += (uint32_t)n;
}

void
ipc_put_u32(struct ipc_msg *m, uint32_t v)
{
	ipc_put(m, &v, sizeof(v));
}

void
ipc_put_u64(struct ipc_msg *m, uint64_t v)
{
	ipc_put(m, &v, sizeof(v));
}

void
ipc_put_bytes(struct ipc_msg *m, const void *p, size_t len)
{
	if (len > IPC_MAX_PAYLOAD) {
		m->overflow = true;
		return;
	}
	ipc_put_u32(m, (uint32_t)len);
	ipc_put(m, p, len);
}

void
ipc_put_str(struct ipc_msg *m, const char *s)
{
	ipc_put_bytes(m, s, s == NULL ? 0 : strlen(s));
}

static int
ipc_get(struct ipc_msg *m, void *p, size_t n)
{
	if (n > m->len - m->rpos)
		return -1;
	memcpy(p, m->data + m->rpos, n);
	m->rpos += n;
	return 0;
}

int
ipc_get_u32(struct ipc_msg *m, uint32_t *v)
{
	return ipc_get(m, v, sizeof(*v));
}

int
ipc_get_u64(struct ipc_msg *m, uint64_t *v)
{
	return ipc_get(m, v, sizeof(*v));
}

int
ipc_get_bytes(struct ipc_msg *m, const void **p, size_t *len_r)
{
	uint32_t len;

	if (ipc_get_u32(m, &len) < 0 || len > m->len - m->rpos)
		return -1;
	*p = m->data + m->rpos;
	*len_r = len;
	m->rpos += len;
	return 0;
}

int
ipc_get_str(struct ipc_msg *m, size_t max, char **s_r)
{
	const void *p;
	size_t len;

	if (ipc_get_bytes(m, &p, &len) < 0 || len > max || memchr(p, '\0', len) != NULL)
		return -1;
	*s_r = xstrndup(p, len);
	return 0;
}

bool
ipc_get_done(const struct ipc_msg *m)
{
	return m->rpos == m->len;
}

/* One sendmsg of iov with fd attached (fd >= 0); never waits. */
static int
ipc_sendmsg(int sock, struct iovec *iov, int iovcnt, int fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct msghdr msg;
	ssize_t r;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)iovcnt;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		r = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EWOULDBLOCK)
		errno = EAGAIN;
	return r < 0 ? -1 : 0;
}

int
ipc_send(int sock, struct ipc_msg *m, int fd)
{
	struct ipc_wire_hdr hdr = { IPC_WIRE_TYPE(m->type), m->len };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { m->data, m->len } };

	if (m->overflow || m->type > IPC_TYPE_MASK) {
		errno = EMSGSIZE;
		return -1;
	}
	return ipc_sendmsg(sock, iov, 2, fd);
}

int
ipc_recv(int sock, struct ipc_msg *m)
{
	struct ipc_wire_hdr hdr;
	struct iovec iov[2];
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cmsgbuf;
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t r;

	ipc_msg_init(m, 0);
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = m->data;
	iov[1].iov_len = sizeof(m->data);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (m->fd < 0 && i == 0)
					m->fd = fd;
				else
					close(fd);	/* only one fd per message */
			}
		}
	}
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || (size_t)r < sizeof(hdr) ||
	    hdr.len != (size_t)r - sizeof(hdr) || (hdr.vtype >> 24) != IPC_VERSION) {
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		/* MSG_CTRUNC alone: the kernel could not install the passed fd (EMFILE) */
		errno = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == MSG_CTRUNC ? EMFILE :
		    EBADMSG;
		return -1;
	}
	m->type = hdr.vtype & IPC_TYPE_MASK;
	m->len = hdr.len;
	return 1;
}

int
ipc_socketpair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}

/* ------------------------------------------------------------------ typed messages */

enum ipc_field_kind { F_U32, F_STR, F_BYTES };

struct ipc_field {
	enum ipc_field_kind kind;
	size_t off;		/* in the message's struct */
	size_t max;		/* F_STR, F_BYTES: framing limit in bytes */
};

struct ipc_def {
	const char *name;
	bool fd;		/* carries exactly one descriptor */
	unsigned nfields;
	struct ipc_field fields[9];
};

#define U32(st, f)	{ F_U32, offsetof(struct st, f), 0 }
#define STR(st, f, max)	{ F_STR, offsetof(struct st, f), max }
#define BYTES(st, f, max) { F_BYTES, offsetof(struct st, f), max }

/* Every message type: its fields in wire order and their limits, for both ends. */
static const struct ipc_def ipc_defs[] = {
	[IPC_LOGIN_AUTH] = { "LOGIN_AUTH", false, 8, {
		U32(ipc_login_auth, id), U32(ipc_login_auth, proto),
		STR(ipc_login_auth, mech, IPC_MECH_MAX),
		BYTES(ipc_login_auth, user, IPC_CRED_FRAME),
		BYTES(ipc_login_auth, pass, IPC_CRED_FRAME),
		STR(ipc_login_auth, ip, IPC_IP_MAX), U32(ipc_login_auth, flags),
		STR(ipc_login_auth, tag, IPC_TAG_MAX) } },
	[IPC_LOGIN_HANDOFF] = { "LOGIN_HANDOFF", true, 2, {
		U32(ipc_login_handoff, id),
		BYTES(ipc_login_handoff, input, IPC_INPUT_MAX) } },
	[IPC_LOGIN_KICK] = { "LOGIN_KICK", false, 1, { U32(ipc_login_closed, id) } },
	[IPC_LOGIN_RESULT] = { "LOGIN_RESULT", false, 3, {
		U32(ipc_login_result, id), U32(ipc_login_result, status),
		BYTES(ipc_login_result, extra, IPC_EXTRA_MAX) } },
	[IPC_LOGIN_DRAIN] = { "LOGIN_DRAIN", false, 0, { { F_U32, 0, 0 } } },
	[IPC_AUTH_REQUEST] = { "AUTH_REQUEST", false, 5, {
		U32(ipc_auth_request, id), STR(ipc_auth_request, user, IPC_USER_MAX),
		BYTES(ipc_auth_request, pass, IPC_CRED_FRAME),
		STR(ipc_auth_request, ip, IPC_IP_MAX),
		STR(ipc_auth_request, mech, IPC_MECH_MAX) } },
	[IPC_AUTH_REPLY] = { "AUTH_REPLY", false, 9, {
		U32(ipc_auth_reply, id), U32(ipc_auth_reply, status),
		STR(ipc_auth_reply, name, IPC_USER_MAX), U32(ipc_auth_reply, uid),
		U32(ipc_auth_reply, gid), STR(ipc_auth_reply, home, IPC_PATH_MAX),
		STR(ipc_auth_reply, root, IPC_PATH_MAX),
		STR(ipc_auth_reply, quota, IPC_QUOTA_MAX),
		BYTES(ipc_auth_reply, extra, IPC_EXTRA_MAX) } },
	[IPC_MAIL_USER] = { "MAIL_USER", false, 6, {
		STR(ipc_mail_user, name, IPC_USER_MAX), U32(ipc_mail_user, uid),
		U32(ipc_mail_user, gid), STR(ipc_mail_user, home, IPC_PATH_MAX),
		STR(ipc_mail_user, root, IPC_PATH_MAX),
		STR(ipc_mail_user, quota, IPC_QUOTA_MAX) } },
	[IPC_MAIL_CLIENT] = { "MAIL_CLIENT", true, 5, {
		U32(ipc_mail_client, proto), STR(ipc_mail_client, tag, IPC_TAG_MAX),
		BYTES(ipc_mail_client, input, IPC_INPUT_MAX),
		STR(ipc_mail_client, ip, IPC_IP_MAX), U32(ipc_mail_client, flags) } },
	[IPC_MAIL_EMPTY] = { "MAIL_EMPTY", false, 1, { U32(ipc_mail_empty, received) } },
	[IPC_MAIL_SHUTDOWN] = { "MAIL_SHUTDOWN", false, 0, { { F_U32, 0, 0 } } },
	[IPC_MAIL_TAKEN] = { "MAIL_TAKEN", false, 0, { { F_U32, 0, 0 } } },
	[IPC_LMTP_RCPT] = { "LMTP_RCPT", false, 2, {
		U32(ipc_lmtp_rcpt, id), STR(ipc_lmtp_rcpt, address, IPC_ADDR_MAX) } },
	[IPC_LMTP_RCPT_RESULT] = { "LMTP_RCPT_RESULT", false, 3, {
		U32(ipc_lmtp_rcpt_result, id), U32(ipc_lmtp_rcpt_result, status),
		STR(ipc_lmtp_rcpt_result, user, IPC_ADDR_MAX) } },
	[IPC_LMTP_DELIVER] = { "LMTP_DELIVER", true, 4, {
		U32(ipc_lmtp_deliver, id), STR(ipc_lmtp_deliver, address, IPC_ADDR_MAX),
		STR(ipc_lmtp_deliver, folder, IPC_FOLDER_MAX),
		BYTES(ipc_lmtp_deliver, prefix, IPC_PREFIX_MAX) } },
	[IPC_LMTP_DELIVER_RESULT] = { "LMTP_DELIVER_RESULT", false, 2, {
		U32(ipc_result, id), U32(ipc_result, status) } },
	[IPC_AUTH_LOOKUP] = { "AUTH_LOOKUP", false, 2, {
		U32(ipc_auth_lookup, id), STR(ipc_auth_lookup, address, IPC_ADDR_MAX) } },
	[IPC_MAIL_DELIVER] = { "MAIL_DELIVER", true, 3, {
		U32(ipc_mail_deliver, id), STR(ipc_mail_deliver, folder, IPC_FOLDER_MAX),
		BYTES(ipc_mail_deliver, prefix, IPC_PREFIX_MAX) } },
	[IPC_MAIL_DELIVERED] = { "MAIL_DELIVERED", false, 2, {
		U32(ipc_result, id), U32(ipc_result, status) } },
	[IPC_LOGIN_CONN] = { "LOGIN_CONN", true, 2, {
		U32(ipc_login_conn, id), U32(ipc_login_conn, listener) } },
	[IPC_LOGIN_CLOSED] = { "LOGIN_CLOSED", false, 1, { U32(ipc_login_closed, id) } },
	[IPC_LOGIN_VERIFY] = { "LOGIN_VERIFY", false, 7, {
		U32(ipc_login_verify, id), U32(ipc_login_verify, req),
		STR(ipc_login_verify, mech, IPC_MECH_MAX),
		BYTES(ipc_login_verify, user, IPC_CRED_FRAME),
		BYTES(ipc_login_verify, pass, IPC_CRED_FRAME),
		STR(ipc_login_verify, ip, IPC_IP_MAX), U32(ipc_login_verify, flags) } },
	[IPC_LOGIN_VERIFIED] = { "LOGIN_VERIFIED", false, 5, {
		U32(ipc_login_verified, id), U32(ipc_login_verified, req),
		U32(ipc_login_verified, status), STR(ipc_login_verified, user, IPC_USER_MAX),
		BYTES(ipc_login_verified, extra, IPC_EXTRA_MAX) } },
	[IPC_LOGIN_LOOKUP] = { "LOGIN_LOOKUP", false, 3, {
		U32(ipc_login_lookup, id), U32(ipc_login_lookup, req),
		STR(ipc_login_lookup, address, IPC_ADDR_MAX) } },
	[IPC_LOGIN_SCRAM] = { "LOGIN_SCRAM", false, 4, {
		U32(ipc_scram, id), STR(ipc_scram, mech, IPC_MECH_MAX),
		BYTES(ipc_scram, user, IPC_CRED_FRAME), U32(ipc_scram, req) } },
	[IPC_AUTH_SCRAM] = { "AUTH_SCRAM", false, 3, {
		U32(ipc_scram, id), STR(ipc_scram, mech, IPC_MECH_MAX),
		STR(ipc_scram, name, IPC_USER_MAX) } },
	[IPC_AUTH_SCRAM_PARAMS] = { "AUTH_SCRAM_PARAMS", false, 4, {
		U32(ipc_scram_params, id), U32(ipc_scram_params, status),
		BYTES(ipc_scram_params, salt, IPC_SALT_MAX), U32(ipc_scram_params, iter) } },
	[IPC_LOGIN_SCRAM_PARAMS] = { "LOGIN_SCRAM_PARAMS", false, 5, {
		U32(ipc_scram_params, id), U32(ipc_scram_params, status),
		BYTES(ipc_scram_params, salt, IPC_SALT_MAX), U32(ipc_scram_params, iter),
		U32(ipc_scram_params, req) } },
	[IPC_LOGIN_QUOTA] = { "LOGIN_QUOTA", false, 5, {
		U32(ipc_login_quota, id), U32(ipc_login_quota, req),
		STR(ipc_login_quota, address, IPC_ADDR_MAX), U32(ipc_login_quota, size_hi),
		U32(ipc_login_quota, size_lo) } },
	[IPC_MAIL_QUOTA] = { "MAIL_QUOTA", false, 3, {
		U32(ipc_mail_quota, id), U32(ipc_mail_quota, size_hi),
		U32(ipc_mail_quota, size_lo) } },
	[IPC_MAIL_QUOTA_RESULT] = { "MAIL_QUOTA_RESULT", false, 2, {
		U32(ipc_result, id), U32(ipc_result, status) } },
	[IPC_METRICS_REPORT] = { "METRICS_REPORT", false, 1, {
		BYTES(ipc_metrics, block, IPC_METRICS_MAX) } },
	[IPC_LOGIN_METRICS] = { "LOGIN_METRICS", false, 1, { U32(ipc_metrics, id) } },
	[IPC_LOGIN_METRICS_SNAPSHOT] = { "LOGIN_METRICS_SNAPSHOT", false, 2, {
		U32(ipc_metrics, id), BYTES(ipc_metrics, block, IPC_METRICS_MAX) } },
	[IPC_ADMIN_REQUEST] = { "ADMIN_REQUEST", false, 3, {
		U32(ipc_admin_request, id), U32(ipc_admin_request, verb),
		STR(ipc_admin_request, arg, IPC_FOLDER_MAX) } },
	[IPC_ADMIN_REPLY] = { "ADMIN_REPLY", false, 3, {
		U32(ipc_admin_reply, id), U32(ipc_admin_reply, status),
		BYTES(ipc_admin_reply, text, IPC_ADMIN_TEXT_MAX) } },
	[IPC_MAIL_REJECTED] = { "MAIL_REJECTED", false, 2, {
		U32(ipc_rejected, id), STR(ipc_rejected, reason, IPC_REASON_MAX) } },
	[IPC_LMTP_REJECTED] = { "LMTP_REJECTED", false, 2, {
		U32(ipc_rejected, id), STR(ipc_rejected, reason, IPC_REASON_MAX) } },
};

static const struct ipc_def *
ipc_def(uint32_t type)
{
	if (type >= N_ELEMENTS(ipc_defs) || ipc_defs[type].name == NULL)
		return NULL;
	return &ipc_defs[type];
}

const char *
ipc_type_name(uint32_t type)
{
	const struct ipc_def *d = ipc_def(type);

	return d != NULL ? d->name : "unknown";
}

int
ipc_encode(struct ipc_msg *m, uint32_t type, const void *s)
{
	const struct ipc_def *d = ipc_def(type);
	const char *base = s;

	if (d == NULL || (d->nfields > 0 && s == NULL)) {
		errno = EINVAL;
		return -1;
	}
	ipc_msg_init(m, type);
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct ipc_field *f = &d->fields[i];

		switch (f->kind) {
		case F_U32:
			ipc_put_u32(m, *(const uint32_t *)(const void *)(base + f->off));
			break;
		case F_STR: {
			const char *v = *(const char *const *)(const void *)(base + f->off);
			size_t n = v != NULL ? strlen(v) : 0;

			if (n > f->max)
				m->overflow = true;
			ipc_put_bytes(m, v, n);
			break;
		}
		case F_BYTES: {
			const struct ipc_bytes *b = (const void *)(base + f->off);

			if (b->len > f->max)
				m->overflow = true;
			ipc_put_bytes(m, b->p, b->len);
			break;
		}
		}
	}
	if (m->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
ipc_decode(struct ipc_msg *m, uint32_t type, void *s)
{
	const struct ipc_def *d = ipc_def(type);
	char *base = s;

	if (d == NULL || m->type != type || (m->fd >= 0) != d->fd)
		return -1;
	m->rpos = 0;
	m->strs_len = 0;
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct ipc_field *f = &d->fields[i];
		const void *p;
		size_t n;

		if (f->kind == F_U32) {
			if (ipc_get_u32(m, (uint32_t *)(void *)(base + f->off)) < 0)
				return -1;
			continue;
		}
		if (ipc_get_bytes(m, &p, &n) < 0 || n > f->max)
			return -1;
		if (f->kind == F_BYTES) {
			struct ipc_bytes *b = (void *)(base + f->off);

			b->p = p;
			b->len = n;
			continue;
		}
		/* strings are copied out with their NUL; they fit: they came from data[] */
		if (memchr(p, '\0', n) != NULL || n + 1 > sizeof(m->strs) - m->strs_len)
			return -1;
		memcpy(m->strs + m->strs_len, p, n);
		m->strs[m->strs_len + n] = '\0';
		*(const char **)(void *)(base + f->off) = m->strs + m->strs_len;
		m->strs_len += n + 1;
	}
	return ipc_get_done(m) ? 0 : -1;
}

/* ------------------------------------------------------------------ peers */

struct ipc_qmsg {
	struct ipc_qmsg *next;
	int fd;			/* a duplicate owned by the queue, or -1 */
	size_t len;		/* header + payload */
	unsigned char data[];
};

struct ipc_peer {
	int fd;
	struct event *rev, *wev, *stall, *errev;
	ipc_peer_msg_cb *msg_cb;
	ipc_peer_error_cb *error_cb;
	void *ctx;
	struct ipc_qmsg *head, *tail;
	size_t qbytes;
	unsigned qfds;
	size_t max_bytes;	/* IPC_QUEUE_MAX_BYTES unless changed */
	unsigned stall_secs;	/* IPC_STALL_SECS unless changed */
	int error;		/* reported (or to be reported) error */
	bool failed;		/* no more I/O */
	int busy;		/* inside a callback */
	bool doomed;		/* destroyed inside a callback: free when it returns */
	struct ipc_msg *rx;
};

/* Messages handled per read event, so one chatty peer cannot starve the others. */
#define IPC_PEER_BATCH	64

static void
qmsg_free(struct ipc_qmsg *q)
{
	if (q->fd >= 0)
		close(q->fd);
	secret_wipe(q->data, q->len);	/* credentials travel through here */
	free(q);
}

static void
peer_free(struct ipc_peer *p)
{
	while (p->head != NULL) {
		struct ipc_qmsg *q = p->head;

		p->head = q->next;
		qmsg_free(q);
	}
	event_free(p->rev);
	event_free(p->wev);
	event_free(p->stall);
	event_free(p->errev);
	close(p->fd);
	secret_wipe(p->rx, sizeof(*p->rx));
	free(p->rx);
	free(p);
}

static void
peer_error_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_peer *p = ctx;

	if (p->doomed)
		return;
	p->busy++;
	p->error_cb(p, p->error, p->ctx);
	if (--p->busy == 0 && p->doomed)
		peer_free(p);
}

/* Stop all I/O and report error from the event loop (never under the caller). */
static void
peer_fail(struct ipc_peer *p, int error)
{
	if (p->failed)
		return;
	p->failed = true;
	p->error = error;
	event_del(p->rev);
	event_del(p->wev);
	event_del(p->stall);
	while (p->head != NULL) {
		struct ipc_qmsg *q = p->head;

		p->head = q->next;
		qmsg_free(q);
	}
	p->tail = NULL;
	p->qbytes = 0;
	p->qfds = 0;
	event_active(p->errev, EV_TIMEOUT, 1);
}

static void
peer_read_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_peer *p = ctx;

	p->busy++;
	for (int n = 0; n < IPC_PEER_BATCH && !p->failed && !p->doomed; n++) {
		int r = ipc_recv(p->fd, p->rx);

		if (r > 0) {
			p->msg_cb(p, p->rx, p->ctx);
			if (p->rx->fd >= 0)
				close(p->rx->fd);
			p->rx->fd = -1;
			secret_wipe(p->rx->data, p->rx->len);
			continue;
		}
		if (r == 0)
			peer_fail(p, 0);
		else if (errno != EAGAIN)
			peer_fail(p, errno);
		break;
	}
	if (--p->busy == 0 && p->doomed)
		peer_free(p);
}

static void
peer_stall_arm(struct ipc_peer *p)
{
	struct timeval tv = { (time_t)p->stall_secs, 0 };

	evtimer_add(p->stall, &tv);
}

static void
peer_write_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_peer *p = ctx;
	bool progress = false;

	while (p->head != NULL) {
		struct ipc_qmsg *q = p->head;
		struct iovec iov = { q->data, q->len };

		if (ipc_sendmsg(p->fd, &iov, 1, q->fd) < 0) {
			if (errno != EAGAIN)
				peer_fail(p, errno);
			break;
		}
		progress = true;
		p->head = q->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->qbytes -= q->len;
		if (q->fd >= 0)
			p->qfds--;
		qmsg_free(q);
	}
	if (p->failed)
		return;
	if (p->head == NULL) {
		event_del(p->wev);
		event_del(p->stall);
	} else if (progress) {
		peer_stall_arm(p);
	}
}

static void
peer_stall_cb(evutil_socket_t fd, short what, void *ctx)
{
	peer_fail(ctx, ETIMEDOUT);
}

struct ipc_peer *
ipc_peer_create(struct event_base *base, int fd, ipc_peer_msg_cb *msg_cb,
    ipc_peer_error_cb *error_cb, void *ctx)
{
	struct ipc_peer *p = xcalloc(1, sizeof(*p));

	p->fd = fd;
	p->msg_cb = msg_cb;
	p->error_cb = error_cb;
	p->ctx = ctx;
	p->max_bytes = IPC_QUEUE_MAX_BYTES;
	p->stall_secs = IPC_STALL_SECS;
	p->rx = xmalloc(sizeof(*p->rx));
	ipc_msg_init(p->rx, 0);
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	p->rev = event_new(base, fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, peer_write_cb, p);
	p->stall = evtimer_new(base, peer_stall_cb, p);
	p->errev = event_new(base, -1, 0, peer_error_cb, p);
	if (p->rev == NULL || p->wev == NULL || p->stall == NULL || p->errev == NULL)
		panic("ipc: out of memory for events");
	event_add(p->rev, NULL);
	return p;
}

void
ipc_peer_destroy(struct ipc_peer **pp)
{
	struct ipc_peer *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	if (p->busy > 0) {
		p->doomed = true;
		p->failed = true;
		event_del(p->rev);
		event_del(p->wev);
		event_del(p->stall);
		event_del(p->errev);
		return;
	}
	peer_free(p);
}

int
ipc_peer_send(struct ipc_peer *p, struct ipc_msg *m, int fd)
{
	struct ipc_wire_hdr hdr = { IPC_WIRE_TYPE(m->type), m->len };
	struct ipc_qmsg *q;
	size_t need;
	int dfd = -1;

	if (p->failed || p->doomed) {
		errno = EPIPE;
		return -1;
	}
	if (m->overflow || m->type > IPC_TYPE_MASK) {
		errno = EMSGSIZE;
		return -1;
	}
	if (p->head == NULL) {
		if (ipc_send(p->fd, m, fd) == 0)
			return 0;
		if (errno != EAGAIN) {
			peer_fail(p, errno);
			errno = EPIPE;
			return -1;
		}
	}
	need = sizeof(hdr) + m->len;
	if (need > p->max_bytes - MIN(p->qbytes, p->max_bytes) ||
	    (fd >= 0 && p->qfds >= IPC_QUEUE_MAX_FDS)) {
		peer_fail(p, ENOBUFS);
		errno = ENOBUFS;
		return -1;
	}
	if (fd >= 0 && (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -1;
	q = xmalloc(sizeof(*q) + need);
	q->next = NULL;
	q->fd = dfd;
	q->len = need;
	memcpy(q->data, &hdr, sizeof(hdr));
	memcpy(q->data + sizeof(hdr), m->data, m->len);
	if (p->tail != NULL)
		p->tail->next = q;
	else
		p->head = q;
	p->tail = q;
	p->qbytes += need;
	if (dfd >= 0)
		p->qfds++;
	if (!event_pending(p->wev, EV_WRITE, NULL)) {
		event_add(p->wev, NULL);
		peer_stall_arm(p);
	}
	return 0;
}

int
ipc_peer_flush(struct ipc_peer *p, unsigned timeout_ms)
{
	uint64_t end = clock_ms() + timeout_ms;

	while (p->head != NULL && !p->failed) {
		struct pollfd pfd = { p->fd, POLLOUT, 0 };
		uint64_t now;

		peer_write_cb(p->fd, EV_WRITE, p);
		if (p->head == NULL || p->failed)
			break;
		now = clock_ms();
		if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
			break;
	}
	return p->head == NULL && !p->failed ? 0 : -1;
}

void
ipc_peer_set_limits(struct ipc_peer *p, size_t max_bytes, unsigned stall_secs)
{
	p->max_bytes = max_bytes;
	p->stall_secs = stall_secs;
}

size_t
ipc_peer_queued(const struct ipc_peer *p)
{
	return p->qbytes;
}
