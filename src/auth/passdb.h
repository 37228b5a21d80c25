/*
 * passdb.h — verifying a user's password against the passwd-file or, with
 * system_users = yes, PAM. Runs in the auth process. Unknown user and wrong password
 * take the same work and give the same result (0). The check has two phases: what
 * can be decided from files runs inline; PAM (and, with system users, the dummy check
 * for an unknown name) is handed to a PAM worker by the caller (pam_pool.h).
 */
#ifndef BUZON_PASSDB_H
#define BUZON_PASSDB_H

#include <stddef.h>

#include "auth/pam_pool.h"
#include "auth/userdb.h"
#include "lib/config.h"
#include "proto/scram.h"

/* One parsed passwd-file line; strings point into a private copy of the line. */
struct passwd_entry {
	char *line;		/* owned; the fields below point into it */
	const char *user, *password, *uid, *gid, *gecos, *home, *shell;
	const char *extra;	/* Dovecot's 8th field: space-separated key=value extra fields */
};

/*
 * Find name in the passwd-file at path (first match wins; later duplicates are ignored
 * with a warning); name NULL: the first entry. Returns 1 found (free with
 * passwd_entry_free), 0 not found, -1 error.
 */
int passwd_file_find(const char *path, const char *name, struct passwd_entry *e,
    const char **error_r);
void passwd_entry_free(struct passwd_entry *e);

/* passdb_verify(): the answer comes from a PAM worker job of kind *pam_r. */
#define PASSDB_PAM 2

/*
 * Verify a password, first phase. Returns 1 and fills *u (the user's identity, free
 * with userdb_info_free) on success, 0 on failure (unknown user or wrong password), -1
 * on a temporary error (unreadable passwd-file) with *error_r for the log, or
 * PASSDB_PAM: run pam_pool_submit(*pam_r, ...) and take its result (1, 0, -1) as the
 * answer. With PAM_JOB_AUTH *u is already filled (free it unless the result is 1);
 * with PAM_JOB_DUMMY *u is empty and the result is always 0. *u is zeroed first.
 */
int passdb_verify(const struct config *cfg, const char *name, const char *password,
    size_t password_len, struct user_info *u, enum pam_job_kind *pam_r,
    const char **error_r);

/*
 * SCRAM, first step: the salt and iteration count of name's credentials of hash h
 * (salt: SCRAM_SALT_MAX bytes). A name without such credentials (unknown, another
 * scheme, a system user) gets a salt and count that look real: derived from a secret
 * and the name, the same every time, so the answer does not tell who exists. Returns
 * 1 real, 0 made up, -1 temporary error (*error_r for the log).
 */
int passdb_scram_params(const struct config *cfg, const char *name, enum scram_hash h,
    unsigned char *salt, size_t *salt_len_r, uint32_t *iter_r, const char **error_r);
/*
 * SCRAM, the proof: msg is ClientProof (scram_hash_len(h) bytes) followed by the
 * AuthMessage. Returns 1 with *u filled and server_sig (scram_hash_len bytes) set, 0
 * on a wrong proof or a name without SCRAM credentials, -1 on a temporary error.
 */
int passdb_verify_scram(const struct config *cfg, const char *name, enum scram_hash h,
    const unsigned char *msg, size_t len, struct user_info *u, unsigned char *server_sig,
    const char **error_r);

#endif
