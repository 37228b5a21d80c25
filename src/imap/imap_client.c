/*
 * imap_client.c — one authenticated IMAP session in the per-user mail process: reads
 * commands from the socket through the incremental parser, dispatches them through the
 * command table (state checks here, work in cmd_*.c), sends untagged updates at the
 * points RFC 3501 §7.4.1 allows, and enforces the session limits (bad commands,
 * autologout, keepalive of a waiting command, output backlog). A command may own the
 * input for a while (struct imap_cmd: literal and input hooks); this file only hands it
 * the bytes. Security role: first code after the parser to act on client bytes; never
 * echoes an invalid tag; all buffers bounded.
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/conn.h"
#include "lib/imapstr.h"
#include "imap/imap_local.h"
#include "proto/mutf7.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

static void client_input(struct imap_client *c);
static void client_destroy(struct imap_client *c);
static void client_arm_timer(struct imap_client *c);
static void client_close_flushed(struct imap_client *c);
static void client_shutdown(struct mail_session *s);

static void client_kick(struct mail_session *s);

static const struct mail_session_ops session_ops = { .shutdown = client_shutdown,
    .kick = client_kick };

size_t
imap_client_output_len(struct imap_client *c)
{
	if (c->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Output not yet on the wire: with COMPRESS also what waits under the filter. */
static size_t
client_unsent(struct imap_client *c)
{
	return imap_client_output_len(c) + imap_compress_unsent(c);
}

void
imap_client_write(struct imap_client *c, const void *data, size_t len)
{
	if (c->destroyed || len == 0)
		return;
	if (evbuffer_add(bufferevent_get_output(c->bev), data, len) != 0)
		panic("imap: evbuffer_add failed");
}

void
imap_client_line(struct imap_client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->destroyed)
		return;
	buf_reset(&c->line);
	va_start(ap, fmt);
	if (buf_vappendf(&c->line, fmt, ap) < 0 || buf_append(&c->line, "\r\n", 2) < 0)
		panic("imap: response line over limit");
	va_end(ap);
	imap_client_write(c, c->line.data, c->line.len);
}

void
imap_client_bye(struct imap_client *c, const char *text)
{
	if (c->closing)
		return;
	imap_client_line(c, "* BYE %s", text);
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (client_unsent(c) == 0)
		client_close_flushed(c);
}

/* ---------------------------------------------------------------- tagged replies */

static void
cmd_updates(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	bool allow_expunge;

	if (cmd->def != NULL && (cmd->def->flags & CMD_FLAG_NO_UPDATES))
		return;
	if (c->view != NULL) {
		/* RFC 3501 §7.4.1: no EXPUNGE while responding to FETCH, STORE, SEARCH
		 * (and COPY). */
		allow_expunge = cmd->def == NULL || !(cmd->def->flags & CMD_FLAG_USES_SEQS) ||
		    cmd->uid;
		imap_notify_view_updates(c, allow_expunge);
	}
	imap_notify_flush(c);	/* RFC 5465: other mailboxes' STATUS, LIST */
}

static int cmd_reply(struct imap_cmd *cmd, const char *status, const char *fmt,
    va_list ap) PRINTF(3, 0);

static int
cmd_reply(struct imap_cmd *cmd, const char *status, const char *fmt, va_list ap)
{
	struct imap_client *c = cmd->client;

	if (c->destroyed)
		return IMAP_CMD_DONE;
	if (cmd->name[0] != '\0') {
		struct timespec ts;

		/* lib/metrics.h: a bounded set of names, the rest counted as "other" */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		metrics_imap_command(cmd->name, (uint64_t)ts.tv_sec * 1000000 +
		    (uint64_t)ts.tv_nsec / 1000 - cmd->started_us);
	}
	if (c->user->cfg != NULL && c->user->cfg->imap_debug && cmd->name[0] != '\0') {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
		log_info("imap done user=%s session=%u tag=%s command=\"%s\" result=%s "
		    "duration_ms=%llu", c->user->name, c->id, cmd->tag, cmd->name, status,
		    (unsigned long long)(now - cmd->started_us) / 1000);
	}
	cmd_updates(cmd);
	buf_reset(&c->line);
	if (buf_appendf(&c->line, "%s %s ", cmd->tag, status) < 0 ||
	    buf_vappendf(&c->line, fmt, ap) < 0 || buf_append(&c->line, "\r\n", 2) < 0)
		panic("imap: tagged reply over limit");
	imap_client_write(c, c->line.data, c->line.len);
	return IMAP_CMD_DONE;
}

