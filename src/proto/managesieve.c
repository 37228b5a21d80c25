/*
 * managesieve.c — the ManageSieve command line parser (see managesieve.h). Pure and
 * bounded: the bytes outside literals are counted against line_max at every step and a
 * literal's length is checked against literal_max before its contents are awaited.
 */
#include <string.h>

#include "proto/managesieve.h"

/* RFC 5804 §4: ATOM-CHAR is any CHAR except atom-specials ( ) { SP CTL % * " \ ]. */
static bool
atom_char(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && memchr("(){}%*\"\\]", ch, 9) == NULL;
}

/*
 * A malformed line: drop it through its LF once the LF is there (TOOLONG if the line
 * grows past the limit first).
 */
static enum ms_parse_result
bad_line(const unsigned char *data, size_t len, size_t from, size_t lit_bytes,
    const struct ms_limits *lim, enum ms_error err, struct ms_cmd *cmd, size_t *used_r)
{
	const unsigned char *lf = from < len ? memchr(data + from, '\n', len - from) : NULL;

	*used_r = 0;
	if (lf == NULL) {
		if (len - lit_bytes > lim->line_max) {
			cmd->error = MS_ERR_TOOLONG;
			return MS_PARSE_ERROR;
		}
		return MS_PARSE_MORE;
	}
	cmd->error = err;
	*used_r = (size_t)(lf - data) + 1;
	return MS_PARSE_ERROR;
}

#define BAD(at, e) bad_line(data, len, (at), lit_bytes, lim, (e), cmd, used_r)

