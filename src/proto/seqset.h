/*
 * seqset.h — IMAP sequence sets (RFC 3501 §9 sequence-set, RFC 9051 §9): parsing
 * "1,3:5,7:*" into sorted, merged ranges of uint32 with "*" kept symbolic until it is
 * resolved against the current highest sequence number or UID; "$" (RFC 5182 SEARCHRES)
 * is reported separately. Used by the imap session process on client input: pure, bounded
 * by a range-count limit, no I/O.
 */
#ifndef BUZON_SEQSET_H
#define BUZON_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Default limit on the number of comma-separated items in one set. */
#define SEQSET_MAX_RANGES_DEFAULT 10000

struct seqset_range {
	uint32_t lo;	/* 1 <= lo <= hi */
	uint32_t hi;
};

struct seqset;

enum seqset_parse_result {
	SEQSET_PARSE_OK,	/* *set_r is a new set */
	SEQSET_PARSE_SEARCHRES,	/* the input was exactly "$"; *set_r untouched */
	SEQSET_PARSE_ERROR	/* syntax, 0, a number > 4294967295, or > max_ranges items */
};

/*
 * Parse p[0..len) (not NUL-terminated). "n:m" with m < n is allowed (same as "m:n").
 * "*" and "n:*" stay symbolic until seqset_resolve(). On OK the caller owns *set_r (free
 * with seqset_destroy). max_ranges bounds the number of items before merging (and so
 * memory); 0 means SEQSET_MAX_RANGES_DEFAULT.
 */
enum seqset_parse_result seqset_parse(const char *p, size_t len, unsigned max_ranges,
    struct seqset **set_r);

/* An empty, resolved set (for building result sets); free with seqset_destroy. */
struct seqset *seqset_create(void);
void seqset_destroy(struct seqset **set);
/* Add lo..hi (either order, both >= 1) keeping the ranges sorted and merged. Returns 0, -1 if 0. */
int seqset_add_range(struct seqset *set, uint32_t lo, uint32_t hi);

/* true if the set still has a symbolic "*" (not yet resolved). */
bool seqset_has_star(const struct seqset *set);
/*
 * Replace "*" by max (the number of messages, or the highest UID): "*" is max and "n:*"
 * is min(n,max)..max, so "559:*" includes max even when 559 > max (RFC 3501 §9, UID
 * range). With max == 0 (empty mailbox) the starred items contribute nothing. Numeric
 * items above max are kept: callers check seqset_highest() (sequence numbers: BAD) or
 * ignore them (UIDs).
 */
void seqset_resolve(struct seqset *set, uint32_t max);

/*
 * The queries below need a resolved set (no "*"); calling them on an unresolved set is a
 * bug and aborts.
 */
/* Ranges sorted ascending, disjoint and non-adjacent; borrowed until the set changes. */
const struct seqset_range *seqset_ranges(const struct seqset *set, unsigned *count_r);
bool seqset_contains(const struct seqset *set, uint32_t n);
/* Number of values in the set (up to 4294967295). */
uint64_t seqset_count(const struct seqset *set);
/* Largest value in the set, 0 if empty. */
uint32_t seqset_highest(const struct seqset *set);

/* Ascending iteration: for (seqset_iter_init(&it, s); seqset_iter_next(&it, &n);) */
struct seqset_iter {
	const struct seqset *set;
	unsigned idx;
	uint64_t next;
};
void seqset_iter_init(struct seqset_iter *it, const struct seqset *set);
bool seqset_iter_next(struct seqset_iter *it, uint32_t *n_r);

/*
 * Append the set in the compact form "1:3,5,7:9" (an unresolved "*" is written as "*").
 * Returns 0, -1 on the buffer limit (the buffer is then left truncated to its old length).
 * An empty set appends nothing.
 */
int seqset_format(const struct seqset *set, struct buf *out);

#endif
