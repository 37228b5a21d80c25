/*
 * sieve_parse.c — the Sieve parser (RFC 5228 §8.2) and the compile entry point. Turns
 * tokens into the flat tree of sieve.h without recursion: an explicit stack of frames,
 * one per open command, test or block, bounded by limits.depth_max. Syntax errors are
 * collected (up to limits.errors_max) by skipping to the end of the broken command and
 * going on; a script with syntax errors is not validated. Untrusted input; every table
 * is bounded by a limit before it grows.
 */
#include <stdarg.h>

#include "sieve/sieve_local.h"

enum frame_state {
	ST_BLOCK,	/* reading commands until '}' (or EOF for the top level) */
	ST_ARGS,	/* reading arguments of the frame's node */
	ST_TESTLIST,	/* after a test inside "(...)": ',' or ')' */
	ST_AFTER,	/* tests done: ';' or '{' for a command, return for a test */
};

struct frame {
	uint32_t node;		/* SIEVE_NONE for the top level */
	enum frame_state state;
	uint32_t last;		/* last child linked (test or command), SIEVE_NONE */
};

struct parser {
	struct sieve_ctx *c;
	struct sieve_lexer lx;
	struct sieve_token tok;
	struct frame *stack;
	unsigned depth;		/* frames in use; stack[0] is the top level */
	bool stop;		/* limits reached: no more parsing */
};

void
sieve_limits_default(struct sieve_limits *lim)
{
	lim->script_max = 1024 * 1024;
	lim->string_max = 64 * 1024;
	lim->depth_max = 32;
	lim->nodes_max = 10000;
	lim->args_max = 32;
	lim->list_max = 1024;
	lim->errors_max = 16;
}

