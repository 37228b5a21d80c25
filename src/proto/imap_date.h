/*
 * imap_date.h — IMAP dates (RFC 3501 §9 date, date-time): "1-Feb-1994" for SEARCH
 * BEFORE/ON/SINCE, "17-Jul-1996 02:44:25 -0700" for APPEND and INTERNALDATE, parsed and
 * formatted without libc locale or time zone state. Used by the imap session process on
 * client input: pure, strict range checks, no I/O.
 */
#ifndef BUZON_IMAP_DATE_H
#define BUZON_IMAP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

struct imap_date {
	int year;	/* 1..9999 */
	int month;	/* 1..12 */
	int day;	/* 1..days in that month */
};

/*
 * Parse an IMAP date "d-Mon-yyyy" / "dd-Mon-yyyy" (month names ASCII case-insensitive),
 * optionally enclosed in DQUOTEs. Returns 0, or -1 on syntax or range errors.
 */
int imap_date_parse(const char *p, size_t len, struct imap_date *date_r);
/* Seconds since the epoch of 00:00:00 UTC of that date (for SEARCH comparisons). */
time_t imap_date_to_time(const struct imap_date *date);

/*
 * Parse a date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (day "dd", " d" or "d"; optionally in
 * DQUOTEs). *t_r gets the UTC instant, *tz_minutes_r the zone offset in minutes (east of
 * UTC, e.g. -0700 gives -420). Hours 0..23, minutes 0..59, seconds 0..60 (a leap second is
 * taken as :59), zone up to +-9959 with minutes <= 59. Returns 0 or -1.
 */
int imap_datetime_parse(const char *p, size_t len, time_t *t_r, int *tz_minutes_r);
/*
 * Append t shown in zone tz_minutes as "dd-Mon-yyyy hh:mm:ss +zzzz" (no quotes, day
 * zero-padded). Returns 0, or -1 if the zone is out of range, the year is outside
 * 1..9999, or out's limit is hit (out then unchanged).
 */
int imap_datetime_format(time_t t, int tz_minutes, struct buf *out);

#endif
