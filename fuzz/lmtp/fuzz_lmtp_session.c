/*
 * fuzz_lmtp_session.c — session fuzzer for LMTP: the real session state machine of
 * src/lmtp/lmtp_session.c (command lines, LHLO/MAIL/RCPT/DATA/RSET/QUIT, the DATA
 * decoder, recipient bookkeeping, replies in RCPT order) over the fake environment of
 * tests/unit/lmtp/lmtp_fake.c: the stream arrives in pieces, recipients' lookups and
 * deliveries are answered from a hash of the address and input byte 1, deliveries
 * last-first (the replies must still come in RCPT order).
 *
 * Input: byte 0 seeds the split points of the stream (0: all at once), byte 1 the
 * answers, the rest is what the MTA sends. Checked, besides ASan/UBSan and the fake's
 * own checks (no reply or read after close, no delivery of an unsealed message or past
 * the window, no write to a sealed message):
 *  - the session gives the same replies and messages whether the stream arrives whole,
 *    in the seeded pieces or (inputs under 1 KiB) one byte at a time;
 *  - each message as written and its end equal those of an independent whole-buffer
 *    decoder (dot-unstuffing, CRLF -> LF, end only at CRLF "." CRLF), and a message
 *    without bare CR/LF dot-stuffed again decodes to itself, ending exactly after the
 *    new final dot;
 *  - after the dot, exactly one reply per accepted recipient, in RCPT order: 552 for
 *    every one if the reference is over the size limit, else 554 for every one if it has
 *    a bare LF, else each recipient's own delivery result; replies are CRLF lines with
 *    a code;
 *  - nothing is read after QUIT, "Line too long" or too many bad commands.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lmtp_fake.h"
#include "proto/lmtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAIL_MAX	4096		/* mail_max_size, small to reach the limit */
#define MSG_KEEP	(1 << 20)	/* decoded bytes kept for the checks */

struct run {
	struct lmtp_fake f;
	uint8_t seed;
	struct buf dig;			/* message digests, for the split comparison */
	struct buf want;		/* the replies due after the current dot */
	size_t want_at;			/* where in f.out they start */
	bool due;
};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_lmtp_session: %s\n", what);
	abort();
}

