/*
 * ipc.c — message framing and fd passing between buzon processes (see ipc.h). Runs
 * in every process. The privileged side never trusts the payload it reads: every field
 * is length-checked here, and values are validated by the receiver.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
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
	int error;		/* reported (or to be reported) error */
	bool failed;		/* no more I/O */
	bool paused;
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
	for (int n = 0; n < IPC_PEER_BATCH && !p->failed && !p->paused && !p->doomed; n++) {
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
	struct timeval tv = { IPC_STALL_SECS, 0 };

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
	if (need > IPC_QUEUE_MAX_BYTES - p->qbytes ||
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

size_t
ipc_peer_queued(const struct ipc_peer *p)
{
	return p->qbytes;
}

void
ipc_peer_pause(struct ipc_peer *p, bool paused)
{
	if (p->failed || p->paused == paused)
		return;
	p->paused = paused;
	if (paused)
		event_del(p->rev);
	else
		event_add(p->rev, NULL);
}
