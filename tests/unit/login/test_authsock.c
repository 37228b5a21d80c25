/*
 * test_authsock.c — the auth_listen and socketmap_listen front ends of the login process
 * (src/login/auth_login.c, socketmap_login.c) through the fake plumbing of login_fake.c
 * (no sockets, no master): the handshake; PLAIN and LOGIN dialogues fed whole, split at
 * every offset and byte by byte (same replies, same checks sent to the master); the
 * answers (OK with an escaped name, FAIL, temporary failure); client errors that close
 * the connection and those that fail one request; the 64-request bound the master
 * enforces; SCRAM-SHA-256 per request (salt round trip, proof with the AuthMessage,
 * server-final as the last CONT, OK after the empty answer); the socketmap's one
 * request at a time, its answers and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login_fake.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"

#define HELLO "VERSION\t1\t0\nCPID\t42\n"
/* base64 of "\0demo\0secret", "demo", "secret" */
#define PLAIN_DEMO "AGRlbW8Ac2VjcmV0"
#define B64_DEMO "ZGVtbw=="
#define B64_SECRET "c2VjcmV0"

static char *
take(struct login_fake *f)
{
	return login_fake_take_output(f, NULL);
}

static void
send_str(struct login_fake *f, const char *s)
{
	assert_int_equal(login_fake_send(f, s, strlen(s)), strlen(s));
}

/* A connection past the handshake (the greeting is dropped). */
static void
start(struct login_fake *f, bool cleartext)
{
	login_fake_init(f, &auth_login_ops, cleartext, false, false);
	free(take(f));
	send_str(f, HELLO);
	assert_int_equal(f->c.state, LC_CMD);
}

static void
test_greeting(void **state)
{
	struct login_fake f;
	char *out, want[64];

	(void)state;
	login_fake_init(&f, &auth_login_ops, false, false, false);
	out = take(&f);
	assert_true(strncmp(out, "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
	    "SPID\t", 54) == 0);
	snprintf(want, sizeof(want), "\nCUID\t%u\nCOOKIE\t", f.c.conn_id);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\nDONE\n"));
	assert_int_equal(strlen(strstr(out, "COOKIE\t")), strlen("COOKIE\t") + 32 + 1 + 5);
	free(out);
	login_fake_deinit(&f);
}

struct dialogue {
	const char *name;
	const char *in;
	const char *out;	/* before the master's answer */
	const char *user, *pass, *ip, *mech;
	bool secured;
};

static const struct dialogue dialogues[] = {
	{ "plain ir", "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=192.0.2.5\t"
	  "secured\tresp=" PLAIN_DEMO "\n", "", "demo", "secret", "192.0.2.5", "PLAIN", true },
	{ "plain cont", "AUTH\t2\tplain\tservice=smtp\tlip=::1\trip=::1\nCONT\t2\t" PLAIN_DEMO
	  "\n", "CONT\t2\t\n", "demo", "secret", "::1", "PLAIN", false },
	{ "login", "AUTH\t3\tLOGIN\tservice=smtp\trip=0:0::1\tlip=::1\nCONT\t3\t" B64_DEMO
	  "\r\nCONT\t3\t" B64_SECRET "\n", "CONT\t3\tVXNlcm5hbWU6\nCONT\t3\tUGFzc3dvcmQ6\n",
	  "demo", "secret", "::1", "LOGIN", false },
	{ "login ir", "AUTH\t4\tLOGIN\tservice=smtp\tresp=" B64_DEMO "\nCONT\t4\t" B64_SECRET
	  "\n", "CONT\t4\tUGFzc3dvcmQ6\n", "demo", "secret", "local", "LOGIN", false },
};

