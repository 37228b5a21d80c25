/*
 * fuzz_jwt.c — libFuzzer target for bearer tokens (src/proto/jwt.c) and the OAUTHBEARER
 * and XOAUTH2 messages (src/proto/sasl.c). Byte 0 picks what the rest is: a JWK Set
 * (jwks_parse), a token checked against a fixed key set (RS256 "r1", ES256 "e1", EdDSA
 * "d1"; the seeds are tokens of those keys, valid at FUZZ_NOW), an OAUTHBEARER or an
 * XOAUTH2 message. Checks: a refusal has a reason, a user name is bounded and
 * NUL-terminated, parsed fields are within their limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jwt.h"
#include "proto/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1800000000

static const char fuzz_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"tFAp4lvNnLSeYYU8Z6o8FRHE-Hqs1xnm_-Adj"
    "29Rwv9Ds7QcbSBI1YKOOXSUlAE8d87o37_QuJ6Z4ejWaQ6yYsCmLBGhmO6dH5ipu"
    "RdjVS4N4fmQYZhtUZ9cFkW4buO_BTixYUh5ubI3J7g_Dw1XTXEp8saGIL5CtzO2N"
    "8y1DfinWmCmLS2ZhfTBEzTTnXIldmBhYDlzFuUShCAJbL08AVhFg2WZgr8qgh9NA"
    "D0lpXCePEgy0c8EjujV9dGsP5MR13JD8vs8qzierqR6NPfn7CpTrBvEyLB4NEMDx"
    "8hGIwmki4SgRYcb_6vJq_VmH-XkgvnBpap4m2pLksAbfbrGqQ\",\"e\":\"AQAB\",\"k"
    "id\":\"r1\",\"use\":\"sig\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"scGQRjlVKGz"
    "Qd_-Zl5w_IftWzi0YdrL9aPDYCQB-_Xw\",\"y\":\"GZ-UEh_IfWyOtCiAsP4sd8U7f"
    "moIHHaKrcFSdJQ08So\",\"kid\":\"e1\",\"use\":\"sig\"},{\"kty\":\"OKP\",\"crv\":\""
    "Ed25519\",\"x\":\"dAYHM-ySpTOQ2MJIN1p9j_5Jz1wnmTqAx8yVX_avYzk\",\"kid\""
    ":\"d1\",\"use\":\"sig\"}]}";

static struct jwks *fixed;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;

	if (size == 0)
		return 0;
	if (fixed == NULL && jwks_parse(fuzz_jwks, sizeof(fuzz_jwks) - 1, &fixed, &err) < 0)
		abort();
	switch (data[0] % 4) {
	case 0: {
		struct jwks *k = NULL;

		if (jwks_parse((const char *)data + 1, size - 1, &k, &err) < 0) {
			if (err == NULL || k != NULL)
				abort();
		} else if (jwks_count(k) > JWKS_KEYS_MAX) {
			abort();
		}
		jwks_free(&k);
		break;
	}
	case 1: {
		struct jwt_policy p = { "https://idp.example.org/realms/mail", "buzon-imap",
		    "email", 60, FUZZ_NOW };
		char user[JWT_USER_MAX + 1];
		int r = jwt_verify(fixed, &p, (const char *)data + 1, size - 1, user, &err);

		if ((r == 0 && (err == NULL || user[0] != '\0')) || (r == 1 &&
		    (user[0] == '\0' || strnlen(user, sizeof(user)) > JWT_USER_MAX)) || r < 0 ||
		    r > 1)
			abort();
		break;
	}
	default: {
		struct sasl_oauth *o = malloc(sizeof(*o));
		int r;

		if (o == NULL)
			abort();
		r = data[0] % 4 == 2 ?
		    sasl_oauthbearer_parse(data + 1, size - 1, o, &err) :
		    sasl_xoauth2_parse(data + 1, size - 1, o, &err);
		if (r == 0 && (o->token_len == 0 || o->token_len > SASL_OAUTH_TOKEN_MAX ||
		    strlen(o->token) != o->token_len || o->user_len > SASL_MAX_USER ||
		    strlen(o->user) != o->user_len))
			abort();
		if (r < 0 && err == NULL)
			abort();
		sasl_oauth_wipe(o);
		free(o);
		break;
	}
	}
	return 0;
}
