/*
 * lmtp_cmd.c — LMTP/SMTP command line and DATA stream parsers (see lmtp_cmd.h). Pure
 * code on untrusted bytes in the LMTP process: bounded copies into fixed fields of the
 * caller's struct, no allocation, no I/O.
 */
#include "proto/lmtp_cmd.h"
#include "lib/util.h"

static const struct {
	const char *name;
	enum lmtp_verb verb;
} verbs[] = {
	{ "LHLO", LMTP_VERB_LHLO }, { "HELO", LMTP_VERB_HELO }, { "EHLO", LMTP_VERB_EHLO },
	{ "MAIL", LMTP_VERB_MAIL }, { "RCPT", LMTP_VERB_RCPT }, { "DATA", LMTP_VERB_DATA },
	{ "BDAT", LMTP_VERB_BDAT }, { "RSET", LMTP_VERB_RSET }, { "NOOP", LMTP_VERB_NOOP },
	{ "QUIT", LMTP_VERB_QUIT }, { "VRFY", LMTP_VERB_VRFY }, { "EXPN", LMTP_VERB_EXPN },
	{ "HELP", LMTP_VERB_HELP }, { "STARTTLS", LMTP_VERB_STARTTLS },
};

enum lmtp_line_result
lmtp_line_find(const unsigned char *data, size_t len, size_t *line_len_r, size_t *consumed_r)
{
	size_t scan = MIN(len, (size_t)LMTP_LINE_MAX);
	const unsigned char *lf = memchr(data, '\n', scan);
	size_t n;

	if (lf == NULL)
		return len >= LMTP_LINE_MAX ? LMTP_LINE_TOOLONG : LMTP_LINE_MORE;
	n = (size_t)(lf - data);
	*consumed_r = n + 1;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	*line_len_r = n;
	return LMTP_LINE_DONE;
}

/* RFC 5322 atext */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && memchr("!#$%&'*+-/=?^_`{|}~", c, 19) != NULL;
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5321 Dot-string: atoms separated by single dots. */
static bool
is_dot_string(const char *p, size_t len)
{
	bool prev_dot = true;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (prev_dot)
				return false;
			prev_dot = true;
		} else if (is_atext((unsigned char)p[i])) {
			prev_dot = false;
		} else {
			return false;
		}
	}
	return !prev_dot;
}

/* RFC 5321 Domain (sub-domains of letters, digits, hyphens) or address-literal. */
static bool
is_domain(const char *p, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > LMTP_DOMAIN_MAX)
		return false;
	if (p[0] == '[') {
		if (len < 3 || p[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++) {
			unsigned char c = (unsigned char)p[i];

			/* dcontent: %d33-90 / %d94-126 */
			if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
				return false;
		}
		return true;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)	/* RFC 1035 2.3.4 */
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && p[len - 1] != '-';
}

/*
 * Parse a path "<...>" at line[*pos]: sets cmd->addr. Source routes "@a,@b:" are
 * skipped (RFC 5321 4.1.2, 3.3). Returns 0 or -1.
 */
