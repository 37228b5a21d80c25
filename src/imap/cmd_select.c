/*
 * cmd_select.c — SELECT, EXAMINE, CLOSE, UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE
 * (RFC 4315): opening and closing the session's view of a mailbox and removing messages
 * marked \Deleted. Runs in the per-user mail process.
 */
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

/* SELECT/EXAMINE parameters (RFC 4466 §2.4): CONDSTORE (RFC 7162 §3.1.8) and QRESYNC
 * (uidvalidity modseq [known-uids [(known-sequence-set known-uid-set)]]) (§3.2.5). */
struct select_params {
	bool condstore;
	bool qresync;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct seqset *known_uids;	/* NULL: every UID */
};

static int
parse_select_params(struct imap_cmd *cmd, const struct imap_arg *list,
    struct select_params *p, const char **error_r)
{
	unsigned i;

	*error_r = "Invalid SELECT parameters";
	for (i = 0; i < list->list_count; i++) {
		const struct imap_arg *a = &list->list[i], *q;
		uint64_t v;

		if (imap_arg_atom_equals(a, "CONDSTORE") && !p->condstore) {
			p->condstore = true;
			continue;
		}
		if (!imap_arg_atom_equals(a, "QRESYNC") || p->qresync || i + 1 >= list->list_count)
			return -1;
		if (!(cmd->client->enabled & IMAP_ENABLE_QRESYNC)) {
			*error_r = "QRESYNC is not enabled";
			return -1;
		}
		q = &a[1];
		i++;
		if (q->type != IMAP_ARG_LIST || q->list_count < 2 || q->list_count > 4 ||
		    q->list[0].type != IMAP_ARG_ATOM ||
		    parse_u64(q->list[0].str, q->list[0].len, UINT32_MAX, &v) < 0 || v == 0 ||
		    !imap_arg_modseq(&q->list[1], false, &p->modseq))
			return -1;
		p->uidvalidity = (uint32_t)v;
		if (q->list_count >= 3) {
			if (q->list[2].type != IMAP_ARG_ATOM ||
			    seqset_parse(q->list[2].str, q->list[2].len, 0, &p->known_uids) !=
			    SEQSET_PARSE_OK)
				return -1;
		}
		if (q->list_count == 4) {
			/* seq-match-data: checked, not needed (the expunge records answer) */
			const struct imap_arg *sm = &q->list[3];
			struct seqset *s1 = NULL, *s2 = NULL;
			bool ok = sm->type == IMAP_ARG_LIST && sm->list_count == 2 &&
			    sm->list[0].type == IMAP_ARG_ATOM && sm->list[1].type == IMAP_ARG_ATOM &&
			    seqset_parse(sm->list[0].str, sm->list[0].len, 0, &s1) == SEQSET_PARSE_OK &&
			    seqset_parse(sm->list[1].str, sm->list[1].len, 0, &s2) == SEQSET_PARSE_OK;

			seqset_destroy(&s1);
			seqset_destroy(&s2);
			if (!ok)
				return -1;
			/* RFC 9586 §3: known-sequence-set holds sequence numbers */
			if (cmd->client->enabled & IMAP_ENABLE_UIDONLY) {
				*error_r = "[UIDREQUIRED] Message sequence numbers are disabled "
				    "(UIDONLY)";
				return -1;
			}
		}
		p->qresync = true;
	}
	return 0;
}

/*
 * RFC 7162 §3.2.5.1: after the SELECT responses, what changed since the client's MODSEQ:
 * VANISHED (EARLIER) for the expunged UIDs (within known-uids), then FETCH (UID FLAGS
 * MODSEQ) for the changed messages (within known-uids).
 */
