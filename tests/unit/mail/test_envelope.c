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

/*
 * Every part's sizes and line counts are those of its byte ranges (the parser counts
 * each byte once and joins the counts of consecutive ranges).
 */
static void
assert_counts(const struct mail_message *m, const struct mail_part *p)
{
	uint64_t size, lines;

	assert_true(p->hdr_off + p->hdr_len == p->body_off);
	assert_true(p->body_off + p->body_len <= m->len);
	mail_octets_count(m->data + p->hdr_off, p->hdr_len, &size, &lines);
	assert_int_equal(p->hdr_size, size);
	assert_int_equal(p->hdr_lines, lines);
	mail_octets_count(m->data + p->body_off, p->body_len, &size, &lines);
	assert_int_equal(p->body_size, size);
	assert_int_equal(p->body_lines, lines);
	for (const struct mail_part *c = p->children; c != NULL; c = c->next)
		assert_counts(m, c);
}

static void
check_bs(const char *msg, size_t len, const char *want_body, const char *want_bs)
{
	struct mail_message *m = mail_message_parse((const unsigned char *)msg, len, NULL);
	struct buf b;

	assert_counts(m, m->root);

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


struct bs_case {
	const char *name;
	const char *msg;
	const char *body;
	const char *bs;
};

static const struct bs_case bs_cases[] = {
	{ "empty message", "",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)" },
	{ "header without separator", "Subject: x\n",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)", NULL },
	{ "no header", "\nhello\n",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1)", NULL },
	{ "type case kept, params, encoding as written",
	  "Content-Type: TEXT/PLAIN; charset=\"ISO-8859-1\"; format=flowed\n"
	  "Content-Transfer-Encoding: Quoted-Printable\n\ncaf=E9\n",
	  NULL,
	  "(\"TEXT\" \"PLAIN\" (\"charset\" \"ISO-8859-1\" \"format\" \"flowed\") NIL NIL \"Quoted-Printable\" 8 1 NIL NIL NIL NIL)" },
	{ "alternative + attachment with RFC 2231 filename",
	  "From: a@b.test\n"
	  "Subject: =?ISO-8859-1?Q?caf=E9?=\n"
	  "MIME-Version: 1.0\n"
	  "Content-Type: multipart/mixed; boundary=\"outer\"\n"
	  "\n"
	  "This is a multi-part message in MIME format.\n"
	  "--outer\n"
	  "Content-Type: multipart/alternative;\n"
	  " boundary=inner\n"
	  "\n"
	  "--inner\n"
	  "Content-Type: text/plain; charset=utf-8\n"
	  "\n"
	  "Hi\n"
	  "--inner\n"
	  "Content-Type: text/html; charset=utf-8\n"
	  "Content-Transfer-Encoding: base64\n"
	  "\n"
	  "PGI+SGk8L2I+\n"
	  "--inner--\n"
	  "\n"
	  "--outer\n"
	  "Content-Type: application/pdf; name=\"a.pdf\"\n"
	  "Content-Disposition: attachment;\n"
	  " filename*0*=utf-8''%E2%82%AC;\n"
	  " filename*1=\".pdf\"\n"
	  "Content-Transfer-Encoding: base64\n"
	  "\n"
	  "JVBERi0xLjQK\n"
	  "--outer--\n",
	  "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 2 0)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 12 0) \"alternative\")(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 12) \"mixed\")",
	  "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 2 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 12 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 12 NIL (\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC.pdf\")) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)" },
	{ "missing boundaries: one empty part",
	  "Content-Type: multipart/mixed; boundary=x\n\nno boundaries here\n",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)" },
	{ "multipart without boundary parameter",
	  "Content-Type: multipart/mixed\n\n--x\n\nhi\n",
	  NULL,
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)" },
	{ "truncated: no close delimiter",
	  "Content-Type: multipart/mixed; boundary=x\n\n--x\n\ntrunc\n--x\nContent-Type: text/plain\n\nlast part, no close",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 0) \"mixed\")", NULL },
	{ "message/rfc822 with a text message",
	  "Content-Type: message/rfc822\n\nSubject: inner\nFrom: x@y\n\ninner body\nline2\n",
	  "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 48 (NIL \"inner\" ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 2) 5)",
	  "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 48 (NIL \"inner\" ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 2 NIL NIL NIL NIL) 5 NIL NIL NIL NIL)" },
	{ "multipart/digest: parts default to message/rfc822",
	  "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: d1\n\nbody1\n--d\nContent-Type: text/plain\n\nplain\n--d--\n",
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 20 (NIL \"d1\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) 2)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"digest\")", NULL },
	{ "invalid Content-Type and encoding fall back to defaults",
	  "Content-Type: text\nContent-Transfer-Encoding: base64 junk\n\nx\n",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)", NULL },
	{ "8-bit description goes out as a literal",
	  "Content-Description: caf\xc3\xa9\nContent-ID: <a@b>\n\nx",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") \"<a@b>\" {5}\r\ncaf\xc3\xa9 \"7bit\" 1 0)", NULL },
	{ "disposition without params, one language, RFC 2231 charset param",
	  "Content-Type: text/plain; title*=iso-8859-1'en'caf%E9\n"
	  "Content-Disposition: inline\nContent-Language: de\n\nx\n",
	  NULL,
	  "(\"text\" \"plain\" (\"title*\" \"iso-8859-1'en'caf%E9\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL (\"inline\" NIL) (\"de\") NIL)" },
};

static void
test_bodystructure_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(bs_cases); i++) {
		const struct bs_case *c = &bs_cases[i];
		size_t n;
		char *crlf;

		print_message("case %s\n", c->name);
		check_bs(c->msg, strlen(c->msg), c->body, c->bs);
		crlf = to_crlf(c->msg, &n);
		check_bs(crlf, n, c->body, c->bs);
		free(crlf);
	}
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

