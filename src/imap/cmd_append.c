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
 *
 * CATENATE (RFC 4469): a message may be "CATENATE (TEXT {n} URL "..." ...)". Its TEXT
 * literals stream like message literals (the parser announces them inside the list);
 * each URL part before a literal, and those after the last one, are written into the
 * same tmp/ file when they are reached, in order, as BODY.PEEK[section]<partial> of the
 * user's own message would send them (imap_msgcache + mail_section_resolve, the FETCH
 * path). A URL that cannot be resolved fails the command with NO [BADURL url], a
 * message over APPENDLIMIT with NO [TOOBIG]; nothing of the command is saved then.
 *
 * REPLACE (RFC 8508) is APPEND of one message with a sequence number or UID first: the
 * replaced message of the selected mailbox is checked before "+" and again before the
 * commit; once the new message is durable the untagged OK carries APPENDUID and the old
 * one is expunged (EXPUNGE or VANISHED with the tagged OK), as MOVE does.
 */
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/section.h"
#include "proto/imap_date.h"
#include "proto/imap_url.h"
#include "proto/mutf7.h"

/* The part of a BADURL URL echoed back (url-resp-text, RFC 4469 §5). */
#define APPEND_BADURL_MAX	512

struct imap_append {
	struct mailbox *mbox;
	struct mailbox_save *save;
	enum store_status st;		/* first store failure */
	const char *bad;		/* first syntax error (static text) */
	bool limit;			/* bad is a [LIMIT] error */
	const char *no;			/* a NO text with its response code (REPLACE) */
	char *badurl;			/* CATENATE: the first URL that failed, sanitized */
	bool toobig;			/* a message passed the append limit */
	bool replace;			/* REPLACE / UID REPLACE (RFC 8508) */
	uint32_t replace_uid;		/* the message of the selected mailbox it replaces */
	unsigned base;			/* args before the mailbox: 0, or 1 for REPLACE */
	uint64_t max_size;		/* the append limit of one message (APPENDLIMIT) */
	uint64_t msg_size;		/* octets of the current message so far */
	bool in_catenate;		/* the current message is a CATENATE list */
	unsigned cat_arg;		/* that list's index (== argc while still open) */
	unsigned cat_next;		/* its first part not yet handled */
	unsigned next_arg;		/* first arg after the previous message */
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
	free(a->badurl);
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
	return a->st != STORE_OK || a->bad != NULL || a->no != NULL || a->badurl != NULL ||
	    a->toobig;
}

/* The command's top-level arguments ("UID" of UID REPLACE left out), from the parser:
 * the same as cmd->args once dispatched. */
static const struct imap_arg *
append_args(struct imap_cmd *cmd, unsigned *argc_r)
{
	const char *name = imap_parser_command(cmd->client->parser);
	const struct imap_arg *args = imap_parser_args(cmd->client->parser, argc_r);

	if (name != NULL && str_ieq(name, "UID") && *argc_r > 0) {
		args++;
		(*argc_r)--;
	}
	return args;
}

static void
append_msg_begin(struct imap_append *a)
{
	if (a->replace && a->messages > 0) {
		/* RFC 8508: one append-message */
		a->bad = "REPLACE takes one message";
		return;
	}
	a->st = mailbox_save_msg_begin(a->save);
	a->msg_open = a->st == STORE_OK;
	a->msg_size = 0;
}

static void
append_msg_end(struct imap_append *a)
{
	if (a->msg_open && !append_failed(a)) {
		a->st = mailbox_save_msg_end(a->save, a->flags, a->keywords, a->date);
		if (a->st == STORE_OK)
			a->messages++;
	}
	a->msg_open = false;
}

/* Octets of the current message: to the save, within the append limit. */
static void
append_write(struct imap_append *a, const void *data, size_t len)
{
	if (!a->msg_open || append_failed(a))
		return;
	if (len > a->max_size - a->msg_size) {
		a->toobig = true;
		return;
	}
	a->msg_size += len;
	a->st = mailbox_save_write(a->save, data, len);
}

/*
 * Parse the optional flag list and date of the message starting at args[a->next_arg];
 * returns the index after them.
 */
static unsigned
append_msg_params(struct imap_append *a, const struct imap_arg *args, unsigned argc)
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
			return i;
		}
		i++;
	}
	if (i < argc && (args[i].type == IMAP_ARG_QUOTED || (args[i].type == IMAP_ARG_ATOM &&
	    !imap_arg_atom_equals(&args[i], "UTF8") &&
	    !imap_arg_atom_equals(&args[i], "CATENATE")))) {
		int tz;

		if (imap_datetime_parse(args[i].str, args[i].len, &a->date, &tz) < 0) {
			a->bad = "Invalid date-time";
			return i;
		}
		i++;
	}
	return i;
}

