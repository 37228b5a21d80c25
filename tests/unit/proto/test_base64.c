/*
 * test_base64.c — unit tests for strict base64: RFC 4648 §10 vectors both ways, every
 * rejection rule, bounded output into fixed storage and into a struct buf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/base64.h"

static const struct { const char *plain; const char *enc; } vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" }, { "\xff\xfe\xfd", "//79" },
	{ "\xfb\xff", "+/8=" },
};

static void
test_vectors(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(vectors); i++) {
		unsigned char dst[16];
		size_t n = 99, pl = strlen(vectors[i].plain);
		struct buf b;

		assert_int_equal(base64_decode(vectors[i].enc, strlen(vectors[i].enc), dst,
		    sizeof(dst), &n), 0);
		assert_int_equal(n, pl);
		assert_memory_equal(dst, vectors[i].plain, pl);
		buf_init(&b, 64);
		assert_int_equal(base64_encode(vectors[i].plain, pl, &b), 0);
		assert_string_equal(buf_cstr(&b), vectors[i].enc);
		buf_reset(&b);
		assert_int_equal(base64_decode_buf(vectors[i].enc, strlen(vectors[i].enc), &b), 0);
		assert_int_equal(b.len, pl);
		buf_deinit(&b);
		/* exact fit and one byte short */
		if (pl > 0) {
			assert_int_equal(base64_decode(vectors[i].enc, strlen(vectors[i].enc), dst,
			    pl, &n), 0);
			assert_int_equal(base64_decode(vectors[i].enc, strlen(vectors[i].enc), dst,
			    pl - 1, &n), -1);
		}
	}
	/* NUL bytes survive */
	{
		unsigned char dst[8];
		size_t n;

		assert_int_equal(base64_decode("AGEAYgBj", 8, dst, sizeof(dst), &n), 0);
		assert_int_equal(n, 6);
		assert_memory_equal(dst, "\0a\0b\0c", 6);
	}
}

static void
test_bad(void **state)
{
	static const char *bad[] = {
		"Zg", "Zg=", "Zm9", "Z", "Zg===", "====", "Z===", "Zh==", "Zm9=", "Zm8=Zm8=",
		"Zg==Zg==", "Zm 9v", " Zm9v", "Zm9v\r\n", "Zm9v\n", "Zm-_", "Zm9v=", "Z=g=",
		"=Zm9", "Zm\x80v", "Zm9v====",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		unsigned char dst[16];
		size_t n;
		struct buf b;

		if (base64_decode(bad[i], strlen(bad[i]), dst, sizeof(dst), &n) != -1)
			fail_msg("accepted [%s]", bad[i]);
		buf_init(&b, 64);
		buf_append_str(&b, "xy");
		assert_int_equal(base64_decode_buf(bad[i], strlen(bad[i]), &b), -1);
		assert_string_equal(buf_cstr(&b), "xy");
		buf_deinit(&b);
	}
	/* embedded NUL in the encoding */
	{
		unsigned char dst[4];
		size_t n;

		assert_int_equal(base64_decode("Zm\0v", 4, dst, sizeof(dst), &n), -1);
	}
}

static void
test_buf_limit(void **state)
{
	struct buf b;

	buf_init(&b, 5);
	assert_int_equal(base64_decode_buf("Zm9vYmFy", 8, &b), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(base64_encode("foo", 3, &b), 0);
	assert_int_equal(base64_encode("f", 1, &b), -1);
	assert_string_equal(buf_cstr(&b), "Zm9v");
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_buf_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
