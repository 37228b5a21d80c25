/*
 * sieve_check.c — the Sieve validator: resolves every command and test of a parsed
 * script against the registry (sieve_registry.c), checks `require`, placement
 * (require first, elsif/else after if), argument signatures, tags and their values,
 * and normalises match type, comparator and address part into the node so the
 * interpreter does not parse arguments again. One pass over the node array in source
 * order, no recursion. Untrusted input: messages quote script text sanitised and cut.
 */
#include <utf8proc.h>

#include "sieve/sieve_registry.h"

#define NAME_MAX_MSG 40

struct vstate {
	struct sieve_ctx *c;
	struct sieve_script *s;
	uint32_t *parent;	/* per node: enclosing node or SIEVE_NONE */
	uint32_t *prev;		/* per node: previous sibling or SIEVE_NONE */
	uint32_t reported[16];	/* name strings of unknown commands/tests reported */
	unsigned reported_count;
	uint32_t last_require;	/* the last top-level require in its right place */
};

static const char *
str_of(const struct sieve_script *s, uint32_t i, size_t *len_r)
{
	*len_r = s->strs[i].len;
	return s->pool + s->strs[i].off;
}

/* The i-th string of argument a, sanitised for a message. */
static void
arg_text(const struct vstate *v, const struct sieve_arg *a, uint32_t i, char *dst,
    size_t size)
{
	size_t len;
	const char *p = str_of(v->s, a->str_first + i, &len);

	sieve_sanitize(dst, size, p, len);
}

static const char *
noun(const struct sieve_node *n)
{
	return n->kind == SIEVE_NODE_TEST ? "test" : "command";
}

static bool
cap_ok(const struct sieve_script *s, unsigned cap)
{
	if (cap == SIEVE_CAP_CORE)
		return true;
	if (cap == SIEVE_CAP_VACATION)	/* RFC 6131: vacation-seconds implies vacation */
		return (s->requires & (1u << SIEVE_CAP_VACATION |
		    1u << SIEVE_CAP_VACATION_SECONDS)) != 0;
	return (s->requires & (1u << cap)) != 0;
}

static const char *
arg_type_name(const struct sieve_arg *a)
{
	switch (a->type) {
	case SIEVE_ARG_NUMBER: return "a number";
	case SIEVE_ARG_STRING: return "a string";
	case SIEVE_ARG_LIST: return "a string list";
	default: return "a tag";
	}
}

/* The string of a STRING argument, or of a one-element list; NULL otherwise. */
static const char *
single_str(const struct vstate *v, uint32_t argi, size_t *len_r)
{
	const struct sieve_arg *a;

	if (argi == SIEVE_NONE)
		return NULL;
	a = &v->s->args[argi];
	if (a->type != SIEVE_ARG_STRING)
		return NULL;
	return str_of(v->s, a->str_first, len_r);
}

static bool
has_var(const struct vstate *v, const char *p, size_t len)
{
	return cap_ok(v->s, SIEVE_CAP_VARIABLES) && len >= 2 && memmem(p, len, "${", 2) != NULL;
}

/* ---- require ---- */

static void
collect_requires(struct vstate *v)
{
	for (uint32_t i = 0; i < v->s->node_count && !v->c->gave_up; i++) {
		const struct sieve_node *n = &v->s->nodes[i];
		size_t len;
		const char *name = str_of(v->s, n->name, &len);

		if (n->kind != SIEVE_NODE_COMMAND || !mem_ieq(name, len, "require") ||
		    n->arg_count != 1 || v->s->args[n->arg_first].type == SIEVE_ARG_NUMBER ||
		    v->s->args[n->arg_first].type == SIEVE_ARG_TAG)
			continue;
		const struct sieve_arg *a = &v->s->args[n->arg_first];

		for (uint32_t k = 0; k < a->str_count; k++) {
			const char *p = str_of(v->s, a->str_first + k, &len);
			int cap = sieve_cap_lookup(p, len);
			char word[NAME_MAX_MSG];

			if (cap >= 0) {
				v->s->requires |= 1u << cap;
				continue;
			}
			arg_text(v, a, k, word, sizeof(word));
			sieve_error(v->c, a->line, a->col,
			    "require command: unknown Sieve capability '%s'.", word);
		}
	}
}

/* ---- encoded-character (RFC 5228 §2.4.2.4) ---- */

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static size_t
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Scan the values of one encoding from p[i..len) up to its '}', writing the bytes to
 * out unless out is NULL. Returns the input length consumed (through the '}'), or 0 if
 * it is not well formed. Every value writes at most as many bytes as it has digits.
 */
