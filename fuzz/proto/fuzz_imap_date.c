/*
 * fuzz_imap_date.c — libFuzzer target for IMAP date and date-time parsing: whatever
 * parses must format back and re-parse to the same instant and zone.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/imap_date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct imap_date d;
	time_t t, t2;
	int tz, tz2;

	if (imap_date_parse(s, size, &d) == 0) {
		if (d.year < 1 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1 ||
		    d.day > 31)
			abort();
		(void)imap_date_to_time(&d);
	}
	if (imap_datetime_parse(s, size, &t, &tz) == 0) {
		struct buf b;

		buf_init(&b, 64);
		if (tz < -5999 || tz > 5999)
			abort();
		/* may fail only when the zone shifts the date out of years 1..9999 */
		if (imap_datetime_format(t, tz, &b) == 0) {
			if (imap_datetime_parse(b.data, b.len, &t2, &tz2) != 0 || t2 != t ||
			    tz2 != tz)
				abort();
		}
		buf_deinit(&b);
	}
	return 0;
}