int
imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	cmd->client->bad_count = 0;
	va_start(ap, fmt);
	cmd_reply(cmd, "OK", fmt, ap);
	va_end(ap);
	return IMAP_CMD_DONE;
}

int
imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	cmd->client->bad_count = 0;
	va_start(ap, fmt);
	cmd_reply(cmd, "NO", fmt, ap);
	va_end(ap);
	return IMAP_CMD_DONE;
}

int
imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	cmd->client->bad_count++;
	va_start(ap, fmt);
	cmd_reply(cmd, "BAD", fmt, ap);
	va_end(ap);
	return IMAP_CMD_DONE;
}

int
imap_cmd_store_error(struct imap_cmd *cmd, enum store_status st)
{
	const char *code;

	switch (st) {
	case STORE_NONEXISTENT:
	case STORE_NOSELECT:
		code = "NONEXISTENT";
		break;
	case STORE_EXISTS:
		code = "ALREADYEXISTS";
		break;
	case STORE_BADNAME:
	case STORE_CANNOT:
		code = "CANNOT";
		break;
	case STORE_LIMIT:
		code = "LIMIT";
		break;
	case STORE_EXPUNGED:
		code = "EXPUNGEISSUED";
		break;
	case STORE_OVERQUOTA:
		code = "OVERQUOTA";
		break;
	case STORE_NOSPACE:
		code = "UNAVAILABLE";
		break;
	case STORE_OK:
	case STORE_IOERROR:
	default:
		code = "SERVERBUG";
		break;
	}
	return imap_cmd_no(cmd, "[%s] %s", code, store_status_str(st));
}

bool
imap_arg_modseq(const struct imap_arg *a, bool zero_ok, uint64_t *modseq_r)
{
	if (a->type != IMAP_ARG_ATOM || parse_u64(a->str, a->len, INT64_MAX, modseq_r) < 0)
		return false;
	return zero_ok || *modseq_r != 0;
}

void
imap_client_enable(struct imap_client *c, unsigned bits)
{
	unsigned added = bits & ~c->enabled;

	c->enabled |= bits;
	if ((added & IMAP_ENABLE_CONDSTORE) && c->view != NULL)
		imap_client_line(c, "* OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)mailbox_highestmodseq(c->view->mbox));
}

bool
imap_client_utf8_names(const struct imap_client *c)
{
	return (c->enabled & (IMAP_ENABLE_UTF8 | IMAP_ENABLE_REV2)) != 0;
}

int
imap_mailbox_name_in(const struct imap_client *c, const char *s, size_t len, char **name_r)
{
	struct buf b;

	*name_r = NULL;
	if (len == 0 || memchr(s, '\0', len) != NULL)
		return -2;
	if (imap_client_utf8_names(c)) {
		/* RFC 6855 §3, RFC 9051 §5.1: the name is UTF-8; the store keeps mUTF-7, so
		 * "&" comes back as "&-" and a name that looks like mUTF-7 is not decoded */
		if (!mutf7_utf8_is_valid(s, len))
			return -1;
		buf_init(&b, STORE_NAME_MAX);
		/* valid UTF-8 without NUL: only the length can fail */
		if (mutf7_from_utf8(s, len, &b) < 0) {
			buf_deinit(&b);
			return -3;
		}
		if (b.len == 5 && mem_ieq(b.data, b.len, "INBOX")) {
			buf_deinit(&b);
			*name_r = xstrdup("INBOX");
			return 0;
		}
		(void)buf_append_c(&b, '\0');
		*name_r = xstrdup(b.data);
		buf_deinit(&b);
		return 0;
	}
	if (!mutf7_is_valid(s, len))
		return -2;
	if (len == 5 && mem_ieq(s, len, "INBOX"))
		*name_r = xstrdup("INBOX");
	else
		*name_r = xstrndup(s, len);
	return 0;
}

int
imap_append_mailbox(const struct imap_client *c, struct buf *out, const char *name)
{
	size_t len = strlen(name), mark = out->len;
	struct buf u;
	int ret;

	if (!imap_client_utf8_names(c))
		return imap_append_astring(out, name, len);
	buf_init(&u, len * 2 + 16);
	/* a name the strict decoder refuses (the store accepts adjacent segments) goes
	 * out as it is */
	if (mutf7_to_utf8(name, len, &u) < 0)
		ret = imap_append_astring(out, name, len);
	else
		ret = imap_append_astring_utf8(out, u.len > 0 ? u.data : "", u.len);
	buf_deinit(&u);
	if (ret < 0)
		buf_truncate(out, mark);
	return ret;
}

bool
imap_cmd_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *a, char **name_r)
{
	const char *s;
	size_t len;

	*name_r = NULL;
	if (a == NULL || !imap_arg_get_astring(a, &s, &len)) {
		imap_cmd_bad(cmd, "Invalid mailbox name argument");
		return false;
	}
	switch (imap_mailbox_name_in(cmd->client, s, len, name_r)) {
	case 0:
		return true;
	case -1:
		imap_cmd_bad(cmd, "Mailbox name is not valid UTF-8");
		return false;
	case -3:
		imap_cmd_no(cmd, "[LIMIT] Mailbox name too long");
		return false;
	default:
		imap_cmd_no(cmd, "[CANNOT] Invalid mailbox name");
		return false;
	}
}

