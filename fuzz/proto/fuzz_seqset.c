/*
 * fuzz_seqset.c — libFuzzer target for IMAP sequence sets. The first 4 input bytes are
 * the maximum to resolve against, the rest the set. Checks that formatting re-parses to
 * the same set, that resolution yields sorted disjoint ranges within what was asked, and
 * that contains/count/iteration agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seqset *set = NULL, *again = NULL;
	struct buf f1, f2;
	const struct seqset_range *r;
	struct seqset_iter it;
	uint32_t max, v, prev = 0;
	unsigned n, i;
	uint64_t count, seen = 0;

	if (size < 4)
		return 0;
	max = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
	if (seqset_parse((const char *)data + 4, size - 4, 64, &set) != SEQSET_PARSE_OK)
		return 0;
	buf_init(&f1, BUF_UNLIMITED);
	buf_init(&f2, BUF_UNLIMITED);
	if (seqset_format(set, &f1) < 0)
		abort();
	if (seqset_parse(f1.data, f1.len, 64, &again) != SEQSET_PARSE_OK)
		abort();
	if (seqset_format(again, &f2) < 0 || f1.len != f2.len ||
	    memcmp(f1.data, f2.data, f1.len) != 0)
		abort();
	seqset_resolve(set, max);
	r = seqset_ranges(set, &n);
	count = seqset_count(set);
	for (i = 0; i < n; i++) {
		if (r[i].lo == 0 || r[i].lo > r[i].hi)
			abort();
		if (i > 0 && (uint64_t)r[i - 1].hi + 1 >= r[i].lo)
			abort();
		if (!seqset_contains(set, r[i].lo) || !seqset_contains(set, r[i].hi))
			abort();
		if (r[i].lo > 1 && seqset_contains(set, r[i].lo - 1))
			abort();
	}
	if (n > 0 && seqset_highest(set) != r[n - 1].hi)
		abort();
	if (seqset_has_star(again) && max > 0 && !seqset_contains(set, max))
		abort();
	/* iterate only small sets */
	if (count <= 100000) {
		for (seqset_iter_init(&it, set); seqset_iter_next(&it, &v); seen++) {
			if (seen > 0 && v <= prev)
				abort();
			prev = v;
		}
		if (seen != count)
			abort();
	}
	buf_deinit(&f1);
	buf_deinit(&f2);
	seqset_destroy(&again);
	seqset_destroy(&set);
	return 0;
}
