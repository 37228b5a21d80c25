/*
 * address.c — lenient RFC 5322 address-list parser producing IMAP ENVELOPE addresses
 * (see address.h). Runs in the mail process on untrusted header text. A small tokenizer
 * (atoms, quoted strings, domain literals, comments, specials) feeds a one-pass parser;
 * output is capped at max_addresses entries and groups do not nest.
 */
#include "mail/address.h"

#include "lib/buf.h"

enum tok_type { T_END, T_WORD, T_QUOTED, T_LITERAL, T_SPECIAL };

struct tok {
	enum tok_type type;
	const char *p;		/* T_WORD / T_LITERAL text; T_QUOTED content (escaped) */
	size_t len;
	char c;			/* T_SPECIAL */
};

struct aparser {
	const char *p;
	size_t len, i;
	struct tok t;		/* current token */
	char *comment;		/* last comment seen (malloc'd) */
	struct mail_address *list;
	unsigned int count, max;
};

static bool
is_atext_special(char c)
{
	return memchr("()<>[]:;@\\,.\"", c, 13) != NULL;
}

static void
skip_comment(struct aparser *ap)
{
	unsigned int depth = 0;
	size_t start = ap->i + 1;

	do {
		char c = ap->p[ap->i];

		if (c == '\\' && ap->i + 1 < ap->len)
			ap->i++;
		else if (c == '(')
			depth++;
		else if (c == ')')
			depth--;
		ap->i++;
	} while (ap->i < ap->len && depth > 0);
	free(ap->comment);
	{
		size_t end = depth == 0 ? ap->i - 1 : ap->i;
		struct buf b;

		buf_init(&b, BUF_UNLIMITED);
		for (size_t k = start; k < end; k++) {
			if (ap->p[k] == '\\' && k + 1 < end)
				k++;
			(void)buf_append_c(&b, ap->p[k]);
		}
		ap->comment = buf_steal(&b);
	}
}

static void
next_tok(struct aparser *ap)
{
	for (;;) {
		char c;

		if (ap->i >= ap->len) {
			ap->t.type = T_END;
			return;
		}
		c = ap->p[ap->i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			ap->i++;
			continue;
		}
		if (c == '(') {
			skip_comment(ap);
			continue;
		}
		break;
	}
	{
		size_t start = ap->i;
		char c = ap->p[ap->i];

		if (c == '"') {
			ap->i++;
			start = ap->i;
			while (ap->i < ap->len && ap->p[ap->i] != '"') {
				if (ap->p[ap->i] == '\\' && ap->i + 1 < ap->len)
					ap->i++;
				ap->i++;
			}
			ap->t.type = T_QUOTED;
			ap->t.p = ap->p + start;
			ap->t.len = ap->i - start;
			if (ap->i < ap->len)
				ap->i++;
		} else if (c == '[') {
			while (ap->i < ap->len && ap->p[ap->i] != ']')
				ap->i++;
			if (ap->i < ap->len)
				ap->i++;
			ap->t.type = T_LITERAL;
			ap->t.p = ap->p + start;
			ap->t.len = ap->i - start;
		} else if (is_atext_special(c)) {
			ap->i++;
			ap->t.type = T_SPECIAL;
			ap->t.c = c;
		} else {
			while (ap->i < ap->len) {
				c = ap->p[ap->i];
				if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
				    is_atext_special(c))
					break;
				ap->i++;
			}
			ap->t.type = T_WORD;
			ap->t.p = ap->p + start;
			ap->t.len = ap->i - start;
		}
	}
}

static bool
is_special(const struct aparser *ap, char c)
{
	return ap->t.type == T_SPECIAL && ap->t.c == c;
}