static void
run_dialogue(const struct dialogue *d, size_t cut, size_t step)
{
	struct login_fake f;
	size_t len = strlen(d->in), off = 0;
	char *out;

	start(&f, false);
	while (off < len) {
		size_t n = len - off;

		if (cut != 0 && off < cut)
			n = cut - off;
		else if (step != 0 && n > step)
			n = step;
		assert_int_equal(login_fake_send(&f, d->in + off, n), n);
		off += n;
	}
	out = take(&f);
	assert_string_equal(out, d->out);
	free(out);
	assert_int_equal(f.verifies, 1);
	assert_int_equal(f.noutstanding, 1);
	assert_string_equal(f.user, d->user);
	assert_string_equal(f.pass, d->pass);
	assert_string_equal(f.ip, d->ip);
	assert_string_equal(f.mech, d->mech);
	assert_int_equal(f.secured, d->secured);
	login_fake_verified(&f, f.outstanding[0], IPC_AUTH_OK, "demo");
	out = take(&f);
	assert_non_null(strstr(out, "\tuser=demo\n"));
	assert_true(strncmp(out, "OK\t", 3) == 0);
	free(out);
	assert_int_equal(f.c.state, LC_CMD);
	login_fake_deinit(&f);
}

static void
test_dialogues(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(dialogues); i++) {
		size_t len = strlen(dialogues[i].in);

		run_dialogue(&dialogues[i], 0, 0);
		for (size_t cut = 1; cut < len; cut++)
			run_dialogue(&dialogues[i], cut, 0);
		run_dialogue(&dialogues[i], 0, 1);
	}
}

static void
test_answers(void **state)
{
	struct login_fake f;
	char *out;

	(void)state;
	start(&f, true);
	send_str(&f, "AUTH\t7\tPLAIN\tservice=smtp\tresp=" PLAIN_DEMO "\n"
	    "AUTH\t8\tPLAIN\tservice=smtp\tresp=" PLAIN_DEMO "\n"
	    "AUTH\t9\tPLAIN\tservice=smtp\tresp=" PLAIN_DEMO "\n");
	assert_int_equal(f.noutstanding, 3);
	login_fake_verified(&f, 8, IPC_AUTH_FAIL, "");
	login_fake_verified(&f, 9, IPC_AUTH_TEMPFAIL, "");
	/* a name the protocol cannot carry as it is gets \001 escapes */
	login_fake_verified(&f, 7, IPC_AUTH_OK, "we\tird\n");
	out = take(&f);
	assert_string_equal(out, "FAIL\t8\treason=Authentication failed\n"
	    "FAIL\t9\ttemp\treason=Temporary authentication failure\n"
	    "OK\t7\tuser=we\001tird\001n\n");
	free(out);
	/* the ids are free again */
	send_str(&f, "AUTH\t7\tPLAIN\tservice=smtp\n");
	out = take(&f);
	assert_string_equal(out, "CONT\t7\t\n");
	free(out);
	login_fake_deinit(&f);
}

struct bad {
	const char *in;
	size_t len;
	bool closes;		/* else: one FAIL for the request, the connection stays */
	const char *out;
};

static const struct bad bads[] = {
	{ "FOO\t1\n", 0, true, "" },
	{ "AUTH\t1\tPL\0AIN\tservice=smtp\n", 27, true, "" },
	{ "AUTH\tx\tPLAIN\tservice=smtp\n", 0, true, "" },
	{ "AUTH\t1\tPLAIN\n", 0, true, "" },
	{ "AUTH\t1\tLOGIN\tservice=smtp\nAUTH\t1\tPLAIN\tservice=smtp\n", 0, true,
	  "CONT\t1\tVXNlcm5hbWU6\n" },
	{ "VERSION\t1\t0\n", 0, true, "" },
	{ "CPID\t7\n", 0, true, "" },
	{ "AUTH\t1\tPLAIN\tservice=smtp\tresp=" PLAIN_DEMO "\nCONT\t1\tAAAA\n", 0, true, "" },
	{ "AUTH\t1\tPLAIN\tservice=smtp\tresp=!!\n", 0, false,
	  "FAIL\t1\treason=Invalid PLAIN response\n" },
	{ "AUTH\t1\tLOGIN\tservice=smtp\nCONT\t1\t*\n", 0, false,
	  "CONT\t1\tVXNlcm5hbWU6\nFAIL\t1\treason=Authentication aborted\n" },
	{ "AUTH\t1\tCRAM-MD5\tservice=smtp\n", 0, false,
	  "FAIL\t1\treason=Unsupported authentication mechanism\n" },
	{ "AUTH\t1\tPLAIN\tservice=smtp\trip=300.1.1.1\n", 0, false,
	  "FAIL\t1\treason=Invalid rip\n" },
	{ "AUTH\t1\tPLAIN\tservice=smtp\trip=192.0.2.1\tlip=127.0.0.1\n", 0, false,
	  "FAIL\t1\treason=Plaintext authentication disallowed on non-secure (SSL/TLS) "
	  "connections\n" },
	{ "CONT\t5\tAAAA\n", 0, false, "FAIL\t5\treason=Unknown or timed out request\n" },
	{ "AUTH\t1\tPLAIN\tservice=smtp\tresp=YWRtaW4AZGVtbwBzZWNyZXQ=\n", 0, false,
	  "FAIL\t1\treason=Authorization failed\n" },
};

