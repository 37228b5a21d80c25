/*
 * sasl.h — decoding of SASL client responses: the PLAIN message (RFC 4616) and the
 * base64 lines of the LOGIN mechanism, for IMAP AUTHENTICATE (RFC 3501 §6.2.2, SASL-IR
 * RFC 4959) and POP3 AUTH. Runs in the login process on pre-auth attacker bytes and
 * handles passwords: every field is bounded, the results live in caller-owned fixed
 * storage, and the caller must wipe it with sasl_plain_wipe() / secret_wipe() as soon as
 * the credentials have been passed on. Pure, no I/O, no logging.
 */
#ifndef BUZON_SASL_H
#define BUZON_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/base64.h"

#define SASL_MAX_USER		255	/* authzid, authcid, LOGIN user name (octets) */
#define SASL_MAX_PASSWORD	1024	/* passwd (octets) */
#define SASL_MAX_BUF		8192	/* one decoded client response (octets) */
#define SASL_MAX_LINE		BASE64_ENCODED_LEN(SASL_MAX_BUF)	/* one base64 line */

enum sasl_response {
	SASL_RESPONSE_OK,	/* decoded */
	SASL_RESPONSE_CANCEL,	/* the client sent "*" (RFC 3501 §6.2.2, RFC 5034) */
	SASL_RESPONSE_ERROR	/* not strict base64, NUL where not allowed, or too long */
};

/*
 * The decoded PLAIN message. Strings are NUL-terminated; authzid is "" when absent.
 * SECRET: wipe with sasl_plain_wipe() after use (also when decoding failed).
 */
struct sasl_plain {
	char authzid[SASL_MAX_USER + 1];
	char authcid[SASL_MAX_USER + 1];
	char passwd[SASL_MAX_PASSWORD + 1];
	size_t authzid_len;
	size_t authcid_len;
	size_t passwd_len;
};

/*
 * Parse a decoded PLAIN message "[authzid] NUL authcid NUL passwd" (RFC 4616 §2) of at
 * most SASL_MAX_BUF octets. Rejects: wrong number of NULs, empty authcid or passwd,
 * fields over the limits. Returns 0, or -1 with *error_r a constant client-safe text.
 * Field text is not otherwise validated (UTF-8 checks belong to the caller).
 */
int sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_plain *out,
    const char **error_r);
/*
 * Decode a base64 PLAIN response line (line[0..len), without CRLF) and parse it. "*" gives
 * CANCEL; "=" (empty response, RFC 4959) gives ERROR since PLAIN needs the message. The
 * temporary decode buffer is wiped before returning.
 */
enum sasl_response sasl_plain_decode(const char *line, size_t len, struct sasl_plain *out,
    const char **error_r);
void sasl_plain_wipe(struct sasl_plain *p);

/*
 * LOGIN mechanism: decode one base64 line (user name or password) into out (out_size
 * bytes including the terminating NUL; pass SASL_MAX_USER + 1 or SASL_MAX_PASSWORD + 1).
 * "*" gives CANCEL; "=" decodes to the empty string; decoded NULs, an empty decoded
 * value and values that do not fit give ERROR. *len_r gets the decoded length.
 * SECRET: the caller wipes out with secret_wipe() after use (also on ERROR).
 */
enum sasl_response sasl_login_decode(const char *line, size_t len, char *out, size_t out_size,
    size_t *len_r, const char **error_r);

/*
 * Generic response line: "*" is CANCEL, "=" is an empty response (RFC 4959), anything
 * else strict base64 decoded into out (out_size bytes, at most SASL_MAX_BUF used).
 */
enum sasl_response sasl_decode_response(const char *line, size_t len, unsigned char *out,
    size_t out_size, size_t *len_r, const char **error_r);

/*
 * The SASL mechanisms of the login front ends and the auth socket, one table for all
 * (the login process, the master's checks of IPC_LOGIN_AUTH and auth agree on them).
 */
enum sasl_mech_kind {
	SASL_MECH_UNKNOWN,
	SASL_MECH_PLAIN,	/* PLAIN and LOGIN: pass is a password */
	SASL_MECH_LOGIN,
	SASL_MECH_SCRAM,	/* pass is ClientProof + AuthMessage (docs/architecture.md) */
	SASL_MECH_OAUTHBEARER,	/* pass is a bearer token (RFC 7628) */
	SASL_MECH_XOAUTH2,	/* pass is a bearer token (Google's XOAUTH2) */
};
/* Which mechanism name[0..len) is (case-insensitive), SASL_MECH_UNKNOWN when none. */
enum sasl_mech_kind sasl_mech_kind(const char *name, size_t len);
/* A token mechanism (OAUTHBEARER, XOAUTH2): the user name may be empty (from the token). */
bool sasl_mech_is_oauth(const char *name);
/* The most octets IPC_LOGIN_AUTH's pass may hold for mechanism name. */
size_t sasl_mech_cred_max(const char *name);

#define SASL_OAUTH_TOKEN_MAX	8192	/* bearer token (octets), as JWT_TOKEN_MAX */

/* A decoded OAUTHBEARER or XOAUTH2 message. SECRET: wipe with sasl_oauth_wipe(). */
struct sasl_oauth {
	char user[SASL_MAX_USER + 1];	/* a= / user= (decoded); "" when absent */
	size_t user_len;
	char token[SASL_OAUTH_TOKEN_MAX + 1];
	size_t token_len;
};

/*
 * RFC 7628 §3.1: gs2-header ("n," or "y," and an optional "a=saslname", ",") then
 * %x01-separated key=value pairs closed by %x01 %x01; "auth" must be "Bearer TOKEN".
 * Channel binding ("p=") is refused (OAUTHBEARER has none). Returns 0, or -1 with
 * *error_r (client-safe).
 */
int sasl_oauthbearer_parse(const unsigned char *msg, size_t len, struct sasl_oauth *out,
    const char **error_r);
/*
 * XOAUTH2: "user=" U %x01 "auth=Bearer " TOKEN %x01 %x01. Returns 0, or -1 with *error_r.
 */
int sasl_xoauth2_parse(const unsigned char *msg, size_t len, struct sasl_oauth *out,
    const char **error_r);
void sasl_oauth_wipe(struct sasl_oauth *o);
/*
 * The failure challenge of RFC 7628 §3.2.2 (also XOAUTH2's): a JSON status, to be sent
 * base64-encoded; the client answers with %x01 (OAUTHBEARER) or an empty response.
 */
#define SASL_OAUTH_ERROR_JSON "{\"status\":\"invalid_token\"}"

#endif
