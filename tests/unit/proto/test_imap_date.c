/*
 * test_imap_date.c — unit tests for IMAP date and date-time: tables of valid values with
 * their epoch seconds, malformed and out-of-range fields, truncated inputs, and
 * formatting round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/imap_date.h"

static const struct {
	const char *in;
	int ret, y, m, d;
	long long t;
} dates[] = {
	{ "1-Feb-1994", 0, 1994, 2, 1, 760060800LL },
	{ "01-Feb-1994", 0, 1994, 2, 1, 760060800LL },
	{ "\"1-feb-1994\"", 0, 1994, 2, 1, 760060800LL },
	{ "29-Feb-2000", 0, 2000, 2, 29, 951782400LL },
	{ "1-Mar-1900", 0, 1900, 3, 1, -2203891200LL },
	{ "1-Jan-0001", 0, 1, 1, 1, -62135596800LL },
	{ "31-DEC-9999", 0, 9999, 12, 31, 253402214400LL },
	{ "29-Feb-1900", -1, 0, 0, 0, 0 },
	{ "30-Feb-2000", -1, 0, 0, 0, 0 },
	{ "31-Apr-2020", -1, 0, 0, 0, 0 },
	{ "0-Feb-1994", -1, 0, 0, 0, 0 },
	{ "32-Jan-1994", -1, 0, 0, 0, 0 },
	{ "1-Foo-1994", -1, 0, 0, 0, 0 },
	{ "1-Feb-0000", -1, 0, 0, 0, 0 },
	{ "1-Feb-94", -1, 0, 0, 0, 0 },
	{ "1-Feb-19940", -1, 0, 0, 0, 0 },
	{ "001-Feb-1994", -1, 0, 0, 0, 0 },
	{ " 1-Feb-1994", -1, 0, 0, 0, 0 },
	{ "1 Feb 1994", -1, 0, 0, 0, 0 },
	{ "1-Feb-199x", -1, 0, 0, 0, 0 },
	{ "\"1-Feb-1994", -1, 0, 0, 0, 0 },
	{ "1-Feb-1994\"", -1, 0, 0, 0, 0 },
	{ "\"", -1, 0, 0, 0, 0 },
	{ "", -1, 0, 0, 0, 0 },
	{ "a-Feb-1994", -1, 0, 0, 0, 0 },
};

static void
test_dates(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(dates); i++) {
		struct imap_date d;
		int r = imap_date_parse(dates[i].in, strlen(dates[i].in), &d);

		if (r != dates[i].ret)
			fail_msg("%s: %d", dates[i].in, r);
		if (r == 0) {
			assert_int_equal(d.year, dates[i].y);
			assert_int_equal(d.month, dates[i].m);
			assert_int_equal(d.day, dates[i].d);
			assert_int_equal((long long)imap_date_to_time(&d), dates[i].t);
		}
	}
}

static const struct {
	const char *in;
	int ret;
	long long t;
	int tz;
	const char *fmt;	/* formatted back */
} datetimes[] = {
	{ "17-Jul-1996 02:44:25 -0700", 0, 837596665LL, -420, "17-Jul-1996 02:44:25 -0700" },
	{ "\"17-Jul-1996 02:44:25 -0700\"", 0, 837596665LL, -420, "17-Jul-1996 02:44:25 -0700" },
	{ " 1-Jan-1970 00:00:00 +0000", 0, 0, 0, "01-Jan-1970 00:00:00 +0000" },
	{ "1-Jan-1970 00:00:00 +0000", 0, 0, 0, "01-Jan-1970 00:00:00 +0000" },
	{ "01-Jan-1970 01:00:00 +0100", 0, 0, 60, "01-Jan-1970 01:00:00 +0100" },
	{ "31-Dec-1969 23:59:59 +0000", 0, -1, 0, "31-Dec-1969 23:59:59 +0000" },
	{ "29-Feb-2000 23:59:60 +0000", 0, 951868799LL, 0, "29-Feb-2000 23:59:59 +0000" },
	{ "10-Mar-2024 12:00:00 +9959", 0, 1709712060LL, 5999, "10-Mar-2024 12:00:00 +9959" },
	{ "10-mar-2024 12:00:00 -0000", 0, 1710072000LL, 0, "10-Mar-2024 12:00:00 +0000" },
	{ "10-Mar-2024 24:00:00 +0000", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:60:00 +0000", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:00:61 +0000", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:00:00 +0060", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:00:00 0000", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:00:00 *0000", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:00:00 +00000", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:00:00 GMT", -1, 0, 0, NULL },
	{ "10-Mar-2024 12:00 +0000", -1, 0, 0, NULL },
	{ "10-Mar-2024  12:00:00 +0000", -1, 0, 0, NULL },
	{ "10-Mar-2024T12:00:00 +0000", -1, 0, 0, NULL },
	{ "10-Mar-2024 12-00-00 +0000", -1, 0, 0, NULL },
	{ "31-Feb-2024 12:00:00 +0000", -1, 0, 0, NULL },
	{ "00-Mar-2024 12:00:00 +0000", -1, 0, 0, NULL },
	{ " 0-Mar-2024 12:00:00 +0000", -1, 0, 0, NULL },
	{ "1a-Mar-2024 12:00:00 +0000", -1, 0, 0, NULL },
	{ "10-Mrz-2024 12:00:00 +0000", -1, 0, 0, NULL },
	{ "10-Mar-2024 1:00:00 +0000", -1, 0, 0, NULL },
	{ "", -1, 0, 0, NULL },
};

static void
test_datetimes(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(datetimes); i++) {
		time_t t = 0;
		int tz = 0, r;
		struct buf b;

		r = imap_datetime_parse(datetimes[i].in, strlen(datetimes[i].in), &t, &tz);
		if (r != datetimes[i].ret)
			fail_msg("%s: %d", datetimes[i].in, r);
		if (r != 0)
			continue;
		assert_int_equal((long long)t, datetimes[i].t);
		assert_int_equal(tz, datetimes[i].tz);
		buf_init(&b, 64);
		assert_int_equal(imap_datetime_format(t, tz, &b), 0);
		assert_string_equal(buf_cstr(&b), datetimes[i].fmt);
		buf_deinit(&b);
	}
}

