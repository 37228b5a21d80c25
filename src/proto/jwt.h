/*
 * jwt.h — local validation of OAuth 2.0 bearer tokens that are JWTs (RFC 7519) in JWS
 * compact form (RFC 7515), against an issuer's public keys given as a JWK Set (RFC 7517,
 * RFC 7518, RFC 8037). Used by the auth process for OAUTHBEARER and XOAUTH2 (RFC 7628);
 * the token comes from a client, the key set from a file of the administrator's.
 * Pure: bytes in, a verdict out; no I/O, no logging, no clock (the caller passes now).
 * Every input is bounded (JWT_TOKEN_MAX, JWKS_FILE_MAX, JWT_JSON_DEPTH, JWKS_KEYS_MAX).
 */
#ifndef BUZON_JWT_H
#define BUZON_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_TOKEN_MAX	8192		/* the compact token (octets) */
#define JWT_USER_MAX	255		/* the user name taken from the claim */
#define JWT_JSON_DEPTH	16		/* nesting of a header, claims set or key set */
#define JWKS_FILE_MAX	(1024 * 1024)	/* the key set's JSON (octets) */
#define JWKS_KEYS_MAX	64		/* keys in one set */

/* A parsed key set: the usable signature keys (RSA >= 2048 bits, EC P-256/P-384, Ed25519). */
struct jwks;

/*
 * Parse a JWK Set ({"keys": [...]}) from json[0..len). Keys of other types ("oct",
 * other curves), with "use" other than "sig" or with an "alg" outside the allow-list
 * are skipped; a key whose members are malformed is an error. Returns 0 with *out
 * (free with jwks_free), or -1 with *error_r (a constant, for the log).
 */
int jwks_parse(const char *json, size_t len, struct jwks **out, const char **error_r);
void jwks_free(struct jwks **keys);
/* How many usable keys the set has. */
size_t jwks_count(const struct jwks *keys);

/* What a token must satisfy. */
struct jwt_policy {
	const char *issuer;	/* "iss" must equal it (required) */
	const char *audience;	/* "aud" (string or array) must hold it; NULL: not checked */
	const char *user_claim;	/* the claim naming the user ("email") */
	unsigned skew;		/* seconds of clock difference allowed for exp, nbf, iat */
	int64_t now;		/* seconds since the epoch */
};

/*
 * Verify token[0..len): the JOSE header (alg in the allow-list RS256/384/512,
 * PS256/384/512, ES256/384, EdDSA; never "none" or HMAC; no "crit"), the key ("kid",
 * or the only key when the token names none), the signature, then the claims: exp
 * (required), nbf, iat, iss, aud. Returns 1 with the claim's value in user
 * (JWT_USER_MAX + 1 bytes, NUL-terminated), or 0 with *error_r a constant short reason
 * for the log ("expired", "bad signature", ...).
 */
int jwt_verify(const struct jwks *keys, const struct jwt_policy *p, const char *token,
    size_t len, char *user, const char **error_r);

/*
 * Decode base64url without padding (RFC 7515 §2, RFC 4648 §5): only the URL-safe
 * alphabet, zero trailing bits. Returns 0 with *len_r, or -1 (invalid or over dst_size).
 */
int jwt_b64url_decode(const char *src, size_t len, unsigned char *dst, size_t dst_size,
    size_t *len_r);

/* Is the nesting of arrays and objects in json[0..len) at most max? (strings skipped) */
bool jwt_json_depth_ok(const char *json, size_t len, unsigned max);

#endif
