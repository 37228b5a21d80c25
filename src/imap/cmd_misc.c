/*
 * cmd_misc.c — CAPABILITY, NOOP, CHECK, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161),
 * NAMESPACE (RFC 2342), and the pre-login commands that are invalid after login.
 * Runs in the per-user mail process; ID parameters from the client are only logged,
 * sanitized and bounded.
 */
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

#include <string.h>
#include <strings.h>

int
cmd_capability(struct imap_cmd *cmd)
{
	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "CAPABILITY takes no arguments");
	imap_client_line(cmd->client, "* CAPABILITY %s", imap_capability(cmd->client->user->cfg));
	return imap_cmd_ok(cmd, "Capability completed.");
}

int
cmd_noop(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "NOOP takes no arguments");
	/* Pick up changes inotify may not have reported yet (other writers, NFS). */
	if (c->view != NULL)
		(void)mailbox_sync(c->view->mbox);
	return imap_cmd_ok(cmd, "NOOP completed.");
}

int
cmd_check(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "CHECK takes no arguments");
	(void)mailbox_sync(c->view->mbox);
	return imap_cmd_ok(cmd, "CHECK completed.");
}

int
cmd_logout(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "LOGOUT takes no arguments");
	imap_client_line(c, "* BYE Logging out");
	imap_cmd_ok(cmd, "Logout completed.");
	log_info("imap logout user=%s session=%u", c->user->name, c->id);
	/* imap_client_bye() would write another BYE: close after the flush instead. */
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	return IMAP_CMD_DONE;
}

int
cmd_id(struct imap_cmd *cmd)
{
	const struct imap_arg *list;
	unsigned n, i;
	char k[64], v[128];
	struct buf b;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "ID needs one argument");
	if (cmd->args[0].type == IMAP_ARG_LIST) {
		imap_arg_get_list(&cmd->args[0], &list, &n);
		/* RFC 2971 §3.3: at most 30 field-value pairs, strings. */
		if (n % 2 != 0 || n > 60)
			return imap_cmd_bad(cmd, "Invalid ID parameters");
		buf_init(&b, 4096);
		for (i = 0; i < n; i += 2) {
			const char *ks, *vs;
			size_t kl, vl;

			if (!imap_arg_get_string(&list[i], &ks, &kl) ||
			    !imap_arg_get_nstring(&list[i + 1], &vs, &vl)) {
				buf_deinit(&b);
				return imap_cmd_bad(cmd, "Invalid ID parameters");
			}
			(void)buf_appendf(&b, " %s=%s", log_sanitize(ks, kl, k, sizeof(k)),
			    vs != NULL ? log_sanitize(vs, vl, v, sizeof(v)) : "NIL");
		}
		log_info("imap id user=%s session=%u%s", cmd->client->user->name,
		    cmd->client->id, buf_cstr(&b));
		buf_deinit(&b);
	} else if (cmd->args[0].type != IMAP_ARG_NIL) {
		return imap_cmd_bad(cmd, "Invalid ID parameters");
	}
	imap_client_line(cmd->client, "* ID (\"name\" \"buzon\" \"version\" \"0.1.0\")");
	return imap_cmd_ok(cmd, "ID completed.");
}

/* Is word (case-insensitive) one of the space-separated words of list? */
static bool
word_in_list(const char *list, const char *word, size_t len)
{
	const char *p = list;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (n == len && strncasecmp(p, word, len) == 0)
			return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

static const struct {
	const char *name;
	unsigned bits;
} enable_exts[] = {
	{ "CONDSTORE", IMAP_ENABLE_CONDSTORE },
	{ "QRESYNC", IMAP_ENABLE_QRESYNC | IMAP_ENABLE_CONDSTORE },
	{ "UTF8=ACCEPT", IMAP_ENABLE_UTF8 },
	{ "IMAP4rev2", IMAP_ENABLE_REV2 },
	{ "UIDONLY", IMAP_ENABLE_UIDONLY },
};

int
cmd_enable(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	unsigned i, j, enable_bits = 0;
	struct buf b;

	if (cmd->argc == 0)
		return imap_cmd_bad(cmd, "ENABLE needs arguments");
	for (i = 0; i < cmd->argc; i++)
		if (cmd->args[i].type != IMAP_ARG_ATOM)
			return imap_cmd_bad(cmd, "Invalid ENABLE argument");
	/* RFC 5161 §3.1: unknown extensions are ignored; ENABLED lists only those this
	 * command newly enabled. */
	buf_init(&b, 256);
	(void)buf_append_str(&b, "* ENABLED");
	for (i = 0; i < cmd->argc; i++) {
		for (j = 0; j < N_ELEMENTS(enable_exts); j++) {
			if (!str_ieq(cmd->args[i].str, enable_exts[j].name) ||
			    !word_in_list(IMAP_CAPABILITY, enable_exts[j].name,
			    strlen(enable_exts[j].name)))
				continue;
			if (((c->enabled | enable_bits) & enable_exts[j].bits) !=
			    enable_exts[j].bits) {
				enable_bits |= enable_exts[j].bits;
				(void)buf_appendf(&b, " %s", enable_exts[j].name);
			}
			break;
		}
	}
	imap_client_line(c, "%s", buf_cstr(&b));
	buf_deinit(&b);
	imap_client_enable(c, enable_bits);
	return imap_cmd_ok(cmd, "ENABLE completed.");
}

int
cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "NAMESPACE takes no arguments");
	imap_client_line(cmd->client, "* NAMESPACE ((\"\" \".\")) NIL NIL");
	return imap_cmd_ok(cmd, "NAMESPACE completed.");
}

int
cmd_starttls_after_login(struct imap_cmd *cmd)
{
	return imap_cmd_bad(cmd, "Already logged in");
}
