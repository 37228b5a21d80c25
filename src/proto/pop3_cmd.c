/*
 * pop3_cmd.c — POP3 command lines and the RETR/TOP encoder (see
 * pop3_cmd.h). Pure: runs in the login process on pre-auth bytes and in the mail
 * process; every loop is bounded by the input length, nothing is allocated.
 */
#include "proto/pop3_cmd.h"
#include "lib/util.h"

static const struct {
	const char *name;
	enum pop3_cmd_id id;
} pop3_cmds[] = {
	{ "USER", POP3_CMD_USER }, { "PASS", POP3_CMD_PASS }, { "APOP", POP3_CMD_APOP },
	{ "AUTH", POP3_CMD_AUTH }, { "STLS", POP3_CMD_STLS }, { "CAPA", POP3_CMD_CAPA },
	{ "QUIT", POP3_CMD_QUIT }, { "STAT", POP3_CMD_STAT }, { "LIST", POP3_CMD_LIST },
	{ "RETR", POP3_CMD_RETR }, { "DELE", POP3_CMD_DELE }, { "NOOP", POP3_CMD_NOOP },
	{ "RSET", POP3_CMD_RSET }, { "TOP", POP3_CMD_TOP }, { "UIDL", POP3_CMD_UIDL },
};

void
pop3_cmd_parser_init(struct pop3_cmd_parser *p, size_t line_max)
{
	p->skipping = false;
	p->line_max = line_max < 3 ? 3 : line_max;
}

const char *
pop3_cmd_name(enum pop3_cmd_id id)
{
	for (size_t i = 0; i < N_ELEMENTS(pop3_cmds); i++)
		if (pop3_cmds[i].id == id)
			return pop3_cmds[i].name;
	return "?";
}

/* Split one line (without its line end) into keyword and arguments. */
static enum pop3_parse_result
split_line(const char *line, size_t len, struct pop3_cmd *cmd)
{
	size_t i = 0, kw;

	if (memchr(line, '\0', len) != NULL) {
		cmd->error = POP3_ERR_NUL;
		return POP3_PARSE_ERROR;
	}
	while (i < len && line[i] != ' ')
		i++;
	kw = i;
	if (kw == 0) {
		cmd->error = POP3_ERR_EMPTY;
		return POP3_PARSE_ERROR;
	}
	cmd->keyword.p = line;
	cmd->keyword.len = kw;
	for (size_t k = 0; k < N_ELEMENTS(pop3_cmds); k++)
		if (mem_ieq(line, kw, pop3_cmds[k].name))
			cmd->id = pop3_cmds[k].id;
	if (kw < len) {
		cmd->rest.p = line + kw + 1;
		cmd->rest.len = len - kw - 1;
	} else {
		cmd->rest.p = line + len;
	}
	/* RFC 1939 §3: arguments separated by a single space; runs are tolerated */
	while (i < len) {
		size_t start;

		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (cmd->argc < POP3_MAX_ARGS) {
			cmd->args[cmd->argc].p = line + start;
			cmd->args[cmd->argc].len = i - start;
		}
		cmd->argc++;
	}
	return POP3_PARSE_DONE;
}

enum pop3_parse_result
pop3_cmd_parse(struct pop3_cmd_parser *p, const unsigned char *data, size_t len,
    struct pop3_cmd *cmd, size_t *used_r)
{
	const unsigned char *lf;
	size_t skipped = 0, line_len, search;

	memset(cmd, 0, sizeof(*cmd));
	*used_r = 0;
	if (p->skipping) {
		lf = memchr(data, '\n', len);
		if (lf == NULL) {
			*used_r = len;
			return POP3_PARSE_MORE;
		}
		p->skipping = false;
		skipped = (size_t)(lf - data) + 1;
		data += skipped;
		len -= skipped;
	}
	search = MIN(len, p->line_max);
	lf = memchr(data, '\n', search);
	if (lf == NULL) {
		if (len < p->line_max) {
			*used_r = skipped;
			return POP3_PARSE_MORE;
		}
		/* over the limit: refuse now, skip to the line end (maybe already here) */
		lf = memchr(data, '\n', len);
		if (lf == NULL) {
			p->skipping = true;
			*used_r = skipped + len;
		} else {
			*used_r = skipped + (size_t)(lf - data) + 1;
		}
		cmd->error = POP3_ERR_TOOLONG;
		return POP3_PARSE_ERROR;
	}
	line_len = (size_t)(lf - data);
	*used_r = skipped + line_len + 1;
	/* the limit counts CRLF: a bare LF line may not use the CR's octet for text */
	if (line_len > 0 && data[line_len - 1] == '\r')
		line_len--;
	else if (line_len + 2 > p->line_max) {
		cmd->error = POP3_ERR_TOOLONG;
		return POP3_PARSE_ERROR;
	}
	return split_line((const char *)data, line_len, cmd);
}

int
pop3_arg_u32(const struct pop3_arg *a, uint32_t *val_r)
{
	if (a == NULL || a->p == NULL || a->len == 0 || a->len > 10)
		return -1;
	return parse_u32(a->p, a->len, val_r);
}

/* ---------------------------------------------------------------- RETR / TOP */

void
pop3_encoder_init(struct pop3_encoder *e, bool top, uint64_t lines)
{
	memset(e, 0, sizeof(*e));
	e->bol = true;
	e->top = top;
	e->lines_left = lines;
}

/* A line end was sent: track the header/body boundary and the TOP line count. */
static void
encoder_line_end(struct pop3_encoder *e)
{
	if (!e->in_body) {
		if (!e->nonempty) {
			e->in_body = true;
			if (e->top && e->lines_left == 0)
				e->done = true;
		}
	} else if (e->top && --e->lines_left == 0) {
		e->done = true;
	}
	e->bol = true;
	e->nonempty = false;
}

size_t
pop3_encode(struct pop3_encoder *e, const unsigned char *in, size_t inlen,
    unsigned char *out, size_t out_size, size_t *consumed_r)
{
	size_t i = 0, o = 0;

	while (i < inlen && !e->done && out_size - o >= 2) {
		unsigned char ch = in[i++];

		if (ch == '\n') {
			if (!e->cr)
				out[o++] = '\r';
			out[o++] = '\n';
			e->cr = false;
			encoder_line_end(e);
			continue;
		}
		if (ch == '.' && e->bol)
			out[o++] = '.';	/* RFC 1939 §3 byte-stuffing */
		out[o++] = ch;
		e->cr = ch == '\r';
		if (!e->cr)
			e->nonempty = true;
		e->bol = false;
	}
	*consumed_r = e->done ? inlen : i;
	return o;
}

size_t
pop3_encoder_finish(struct pop3_encoder *e, unsigned char *out, size_t out_size)
{
	size_t o = 0;

	if (out_size < 5)
		return 0;
	if (!e->bol && !e->done) {
		if (!e->cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
