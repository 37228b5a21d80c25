/*
 * parse_helper.h — shared by the src/imap unit tests: run a command line through the real
 * IMAP parser (fed whole or one byte at a time) to get the argument tree the session
 * would pass to a command handler.
 */
#ifndef BUZON_TEST_IMAP_PARSE_HELPER_H
#define BUZON_TEST_IMAP_PARSE_HELPER_H

#include <stdbool.h>
#include <string.h>

#include "proto/imap_parser.h"

/*
 * Parse "t CMD <args>\r\n" with the post-auth limits, fed whole (split == 0), in two
 * pieces split at byte `split`, or one byte at a time (split == (size_t)-1). Returns the
 * parser (caller destroys it) with *args_r / *argc_r set, or NULL if it does not parse.
 */
static inline struct imap_parser *
helper_parse_split(const char *line, size_t split, const struct imap_arg **args_r,
    unsigned *argc_r)
{
	struct imap_parser_limits l;
	struct imap_parser *p;
	size_t len = strlen(line), pos = 0, used;
	enum imap_parse_result r = IMAP_PARSE_MORE;

	imap_parser_limits_default(&l, true);
	p = imap_parser_create(&l, IMAP_PARSER_FLAG_UTF8);
	while (pos < len) {
		size_t n = split == (size_t)-1 ? 1 : split > pos ? split - pos : len - pos;

		r = imap_parser_feed(p, (const unsigned char *)line + pos, n, &used);
		pos += used;
		if (r == IMAP_PARSE_DONE || r == IMAP_PARSE_ERROR)
			break;
		if (r != IMAP_PARSE_MORE && r != IMAP_PARSE_LITERAL_CONT)
			break;
	}
	if (r != IMAP_PARSE_DONE) {
		imap_parser_destroy(&p);
		return NULL;
	}
	*args_r = imap_parser_args(p, argc_r);
	return p;
}

static inline struct imap_parser *
helper_parse(const char *line, bool bytewise, const struct imap_arg **args_r,
    unsigned *argc_r)
{
	return helper_parse_split(line, bytewise ? (size_t)-1 : 0, args_r, argc_r);
}

#endif
