/*
 * imap_search_parse.h — parsing an IMAP SEARCH program (RFC 3501 §6.4.4: every search
 * key, sequence sets and "$" (RFC 5182), parenthesised groups, OR/NOT; CHARSET; RFC 4731
 * ESEARCH RETURN options (and RFC 5182 SAVE, RFC 9394 PARTIAL, RFC 5267 CONTEXT and UPDATE); RFC 8474 EMAILID and
 * THREADID; RFC 5032 OLDER and YOUNGER) into a tree
 * the SEARCH command evaluates. Pure: arguments in, tree out; no
 * I/O, no globals. Used by the mail process on client input; recursion is bounded by
 * IMAP_SEARCH_MAX_DEPTH and the tree by IMAP_SEARCH_MAX_KEYS.
 */
#ifndef BUZON_IMAP_SEARCH_PARSE_H
#define BUZON_IMAP_SEARCH_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "proto/imap_parser.h"
#include "proto/seqset.h"

#define IMAP_SEARCH_MAX_DEPTH	64
#define IMAP_SEARCH_MAX_KEYS	1000

enum imap_search_type {
	SEARCH_ALL,
	SEARCH_AND,		/* children: all must match */
	SEARCH_OR,		/* exactly two children */
	SEARCH_NOT,		/* one child */
	SEARCH_SEQSET,		/* set: sequence numbers */
	SEARCH_UIDSET,		/* set: UIDs */
	SEARCH_FLAG,		/* flag set (MAILBOX_FLAG_* bit in `flag`) */
	SEARCH_KEYWORD,		/* str */
	SEARCH_RECENT,
	SEARCH_NEW,		/* RECENT UNSEEN */
	SEARCH_OLD,		/* NOT RECENT */
	SEARCH_LARGER,		/* number */
	SEARCH_SMALLER,
	SEARCH_BEFORE,		/* date: internal date, day granularity (UTC) */
	SEARCH_ON,
	SEARCH_SINCE,
	SEARCH_SENTBEFORE,	/* date: Date: header */
	SEARCH_SENTON,
	SEARCH_SENTSINCE,
	SEARCH_HEADER,		/* field (NULL for TEXT-like any header), str */
	SEARCH_BODY,		/* str */
	SEARCH_TEXT,		/* str */
	SEARCH_SAVEDBEFORE,	/* date: save date (RFC 8514) */
	SEARCH_SAVEDON,
	SEARCH_SAVEDSINCE,
	SEARCH_SAVEDATESUPPORTED,
	SEARCH_MODSEQ,		/* number: MODSEQ >= it (RFC 7162 §3.1.5) */
	SEARCH_EMAILID,		/* number: the id (RFC 8474), 0 matches nothing */
	SEARCH_THREADID,	/* RFC 8474: the thread id kept in the index */
	SEARCH_OLDER,		/* number: seconds (RFC 5032); date: now - number, */
	SEARCH_YOUNGER,		/* filled in by the evaluator at the start of a run */
};

struct imap_search_key {
	enum imap_search_type type;
	struct imap_search_key *child;	/* AND/OR/NOT: first child */
	struct imap_search_key *next;	/* sibling */
	uint8_t flag;
	uint64_t number;
	time_t date;			/* 00:00 UTC of the day */
	struct seqset *set;		/* NULL for "$" until the caller fills it in */
	bool saved;			/* UIDSET "$": the saved result (RFC 5182) */
	char *field;			/* HEADER field name, FROM/TO/CC/BCC/SUBJECT */
	char *str;			/* search string (UTF-8) */
	size_t str_len;
	void *matcher;			/* for the evaluator (mail_search_key) */
	int8_t cached_field;		/* evaluator: field is in the cached header
					 * fields (1), is not (-1), not known yet (0) */
};

#define SEARCH_RETURN_MIN	0x01
#define SEARCH_RETURN_MAX	0x02
#define SEARCH_RETURN_COUNT	0x04
#define SEARCH_RETURN_ALL	0x08
#define SEARCH_RETURN_SAVE	0x10	/* RFC 5182: keep the result for "$" */
#define SEARCH_RETURN_PARTIAL	0x20	/* RFC 9394: partial_first:partial_last */
#define SEARCH_RETURN_UPDATE	0x40	/* RFC 5267 §4.3: keep the result up to date */

struct imap_search_program {
	struct imap_search_key *root;	/* an AND node */
	bool esearch;			/* RETURN (...) given: answer with * ESEARCH */
	unsigned return_opts;		/* SEARCH_RETURN_* (empty RETURN () = ALL) */
	/* RFC 9394 PARTIAL: the range as written (both > 0, or both < 0 counting from
	 * the last result, -1 the last); its positions are the results between them */
	int64_t partial_first, partial_last;
	bool needs_message;		/* some key needs the message contents */
	bool has_seqset;		/* some key uses sequence numbers */
	bool has_modseq;		/* a MODSEQ key: the result tells the highest MODSEQ */
	bool uses_saved;		/* some key is "$" (SEARCH_UIDSET, saved) */
};

enum imap_search_parse_result {
	IMAP_SEARCH_OK,
	IMAP_SEARCH_BAD,		/* syntax: BAD *error_r */
	IMAP_SEARCH_BADCHARSET,		/* NO [BADCHARSET (UTF-8 US-ASCII)] */
};

/* An RFC 8474 EMAILID as the server writes it: "M" and 16 lowercase hex digits of the
 * store's 64-bit id. Parse gives 0 for any other objectid (no message has it). */
#define IMAP_EMAILID_LEN	17
uint64_t imap_emailid_parse(const char *s, size_t len);
/* RFC 8474 §7: objectid = 1*255(ALPHA / DIGIT / "_" / "-") */
bool imap_objectid_valid(const char *s, size_t len);

/*
 * Parse args[0..argc) (after "SEARCH"). On OK, *prog_r is owned by the caller (free with
 * imap_search_program_free); otherwise *error_r is a static text.
 */
enum imap_search_parse_result imap_search_parse(const struct imap_arg *args, unsigned argc,
    struct imap_search_program **prog_r, const char **error_r);
/* Frees the tree; free_matcher (may be NULL) is called for each non-NULL matcher. */
void imap_search_program_free(struct imap_search_program **prog,
    void (*free_matcher)(void *matcher));

#endif