/* ---------------------------------------------------------------- dispatch */

/* Throw the command away (running or being parsed), leaving the parser as it is. */
static void
cmd_drop(struct imap_client *c)
{
	struct imap_cmd *cmd = c->cmd;

	if (cmd == NULL)
		return;
	if (cmd->ctx_free != NULL && cmd->ctx != NULL)
		cmd->ctx_free(cmd->ctx);
	free(cmd);
	c->cmd = NULL;
}

/* The command has ended: free it and get the parser ready for the next one. */
static void
cmd_free(struct imap_client *c)
{
	if (c->cmd == NULL)
		return;
	cmd_drop(c);
	imap_parser_reset(c->parser);
}

static bool
client_cmd_running(const struct imap_client *c)
{
	return c->cmd != NULL && c->cmd->running;
}

/* A running command that reads the client's input: it can end only with that input. */
static bool
client_cmd_waiting(const struct imap_client *c)
{
	return client_cmd_running(c) && c->cmd->input != NULL;
}

/* The keepalive of the running command, or NULL. */
static imap_keepalive_func *
client_keepalive(const struct imap_client *c)
{
	return client_cmd_running(c) ? c->cmd->keepalive : NULL;
}

static void
client_too_many_bad(struct imap_client *c)
{
	if (c->bad_count >= IMAP_MAX_BAD_COMMANDS) {
		log_info("imap disconnect user=%s session=%u reason=too_many_bad_commands",
		    c->user->name, c->id);
		imap_client_bye(c, "Too many invalid commands.");
	}
}

static bool
tag_printable(const char *tag)
{
	for (; *tag != '\0'; tag++) {
		unsigned char ch = (unsigned char)*tag;

		/* no markup-like characters (docs/security.md, Decisions: reflected tags) */
		if (ch <= ' ' || ch >= 0x7f || ch == '<' || ch == '>' || ch == '"' ||
		    ch == '\'' || ch == '&')
			return false;
	}
	return true;
}

static bool
tag_usable(const char *tag)
{
	return tag != NULL && tag_printable(tag) && strlen(tag) < sizeof(((struct imap_cmd *)0)->tag);
}

/*
 * The command the parser is on: made when its first streamed literal is announced or
 * when it is complete. Its tag stays "" when the parser's must not be echoed.
 */