static size_t
decode_values(const char *p, size_t len, size_t i, bool uni, char *out, size_t *o_r,
    uint32_t *bad_r)
{
	size_t maxdig = uni ? len : 2;	/* unicode-hex = 1*HEXDIG, hex-pair = 1*2HEXDIG */
	unsigned values = 0;

	*o_r = 0;
	for (;;) {
		uint32_t val = 0;
		size_t d = 0;

		while (i < len && is_blank(p[i]))
			i++;
		if (i < len && p[i] == '}')
			return values > 0 ? i + 1 : 0;
		while (i < len && d <= maxdig && hex_digit_value((unsigned char)p[i]) >= 0) {
			val = MIN(val * 16 + (uint32_t)hex_digit_value((unsigned char)p[i]),
			    0x110000);
			i++;
			d++;
		}
		if (d == 0 || d > maxdig || i >= len || (!is_blank(p[i]) && p[i] != '}'))
			return 0;
		values++;
		if (uni && (val > 0x10ffff || (val >= 0xd800 && val <= 0xdfff))) {
			*bad_r = val;
			val = '?';
		}
		if (out == NULL)
			continue;
		if (uni)
			*o_r += utf8_put(out + *o_r, val);
		else
			out[(*o_r)++] = (char)val;
	}
}

/*
 * Decode one "${hex:...}" or "${unicode:...}" at p[0..len) into out (out <= p: the
 * output never passes the input read so far). Returns the input length consumed, or 0
 * if this is not a well-formed encoding (left as is, nothing written). *bad_r is set
 * to a code point outside Unicode, which is an error.
 */
static size_t
decode_one(const char *p, size_t len, char *out, size_t *out_len_r, uint32_t *bad_r)
{
	bool uni;
	size_t start;

	if (len > 6 && mem_ieq(p, 6, "${hex:"))
		uni = false, start = 6;
	else if (len > 10 && mem_ieq(p, 10, "${unicode:"))
		uni = true, start = 10;
	else
		return 0;
	if (decode_values(p, len, start, uni, NULL, out_len_r, bad_r) == 0)
		return 0;
	return decode_values(p, len, start, uni, out, out_len_r, bad_r);
}

static void
decode_string(struct vstate *v, uint32_t si, const struct sieve_arg *a)
{
	struct sieve_str *st = &v->s->strs[si];
	char *p = v->s->pool + st->off;
	size_t r = 0, w = 0;

	while (r < st->len) {
		uint32_t bad = UINT32_MAX;
		size_t olen, used = p[r] == '$' ? decode_one(p + r, st->len - r, p + w, &olen,
		    &bad) : 0;

		if (bad != UINT32_MAX)
			sieve_error(v->c, a->line, a->col,
			    "invalid unicode character 0x%08x in encoded character substitution.",
			    bad);
		if (used == 0) {
			p[w++] = p[r++];
		} else {
			r += used;
			w += olen;
		}
	}
	st->len = (uint32_t)w;
	p[w] = '\0';
}

static void
decode_encoded(struct vstate *v)
{
	if (!cap_ok(v->s, SIEVE_CAP_ENCODED_CHARACTER))
		return;
	for (uint32_t i = 0; i < v->s->arg_count; i++) {
		const struct sieve_arg *a = &v->s->args[i];

		if (a->type != SIEVE_ARG_STRING && a->type != SIEVE_ARG_LIST)
			continue;
		for (uint32_t k = 0; k < a->str_count; k++)
			decode_string(v, a->str_first + k, a);
	}
}

/* ---- per node ---- */

static bool
resolve(struct vstate *v, struct sieve_node *n)
{
	size_t len;
	const char *name = str_of(v->s, n->name, &len);
	enum sieve_id id = sieve_id_lookup(name, len);
	char word[NAME_MAX_MSG];
	unsigned i;

	if (id != SIEVE_ID_UNKNOWN && sieve_sigs[id].kind == n->kind &&
	    cap_ok(v->s, sieve_sigs[id].cap)) {
		n->id = (uint16_t)id;
		return true;
	}
	for (i = 0; i < v->reported_count; i++) {
		size_t olen;
		const char *o = str_of(v->s, v->reported[i], &olen);

		if (olen == len && strncasecmp(o, name, len) == 0)
			return false;
	}
	if (v->reported_count < N_ELEMENTS(v->reported))
		v->reported[v->reported_count++] = n->name;
	sieve_sanitize(word, sizeof(word), name, len);
	if (id != SIEVE_ID_UNKNOWN && sieve_sigs[id].kind == n->kind)
		sieve_error(v->c, n->line, n->col, "unknown %s '%s' (it needs require \"%s\").",
		    noun(n), word, sieve_cap_name(sieve_sigs[id].cap));
	else if (id != SIEVE_ID_UNKNOWN)
		sieve_error(v->c, n->line, n->col, "unknown %s '%s' (%s is a %s).", noun(n),
		    word, word, n->kind == SIEVE_NODE_TEST ? "command" : "test");
	else
		sieve_error(v->c, n->line, n->col, "unknown %s '%s'.", noun(n), word);
	return false;
}

static void
check_place(struct vstate *v, uint32_t i)
{
	struct sieve_node *n = &v->s->nodes[i];
	uint32_t p = v->prev[i];

	if (n->id == SIEVE_CMD_REQUIRE) {
		/* the previous one, if any, must be a require in its right place */
		bool first = v->parent[i] == SIEVE_NONE && (p == SIEVE_NONE || p == v->last_require);

		if (!first)
			sieve_error(v->c, n->line, n->col, "require commands can only be placed "
			    "at top level at the beginning of the file.");
		else
			v->last_require = i;
	} else if (n->id == SIEVE_CMD_ELSIF || n->id == SIEVE_CMD_ELSE) {
		if (p == SIEVE_NONE || (v->s->nodes[p].id != SIEVE_CMD_IF &&
		    v->s->nodes[p].id != SIEVE_CMD_ELSIF))
			sieve_error(v->c, n->line, n->col,
			    "the %s command must follow an if or elsif command.",
			    sieve_id_name(n->id));
	}
}

