/*
 * fuzz_rfc2047.c — libFuzzer target for RFC 2047 decoding, charset conversion, address
 * parsing and SEARCH folding of arbitrary header text.
 */
#include <stddef.h>
#include <stdint.h>

#include "mail/address.h"
#include "mail/rfc2047.h"
#include "mail/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out;
	struct mail_address *list;
	unsigned int n;
	struct mail_search_key *k;

	buf_init(&out, 1 << 20);
	(void)mail_rfc2047_decode(&out, (const char *)data, size);
	k = mail_search_key_create(out.data == NULL ? "" : out.data, out.len);
	(void)mail_search_header_value(k, data, size);
	mail_search_key_destroy(&k);
	buf_deinit(&out);

	buf_init(&out, 1 << 20);
	(void)mail_charset_to_utf8(&out, "windows-1252", data, size);
	buf_deinit(&out);

	mail_address_parse((const char *)data, size, 100, &list, &n);
	mail_address_list_free(&list, n);
	return 0;
}
