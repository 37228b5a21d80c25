/*
 * fuzz_jmap_request.c — libFuzzer target for the JMAP request decoder and result
 * references (src/jmap/jmap_request.c): the input is a request body; a decoded request
 * has well-formed calls, and each call's arguments are resolved against the responses
 * made so far (every call echoed back as its own response, as Core/echo would), so the
 * JSON pointer evaluation with '*' runs on attacker-chosen documents and paths.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "jmap/jmap_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jmap_request req;
	const char *detail, *limit, *etype;
	json_t *responses, *call;
	size_t i;

	if (jmap_request_decode(data, size, &req, &detail, &limit) != JMAP_OK)
		return 0;
	if (json_array_size(req.calls) > JMAP_MAX_CALLS_IN_REQUEST)
		abort();
	responses = json_array();
	json_array_foreach(req.calls, i, call) {
		json_t *args = json_deep_copy(json_array_get(call, 1));

		if (args == NULL)
			abort();
		if (jmap_resolve_refs(args, responses, &etype) < 0) {
			json_decref(args);
			continue;
		}
		(void)json_array_append_new(responses, json_pack("[s, o, s]",
		    json_string_value(json_array_get(call, 0)), args,
		    json_string_value(json_array_get(call, 2))));
	}
	json_decref(responses);
	jmap_request_free(&req);
	return 0;
}