static struct imap_cmd *
cmd_current(struct imap_client *c)
{
	const char *tag = imap_parser_tag(c->parser);
	struct imap_cmd *cmd = c->cmd;

	if (cmd != NULL)
		return cmd;
	cmd = xcalloc(1, sizeof(*cmd));
	cmd->client = c;
	if (tag_usable(tag))
		snprintf(cmd->tag, sizeof(cmd->tag), "%s", tag);
	c->cmd = cmd;
	return cmd;
}

static void
client_dispatch(struct imap_client *c)
{
	const char *tag = imap_parser_tag(c->parser);
	const char *name = imap_parser_command(c->parser);
	const struct imap_arg *args;
	unsigned argc;
	struct imap_cmd *cmd;
	const struct imap_command *def;
	bool uid = false;
	int ret;

	args = imap_parser_args(c->parser, &argc);
	if (!tag_usable(tag)) {
		imap_client_line(c, "* BAD Invalid tag");
		c->bad_count++;
		cmd_drop(c);
		imap_parser_reset(c->parser);
		client_too_many_bad(c);
		return;
	}
	cmd = cmd_current(c);
	cmd->running = true;
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		cmd->started_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	}
	if (name == NULL) {
		imap_cmd_bad(cmd, "Missing command");
		goto done;
	}
	if (str_ieq(name, "UID")) {
		uid = true;
		if (argc == 0 || args[0].type != IMAP_ARG_ATOM) {
			imap_cmd_bad(cmd, "Missing UID command");
			goto done;
		}
		name = args[0].str;
		args++;
		argc--;
	}
	def = imap_command_find(name);
	snprintf(cmd->name, sizeof(cmd->name), "%s%s", uid ? "UID " : "",
	    def != NULL ? def->name : "?");
	if (def == NULL || (uid && !(def->flags & CMD_FLAG_UID))) {
		imap_cmd_bad(cmd, "Unknown command");
		goto done;
	}
	if (c->user->cfg != NULL && c->user->cfg->imap_debug)
		log_info("imap command user=%s session=%u tag=%s command=\"%s\" args=%u",
		    c->user->name, c->id, cmd->tag, cmd->name, argc);
	cmd->def = def;
	cmd->uid = uid;
	cmd->args = args;
	cmd->argc = argc;
	if ((def->state_mask & c->state) == 0) {
		if (c->state == IMAP_STATE_AUTH)
			imap_cmd_bad(cmd, "No mailbox selected");
		else
			imap_cmd_bad(cmd, "Command not valid in this state");
		goto done;
	}
	/* RFC 9586 §3: after ENABLE UIDONLY only the UID forms */
	if ((c->enabled & IMAP_ENABLE_UIDONLY) && (def->flags & CMD_FLAG_SEQ_ARGS) && !uid) {
		imap_cmd_bad(cmd, "[UIDREQUIRED] Message sequence numbers are disabled (UIDONLY)");
		goto done;
	}
	/* a view SELECT left unbuilt (imap_view.c) is built before any command that may
	 * use sequence numbers, UIDs or flags */
	if (c->view != NULL && !(def->flags & CMD_FLAG_NO_MSGS) &&
	    imap_view_materialize(c->view) < 0) {
		imap_view_send_updates(c->view, true);	/* BYE */
		goto done;
	}
	ret = def->func(cmd);
	if (ret == IMAP_CMD_MORE) {
		/* a command waiting for the client: the timer now runs at the keepalive period */
		if (cmd->keepalive != NULL)
			client_arm_timer(c);
		return;
	}
done:
	cmd_free(c);
	client_too_many_bad(c);
}

/* Resume a running command (FETCH) once the output has drained. */
static void
client_continue_cmd(struct imap_client *c)
{
	struct imap_cmd *cmd = c->cmd;

	if (cmd == NULL || cmd->cont == NULL || c->closing || c->destroyed)
		return;
	if (cmd->cont(cmd) == IMAP_CMD_MORE)
		return;
	cmd_free(c);
	client_too_many_bad(c);
}

