/*
 * oauth.h — OAUTHBEARER and XOAUTH2 in the auth process (docs/oauth.md): the issuer's
 * key set (oauth_jwks_file) read at start and on reload, and the check of a bearer
 * token (src/proto/jwt.c) followed by the userdb lookup of the user it names.
 */
#ifndef BUZON_OAUTH_H
#define BUZON_OAUTH_H

#include <stddef.h>

#include "auth/userdb.h"
#include "lib/config.h"
#include "proto/jwt.h"

/*
 * Read and parse the JWK Set at path. Returns 0 with *out (jwks_free), or -1 with
 * *error_r (caller frees) naming the file and the problem. A set without a usable
 * key is an error.
 */
int oauth_jwks_load(const char *path, struct jwks **out, char **error_r);

/*
 * Check token[0..len) against keys and cfg's oauth_* settings at time now; user is
 * the name the client gave ("" when none: a= of OAUTHBEARER is optional) and must
 * then be the token's. Returns 1 with *u filled (userdb_info_free), 0 when the token
 * or the user is refused (*reason_r for the log), -1 on a temporary error (*reason_r).
 */
int oauth_verify(const struct config *cfg, const struct jwks *keys, const char *user,
    const char *token, size_t len, int64_t now, struct user_info *u,
    const char **reason_r);

#endif
