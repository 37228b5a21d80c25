/*
 * cmd_idle.c — IDLE (RFC 2177): the session reports changes as they happen and sends
 * "* OK Still here" every imap_idle_keepalive seconds until the client sends DONE, which
 * the command reads itself through its input hook. Autologout still applies.
 */
#include "imap/imap_local.h"
#include "lib/util.h"

#define IDLE_LINE_MAX		1024		/* the DONE line */
#define IDLE_DEFAULT_KEEPALIVE	(2 * 60)	/* imap_idle_keepalive unset */

static void
idle_keepalive(struct imap_cmd *cmd)
{
	imap_client_line(cmd->client, "* OK Still here");
}

/* The only input is "DONE" (RFC 2177 §3). */
static enum imap_input_result
idle_input(struct imap_cmd *cmd, struct evbuffer *in)
{
	struct imap_client *c = cmd->client;
	struct evbuffer_ptr p;
	size_t n;
	char line[IDLE_LINE_MAX];

	p = evbuffer_search_eol(in, NULL, &n, EVBUFFER_EOL_CRLF);
	if (p.pos < 0) {
		if (evbuffer_get_length(in) > IDLE_LINE_MAX)
			imap_client_bye(c, "IDLE line too long");
		return IMAP_INPUT_MORE;
	}
	if ((size_t)p.pos >= sizeof(line)) {
		imap_client_bye(c, "IDLE line too long");
		return IMAP_INPUT_MORE;
	}
	evbuffer_remove(in, line, (size_t)p.pos);
	evbuffer_drain(in, n);
	cmd->keepalive = NULL;
	cmd->live_updates = false;
	if ((size_t)p.pos == 4 && mem_ieq(line, 4, "DONE"))
		imap_cmd_ok(cmd, "Idle completed.");
	else
		imap_cmd_bad(cmd, "Expected DONE");
	return IMAP_INPUT_DONE;
}

int
cmd_idle(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	const struct config *cfg = c->user->cfg;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "IDLE takes no arguments");
	if (c->view != NULL) {
		(void)mailbox_sync(c->view->mbox);
		imap_notify_view_updates(c, true);
	}
	imap_notify_flush(c);
	imap_client_line(c, "+ idling");
	cmd->input = idle_input;
	cmd->keepalive = idle_keepalive;
	cmd->keepalive_secs = cfg != NULL && cfg->imap_idle_keepalive != 0 ?
	    cfg->imap_idle_keepalive : IDLE_DEFAULT_KEEPALIVE;
	cmd->live_updates = true;
	return IMAP_CMD_MORE;
}
