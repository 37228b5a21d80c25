/*
 * fuzz_date.c — libFuzzer target for the lenient RFC 5322 date parser.
 */
#include <stddef.h>
#include <stdint.h>

#include "mail/date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	time_t t;
	int tz;

	if (mail_date_parse((const char *)data, size, &t, &tz) == 0 &&
	    (tz < -24 * 60 || tz > 24 * 60))
		__builtin_trap();
	return 0;
}
