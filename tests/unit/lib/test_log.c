/* log_json_format: fields, message, escaping and the length bound of log_format = json */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <unistd.h>

#include "lib/log.h"

#define TS "2026-12-06T11:49:36.123Z"

static size_t
fmt(char *out, size_t outsz, const char *text, size_t len)
{
	size_t n = log_json_format(out, outsz, TS, "info", "master", 42, text, len);

	assert_true(n > 0 && n < outsz && n <= LOG_JSON_MAX);
	assert_int_equal(out[n - 1], '\n');
	out[n] = '\0';
	return n;
}

static void
test_fields(void **state)
{
	char out[LOG_JSON_MAX + 1];
	const char *t = "imap login failed user=\"al ice\" method=PLAIN ip=192.0.2.1 tls=no "
	    "reason=password";

	fmt(out, sizeof(out), t, strlen(t));
	assert_string_equal(out, "{\"ts\":\"" TS "\",\"level\":\"info\",\"proc\":\"master\","
	    "\"pid\":42,\"msg\":\"imap login failed\",\"user\":\"al ice\",\"method\":\"PLAIN\","
	    "\"ip\":\"192.0.2.1\",\"tls\":\"no\",\"reason\":\"password\"}\n");
	/* words after fields still belong to msg; fixed key names are renamed */
	t = "imap login user=bob moved from pid=3 to msg=x";
	fmt(out, sizeof(out), t, strlen(t));
	assert_string_equal(out, "{\"ts\":\"" TS "\",\"level\":\"info\",\"proc\":\"master\","
	    "\"pid\":42,\"msg\":\"imap login moved from to\",\"user\":\"bob\","
	    "\"field_pid\":\"3\",\"field_msg\":\"x\"}\n");
	/* no words: empty msg; "=x" and "A=b" are words, not fields */
	fmt(out, sizeof(out), "", 0);
	assert_non_null(strstr(out, "\"msg\":\"\"}"));
	fmt(out, sizeof(out), "=x A=b", 6);
	assert_non_null(strstr(out, "\"msg\":\"=x A=b\"}"));
	/* an unterminated quoted value runs to the end */
	t = "a error=\"x y";
	fmt(out, sizeof(out), t, strlen(t));
	assert_non_null(strstr(out, "\"msg\":\"a\",\"error\":\"x y\"}"));
}

static void
test_escaping(void **state)
{
	char out[LOG_JSON_MAX + 1];
	/* quote, backslash, TAB, NUL, DEL, ESC; valid UTF-8 (é, €, U+1F600) kept */
	static const char t1[] = "m\"q\\b\tt\0n\x7f\x1b \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	/* a lone continuation byte, a cut sequence, overlong, surrogate, > U+10FFFF */
	static const char t2[] = "\x80 \xc3 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xff";

	fmt(out, sizeof(out), t1, sizeof(t1) - 1);
	assert_non_null(strstr(out, "\"msg\":\"m\\\"q\\\\b\\u0009t\\u0000n\\u007f\\u001b "
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"));
	fmt(out, sizeof(out), t2, sizeof(t2) - 1);
	assert_non_null(strstr(out, "\"msg\":\"\\ufffd \\ufffd \\ufffd\\ufffd "
	    "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\\ufffd \\ufffd\"}"));
}

static void
test_bounds(void **state)
{
	char out[LOG_JSON_MAX + 1], text[2047];
	size_t n;

	/* every byte escaped 6-fold: the line is cut, closed, and at most LOG_JSON_MAX */
	memset(text, 1, sizeof(text));
	n = fmt(out, sizeof(out), text, sizeof(text));
	assert_true(n <= LOG_JSON_MAX);
	assert_non_null(strstr(out, "...\"}\n"));
	/* many fields: the ones that do not fit are left out whole */
	for (size_t i = 0; i + 4 <= sizeof(text); i += 4)
		memcpy(text + i, "k=\x01 ", 4);
	n = fmt(out, sizeof(out), text, sizeof(text) - 3);
	assert_true(n <= LOG_JSON_MAX);
	assert_string_equal(out + n - 3, "\"}\n");
	/* every output size from the minimum up stays well-formed at its end */
	for (size_t sz = 256; sz < 600; sz++) {
		char small[600];

		n = log_json_format(small, sz, TS, "warn", "login", 7, text, sizeof(text) - 3);
		assert_true(n <= sz);
		assert_int_equal(small[n - 1], '\n');
		assert_int_equal(small[n - 2], '}');
	}
}

/* what log_json_child_line writes to stderr for one line */
static void
child_line(const char *line, char *out, size_t outsz)
{
	int p[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	dup2(p[1], STDERR_FILENO);
	log_set_json(true);
	assert_true(log_json_child_line("login", 7, line, strlen(line)));
	log_set_json(false);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], out, outsz - 1);
	close(p[0]);
	assert_true(n > 0);
	out[n] = '\0';
}

static void
test_child_lines(void **state)
{
	char out[LOG_JSON_MAX + 1];
	const char *mine = "{\"ts\":\"x\",\"level\":\"info\",\"proc\":\"imap\",\"pid\":9,\"msg\":\"m\"}";

	/* text mode: the caller writes the line itself */
	assert_false(log_json_child_line("login", 7, "x", 1));
	/* already JSON: as it is */
	child_line(mine, out, sizeof(out));
	assert_int_equal(strncmp(out, mine, strlen(mine)), 0);
	assert_string_equal(out + strlen(mine), "\n");
	/* a text log line from before the child read its config keeps time and level */
	child_line("2026-12-06T11:00:00.000Z login[7] error: config x=1 bad", out, sizeof(out));
	assert_string_equal(out, "{\"ts\":\"2026-12-06T11:00:00.000Z\",\"level\":\"error\","
	    "\"proc\":\"login\",\"pid\":7,\"msg\":\"config bad\",\"x\":\"1\"}\n");
	/* anything else (a library's message, a sanitizer report): warn, the child's role */
	child_line("free(): invalid pointer", out, sizeof(out));
	assert_non_null(strstr(out, "\"level\":\"warn\",\"proc\":\"login\",\"pid\":7,"
	    "\"msg\":\"free(): invalid pointer\"}\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_child_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
