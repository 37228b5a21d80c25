/*
 * fuzz_imap_parser.c — libFuzzer target for the IMAP command parser. The first input
 * byte picks the limits (pre-auth, post-auth, tiny) and the UTF8 flag, the next bytes
 * seed the chunk sizes; the rest is fed in those chunks through one parser, resetting
 * after each command and skipping streamed APPEND literals like the session does.
 * Checks the parser's own invariants (consumption, NUL-terminated strings, tree shape).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/imap_parser.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int marker;

static unsigned
check_args(const struct imap_arg *a, unsigned n, unsigned depth, unsigned max_depth)
{
	unsigned i, items = n;

	if (depth > max_depth)
		abort();
	for (i = 0; i < n; i++) {
		switch (a[i].type) {
		case IMAP_ARG_NIL:
		case IMAP_ARG_ATOM:
		case IMAP_ARG_QUOTED:
		case IMAP_ARG_LITERAL:
			if (a[i].str == NULL || a[i].str[a[i].len] != '\0')
				abort();
			if (a[i].type == IMAP_ARG_ATOM && a[i].len == 0)
				abort();
			break;
		case IMAP_ARG_LIST:
			items += check_args(a[i].list, a[i].list_count, depth + 1, max_depth);
			break;
		case IMAP_ARG_LITERAL_STREAM:
			if (a[i].stream_handle != &marker)
				abort();
			break;
		}
	}
	return items;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	size_t pos, avail, chunk_seed;
	uint64_t skip = 0;
	bool skipping = false;
	unsigned mode, commands = 0;

	if (size < 3)
		return 0;
	mode = data[0];
	chunk_seed = (size_t)data[1] << 8 | data[2];
	data += 3;
	size -= 3;
	imap_parser_limits_default(&lim, (mode & 3) != 0);
	if ((mode & 3) == 2) {
		lim.max_line = 128;
		lim.max_literal = 32;
		lim.max_stream_literal = 64;
		lim.max_depth = 3;
		lim.max_items = 16;
		lim.max_tag = 8;
	}
	p = imap_parser_create(&lim, ((mode & 4) ? IMAP_PARSER_FLAG_UTF8 : 0) |
	    ((mode & 8) ? IMAP_PARSER_FLAG_LITERAL_PLUS : 0));
	pos = avail = 0;
	while (pos < size) {
		enum imap_parse_result r;
		size_t used;

		if (pos == avail) {
			/* next chunk: 1..64 bytes, or everything */
			size_t n = (chunk_seed & 0x3f) + 1;

			chunk_seed = chunk_seed * 1103515245u + 12345u;
			if (mode & 8)
				n = size;
			avail = n > size - avail ? size : avail + n;
		}
		if (skipping) {
			size_t n = (size_t)MIN(skip, (uint64_t)(avail - pos));

			pos += n;
			skip -= n;
			if (skip == 0) {
				skipping = false;
				imap_parser_stream_done(p, &marker);
			}
			continue;
		}
		r = imap_parser_feed(p, data + pos, avail - pos, &used);
		if (used > avail - pos)
			abort();
		pos += used;
		switch (r) {
		case IMAP_PARSE_MORE:
			if (pos != avail)
				abort();
			break;
		case IMAP_PARSE_LITERAL_CONT:
			if (!imap_parser_literal_is_sync(p) || imap_parser_literal_size(p) >
			    lim.max_literal)
				abort();
			break;
		case IMAP_PARSE_LITERAL_STREAM:
			skip = imap_parser_literal_size(p);
			if (skip > lim.max_stream_literal)
				abort();
			if (skip == 0)
				imap_parser_stream_done(p, &marker);
			else
				skipping = true;
			break;
		case IMAP_PARSE_DONE: {
			unsigned n;
			const struct imap_arg *a = imap_parser_args(p, &n);

			if (imap_parser_tag(p) == NULL || imap_parser_command(p) == NULL)
				abort();
			if (check_args(a, n, 0, lim.max_depth) > lim.max_items)
				abort();
			imap_parser_reset(p);
			commands++;
			break;
		}
		case IMAP_PARSE_ERROR: {
			const char *text;
			enum imap_parse_error e = imap_parser_error(p, &text);

			if (e == IMAP_PARSE_ERROR_NONE || text[0] == '\0')
				abort();
			if (e == IMAP_PARSE_ERROR_FATAL) {
				imap_parser_destroy(&p);
				return 0;
			}
			imap_parser_reset(p);
			break;
		}
		}
	}
	imap_parser_destroy(&p);
	(void)commands;
	return 0;
}
