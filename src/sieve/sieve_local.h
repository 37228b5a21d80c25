/*
 * sieve_local.h — internals shared by the Sieve lexer, parser, registry and validator
 * (src/sieve only). Same trust role as sieve.h: untrusted script text, pure code.
 */
#ifndef BUZON_SIEVE_LOCAL_H
#define BUZON_SIEVE_LOCAL_H

#include "lib/buf.h"
#include "sieve/sieve.h"

enum sieve_tok {
	SIEVE_TOK_EOF,
	SIEVE_TOK_ERROR,	/* lexical error: tok.error says what */
	SIEVE_TOK_IDENT,
	SIEVE_TOK_TAG,		/* ":name"; text is the name without ':' */
	SIEVE_TOK_NUMBER,
	SIEVE_TOK_STRING,	/* quoted or text: multi-line; decoded into text */
	SIEVE_TOK_LBRACKET, SIEVE_TOK_RBRACKET, SIEVE_TOK_LPAREN, SIEVE_TOK_RPAREN,
	SIEVE_TOK_LBRACE, SIEVE_TOK_RBRACE, SIEVE_TOK_COMMA, SIEVE_TOK_SEMI,
};

#define SIEVE_IDENT_MAX 64	/* identifiers and tag names longer than this are errors */

struct sieve_token {
	enum sieve_tok type;
	uint32_t line, col;	/* where the token starts */
	size_t off;		/* byte offset where the token starts */
	uint64_t number;
	const char *error;	/* ERROR: static text */
	struct buf *text;	/* IDENT, TAG, STRING: decoded bytes (the lexer's buffer) */
};

struct sieve_lexer {
	const char *p;
	size_t len, pos;
	uint32_t line, col;
	struct buf text;	/* max = limits.string_max */
};

/* Lexer over p[0..len); text strings are limited to string_max bytes. */
void sieve_lexer_init(struct sieve_lexer *lx, const char *p, size_t len, size_t string_max);
void sieve_lexer_deinit(struct sieve_lexer *lx);
/* Next token into *tok (tok->text borrowed until the next call). After ERROR the
 * lexer has skipped the offending byte(s), so lexing can go on. */
void sieve_lexer_next(struct sieve_lexer *lx, struct sieve_token *tok);

/* Compile state shared by parser and validator. */
struct sieve_ctx {
	const struct sieve_limits *lim;
	struct sieve_script *s;
	struct sieve_errors *errors;
	uint32_t node_cap, arg_cap, str_cap;
	struct buf pool;
	bool failed;		/* any error so far */
	unsigned error_total;	/* errors found, reported or not */
	bool gave_up;		/* errors_max reached */
};

void sieve_error(struct sieve_ctx *c, uint32_t line, uint32_t col, const char *fmt, ...)
    PRINTF(4, 5);
/* A warning: reported (while there is room) but the script still compiles. */
void sieve_warning(struct sieve_ctx *c, uint32_t line, uint32_t col, const char *fmt, ...)
    PRINTF(4, 5);
/* Append a string to the pool and table; returns its index or SIEVE_NONE (limit). */
uint32_t sieve_str_add(struct sieve_ctx *c, const char *p, size_t len);
/* Parse the script into c->s (tree only, no validation). Returns 0, or -1 on errors. */
int sieve_parse(struct sieve_ctx *c, const char *text, size_t len);
/* Validate and normalise the tree of c->s against the registry. */
void sieve_validate(struct sieve_ctx *c);
/* A printable, truncated copy of s[0..len) for messages ("..." when cut). */
void sieve_sanitize(char *dst, size_t dstsize, const char *s, size_t len);

#endif