enum ms_parse_result
managesieve_parse(const unsigned char *data, size_t len, const struct ms_limits *lim,
    bool string_only, struct ms_cmd *cmd, size_t *used_r)
{
	size_t i = 0, lit_bytes = 0;
	bool first = true;

	cmd->argc = 0;
	cmd->error = MS_ERR_NONE;
	cmd->skip = 0;
	cmd->name.p = NULL;
	cmd->name.len = 0;
	*used_r = 0;
	for (;;) {
		struct ms_arg *a;
		unsigned char ch;

		if (i - lit_bytes > lim->line_max) {
			cmd->error = MS_ERR_TOOLONG;
			return MS_PARSE_ERROR;
		}
		if (i >= len)
			return MS_PARSE_MORE;
		ch = data[i];
		if (!first || ch == '\r' || ch == '\n') {
			/* between tokens: SP, or the end of the line */
			if (ch == '\r') {
				if (i + 1 >= len)
					return MS_PARSE_MORE;
				if (data[i + 1] != '\n')
					return BAD(i, MS_ERR_SYNTAX);
				i++;
				ch = '\n';
			}
			if (ch == '\n') {
				if (first || (string_only && cmd->argc != 1))
					return BAD(i, MS_ERR_SYNTAX);
				*used_r = i + 1;
				return MS_PARSE_DONE;
			}
			if (ch != ' ')
				return BAD(i, ch == '\0' ? MS_ERR_NUL : MS_ERR_SYNTAX);
			while (i < len && data[i] == ' ' && i - lit_bytes <= lim->line_max)
				i++;
			if (i >= len || i - lit_bytes > lim->line_max)
				continue;
			if (data[i] == '\r' || data[i] == '\n')
				continue;	/* trailing spaces are tolerated */
			ch = data[i];
		}
		if (first && !string_only) {
			size_t j = i;

			first = false;
			while (j < len && atom_char(data[j]) && j - i <= MS_NAME_MAX)
				j++;
			if (j - i > MS_NAME_MAX || j == i)
				return BAD(j, j < len && data[j] == '\0' ? MS_ERR_NUL :
				    MS_ERR_SYNTAX);
			if (j >= len)
				return MS_PARSE_MORE;
			cmd->name.type = MS_ARG_ATOM;
			cmd->name.p = (const char *)data + i;
			cmd->name.len = j - i;
			cmd->name.literal = false;
			i = j;
			continue;
		}
		first = false;
		if (cmd->argc == MS_ARGS_MAX || (string_only && cmd->argc == 1))
			return BAD(i, string_only ? MS_ERR_SYNTAX : MS_ERR_ARGS);
		a = &cmd->args[cmd->argc];
		a->literal = false;
		if (ch == '"') {
			char *out = cmd->qbuf[cmd->argc];
			size_t j = i + 1, olen = 0;

			for (;;) {
				if (j - lit_bytes > lim->line_max) {
					cmd->error = MS_ERR_TOOLONG;
					return MS_PARSE_ERROR;
				}
				if (j >= len)
					return MS_PARSE_MORE;
				ch = data[j];
				if (ch == '"')
					break;
				if (ch == '\\') {
					if (j + 1 >= len)
						return MS_PARSE_MORE;
					ch = data[++j];
					if (ch != '"' && ch != '\\')
						return BAD(j, MS_ERR_SYNTAX);
				} else if (ch == '\0') {
					return BAD(j, MS_ERR_NUL);
				} else if (ch == '\r' || ch == '\n') {
					return BAD(j, MS_ERR_SYNTAX);
				}
				if (olen == MS_QUOTED_MAX)
					return BAD(j, MS_ERR_SYNTAX);
				out[olen++] = (char)ch;
				j++;
			}
			a->type = MS_ARG_STRING;
			a->p = out;
			a->len = olen;
			i = j + 1;
		} else if (ch == '{') {
			/* RFC 5804 §4: literal-c2s is {n+}; the synchronising {n} is taken too */
			uint64_t n = 0;
			size_t j = i + 1, digits = 0;

			while (j < len && data[j] >= '0' && data[j] <= '9') {
				if (++digits > 19) {
					cmd->error = MS_ERR_LITERAL;	/* beyond any bound */
					return MS_PARSE_ERROR;
				}
				n = n * 10 + (unsigned)(data[j] - '0');
				j++;
			}
			if (j < len && data[j] == '+')
				j++;
			if (j >= len)
				return MS_PARSE_MORE;
			if (digits == 0 || data[j] != '}')
				return BAD(j, MS_ERR_SYNTAX);
			j++;
			if (j < len && data[j] == '\r')
				j++;
			if (j >= len)
				return MS_PARSE_MORE;
			if (data[j] != '\n')
				return BAD(j, MS_ERR_SYNTAX);
			j++;
			if (j - lit_bytes > lim->line_max) {
				cmd->error = MS_ERR_TOOLONG;
				return MS_PARSE_ERROR;
			}
			if (n > lim->literal_max) {
				/* the caller may skip it: its length and where it starts */
				cmd->error = MS_ERR_LITERAL;
				cmd->skip = n;
				*used_r = j;
				return MS_PARSE_ERROR;
			}
			if (len - j < n)
				return MS_PARSE_MORE;
			a->type = MS_ARG_STRING;
			a->p = (const char *)data + j;
			a->len = (size_t)n;
			a->literal = true;
			lit_bytes += (size_t)n;
			i = j + (size_t)n;
		} else if (atom_char(ch)) {
			size_t j = i;

			while (j < len && atom_char(data[j]) && j - i <= MS_NAME_MAX)
				j++;
			if (j - i > MS_NAME_MAX)
				return BAD(j, MS_ERR_SYNTAX);
			if (j >= len)
				return MS_PARSE_MORE;
			a->type = MS_ARG_ATOM;
			a->p = (const char *)data + i;
			a->len = j - i;
			i = j;
		} else {
			return BAD(i, ch == '\0' ? MS_ERR_NUL : MS_ERR_SYNTAX);
		}
		cmd->argc++;
	}
}

int
managesieve_arg_u32(const struct ms_arg *a, uint32_t *n_r)
{
	uint64_t n = 0;

	if (a->type != MS_ARG_ATOM || a->len == 0 || a->len > 10)
		return -1;
	for (size_t i = 0; i < a->len; i++) {
		if (a->p[i] < '0' || a->p[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(a->p[i] - '0');
	}
	if (n > UINT32_MAX)
		return -1;
	*n_r = (uint32_t)n;
	return 0;
}

bool
managesieve_name_valid(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	if (len == 0)
		return false;
	while (i < len) {
		uint32_t cp;
		size_t n;

		if (s[i] < 0x80) {
			cp = s[i];
			n = 1;
		} else if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			cp = s[i] & 0x1f;
			n = 2;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			cp = s[i] & 0x0f;
			n = 3;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			cp = s[i] & 0x07;
			n = 4;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		/* RFC 5804 §1.6: no control characters (RFC 5198 §2: C0, DEL, C1, LS, PS) */
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
			return false;
		i += n;
	}
	return true;
}
