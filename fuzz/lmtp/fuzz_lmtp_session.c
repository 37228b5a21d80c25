/*
 * fuzz_lmtp_session.c — session fuzzer for LMTP over the pure parsers of
 * src/proto/lmtp_cmd.c: bytes -> command lines (lmtp_line_find, lmtp_cmd_parse) -> the
 * LHLO/MAIL/RCPT/DATA/RSET/QUIT state machine -> the DATA decoder (lmtp_data_*), used
 * as src/lmtp/lmtp.c uses them (line search over at most LMTP_LINE_MAX buffered bytes,
 * DATA fed in the pieces that arrived, at most LMTP_CHUNK at a time; the same replies).
 * lmtp.c's session is static and needs sockets, a master and memfds, so this target
 * mirrors its state machine; the recipients' lookups and deliveries are answered from
 * a hash of the address and input byte 1.
 *
 * Input: byte 0 seeds the split points of the stream (0: all at once), byte 1 the
 * master's answers, the rest is what the MTA sends. Checked, besides ASan/UBSan:
 *  - the session gives the same replies and messages whether the stream arrives whole,
 *    in the seeded pieces or (inputs under 1 KiB) one byte at a time;
 *  - each decoded message, its end and its bare CR/LF counts equal those of an
 *    independent whole-buffer decoder (dot-unstuffing, CRLF -> LF, end only at
 *    CRLF "." CRLF), and a message without bare CR/LF dot-stuffed again decodes to
 *    itself, ending exactly after the new final dot;
 *  - a message with a bare LF or over the size limit is refused for every recipient,
 *    one reply per accepted recipient, in order; replies are CRLF lines with a code;
 *  - nothing is read after QUIT, "Line too long" or too many bad commands.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/lmtp_cmd.h"
#include "lib/buf.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RCPTS	1000		/* LMTP_MAX_RCPTS */
#define MAX_BAD		10		/* LMTP_MAX_BAD */
#define CHUNK		(64 * 1024)	/* LMTP_CHUNK */
#define MAIL_MAX	4096		/* mail_max_size, small to reach the limit */
#define MSG_KEEP	(1 << 20)	/* decoded bytes kept for the checks */

enum { S_CMD, S_DATA, S_CLOSED };

