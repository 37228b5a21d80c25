/*
 * cmd_select.c — SELECT, EXAMINE, CLOSE, UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE
 * (RFC 4315): opening and closing the session's view of a mailbox and removing messages
 * marked \Deleted. Runs in the per-user mail process.
 */
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

static int
select_common(struct imap_cmd *cmd, bool readonly)
{
	struct imap_client *c = cmd->client;
	struct imap_view *v;
	enum store_status st;
	struct imap_view_summary sum;
	char *name;

	if (cmd->argc < 1 || cmd->argc > 2)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (cmd->argc == 2 && (cmd->args[1].type != IMAP_ARG_LIST || cmd->args[1].list_count != 0))
		return imap_cmd_bad(cmd, "Unsupported SELECT parameters");
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &name))
		return IMAP_CMD_DONE;
	/* RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected. */
	if (c->view != NULL) {
		imap_view_close(&c->view);
		c->state = IMAP_STATE_AUTH;
	}
	st = imap_view_open(c, name, readonly, &v);
	free(name);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	c->view = v;
	c->state = IMAP_STATE_SELECTED;
	imap_view_send_flag_lists(v);
	/* O(1) after a restart: the view stays unbuilt until a command needs it */
	imap_view_summary(v, &sum);
	imap_client_line(c, "* %u EXISTS", sum.exists);
	imap_client_line(c, "* %u RECENT", sum.recent);
	if (sum.first_unseen_seq != 0)
		imap_client_line(c, "* OK [UNSEEN %u] First unseen.", sum.first_unseen_seq);
	imap_client_line(c, "* OK [UIDVALIDITY %u] UIDs valid", mailbox_uidvalidity(v->mbox));
	imap_client_line(c, "* OK [UIDNEXT %u] Predicted next UID", mailbox_uidnext(v->mbox));
	return imap_cmd_ok(cmd, "[%s] %s completed.", readonly ? "READ-ONLY" : "READ-WRITE",
	    readonly ? "Examine" : "Select");
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
		if (cmd->argc != 1 || cmd->args[0].type != IMAP_ARG_ATOM ||
		    seqset_parse(cmd->args[0].str, cmd->args[0].len, 0, &set) != SEQSET_PARSE_OK)
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
