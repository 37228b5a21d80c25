/*
 * lmtp_session.c — the LMTP session state machine (see lmtp_session.h), socket-free:
 * command lines are found and parsed by src/proto/lmtp_cmd, each RCPT is looked up
 * through ops->rcpt_lookup, DATA is dot-unstuffed into the message store (ops->msg_*)
 * and handed once per accepted recipient to ops->deliver, at most
 * LMTP_SESSION_DELIVER_WINDOW at a time; the reply for each recipient is sent, in RCPT
 * order (RFC 2033 4.2), only when its result has come. Runs in the LMTP process on the
 * MTA's bytes: only CRLF "." CRLF ends DATA, a message with a bare LF is refused, and a
 * session holds at most one command line, 1000 recipients and a 64 KiB decode buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lmtp/lmtp_session.h"
#include "proto/lmtp_cmd.h"

struct rcpt {
	char *addr;		/* as parsed (RCPT TO:<addr>) */
	char *folder;		/* "+detail", "" = INBOX */
	uint32_t id;		/* delivery request id */
	uint32_t status;	/* IPC_DELIVER_* or RCPT_REJECTED once answered */
	bool answered;
	char *reason;		/* RCPT_REJECTED: the Sieve reject reason, one printable line */
};

#define RCPT_REJECTED 1000u	/* not an IPC_DELIVER_* code */

enum sess_state {
	SS_CMD,			/* reading commands */
	SS_RCPT_WAIT,		/* a RCPT lookup is out */
	SS_DATA,		/* reading the message */
	SS_DELIVERING,		/* waiting for delivery results */
	SS_CLOSING,		/* closed: ops->close was called */
};

struct lmtp_session {
	const struct lmtp_session_ops *ops;
	void *ctx;
	const char *hostname;
	const char *delimiter;
	uint64_t max_size;
	bool quota_tempfail;
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
	bool toobig, write_error;
	size_t next_reply;	/* first recipient whose reply is not sent yet */
	size_t next_send;	/* first recipient not yet handed to delivery */
	unsigned inflight;	/* deliveries handed over, unanswered */
	unsigned bad;
	bool eof;		/* the client shut down its side: finish, then close */
	bool out_full;		/* commands wait until the client reads our replies */
	unsigned char *chunk;	/* LMTP_SESSION_CHUNK + 1 decode buffer while in DATA */
};

static void
sess_printf(struct lmtp_session *s, const char *fmt, ...) PRINTF(2, 3);

static void
sess_printf(struct lmtp_session *s, const char *fmt, ...)
{
	/* replies carry at most a hostname and an address (both bounded) */
	char line[2 * LMTP_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		panic("lmtp: reply too long");
	line[n++] = '\r';
	line[n++] = '\n';
	s->ops->write(s->ctx, line, (size_t)n);
}

struct lmtp_session *
lmtp_session_create(const struct lmtp_session_ops *ops, void *ctx,
    const struct lmtp_session_conf *conf)
{
	struct lmtp_session *s = xcalloc(1, sizeof(*s));

	s->ops = ops;
	s->ctx = ctx;
	s->hostname = conf->hostname;
	s->delimiter = conf->delimiter;
	s->max_size = conf->max_size;
	s->quota_tempfail = conf->quota_tempfail;
	snprintf(s->ip, sizeof(s->ip), "%s", conf->ip != NULL ? conf->ip : "local");
	return s;
}

static void
txn_reset(struct lmtp_session *s)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].folder);
		free(s->rcpts[i].reason);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->sender);
	s->sender = NULL;
	s->have_mail = false;
	/* the memfd may still be with delivery: counted until here */
	s->ops->msg_close(s->ctx, true);
	free(s->chunk);
	s->chunk = NULL;
	s->toobig = s->write_error = false;
	s->next_reply = 0;
}

void
lmtp_session_destroy(struct lmtp_session **sp)
{
	struct lmtp_session *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	txn_reset(s);
	free(s->wait_addr);
	free(s);
}

