/*
 * sieve_lex.c — the Sieve lexer (RFC 5228 §8.1): identifiers, tags, numbers with K/M/G
 * quantifiers, quoted strings with backslash escapes, text: multi-line strings with
 * dot-stuffing, hash and bracket comments, CRLF or LF line ends (a CR alone is white
 * space between tokens but an error inside strings). Runs on untrusted
 * script text: strings are bounded by the buffer limit, numbers are overflow-checked,
 * positions are 1-based line and byte column. String values get CRLF line ends
 * whatever the script used, so the interpreter sees RFC text.
 */
#include "sieve/sieve_local.h"

#define SIEVE_NUMBER_MAX UINT64_MAX

void
sieve_lexer_init(struct sieve_lexer *lx, const char *p, size_t len, size_t string_max)
{
	memset(lx, 0, sizeof(*lx));
	lx->p = p;
	lx->len = len;
	lx->line = 1;
	lx->col = 1;
	buf_init(&lx->text, string_max);
}

void
sieve_lexer_deinit(struct sieve_lexer *lx)
{
	buf_deinit(&lx->text);
}

static int
peek(const struct sieve_lexer *lx, size_t ahead)
{
	if (lx->pos + ahead >= lx->len)
		return -1;
	return (unsigned char)lx->p[lx->pos + ahead];
}

/* Advance one byte that is not a line end. */
static void
adv(struct sieve_lexer *lx)
{
	lx->pos++;
	lx->col++;
}

