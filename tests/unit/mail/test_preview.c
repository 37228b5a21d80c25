/*
 * test_preview.c — message previews (src/mail/preview.c, RFC 8970 semantics): which part
 * is chosen, transfer decoding, charsets, HTML stripping, white space, the 200-character
 * cut at a UTF-8 boundary, and malformed input (bad charset, broken base64 and
 * quoted-printable, huge lines, NUL bytes, invalid UTF-8).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/util.h"
#include "mail/message.h"
#include "mail/preview.h"

struct preview_case {
	const char *name;
	const char *msg;
	const char *want;
};

#define PLAIN(cte, cs, body) \
	"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n" \
	"Content-Type: text/plain; charset=" cs "\r\nContent-Transfer-Encoding: " cte \
	"\r\n\r\n" body

static char *
preview_of(const char *msg, size_t len)
{
	struct mail_message *m = mail_message_parse((const unsigned char *)msg, len, NULL);
	struct buf out;
	char *s;

	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(mail_preview_write(&out, m), 0);
	s = xstrdup(buf_cstr(&out));
	buf_deinit(&out);
	mail_message_free(&m);
	return s;
}

static void
test_preview_table(void **state)
{
	static const struct preview_case cases[] = {
		{ "plain", PLAIN("7bit", "us-ascii", "Hello   world\r\n\r\n\tsecond line\r\n"),
		  "Hello world second line" },
		{ "no MIME", "Subject: x\r\n\r\n  just text  \r\n", "just text" },
		{ "empty body", "Subject: x\r\n\r\n", "" },
		{ "alternative takes the plain part",
		  "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
		  "--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
		  "--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b--\r\n", "plain" },
		{ "html only",
		  "Content-Type: text/html; charset=utf-8\r\n\r\n"
		  "<!DOCTYPE html><html><head><title>T</title><style>p { x: 1 }</style></head>"
		  "<body><script>var a = '<p>';</script><p>Hi &amp; <b>bold</b>text</p>"
		  "<!-- <p>comment</p> --><div>next&nbsp;&#233;&#x20AC; &bogus; a<b</div>"
		  "</body></html>\r\n", "Hi & boldtext next \xc3\xa9\xe2\x82\xac &bogus; a" },
		{ "html attribute with >",
		  "Content-Type: text/html\r\n\r\n<a title=\"x>y\">link</a> after\r\n",
		  "link after" },
		{ "base64 utf-8", PLAIN("base64", "utf-8", "Q2Fmw6kgYXUgbGFpdA==\r\n"),
		  "Caf\xc3\xa9 au lait" },
		{ "base64 with junk (RFC 2045: ignored)",
		  PLAIN("BASE64", "utf-8", "SGVs@@bG8g\r\nd29y!!bGQ=\r\n"), "Hello world" },
		{ "broken base64", PLAIN("base64", "utf-8", "====\r\n"), "" },
		{ "quoted-printable latin-1",
		  PLAIN("quoted-printable", "iso-8859-1", "Caf=E9 au=\r\n lait=\r\n"),
		  "Caf\xc3\xa9 au lait" },
		{ "broken quoted-printable",
		  PLAIN("quoted-printable", "us-ascii", "a=ZZb=4 c=\r\n"), "a=ZZb=4 c" },
		{ "unknown charset: UTF-8, else ISO-8859-1",
		  PLAIN("8bit", "x-no-such-charset", "caf\xe9 caf\xc3\xa9\r\n"),
		  "caf\xc3\xa9 caf\xc3\xa9" },
		{ "windows-1252", PLAIN("8bit", "windows-1252", "\x93quoted\x94 \x80\r\n"),
		  "\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac" },
		{ "invalid bytes in a real charset",
		  PLAIN("8bit", "utf-16be", "\xd8\x3d"), "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "control characters collapse",
		  PLAIN("8bit", "utf-8", "a\x01\x02\x1b[0mb\x7f\xc2\x85" "c\xe2\x80\xa8" "d"),
		  "a [0mb c d" },
		{ "attachment skipped",
		  "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		  "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\n"
		  "attached\r\n--b\r\nContent-Type: text/plain\r\n\r\ninline\r\n--b--\r\n",
		  "inline" },
		{ "attached message skipped",
		  "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		  "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n"
		  "--b\r\nContent-Type: image/png\r\n\r\nxx\r\n--b--\r\n", "" },
		{ "nested multipart",
		  "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		  "--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
		  "--c\r\nContent-Type: text/html\r\n\r\n<i>h</i>\r\n"
		  "--c\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--c--\r\n"
		  "--b--\r\n", "deep" },
		{ "no text part",
		  "Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n", "" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *got;

		print_message("case %s\n", cases[i].name);
		got = preview_of(cases[i].msg, strlen(cases[i].msg));
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

/* Count UTF-8 characters, asserting validity and no control characters. */
static size_t
check_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p != '\0') {
		size_t k = *p < 0x80 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;

		assert_true(*p >= 0x20 && *p != 0x7f);
		assert_true(*p < 0x80 || *p >= 0xc2);
		for (size_t j = 1; j < k; j++)
			assert_int_equal(p[j] & 0xc0, 0x80);
		p += k;
		n++;
	}
	return n;
}