/* Another tag of the same group already given, or -1. */
static int
group_conflict(const struct sieve_node *n, int tag)
{
	unsigned g = sieve_tags[tag].group;

	if (g == SIEVE_G_NONE)
		return -1;
	for (int t = 0; t < SIEVE_TAG_COUNT_; t++)
		if (t != tag && (n->tags & (1ull << t)) != 0 && sieve_tags[t].group == g)
			return t;
	return -1;
}

static bool
tag_value_ok(const struct sieve_arg *val, unsigned want)
{
	switch (want) {
	case SIEVE_TV_NUMBER: return val->type == SIEVE_ARG_NUMBER;
	case SIEVE_TV_STRING: return val->type == SIEVE_ARG_STRING;
	default: return val->type == SIEVE_ARG_STRING || val->type == SIEVE_ARG_LIST;
	}
}

/* Check tag arg at index k of n; returns how many arguments it used (1 or 2). */
static uint32_t
check_tag(struct vstate *v, struct sieve_node *n, uint32_t k)
{
	const struct sieve_sig *sig = &sieve_sigs[n->id];
	struct sieve_arg *a = &v->s->args[n->arg_first + k];
	size_t len;
	const char *name = str_of(v->s, a->str_first, &len);
	int tag = sieve_tag_lookup(name, len), other;
	uint64_t bit = tag >= 0 ? 1ull << tag : 0;
	char word[NAME_MAX_MSG];
	static const char *const tv[] = { "nothing", "a number", "a string", "a string list" };

	sieve_sanitize(word, sizeof(word), name, len);
	if (tag < 0 || ((sig->native | sig->ext) & bit) == 0) {
		sieve_error(v->c, a->line, a->col, "unknown tagged argument ':%s' for the %s %s.",
		    word, sig->name, noun(n));
		return 1;
	}
	if ((sig->native & bit) == 0 && !cap_ok(v->s, sieve_tags[tag].cap))
		sieve_error(v->c, a->line, a->col, "unknown tagged argument ':%s' for the %s %s "
		    "(it needs require \"%s\").", word, sig->name, noun(n),
		    sieve_cap_name(sieve_tags[tag].cap));
	else if ((n->tags & bit) != 0)
		sieve_error(v->c, a->line, a->col, "duplicate :%s argument for the %s %s.", word,
		    sig->name, noun(n));
	else if ((other = group_conflict(n, tag)) >= 0)
		sieve_error(v->c, a->line, a->col, "the :%s and :%s arguments cannot be combined "
		    "in the %s %s.", sieve_tags[other].name, sieve_tags[tag].name, sig->name,
		    noun(n));
	n->tags |= bit;
	a->tag = (uint8_t)tag;
	if (sieve_tags[tag].value == SIEVE_TV_NONE)
		return 1;
	if (k + 1 >= n->arg_count ||
	    !tag_value_ok(&v->s->args[n->arg_first + k + 1], sieve_tags[tag].value)) {
		sieve_error(v->c, a->line, a->col, "the :%s tag for the %s %s requires %s as "
		    "argument, but %s was found.", sieve_tags[tag].name, sig->name, noun(n),
		    tv[sieve_tags[tag].value], k + 1 >= n->arg_count ? "nothing" :
		    arg_type_name(&v->s->args[n->arg_first + k + 1]));
		return 1;
	}
	a->value = n->arg_first + k + 1;
	return 2;
}

static void
check_positional(struct vstate *v, struct sieve_node *n, const uint32_t *posi,
    unsigned npos)
{
	const struct sieve_sig *sig = &sieve_sigs[n->id];
	static const char *const pt[] = { "?", "a string", "a string list", "a number" };
	unsigned off;

	if (npos < sig->pos_min || npos > sig->pos_max) {
		if (sig->pos_min == sig->pos_max)
			sieve_error(v->c, n->line, n->col, "the %s %s requires %u positional "
			    "argument(s), but %u %s found.", sig->name, noun(n), sig->pos_min,
			    npos, npos == 1 ? "was" : "were");
		else
			sieve_error(v->c, n->line, n->col, "the %s %s requires %u to %u "
			    "positional arguments, but %u %s found.", sig->name, noun(n),
			    sig->pos_min, sig->pos_max, npos, npos == 1 ? "was" : "were");
		return;
	}
	off = sig->opt_first ? sig->pos_max - npos : 0;
	for (unsigned j = 0; j < npos; j++) {
		const struct sieve_arg *a = &v->s->args[posi[j]];
		unsigned slot = off + j, want = sig->pos[slot];
		bool ok = want == SIEVE_PT_NUMBER ? a->type == SIEVE_ARG_NUMBER :
		    want == SIEVE_PT_STRING ? a->type == SIEVE_ARG_STRING :
		    a->type == SIEVE_ARG_STRING || a->type == SIEVE_ARG_LIST;

		if (!ok)
			sieve_error(v->c, a->line, a->col, "the %s %s expects %s as argument %u "
			    "(%s), but %s was found.", sig->name, noun(n), pt[want], slot + 1,
			    sig->pos_names[slot], arg_type_name(a));
		n->pos[slot] = posi[j];
	}
}

