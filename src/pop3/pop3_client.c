/*
 * pop3_client.c — POP3 sessions in the per-user mail process (see pop3_client.h):
 * the TRANSACTION state commands, the UPDATE state at QUIT (expunge through the store,
 * \Seen for retrieved messages) and streaming RETR/TOP from the message file through
 * the CRLF/dot-stuffing encoder with output backpressure. Security role: acts on
 * authenticated but untrusted input as the mailbox owner; nothing a client sends grows
 * a buffer beyond the line limit or the input high-water mark.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/conn.h"
#include "lib/log.h"
#include "mailproc/mail_user.h"
#include "pop3/pop3_client.h"
#include "proto/pop3_cmd.h"
#include "store/store.h"
#include "lib/util.h"

#define POP3_READ_CHUNK		16384	/* message bytes read per step while streaming */

/* RFC 2449 §5: CAPA after login (no USER/SASL/STLS in the TRANSACTION state). */
#define POP3_CAPA "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n" \
	"AUTH-RESP-CODE\r\nIMPLEMENTATION buzon\r\n.\r\n"

struct pop3_msg {
	uint32_t uid;
	uint64_t vsize;		/* CRLF octets (the store's W= size) */
	bool deleted;		/* DELE in this session */
	bool expunged;		/* gone from the store meanwhile (another session) */
	bool retrieved;		/* RETR: gets \Seen at QUIT */
};

struct pop3_client {
	struct mail_session session;	/* in the user's session registry */
	struct mail_user *mu;
	const struct config *cfg;
	char *user, *ip;
	unsigned id;
	struct bufferevent *bev;
	struct event *timer;
	struct mailbox *mbox;
	struct mailbox_listener *listener;
	struct pop3_msg *msgs;
	uint32_t count;
	uint32_t uidvalidity;
	struct pop3_cmd_parser parser;
	unsigned bad, long_lines;
	bool locked;		/* holds the POP3 lock of the user's INBOX */
	bool closing;		/* the last reply is queued: close when flushed */
	bool input_eof;
	bool in_input;
	uint64_t last_activity_ms;
	unsigned retrieved, deleted;	/* for the logout log line */
	/* RETR/TOP in progress */
	int stream_fd;
	struct pop3_encoder enc;
	unsigned char *inbuf;
	size_t in_pos, in_len;
};

static bool inbox_locked;	/* one mail process per user: one POP3 lock per process */
static unsigned next_id;

static void client_input(struct pop3_client *c);
static void client_destroy(struct pop3_client *c);
static void client_shutdown(struct mail_session *s);

static void client_kick(struct mail_session *s);

static const struct mail_session_ops session_ops = { .shutdown = client_shutdown,
    .kick = client_kick };

/* ---------------------------------------------------------------- output */

static size_t
output_len(const struct pop3_client *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void client_printf(struct pop3_client *c, const char *fmt, ...) PRINTF(2, 3);

static void
client_printf(struct pop3_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap) < 0)
		panic("pop3: evbuffer_add_vprintf failed");
	va_end(ap);
}