/* The URL as echoed in [BADURL ...]: printable ASCII but ']', bounded. */
static void
append_badurl(struct imap_append *a, const char *url, size_t len)
{
	size_t i;

	if (a->badurl != NULL)
		return;
	len = MIN(len, (size_t)APPEND_BADURL_MAX);
	a->badurl = xmalloc(len + 2);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)url[i];

		a->badurl[i] = ch > 0x20 && ch < 0x7f && ch != ']' ? (char)ch : '?';
	}
	if (len == 0)
		a->badurl[len++] = '?';
	a->badurl[len] = '\0';
}

/*
 * Write the part a CATENATE URL names (RFC 4469): BODY.PEEK[section]<partial> of a
 * message of the user's own mailboxes, resolved like FETCH resolves it. Returns 0, or
 * -1 with the failure recorded (BADURL, TOOBIG or a store error).
 */
static int
catenate_url(struct imap_cmd *cmd, const char *s, size_t len)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	struct imap_url url;
	struct mailbox *box = NULL;
	struct imap_cached_msg *msg = NULL;
	struct mail_section sec;
	struct mail_section_result res;
	bool sec_valid = false, res_valid = false;
	const char *err;
	struct buf name, chunk;
	uint64_t origin, count, total;
	int ret = -1;

	buf_init(&name, STORE_NAME_MAX + 1);
	buf_init(&chunk, IMAP_BODY_CHUNK);
	if (imap_url_parse(s, len, &url, &err) < 0)
		goto badurl;
	/* only the authenticated user's own messages (no URLAUTH, RFC 4467) */
	if (url.absolute && (!url.has_user || strcmp(url.user, c->user->name) != 0))
		goto badurl;
	/* RFC 5092: the mailbox name in the URL is UTF-8 */
	if (mutf7_from_utf8(url.mailbox, url.mailbox_len, &name) < 0 ||
	    mstore_name_check(buf_cstr(&name)) != STORE_OK ||
	    mailbox_open(c->user->store, buf_cstr(&name), &box) != STORE_OK)
		goto badurl;
	if (url.uidvalidity != 0 && url.uidvalidity != mailbox_uidvalidity(box))
		goto badurl;
	if (imap_msgcache_get(c->iu->cache, box, url.uid, &msg) != STORE_OK)
		goto badurl;
	if (mail_section_parse(url.has_section ? url.section : "", url.section_len, &sec,
	    &err) < 0)
		goto badurl;
	sec_valid = true;
	if (mail_section_resolve(imap_cached_msg_parse(msg), &sec, IMAP_SECTION_GEN_MAX,
	    &res) < 0) {
		res_valid = true;
		goto badurl;
	}
	res_valid = true;
	if (!res.found)
		goto badurl;
	origin = url.has_partial ? url.partial_offset : 0;
	count = url.has_partial && url.partial_length != 0 ? url.partial_length : UINT64_MAX;
	if (res.generated) {
		size_t glen = res.buf.len;
		size_t pos = origin < glen ? (size_t)origin : glen;
		size_t n = count == UINT64_MAX || count > glen - pos ? glen - pos : (size_t)count;

		if (n > 0)
			append_write(a, res.buf.data + pos, n);
	} else {
		const struct mail_message *m = imap_cached_msg_parse(msg);
		struct mail_octets_reader rd;

		mail_octets_reader_init(&rd, m->data + res.raw_off, res.raw_len, origin, count,
		    &total);
		if (total > a->max_size - a->msg_size)
			a->toobig = true;
		while (!append_failed(a)) {
			int n;

			buf_reset(&chunk);
			n = mail_octets_read(&rd, &chunk, IMAP_BODY_CHUNK);
			if (n < 0)
				panic("imap: catenate chunk buffer too small");
			if (n == 0)
				break;
			append_write(a, chunk.data, chunk.len);
		}
	}
	ret = append_failed(a) ? -1 : 0;
	goto out;
badurl:
	append_badurl(a, s, len);
out:
	if (res_valid)
		mail_section_result_deinit(&res);
	if (sec_valid)
		mail_section_deinit(&sec);
	if (msg != NULL)
		imap_msgcache_release(c->iu->cache, &msg);
	if (box != NULL)
		mailbox_unref(&box);
	buf_deinit(&name);
	buf_deinit(&chunk);
	return ret;
}

