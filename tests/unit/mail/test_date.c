/*
 * test_date.c — lenient RFC 5322 date parsing: modern and obsolete forms, zones,
 * comments, two-digit years, invalid dates; every prefix of every input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/date.h"
#include "lib/util.h"

struct date_case {
	const char *in;
	int ret;
	int64_t t;
	int tz;
};

static void
test_dates(void **state)
{
	static const struct date_case cases[] = {
		{ "Tue, 1 Jul 2003 10:52:37 +0200", 0, 1057049557, 120 },
		{ "1 Jul 2003 10:52:37 +0200", 0, 1057049557, 120 },
		{ "Thu, 13 Feb 1969 23:32:54 -0330", 0, -27723426, -210 },
		{ "Thu,\n 13\n  Feb\n  1969\n 23:32\n  -0330 (Newfoundland Time)", 0,
		  -27723480, -210 },
		{ "21 Nov 97 09:55:06 GMT", 0, 880106106, 0 },
		{ "Fri, 21 Nov 1997 09:55:06 -0600", 0, 880127706, -360 },
		{ "Fri, 21 Nov 1997 09:55:06 EST", 0, 880124106, -300 },
		{ "Fri, 21 Nov 1997 09:55:06 PDT", 0, 880131306, -420 },
		{ "Fri, 21 Nov 1997 09:55:06 Z", 0, 880106106, 0 },
		{ "Fri, 21 Nov 1997 09:55:06 A", 0, 880106106, 0 },	/* military: -0000 */
		{ "Fri, 21 Nov 1997 09:55:06 XYZ", 0, 880106106, 0 },
		{ "Fri, 21 Nov 1997 09:55:06", 0, 880106106, 0 },
		{ "Fri, 21 Nov 1997 09:55", 0, 880106100, 0 },
		{ "21 Nov 1997 09:55:06 +0000 (UTC)", 0, 880106106, 0 },
		{ "Sun, 6 Mar 2005 05:06:07 +0100", 0, 1110081967, 60 },
		{ "1 jan 00 00:00:00 +0000", 0, 946684800, 0 },
		{ "1 Jan 49 00:00:00 +0000", 0, 2493072000LL, 0 },
		{ "1 Jan 50 00:00:00 +0000", 0, -631152000, 0 },
		{ "1 Jan 100 00:00:00 +0000", 0, 946684800, 0 },		/* 3 digits: 2000 */
		{ "29 Feb 2024 12:00:00 +0000", 0, 1709208000, 0 },
		{ "1-Jan-2020 00:00:00 +0000", 0, 1577836800, 0 },
		{ "31 Dec 2016 23:59:60 +0000", 0, 1483228799, 0 },	/* leap second */
		{ "Monday, 1 Jul 2003 10:52:37 +0200", 0, 1057049557, 120 },
		{ "29 Feb 2023 12:00:00 +0000", -1, 0, 0 },
		{ "32 Jan 2020 00:00:00 +0000", -1, 0, 0 },
		{ "0 Jan 2020 00:00:00 +0000", -1, 0, 0 },
		{ "1 Foo 2020 00:00:00 +0000", -1, 0, 0 },
		{ "1 Jan 2020 24:00:00 +0000", -1, 0, 0 },
		{ "1 Jan 2020 00:60:00 +0000", -1, 0, 0 },
		{ "1 Jan 2020", -1, 0, 0 },
		{ "1 Jan 2 00:00:00", -1, 0, 0 },
		{ "123 Jan 2020 00:00:00", -1, 0, 0 },
		{ "Blah, 1 Jan 2020 00:00:00", -1, 0, 0 },
		{ "", -1, 0, 0 },
		{ "garbage", -1, 0, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		time_t t = 0;
		int tz = 12345;
		int ret = mail_date_parse(cases[i].in, strlen(cases[i].in), &t, &tz);

		print_message("date [%s]\n", cases[i].in);
		assert_int_equal(ret, cases[i].ret);
		if (ret == 0) {
			if (cases[i].t != 0)
				assert_int_equal((int64_t)t, cases[i].t);
			assert_int_equal(tz, cases[i].tz);
		}
		for (size_t cut = 0; cut <= strlen(cases[i].in); cut++) {
			char *p = malloc(cut + 1);

			memcpy(p, cases[i].in, cut);
			(void)mail_date_parse(p, cut, &t, &tz);
			free(p);
		}
	}
	/* 3-digit year 100 => 2000 */
	{
		time_t t;
		int tz;

		assert_int_equal(mail_date_parse("1 Jan 100 00:00:00 +0000", 24, &t, &tz), 0);
		assert_int_equal((int64_t)t, 946684800);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
