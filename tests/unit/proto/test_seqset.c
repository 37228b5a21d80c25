/*
 * test_seqset.c — unit tests for IMAP sequence sets: a table of sets parsed, resolved
 * against a maximum and formatted back, plus malformed input, limits, queries,
 * iteration and incremental building.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/seqset.h"

struct scase {
	const char *in;
	enum seqset_parse_result res;
	const char *unresolved;	/* seqset_format before resolve */
	uint32_t max;
	const char *resolved;	/* seqset_format after resolve */
	uint64_t count;
};

static const struct scase cases[] = {
	{ "1", SEQSET_PARSE_OK, "1", 10, "1", 1 },
	{ "1:3", SEQSET_PARSE_OK, "1:3", 10, "1:3", 3 },
	{ "3:1", SEQSET_PARSE_OK, "1:3", 10, "1:3", 3 },
	{ "5,1:2,3", SEQSET_PARSE_OK, "1:3,5", 10, "1:3,5", 4 },
	{ "1:4,2:3,4:6,8", SEQSET_PARSE_OK, "1:6,8", 10, "1:6,8", 7 },
	{ "*", SEQSET_PARSE_OK, "*", 10, "10", 1 },
	{ "*", SEQSET_PARSE_OK, "*", 0, "", 0 },
	{ "*:*", SEQSET_PARSE_OK, "*", 7, "7", 1 },
	{ "1:*", SEQSET_PARSE_OK, "1:*", 10, "1:10", 10 },
	{ "*:4", SEQSET_PARSE_OK, "4:*", 10, "4:10", 7 },
	/* RFC 3501 §9: 559:* with highest UID 500 is 500 */
	{ "559:*", SEQSET_PARSE_OK, "559:*", 500, "500", 1 },
	{ "559:*,*", SEQSET_PARSE_OK, "559:*", 500, "500", 1 },
	{ "1,5:*,3:*", SEQSET_PARSE_OK, "1,3:*", 4, "1,3:4", 3 },
	{ "20,*", SEQSET_PARSE_OK, "20,*", 10, "10,20", 2 },
	{ "1:*", SEQSET_PARSE_OK, "1:*", 0, "", 0 },
	{ "4294967295", SEQSET_PARSE_OK, "4294967295", 1, "4294967295", 1 },
	{ "1:4294967295", SEQSET_PARSE_OK, "1:4294967295", 1, "1:4294967295", 4294967295ULL },
	{ "4294967295,4294967294", SEQSET_PARSE_OK, "4294967294:4294967295", 1,
	  "4294967294:4294967295", 2 },
	{ "$", SEQSET_PARSE_SEARCHRES, NULL, 0, NULL, 0 },
	/* malformed */
	{ "", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "0", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "0:5", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "01", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "4294967296", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "99999999999999999999999", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "1,", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ ",1", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "1,,2", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "1:", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ ":1", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "1:2:3", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "-1", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "+1", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "1 ", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "a", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "**", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "$,1", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
	{ "$$", SEQSET_PARSE_ERROR, NULL, 0, NULL, 0 },
};

static void
test_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct scase *c = &cases[i];
		struct seqset *set = NULL;
		struct buf b;
		enum seqset_parse_result r;

		r = seqset_parse(c->in, strlen(c->in), 0, &set);
		if (r != c->res)
			fail_msg("%s: result %d want %d", c->in, r, c->res);
		if (r != SEQSET_PARSE_OK) {
			assert_null(set);
			continue;
		}
		buf_init(&b, 1024);
		assert_int_equal(seqset_format(set, &b), 0);
		assert_string_equal(buf_cstr(&b), c->unresolved);
		assert_int_equal(seqset_has_star(set), strchr(c->in, '*') != NULL);
		seqset_resolve(set, c->max);
		assert_false(seqset_has_star(set));
		buf_reset(&b);
		assert_int_equal(seqset_format(set, &b), 0);
		assert_string_equal(buf_cstr(&b), c->resolved);
		assert_int_equal(seqset_count(set), c->count);
		buf_deinit(&b);
		seqset_destroy(&set);
		assert_null(set);
	}
}

/* The parser never reads past len: every prefix of a valid set is parsed on its own. */
static void
test_prefixes(void **state)
{
	static const char in[] = "12:3,7:*,4294967295,9";
	static const bool ok[] = {
		false, true, true, false, true, false, true, false, true, false, true, true,
		true, true, true, true, true, true, true, true, false, true,
	};

	for (size_t n = 0; n < sizeof(in); n++) {
		struct seqset *set = NULL;
		char copy[sizeof(in)];
		enum seqset_parse_result r;

		/* a copy without a terminator so ASan sees reads past the prefix */
		memcpy(copy, in, n);
		r = seqset_parse(n > 0 ? copy : in, n, 0, &set);
		if ((r == SEQSET_PARSE_OK) != ok[n])
			fail_msg("prefix %zu: %d", n, r);
		seqset_destroy(&set);
	}
}