static void
client_parse_error(struct imap_client *c)
{
	const char *text = "Syntax error";
	enum imap_parse_error err = imap_parser_error(c->parser, &text);
	const char *tag = imap_parser_tag(c->parser);

	if (tag != NULL && !tag_printable(tag))
		tag = NULL;
	switch (err) {
	case IMAP_PARSE_ERROR_TOOBIG:
		log_info("imap limit user=%s session=%u what=literal error=\"%s\"",
		    c->user->name, c->id, text);
		if (tag != NULL)
			imap_client_line(c, "%s NO [TOOBIG] %s", tag, text);
		else
			imap_client_line(c, "* NO [TOOBIG] %s", text);
		c->bad_count++;
		break;
	case IMAP_PARSE_ERROR_FATAL:
		log_info("imap limit user=%s session=%u what=command error=\"%s\"",
		    c->user->name, c->id, text);
		cmd_drop(c);
		buf_reset(&c->line);
		{
			char bye[256];

			/* every fatal parse error is a size limit (docs/security.md, Limits) */
			snprintf(bye, sizeof(bye), "[TOOBIG] %s", text);
			imap_client_bye(c, bye);
		}
		return;
	case IMAP_PARSE_ERROR_BAD:
	case IMAP_PARSE_ERROR_NONE:
	default:
		/* the text is the parser's constant, client-safe message (depth, count...) */
		log_info("imap parse-error user=%s session=%u error=\"%s\"", c->user->name,
		    c->id, text);
		if (tag != NULL)
			imap_client_line(c, "%s BAD %s", tag, text);
		else
			imap_client_line(c, "* BAD %s", text);
		c->bad_count++;
		break;
	}
	cmd_drop(c);
	imap_parser_reset(c->parser);
	client_too_many_bad(c);
}

/*
 * A streamed literal of the command being parsed was announced: the command's literal
 * hook takes it (and sets an input hook to read it) or refuses it.
 */
static void
client_literal(struct imap_client *c)
{
	const char *name = imap_parser_command(c->parser);
	const struct imap_command *def;
	struct imap_cmd *cmd;

	if (name != NULL && str_ieq(name, "UID")) {
		/* UID REPLACE (RFC 8508): the command is the first argument */
		unsigned argc;
		const struct imap_arg *args = imap_parser_args(c->parser, &argc);

		name = argc > 0 && args[0].type == IMAP_ARG_ATOM ? args[0].str : NULL;
	}
	def = name != NULL ? imap_command_find(name) : NULL;
	if (def == NULL || def->literal == NULL)
		panic("imap: streamed literal for a command without a literal hook");
	cmd = cmd_current(c);
	if (def->literal(cmd, imap_parser_literal_size(c->parser)) == IMAP_CMD_DONE)
		cmd_free(c);
}

/* Hand the input to the command's hook. Returns false when it needs more input. */
static bool
client_cmd_input(struct imap_client *c, struct evbuffer *in)
{
	struct imap_cmd *cmd = c->cmd;

	switch (cmd->input(cmd, in)) {
	case IMAP_INPUT_MORE:
		return false;
	case IMAP_INPUT_PARSE:
		cmd->input = NULL;
		return true;
	case IMAP_INPUT_DONE:
	default:
		cmd_free(c);
		client_arm_timer(c);
		client_too_many_bad(c);
		return true;
	}
}

