/*
 * test_login.c — the pre-login front ends (src/login/imap_login.c, pop3_login.c) through
 * the fake plumbing of login_fake.c (link seams for login.c, no sockets): a table of
 * client dialogues (credential hand-over with the right tag, user and password; NUL
 * user names, literal8 and wrong arguments never handed over; plaintext refused without
 * TLS; pipelined bytes after a login kept for the mail process) fed whole, split at every
 * offset and byte by byte, which must give the same replies and the same hand-over; and
 * the multi-step cases: bytes pipelined behind STARTTLS/STLS discarded, three bad
 * commands or three failed logins end the connection, the SASL LOGIN and PLAIN dialogues.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "login_fake.h"
#include "lib/util.h"

enum { IMAP, POP3 };

#define X80 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

struct dcase {
	const char *name;
	int proto;
	bool cleartext;			/* auth_allow_cleartext = yes */
	const char *in;
	size_t inlen;			/* 0: strlen(in) */
	unsigned handovers;
	const char *tag, *mech, *user, *pass;	/* of the hand-over */
	size_t ulen;			/* 0: strlen(user) */
	enum lconn_state state;
	const char *out_has, *out_lacks;
	size_t pending;			/* input left for the mail process */
};

static const struct dcase cases[] = {
	/* OAuth (RFC 7628): the token goes to the master as the password */
	{ "imap oauthbearer sasl-ir", IMAP, true,
	  "a AUTHENTICATE OAUTHBEARER bixhPWFsaWNlLAFhdXRoPUJlYXJlciB0b2sBAQ==\r\n", 0, 1, "a",
	  "OAUTHBEARER", "alice", "tok", 0, LC_AUTH_WAIT, "AUTH=OAUTHBEARER AUTH=XOAUTH2", NULL, 0 },
	{ "imap oauthbearer without a=", IMAP, true,
	  "a AUTHENTICATE oauthbearer\r\nbiwsAWF1dGg9QmVhcmVyIHRvawEB\r\n", 0, 1, "a",
	  "OAUTHBEARER", "", "tok", 0, LC_AUTH_WAIT, "+ \r\n", NULL, 0 },
	{ "imap xoauth2", IMAP, true,
	  "a AUTHENTICATE XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgdDIBAQ==\r\n", 0, 1, "a",
	  "XOAUTH2", "bob", "t2", 0, LC_AUTH_WAIT, NULL, NULL, 0 },
	{ "imap oauthbearer not bearer", IMAP, true,
	  "a AUTHENTICATE OAUTHBEARER biwsAWF1dGg9QmFzaWMgeAEB\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CMD, "a NO [AUTHENTICATIONFAILED] Invalid OAUTHBEARER message.", NULL, 0 },
	{ "imap oauthbearer cancel", IMAP, true, "a AUTHENTICATE OAUTHBEARER\r\n*\r\n", 0, 0,
	  NULL, NULL, NULL, NULL, 0, LC_CMD, "a BAD Authentication aborted by client.", NULL, 0 },
	{ "pop3 xoauth2", POP3, true, "AUTH XOAUTH2\r\ndXNlcj1ib2IBYXV0aD1CZWFyZXIgdDIBAQ==\r\n",
	  0, 1, "", "XOAUTH2", "bob", "t2", 0, LC_AUTH_WAIT, "+ \r\n", NULL, 0 },
	{ "imap authenticate scram", IMAP, true,
	  "a AUTHENTICATE SCRAM-SHA-256 "
	  "biwsbj1hbGljZSxyPWFiYw==\r\n", 0, 0,
	  NULL, NULL, NULL, NULL, 0, LC_AUTH_WAIT, "AUTH=SCRAM-SHA-256", "PLUS", 0 },
	{ "imap authenticate scram two steps", IMAP, true,
	  "a AUTHENTICATE scram-sha-1\r\nbiwsbj1hbGljZSxyPWFiYw==\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_AUTH_WAIT, "+ \r\n", "a NO", 0 },
	{ "imap scram-plus without tls", IMAP, true, "a AUTHENTICATE SCRAM-SHA-256-PLUS\r\n",
	  0, 0, NULL, NULL, NULL, NULL, 0, LC_CMD, "a NO Unsupported", NULL, 0 },
	{ "imap scram binding without -plus", IMAP, true,
	  "a AUTHENTICATE SCRAM-SHA-256 "
	  "cD10bHMtZXhwb3J0ZXIsLG49YWxpY2Uscj1hYmM=\r\n",
	  0, 0, NULL, NULL, NULL, NULL, 0, LC_CMD, "a NO [AUTHENTICATIONFAILED]", NULL, 0 },
	{ "imap scram mandatory extension", IMAP, true,
	  "a AUTHENTICATE SCRAM-SHA-256 "
	  "biwsbT14LG49YWxpY2Uscj1hYmM=\r\n",
	  0, 0, NULL, NULL, NULL, NULL, 0, LC_CMD, "a NO [AUTHENTICATIONFAILED]", NULL, 0 },
	{ "imap scram other authzid", IMAP, true,
	  "a AUTHENTICATE SCRAM-SHA-256 "
	  "bixhPWFkbWluLG49YWxpY2Uscj1hYmM=\r\n",
	  0, 0, NULL, NULL, NULL, NULL, 0, LC_CMD, "a NO [AUTHENTICATIONFAILED]", NULL, 0 },
	{ "imap scram refused without tls", IMAP, false, "a AUTHENTICATE SCRAM-SHA-256\r\n",
	  0, 0, NULL, NULL, NULL, NULL, 0, LC_CMD, "a NO [PRIVACYREQUIRED]", "AUTH=SCRAM", 0 },
	{ "imap login", IMAP, true, "a LOGIN user pass\r\n", 0, 1, "a", "LOGIN", "user",
	  "pass", 0, LC_AUTH_WAIT, "* OK [CAPABILITY", NULL, 0 },
	{ "imap login quoted", IMAP, true, "tag1 login \"us er\" \"p\\\"w\"\r\n", 0, 1, "tag1",
	  "LOGIN", "us er", "p\"w", 0, LC_AUTH_WAIT, NULL, NULL, 0 },
	{ "imap login literal+", IMAP, true, "a LOGIN {4+}\r\nuser {3+}\r\npwd\r\n", 0, 1, "a",
	  "LOGIN", "user", "pwd", 0, LC_AUTH_WAIT, NULL, "+ OK", 0 },
	{ "imap login sync literal", IMAP, true, "a LOGIN {4}\r\nuser pwd\r\n", 0, 1, "a",
	  "LOGIN", "user", "pwd", 0, LC_AUTH_WAIT, "+ OK", NULL, 0 },
	{ "imap login pipelined", IMAP, true, "a LOGIN u p\r\nb SELECT INBOX\r\n", 0, 1, "a",
	  "LOGIN", "u", "p", 0, LC_AUTH_WAIT, NULL, "b ", 16 },
	{ "imap login after noop", IMAP, true, "a NOOP\r\nb LOGIN u p\r\n", 0, 1, "b", "LOGIN",
	  "u", "p", 0, LC_AUTH_WAIT, "a OK NOOP", NULL, 0 },
	{ "imap login NUL quoted", IMAP, true, "a LOGIN \"u\0x\" p\r\n", 17, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "a BAD Invalid characters in quoted string", NULL, 0 },
	{ "imap login NUL atom", IMAP, true, "a LOGIN u\0x p\r\n", 15, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CMD, "a BAD Invalid characters in atom", NULL, 0 },
	{ "imap login NUL literal", IMAP, true, "a LOGIN {3+}\r\nu\0x p\r\n", 21, 0, NULL,
	  NULL, NULL, NULL, 0, LC_CMD, "a BAD NUL in literal", "a OK", 0 },
	{ "imap login literal8", IMAP, true, "a LOGIN ~{1+}\r\nx p\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CMD, "a BAD Invalid LOGIN arguments.", "a OK", 0 },
	{ "imap login literal8 sync", IMAP, true, "a LOGIN ~{1}\r\nx p\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "a BAD Invalid LOGIN arguments.", "a OK", 0 },
	{ "imap login one arg", IMAP, true, "a LOGIN user\r\n", 0, 0, NULL, NULL, NULL, NULL,
	  0, LC_CMD, "a BAD Invalid LOGIN arguments.", NULL, 0 },
	{ "imap login list", IMAP, true, "a LOGIN (u) p\r\n", 0, 0, NULL, NULL, NULL, NULL,
	  0, LC_CMD, "a BAD", NULL, 0 },
	{ "imap login empty user", IMAP, true, "a LOGIN \"\" p\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CMD, "a NO [AUTHENTICATIONFAILED]", NULL, 0 },
	{ "imap login plaintext refused", IMAP, false, "a LOGIN u p\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "a NO [PRIVACYREQUIRED]", NULL, 0 },
	{ "imap logindisabled", IMAP, false, "a CAPABILITY\r\n", 0, 0, NULL, NULL, NULL, NULL,
	  0, LC_CMD, "LOGINDISABLED", "AUTH=PLAIN", 0 },
	{ "imap sasl-ir plain", IMAP, true, "x AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n", 0, 1,
	  "x", "PLAIN", "user", "pass", 0, LC_AUTH_WAIT, NULL, "+ ", 0 },
	{ "imap plain authzid other", IMAP, true,
	  "x AUTHENTICATE PLAIN YWRtaW4AdXNlcgBwYXNz\r\n", 0, 0, NULL, NULL, NULL, NULL, 0,
	  LC_CMD, "x NO [AUTHORIZATIONFAILED]", NULL, 0 },
	{ "imap plain authzid same", IMAP, true,
	  "x AUTHENTICATE PLAIN dXNlcgB1c2VyAHBhc3M=\r\n", 0, 1, "x", "PLAIN", "user", "pass",
	  0, LC_AUTH_WAIT, NULL, NULL, 0 },
	{ "imap plain two steps", IMAP, true, "x AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\n",
	  0, 1, "x", "PLAIN", "user", "pass", 0, LC_AUTH_WAIT, "+ \r\n", NULL, 0 },
	{ "imap sasl login", IMAP, true, "y AUTHENTICATE LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n", 0,
	  1, "y", "LOGIN", "user", "pass", 0, LC_AUTH_WAIT, "+ UGFzc3dvcmQ6", NULL, 0 },
	{ "imap sasl cancel", IMAP, true, "y AUTHENTICATE PLAIN\r\n*\r\nz NOOP\r\n", 0, 0,
	  NULL, NULL, NULL, NULL, 0, LC_CMD, "y BAD Authentication aborted", NULL, 0 },
	{ "imap sasl bad base64", IMAP, true, "y AUTHENTICATE PLAIN\r\n!!!\r\n", 0, 0, NULL,
	  NULL, NULL, NULL, 0, LC_CMD, "y BAD Invalid AUTHENTICATE response.", NULL, 0 },
	{ "imap sasl NUL user", IMAP, true, "y AUTHENTICATE LOGIN dQB4\r\ncA==\r\n", 0, 0,
	  NULL, NULL, NULL, NULL, 0, LC_CMD, "y BAD Invalid AUTHENTICATE response.", "y OK", 0 },
	{ "imap unknown mech", IMAP, true, "y AUTHENTICATE CRAM-MD5\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "y NO Unsupported", NULL, 0 },
	{ "imap select before login", IMAP, true, "s SELECT INBOX\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "s BAD Command not allowed", NULL, 0 },
	{ "imap unknown not echoed", IMAP, true, "GET / HTTP/1.1\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CMD, "* BAD Unknown command.", "GET", 0 },
	{ "imap logout", IMAP, true, "a LOGOUT\r\nb LOGIN u p\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CLOSING, "* BYE Logging out\r\na OK", NULL, 13 },
	{ "imap three bad", IMAP, true, "1\r\n2\r\n3\r\na LOGIN u p\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CLOSING, "* BYE Too many invalid commands.", NULL, 13 },
	{ "imap append literal", IMAP, true, "a APPEND INBOX {100000}\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "a NO [TOOBIG]", "+ OK", 0 },
	{ "imap starttls unavailable", IMAP, true, "a STARTTLS\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CMD, "a BAD TLS support isn't enabled.", NULL, 0 },
	{ "imap starttls with an argument", IMAP, true, "a STARTTLS foo\r\n", 0, 0, NULL,
	  NULL, NULL, NULL, 0, LC_CMD, "a BAD Unexpected arguments.", "* BAD", 0 },
	{ "imap capability with an argument", IMAP, true, "b CAPABILITY x\r\n", 0, 0, NULL,
	  NULL, NULL, NULL, 0, LC_CMD, "b BAD Unexpected arguments.", "* BAD", 0 },

	{ "pop3 user pass", POP3, true, "USER alice\r\nPASS secret word \r\n", 0, 1, "",
	  "USER", "alice", "secret word ", 0, LC_AUTH_WAIT, "+OK buzon ready.\r\n+OK\r\n",
	  NULL, 0 },
	{ "pop3 user pass pipelined", POP3, true, "user a\nPASS b\nSTAT\r\nLIST\r\n", 0, 1,
	  "", "USER", "a", "b", 0, LC_AUTH_WAIT, NULL, NULL, 12 },
	{ "pop3 pass without user", POP3, true, "PASS x\r\n", 0, 0, NULL, NULL, NULL, NULL,
	  0, LC_CMD, "-ERR No username given.", NULL, 0 },
	{ "pop3 user NUL", POP3, true, "USER a\0b\r\nPASS p\r\n", 18, 0, NULL, NULL, NULL,
	  NULL, 0, LC_CMD, "-ERR Invalid command (NUL).", NULL, 0 },
	/* the longest USER line (255 octets with CRLF) is handed over whole */
	{ "pop3 long user", POP3, true, "USER " X80 X80 X80 "xxxxxxxx\r\nPASS p\r\n", 0, 1,
	  "", "USER", X80 X80 X80 "xxxxxxxx", "p", 0, LC_AUTH_WAIT, NULL, "-ERR", 0 },
	{ "pop3 empty pass", POP3, true, "USER a\r\nPASS\r\n", 0, 0, NULL, NULL, NULL, NULL,
	  0, LC_CMD, "-ERR Invalid PASS arguments.", NULL, 0 },
	{ "pop3 plaintext refused", POP3, false, "USER a\r\nPASS b\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "-ERR [AUTH] Plaintext", NULL, 0 },
	{ "pop3 capa no user", POP3, false, "CAPA\r\n", 0, 0, NULL, NULL, NULL, NULL, 0,
	  LC_CMD, "IMPLEMENTATION buzon\r\n.\r\n", "USER\r\n", 0 },
	{ "pop3 auth plain ir", POP3, true, "AUTH PLAIN AGFsaWNlAHB3\r\n", 0, 1, "", "PLAIN",
	  "alice", "pw", 0, LC_AUTH_WAIT, NULL, NULL, 0 },
	{ "pop3 auth plain two steps", POP3, true, "AUTH PLAIN\r\nAGFsaWNlAHB3\r\n", 0, 1, "",
	  "PLAIN", "alice", "pw", 0, LC_AUTH_WAIT, "+ \r\n", NULL, 0 },
	{ "pop3 auth login", POP3, true, "AUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n", 0, 1, "",
	  "LOGIN", "user", "pass", 0, LC_AUTH_WAIT, "+ VXNlcm5hbWU6", NULL, 0 },
	{ "pop3 auth login NUL user", POP3, true, "AUTH LOGIN dQB4\r\ncA==\r\n", 0, 0, NULL,
	  NULL, NULL, NULL, 0, LC_CMD, "-ERR Invalid AUTH response.", NULL, 0 },
	{ "pop3 auth other authzid", POP3, true, "AUTH PLAIN YWRtaW4AdXNlcgBwYXNz\r\n", 0, 0,
	  NULL, NULL, NULL, NULL, 0, LC_CMD, "-ERR [AUTH] Authorization failed.", NULL, 0 },
	{ "pop3 auth list", POP3, true, "AUTH\r\n", 0, 0, NULL, NULL, NULL, NULL, 0, LC_CMD,
	  "+OK\r\nPLAIN\r\nLOGIN\r\nSCRAM-SHA-1\r\nSCRAM-SHA-256\r\nOAUTHBEARER\r\nXOAUTH2\r\n.\r\n",
	  NULL, 0 },
	/* SCRAM: the client-first-message goes to the master as a salt request */
	{ "pop3 auth scram", POP3, true,
	  "AUTH SCRAM-SHA-256 "
	  "biwsbj1hbGljZSxyPWFiYw==\r\n", 0, 0, NULL, NULL, NULL,
	  NULL, 0, LC_AUTH_WAIT, NULL, "-ERR", 0 },
	{ "pop3 auth scram-plus without tls", POP3, true, "AUTH SCRAM-SHA-256-PLUS\r\n", 0, 0,
	  NULL, NULL, NULL, NULL, 0, LC_CMD, "-ERR Unsupported authentication mechanism.", NULL,
	  0 },
	{ "pop3 apop", POP3, true, "APOP a b\r\n", 0, 0, NULL, NULL, NULL, NULL, 0, LC_CMD,
	  "-ERR APOP is not supported.", NULL, 0 },
	{ "pop3 stat before login", POP3, true, "STAT\r\n", 0, 0, NULL, NULL, NULL, NULL, 0,
	  LC_CMD, "-ERR Command not allowed before authentication.", NULL, 0 },
	{ "pop3 quit", POP3, true, "QUIT\r\nUSER a\r\n", 0, 0, NULL, NULL, NULL, NULL, 0,
	  LC_CLOSING, "+OK Logging out.", NULL, 8 },
	{ "pop3 three bad", POP3, true, "A\r\nB\r\nC\r\nUSER a\r\nPASS b\r\n", 0, 0, NULL,
	  NULL, NULL, NULL, 0, LC_CLOSING, "-ERR Too many invalid commands.", NULL, 16 },
	{ "pop3 long line", POP3, true, "USER x" X80 X80 X80
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nNOOP\r\n", 0, 0, NULL, NULL,
	  NULL, NULL, 0, LC_CMD, "-ERR Command line too long.", NULL, 0 },
	{ "pop3 stls unavailable", POP3, true, "STLS\r\n", 0, 0, NULL, NULL, NULL, NULL, 0,
	  LC_CMD, "-ERR TLS support isn't enabled.", NULL, 0 },
};

static const struct login_proto_ops *
ops_of(int proto)
{
	return proto == IMAP ? &imap_login_ops : &pop3_login_ops;
}

static size_t
in_len(const struct dcase *t)
{
	return t->inlen != 0 ? t->inlen : strlen(t->in);
}

struct result {
	char *out;
	size_t out_len;
	unsigned handovers, auth_calls;
	char tag[80], mech[16], user[256], pass[1025];
	size_t ulen;
	enum lconn_state state;
	size_t pending;
};

/* Run one dialogue with the input in pieces: cut at `cut` (0: none), or `step` bytes. */
static void
run(const struct dcase *t, size_t cut, size_t step, struct result *r)
{
	struct login_fake f;
	size_t len = in_len(t), off = 0;

	login_fake_init(&f, ops_of(t->proto), t->cleartext, false, false);
	while (off < len) {
		size_t n = len - off;

		if (cut != 0 && off < cut)
			n = cut - off;
		else if (step != 0 && n > step)
			n = step;
		if (login_fake_send(&f, t->in + off, n) < n)
			break;	/* not reading any more: the rest stays with the client */
		off += n;
	}
	memset(r, 0, sizeof(*r));
	r->out = login_fake_take_output(&f, &r->out_len);
	r->handovers = f.handovers;
	r->auth_calls = f.auth_calls;
	memcpy(r->tag, f.tag, sizeof(r->tag));
	memcpy(r->mech, f.mech, sizeof(r->mech));
	memcpy(r->user, f.user, sizeof(r->user));
	memcpy(r->pass, f.pass, sizeof(r->pass));
	r->ulen = f.ulen;
	r->state = f.c.state;
	r->pending = evbuffer_get_length(f.in) + (len - off);
	login_fake_deinit(&f);
}

static void
check(const struct dcase *t, const struct result *r)
{
	if (r->state != t->state || r->handovers != t->handovers || r->pending != t->pending)
		fail_msg("%s: state %d handovers %u pending %zu, output:\n%s", t->name,
		    (int)r->state, r->handovers, r->pending, r->out);
	assert_int_equal(r->handovers, t->handovers);
	if (getenv("TEST_LOGIN_VERBOSE") != NULL)
		print_message("%s: %u calls\n%s", t->name, r->auth_calls, r->out);
	if (t->handovers > 0) {
		size_t ulen = t->ulen != 0 ? t->ulen : strlen(t->user);

		assert_string_equal(r->tag, t->tag);
		assert_string_equal(r->mech, t->mech);
		assert_int_equal(r->ulen, ulen);
		assert_memory_equal(r->user, t->user, ulen);
		assert_string_equal(r->pass, t->pass);
	}
	if (t->out_has != NULL && strstr(r->out, t->out_has) == NULL)
		fail_msg("%s: output lacks \"%s\":\n%s", t->name, t->out_has, r->out);
	if (t->out_lacks != NULL && strstr(r->out, t->out_lacks) != NULL)
		fail_msg("%s: output has \"%s\":\n%s", t->name, t->out_lacks, r->out);
	assert_int_equal(r->pending, t->pending);
	/* replies are whole CRLF lines */
	assert_true(r->out_len >= 2 && memcmp(r->out + r->out_len - 2, "\r\n", 2) == 0);
	assert_int_equal(strlen(r->out), r->out_len);
}

static void
test_dialogues(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct dcase *t = &cases[i];
		struct result whole, part;

		run(t, 0, 0, &whole);
		check(t, &whole);
		/* split at every offset, and one byte at a time: the same dialogue */
		for (size_t cut = 1; cut <= in_len(t); cut++) {
			run(t, cut, cut == in_len(t) ? 1 : 0, &part);
			check(t, &part);
			assert_int_equal(part.out_len, whole.out_len);
			assert_memory_equal(part.out, whole.out, whole.out_len);
			free(part.out);
		}
		free(whole.out);
	}
}

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

/*
 * ManageSieve (RFC 5804): capabilities, STARTTLS (the capabilities again, unasked, and
 * plaintext behind it dropped), AUTHENTICATE PLAIN with an initial response, with a
 * continuation and a literal, LOGIN; the dialogue fed whole and split at every offset.
 */
static void
test_managesieve(void **state)
{
	/* "\0alice\0secret" and "alice" / "secret" in base64 */
	static const char *const logins[] = {
		"AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\nLISTSCRIPTS\r\n",
		"authenticate \"plain\"\r\n{20+}\r\nAGFsaWNlAHNlY3JldA==\r\nLISTSCRIPTS\r\n",
		"AUTHENTICATE \"LOGIN\"\r\n\"YWxpY2U=\"\r\n{8}\r\nc2VjcmV0\r\nLISTSCRIPTS\r\n",
	};
	struct login_fake f;
	char *out;

	login_fake_init(&f, &managesieve_login_ops, false, true, false);
	out = take(&f);
	assert_non_null(strstr(out, "\"IMPLEMENTATION\" \"buzon\"\r\n"));
	assert_non_null(strstr(out, "\"SASL\" \"\"\r\n"));	/* no TLS, not local */
	assert_non_null(strstr(out, "\"STARTTLS\"\r\n"));
	assert_non_null(strstr(out, "\"SIEVE\" \"fileinto "));
	assert_non_null(strstr(out, "\"VERSION\" \"1.0\"\r\nOK \""));
	free(out);
	send_str(&f, "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n");
	out = take(&f);
	assert_true(strncmp(out, "NO (ENCRYPT-NEEDED)", 19) == 0);
	free(out);
	assert_int_equal(f.auth_calls, 0);
	send_str(&f, "STARTTLS\r\nNOOP\r\n");
	out = take(&f);
	assert_string_equal(out, "OK \"Begin TLS negotiation now.\"\r\n");
	free(out);
	login_fake_switch_tls(&f);
	out = take(&f);
	assert_null(strstr(out, "STARTTLS"));
	assert_non_null(strstr(out, "\"SASL\" \"PLAIN LOGIN SCRAM-SHA-1 SCRAM-SHA-256"));
	assert_non_null(strstr(out, " OAUTHBEARER XOAUTH2\"\r\n"));
	assert_non_null(strstr(out, "\r\nOK \"TLS negotiation successful.\"\r\n"));
	free(out);
	login_fake_deinit(&f);

	for (size_t i = 0; i < N_ELEMENTS(logins); i++) {
		size_t len = strlen(logins[i]);

		for (size_t cut = 0; cut <= len; cut++) {
			login_fake_init(&f, &managesieve_login_ops, true, false, false);
			free(take(&f));
			assert_int_equal(login_fake_send(&f, logins[i], cut), cut);
			if (f.handovers == 0)
				assert_int_equal(login_fake_send(&f, logins[i] + cut, len - cut),
				    len - cut);
			assert_int_equal(f.handovers, 1);
			assert_string_equal(f.user, "alice");
			assert_string_equal(f.pass, "secret");
			assert_string_equal(f.tag, "");
			login_fake_deinit(&f);
		}
	}
	/* a cancelled continuation, a wrong mechanism, an unknown command */
	login_fake_init(&f, &managesieve_login_ops, true, false, false);
	free(take(&f));
	send_str(&f, "AUTHENTICATE \"PLAIN\"\r\n\"*\"\r\nAUTHENTICATE \"X\"\r\nNOOP \"t\"\r\n");
	out = take(&f);
	assert_string_equal(out, "\"\"\r\nNO \"Authentication aborted.\"\r\n"
	    "NO \"Unsupported authentication mechanism.\"\r\nOK (TAG \"t\") \"Done.\"\r\n");
	free(out);
	{
		static const char bad[] = "BOGUS\r\nGETSCRIPT \"a\"\r\n\0\r\n";

		assert_int_equal(login_fake_send(&f, bad, sizeof(bad) - 1), sizeof(bad) - 1);
	}
	out = take(&f);
	assert_string_equal(out, "NO \"Unknown command.\"\r\nNO \"Authenticate first.\"\r\n"
	    "NO \"Invalid command (NUL).\"\r\nBYE \"Too many invalid commands.\"\r\n");
	free(out);
	assert_int_equal(f.c.state, LC_CLOSING);
	login_fake_deinit(&f);
}

/* Bytes pipelined behind STARTTLS are dropped; the login after TLS is handed over. */
static void
test_imap_starttls_pipelined(void **state)
{
	struct login_fake f;
	char *out;

	login_fake_init(&f, &imap_login_ops, false, true, false);
	free(take(&f));
	send_str(&f, "a STARTTLS\r\nb LOGIN user pass\r\nc NOOP\r\n");
	assert_int_equal(f.c.state, LC_STARTTLS);
	out = take(&f);
	assert_string_equal(out, "a OK Begin TLS negotiation now.\r\n");
	free(out);
	assert_int_equal(f.starttls_calls, 1);
	login_fake_switch_tls(&f);
	assert_int_equal(evbuffer_get_length(f.in), 0);
	assert_int_equal(f.auth_calls, 0);
	/* over TLS: no STARTTLS any more, LOGIN allowed */
	send_str(&f, "d CAPABILITY\r\n");
	out = take(&f);
	assert_null(strstr(out, "STARTTLS"));
	assert_non_null(strstr(out, "AUTH=PLAIN"));
	free(out);
	send_str(&f, "e STARTTLS\r\n");
	out = take(&f);
	assert_string_equal(out, "e BAD TLS is already active.\r\n");
	free(out);
	send_str(&f, "f LOGIN user pass\r\n");
	assert_int_equal(f.handovers, 1);
	assert_string_equal(f.tag, "f");
	login_fake_deinit(&f);
}

/* A SASL dialogue interrupted by STARTTLS state is forgotten (tls_started). */
static void
test_pop3_stls_pipelined(void **state)
{
	struct login_fake f;
	char *out;

	login_fake_init(&f, &pop3_login_ops, false, true, false);
	free(take(&f));
	send_str(&f, "CAPA\r\n");
	out = take(&f);
	assert_non_null(strstr(out, "STLS\r\n"));
	assert_null(strstr(out, "USER\r\n"));
	free(out);
	send_str(&f, "STLS\r\nUSER alice\r\nPASS secret\r\n");
	assert_int_equal(f.c.state, LC_STARTTLS);
	out = take(&f);
	assert_string_equal(out, "+OK Begin TLS negotiation now.\r\n");
	free(out);
	/* nothing more is read until the switch */
	assert_int_equal(login_fake_send(&f, "X", 1), 0);
	login_fake_switch_tls(&f);
	send_str(&f, "PASS secret\r\n");
	out = take(&f);
	assert_string_equal(out, "-ERR No username given.\r\n");
	free(out);
	assert_int_equal(f.auth_calls, 0);
	send_str(&f, "USER alice\r\nPASS secret\r\n");
	assert_int_equal(f.handovers, 1);
	assert_string_equal(f.user, "alice");
	login_fake_deinit(&f);
}

/* Three failed logins: the goodbye, and no fourth hand-over. */
static void
test_three_failures(void **state)
{
	static const struct {
		int proto;
		const char *login, *fail, *bye;
	} t[] = {
		{ IMAP, "a LOGIN u p\r\n", "a NO [AUTHENTICATIONFAILED]",
		  "* BYE Too many invalid authentication attempts." },
		{ POP3, "USER u\r\nPASS p\r\n", "-ERR [AUTH] Authentication failed.",
		  "-ERR Too many invalid authentication attempts." },
	};

	for (size_t i = 0; i < N_ELEMENTS(t); i++) {
		struct login_fake f;
		char *out;

		login_fake_init(&f, ops_of(t[i].proto), true, false, false);
		free(take(&f));
		for (unsigned n = 1; n <= 3; n++) {
			send_str(&f, t[i].login);
			assert_int_equal(f.c.state, LC_AUTH_WAIT);
			assert_int_equal(f.handovers, n);
			login_fake_auth_result(&f, IPC_AUTH_FAIL);
			out = take(&f);
			assert_non_null(strstr(out, t[i].fail));
			assert_true((strstr(out, t[i].bye) != NULL) == (n == 3));
			free(out);
		}
		assert_int_equal(f.c.state, LC_CLOSING);
		assert_int_equal(login_fake_send(&f, t[i].login, strlen(t[i].login)), 0);
		assert_int_equal(f.handovers, 3);
		login_fake_deinit(&f);
	}
}

/* A login pipelined behind a failing one runs once the result is in. */
static void
test_pipelined_after_failure(void **state)
{
	static const uint32_t status[] = { IPC_AUTH_FAIL, IPC_AUTH_TEMPFAIL, IPC_AUTH_LIMIT };
	static const char *const imap_reply[] = { "a NO [AUTHENTICATIONFAILED]",
	    "a NO [UNAVAILABLE]", "a NO [LIMIT]" };
	static const char *const pop3_reply[] = { "-ERR [AUTH]", "-ERR [SYS/TEMP]",
	    "-ERR [IN-USE]" };

	for (size_t i = 0; i < N_ELEMENTS(status); i++) {
		struct login_fake f;
		char *out;

		login_fake_init(&f, &imap_login_ops, true, false, false);
		free(take(&f));
		send_str(&f, "a LOGIN u p\r\nb LOGIN v q\r\n");
		assert_int_equal(f.handovers, 1);
		assert_int_equal(evbuffer_get_length(f.in), 13);
		login_fake_auth_result(&f, status[i]);
		out = take(&f);
		assert_non_null(strstr(out, imap_reply[i]));
		free(out);
		assert_int_equal(f.handovers, 2);
		assert_string_equal(f.tag, "b");
		assert_string_equal(f.user, "v");
		login_fake_auth_result(&f, IPC_AUTH_OK);
		assert_int_equal(f.c.state, LC_PROXY);
		login_fake_deinit(&f);

		login_fake_init(&f, &pop3_login_ops, true, false, false);
		free(take(&f));
		send_str(&f, "USER u\r\nPASS p\r\nUSER v\r\nPASS q\r\n");
		login_fake_auth_result(&f, status[i]);
		out = take(&f);
		assert_non_null(strstr(out, pop3_reply[i]));
		free(out);
		assert_int_equal(f.handovers, 2);
		assert_string_equal(f.user, "v");
		login_fake_deinit(&f);
	}
}

/* A client that never reads: parsing stops at the output bound and goes on after. */
static void
test_output_bound(void **state)
{
	for (int proto = IMAP; proto <= POP3; proto++) {
		struct login_fake f;
		const char *cmd = proto == IMAP ? "a NOOP\r\n" : "CAPA\r\n";
		size_t n = 0;

		login_fake_init(&f, ops_of(proto), true, false, false);
		for (int i = 0; i < 20000; i++)
			n += login_fake_send(&f, cmd, strlen(cmd));
		assert_int_equal(n, 20000 * strlen(cmd));
		assert_true(evbuffer_get_length(f.out) < (conn_bounds(CONN_PRELOGIN)->output_high) + 1024);
		assert_true(f.out_total > 20000 * 6);
		login_fake_deinit(&f);
	}
}

/* Overlong SASL lines end the connection. */
static void
test_sasl_too_long(void **state)
{
	for (int proto = IMAP; proto <= POP3; proto++) {
		struct login_fake f;
		char *big = xmalloc(LOGIN_INPUT_MAX);
		char *out;

		memset(big, 'A', LOGIN_INPUT_MAX);
		login_fake_init(&f, ops_of(proto), true, false, false);
		free(take(&f));
		send_str(&f, proto == IMAP ? "a AUTHENTICATE PLAIN\r\n" : "AUTH PLAIN\r\n");
		(void)login_fake_send(&f, big, LOGIN_INPUT_MAX);
		assert_int_equal(f.c.state, LC_CLOSING);
		out = take(&f);
		assert_non_null(strstr(out, "Authentication response too long."));
		free(out);
		assert_int_equal(f.auth_calls, 0);
		free(big);
		login_fake_deinit(&f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dialogues),
		cmocka_unit_test(test_imap_starttls_pipelined),
		cmocka_unit_test(test_pop3_stls_pipelined),
		cmocka_unit_test(test_managesieve),
		cmocka_unit_test(test_three_failures),
		cmocka_unit_test(test_pipelined_after_failure),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_sasl_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
