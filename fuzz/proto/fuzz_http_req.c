/*
 * fuzz_http_req.c — libFuzzer target for the metrics endpoint's HTTP request heads
 * (src/proto/http_req.c): a complete head lies inside the input, within HTTP_REQ_MAX,
 * its method and target inside its request line; a shorter prefix of it is never
 * complete; a result other than DONE consumes nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req q;
	size_t used = 0;
	enum http_req_result r = http_req_parse(data, size, &q, &used);

	if (r != HTTP_REQ_DONE) {
		if (used != 0 || (r == HTTP_REQ_MORE && size >= HTTP_REQ_MAX))
			abort();
		return 0;
	}
	if (used == 0 || used > size || used > HTTP_REQ_MAX ||
	    q.method != (const char *)data || q.method_len == 0 ||
	    q.target != (const char *)data + q.method_len + 1 || q.target_len == 0 ||
	    q.target + q.target_len > (const char *)data + used || q.version_minor > 9 ||
	    http_req_path_len(&q) > q.target_len ||
	    memchr(data, '\0', used) != NULL)
		abort();
	if (http_req_parse(data, used - 1, &q, &used) == HTTP_REQ_DONE)
		abort();
	return 0;
}
