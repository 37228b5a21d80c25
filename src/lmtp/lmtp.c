/*
 * lmtp.c — the LMTP process (see lmtp.h). One process multiplexes every LMTP session
 * with libevent bufferevents. Commands are parsed by src/proto/lmtp_cmd; each RCPT is
 * checked with the master (IPC_LMTP_RCPT -> auth lookup); DATA is dot-unstuffed into a
 * memfd (MFD_ALLOW_SEALING), sealed against every change, and passed once per accepted
 * recipient with IPC_LMTP_DELIVER. A message above lmtp_spool_threshold, or one that
 * would take the memfds of all sessions past LMTP_MEM_MAX, goes to an unlinked file in
 * lmtp_spool_dir instead (opened before the chroot) and is passed as a read-only fd, so
 * no mail process can change what the next recipient reads (see docs/delivery.md). The reply for each
 * recipient is sent, in RCPT order (RFC 2033 4.2), only when its IPC_LMTP_DELIVER_RESULT
 * says the message is durable in that user's new/. Security role: unprivileged and
 * chrooted like the login process; a session can hold one message in memory (bounded),
 * one command line (4 KiB), 256 KiB of unread input, about 64 KiB of unsent replies (it
 * stops reading while more are unsent), 1000 recipients and is closed after 5 idle
 * minutes or 10 bad commands. Only CRLF "." CRLF ends DATA; a message with a bare LF is
 * refused.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/role.h"
#include "lib/sandbox.h"
#include "lmtp/lmtp.h"
#include "proto/lmtp_cmd.h"
#include "lib/buf.h"

#define LMTP_IPC_FD		3
#define LMTP_MAX_LISTENERS	8
#define LMTP_MAX_SESSIONS	256
#define LMTP_MAX_RCPTS		1000
#define LMTP_MAX_BAD		10
#define LMTP_IDLE_SECS		300
#define LMTP_CHUNK		(64 * 1024)
#define LMTP_PREFIX_MAX		IPC_PREFIX_MAX
#define LMTP_DELIVER_WINDOW	16	/* deliveries of one session with the master at once */
#define LMTP_MEM_MAX		(64ULL * 1024 * 1024)	/* memfd bytes of all sessions */
#define LMTP_SPOOL_TRIES	8

struct rcpt {
	char *addr;		/* as parsed (RCPT TO:<addr>) */
	char *folder;		/* "+detail", "" = INBOX */
	uint32_t id;		/* IPC_LMTP_DELIVER request id */
	uint32_t status;	/* IPC_DELIVER_* once answered */
	bool answered;
};

enum sess_state {
	SS_CMD,			/* reading commands */
	SS_RCPT_WAIT,		/* a RCPT lookup is with the master */
	SS_DATA,		/* reading the message */
	SS_DELIVERING,		/* waiting for delivery results */
	SS_CLOSING,		/* flush the output, then close */
};

struct lsess {
	struct lmtp *l;
	struct lsess *prev, *next;
	struct bufferevent *bev;
	char ip[64];
	enum sess_state state;
	bool lhlo;
	bool have_mail;
	char *sender;
	struct rcpt *rcpts;
	size_t nrcpts;
	char *wait_addr;	/* RCPT being looked up */
	uint32_t wait_id;
	struct lmtp_data dec;
	int msg_fd;		/* the message being written: a memfd or a spool file */
	int ro_fd;		/* spooled: the read-only fd that is passed on, else -1 */
	uint64_t mem_bytes;	/* in the memfd, counted in lmtp.mem_bytes until txn_reset */
	bool toobig, write_error;
	size_t next_reply;	/* first recipient whose reply is not sent yet */
	size_t next_send;	/* first recipient not yet handed to the master */
	unsigned inflight;	/* deliveries with the master, unanswered */
	unsigned bad;
	bool eof;		/* the client shut down its side: finish, then close */
	bool out_full;		/* commands wait until the client reads our replies */
	unsigned char *chunk;	/* LMTP_CHUNK + 1 decode buffer while in DATA */
};

