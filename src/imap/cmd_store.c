/*
 * cmd_store.c — STORE, COPY and MOVE with their UID forms (RFC 3501 §6.4.6-7, RFC 4315
 * COPYUID, RFC 6851 MOVE). Flag changes rename message files through the store, which
 * tells every session; this session reports its own changes in the STORE response
 * (nothing with .SILENT) and records them so they are not reported twice.
 */
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

/* Parse a flag list / flags into system flags and keyword indexes (defining them when
 * define is true). Returns 0, -1 (BAD sent) or -2 (NO sent). */
static int
parse_flags(struct imap_cmd *cmd, const struct imap_arg *args, unsigned n, bool define,
    uint8_t *flags_r, uint32_t *kw_r)
{
	static const struct {
		const char *name;
		uint8_t flag;
	} sys[] = {
		{ "\\Seen", MAILBOX_FLAG_SEEN }, { "\\Answered", MAILBOX_FLAG_ANSWERED },
		{ "\\Flagged", MAILBOX_FLAG_FLAGGED }, { "\\Deleted", MAILBOX_FLAG_DELETED },
		{ "\\Draft", MAILBOX_FLAG_DRAFT },
	};
	struct mailbox *mbox = cmd->client->view->mbox;
	unsigned i, j;

	*flags_r = 0;
	*kw_r = 0;
	for (i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];
		char name[STORE_KEYWORD_LEN_MAX + 1];

		if (a->type != IMAP_ARG_ATOM) {
			imap_cmd_bad(cmd, "Invalid flag");
			return -1;
		}
		if (a->str[0] == '\\') {
			for (j = 0; j < N_ELEMENTS(sys); j++)
				if (mem_ieq(a->str, a->len, sys[j].name))
					break;
			if (j < N_ELEMENTS(sys))
				*flags_r |= sys[j].flag;
			else if (!mem_ieq(a->str, a->len, "\\Recent")) {
				imap_cmd_bad(cmd, "Invalid system flag");
				return -1;
			}
			continue;
		}
		if (a->len > STORE_KEYWORD_LEN_MAX) {
			imap_cmd_no(cmd, "[LIMIT] Keyword too long");
			return -2;
		}
		memcpy(name, a->str, a->len);
		name[a->len] = '\0';
		if (define) {
			unsigned idx;
			enum store_status st = mailbox_keyword_add(mbox, name, &idx);

			if (st == STORE_BADNAME) {
				imap_cmd_bad(cmd, "Invalid keyword");
				return -1;
			}
			if (st != STORE_OK) {
				if (st == STORE_LIMIT)
					imap_cmd_no(cmd, "[LIMIT] Too many keywords");
				else
					imap_cmd_store_error(cmd, st);
				return -2;
			}
			*kw_r |= 1u << idx;
		} else {
			int idx = mailbox_keyword_lookup(mbox, name);

			if (idx >= 0)
				*kw_r |= 1u << idx;
		}
	}
	return 0;
}

