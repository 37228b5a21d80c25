/*
 * authproto.c — the Dovecot authentication protocol's client lines (see authproto.h).
 * Runs in the login process on bytes from a local client of the auth_listen socket;
 * pure: bounded by AUTHPROTO_LINE_MAX, no allocation, no I/O.
 */
#include <string.h>

#include "proto/authproto.h"
#include "lib/util.h"

/* The next TAB-separated field of [*pos, end): returns false when there is none. */
static bool
next_field(const char **pos, const char *end, struct authproto_str *f)
{
	const char *p = *pos, *tab;

	if (p == NULL)
		return false;
	tab = memchr(p, '\t', (size_t)(end - p));
	f->p = p;
	f->len = tab != NULL ? (size_t)(tab - p) : (size_t)(end - p);
	*pos = tab != NULL ? tab + 1 : NULL;
	return true;
}

static bool
field_is(const struct authproto_str *f, const char *word)
{
	size_t n = strlen(word);

	return f->len == n && memcmp(f->p, word, n) == 0;
}

/* name=value with this name: value into *v. A second one is an error (*dup). */
static bool
param(const struct authproto_str *f, const char *name, struct authproto_str *v, bool *dup)
{
	size_t n = strlen(name);

	if (f->len < n + 1 || memcmp(f->p, name, n) != 0 || f->p[n] != '=')
		return false;
	if (v->p != NULL)
		*dup = true;
	v->p = f->p + n + 1;
	v->len = f->len - n - 1;
	return true;
}

static bool
number(const struct authproto_str *f, uint32_t *v)
{
	return f->len > 0 && parse_u32(f->p, f->len, v) == 0;
}

static bool
parse_auth(const char *pos, const char *end, struct authproto_cmd *cmd)
{
	struct authproto_str f;
	bool dup = false;

	if (!next_field(&pos, end, &f) || !number(&f, &cmd->req_id) ||
	    !next_field(&pos, end, &cmd->mech) || cmd->mech.len == 0)
		return false;
	while (next_field(&pos, end, &f)) {
		if (field_is(&f, "secured")) {
			if (cmd->secured)
				dup = true;
			cmd->secured = true;
		} else if (!param(&f, "service", &cmd->service, &dup) &&
		    !param(&f, "rip", &cmd->rip, &dup) && !param(&f, "lip", &cmd->lip, &dup))
			(void)param(&f, "resp", &cmd->resp, &dup);
		/* anything else: an optional parameter buzon does not use */
	}
	return !dup;
}

static bool
parse_line(const char *line, size_t len, struct authproto_cmd *cmd)
{
	const char *pos = line, *end = line + len;
	struct authproto_str f;

	if (!next_field(&pos, end, &cmd->word))
		return false;
	if (field_is(&cmd->word, "AUTH")) {
		cmd->id = AUTHPROTO_AUTH;
		return parse_auth(pos, end, cmd);
	}
	if (field_is(&cmd->word, "CONT")) {
		cmd->id = AUTHPROTO_CONT;
		/* the data is the rest of the line: base64 never holds a TAB */
		return next_field(&pos, end, &f) && number(&f, &cmd->req_id) && pos != NULL &&
		    next_field(&pos, end, &cmd->data) && pos == NULL;
	}
	if (field_is(&cmd->word, "VERSION")) {
		cmd->id = AUTHPROTO_VERSION;
		return next_field(&pos, end, &f) && number(&f, &cmd->major) &&
		    next_field(&pos, end, &f) && number(&f, &cmd->minor);
	}
	if (field_is(&cmd->word, "CPID")) {
		cmd->id = AUTHPROTO_CPID;
		return next_field(&pos, end, &f) && number(&f, &cmd->pid) && cmd->pid > 0;
	}
	cmd->id = AUTHPROTO_UNKNOWN;
	return true;
}

enum authproto_result
authproto_parse(const unsigned char *data, size_t len, struct authproto_cmd *cmd,
    size_t *used_r)
{
	size_t scan = len < AUTHPROTO_LINE_MAX ? len : AUTHPROTO_LINE_MAX;
	const unsigned char *lf = memchr(data, '\n', scan);
	size_t n;

	memset(cmd, 0, sizeof(*cmd));
	*used_r = 0;
	if (lf == NULL) {
		if (len < AUTHPROTO_LINE_MAX)
			return AUTHPROTO_MORE;
		cmd->error = AUTHPROTO_ERR_TOOLONG;
		return AUTHPROTO_ERROR;
	}
	n = (size_t)(lf - data);
	*used_r = n + 1;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if (memchr(data, '\0', n) != NULL) {
		cmd->error = AUTHPROTO_ERR_NUL;
		return AUTHPROTO_ERROR;
	}
	if (!parse_line((const char *)data, n, cmd)) {
		enum authproto_cmd_id id = cmd->id;

		memset(cmd, 0, sizeof(*cmd));
		cmd->id = id;
		cmd->error = AUTHPROTO_ERR_SYNTAX;
		return AUTHPROTO_ERROR;
	}
	return AUTHPROTO_DONE;
}

int
authproto_escape(const char *s, size_t len, char *out, size_t out_size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char esc = 0;

		switch (s[i]) {
		case '\0': esc = '0'; break;
		case '\001': esc = '1'; break;
		case '\t': esc = 't'; break;
		case '\r': esc = 'r'; break;
		case '\n': esc = 'n'; break;
		}
		if (out_size - o < (esc != 0 ? 3u : 2u))
			return -1;
		if (esc != 0) {
			out[o++] = '\001';
			out[o++] = esc;
		} else {
			out[o++] = s[i];
		}
	}
	if (out_size == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}