static void
test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bads); i++) {
		const struct bad *b = &bads[i];
		struct login_fake f;
		size_t len = b->len != 0 ? b->len : strlen(b->in);
		char *out;

		start(&f, false);
		(void)login_fake_send(&f, b->in, len);
		out = take(&f);
		assert_string_equal(out, b->out);
		free(out);
		assert_int_equal(f.c.state, b->closes ? LC_CLOSING : LC_CMD);
		if (!b->closes)
			assert_int_equal(f.verifies, 0);
		login_fake_deinit(&f);
	}
}

static void
test_too_long(void **state)
{
	struct login_fake f;
	char *big = malloc(20000);

	(void)state;
	memset(big, 'A', 20000);
	start(&f, false);
	(void)login_fake_send(&f, big, 20000);
	assert_int_equal(f.c.state, LC_CLOSING);
	login_fake_deinit(&f);
	/* before the client's VERSION: anything else closes */
	login_fake_init(&f, &auth_login_ops, false, false, false);
	(void)login_fake_send(&f, "CPID\t1\n", 7);
	assert_int_equal(f.c.state, LC_CLOSING);
	login_fake_deinit(&f);
	login_fake_init(&f, &auth_login_ops, false, false, false);
	(void)login_fake_send(&f, "VERSION\t2\t0\n", 12);
	assert_int_equal(f.c.state, LC_CLOSING);
	login_fake_deinit(&f);
	free(big);
}

/* The master allows IPC_VERIFY_MAX checks per connection: the front end stays below. */
static void
test_bound(void **state)
{
	struct login_fake f;
	char line[128], *out;
	unsigned fails = 0;

	(void)state;
	start(&f, true);
	for (unsigned i = 0; i < IPC_VERIFY_MAX + 6; i++) {
		snprintf(line, sizeof(line), "AUTH\t%u\tPLAIN\tservice=smtp\tresp=" PLAIN_DEMO "\n",
		    100 + i);
		send_str(&f, line);
	}
	assert_int_equal(f.noutstanding, IPC_VERIFY_MAX);
	out = take(&f);
	for (char *p = out; (p = strstr(p, "FAIL\t")) != NULL; p++)
		fails++;
	assert_int_equal(fails, 6);
	assert_non_null(strstr(out, "temp\treason=Too many requests in progress"));
	free(out);
	/* an answer frees a slot */
	login_fake_verified(&f, 100, IPC_AUTH_OK, "demo");
	send_str(&f, "AUTH\t1\tPLAIN\tservice=smtp\tresp=" PLAIN_DEMO "\n");
	assert_int_equal(f.noutstanding, IPC_VERIFY_MAX);
	/* requests waiting for the client are evicted, oldest first, not refused */
	login_fake_deinit(&f);
	start(&f, true);
	for (unsigned i = 0; i < IPC_VERIFY_MAX + 2; i++) {
		snprintf(line, sizeof(line), "AUTH\t%u\tLOGIN\tservice=smtp\n", i + 1);
		send_str(&f, line);
	}
	out = take(&f);
	assert_non_null(strstr(out, "FAIL\t1\treason=Authentication request timed out\n"));
	assert_non_null(strstr(out, "FAIL\t2\treason=Authentication request timed out\n"));
	assert_null(strstr(out, "FAIL\t3\t"));
	free(out);
	login_fake_deinit(&f);
}