int
cmd_store(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_view *v = c->view;
	const struct imap_arg *flag_args, *args = cmd->args;
	unsigned nflags, argc = cmd->argc;
	struct seqset *set = NULL, *modified = NULL;
	size_t *idx = NULL, n = 0, i;
	const char *op;
	size_t oplen;
	int mode;	/* 0 replace, 1 add, -1 remove */
	bool silent = false, expunged = false, condstore, uid_set;
	uint8_t flags;
	uint32_t kw;
	uint64_t unchangedsince = UINT64_MAX;
	struct buf b;
	char start[IMAP_FETCH_START_MAX];
	enum store_status st = STORE_OK;

	if (argc < 3 || args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "Invalid STORE arguments");
	if (args[1].type == IMAP_ARG_LIST) {
		/* RFC 7162 §3.1.3: STORE set (UNCHANGEDSINCE n) ... */
		const struct imap_arg *m = args[1].list;

		if (args[1].list_count != 2 || !imap_arg_atom_equals(&m[0], "UNCHANGEDSINCE") ||
		    !imap_arg_modseq(&m[1], true, &unchangedsince))
			return imap_cmd_bad(cmd, "Invalid STORE modifier");
		args++;
		argc--;
	}
	if (argc < 3 || args[1].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "Invalid STORE arguments");
	op = args[1].str;
	oplen = args[1].len;
	mode = 0;
	if (oplen > 0 && (op[0] == '+' || op[0] == '-')) {
		mode = op[0] == '+' ? 1 : -1;
		op++;
		oplen--;
	}
	if (oplen == 12 && mem_ieq(op, 12, "FLAGS.SILENT"))
		silent = true;
	else if (!(oplen == 5 && mem_ieq(op, 5, "FLAGS")))
		return imap_cmd_bad(cmd, "Invalid STORE data item");
	if (argc == 3 && args[2].type == IMAP_ARG_LIST) {
		flag_args = args[2].list;
		nflags = args[2].list_count;
	} else if (argc == 3 && args[2].type == IMAP_ARG_NIL) {
		/* NIL for "no flags", as Dovecot accepts it (not in RFC 3501's grammar) */
		flag_args = NULL;
		nflags = 0;
	} else {
		flag_args = args + 2;
		nflags = argc - 2;
	}
	if (imap_view_parse_set(v, &cmd->args[0], cmd->uid, &set, &uid_set) < 0)
		return imap_cmd_bad(cmd, "Invalid sequence set");
	if (imap_view_resolve(v, set, uid_set, &idx, &n) < 0) {
		seqset_destroy(&set);
		return imap_cmd_bad(cmd, "Invalid sequence number");
	}
	seqset_destroy(&set);
	if (v->readonly) {
		free(idx);
		return imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
	}
	if (parse_flags(cmd, flag_args, nflags, mode >= 0, &flags, &kw) < 0) {
		free(idx);
		return IMAP_CMD_DONE;
	}
	if (unchangedsince != UINT64_MAX) {
		imap_client_enable(c, IMAP_ENABLE_CONDSTORE);
		modified = seqset_create();
	}
	condstore = (c->enabled & IMAP_ENABLE_CONDSTORE) != 0;
	/* New keywords: the FLAGS / PERMANENTFLAGS update goes before the FETCH responses. */
	imap_view_send_updates(v, false);
	buf_init(&b, 64 * 1024);
	for (i = 0; i < n; i++) {
		struct imap_view_msg *vm = &v->msgs[idx[i]];
		const struct mailbox_msg *m = vm->expunged ? NULL : mailbox_lookup(v->mbox, vm->uid, NULL);
		uint8_t nf;
		uint32_t nk;
		bool changed = false;

		if (m == NULL) {
			expunged = true;
			continue;
		}
		if (m->modseq > unchangedsince) {
			/* RFC 7162 §3.1.3: changed since the client looked: not stored */
			(void)seqset_add_range(modified, cmd->uid ? vm->uid : (uint32_t)idx[i] + 1,
			    cmd->uid ? vm->uid : (uint32_t)idx[i] + 1);
			continue;
		}
		nf = m->flags & MAILBOX_FLAGS_IMAP;
		nk = m->keywords;
		if (mode == 0) {
			nf = flags;
			nk = kw;
		} else if (mode > 0) {
			nf |= flags;
			nk |= kw;
		} else {
			nf &= (uint8_t)~flags;
			nk &= ~kw;
		}
		if (nf != (m->flags & MAILBOX_FLAGS_IMAP) || nk != m->keywords) {
			/* keep the P (passed) flag the store preserves */
			st = mailbox_store_flags(v->mbox, vm->uid,
			    (uint8_t)(nf | (m->flags & MAILBOX_FLAG_PASSED)), nk);
			if (st == STORE_EXPUNGED) {
				expunged = true;
				st = STORE_OK;
				continue;
			}
			if (st != STORE_OK)
				break;
			m = mailbox_lookup(v->mbox, vm->uid, NULL);
			if (m == NULL)
				continue;
			changed = true;
		}
		imap_view_set_reported(v, vm, m->flags, m->keywords);
		if (!silent) {
			buf_reset(&b);
			(void)imap_view_write_flags(v, &b, imap_view_client_flags(v, vm, m),
			    m->keywords);
			if (condstore)
				(void)buf_appendf(&b, " MODSEQ (%llu)", (unsigned long long)m->modseq);
			imap_client_line(c, "%sFLAGS %s)", imap_fetch_start(c, start, idx[i] + 1,
			    vm->uid, cmd->uid), buf_cstr(&b));
		} else if (condstore && changed) {
			/* RFC 7162 §3.1.3: .SILENT still tells the new MODSEQ */
			imap_client_line(c, "%sMODSEQ (%llu))", imap_fetch_start(c, start,
			    idx[i] + 1, vm->uid, cmd->uid), (unsigned long long)m->modseq);
		}
		if (condstore)
			v->modseq_told = true;
	}
	free(idx);
	if (st != STORE_OK) {
		buf_deinit(&b);
		seqset_destroy(&modified);
		return imap_cmd_store_error(cmd, st);
	}
	if (expunged && !cmd->uid) {
		buf_deinit(&b);
		seqset_destroy(&modified);
		return imap_cmd_no(cmd, "[EXPUNGEISSUED] Some messages were expunged");
	}
	if (modified != NULL && seqset_count(modified) > 0) {
		buf_reset(&b);
		(void)seqset_format(modified, &b);
		imap_cmd_ok(cmd, "[MODIFIED %s] Conditional STORE failed", buf_cstr(&b));
	} else
		imap_cmd_ok(cmd, "Store completed.");
	buf_deinit(&b);
	seqset_destroy(&modified);
	return IMAP_CMD_DONE;
}

