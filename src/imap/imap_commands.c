/*
 * imap_commands.c — the command table of the authenticated IMAP session: name, handler,
 * the states it is valid in, and flags (UID prefix allowed, uses sequence numbers, does
 * not need the selected mailbox's messages). The
 * dispatcher in imap_client.c checks state and flags; handlers only do the work. Also the
 * capability string that advertises them.
 */
#include "imap/imap_local.h"
#include "imap/imap_context.h"
#include "lib/util.h"

const char *
imap_capability(const struct config *cfg)
{
	static char cap[1024];
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
	{ "CAPABILITY", cmd_capability, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "NOOP", cmd_noop, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "LOGOUT", cmd_logout, BOTH, CMD_FLAG_NO_UPDATES | CMD_FLAG_NO_MSGS, NULL },
	{ "ID", cmd_id, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "ENABLE", cmd_enable, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "NAMESPACE", cmd_namespace, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "COMPRESS", cmd_compress, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "STARTTLS", cmd_starttls_after_login, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "LOGIN", cmd_starttls_after_login, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "AUTHENTICATE", cmd_starttls_after_login, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "SELECT", cmd_select, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "EXAMINE", cmd_examine, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "CREATE", cmd_create, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "DELETE", cmd_delete, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "RENAME", cmd_rename, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "SUBSCRIBE", cmd_subscribe, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "UNSUBSCRIBE", cmd_unsubscribe, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "LIST", cmd_list, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "LSUB", cmd_lsub, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "STATUS", cmd_status, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "APPEND", cmd_append, BOTH, CMD_FLAG_NO_MSGS, cmd_append_literal },
	{ "IDLE", cmd_idle, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "NOTIFY", cmd_notify, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "GETMETADATA", cmd_getmetadata, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "SETMETADATA", cmd_setmetadata, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "GETQUOTAROOT", cmd_getquotaroot, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "GETQUOTA", cmd_getquota, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "SETQUOTA", cmd_setquota, BOTH, CMD_FLAG_NO_MSGS, NULL },
	{ "CHECK", cmd_check, SEL, CMD_FLAG_NO_MSGS, NULL },
	{ "CLOSE", cmd_close, SEL, 0, NULL },
	{ "UNSELECT", cmd_unselect, SEL, CMD_FLAG_NO_MSGS, NULL },
	{ "EXPUNGE", cmd_expunge, SEL, CMD_FLAG_UID, NULL },
	{ "SEARCH", cmd_search, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS | CMD_FLAG_SEQ_ARGS,
	    NULL },
	{ "SORT", cmd_sort, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS | CMD_FLAG_SEQ_ARGS,
	    NULL },
	{ "CANCELUPDATE", cmd_cancelupdate, SEL, CMD_FLAG_NO_MSGS, NULL },
	{ "THREAD", cmd_thread, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS | CMD_FLAG_SEQ_ARGS,
	    NULL },
	{ "FETCH", cmd_fetch, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS | CMD_FLAG_SEQ_ARGS,
	    NULL },
	{ "STORE", cmd_store, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS | CMD_FLAG_SEQ_ARGS,
	    NULL },
	{ "COPY", cmd_copy, SEL, CMD_FLAG_UID | CMD_FLAG_USES_SEQS | CMD_FLAG_SEQ_ARGS,
	    NULL },
	{ "MOVE", cmd_move, SEL, CMD_FLAG_UID | CMD_FLAG_SEQ_ARGS, NULL },
	{ "REPLACE", cmd_replace, SEL, CMD_FLAG_UID | CMD_FLAG_SEQ_ARGS, cmd_append_literal },
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
