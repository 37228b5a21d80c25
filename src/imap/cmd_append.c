/*
 * cmd_append.c — APPEND with MULTIAPPEND (RFC 3502) and APPENDUID (RFC 4315). Message
 * literals are never held in memory: the parser announces each one
 * (IMAP_PARSE_LITERAL_STREAM) after the mailbox, flags and date that precede it, the
 * command's literal hook (cmd_append_literal, before the command is dispatched) starts
 * a save in the target mailbox and its input hook writes the literal bytes straight
 * into the store's tmp/ file as they arrive, then hands the input back to the parser;
 * the command's completion queues all messages of the command as one transaction for the
 * store's commit thread (group commit) and the command waits, without holding up the
 * user's other sessions, until the callback says they are durable; only then the tagged
 * OK with APPENDUID goes out. A failed save is aborted. The size limit (APPENDLIMIT) is enforced by the parser
 * before "+" is sent.
 */
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/imap_date.h"

struct imap_append {
	struct mailbox *mbox;
	struct mailbox_save *save;
	enum store_status st;		/* first store failure */
	const char *bad;		/* first syntax error (static text) */
	bool limit;			/* bad is a [LIMIT] error */
	unsigned next_arg;		/* first arg after the previous literal */
	unsigned messages;
	uint8_t flags;
	uint32_t keywords;
	time_t date;
	bool msg_open;
	uint64_t stream_left;		/* octets of the current literal still to read */
	bool stream_discard;		/* discard them (after a failure) */
	/* waiting for the commit */
	struct imap_cmd *cmd;
	struct mailbox_commit *commit;	/* until the callback */
	bool committed;
	enum store_status commit_st;
	uint32_t first, last, uidvalidity;
	unsigned literals;
};

/* cmd->ctx_free: throw away an unfinished APPEND (parse error, connection closed). */
static void
append_free(void *ctx)
{
	struct imap_append *a = ctx;

	/* the client is gone: the messages are still saved, nobody is told */
	mailbox_commit_cancel(a->commit);
	if (a->save != NULL)
		mailbox_save_abort(&a->save);
	if (a->mbox != NULL)
		mailbox_unref(&a->mbox);
	free(a);
}

static void
append_abort(struct imap_cmd *cmd)
{
	struct imap_append *a = cmd->ctx;

	cmd->ctx = NULL;
	if (a != NULL)
		append_free(a);
}

static bool
append_failed(const struct imap_append *a)
{
	return a->st != STORE_OK || a->bad != NULL;
}

/* Parse the optional flag list and date between the previous literal and this one
 * (and the atom UTF8 of RFC 6855 §4 right before it, once enabled). */
static void
append_msg_params(struct imap_append *a, const struct imap_arg *args, unsigned argc,
    bool utf8_ok)
{
	unsigned i = a->next_arg;
	const char *err = NULL;

	a->flags = 0;
	a->keywords = 0;
	a->date = 0;
	if (i < argc && args[i].type == IMAP_ARG_LIST) {
		int r = imap_parse_append_flags(a->mbox, args[i].list, args[i].list_count,
		    &a->flags, &a->keywords, &err);

		if (r < 0) {
			a->bad = err;
			a->limit = r == -2;
			return;
		}
		i++;
	}
	if (i < argc && (args[i].type == IMAP_ARG_QUOTED || (args[i].type == IMAP_ARG_ATOM &&
	    !(i + 1 == argc && imap_arg_atom_equals(&args[i], "UTF8"))))) {
		int tz;

		if (imap_datetime_parse(args[i].str, args[i].len, &a->date, &tz) < 0) {
			a->bad = "Invalid date-time";
			return;
		}
		i++;
	}
	if (i + 1 == argc && imap_arg_atom_equals(&args[i], "UTF8")) {
		if (!utf8_ok) {
			a->bad = "UTF8 needs ENABLE UTF8=ACCEPT";
			return;
		}
		i++;
	}
	if (i != argc)
		a->bad = "Invalid APPEND arguments";
}

/*
 * A literal was announced: begin its message (and, at the first, the save into the
 * target mailbox the args parsed so far name). Returns 0, or -1 when its bytes are to
 * be discarded (the error is reported when the command completes, or at once).
 */
