/*
 * imap_parser.c — incremental IMAP command parser (see imap_parser.h). Runs in the login
 * and imap session processes on raw client bytes. A byte-at-a-time state machine (literal
 * payloads are copied in bulk): every allocation is bounded by the limits checked before
 * it, a syntax error skips to the end of the line (and over a small non-synchronising
 * literal announced on it) so a refused literal is never parsed as commands, and error
 * texts are constants that never contain client bytes.
 */
#include "proto/imap_parser.h"

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/imapstr.h"
#include "lib/util.h"
#include "proto/mutf7.h"

enum parser_state {
	S_TAG,
	S_COMMAND,
	S_ARG_START,		/* before an argument (spaces skipped) */
	S_AFTER_ARG,		/* after an argument: SP, ')' or end of line */
	S_TILDE,		/* '~' seen at an argument start */
	S_ATOM,
	S_ATOM_BRACKET,		/* inside [...] of an atom */
	S_ATOM_BRACKET_QUOTED,
	S_ATOM_BRACKET_ESC,
	S_QUOTED,
	S_QUOTED_ESC,
	S_LIT_SIZE,
	S_LIT_PLUS,
	S_LIT_CR,
	S_LIT_LF,
	S_LITERAL_DATA,
	S_EOL_LF,		/* CR seen at the end of the line */
	S_SKIP,			/* skipping the rest of a bad line */
	S_SKIP_LITERAL,		/* skipping a non-sync literal announced on a bad line */
	S_STREAM_WAIT,		/* LITERAL_STREAM returned, waiting for stream_done */
	S_DONE,
	S_ERROR
};

/* Outcome of one step of the state machine. */
enum step {
	STEP_NEXT,		/* byte consumed, continue */
	STEP_AGAIN,		/* byte not consumed, run the new state on it */
	STEP_RETURN		/* byte consumed, return p->result */
};

struct level {
	struct imap_arg *items;
	unsigned count;
	unsigned cap;
};

struct imap_parser {
	struct imap_parser_limits limits;
	struct imap_parser_limits next_limits;
	unsigned flags;
	enum parser_state state;
	enum imap_parse_result result;

	size_t line_bytes;	/* bytes of this command seen (streamed literals excluded) */
	unsigned items;		/* arguments + list items so far */

	struct buf tag;
	bool tag_valid;
	struct buf command;
	bool command_done;
	bool is_append;

	struct buf tok;		/* atom or quoted string being read */
	unsigned bracket_depth;

	/* literal being announced or read */
	uint64_t lit_size;
	bool lit_huge;		/* size overflowed uint64 */
	bool lit_digits;
	bool lit_sync;
	bool lit_binary;
	char *lit_data;
	size_t lit_have;

	/* argument tree: levels[0] is the top level, levels[depth] the open list */
	struct level *levels;
	unsigned levels_cap;
	unsigned depth;

	/* skip mode: tracks "{n+}" at the end of a bad line */
	unsigned skip_lit;	/* 0 none, 1 digits, 2 '+', 3 '}', 4 "}\r" */
	uint64_t skip_lit_n;
	bool skip_lit_plus;
	bool skip_lit_digits;
	uint64_t skip_left;
	bool skip_discard;	/* LITERAL+: skipped literal data counts in discarded */
	bool overlong;		/* past max_line, skipping to the LF (FLAG_SKIP_LONG) */
	uint64_t discarded;	/* literal octets discarded in this command */

	enum imap_parse_error err;
	const char *err_text;
};

static const char nil_str[] = "NIL";
static const char empty_str[] = "";

void
imap_parser_limits_default(struct imap_parser_limits *l, bool authenticated)
{
	if (authenticated) {
		l->max_line = 64 * 1024;
		l->max_literal = 64 * 1024;
		l->max_stream_literal = CONFIG_MAIL_MAX_SIZE_DEFAULT;
		l->max_depth = 32;
		l->max_items = 10000;
	} else {
		l->max_line = 8 * 1024;
		l->max_literal = 8 * 1024;
		l->max_stream_literal = 0;
		l->max_depth = 1;
		l->max_items = 1000;
	}
	l->max_tag = 64;
}