static void
qresync_report(struct imap_client *c, struct select_params *p)
{
	struct imap_view *v = c->view;
	uint32_t last = mailbox_uidnext(v->mbox) - 1;
	struct seqset *all = NULL;
	struct buf b;
	char start[IMAP_FETCH_START_MAX];
	size_t i;

	if (imap_view_materialize(v) < 0)
		return;			/* the tagged reply's updates end the session */
	if (p->known_uids != NULL)
		seqset_resolve(p->known_uids, last);
	else {
		all = seqset_create();
		if (last > 0)
			(void)seqset_add_range(all, 1, last);
	}
	imap_send_vanished_earlier(c, p->known_uids != NULL ? p->known_uids : all, p->modseq);
	seqset_destroy(&all);
	buf_init(&b, 64 * 1024);
	for (i = 0; i < v->count; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		const struct mailbox_msg *m = mailbox_lookup(v->mbox, vm->uid, NULL);

		if (m == NULL || m->modseq <= p->modseq ||
		    (p->known_uids != NULL && !seqset_contains(p->known_uids, vm->uid)))
			continue;
		imap_view_set_reported(v, vm, m->flags, m->keywords);
		buf_reset(&b);
		if (imap_view_write_flags(v, &b, imap_view_client_flags(v, vm, m),
		    m->keywords) == 0)
			imap_client_line(c, "%sFLAGS %s MODSEQ (%llu))",
			    imap_fetch_start(c, start, i + 1, vm->uid, true), buf_cstr(&b),
			    (unsigned long long)m->modseq);
	}
	buf_deinit(&b);
}

/*
 * A SELECT/EXAMINE is about to close the selected mailbox: "* OK [CLOSED]" tells a
 * client that speaks IMAP4rev2 (RFC 9051 §7.1) or has enabled QRESYNC (RFC 7162 §3.2.11)
 * where the old mailbox's responses end.
 */
static void
select_send_closed(struct imap_client *c)
{
	if (c->view != NULL && (c->enabled & (IMAP_ENABLE_REV2 | IMAP_ENABLE_QRESYNC)))
		imap_client_line(c, "* OK [CLOSED] Previous mailbox closed.");
}

static int
select_common(struct imap_cmd *cmd, bool readonly)
{
	struct imap_client *c = cmd->client;
	struct imap_view *v;
	enum store_status st;
	struct imap_view_summary sum;
	struct select_params params;
	const char *err = "Invalid SELECT parameters";
	char *name;
	int ret;

	memset(&params, 0, sizeof(params));
	if (cmd->argc < 1 || cmd->argc > 2)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (cmd->argc == 2 && (cmd->args[1].type != IMAP_ARG_LIST ||
	    parse_select_params(cmd, &cmd->args[1], &params, &err) < 0)) {
		seqset_destroy(&params.known_uids);
		return imap_cmd_bad(cmd, "%s", cmd->args[1].type != IMAP_ARG_LIST ?
		    "Invalid SELECT parameters" : err);
	}
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &name)) {
		seqset_destroy(&params.known_uids);
		return IMAP_CMD_DONE;
	}
	/* RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected. */
	if (c->view != NULL) {
		select_send_closed(c);
		imap_view_close(&c->view);
		c->state = IMAP_STATE_AUTH;
	}
	if (params.condstore || params.qresync)
		imap_client_enable(c, IMAP_ENABLE_CONDSTORE);
	st = imap_view_open(c, name, readonly, &v);
	free(name);
	if (st != STORE_OK) {
		seqset_destroy(&params.known_uids);
		return imap_cmd_store_error(cmd, st);
	}
	c->view = v;
	c->state = IMAP_STATE_SELECTED;
	imap_view_send_flag_lists(v);
	/* O(1) after a restart: the view stays unbuilt until a command needs it */
	imap_view_summary(v, &sum);
	imap_client_line(c, "* %u EXISTS", sum.exists);
	/* RFC 9051 Appendix E: no RECENT response, no UNSEEN response code in IMAP4rev2 */
	if (!(c->enabled & IMAP_ENABLE_REV2))
		imap_client_line(c, "* %u RECENT", sum.recent);
	/* RFC 9586: UNSEEN carries a sequence number */
	if (sum.first_unseen_seq != 0 && !(c->enabled & (IMAP_ENABLE_REV2 | IMAP_ENABLE_UIDONLY)))
		imap_client_line(c, "* OK [UNSEEN %u] First unseen.", sum.first_unseen_seq);
	imap_client_line(c, "* OK [UIDVALIDITY %u] UIDs valid", mailbox_uidvalidity(v->mbox));
	imap_client_line(c, "* OK [UIDNEXT %u] Predicted next UID", mailbox_uidnext(v->mbox));
	/* RFC 7162 §3.1.2.1: every SELECT of a mailbox with persistent MODSEQs */
	imap_client_line(c, "* OK [HIGHESTMODSEQ %llu] Highest",
	    (unsigned long long)mailbox_highestmodseq(v->mbox));
	/* RFC 8474 §4.1 */
	imap_client_line(c, "* OK [MAILBOXID (%s)] Ok", mailbox_guid(v->mbox));
	/* RFC 9051 §6.3.2: IMAP4rev2 names the mailbox selected in a LIST response */
	if (c->enabled & IMAP_ENABLE_REV2)
		imap_list_send_selected(c, mailbox_name(v->mbox));
	/* QRESYNC with another UIDVALIDITY: a plain SELECT (§3.2.5.1) */
	if (params.qresync && params.uidvalidity == mailbox_uidvalidity(v->mbox))
		qresync_report(c, &params);
	seqset_destroy(&params.known_uids);
	ret = imap_cmd_ok(cmd, "[%s] %s completed.", readonly ? "READ-ONLY" : "READ-WRITE",
	    readonly ? "Examine" : "Select");
	return ret;
}