/* ------------------------------------------------------------------ socketmap */

static void
test_socketmap(void **state)
{
	struct login_fake f;
	char *out;

	(void)state;
	login_fake_init(&f, &socketmap_login_ops, false, false, false);
	out = take(&f);
	assert_string_equal(out, "");
	free(out);
	/* pipelined: one lookup at a time */
	send_str(&f, "23:buzon alice@example.org,9:buzon bob,12:buzon @x.org,"
	    "11:virtual bob,");
	assert_int_equal(f.lookups, 1);
	assert_string_equal(f.address, "alice@example.org");
	login_fake_verified(&f, f.outstanding[0], IPC_AUTH_OK, "alice");
	assert_int_equal(f.lookups, 2);
	assert_string_equal(f.address, "bob");
	login_fake_verified(&f, f.outstanding[0], IPC_AUTH_FAIL, "");
	out = take(&f);
	assert_string_equal(out, "8:OK alice,9:NOTFOUND ,9:NOTFOUND ,"
	    "46:PERM unknown map name (buzon has only \"buzon\"),");
	free(out);
	assert_int_equal(f.lookups, 2);
	send_str(&f, "9:buzon bob,");
	login_fake_verified(&f, f.outstanding[0], IPC_AUTH_TEMPFAIL, "");
	out = take(&f);
	assert_string_equal(out, "18:TEMP lookup failed,");
	free(out);
	assert_int_equal(f.c.state, LC_CMD);
	(void)login_fake_send(&f, "07:buzon a,", 11);
	assert_int_equal(f.c.state, LC_CLOSING);
	login_fake_deinit(&f);
}

/* ------------------------------------------------------------------ quota policy */

static void
test_quota_policy(void **state)
{
	struct login_fake f;
	char *out;

	(void)state;
	login_fake_init(&f, &quota_policy_login_ops, false, false, false);
	out = take(&f);
	assert_string_equal(out, "");
	free(out);
	/* pipelined: one check at a time; no recipient and a domain are not asked */
	send_str(&f, "request=smtpd_access_policy\nrecipient=alice@example.org\nsize=123\n\n"
	    "recipient=bob\n\nrecipient=\n\nrecipient=@x.org\n\nrecipient=carol\n\n");
	assert_int_equal(f.lookups, 1);
	assert_string_equal(f.address, "alice@example.org");
	assert_true(f.size == 123);
	login_fake_verified(&f, f.outstanding[0], IPC_DELIVER_OVERQUOTA, "");
	assert_int_equal(f.lookups, 2);
	assert_string_equal(f.address, "bob");
	assert_true(f.size == 0);
	login_fake_verified(&f, f.outstanding[0], IPC_DELIVER_NOUSER, "");
	assert_int_equal(f.lookups, 3);
	assert_string_equal(f.address, "carol");
	login_fake_verified(&f, f.outstanding[0], IPC_DELIVER_TEMPFAIL, "");
	out = take(&f);
	assert_string_equal(out, "action=552 5.2.2 Mailbox is full\n\naction=DUNNO\n\n"
	    "action=DUNNO\n\naction=DUNNO\n\n"
	    "action=DEFER_IF_PERMIT 4.3.0 Temporary quota lookup failure\n\n");
	free(out);
	send_str(&f, "recipient=dave\n\n");
	login_fake_verified(&f, f.outstanding[0], IPC_DELIVER_OK, "");
	out = take(&f);
	assert_string_equal(out, "action=DUNNO\n\n");
	free(out);
	assert_int_equal(f.c.state, LC_CMD);
	(void)login_fake_send(&f, "recipient\n\n", 12);
	assert_int_equal(f.c.state, LC_CLOSING);
	login_fake_deinit(&f);
}