struct imap_parser *
imap_parser_create(const struct imap_parser_limits *limits, unsigned flags)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	p->limits = *limits;
	p->next_limits = *limits;
	p->flags = flags;
	buf_init(&p->tag, limits->max_tag);
	buf_init(&p->command, IMAP_PARSER_MAX_COMMAND);
	buf_init(&p->tok, limits->max_line);
	p->levels_cap = 1;
	p->levels = xcalloc(1, sizeof(*p->levels));
	p->state = S_TAG;
	return p;
}

static void
free_args(struct imap_arg *items, unsigned count)
{
	unsigned i;

	for (i = 0; i < count; i++) {
		switch (items[i].type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_QUOTED:
		case IMAP_ARG_LITERAL:
			free((char *)items[i].str);
			break;
		case IMAP_ARG_LIST:
			free_args((struct imap_arg *)items[i].list, items[i].list_count);
			free((struct imap_arg *)items[i].list);
			break;
		case IMAP_ARG_NIL:
		case IMAP_ARG_LITERAL_STREAM:
			break;
		}
	}
}

static void
free_tree(struct imap_parser *p)
{
	unsigned i;

	for (i = 0; i < p->levels_cap; i++) {
		free_args(p->levels[i].items, p->levels[i].count);
		free(p->levels[i].items);
		p->levels[i].items = NULL;
		p->levels[i].count = p->levels[i].cap = 0;
	}
	p->depth = 0;
}

void
imap_parser_reset(struct imap_parser *p)
{
	free_tree(p);
	free(p->lit_data);
	p->lit_data = NULL;
	p->lit_have = 0;
	p->limits = p->next_limits;
	buf_reset(&p->tag);
	p->tag.max = p->limits.max_tag;
	buf_reset(&p->command);
	/* the token buffer may have grown to max_line: give big ones back */
	if (p->tok.cap > 4096)
		buf_deinit(&p->tok);
	buf_reset(&p->tok);
	p->tok.max = p->limits.max_line;
	p->tag_valid = false;
	p->command_done = false;
	p->is_append = false;
	p->line_bytes = 0;
	p->items = 0;
	p->bracket_depth = 0;
	p->lit_size = 0;
	p->lit_huge = p->lit_digits = p->lit_sync = p->lit_binary = false;
	p->skip_lit = 0;
	p->skip_left = 0;
	p->skip_discard = false;
	p->overlong = false;
	p->discarded = 0;
	p->err = IMAP_PARSE_ERROR_NONE;
	p->err_text = NULL;
	p->state = S_TAG;
}

void
imap_parser_destroy(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	free_tree(p);
	free(p->levels);
	free(p->lit_data);
	buf_deinit(&p->tag);
	buf_deinit(&p->command);
	buf_deinit(&p->tok);
	free(p);
	*pp = NULL;
}

void
imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	p->next_limits = *limits;
	/* before the first byte of a command the new limits can apply at once */
	if (p->state == S_TAG && p->line_bytes == 0) {
		p->limits = *limits;
		p->tag.max = limits->max_tag;
		p->tok.max = limits->max_line;
	}
}

void
imap_parser_set_flags(struct imap_parser *p, unsigned flags)
{
	p->flags = flags;
}

/* A syntax error: skip the rest of the line (the current byte is looked at again). */
static enum step
bad(struct imap_parser *p, const char *text)
{
	p->err = IMAP_PARSE_ERROR_BAD;
	p->err_text = text;
	p->skip_lit = 0;
	p->state = S_SKIP;
	return STEP_AGAIN;
}

/* An error at the end of the line (the LF is already consumed). */
static enum step
fail_now(struct imap_parser *p, enum imap_parse_error err, const char *text)
{
	p->err = err;
	p->err_text = text;
	p->state = S_ERROR;
	p->result = IMAP_PARSE_ERROR;
	return STEP_RETURN;
}

/* LITERAL+: how many literal octets one command may have discarded in all: a message a
 * little over APPENDLIMIT gets NO [TOOBIG], not a closed connection; reading costs no
 * memory, only the client's bandwidth. */
#define IMAP_PARSER_DISCARD_EXTRA	(64ULL * 1024 * 1024)

static uint64_t
discard_max(const struct imap_parser *p)
{
	uint64_t m = p->limits.max_stream_literal;

	if (m < p->limits.max_literal)
		m = p->limits.max_literal;
	return m > UINT64_MAX - IMAP_PARSER_DISCARD_EXTRA ? UINT64_MAX :
	    m + IMAP_PARSER_DISCARD_EXTRA;
}

