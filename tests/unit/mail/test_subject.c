/*
 * test_subject.c — RFC 5256 §2.1 base subjects (src/mail/subject.c): reply and forward
 * leaders with and without blobs, "(fwd)" trailers, "[fwd: ...]" wrappers, blobs that
 * stay when nothing else is left, encoded words, white space, words that only look like
 * leaders, the length bound, and hostile input that must stay linear.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/util.h"
#include "mail/subject.h"

static const struct {
	const char *in;
	const char *want;
	bool reply;
} cases[] = {
	{ "hello", "hello", false },
	{ "Re: hello", "hello", true },
	{ "RE:  Re: re:hello", "hello", true },
	{ "Fwd: hello", "hello", true },
	{ "FW: hello", "hello", true },
	{ "fwd : hello", "hello", true },
	{ "Re[2]: hello", "hello", true },
	{ "Re [2] : hello", "hello", true },
	{ "[list] Re: hello", "hello", true },
	{ "[list][x] Re: [list] Fwd: hello", "hello", true },
	{ "[list] hello", "hello", false },
	{ "[a] [b] c", "c", false },
	{ "[list]", "[list]", false },
	{ "[a][b]", "[b]", false },
	{ "[a] [b] ", "[b]", false },
	{ "hello (fwd)", "hello", true },
	{ "hello (FWD) (fwd)  ", "hello", true },
	{ "[fwd: hello]", "hello", true },
	{ "[Fwd: Re: [list] hello (fwd)]", "hello", true },
	{ "Re: [fwd: [fwd: x]]", "x", true },
	{ "[fwd: ]", "", true },
	{ "[fwd:x", "[fwd:x", false },
	{ "  \t hello \r\n   world  ", "hello world", false },
	{ "=?UTF-8?B?UmU6IGhlbGxv?=", "hello", true },
	{ "=?ISO-8859-1?Q?Re=3A_Pe=F1a?=", "Pe\xc3\xb1" "a", true },
	{ "Re: ", "", true },
	{ "", "", false },
	{ "Rebus: x", "Rebus: x", false },
	{ "Fwding: x", "Fwding: x", false },
	{ "Re[2: x", "Re[2: x", false },
	{ "Re [a[b]]: x", "Re [a[b]]: x", false },
	{ "[a]Re:", "", true },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct buf out;
		bool reply = !cases[i].reply;

		buf_init(&out, BUF_UNLIMITED);
		assert_int_equal(mail_base_subject(cases[i].in, strlen(cases[i].in), &out,
		    &reply), 0);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0 || reply != cases[i].reply)
			fail_msg("case %zu \"%s\": got \"%s\" reply=%d", i, cases[i].in,
			    buf_cstr(&out), reply);
		buf_deinit(&out);
	}
}

/* Long and hostile input: bounded output, linear work (a quadratic step would take
 * minutes on these), never a cut inside a UTF-8 sequence. */
static void
test_limits(void **state)
{
	struct buf in, out;
	size_t i;

	(void)state;
	buf_init(&in, BUF_UNLIMITED);
	buf_init(&out, BUF_UNLIMITED);
	for (i = 0; i < 200000; i++)
		buf_append_str(&in, "[]");
	assert_int_equal(mail_base_subject(in.data, in.len, &out, NULL), 0);
	assert_string_equal(buf_cstr(&out), "[]");
	buf_reset(&in);
	buf_reset(&out);
	for (i = 0; i < 100000; i++)
		buf_append_str(&in, "[fwd:re[");
	assert_int_equal(mail_base_subject(in.data, in.len, &out, NULL), 0);
	assert_true(out.len <= MAIL_BASE_SUBJECT_MAX);
	buf_reset(&in);
	buf_reset(&out);
	for (i = 0; i < 100000; i++)
		buf_append_str(&in, "\xc3\xb1");
	assert_int_equal(mail_base_subject(in.data, in.len, &out, NULL), 0);
	assert_int_equal(out.len, MAIL_BASE_SUBJECT_MAX);
	buf_reset(&in);
	buf_reset(&out);
	buf_append_str(&in, "x\xc3\xb1");
	for (i = 0; i < MAIL_BASE_SUBJECT_MAX; i++)
		buf_append_str(&in, "y");
	/* cut after 4096 octets: "x", "ñ" and 4093 y */
	assert_int_equal(mail_base_subject(in.data, in.len, &out, NULL), 0);
	assert_int_equal(out.len, MAIL_BASE_SUBJECT_MAX);
	buf_reset(&out);
	buf_truncate(&in, 0);
	for (i = 0; i < MAIL_BASE_SUBJECT_MAX - 1; i++)
		buf_append_str(&in, "y");
	buf_append_str(&in, "\xc3\xb1");
	assert_int_equal(mail_base_subject(in.data, in.len, &out, NULL), 0);
	assert_int_equal(out.len, MAIL_BASE_SUBJECT_MAX - 1);
	/* an output buffer with a limit: -1 */
	buf_deinit(&out);
	buf_init(&out, 3);
	assert_int_equal(mail_base_subject("hello", 5, &out, NULL), -1);
	buf_deinit(&in);
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
