/*
 * sieve_check.c — the Sieve validator: resolves every command and test of a parsed
 * script against the registry (sieve_registry.c), checks `require`, placement
 * (require first, elsif/else after if), argument signatures, tags and their values,
 * and normalises match type, comparator and address part into the node so the
 * interpreter does not parse arguments again; sieve_value.c checks constant values.
 * One pass over the node array in source order, no recursion. Untrusted input:
 * messages quote script text sanitised and cut.
 */
#include "sieve/sieve_check.h"

const char *
sieve_vstr(const struct sieve_script *s, uint32_t i, size_t *len_r)
{
	*len_r = s->strs[i].len;
	return s->pool + s->strs[i].off;
}

/* The i-th string of argument a, sanitised for a message. */
static void
arg_text(const struct sieve_vstate *v, const struct sieve_arg *a, uint32_t i, char *dst,
    size_t size)
{
	size_t len;
	const char *p = sieve_vstr(v->s, a->str_first + i, &len);

	sieve_sanitize(dst, size, p, len);
}

const char *
sieve_noun(const struct sieve_node *n)
{
	return n->kind == SIEVE_NODE_TEST ? "test" : "command";
}

bool
sieve_cap_ok(const struct sieve_script *s, unsigned cap)
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
const char *
sieve_single_str(const struct sieve_vstate *v, uint32_t argi, size_t *len_r)
{
	const struct sieve_arg *a;

	if (argi == SIEVE_NONE)
		return NULL;
	a = &v->s->args[argi];
	if (a->type != SIEVE_ARG_STRING)
		return NULL;
	return sieve_vstr(v->s, a->str_first, len_r);
}

bool
sieve_has_var(const struct sieve_vstate *v, const char *p, size_t len)
{
	return sieve_cap_ok(v->s, SIEVE_CAP_VARIABLES) && len >= 2 && memmem(p, len, "${", 2) != NULL;
}

/* ---- require ---- */