static void
check_args(struct vstate *v, struct sieve_node *n)
{
	uint32_t posi[SIEVE_POS_MAX];
	unsigned npos = 0;	/* positional arguments seen; the first SIEVE_POS_MAX in posi */

	for (uint32_t k = 0; k < n->arg_count;) {
		const struct sieve_arg *a = &v->s->args[n->arg_first + k];

		if (a->type != SIEVE_ARG_TAG) {
			if (npos < N_ELEMENTS(posi))
				posi[npos] = n->arg_first + k;
			npos++;
			k++;
			continue;
		}
		if (npos > 0) {
			size_t len;
			char word[NAME_MAX_MSG];
			const char *name = str_of(v->s, a->str_first, &len);

			sieve_sanitize(word, sizeof(word), name, len);
			sieve_error(v->c, a->line, a->col, "encountered an unexpected tagged "
			    "argument ':%s' while validating positional arguments for the %s %s.",
			    word, sieve_id_name(n->id), noun(n));
			return;
		}
		k += check_tag(v, n, k);
	}
	check_positional(v, n, posi, npos);
}

static void
check_tests_block(struct vstate *v, struct sieve_node *n)
{
	const struct sieve_sig *sig = &sieve_sigs[n->id];
	const char *name = sig->name;

	if (sig->tests == SIEVE_TESTS_NONE && n->test_count > 0)
		sieve_error(v->c, n->line, n->col, "the %s %s does not accept tests.", name,
		    noun(n));
	else if (sig->tests == SIEVE_TESTS_ONE && n->test_list)
		sieve_error(v->c, n->line, n->col, "the %s %s requires one sub-test, but a list "
		    "of tests is specified.", name, noun(n));
	else if (sig->tests == SIEVE_TESTS_ONE && n->test_count != 1)
		sieve_error(v->c, n->line, n->col, "the %s %s requires one sub-test, but none "
		    "is specified.", name, noun(n));
	else if (sig->tests == SIEVE_TESTS_LIST && !n->test_list)
		sieve_error(v->c, n->line, n->col, "the %s %s requires a list of sub-tests, but "
		    "%s specified.", name, noun(n), n->test_count ? "a single test is" :
		    "none is");
	if (n->kind != SIEVE_NODE_COMMAND)
		return;
	if (sig->block && !n->has_block)
		sieve_error(v->c, n->line, n->col, "the %s command requires a command block.",
		    name);
	else if (!sig->block && n->has_block)
		sieve_error(v->c, n->line, n->col, "the %s command does not accept a command "
		    "block, but one is specified anyway.", name);
}

/* ---- values of tags and arguments; the normalised match parameters ---- */

static void
check_comparator(struct vstate *v, struct sieve_node *n)
{
	uint32_t ai = sieve_node_tag_value(v->s, n, SIEVE_TAG_COMPARATOR);
	size_t len;
	const char *p = single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p == NULL)
		return;
	if (mem_ieq(p, len, "i;octet"))
		n->comparator = SIEVE_CMP_OCTET;
	else if (mem_ieq(p, len, "i;ascii-casemap"))
		n->comparator = SIEVE_CMP_CASEMAP;
	else if (mem_ieq(p, len, "i;ascii-numeric") && cap_ok(v->s, SIEVE_CAP_CMP_NUMERIC))
		n->comparator = SIEVE_CMP_NUMERIC;
	else {
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
		    "unknown comparator '%s'.", word);
	}
}

static void
check_relational(struct vstate *v, struct sieve_node *n, enum sieve_tag tag)
{
	static const char *const ops[] = { "gt", "ge", "lt", "le", "eq", "ne" };
	uint32_t ai = sieve_node_tag_value(v->s, n, tag);
	size_t len;
	const char *p = single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p == NULL)
		return;
	for (unsigned i = 0; i < N_ELEMENTS(ops); i++)
		if (mem_ieq(p, len, ops[i])) {
			n->relop = (uint8_t)(SIEVE_REL_GT + i);
			return;
		}
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col, "the :%s match-type "
	    "requires a constant string argument being one of \"gt\", \"ge\", \"lt\", \"le\", "
	    "\"eq\" or \"ne\", but \"%s\" was found.", sieve_tag_name(tag), word);
}