void
sieve_sanitize(char *dst, size_t dstsize, const char *s, size_t len)
{
	size_t o = 0, max = dstsize - 1;

	if (len > max)
		max = max > 3 ? max - 3 : 0;
	for (size_t i = 0; i < len && o < max; i++) {
		unsigned char ch = (unsigned char)s[i];

		dst[o++] = ch >= 32 && ch < 127 ? (char)ch : '?';
	}
	if (len > o && dstsize > 4) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

static void report(struct sieve_ctx *c, bool warning, uint32_t line, uint32_t col,
    const char *fmt, va_list ap) PRINTF(5, 0);

static void
report(struct sieve_ctx *c, bool warning, uint32_t line, uint32_t col, const char *fmt,
    va_list ap)
{
	struct sieve_error *e;

	if (c->errors->count >= c->lim->errors_max) {
		if (!warning) {
			c->errors->truncated = true;
			c->gave_up = true;
		}
		return;
	}
	e = &c->errors->list[c->errors->count++];
	e->line = line;
	e->col = col;
	e->warning = warning;
	if (warning)
		c->errors->warnings++;
	(void)vsnprintf(e->text, sizeof(e->text), fmt, ap);
}

void
sieve_error(struct sieve_ctx *c, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;

	c->failed = true;
	c->error_total++;
	va_start(ap, fmt);
	report(c, false, line, col, fmt, ap);
	va_end(ap);
}

void
sieve_warning(struct sieve_ctx *c, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(c, true, line, col, fmt, ap);
	va_end(ap);
}

uint32_t
sieve_str_add(struct sieve_ctx *c, const char *p, size_t len)
{
	struct sieve_script *s = c->s;
	uint32_t off = (uint32_t)c->pool.len;

	if (len >= UINT32_MAX - c->pool.len || buf_append(&c->pool, p, len) < 0 ||
	    buf_append_c(&c->pool, '\0') < 0)
		return SIEVE_NONE;
	if (s->str_count == c->str_cap) {
		c->str_cap = c->str_cap == 0 ? 64 : c->str_cap * 2;
		s->strs = xreallocarray(s->strs, c->str_cap, sizeof(*s->strs));
	}
	s->strs[s->str_count].off = off;
	s->strs[s->str_count].len = (uint32_t)len;
	s->pool = c->pool.data;
	s->pool_len = c->pool.len;
	return s->str_count++;
}

static void
next(struct parser *ps)
{
	sieve_lexer_next(&ps->lx, &ps->tok);
}

/* A short description of the current token for messages. */
static void
describe(const struct parser *ps, char *dst, size_t size)
{
	const struct sieve_token *t = &ps->tok;
	char word[40];

	switch (t->type) {
	case SIEVE_TOK_EOF: snprintf(dst, size, "end of script"); return;
	case SIEVE_TOK_NUMBER: snprintf(dst, size, "number"); return;
	case SIEVE_TOK_STRING: snprintf(dst, size, "string"); return;
	case SIEVE_TOK_IDENT:
	case SIEVE_TOK_TAG:
		sieve_sanitize(word, sizeof(word), t->text->data, t->text->len);
		snprintf(dst, size, "%s '%s%s'", t->type == SIEVE_TOK_TAG ? "tag" : "identifier",
		    t->type == SIEVE_TOK_TAG ? ":" : "", word);
		return;
	default:
		snprintf(dst, size, "'%c'", ps->lx.p[t->off]);
		return;
	}
}

static void
syntax_error(struct parser *ps, const char *what)
{
	char found[64];

	if (ps->tok.type == SIEVE_TOK_ERROR) {
		if (strcmp(ps->tok.error, "unexpected character") == 0) {
			char ch[8];

			sieve_sanitize(ch, sizeof(ch), ps->lx.p + ps->tok.off, 1);
			sieve_error(ps->c, ps->tok.line, ps->tok.col,
			    "unexpected character '%s'.", ch);
		} else {
			sieve_error(ps->c, ps->tok.line, ps->tok.col, "%s.", ps->tok.error);
		}
		return;
	}
	describe(ps, found, sizeof(found));
	sieve_error(ps->c, ps->tok.line, ps->tok.col, "expected %s, but found %s.", what, found);
}

/*
 * After a syntax error: drop the open tests and commands up to the innermost block,
 * then skip tokens to the ';' ending the broken command (consumed) or the '}' closing
 * the block (left for the block). Lexical errors met on the way are reported too.
 */
static void
recover(struct parser *ps)
{
	unsigned braces = 0;
	bool first = true;	/* the current token was reported by the caller */

	while (ps->depth > 1 && ps->stack[ps->depth - 1].state != ST_BLOCK)
		ps->depth--;
	for (;;) {
		enum sieve_tok t = ps->tok.type;

		if (ps->c->gave_up || t == SIEVE_TOK_EOF)
			return;
		if (t == SIEVE_TOK_RBRACE && braces == 0)
			return;
		if (t == SIEVE_TOK_ERROR && !first)
			syntax_error(ps, "");
		else if (t == SIEVE_TOK_LBRACE)
			braces++;
		else if (t == SIEVE_TOK_RBRACE)
			braces--;
		next(ps);
		first = false;
		if (t == SIEVE_TOK_SEMI && braces == 0)
			return;
	}
}

static void
fail(struct parser *ps, const char *what)
{
	syntax_error(ps, what);
	recover(ps);
}

static uint32_t
node_new(struct parser *ps, enum sieve_node_kind kind)
{
	struct sieve_ctx *c = ps->c;
	struct sieve_script *s = c->s;
	struct sieve_node *n;
	uint32_t name;

	if (s->node_count >= c->lim->nodes_max) {
		sieve_error(c, ps->tok.line, ps->tok.col,
		    "too many commands and tests (limit %u).", c->lim->nodes_max);
		ps->stop = true;
		return SIEVE_NONE;
	}
	if ((name = sieve_str_add(c, ps->tok.text->data, ps->tok.text->len)) == SIEVE_NONE) {
		ps->stop = true;
		return SIEVE_NONE;
	}
	if (s->node_count == c->node_cap) {
		c->node_cap = c->node_cap == 0 ? 32 : c->node_cap * 2;
		s->nodes = xreallocarray(s->nodes, c->node_cap, sizeof(*s->nodes));
	}
	n = &s->nodes[s->node_count];
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->line = ps->tok.line;
	n->col = ps->tok.col;
	n->name = name;
	n->arg_first = s->arg_count;
	n->test_first = n->block_first = n->next = SIEVE_NONE;
	for (unsigned i = 0; i < SIEVE_POS_MAX; i++)
		n->pos[i] = SIEVE_NONE;
	return s->node_count++;
}

/* Open a frame for a new node and link it as a test or block child of the top frame. */
static bool
push(struct parser *ps, enum sieve_node_kind kind)
{
	struct sieve_script *s = ps->c->s;
	struct frame *top = &ps->stack[ps->depth - 1];
	uint32_t id;

	if (ps->depth > ps->c->lim->depth_max) {
		sieve_error(ps->c, ps->tok.line, ps->tok.col,
		    "nesting too deep (limit %u blocks and tests).", ps->c->lim->depth_max);
		ps->stop = true;
		return false;
	}
	if ((id = node_new(ps, kind)) == SIEVE_NONE)
		return false;
	if (top->last != SIEVE_NONE)
		s->nodes[top->last].next = id;
	else if (top->node == SIEVE_NONE)
		s->first = id;
	else if (kind == SIEVE_NODE_TEST)
		s->nodes[top->node].test_first = id;
	else
		s->nodes[top->node].block_first = id;
	top->last = id;
	if (top->node != SIEVE_NONE) {
		if (kind == SIEVE_NODE_TEST)
			s->nodes[top->node].test_count++;
		else
			s->nodes[top->node].block_count++;
	}
	ps->stack[ps->depth].node = id;
	ps->stack[ps->depth].state = ST_ARGS;
	ps->stack[ps->depth].last = SIEVE_NONE;
	ps->depth++;
	next(ps);
	return true;
}

static struct sieve_arg *
arg_new(struct parser *ps, enum sieve_arg_type type)
{
	struct sieve_ctx *c = ps->c;
	struct sieve_script *s = c->s;
	struct sieve_node *n = &s->nodes[ps->stack[ps->depth - 1].node];
	struct sieve_arg *a;

	if (n->arg_count >= c->lim->args_max) {
		sieve_error(c, ps->tok.line, ps->tok.col, "too many arguments (limit %u).",
		    c->lim->args_max);
		return NULL;
	}
	if (s->arg_count == c->arg_cap) {
		c->arg_cap = c->arg_cap == 0 ? 64 : c->arg_cap * 2;
		s->args = xreallocarray(s->args, c->arg_cap, sizeof(*s->args));
	}
	a = &s->args[s->arg_count++];
	n->arg_count++;
	memset(a, 0, sizeof(*a));
	a->type = (uint8_t)type;
	a->line = ps->tok.line;
	a->col = ps->tok.col;
	a->str_first = SIEVE_NONE;
	a->value = SIEVE_NONE;
	return a;
}

static bool
add_str(struct parser *ps, struct sieve_arg *a)
{
	uint32_t i = sieve_str_add(ps->c, ps->tok.text->data, ps->tok.text->len);

	if (i == SIEVE_NONE) {
		sieve_error(ps->c, ps->tok.line, ps->tok.col, "script strings too large.");
		ps->stop = true;
		return false;
	}
	if (a->str_first == SIEVE_NONE)
		a->str_first = i;
	a->str_count++;
	return true;
}

/* "[" string *("," string) "]" with the '[' current. */
static bool
parse_list(struct parser *ps, struct sieve_arg *a)
{
	next(ps);
	for (;;) {
		if (ps->tok.type != SIEVE_TOK_STRING) {
			fail(ps, "a string in the string list");
			return false;
		}
		if (a->str_count >= ps->c->lim->list_max) {
			sieve_error(ps->c, ps->tok.line, ps->tok.col,
			    "too many strings in a list (limit %u).", ps->c->lim->list_max);
			recover(ps);
			return false;
		}
		if (!add_str(ps, a))
			return false;
		next(ps);
		if (ps->tok.type == SIEVE_TOK_RBRACKET)
			break;
		if (ps->tok.type != SIEVE_TOK_COMMA) {
			fail(ps, "',' or ']' in the string list");
			return false;
		}
		next(ps);
	}
	next(ps);
	return true;
}

/* One argument (the current token is a number, string, tag or '['). */
static bool
parse_arg(struct parser *ps)
{
	enum sieve_tok t = ps->tok.type;
	struct sieve_arg *a;

	a = arg_new(ps, t == SIEVE_TOK_NUMBER ? SIEVE_ARG_NUMBER : t == SIEVE_TOK_TAG ?
	    SIEVE_ARG_TAG : t == SIEVE_TOK_STRING ? SIEVE_ARG_STRING : SIEVE_ARG_LIST);
	if (a == NULL) {
		recover(ps);
		return false;
	}
	if (t == SIEVE_TOK_LBRACKET)
		return parse_list(ps, a);
	if (t == SIEVE_TOK_NUMBER)
		a->number = ps->tok.number;
	else if (!add_str(ps, a))
		return false;
	next(ps);
	return true;
}

static void
step_args(struct parser *ps, struct frame *f)
{
	enum sieve_tok t = ps->tok.type;

	if (t == SIEVE_TOK_NUMBER || t == SIEVE_TOK_STRING || t == SIEVE_TOK_TAG ||
	    t == SIEVE_TOK_LBRACKET) {
		(void)parse_arg(ps);
	} else if (t == SIEVE_TOK_IDENT) {
		f->state = ST_AFTER;
		(void)push(ps, SIEVE_NODE_TEST);
	} else if (t == SIEVE_TOK_LPAREN) {
		next(ps);
		if (ps->tok.type != SIEVE_TOK_IDENT) {
			fail(ps, "a test in the test list");
			return;
		}
		f->state = ST_TESTLIST;
		ps->c->s->nodes[f->node].test_list = true;
		(void)push(ps, SIEVE_NODE_TEST);
	} else {
		f->state = ST_AFTER;
	}
}

static void
step_testlist(struct parser *ps, struct frame *f)
{
	if (ps->tok.type == SIEVE_TOK_RPAREN) {
		f->state = ST_AFTER;
		next(ps);
	} else if (ps->tok.type == SIEVE_TOK_COMMA) {
		next(ps);
		if (ps->tok.type != SIEVE_TOK_IDENT)
			fail(ps, "a test after ',' in the test list");
		else
			(void)push(ps, SIEVE_NODE_TEST);
	} else {
		fail(ps, "',' or ')' in the test list");
	}
}

static void
step_after(struct parser *ps, struct frame *f)
{
	struct sieve_node *n = &ps->c->s->nodes[f->node];

	if (n->kind == SIEVE_NODE_TEST) {
		ps->depth--;
	} else if (ps->tok.type == SIEVE_TOK_SEMI) {
		ps->depth--;
		next(ps);
	} else if (ps->tok.type == SIEVE_TOK_LBRACE) {
		n->has_block = true;
		f->state = ST_BLOCK;
		f->last = SIEVE_NONE;	/* tests linked so far; the block's commands start anew */
		next(ps);
	} else {
		fail(ps, "';' or '{' after the command's arguments");
	}
}

/* Returns false at the end of the script. */
static bool
step_block(struct parser *ps, struct frame *f)
{
	enum sieve_tok t = ps->tok.type;

	if (t == SIEVE_TOK_EOF) {
		if (f->node != SIEVE_NONE)
			syntax_error(ps, "'}' closing the block");
		return false;
	}
	if (t == SIEVE_TOK_RBRACE && f->node != SIEVE_NONE) {
		ps->depth--;
		next(ps);
	} else if (t == SIEVE_TOK_RBRACE) {
		syntax_error(ps, "a command");
		next(ps);
	} else if (t == SIEVE_TOK_IDENT) {
		(void)push(ps, SIEVE_NODE_COMMAND);
	} else {
		fail(ps, "a command");
	}
	return true;
}

int
sieve_parse(struct sieve_ctx *c, const char *text, size_t len)
{
	struct parser ps;
	bool more = true;

	memset(&ps, 0, sizeof(ps));
	ps.c = c;
	ps.stack = xcalloc(c->lim->depth_max + 2, sizeof(*ps.stack));
	ps.stack[0].node = SIEVE_NONE;
	ps.stack[0].state = ST_BLOCK;
	ps.stack[0].last = SIEVE_NONE;
	ps.depth = 1;
	sieve_lexer_init(&ps.lx, text, len, c->lim->string_max);
	next(&ps);
	while (more && !ps.stop && !c->gave_up) {
		struct frame *f = &ps.stack[ps.depth - 1];

		if (ps.tok.type == SIEVE_TOK_ERROR) {
			fail(&ps, "");
			continue;
		}
		switch (f->state) {
		case ST_BLOCK: more = step_block(&ps, f); break;
		case ST_ARGS: step_args(&ps, f); break;
		case ST_TESTLIST: step_testlist(&ps, f); break;
		case ST_AFTER: step_after(&ps, f); break;
		}
	}
	sieve_lexer_deinit(&ps.lx);
	free(ps.stack);
	return c->failed ? -1 : 0;
}

struct sieve_script *
sieve_compile(const char *text, size_t len, const struct sieve_limits *lim,
    struct sieve_errors *errors)
{
	struct sieve_limits l = *lim;
	struct sieve_ctx c;

	if (l.errors_max == 0)
		l.errors_max = 1;	/* a failure always comes with an error */
	memset(errors, 0, sizeof(*errors));
	errors->list = xcalloc(l.errors_max, sizeof(*errors->list));
	memset(&c, 0, sizeof(c));
	c.lim = &l;
	c.errors = errors;
	c.s = xcalloc(1, sizeof(*c.s));
	c.s->first = SIEVE_NONE;
	if (len > l.script_max) {
		sieve_error(&c, 1, 1, "script is too large (%zu bytes, limit %zu).", len,
		    l.script_max);
		free(c.s);
		return NULL;
	}
	/* every string is at most its source text plus its NUL, CRLF for each LF */
	buf_init(&c.pool, 2 * len + 64);
	if (sieve_parse(&c, text, len) == 0)
		sieve_validate(&c);
	c.s->pool = c.pool.data;
	c.s->pool_len = c.pool.len;
	if (c.failed) {
		sieve_script_destroy(&c.s);
		return NULL;
	}
	return c.s;
}

void
sieve_script_destroy(struct sieve_script **script)
{
	struct sieve_script *s = *script;

	if (s == NULL)
		return;
	free(s->nodes);
	free(s->args);
	free(s->strs);
	free(s->pool);
	free(s);
	*script = NULL;
}

void
sieve_errors_deinit(struct sieve_errors *errors)
{
	free(errors->list);
	errors->list = NULL;
	errors->count = 0;
}

uint32_t
sieve_node_tag_value(const struct sieve_script *s, const struct sieve_node *n,
    enum sieve_tag tag)
{
	if ((n->tags & (1ull << tag)) == 0)
		return SIEVE_NONE;
	for (uint32_t i = 0; i < n->arg_count; i++) {
		const struct sieve_arg *a = &s->args[n->arg_first + i];

		if (a->type == SIEVE_ARG_TAG && a->tag == tag)
			return a->value;
	}
	return SIEVE_NONE;
}

const char *
sieve_arg_str(const struct sieve_script *s, const struct sieve_arg *a, uint32_t i,
    size_t *len_r)
{
	const struct sieve_str *st = &s->strs[a->str_first + i];

	*len_r = st->len;
	return s->pool + st->off;
}