/* Can n more literal octets be skipped in this line? */
static bool
may_skip(const struct imap_parser *p, uint64_t n)
{
	if ((p->flags & IMAP_PARSER_FLAG_LITERAL_PLUS) == 0)
		return n <= IMAP_PARSER_LITERAL_MINUS_MAX;
	return n <= discard_max(p) - p->discarded;
}

static bool
is_tag_char(unsigned char c)
{
	/*
	 * RFC 3501 §9 tag-char: ASTRING-CHAR except "+". '<' and '>' are refused as well so
	 * that a tag echoed in a reply can never carry HTML (ALPACA-style reflection).
	 */
	if (c == '+' || c == '<' || c == '>')
		return false;
	return c == ']' || imap_is_atom_char(c);
}

/* Bytes allowed in an argument atom outside brackets. */
static bool
is_arg_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	/* '\\' (flags), '*' and '%' (wildcards, "1:*") and ']' (astring) are allowed */
	return c != '(' && c != ')' && c != '{' && c != '"';
}

static struct level *
cur_level(struct imap_parser *p)
{
	return &p->levels[p->depth];
}

/* Append an argument to the open level; the caller has counted it in p->items. */
static struct imap_arg *
add_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct level *l = cur_level(p);
	struct imap_arg *a;

	if (l->count == l->cap) {
		unsigned ncap = l->cap == 0 ? 8 : l->cap * 2;

		/* items <= max_items bounds the total size of all levels */
		l->items = xreallocarray(l->items, ncap, sizeof(*l->items));
		l->cap = ncap;
	}
	a = &l->items[l->count++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->str = empty_str;
	return a;
}

/* Count a new argument against max_items; false if over. */
static bool
count_item(struct imap_parser *p)
{
	if (p->items >= p->limits.max_items)
		return false;
	p->items++;
	return true;
}

static void
finish_token(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *a;

	if (type == IMAP_ARG_ATOM && mem_ieq(p->tok.data, p->tok.len, "NIL")) {
		a = add_arg(p, IMAP_ARG_NIL);
		a->str = nil_str;
		a->len = 3;
	} else {
		a = add_arg(p, type);
		a->str = xmalloc(p->tok.len + 1);
		if (p->tok.len > 0)
			memcpy((char *)a->str, p->tok.data, p->tok.len);
		((char *)a->str)[p->tok.len] = '\0';
		a->len = p->tok.len;
	}
	buf_reset(&p->tok);
}

static void
open_list(struct imap_parser *p)
{
	if (p->depth + 1 >= p->levels_cap) {
		unsigned ncap = p->depth + 2;

		/* depth <= max_depth bounds this */
		p->levels = xreallocarray(p->levels, ncap, sizeof(*p->levels));
		memset(&p->levels[p->levels_cap], 0,
		    (ncap - p->levels_cap) * sizeof(*p->levels));
		p->levels_cap = ncap;
	}
	p->depth++;
}

static void
close_list(struct imap_parser *p)
{
	struct level child = p->levels[p->depth];
	struct imap_arg *a;

	p->levels[p->depth].items = NULL;
	p->levels[p->depth].count = p->levels[p->depth].cap = 0;
	p->depth--;
	a = add_arg(p, IMAP_ARG_LIST);
	a->list = child.items;
	a->list_count = child.count;
}

/* The LF of a command line has been consumed. */
static enum step
end_of_line(struct imap_parser *p)
{
	if (!p->command_done) {
		if (p->command.len == 0)
			return fail_now(p, IMAP_PARSE_ERROR_BAD, "Missing command");
		p->command_done = true;
	}
	if (p->depth > 0)
		return fail_now(p, IMAP_PARSE_ERROR_BAD, "Missing ')'");
	p->state = S_DONE;
	p->result = IMAP_PARSE_DONE;
	return STEP_RETURN;
}

/* CR or LF ending the command line. */
static enum step
eol(struct imap_parser *p, unsigned char c)
{
	if (c == '\r') {
		p->state = S_EOL_LF;
		return STEP_NEXT;
	}
	return end_of_line(p);
}

/*
 * The index of the first top-level argument that may be the message literal of an
 * APPEND-like command (after its mailbox): 1 for APPEND, 2 for REPLACE and 3 for UID
 * REPLACE (RFC 8508: sequence number or UID, then the mailbox); 0 for other commands.
 */
