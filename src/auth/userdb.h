/*
 * userdb.h — who a user is: uid, gid, home and Maildir root. Looks users up in the
 * passwd-file and, with system_users = yes, in the system databases (getpwnam).
 * Runs in the auth process, and in CLI subcommands (user, deliver, imap).
 */
#ifndef BUZON_USERDB_H
#define BUZON_USERDB_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/config.h"

#define USER_NAME_MAX 255

struct user_info {
	char *name;		/* canonical login name */
	uid_t uid;
	gid_t gid;
	char *home;		/* may be "" */
	char *mail_root;	/* Maildir root (INBOX), absolute */
	bool system;		/* from the system user database */
	/* per-user quota from the userdb (passwd-file extra fields); a resource whose
	 * USERDB_QUOTA_* bit is clear takes the configuration's default */
	unsigned int quota_flags;
	uint64_t quota_storage;	/* bytes, 0 = unlimited */
	uint64_t quota_messages;	/* 0 = unlimited */
};
#define USERDB_QUOTA_STORAGE	0x01
#define USERDB_QUOTA_MESSAGES	0x02
#define USERDB_EXTRA_MAX	4096	/* bytes of extra fields parsed */

/* true if name is acceptable as a user name: 1..255 bytes, no '/', control bytes, no "..". */
bool userdb_name_valid(const char *name, size_t len);

/*
 * Look a user up. Returns 1 found (*u filled, free with userdb_info_free), 0 not found,
 * -1 error (*error_r static text). Refuses uid 0 and uids below first_valid_uid unless
 * buzon runs unprivileged (then every user maps to the running uid).
 */
int userdb_lookup(const struct config *cfg, const char *name, struct user_info *u,
    const char **error_r);
void userdb_info_free(struct user_info *u);

/*
 * Parse extra fields (space-separated key=value, as Dovecot's passwd-file 8th field)
 * into u's quota: "quota_storage=1G", "quota_messages=1000" (buzon's), and Dovecot's
 * "userdb_quota_rule=*:storage=1G" / "*:messages=N" (the "userdb_" prefix is optional
 * on every key). Other fields are ignored. Returns 0, or -1 for a quota value that is
 * not a number (or more than USERDB_EXTRA_MAX bytes). Logs relative rules it ignores.
 */
int userdb_extra_fields(const char *s, size_t len, struct user_info *u);
/* u's quota as extra fields, for the mail process ("" when it has none). Into buf. */
#define USERDB_QUOTA_FIELDS_MAX	80
const char *userdb_quota_fields(const struct user_info *u, char *buf, size_t size);
/* The limits that apply to u: its own, else the configuration's. */
void userdb_quota_limits(const struct config *cfg, const struct user_info *u,
    uint64_t *storage_r, uint64_t *messages_r);

struct passwd;
/*
 * Fill *u (cleared first) from a system user database entry: name, home, uid, gid,
 * system = true; mail_root is left NULL for the caller. Free with userdb_info_free.
 */
void userdb_info_from_passwd(struct user_info *u, const struct passwd *pw);

#endif