/* Append the current word / quoted-string content (unescaped) to b. */
static void
append_tok(struct buf *b, const struct tok *t)
{
	if (t->type == T_QUOTED) {
		for (size_t k = 0; k < t->len; k++) {
			if (t->p[k] == '\\' && k + 1 < t->len)
				k++;
			(void)buf_append_c(b, t->p[k]);
		}
	} else if (t->type == T_SPECIAL)
		(void)buf_append_c(b, t->c);
	else
		(void)buf_append(b, t->p, t->len);
}

/* New entry, keeping `reserve` slots free (for a group's end marker); NULL when full. */
static struct mail_address *
add(struct aparser *ap, unsigned int reserve)
{
	struct mail_address *a;

	if (ap->count >= ap->max || ap->max - ap->count <= reserve)
		return NULL;
	ap->list = xreallocarray(ap->list, ap->count + 1, sizeof(*ap->list));
	a = &ap->list[ap->count++];
	memset(a, 0, sizeof(*a));
	return a;
}

static char *
steal_or_null(struct buf *b, bool have)
{
	if (!have) {
		buf_deinit(b);
		return NULL;
	}
	return buf_steal(b);
}

/* Domain: dot-atoms and literals up to '>' ',' ';' or the end. */
static void
parse_domain(struct aparser *ap, struct buf *host)
{
	while (ap->t.type == T_WORD || ap->t.type == T_LITERAL || is_special(ap, '.')) {
		append_tok(host, &ap->t);
		next_tok(ap);
	}
}

/* Current token is '<': route, local part and domain up to '>'. */
static void
parse_angle(struct aparser *ap, struct mail_address *a)
{
	struct buf adl, local, host;
	bool have_at = false, have_adl = false;

	buf_init(&adl, BUF_UNLIMITED);
	buf_init(&local, BUF_UNLIMITED);
	buf_init(&host, BUF_UNLIMITED);
	next_tok(ap);
	/* obs-route: "@a,@b:" */
	if (is_special(ap, '@')) {
		size_t save = ap->i;
		struct tok st = ap->t;

		while (is_special(ap, '@') || is_special(ap, ',') || ap->t.type == T_WORD ||
		    ap->t.type == T_LITERAL || is_special(ap, '.'))
		{
			append_tok(&adl, &ap->t);
			next_tok(ap);
		}
		if (is_special(ap, ':')) {
			have_adl = true;
			next_tok(ap);
		} else {
			/* not a route after all: "<@host>" */
			ap->i = save;
			ap->t = st;
			buf_reset(&adl);
		}
	}
	while (ap->t.type == T_WORD || ap->t.type == T_QUOTED || is_special(ap, '.')) {
		append_tok(&local, &ap->t);
		next_tok(ap);
	}
	if (is_special(ap, '@')) {
		have_at = true;
		next_tok(ap);
		parse_domain(ap, &host);
	}
	while (ap->t.type != T_END && !is_special(ap, '>'))
		next_tok(ap);
	if (is_special(ap, '>'))
		next_tok(ap);
	if (a == NULL) {
		buf_deinit(&adl);
		buf_deinit(&local);
		buf_deinit(&host);
		return;
	}
	a->adl = steal_or_null(&adl, have_adl);
	if (local.len == 0 && !have_at) {
		/* "<>": the null reverse-path */
		buf_deinit(&local);
		buf_deinit(&host);
		a->mailbox = xstrdup("");
		a->host = xstrdup("");
		return;
	}
	a->mailbox = local.len > 0 ? buf_steal(&local) : xstrdup("MISSING_MAILBOX");
	buf_deinit(&local);
	a->host = host.len > 0 ? buf_steal(&host) : xstrdup("MISSING_DOMAIN");
	buf_deinit(&host);
}

static void parse_list(struct aparser *ap, bool in_group);