struct lmtp {
	struct event_base *base;
	struct config *cfg;
	struct evconnlistener *listeners[LMTP_MAX_LISTENERS];
	unsigned nlisteners;
	struct ipc_peer *master;
	struct lsess *sessions;
	unsigned nsessions;
	uint32_t next_id;
	bool draining;		/* IPC_LOGIN_DRAIN: no new connections, exit when idle */
	int spool_fd;		/* lmtp_spool_dir, opened before the chroot; -1 if unusable */
	uint64_t spool_seq;
	uint64_t mem_bytes;	/* memfd bytes of every session's transaction */
	char hostname[256];
};

static void sess_read_cb(struct bufferevent *bev, void *ctx);
static void sess_process(struct lsess *s);

static void
sess_printf(struct lsess *s, const char *fmt, ...) PRINTF(2, 3);

static void
sess_printf(struct lsess *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
txn_reset(struct lsess *s)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].folder);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->sender);
	s->sender = NULL;
	s->have_mail = false;
	if (s->msg_fd >= 0)
		close(s->msg_fd);
	if (s->ro_fd >= 0)
		close(s->ro_fd);
	s->msg_fd = s->ro_fd = -1;
	/* the memfd may still be with the master or a mail process: counted until here */
	s->l->mem_bytes -= s->mem_bytes;
	s->mem_bytes = 0;
	free(s->chunk);
	s->chunk = NULL;
	s->toobig = s->write_error = false;
	s->next_reply = 0;
}

static void
sess_destroy(struct lsess *s)
{
	struct lmtp *l = s->l;

	txn_reset(s);
	free(s->wait_addr);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		l->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	l->nsessions--;
	free(s);
	if (l->draining && l->nsessions == 0)
		event_base_loopexit(l->base, NULL);
}

/* Send the last reply and close once it is written. */
static void
sess_close(struct lsess *s)
{
	s->state = SS_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		sess_destroy(s);
}

static void
sess_bad(struct lsess *s, const char *reply)
{
	sess_printf(s, "%s", reply);
	if (++s->bad >= LMTP_MAX_BAD) {
		log_info("lmtp too many bad commands ip=%s", s->ip);
		sess_printf(s, "421 4.7.0 Too many errors, closing connection");
		sess_close(s);
	}
}

static struct ipc_peer *lmtp_master;	/* the master, for ipc_to_master */

