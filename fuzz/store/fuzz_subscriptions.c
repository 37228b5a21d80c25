/*
 * fuzz_subscriptions.c — libFuzzer target for the subscriptions-file parser (v1/v2)
 * and mailbox-name validation: every accepted name must pass mstore_name_check (so it
 * can never become a path), and our v2 output must parse back to the same list.
 */
#include <stddef.h>
#include <stdint.h>

#include "store/store_format.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **names, **names2;
	size_t count, count2, i;
	struct buf out;

	(void)subs_parse((const char *)data, size, &names, &count);
	for (i = 0; i < count; i++) {
		if (mstore_name_check(names[i]) != STORE_OK)
			panic("invalid name accepted");
		if (i > 0 && strcmp(names[i - 1], names[i]) >= 0)
			panic("not sorted/unique");
	}
	buf_init(&out, BUF_UNLIMITED);
	(void)subs_format(names, count, &out);
	if (subs_parse(out.data, out.len, &names2, &count2) != 0 || count2 != count)
		panic("own output rejected");
	for (i = 0; i < count; i++)
		if (strcmp(names[i], names2[i]) != 0)
			panic("round trip differs");
	mstore_names_free(names, count);
	mstore_names_free(names2, count2);
	buf_deinit(&out);
	/* the whole input as one mailbox name */
	(void)store_name_check_len((const char *)data, size);
	return 0;
}
