#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/util.h"

static void
test_parse_u64(void **state)
{
	static const struct { const char *in; uint64_t max; int ret; uint64_t want; } cases[] = {
		{ "0", 10, 0, 0 }, { "10", 10, 0, 10 }, { "11", 10, -1, 0 },
		{ "", 10, -1, 0 }, { "-1", 10, -1, 0 }, { "+1", 10, -1, 0 }, { "1a", 10, -1, 0 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, -1, 0 },
		{ "99999999999999999999999", UINT64_MAX, -1, 0 },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		uint64_t v = 0;

		assert_int_equal(parse_u64(cases[i].in, strlen(cases[i].in), cases[i].max, &v),
		    cases[i].ret);
		if (cases[i].ret == 0)
			assert_true(v == cases[i].want);
	}
}

static void
test_parse_u32(void **state)
{
	uint32_t v;

	assert_int_equal(parse_u32("4294967295", 10, &v), 0);
	assert_true(v == UINT32_MAX);
	assert_int_equal(parse_u32("4294967296", 10, &v), -1);
}

static void
test_ct_memeq(void **state)
{
	assert_true(ct_memeq("abc", 3, "abc", 3));
	assert_false(ct_memeq("abc", 3, "abd", 3));
	assert_false(ct_memeq("abc", 3, "ab", 2));
	assert_false(ct_memeq("abc", 3, "", 0));
	assert_true(ct_memeq("", 0, "", 0));
}

static void
test_ieq(void **state)
{
	assert_true(mem_ieq("InBoX", 5, "INBOX"));
	assert_false(mem_ieq("INBOX1", 6, "INBOX"));
	assert_true(str_has_prefix("maildir:/x", "maildir:"));
}

static void
test_hex_digit_value(void **state)
{
	static const struct { unsigned char c; int want; } t[] = {
		{ '0', 0 }, { '9', 9 }, { 'a', 10 }, { 'f', 15 }, { 'A', 10 }, { 'F', 15 },
		{ 'g', -1 }, { 'G', -1 }, { '/', -1 }, { ':', -1 }, { '@', -1 }, { '`', -1 },
		{ ' ', -1 }, { 0, -1 }, { 0x80, -1 }, { 0xff, -1 },
	};

	for (size_t i = 0; i < N_ELEMENTS(t); i++)
		assert_int_equal(hex_digit_value(t[i].c), t[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_u32),
		cmocka_unit_test(test_ct_memeq),
		cmocka_unit_test(test_ieq),
		cmocka_unit_test(test_hex_digit_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
