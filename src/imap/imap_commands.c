/*
 * imap_commands.c — the command table of the authenticated IMAP session: name, handler,
 * the states it is valid in, and flags (UID prefix allowed, uses sequence numbers). The
 * dispatcher in imap_client.c checks state and flags; handlers only do the work. Also the
 * capability string that advertises them.
 */
#include "imap/imap_local.h"
#include "lib/util.h"

const char *
imap_capability(const struct config *cfg)
{
	static char cap[512];
	uint64_t limit = cfg != NULL && cfg->mail_max_size != 0 ?
	    cfg->mail_max_size : CONFIG_MAIL_MAX_SIZE_DEFAULT;

	snprintf(cap, sizeof(cap), "%s APPENDLIMIT=%llu MULTIAPPEND", IMAP_CAPABILITY,
	    (unsigned long long)limit);
	return cap;
}

#define AUTH	IMAP_STATE_AUTH
#define SEL	IMAP_STATE_SELECTED
#define BOTH	(IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

static const struct imap_command commands[] = {
	{ "CAPABILITY", cmd_capability, BOTH, 0, NULL },
	{ "NOOP", cmd_noop, BOTH, 0, NULL },
	{ "LOGOUT", cmd_logout, BOTH, CMD_FLAG_NO_UPDATES, NULL },
	{ "ID", cmd_id, BOTH, 0, NULL },
	{ "ENABLE", cmd_enable, BOTH, 0, NULL },
	{ "NAMESPACE", cmd_namespace, BOTH, 0, NULL },
	{ "STARTTLS", cmd_starttls_after_login, BOTH, 0, NULL },
	{ "LOGIN", cmd_starttls_after_login, BOTH, 0, NULL },
	{ "AUTHENTICATE", cmd_starttls_after_login, BOTH, 0, NULL },
	{ "SELECT", cmd_select, BOTH, 0, NULL },
	{ "EXAMINE", cmd_examine, BOTH, 0, NULL },
	{ "CREATE", cmd_create, BOTH, 0, NULL },
	{ "DELETE", cmd_delete, BOTH, 0, NULL },
	{ "RENAME", cmd_rename, BOTH, 0, NULL },
	{ "SUBSCRIBE", cmd_subscribe, BOTH, 0, NULL },
	{ "UNSUBSCRIBE", cmd_unsubscribe, BOTH, 0, NULL },
	{ "LIST", cmd_list, BOTH, 0, NULL },
	{ "LSUB", cmd_lsub, BOTH, 0, NULL },
	{ "STATUS", cmd_status, BOTH, 0, NULL },
	{ "APPEND", cmd_append, BOTH, 0, cmd_append_literal },
	{ "IDLE", cmd_idle, BOTH, 0, NULL },
	{ "CHECK", cmd_check, SEL, 0, NULL },
	{ "CLOSE", cmd_close, SEL, 0, NULL },
	{ "UNSELECT", cmd_unselect, SEL, 0, NULL },
	{ "EXPUNGE", cmd_expunge, SEL, CMD_FLAG_UID, NULL },
	{ "SEARCH", cmd_search, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS, NULL },
	{ "FETCH", cmd_fetch, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS, NULL },
	{ "STORE", cmd_store, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS, NULL },
	{ "COPY", cmd_copy, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS, NULL },
	{ "MOVE", cmd_move, SEL, CMD_FLAG_UID, NULL },
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