static int
append_literal_begin(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	const struct imap_arg *args;
	unsigned argc;
	struct imap_append *a = cmd->ctx;
	const char *name;
	size_t len;

	args = imap_parser_args(c->parser, &argc);
	if (a == NULL) {
		a = cmd->ctx = xcalloc(1, sizeof(*a));
		cmd->ctx_free = append_free;
		a->next_arg = 1;
		if (argc < 1 || !imap_arg_get_astring(&args[0], &name, &len)) {
			a->bad = "Invalid mailbox name argument";
			return -1;
		}
		{
			char *n;

			switch (imap_mailbox_name_in(c, name, len, &n)) {
			case 0:
				break;
			case -1:
				a->bad = "Mailbox name is not valid UTF-8";
				return -1;
			case -3:
				a->st = STORE_LIMIT;
				return -1;
			default:
				a->st = STORE_BADNAME;
				return -1;
			}
			a->st = mailbox_open(c->user->store, n, &a->mbox);
			free(n);
		}
		if (a->st != STORE_OK)
			return -1;
		a->save = mailbox_save_begin(a->mbox, 0);
	}
	if (append_failed(a))
		return -1;
	append_msg_params(a, args, argc, (c->enabled & IMAP_ENABLE_UTF8) != 0);
	if (append_failed(a))
		return -1;
	a->st = mailbox_save_msg_begin(a->save);
	if (a->st != STORE_OK)
		return -1;
	a->msg_open = true;
	return 0;
}

static void
append_literal_data(struct imap_append *a, const void *data, size_t len)
{
	if (!a->msg_open || append_failed(a))
		return;
	a->st = mailbox_save_write(a->save, data, len);
	if (a->st != STORE_OK)
		a->stream_discard = true;
}

/* The literal is complete: end its message and let the parser go on. */
static void
append_literal_end(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	unsigned argc;

	(void)imap_parser_args(c->parser, &argc);
	/* the literal becomes argument argc; the next message's params follow it */
	a->next_arg = argc + 1;
	if (a->msg_open && !append_failed(a)) {
		a->st = mailbox_save_msg_end(a->save, a->flags, a->keywords, a->date);
		if (a->st == STORE_OK)
			a->messages++;
	}
	a->msg_open = false;
	imap_parser_stream_done(c->parser, a);
}

/*
 * A synchronising literal cannot be accepted: reply "<tag> NO/BAD ..." before "+" is
 * sent (without untagged updates) and throw the APPEND away.
 */
static void
append_fail_now(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	const char *tag = cmd->tag;
	const char *text = "[SERVERBUG] Internal error";
	char codebuf[128];

	if (a != NULL && a->bad != NULL) {
		imap_client_line(c, "%s %s %s%s", tag, a->limit ? "NO" : "BAD",
		    a->limit ? "[LIMIT] " : "", a->bad);
		append_abort(cmd);
		return;
	}
	if (a != NULL && a->st == STORE_NONEXISTENT)
		text = "[TRYCREATE] Mailbox does not exist";
	else if (a != NULL && a->st == STORE_BADNAME)
		text = "[CANNOT] Invalid mailbox name";
	else if (a != NULL && a->st == STORE_OVERQUOTA)
		text = "[OVERQUOTA] Quota exceeded";
	else if (a != NULL) {
		snprintf(codebuf, sizeof(codebuf), "%s", store_status_str(a->st));
		text = codebuf;
	}
	imap_client_line(c, "%s NO %s", tag, text);
	append_abort(cmd);
}

/* Input hook: the literal's octets go to the save (or nowhere), then back to the parser. */
static enum imap_input_result
append_input(struct imap_cmd *cmd, struct evbuffer *in)
{
	struct imap_append *a = cmd->ctx;

	while (a->stream_left > 0) {
		size_t n = evbuffer_get_length(in);
		unsigned char *data;

		if (n == 0)
			return IMAP_INPUT_MORE;
		n = (size_t)MIN((uint64_t)MIN(n, IMAP_BODY_CHUNK), a->stream_left);
		data = evbuffer_pullup(in, (ssize_t)n);
		if (!a->stream_discard)
			append_literal_data(a, data, n);
		evbuffer_drain(in, n);
		a->stream_left -= n;
	}
	append_literal_end(cmd);
	return IMAP_INPUT_PARSE;
}

