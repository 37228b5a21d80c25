/*
 * fuzz_pop3.c — libFuzzer target for the POP3 helpers: the input is parsed as a stream
 * of command lines in one piece and byte by byte (same commands, errors and consumed
 * total, every line within the limit), encoded for RETR and for TOP in one piece and in
 * small pieces (identical output, dot-stuffed, CRLF only), and used as a UIDL template.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/pop3_cmd.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse the whole stream; the summary is "id/err/argc;" per result. */
static void
parse_stream(const uint8_t *data, size_t size, size_t step, struct buf *sum)
{
	struct pop3_cmd_parser p;
	struct pop3_cmd cmd;
	size_t have = step == 0 ? size : (size < step ? size : step), off = 0, used;

	pop3_cmd_parser_init(&p, POP3_LINE_MAX);
	for (;;) {
		enum pop3_parse_result r = pop3_cmd_parse(&p, data + off, have - off, &cmd, &used);

		if (used > have - off)
			abort();
		off += used;
		if (r == POP3_PARSE_DONE) {
			if (cmd.keyword.len == 0 || cmd.keyword.len > POP3_LINE_MAX ||
			    memchr(cmd.keyword.p, ' ', cmd.keyword.len) != NULL)
				abort();
			(void)buf_appendf(sum, "%d/%u/%zu;", (int)cmd.id, cmd.argc, cmd.rest.len);
		} else if (r == POP3_PARSE_ERROR) {
			(void)buf_appendf(sum, "e%d;", (int)cmd.error);
		} else if (used == 0) {
			if (have == size)
				break;
			have = step == 0 ? size : (size - have < step ? size : have + step);
		}
	}
	(void)buf_appendf(sum, "off=%zu", off);
}

static void
encode(const uint8_t *data, size_t size, bool top, uint64_t lines, size_t step,
    struct buf *out)
{
	struct pop3_encoder e;
	unsigned char ob[7];
	size_t off = 0, used, w;

	pop3_encoder_init(&e, top, lines);
	while (off < size) {
		size_t n = step == 0 || size - off < step ? size - off : step;

		w = pop3_encode(&e, data + off, n, ob, sizeof(ob), &used);
		if (w > sizeof(ob) || used > n || (w == 0 && used == 0))
			abort();
		(void)buf_append(out, ob, w);
		off += used;
	}
	(void)buf_append(out, ob, pop3_encoder_finish(&e, ob, sizeof(ob)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;
	char uidl[POP3_UIDL_MAX + 1], *fmt;

	buf_init(&a, 1 << 20);
	buf_init(&b, 1 << 20);
	parse_stream(data, size, 0, &a);
	parse_stream(data, size, 1, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	for (int top = 0; top < 2; top++) {
		buf_reset(&a);
		buf_reset(&b);
		encode(data, size, top, size % 5, 0, &a);
		encode(data, size, top, size % 5, 3, &b);
		if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
			abort();
		/* CRLF only, and the end marker */
		for (size_t i = 0; i < a.len; i++)
			if (a.data[i] == '\n' && (i == 0 || a.data[i - 1] != '\r'))
				abort();
		if (a.len < 3 || memcmp(a.data + a.len - 3, ".\r\n", 3) != 0)
			abort();
	}
	fmt = xstrndup((const char *)data, size < 80 ? size : 80);
	if (pop3_uidl_format_check(fmt) &&
	    pop3_uidl_format(fmt, 12345, 67890, uidl, sizeof(uidl)) == 0)
		abort();
	free(fmt);
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
