/*
 * password.h — password hashes in Dovecot's "{SCHEME}hash" notation: verification in
 * constant time and hashing for `buzon user add`. Runs in the auth process and the CLI.
 * Schemes: SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, CRYPT (any crypt(3) hash, e.g. yescrypt),
 * ARGON2ID, ARGON2I, PLAIN/CLEARTEXT. An unknown scheme never verifies.
 */
#ifndef BUZON_PASSWORD_H
#define BUZON_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Returns 1 if password matches the stored "{SCHEME}hash", 0 if not, -1 if the stored
 * value is malformed or its scheme unknown (*error_r static text, for the log).
 */
int password_verify(const char *stored, const char *password, size_t password_len,
    const char **error_r);

/* Spend the time a real verification would take (for unknown users). */
void password_verify_dummy(const char *password, size_t password_len);

/* Hash with {SHA512-CRYPT} and a fresh random salt; returns malloc'd text or NULL. */
char *password_hash(const char *password);

#endif