/* Queue the last reply's end: stop reading, close once everything is sent. */
static void
client_close_after(struct pop3_client *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

static void
reply_bad(struct pop3_client *c, const char *text)
{
	client_printf(c, "-ERR %s\r\n", text);
	if (++c->bad >= POP3_MAX_BAD) {
		log_info("pop3 disconnect user=%s session=%u reason=too_many_bad_commands",
		    c->user, c->id);
		client_printf(c, "-ERR Too many bad commands.\r\n");
		client_close_after(c);
	}
}

/* ---------------------------------------------------------------- store events */

static struct pop3_msg *
find_uid(struct pop3_client *c, uint32_t uid)
{
	size_t lo = 0, hi = c->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->msgs[mid].uid == uid)
			return &c->msgs[mid];
		if (c->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
expunged_cb(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct pop3_msg *m = find_uid(ctx, uid);

	/* RFC 1939 keeps the numbering; the message just cannot be retrieved any more */
	if (m != NULL)
		m->expunged = true;
}

static const struct mailbox_listener_ops listener_ops = {
	.expunged = expunged_cb,
};

/* ---------------------------------------------------------------- arguments */

/*
 * The message a number argument names, or NULL after an -ERR reply. Deleted messages
 * are refused (RFC 1939 §5: "may not refer to a message marked as deleted").
 */
static struct pop3_msg *
msg_arg(struct pop3_client *c, const struct pop3_arg *a)
{
	uint32_t n;

	if (pop3_arg_u32(a, &n) < 0 || n == 0) {
		reply_bad(c, "Invalid message number.");
		return NULL;
	}
	c->bad = 0;
	if (n > c->count) {
		client_printf(c, "-ERR There's no message %u.\r\n", n);
		return NULL;
	}
	if (c->msgs[n - 1].deleted) {
		client_printf(c, "-ERR Message is deleted.\r\n");
		return NULL;
	}
	return &c->msgs[n - 1];
}

/* ---------------------------------------------------------------- RETR / TOP */

static void
stream_end(struct pop3_client *c)
{
	if (c->stream_fd >= 0)
		close(c->stream_fd);
	c->stream_fd = -1;
	free(c->inbuf);
	c->inbuf = NULL;
	c->in_pos = c->in_len = 0;
}

/*
 * Move message bytes to the output until the backlog reaches the high-water mark;
 * the write callback calls again below the low-water mark. Returns false if the session
 * had to be closed (read error: the reply cannot be completed).
 */
static bool
stream_continue(struct pop3_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	unsigned char ob[2 * POP3_READ_CHUNK + 8];

	while (c->stream_fd >= 0 &&
	    evbuffer_get_length(out) < conn_bounds(CONN_POP3)->output_high) {
		size_t used, w;

		if (c->in_pos == c->in_len && !c->enc.done) {
			ssize_t n = read(c->stream_fd, c->inbuf, POP3_READ_CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				log_error("pop3 user=%s session=%u error=\"read message: %s\"",
				    c->user, c->id, strerror(errno));
				stream_end(c);
				return false;
			}
			c->in_pos = 0;
			c->in_len = (size_t)n;
		}
		if (c->in_pos == c->in_len || c->enc.done) {
			w = pop3_encoder_finish(&c->enc, ob, sizeof(ob));
			evbuffer_add(out, ob, w);
			stream_end(c);
			break;
		}
		w = pop3_encode(&c->enc, c->inbuf + c->in_pos, c->in_len - c->in_pos, ob,
		    sizeof(ob), &used);
		c->in_pos += used;
		if (evbuffer_add(out, ob, w) != 0)
			panic("pop3: evbuffer_add failed");
	}
	return true;
}

static void
cmd_retr_top(struct pop3_client *c, const struct pop3_cmd *cmd, bool top)
{
	struct pop3_msg *m;
	uint32_t lines = 0;
	enum store_status st;
	int fd;

	if (cmd->argc != (top ? 2u : 1u)) {
		reply_bad(c, top ? "Invalid TOP arguments." : "Invalid RETR arguments.");
		return;
	}
	if (top && pop3_arg_u32(&cmd->args[1], &lines) < 0) {
		reply_bad(c, "Invalid number of lines.");
		return;
	}
	if ((m = msg_arg(c, &cmd->args[0])) == NULL)
		return;
	if (m->expunged) {
		client_printf(c, "-ERR Message was expunged.\r\n");
		return;
	}
	st = mailbox_msg_open(c->mbox, m->uid, &fd);
	if (st == STORE_EXPUNGED) {
		m->expunged = true;
		client_printf(c, "-ERR Message was expunged.\r\n");
		return;
	}
	if (st != STORE_OK) {
		client_printf(c, "-ERR [SYS/TEMP] Cannot read the message.\r\n");
		return;
	}
	if (top) {
		client_printf(c, "+OK\r\n");
	} else {
		client_printf(c, "+OK %llu octets\r\n", (unsigned long long)m->vsize);
		if (!m->retrieved)
			c->retrieved++;
		m->retrieved = true;
	}
	c->stream_fd = fd;
	c->inbuf = xmalloc(POP3_READ_CHUNK);
	c->in_pos = c->in_len = 0;
	pop3_encoder_init(&c->enc, top, lines);
}

/* ---------------------------------------------------------------- other commands */

static void
cmd_stat(struct pop3_client *c)
{
	uint32_t n = 0;
	uint64_t size = 0;

	for (uint32_t i = 0; i < c->count; i++) {
		if (!c->msgs[i].deleted) {
			n++;
			size += c->msgs[i].vsize;
		}
	}
	client_printf(c, "+OK %u %llu\r\n", n, (unsigned long long)size);
}

static void
uidl_of(struct pop3_client *c, const struct pop3_msg *m, char *out, size_t size)
{
	if (pop3_uidl_format(c->cfg->pop3_uidl_format, m->uid, c->uidvalidity, out,
	    size) == 0 && pop3_uidl_format("%08Xu%08Xv", m->uid, c->uidvalidity, out,
	    size) == 0)
		panic("pop3: UIDL template cannot be expanded");
}

/* LIST and UIDL: one message or all of them (RFC 1939 §5, §7). */
static void
cmd_list_uidl(struct pop3_client *c, const struct pop3_cmd *cmd, bool uidl)
{
	char id[POP3_UIDL_MAX + 1];
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (cmd->argc > 1) {
		reply_bad(c, uidl ? "Invalid UIDL arguments." : "Invalid LIST arguments.");
		return;
	}
	if (cmd->argc == 1) {
		struct pop3_msg *m = msg_arg(c, &cmd->args[0]);

		if (m == NULL)
			return;
		if (uidl) {
			uidl_of(c, m, id, sizeof(id));
			client_printf(c, "+OK %u %s\r\n", (unsigned)(m - c->msgs) + 1, id);
		} else {
			client_printf(c, "+OK %u %llu\r\n", (unsigned)(m - c->msgs) + 1,
			    (unsigned long long)m->vsize);
		}
		return;
	}
	client_printf(c, "+OK\r\n");
	/* at most ~100 octets per message: bounded by the message count of the snapshot */
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->msgs[i].deleted)
			continue;
		if (uidl) {
			uidl_of(c, &c->msgs[i], id, sizeof(id));
			evbuffer_add_printf(out, "%u %s\r\n", i + 1, id);
		} else {
			evbuffer_add_printf(out, "%u %llu\r\n", i + 1,
			    (unsigned long long)c->msgs[i].vsize);
		}
	}
	client_printf(c, ".\r\n");
}