static unsigned
append_first_msg_arg(const struct imap_parser *p)
{
	const struct level *top = &p->levels[0];

	if (p->is_append)
		return 1;
	if (mem_ieq(p->command.data, p->command.len, "REPLACE"))
		return 2;
	if (mem_ieq(p->command.data, p->command.len, "UID") && top->count >= 1 &&
	    top->items[0].type == IMAP_ARG_ATOM &&
	    mem_ieq(top->items[0].str, top->items[0].len, "REPLACE"))
		return 3;
	return 0;
}

/* Is the last top-level argument the atom name, with its list open at depth 1? */
static bool
in_list_after(const struct imap_parser *p, unsigned min, const char *name)
{
	const struct level *top = &p->levels[0];

	return p->depth == 1 && top->count >= min + 1 &&
	    top->items[top->count - 1].type == IMAP_ARG_ATOM &&
	    mem_ieq(top->items[top->count - 1].str, top->items[top->count - 1].len, name);
}

/*
 * Is the literal being announced APPEND's message in the RFC 6855 §4 form
 * "UTF8 (~{n}...)": a literal8, first in a list that directly follows the atom UTF8?
 */
static bool
append_utf8_literal(const struct imap_parser *p, unsigned min)
{
	return p->lit_binary && in_list_after(p, min, "UTF8") && p->levels[1].count == 0;
}

/* Is it a part of a CATENATE message (RFC 4469 §5): "CATENATE (... TEXT {n}"? */
static bool
append_catenate_literal(const struct imap_parser *p, unsigned min)
{
	const struct level *l = &p->levels[1];

	return in_list_after(p, min, "CATENATE") && l->count >= 1 &&
	    l->items[l->count - 1].type == IMAP_ARG_ATOM &&
	    mem_ieq(l->items[l->count - 1].str, l->items[l->count - 1].len, "TEXT");
}

/* "{n}" or "{n+}" and its CRLF have been consumed: check the limits, accept or refuse. */
static enum step
literal_announced(struct imap_parser *p)
{
	unsigned min = append_first_msg_arg(p);
	bool stream = min > 0 && ((p->depth == 0 && cur_level(p)->count >= min) ||
	    append_utf8_literal(p, min) || append_catenate_literal(p, min));
	uint64_t max;

	if (p->lit_huge)
		p->lit_size = UINT64_MAX;	/* what imap_parser_literal_size() reports */

	/* RFC 7888 §4 (LITERAL-): non-synchronising literals over 4096 octets are refused */
	if (!p->lit_sync && (p->flags & IMAP_PARSER_FLAG_LITERAL_PLUS) == 0 &&
	    (p->lit_huge || p->lit_size > IMAP_PARSER_LITERAL_MINUS_MAX))
		return fail_now(p, IMAP_PARSE_ERROR_FATAL, "Non-synchronizing literal too large");
	if (stream) {
		max = p->limits.max_stream_literal;
	} else {
		/* the LF being consumed is not counted yet: line_bytes < max_line */
		max = p->limits.max_literal;
		if (p->limits.max_line - p->line_bytes - 1 < max)
			max = p->limits.max_line - p->line_bytes - 1;
	}
	if (p->lit_huge || p->lit_size > max) {
		if (p->lit_sync)
			return fail_now(p, IMAP_PARSE_ERROR_TOOBIG, "Literal too large");
		if (p->lit_huge || !may_skip(p, p->lit_size) ||
		    (p->flags & IMAP_PARSER_FLAG_LITERAL_PLUS) == 0)
			return fail_now(p, IMAP_PARSE_ERROR_FATAL, "Literal too large");
		/* LITERAL+: the octets are coming; read them, then fail the command */
		p->err = stream ? IMAP_PARSE_ERROR_TOOBIG : IMAP_PARSE_ERROR_BAD;
		p->err_text = "Literal too large";
		p->skip_lit = 0;
		p->skip_left = p->lit_size;
		p->skip_discard = true;
		p->state = S_SKIP_LITERAL;
		return STEP_NEXT;
	}
	if (stream) {
		p->state = S_STREAM_WAIT;
		p->result = IMAP_PARSE_LITERAL_STREAM;
		return STEP_RETURN;
	}
	/* lit_size <= max_literal, checked above, bounds this allocation */
	p->lit_data = xmalloc((size_t)p->lit_size + 1);
	p->lit_have = 0;
	p->state = S_LITERAL_DATA;
	if (p->lit_sync) {
		p->result = IMAP_PARSE_LITERAL_CONT;
		return STEP_RETURN;
	}
	return STEP_NEXT;
}

