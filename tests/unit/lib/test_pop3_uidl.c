/*
 * test_pop3_uidl.c — unit tests for the POP3 UIDL template (src/lib/pop3_uidl.c): a table
 * of templates expanded with given UIDs and UIDVALIDITYs, and the configuration check
 * (valid, invalid, too long at the widest values, no variable at all).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/pop3_uidl.h"
#include "lib/util.h"

static void
test_uidl(void **state)
{
	static const struct { const char *fmt; uint32_t uid, uv; const char *want; } t[] = {
		{ "%08Xu%08Xv", 1, 0x5f3e2a1b, "000000015f3e2a1b" },
		{ "%08Xu%08Xv", 0xabcdef12, 1, "abcdef1200000001" },
		{ "%u", 42, 7, "42" },
		{ "%v.%u", 42, 7, "7.42" },
		{ "%Xu", 255, 0, "ff" },
		{ "%4u", 7, 0, "   7" },	/* a space: not a valid unique-id */
		{ "u%%%u", 9, 0, "u%9" },
		{ "%010u", 12, 0, "0000000012" },
	};
	static const char *const bad[] = { "", "%", "%x", "%08X", "%Xw", "a b %u", "%u\x01",
	    "%99u", "%123u", "%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u",
	    "%4u", "%1u", "abc", "%%", "u%%v", "%0123u" };
	char out[POP3_UIDL_MAX + 1];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(t); i++) {
		size_t n = pop3_uidl_format(t[i].fmt, t[i].uid, t[i].uv, out, sizeof(out));

		if (strchr(t[i].want, ' ') != NULL) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_int_equal(n, strlen(t[i].want));
		assert_string_equal(out, t[i].want);
	}
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		assert_false(pop3_uidl_format_check(bad[i]));
	assert_true(pop3_uidl_format_check("%08Xu%08Xv"));
	assert_true(pop3_uidl_format_check("%u"));
	assert_true(pop3_uidl_format_check("%v-%u"));
	assert_true(pop3_uidl_format_check("%0u"));
	assert_true(pop3_uidl_format_check("%%%0Xv"));
	assert_true(pop3_uidl_format_check("%070u"));
	assert_false(pop3_uidl_format_check("%071u"));
	assert_false(pop3_uidl_format_check("x%070u"));
	/* a result that does not fit the caller's buffer */
	assert_int_equal(pop3_uidl_format("%u", 123456, 0, out, 4), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uidl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