static void
collect_requires(struct sieve_vstate *v)
{
	for (uint32_t i = 0; i < v->s->node_count && !v->c->gave_up; i++) {
		const struct sieve_node *n = &v->s->nodes[i];
		size_t len;
		const char *name = sieve_vstr(v->s, n->name, &len);

		if (n->kind != SIEVE_NODE_COMMAND || !mem_ieq(name, len, "require") ||
		    n->arg_count != 1 || v->s->args[n->arg_first].type == SIEVE_ARG_NUMBER ||
		    v->s->args[n->arg_first].type == SIEVE_ARG_TAG)
			continue;
		const struct sieve_arg *a = &v->s->args[n->arg_first];

		for (uint32_t k = 0; k < a->str_count; k++) {
			const char *p = sieve_vstr(v->s, a->str_first + k, &len);
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

/* ---- per node ---- */

static bool
resolve(struct sieve_vstate *v, struct sieve_node *n)
{
	size_t len;
	const char *name = sieve_vstr(v->s, n->name, &len);
	enum sieve_id id = sieve_id_lookup(name, len);
	char word[NAME_MAX_MSG];
	unsigned i;

	if (id != SIEVE_ID_UNKNOWN && sieve_sigs[id].kind == n->kind &&
	    sieve_cap_ok(v->s, sieve_sigs[id].cap)) {
		n->id = (uint16_t)id;
		return true;
	}
	for (i = 0; i < v->reported_count; i++) {
		size_t olen;
		const char *o = sieve_vstr(v->s, v->reported[i], &olen);

		if (olen == len && strncasecmp(o, name, len) == 0)
			return false;
	}
	if (v->reported_count < N_ELEMENTS(v->reported))
		v->reported[v->reported_count++] = n->name;
	sieve_sanitize(word, sizeof(word), name, len);
	if (id != SIEVE_ID_UNKNOWN && sieve_sigs[id].kind == n->kind)
		sieve_error(v->c, n->line, n->col, "unknown %s '%s' (it needs require \"%s\").",
		    sieve_noun(n), word, sieve_cap_name(sieve_sigs[id].cap));
	else if (id != SIEVE_ID_UNKNOWN)
		sieve_error(v->c, n->line, n->col, "unknown %s '%s' (%s is a %s).", sieve_noun(n),
		    word, word, n->kind == SIEVE_NODE_TEST ? "command" : "test");
	else
		sieve_error(v->c, n->line, n->col, "unknown %s '%s'.", sieve_noun(n), word);
	return false;
}

static void
check_place(struct sieve_vstate *v, uint32_t i)
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
check_tag(struct sieve_vstate *v, struct sieve_node *n, uint32_t k)
{
	const struct sieve_sig *sig = &sieve_sigs[n->id];
	struct sieve_arg *a = &v->s->args[n->arg_first + k];
	size_t len;
	const char *name = sieve_vstr(v->s, a->str_first, &len);
	int tag = sieve_tag_lookup(name, len), other;
	uint64_t bit = tag >= 0 ? 1ull << tag : 0;
	char word[NAME_MAX_MSG];
	static const char *const tv[] = { "nothing", "a number", "a string", "a string list" };

	sieve_sanitize(word, sizeof(word), name, len);
	if (tag < 0 || ((sig->native | sig->ext) & bit) == 0) {
		sieve_error(v->c, a->line, a->col, "unknown tagged argument ':%s' for the %s %s.",
		    word, sig->name, sieve_noun(n));
		return 1;
	}
	if ((sig->native & bit) == 0 && !sieve_cap_ok(v->s, sieve_tags[tag].cap))
		sieve_error(v->c, a->line, a->col, "unknown tagged argument ':%s' for the %s %s "
		    "(it needs require \"%s\").", word, sig->name, sieve_noun(n),
		    sieve_cap_name(sieve_tags[tag].cap));
	else if ((n->tags & bit) != 0)
		sieve_error(v->c, a->line, a->col, "duplicate :%s argument for the %s %s.", word,
		    sig->name, sieve_noun(n));
	else if ((other = group_conflict(n, tag)) >= 0)
		sieve_error(v->c, a->line, a->col, "the :%s and :%s arguments cannot be combined "
		    "in the %s %s.", sieve_tags[other].name, sieve_tags[tag].name, sig->name,
		    sieve_noun(n));
	n->tags |= bit;
	a->tag = (uint8_t)tag;
	if (sieve_tags[tag].value == SIEVE_TV_NONE)
		return 1;
	if (k + 1 >= n->arg_count ||
	    !tag_value_ok(&v->s->args[n->arg_first + k + 1], sieve_tags[tag].value)) {
		sieve_error(v->c, a->line, a->col, "the :%s tag for the %s %s requires %s as "
		    "argument, but %s was found.", sieve_tags[tag].name, sig->name, sieve_noun(n),
		    tv[sieve_tags[tag].value], k + 1 >= n->arg_count ? "nothing" :
		    arg_type_name(&v->s->args[n->arg_first + k + 1]));
		return 1;
	}
	a->value = n->arg_first + k + 1;
	return 2;
}

static void
check_positional(struct sieve_vstate *v, struct sieve_node *n, const uint32_t *posi,
    unsigned npos)
{
	const struct sieve_sig *sig = &sieve_sigs[n->id];
	static const char *const pt[] = { "?", "a string", "a string list", "a number" };
	unsigned off;

	if (npos < sig->pos_min || npos > sig->pos_max) {
		if (sig->pos_min == sig->pos_max)
			sieve_error(v->c, n->line, n->col, "the %s %s requires %u positional "
			    "argument(s), but %u %s found.", sig->name, sieve_noun(n), sig->pos_min,
			    npos, npos == 1 ? "was" : "were");
		else
			sieve_error(v->c, n->line, n->col, "the %s %s requires %u to %u "
			    "positional arguments, but %u %s found.", sig->name, sieve_noun(n),
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
			    "(%s), but %s was found.", sig->name, sieve_noun(n), pt[want], slot + 1,
			    sig->pos_names[slot], arg_type_name(a));
		n->pos[slot] = posi[j];
	}
}

static void
check_args(struct sieve_vstate *v, struct sieve_node *n)
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
			const char *name = sieve_vstr(v->s, a->str_first, &len);

			sieve_sanitize(word, sizeof(word), name, len);
			sieve_error(v->c, a->line, a->col, "encountered an unexpected tagged "
			    "argument ':%s' while validating positional arguments for the %s %s.",
			    word, sieve_id_name(n->id), sieve_noun(n));
			return;
		}
		k += check_tag(v, n, k);
	}
	check_positional(v, n, posi, npos);
}

