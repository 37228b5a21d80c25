/*
 * master_control.c — the control socket (docs/architecture.md, "The control socket"):
 * the administrator's verbs (`buzon who`, `kick`, `mailbox status`, `ban`, `quota`,
 * `index rebuild`) on a Unix socket of the master, mode 0600. Runs in the master (root).
 * Security role: only root or the server's own uid (SO_PEERCRED) gets an answer; the
 * request line is parsed by src/proto/control.c, bounded (CONTROL_LINE_MAX); what the
 * mail processes and auth answer is framed by ipc.c and checked here before it is
 * relayed. A client costs a bounded buffer and is dropped after CTL_TIMEOUT_SECS
 * (CTL_LONG_SECS once it asked for a full scan) whatever it does, so one that never
 * reads never blocks the event loop.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/util.h"
#include "master/master_private.h"
#include "proto/control.h"

#define CTL_MAX_CONNS		16
#define CTL_TIMEOUT_SECS	30		/* a whole exchange, reading included */
#define CTL_LONG_SECS		600		/* index rebuild, quota recalc: full scans */
#define CTL_OUT_MAX		(1024 * 1024)	/* one answer */

struct ctl_conn {
	struct ctl_conn *next;
	uint32_t id;
	int fd;
	struct event *ev;
	struct event *timer;
	struct buf in, out;
	bool dispatched;	/* the request was read; no more input */
	bool finished;		/* the last line is in out: close once it is written */
	unsigned waiting;	/* child answers outstanding */
	enum control_verb verb;
	unsigned kicked;	/* kick: sessions ended so far */
	bool failed;		/* a child answered an error (the first one is in err) */
	char err[160];
};

/* A request sent to a child for a connection (matched by id and child). */
struct ctl_wait {
	struct ctl_wait *next;
	uint32_t id, conn_id;
	struct child *ch;
	bool held;		/* a mail process kept from its idle exit for this */
};

static struct {
	char *path;		/* as bound (a reload does not move it) */
	int fd;
	struct event *ev;
	struct ctl_conn *conns;
	unsigned nconns;
	uint32_t next_conn;
	struct ctl_wait *waits;
} C = { .fd = -1 };

static void ctl_event_cb(evutil_socket_t fd, short what, void *ctx);

