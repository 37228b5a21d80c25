/*
 * cmd_idle.c — IDLE (RFC 2177): the session reports changes as they happen and sends
 * "* OK Still here" every imap_idle_keepalive seconds until the client sends DONE (read
 * by imap_client.c). Autologout still applies.
 */
#include "imap/imap_local.h"
#include "lib/util.h"

int
cmd_idle(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "IDLE takes no arguments");
	if (c->view != NULL) {
		(void)mailbox_sync(c->view->mbox);
		imap_view_send_updates(c->view, true);
	}
	imap_client_line(c, "+ idling");
	imap_client_idle_begin(c);
	return IMAP_CMD_MORE;
}
