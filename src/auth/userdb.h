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
};

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

struct passwd;
/*
 * Fill *u (cleared first) from a system user database entry: name, home, uid, gid,
 * system = true; mail_root is left NULL for the caller. Free with userdb_info_free.
 */
void userdb_info_from_passwd(struct user_info *u, const struct passwd *pw);

#endif