int
cmd_select(struct imap_cmd *cmd)
{
	return select_common(cmd, false);
}

int
cmd_examine(struct imap_cmd *cmd)
{
	return select_common(cmd, true);
}

/*
 * Expunge the messages of the view marked \Deleted in the store (and in set, if given).
 * Returns the store status.
 */
static enum store_status
expunge_deleted(struct imap_view *v, struct seqset *set)
{
	uint32_t *uids;
	size_t n = 0, i;
	enum store_status st;

	if (v->count == 0)
		return STORE_OK;
	uids = xreallocarray(NULL, v->count, sizeof(*uids));
	for (i = 0; i < v->count; i++) {
		const struct mailbox_msg *m;

		if (v->msgs[i].expunged)
			continue;
		if (set != NULL && !seqset_contains(set, v->msgs[i].uid))
			continue;
		m = mailbox_lookup(v->mbox, v->msgs[i].uid, NULL);
		if (m != NULL && (m->flags & MAILBOX_FLAG_DELETED))
			uids[n++] = m->uid;
	}
	st = n > 0 ? mailbox_expunge(v->mbox, uids, n) : STORE_OK;
	free(uids);
	return st;
}

int
cmd_close(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	enum store_status st = STORE_OK;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "CLOSE takes no arguments");
	/* RFC 3501 §6.4.2: expunge silently, no EXPUNGE responses. */
	if (!c->view->readonly)
		st = expunge_deleted(c->view, NULL);
	imap_view_close(&c->view);
	c->state = IMAP_STATE_AUTH;
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	return imap_cmd_ok(cmd, "Close completed.");
}

int
cmd_unselect(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "UNSELECT takes no arguments");
	imap_view_close(&c->view);
	c->state = IMAP_STATE_AUTH;
	return imap_cmd_ok(cmd, "Unselect completed.");
}

int
cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct seqset *set = NULL;
	enum store_status st;

	if (cmd->uid) {
		bool uid_set;

		/* "$" (RFC 5182) holds UIDs too */
		if (cmd->argc != 1 ||
		    imap_view_parse_set(c->view, &cmd->args[0], true, &set, &uid_set) < 0)
			return imap_cmd_bad(cmd, "Invalid UID set");
		seqset_resolve(set, c->view->count > 0 ?
		    c->view->msgs[c->view->count - 1].uid : 0);
	} else if (cmd->argc != 0) {
		return imap_cmd_bad(cmd, "EXPUNGE takes no arguments");
	}
	if (c->view->readonly) {
		seqset_destroy(&set);
		return imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
	}
	st = expunge_deleted(c->view, set);
	seqset_destroy(&set);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	return imap_cmd_ok(cmd, "Expunge completed.");
}
