/*
 * fuzz_policy.c — libFuzzer target for Postfix's policy delegation requests
 * (src/proto/policy.c): the input is parsed as a stream of requests, the attributes
 * found must lie inside the request, a shorter prefix of a request is never complete,
 * and the input's first line is used as a reply action (which then has no line break).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, used = 0;
	struct policy_req q;

	while (policy_parse(data + off, size - off, &q, &used) == POLICY_DONE) {
		const char *start = (const char *)data + off, *end = start + used;

		if (used == 0 || used > size - off || used > POLICY_REQUEST_MAX ||
		    (q.recipient != NULL && (q.recipient < start ||
		    q.recipient + q.recipient_len >= end)) ||
		    (q.request != NULL && (q.request < start || q.request + q.request_len >= end)) ||
		    (!q.have_size && q.size != 0))
			abort();
		if (policy_parse(data + off, used - 1, &q, &used) == POLICY_DONE)
			abort();
		off = (size_t)(end - (const char *)data);
	}
	if (used != 0)
		abort();
	if (size < 200) {
		char action[256], out[300];
		int n;

		memcpy(action, data, size);
		action[size] = '\0';
		n = policy_reply(out, sizeof(out), action);
		if (n > 0 && (strchr(out, '\n') != out + n - 2 || strlen(out) != (size_t)n))
			abort();
	}
	return 0;
}