static void
client_input(struct imap_client *c)
{
	struct evbuffer *in;
	enum imap_parse_result res;

	if (c->in_input)
		return;
	c->in_input = true;
	while (!c->closing && !c->destroyed) {
		size_t avail, used = 0;
		unsigned char *data;

		/* COMPRESS replaces the bufferevent between two commands */
		in = bufferevent_get_input(c->bev);
		if (c->cmd != NULL && c->cmd->input != NULL) {
			if (!client_cmd_input(c, in))
				break;
			continue;
		}
		if (client_cmd_running(c))
			break;
		/* Backpressure: do not start commands while the client is not reading. */
		if (conn_output_full(c->bev, CONN_IMAP))
			break;
		/* The first chain may be empty (after a prepend): never spin on 0 bytes. */
		avail = evbuffer_get_contiguous_space(in);
		if (avail == 0) {
			avail = MIN(evbuffer_get_length(in), (size_t)IMAP_BODY_CHUNK);
			if (avail == 0)
				break;
		}
		data = evbuffer_pullup(in, (ssize_t)avail);
		res = imap_parser_feed(c->parser, data, avail, &used);
		if (used > avail || (res == IMAP_PARSE_MORE && used != avail))
			panic("imap: parser consumed %zu of %zu bytes", used, avail);
		evbuffer_drain(in, used);
		switch (res) {
		case IMAP_PARSE_MORE:
			break;
		case IMAP_PARSE_LITERAL_CONT:
			imap_client_line(c, "+ OK");
			break;
		case IMAP_PARSE_LITERAL_STREAM:
			client_literal(c);
			break;
		case IMAP_PARSE_DONE:
			c->last_input_ms = clock_ms();
			client_dispatch(c);
			break;
		case IMAP_PARSE_ERROR:
		default:
			client_parse_error(c);
			break;
		}
	}
	c->in_input = false;
	if (c->destroyed)
		return;
	imap_compress_input_end(c);
	in = bufferevent_get_input(c->bev);
	/* The client half-closed: answer what it sent, then close (like a LOGOUT). Input
	 * still buffered while the output is full is parsed when it drains (write
	 * callback); only then is there nothing left to answer. */
	if (c->input_eof && !client_cmd_running(c) && !c->closing &&
	    (evbuffer_get_length(in) == 0 || !conn_output_full(c->bev, CONN_IMAP))) {
		c->closing = true;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	}
	if (c->closing && client_unsent(c) == 0)
		client_close_flushed(c);
}

/* ---------------------------------------------------------------- libevent callbacks */

static void
client_read_cb(struct bufferevent *bev, void *ctx)
{
	struct imap_client *c = ctx;

	if (c->lingering) {
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	c->last_input_ms = clock_ms();
	if (client_keepalive(c) == NULL)
		client_arm_timer(c);
	client_input(c);
}

static void
client_write_cb(struct bufferevent *bev, void *ctx)
{
	struct imap_client *c = ctx;

	if (c->closing) {
		if (client_unsent(c) == 0)
			client_close_flushed(c);
		return;
	}
	if (c->cmd != NULL && c->cmd->cont != NULL && c->cmd->input == NULL) {
		client_continue_cmd(c);
		if (c->destroyed || c->cmd != NULL)
			return;
	}
	/* NOTIFY: what waited for the output to drain (between commands or in IDLE) */
	if (c->notify != NULL)
		imap_client_schedule_updates(c);
	client_input(c);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct imap_client *c = ctx;
	const char *why = (what & BEV_EVENT_EOF) ? "eof" :
	    (what & BEV_EVENT_TIMEOUT) ? "output_timeout" : "error";

	if (c->lingering) {
		client_destroy(c);
		return;
	}

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !client_cmd_waiting(c) &&
	    !c->closing) {
		/* Commands already received are still answered (pipes, "printf | buzon imap"). */
		log_info("imap disconnect user=%s session=%u reason=eof", c->user->name, c->id);
		c->input_eof = true;
		bufferevent_disable(bev, EV_READ);
		client_input(c);
		return;
	}

	if (what & BEV_EVENT_ERROR)
		log_info("imap disconnect user=%s session=%u reason=%s errno=%d",
		    c->user->name, c->id, why, errno);
	else
		log_info("imap disconnect user=%s session=%u reason=%s", c->user->name, c->id,
		    why);
	client_destroy(c);
}

static void
client_timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct imap_client *c = ctx;
	uint64_t now = clock_ms();

	if (c->lingering) {
		client_destroy(c);
		return;
	}
	if (c->closing)
		return;
	if (now - c->last_input_ms >= (uint64_t)c->autologout_secs * 1000) {
		log_info("imap disconnect user=%s session=%u reason=autologout", c->user->name,
		    c->id);
		imap_client_bye(c, "Autologout; idle for too long");
		return;
	}
	if (client_keepalive(c) != NULL)
		client_keepalive(c)(c->cmd);
	client_arm_timer(c);
}