static void
normalise(struct vstate *v, struct sieve_node *n)
{
	uint64_t t = n->tags;

	n->match = (t & 1ull << SIEVE_TAG_CONTAINS) ? SIEVE_MATCH_CONTAINS :
	    (t & 1ull << SIEVE_TAG_MATCHES) ? SIEVE_MATCH_MATCHES :
	    (t & 1ull << SIEVE_TAG_REGEX) ? SIEVE_MATCH_REGEX :
	    (t & 1ull << SIEVE_TAG_VALUE) ? SIEVE_MATCH_VALUE :
	    (t & 1ull << SIEVE_TAG_COUNT) ? SIEVE_MATCH_COUNT : SIEVE_MATCH_IS;
	n->addrpart = (t & 1ull << SIEVE_TAG_LOCALPART) ? SIEVE_ADDR_LOCALPART :
	    (t & 1ull << SIEVE_TAG_DOMAIN) ? SIEVE_ADDR_DOMAIN :
	    (t & 1ull << SIEVE_TAG_USER) ? SIEVE_ADDR_USER :
	    (t & 1ull << SIEVE_TAG_DETAIL) ? SIEVE_ADDR_DETAIL : SIEVE_ADDR_ALL;
	n->comparator = SIEVE_CMP_CASEMAP;
	check_comparator(v, n);
	/* RFC 4790 §9.1.1: i;ascii-numeric has no substring operation (RFC 5228 §2.7.1) */
	if ((n->match == SIEVE_MATCH_CONTAINS || n->match == SIEVE_MATCH_MATCHES) &&
	    n->comparator == SIEVE_CMP_NUMERIC)
		sieve_error(v->c, n->line, n->col, "the specified i;ascii-numeric comparator does "
		    "not support sub-string matching as required by the :%s match type.",
		    n->match == SIEVE_MATCH_CONTAINS ? "contains" : "matches");
	/* draft-ietf-sieve-regex §3: regex needs a comparator that works on characters */
	if (n->match == SIEVE_MATCH_REGEX && n->comparator == SIEVE_CMP_NUMERIC)
		sieve_error(v->c, n->line, n->col, "regex match type only supports i;octet and "
		    "i;ascii-casemap comparators.");
	if (n->match == SIEVE_MATCH_VALUE)
		check_relational(v, n, SIEVE_TAG_VALUE);
	else if (n->match == SIEVE_MATCH_COUNT)
		check_relational(v, n, SIEVE_TAG_COUNT);
}

static bool
is_identifier(const char *p, size_t len)
{
	if (len == 0 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z') ||
	    p[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return false;
	return true;
}

/*
 * RFC 5229 §3 variable names; the "global." namespace comes with include (RFC 6609).
 * Match variables ("1") may be read (hasflag) but not assigned.
 */
static void
check_varname(struct vstate *v, const struct sieve_arg *a, const char *p, size_t len,
    bool assign)
{
	const char *dot = memchr(p, '.', len);
	char word[NAME_MAX_MSG];
	size_t i;

	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		;
	sieve_sanitize(word, sizeof(word), p, len);
	if (len > 0 && i == len) {
		if (assign)
			sieve_error(v->c, a->line, a->col, "cannot assign to match variable.");
	} else if (dot != NULL && (!mem_ieq(p, (size_t)(dot - p), "global") ||
	    !cap_ok(v->s, SIEVE_CAP_INCLUDE))) {
		sieve_sanitize(word, sizeof(word), p, (size_t)(dot - p));
		sieve_error(v->c, a->line, a->col,
		    "referring to variable in unknown namespace '%s'.", word);
	} else if (dot != NULL ? !is_identifier(dot + 1, len - (size_t)(dot - p) - 1) :
	    !is_identifier(p, len)) {
		sieve_error(v->c, a->line, a->col, "invalid variable name '%s'.", word);
	}
}

static void
check_varnames(struct vstate *v, uint32_t ai, bool assign)
{
	const struct sieve_arg *a;

	if (ai == SIEVE_NONE)
		return;
	a = &v->s->args[ai];
	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = str_of(v->s, a->str_first + k, &len);

		check_varname(v, a, p, len, assign);
	}
}

/* RFC 5322 §3.6.8 field-name: printable ASCII except ':' (RFC 5293 §4). */
static bool
field_name_ok(const char *p, size_t len)
{
	bool ok = len > 0 && len <= 997;

	for (size_t i = 0; ok && i < len; i++)
		ok = p[i] > 32 && p[i] < 127 && p[i] != ':';
	return ok;
}

/* Header names of tests: an invalid one never matches, so only a warning (as sievec). */
static void
warn_field_names(struct vstate *v, uint32_t ai)
{
	const struct sieve_arg *a;

	if (ai == SIEVE_NONE)
		return;
	a = &v->s->args[ai];
	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = str_of(v->s, a->str_first + k, &len);
		char word[NAME_MAX_MSG];

		if (field_name_ok(p, len) || has_var(v, p, len))
			continue;
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_warning(v->c, a->line, a->col, "specified header field name '%s' is "
		    "invalid.", word);
	}
}

/* RFC 5260 §2.4 date-part names and "+hhmm" zones (4DIGIT): others are warnings. */
static void
warn_date(struct vstate *v, struct sieve_node *n, uint32_t part_ai)
{
	static const char *const parts[] = { "year", "month", "day", "date", "julian", "hour",
		"minute", "second", "time", "iso8601", "std11", "zone", "weekday" };
	uint32_t zi = sieve_node_tag_value(v->s, n, SIEVE_TAG_ZONE);
	size_t len;
	const char *p = single_str(v, zi, &len);
	char word[NAME_MAX_MSG];
	bool ok = p == NULL || has_var(v, p, len) ||
	    (len == 5 && (p[0] == '+' || p[0] == '-') && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9' && p[4] >= '0' &&
	    p[4] <= '9');

	if (!ok) {
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_warning(v->c, v->s->args[zi].line, v->s->args[zi].col,
		    "specified :zone argument '%s' is not a valid timezone.", word);
	}
	p = single_str(v, part_ai, &len);
	ok = p == NULL || has_var(v, p, len);
	for (unsigned i = 0; !ok && i < N_ELEMENTS(parts); i++)
		ok = mem_ieq(p, len, parts[i]);
	if (ok)
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_warning(v->c, v->s->args[part_ai].line, v->s->args[part_ai].col,
	    "specified date part '%s' is not known.", word);
}