static enum step
literal_finished(struct imap_parser *p)
{
	struct imap_arg *a;
	size_t n = (size_t)p->lit_size;

	p->lit_data[n] = '\0';
	/* RFC 3501 §9: literal is CHAR8 (no NUL); literal8 may hold any octet (RFC 3516) */
	if (!p->lit_binary && n > 0 && memchr(p->lit_data, '\0', n) != NULL) {
		free(p->lit_data);
		p->lit_data = NULL;
		p->state = S_AFTER_ARG;
		return bad(p, "NUL in literal");
	}
	a = add_arg(p, IMAP_ARG_LITERAL);
	a->str = p->lit_data;
	a->len = n;
	a->literal8 = p->lit_binary;
	p->lit_data = NULL;
	p->state = S_AFTER_ARG;
	return STEP_NEXT;
}

static void
start_literal(struct imap_parser *p, bool binary)
{
	p->lit_size = 0;
	p->lit_huge = false;
	p->lit_digits = false;
	p->lit_sync = true;
	p->lit_binary = binary;
	p->state = S_LIT_SIZE;
}

/* Skip mode: watch for "{n+}" (or "~{n+}") right before the end of the line. */
static enum step
skip_byte(struct imap_parser *p, unsigned char c)
{
	if (c == '\n') {
		if (p->skip_lit >= 3 && p->skip_lit_plus) {
			if (!may_skip(p, p->skip_lit_n))
				return fail_now(p, IMAP_PARSE_ERROR_FATAL,
				    "Non-synchronizing literal too large");
			p->skip_left = p->skip_lit_n;
			p->skip_discard = (p->flags & IMAP_PARSER_FLAG_LITERAL_PLUS) != 0;
			p->skip_lit = 0;
			p->state = S_SKIP_LITERAL;
			return STEP_NEXT;
		}
		p->state = S_ERROR;
		p->result = IMAP_PARSE_ERROR;
		return STEP_RETURN;
	}
	switch (p->skip_lit) {
	case 1:
		if (c >= '0' && c <= '9') {
			/* capped: anything over the skip limits is fatal anyway */
			if (p->skip_lit_n <= UINT64_MAX / 20)
				p->skip_lit_n = p->skip_lit_n * 10 + (unsigned)(c - '0');
			p->skip_lit_digits = true;
			return STEP_NEXT;
		}
		if (c == '+' && p->skip_lit_digits) {
			p->skip_lit_plus = true;
			p->skip_lit = 2;
			return STEP_NEXT;
		}
		if (c == '}' && p->skip_lit_digits) {
			p->skip_lit = 3;
			return STEP_NEXT;
		}
		break;
	case 2:
		if (c == '}') {
			p->skip_lit = 3;
			return STEP_NEXT;
		}
		break;
	case 3:
		if (c == '\r') {
			p->skip_lit = 4;
			return STEP_NEXT;
		}
		break;
	default:
		break;
	}
	if (c == '{') {
		p->skip_lit = 1;
		p->skip_lit_n = 0;
		p->skip_lit_plus = false;
		p->skip_lit_digits = false;
	} else {
		p->skip_lit = 0;
	}
	return STEP_NEXT;
}