/* memcmp for buffers that may be empty (a struct buf without data has NULL) */
static bool
same(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

static uint32_t
hash(const char *s, uint8_t seed)
{
	uint32_t h = 2166136261u ^ seed;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static uint32_t
hash_mem(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Lookups: 1 in 5 unknown, some temporary failures; deliveries: some full, some 451. */
static uint32_t
answer(const struct lmtp_fake *f, const char *addr, bool deliver)
{
	const struct run *r = f->arg;
	uint32_t h;

	if (!deliver) {
		h = hash(addr, r->seed);
		return h % 5 == 0 ? IPC_DELIVER_NOUSER : h % 11 == 1 ? IPC_DELIVER_TEMPFAIL :
		    IPC_DELIVER_OK;
	}
	h = hash(addr, (uint8_t)(r->seed + 1)) % 8;
	return h == 0 ? IPC_DELIVER_NOSPACE : h == 1 ? IPC_DELIVER_TEMPFAIL : IPC_DELIVER_OK;
}

/* The independent decoder: whole buffer, the same hold-back at its end. */
static bool
ref_decode(const uint8_t *p, size_t len, struct buf *out, size_t *end_r, uint64_t *cr_r,
    uint64_t *lf_r)
{
	size_t i = 0;

	*cr_r = *lf_r = 0;
	*end_r = len;
	for (;;) {
		/* at the start of a line */
		if (i >= len)
			return false;
		if (p[i] == '.') {
			if (i + 1 >= len || (p[i + 1] == '\r' && i + 2 >= len))
				return false;
			if (p[i + 1] == '\r' && p[i + 2] == '\n') {
				*end_r = i + 3;
				return true;
			}
			i++;	/* RFC 5321 4.5.2 */
		}
		for (;;) {
			if (i >= len)
				return false;
			if (p[i] == '\r') {
				if (i + 1 >= len)
					return false;
				if (p[i + 1] == '\n') {
					(void)buf_append_c(out, '\n');
					i += 2;
					break;
				}
				(*cr_r)++;
			} else if (p[i] == '\n') {
				(*lf_r)++;
			}
			(void)buf_append_c(out, (char)p[i]);
			i++;
		}
	}
}

/* The message's end: compare with the reference, re-stuff, expect the replies. */
static void
check_message(struct run *r, bool done)
{
	struct lmtp_fake *f = &r->f;
	struct buf ref, stuffed;
	size_t end, used, w, dlen = f->pos - f->data_start;
	uint64_t cr, lf;
	bool rdone;
	unsigned char *out;
	struct lmtp_data d;
	const char *a = f->acc.data;

	buf_init(&ref, SIZE_MAX);
	rdone = ref_decode(f->in + f->data_start, dlen, &ref, &end, &cr, &lf);
	if (rdone != done || end != dlen)
		fail("session and reference disagree on the end of the message");
	/* written up to the piece that crossed the limit, then nothing */
	if (f->msg.len > ref.len || f->msg.len > MAIL_MAX ||
	    !same(f->msg.data, ref.data, f->msg.len) ||
	    (ref.len <= MAIL_MAX && f->msg.len != ref.len))
		fail("session and reference disagree on the message");
	if (done && cr == 0 && lf == 0 && ref.len < MSG_KEEP) {
		/* dot-stuff the message again (RFC 5321 4.5.2): it must come back as it was */
		buf_init(&stuffed, SIZE_MAX);
		for (size_t i = 0; i < ref.len; i++) {
			if ((i == 0 || ref.data[i - 1] == '\n') && ref.data[i] == '.')
				(void)buf_append_c(&stuffed, '.');
			if (ref.data[i] == '\n')
				(void)buf_append_c(&stuffed, '\r');
			(void)buf_append_c(&stuffed, (char)ref.data[i]);
		}
		(void)buf_append_str(&stuffed, ".\r\nNOOP\r\n");
		out = xmalloc(stuffed.len + 1);
		lmtp_data_init(&d);
		if (!lmtp_data_feed(&d, (const unsigned char *)stuffed.data, stuffed.len, out, &w,
		    &used) ||
		    used != stuffed.len - 6 || w != ref.len || !same(out, ref.data, w) ||
		    d.bare_cr != 0 || d.bare_lf != 0)
			fail("a dot-stuffed message does not decode to itself");
		free(out);
		buf_deinit(&stuffed);
	}
	/* over the limit, how much was written before the session stopped depends on the pieces */
	(void)buf_appendf(&r->dig, "[message %zu bytes, hash %08x, %s]\r\n", ref.len,
	    ref.len > MAIL_MAX ? 0 : hash_mem((const unsigned char *)f->msg.data, f->msg.len),
	    done ? "done" : "cut");
	if (done) {
		if (f->nacc == 0)
			fail("DATA without an accepted recipient");
		buf_reset(&r->want);
		for (size_t i = 0; i < f->nacc; i++, a += strlen(a) + 1) {
			uint32_t st = answer(f, a, true);

			if (ref.len > MAIL_MAX)
				(void)buf_appendf(&r->want,
				    "552 5.3.4 <%s> Message size exceeds fixed limit\r\n", a);
			else if (lf > 0)
				(void)buf_appendf(&r->want, "554 5.6.0 <%s> Message contains "
				    "bare LF (RFC 5321 2.3.8)\r\n", a);
			else if (st == IPC_DELIVER_NOSPACE)
				(void)buf_appendf(&r->want,
				    "452 4.3.1 <%s> Insufficient system storage\r\n", a);
			else if (st == IPC_DELIVER_TEMPFAIL)
				(void)buf_appendf(&r->want,
				    "451 4.3.0 <%s> Temporary failure, try again later\r\n", a);
			else
				(void)buf_appendf(&r->want, "250 2.0.0 <%s> Saved\r\n", a);
		}
		r->want_at = f->out.len;
		r->due = true;
	}
	buf_deinit(&ref);
}

static void
on_event(struct lmtp_fake *f, enum lmtp_fake_event ev)
{
	struct run *r = f->arg;

	switch (ev) {
	case LMTP_FAKE_MSG_DONE:
	case LMTP_FAKE_MSG_CUT:
		check_message(r, ev == LMTP_FAKE_MSG_DONE);
		break;
	case LMTP_FAKE_TXN_END:
		/* every reply after the dot is out before the transaction ends */
		if (r->due && (f->out.len - r->want_at != r->want.len ||
		    !same(f->out.data + r->want_at, r->want.data, r->want.len)))
			fail("replies after the dot are not one per recipient in RCPT order");
		r->due = false;
		break;
	}
}

static void
run(const uint8_t *in, size_t size, uint8_t split, uint8_t seed, bool bytewise,
    struct buf *log)
{
	struct run r;
	uint32_t rng = split;

	memset(&r, 0, sizeof(r));
	r.seed = seed;
	buf_init(&r.dig, SIZE_MAX);
	buf_init(&r.want, SIZE_MAX);
	lmtp_fake_init(&r.f, in, "buzon", MAIL_MAX, MSG_KEEP);
	r.f.answer = answer;
	r.f.event = on_event;
	r.f.arg = &r;
	r.f.full_once = (seed & 1) != 0;
	(void)buf_append_str(&r.f.out, "220 buzon LMTP ready\r\n");
	while (r.f.arrived < size && !r.f.closed) {
		size_t n = size - r.f.arrived;

		if (bytewise) {
			n = 1;
		} else if (split != 0) {
			rng = rng * 1103515245u + 12345u;
			n = MIN(n, 1 + (rng >> 16) % 200);
		}
		lmtp_fake_arrive(&r.f, n);
	}
	lmtp_fake_eof(&r.f);
	if (!r.f.closed)
		fail("the session did not close at the end of its input");
	if (r.f.pos > size)
		fail("consumed more than arrived");
	(void)buf_appendf(&r.dig, "[end pos=%zu]\r\n", r.f.pos);
	lmtp_session_destroy(&r.f.s);	/* a message cut by the end is checked here */
	(void)buf_append(log, r.f.out.data, r.f.out.len);
	(void)buf_append(log, r.dig.data, r.dig.len);
	lmtp_fake_deinit(&r.f);
	buf_deinit(&r.dig);
	buf_deinit(&r.want);
}

static void
check_replies(const struct buf *log)
{
	const unsigned char *p = (const unsigned char *)log->data;
	size_t i = 0;

	while (i < log->len) {
		const unsigned char *lf = memchr(p + i, '\n', log->len - i);
		size_t n;

		if (lf == NULL)
			fail("reply without a line end");
		n = (size_t)(lf - (p + i));
		if (n < 2 || p[i + n - 1] != '\r')
			fail("reply line without CRLF");
		if (p[i] != '[' && (n < 5 || p[i] < '2' || p[i] > '5' || p[i + 3] == '\r'))
			fail("reply without a code");
		for (size_t k = i; k < i + n - 1; k++)
			if (p[k] < 0x20 || p[k] > 0x7e)
				fail("control or 8-bit byte in a reply");
		i += n + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	struct buf whole, split, bytes;

	if (!quiet) {
		/* the session's log lines would be most of the time spent */
		if (getenv("FUZZ_DUMP") == NULL)
			log_set_level(LOG_LEVEL_ERROR);
		quiet = true;
	}
	if (size < 2)
		return 0;
	buf_init(&whole, SIZE_MAX);
	buf_init(&split, SIZE_MAX);
	run(data + 2, size - 2, 0, data[1], false, &whole);
	check_replies(&whole);
	if (getenv("FUZZ_DUMP") != NULL)	/* reproducing: show the session */
		fwrite(whole.data, 1, whole.len, stderr);
	run(data + 2, size - 2, data[0] == 0 ? 1 : data[0], data[1], false, &split);
	if (whole.len != split.len || memcmp(whole.data, split.data, whole.len) != 0)
		fail("the session differs when the stream arrives in pieces");
	if (size < 1024) {
		buf_init(&bytes, SIZE_MAX);
		run(data + 2, size - 2, 0, data[1], true, &bytes);
		if (whole.len != bytes.len || memcmp(whole.data, bytes.data, whole.len) != 0)
			fail("the session differs when the stream arrives byte by byte");
		buf_deinit(&bytes);
	}
	buf_deinit(&whole);
	buf_deinit(&split);
	return 0;
}