struct env_case {
	const char *name;
	const char *msg;
	const char *want;
};

static const struct env_case env_cases[] = {
	{ "no fields", "\nbody\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "RFC 5322 A.1-style addresses, folding, empty Sender, groups, routes, comments",
	  "From: \"Joe Q. Public\" <john.q.public@example.com>\n"
	  "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\n"
	  "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\n"
	  "Date: Tue, 1 Jul 2003 10:52:37 +0200\n"
	  "Message-ID: <5678.21-Nov-1997@example.com>\n"
	  "Subject: Saying\n Hello\n"
	  "Sender:\n"
	  "Bcc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Undisclosed recipients:;\n"
	  "In-Reply-To: <1@x>\n"
	  "Reply-To: <@r1.test,@r2.test:user@host.test>, user@host (Real Name), user, \"john doe\"@x, <>\n"
	  "\nbody\n",
	  "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Saying Hello\" "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((NIL \"@r1.test,@r2.test\" \"user\" \"host.test\")(\"Real Name\" NIL \"user\" \"host\")(NIL NIL \"user\" \"MISSING_DOMAIN\")(NIL NIL \"john doe\" \"x\")(NIL NIL \"\" \"\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")(\"Who?\" NIL \"one\" \"y.test\")) "
	  "((NIL NIL \"boss\" \"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL \"sysservices\" \"example.net\")) "
	  "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)(NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) "
	  "\"<1@x>\" \"<5678.21-Nov-1997@example.com>\")" },
	{ "encoded words stay raw, first field wins, empty To, Reply-To without address",
	  "Subject: =?utf-8?q?caf=C3=A9?=\nSubject: second\nFrom: user\nTo:\nSender:   \n"
	  "Reply-To: (comment only)\n\n",
	  "(NIL \"=?utf-8?q?caf=C3=A9?=\" ((NIL NIL \"user\" \"MISSING_DOMAIN\")) "
	  "((NIL NIL \"user\" \"MISSING_DOMAIN\")) ((NIL NIL \"user\" \"MISSING_DOMAIN\")) "
	  "NIL NIL NIL NIL NIL)" },
	{ "8-bit subject as literal, escaped name, domain literal, missing mailbox",
	  "Subject: caf\xc3\xa9\nFrom: \"a\\\\b\" <a@b>\nCc: @only, x@[1.2.3.4]\nSubject: \n\n",
	  "(NIL {5}\r\ncaf\xc3\xa9 ((\"a\\\\b\" NIL \"a\" \"b\")) ((\"a\\\\b\" NIL \"a\" \"b\")) "
	  "((\"a\\\\b\" NIL \"a\" \"b\")) NIL ((NIL NIL \"MISSING_MAILBOX\" \"only\")"
	  "(NIL NIL \"x\" \"[1.2.3.4]\")) NIL NIL NIL)" },
	{ "empty subject is an empty string",
	  "Subject:\n\n", "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
};

static void
test_envelope_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(env_cases); i++) {
		const struct env_case *c = &env_cases[i];
		struct mail_message *m;
		struct buf b;
		size_t n;
		char *crlf = to_crlf(c->msg, &n);

		print_message("case %s\n", c->name);
		/* passes 2 and 3: the header-only parse gives the same ENVELOPE */
		for (int pass = 0; pass < 4; pass++) {
			const unsigned char *d = (const unsigned char *)(pass & 1 ? crlf : c->msg);
			size_t len = pass & 1 ? n : strlen(c->msg);

			m = pass < 2 ? mail_message_parse(d, len, NULL) :
			    mail_message_parse_header(d, len, NULL);
			buf_init(&b, 1 << 20);
			assert_int_equal(mail_envelope_write(&b, m, NULL), 0);
			assert_string_equal(buf_cstr(&b), c->want);
			buf_deinit(&b);
			mail_message_free(&m);
		}
		free(crlf);
	}
}

static void
test_envelope_embedded(void **state)
{
	struct mail_message *m = mail_message_parse((const unsigned char *)dovecot_msg,
	    strlen(dovecot_msg), NULL);
	const uint32_t two = 2;
	const struct mail_part *p = mail_part_find(m, &two, 1);
	struct buf b;

	assert_non_null(p);
	assert_true(p->flags & MAIL_PART_RFC822);
	buf_init(&b, 4096);
	assert_int_equal(mail_envelope_write(&b, m, p->children), 0);
	assert_string_equal(buf_cstr(&b), "(\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" "
	    "((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) "
	    "((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")"
	    "(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL)");
	/* the buffer limit is reported, never overrun */
	buf_deinit(&b);
	buf_init(&b, 10);
	assert_int_equal(mail_envelope_write(&b, m, NULL), -1);
	assert_true(b.len <= 10);
	buf_deinit(&b);
	buf_init(&b, 10);
	assert_int_equal(mail_bodystructure_write(&b, m, NULL, true), -1);
	buf_deinit(&b);
	mail_message_free(&m);
}