static void
cmd_dele(struct pop3_client *c, const struct pop3_cmd *cmd)
{
	struct pop3_msg *m;

	if (cmd->argc != 1) {
		reply_bad(c, "Invalid DELE arguments.");
		return;
	}
	if ((m = msg_arg(c, &cmd->args[0])) == NULL)
		return;
	m->deleted = true;
	c->deleted++;
	client_printf(c, "+OK Marked to be deleted.\r\n");
}

static void
cmd_rset(struct pop3_client *c)
{
	for (uint32_t i = 0; i < c->count; i++)
		c->msgs[i].deleted = false;
	c->deleted = 0;
	client_printf(c, "+OK\r\n");
}

/*
 * RFC 1939 §6, the UPDATE state: expunge what was DELEted (other sessions of the user
 * get EXPUNGE through the store's listeners) and mark retrieved messages \Seen.
 */
static void
cmd_quit(struct pop3_client *c)
{
	uint32_t *uids = xcalloc(c->count == 0 ? 1 : c->count, sizeof(*uids));
	size_t n = 0;
	enum store_status st = STORE_OK;

	for (uint32_t i = 0; i < c->count; i++) {
		const struct pop3_msg *pm = &c->msgs[i];
		const struct mailbox_msg *m;

		if (pm->expunged)
			continue;
		if (pm->deleted) {
			uids[n++] = pm->uid;
			continue;
		}
		if (pm->retrieved && (m = mailbox_lookup(c->mbox, pm->uid, NULL)) != NULL &&
		    !(m->flags & MAILBOX_FLAG_SEEN)) {
			enum store_status fst = mailbox_store_flags(c->mbox, pm->uid,
			    (uint8_t)((m->flags | MAILBOX_FLAG_SEEN) & ~MAILBOX_FLAG_RECENT), m->keywords);

			if (fst != STORE_OK && fst != STORE_EXPUNGED)
				log_warn("pop3 user=%s session=%u error=\"cannot set \\Seen: %s\"",
				    c->user, c->id, store_status_str(fst));
		}
	}
	if (n > 0)
		st = mailbox_expunge(c->mbox, uids, n);
	free(uids);
	log_info("pop3 logout user=%s session=%u retr=%u del=%zu status=%s", c->user, c->id,
	    c->retrieved, n, st == STORE_OK ? "ok" : store_status_str(st));
	if (st != STORE_OK)
		client_printf(c, "-ERR [SYS/TEMP] Failed to delete messages.\r\n");
	else if (n > 0)
		client_printf(c, "+OK Logging out, messages deleted.\r\n");
	else
		client_printf(c, "+OK Logging out.\r\n");
	client_close_after(c);
}

