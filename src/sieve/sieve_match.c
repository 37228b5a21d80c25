/*
 * sieve_match.c — variables (RFC 5229: ${name} and ${N} expansion, the variable table)
 * and matching for the Sieve interpreter: comparators i;octet, i;ascii-casemap,
 * i;ascii-numeric (RFC 4790 §9), match types :is, :contains, :matches (RFC 5228 §2.7.1),
 * :regex (POSIX extended, draft-ietf-sieve-regex), :value and :count (RFC 5231).
 * Runs in the mail process on untrusted script and message text: every loop is charged
 * to the run's work budget and no string grows past its limit.
 */
#include <ctype.h>
#include <regex.h>

#include "mail/rfc2047.h"
#include "sieve/sieve_run.h"

void
sieve_strlist_add(struct sieve_strlist *l, const char *p, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 8 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].p = xstrndup(p, len);
	l->v[l->n].len = len;
	l->n++;
}

void
sieve_strlist_free(struct sieve_strlist *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->v[i].p);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static bool
is_ident_char(unsigned char c, bool first)
{
	return c == '_' || isalpha(c) || (!first && isdigit(c));
}

static struct buf *
var_in(struct sieve_run *x, struct sieve_var **tab, unsigned *n, const char *name,
    size_t len, bool create)
{
	struct sieve_var *v;

	for (unsigned i = 0; i < *n; i++)
		if (mem_ieq(name, len, (*tab)[i].name))
			return &(*tab)[i].val;
	if (!create || *n >= x->lim->vars_max)
		return NULL;
	*tab = xreallocarray(*tab, *n + 1, sizeof(**tab));
	v = &(*tab)[(*n)++];
	v->name = xstrndup(name, len);
	for (char *p = v->name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	buf_init(&v->val, x->lim->var_max);
	return &v->val;
}

/* "global.NAME" and names declared with `global` live in the global table (RFC 6609). */
struct buf *
sieve_var_get(struct sieve_run *x, const char *name, size_t len, bool create)
{
	if (len > 7 && strncasecmp(name, "global.", 7) == 0)
		return var_in(x, &x->gvars, &x->ngvars, name + 7, len - 7, create);
	for (unsigned i = 0; i < x->ngnames; i++)
		if (mem_ieq(name, len, x->gnames[i]))
			return var_in(x, &x->gvars, &x->ngvars, name, len, create);
	return var_in(x, &x->vars, &x->nvars, name, len, create);
}

/* Values past var_max are cut at a UTF-8 character boundary (as Pigeonhole cuts them). */
int
sieve_var_set(struct sieve_run *x, const char *name, size_t len, const char *v, size_t vlen)
{
	struct buf *b = sieve_var_get(x, name, len, true);

	if (b == NULL)
		return sieve_run_error(x, "too many variables (limit %u)", x->lim->vars_max);
	if (vlen > x->lim->var_max) {
		vlen = x->lim->var_max;
		while (vlen > 0 && ((unsigned char)v[vlen] & 0xc0) == 0x80)
			vlen--;
	}
	buf_reset(b);
	(void)buf_append(b, v, vlen);
	return 0;
}

/* Length of a variable reference "${...}" at p[0..len) (p[0] == '$'), 0 if none. */
static size_t
ref_len(const char *p, size_t len, size_t *name_len_r)
{
	size_t i = 2;

	if (len < 4 || p[1] != '{')
		return 0;
	if (isdigit((unsigned char)p[2])) {
		while (i < len && isdigit((unsigned char)p[i]))
			i++;
	} else {
		/* identifier ( "." identifier )* (RFC 5229 §3) */
		for (;;) {
			if (i >= len || !is_ident_char((unsigned char)p[i], true))
				return 0;
			while (i < len && is_ident_char((unsigned char)p[i], false))
				i++;
			if (i < len && p[i] == '.') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i >= len || p[i] != '}')
		return 0;
	*name_len_r = i - 2;
	return i + 1;
}

static const struct buf *
ref_value(struct sieve_run *x, const char *name, size_t len)
{
	if (isdigit((unsigned char)name[0])) {
		uint64_t n;

		if (parse_u64(name, len, UINT64_MAX, &n) < 0 || n >= x->nmatch)
			return NULL;
		return &x->match[n];
	}
	return sieve_var_get(x, name, len, false);
}

/* Every expanded or copied string byte is charged to the run's work. */
int
sieve_expand(struct sieve_run *x, const char *p, size_t len, struct buf *out)
{
	buf_reset(out);
	if (sieve_run_charge(x, len) < 0)
		return -1;
	if (!x->variables || memmem(p, len, "${", 2) == NULL) {
		if (buf_append(out, p, len) < 0)
			return sieve_run_error(x, "string too long");
		return 0;
	}
	for (size_t i = 0; i < len;) {
		size_t nlen = 0, rl = p[i] == '$' ? ref_len(p + i, len - i, &nlen) : 0;
		const struct buf *v;

		if (rl == 0) {
			if (buf_append_c(out, p[i]) < 0)
				return sieve_run_error(x, "expanded string too long");
			i++;
			continue;
		}
		v = ref_value(x, p + i + 2, nlen);
		if (v != NULL && v->len > 0 && buf_append(out, v->data, v->len) < 0)
			return sieve_run_error(x, "expanded string too long");
		if (v != NULL && sieve_run_charge(x, v->len) < 0)
			return -1;
		i += rl;
	}
	return 0;
}

int
sieve_arg_strings(struct sieve_run *x, uint32_t ai, struct sieve_strlist *l)
{
	const struct sieve_arg *a;
	struct buf b;
	int ret = 0;

	if (ai == SIEVE_NONE)
		return 0;
	a = &x->s->args[ai];
	buf_init(&b, SIEVE_EXPAND_MAX);
	for (uint32_t i = 0; i < a->str_count && ret == 0; i++) {
		size_t len;
		const char *p = sieve_arg_str(x->s, a, i, &len);

		ret = sieve_expand(x, p, len, &b);
		if (ret == 0)
			sieve_strlist_add(l, b.len > 0 ? b.data : "", b.len);
	}
	buf_deinit(&b);
	return ret;
}

int
sieve_arg_string(struct sieve_run *x, uint32_t ai, struct buf *out)
{
	size_t len;
	const char *p;

	buf_reset(out);
	if (ai == SIEVE_NONE)
		return 0;
	p = sieve_arg_str(x->s, &x->s->args[ai], 0, &len);
	return sieve_expand(x, p, len, out);
}

/* ---- comparators (RFC 4790 §9) ---- */

int
sieve_run_charge(struct sieve_run *x, size_t n)
{
	x->work += n + 1;
	if (x->work > SIEVE_WORK_MAX)
		return sieve_run_error(x, "matching takes too long");
	return 0;
}

static int
charge(struct sieve_run *x, size_t n)
{
	return sieve_run_charge(x, n);
}

static unsigned char
fold(const struct sieve_node *n, unsigned char c)
{
	return n->comparator == SIEVE_CMP_CASEMAP ? (unsigned char)toupper(c) : c;
}

/* i;ascii-numeric: the leading digits as a number; none = positive infinity. */
static bool
numeric_value(const char *p, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; i < len && isdigit((unsigned char)p[i]); i++) {
		unsigned d = (unsigned)(p[i] - '0');

		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*v_r = v;
	return i > 0;
}

static int
compare(const struct sieve_node *n, const char *a, size_t alen, const char *b, size_t blen)
{
	if (n->comparator == SIEVE_CMP_NUMERIC) {
		uint64_t va, vb;
		bool fa = numeric_value(a, alen, &va), fb = numeric_value(b, blen, &vb);

		if (!fa || !fb)
			return fa == fb ? 0 : fa ? -1 : 1;
		return va < vb ? -1 : va > vb;
	}
	for (size_t i = 0; i < alen && i < blen; i++) {
		unsigned char ca = fold(n, (unsigned char)a[i]), cb = fold(n, (unsigned char)b[i]);

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen;
}

static bool
relation(enum sieve_relop op, int c)
{
	switch (op) {
	case SIEVE_REL_GT: return c > 0;
	case SIEVE_REL_GE: return c >= 0;
	case SIEVE_REL_LT: return c < 0;
	case SIEVE_REL_LE: return c <= 0;
	case SIEVE_REL_EQ: return c == 0;
	case SIEVE_REL_NE: return c != 0;
	default: return false;
	}
}

static int
contains(struct sieve_run *x, const struct sieve_node *n, const char *v, size_t vlen,
    const char *k, size_t klen)
{
	if (klen == 0)
		return 1;
	for (size_t i = 0; i + klen <= vlen; i++) {
		size_t j = 0;

		while (j < klen && fold(n, (unsigned char)v[i + j]) == fold(n, (unsigned char)k[j]))
			j++;
		if (charge(x, j) < 0)
			return -1;
		if (j == klen)
			return 1;
	}
	return 0;
}

/* ---- :matches (RFC 5228 §2.7.1) with match variables (RFC 5229 §3.2) ---- */

struct glob_cap {
	size_t start, end;
};

/* Length of the character at v[i]: one octet, or one UTF-8 sequence for casemap. */
static size_t
char_len(const struct sieve_node *n, const char *v, size_t vlen, size_t i)
{
	size_t l;

	if (n->comparator == SIEVE_CMP_OCTET)
		return 1;
	l = mail_utf8_next((const unsigned char *)v + i, vlen - i, NULL);
	return l == 0 ? 1 : l;
}

/*
 * Wildcards match as little as possible, left to right (RFC 5229 §3.2 example "[*] *"):
 * the classic algorithm that backtracks only to the last '*' gives exactly that, since a
 * later '*' can absorb whatever an earlier one would have taken. caps[w] receives the
 * span of wildcard w; returns 1 match, 0 none, -1 budget.
 */
static int
glob(struct sieve_run *x, const struct sieve_node *n, const char *v, size_t vlen,
    const char *k, size_t klen, struct glob_cap *caps, unsigned *ncaps_r)
{
	size_t pi = 0, ti = 0, star_pi = SIZE_MAX, star_ti = 0;
	unsigned w = 0, star_w = 0;

	while (ti < vlen || pi < klen) {
		if (charge(x, 0) < 0)
			return -1;
		if (pi < klen && k[pi] == '*') {
			if (w < SIEVE_MATCH_VARS)
				caps[w] = (struct glob_cap){ ti, ti };
			star_w = w++;
			star_pi = ++pi;
			star_ti = ti;
			continue;
		}
		if (ti < vlen && pi < klen && k[pi] == '?') {
			size_t cl = char_len(n, v, vlen, ti);

			if (w < SIEVE_MATCH_VARS)
				caps[w] = (struct glob_cap){ ti, ti + cl };
			w++;
			pi++;
			ti += cl;
			continue;
		}
		if (ti < vlen && pi < klen) {
			size_t kp = pi;

			if (k[kp] == '\\' && kp + 1 < klen)
				kp++;
			if (fold(n, (unsigned char)k[kp]) == fold(n, (unsigned char)v[ti])) {
				pi = kp + 1;
				ti++;
				continue;
			}
		}
		if (star_pi == SIZE_MAX || star_ti >= vlen)
			return 0;
		star_ti += char_len(n, v, vlen, star_ti);
		if (star_w < SIEVE_MATCH_VARS)
			caps[star_w].end = star_ti;
		pi = star_pi;
		ti = star_ti;
		w = star_w + 1;
	}
	*ncaps_r = w;
	return 1;
}

static void
set_match_vars(struct sieve_run *x, const char *v, size_t vlen, const struct glob_cap *caps,
    unsigned ncaps)
{
	if (!x->variables)
		return;
	buf_reset(&x->match[0]);
	(void)buf_append(&x->match[0], v, vlen);
	x->nmatch = 1;
	for (unsigned i = 0; i < ncaps && i + 1 < SIEVE_MATCH_VARS; i++) {
		buf_reset(&x->match[i + 1]);
		(void)buf_append(&x->match[i + 1], v + caps[i].start, caps[i].end - caps[i].start);
		x->nmatch = i + 2;
	}
}

static int
regex_match(struct sieve_run *x, const struct sieve_node *n, const char *v, size_t vlen,
    const char *k, size_t klen)
{
	regex_t re;
	regmatch_t m[SIEVE_MATCH_VARS];
	struct glob_cap caps[SIEVE_MATCH_VARS];
	unsigned ncaps = 0;
	int ret, flags = REG_EXTENDED | (n->comparator == SIEVE_CMP_CASEMAP ? REG_ICASE : 0);

	if (klen > x->lim->regex_max)
		return sieve_run_error(x, "regular expression too long (limit %zu)",
		    x->lim->regex_max);
	if (memchr(k, '\0', klen) != NULL || memchr(v, '\0', vlen) != NULL)
		return 0;
	/* back-references can make matching exponential (glibc allows them in EREs) */
	for (size_t i = 0; i + 1 < klen; i++) {
		if (k[i] == '\\' && isdigit((unsigned char)k[i + 1]))
			return sieve_run_error(x, "back-references are not supported in :regex");
		if (k[i] == '\\')
			i++;
	}
	if (charge(x, vlen * 8) < 0)
		return -1;
	if (regcomp(&re, k, flags) != 0)
		return sieve_run_error(x, "invalid regular expression");
	ret = regexec(&re, v, SIEVE_MATCH_VARS, m, 0) == 0;
	if (ret) {
		for (unsigned i = 1; i < SIEVE_MATCH_VARS && i <= re.re_nsub; i++) {
			caps[i - 1] = m[i].rm_so < 0 ? (struct glob_cap){ 0, 0 } :
			    (struct glob_cap){ (size_t)m[i].rm_so, (size_t)m[i].rm_eo };
			ncaps = i;
		}
		/* ${0} is the part that matched (draft-ietf-sieve-regex §3) */
		set_match_vars(x, v + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so), NULL, 0);
		for (unsigned i = 0; i < ncaps && x->variables; i++) {
			buf_reset(&x->match[i + 1]);
			(void)buf_append(&x->match[i + 1], v + caps[i].start,
			    caps[i].end - caps[i].start);
			x->nmatch = i + 2;
		}
	}
	regfree(&re);
	return ret;
}

static int
match_one(struct sieve_run *x, const struct sieve_node *n, const struct sieve_sv *v,
    const struct sieve_sv *k)
{
	struct glob_cap caps[SIEVE_MATCH_VARS];
	unsigned ncaps = 0;
	int ret;

	switch (n->match) {
	case SIEVE_MATCH_IS:
		if (charge(x, MIN(v->len, k->len)) < 0)
			return -1;
		return compare(n, v->p, v->len, k->p, k->len) == 0;
	case SIEVE_MATCH_CONTAINS:
		return contains(x, n, v->p, v->len, k->p, k->len);
	case SIEVE_MATCH_MATCHES:
		ret = glob(x, n, v->p, v->len, k->p, k->len, caps, &ncaps);
		if (ret == 1)
			set_match_vars(x, v->p, v->len, caps, ncaps);
		return ret;
	case SIEVE_MATCH_REGEX:
		return regex_match(x, n, v->p, v->len, k->p, k->len);
	case SIEVE_MATCH_VALUE:
		if (charge(x, MIN(v->len, k->len)) < 0)
			return -1;
		return relation(n->relop, compare(n, v->p, v->len, k->p, k->len));
	default:
		return 0;
	}
}

int
sieve_match_values(struct sieve_run *x, const struct sieve_node *n,
    const struct sieve_strlist *values, const struct sieve_strlist *keys)
{
	if (n->match == SIEVE_MATCH_COUNT) {
		char num[24];
		int len = snprintf(num, sizeof(num), "%u", values->n);

		for (unsigned j = 0; j < keys->n; j++)
			if (relation(n->relop, compare(n, num, (size_t)len, keys->v[j].p,
			    keys->v[j].len)))
				return 1;
		return 0;
	}
	for (unsigned i = 0; i < values->n; i++)
		for (unsigned j = 0; j < keys->n; j++) {
			int ret = match_one(x, n, &values->v[i], &keys->v[j]);

			if (ret != 0)
				return ret;
		}
	return 0;
}
