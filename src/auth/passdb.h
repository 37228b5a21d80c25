/*
 * passdb.h — verifying a user's password against the passwd-file or, with
 * system_users = yes, PAM. Runs in the auth process. Unknown user and wrong password
 * take the same time and give the same result (0).
 */
#ifndef BUZON_PASSDB_H
#define BUZON_PASSDB_H

#include <stddef.h>

#include "auth/userdb.h"
#include "lib/config.h"

/* One parsed passwd-file line; strings point into a private copy of the line. */
struct passwd_entry {
	char *line;		/* owned; the fields below point into it */
	const char *user, *password, *uid, *gid, *gecos, *home, *shell;
};

/*
 * Find name in the passwd-file at path (first match wins; later duplicates are ignored
 * with a warning). Returns 1 found (free with passwd_entry_free), 0 not found, -1 error.
 */
int passwd_file_find(const char *path, const char *name, struct passwd_entry *e,
    const char **error_r);
void passwd_entry_free(struct passwd_entry *e);

/*
 * Verify a password. Returns 1 and fills *u (the user's identity, free with
 * userdb_info_free) on success, 0 on failure (unknown user or wrong password), -1 on a
 * temporary error (unreadable passwd-file, PAM down) with *error_r for the log.
 */
int passdb_verify(const struct config *cfg, const char *name, const char *password,
    size_t password_len, struct user_info *u, const char **error_r);

#endif