/*
 * The parts list[a->cat_next..) of a CATENATE message: URLs are written now, TEXT
 * literals were streamed. open: the list is still being parsed and ends with the atom
 * TEXT whose literal has just been announced. Returns 0 or -1 (failure recorded).
 */
static int
catenate_parts(struct imap_cmd *cmd, const struct imap_arg *list, unsigned count, bool open)
{
	struct imap_append *a = cmd->ctx;
	unsigned end = open ? count - 1 : count;
	unsigned j;

	if (!open && count == 0) {
		a->bad = "Empty CATENATE list";
		return -1;
	}
	for (j = a->cat_next; j < end && !append_failed(a); j += 2) {
		const char *s;
		size_t len;

		if (j + 1 >= end) {
			a->bad = "Invalid CATENATE part";
			break;
		}
		if (imap_arg_atom_equals(&list[j], "TEXT")) {
			/* RFC 4469 §5: text-literal = "TEXT" SP literal (streamed) */
			if (list[j + 1].type != IMAP_ARG_LITERAL_STREAM)
				a->bad = "CATENATE TEXT needs a literal";
		} else if (imap_arg_atom_equals(&list[j], "URL")) {
			if (!imap_arg_get_astring(&list[j + 1], &s, &len))
				a->bad = "Invalid CATENATE URL";
			else
				(void)catenate_url(cmd, s, len);
		} else {
			a->bad = "Invalid CATENATE part";
		}
	}
	a->cat_next = end;
	return append_failed(a) ? -1 : 0;
}

/*
 * Walk the messages of the command as far as the parser has them: the top-level
 * arguments from a->next_arg and, while a literal inside a list is announced (lit), that
 * open list. Completed CATENATE messages are written and ended; a message the announced
 * literal belongs to is begun. Returns 0, or -1 with the failure recorded in a.
 */
static int
append_advance(struct imap_cmd *cmd, bool lit)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	const struct imap_arg *args, *list = NULL;
	unsigned argc, open_count = 0, i;
	bool open;

	args = append_args(cmd, &argc);
	open = lit && imap_parser_open_list(c->parser, &list, &open_count);
	while (!append_failed(a)) {
		if (a->in_catenate) {
			if (a->cat_arg < argc) {
				(void)catenate_parts(cmd, args[a->cat_arg].list,
				    args[a->cat_arg].list_count, false);
				append_msg_end(a);
				a->in_catenate = false;
				a->next_arg = a->cat_arg + 1;
				continue;
			}
			if (!open || open_count == 0) {
				a->bad = "Invalid CATENATE arguments";
				break;
			}
			return catenate_parts(cmd, list, open_count, true);
		}
		if (a->next_arg >= argc && !lit)
			return 0;
		i = append_msg_params(a, args, argc);
		if (append_failed(a))
			break;
		if (i < argc && imap_arg_atom_equals(&args[i], "CATENATE")) {
			if (i + 1 < argc && args[i + 1].type == IMAP_ARG_LIST) {
				a->cat_arg = i + 1;
			} else if (i + 1 == argc && open) {
				a->cat_arg = argc;
			} else {
				a->bad = "Invalid CATENATE arguments";
				break;
			}
			append_msg_begin(a);
			a->in_catenate = true;
			a->cat_next = 0;
			continue;
		}
		if (open && i + 1 == argc &&
		    imap_arg_atom_equals(&args[i], "UTF8")) {
			/* RFC 6855 §4 */
			if ((c->enabled & IMAP_ENABLE_UTF8) == 0) {
				a->bad = "UTF8 needs ENABLE UTF8=ACCEPT";
				break;
			}
			append_msg_begin(a);
			return append_failed(a) ? -1 : 0;
		}
		if (lit && !open && i == argc) {
			append_msg_begin(a);
			return append_failed(a) ? -1 : 0;
		}
		a->bad = "Invalid APPEND arguments";
	}
	return -1;
}

/*
 * REPLACE (RFC 8508): the message args[0] names in the selected mailbox (a sequence
 * number, "*", or a UID). Returns 0 with a->replace_uid, or -1 (a->bad, a->no).
 */