static void
command(struct pop3_client *c, const struct pop3_cmd *cmd)
{
	bool no_args = cmd->argc == 0;

	switch (cmd->id) {
	case POP3_CMD_STAT:
		if (no_args)
			cmd_stat(c);
		break;
	case POP3_CMD_LIST:
		cmd_list_uidl(c, cmd, false);
		return;
	case POP3_CMD_UIDL:
		cmd_list_uidl(c, cmd, true);
		return;
	case POP3_CMD_RETR:
		cmd_retr_top(c, cmd, false);
		return;
	case POP3_CMD_TOP:
		cmd_retr_top(c, cmd, true);
		return;
	case POP3_CMD_DELE:
		cmd_dele(c, cmd);
		return;
	case POP3_CMD_NOOP:
		if (no_args)
			client_printf(c, "+OK\r\n");
		break;
	case POP3_CMD_RSET:
		if (no_args)
			cmd_rset(c);
		break;
	case POP3_CMD_QUIT:
		if (no_args)
			cmd_quit(c);
		break;
	case POP3_CMD_CAPA:
		if (no_args)
			client_printf(c, "%s", POP3_CAPA);
		break;
	case POP3_CMD_USER: case POP3_CMD_PASS: case POP3_CMD_APOP: case POP3_CMD_AUTH:
	case POP3_CMD_STLS:
		reply_bad(c, "Already logged in.");
		return;
	case POP3_CMD_UNKNOWN:
	default:
		reply_bad(c, "Unknown command.");
		return;
	}
	if (!no_args)
		reply_bad(c, "Too many arguments.");
	else
		c->bad = 0;
}

/* ---------------------------------------------------------------- input */

/*
 * Run the commands the client has sent, in order, while the output backlog is below
 * the high-water mark and no RETR/TOP is streaming (RFC 2449 PIPELINING).
 */
static void
client_input(struct pop3_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (c->in_input)
		return;
	c->in_input = true;
	while (!c->closing && c->stream_fd < 0 && !conn_output_full(c->bev, CONN_POP3)) {
		size_t len = evbuffer_get_length(in), used = 0;
		enum pop3_parse_result r;
		struct pop3_cmd cmd;
		unsigned char *data;

		if (len == 0)
			break;
		len = MIN(len, conn_bounds(CONN_POP3)->input_max);
		data = evbuffer_pullup(in, (ssize_t)len);
		r = pop3_cmd_parse(&c->parser, data, len, &cmd, &used);
		if (r == POP3_PARSE_DONE) {
			command(c, &cmd);
		} else if (r == POP3_PARSE_ERROR) {
			if (cmd.error == POP3_ERR_TOOLONG) {
				log_info("pop3 limit user=%s session=%u what=command_line",
				    c->user, c->id);
				if (++c->long_lines >= POP3_MAX_LONG) {
					client_printf(c, "-ERR Command line too long.\r\n");
					client_close_after(c);
				} else {
					reply_bad(c, "Command line too long.");
				}
			} else {
				reply_bad(c, cmd.error == POP3_ERR_NUL ?
				    "Invalid command (NUL)." : "Unknown command.");
			}
		}
		evbuffer_drain(in, used);
		if (r == POP3_PARSE_MORE && used == 0)
			break;
	}
	c->in_input = false;
}