/* RFC 3501 §2.3.2 flags: a system flag or an atom; others are ignored (warning). */
static void
warn_flags(struct vstate *v, struct sieve_node *n, uint32_t ai)
{
	static const char *const sys[] = { "\\Seen", "\\Answered", "\\Flagged",
		"\\Deleted", "\\Draft" };
	const struct sieve_arg *a;

	if (ai == SIEVE_NONE)
		return;
	a = &v->s->args[ai];
	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len, i = 0;
		const char *p = str_of(v->s, a->str_first + k, &len);

		if (has_var(v, p, len))
			continue;
		while (i < len) {	/* a string may hold several flags, space-separated */
			size_t start = i;
			bool ok = true;
			char word[NAME_MAX_MSG];

			while (i < len && p[i] != ' ')
				i++;
			if (i > start && p[start] == '\\') {
				ok = false;
				for (unsigned s = 0; s < N_ELEMENTS(sys); s++)
					ok |= mem_ieq(p + start, i - start, sys[s]);
			}
			for (size_t j = start; ok && j < i; j++)
				ok = (j == start && p[j] == '\\') ||
				    ((unsigned char)p[j] > 32 && (unsigned char)p[j] < 127 &&
				    memchr("(){%*\"\\]", p[j], 8) == NULL);
			if (!ok) {
				sieve_sanitize(word, sizeof(word), p + start, i - start);
				sieve_warning(v->c, a->line, a->col, "IMAP flag '%s' specified for "
				    "the %s %s is invalid and will be ignored.", word,
				    sieve_id_name(n->id), noun(n));
				return;
			}
			while (i < len && p[i] == ' ')
				i++;
		}
	}
}

static void
check_field_name(struct vstate *v, uint32_t ai, const char *cmd)
{
	size_t len;
	const char *p = single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p == NULL || has_var(v, p, len))
		return;
	if (field_name_ok(p, len)) {
		/* RFC 5293 lets a server protect fields; as sievec, these two */
		if (strcmp(cmd, "deleteheader") == 0 && (mem_ieq(p, len, "received") ||
		    mem_ieq(p, len, "auto-submitted")))
			sieve_warning(v->c, v->s->args[ai].line, v->s->args[ai].col,
			    "deleteheader command: deleting header field '%s' is forbidden; "
			    "modification will be denied.", mem_ieq(p, len, "received") ?
			    "Received" : "Auto-Submitted");
		return;
	}
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
	    "%s command: specified field name '%s' is invalid.", cmd, word);
}

/* Skip RFC 5322 §3.2.2 CFWS: white space and (nested) comments; false if unclosed. */
static bool
skip_cfws(const char *p, size_t len, size_t *i)
{
	size_t depth = 0;

	for (; *i < len; (*i)++) {
		char ch = p[*i];

		if (depth > 0 && ch == '\\' && *i + 1 < len)
			(*i)++;
		else if (ch == '(')
			depth++;
		else if (ch == ')' && depth > 0)
			depth--;
		else if (depth == 0 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
			return true;
	}
	return depth == 0;
}

static bool
is_atext(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    (unsigned char)ch >= 0x80 || memchr("!#$%&'*+-/=?^_`{|}~", ch, 19) != NULL;
}

/* A quoted-string at p[*i] (RFC 5322 §3.2.4); false if unterminated. */
static bool
skip_quoted(const char *p, size_t len, size_t *i)
{
	for ((*i)++; *i < len; (*i)++) {
		if (p[*i] == '\\')
			(*i)++;
		else if (p[*i] == '"')
			return ++(*i), true;
	}
	return false;
}

/* One side of an addr-spec: dots and atext (lenient about dots, as sievec), a quoted
 * string, or (domain) a domain literal. Returns false if empty or malformed. */
static bool
addr_word(const char *p, size_t len, size_t *i, bool domain)
{
	size_t start = *i;

	if (*i < len && p[*i] == '"' && !domain)
		return skip_quoted(p, len, i);
	if (*i < len && p[*i] == '[' && domain) {
		const char *end = memchr(p + *i, ']', len - *i);

		if (end == NULL)
			return false;
		*i = (size_t)(end - p) + 1;
		return true;
	}
	while (*i < len && (is_atext(p[*i]) || p[*i] == '.'))
		(*i)++;
	return *i > start;
}

/*
 * RFC 5228 §4.2: a constant redirect address must be one RFC 5322 mailbox:
 * [display-name] "<" addr-spec ">" or addr-spec, with comments and white space.
 */
static bool
address_ok(const char *p, size_t len)
{
	size_t i = 0;
	bool angle = false, phrase_bad = false;

	if (!skip_cfws(p, len, &i))
		return false;
	/* a display name (words and quoted strings) comes before '<' */
	for (size_t j = i; j < len;) {
		if (p[j] == '"') {
			if (!skip_quoted(p, len, &j))
				return false;
		} else if (p[j] == '<') {
			if (phrase_bad)
				return false;
			i = j + 1;
			angle = true;
			break;
		} else {
			phrase_bad |= p[j] == '@' || p[j] == ',' || p[j] == ';' || p[j] == ':';
			j++;
		}
	}
	if (!skip_cfws(p, len, &i) || !addr_word(p, len, &i, false) || !skip_cfws(p, len, &i) ||
	    i >= len || p[i++] != '@' || !skip_cfws(p, len, &i) || !addr_word(p, len, &i, true) ||
	    !skip_cfws(p, len, &i))
		return false;
	if (angle && (i >= len || p[i++] != '>' || !skip_cfws(p, len, &i)))
		return false;
	return i == len;
}

static void
check_redirect(struct vstate *v, uint32_t ai)
{
	size_t len;
	const char *p = single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p == NULL || has_var(v, p, len) || address_ok(p, len))
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
	    "specified redirect address '%s' is invalid.", word);
}