static void
test_address_limit(void **state)
{
	struct mail_address *l;
	unsigned int n;
	const char *v = "a@b, g: c@d, e@f;, h@i";

	mail_address_parse(v, strlen(v), 100, &l, &n);
	assert_int_equal(n, 6);
	assert_true(l[1].group_start);
	assert_true(l[4].group_end);
	mail_address_list_free(&l, n);
	assert_null(l);
	/* a cap never splits a group marker pair */
	for (unsigned int max = 0; max < 8; max++) {
		int open = 0;

		mail_address_parse(v, strlen(v), max, &l, &n);
		assert_true(n <= max);
		for (unsigned int i = 0; i < n; i++) {
			open += l[i].group_start;
			open -= l[i].group_end;
			assert_true(open >= 0 && open <= 1);
		}
		assert_int_equal(open, 0);
		mail_address_list_free(&l, n);
	}
}

/* Well-formed IMAP output: parentheses balance outside quoted strings and literals. */
static void
assert_balanced(const char *s, size_t len)
{
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			assert_true(i < len);
		} else if (s[i] == '{') {
			size_t n = 0;

			for (i++; s[i] >= '0' && s[i] <= '9'; i++)
				n = n * 10 + (size_t)(s[i] - '0');
			assert_true(s[i] == '}' && s[i + 1] == '\r' && s[i + 2] == '\n');
			i += 2 + n;
		} else if (s[i] == '(')
			depth++;
		else if (s[i] == ')') {
			depth--;
			assert_true(depth >= 0);
		}
	}
	assert_int_equal(depth, 0);
}

