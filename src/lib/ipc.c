/*
 * ipc.c — message framing and fd passing between buzon processes (see ipc.h). Runs
 * in every process. The privileged side never trusts the payload it reads: every field
 * is length-checked here, and values are validated by the receiver.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc.h"
#include "util.h"

struct ipc_wire_hdr {
	uint32_t type;
	uint32_t len;
};

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

int
ipc_send(int sock, struct ipc_msg *m, int fd)
{
	struct ipc_wire_hdr hdr = { m->type, m->len };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { m->data, m->len } };
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct msghdr msg;
	ssize_t r;

	if (m->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
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
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (r < 0 && errno == EAGAIN) {
			/* a full socket buffer on a non-blocking socket: wait for room */
			fd_set wfds;

			FD_ZERO(&wfds);
			FD_SET(sock, &wfds);
			(void)select(sock + 1, NULL, &wfds, NULL, NULL);
			errno = EINTR;
		}
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : 0;
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
	    hdr.len != (size_t)r - sizeof(hdr)) {
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		errno = EBADMSG;
		return -1;
	}
	m->type = hdr.type;
	m->len = hdr.len;
	return 1;
}

int
ipc_socketpair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}
