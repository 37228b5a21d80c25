/*
 * fuzz_jmap_bodyprop.c — libFuzzer target for the pure decoders of src/jmap/jmap_bodyprop.c:
 * the input is read both as a header:{name}:as{form}[:all] property name and as a part
 * blob id. A parsed property's name is within its bound and a prefix-free copy of the
 * input; a parsed blob id has 1..JMAP_PART_DEPTH_MAX part numbers, none 0.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jmap/jmap_bodyprop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jmap_header_prop hp;
	uint32_t nums[JMAP_PART_DEPTH_MAX];
	unsigned depth;
	uint64_t id;

	if (jmap_header_prop_parse((const char *)data, size, &hp) == 0) {
		size_t n = strlen(hp.name);

		if (n == 0 || n > JMAP_HEADER_NAME_MAX || memcmp(data + 7, hp.name, n) != 0)
			abort();
	}
	if (jmap_part_blob_parse((const char *)data, size, &id, nums, &depth) == 0) {
		if (depth == 0 || depth > JMAP_PART_DEPTH_MAX || id == 0 || size > JMAP_ID_MAX)
			abort();
		for (unsigned i = 0; i < depth; i++)
			if (nums[i] == 0)
				abort();
	}
	return 0;
}
