/*
 * seqset.c — IMAP sequence sets (see seqset.h). Runs in the imap session process on
 * client input. The number of items is bounded before anything is allocated beyond
 * that bound, numbers go through parse_u32 (overflow-checked), and "*" stays symbolic
 * so the same parsed set can be resolved against sequence numbers or UIDs.
 */
#include "proto/seqset.h"

#include "lib/util.h"

struct seqset {
	struct seqset_range *r;
	unsigned count;
	unsigned cap;
	bool has_star;
	/* lowest n of the "n:*" items; UINT64_MAX when only a bare "*" was given */
	uint64_t star_lo;
};

struct seqset *
seqset_create(void)
{
	return xcalloc(1, sizeof(struct seqset));
}

void
seqset_destroy(struct seqset **set)
{
	if (*set == NULL)
		return;
	free((*set)->r);
	free(*set);
	*set = NULL;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct seqset_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

/* Sort and merge overlapping or adjacent ranges. */
static void
normalize(struct seqset *set)
{
	unsigned i, out = 0;

	if (set->count < 2)
		return;
	qsort(set->r, set->count, sizeof(*set->r), range_cmp);
	for (i = 1; i < set->count; i++) {
		struct seqset_range *last = &set->r[out];

		/* adjacent: last->hi + 1 == lo, written so UINT32_MAX cannot wrap */
		if (set->r[i].lo <= last->hi || set->r[i].lo - 1 == last->hi) {
			if (set->r[i].hi > last->hi)
				last->hi = set->r[i].hi;
		} else {
			set->r[++out] = set->r[i];
		}
	}
	set->count = out + 1;
}

static void
push(struct seqset *set, uint32_t lo, uint32_t hi)
{
	if (set->count == set->cap) {
		unsigned ncap = set->cap == 0 ? 4 : set->cap * 2;

		set->r = xreallocarray(set->r, ncap, sizeof(*set->r));
		set->cap = ncap;
	}
	set->r[set->count].lo = lo;
	set->r[set->count].hi = hi;
	set->count++;
}

int
seqset_add_range(struct seqset *set, uint32_t lo, uint32_t hi)
{
	struct seqset_range *last;
	bool sorted;

	if (lo == 0 || hi == 0)
		return -1;
	if (lo > hi) {
		uint32_t t = lo;

		lo = hi;
		hi = t;
	}
	last = set->count > 0 ? &set->r[set->count - 1] : NULL;
	/* ascending additions (the usual case when building results) stay O(1) */
	if (last != NULL && lo >= last->lo && (lo <= last->hi || lo - 1 == last->hi)) {
		if (hi > last->hi)
			last->hi = hi;
		return 0;
	}
	sorted = last == NULL || lo > last->lo;
	push(set, lo, hi);	/* may move set->r: last is stale from here */
	if (!sorted)
		normalize(set);
	return 0;
}

/* One item: number or "*"; *star_r set for "*". */
static int
parse_value(const char *p, size_t len, uint32_t *n_r, bool *star_r)
{
	*star_r = false;
	if (len == 1 && p[0] == '*') {
		*star_r = true;
		return 0;
	}
	/* RFC 3501 §9 nz-number: no leading zero */
	if (len == 0 || p[0] == '0')
		return -1;
	return parse_u32(p, len, n_r);
}

enum seqset_parse_result
seqset_parse(const char *p, size_t len, unsigned max_ranges, struct seqset **set_r)
{
	struct seqset *set;
	size_t i = 0;
	unsigned items = 0;

	if (max_ranges == 0)
		max_ranges = SEQSET_MAX_RANGES_DEFAULT;
	/* RFC 5182 §2: "$" stands for the whole saved result */
	if (len == 1 && p[0] == '$')
		return SEQSET_PARSE_SEARCHRES;
	if (len == 0)
		return SEQSET_PARSE_ERROR;
	set = seqset_create();
	set->star_lo = UINT64_MAX;
	while (i <= len) {
		const char *item = p + i, *colon, *end;
		size_t ilen;
		uint32_t a = 0, b = 0;
		bool astar, bstar;

		end = memchr(item, ',', len - i);
		ilen = end != NULL ? (size_t)(end - item) : len - i;
		if (++items > max_ranges)
			goto fail;
		colon = memchr(item, ':', ilen);
		if (colon == NULL) {
			if (parse_value(item, ilen, &a, &astar) < 0)
				goto fail;
			b = a;
			bstar = astar;
		} else {
			if (parse_value(item, (size_t)(colon - item), &a, &astar) < 0 ||
			    parse_value(colon + 1, ilen - (size_t)(colon - item) - 1, &b,
			    &bstar) < 0)
				goto fail;
		}
		if (astar || bstar) {
			/* "n:*" and "*:n" are the same; "*" and "*:*" are just the maximum */
			uint64_t lo = astar && bstar ? UINT64_MAX : (astar ? b : a);

			set->has_star = true;
			if (lo < set->star_lo)
				set->star_lo = lo;
		} else {
			push(set, MIN(a, b), MAX(a, b));
		}
		if (end == NULL)
			break;
		i += ilen + 1;
		if (i == len)
			goto fail;	/* trailing comma */
	}
	normalize(set);
	*set_r = set;
	return SEQSET_PARSE_OK;
fail:
	seqset_destroy(&set);
	return SEQSET_PARSE_ERROR;
}

bool
seqset_has_star(const struct seqset *set)
{
	return set->has_star;
}

void
seqset_resolve(struct seqset *set, uint32_t max)
{
	if (!set->has_star)
		return;
	set->has_star = false;
	if (max == 0)
		return;
	/* RFC 3501 §9: "559:*" includes the highest UID even when 559 is larger */
	(void)seqset_add_range(set, set->star_lo > max ? max : (uint32_t)set->star_lo, max);
	set->star_lo = UINT64_MAX;
}

static void
require_resolved(const struct seqset *set)
{
	if (set->has_star)
		abort();
}

const struct seqset_range *
seqset_ranges(const struct seqset *set, unsigned *count_r)
{
	require_resolved(set);
	*count_r = set->count;
	return set->r;
}

bool
seqset_contains(const struct seqset *set, uint32_t n)
{
	unsigned lo = 0, hi;

	require_resolved(set);
	hi = set->count;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (n < set->r[mid].lo)
			hi = mid;
		else if (n > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t
seqset_count(const struct seqset *set)
{
	uint64_t n = 0;
	unsigned i;

	require_resolved(set);
	for (i = 0; i < set->count; i++)
		n += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
	return n;
}

uint32_t
seqset_highest(const struct seqset *set)
{
	require_resolved(set);
	return set->count > 0 ? set->r[set->count - 1].hi : 0;
}

void
seqset_iter_init(struct seqset_iter *it, const struct seqset *set)
{
	require_resolved(set);
	it->set = set;
	it->idx = 0;
	it->next = set->count > 0 ? set->r[0].lo : 0;
}

bool
seqset_iter_next(struct seqset_iter *it, uint32_t *n_r)
{
	const struct seqset *set = it->set;

	if (it->idx >= set->count)
		return false;
	*n_r = (uint32_t)it->next;
	if (it->next == set->r[it->idx].hi) {
		if (++it->idx < set->count)
			it->next = set->r[it->idx].lo;
	} else {
		it->next++;
	}
	return true;
}

int
seqset_format(const struct seqset *set, struct buf *out)
{
	size_t old = out->len;
	unsigned i;
	int ret = 0;

	for (i = 0; i < set->count && ret == 0; i++) {
		const char *sep = i > 0 ? "," : "";

		if (set->r[i].lo == set->r[i].hi)
			ret = buf_appendf(out, "%s%u", sep, set->r[i].lo);
		else
			ret = buf_appendf(out, "%s%u:%u", sep, set->r[i].lo, set->r[i].hi);
	}
	if (ret == 0 && set->has_star) {
		const char *sep = set->count > 0 ? "," : "";

		if (set->star_lo == UINT64_MAX)
			ret = buf_appendf(out, "%s*", sep);
		else
			ret = buf_appendf(out, "%s%u:*", sep, (uint32_t)set->star_lo);
	}
	if (ret < 0) {
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}
