/*
 * fuzz_jmap_mime.c — libFuzzer target for the MIME builder of Email/set create
 * (src/jmap/jmap_mime.c): the input is a JSON create object (parsed by jansson as a
 * request body is); blob ids starting with "B" are known blobs of a few bytes. A built
 * message has CRLF line ends only, no line over 998 octets, no header line of spaces
 * alone, and fits max_size.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jmap/jmap_mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
blob(void *ctx, const char *id, const unsigned char **data_r, size_t *len_r)
{
	static const unsigned char bytes[] = "From: a@b\r\n\r\nx\n\0\xff\r";

	(void)ctx;
	if (id[0] != 'B')
		return 0;
	*data_r = bytes;
	*len_r = sizeof(bytes) - 1;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jmap_mime_env env = { 1765000000, "fuzz.1", "example.org", 1 << 20, blob, NULL };
	json_error_t jerr;
	json_t *o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	const char *prop, *desc;
	struct buf b;

	if (o == NULL)
		return 0;
	buf_init(&b, BUF_UNLIMITED);
	if (jmap_mime_build(o, &env, &b, &prop, &desc) == JMAP_MIME_OK) {
		size_t col = 0, blanks = 0;
		bool header = true;

		if (b.len > env.max_size)
			abort();
		for (size_t i = 0; i < b.len; i++) {
			if (b.data[i] == '\n' && (i == 0 || b.data[i - 1] != '\r'))
				abort();
			if (b.data[i] == '\n') {
				/* col counts the CR: a header line of spaces alone is no fold */
				if (header && col > 1 && blanks == col - 1)
					abort();
				if (col == 1)
					header = false;
				col = blanks = 0;
				continue;
			}
			col++;
			blanks += b.data[i] == ' ' || b.data[i] == '\t';
			if (col > 999)
				abort();
		}
	} else if (b.len != 0) {
		abort();	/* a failure leaves nothing behind */
	}
	buf_deinit(&b);
	json_decref(o);
	return 0;
}
