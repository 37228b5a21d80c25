/*
 * lmtp_fake.h — fake environment for src/lmtp/lmtp_session.c (the unit test and the fuzz
 * target): input from a byte string that "arrives" piece by piece, replies and the
 * message into buffers, recipient lookups and deliveries queued and answered by
 * lmtp_fake_settle from a caller's function, in reverse order of their requests (the
 * replies must still come in RCPT order).
 */
#ifndef BUZON_LMTP_FAKE_H
#define BUZON_LMTP_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lmtp/lmtp_session.h"

#define LMTP_FAKE_PENDING	1024

struct lmtp_fake;
/* status (IPC_DELIVER_*) for a lookup (deliver = false) or a delivery of addr */
typedef uint32_t lmtp_fake_answer_fn(const struct lmtp_fake *f, const char *addr, bool deliver);

enum lmtp_fake_event {
	LMTP_FAKE_MSG_DONE,	/* the final dot was read (f->pos is just after it) */
	LMTP_FAKE_MSG_CUT,	/* the session ended inside DATA */
	LMTP_FAKE_TXN_END,	/* the transaction ends (f->acc still holds its recipients) */
};
typedef void lmtp_fake_event_fn(struct lmtp_fake *f, enum lmtp_fake_event ev);

struct lmtp_fake {
	struct lmtp_session *s;
	const unsigned char *in;
	size_t arrived, pos;
	struct buf out;		/* replies */
	struct buf msg;		/* the message as written */
	struct buf log;		/* deliveries: "addr folder prefix-hash" lines */
	lmtp_fake_answer_fn *answer;
	lmtp_fake_event_fn *event;	/* NULL: none */
	void *arg;
	struct buf acc;		/* recipients accepted in this transaction, NUL-terminated */
	size_t nacc;
	size_t data_start;	/* input offset of the message's first byte */
	bool in_data;
	uint32_t next_id;
	uint32_t lookup_id;	/* 0: none pending */
	char lookup_addr[LMTP_FAKE_PENDING];
	struct { uint32_t id; char addr[300]; } dlv[LMTP_FAKE_PENDING];
	size_t ndlv;
	bool msg_open, sealed, closed, full_once;
	unsigned opens, writes;
};

void lmtp_fake_init(struct lmtp_fake *f, const unsigned char *in, const char *hostname,
    uint64_t max_size, size_t msg_max);
void lmtp_fake_deinit(struct lmtp_fake *f);
/* Let n more bytes arrive, then process and answer until nothing is pending. */
void lmtp_fake_arrive(struct lmtp_fake *f, size_t n);
/* The client shuts down its side. */
void lmtp_fake_eof(struct lmtp_fake *f);

#endif
