/*
 * test_rfc2047.c — RFC 2047 encoded words in several charsets, charset conversion,
 * RFC 2231 parameter values, and SEARCH text matching (i;unicode-casemap) in headers and
 * in base64 / quoted-printable bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/envelope.h"
#include "mail/message.h"
#include "mail/rfc2047.h"
#include "mail/search.h"

struct dec_case {
	const char *in;
	const char *want;
};

static void
test_rfc2047_table(void **state)
{
	static const struct dec_case cases[] = {
		{ "plain text", "plain text" },
		{ "=?utf-8?q?caf=C3=A9?=", "caf\xc3\xa9" },
		{ "=?UTF-8?B?Y2Fmw6k=?=", "caf\xc3\xa9" },
		{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
		{ "=?windows-1252?Q?=80_and_=93quotes=94?=",
		  "\xe2\x82\xac and \xe2\x80\x9cquotes\xe2\x80\x9d" },
		/* whitespace between adjacent words disappears (RFC 2047 §6.2 / §8) */
		{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)" },
		{ "=?ISO-8859-1?Q?a?=  \t =?ISO-8859-2?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?= x =?ISO-8859-1?Q?b?=", "a x b" },
		{ "=?ISO-8859-1?Q?a_b?=", "a b" },
		/* a UTF-8 character split across two B words */
		{ "=?utf-8?B?w6k=?= =?utf-8?B?4oI=?= =?utf-8?B?rA==?=", "\xc3\xa9\xe2\x82\xac" },
		/* RFC 2231 language suffix */
		{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore" },
		/* invalid words stay as they are */
		{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
		{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=" },
		{ "=?utf-8?b?!!!?=", "=?utf-8?b?!!!?=" },
		{ "=?utf-8?q?unterminated", "=?utf-8?q?unterminated" },
		{ "=??q?x?=", "=??q?x?=" },
		{ "=?utf-8?q?bad=ZZ?=", "=?utf-8?q?bad=ZZ?=" },
		/* unknown charset: bytes taken as UTF-8 / ISO-8859-1 */
		{ "=?x-unknown?q?caf=E9?=", "caf\xc3\xa9" },
		/* raw 8-bit text outside words: invalid UTF-8 is taken as ISO-8859-1 */
		{ "caf\xe9", "caf\xc3\xa9" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		/* invalid bytes inside a real charset become U+FFFD */
		{ "=?utf-16be?b?2D0=?=", "\xef\xbf\xbd\xef\xbf\xbd" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *d = mail_rfc2047_decode_dup(cases[i].in, strlen(cases[i].in));

		print_message("in [%s]\n", cases[i].in);
		assert_string_equal(d, cases[i].want);
		free(d);
	}
	/* every prefix decodes without reading past it */
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t len = strlen(cases[i].in);

		for (size_t cut = 0; cut <= len; cut++) {
			char *p = malloc(cut + 1), *d;

			memcpy(p, cases[i].in, cut);
			d = mail_rfc2047_decode_dup(p, cut);
			free(d);
			free(p);
		}
	}
	/* the output limit is reported */
	{
		struct buf b;

		buf_init(&b, 3);
		assert_int_equal(mail_rfc2047_decode(&b, "=?utf-8?q?abcdef?=", 18), -1);
		buf_deinit(&b);
	}
}

static void
test_rfc2231_params(void **state)
{
	static const char msg[] =
	    "Content-Type: application/octet-stream;\n"
	    " name*0*=ISO-8859-1''caf%E9;\n"
	    " name*1=\" latte.txt\";\n"
	    " title=\"=?utf-8?q?=E2=82=AC?=\"\n"
	    "Content-Disposition: attachment; filename*=UTF-8''%e2%82%ac.pdf\n"
	    "\n"
	    "x\n";
	struct mail_message *m = mail_message_parse((const unsigned char *)msg,
	    strlen(msg), NULL);
	const struct mail_param *p;

	p = mail_param_find(m->root->params, m->root->nparams, "name");
	assert_non_null(p);
	assert_string_equal(p->name, "name*");
	assert_string_equal(p->value, "ISO-8859-1''caf%E9 latte.txt");
	assert_string_equal(p->utf8, "caf\xc3\xa9 latte.txt");
	p = mail_param_find(m->root->params, m->root->nparams, "title");
	assert_string_equal(p->utf8, "\xe2\x82\xac");
	p = mail_param_find(m->root->disp_params, m->root->ndisp_params, "filename");
	assert_string_equal(p->utf8, "\xe2\x82\xac.pdf");
	mail_message_free(&m);
}

static void
test_rfc2231_order(void **state)
{
	static const struct {
		const char *ct;
		const char *want;
	} cases[] = {
		/* merged parameters follow the plain ones, sorted by name (Dovecot) */
		{ "application/x; z*1=b; x=y; z*0=a; b*0*=us-ascii''%41",
		  "(\"x\" \"y\" \"b*\" \"us-ascii''%41\" \"z\" \"ab\")" },
		/* a gap in the sections: kept as written */
		{ "application/x; n*0=a; n*2=c",
		  "(\"n*0\" \"a\" \"n*2\" \"c\")" },
		{ "application/x; N=\"q\\\"q\"; junk; =x; k=v (comment)",
		  "(\"n\" \"q\\\"q\" \"k\" \"v\")" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct buf msg, out;
		struct mail_message *m;
		const char *params;

		buf_init(&msg, 4096);
		buf_init(&out, 4096);
		buf_appendf(&msg, "Content-Type: %s\n\nx", cases[i].ct);
		m = mail_message_parse((const unsigned char *)msg.data, msg.len, NULL);
		assert_int_equal(mail_bodystructure_write(&out, m, NULL, false), 0);
		params = strchr(out.data, ' ');
		params = strchr(params + 1, ' ') + 1;
		print_message("ct [%s] -> %s\n", cases[i].ct, out.data);
		assert_memory_equal(params, cases[i].want, strlen(cases[i].want));
		mail_message_free(&m);
		buf_deinit(&msg);
		buf_deinit(&out);
	}
}

static void
test_param_limit(void **state)
{
	struct buf b;
	struct mail_message *m;

	buf_init(&b, BUF_UNLIMITED);
	buf_append_str(&b, "Content-Type: text/plain");
	for (int i = 0; i < 1000; i++)
		buf_appendf(&b, "; p%d=v", i);
	buf_append_str(&b, "\n\nx");
	m = mail_message_parse((const unsigned char *)b.data, b.len, NULL);
	assert_int_equal(m->root->nparams, 128);
	mail_message_free(&m);
	buf_deinit(&b);
}

static const char search_msg[] =
"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\n"
"Subject: =?utf-8?B?U3RyYcOfZQ==?= report\n"
"Content-Type: multipart/mixed; boundary=B\n"
"\n"
"--B\n"
"Content-Type: text/plain; charset=iso-8859-1\n"
"Content-Transfer-Encoding: quoted-printable\n"
"\n"
"Caf=E9 au lait, tr=\n"
"=E8s bien\n"
"--B\n"
"Content-Type: text/html; charset=utf-8\n"
"Content-Transfer-Encoding: base64\n"
"\n"
"PHA+R1LDnFNTRTwvcD4=\n"
"--B\n"
"Content-Type: application/octet-stream\n"
"\n"
"secretword\n"
"--B\n"
"Content-Type: message/rfc822\n"
"\n"
"Subject: nested subject\n"
"\n"
"nested body text\n"
"--B--\n";

static void
test_search(void **state)
{
	static const struct {
		const char *needle;
		bool body, text;
	} cases[] = {
		{ "", true, true },
		{ "CAF\xc3\x89 AU", true, true },	/* "CAFÉ AU": casefold */
		{ "tr\xc3\xa8s bien", true, true },	/* soft line break undone */
		{ "gr\xc3\xbc\xc3\x9f" "e", true, true },	/* "grüße" ~ base64 "GRÜSSE" */
		{ "nested body", true, true },
		{ "secretword", false, false },		/* not a text part */
		{ "andr\xc3\xa9", false, true },		/* decoded From */
		{ "strasse", false, true },		/* ß folds to ss */
		{ "nested subject", false, true },
		{ "absent", false, false },
	};
	struct mail_message *m = mail_message_parse((const unsigned char *)search_msg,
	    strlen(search_msg), NULL);

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct mail_search_key *k = mail_search_key_create(cases[i].needle,
		    strlen(cases[i].needle));

		print_message("needle [%s]\n", cases[i].needle);
		assert_int_equal(mail_search_body(k, m, false), cases[i].body);
		assert_int_equal(mail_search_body(k, m, true), cases[i].text);
		mail_search_key_destroy(&k);
		assert_null(k);
	}
	{
		struct mail_search_key *k = mail_search_key_create("ANDR\xc3\x89", 6);

		assert_true(mail_search_header(k, m, NULL, "from"));
		assert_false(mail_search_header(k, m, NULL, "subject"));
		assert_true(mail_search_header(k, m, NULL, NULL));
		assert_true(mail_search_text(k, "xx andr\xc3\xa9 yy", 11));
		assert_false(mail_search_text(k, "andre", 5));
		mail_search_key_destroy(&k);
	}
	/* the work bound: nothing is searched beyond max_search_bytes */
	{
		struct mail_limits lim;
		struct mail_message *m2;
		struct mail_search_key *k = mail_search_key_create("nested body", 11);

		mail_limits_default(&lim);
		lim.max_search_bytes = 100;
		m2 = mail_message_parse((const unsigned char *)search_msg, strlen(search_msg),
		    &lim);
		assert_false(mail_search_body(k, m2, true));
		mail_search_key_destroy(&k);
		mail_message_free(&m2);
	}
	mail_message_free(&m);
}

/* mail_charset_to_utf8_check: what RFC 8621 calls an encoding problem (JMAP bodyValues). */
static void
test_charset_check(void **state)
{
	static const struct {
		const char *charset, *in, *out;
		bool problem;
	} c[] = {
		{ "ISO-8859-1", "caf\xe9", "caf\xc3\xa9", false },
		{ "Shift_JIS", "\x93\xfa\x96\x7b", "\xe6\x97\xa5\xe6\x9c\xac", false },
		{ "Shift_JIS", "a\x82", "a\xef\xbf\xbd", true },	/* cut inside a character */
		{ "utf-8", "ok \xc3\xa9", "ok \xc3\xa9", false },
		{ "utf-8", "ok \xff", "ok \xc3\xbf", true },		/* taken as ISO-8859-1 */
		{ NULL, "plain", "plain", false },
		{ "us-ascii", "plain", "plain", false },
		{ "x-no-such-charset", "hi", "hi", true },
		{ "bad charset name", "hi", "hi", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct buf out;
		bool problem = !c[i].problem;

		buf_init(&out, 1024);
		assert_int_equal(mail_charset_to_utf8_check(&out, c[i].charset,
		    (const unsigned char *)c[i].in, strlen(c[i].in), &problem), 0);
		assert_string_equal(buf_cstr(&out), c[i].out);
		if (problem != c[i].problem)
			fail_msg("case %zu (%s): problem %d", i, c[i].charset ? c[i].charset : "NULL",
			    problem);
		buf_deinit(&out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc2047_table),
		cmocka_unit_test(test_rfc2231_params),
		cmocka_unit_test(test_rfc2231_order),
		cmocka_unit_test(test_param_limit),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_charset_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
