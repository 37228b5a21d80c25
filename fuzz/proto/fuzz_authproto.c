/*
 * fuzz_authproto.c — libFuzzer target for the Dovecot auth protocol line parser
 * (src/proto/authproto.c): the input is parsed as a stream of client lines in one piece
 * and byte by byte (same commands, errors and consumed total; every field inside its
 * line, no line over the limit), and escaped as a user name (no TAB, CR, LF or NUL left).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/authproto.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const struct authproto_str *s, const uint8_t *line, size_t used)
{
	if (s->p == NULL)
		return;
	if ((const uint8_t *)s->p < line || (const uint8_t *)s->p + s->len > line + used ||
	    memchr(s->p, '\t', s->len) != NULL || memchr(s->p, '\n', s->len) != NULL)
		abort();
}

/* Parse the whole stream; the summary is "id/err/req;" per result. */
static void
parse_stream(const uint8_t *data, size_t size, size_t step, struct buf *sum)
{
	struct authproto_cmd cmd;
	size_t have = step == 0 ? size : (size < step ? size : step), off = 0, used;

	for (;;) {
		enum authproto_result r = authproto_parse(data + off, have - off, &cmd, &used);

		if (used > have - off || used > AUTHPROTO_LINE_MAX)
			abort();
		if (r == AUTHPROTO_DONE) {
			const struct authproto_str *f[] = { &cmd.word, &cmd.mech, &cmd.service,
			    &cmd.rip, &cmd.lip, &cmd.resp, &cmd.data };

			for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
				inside(f[i], data + off, used);
			(void)buf_appendf(sum, "%d/%u/%d;", (int)cmd.id, cmd.req_id,
			    (int)cmd.secured);
		} else if (r == AUTHPROTO_ERROR) {
			(void)buf_appendf(sum, "e%d;", (int)cmd.error);
			if (cmd.error == AUTHPROTO_ERR_TOOLONG) {
				if (used != 0)
					abort();
				break;
			}
		} else if (used != 0) {
			abort();
		}
		off += used;
		if (r == AUTHPROTO_MORE) {
			if (have == size)
				break;
			have = step == 0 ? size : (size - have < step ? size : have + step);
		}
	}
	(void)buf_appendf(sum, "off=%zu", off);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;
	char out[512];
	size_t n = size < 200 ? size : 200;
	int len;

	buf_init(&a, 1 << 22);
	buf_init(&b, 1 << 22);
	parse_stream(data, size, 0, &a);
	parse_stream(data, size, 1, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	len = authproto_escape((const char *)data, n, out, sizeof(out));
	if (len < 0 || (size_t)len < n || (size_t)len > 2 * n || out[len] != '\0' ||
	    memchr(out, '\t', (size_t)len) != NULL || memchr(out, '\n', (size_t)len) != NULL ||
	    memchr(out, '\r', (size_t)len) != NULL || memchr(out, '\0', (size_t)len) != NULL)
		abort();
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