/*
 * Everything queued so far is in motion: finish the stream, run pipelined commands,
 * close when the last reply is out. Returns false if c was destroyed.
 */
static bool
client_progress(struct pop3_client *c)
{
	if (c->stream_fd >= 0 && !stream_continue(c)) {
		client_destroy(c);
		return false;
	}
	if (c->stream_fd < 0)
		client_input(c);
	if (c->stream_fd >= 0 && !stream_continue(c)) {
		client_destroy(c);
		return false;
	}
	if (c->closing && output_len(c) == 0) {
		client_destroy(c);
		return false;
	}
	if (c->input_eof && !c->closing && c->stream_fd < 0 &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		/* RFC 1939 §6: a dropped connection does not enter the UPDATE state */
		log_info("pop3 disconnect user=%s session=%u reason=eof", c->user, c->id);
		client_destroy(c);
		return false;
	}
	return true;
}

static void
read_cb(struct bufferevent *bev, void *ctx)
{
	struct pop3_client *c = ctx;

	c->last_activity_ms = clock_ms();
	(void)client_progress(c);
}

static void
write_cb(struct bufferevent *bev, void *ctx)
{
	struct pop3_client *c = ctx;

	c->last_activity_ms = clock_ms();
	(void)client_progress(c);
}

static void
event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct pop3_client *c = ctx;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !c->closing) {
		/* answer what was sent before the half-close (QUIT included) */
		c->input_eof = true;
		bufferevent_disable(bev, EV_READ);
		(void)client_progress(c);
		return;
	}
	log_info("pop3 disconnect user=%s session=%u reason=%s", c->user, c->id,
	    (what & BEV_EVENT_TIMEOUT) ? "output_timeout" : (what & BEV_EVENT_EOF) ? "eof" :
	    "error");
	client_destroy(c);
}

static void
timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct pop3_client *c = ctx;
	uint64_t now = clock_ms(), idle = now - c->last_activity_ms;
	struct timeval tv = { 0, 0 };

	if (idle >= (uint64_t)POP3_AUTOLOGOUT_SECS * 1000 && !c->closing) {
		/* RFC 1939 §3: the autologout timer ends the session without UPDATE */
		log_info("pop3 disconnect user=%s session=%u reason=autologout", c->user, c->id);
		stream_end(c);
		client_printf(c, "-ERR Disconnected for inactivity.\r\n");
		client_close_after(c);
		tv.tv_sec = 10;		/* then give up on a client that does not read */
	} else if (c->closing) {
		client_destroy(c);
		return;
	} else {
		tv.tv_sec = (time_t)((POP3_AUTOLOGOUT_SECS * 1000 - idle) / 1000 + 1);
	}
	evtimer_add(c->timer, &tv);
}

/* ---------------------------------------------------------------- life cycle */