static int
parse_path(const char *line, size_t len, size_t *pos, bool allow_null, struct lmtp_cmd *cmd)
{
	size_t i = *pos, start, end, at, o = 0;
	char local[LMTP_PATH_MAX + 1];
	size_t local_len = 0;
	bool quoted = false;

	if (i >= len || line[i] != '<')
		return -1;
	start = i;
	end = start + 1;
	/* find the closing '>' outside quotes */
	for (bool inq = false; end < len; end++) {
		char c = line[end];

		if (inq && c == '\\') {
			end++;
			continue;
		}
		if (c == '"')
			inq = !inq;
		else if (c == '>' && !inq)
			break;
	}
	if (end >= len || end - start + 1 > LMTP_PATH_MAX)
		return -1;
	*pos = end + 1;
	i = start + 1;
	if (i == end) {
		if (!allow_null)
			return -1;
		cmd->addr[0] = '\0';
		cmd->addr_len = 0;
		return 0;
	}
	if (line[i] == '@') {
		/* A-d-l: skip up to and including ':' */
		const char *colon = memchr(line + i, ':', end - i);

		if (colon == NULL)
			return -1;
		i = (size_t)(colon - line) + 1;
		if (i >= end)
			return -1;
	}
	/* local part */
	if (line[i] == '"') {
		quoted = true;
		for (i++; i < end && line[i] != '"'; i++) {
			unsigned char c = (unsigned char)line[i];

			if (c == '\\') {
				if (++i >= end)
					return -1;
				c = (unsigned char)line[i];
			}
			if (c < 32 || c > 126)
				return -1;
			local[local_len++] = (char)c;
		}
		if (i >= end)
			return -1;
		i++;	/* closing quote */
	} else {
		while (i < end && line[i] != '@')
			local[local_len++] = line[i++];
		if (!is_dot_string(local, local_len))
			return -1;
	}
	if (local_len == 0 && !quoted)
		return -1;
	at = i;
	if (at < end && line[at] != '@')
		return -1;
	if (at < end && !is_domain(line + at + 1, end - at - 1))
		return -1;
	/* output: the local part, plain if it is a dot-string, otherwise quoted */
	if (quoted && !is_dot_string(local, local_len)) {
		cmd->addr[o++] = '"';
		for (size_t k = 0; k < local_len; k++) {
			if (local[k] == '"' || local[k] == '\\')
				cmd->addr[o++] = '\\';
			if (o + 2 > LMTP_PATH_MAX)
				return -1;
			cmd->addr[o++] = local[k];
		}
		cmd->addr[o++] = '"';
	} else {
		memcpy(cmd->addr, local, local_len);
		o = local_len;
	}
	if (at < end) {
		if (o + (end - at) > LMTP_PATH_MAX)
			return -1;
		memcpy(cmd->addr + o, line + at, end - at);
		o += end - at;
	}
	cmd->addr[o] = '\0';
	cmd->addr_len = o;
	return 0;
}

/* MAIL parameters (RFC 5321 4.1.2 Mail-parameters). */
static int
parse_mail_params(const char *line, size_t len, size_t i, struct lmtp_cmd *cmd,
    const char **reply_r)
{
	bool seen_body = false;

	while (i < len) {
		size_t ks, ke, vs = 0, ve = 0;

		if (line[i] != ' ')
			goto syntax;
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		ks = i;
		while (i < len && (is_alnum((unsigned char)line[i]) || (line[i] == '-' && i > ks)))
			i++;
		ke = i;
		if (ke == ks)
			goto syntax;
		if (i < len && line[i] == '=') {
			vs = ++i;
			/* esmtp-value: %d33-60 / %d62-126 */
			while (i < len && line[i] != ' ' && line[i] != '=')
				i++;
			ve = i;
			if (ve == vs || (i < len && line[i] == '='))
				goto syntax;
		}
		if (mem_ieq(line + ks, ke - ks, "SIZE")) {
			if (cmd->has_size || vs == 0 ||
			    parse_u64(line + vs, ve - vs, UINT64_MAX, &cmd->size) < 0)
				goto syntax;
			cmd->has_size = true;
		} else if (mem_ieq(line + ks, ke - ks, "BODY")) {
			if (seen_body || vs == 0)
				goto syntax;
			seen_body = true;
			if (mem_ieq(line + vs, ve - vs, "7BIT"))
				cmd->body = LMTP_BODY_7BIT;
			else if (mem_ieq(line + vs, ve - vs, "8BITMIME"))
				cmd->body = LMTP_BODY_8BITMIME;
			else {
				*reply_r = "501 5.5.4 Unsupported BODY type";
				return -1;
			}
		} else {
			*reply_r = "555 5.5.4 Unsupported parameter";
			return -1;
		}
	}
	return 0;
syntax:
	*reply_r = "501 5.5.4 Bad parameter syntax";
	return -1;
}