static void
client_arm_timer(struct imap_client *c)
{
	struct timeval tv;
	uint64_t now = clock_ms(), deadline, left, secs;

	deadline = c->last_input_ms + (uint64_t)c->autologout_secs * 1000;
	left = deadline > now ? deadline - now : 0;
	if (client_keepalive(c) != NULL && (uint64_t)c->cmd->keepalive_secs * 1000 < left)
		left = (uint64_t)c->cmd->keepalive_secs * 1000;
	secs = left / 1000;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
	evtimer_add(c->timer, &tv);
}

/*
 * The last response (BYE, LOGOUT) has been written. Closing now while the client is still
 * sending (e.g. the rest of a refused literal) would make the kernel reset the TCP
 * connection and discard that response, so half-close and drain the input for up to
 * IMAP_LINGER_SECS, then close.
 */
static void
client_close_flushed(struct imap_client *c)
{
	struct timeval tv = { IMAP_LINGER_SECS, 0 };

	if (c->destroyed || c->lingering)
		return;
	if (c->input_eof || shutdown(c->fd, SHUT_WR) < 0) {
		client_destroy(c);
		return;
	}
	c->lingering = true;
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_enable(c->bev, EV_READ);
	evtimer_add(c->timer, &tv);
}

void
imap_client_output_sent(struct imap_client *c)
{
	if (!c->destroyed && c->closing && client_unsent(c) == 0)
		client_close_flushed(c);
}

static void
client_update_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct imap_client *c = ctx;

	if (c->closing || c->destroyed)
		return;
	if (client_cmd_running(c) && c->cmd->live_updates) {
		/* IDLE; with NOTIFY only if it asked for the selected mailbox's events */
		if (c->view != NULL && (imap_notify_selected_events(c) &
		    (IMAP_NOTIFY_EV_NEW | IMAP_NOTIFY_EV_EXPUNGE)) != 0)
			imap_notify_view_updates(c, true);
		if (!conn_output_full(c->bev, CONN_IMAP))
			imap_notify_flush(c);
	} else if (c->notify != NULL && c->cmd == NULL &&
	    !conn_output_full(c->bev, CONN_IMAP)) {
		/* RFC 5465: notifications at any time, not only in IDLE; while the
		 * output is full they wait, coalesced (the write callback resumes them) */
		imap_notify_live(c);
	}
}

static void
client_cont_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct imap_client *c = ctx;

	client_continue_cmd(c);
	if (!c->destroyed && !client_cmd_running(c))
		client_input(c);
}

void
imap_client_schedule_continue(struct imap_client *c)
{
	if (!c->destroyed)
		event_active(c->cont_ev, EV_TIMEOUT, 0);
}

void
imap_client_schedule_updates(struct imap_client *c)
{
	if (c->destroyed)
		return;
	if ((client_cmd_running(c) && c->cmd->live_updates) ||
	    (c->notify != NULL && c->cmd == NULL))
		event_active(c->update_ev, EV_TIMEOUT, 0);
}

/* ---------------------------------------------------------------- life cycle */

void
imap_client_attach_bev(struct imap_client *c)
{
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
}