static void
test_preview_cut(void **state)
{
	struct buf msg;
	char *got;
	size_t i;

	/* a huge line of one character: 200 of them */
	buf_init(&msg, BUF_UNLIMITED);
	(void)buf_append_str(&msg, "Content-Type: text/plain\r\n\r\n");
	for (i = 0; i < 1000000; i++)
		(void)buf_append_c(&msg, 'x');
	got = preview_of(msg.data, msg.len);
	assert_int_equal(strlen(got), MAIL_PREVIEW_CHARS);
	free(got);
	/* two-byte characters: 200 characters, 400 bytes, never half of one */
	buf_reset(&msg);
	(void)buf_append_str(&msg, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (i = 0; i < 300; i++)
		(void)buf_append_str(&msg, "\xc3\xa9");
	got = preview_of(msg.data, msg.len);
	assert_int_equal(strlen(got), 2 * MAIL_PREVIEW_CHARS);
	assert_int_equal(check_utf8(got), MAIL_PREVIEW_CHARS);
	free(got);
	/* four-byte characters with spaces: the space before a character that does not
	 * fit is not written either */
	buf_reset(&msg);
	(void)buf_append_str(&msg, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (i = 0; i < 150; i++)
		(void)buf_append_str(&msg, "\xf0\x9f\x98\x80 ");
	got = preview_of(msg.data, msg.len);
	assert_int_equal(check_utf8(got), MAIL_PREVIEW_CHARS - 1);
	assert_true(got[strlen(got) - 1] != ' ');
	free(got);
	/* the body is read in growing prefixes: a first prefix cut inside "&#233;" where
	 * the 200th and 201st characters would be what the cut leaves ("&#23" read as
	 * text) must not decide the preview. "a", spaces, 190 "b", entities: the cut
	 * after 6 whole entities and 4 bytes of the 7th */
	buf_reset(&msg);
	(void)buf_append_str(&msg, "Content-Type: text/html\r\n\r\na");
	for (i = 0; i < MAIL_PREVIEW_FIRST_READ - 1 - 190 - 6 * 6 - 4; i++)
		(void)buf_append_c(&msg, ' ');
	for (i = 0; i < 190; i++)
		(void)buf_append_c(&msg, 'b');
	for (i = 0; i < 20; i++)
		(void)buf_append_str(&msg, "&#233;");
	got = preview_of(msg.data, msg.len);
	assert_int_equal(check_utf8(got), MAIL_PREVIEW_CHARS);
	assert_memory_equal(got, "a b", 3);
	assert_memory_equal(got + strlen(got) - 2, "\xc3\xa9", 2);
	assert_int_equal(strlen(got), 2 + 190 + 8 * 2);
	free(got);
	/* text starting past the first two prefixes */
	buf_reset(&msg);
	(void)buf_append_str(&msg, "Content-Type: text/html\r\n\r\n<style>");
	for (i = 0; i < 40000; i++)
		(void)buf_append_c(&msg, 'x');
	(void)buf_append_str(&msg, "</style>late text");
	got = preview_of(msg.data, msg.len);
	assert_string_equal(got, "late text");
	free(got);
	/* NUL bytes and an unterminated HTML comment */
	buf_reset(&msg);
	(void)buf_append_str(&msg, "Content-Type: text/html\r\n\r\na");
	(void)buf_append(&msg, "\0\0", 2);
	(void)buf_append_str(&msg, "b<!-- never ends");
	got = preview_of(msg.data, msg.len);
	assert_string_equal(got, "a b");
	free(got);
	/* only what MAIL_PREVIEW_SCAN_MAX covers is read: text after it is not seen */
	buf_reset(&msg);
	(void)buf_append_str(&msg, "Content-Type: text/html\r\n\r\n<!--");
	for (i = 0; i < MAIL_PREVIEW_SCAN_MAX; i++)
		(void)buf_append_c(&msg, ' ');
	(void)buf_append_str(&msg, "-->late");
	got = preview_of(msg.data, msg.len);
	assert_string_equal(got, "");
	free(got);
	buf_deinit(&msg);
}

static void
test_preview_text_invalid_utf8(void **state)
{
	static const unsigned char in[] = "a\xff\xc0\xafz\xed\xa0\x80y\xf4\x90\x80\x80x\xe2\x82";
	struct buf out;

	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(mail_preview_text(&out, in, sizeof(in) - 1, false), 0);
	assert_string_equal(buf_cstr(&out), "azyx");
	buf_deinit(&out);
	/* a buffer without room: -1, nothing appended */
	buf_init(&out, 2);
	assert_int_equal(mail_preview_text(&out, (const unsigned char *)"abc", 3, false), -1);
	assert_int_equal(out.len, 0);
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preview_table),
		cmocka_unit_test(test_preview_cut),
		cmocka_unit_test(test_preview_text_invalid_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