/* RFC 5230 §4.1 :days >= 1 (a warning, as sievec); §4.4 :from is one address. */
static void
check_vacation(struct vstate *v, struct sieve_node *n)
{
	uint32_t di = sieve_node_tag_value(v->s, n, SIEVE_TAG_DAYS);
	uint32_t fi = sieve_node_tag_value(v->s, n, SIEVE_TAG_FROM);
	size_t len;
	const char *p = single_str(v, fi, &len);
	char word[NAME_MAX_MSG];

	if (di != SIEVE_NONE && v->s->args[di].number == 0)
		sieve_warning(v->c, v->s->args[di].line, v->s->args[di].col,
		    "specified :days value '0' is under the minimum.");
	if (p == NULL || has_var(v, p, len) || address_ok(p, len))
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[fi].line, v->s->args[fi].col,
	    "specified :from address '%s' is invalid for vacation action.", word);
}

/* RFC 5804 §1.6 (script names of RFC 6609): UTF-8 without control characters. */
static bool
script_name_ok(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > 255 || memchr(p, '/', len) != NULL)
		return false;
	while (i < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)p + i,
		    (utf8proc_ssize_t)(len - i), &cp);

		if (n <= 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029)
			return false;
		i += (size_t)n;
	}
	return true;
}

/* RFC 6609 §3.2: the script name is a constant string without '/'. */
static void
check_include(struct vstate *v, uint32_t ai)
{
	size_t len;
	const char *p = single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p != NULL && has_var(v, p, len)) {
		sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col, "the include command "
		    "requires a constant string for its value argument.");
		return;
	}
	if (p == NULL || script_name_ok(p, len))
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
	    "include: invalid script name '%s'.", word);
}

/*
 * RFC 5228 §5.1: the address test only looks at header fields that hold addresses;
 * the RFC 5322 §3.6.2-3.6.6 address fields and a few well-known others.
 */
static void
check_address_headers(struct vstate *v, uint32_t ai)
{
	static const char *const fields[] = { "from", "sender", "reply-to", "to", "cc", "bcc",
		"resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc",
		"resent-reply-to", "return-path", "delivered-to", "x-original-to", "envelope-to",
		"errors-to", "disposition-notification-to", "return-receipt-to", "original-from",
		"original-recipient", "original-sender", "original-to", "x-envelope-to",
		"x-envelope-from", "mail-followup-to", "mail-reply-to", "approved",
	};
	const struct sieve_arg *a = &v->s->args[ai];

	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = str_of(v->s, a->str_first + k, &len);
		char word[NAME_MAX_MSG];
		bool ok = has_var(v, p, len);

		for (unsigned i = 0; !ok && i < N_ELEMENTS(fields); i++)
			ok = mem_ieq(p, len, fields[i]);
		if (ok)
			continue;
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_error(v->c, a->line, a->col, "specified header '%s' is not allowed for the "
		    "address test.", word);
	}
}

/* RFC 5228 §5.4: "from" and "to"; "auth" as Pigeonhole (RFC 4954 AUTH=). */
static void
check_envelope_parts(struct vstate *v, uint32_t ai)
{
	const struct sieve_arg *a = &v->s->args[ai];

	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = str_of(v->s, a->str_first + k, &len);
		char word[NAME_MAX_MSG];

		if (mem_ieq(p, len, "from") || mem_ieq(p, len, "to") || mem_ieq(p, len, "auth") ||
		    has_var(v, p, len))
			continue;
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_error(v->c, a->line, a->col, "specified envelope part '%s' is not "
		    "supported by the envelope test.", word);
	}
}

static void
check_index(struct vstate *v, struct sieve_node *n)
{
	uint32_t ai = sieve_node_tag_value(v->s, n, SIEVE_TAG_INDEX);
	const char *name = sieve_id_name(n->id);

	if (ai != SIEVE_NONE && v->s->args[ai].number == 0)
		sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
		    "the :index tag for the %s %s cannot be zero.", name, noun(n));
	if ((n->tags & 1ull << SIEVE_TAG_LAST) && !(n->tags & 1ull << SIEVE_TAG_INDEX))
		sieve_error(v->c, n->line, n->col, "the :last tag for the %s %s cannot be "
		    "specified without the :index tag.", name, noun(n));
}

