#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/imapstr.h"

static void
test_strings(void **state)
{
	static const struct { const char *in; size_t len; int astring; const char *want; } cases[] = {
		{ "abc", 3, 0, "\"abc\"" },
		{ "abc", 3, 1, "abc" },
		{ "a b", 3, 1, "\"a b\"" },
		{ "NIL", 3, 1, "\"NIL\"" },
		{ "", 0, 1, "\"\"" },
		{ "a\"b\\", 4, 0, "\"a\\\"b\\\\\"" },
		{ "a\r\nb", 4, 0, "{4}\r\na\r\nb" },
		{ "\xc3\xa9", 2, 1, "{2}\r\n\xc3\xa9" },
		{ "a\0b", 3, 0, "{3}\r\na\0b" },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct buf b;
		size_t wl = strlen(cases[i].want);

		buf_init(&b, 4096);
		if (cases[i].astring)
			assert_int_equal(imap_append_astring(&b, cases[i].in, cases[i].len), 0);
		else
			assert_int_equal(imap_append_string(&b, cases[i].in, cases[i].len), 0);
		if (cases[i].len == 3 && cases[i].in[1] == '\0')
			wl = 8; /* embedded NUL case */
		assert_int_equal(b.len, wl);
		assert_memory_equal(b.data, cases[i].want, wl);
		buf_deinit(&b);
	}
}

static void
test_astring_utf8(void **state)
{
	static const struct { const char *in; const char *want; } cases[] = {
		{ "Pe\xc3\xb1" "a", "\"Pe\xc3\xb1" "a\"" },
		{ "A&B", "A&B" },
		{ "a b\xc3\xa9", "\"a b\xc3\xa9\"" },
		{ "nil", "\"nil\"" },
		{ "a\"\xc3\xa9", "\"a\\\"\xc3\xa9\"" },
		{ "\xc3\xa9\r\n", "{4}\r\n\xc3\xa9\r\n" },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct buf b;

		buf_init(&b, 4096);
		assert_int_equal(imap_append_astring_utf8(&b, cases[i].in, strlen(cases[i].in)), 0);
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_deinit(&b);
	}
}

static void
test_nstring(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(imap_append_nstring(&b, NULL, 0), 0);
	assert_string_equal(buf_cstr(&b), "NIL");
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_nstring),
		cmocka_unit_test(test_astring_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