static enum step
step(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case S_TAG:
		if (c == ' ') {
			if (p->tag.len == 0)
				return bad(p, "Missing tag");
			p->tag_valid = true;
			p->state = S_COMMAND;
			return STEP_NEXT;
		}
		if (c == '\r' || c == '\n') {
			if (p->tag.len == 0)
				return bad(p, "Empty command line");
			/* a well-formed tag alone: answer it with BAD */
			p->tag_valid = true;
			return eol(p, c);
		}
		if (!is_tag_char(c) || buf_append_c(&p->tag, (char)c) < 0) {
			buf_reset(&p->tag);
			return bad(p, "Invalid tag");
		}
		return STEP_NEXT;
	case S_COMMAND:
		if (c == ' ' || c == '\r' || c == '\n') {
			if (p->command.len == 0)
				return bad(p, "Missing command");
			p->command_done = true;
			p->is_append = mem_ieq(p->command.data, p->command.len, "APPEND");
			if (c != ' ')
				return eol(p, c);
			p->state = S_ARG_START;
			return STEP_NEXT;
		}
		if (!imap_is_atom_char(c) || c == '[' || c == ']')
			return bad(p, "Invalid characters in command name");
		if (buf_append_c(&p->command, (char)c) < 0)
			return bad(p, "Command name too long");
		return STEP_NEXT;
	case S_ARG_START:
		if (c == ' ')
			return STEP_NEXT;
		if (c == '\r' || c == '\n')
			return eol(p, c);
		if (c == ')') {
			if (p->depth == 0)
				return bad(p, "Unexpected ')'");
			close_list(p);
			p->state = S_AFTER_ARG;
			return STEP_NEXT;
		}
		if (!count_item(p))
			return bad(p, "Too many arguments");
		if (c == '(') {
			if (p->depth >= p->limits.max_depth)
				return bad(p, "Lists nested too deeply");
			open_list(p);
			return STEP_NEXT;
		}
		if (c == '"') {
			buf_reset(&p->tok);
			p->state = S_QUOTED;
			return STEP_NEXT;
		}
		if (c == '{') {
			start_literal(p, false);
			return STEP_NEXT;
		}
		if (c == '~') {
			p->state = S_TILDE;
			return STEP_NEXT;
		}
		buf_reset(&p->tok);
		p->state = S_ATOM;
		return STEP_AGAIN;
	case S_AFTER_ARG:
		if (c == ' ') {
			p->state = S_ARG_START;
			return STEP_NEXT;
		}
		if (c == ')' || c == '\r' || c == '\n') {
			p->state = S_ARG_START;
			return STEP_AGAIN;
		}
		return bad(p, "Missing space between arguments");
	case S_TILDE:
		if (c == '{') {
			start_literal(p, true);
			return STEP_NEXT;
		}
		/* an atom that starts with '~' */
		buf_reset(&p->tok);
		if (buf_append_c(&p->tok, '~') < 0)
			return bad(p, "Argument too long");
		p->state = S_ATOM;
		return STEP_AGAIN;
	case S_ATOM:
		if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
			if (p->tok.len == 0)
				return bad(p, "Invalid characters in atom");
			finish_token(p, IMAP_ARG_ATOM);
			p->state = S_AFTER_ARG;
			return STEP_AGAIN;
		}
		if (!is_arg_atom_char(c))
			return bad(p, "Invalid characters in atom");
		if (buf_append_c(&p->tok, (char)c) < 0)
			return bad(p, "Argument too long");
		if (c == '[') {
			/* BODY[HEADER.FIELDS (A B)] is one atom: the brackets are verbatim */
			p->bracket_depth = 1;
			p->state = S_ATOM_BRACKET;
		}
		return STEP_NEXT;
	case S_ATOM_BRACKET:
	case S_ATOM_BRACKET_QUOTED:
	case S_ATOM_BRACKET_ESC:
		if ((c == '\r' || c == '\n') && p->state == S_ATOM_BRACKET) {
			/* '[' is an ATOM-CHAR (RFC 3501 §9): an atom whose bracket is
			 * not closed (a mailbox "a[b") ends with the line */
			finish_token(p, IMAP_ARG_ATOM);
			p->state = S_AFTER_ARG;
			return STEP_AGAIN;
		}
		if (c < 0x20 || c >= 0x7f)
			return bad(p, "Invalid characters in atom");
		if (buf_append_c(&p->tok, (char)c) < 0)
			return bad(p, "Argument too long");
		if (p->state == S_ATOM_BRACKET_ESC) {
			p->state = S_ATOM_BRACKET_QUOTED;
		} else if (p->state == S_ATOM_BRACKET_QUOTED) {
			if (c == '\\')
				p->state = S_ATOM_BRACKET_ESC;
			else if (c == '"')
				p->state = S_ATOM_BRACKET;
		} else if (c == '"') {
			p->state = S_ATOM_BRACKET_QUOTED;
		} else if (c == '[') {
			if (p->bracket_depth >= 8)
				return bad(p, "Brackets nested too deeply");
			p->bracket_depth++;
		} else if (c == ']') {
			if (--p->bracket_depth == 0)
				p->state = S_ATOM;
		}
		return STEP_NEXT;
	case S_QUOTED:
		if (c == '"') {
			/* RFC 6855 §3: 8-bit quoted strings are UTF-8 */
			if ((p->flags & IMAP_PARSER_FLAG_UTF8) != 0 &&
			    !mutf7_utf8_is_valid(p->tok.data, p->tok.len))
				return bad(p, "Invalid UTF-8 in quoted string");
			finish_token(p, IMAP_ARG_QUOTED);
			p->state = S_AFTER_ARG;
			return STEP_NEXT;
		}
		if (c == '\\') {
			p->state = S_QUOTED_ESC;
			return STEP_NEXT;
		}
		/* RFC 3501 §9 QUOTED-CHAR: TEXT-CHAR, no NUL/CR/LF; 8-bit only with UTF8=ACCEPT */
		if (c == '\0' || c == '\r' || c == '\n')
			return bad(p, "Invalid characters in quoted string");
		if (c >= 0x80 && (p->flags & IMAP_PARSER_FLAG_UTF8) == 0)
			return bad(p, "8-bit characters in quoted string");
		if (buf_append_c(&p->tok, (char)c) < 0)
			return bad(p, "Argument too long");
		return STEP_NEXT;
	case S_QUOTED_ESC:
		if (c != '"' && c != '\\')
			return bad(p, "Invalid escape in quoted string");
		if (buf_append_c(&p->tok, (char)c) < 0)
			return bad(p, "Argument too long");
		p->state = S_QUOTED;
		return STEP_NEXT;
	case S_LIT_SIZE:
		if (c >= '0' && c <= '9') {
			unsigned d = (unsigned)(c - '0');

			if (p->lit_size > (UINT64_MAX - d) / 10)
				p->lit_huge = true;
			else
				p->lit_size = p->lit_size * 10 + d;
			p->lit_digits = true;
			return STEP_NEXT;
		}
		if (!p->lit_digits)
			return bad(p, "Invalid literal size");
		if (c == '+') {
			p->lit_sync = false;
			p->state = S_LIT_PLUS;
			return STEP_NEXT;
		}
		if (c == '}') {
			p->state = S_LIT_CR;
			return STEP_NEXT;
		}
		return bad(p, "Invalid literal size");
	case S_LIT_PLUS:
		if (c != '}')
			return bad(p, "Invalid literal size");
		p->state = S_LIT_CR;
		return STEP_NEXT;
	case S_LIT_CR:
		if (c == '\r') {
			p->state = S_LIT_LF;
			return STEP_NEXT;
		}
		if (c == '\n')
			return literal_announced(p);
		return bad(p, "Missing CRLF after literal size");
	case S_LIT_LF:
		if (c == '\n')
			return literal_announced(p);
		return bad(p, "Missing CRLF after literal size");
	case S_EOL_LF:
		if (c == '\n')
			return end_of_line(p);
		return bad(p, "Bare CR");
	case S_SKIP:
		return skip_byte(p, c);
	case S_LITERAL_DATA:
	case S_SKIP_LITERAL:
	case S_STREAM_WAIT:
	case S_DONE:
	case S_ERROR:
		break;
	}
	abort();
}

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const unsigned char *data, size_t len,
    size_t *consumed_r)
{
	size_t i = 0;

	/* feeding after DONE/ERROR without a reset, or during a stream: caller bug */
	if (p->state == S_DONE || p->state == S_ERROR || p->state == S_STREAM_WAIT)
		abort();
	while (i < len) {
		enum step st;

		if (p->state == S_LITERAL_DATA || p->state == S_SKIP_LITERAL) {
			uint64_t left = p->state == S_LITERAL_DATA ?
			    p->lit_size - p->lit_have : p->skip_left;
			size_t n = len - i;

			if (left < n)
				n = (size_t)left;
			if (p->state == S_LITERAL_DATA) {
				/* fits: lit_size <= max_line - line_bytes was checked */
				memcpy(p->lit_data + p->lit_have, data + i, n);
				p->lit_have += n;
				p->line_bytes += n;
				i += n;
				if (p->lit_have == p->lit_size)
					(void)literal_finished(p);
			} else if (p->skip_discard) {
				/* bounded by may_skip() when the literal was announced */
				p->skip_left -= n;
				p->discarded += n;
				i += n;
				if (p->skip_left == 0)
					p->state = S_SKIP;
			} else {
				if (n > p->limits.max_line - p->line_bytes) {
					p->err = IMAP_PARSE_ERROR_FATAL;
					p->err_text = "Command line too long";
					p->state = S_ERROR;
					*consumed_r = i;
					return IMAP_PARSE_ERROR;
				}
				p->skip_left -= n;
				p->line_bytes += n;
				i += n;
				if (p->skip_left == 0)
					p->state = S_SKIP;
			}
			continue;
		}
		if (p->line_bytes >= p->limits.max_line &&
		    (p->flags & IMAP_PARSER_FLAG_SKIP_LONG) != 0 &&
		    p->line_bytes - p->limits.max_line < IMAP_PARSER_OVERLONG_MAX) {
			/* read the rest of the line and refuse the command (skip mode still
			 * follows a "{n+}" at its end) */
			if (!p->overlong) {
				p->overlong = true;
				p->err = IMAP_PARSE_ERROR_BAD;
				p->err_text = "Command line too long";
				p->skip_lit = 0;
				p->state = S_SKIP;
			}
		} else if (p->line_bytes >= p->limits.max_line) {
			/* no LF within max_line: the stream cannot be resynchronised */
			p->err = IMAP_PARSE_ERROR_FATAL;
			p->err_text = "Command line too long";
			p->state = S_ERROR;
			*consumed_r = i;
			return IMAP_PARSE_ERROR;
		}
		st = step(p, data[i]);
		if (st == STEP_AGAIN)
			continue;
		p->line_bytes++;
		i++;
		if (st == STEP_RETURN) {
			*consumed_r = i;
			return p->result;
		}
	}
	*consumed_r = i;
	return IMAP_PARSE_MORE;
}