static int
replace_target(struct imap_cmd *cmd, const struct imap_arg *args, unsigned argc, bool uid)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	struct imap_view *v = c->view;
	struct seqset *set = NULL;
	size_t *idx = NULL, n = 0;
	bool uid_set;
	struct imap_view_msg *vm;

	if (c->state != IMAP_STATE_SELECTED || v == NULL) {
		a->bad = "No mailbox selected";
		return -1;
	}
	/* RFC 9586 §3 (the dispatcher's check comes after a streamed literal's hook) */
	if ((c->enabled & IMAP_ENABLE_UIDONLY) && !uid) {
		a->bad = "[UIDREQUIRED] Message sequence numbers are disabled (UIDONLY)";
		return -1;
	}
	if (argc < 1 || args[0].type != IMAP_ARG_ATOM ||
	    memchr(args[0].str, ',', args[0].len) != NULL ||
	    memchr(args[0].str, ':', args[0].len) != NULL ||
	    imap_arg_atom_equals(&args[0], "$")) {
		a->bad = uid ? "Invalid UID" : "Invalid sequence number";
		return -1;
	}
	/* a message another process expunged is found before "+" */
	if (imap_view_materialize(v) < 0 || mailbox_sync(v->mbox) != STORE_OK) {
		a->st = STORE_IOERROR;
		return -1;
	}
	if (imap_view_parse_set(v, &args[0], uid, &set, &uid_set) < 0 ||
	    imap_view_resolve(v, set, uid_set, &idx, &n) < 0) {
		seqset_destroy(&set);
		a->bad = "Invalid sequence number";
		return -1;
	}
	seqset_destroy(&set);
	if (n != 1) {
		free(idx);
		a->no = "[NONEXISTENT] No such message to replace";
		return -1;
	}
	vm = &v->msgs[idx[0]];
	free(idx);
	if (vm->expunged || mailbox_lookup(v->mbox, vm->uid, NULL) == NULL) {
		a->no = "[EXPUNGEISSUED] The message to replace was expunged";
		return -1;
	}
	if (v->readonly) {
		a->no = "[READ-ONLY] Mailbox is read-only";
		return -1;
	}
	a->replace_uid = vm->uid;
	return 0;
}

/*
 * Begin the command's state (at its first streamed literal, or at dispatch when it has
 * none): REPLACE's target, then the save into the mailbox args[base] names. Returns 0,
 * or -1 with the failure recorded.
 */
static int
append_init(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	const char *cmdname = imap_parser_command(c->parser);
	const struct imap_arg *args;
	unsigned argc;
	struct imap_append *a;
	const char *name;
	size_t len;
	char *n;
	bool uid = cmdname != NULL && str_ieq(cmdname, "UID");

	a = cmd->ctx = xcalloc(1, sizeof(*a));
	cmd->ctx_free = append_free;
	args = append_args(cmd, &argc);
	a->replace = uid || (cmdname != NULL && str_ieq(cmdname, "REPLACE"));
	a->base = a->replace ? 1 : 0;
	a->next_arg = a->base + 1;
	a->max_size = c->user->cfg != NULL && c->user->cfg->mail_max_size != 0 ?
	    c->user->cfg->mail_max_size : CONFIG_MAIL_MAX_SIZE_DEFAULT;
	if (a->replace && replace_target(cmd, args, argc, uid) < 0)
		return -1;
	if (argc <= a->base || !imap_arg_get_astring(&args[a->base], &name, &len)) {
		a->bad = "Invalid mailbox name argument";
		return -1;
	}
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
	if (a->st != STORE_OK)
		return -1;
	a->save = mailbox_save_begin(a->mbox, 0);
	return 0;
}

/*
 * A literal was announced: begin its message (and, at the first, the command's state),
 * writing the CATENATE URL parts before it. Returns 0, or -1 when its bytes are to be
 * discarded (the error is reported when the command completes, or at once).
 */
static int
append_literal_begin(struct imap_cmd *cmd, uint64_t size)
{
	struct imap_append *a = cmd->ctx;

	if (a == NULL && append_init(cmd) < 0)
		return -1;
	a = cmd->ctx;
	if (append_failed(a) || append_advance(cmd, true) < 0)
		return -1;
	/* the whole message, TEXT and URL parts, is within APPENDLIMIT ([TOOBIG]) */
	if (size > a->max_size - a->msg_size) {
		a->toobig = true;
		return -1;
	}
	return 0;
}

/* The literal is complete: end its message (unless it is a CATENATE part) and let the
 * parser go on. */
static void
append_literal_end(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	unsigned argc;

	if (a->in_catenate) {
		const struct imap_arg *list;

		/* it becomes the item after the TEXT atom of the open list */
		(void)imap_parser_open_list(c->parser, &list, &argc);
		a->cat_next = argc + 1;
	} else {
		(void)append_args(cmd, &argc);
		/* the literal (or UTF8's list) becomes argument argc; the next message
		 * follows it */
		a->next_arg = argc + 1;
		append_msg_end(a);
	}
	imap_parser_stream_done(c->parser, a);
}

