/*
 * fuzz_mutf7.c — libFuzzer target for modified UTF-7. The input is tried both as
 * modified UTF-7 and as UTF-8; whatever is accepted must round-trip to the identical
 * bytes, and the validity check must agree with the converter.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/mutf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct buf a, b;

	buf_init(&a, BUF_UNLIMITED);
	buf_init(&b, BUF_UNLIMITED);
	if (mutf7_to_utf8(s, size, &a) == 0) {
		if (!mutf7_is_valid(s, size) || !mutf7_utf8_is_valid(a.data, a.len))
			abort();
		if (mutf7_from_utf8(a.data, a.len, &b) != 0 || b.len != size ||
		    (size > 0 && memcmp(b.data, s, size) != 0))
			abort();
	} else if (mutf7_is_valid(s, size)) {
		abort();
	}
	buf_reset(&a);
	buf_reset(&b);
	if (mutf7_from_utf8(s, size, &a) == 0) {
		if (!mutf7_utf8_is_valid(s, size) || !mutf7_is_valid(a.data, a.len))
			abort();
		if (mutf7_to_utf8(a.data, a.len, &b) != 0 || b.len != size ||
		    (size > 0 && memcmp(b.data, s, size) != 0))
			abort();
	} else if (mutf7_utf8_is_valid(s, size)) {
		abort();
	}
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
