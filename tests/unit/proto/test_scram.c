/*
 * test_scram.c — unit tests for the SCRAM messages and keys (src/proto/scram.c): the
 * whole exchanges of RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256) run
 * through the server side (stored keys from the password, proof check, ServerSignature),
 * a table of client-first-messages, every prefix of the examples, Dovecot's stored
 * format (a `doveadm pw -s SCRAM-SHA-256 -p secret` line) and channel-binding checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/scram.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"

#define M(s) (const unsigned char *)(s), sizeof(s) - 1

struct vector {
	enum scram_hash h;
	const char *client_first, *server_first, *client_final, *server_final;
	const char *salt_b64, *snonce;
	uint32_t iter;
};

static const struct vector vectors[] = {
	/* RFC 5802 §5 */
	{ SCRAM_SHA1, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j", 4096 },
	/* RFC 7677 §3 */
	{ SCRAM_SHA256, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
	  "i=4096",
	  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "W22ZaJ0SNY7soEsUEjb6gQ==",
	  "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", 4096 },
};

/* The server's side of a whole exchange, as login and auth run it. */
static void
test_vectors(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(vectors); i++) {
		const struct vector *v = &vectors[i];
		struct scram_client_first cf;
		struct scram_client_final f;
		struct scram_stored st, parsed;
		unsigned char salt[64], sig[SCRAM_KEY_MAX];
		char sfirst[512], nonce[256], *stored;
		const char *err;
		size_t salt_len, hl = scram_hash_len(v->h);
		struct buf am, sf;

		assert_int_equal(scram_parse_client_first((const unsigned char *)v->client_first,
		    strlen(v->client_first), &cf, &err), 0);
		assert_string_equal(cf.user, "user");
		assert_int_equal(cf.cbflag, SCRAM_CB_NONE);
		assert_int_equal(cf.gs2_len, 3);
		assert_int_equal(base64_decode(v->salt_b64, strlen(v->salt_b64), BASE64_STRICT,
		    salt, sizeof(salt), &salt_len), 0);
		snprintf(nonce, sizeof(nonce), "%s%s", cf.nonce, v->snonce);
		assert_int_equal(scram_build_server_first(sfirst, sizeof(sfirst), nonce,
		    strlen(nonce), salt, salt_len, v->iter), (int)strlen(v->server_first));
		assert_string_equal(sfirst, v->server_first);
		assert_int_equal(scram_parse_client_final((const unsigned char *)v->client_final,
		    strlen(v->client_final), hl, &f, &err), 0);
		assert_int_equal(scram_check_final(&f, (const unsigned char *)v->client_final,
		    (const unsigned char *)v->client_first, cf.gs2_len, nonce, strlen(nonce),
		    NULL, 0, &err), 0);
		/* a nonce that is not ours */
		assert_int_equal(scram_check_final(&f, (const unsigned char *)v->client_final,
		    (const unsigned char *)v->client_first, cf.gs2_len, "x", 1, NULL, 0, &err), -1);
		/* channel binding data the client did not bind to */
		assert_int_equal(scram_check_final(&f, (const unsigned char *)v->client_final,
		    (const unsigned char *)v->client_first, cf.gs2_len, nonce, strlen(nonce),
		    M("0123456789abcdef"), &err), -1);
		/* AuthMessage = client-first-bare "," server-first "," client-final-w/o-proof */
		buf_init(&am, BUF_UNLIMITED);
		buf_append_str(&am, v->client_first + cf.gs2_len);
		buf_append_c(&am, ',');
		buf_append_str(&am, sfirst);
		buf_append_c(&am, ',');
		buf_append(&am, v->client_final, f.without_proof_len);
		assert_int_equal(scram_stored_derive(v->h, "pencil", 6, salt, salt_len, v->iter,
		    &st), 0);
		/* the stored form round-trips through Dovecot's notation */
		stored = scram_stored_format(&st);
		assert_int_equal(scram_stored_parse(v->h, strchr(stored, '}') + 1,
		    strlen(strchr(stored, '}') + 1), &parsed), 0);
		assert_memory_equal(parsed.stored_key, st.stored_key, hl);
		assert_memory_equal(parsed.server_key, st.server_key, hl);
		assert_int_equal(parsed.iter, v->iter);
		free(stored);
		assert_int_equal(scram_verify_proof(&st, (const unsigned char *)am.data, am.len,
		    f.proof, f.proof_len, sig), 1);
		buf_init(&sf, BUF_UNLIMITED);
		buf_append_str(&sf, "v=");
		base64_encode(sig, hl, &sf);
		assert_string_equal(buf_cstr(&sf), v->server_final);
		/* one bit of the proof flipped: refused */
		f.proof[0] ^= 1;
		assert_int_equal(scram_verify_proof(&st, (const unsigned char *)am.data, am.len,
		    f.proof, f.proof_len, sig), 0);
		/* PLAIN against SCRAM credentials */
		assert_int_equal(scram_password_matches(&st, "pencil", 6), 1);
		assert_int_equal(scram_password_matches(&st, "pencil2", 7), 0);
		/* the client side gives the RFC's proof */
		{
			unsigned char proof[SCRAM_KEY_MAX], sig2[SCRAM_KEY_MAX];

			f.proof[0] ^= 1;
			assert_int_equal(scram_client_proof(v->h, "pencil", 6, salt, salt_len,
			    v->iter, (const unsigned char *)am.data, am.len, proof, sig2), 0);
			assert_memory_equal(proof, f.proof, hl);
			assert_memory_equal(sig2, sig, hl);
		}
		buf_deinit(&sf);
		buf_deinit(&am);
	}
}

