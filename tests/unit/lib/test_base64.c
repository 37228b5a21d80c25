/*
 * test_base64.c — unit tests for base64 (src/lib/base64.c): RFC 4648 §10 vectors both
 * ways, a table of inputs decoded in each mode (strict for SASL, encoded words, lenient
 * MIME bodies: padding, invalid characters, whitespace), bounded output into fixed
 * storage and into a struct buf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/base64.h"

static const struct { const char *plain; const char *enc; } vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" }, { "\xff\xfe\xfd", "//79" },
	{ "\xfb\xff", "+/8=" },
};

static void
test_vectors(void **state)
{
	static const enum base64_mode modes[] = {
		BASE64_STRICT, BASE64_ENCODED_WORD, BASE64_LENIENT,
	};

	for (size_t i = 0; i < N_ELEMENTS(vectors); i++) {
		unsigned char dst[16];
		size_t n = 99, pl = strlen(vectors[i].plain);
		struct buf b;

		/* canonical input decodes the same in every mode */
		for (size_t m = 0; m < N_ELEMENTS(modes); m++) {
			assert_int_equal(base64_decode(vectors[i].enc, strlen(vectors[i].enc),
			    modes[m], dst, sizeof(dst), &n), 0);
			assert_int_equal(n, pl);
			assert_memory_equal(dst, vectors[i].plain, pl);
		}
		buf_init(&b, 64);
		assert_int_equal(base64_encode(vectors[i].plain, pl, &b), 0);
		assert_string_equal(buf_cstr(&b), vectors[i].enc);
		buf_reset(&b);
		assert_int_equal(base64_decode_buf(vectors[i].enc, strlen(vectors[i].enc),
		    BASE64_STRICT, &b), 0);
		assert_int_equal(b.len, pl);
		buf_deinit(&b);
		/* exact fit and one byte short */
		if (pl > 0) {
			assert_int_equal(base64_decode(vectors[i].enc, strlen(vectors[i].enc),
			    BASE64_STRICT, dst, pl, &n), 0);
			assert_int_equal(base64_decode(vectors[i].enc, strlen(vectors[i].enc),
			    BASE64_STRICT, dst, pl - 1, &n), -1);
		}
	}
	/* NUL bytes survive */
	{
		unsigned char dst[8];
		size_t n;

		assert_int_equal(base64_decode("AGEAYgBj", 8, BASE64_STRICT, dst, sizeof(dst),
		    &n), 0);
		assert_int_equal(n, 6);
		assert_memory_equal(dst, "\0a\0b\0c", 6);
	}
}

/* What each mode makes of an input: the decoded bytes, or NULL for an error. */
static const struct {
	const char *name;
	const char *in;
	const char *strict, *word, *lenient;
} modes[] = {
	{ "missing padding", "Zg", NULL, "f", "f" },
	{ "short padding", "Zg=", NULL, "f", "f" },
	{ "three chars, no padding", "Zm9", NULL, "fo", "fo" },
	{ "one char", "Z", NULL, "", "" },
	{ "too much padding", "Zg===", NULL, "f", "f" },
	{ "padding only", "====", NULL, "", "" },
	{ "one char padded", "Z===", NULL, "", "" },
	{ "non-zero trailing bits (1)", "Zh==", NULL, "f", "f" },
	{ "non-zero trailing bits (2)", "Zm9=", NULL, "fo", "fo" },
	{ "padding in the middle", "Zm8=Zm8=", NULL, NULL, "fo\x19\x9b" },
	{ "two padded quanta", "Zg==Zg==", NULL, NULL, "f\x06`" },
	{ "space inside", "Zm 9v", NULL, NULL, "foo" },
	{ "leading space", " Zm9v", NULL, NULL, "foo" },
	{ "CRLF at the end", "Zm9v\r\n", NULL, NULL, "foo" },
	{ "LF at the end", "Zm9v\n", NULL, NULL, "foo" },
	{ "line break inside", "Zm9v\r\nYmFy", NULL, NULL, "foobar" },
	{ "URL-safe alphabet", "Zm-_", NULL, NULL, "f" },
	{ "padding after a full quantum", "Zm9v=", NULL, "foo", "foo" },
	{ "padding inside a quantum", "Z=g=", NULL, NULL, "f" },
	{ "padding first", "=Zm9", NULL, NULL, "fo" },
	{ "four pads", "Zm9v====", NULL, "foo", "foo" },
	{ "8-bit byte", "Zm\x80v", NULL, NULL, "fk" },
	{ "text after the padding", "Zg==x", NULL, NULL, "f\x0c" },
};

