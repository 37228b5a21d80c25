/*
 * imap_thread.h — the threading algorithms of RFC 5256 §4 (THREAD=ORDEREDSUBJECT and
 * THREAD=REFERENCES) and of THREAD=REFS (draft-ietf-morg-inthread-01) over a set of
 * messages described by their header fields, and the "* THREAD" response's nested
 * lists. Pure: messages in, text out; no I/O. Used by the mail process on data from the
 * user's messages (untrusted): the message IDs kept per message are bounded
 * (IMAP_THREAD_MAX_REFS), and nothing recurses on the depth of a thread, so a hostile
 * References chain cannot exhaust the stack.
 */
#ifndef BUZON_IMAP_THREAD_H
#define BUZON_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* References kept per message: the last ones (nearest ancestors) when there are more. */
#define IMAP_THREAD_MAX_REFS	128

enum imap_thread_algorithm {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
	/* draft-ietf-morg-inthread-01 §4 THREAD=REFS: REFERENCES' links and sibling order
	 * without the subject gathering, threads ordered by their newest INTERNALDATE */
	IMAP_THREAD_REFS,
};

struct imap_thread;

/* One message for imap_thread_add: the strings are borrowed for the call only. */
struct imap_thread_msg {
	uint32_t id;		/* what the answer names (sequence number or UID) */
	uint64_t date;		/* RFC 5256 §2.2 sent date, as SORT DATE orders it */
	uint64_t arrival;	/* INTERNALDATE (REFS), encoded as date */
	const char *subject;	/* base subject already folded for comparison */
	size_t subject_len;
	bool reply;		/* base subject extraction removed a reply/forward marker */
	/* raw header values (NULL: absent); the message IDs ("<...>") are taken from
	 * them: the first of Message-ID, the last IMAP_THREAD_MAX_REFS of References,
	 * else the first of In-Reply-To */
	const char *message_id, *references, *in_reply_to;
	size_t message_id_len, references_len, in_reply_to_len;
};

struct imap_thread *imap_thread_create(void);
void imap_thread_destroy(struct imap_thread **t);

/* Add a message, in mailbox order. */
void imap_thread_add(struct imap_thread *t, const struct imap_thread_msg *msg);
/* Whether a header value holds at least one message ID ("<...>") as threading reads it. */
bool imap_thread_has_id(const char *v, size_t len);

/*
 * Append the threads (RFC 5256 §4, the thread-list of "* THREAD"; nothing when there
 * are no messages) to out. Returns 0, or -1 when out's limit was reached.
 */
int imap_thread_format(struct imap_thread *t, enum imap_thread_algorithm alg,
    struct buf *out);

#endif