struct fcase {
	const char *msg;
	int ret;
	const char *user;
	enum scram_cbflag cb;
};

static const struct fcase firsts[] = {
	{ "n,,n=user,r=abc", 0, "user", SCRAM_CB_NONE },
	{ "y,,n=user,r=abc", 0, "user", SCRAM_CB_NOT_OFFERED },
	{ "p=tls-exporter,,n=user,r=abc", 0, "user", SCRAM_CB_USED },
	{ "n,a=user,n=user,r=abc", 0, "user", SCRAM_CB_NONE },
	{ "n,,n=a=2Cb=3Dc,r=abc", 0, "a,b=c", SCRAM_CB_NONE },
	{ "n,,n=user,r=abc,x=ext", 0, "user", SCRAM_CB_NONE },
	{ "n,,m=x,n=user,r=abc", -1, NULL, 0 },		/* mandatory extension */
	{ "n,,n=a=2cb,r=abc", -1, NULL, 0 },		/* lower-case escape */
	{ "n,,n=a=b,r=abc", -1, NULL, 0 },		/* bare '=' */
	{ "n,,n=a=2", -1, NULL, 0 },
	{ "n,,n=,r=abc", -1, NULL, 0 },
	{ "n,,n=user,r=", -1, NULL, 0 },
	{ "n,,n=user", -1, NULL, 0 },
	{ "n,,n=user,r=abc,", -1, NULL, 0 },
	{ "n,,r=abc,n=user", -1, NULL, 0 },
	{ "x,,n=user,r=abc", -1, NULL, 0 },
	{ "p=,,n=user,r=abc", -1, NULL, 0 },
	{ "p=tls_exporter,,n=user,r=abc", -1, NULL, 0 },
	{ "n,n=user,r=abc", -1, NULL, 0 },
	{ "n,,n=user,r=a\x7f", -1, NULL, 0 },
	{ "", -1, NULL, 0 },
	{ "n", -1, NULL, 0 },
	{ "n,,", -1, NULL, 0 },
};

static void
test_client_first(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(firsts); i++) {
		struct scram_client_first cf;
		const char *err;
		int r = scram_parse_client_first((const unsigned char *)firsts[i].msg,
		    strlen(firsts[i].msg), &cf, &err);

		if (r != firsts[i].ret)
			fail_msg("case %zu (%s): %d", i, firsts[i].msg, r);
		if (r == 0) {
			assert_string_equal(cf.user, firsts[i].user);
			assert_int_equal(cf.cbflag, firsts[i].cb);
		}
	}
}

