#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/buf.h"

static void
test_append_limit(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "abcd", 4), 0);
	assert_int_equal(buf_append_str(&b, "efgh"), 0);
	assert_string_equal(buf_cstr(&b), "abcdefgh");
	assert_int_equal(buf_append_c(&b, 'x'), -1);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_appendf(&b, "%d", 1), -1);
	buf_consume(&b, 3);
	assert_string_equal(buf_cstr(&b), "defgh");
	assert_int_equal(buf_appendf(&b, "%03d", 7), 0);
	assert_string_equal(buf_cstr(&b), "defgh007");
	buf_truncate(&b, 2);
	assert_string_equal(buf_cstr(&b), "de");
	buf_deinit(&b);
}

static void
test_empty(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b, BUF_UNLIMITED);
	assert_string_equal(buf_cstr(&b), "");
	buf_consume(&b, 10);
	s = buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_limit),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
