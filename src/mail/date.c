/*
 * date.c — lenient RFC 5322 date-time parser (see date.h). Runs in the mail process on
 * untrusted header text; pure, no locale or libc time zone state (the calendar arithmetic
 * is done here so the result does not depend on TZ).
 */
#include "mail/date.h"

#include <stdbool.h>
#include <stdint.h>

#include "lib/util.h"
#include "mail/header.h"

struct dlex {
	const char *p;
	size_t len, i;
};

static void
skip_cfws(struct dlex *l)
{
	l->i = mail_header_skip_cfws((const unsigned char *)l->p, l->len, l->i);
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Up to max digits; returns the number of digits read (0 = none). */
static unsigned int
read_num(struct dlex *l, unsigned int max, int *v_r)
{
	unsigned int n = 0;
	int v = 0;

	while (l->i < l->len && is_digit(l->p[l->i]) && n < max) {
		v = v * 10 + (l->p[l->i] - '0');
		l->i++;
		n++;
	}
	/* more digits than allowed: not this field */
	if (l->i < l->len && is_digit(l->p[l->i]))
		return 0;
	*v_r = v;
	return n;
}

static size_t
read_word(struct dlex *l, const char **w_r)
{
	size_t start = l->i;

	while (l->i < l->len && is_alpha(l->p[l->i]))
		l->i++;
	*w_r = l->p + start;
	return l->i - start;
}

static int
month_index(const char *w, size_t n)
{
	static const char *const months[] = {
		"jan", "feb", "mar", "apr", "may", "jun",
		"jul", "aug", "sep", "oct", "nov", "dec"
	};

	if (n < 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(w, months[i], 3) == 0)
			return i;
	return -1;
}

static bool
is_day_name(const char *w, size_t n)
{
	static const char *const days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

	if (n < 3)
		return false;
	for (size_t i = 0; i < N_ELEMENTS(days); i++)
		if (strncasecmp(w, days[i], 3) == 0)
			return true;
	return false;
}

/* Zone names of RFC 5322 §4.3; military and unknown zones are -0000 (0). */
static int
zone_name_minutes(const char *w, size_t n)
{
	static const struct { const char *name; int min; } zones[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
		{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
	};

	for (size_t i = 0; i < N_ELEMENTS(zones); i++)
		if (mem_ieq(w, n, zones[i].name))
			return zones[i].min;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
mail_date_parse(const char *p, size_t len, time_t *time_r, int *tz_min_r)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct dlex l = { p, len, 0 };
	const char *w;
	size_t wn;
	int day, mon, year, hour, min, sec = 0, tz = 0;
	unsigned int nd;

	skip_cfws(&l);
	/* optional day-of-week "," */
	if (l.i < l.len && is_alpha(p[l.i])) {
		wn = read_word(&l, &w);
		if (!is_day_name(w, wn))
			return -1;
		skip_cfws(&l);
		if (l.i < l.len && p[l.i] == ',')
			l.i++;
		skip_cfws(&l);
	}
	if (read_num(&l, 2, &day) == 0)
		return -1;
	skip_cfws(&l);
	if (l.i < l.len && p[l.i] == '-')
		l.i++;
	skip_cfws(&l);
	wn = read_word(&l, &w);
	if ((mon = month_index(w, wn)) < 0)
		return -1;
	skip_cfws(&l);
	if (l.i < l.len && p[l.i] == '-')
		l.i++;
	skip_cfws(&l);
	nd = read_num(&l, 4, &year);
	if (nd < 2)
		return -1;
	/* RFC 5322 §4.3: two-digit years < 50 are 20xx, others 19xx; three digits + 1900 */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	skip_cfws(&l);
	if (read_num(&l, 2, &hour) == 0)
		return -1;
	skip_cfws(&l);
	if (l.i >= l.len || p[l.i] != ':')
		return -1;
	l.i++;
	skip_cfws(&l);
	if (read_num(&l, 2, &min) == 0)
		return -1;
	skip_cfws(&l);
	if (l.i < l.len && p[l.i] == ':') {
		l.i++;
		skip_cfws(&l);
		if (read_num(&l, 2, &sec) == 0)
			return -1;
		skip_cfws(&l);
	}
	if (l.i < l.len && (p[l.i] == '+' || p[l.i] == '-')) {
		int sign = p[l.i] == '-' ? -1 : 1, z;
		size_t start = ++l.i;

		if (read_num(&l, 4, &z) == 4 && z / 100 < 24 && z % 100 < 60)
			tz = sign * ((z / 100) * 60 + z % 100);
		else
			l.i = start;	/* impossible zone: unknown, -0000 */
	} else if (l.i < l.len && is_alpha(p[l.i])) {
		wn = read_word(&l, &w);
		tz = zone_name_minutes(w, wn);
	}
	if (day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !is_leap(year)) ||
	    hour > 23 || min > 59 || sec > 60)
		return -1;
	if (sec == 60)
		sec = 59;	/* leap second: keep it in the same minute */
	*time_r = (time_t)(days_from_civil(year, (unsigned int)mon + 1, (unsigned int)day) *
	    86400 + hour * 3600 + min * 60 + sec - (int64_t)tz * 60);
	*tz_min_r = tz;
	return 0;
}
