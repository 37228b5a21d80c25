/*
 * imap_thread.h — the threading algorithms of RFC 5256 §4 (THREAD=ORDEREDSUBJECT and
 * THREAD=REFERENCES) over a set of messages described by their header fields, and the
 * "* THREAD" response's nested lists. Pure: messages in, text out; no I/O. Used by the
 * mail process on data from the user's messages (untrusted): the message IDs kept per
 * message are bounded (IMAP_THREAD_MAX_REFS), and nothing recurses on the depth of a
 * thread, so a hostile References chain cannot exhaust the stack.
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
};

struct imap_thread;

struct imap_thread *imap_thread_create(void);
void imap_thread_destroy(struct imap_thread **t);

/*
 * Add a message, in mailbox order. id is what the answer names (sequence number or
 * UID); date orders siblings (RFC 5256 §2.2 sent date, as SORT DATE orders it);
 * subject[0..subject_len) is its base subject already folded for comparison, reply
 * whether base subject extraction removed a reply or forward marker. message_id,
 * references and in_reply_to are the raw header values (NULL when absent): the
 * message IDs ("<...>") are taken from them.
 */
void imap_thread_add(struct imap_thread *t, uint32_t id, uint64_t date, const char *subject,
    size_t subject_len, bool reply, const char *message_id, const char *references,
    const char *in_reply_to);

/*
 * Append the threads (RFC 5256 §4, the thread-list of "* THREAD"; nothing when there
 * are no messages) to out. Returns 0, or -1 when out's limit was reached.
 */
int imap_thread_format(struct imap_thread *t, enum imap_thread_algorithm alg,
    struct buf *out);

#endif