static struct ctl_conn *
ctl_find(uint32_t id)
{
	for (struct ctl_conn *c = C.conns; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/*
 * Read and drop what the client sent and we did not read (the rest of an over-long
 * line): closing a Unix socket with unread input makes the client's read fail with
 * ECONNRESET before it sees our answer. Bounded; never waits.
 */
static void
ctl_discard_input(int fd)
{
	char junk[4096];

	for (int i = 0; i < 16; i++)
		if (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
			break;
}

static void
ctl_close(struct ctl_conn *c)
{
	struct ctl_conn **pp;

	for (pp = &C.conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	C.nconns--;
	event_free(c->ev);
	event_free(c->timer);
	ctl_discard_input(c->fd);
	close(c->fd);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	free(c);
}

/* Write what is buffered; close once the answer is out. Never blocks. */
static void
ctl_flush(struct ctl_conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n <= 0) {
			ctl_close(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	if (c->out.len == 0 && c->finished) {
		ctl_close(c);
		return;
	}
	event_del(c->ev);
	event_assign(c->ev, M.base, c->fd, c->out.len > 0 ? EV_WRITE : (c->dispatched ? 0 :
	    EV_READ), ctl_event_cb, c);
	if (c->out.len > 0 || !c->dispatched)
		event_add(c->ev, NULL);
}

/* Append text; an answer over CTL_OUT_MAX ends in an error line instead. */
static void PRINTF(2, 3)
ctl_printf(struct ctl_conn *c, const char *fmt, ...)
{
	va_list ap;
	size_t before = c->out.len;
	int r;

	if (c->finished)
		return;
	va_start(ap, fmt);
	r = buf_vappendf(&c->out, fmt, ap);
	va_end(ap);
	if (r < 0) {
		buf_truncate(&c->out, before);
		c->failed = true;
		snprintf(c->err, sizeof(c->err), "answer too long");
	}
}

/* The last line: "OK" or "ERR reason"; then the connection closes. */
static void
ctl_finish(struct ctl_conn *c)
{
	if (c->finished)
		return;
	if (c->verb == CONTROL_KICK && !c->failed)
		ctl_printf(c, "%u session%s ended\n", c->kicked, c->kicked == 1 ? "" : "s");
	if (!c->failed)
		ctl_printf(c, "OK\n");		/* may fail when the answer is full */
	if (c->failed) {
		/* the error line always fits: what comes before it is cut */
		if (c->out.len > CTL_OUT_MAX - sizeof(c->err) - 8)
			buf_truncate(&c->out, CTL_OUT_MAX - sizeof(c->err) - 8);
		(void)buf_appendf(&c->out, "ERR %s\n", c->err);
	}
	c->finished = true;
	ctl_flush(c);
}

static void
ctl_fail(struct ctl_conn *c, const char *reason)
{
	if (!c->failed) {
		c->failed = true;
		snprintf(c->err, sizeof(c->err), "%s", reason);
	}
}

/* Send verb to a child for c; counted in c->waiting. Returns the wait or NULL. */
static struct ctl_wait *
ctl_ask(struct ctl_conn *c, struct child *ch, uint32_t verb, const char *arg)
{
	struct ipc_admin_request r;
	struct ipc_msg m;
	struct ctl_wait *w;

	r.id = ++M.next_id;
	r.verb = verb;
	r.arg = arg != NULL ? arg : "";
	if (ch == NULL || ch->peer == NULL || ipc_encode(&m, IPC_ADMIN_REQUEST, &r) < 0 ||
	    child_send(ch, &m, -1) < 0)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->id = r.id;
	w->conn_id = c->id;
	w->ch = ch;
	w->next = C.waits;
	C.waits = w;
	c->waiting++;
	return w;
}

static const char *
ctl_when(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
	return out;
}

/* One answer of a child, for its connection. */
static void
ctl_answer(struct ctl_conn *c, struct child *ch, uint32_t status, const char *text,
    size_t len)
{
	if (status != 0) {
		char reason[128];

		while (len > 0 && text[len - 1] == '\n')
			len--;
		snprintf(reason, sizeof(reason), "%.*s", (int)MIN(len, sizeof(reason) - 1), text);
		ctl_fail(c, reason);
		return;
	}
	if (c->verb == CONTROL_WHO) {
		/* lines "proto ip since": prefixed with the user, the pid after */
		const char *p = text, *end = text + len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			char proto[16], ip[IPC_IP_MAX + 1], when[32];
			long long since;
			char line[256];
			size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

			snprintf(line, sizeof(line), "%.*s", (int)MIN(n, sizeof(line) - 1), p);
			if (sscanf(line, "%15s %64s %lld", proto, ip, &since) == 3)
				ctl_printf(c, "%-24s %-12s %-40s %-20s %d\n", ch->user, proto, ip,
				    ctl_when((time_t)since, when, sizeof(when)), (int)ch->pid);
			p += n + 1;
		}
		return;
	}
	if (c->verb == CONTROL_BAN_LIST) {
		/* lines "address failures seconds-left", aligned under the header */
		const char *p = text, *end = text + len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
			char line[160], addr[72];
			unsigned long long fails, left;

			snprintf(line, sizeof(line), "%.*s", (int)MIN(n, sizeof(line) - 1), p);
			if (sscanf(line, "%71s %llu %llu", addr, &fails, &left) == 3)
				ctl_printf(c, "%-43s %-8llu %llu\n", addr, fails, left);
			p += n + 1;
		}
		return;
	}
	if (c->verb == CONTROL_KICK) {
		uint32_t n = 0;

		while (len > 0 && text[len - 1] == '\n')
			len--;
		if (parse_u32(text, len, &n) == 0)
			c->kicked += n;
		return;
	}
	ctl_printf(c, "%.*s", (int)len, text);
}

void
handle_admin_reply(struct child *ch, struct ipc_msg *m)
{
	struct ipc_admin_reply r;
	struct ctl_wait **wp, *w;
	struct ctl_conn *c;
	bool held;

	if (ipc_decode(m, IPC_ADMIN_REPLY, &r) < 0 || r.status > 1) {
		log_error("malformed admin reply from %s pid=%d: killing it", role_names[ch->role],
		    (int)ch->pid);
		child_kill(ch);
		return;
	}
	for (size_t i = 0; i < r.text.len; i++)
		if ((r.text.p[i] < 0x20 && r.text.p[i] != '\n' && r.text.p[i] != '\t') ||
		    r.text.p[i] == 0x7f) {
			log_error("admin reply with control characters from %s pid=%d: killing it",
			    role_names[ch->role], (int)ch->pid);
			child_kill(ch);
			return;
		}
	for (wp = &C.waits; *wp != NULL; wp = &(*wp)->next)
		if ((*wp)->id == r.id && (*wp)->ch == ch)
			break;
	if ((w = *wp) == NULL)
		return;
	*wp = w->next;
	c = ctl_find(w->conn_id);
	held = w->held;
	free(w);
	if (held)
		mail_maybe_idle(ch);
	if (c == NULL)
		return;
	ctl_answer(c, ch, r.status, (const char *)r.text.p, r.text.len);
	if (--c->waiting == 0)
		ctl_finish(c);
	else
		ctl_flush(c);	/* streamed: each process's part as it comes */
}

void
control_child_gone(struct child *ch)
{
	struct ctl_wait **wp = &C.waits;

	while (*wp != NULL) {
		struct ctl_wait *w = *wp;
		struct ctl_conn *c;

		if (w->ch != ch) {
			wp = &w->next;
			continue;
		}
		*wp = w->next;
		if ((c = ctl_find(w->conn_id)) != NULL) {
			/* who and kick: a process that died has no sessions left to list */
			if (c->verb != CONTROL_WHO && c->verb != CONTROL_KICK)
				ctl_fail(c, "the process answering ended");
			if (--c->waiting == 0)
				ctl_finish(c);
		}
		free(w);
	}
}

static uint32_t
ctl_mail_verb(enum control_verb v)
{
	switch (v) {
	case CONTROL_MAILBOX_STATUS:
		return IPC_ADMIN_STATUS;
	case CONTROL_QUOTA_GET:
		return IPC_ADMIN_QUOTA_GET;
	case CONTROL_QUOTA_RECALC:
		return IPC_ADMIN_QUOTA_RECALC;
	default:
		return IPC_ADMIN_INDEX_REBUILD;
	}
}

/*
 * auth looked the user of a mailbox verb up: the answer comes from the user's mail
 * process, started if none runs (as the quota policy service does). Frees p.
 */
void
control_auth_reply(struct pending *p, uint32_t status, const char *name, uint32_t uid,
    uint32_t gid, const char *home, const char *root, const char *quota)
{
	struct ctl_conn *c = ctl_find(p->from_req);
	struct ctl_wait *w;
	struct child *mail;

	if (c == NULL) {
		pending_free(p);
		return;
	}
	c->waiting--;
	if (status != IPC_AUTH_OK) {
		ctl_fail(c, status == IPC_AUTH_FAIL ? "no such user" : "temporary failure");
	} else if ((priv_is_root() && (uid == 0 || gid == 0)) || root[0] != '/' ||
	    (mail = mail_child_get(name, uid, gid, home, root, quota)) == NULL) {
		ctl_fail(c, "temporary failure");
	} else {
		if (mail->idle_timer != NULL)
			evtimer_del(mail->idle_timer);
		if ((w = ctl_ask(c, mail, ctl_mail_verb(c->verb), p->folder)) == NULL) {
			ctl_fail(c, "temporary failure");
			mail_maybe_idle(mail);
		} else {
			w->held = true;
		}
	}
	pending_free(p);
	if (c->waiting == 0)
		ctl_finish(c);
}

static const char *const verb_names[] = {
	[CONTROL_WHO] = "who", [CONTROL_KICK] = "kick",
	[CONTROL_MAILBOX_STATUS] = "mailbox-status", [CONTROL_BAN_LIST] = "ban-list",
	[CONTROL_BAN_REMOVE] = "ban-remove", [CONTROL_QUOTA_GET] = "quota-get",
	[CONTROL_QUOTA_RECALC] = "quota-recalc", [CONTROL_INDEX_REBUILD] = "index-rebuild",
};

static void
ctl_dispatch(struct ctl_conn *c, const struct control_req *req)
{
	char safe[128];

	c->verb = req->verb;
	if (req->verb == CONTROL_INDEX_REBUILD || req->verb == CONTROL_QUOTA_RECALC) {
		struct timeval tv = { CTL_LONG_SECS, 0 };

		evtimer_add(c->timer, &tv);	/* from now: the mail process scans folders */
	}
	log_info("control verb=%s arg=\"%s\"", verb_names[req->verb], req->argc > 0 ?
	    log_sanitize(req->argv[0], strlen(req->argv[0]), safe, sizeof(safe)) : "");
	switch (req->verb) {
	case CONTROL_WHO:
		ctl_printf(c, "%-24s %-12s %-40s %-20s %s\n", "USER", "PROTOCOL", "ADDRESS",
		    "SINCE", "PID");
		/* FALLTHROUGH */
	case CONTROL_KICK:
		for (struct child *ch = M.children; ch != NULL; ch = ch->next) {
			if (ch->role != ROLE_MAIL || ch->peer == NULL || ch->user == NULL)
				continue;
			if (req->verb == CONTROL_KICK && strcmp(ch->user, req->argv[0]) != 0)
				continue;
			(void)ctl_ask(c, ch, req->verb == CONTROL_WHO ? IPC_ADMIN_WHO :
			    IPC_ADMIN_KICK, req->verb == CONTROL_KICK && req->argc > 1 ?
			    req->argv[1] : "");
		}
		break;
	case CONTROL_BAN_LIST:
	case CONTROL_BAN_REMOVE:
		if (req->verb == CONTROL_BAN_LIST)
			ctl_printf(c, "%-43s %-8s %s\n", "ADDRESS", "FAILURES", "SECONDS-LEFT");
		if (ctl_ask(c, M.auth, req->verb == CONTROL_BAN_LIST ? IPC_ADMIN_BAN_LIST :
		    IPC_ADMIN_BAN_REMOVE, req->argc > 0 ? req->argv[0] : "") == NULL)
			ctl_fail(c, "auth is not running");
		break;
	default: {
		/* a user's mailbox: auth names the user, then the mail process answers */
		struct ipc_auth_lookup al;
		struct pending *p;
		struct ipc_msg m;

		if (strlen(req->argv[0]) > IPC_USER_MAX || (req->argc > 1 &&
		    strlen(req->argv[1]) > IPC_FOLDER_MAX)) {
			ctl_fail(c, "argument too long");
			break;
		}
		p = xcalloc(1, sizeof(*p));
		p->fd = -1;
		p->kind = PK_ADMIN;
		p->from_req = c->id;
		p->address = xstrdup(req->argv[0]);
		p->folder = xstrdup(req->argc > 1 ? req->argv[1] : "");
		p->id = ++M.next_id;
		al.id = p->id;
		al.address = p->address;
		if (M.auth == NULL || ipc_encode(&m, IPC_AUTH_LOOKUP, &al) < 0 ||
		    child_send(M.auth, &m, -1) < 0) {
			pending_free(p);
			ctl_fail(c, "auth is not running");
			break;
		}
		p->next = M.pending;
		M.pending = p;
		c->waiting++;
		break;
	}
	}
	if (c->waiting == 0)
		ctl_finish(c);
	else
		ctl_flush(c);
}

static void
ctl_read(struct ctl_conn *c)
{
	struct control_req *req;
	const char *err;
	size_t used;
	ssize_t n;
	char tmp[1024];
	enum control_result r;

	n = recv(c->fd, tmp, MIN(sizeof(tmp), CONTROL_LINE_MAX - c->in.len), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_close(c);
		return;
	}
	if (buf_append(&c->in, tmp, (size_t)n) < 0)
		panic("control: input over its limit");
	req = xmalloc(sizeof(*req));
	r = control_parse((const unsigned char *)c->in.data, c->in.len, req, &used, &err);
	if (r == CONTROL_MORE) {
		free(req);
		event_add(c->ev, NULL);		/* the rest of the line */
		return;
	}
	c->dispatched = true;
	if (r == CONTROL_ERROR) {
		ctl_fail(c, err);
		ctl_finish(c);
	} else {
		ctl_dispatch(c, req);
	}
	free(req);
}

static void
ctl_event_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ctl_conn *c = ctx;

	if (what & EV_READ)
		ctl_read(c);
	else if (what & EV_WRITE)
		ctl_flush(c);
}

static void
ctl_timeout_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ctl_conn *c = ctx;

	log_info("control client dropped after %d s", CTL_TIMEOUT_SECS);
	ctl_close(c);
}

static void
ctl_accept_cb(evutil_socket_t lfd, short what, void *ctx)
{
	struct timeval tv = { CTL_TIMEOUT_SECS, 0 };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct ctl_conn *c;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    clen != sizeof(cred) || (cred.uid != 0 && cred.uid != geteuid())) {
		static const char no[] = "ERR permission denied\n";

		log_warn("control client refused uid=%d pid=%d", (int)cred.uid, (int)cred.pid);
		(void)!send(fd, no, sizeof(no) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		ctl_discard_input(fd);
		close(fd);
		return;
	}
	if (C.nconns >= CTL_MAX_CONNS) {
		static const char busy[] = "ERR too many control clients\n";

		(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		ctl_discard_input(fd);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->id = ++C.next_conn;
	c->fd = fd;
	buf_init(&c->in, CONTROL_LINE_MAX);
	buf_init(&c->out, CTL_OUT_MAX);
	c->ev = event_new(M.base, fd, EV_READ, ctl_event_cb, c);
	c->timer = evtimer_new(M.base, ctl_timeout_cb, c);
	evtimer_add(c->timer, &tv);
	c->next = C.conns;
	C.conns = c;
	C.nconns++;
	event_add(c->ev, NULL);
}

void
control_init(void)
{
	struct sockaddr_un sun;
	const char *path = M.cfg->control_socket;
	struct stat st;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatal("control_socket: path too long");
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatal("control_socket: %s exists and is not a socket", path);
		unlink(path);
	}
	if ((C.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		fatal("socket: %s", strerror(errno));
	/* 0600, owned by the master's uid, from the start: no window with wider rights */
	old = umask(0177);
	if (bind(C.fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fatal("bind %s: %s", path, strerror(errno));
	umask(old);
	if (listen(C.fd, 16) < 0)
		fatal("listen %s: %s", path, strerror(errno));
	C.path = xstrdup(path);
	C.ev = event_new(M.base, C.fd, EV_READ | EV_PERSIST, ctl_accept_cb, NULL);
	event_add(C.ev, NULL);
	log_info("control_socket %s mode=0600", path);
}

void
control_deinit(void)
{
	while (C.conns != NULL)
		ctl_close(C.conns);
	while (C.waits != NULL) {
		struct ctl_wait *w = C.waits;

		C.waits = w->next;
		free(w);
	}
	if (C.ev != NULL)
		event_free(C.ev);
	C.ev = NULL;
	if (C.fd >= 0) {
		close(C.fd);
		unlink(C.path);
	}
	C.fd = -1;
	free(C.path);
	C.path = NULL;
}