static void
test_limits(void **state)
{
	unsigned char msg[SCRAM_MSG_MAX + 16];
	struct scram_client_first cf;
	const char *err;
	size_t n;

	/* a user name of SCRAM_USER_MAX octets fits, one more does not */
	memcpy(msg, "n,,n=", 5);
	memset(msg + 5, 'u', SCRAM_USER_MAX);
	memcpy(msg + 5 + SCRAM_USER_MAX, ",r=abc", 6);
	assert_int_equal(scram_parse_client_first(msg, 5 + SCRAM_USER_MAX + 6, &cf, &err), 0);
	memcpy(msg, "n,,n=", 5);
	memset(msg + 5, 'u', SCRAM_USER_MAX + 1);
	memcpy(msg + 5 + SCRAM_USER_MAX + 1, ",r=abc", 6);
	assert_int_equal(scram_parse_client_first(msg, 5 + SCRAM_USER_MAX + 7, &cf, &err), -1);
	/* the nonce too */
	memcpy(msg, "n,,n=u,r=", 9);
	memset(msg + 9, 'r', SCRAM_NONCE_MAX + 1);
	assert_int_equal(scram_parse_client_first(msg, 9 + SCRAM_NONCE_MAX, &cf, &err), 0);
	assert_int_equal(scram_parse_client_first(msg, 9 + SCRAM_NONCE_MAX + 1, &cf, &err), -1);
	/* a NUL in the user name */
	assert_int_equal(scram_parse_client_first(M("n,,n=u\0v,r=abc"), &cf, &err), -1);
	/* every prefix of the examples: no read past the end, and only the whole one parses */
	for (size_t v = 0; v < N_ELEMENTS(vectors); v++) {
		const char *s = vectors[v].client_final;
		struct scram_client_final f;

		n = strlen(s);
		for (size_t i = 0; i < n; i++) {
			unsigned char *copy = malloc(i + 1);

			memcpy(copy, s, i);
			assert_int_equal(scram_parse_client_final(copy, i,
			    scram_hash_len(vectors[v].h), &f, &err), -1);
			free(copy);
		}
		s = vectors[v].client_first;
		n = strlen(s);
		for (size_t i = 0; i < n; i++) {
			unsigned char *copy = malloc(i + 1);

			memcpy(copy, s, i);
			/* a prefix ending inside the nonce is itself valid */
			(void)scram_parse_client_first(copy, i, &cf, &err);
			free(copy);
		}
	}
}

static void
test_client_final(void **state)
{
	struct scram_client_final f;
	const char *err;

	/* proof of the wrong length for SHA-256 (a SHA-1 proof) */
	assert_int_equal(scram_parse_client_final(M("c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
	    32, &f, &err), -1);
	assert_int_equal(scram_parse_client_final(M("c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
	    20, &f, &err), 0);
	assert_int_equal(scram_parse_client_final(M("r=abc,c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
	    20, &f, &err), -1);
	assert_int_equal(scram_parse_client_final(M("c=biws,r=abc,x=1,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
	    20, &f, &err), 0);
	assert_int_equal(scram_parse_client_final(M("c=bi!s,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
	    20, &f, &err), -1);
	assert_int_equal(scram_parse_client_final(M("c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts"),
	    20, &f, &err), -1);
}

/* A line `doveadm pw -s SCRAM-SHA-256 -p secret` printed (Dovecot 2.3). */
static void
test_dovecot_format(void **state)
{
	static const char line[] = "4096,6DrBLzq5dG/wtq1QQmTGkw==,"
	    "yiBrObEy5IfXgLLCtrElt9qqxrReRfv0jVFDwBZrGgQ=,"
	    "g5vPpn0/2zfDVgSD/mEgnkOafcD8OFtVshtNsC8ww9Y=";
	static const char sha1[] = "4096,WkT0jp4/Rz5mCrPYpekcSQ==,vE2UfDTpd7BT/AKJDs13M638r/g=,"
	    "kNtaugRL+uZDvDUSIhzH3BM8QDQ=";
	struct scram_stored st;

	assert_int_equal(scram_stored_parse(SCRAM_SHA256, line, strlen(line), &st), 0);
	assert_int_equal(st.iter, 4096);
	assert_int_equal(st.salt_len, 16);
	assert_int_equal(scram_password_matches(&st, "secret", 6), 1);
	assert_int_equal(scram_password_matches(&st, "Secret", 6), 0);
	assert_int_equal(scram_stored_parse(SCRAM_SHA1, sha1, strlen(sha1), &st), 0);
	assert_int_equal(scram_password_matches(&st, "secret", 6), 1);
	/* malformed: key of the other hash's length, missing fields, zero iterations */
	assert_int_equal(scram_stored_parse(SCRAM_SHA256, sha1, strlen(sha1), &st), -1);
	assert_int_equal(scram_stored_parse(SCRAM_SHA256, "4096,abc", 8, &st), -1);
	assert_int_equal(scram_stored_parse(SCRAM_SHA256, line + 4, strlen(line) - 4, &st), -1);
	assert_int_equal(scram_stored_parse(SCRAM_SHA256, "0", 1, &st), -1);
}

static void
test_mech(void **state)
{
	enum scram_hash h;
	bool plus;

	assert_int_equal(scram_mech_parse("scram-sha-256-plus", 18, &h, &plus), 1);
	assert_int_equal(h, SCRAM_SHA256);
	assert_true(plus);
	assert_int_equal(scram_mech_parse("SCRAM-SHA-1", 11, &h, &plus), 1);
	assert_int_equal(h, SCRAM_SHA1);
	assert_false(plus);
	assert_int_equal(scram_mech_parse("PLAIN", 5, &h, &plus), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_client_first),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_client_final),
		cmocka_unit_test(test_dovecot_format),
		cmocka_unit_test(test_mech),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
