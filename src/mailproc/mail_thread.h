/*
 * mail_thread.h — the thread id of a message (RFC 8474 §5.2 THREADID, RFC 8621 §3), as
 * IMAP FETCH/SEARCH THREADID and JMAP give it: the one kept in the index for its EMAILID,
 * fixed from its header the first time it is asked for (mstore_threads_assign).
 */
#ifndef BUZON_MAILPROC_MAIL_THREAD_H
#define BUZON_MAILPROC_MAIL_THREAD_H

#include <stdint.h>

#include "store/store.h"

/* The thread id of message uid of box (EMAILID emailid); never 0. Reads the message's
 * header when the id is not kept yet; the message array of box may change then (a
 * rescan, mailbox_msg_open). */
uint64_t mail_thread_id(struct mstore *store, struct mailbox *box, uint32_t uid,
    uint64_t emailid);
/* mstore_added_cb (ctx: the struct mstore): a message that has just arrived gets its
 * thread id now (one index write), so that the first Mailbox/get, Email/get or FETCH
 * THREADID after it does not read its file. */
void mail_thread_added(void *ctx, uint64_t emailid, int fd);

#endif