int
imap_client_create(struct mail_user *mu, int fd, const char *login_tag,
    const void *pending_input, size_t pending_len, const char *client_ip, bool secured)
{
	struct imap_client *c;
	struct imap_parser_limits limits;
	const struct config *cfg = mu->cfg;

	if (evutil_make_socket_nonblocking(fd) < 0) {
		log_error("imap: cannot make fd non-blocking: %s", strerror(errno));
		close(fd);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->user = mu;
	c->iu = imap_user_get(mu);
	c->id = ++mu->next_session_id;
	c->fd = fd;
	c->ip = xstrdup(client_ip != NULL ? client_ip : "");
	c->secured = secured;
	c->state = IMAP_STATE_AUTH;
	c->autologout_secs = cfg != NULL && cfg->imap_autologout != 0 ?
	    cfg->imap_autologout : IMAP_DEFAULT_AUTOLOGOUT;
	buf_init(&c->line, IMAP_RESP_MAX);
	imap_parser_limits_default(&limits, true);
	if (cfg != NULL && cfg->mail_max_size != 0)
		limits.max_stream_literal = cfg->mail_max_size;
	c->parser = imap_parser_create(&limits,
	    IMAP_PARSER_FLAG_UTF8 | IMAP_PARSER_FLAG_LITERAL_PLUS | IMAP_PARSER_FLAG_SKIP_LONG);
	c->bev = conn_new(mu->base, fd, NULL, CONN_IMAP, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("imap: bufferevent_socket_new failed");
		close(fd);
		imap_parser_destroy(&c->parser);
		buf_deinit(&c->line);
		free(c->ip);
		free(c);
		return -1;
	}
	imap_client_attach_bev(c);
	{
		/* a client that stops reading goes at autologout (docs/security.md, Limits) */
		struct timeval wtv = { (time_t)c->autologout_secs, 0 };

		bufferevent_set_timeouts(c->bev, NULL, &wtv);
	}
	c->timer = evtimer_new(mu->base, client_timer_cb, c);
	c->update_ev = event_new(mu->base, -1, 0, client_update_cb, c);
	c->cont_ev = event_new(mu->base, -1, 0, client_cont_cb, c);
	c->last_input_ms = clock_ms();
	mail_session_register(mu, &c->session, MAIL_PROTO_IMAP, c->ip, &session_ops, c);

	if (login_tag == NULL)
		imap_client_line(c, "* PREAUTH [CAPABILITY %s] Logged in as %s",
		    imap_capability(cfg), mu->name);
	else
		imap_client_line(c, "%s OK [CAPABILITY %s] Logged in", login_tag,
		    imap_capability(cfg));
	log_info("imap session user=%s session=%u ip=%s secured=%s", mu->name, c->id, c->ip,
	    secured ? "yes" : "no");
	/*
	 * libevent freezes the end of a socket bufferevent's input buffer (only its own
	 * reads append there); the buffer is still empty, so prepend instead.
	 */
	if (pending_len > 0 &&
	    evbuffer_prepend(bufferevent_get_input(c->bev), pending_input, pending_len) != 0)
		panic("imap: cannot queue the pending input");
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	client_arm_timer(c);
	client_input(c);
	return 0;
}

void
imap_client_reap(struct imap_user *iu)
{
	while (iu->zombies != NULL) {
		struct imap_client *c = iu->zombies;

		iu->zombies = c->next;
		free(c);
	}
}

/*
 * Tear the session down. The struct itself is freed from the event loop afterwards, so
 * callers further up the stack may still test c->destroyed.
 */
static void
client_teardown(struct imap_client *c)
{
	c->destroyed = true;
	if (c->cmd != NULL)
		cmd_free(c);
	imap_notify_free(&c->notify);
	if (c->view != NULL)
		imap_view_close(&c->view);
	mail_session_unregister(&c->session);
	event_free(c->timer);
	event_free(c->update_ev);
	event_free(c->cont_ev);
	imap_compress_detach(c);
	bufferevent_free(c->bev);
	c->bev = NULL;
	imap_parser_destroy(&c->parser);
	buf_deinit(&c->line);
	free(c->ip);
}

static void
client_destroy(struct imap_client *c)
{
	struct imap_user *iu = c->iu;

	if (c->destroyed)
		return;
	client_teardown(c);
	/* freed from the loop (reap event) or with the user (mail_user_destroy) */
	c->next = iu->zombies;
	iu->zombies = c;
	event_active(iu->reap_ev, EV_TIMEOUT, 0);
}

/* `buzon kick`: the session ends with a BYE once it is sent (RFC 3501 §7.1.5). */
static void
client_kick(struct mail_session *s)
{
	struct imap_client *c = s->ctx;

	log_info("imap disconnect ip=%s reason=kick", c->ip);
	imap_client_bye(c, "Disconnected by the administrator");
}

/* Registry shutdown (mail_user_destroy): close at once, without a BYE. */
static void
client_shutdown(struct mail_session *s)
{
	struct imap_client *c = s->ctx;

	client_teardown(c);
	free(c);
}