static void
test_modes(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(modes); i++) {
		const char *want[] = { modes[i].strict, modes[i].word, modes[i].lenient };
		const enum base64_mode mode[] = {
			BASE64_STRICT, BASE64_ENCODED_WORD, BASE64_LENIENT,
		};

		for (size_t m = 0; m < N_ELEMENTS(mode); m++) {
			unsigned char dst[16];
			size_t n = 0, len = strlen(modes[i].in);
			int r = base64_decode(modes[i].in, len, mode[m], dst, sizeof(dst), &n);
			struct buf b;

			if (want[m] == NULL) {
				if (r != -1)
					fail_msg("%s: mode %zu accepted [%s]", modes[i].name, m,
					    modes[i].in);
			} else {
				if (r != 0)
					fail_msg("%s: mode %zu refused [%s]", modes[i].name, m,
					    modes[i].in);
				assert_int_equal(n, strlen(want[m]));
				assert_memory_equal(dst, want[m], n);
			}
			/* into a buf: a failure leaves what was there */
			buf_init(&b, 64);
			buf_append_str(&b, "xy");
			r = base64_decode_buf(modes[i].in, len, mode[m], &b);
			assert_int_equal(r, want[m] == NULL ? -1 : 0);
			if (want[m] == NULL)
				assert_string_equal(buf_cstr(&b), "xy");
			else
				assert_int_equal(b.len, 2 + strlen(want[m]));
			buf_deinit(&b);
		}
	}
	/*
	 * Lenient decoding reads the characters left as one stream: padding in the middle
	 * does not restart a quantum. Embedded NUL: an error, except where junk is skipped.
	 */
	{
		unsigned char dst[4];
		size_t n;

		assert_int_equal(base64_decode("Zm\0v", 4, BASE64_STRICT, dst, sizeof(dst), &n),
		    -1);
		assert_int_equal(base64_decode("Zm\0v", 4, BASE64_ENCODED_WORD, dst, sizeof(dst),
		    &n), -1);
		assert_int_equal(base64_decode("Zm\0v", 4, BASE64_LENIENT, dst, sizeof(dst), &n),
		    0);
		assert_int_equal(n, 2);
		assert_memory_equal(dst, "fk", 2);
	}
}

static void
test_long_lenient(void **state)
{
	/* more than one internal chunk, with a line break every 76 characters */
	struct buf plain, enc, lines, dec;

	buf_init(&plain, BUF_UNLIMITED);
	buf_init(&enc, BUF_UNLIMITED);
	buf_init(&lines, BUF_UNLIMITED);
	buf_init(&dec, BUF_UNLIMITED);
	for (unsigned i = 0; i < 1000; i++)
		buf_append_c(&plain, (char)(i * 7));
	assert_int_equal(base64_encode(plain.data, plain.len, &enc), 0);
	for (size_t i = 0; i < enc.len; i += 76) {
		buf_append(&lines, enc.data + i, MIN((size_t)76, enc.len - i));
		buf_append_str(&lines, "\r\n");
	}
	assert_int_equal(base64_decode_buf(lines.data, lines.len, BASE64_LENIENT, &dec), 0);
	assert_int_equal(dec.len, plain.len);
	assert_memory_equal(dec.data, plain.data, plain.len);
	buf_reset(&dec);
	assert_int_equal(base64_decode_buf(lines.data, lines.len, BASE64_STRICT, &dec), -1);
	assert_int_equal(dec.len, 0);
	assert_int_equal(base64_decode_buf(enc.data, enc.len, BASE64_STRICT, &dec), 0);
	assert_int_equal(dec.len, plain.len);
	buf_deinit(&plain);
	buf_deinit(&enc);
	buf_deinit(&lines);
	buf_deinit(&dec);
}

static void
test_buf_limit(void **state)
{
	struct buf b;

	buf_init(&b, 5);
	assert_int_equal(base64_decode_buf("Zm9vYmFy", 8, BASE64_STRICT, &b), -1);
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
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_long_lenient),
		cmocka_unit_test(test_buf_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