/* base64 of s into a static buffer (tests only) */
static const char *
b64(const void *s, size_t len)
{
	static char out[1024];
	struct buf b;

	buf_init(&b, sizeof(out) - 1);
	assert_int_equal(base64_encode(s, len, &b), 0);
	memcpy(out, b.data, b.len);
	out[b.len] = '\0';
	buf_deinit(&b);
	return out;
}

/* The CONT challenge of request id in out, decoded (NUL-terminated) into dec. */
static void
cont_decoded(const char *out, unsigned id, char *dec, size_t size)
{
	char prefix[32];
	size_t n = 0;
	const char *p;

	snprintf(prefix, sizeof(prefix), "CONT\t%u\t", id);
	assert_true(strncmp(out, prefix, strlen(prefix)) == 0);
	p = out + strlen(prefix);
	assert_int_equal(base64_decode(p, strcspn(p, "\n"), BASE64_STRICT,
	    (unsigned char *)dec, size - 1, &n), 0);
	dec[n] = '\0';
}

/*
 * SCRAM-SHA-256 on the socket (RFC 5802 §5, RFC 7677 §3 client-first): AUTH with the
 * client-first as resp=, the salt asked for that request, server-first in a CONT,
 * client-final checked for the nonce and sent with the AuthMessage as a verify, auth's
 * ServerSignature as a last CONT and OK after the client's empty answer (Dovecot's way
 * when the client did not say final-resp-ok).
 */
