/*
 * password.h — password hashes in Dovecot's "{SCHEME}hash" notation: verification in
 * constant time and hashing for `buzon user add`. Runs in the auth process and the CLI.
 * Schemes: SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, CRYPT (any crypt(3) hash, e.g. yescrypt),
 * ARGON2ID, ARGON2I, SCRAM-SHA-256, SCRAM-SHA-1 (Dovecot's "ITER,SALT,STOREDKEY,SERVERKEY",
 * checked by deriving the keys), PLAIN/CLEARTEXT. An unknown scheme never verifies.
 */
#ifndef BUZON_PASSWORD_H
#define BUZON_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/scram.h"

/*
 * Returns 1 if password matches the stored "{SCHEME}hash", 0 if not, -1 if the stored
 * value is malformed or its scheme unknown (*error_r static text, for the log).
 */
int password_verify(const char *stored, const char *password, size_t password_len,
    const char **error_r);

/*
 * Spend the time a real verification would take, and throw the result away (for
 * unknown users): a verification against the template set with password_dummy_set(),
 * by default a SHA512-CRYPT hash of the default cost (what `buzon user add` writes).
 */
void password_verify_dummy(const char *password, size_t password_len);

/*
 * Make password_verify_dummy() verify against stored (a "{SCHEME}hash" as in the
 * passwd-file; copied), so that an unknown user costs what the users' real scheme and
 * cost parameters cost. NULL restores the default. Returns 0, or -1 when stored is
 * malformed, of an unknown scheme or PLAIN (free to check): the template is unchanged.
 */
int password_dummy_set(const char *stored);
/* The template password_verify_dummy() verifies against now (NULL: the built-in one). */
const char *password_dummy_template(void);

/*
 * A "{CRYPT}" hash of a fixed string with a random salt, made with libxcrypt's
 * preferred method at its default cost (yescrypt on Debian 12, what passwd(1) and
 * pam_unix write to /etc/shadow): the dummy template for system users. Malloc'd, NULL
 * on error.
 */
char *password_hash_system_default(void);

/*
 * The SCRAM credentials of hash h in stored ("{SCRAM-SHA-256}..."): 1 with *out filled
 * (SECRET: wipe it), 0 when stored is of another scheme, -1 when it is malformed.
 */
int password_scram_stored(const char *stored, enum scram_hash h, struct scram_stored *out);
/* "{SCRAM-SHA-256}4096,SALT,STOREDKEY,SERVERKEY" with a fresh salt; malloc'd or NULL. */
char *password_hash_scram(enum scram_hash h, const char *password);

/* Hash with {SHA512-CRYPT} and a fresh random salt; returns malloc'd text or NULL. */
char *password_hash(const char *password);

#endif
