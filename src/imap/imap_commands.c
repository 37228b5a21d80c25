/*
 * imap_commands.c — the command table of the authenticated IMAP session: name, handler,
 * the states it is valid in, and flags (UID prefix allowed, uses sequence numbers). The
 * dispatcher in imap_client.c checks state and flags; handlers only do the work.
 */
#include "imap/imap_local.h"
#include "lib/util.h"

#define AUTH	IMAP_STATE_AUTH
#define SEL	IMAP_STATE_SELECTED
#define BOTH	(IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

static const struct imap_command commands[] = {
	{ "CAPABILITY", cmd_capability, BOTH, 0 },
	{ "NOOP", cmd_noop, BOTH, 0 },
	{ "LOGOUT", cmd_logout, BOTH, CMD_FLAG_NO_UPDATES },
	{ "ID", cmd_id, BOTH, 0 },
	{ "ENABLE", cmd_enable, BOTH, 0 },
	{ "NAMESPACE", cmd_namespace, BOTH, 0 },
	{ "STARTTLS", cmd_starttls_after_login, BOTH, 0 },
	{ "LOGIN", cmd_starttls_after_login, BOTH, 0 },
	{ "AUTHENTICATE", cmd_starttls_after_login, BOTH, 0 },
	{ "SELECT", cmd_select, BOTH, 0 },
	{ "EXAMINE", cmd_examine, BOTH, 0 },
	{ "CREATE", cmd_create, BOTH, 0 },
	{ "DELETE", cmd_delete, BOTH, 0 },
	{ "RENAME", cmd_rename, BOTH, 0 },
	{ "SUBSCRIBE", cmd_subscribe, BOTH, 0 },
	{ "UNSUBSCRIBE", cmd_unsubscribe, BOTH, 0 },
	{ "LIST", cmd_list, BOTH, 0 },
	{ "LSUB", cmd_lsub, BOTH, 0 },
	{ "STATUS", cmd_status, BOTH, 0 },
	{ "APPEND", cmd_append, BOTH, 0 },
	{ "IDLE", cmd_idle, BOTH, 0 },
	{ "CHECK", cmd_check, SEL, 0 },
	{ "CLOSE", cmd_close, SEL, 0 },
	{ "UNSELECT", cmd_unselect, SEL, 0 },
	{ "EXPUNGE", cmd_expunge, SEL, CMD_FLAG_UID },
	{ "SEARCH", cmd_search, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS },
	{ "FETCH", cmd_fetch, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS },
	{ "STORE", cmd_store, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS },
	{ "COPY", cmd_copy, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS },
	{ "MOVE", cmd_move, SEL, CMD_FLAG_UID },
};

const struct imap_command *
imap_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(commands); i++)
		if (str_ieq(name, commands[i].name))
			return &commands[i];
	return NULL;
}
