/*
 * cmd_quota.c — GETQUOTAROOT, GETQUOTA and SETQUOTA (RFC 9208). Runs in the per-user
 * mail process. One quota root, "", holds every folder of the user; its resources are
 * STORAGE (units of 1024 octets) and MESSAGE, each reported only when the user has a
 * limit for it (store: mstore_quota_get). The limits are the administrator's
 * (configuration and userdb), so SETQUOTA is refused.
 */
#include "imap/imap_local.h"
#include "lib/util.h"

#define QUOTA_ROOT	""

/* "* QUOTA "" (STORAGE used limit MESSAGE used limit)" for the user's limits. */
static void
send_quota(struct imap_client *c, const struct mstore_quota *q)
{
	struct buf b;

	buf_init(&b, 256);
	(void)buf_append_str(&b, "* QUOTA \"\" (");
	/* RFC 9208 §5.1: STORAGE in units of 1024 octets (usage rounded up) */
	if (q->storage_limit != 0)
		(void)buf_appendf(&b, "STORAGE %llu %llu",
		    (unsigned long long)(q->bytes / 1024 + (q->bytes % 1024 != 0)),
		    (unsigned long long)(q->storage_limit / 1024));
	if (q->messages_limit != 0)
		(void)buf_appendf(&b, "%sMESSAGE %llu %llu", q->storage_limit != 0 ? " " : "",
		    (unsigned long long)q->count, (unsigned long long)q->messages_limit);
	(void)buf_append_str(&b, ")\r\n");
	imap_client_write(c, b.data, b.len);
	buf_deinit(&b);
}

static bool
quota_root_arg(const struct imap_arg *a, bool *ours_r)
{
	const char *s;
	size_t len;

	if (!imap_arg_get_astring(a, &s, &len))
		return false;
	*ours_r = len == 0;
	return true;
}

int
cmd_getquotaroot(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct mailbox_status mst;
	struct mstore_quota q;
	enum store_status st;
	struct buf b;
	char *name;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &name))
		return IMAP_CMD_DONE;
	/* RFC 9208 §4.1.2: the mailbox must exist */
	st = mstore_status(c->user->store, name, &mst);
	if (st != STORE_OK) {
		free(name);
		return imap_cmd_store_error(cmd, st);
	}
	buf_init(&b, STORE_NAME_MAX * 2 + 64);
	(void)buf_append_str(&b, "* QUOTAROOT ");
	(void)imap_append_mailbox(c, &b, name);
	free(name);
	/* a user without limits has no quota root: the mailbox is listed with none */
	if (mstore_quota_on(c->user->store))
		(void)buf_append_str(&b, " \"" QUOTA_ROOT "\"");
	(void)buf_append_str(&b, "\r\n");
	imap_client_write(c, b.data, b.len);
	buf_deinit(&b);
	if (mstore_quota_on(c->user->store)) {
		st = mstore_quota_get(c->user->store, &q);
		if (st != STORE_OK)
			return imap_cmd_store_error(cmd, st);
		send_quota(c, &q);
	}
	return imap_cmd_ok(cmd, "Getquotaroot completed.");
}

int
cmd_getquota(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct mstore_quota q;
	enum store_status st;
	bool ours;

	if (cmd->argc != 1 || !quota_root_arg(&cmd->args[0], &ours))
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (!ours || !mstore_quota_on(c->user->store))
		return imap_cmd_no(cmd, "[NONEXISTENT] No such quota root");
	st = mstore_quota_get(c->user->store, &q);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	send_quota(c, &q);
	return imap_cmd_ok(cmd, "Getquota completed.");
}

int
cmd_setquota(struct imap_cmd *cmd)
{
	const struct imap_arg *list;
	unsigned n;
	bool ours;

	/* RFC 9208 §4.1.3: quota-root SP "(" [setquota-resource *(SP setquota-resource)] ")"
	 * with setquota-resource = resource-name SP number64: checked, then refused */
	if (cmd->argc != 2 || !quota_root_arg(&cmd->args[0], &ours) ||
	    !imap_arg_get_list(&cmd->args[1], &list, &n) || n % 2 != 0)
		return imap_cmd_bad(cmd, "Invalid arguments");
	for (unsigned i = 0; i < n; i += 2) {
		uint64_t v;

		if (list[i].type != IMAP_ARG_ATOM || list[i + 1].type != IMAP_ARG_ATOM ||
		    parse_u64(list[i + 1].str, list[i + 1].len, INT64_MAX, &v) < 0)
			return imap_cmd_bad(cmd, "Invalid arguments");
	}
	return imap_cmd_no(cmd, "[NOPERM] Quota limits are set by the administrator");
}