static void
format_uidset(struct buf *out, const uint32_t *uids, size_t n)
{
	struct seqset *s = seqset_create();
	size_t i;

	for (i = 0; i < n; i++)
		(void)seqset_add_range(s, uids[i], uids[i]);
	(void)seqset_format(s, out);
	seqset_destroy(&s);
}

/* A COPY or MOVE waiting for its commit (the store's commit thread). */
struct imap_copy {
	struct imap_cmd *cmd;
	struct mailbox_commit *commit;	/* until the callback */
	bool move, committed;
	enum store_status st;
	uint32_t uidvalidity, first;
	uint32_t *uids;
	size_t count;
};

static void
copy_free(void *ctx)
{
	struct imap_copy *cp = ctx;

	/* the client is gone: the copies are still made, nobody is told */
	mailbox_commit_cancel(cp->commit);
	free(cp->uids);
	free(cp);
}

/* The copies are durable (or failed): COPYUID, and for MOVE the expunge. */
static int
copy_reply(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_copy *cp = cmd->ctx;
	enum store_status st = cp->st;
	uint32_t *dst_uids;
	struct buf b;

	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	dst_uids = xreallocarray(NULL, cp->count, sizeof(*dst_uids));
	for (size_t i = 0; i < cp->count; i++)
		dst_uids[i] = cp->first + (uint32_t)i;
	buf_init(&b, IMAP_RESP_MAX);
	(void)buf_appendf(&b, "COPYUID %u ", cp->uidvalidity);
	format_uidset(&b, cp->uids, cp->count);
	(void)buf_append_c(&b, ' ');
	format_uidset(&b, dst_uids, cp->count);
	free(dst_uids);
	if (cp->move) {
		/* RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGEs. */
		imap_client_line(c, "* OK [%s] Moved", buf_cstr(&b));
		buf_deinit(&b);
		if (c->view == NULL)
			return imap_cmd_ok(cmd, "Move completed.");
		st = mailbox_expunge(c->view->mbox, cp->uids, cp->count);
		if (st != STORE_OK)
			return imap_cmd_store_error(cmd, st);
		return imap_cmd_ok(cmd, "Move completed.");
	}
	imap_cmd_ok(cmd, "[%s] Copy completed.", buf_cstr(&b));
	buf_deinit(&b);
	return IMAP_CMD_DONE;
}

static int
copy_cont(struct imap_cmd *cmd)
{
	struct imap_copy *cp = cmd->ctx;

	return cp->committed ? copy_reply(cmd) : IMAP_CMD_MORE;
}

static void
copy_committed(void *ctx, enum store_status st, uint32_t first, uint32_t last)
{
	struct imap_copy *cp = ctx;

	(void)last;
	cp->commit = NULL;
	cp->committed = true;
	cp->st = st;
	cp->first = first;
	imap_client_schedule_continue(cp->cmd->client);
}

