/*
 * test_jwt.c — unit tests for JWT validation and JWK Sets (src/proto/jwt.c) and the
 * OAUTHBEARER/XOAUTH2 messages (src/proto/sasl.c): tokens signed at a fixed time by the
 * keys of jwt_vectors.h (RS256, PS384, ES256, ES384, EdDSA) pass; expired, not yet
 * valid, wrong audience or issuer, a foreign signature, an unknown kid, alg none, HS256
 * (also keyed with a public key), a missing exp or user claim and "crit" fail with their
 * reason; skew; base64url; nesting; malformed key sets; every prefix of a token fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/util.h"
#include "proto/jwt.h"
#include "proto/sasl.h"

#include "jwt_vectors.h"

static struct jwks *keys;

static void
policy(struct jwt_policy *p)
{
	p->issuer = JWT_VECTORS_ISSUER;
	p->audience = JWT_VECTORS_AUDIENCE;
	p->user_claim = "email";
	p->skew = 60;
	p->now = JWT_VECTORS_NOW;
}

static int
verify(const char *tok, const struct jwt_policy *p, char *user, const char **err)
{
	return jwt_verify(keys, p, tok, strlen(tok), user, err);
}

static void
test_good(void **state)
{
	struct jwt_policy p;
	char user[JWT_USER_MAX + 1];
	const char *err = NULL;

	policy(&p);
	assert_int_equal(jwks_count(keys), 5);	/* the "oct" key is not used */
	for (size_t i = 0; i < N_ELEMENTS(jwt_vectors_good); i++) {
		if (verify(jwt_vectors_good[i][1], &p, user, &err) != 1)
			fail_msg("%s: %s", jwt_vectors_good[i][0], err);
		assert_string_equal(user, JWT_VECTORS_USER);
	}
	/* another claim names the user */
	p.user_claim = "sub";
	assert_int_equal(verify(jwt_vectors_good[0][1], &p, user, &err), 1);
	assert_string_equal(user, "1234");
	/* no audience configured: not checked */
	policy(&p);
	p.audience = NULL;
	assert_int_equal(verify(jwt_vectors_good[0][1], &p, user, &err), 1);
}

static void
test_bad(void **state)
{
	struct jwt_policy p;
	char user[JWT_USER_MAX + 1];
	const char *err = NULL;

	policy(&p);
	for (size_t i = 0; i < N_ELEMENTS(jwt_vectors_bad); i++) {
		if (verify(jwt_vectors_bad[i][1], &p, user, &err) != 0)
			fail_msg("case %zu (%s) passed", i, jwt_vectors_bad[i][0]);
		if (strcmp(err, jwt_vectors_bad[i][0]) != 0)
			fail_msg("case %zu: want %s, got %s", i, jwt_vectors_bad[i][0], err);
		assert_string_equal(user, "");
	}
}

static void
test_time(void **state)
{
	struct jwt_policy p;
	char user[JWT_USER_MAX + 1];
	const char *err = NULL;
	const char *tok = jwt_vectors_good[0][1];

	/* exp = now + 300, nbf = now - 5, iat = now (tests/oauth/run.py claims()) */
	policy(&p);
	p.now = JWT_VECTORS_NOW + 300 + 60;
	assert_int_equal(verify(tok, &p, user, &err), 1);
	p.now++;
	assert_int_equal(verify(tok, &p, user, &err), 0);
	assert_string_equal(err, "expired");
	p.skew = 0;
	p.now = JWT_VECTORS_NOW + 300;
	assert_int_equal(verify(tok, &p, user, &err), 1);
	p.now = JWT_VECTORS_NOW - 6;
	assert_int_equal(verify(tok, &p, user, &err), 0);
	assert_string_equal(err, "not yet valid");
	p.skew = 60;
	assert_int_equal(verify(tok, &p, user, &err), 1);
	/* the wrong issuer and audience of the policy */
	policy(&p);
	p.issuer = "https://idp.example.org/realms/mail/";
	assert_int_equal(verify(tok, &p, user, &err), 0);
	policy(&p);
	p.audience = "buzon-imap2";
	assert_int_equal(verify(tok, &p, user, &err), 0);
	assert_string_equal(err, "wrong audience");
}

static void
test_single_key(void **state)
{
	struct jwks *one = NULL;
	struct jwt_policy p;
	char user[JWT_USER_MAX + 1];
	const char *err = NULL;

	assert_int_equal(jwks_parse(jwt_vectors_jwks_one, strlen(jwt_vectors_jwks_one), &one,
	    &err), 0);
	assert_int_equal(jwks_count(one), 1);
	policy(&p);
	/* no kid in the token, one key in the set: that key */
	assert_int_equal(jwt_verify(one, &p, jwt_vectors_nokid, strlen(jwt_vectors_nokid),
	    user, &err), 1);
	/* a kid the set does not have */
	assert_int_equal(jwt_verify(one, &p, jwt_vectors_good[2][1],
	    strlen(jwt_vectors_good[2][1]), user, &err), 0);
	jwks_free(&one);
	assert_null(one);
}

static void
test_prefixes(void **state)
{
	struct jwt_policy p;
	char user[JWT_USER_MAX + 1];
	const char *err = NULL;
	const char *tok = jwt_vectors_good[2][1];
	size_t len = strlen(tok);
	char *copy = xmalloc(len + 1);

	policy(&p);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(jwt_verify(keys, &p, tok, n, user, &err), 0);
	/* one flipped character anywhere */
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, tok, len);
		copy[i] = copy[i] == 'A' ? 'B' : 'A';
		if (jwt_verify(keys, &p, copy, len, user, &err) != 0 && copy[i] != tok[i]) {
			/* only a change in the last character's unused bits could keep it valid */
			if (i != len - 1)
				fail_msg("flip at %zu passed", i);
		}
	}
	free(copy);
}