void
imap_parser_stream_done(struct imap_parser *p, void *handle)
{
	struct imap_arg *a;

	if (p->state != S_STREAM_WAIT)
		abort();
	a = add_arg(p, IMAP_ARG_LITERAL_STREAM);
	a->stream_size = p->lit_size;
	a->stream_handle = handle;
	a->literal8 = p->lit_binary;
	p->state = S_AFTER_ARG;
}

uint64_t
imap_parser_literal_size(const struct imap_parser *p)
{
	return p->lit_size;
}

bool
imap_parser_literal_is_sync(const struct imap_parser *p)
{
	return p->lit_sync;
}

bool
imap_parser_literal_is_binary(const struct imap_parser *p)
{
	return p->lit_binary;
}

const char *
imap_parser_tag(const struct imap_parser *p)
{
	return p->tag_valid ? buf_cstr(&p->tag) : NULL;
}

const char *
imap_parser_command(const struct imap_parser *p)
{
	return p->command_done ? buf_cstr(&p->command) : NULL;
}

const struct imap_arg *
imap_parser_args(const struct imap_parser *p, unsigned *count_r)
{
	*count_r = p->levels[0].count;
	return p->levels[0].items;
}

bool
imap_parser_open_list(const struct imap_parser *p, const struct imap_arg **items_r,
    unsigned *count_r)
{
	*items_r = p->levels[p->depth].items;
	*count_r = p->levels[p->depth].count;
	return p->depth > 0;
}