int
lmtp_cmd_parse(const char *line, size_t len, struct lmtp_cmd *cmd, const char **reply_r)
{
	size_t vlen = 0, i;
	bool found = false;

	memset(cmd, 0, sizeof(*cmd));
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 32 || c >= 127) {
			*reply_r = "500 5.5.2 Invalid characters in command";
			return -1;
		}
	}
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (i = 0; i < N_ELEMENTS(verbs); i++) {
		if (mem_ieq(line, vlen, verbs[i].name)) {
			cmd->verb = verbs[i].verb;
			found = true;
			break;
		}
	}
	if (!found) {
		*reply_r = "500 5.5.2 Unknown command";
		return -1;
	}
	i = vlen;
	switch (cmd->verb) {
	case LMTP_VERB_LHLO:
	case LMTP_VERB_HELO:
	case LMTP_VERB_EHLO:
	case LMTP_VERB_VRFY:
	case LMTP_VERB_EXPN:
	case LMTP_VERB_NOOP:
	case LMTP_VERB_HELP: {
		size_t s, e = len;

		while (i < len && line[i] == ' ')
			i++;
		s = i;
		while (e > s && line[e - 1] == ' ')
			e--;
		if (e - s > LMTP_ARG_MAX) {
			*reply_r = "501 5.5.4 Argument too long";
			return -1;
		}
		if (s == e && (cmd->verb == LMTP_VERB_LHLO || cmd->verb == LMTP_VERB_HELO ||
		    cmd->verb == LMTP_VERB_EHLO || cmd->verb == LMTP_VERB_VRFY ||
		    cmd->verb == LMTP_VERB_EXPN)) {
			*reply_r = "501 5.5.4 Argument required";
			return -1;
		}
		memcpy(cmd->arg, line + s, e - s);
		cmd->arg[e - s] = '\0';
		return 0;
	}
	case LMTP_VERB_MAIL:
	case LMTP_VERB_RCPT: {
		bool mail = cmd->verb == LMTP_VERB_MAIL;
		const char *kw = mail ? " FROM:" : " TO:";
		size_t kwlen = mail ? 6 : 4;

		if (len - i < kwlen || !mem_ieq(line + i, kwlen, kw)) {
			*reply_r = mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" :
			    "501 5.5.4 Syntax: RCPT TO:<address>";
			return -1;
		}
		i += kwlen;
		/* tolerated: "MAIL FROM: <a>" (common, harmless) */
		while (i < len && line[i] == ' ')
			i++;
		if (parse_path(line, len, &i, mail, cmd) < 0) {
			*reply_r = mail ? "501 5.1.7 Bad sender address syntax" :
			    "501 5.1.3 Bad recipient address syntax";
			return -1;
		}
		if (!mail) {
			while (i < len && line[i] == ' ')
				i++;
			if (i < len) {
				*reply_r = "555 5.5.4 Unsupported parameter";
				return -1;
			}
			return 0;
		}
		return parse_mail_params(line, len, i, cmd, reply_r);
	}
	case LMTP_VERB_DATA:
	case LMTP_VERB_RSET:
	case LMTP_VERB_QUIT:
	case LMTP_VERB_STARTTLS:
		while (i < len && line[i] == ' ')
			i++;
		if (i < len) {
			*reply_r = "501 5.5.4 No arguments allowed";
			return -1;
		}
		return 0;
	case LMTP_VERB_BDAT:
		return 0;
	}
	*reply_r = "500 5.5.2 Unknown command";
	return -1;
}

enum {
	DS_SOL,		/* at the start of a line */
	DS_DOT,		/* "." at the start of a line */
	DS_DOT_CR,	/* ".\r" at the start of a line */
	DS_MID,		/* inside a line */
	DS_CR,		/* "\r" inside a line (or after "." that was unstuffed) */
};

void
lmtp_data_init(struct lmtp_data *d)
{
	memset(d, 0, sizeof(*d));
	d->state = DS_SOL;
}

bool
lmtp_data_feed(struct lmtp_data *d, const unsigned char *in, size_t len,
    unsigned char *out, size_t *out_len_r, size_t *consumed_r)
{
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = in[i];

		switch (d->state) {
		case DS_SOL:
			if (c == '.') {
				d->state = DS_DOT;
				i++;
				continue;
			}
			d->state = DS_MID;
			continue;	/* the same byte as inside a line */
		case DS_DOT:
			if (c == '\r') {
				d->state = DS_DOT_CR;
				i++;
				continue;
			}
			/* RFC 5321 4.5.2: a leading dot is removed */
			d->state = DS_MID;
			continue;
		case DS_DOT_CR:
			if (c == '\n') {
				i++;
				*out_len_r = o;
				*consumed_r = i;
				d->size += o;
				d->state = DS_SOL;
				return true;
			}
			/* ".\r" + something else: the line was "." (unstuffed: empty) + bare CR */
			d->state = DS_CR;
			continue;
		case DS_MID:
			i++;
			if (c == '\r') {
				d->state = DS_CR;
			} else {
				if (c == '\n')
					d->bare_lf++;	/* bare LF: not a line end */
				out[o++] = c;
			}
			continue;
		case DS_CR:
			if (c == '\n') {
				out[o++] = '\n';
				d->state = DS_SOL;
				i++;
				continue;
			}
			/* bare CR: kept as data, the line goes on */
			d->bare_cr++;
			out[o++] = '\r';
			d->state = DS_MID;
			continue;
		}
	}
	*out_len_r = o;
	*consumed_r = i;
	d->size += o;
	return false;
}