static int
copy_common(struct imap_cmd *cmd, bool move)
{
	struct imap_client *c = cmd->client;
	struct imap_view *v = c->view;
	struct seqset *set = NULL;
	size_t *idx = NULL, n = 0, i, nu = 0;
	uint32_t *uids, *dst_uids;
	struct mailbox *dst;
	char *name;
	enum store_status st;
	struct imap_copy *cp;
	bool expunged = false, uid_set;

	if (cmd->argc != 2 || cmd->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (imap_view_parse_set(v, &cmd->args[0], cmd->uid, &set, &uid_set) < 0)
		return imap_cmd_bad(cmd, "Invalid sequence set");
	if (imap_view_resolve(v, set, uid_set, &idx, &n) < 0) {
		seqset_destroy(&set);
		return imap_cmd_bad(cmd, "Invalid sequence number");
	}
	seqset_destroy(&set);
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[1], &name)) {
		free(idx);
		return IMAP_CMD_DONE;
	}
	if (move && v->readonly) {
		free(idx);
		free(name);
		return imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
	}
	st = mailbox_open(c->user->store, name, &dst);
	free(name);
	if (st != STORE_OK) {
		free(idx);
		if (st == STORE_NONEXISTENT)
			return imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist");
		return imap_cmd_store_error(cmd, st);
	}
	uids = xreallocarray(NULL, MAX(n, 1), sizeof(*uids));
	dst_uids = xreallocarray(NULL, MAX(n, 1), sizeof(*dst_uids));
	for (i = 0; i < n; i++) {
		struct imap_view_msg *vm = &v->msgs[idx[i]];

		if (vm->expunged || mailbox_lookup(v->mbox, vm->uid, NULL) == NULL)
			expunged = true;
		else
			uids[nu++] = vm->uid;
	}
	free(idx);
	if (expunged && !cmd->uid) {
		/* RFC 2180 §4.4.1: refuse the whole COPY */
		mailbox_unref(&dst);
		free(uids);
		free(dst_uids);
		return imap_cmd_no(cmd, "[EXPUNGEISSUED] Some messages were expunged");
	}
	if (nu == 0) {
		mailbox_unref(&dst);
		free(uids);
		free(dst_uids);
		return imap_cmd_ok(cmd, "No messages %s.", move ? "moved" : "copied");
	}
	free(dst_uids);
	cp = xcalloc(1, sizeof(*cp));
	cp->cmd = cmd;
	cp->move = move;
	cp->uids = uids;
	cp->count = nu;
	cp->uidvalidity = mailbox_uidvalidity(dst);
	cmd->ctx = cp;
	cmd->ctx_free = copy_free;
	/* MOVE: copy + expunge leaves the usage as it was, so its copy is not refused for
	 * quota (a user at the limit can still move mail to Trash) */
	if (move)
		mstore_quota_next_copy_is_move(c->user->store);
	if (mstore_commit_fd(c->user->store) < 0) {
		/* no commit thread: synchronous */
		dst_uids = xreallocarray(NULL, nu, sizeof(*dst_uids));
		cp->st = mailbox_copy(v->mbox, uids, nu, dst, dst_uids);
		cp->first = cp->st == STORE_OK ? dst_uids[0] : 0;
		free(dst_uids);
		mailbox_unref(&dst);
		return copy_reply(cmd);
	}
	cp->commit = mailbox_copy_async(v->mbox, uids, nu, dst, copy_committed, cp, &st);
	mailbox_unref(&dst);		/* the transaction holds its own reference */
	if (cp->commit == NULL)
		return imap_cmd_store_error(cmd, st);
	cmd->cont = copy_cont;
	return IMAP_CMD_MORE;
}

int
cmd_copy(struct imap_cmd *cmd)
{
	return copy_common(cmd, false);
}

int
cmd_move(struct imap_cmd *cmd)
{
	return copy_common(cmd, true);
}

int
imap_parse_append_flags(struct mailbox *mbox, const struct imap_arg *list, unsigned n,
    uint8_t *flags_r, uint32_t *kw_r, const char **error_r)
{
	static const struct {
		const char *name;
		uint8_t flag;
	} sys[] = {
		{ "\\Seen", MAILBOX_FLAG_SEEN }, { "\\Answered", MAILBOX_FLAG_ANSWERED },
		{ "\\Flagged", MAILBOX_FLAG_FLAGGED }, { "\\Deleted", MAILBOX_FLAG_DELETED },
		{ "\\Draft", MAILBOX_FLAG_DRAFT },
	};
	unsigned i, j;

	*flags_r = 0;
	*kw_r = 0;
	for (i = 0; i < n; i++) {
		const struct imap_arg *a = &list[i];
		char name[STORE_KEYWORD_LEN_MAX + 1];
		unsigned idx;
		enum store_status st;

		if (a->type != IMAP_ARG_ATOM) {
			*error_r = "Invalid flag";
			return -1;
		}
		if (a->str[0] == '\\') {
			for (j = 0; j < N_ELEMENTS(sys); j++)
				if (mem_ieq(a->str, a->len, sys[j].name))
					break;
			if (j < N_ELEMENTS(sys))
				*flags_r |= sys[j].flag;
			else if (!mem_ieq(a->str, a->len, "\\Recent")) {
				*error_r = "Invalid system flag";
				return -1;
			}
			continue;
		}
		if (a->len > STORE_KEYWORD_LEN_MAX) {
			*error_r = "Keyword too long";
			return -2;
		}
		memcpy(name, a->str, a->len);
		name[a->len] = '\0';
		st = mailbox_keyword_add(mbox, name, &idx);
		if (st == STORE_BADNAME) {
			*error_r = "Invalid keyword";
			return -1;
		}
		if (st != STORE_OK) {
			*error_r = "Too many keywords";
			return -2;
		}
		*kw_r |= 1u << idx;
	}
	return 0;
}
