/*
 * pop3_uidl.c — the POP3 UIDL template (see pop3_uidl.h): the configuration check and
 * the expansion per message, one grammar for both. Pure; every loop is bounded by the
 * template, which the configuration loader has checked before the mail process uses it.
 */
#include "pop3_uidl.h"

#include "util.h"

/*
 * One "%" directive at fmt[*pos] (just after the "%"). Returns the bytes it expands to
 * in buf (NUL-terminated) or -1 if the directive is invalid; counts "%u" and "%v" in
 * *vars.
 */
static int
uidl_directive(const char *fmt, size_t *pos, uint32_t uid, uint32_t uidvalidity,
    char *buf, size_t bufsize, unsigned *vars)
{
	size_t i = *pos;
	bool hex = false;
	unsigned width = 0, digits = 0;
	uint32_t v;
	int n;

	if (fmt[i] == '%') {
		*pos = i + 1;
		buf[0] = '%';
		buf[1] = '\0';
		return 1;
	}
	if (fmt[i] == '0') {
		/* a width pads with zeros: space padding is no valid unique-id */
		i++;
		while (fmt[i] >= '0' && fmt[i] <= '9' && digits < 2) {
			width = width * 10 + (unsigned)(fmt[i] - '0');
			digits++;
			i++;
		}
	}
	if (fmt[i] == 'X') {
		hex = true;
		i++;
	}
	if (fmt[i] == 'u')
		v = uid;
	else if (fmt[i] == 'v')
		v = uidvalidity;
	else
		return -1;
	*pos = i + 1;
	(*vars)++;
	if (width > POP3_UIDL_MAX)
		return -1;
	if (hex)
		n = snprintf(buf, bufsize, "%0*x", (int)width, (unsigned)v);
	else
		n = snprintf(buf, bufsize, "%0*u", (int)width, (unsigned)v);
	return n < 0 || (size_t)n >= bufsize ? -1 : n;
}

/* pop3_uidl_format, counting the "%u" and "%v" directives in *vars_r. */
static size_t
expand(const char *fmt, uint32_t uid, uint32_t uidvalidity, char *out, size_t out_size,
    unsigned *vars_r)
{
	size_t pos = 0, len = 0;

	*vars_r = 0;
	if (fmt == NULL || out_size == 0)
		return 0;
	while (fmt[pos] != '\0') {
		char piece[POP3_UIDL_MAX + 2];
		int n;

		if (fmt[pos] == '%') {
			pos++;
			n = uidl_directive(fmt, &pos, uid, uidvalidity, piece, sizeof(piece),
			    vars_r);
			if (n < 0)
				return 0;
		} else {
			piece[0] = fmt[pos++];
			piece[1] = '\0';
			n = 1;
		}
		for (int k = 0; k < n; k++) {
			unsigned char ch = (unsigned char)piece[k];

			/* RFC 1939 §7: unique-id = 1*70 chars in 0x21..0x7E */
			if (ch < 0x21 || ch > 0x7e || len + 1 >= out_size || len >= POP3_UIDL_MAX)
				return 0;
			out[len++] = (char)ch;
		}
	}
	out[len] = '\0';
	return len;
}

size_t
pop3_uidl_format(const char *fmt, uint32_t uid, uint32_t uidvalidity, char *out,
    size_t out_size)
{
	unsigned vars;

	return expand(fmt, uid, uidvalidity, out, out_size, &vars);
}

bool
pop3_uidl_format_check(const char *fmt)
{
	char out[POP3_UIDL_MAX + 1];
	unsigned vars;

	/* the widest values: a directive is widest at 0xffffffff / 4294967295 */
	return expand(fmt, UINT32_MAX, UINT32_MAX, out, sizeof(out), &vars) > 0 && vars > 0 &&
	    expand(fmt, 1, 1, out, sizeof(out), &vars) > 0;
}