static void
check_specific(struct vstate *v, struct sieve_node *n)
{
	switch (n->id) {
	case SIEVE_TEST_SIZE:
		if ((n->tags & (1ull << SIEVE_TAG_OVER | 1ull << SIEVE_TAG_UNDER)) == 0)
			sieve_error(v->c, n->line, n->col, "the size test requires either the "
			    ":under or the :over tag to be specified.");
		break;
	case SIEVE_TEST_ADDRESS:
		check_address_headers(v, n->pos[0]);
		check_index(v, n);
		break;
	case SIEVE_TEST_HEADER:
	case SIEVE_TEST_DATE:
	case SIEVE_CMD_DELETEHEADER:
		check_index(v, n);
		if (n->id == SIEVE_CMD_DELETEHEADER)
			check_field_name(v, n->pos[0], "deleteheader");
		else
			warn_field_names(v, n->pos[0]);
		if (n->id == SIEVE_TEST_DATE)
			warn_date(v, n, n->pos[1]);
		break;
	case SIEVE_TEST_EXISTS:
		warn_field_names(v, n->pos[0]);
		break;
	case SIEVE_TEST_CURRENTDATE:
		warn_date(v, n, n->pos[0]);
		break;
	case SIEVE_CMD_KEEP:
	case SIEVE_CMD_FILEINTO:
		warn_flags(v, n, sieve_node_tag_value(v->s, n, SIEVE_TAG_FLAGS));
		break;
	case SIEVE_CMD_VACATION:
		check_vacation(v, n);
		break;
	case SIEVE_CMD_ADDHEADER:
		check_field_name(v, n->pos[0], "addheader");
		break;
	case SIEVE_TEST_ENVELOPE:
		check_envelope_parts(v, n->pos[0]);
		break;
	case SIEVE_CMD_SET:
		check_varnames(v, n->pos[0], true);
		break;
	case SIEVE_CMD_SETFLAG:
	case SIEVE_CMD_ADDFLAG:
	case SIEVE_CMD_REMOVEFLAG:
		warn_flags(v, n, n->pos[1]);
		/* FALLTHROUGH */
	case SIEVE_TEST_HASFLAG:
		/* RFC 5232 §3: the variable form comes with the variables extension */
		if (n->pos[0] != SIEVE_NONE && !cap_ok(v->s, SIEVE_CAP_VARIABLES))
			sieve_error(v->c, n->line, n->col, "the %s %s only allows for the "
			    "specification of a variable name when the variables extension is "
			    "active.", sieve_id_name(n->id), noun(n));
		else
			check_varnames(v, n->pos[0], n->id != SIEVE_TEST_HASFLAG);
		break;
	case SIEVE_CMD_GLOBAL:
		if (!cap_ok(v->s, SIEVE_CAP_VARIABLES))
			sieve_error(v->c, n->line, n->col, "global command requires that "
			    "variables extension is active.");
		else
			check_varnames(v, n->pos[0], true);
		break;
	case SIEVE_CMD_REDIRECT:
		check_redirect(v, n->pos[0]);
		break;
	case SIEVE_CMD_INCLUDE:
		check_include(v, n->pos[0]);
		break;
	default:
		break;
	}
}

static void
check_node(struct vstate *v, uint32_t i)
{
	struct sieve_node *n = &v->s->nodes[i];
	unsigned before = v->c->error_total;

	if (!resolve(v, n))
		return;
	check_place(v, i);
	check_args(v, n);
	check_tests_block(v, n);
	if (v->c->error_total != before)
		return;	/* the arguments are not where the checks below expect them */
	normalise(v, n);
	check_specific(v, n);
}

/* parent[] and prev[] from the child links (one pass over every list). */
static void
link_family(struct vstate *v)
{
	const struct sieve_script *s = v->s;

	for (uint32_t i = 0; i < s->node_count; i++)
		v->parent[i] = v->prev[i] = SIEVE_NONE;
	for (uint32_t i = s->first, p = SIEVE_NONE; i != SIEVE_NONE; p = i, i = s->nodes[i].next)
		v->prev[i] = p;
	for (uint32_t n = 0; n < s->node_count; n++) {
		uint32_t heads[2] = { s->nodes[n].test_first, s->nodes[n].block_first };

		for (unsigned h = 0; h < 2; h++)
			for (uint32_t i = heads[h], p = SIEVE_NONE; i != SIEVE_NONE;
			    p = i, i = s->nodes[i].next) {
				v->parent[i] = n;
				v->prev[i] = p;
			}
	}
}

void
sieve_validate(struct sieve_ctx *c)
{
	struct vstate v;

	memset(&v, 0, sizeof(v));
	v.c = c;
	v.s = c->s;
	v.last_require = SIEVE_NONE;
	v.parent = xcalloc(c->s->node_count + 1, sizeof(*v.parent));
	v.prev = xcalloc(c->s->node_count + 1, sizeof(*v.prev));
	link_family(&v);
	collect_requires(&v);
	decode_encoded(&v);
	for (uint32_t i = 0; i < c->s->node_count && !c->gave_up; i++)
		check_node(&v, i);
	free(v.parent);
	free(v.prev);
}