enum imap_parse_error
imap_parser_error(const struct imap_parser *p, const char **text_r)
{
	*text_r = p->err_text != NULL ? p->err_text : "";
	return p->err;
}

bool
imap_arg_atom_equals(const struct imap_arg *a, const char *name)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return false;
	return mem_ieq(a->str, a->len, name);
}

bool
imap_arg_get_astring(const struct imap_arg *a, const char **str_r, size_t *len_r)
{
	/* RFC 3516 §4.2: literal8 is not a string; only APPEND's message may be one */
	if (a->literal8)
		return false;
	switch (a->type) {
	case IMAP_ARG_NIL:
	case IMAP_ARG_ATOM:
	case IMAP_ARG_QUOTED:
	case IMAP_ARG_LITERAL:
		*str_r = a->str;
		*len_r = a->len;
		return true;
	default:
		return false;
	}
}

bool
imap_arg_get_string(const struct imap_arg *a, const char **str_r, size_t *len_r)
{
	if ((a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL) || a->literal8)
		return false;
	*str_r = a->str;
	*len_r = a->len;
	return true;
}

bool
imap_arg_get_nstring(const struct imap_arg *a, const char **str_r, size_t *len_r)
{
	if (a->type == IMAP_ARG_NIL) {
		*str_r = NULL;
		*len_r = 0;
		return true;
	}
	return imap_arg_get_string(a, str_r, len_r);
}

bool
imap_arg_get_list(const struct imap_arg *a, const struct imap_arg **list_r, unsigned *count_r)
{
	if (a->type != IMAP_ARG_LIST)
		return false;
	*list_r = a->list;
	*count_r = a->list_count;
	return true;
}
