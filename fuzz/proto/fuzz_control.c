/*
 * fuzz_control.c — libFuzzer target for the control socket's request lines
 * (src/proto/control.c): the input is parsed as a stream of lines; a DONE consumes at
 * least one octet ending in LF, no prefix of it is DONE, every argument is a non-empty
 * string inside the request's own buffer without control characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct control_req req;
	const char *err;
	size_t off = 0, used, whole, prefix_used;
	enum control_result r;

	while ((r = control_parse(data + off, size - off, &req, &used, &err)) == CONTROL_DONE) {
		if (used == 0 || used > size - off || used > CONTROL_LINE_MAX ||
		    data[off + used - 1] != '\n' || err != NULL || req.argc > CONTROL_ARGS_MAX)
			abort();
		for (unsigned a = 0; a < req.argc; a++) {
			size_t n;

			if (req.argv[a] < req.buf || req.argv[a] >= req.buf + sizeof(req.buf))
				abort();
			n = strnlen(req.argv[a], (size_t)(req.buf + sizeof(req.buf) - req.argv[a]));
			if (n == 0 || req.argv[a] + n >= req.buf + sizeof(req.buf))
				abort();
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)req.argv[a][i] < 0x20)
					abort();
		}
		whole = used;
		if (control_parse(data + off, whole - 1, &req, &prefix_used, &err) == CONTROL_DONE)
			abort();
		off += whole;
	}
	if (used != 0 || (r == CONTROL_ERROR && err == NULL))
		abort();
	return 0;
}
