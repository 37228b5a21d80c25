/*
 * imap_date.c — IMAP date and date-time parsing and formatting (see imap_date.h). Runs
 * in the imap session process on client SEARCH and APPEND arguments. Calendar arithmetic
 * is done here (days from civil date) instead of mktime/strptime so results depend on no
 * locale, TZ variable or libc time zone database, and every field is range-checked.
 */
#include "proto/imap_date.h"

#include "lib/util.h"

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y_r, int *m_r, int *d_r)
{
	int64_t era, doe, yoe, doy, mp, y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d_r = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m_r = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y_r = y + (*m_r <= 2);
}

static int
digits(const char *p, size_t n, int *v_r)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* Strip one pair of enclosing DQUOTEs. */
static int
unquote(const char **p, size_t *len)
{
	if (*len > 0 && (*p)[0] == '"') {
		if (*len < 2 || (*p)[*len - 1] != '"')
			return -1;
		(*p)++;
		*len -= 2;
	}
	return 0;
}

/* "Mon-yyyy" at p (8 bytes). */
static int
month_year(const char *p, int *m_r, int *y_r)
{
	int m;

	for (m = 0; m < 12; m++) {
		if (mem_ieq(p, 3, months[m]))
			break;
	}
	if (m == 12 || p[3] != '-' || digits(p + 4, 4, y_r) < 0 || *y_r < 1)
		return -1;
	*m_r = m + 1;
	return 0;
}

int
imap_date_parse(const char *p, size_t len, struct imap_date *date_r)
{
	size_t dl;
	struct imap_date d;

	if (unquote(&p, &len) < 0)
		return -1;
	/* RFC 3501 §9: date-text = date-day "-" date-month "-" date-year; date-day 1*2DIGIT */
	if (len == 10)
		dl = 1;
	else if (len == 11)
		dl = 2;
	else
		return -1;
	if (digits(p, dl, &d.day) < 0 || p[dl] != '-' ||
	    month_year(p + dl + 1, &d.month, &d.year) < 0)
		return -1;
	if (d.day < 1 || d.day > days_in_month(d.year, d.month))
		return -1;
	*date_r = d;
	return 0;
}

time_t
imap_date_to_time(const struct imap_date *date)
{
	return (time_t)(days_from_civil(date->year, date->month, date->day) * 86400);
}

int
imap_datetime_parse(const char *p, size_t len, time_t *t_r, int *tz_minutes_r)
{
	struct imap_date d;
	int hh, mm, ss, zh, zm, tz;
	const char *t;

	if (unquote(&p, &len) < 0)
		return -1;
	/* RFC 3501 §9: date-day-fixed = (SP DIGIT) / 2DIGIT; a bare single digit is tolerated */
	if (len == 25) {
		if (digits(p, 1, &d.day) < 0)
			return -1;
		t = p + 1;
	} else if (len == 26) {
		if (p[0] == ' ') {
			if (digits(p + 1, 1, &d.day) < 0)
				return -1;
		} else if (digits(p, 2, &d.day) < 0) {
			return -1;
		}
		t = p + 2;
	} else {
		return -1;
	}
	/* t: "-Mon-yyyy hh:mm:ss +zzzz" */
	if (t[0] != '-' || month_year(t + 1, &d.month, &d.year) < 0)
		return -1;
	if (d.day < 1 || d.day > days_in_month(d.year, d.month))
		return -1;
	t += 9;
	if (t[0] != ' ' || digits(t + 1, 2, &hh) < 0 || t[3] != ':' ||
	    digits(t + 4, 2, &mm) < 0 || t[6] != ':' || digits(t + 7, 2, &ss) < 0 ||
	    t[9] != ' ' || (t[10] != '+' && t[10] != '-') || digits(t + 11, 2, &zh) < 0 ||
	    digits(t + 13, 2, &zm) < 0)
		return -1;
	if (hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return -1;
	if (ss == 60)
		ss = 59;
	tz = zh * 60 + zm;
	if (t[10] == '-')
		tz = -tz;
	*t_r = (time_t)(days_from_civil(d.year, d.month, d.day) * 86400 +
	    hh * 3600 + mm * 60 + ss - (int64_t)tz * 60);
	*tz_minutes_r = tz;
	return 0;
}

int
imap_datetime_format(time_t t, int tz_minutes, struct buf *out)
{
	int64_t local, days, secs, y;
	int m, d, az;

	if (tz_minutes < -(99 * 60 + 59) || tz_minutes > 99 * 60 + 59)
		return -1;
	/* keep the arithmetic far from int64 overflow: years 1..9999 only */
	if (t < (time_t)-62135596800LL - 86400 * 5 || t > (time_t)253402300799LL + 86400 * 5)
		return -1;
	local = (int64_t)t + (int64_t)tz_minutes * 60;
	days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	secs = local - days * 86400;
	civil_from_days(days, &y, &m, &d);
	if (y < 1 || y > 9999)
		return -1;
	az = tz_minutes < 0 ? -tz_minutes : tz_minutes;
	return buf_appendf(out, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", d, months[m - 1],
	    (int)y, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
	    tz_minutes < 0 ? '-' : '+', az / 60, az % 60);
}