static void
parse_address(struct aparser *ap, bool in_group)
{
	struct buf phrase, local;
	bool have_phrase = false, prev_dot = false;

	buf_init(&phrase, BUF_UNLIMITED);
	buf_init(&local, BUF_UNLIMITED);
	free(ap->comment);
	ap->comment = NULL;
	for (;;) {
		if (ap->t.type == T_WORD || ap->t.type == T_QUOTED || is_special(ap, '.')) {
			bool dot = is_special(ap, '.');

			if (have_phrase && !dot && !prev_dot)
				(void)buf_append_c(&phrase, ' ');
			append_tok(&phrase, &ap->t);
			append_tok(&local, &ap->t);
			have_phrase = true;
			prev_dot = dot;
			next_tok(ap);
		} else if (ap->t.type == T_LITERAL) {
			next_tok(ap);	/* junk */
		} else if (is_special(ap, '<')) {
			struct mail_address *a = add(ap, in_group);

			parse_angle(ap, a);
			if (a != NULL)
				a->name = steal_or_null(&phrase, have_phrase);
			break;
		} else if (is_special(ap, ':') && !in_group) {
			struct mail_address *a = add(ap, 1);

			next_tok(ap);
			if (a != NULL) {
				a->group_start = true;
				a->mailbox = have_phrase ? buf_steal(&phrase) : xstrdup("");
			}
			if (a == NULL) {
				/* no room for the group: skip its members */
				ap->max = ap->count;
			}
			parse_list(ap, true);
			if (a != NULL && (a = add(ap, 0)) != NULL)
				a->group_end = true;
			break;
		} else if (is_special(ap, '@')) {
			struct mail_address *a;
			struct buf host;

			next_tok(ap);
			buf_init(&host, BUF_UNLIMITED);
			parse_domain(ap, &host);
			if ((a = add(ap, in_group)) != NULL) {
				a->mailbox = local.len > 0 ? buf_steal(&local) :
				    xstrdup("MISSING_MAILBOX");
				a->host = host.len > 0 ? buf_steal(&host) :
				    xstrdup("MISSING_DOMAIN");
				if (ap->comment != NULL) {
					a->name = ap->comment;
					ap->comment = NULL;
				}
			}
			buf_deinit(&host);
			/* skip junk up to the next separator */
			while (ap->t.type != T_END && !is_special(ap, ',') &&
			    !is_special(ap, ';'))
				next_tok(ap);
			break;
		} else {
			/* ',' ';' '>' ':' or end: a bare word is a mailbox without a domain */
			if (local.len > 0) {
				struct mail_address *a = add(ap, in_group);

				if (a != NULL) {
					a->mailbox = buf_steal(&local);
					a->host = xstrdup("MISSING_DOMAIN");
				}
			}
			if (!is_special(ap, ',') && !is_special(ap, ';') && ap->t.type != T_END)
				next_tok(ap);	/* stray '>' or ':' */
			break;
		}
	}
	buf_deinit(&phrase);
	buf_deinit(&local);
}

static void
parse_list(struct aparser *ap, bool in_group)
{
	while (ap->t.type != T_END) {
		if (is_special(ap, ',')) {
			next_tok(ap);
			continue;
		}
		if (is_special(ap, ';')) {
			next_tok(ap);
			if (in_group)
				return;
			continue;
		}
		parse_address(ap, in_group);
	}
}

void
mail_address_parse(const char *p, size_t len, unsigned int max_addresses,
    struct mail_address **list_r, unsigned int *count_r)
{
	struct aparser ap;

	memset(&ap, 0, sizeof(ap));
	ap.p = p;
	ap.len = len;
	ap.max = max_addresses;
	next_tok(&ap);
	parse_list(&ap, false);
	free(ap.comment);
	*list_r = ap.count > 0 ? ap.list : NULL;
	if (ap.count == 0)
		free(ap.list);
	*count_r = ap.count;
}

void
mail_address_list_free(struct mail_address **list, unsigned int count)
{
	struct mail_address *l = *list;

	for (unsigned int i = 0; i < count; i++) {
		free(l[i].name);
		free(l[i].adl);
		free(l[i].mailbox);
		free(l[i].host);
	}
	free(l);
	*list = NULL;
}