static void
test_limit(void **state)
{
	struct buf b;
	struct seqset *set = NULL;
	unsigned i;

	buf_init(&b, BUF_UNLIMITED);
	for (i = 1; i <= SEQSET_MAX_RANGES_DEFAULT; i++)
		buf_appendf(&b, "%s%u", i > 1 ? "," : "", i * 2);
	assert_int_equal(seqset_parse(b.data, b.len, 0, &set), SEQSET_PARSE_OK);
	seqset_resolve(set, 1);
	assert_int_equal(seqset_count(set), SEQSET_MAX_RANGES_DEFAULT);
	seqset_destroy(&set);
	buf_append_str(&b, ",1");
	assert_int_equal(seqset_parse(b.data, b.len, 0, &set), SEQSET_PARSE_ERROR);
	assert_int_equal(seqset_parse("1,2,3", 5, 2, &set), SEQSET_PARSE_ERROR);
	assert_int_equal(seqset_parse("1,2", 3, 2, &set), SEQSET_PARSE_OK);
	seqset_destroy(&set);
	buf_deinit(&b);
}

static void
test_queries(void **state)
{
	struct seqset *set = NULL;
	struct seqset_iter it;
	const struct seqset_range *r;
	unsigned n;
	uint32_t v;
	static const uint32_t want[] = { 2, 3, 4, 9, 15, 16 };
	size_t k = 0;

	assert_int_equal(seqset_parse("9,2:4,15:*", 10, 0, &set), SEQSET_PARSE_OK);
	seqset_resolve(set, 16);
	r = seqset_ranges(set, &n);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].lo, 2);
	assert_int_equal(r[2].hi, 16);
	assert_true(seqset_contains(set, 2));
	assert_true(seqset_contains(set, 4));
	assert_true(seqset_contains(set, 9));
	assert_true(seqset_contains(set, 16));
	assert_false(seqset_contains(set, 1));
	assert_false(seqset_contains(set, 5));
	assert_false(seqset_contains(set, 10));
	assert_false(seqset_contains(set, 17));
	assert_false(seqset_contains(set, 0));
	assert_int_equal(seqset_highest(set), 16);
	for (seqset_iter_init(&it, set); seqset_iter_next(&it, &v);) {
		assert_true(k < N_ELEMENTS(want));
		assert_int_equal(v, want[k++]);
	}
	assert_int_equal(k, N_ELEMENTS(want));
	assert_false(seqset_iter_next(&it, &v));
	seqset_destroy(&set);

	/* iteration up to UINT32_MAX terminates */
	assert_int_equal(seqset_parse("4294967294:4294967295", 21, 0, &set), SEQSET_PARSE_OK);
	k = 0;
	for (seqset_iter_init(&it, set); seqset_iter_next(&it, &v);)
		k++;
	assert_int_equal(k, 2);
	assert_int_equal(v, UINT32_MAX);
	seqset_destroy(&set);
	seqset_destroy(&set);
}

static void
test_build(void **state)
{
	struct seqset *set = seqset_create();
	struct seqset_iter it;
	struct buf b;
	uint32_t v;

	assert_false(seqset_iter_next((seqset_iter_init(&it, set), &it), &v));
	assert_int_equal(seqset_highest(set), 0);
	assert_int_equal(seqset_add_range(set, 0, 3), -1);
	assert_int_equal(seqset_add_range(set, 5, 5), 0);
	assert_int_equal(seqset_add_range(set, 6, 7), 0);
	assert_int_equal(seqset_add_range(set, 10, 9), 0);
	assert_int_equal(seqset_add_range(set, 1, 2), 0);
	assert_int_equal(seqset_add_range(set, 3, 4), 0);
	assert_int_equal(seqset_add_range(set, UINT32_MAX, UINT32_MAX), 0);
	assert_int_equal(seqset_add_range(set, UINT32_MAX - 1, UINT32_MAX), 0);
	buf_init(&b, 1024);
	assert_int_equal(seqset_format(set, &b), 0);
	assert_string_equal(buf_cstr(&b), "1:7,9:10,4294967294:4294967295");
	assert_int_equal(seqset_count(set), 11);
	buf_deinit(&b);
	/* format respects the buffer limit and leaves it unchanged */
	buf_init(&b, 8);
	buf_append_str(&b, "ab");
	assert_int_equal(seqset_format(set, &b), -1);
	assert_string_equal(buf_cstr(&b), "ab");
	buf_deinit(&b);
	seqset_destroy(&set);

	/* an out-of-order range that makes the array grow (was a use-after-free) */
	set = seqset_create();
	for (v = 10; v <= 40; v += 10)
		assert_int_equal(seqset_add_range(set, v, v), 0);
	assert_int_equal(seqset_add_range(set, 1, 1), 0);
	buf_init(&b, 1024);
	assert_int_equal(seqset_format(set, &b), 0);
	assert_string_equal(buf_cstr(&b), "1,10,20,30,40");
	buf_deinit(&b);
	seqset_destroy(&set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_queries),
		cmocka_unit_test(test_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