/* Send the last reply; the caller closes once it is written. */
static void
sess_close(struct lmtp_session *s)
{
	s->state = SS_CLOSING;
	s->ops->close(s->ctx);
}

static void
sess_bad(struct lmtp_session *s, const char *reply)
{
	sess_printf(s, "%s", reply);
	if (++s->bad >= LMTP_SESSION_MAX_BAD) {
		log_info("lmtp too many bad commands ip=%s", s->ip);
		sess_printf(s, "421 4.7.0 Too many errors, closing connection");
		sess_close(s);
	}
}

/* "user+detail@domain" -> "detail" (the folder); "" when there is none. */
static char *
detail_folder(const struct lmtp_session *s, const char *addr)
{
	const char *at = strrchr(addr, '@'), *d;
	size_t local;

	if (s->delimiter == NULL || s->delimiter[0] == '\0' || addr[0] == '"')
		return xstrdup("");
	local = at != NULL ? (size_t)(at - addr) : strlen(addr);
	d = memchr(addr, s->delimiter[0], local);
	if (d == NULL || (size_t)(d - addr) + 1 >= local)
		return xstrdup("");
	return xstrndup(d + 1, local - (size_t)(d - addr) - 1);
}

static void
cmd_lhlo(struct lmtp_session *s)
{
	txn_reset(s);
	s->lhlo = true;
	sess_printf(s, "250-%s", s->hostname);
	sess_printf(s, "250-PIPELINING");
	sess_printf(s, "250-ENHANCEDSTATUSCODES");
	sess_printf(s, "250-8BITMIME");
	sess_printf(s, "250 SIZE %llu", (unsigned long long)s->max_size);
}