int
cmd_append_literal(struct imap_cmd *cmd, uint64_t size)
{
	struct imap_client *c = cmd->client;
	bool sync = imap_parser_literal_is_sync(c->parser);
	bool discard = append_literal_begin(cmd) < 0;
	struct imap_append *a = cmd->ctx;

	/* refuse a literal that alone would pass the quota before it is sent, as
	 * APPENDLIMIT does (the real size is checked again at its end) */
	if (!discard && (a->st = mailbox_save_quota_precheck(a->save, size)) != STORE_OK)
		discard = true;

	if (discard && sync && cmd->tag[0] != '\0') {
		/* Refuse before "+": the client will not send the literal. */
		append_fail_now(cmd);
		return IMAP_CMD_DONE;
	}
	if (sync)
		imap_client_line(c, "+ OK");
	a->stream_discard = discard;
	a->stream_left = size;
	if (size == 0)
		append_literal_end(cmd);
	else
		cmd->input = append_input;
	return IMAP_CMD_MORE;
}

/* The tagged reply once the transaction is durable or has failed. */
static int
append_reply(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	enum store_status st = a->commit_st;
	uint32_t first = a->first, last = a->last, uidv = a->uidvalidity;
	unsigned literals = a->literals;

	append_abort(cmd);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	log_info("imap append user=%s session=%u messages=%u uid=%u", c->user->name, c->id,
	    literals, first);
	if (first == last)
		return imap_cmd_ok(cmd, "[APPENDUID %u %u] Append completed.", uidv, first);
	return imap_cmd_ok(cmd, "[APPENDUID %u %u:%u] Append completed.", uidv, first, last);
}

/* cmd->cont: called when the callback scheduled it, and whenever output drained. */
static int
append_cont(struct imap_cmd *cmd)
{
	struct imap_append *a = cmd->ctx;

	if (!a->committed)
		return IMAP_CMD_MORE;
	return append_reply(cmd);
}

static void
append_committed(void *ctx, enum store_status st, uint32_t first, uint32_t last)
{
	struct imap_append *a = ctx;

	a->commit = NULL;
	a->committed = true;
	a->commit_st = st;
	a->first = first;
	a->last = last;
	imap_client_schedule_continue(a->cmd->client);
}

/* Is args[i] a message: a streamed literal, or "UTF8 (literal8)" (RFC 6855 §4)? */
static bool
append_message_arg(const struct imap_arg *args, unsigned i)
{
	if (args[i].type == IMAP_ARG_LITERAL_STREAM)
		return true;
	return i >= 1 && args[i].type == IMAP_ARG_LIST && args[i].list_count == 1 &&
	    args[i].list[0].type == IMAP_ARG_LITERAL_STREAM &&
	    imap_arg_atom_equals(&args[i - 1], "UTF8");
}

int
cmd_append(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	unsigned i, literals = 0;
	enum store_status st;

	for (i = 0; i < cmd->argc; i++)
		if (append_message_arg(cmd->args, i))
			literals++;
	if (a == NULL || literals == 0) {
		append_abort(cmd);
		return imap_cmd_bad(cmd, "APPEND needs a message literal");
	}
	if (!append_message_arg(cmd->args, cmd->argc - 1)) {
		append_abort(cmd);
		return imap_cmd_bad(cmd, "Invalid APPEND arguments");
	}
	if (a->bad != NULL) {
		const char *bad = a->bad;
		bool limit = a->limit;

		append_abort(cmd);
		if (limit)
			return imap_cmd_no(cmd, "[LIMIT] %s", bad);
		return imap_cmd_bad(cmd, "%s", bad);
	}
	if (a->st != STORE_OK) {
		st = a->st;
		append_abort(cmd);
		if (st == STORE_NONEXISTENT)
			return imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist");
		return imap_cmd_store_error(cmd, st);
	}
	a->uidvalidity = mailbox_uidvalidity(a->mbox);
	a->literals = literals;
	if (mstore_commit_fd(c->user->store) < 0) {
		/* no commit thread: synchronous */
		a->commit_st = mailbox_save_commit(&a->save, &a->first, &a->last);
		a->committed = true;
		return append_reply(cmd);
	}
	a->cmd = cmd;
	cmd->cont = append_cont;
	a->commit = mailbox_save_commit_async(&a->save, append_committed, a);
	return IMAP_CMD_MORE;
}