/* If a line end (CRLF or LF) starts at pos, consume it and return true. */
static bool
eat_newline(struct sieve_lexer *lx)
{
	size_t n = 0;

	if (peek(lx, 0) == '\n')
		n = 1;
	else if (peek(lx, 0) == '\r' && peek(lx, 1) == '\n')
		n = 2;
	if (n == 0)
		return false;
	lx->pos += n;
	lx->line++;
	lx->col = 1;
	return true;
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static void
set_error(struct sieve_token *tok, const char *msg)
{
	tok->type = SIEVE_TOK_ERROR;
	tok->error = msg;
}

/* Skip to the end of a hash comment (the line end is left for the caller); false if
 * the comment holds a NUL. */
static bool
skip_hash_comment(struct sieve_lexer *lx)
{
	bool ok = true;
	int c;

	while ((c = peek(lx, 0)) != -1 && c != '\n' && !(c == '\r' && peek(lx, 1) == '\n')) {
		if (c == '\0')
			ok = false;
		adv(lx);
	}
	return ok;
}

/* Skip white space and comments; returns an error text or NULL. */
static const char *
skip_space(struct sieve_lexer *lx, struct sieve_token *tok)
{
	for (;;) {
		int c = peek(lx, 0);

		tok->line = lx->line;
		tok->col = lx->col;
		tok->off = lx->pos;
		if (c == ' ' || c == '\t') {
			adv(lx);
		} else if (eat_newline(lx)) {
			continue;
		} else if (c == '\r') {
			adv(lx);	/* a CR without LF between tokens is white space, as sievec */
		} else if (c == '#') {
			if (!skip_hash_comment(lx))
				return "NUL character in comment";
		} else if (c == '/' && peek(lx, 1) == '*') {
			bool nul = false;

			adv(lx);
			adv(lx);
			while (!(peek(lx, 0) == '*' && peek(lx, 1) == '/')) {
				if (peek(lx, 0) == -1)
					return "unterminated comment";
				nul |= peek(lx, 0) == '\0';
				if (!eat_newline(lx))
					adv(lx);
			}
			if (nul) {
				adv(lx);
				adv(lx);
				return "NUL character in comment";
			}
			adv(lx);
			adv(lx);
		} else {
			return NULL;
		}
	}
}

static void
lex_word(struct sieve_lexer *lx, struct sieve_token *tok, enum sieve_tok type)
{
	buf_reset(&lx->text);
	tok->type = type;
	while (is_alpha(peek(lx, 0)) || is_digit(peek(lx, 0))) {
		if (lx->text.len < SIEVE_IDENT_MAX)
			(void)buf_append_c(&lx->text, (char)peek(lx, 0));
		else
			set_error(tok, "identifier too long");
		adv(lx);
	}
}

static void
lex_number(struct sieve_lexer *lx, struct sieve_token *tok)
{
	uint64_t v = 0, mul = 1;
	bool over = false;
	int c;

	while (is_digit(c = peek(lx, 0))) {
		unsigned d = (unsigned)(c - '0');

		if (v > (SIEVE_NUMBER_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
		adv(lx);
	}
	c = peek(lx, 0);
	if (c == 'K' || c == 'k')
		mul = 1024;
	else if (c == 'M' || c == 'm')
		mul = 1024 * 1024;
	else if (c == 'G' || c == 'g')
		mul = 1024 * 1024 * 1024;
	if (mul != 1) {
		adv(lx);
		if (v > SIEVE_NUMBER_MAX / mul)
			over = true;
		v *= mul;
	}
	tok->type = SIEVE_TOK_NUMBER;
	tok->number = v;
	if (over)
		set_error(tok, "number exceeds integer limits (max 18446744073709551615)");
}

/* Append to the string value; remembers "string too long" once. */
static void
text_add(struct sieve_lexer *lx, const char *p, size_t n, const char **err)
{
	if (buf_append(&lx->text, p, n) < 0 && *err == NULL)
		*err = "string is too long";
}

/* RFC 5228 §2.4.2: backslash escapes the next character; undefined escapes drop it. */
static void
lex_quoted(struct sieve_lexer *lx, struct sieve_token *tok)
{
	const char *err = NULL;
	int c;

	buf_reset(&lx->text);
	adv(lx);
	for (;;) {
		c = peek(lx, 0);
		if (c == -1) {
			set_error(tok, "unterminated string");
			return;
		}
		if (c == '"')
			break;
		if (eat_newline(lx)) {
			text_add(lx, "\r\n", 2, &err);
			continue;
		}
		if (c == '\\') {
			adv(lx);
			c = peek(lx, 0);
			if (c == -1 || c == '\r' || c == '\n')
				continue;	/* a backslash before a line end is dropped */
		}
		if ((c == '\0' || c == '\r') && err == NULL)
			err = c == '\0' ? "NUL character in string" : "bare CR in string";
		{
			char ch = (char)c;

			text_add(lx, &ch, 1, &err);
		}
		adv(lx);
	}
	adv(lx);
	tok->type = SIEVE_TOK_STRING;
	if (err != NULL)
		set_error(tok, err);
}

/* One line of a multi-line string, without its line end; returns its length. */
static size_t
line_len(const struct sieve_lexer *lx, bool *has_end_r)
{
	const char *nl = memchr(lx->p + lx->pos, '\n', lx->len - lx->pos);
	size_t n = nl == NULL ? lx->len - lx->pos : (size_t)(nl - (lx->p + lx->pos));

	*has_end_r = nl != NULL;
	if (nl != NULL && n > 0 && lx->p[lx->pos + n - 1] == '\r')
		n--;
	return n;
}

/* RFC 5228 §2.4.2 and §8.1: "text:" [comment] CRLF lines "." CRLF, dot-stuffed. */
static void
lex_multiline(struct sieve_lexer *lx, struct sieve_token *tok)
{
	const char *err = NULL;

	buf_reset(&lx->text);
	adv(lx);	/* the ':' after "text" */
	while (peek(lx, 0) == ' ' || peek(lx, 0) == '\t')
		adv(lx);
	if (peek(lx, 0) == '#' && !skip_hash_comment(lx)) {
		set_error(tok, "NUL character in comment");
		return;
	}
	if (!eat_newline(lx)) {
		set_error(tok, "text: must be followed by a line end");
		return;
	}
	for (;;) {
		bool has_end;
		size_t n = line_len(lx, &has_end), skip = 0;
		const char *line = lx->p + lx->pos;

		if (lx->pos >= lx->len) {
			set_error(tok, "unterminated multi-line string (no line with a single '.')");
			return;
		}
		if (n == 1 && line[0] == '.') {
			lx->pos += 1;
			lx->col += 1;
			(void)eat_newline(lx);
			break;
		}
		if (n > 0 && line[0] == '.')
			skip = 1;
		if (err == NULL && (memchr(line, '\0', n) != NULL || memchr(line, '\r', n) != NULL))
			err = "NUL or bare CR in multi-line string";
		text_add(lx, line + skip, n - skip, &err);
		text_add(lx, "\r\n", 2, &err);
		lx->pos += n;
		lx->col += (uint32_t)n;
		if (!has_end) {
			set_error(tok, "unterminated multi-line string (no line with a single '.')");
			return;
		}
		(void)eat_newline(lx);
	}
	tok->type = SIEVE_TOK_STRING;
	if (err != NULL)
		set_error(tok, err);
}

static enum sieve_tok
punct(int c)
{
	switch (c) {
	case '[': return SIEVE_TOK_LBRACKET;
	case ']': return SIEVE_TOK_RBRACKET;
	case '(': return SIEVE_TOK_LPAREN;
	case ')': return SIEVE_TOK_RPAREN;
	case '{': return SIEVE_TOK_LBRACE;
	case '}': return SIEVE_TOK_RBRACE;
	case ',': return SIEVE_TOK_COMMA;
	case ';': return SIEVE_TOK_SEMI;
	default: return SIEVE_TOK_EOF;
	}
}

void
sieve_lexer_next(struct sieve_lexer *lx, struct sieve_token *tok)
{
	const char *err;
	int c;

	memset(tok, 0, sizeof(*tok));
	tok->text = &lx->text;
	if ((err = skip_space(lx, tok)) != NULL) {
		set_error(tok, err);
		return;
	}
	c = peek(lx, 0);
	if (c == -1) {
		tok->type = SIEVE_TOK_EOF;
	} else if (is_alpha(c)) {
		lex_word(lx, tok, SIEVE_TOK_IDENT);
		if (tok->type == SIEVE_TOK_IDENT && peek(lx, 0) == ':' &&
		    mem_ieq(lx->text.data, lx->text.len, "text"))
			lex_multiline(lx, tok);
	} else if (c == ':' && is_alpha(peek(lx, 1))) {
		adv(lx);
		lex_word(lx, tok, SIEVE_TOK_TAG);
	} else if (is_digit(c)) {
		lex_number(lx, tok);
	} else if (c == '"') {
		lex_quoted(lx, tok);
	} else if (punct(c) != SIEVE_TOK_EOF) {
		tok->type = punct(c);
		adv(lx);
	} else {
		adv(lx);
		set_error(tok, "unexpected character");
	}
}