static void
cmd_mail(struct lmtp_session *s, const struct lmtp_cmd *cmd)
{
	if (!s->lhlo) {
		sess_bad(s, "503 5.5.1 Send LHLO first");
		return;
	}
	if (s->have_mail) {
		sess_bad(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (cmd->has_size && cmd->size > s->max_size) {
		sess_printf(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->sender = xstrdup(cmd->addr);
	s->have_mail = true;
	sess_printf(s, "250 2.1.0 OK");
}

static void
cmd_rcpt(struct lmtp_session *s, const struct lmtp_cmd *cmd)
{
	if (!s->have_mail) {
		sess_bad(s, "503 5.5.1 Send MAIL first");
		return;
	}
	if (s->nrcpts >= LMTP_SESSION_MAX_RCPTS) {
		sess_printf(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (s->ops->rcpt_lookup(s->ctx, cmd->addr, &s->wait_id) < 0) {
		sess_printf(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	s->wait_addr = xstrdup(cmd->addr);
	s->state = SS_RCPT_WAIT;
}

static void
rcpt_result(struct lmtp_session *s, uint32_t status)
{
	char *addr = s->wait_addr;

	s->wait_addr = NULL;
	s->state = SS_CMD;
	if (status == IPC_DELIVER_OK) {
		struct rcpt *r;

		s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
		r = &s->rcpts[s->nrcpts++];
		memset(r, 0, sizeof(*r));
		r->folder = detail_folder(s, addr);
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

static void
cmd_data(struct lmtp_session *s)
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
	if (s->ops->msg_open(s->ctx) < 0) {
		sess_printf(s, "451 4.3.0 Temporary failure, try again later");
		return;
	}
	s->chunk = xmalloc(LMTP_SESSION_CHUNK + 1);
	lmtp_data_init(&s->dec);
	s->state = SS_DATA;
	sess_printf(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

/* Send the replies that are due, in RCPT order; back to commands when all are sent. */
static void
delivery_flush(struct lmtp_session *s)
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
			/* RFC 3463 X.2.2: permanent by default (Dovecot's default too) */
			if (s->quota_tempfail)
				sess_printf(s, "452 4.2.2 <%s> Mailbox full", r->addr);
			else
				sess_printf(s, "552 5.2.2 <%s> Mailbox full", r->addr);
			break;
		case IPC_DELIVER_TOOBIG:
			sess_printf(s, "552 5.3.4 <%s> Message too big", r->addr);
			break;
		case RCPT_REJECTED:
			/* RFC 5429 §2.1.1: the reason as the reply text */
			sess_printf(s, "550 5.7.1 %s", r->reason);
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
		lmtp_session_process(s);
	}
}

/*
 * Hand the message over for the next recipients, at most LMTP_SESSION_DELIVER_WINDOW
 * at a time: a transaction with 1,000 recipients never queues 1,000 descriptors
 * anywhere (docs/delivery.md).
 */
static void
delivery_pump(struct lmtp_session *s)
{
	while (s->next_send < s->nrcpts && s->inflight < LMTP_SESSION_DELIVER_WINDOW) {
		struct rcpt *r = &s->rcpts[s->next_send++];
		char prefix[IPC_PREFIX_MAX];
		int n;

		/* both addresses are printable ASCII without CR/LF (lmtp_cmd_parse) */
		n = snprintf(prefix, sizeof(prefix), "Return-Path: <%s>\nDelivered-To: %s\n",
		    s->sender, r->addr);
		if (n < 0 || (size_t)n >= sizeof(prefix) ||
		    s->ops->deliver(s->ctx, r->addr, r->folder, (const unsigned char *)prefix,
		    (size_t)n, &r->id) < 0) {
			r->answered = true;
			r->status = IPC_DELIVER_TEMPFAIL;
			continue;
		}
		s->inflight++;
	}
	if (s->next_send == s->nrcpts)
		s->ops->msg_close(s->ctx, false);	/* delivery holds its own copies now */
}

/* The final dot was read: refuse or hand the message over for every recipient. */
static void
data_done(struct lmtp_session *s)
{
	const char *fail = NULL, *fail_text = "Temporary failure, try again later";

	if (s->toobig) {
		fail = "552 5.3.4";
		fail_text = "Message size exceeds fixed limit";
	} else if (s->dec.bare_lf > 0) {
		fail = "554 5.6.0";
		fail_text = "Message contains bare LF (RFC 5321 2.3.8)";
	} else if (s->write_error || s->ops->msg_seal(s->ctx) < 0) {
		fail = "451 4.3.0";
	}
	log_info("lmtp message from=<%s> rcpts=%zu size=%llu ip=%s%s", s->sender, s->nrcpts,
	    (unsigned long long)s->dec.size, s->ip, s->toobig ? " refused=size" :
	    s->dec.bare_lf > 0 ? " refused=bare-lf" : "");
	s->state = SS_DELIVERING;
	if (fail != NULL) {
		s->ops->msg_close(s->ctx, false);
		for (size_t i = 0; i < s->nrcpts; i++)
			sess_printf(s, "%s <%s> %s", fail, s->rcpts[i].addr, fail_text);
		s->next_reply = s->nrcpts;
		s->next_send = s->nrcpts;
		delivery_flush(s);
		return;
	}
	s->next_send = 0;
	s->inflight = 0;
	delivery_pump(s);
	delivery_flush(s);
}

/* Consume DATA bytes from the input. Returns true when the final dot was read. */
static bool
data_read(struct lmtp_session *s)
{
	for (;;) {
		const unsigned char *p;
		size_t n, w, used;
		bool done;

		p = s->ops->input(s->ctx, LMTP_SESSION_CHUNK, false, &n);
		if (n == 0)
			break;
		done = lmtp_data_feed(&s->dec, p, n, s->chunk, &w, &used);
		if (!s->toobig && s->dec.size > s->max_size)
			s->toobig = true;
		if (!s->toobig && !s->write_error && w > 0 &&
		    s->ops->msg_write(s->ctx, s->chunk, w) < 0)
			s->write_error = true;
		s->ops->consume(s->ctx, used);
		if (done)
			return true;
	}
	return false;
}

static void
handle_line(struct lmtp_session *s, const char *line, size_t len)
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
		sess_printf(s, "221 2.0.0 %s closing connection", s->hostname);
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

void
lmtp_session_process(struct lmtp_session *s)
{
	while (s->state == SS_CMD || s->state == SS_DATA) {
		const unsigned char *p;
		size_t avail, line_len, consumed;

		if (s->state == SS_DATA) {
			if (!data_read(s))
				goto need_more;
			data_done(s);	/* may recurse into lmtp_session_process */
			return;
		}
		p = s->ops->input(s->ctx, LMTP_LINE_MAX, true, &avail);
		if (avail == 0)
			goto need_more;
		/*
		 * A client that pipelines commands and never reads the replies: stop here
		 * (input then stops at its bound), go on from lmtp_session_drained.
		 */
		if (s->ops->output_full(s->ctx)) {
			s->out_full = true;
			return;
		}
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
			s->ops->consume(s->ctx, consumed);
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

void
lmtp_session_eof(struct lmtp_session *s)
{
	if (s->state == SS_DATA)
		log_info("lmtp connection lost during DATA ip=%s", s->ip);
	s->eof = true;
	if (s->state == SS_CMD || s->state == SS_DATA)
		lmtp_session_process(s);
}

bool
lmtp_session_drained(struct lmtp_session *s)
{
	if (!s->out_full || s->state != SS_CMD)
		return false;
	s->out_full = false;
	return true;
}

bool
lmtp_session_waiting(const struct lmtp_session *s)
{
	return s->state == SS_RCPT_WAIT || s->state == SS_DELIVERING;
}

bool
lmtp_session_rcpt_result(struct lmtp_session *s, uint32_t id, uint32_t status)
{
	if (s->state != SS_RCPT_WAIT || s->wait_id != id)
		return false;
	rcpt_result(s, status);
	lmtp_session_process(s);
	return true;
}

bool
lmtp_session_deliver_rejected(struct lmtp_session *s, uint32_t id, const char *reason)
{
	struct rcpt *r = NULL;
	size_t n = 0;

	if (s->state != SS_DELIVERING)
		return false;
	for (size_t i = 0; i < s->nrcpts && r == NULL; i++)
		if (s->rcpts[i].id == id && !s->rcpts[i].answered)
			r = &s->rcpts[i];
	if (r == NULL)
		return false;
	/* the script's text on the wire: one line of printable US-ASCII, never empty */
	free(r->reason);
	r->reason = xmalloc(strlen(reason) + 1 + sizeof("Rejected"));
	for (const unsigned char *p = (const unsigned char *)reason; *p != '\0'; p++)
		r->reason[n++] = *p >= 0x20 && *p < 0x7f ? (char)*p : *p == '\n' || *p == '\r' ||
		    *p == '\t' ? ' ' : '?';
	while (n > 0 && r->reason[n - 1] == ' ')
		n--;
	if (n == 0)
		n = (size_t)snprintf(r->reason, sizeof("Rejected"), "Rejected");
	r->reason[n] = '\0';
	log_info("lmtp rcpt=<%s> rejected by sieve", r->addr);
	r->answered = true;
	r->status = RCPT_REJECTED;
	if (s->inflight > 0)
		s->inflight--;
	delivery_pump(s);
	delivery_flush(s);
	return true;
}

bool
lmtp_session_deliver_result(struct lmtp_session *s, uint32_t id, uint32_t status)
{
	struct rcpt *r = NULL;

	if (s->state != SS_DELIVERING)
		return false;
	for (size_t i = 0; i < s->nrcpts && r == NULL; i++)
		if (s->rcpts[i].id == id && !s->rcpts[i].answered)
			r = &s->rcpts[i];
	if (r == NULL)
		return false;
	r->answered = true;
	r->status = status;
	if (status != IPC_DELIVER_OK)
		log_warn("lmtp delivery failed rcpt=<%s> status=%u", r->addr, status);
	if (s->inflight > 0)
		s->inflight--;
	delivery_pump(s);
	delivery_flush(s);
	return true;
}
