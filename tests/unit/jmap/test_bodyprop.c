/*
 * test_bodyprop.c — unit tests for src/jmap/jmap_bodyprop.c: header:{name}:as{form}[:all]
 * property names (RFC 8621 §4.1.3, the forms each known field allows, the name length
 * limit) and part blob ids (digits, levels, the Id length limit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "jmap/jmap_bodyprop.h"

struct hcase {
	const char *in;
	int ret;
	const char *name;
	enum jmap_header_form form;
	bool all;
};

static const struct hcase hcases[] = {
	{ "header:Subject", 0, "Subject", JMAP_FORM_RAW, false },
	{ "header:Subject:asText", 0, "Subject", JMAP_FORM_TEXT, false },
	{ "header:subject:asText:all", 0, "subject", JMAP_FORM_TEXT, true },
	{ "header:X-Foo:all", 0, "X-Foo", JMAP_FORM_RAW, true },
	{ "header:X-Foo:asRaw:all", 0, "X-Foo", JMAP_FORM_RAW, true },
	{ "header:X-Foo:asGroupedAddresses", 0, "X-Foo", JMAP_FORM_GROUPED, false },
	{ "header:X-Foo:asURLs", 0, "X-Foo", JMAP_FORM_URLS, false },
	{ "header:From:asAddresses", 0, "From", JMAP_FORM_ADDRESSES, false },
	{ "header:Resent-Bcc:asGroupedAddresses", 0, "Resent-Bcc", JMAP_FORM_GROUPED, false },
	{ "header:Date:asDate", 0, "Date", JMAP_FORM_DATE, false },
	{ "header:References:asMessageIds:all", 0, "References", JMAP_FORM_MESSAGEIDS, true },
	{ "header:List-Post:asURLs", 0, "List-Post", JMAP_FORM_URLS, false },
	{ "header:List-Id:asText", 0, "List-Id", JMAP_FORM_TEXT, false },
	/* forms a known field does not allow (§4.1.3) */
	{ "header:Subject:asAddresses", -1, NULL, 0, false },
	{ "header:From:asText", -1, NULL, 0, false },
	{ "header:Date:asMessageIds", -1, NULL, 0, false },
	{ "header:message-id:asDate", -1, NULL, 0, false },
	{ "header:List-Post:asText", -1, NULL, 0, false },
	/* not the grammar */
	{ "header", -1, NULL, 0, false },
	{ "header:", -1, NULL, 0, false },
	{ "header::asText", -1, NULL, 0, false },
	{ "Header:Subject", -1, NULL, 0, false },
	{ "header:Subject:", -1, NULL, 0, false },
	{ "header:Subject:astext", -1, NULL, 0, false },
	{ "header:Subject:all:asText", -1, NULL, 0, false },
	{ "header:Subject:asText:asRaw", -1, NULL, 0, false },
	{ "header:Subject:all:all", -1, NULL, 0, false },
	{ "header:Sub ject", -1, NULL, 0, false },
	{ "header:Sub\x7fject", -1, NULL, 0, false },
	{ "header:Sub\xc3\xa9ject", -1, NULL, 0, false },
	{ "header:X:asText:", -1, NULL, 0, false },
};

static void
test_header_prop(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++) {
		const struct hcase *c = &hcases[i];
		struct jmap_header_prop hp;
		int r = jmap_header_prop_parse(c->in, strlen(c->in), &hp);

		if (r != c->ret)
			fail_msg("%s: %d, want %d", c->in, r, c->ret);
		if (r == 0) {
			assert_string_equal(hp.name, c->name);
			assert_int_equal(hp.form, c->form);
			assert_int_equal(hp.all, c->all);
		}
	}
}

/* The name at its limit and one past it; a prefix of a good name is never read past len. */
static void
test_header_prop_limits(void **state)
{
	char s[JMAP_HEADER_NAME_MAX + 32];
	struct jmap_header_prop hp;

	(void)state;
	memcpy(s, "header:", 7);
	memset(s + 7, 'x', JMAP_HEADER_NAME_MAX + 1);
	assert_int_equal(jmap_header_prop_parse(s, 7 + JMAP_HEADER_NAME_MAX, &hp), 0);
	assert_int_equal(strlen(hp.name), JMAP_HEADER_NAME_MAX);
	assert_int_equal(jmap_header_prop_parse(s, 7 + JMAP_HEADER_NAME_MAX + 1, &hp), -1);
	/* every prefix of a valid name: parsed from exactly len bytes */
	{
		const char *full = "header:X-A:asText:all";
		size_t n = strlen(full);

		for (size_t len = 0; len <= n; len++) {
			int r = jmap_header_prop_parse(full, len, &hp);
			bool ok = len == 8 || len == 9 || len == 10 || len == 17 || len == n;

			if (r != (ok ? 0 : -1))
				fail_msg("prefix %zu: %d", len, r);
		}
	}
}

static void
test_part_blob(void **state)
{
	uint32_t nums[JMAP_PART_DEPTH_MAX];
	unsigned depth;
	uint64_t id;
	char s[512];
	size_t n;

	(void)state;
	assert_int_equal(jmap_part_blob_parse("B0123456789abcdef_1", 19, &id, nums, &depth), 0);
	assert_true(id == 0x0123456789abcdefull);
	assert_int_equal(depth, 1);
	assert_int_equal(nums[0], 1);
	assert_int_equal(jmap_part_blob_parse("B0000000000000001_2_10_999999", 29, &id, nums,
	    &depth), 0);
	assert_int_equal(depth, 3);
	assert_int_equal(nums[2], 999999);
	static const char *const bad[] = { "B0123456789abcdef", "B0123456789abcdef_",
		"B0123456789abcdef_0", "B0123456789abcdef_01", "B0123456789abcdef__1",
		"B0123456789abcdef_1_", "B0123456789abcdef_1000000", "B0123456789ABCDEF_1",
		"M0123456789abcdef_1", "B0123456789abcde_1", "B0000000000000000_1",
		"B0123456789abcdef_1.2", "B0123456789abcdef_-1", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (jmap_part_blob_parse(bad[i], strlen(bad[i]), &id, nums, &depth) != -1)
			fail_msg("accepted %s", bad[i]);
	/* JMAP_PART_DEPTH_MAX levels, not one more */
	n = (size_t)snprintf(s, sizeof(s), "B0123456789abcdef");
	for (int i = 0; i < JMAP_PART_DEPTH_MAX; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "_1");
	assert_int_equal(jmap_part_blob_parse(s, n, &id, nums, &depth), 0);
	assert_int_equal(depth, JMAP_PART_DEPTH_MAX);
	n += (size_t)snprintf(s + n, sizeof(s) - n, "_1");
	assert_int_equal(jmap_part_blob_parse(s, n, &id, nums, &depth), -1);
	/* the longest: every level at 6 digits, still an Id (at most 255 octets) */
	n = (size_t)snprintf(s, sizeof(s), "B0123456789abcdef");
	for (int i = 0; i < JMAP_PART_DEPTH_MAX; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "_999999");
	assert_true(n <= JMAP_ID_MAX);
	assert_int_equal(jmap_part_blob_parse(s, n, &id, nums, &depth), 0);
	assert_int_equal(nums[JMAP_PART_DEPTH_MAX - 1], 999999);
	memset(s, 'B', sizeof(s));
	assert_int_equal(jmap_part_blob_parse(s, JMAP_ID_MAX + 1, &id, nums, &depth), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_prop),
		cmocka_unit_test(test_header_prop_limits),
		cmocka_unit_test(test_part_blob),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
