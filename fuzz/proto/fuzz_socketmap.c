/*
 * fuzz_socketmap.c — libFuzzer target for Postfix's socketmap requests
 * (src/proto/socketmap.c): the input is parsed as a stream of netstrings in one piece
 * and from every growing prefix (a prefix never gives DONE for more than it holds, nor
 * an error the whole input does not give), name and key inside the request, and the
 * key is used as a reply text (a well-formed netstring that parses back).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socketmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, used;
	struct socketmap_req q;
	enum socketmap_result r;

	while ((r = socketmap_parse(data + off, size - off, &q, &used)) == SOCKETMAP_DONE) {
		const char *end = (const char *)data + off + used;

		if (used == 0 || used > size - off || q.name_len == 0 || q.key_len == 0 ||
		    q.name < (const char *)data + off || q.key + q.key_len >= end ||
		    memchr(q.name, ' ', q.name_len) != NULL)
			abort();
		/* a shorter prefix of this request is never complete */
		if (socketmap_parse(data + off, used - 1, &q, &used) == SOCKETMAP_DONE)
			abort();
		off = (size_t)(end - (const char *)data);
	}
	if (used != 0)
		abort();
	if (size < 200) {
		char text[256], out[300];
		struct socketmap_req back;
		int n;

		memcpy(text, data, size);
		text[size] = '\0';
		n = socketmap_reply(out, sizeof(out), "OK", text);
		if (n > 0 && strlen(text) > 0 && memchr(text, '\0', size) == NULL &&
		    (socketmap_parse((const unsigned char *)out, (size_t)n, &back, &used) !=
		    SOCKETMAP_DONE || used != (size_t)n))
			abort();
	}
	return 0;
}