static void
test_deep_nesting(void **state)
{
	struct buf msg, b;
	struct mail_message *m;
	const char *leaf;
	int levels = 200;

	buf_init(&msg, BUF_UNLIMITED);
	for (int i = 0; i < levels; i++)
		buf_appendf(&msg, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	buf_append_str(&msg, "Content-Type: text/plain\n\ndeep\n");
	for (int i = levels - 1; i >= 0; i--)
		buf_appendf(&msg, "--b%d--\n", i);
	m = mail_message_parse((const unsigned char *)msg.data, msg.len, NULL);
	assert_true(m->limited);
	assert_int_equal(m->nparts, 101);
	buf_init(&b, 1 << 20);
	assert_int_equal(mail_bodystructure_write(&b, m, NULL, true), 0);
	assert_balanced(b.data, b.len);
	/* parts 0..99 are multiparts; the one at depth 100 is served as a leaf */
	for (int i = 0; i < 100; i++)
		assert_int_equal(b.data[i], '(');
	leaf = strstr(b.data, "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" ");
	assert_non_null(leaf);
	assert_ptr_equal(leaf, b.data + 100);
	assert_null(strstr(b.data, "\"text\""));
	buf_deinit(&b);
	mail_message_free(&m);

	/* the part count limit */
	{
		struct mail_limits lim;

		mail_limits_default(&lim);
		lim.max_parts = 5;
		buf_reset(&msg);
		buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=x\n\n");
		for (int i = 0; i < 10; i++)
			buf_appendf(&msg, "--x\n\npart %d\n", i);
		buf_append_str(&msg, "--x--\n");
		m = mail_message_parse((const unsigned char *)msg.data, msg.len, &lim);
		assert_int_equal(m->nparts, 5);
		assert_int_equal(m->root->nchildren, 4);
		assert_true(m->limited);
		buf_init(&b, 1 << 20);
		assert_int_equal(mail_bodystructure_write(&b, m, NULL, false), 0);
		assert_balanced(b.data, b.len);
		buf_deinit(&b);
		mail_message_free(&m);
	}
	buf_deinit(&msg);
}

static void
test_truncated_everywhere(void **state)
{
	const char *msgs[] = { dovecot_msg, bs_cases[4].msg, bs_cases[9].msg };

	for (size_t k = 0; k < N_ELEMENTS(msgs); k++) {
		size_t len = strlen(msgs[k]);

		for (size_t cut = 0; cut <= len; cut++) {
			/* a private copy so ASan sees reads past the cut */
			unsigned char *d = malloc(cut + 1);
			struct mail_message *m;
			struct buf b;

			memcpy(d, msgs[k], cut);
			m = mail_message_parse(d, cut, NULL);
			buf_init(&b, 1 << 20);
			assert_int_equal(mail_bodystructure_write(&b, m, NULL, true), 0);
			assert_balanced(b.data, b.len);
			buf_reset(&b);
			assert_int_equal(mail_envelope_write(&b, m, NULL), 0);
			assert_balanced(b.data, b.len);
			assert_true(m->root->hdr_len + m->root->body_len == cut);
			assert_counts(m, m->root);
			buf_deinit(&b);
			mail_message_free(&m);
			free(d);
		}
	}
}

/* Random MIME-ish texts with every kind of line end next to boundaries. */
static void
test_counts_random(void **state)
{
	static const char *const pieces[] = {
		"Content-Type: multipart/mixed; boundary=b\n",
		"Content-Type: multipart/alternative; boundary=\"c\"\r\n",
		"Content-Type: message/rfc822\n", "Content-Type: multipart/digest; boundary=b\n",
		"--b", "--b--", "--c", "--c--", "\r", "\n", "\r\n", "\n\n", "\r\n\r\n", "x",
		"Subject: y", ": ", " ", "--", "\r\r\n", "\n\r",
	};
	uint32_t seed = 4242;
	struct mail_limits lim;

	mail_limits_default(&lim);
	/*
	 * A header cut by the size limit inside a CRLF: the embedded message's header ends
	 * with the CR, its body starts with the LF, and the parent's body has no bare LF.
	 */
	lim.max_header_bytes = 45;
	for (int kind = 0; kind < 2; kind++) {
		static const char *const msgs[] = {
			"Content-Type: message/rfc822\n\n"
			    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nbody\r\n",
			"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
			    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nbody\r\n--b--\n",
		};
		struct mail_message *m = mail_message_parse((const unsigned char *)msgs[kind],
		    strlen(msgs[kind]), &lim);
		const struct mail_part *c = m->root->children;

		assert_non_null(c);
		assert_int_equal(c->hdr_len, 45);
		assert_int_equal(m->data[c->body_off], '\n');
		assert_counts(m, m->root);
		mail_message_free(&m);
	}
	for (int round = 0; round < 20000; round++) {
		struct buf msg;
		struct mail_message *m;
		size_t n;

		buf_init(&msg, BUF_UNLIMITED);
		seed = seed * 1103515245 + 12345;
		n = 1 + (seed >> 16) % 60;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			(void)buf_append_str(&msg, pieces[(seed >> 16) % N_ELEMENTS(pieces)]);
		}
		/* now and then a small part limit or depth limit */
		lim.max_parts = round % 7 == 0 ? 3 : 10000;
		lim.max_depth = round % 11 == 0 ? 2 : 100;
		/* a header cut by the size limit can split a CRLF between header and body */
		lim.max_header_bytes = round % 3 == 0 ? 1 + (seed >> 8) % 40 : 8 << 20;
		m = mail_message_parse((const unsigned char *)buf_cstr(&msg), msg.len, &lim);
		assert_counts(m, m->root);
		mail_message_free(&m);
		buf_deinit(&msg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_vector),
		cmocka_unit_test(test_bodystructure_table),
		cmocka_unit_test(test_envelope_table),
		cmocka_unit_test(test_envelope_embedded),
		cmocka_unit_test(test_address_limit),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_counts_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