static void
test_scram(void **state)
{
	static const char first[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	static const unsigned char salt[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	    14, 15, 16 };
	unsigned char proof[32], sig[32];
	char line[1024], dec[512], final[512], am[1024], *out;
	const char *nonce;
	struct login_fake f;
	size_t nlen;

	(void)state;
	memset(proof, 0x5a, sizeof(proof));
	memset(sig, 0xa5, sizeof(sig));
	login_fake_init(&f, &auth_login_ops, false, false, false);
	out = take(&f);
	/* offered (auth_scram = yes in the fakes), never -PLUS: no TLS session here */
	assert_non_null(strstr(out, "\nMECH\tSCRAM-SHA-1\tmutual-auth\n"
	    "MECH\tSCRAM-SHA-256\tmutual-auth\n"));
	assert_null(strstr(out, "PLUS"));
	free(out);
	send_str(&f, HELLO);
	/* not plaintext: allowed where PLAIN is not (no TLS, another host) */
	snprintf(line, sizeof(line), "AUTH\t5\tSCRAM-SHA-256\tservice=smtp\trip=192.0.2.5\t"
	    "lip=192.0.2.1\tresp=%s\n", b64(first, strlen(first)));
	send_str(&f, line);
	assert_string_equal((out = take(&f)), "");
	free(out);
	assert_int_equal(f.scram_waits, 1);
	assert_int_equal(f.noutstanding, 1);
	assert_int_equal(f.outstanding[0], 5);
	assert_string_equal(f.user, "user");
	login_fake_scram_req_params(&f, 5, IPC_AUTH_OK, salt, sizeof(salt), 4096);
	out = take(&f);
	cont_decoded(out, 5, dec, sizeof(dec));
	free(out);
	assert_true(strncmp(dec, "r=rOprNGfwEbeRWgbNEkqO", 22) == 0);
	assert_non_null(strstr(dec, ",s=AQIDBAUGBwgJCgsMDQ4PEA==,i=4096"));
	nonce = dec + 2;
	nlen = strcspn(nonce, ",");
	assert_true(nlen > 20);
	snprintf(final, sizeof(final), "c=biws,r=%.*s,p=%s", (int)nlen, nonce,
	    b64(proof, sizeof(proof)));
	snprintf(line, sizeof(line), "CONT\t5\t%s\n", b64(final, strlen(final)));
	send_str(&f, line);
	assert_string_equal((out = take(&f)), "");
	free(out);
	/* the proof, then the AuthMessage (RFC 5802 §3) */
	assert_int_equal(f.verifies, 1);
	assert_string_equal(f.mech, "SCRAM-SHA-256");
	assert_string_equal(f.ip, "192.0.2.5");
	assert_memory_equal(f.pass, proof, sizeof(proof));
	snprintf(am, sizeof(am), "%s,%s,c=biws,r=%.*s", first + 3, dec, (int)nlen, nonce);
	assert_int_equal(f.plen, sizeof(proof) + strlen(am));
	assert_memory_equal(f.pass + sizeof(proof), am, strlen(am));
	login_fake_verified_sig(&f, 5, IPC_AUTH_OK, "user@example.org", sig, sizeof(sig));
	out = take(&f);
	cont_decoded(out, 5, dec, sizeof(dec));
	free(out);
	assert_string_equal(dec, "v=paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=");
	send_str(&f, "CONT\t5\t\n");
	assert_string_equal((out = take(&f)), "OK\t5\tuser=user@example.org\n");
	free(out);

	/* a wrong proof: FAIL as for PLAIN; a -PLUS mechanism is not offered here */
	send_str(&f, "AUTH\t6\tSCRAM-SHA-1\tservice=smtp\n");
	assert_string_equal((out = take(&f)), "CONT\t6\t\n");
	free(out);
	snprintf(line, sizeof(line), "CONT\t6\t%s\nAUTH\t7\tSCRAM-SHA-256-PLUS\t"
	    "service=smtp\n", b64(first, strlen(first)));
	send_str(&f, line);
	out = take(&f);
	assert_string_equal(out, "FAIL\t7\treason=Unsupported authentication mechanism\n");
	free(out);
	login_fake_scram_req_params(&f, 6, IPC_AUTH_OK, salt, sizeof(salt), 4096);
	out = take(&f);
	cont_decoded(out, 6, dec, sizeof(dec));
	free(out);
	nonce = dec + 2;
	nlen = strcspn(nonce, ",");
	snprintf(final, sizeof(final), "c=biws,r=%.*s,p=%s", (int)nlen, nonce,
	    b64(proof, 20));
	snprintf(line, sizeof(line), "CONT\t6\t%s\n", b64(final, strlen(final)));
	send_str(&f, line);
	login_fake_verified_sig(&f, 6, IPC_AUTH_FAIL, "", NULL, 0);
	assert_string_equal((out = take(&f)), "FAIL\t6\treason=Authentication failed\n");
	free(out);

	/* a nonce that is not ours: FAIL before auth is asked; a non-empty last answer */
	send_str(&f, "AUTH\t8\tSCRAM-SHA-256\tservice=smtp\n");
	free(take(&f));
	snprintf(line, sizeof(line), "CONT\t8\t%s\n", b64(first, strlen(first)));
	send_str(&f, line);
	login_fake_scram_req_params(&f, 8, IPC_AUTH_OK, salt, sizeof(salt), 4096);
	free(take(&f));
	snprintf(final, sizeof(final), "c=biws,r=rOprNGfwEbeRWgbNEkqOxxxx,p=%s",
	    b64(proof, sizeof(proof)));
	snprintf(line, sizeof(line), "CONT\t8\t%s\n", b64(final, strlen(final)));
	send_str(&f, line);
	out = take(&f);
	assert_true(strncmp(out, "FAIL\t8\treason=", 14) == 0);
	free(out);
	assert_int_equal(f.verifies, 2);
	assert_int_equal(f.noutstanding, 0);
	/* a CONT while the salt is asked for breaks the protocol: the connection closes */
	send_str(&f, "AUTH\t9\tSCRAM-SHA-256\tservice=smtp\n");
	free(take(&f));
	snprintf(line, sizeof(line), "CONT\t9\t%s\n", b64(first, strlen(first)));
	send_str(&f, line);
	assert_int_equal(f.noutstanding, 1);
	send_str(&f, "CONT\t9\tYQ==\n");
	assert_int_equal(f.c.state, LC_CLOSING);
	login_fake_deinit(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_dialogues),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_scram),
		cmocka_unit_test(test_socketmap),
		cmocka_unit_test(test_quota_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
