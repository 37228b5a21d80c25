/*
 * test_mutf7.c — unit tests for modified UTF-7 <-> UTF-8: a table of pairs converted in
 * both directions, every strict-validation rule with a malformed case, invalid UTF-8,
 * truncated inputs (every prefix) and the output buffer limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/mutf7.h"

static const struct { const char *mutf7; const char *utf8; } pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "&-", "&" },
	{ "a&-b&-", "a&b&" },
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
	{ "&2D3eAA-", "\xf0\x9f\x98\x80" },
	{ "&AOk-", "\xc3\xa9" },
	{ "a&AAE-b", "a\x01" "b" },
	{ "&AH8-", "\x7f" },
	{ "&APzYPd4AAPw-", "\xc3\xbc\xf0\x9f\x98\x80\xc3\xbc" },
	{ "&AOk-&-&AOk-", "\xc3\xa9&\xc3\xa9" },
	{ "&,,8-", "\xef\xbf\xbf" },
	{ " !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", " !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~" },
};

static void
test_pairs(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(pairs); i++) {
		struct buf b;

		buf_init(&b, 1024);
		assert_true(mutf7_is_valid(pairs[i].mutf7, strlen(pairs[i].mutf7)));
		assert_int_equal(mutf7_to_utf8(pairs[i].mutf7, strlen(pairs[i].mutf7), &b), 0);
		assert_int_equal(b.len, strlen(pairs[i].utf8));
		assert_memory_equal(buf_cstr(&b), pairs[i].utf8, b.len);
		buf_reset(&b);
		assert_true(mutf7_utf8_is_valid(pairs[i].utf8, strlen(pairs[i].utf8)));
		assert_int_equal(mutf7_from_utf8(pairs[i].utf8, strlen(pairs[i].utf8), &b), 0);
		assert_string_equal(buf_cstr(&b), pairs[i].mutf7);
		buf_deinit(&b);
	}
}

static const char *const bad_mutf7[] = {
	"&",			/* unterminated */
	"&AOk",			/* unterminated */
	"a&",
	"&AGE-",		/* encoded printable 'a' */
	"&ACY-",		/* encoded '&' */
	"&ACA-",		/* encoded space */
	"&AAA-",		/* NUL */
	"&AOk-&AOk-",		/* adjacent segments */
	"&AO-",			/* incomplete unit */
	"&AOkA-",		/* extra char after unit */
	"&AOl-",		/* non-zero padding bits */
	"&2D0-",		/* lone high surrogate */
	"&3gA-",		/* lone low surrogate */
	"&2D3YPQ-",		/* high followed by high */
	"&AOk/-",		/* '/' is not modified base64 */
	"&AOk=-",		/* padding */
	"&A Ok-",		/* space inside */
	"\xc3\xa9",		/* raw 8-bit */
	"a\tb",			/* control char raw */
	"a\x7f",
	"&-&",
};

static void
test_bad_mutf7(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(bad_mutf7); i++) {
		struct buf b;

		buf_init(&b, 1024);
		buf_append_str(&b, "old");
		if (mutf7_is_valid(bad_mutf7[i], strlen(bad_mutf7[i])))
			fail_msg("accepted %s", bad_mutf7[i]);
		assert_int_equal(mutf7_to_utf8(bad_mutf7[i], strlen(bad_mutf7[i]), &b), -1);
		assert_string_equal(buf_cstr(&b), "old");
		buf_deinit(&b);
	}
	/* embedded NUL in the input */
	assert_false(mutf7_is_valid("a\0b", 3));
}

static const struct { const char *s; size_t len; } bad_utf8[] = {
	{ "\x80", 1 },			/* stray continuation */
	{ "\xc3", 1 },			/* truncated */
	{ "\xe5\x8f", 2 },
	{ "\xc0\xaf", 2 },		/* overlong '/' */
	{ "\xc1\xbf", 2 },
	{ "\xe0\x80\xaf", 3 },		/* overlong */
	{ "\xf0\x80\x80\xaf", 4 },
	{ "\xed\xa0\x80", 3 },		/* surrogate U+D800 */
	{ "\xed\xbf\xbf", 3 },
	{ "\xf4\x90\x80\x80", 4 },	/* > U+10FFFF */
	{ "\xf5\x80\x80\x80", 4 },
	{ "\xff", 1 },
	{ "\xc3\x28", 2 },
	{ "a\0b", 3 },			/* NUL */
};

static void
test_bad_utf8(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(bad_utf8); i++) {
		struct buf b;

		buf_init(&b, 1024);
		assert_false(mutf7_utf8_is_valid(bad_utf8[i].s, bad_utf8[i].len));
		assert_int_equal(mutf7_from_utf8(bad_utf8[i].s, bad_utf8[i].len, &b), -1);
		assert_int_equal(b.len, 0);
		buf_deinit(&b);
	}
	assert_true(mutf7_utf8_is_valid("\xf4\x8f\xbf\xbf", 4));	/* U+10FFFF */
	assert_true(mutf7_utf8_is_valid("\xee\x80\x80", 3));		/* U+E000 */
}

/* Truncated encodings: no read past len, and a valid prefix round-trips. */
static void
test_prefixes(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(pairs); i++) {
		size_t len = strlen(pairs[i].mutf7);

		for (size_t n = 0; n <= len; n++) {
			char *copy = xmalloc(n + 1);
			struct buf b, back;

			memcpy(copy, pairs[i].mutf7, n);
			buf_init(&b, 1024);
			buf_init(&back, 1024);
			if (mutf7_to_utf8(copy, n, &b) == 0) {
				assert_int_equal(mutf7_from_utf8(b.data, b.len, &back), 0);
				assert_int_equal(back.len, n);
				assert_memory_equal(buf_cstr(&back), copy, n);
			}
			buf_deinit(&b);
			buf_deinit(&back);
			free(copy);
		}
		len = strlen(pairs[i].utf8);
		for (size_t n = 0; n <= len; n++) {
			char *copy = xmalloc(n + 1);
			struct buf b;

			memcpy(copy, pairs[i].utf8, n);
			buf_init(&b, 1024);
			assert_int_equal(mutf7_from_utf8(copy, n, &b) == 0,
			    mutf7_utf8_is_valid(copy, n));
			buf_deinit(&b);
			free(copy);
		}
	}
}

static void
test_limit(void **state)
{
	struct buf b;

	/* "&U,BTFw-" needs 8 bytes */
	buf_init(&b, 7);
	assert_int_equal(mutf7_from_utf8("\xe5\x8f\xb0\xe5\x8c\x97", 6, &b), -1);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
	buf_init(&b, 8);
	assert_int_equal(mutf7_from_utf8("\xe5\x8f\xb0\xe5\x8c\x97", 6, &b), 0);
	buf_deinit(&b);
	buf_init(&b, 5);
	assert_int_equal(mutf7_to_utf8("&U,BTFw-", 8, &b), -1);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
	buf_init(&b, 6);
	assert_int_equal(mutf7_to_utf8("&U,BTFw-", 8, &b), 0);
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_bad_mutf7),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