struct sess {
	const uint8_t *in;		/* the whole stream */
	size_t arrived, pos;		/* bytes received so far, bytes consumed */
	uint8_t seed;
	int state;
	bool lhlo, have_mail;
	unsigned nrcpts, bad;
	char rcpts[8][LMTP_PATH_MAX + 1];	/* the first few, for the replies */
	struct lmtp_data dec;
	size_t data_start;		/* stream offset of the first DATA byte */
	struct buf msg;			/* decoded message */
	unsigned char *chunk;		/* CHUNK + 1: the decoder's output */
	struct buf *log;		/* replies and message digests */
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

static void
reply(struct sess *s, const char *text)
{
	(void)buf_appendf(s->log, "%s\r\n", text);
}

static void
bad(struct sess *s, const char *text)
{
	reply(s, text);
	if (++s->bad >= MAX_BAD) {
		reply(s, "421 4.7.0 Too many errors, closing connection");
		s->state = S_CLOSED;
	}
}

static void
txn_reset(struct sess *s)
{
	s->have_mail = false;
	s->nrcpts = 0;
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

/* The message's end: compare with the reference, re-stuff, answer per recipient. */
static void
check_message(struct sess *s, bool done)
{
	struct buf ref, stuffed;
	size_t end, used, w;
	uint64_t cr, lf;
	bool rdone;
	unsigned char *out;
	struct lmtp_data d;

	buf_init(&ref, SIZE_MAX);
	rdone = ref_decode(s->in + s->data_start, s->pos - s->data_start, &ref, &end, &cr, &lf);
	if (rdone != done || end != s->pos - s->data_start || cr != s->dec.bare_cr ||
	    lf != s->dec.bare_lf || ref.len != s->dec.size)
		fail("decoder and reference disagree on the end, size or bare CR/LF");
	if (s->msg.len != MIN(ref.len, (size_t)MSG_KEEP) ||
	    !same(s->msg.data, ref.data, s->msg.len))
		fail("decoder and reference disagree on the message");
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
	buf_deinit(&ref);
	if (!done)
		return;
	(void)buf_appendf(s->log, "[message %llu bytes, hash %08x]\r\n",
	    (unsigned long long)s->dec.size,
	    hash_mem((const unsigned char *)s->msg.data, s->msg.len));
	for (unsigned i = 0; i < s->nrcpts; i++) {
		const char *a = s->rcpts[MIN(i, 7u)];
		uint32_t st = hash(a, (uint8_t)(s->seed + 1)) % 8;

		if (s->dec.size > MAIL_MAX)
			(void)buf_appendf(s->log,
			    "552 5.3.4 <%s> Message size exceeds fixed limit\r\n", a);
		else if (s->dec.bare_lf > 0)
			(void)buf_appendf(s->log, "554 5.6.0 <%s> Message contains bare LF\r\n", a);
		else if (st == 0)
			(void)buf_appendf(s->log,
			    "452 4.3.1 <%s> Insufficient system storage\r\n", a);
		else
			(void)buf_appendf(s->log, "250 2.0.0 <%s> Saved\r\n", a);
	}
	buf_reset(&s->msg);
	txn_reset(s);
	s->state = S_CMD;
}

static void
command(struct sess *s, const char *line, size_t len)
{
	struct lmtp_cmd cmd;
	const char *err;

	if (lmtp_cmd_parse(line, len, &cmd, &err) < 0) {
		if (err == NULL || (err[0] != '5' && err[0] != '4') || strlen(err) < 4)
			fail("a refused command without a reply");
		bad(s, err);
		return;
	}
	if (cmd.addr_len != strlen(cmd.addr) || cmd.addr_len > LMTP_PATH_MAX ||
	    strlen(cmd.arg) > LMTP_ARG_MAX)
		fail("parsed fields out of bounds");
	for (size_t i = 0; i < cmd.addr_len; i++)
		if ((unsigned char)cmd.addr[i] <= 0x20 && cmd.addr[0] != '"')
			fail("control character or space in an address");
	switch (cmd.verb) {
	case LMTP_VERB_LHLO:
		txn_reset(s);
		s->lhlo = true;
		reply(s, "250-buzon\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
		    "250-8BITMIME\r\n250 SIZE 4096");
		break;
	case LMTP_VERB_HELO:
	case LMTP_VERB_EHLO:
		bad(s, "500 5.5.1 This is LMTP: use LHLO (RFC 2033)");
		break;
	case LMTP_VERB_MAIL:
		if (!s->lhlo)
			bad(s, "503 5.5.1 Send LHLO first");
		else if (s->have_mail)
			bad(s, "503 5.5.1 Nested MAIL command");
		else if (cmd.has_size && cmd.size > MAIL_MAX)
			reply(s, "552 5.3.4 Message size exceeds fixed limit");
		else {
			s->have_mail = true;
			(void)buf_appendf(s->log, "250 2.1.0 OK <%s>\r\n", cmd.addr);
		}
		break;
	case LMTP_VERB_RCPT:
		if (!s->have_mail)
			bad(s, "503 5.5.1 Send MAIL first");
		else if (s->nrcpts >= MAX_RCPTS)
			reply(s, "452 4.5.3 Too many recipients");
		else if (hash(cmd.addr, s->seed) % 5 == 0)
			(void)buf_appendf(s->log, "550 5.1.1 <%s> User doesn't exist\r\n",
			    cmd.addr);
		else {
			if (s->nrcpts < 8)
				memcpy(s->rcpts[s->nrcpts], cmd.addr, cmd.addr_len + 1);
			s->nrcpts++;
			reply(s, "250 2.1.5 OK");
		}
		break;
	case LMTP_VERB_DATA:
		if (!s->have_mail)
			bad(s, "503 5.5.1 Send MAIL first");
		else if (s->nrcpts == 0)
			reply(s, "503 5.5.1 No valid recipients");
		else {
			lmtp_data_init(&s->dec);
			s->data_start = s->pos;
			s->state = S_DATA;
			reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
		}
		break;
	case LMTP_VERB_RSET:
		txn_reset(s);
		reply(s, "250 2.0.0 OK");
		break;
	case LMTP_VERB_NOOP:
		reply(s, "250 2.0.0 OK");
		break;
	case LMTP_VERB_QUIT:
		reply(s, "221 2.0.0 buzon closing connection");
		s->state = S_CLOSED;
		break;
	case LMTP_VERB_VRFY:
		reply(s, "252 2.5.0 Cannot VRFY user, but will accept message");
		break;
	case LMTP_VERB_HELP:
		reply(s, "214 2.0.0 See RFC 2033");
		break;
	case LMTP_VERB_EXPN:
	case LMTP_VERB_BDAT:
	case LMTP_VERB_STARTTLS:
		bad(s, "502 5.5.1 Command not implemented");
		break;
	default:
		fail("unknown verb");
	}
}

/* sess_process of lmtp.c: as far as the bytes that arrived allow. */
static void
process(struct sess *s)
{
	while (s->state != S_CLOSED) {
		size_t avail = s->arrived - s->pos, line_len, consumed;

		if (s->state == S_DATA) {
			/* data_read: what is buffered, at most CHUNK at a time */
			size_t n = MIN(avail, (size_t)CHUNK), w, used;
			bool done;

			if (n == 0)
				break;
			done = lmtp_data_feed(&s->dec, s->in + s->pos, n, s->chunk, &w, &used);
			if (used > n || w > n + 1 || (!done && used != n))
				fail("decoder consumed or wrote out of bounds");
			(void)buf_append(&s->msg, s->chunk, MIN(w, MSG_KEEP - s->msg.len));
			s->pos += used;
			if (done)
				check_message(s, true);
			continue;
		}
		if (avail == 0)
			break;
		switch (lmtp_line_find(s->in + s->pos, MIN(avail, (size_t)LMTP_LINE_MAX),
		    &line_len, &consumed)) {
		case LMTP_LINE_MORE:
			if (avail >= LMTP_LINE_MAX)
				fail("no line end in LMTP_LINE_MAX bytes, yet MORE");
			return;
		case LMTP_LINE_TOOLONG:
			reply(s, "500 5.5.2 Line too long");
			s->state = S_CLOSED;
			return;
		case LMTP_LINE_DONE:
			break;
		}
		if (consumed > MIN(avail, (size_t)LMTP_LINE_MAX) || line_len >= consumed ||
		    s->in[s->pos + consumed - 1] != '\n')
			fail("a command line that does not end at its LF");
		{
			char line[LMTP_LINE_MAX];

			memcpy(line, s->in + s->pos, line_len);
			s->pos += consumed;
			command(s, line, line_len);
		}
	}
}

static void
run(const uint8_t *in, size_t size, uint8_t split, uint8_t seed, bool bytewise,
    struct buf *log)
{
	struct sess s;
	uint32_t rng = split;

	memset(&s, 0, sizeof(s));
	s.in = in;
	s.seed = seed;
	s.log = log;
	s.state = S_CMD;
	buf_init(&s.msg, MSG_KEEP);
	s.chunk = xmalloc(CHUNK + 1);
	reply(&s, "220 buzon LMTP ready");
	while (s.arrived < size && s.state != S_CLOSED) {
		size_t n = size - s.arrived;

		if (bytewise) {
			n = 1;
		} else if (split != 0) {
			rng = rng * 1103515245u + 12345u;
			n = MIN(n, 1 + (rng >> 16) % 200);
		}
		s.arrived += n;
		process(&s);
	}
	if (s.state == S_DATA)
		check_message(&s, false);	/* the connection ends inside DATA */
	if (s.pos > size)
		fail("consumed more than arrived");
	(void)buf_appendf(log, "[end state=%d pos=%zu bad=%u]\r\n", s.state, s.pos, s.bad);
	if (s.bad > MAX_BAD)
		fail("more bad commands than allowed");
	buf_deinit(&s.msg);
	free(s.chunk);
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
	struct buf whole, split, bytes;

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