/* Every prefix of valid input is rejected without reading past it. */
static void
test_prefixes(void **state)
{
	static const char *in[] = { "\"17-Jul-1996 02:44:25 -0700\"", "01-Feb-1994" };

	for (size_t i = 0; i < N_ELEMENTS(in); i++) {
		size_t len = strlen(in[i]);

		for (size_t n = 0; n < len; n++) {
			char *copy = xmalloc(n + 1);
			struct imap_date d;
			time_t t;
			int tz;

			memcpy(copy, in[i], n);
			assert_int_equal(imap_datetime_parse(copy, n, &t, &tz), -1);
			/* "01-Feb-199" and "\"17-Jul-19" are 10 bytes and not dates either */
			assert_int_equal(imap_date_parse(copy, n, &d), -1);
			free(copy);
		}
	}
}

static void
test_format(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(imap_datetime_format(0, 99 * 60 + 59, &b), 0);
	assert_string_equal(buf_cstr(&b), "05-Jan-1970 03:59:00 +9959");
	buf_reset(&b);
	assert_int_equal(imap_datetime_format(0, -(99 * 60 + 59), &b), 0);
	assert_string_equal(buf_cstr(&b), "27-Dec-1969 20:01:00 -9959");
	buf_reset(&b);
	assert_int_equal(imap_datetime_format(0, 6000, &b), -1);
	assert_int_equal(imap_datetime_format(0, -6000, &b), -1);
	assert_int_equal(imap_datetime_format((time_t)253402300799LL, 0, &b), 0);
	assert_string_equal(buf_cstr(&b), "31-Dec-9999 23:59:59 +0000");
	buf_reset(&b);
	assert_int_equal(imap_datetime_format((time_t)253402300799LL, 60, &b), -1);
	assert_int_equal(imap_datetime_format((time_t)-62135596800LL, 0, &b), 0);
	assert_string_equal(buf_cstr(&b), "01-Jan-0001 00:00:00 +0000");
	buf_reset(&b);
	assert_int_equal(imap_datetime_format((time_t)-62135596800LL, -1, &b), -1);
	assert_int_equal(imap_datetime_format((time_t)INT64_MAX, 0, &b), -1);
	assert_int_equal(imap_datetime_format((time_t)INT64_MIN, 0, &b), -1);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
	/* buffer limit: unchanged on failure */
	buf_init(&b, 10);
	assert_int_equal(imap_datetime_format(0, 0, &b), -1);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
}

/* Format then parse gives the same instant and zone over a spread of values. */
static void
test_roundtrip(void **state)
{
	int64_t t;

	for (t = -62135596800LL + 5 * 86400; t < 253402300799LL - 5 * 86400; t += 7777777 * 13 + 17) {
		static const int zones[] = { 0, 60, -420, 330, 5999, -5999, 1 };

		for (size_t z = 0; z < N_ELEMENTS(zones); z++) {
			struct buf b;
			time_t back;
			int tz;

			buf_init(&b, 64);
			assert_int_equal(imap_datetime_format((time_t)t, zones[z], &b), 0);
			assert_int_equal(b.len, 26);
			assert_int_equal(imap_datetime_parse(b.data, b.len, &back, &tz), 0);
			assert_int_equal((int64_t)back, t);
			assert_int_equal(tz, zones[z]);
			buf_deinit(&b);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_datetimes),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