static void
test_jwks_malformed(void **state)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[1]}", "{\"keys\":[{}]}",
		"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",	/* too small */
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
		"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}",
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":5}]}",
		"{\"keys\":[], \"keys\":[]}",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	struct jwks *k = NULL;
	const char *err = NULL;

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		if (jwks_parse(bad[i], strlen(bad[i]), &k, &err) == 0)
			fail_msg("case %zu parsed", i);
		assert_null(k);
	}
	/* skipped, not errors: an encryption key, another curve, a shared secret */
	assert_int_equal(jwks_parse("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\"},"
	    "{\"kty\":\"EC\",\"crv\":\"P-521\"},{\"kty\":\"oct\",\"k\":\"AA\"}]}", 86, &k, &err), 0);
	assert_int_equal(jwks_count(k), 0);
	jwks_free(&k);
}

static void
test_b64url(void **state)
{
	unsigned char out[16];
	size_t n;

	assert_int_equal(jwt_b64url_decode("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(jwt_b64url_decode("_-8", 3, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0xff);
	assert_int_equal(out[1], 0xef);
	assert_int_equal(jwt_b64url_decode("_-9", 3, out, sizeof(out), &n), -1);	/* bits */
	assert_int_equal(jwt_b64url_decode("/+8", 3, out, sizeof(out), &n), -1);	/* alphabet */
	assert_int_equal(jwt_b64url_decode("QQ==", 4, out, sizeof(out), &n), -1);	/* padding */
	assert_int_equal(jwt_b64url_decode("Q", 1, out, sizeof(out), &n), -1);
	assert_int_equal(jwt_b64url_decode("QUFB", 4, out, 2, &n), -1);		/* room */
}

static void
test_depth(void **state)
{
	assert_true(jwt_json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 3));
	assert_false(jwt_json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 2));
	assert_true(jwt_json_depth_ok("\"[[[[[\"", 7, 1));
	assert_true(jwt_json_depth_ok("\"\\\"[[[[\"", 8, 0));
}

#define OB(s) (const unsigned char *)(s), sizeof(s) - 1

static void
test_sasl_oauth(void **state)
{
	struct sasl_oauth *o = xmalloc(sizeof(*o));
	const char *err;

	assert_int_equal(sasl_oauthbearer_parse(OB("n,a=user@example.com,\x01host=server."
	    "example.com\x01port=143\x01" "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"),
	    o, &err), 0);	/* RFC 7628 §4.1 */
	assert_string_equal(o->user, "user@example.com");
	assert_string_equal(o->token, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
	assert_int_equal(sasl_oauthbearer_parse(OB("n,,\x01" "auth=bearer T\x01\x01"), o, &err), 0);
	assert_string_equal(o->user, "");
	assert_string_equal(o->token, "T");
	assert_int_equal(sasl_oauthbearer_parse(OB("y,a=a=2Cb=3D,\x01" "auth=Bearer T\x01\x01"), o,
	    &err), 0);
	assert_string_equal(o->user, "a,b=");
	static const char *const bad[] = {
		"", "\x01", "n,,", "n,,\x01\x01", "n,,\x01" "auth=Bearer T\x01",
		"p=tls-unique,,\x01" "auth=Bearer T\x01\x01", "n,a=b=2X,\x01" "auth=Bearer T\x01\x01",
		"n,a=b=2,\x01" "auth=Bearer T\x01\x01", "n,,\x01" "auth=Basic T\x01\x01",
		"n,,\x01" "auth=Bearer \x01\x01", "n,,\x01" "auth=Bearer T\x01\x01x",
		"n,,\x01" "auth=Bearer T\x01" "auth=Bearer T\x01\x01", "n,,\x01" "noequals\x01\x01",
		"n,x=y,\x01" "auth=Bearer T\x01\x01", "n,,\x01" "auth=Bearer a b\x01\x01",
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		if (sasl_oauthbearer_parse((const unsigned char *)bad[i], strlen(bad[i]), o,
		    &err) == 0)
			fail_msg("OAUTHBEARER case %zu parsed", i);
	assert_int_equal(sasl_xoauth2_parse(OB("user=someuser@example.com\x01" "auth=Bearer "
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"), o, &err), 0);
	assert_string_equal(o->user, "someuser@example.com");
	assert_int_equal(sasl_xoauth2_parse(OB("user=\x01" "auth=Bearer T\x01\x01"), o, &err), -1);
	assert_int_equal(sasl_xoauth2_parse(OB("user=u\x01" "auth=Bearer T\x01"), o, &err), -1);
	assert_int_equal(sasl_xoauth2_parse(OB("usr=u\x01" "auth=Bearer T\x01\x01"), o, &err), -1);
	/* every prefix of a valid message fails */
	{
		static const char m[] = "n,a=u,\x01" "auth=Bearer T\x01\x01";

		for (size_t n = 0; n + 1 < sizeof(m) - 1; n++)
			assert_int_equal(sasl_oauthbearer_parse((const unsigned char *)m, n, o,
			    &err), -1);
	}
	assert_int_equal(sasl_mech_kind("oauthbearer", 11), SASL_MECH_OAUTHBEARER);
	assert_true(sasl_mech_is_oauth("XOAUTH2"));
	assert_false(sasl_mech_is_oauth("PLAIN"));
	sasl_oauth_wipe(o);
	free(o);
}

static int
setup(void **state)
{
	const char *err = NULL;

	if (jwks_parse(jwt_vectors_jwks, strlen(jwt_vectors_jwks), &keys, &err) < 0) {
		fprintf(stderr, "jwks: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	jwks_free(&keys);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_single_key),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_jwks_malformed),
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_sasl_oauth),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