static void
check_tests_block(struct sieve_vstate *v, struct sieve_node *n)
{
	const struct sieve_sig *sig = &sieve_sigs[n->id];
	const char *name = sig->name;

	if (sig->tests == SIEVE_TESTS_NONE && n->test_count > 0)
		sieve_error(v->c, n->line, n->col, "the %s %s does not accept tests.", name,
		    sieve_noun(n));
	else if (sig->tests == SIEVE_TESTS_ONE && n->test_list)
		sieve_error(v->c, n->line, n->col, "the %s %s requires one sub-test, but a list "
		    "of tests is specified.", name, sieve_noun(n));
	else if (sig->tests == SIEVE_TESTS_ONE && n->test_count != 1)
		sieve_error(v->c, n->line, n->col, "the %s %s requires one sub-test, but none "
		    "is specified.", name, sieve_noun(n));
	else if (sig->tests == SIEVE_TESTS_LIST && !n->test_list)
		sieve_error(v->c, n->line, n->col, "the %s %s requires a list of sub-tests, but "
		    "%s specified.", name, sieve_noun(n), n->test_count ? "a single test is" :
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
check_comparator(struct sieve_vstate *v, struct sieve_node *n)
{
	uint32_t ai = sieve_node_tag_value(v->s, n, SIEVE_TAG_COMPARATOR);
	size_t len;
	const char *p = sieve_single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p == NULL)
		return;
	if (mem_ieq(p, len, "i;octet"))
		n->comparator = SIEVE_CMP_OCTET;
	else if (mem_ieq(p, len, "i;ascii-casemap"))
		n->comparator = SIEVE_CMP_CASEMAP;
	else if (mem_ieq(p, len, "i;ascii-numeric") && sieve_cap_ok(v->s, SIEVE_CAP_CMP_NUMERIC))
		n->comparator = SIEVE_CMP_NUMERIC;
	else {
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
		    "unknown comparator '%s'.", word);
	}
}

static void
check_relational(struct sieve_vstate *v, struct sieve_node *n, enum sieve_tag tag)
{
	static const char *const ops[] = { "gt", "ge", "lt", "le", "eq", "ne" };
	uint32_t ai = sieve_node_tag_value(v->s, n, tag);
	size_t len;
	const char *p = sieve_single_str(v, ai, &len);
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
normalise(struct sieve_vstate *v, struct sieve_node *n)
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

static void
check_node(struct sieve_vstate *v, uint32_t i)
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
	sieve_check_values(v, n);
}

/* parent[] and prev[] from the child links (one pass over every list). */
static void
link_family(struct sieve_vstate *v)
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
	struct sieve_vstate v;

	memset(&v, 0, sizeof(v));
	v.c = c;
	v.s = c->s;
	v.last_require = SIEVE_NONE;
	v.parent = xcalloc(c->s->node_count + 1, sizeof(*v.parent));
	v.prev = xcalloc(c->s->node_count + 1, sizeof(*v.prev));
	link_family(&v);
	collect_requires(&v);
	sieve_decode_encoded(&v);
	for (uint32_t i = 0; i < c->s->node_count && !c->gave_up; i++)
		check_node(&v, i);
	free(v.parent);
	free(v.prev);
}
