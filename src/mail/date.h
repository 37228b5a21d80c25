/*
 * date.h — lenient RFC 5322 date-time parsing (§3.3 and the obsolete §4.3 forms: optional
 * day of week, two-digit years, obsolete and military zones, comments, missing seconds),
 * for SEARCH SENTBEFORE/SENTON/SENTSINCE, SORT DATE and INTERNALDATE of imported mail.
 * Pure; runs in the mail process on untrusted header text.
 */
#ifndef BUZON_MAIL_DATE_H
#define BUZON_MAIL_DATE_H

#include <stddef.h>
#include <time.h>

/*
 * Parse p[0..len) (an unfolded Date: value). On success returns 0, *time_r is the UTC
 * time and *tz_min_r the zone offset in minutes east of UTC (unknown zones give 0, as
 * RFC 5322 §4.3 says "-0000"). Returns -1 if no valid date could be found.
 */
int mail_date_parse(const char *p, size_t len, time_t *time_r, int *tz_min_r);

#endif