/* Snapshot INBOX (numbers, UIDs, CRLF sizes). Returns 0 or -1 (logged). */
static int
client_load(struct pop3_client *c, struct mstore *store)
{
	enum store_status st = mailbox_open(store, "INBOX", &c->mbox);
	size_t n;
	uint32_t *uids;

	if (st != STORE_OK) {
		log_error("pop3 user=%s error=\"cannot open INBOX: %s\"", c->user,
		    store_status_str(st));
		return -1;
	}
	c->uidvalidity = mailbox_uidvalidity(c->mbox);
	n = mailbox_count(c->mbox);
	if (n > UINT32_MAX)
		n = UINT32_MAX;
	uids = xcalloc(n == 0 ? 1 : n, sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = mailbox_msg_at(c->mbox, i)->uid;
	c->msgs = xcalloc(n == 0 ? 1 : n, sizeof(*c->msgs));
	for (size_t i = 0; i < n; i++) {
		const struct mailbox_msg *m;

		/* sizes may need a stat or a read: pointers change, so UIDs were copied */
		st = mailbox_msg_info(c->mbox, uids[i], &m);
		if (st == STORE_EXPUNGED)
			continue;
		if (st != STORE_OK) {
			log_error("pop3 user=%s error=\"cannot size message uid=%u: %s\"",
			    c->user, uids[i], store_status_str(st));
			free(uids);
			return -1;
		}
		c->msgs[c->count].uid = uids[i];
		c->msgs[c->count].vsize = m->vsize;
		c->count++;
	}
	free(uids);
	c->listener = mailbox_listen(c->mbox, &listener_ops, c);
	return 0;
}

int
pop3_client_create(struct event_base *base, struct mail_user *mu,
    const struct config *cfg, const char *user, int fd, const void *pending_input,
    size_t pending_len, const char *client_ip, bool secured)
{
	struct pop3_client *c;
	struct timeval tv = { POP3_AUTOLOGOUT_SECS, 0 };

	if (evutil_make_socket_nonblocking(fd) < 0) {
		log_error("pop3: cannot make fd non-blocking: %s", strerror(errno));
		close(fd);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->bev = conn_new(base, fd, NULL, CONN_POP3, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("pop3: bufferevent_socket_new failed");
		close(fd);
		free(c);
		return -1;
	}
	c->mu = mu;
	c->cfg = cfg;
	c->id = ++next_id;
	c->user = xstrdup(user);
	c->ip = xstrdup(client_ip != NULL ? client_ip : "");
	c->stream_fd = -1;
	c->last_activity_ms = clock_ms();
	pop3_cmd_parser_init(&c->parser, POP3_LINE_MAX);
	mail_session_register(mu, &c->session, MAIL_PROTO_POP3, c->ip, &session_ops, c);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* a client that stops reading is dropped at the autologout time */
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	c->timer = evtimer_new(base, timer_cb, c);
	evtimer_add(c->timer, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);

	if (inbox_locked) {
		/* RFC 2449 §8.1.2: another POP3 session has the maildrop */
		log_info("pop3 session user=%s session=%u ip=%s refused=in-use", c->user, c->id,
		    c->ip);
		client_printf(c, "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n");
		client_close_after(c);
		return 0;
	}
	if (client_load(c, mail_user_store(mu)) < 0) {
		client_printf(c, "-ERR [SYS/TEMP] Cannot open the mailbox.\r\n");
		client_close_after(c);
		return 0;
	}
	c->locked = true;
	inbox_locked = true;
	log_info("pop3 session user=%s session=%u ip=%s secured=%s messages=%u", c->user,
	    c->id, c->ip, secured ? "yes" : "no", c->count);
	client_printf(c, "+OK Logged in.\r\n");
	/* libevent freezes the end of the input buffer: prepend into the empty buffer */
	if (pending_len > 0 &&
	    evbuffer_prepend(bufferevent_get_input(c->bev), pending_input, pending_len) != 0)
		panic("pop3: cannot queue the pending input");
	client_input(c);
	if (c->stream_fd >= 0)
		(void)stream_continue(c);
	return 0;
}

static void
client_free(struct pop3_client *c)
{
	stream_end(c);
	if (c->listener != NULL)
		mailbox_unlisten(c->mbox, &c->listener);
	if (c->mbox != NULL)
		mailbox_unref(&c->mbox);
	if (c->locked)
		inbox_locked = false;
	/* the empty callback runs from the loop, after this callback has returned */
	mail_session_unregister(&c->session);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c->msgs);
	free(c->user);
	free(c->ip);
	free(c);
}

static void
client_destroy(struct pop3_client *c)
{
	client_free(c);
}

/* `buzon kick`: -ERR, then the connection closes; nothing is deleted (no UPDATE). */
static void
client_kick(struct mail_session *s)
{
	struct pop3_client *c = s->ctx;

	if (c->closing)
		return;
	log_info("pop3 disconnect user=%s session=%u reason=kick", c->user, c->id);
	stream_end(c);
	client_printf(c, "-ERR Disconnected by the administrator.\r\n");
	client_close_after(c);
}

/* Registry shutdown (mail_user_destroy): close at once, no reply, nothing deleted. */
static void
client_shutdown(struct mail_session *s)
{
	client_free(s->ctx);
}
