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

#endif