/* The NO text of a failure other than BAD and a store error (buf: room for it). */
static const char *
append_refusal(const struct imap_append *a, char *buf, size_t size)
{
	if (a->no != NULL)
		return a->no;
	if (a->badurl != NULL) {
		snprintf(buf, size, "[BADURL %s] CATENATE URL cannot be resolved", a->badurl);
		return buf;
	}
	if (a->toobig)
		return "[TOOBIG] Message too large";
	return NULL;
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
	char codebuf[APPEND_BADURL_MAX + 128];

	if (a != NULL && a->bad != NULL) {
		imap_client_line(c, "%s %s %s%s", tag, a->limit ? "NO" : "BAD",
		    a->limit ? "[LIMIT] " : "", a->bad);
		append_abort(cmd);
		return;
	}
	if (a != NULL && a->st == STORE_OK && append_refusal(a, codebuf, sizeof(codebuf)))
		text = append_refusal(a, codebuf, sizeof(codebuf));
	else if (a != NULL && a->st == STORE_NONEXISTENT)
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
			append_write(a, data, n);
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
	bool discard = append_literal_begin(cmd, size) < 0;
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
	bool replace = a->replace;
	uint32_t replace_uid = a->replace_uid;

	append_abort(cmd);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	log_info("imap %s user=%s session=%u messages=%u uid=%u",
	    replace ? "replace" : "append", c->user->name, c->id, literals, first);
	if (replace) {
		/* RFC 8508: APPENDUID in an untagged OK, then the expunge, as MOVE does */
		imap_client_line(c, "* OK [APPENDUID %u %u] Replacement Message ready", uidv,
		    first);
		if (c->view != NULL) {
			/* the RFC's example order: EXISTS of a new message here, then EXPUNGE */
			imap_notify_view_updates(c, false);
			st = mailbox_expunge(c->view->mbox, &replace_uid, 1);
			if (st != STORE_OK)
				return imap_cmd_store_error(cmd, st);
		}
		return imap_cmd_ok(cmd, "Replace completed.");
	}
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

/* Is args[i] a message: a streamed literal, "UTF8 (literal8)" (RFC 6855 §4) or
 * "CATENATE (...)" (RFC 4469)? */
static bool
append_message_arg(const struct imap_arg *args, unsigned i)
{
	if (args[i].type == IMAP_ARG_LITERAL_STREAM)
		return true;
	if (i >= 1 && args[i].type == IMAP_ARG_LIST &&
	    imap_arg_atom_equals(&args[i - 1], "CATENATE"))
		return true;
	return i >= 1 && args[i].type == IMAP_ARG_LIST && args[i].list_count == 1 &&
	    args[i].list[0].type == IMAP_ARG_LITERAL_STREAM &&
	    imap_arg_atom_equals(&args[i - 1], "UTF8");
}

/* APPEND (and REPLACE) once parsed: the messages are complete (CATENATE parts after the
 * last literal written now); queue the transaction. */
int
cmd_append(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_append *a = cmd->ctx;
	unsigned i, messages = 0;
	enum store_status st;
	const char *text;
	char codebuf[APPEND_BADURL_MAX + 128];

	for (i = 0; i < cmd->argc; i++)
		if (append_message_arg(cmd->args, i))
			messages++;
	if (messages == 0) {
		append_abort(cmd);
		return imap_cmd_bad(cmd, "%s needs a message literal",
		    str_ieq(cmd->def->name, "REPLACE") ? "REPLACE" : "APPEND");
	}
	if (a == NULL) {
		/* CATENATE of URLs only: no literal was announced */
		(void)append_init(cmd);
		a = cmd->ctx;
	}
	if (!append_failed(a))
		(void)append_advance(cmd, false);
	if (!append_failed(a) && (a->messages == 0 || a->msg_open))
		a->bad = "Invalid APPEND arguments";
	if (!append_failed(a) && a->replace && a->messages != 1)
		a->bad = "REPLACE takes one message";
	if (!append_failed(a) && a->replace &&
	    (c->view == NULL || mailbox_lookup(c->view->mbox, a->replace_uid, NULL) == NULL))
		a->no = "[EXPUNGEISSUED] The message to replace was expunged";
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
	text = append_refusal(a, codebuf, sizeof(codebuf));
	if (text != NULL) {
		imap_cmd_no(cmd, "%s", text);
		append_abort(cmd);
		return IMAP_CMD_DONE;
	}
	a->uidvalidity = mailbox_uidvalidity(a->mbox);
	a->literals = a->messages;
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

/* RFC 8508: REPLACE and UID REPLACE share APPEND's parsing, saving and reply. */
int
cmd_replace(struct imap_cmd *cmd)
{
	return cmd_append(cmd);
}
