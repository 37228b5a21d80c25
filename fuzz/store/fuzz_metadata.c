/*
 * fuzz_metadata.c — libFuzzer target for the METADATA file parser (store/metadata.c;
 * the mailbox owner can write the file). Checks that an accepted file keeps the limits,
 * has valid sorted entry names, and survives a serialize/parse round trip unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/metadata.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[METADATA_ENTRY_NAME_MAX + 1];
	struct metadata *md = metadata_new(), *md2;
	const char *err;
	struct buf out;
	size_t i;

	if (metadata_parse(md, data, size, &err) < 0) {
		metadata_close(&md);
		return 0;
	}
	if (md->bytes > METADATA_USER_BYTES_MAX)
		panic("over the byte limit");
	for (i = 0; i < md->count; i++) {
		const struct metadata_entry *e = &md->e[i];

		if (e->value_len > METADATA_VALUE_MAX ||
		    metadata_entry_name_check(e->name, strlen(e->name), name, sizeof(name)) < 0 ||
		    strcmp(name, e->name) != 0)
			panic("bad entry accepted");
		if (metadata_find(md, e->mailbox, e->name) != e)
			panic("entries not sorted");
	}
	buf_init(&out, BUF_UNLIMITED);
	if (metadata_serialize(md, &out) < 0)
		panic("serialize failed");
	if (out.len != size || memcmp(out.data, data, size) != 0)
		panic("round trip differs");
	md2 = metadata_new();
	if (metadata_parse(md2, (const unsigned char *)out.data, out.len, &err) < 0)
		panic("own output rejected");
	metadata_close(&md2);
	buf_deinit(&out);
	metadata_close(&md);
	return 0;
}
