/*
 * imap_fetch_parse.h — parsing the FETCH item list (RFC 3501 §6.4.5: macros ALL, FAST,
 * FULL; UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE RFC822
 * RFC822.HEADER RFC822.TEXT BODY[section]<partial> BODY.PEEK[...]; RFC 8970 PREVIEW and
 * PREVIEW (LAZY); RFC 7162 MODSEQ; RFC 8474 EMAILID and THREADID; RFC 3516
 * BINARY[part]<partial>, BINARY.PEEK[...], BINARY.SIZE[part]) into a request the
 * FETCH command executes. Pure: arguments in, items out; no I/O, no globals. Used by the
 * mail process on client input; bounded by IMAP_FETCH_MAX_ITEMS.
 */
#ifndef BUZON_IMAP_FETCH_PARSE_H
#define BUZON_IMAP_FETCH_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "mail/section.h"
#include "proto/imap_parser.h"

#define IMAP_FETCH_MAX_ITEMS 100

enum imap_fetch_kind {
	IMAP_FETCH_UID,
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_SAVEDATE,		/* RFC 8514 */
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY,		/* non-extensible BODYSTRUCTURE */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_SECTION,		/* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER/TEXT */
	IMAP_FETCH_PREVIEW,		/* RFC 8970 */
	IMAP_FETCH_MODSEQ,		/* RFC 7162 §3.1.4.1 */
	IMAP_FETCH_EMAILID,		/* RFC 8474 */
	IMAP_FETCH_THREADID,		/* RFC 8474: the thread id kept in the index */
	IMAP_FETCH_BINARY,		/* RFC 3516 BINARY[part]<partial>, BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,		/* RFC 3516 BINARY.SIZE[part] */
};

struct imap_fetch_item {
	enum imap_fetch_kind kind;
	bool peek;			/* does not set \Seen */
	bool lazy;			/* PREVIEW (LAZY): NIL when not cached (RFC 8970 §3.2) */
	struct mail_section section;	/* IMAP_FETCH_SECTION, _BINARY, _BINARY_SIZE */
	bool partial;
	uint64_t origin, count;		/* <origin.count> */
	char *name;			/* response name, e.g. "BODY[1.MIME]<0>", "RFC822",
					   "BINARY[1]", "BINARY.SIZE[1]" */
};

struct imap_fetch_request {
	struct imap_fetch_item *items;
	unsigned count;
	bool need_message;		/* some item needs the message file */
	bool need_parse;		/* some item needs the MIME structure */
	bool sets_seen;			/* a non-PEEK body item */
	bool has_flags;
	bool has_uid;
	bool has_modseq;
};

/*
 * Parse the item argument(s) of FETCH (everything after the sequence set): one atom or
 * one parenthesised list. uid_cmd adds UID (UID FETCH always returns it). Returns 0 and
 * *req_r (free with imap_fetch_request_free) or -1 with a static *error_r for BAD.
 */
int imap_fetch_parse(const struct imap_arg *args, unsigned argc, bool uid_cmd,
    struct imap_fetch_request **req_r, const char **error_r);
/* Add MODSEQ (FETCH with CHANGEDSINCE, RFC 7162 §3.1.4.1), unless there. 0 or -1 (too
 * many items). */
int imap_fetch_request_add_modseq(struct imap_fetch_request *r);
void imap_fetch_request_free(struct imap_fetch_request **req);

#endif