static int
ipc_to_master(struct ipc_msg *m, int fd)
{
	if (lmtp_master == NULL || ipc_peer_send(lmtp_master, m, fd) < 0) {
		log_error("lmtp: cannot reach the master: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* "user+detail@domain" -> "detail" (the folder); "" when there is none. */
static char *
detail_folder(const struct lmtp *l, const char *addr)
{
	const char *at = strrchr(addr, '@'), *d;
	size_t local;

	if (l->cfg->recipient_delimiter == NULL || l->cfg->recipient_delimiter[0] == '\0' ||
	    addr[0] == '"')
		return xstrdup("");
	local = at != NULL ? (size_t)(at - addr) : strlen(addr);
	d = memchr(addr, l->cfg->recipient_delimiter[0], local);
	if (d == NULL || (size_t)(d - addr) + 1 >= local)
		return xstrdup("");
	return xstrndup(d + 1, local - (size_t)(d - addr) - 1);
}

static void
cmd_lhlo(struct lsess *s)
{
	txn_reset(s);
	s->lhlo = true;
	sess_printf(s, "250-%s", s->l->hostname);
	sess_printf(s, "250-PIPELINING");
	sess_printf(s, "250-ENHANCEDSTATUSCODES");
	sess_printf(s, "250-8BITMIME");
	sess_printf(s, "250 SIZE %llu", (unsigned long long)s->l->cfg->mail_max_size);
}

static void
cmd_mail(struct lsess *s, const struct lmtp_cmd *cmd)
{
	if (!s->lhlo) {
		sess_bad(s, "503 5.5.1 Send LHLO first");
		return;
	}
	if (s->have_mail) {
		sess_bad(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (cmd->has_size && cmd->size > s->l->cfg->mail_max_size) {
		sess_printf(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->sender = xstrdup(cmd->addr);
	s->have_mail = true;
	sess_printf(s, "250 2.1.0 OK");
}

static void
cmd_rcpt(struct lsess *s, const struct lmtp_cmd *cmd)
{
	struct ipc_lmtp_rcpt rc;
	struct ipc_msg m;

	if (!s->have_mail) {
		sess_bad(s, "503 5.5.1 Send MAIL first");
		return;
	}
	if (s->nrcpts >= LMTP_MAX_RCPTS) {
		sess_printf(s, "452 4.5.3 Too many recipients");
		return;
	}
	s->wait_id = ++s->l->next_id;
	rc.id = s->wait_id;
	rc.address = cmd->addr;
	if (ipc_encode(&m, IPC_LMTP_RCPT, &rc) < 0 || ipc_to_master(&m, -1) < 0) {
		sess_printf(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	s->wait_addr = xstrdup(cmd->addr);
	s->state = SS_RCPT_WAIT;
}

static void
rcpt_result(struct lsess *s, uint32_t status)
{
	char *addr = s->wait_addr;

	s->wait_addr = NULL;
	s->state = SS_CMD;
	if (status == IPC_DELIVER_OK) {
		struct rcpt *r;

		s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
		r = &s->rcpts[s->nrcpts++];
		memset(r, 0, sizeof(*r));
		r->folder = detail_folder(s->l, addr);
		r->addr = addr;
		sess_printf(s, "250 2.1.5 OK");
		return;
	}
	if (status == IPC_DELIVER_NOUSER) {
		log_info("lmtp unknown recipient rcpt=<%s> ip=%s", addr, s->ip);
		sess_printf(s, "550 5.1.1 <%s> User doesn't exist", addr);
	} else {
		sess_printf(s, "451 4.3.0 <%s> Temporary failure, try again later", addr);
	}
	free(addr);
}

/*
 * Create a spool file: a fresh name (O_EXCL, O_NOFOLLOW) in lmtp_spool_dir, opened
 * read-write for us and read-only for the recipients' mail processes, and unlinked at
 * once, so the data lives exactly as long as the last fd. (O_TMPFILE would leave no
 * name at all, but its only fd is read-write, and reopening it read-only needs /proc,
 * which the chroot does not have.) Returns the read-write fd and *ro_r, or -1.
 */
static int
spool_create(struct lmtp *l, int *ro_r)
{
	for (int i = 0; i < LMTP_SPOOL_TRIES; i++) {
		char name[80];
		uint32_t rnd = 0;
		int fd, ro, saved;

		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = (uint32_t)clock_ms();
		snprintf(name, sizeof(name), "msg.%ld.%llu.%08x", (long)getpid(),
		    (unsigned long long)++l->spool_seq, rnd);
		fd = openat(l->spool_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return -1;
		ro = openat(l->spool_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		saved = errno;
		if (unlinkat(l->spool_fd, name, 0) < 0)
			log_error("lmtp: unlink spool file %s: %s", name, strerror(errno));
		if (ro < 0) {
			close(fd);
			errno = saved;
			return -1;
		}
		*ro_r = ro;
		return fd;
	}
	errno = EEXIST;
	return -1;
}

/* Move the message from its memfd to a spool file. Returns 0, or -1 (logged). */
static int
sess_spool(struct lsess *s)
{
	struct lmtp *l = s->l;
	unsigned char *buf;
	int fd, ro = -1;
	off_t off = 0;

	if (l->spool_fd < 0) {
		log_error("lmtp: message over %llu bytes and no spool directory ip=%s",
		    (unsigned long long)l->cfg->lmtp_spool_threshold, s->ip);
		return -1;
	}
	if ((fd = spool_create(l, &ro)) < 0) {
		log_error("lmtp: spool file in %s: %s", l->cfg->lmtp_spool_dir, strerror(errno));
		return -1;
	}
	/* what is in the memfd so far (at most the threshold; s->chunk holds pending data) */
	buf = xmalloc(LMTP_CHUNK);
	while (s->msg_fd >= 0) {
		ssize_t r = pread(s->msg_fd, buf, LMTP_CHUNK, off), w = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				goto fail;
			break;
		}
		while (w < r) {
			ssize_t n = write(fd, buf + w, (size_t)(r - w));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto fail;
			w += n;
		}
		off += r;
	}
	free(buf);
	if (s->msg_fd >= 0)
		close(s->msg_fd);
	l->mem_bytes -= s->mem_bytes;
	s->mem_bytes = 0;
	s->msg_fd = fd;
	s->ro_fd = ro;
	log_debug("lmtp spooling message ip=%s", s->ip);
	return 0;
fail:
	log_error("lmtp: writing the spool file: %s", strerror(errno));
	free(buf);
	close(fd);
	close(ro);
	return -1;
}

static void
cmd_data(struct lsess *s)
{
	if (!s->have_mail) {
		sess_bad(s, "503 5.5.1 Send MAIL first");
		return;
	}
	if (s->nrcpts == 0) {
		/* RFC 2033 4.2: no successful RCPT -> DATA fails with 503 */
		sess_printf(s, "503 5.5.1 No valid recipients");
		return;
	}
	s->msg_fd = memfd_create("lmtp-msg", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->msg_fd < 0) {
		log_error("lmtp: memfd_create: %s", strerror(errno));
		sess_printf(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	s->chunk = xmalloc(LMTP_CHUNK + 1);
	lmtp_data_init(&s->dec);
	s->state = SS_DATA;
	sess_printf(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

static void delivery_pump(struct lsess *s);
static void msg_close(struct lsess *s);

/* Send the replies that are due, in RCPT order; back to commands when all are sent. */
static void
delivery_flush(struct lsess *s)
{
	while (s->next_reply < s->nrcpts && s->rcpts[s->next_reply].answered) {
		const struct rcpt *r = &s->rcpts[s->next_reply++];

		switch (r->status) {
		case IPC_DELIVER_OK:
			sess_printf(s, "250 2.0.0 <%s> Saved", r->addr);
			break;
		case IPC_DELIVER_NOUSER:
			sess_printf(s, "550 5.1.1 <%s> User doesn't exist", r->addr);
			break;
		case IPC_DELIVER_NOSPACE:
			sess_printf(s, "452 4.3.1 <%s> Insufficient system storage", r->addr);
			break;
		case IPC_DELIVER_OVERQUOTA:
			sess_printf(s, "552 5.2.2 <%s> Mailbox full", r->addr);
			break;
		case IPC_DELIVER_TOOBIG:
			sess_printf(s, "552 5.3.4 <%s> Message too big", r->addr);
			break;
		default:
			sess_printf(s, "451 4.3.0 <%s> Temporary failure, try again later",
			    r->addr);
			break;
		}
	}
	if (s->next_reply == s->nrcpts) {
		txn_reset(s);
		s->state = SS_CMD;
		sess_process(s);
	}
}

/* The final dot was read: refuse or hand the message over for every recipient. */
static void
data_done(struct lsess *s)
{
	const char *fail = NULL, *fail_text = "Temporary failure, try again later";

	if (s->toobig) {
		fail = "552 5.3.4";
		fail_text = "Message size exceeds fixed limit";
	} else if (s->dec.bare_lf > 0) {
		fail = "554 5.6.0";
		fail_text = "Message contains bare LF (RFC 5321 2.3.8)";
	} else if (s->write_error) {
		fail = "451 4.3.0";
	} else if (s->ro_fd < 0 && fcntl(s->msg_fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		log_error("lmtp: sealing the message: %s", strerror(errno));
		fail = "451 4.3.0";
	}
	log_info("lmtp message from=<%s> rcpts=%zu size=%llu ip=%s%s", s->sender, s->nrcpts,
	    (unsigned long long)s->dec.size, s->ip, s->toobig ? " refused=size" :
	    s->dec.bare_lf > 0 ? " refused=bare-lf" : "");
	s->state = SS_DELIVERING;
	if (fail != NULL) {
		for (size_t i = 0; i < s->nrcpts; i++)
			sess_printf(s, "%s <%s> %s", fail, s->rcpts[i].addr, fail_text);
		s->next_reply = s->nrcpts;
		s->next_send = s->nrcpts;
		msg_close(s);
		delivery_flush(s);
		return;
	}
	s->next_send = 0;
	s->inflight = 0;
	delivery_pump(s);
	delivery_flush(s);
}

/* Close the message's descriptors (the memfd stays counted until txn_reset). */
static void
msg_close(struct lsess *s)
{
	if (s->msg_fd >= 0)
		close(s->msg_fd);
	if (s->ro_fd >= 0)
		close(s->ro_fd);
	s->msg_fd = s->ro_fd = -1;
}

/*
 * Hand the message to the master for the next recipients, at most LMTP_DELIVER_WINDOW
 * at a time: a transaction with 1,000 recipients never queues 1,000 descriptors
 * anywhere (docs/delivery.md).
 */
static void
delivery_pump(struct lsess *s)
{
	while (s->next_send < s->nrcpts && s->inflight < LMTP_DELIVER_WINDOW) {
		struct rcpt *r = &s->rcpts[s->next_send++];
		struct ipc_lmtp_deliver d;
		struct ipc_msg m;
		char prefix[LMTP_PREFIX_MAX];
		int n;

		/* both addresses are printable ASCII without CR/LF (lmtp_cmd_parse) */
		n = snprintf(prefix, sizeof(prefix), "Return-Path: <%s>\nDelivered-To: %s\n",
		    s->sender, r->addr);
		r->id = ++s->l->next_id;
		if (n < 0 || (size_t)n >= sizeof(prefix)) {
			r->answered = true;
			r->status = IPC_DELIVER_TEMPFAIL;
			continue;
		}
		d.id = r->id;
		d.address = r->addr;
		d.folder = r->folder;
		d.prefix.p = (const unsigned char *)prefix;
		d.prefix.len = (size_t)n;
		/* a spool file goes out read-only; a memfd is sealed */
		if (ipc_encode(&m, IPC_LMTP_DELIVER, &d) < 0 ||
		    ipc_to_master(&m, s->ro_fd >= 0 ? s->ro_fd : s->msg_fd) < 0) {
			r->answered = true;
			r->status = IPC_DELIVER_TEMPFAIL;
			continue;
		}
		s->inflight++;
	}
	if (s->next_send == s->nrcpts)
		msg_close(s);	/* the master holds its own copies of the message now */
}

/* Consume DATA bytes from the input buffer. Returns true when the final dot was read. */
static bool
data_read(struct lsess *s, struct evbuffer *in)
{
	uint64_t max = s->l->cfg->mail_max_size;

	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t w, used;
		bool done;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		if (v.iov_len > LMTP_CHUNK)
			v.iov_len = LMTP_CHUNK;
		done = lmtp_data_feed(&s->dec, v.iov_base, v.iov_len, s->chunk, &w, &used);
		if (!s->toobig && s->dec.size > max)
			s->toobig = true;
		/* over the threshold, or the memfds of all sessions would be: to a file */
		if (!s->toobig && !s->write_error && w > 0 && s->ro_fd < 0 &&
		    (s->mem_bytes + w > s->l->cfg->lmtp_spool_threshold ||
		    s->l->mem_bytes + w > LMTP_MEM_MAX) && sess_spool(s) < 0)
			s->write_error = true;
		if (!s->toobig && !s->write_error && w > 0) {
			size_t off = 0;

			while (off < w) {
				ssize_t r = write(s->msg_fd, s->chunk + off, w - off);

				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0) {
					log_error("lmtp: writing the message: %s", strerror(errno));
					s->write_error = true;
					break;
				}
				off += (size_t)r;
				if (s->ro_fd < 0) {
					s->mem_bytes += (uint64_t)r;
					s->l->mem_bytes += (uint64_t)r;
				}
			}
		}
		evbuffer_drain(in, used);
		if (done)
			return true;
	}
	return false;
}

static void
handle_line(struct lsess *s, const char *line, size_t len)
{
	struct lmtp_cmd cmd;
	const char *reply;

	if (lmtp_cmd_parse(line, len, &cmd, &reply) < 0) {
		sess_bad(s, reply);
		return;
	}
	switch (cmd.verb) {
	case LMTP_VERB_LHLO:
		cmd_lhlo(s);
		break;
	case LMTP_VERB_HELO:
	case LMTP_VERB_EHLO:
		sess_bad(s, "500 5.5.1 This is LMTP: use LHLO (RFC 2033)");
		break;
	case LMTP_VERB_MAIL:
		cmd_mail(s, &cmd);
		break;
	case LMTP_VERB_RCPT:
		cmd_rcpt(s, &cmd);
		break;
	case LMTP_VERB_DATA:
		cmd_data(s);
		break;
	case LMTP_VERB_RSET:
		txn_reset(s);
		sess_printf(s, "250 2.0.0 OK");
		break;
	case LMTP_VERB_NOOP:
		sess_printf(s, "250 2.0.0 OK");
		break;
	case LMTP_VERB_QUIT:
		sess_printf(s, "221 2.0.0 %s closing connection", s->l->hostname);
		sess_close(s);
		break;
	case LMTP_VERB_VRFY:
		sess_printf(s, "252 2.5.0 Cannot VRFY user, but will accept message");
		break;
	case LMTP_VERB_HELP:
		sess_printf(s, "214 2.0.0 See RFC 2033");
		break;
	case LMTP_VERB_EXPN:
	case LMTP_VERB_BDAT:
	case LMTP_VERB_STARTTLS:
		sess_bad(s, "502 5.5.1 Command not implemented");
		break;
	}
}

/* Run commands (and DATA) from the input buffer until we must wait. */
static void
sess_process(struct lsess *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (s->state == SS_CMD || s->state == SS_DATA) {
		size_t avail = evbuffer_get_length(in), line_len, consumed;
		unsigned char *p;

		if (s->state == SS_DATA) {
			if (!data_read(s, in))
				goto need_more;
			data_done(s);	/* may recurse into sess_process via delivery_flush */
			return;
		}
		if (avail == 0)
			goto need_more;
		/*
		 * A client that pipelines commands and never reads the replies: stop here
		 * (input then stops at its bound), go on from sess_write_cb once the output
		 * has drained (lib/conn.h, CONN_LMTP).
		 */
		if (conn_output_full(s->bev, CONN_LMTP)) {
			s->out_full = true;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		p = evbuffer_pullup(in, (ssize_t)MIN(avail, (size_t)LMTP_LINE_MAX));
		switch (lmtp_line_find(p, MIN(avail, (size_t)LMTP_LINE_MAX), &line_len,
		    &consumed)) {
		case LMTP_LINE_MORE:
			goto need_more;
		case LMTP_LINE_TOOLONG:
			sess_printf(s, "500 5.5.2 Line too long");
			sess_close(s);
			return;
		case LMTP_LINE_DONE:
			break;
		}
		{
			char line[LMTP_LINE_MAX];

			memcpy(line, p, line_len);
			evbuffer_drain(in, consumed);
			handle_line(s, line, line_len);
		}
		if (s->state == SS_CLOSING)
			return;
	}
	return;
need_more:
	/* everything the client sent before it shut down its side has been answered */
	if (s->eof)
		sess_close(s);
}

static void
sess_read_cb(struct bufferevent *bev, void *ctx)
{
	sess_process(ctx);
}

static void
sess_write_cb(struct bufferevent *bev, void *ctx)
{
	struct lsess *s = ctx;

	if (s->state == SS_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		sess_destroy(s);
		return;
	}
	if (s->out_full && s->state == SS_CMD) {
		/* drained to the write watermark (CONN_LMTP): take commands again */
		s->out_full = false;
		if (!s->eof)
			bufferevent_enable(bev, EV_READ);
		sess_process(s);
	}
}

static void
sess_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct lsess *s = ctx;

	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		if (s->state == SS_RCPT_WAIT || s->state == SS_DELIVERING) {
			/* we are the slow side: keep waiting */
			bufferevent_enable(bev, EV_READ);
			return;
		}
		log_info("lmtp idle timeout ip=%s", s->ip);
		sess_printf(s, "421 4.4.2 %s Idle timeout, closing connection", s->l->hostname);
		sess_close(s);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/*
		 * The client shut down its side (or closed): answer what it sent, then close.
		 * Waiting sessions finish when their results come (sess_process ends them).
		 */
		if (s->state == SS_DATA)
			log_info("lmtp connection lost during DATA ip=%s", s->ip);
		s->eof = true;
		bufferevent_disable(bev, EV_READ);
		if (s->state == SS_CMD || s->state == SS_DATA)
			sess_process(s);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		/*
		 * Deliveries already handed to the master still complete (the MTA will
		 * retry them: a duplicate at worst, never a loss); their results find no
		 * session and are dropped.
		 */
		sess_destroy(s);
	}
}

static void
accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *ctx)
{
	struct lmtp *l = ctx;
	struct lsess *s;
	struct timeval tv = { LMTP_IDLE_SECS, 0 };

	if (l->nsessions >= LMTP_MAX_SESSIONS) {
		static const char busy[] = "421 4.3.2 Too many connections, try again later\r\n";

		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* nothing to do: the MTA retries */
		}
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->l = l;
	s->msg_fd = s->ro_fd = -1;
	if (sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, s->ip,
		    sizeof(s->ip));
	else if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, s->ip,
		    sizeof(s->ip));
	else
		snprintf(s->ip, sizeof(s->ip), "local");
	evutil_make_socket_nonblocking(fd);
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		int one = 1;

		/* replies come one by one as lookups finish: no Nagle + delayed-ACK stalls */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	s->bev = conn_new(l->base, fd, NULL, CONN_LMTP, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		log_error("lmtp: bufferevent_socket_new failed");
		close(fd);
		free(s);
		return;
	}
	bufferevent_setcb(s->bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->next = l->sessions;
	if (l->sessions != NULL)
		l->sessions->prev = s;
	l->sessions = s;
	l->nsessions++;
	sess_printf(s, "220 %s buzon LMTP ready", l->hostname);
}

static void
accept_error_cb(struct evconnlistener *lst, void *ctx)
{
	log_warn("lmtp: accept: %s", strerror(errno));
}

/* Find the session waiting for request id (RCPT lookup or a recipient's delivery). */
static struct lsess *
find_request(struct lmtp *l, uint32_t type, uint32_t id, struct rcpt **rcpt_r)
{
	for (struct lsess *s = l->sessions; s != NULL; s = s->next) {
		if (type == IPC_LMTP_RCPT_RESULT) {
			if (s->state == SS_RCPT_WAIT && s->wait_id == id)
				return s;
			continue;
		}
		if (s->state != SS_DELIVERING)
			continue;
		for (size_t i = 0; i < s->nrcpts; i++) {
			if (s->rcpts[i].id == id && !s->rcpts[i].answered) {
				*rcpt_r = &s->rcpts[i];
				return s;
			}
		}
	}
	return NULL;
}

static void
master_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx)
{
	struct lmtp *l = ctx;
	struct ipc_lmtp_rcpt_result rr;
	struct ipc_result dr;
	uint32_t id, status;
	struct lsess *s;
	struct rcpt *r = NULL;

	if (m->type == IPC_LOGIN_DRAIN && m->len == 0) {
		/* reload: a new LMTP process takes over the listeners */
		l->draining = true;
		for (unsigned i = 0; i < l->nlisteners; i++)
			evconnlistener_disable(l->listeners[i]);
		log_info("lmtp draining sessions=%u", l->nsessions);
		if (l->nsessions == 0)
			event_base_loopexit(l->base, NULL);
		return;
	}
	if (m->type == IPC_LMTP_RCPT_RESULT && ipc_decode(m, m->type, &rr) == 0) {
		id = rr.id;
		status = rr.status;
	} else if (m->type == IPC_LMTP_DELIVER_RESULT && ipc_decode(m, m->type, &dr) == 0) {
		id = dr.id;
		status = dr.status;
	} else {
		fatal("lmtp: malformed message type=%u from the master", m->type);
	}
	if (status > IPC_DELIVER_TOOBIG)
		fatal("lmtp: malformed message type=%u from the master", m->type);
	if ((s = find_request(l, m->type, id, &r)) == NULL)
		return;	/* its session is gone */
	if (m->type == IPC_LMTP_RCPT_RESULT) {
		rcpt_result(s, status);
		sess_process(s);
	} else {
		r->answered = true;
		r->status = status;
		if (status != IPC_DELIVER_OK)
			log_warn("lmtp delivery failed rcpt=<%s> status=%u", r->addr, status);
		if (s->inflight > 0)
			s->inflight--;
		delivery_pump(s);
		delivery_flush(s);
	}
}

static void
master_error_cb(struct ipc_peer *peer, int error, void *ctx)
{
	log_info("lmtp: master gone (%s), exiting", error == 0 ? "EOF" : strerror(error));
	exit(0);
}

static void
parse_fds(struct lmtp *l, const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		uint32_t fd;

		if (strncmp(tok, "lmtp=", 5) != 0 || parse_u32(tok + 5, strlen(tok + 5), &fd) < 0 ||
		    l->nlisteners == LMTP_MAX_LISTENERS)
			fatal("lmtp: bad --fds");
		/* libevent accepts until EAGAIN: a blocking listener would hang the process */
		if (evutil_make_socket_nonblocking((evutil_socket_t)fd) < 0)
			fatal("lmtp: fd %u is not a socket", fd);
		l->listeners[l->nlisteners] = evconnlistener_new(l->base, accept_cb, l,
		    LEV_OPT_CLOSE_ON_FREE, -1, (evutil_socket_t)fd);
		if (l->listeners[l->nlisteners] == NULL)
			fatal("lmtp: cannot listen on fd %u", fd);
		evconnlistener_set_error_cb(l->listeners[l->nlisteners], accept_error_cb);
		l->nlisteners++;
	}
	free(copy);
	if (l->nlisteners == 0)
		fatal("lmtp: no listener in --fds");
}

/* Open lmtp_spool_dir (created by the master, owned by login_user) before the chroot. */
static void
spool_open(struct lmtp *l)
{
	struct statfs sf;

	l->spool_fd = open(l->cfg->lmtp_spool_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (l->spool_fd < 0) {
		log_error("lmtp: spool directory %s: %s (messages over %llu bytes get 451)",
		    l->cfg->lmtp_spool_dir, strerror(errno),
		    (unsigned long long)l->cfg->lmtp_spool_threshold);
		return;
	}
	if (fstatfs(l->spool_fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		log_warn("lmtp: spool directory %s is on tmpfs: spooled messages still use "
		    "memory; set lmtp_spool_dir to a directory on disk", l->cfg->lmtp_spool_dir);
}

int
lmtp_main(int argc, char **argv)
{
	struct lmtp l;
	const char *fds = NULL;

	memset(&l, 0, sizeof(l));
	l.cfg = role_start("lmtp", argc, argv, &fds);
	if (gethostname(l.hostname, sizeof(l.hostname) - 1) < 0 || l.hostname[0] == '\0')
		snprintf(l.hostname, sizeof(l.hostname), "localhost");
	for (char *p = l.hostname; *p != '\0'; p++)
		if ((unsigned char)*p <= 32 || (unsigned char)*p >= 127)
			*p = '_';
	l.base = event_base_new();
	parse_fds(&l, fds);
	spool_open(&l);
	sandbox_set_spool_dir(l.spool_fd);
	/* everything this process needs is loaded: confine it like the login process */
	role_confine_unprivileged(l.cfg, SANDBOX_LMTP);
	l.master = ipc_peer_create(l.base, LMTP_IPC_FD, master_msg_cb, master_error_cb, &l);
	lmtp_master = l.master;
	event_base_dispatch(l.base);
	/* drained: every session has ended */
	while (l.sessions != NULL)
		sess_destroy(l.sessions);
	for (unsigned i = 0; i < l.nlisteners; i++)
		evconnlistener_free(l.listeners[i]);
	lmtp_master = NULL;
	(void)ipc_peer_flush(l.master, 5000);
	ipc_peer_destroy(&l.master);
	event_base_free(l.base);
	if (l.spool_fd >= 0)
		close(l.spool_fd);
	config_free(&l.cfg);
	return 0;
}
