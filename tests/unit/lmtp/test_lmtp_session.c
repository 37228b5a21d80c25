/*
 * test_lmtp_session.c — the LMTP session state machine (src/lmtp/lmtp_session.c) over
 * the fake environment of lmtp_fake.c: whole dialogues (LHLO/MAIL/RCPT/DATA with one and
 * three recipients, per-recipient results in RCPT order although the deliveries are
 * answered last-first, pipelining, bare LF and oversize refused, the 1,000 recipients
 * cap, the bad command limit) give exactly the expected replies, whether the stream
 * arrives whole or one byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ipc.h"
#include "lib/util.h"
#include "lmtp_fake.h"
#include "proto/lmtp_cmd.h"

#define HELLO "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n" \
	"250-8BITMIME\r\n250 SIZE 1000\r\n"
#define GO "354 Start mail input; end with <CRLF>.<CRLF>\r\n"
#define BYE "221 2.0.0 mx.test closing connection\r\n"
#define MAXSZ 1000

/* Lookup: "nouser*" unknown, "tmp*" temporary; delivery: "full*", "quota*", "big*". */
static uint32_t
answer(const struct lmtp_fake *f, const char *addr, bool deliver)
{
	if (!deliver)
		return strncmp(addr, "nouser", 6) == 0 ? IPC_DELIVER_NOUSER :
		    strncmp(addr, "tmp", 3) == 0 ? IPC_DELIVER_TEMPFAIL : IPC_DELIVER_OK;
	return strncmp(addr, "full", 4) == 0 ? IPC_DELIVER_NOSPACE :
	    strncmp(addr, "quota", 5) == 0 ? IPC_DELIVER_OVERQUOTA :
	    strncmp(addr, "big", 3) == 0 ? IPC_DELIVER_TOOBIG : IPC_DELIVER_OK;
}

struct dcase {
	const char *name;
	const char *input;
	const char *want;	/* every reply after the greeting */
	const char *msg;	/* the last message as stored, NULL: not checked */
	bool closed;		/* the session closed itself before the end of input */
};

static const struct dcase cases[] = {
	{ "one recipient",
	  "LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n"
	  "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n",
	  HELLO "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" GO "250 2.0.0 <alice@x> Saved\r\n" BYE,
	  "Subject: hi\n\n.dot\nbody\n", true },
	{ "three recipients, results in RCPT order",
	  "LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<full@x>\r\nRCPT TO:<nouser@x>\r\n"
	  "RCPT TO:<alice+lists@x>\r\nRCPT TO:<quota@x>\r\nDATA\r\nm\r\n.\r\nQUIT\r\n",
	  HELLO "250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 <nouser@x> User doesn't exist\r\n"
	  "250 2.1.5 OK\r\n250 2.1.5 OK\r\n" GO
	  "452 4.3.1 <full@x> Insufficient system storage\r\n"
	  "250 2.0.0 <alice+lists@x> Saved\r\n552 5.2.2 <quota@x> Mailbox full\r\n" BYE,
	  "m\n", true },
	{ "temporary lookup failure and too big at delivery",
	  "LHLO mta\r\nMAIL FROM:<>\r\nRCPT TO:<tmp@x>\r\nRCPT TO:<big@x>\r\nDATA\r\n.\r\n",
	  HELLO "250 2.1.0 OK\r\n451 4.3.0 <tmp@x> Temporary failure, try again later\r\n"
	  "250 2.1.5 OK\r\n" GO "552 5.3.4 <big@x> Message too big\r\n", "", false },
	{ "pipelined transactions, RSET, NOOP",
	  "LHLO mta\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRSET\r\nNOOP\r\n"
	  "MAIL FROM:<a@x>\r\nRCPT TO:<c@x>\r\nDATA\r\none\r\n.\r\n"
	  "MAIL FROM:<a@x>\r\nRCPT TO:<d@x>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n",
	  HELLO "250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.0.0 OK\r\n250 2.0.0 OK\r\n"
	  "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" GO "250 2.0.0 <c@x> Saved\r\n"
	  "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" GO "250 2.0.0 <d@x> Saved\r\n" BYE, "two\n", true },
	{ "bare LF refused for every recipient",
	  "LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"
	  "a\n.\nMAIL FROM:<evil@x>\r\n.\r\nNOOP\r\n",
	  HELLO "250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n" GO
	  "554 5.6.0 <a@x> Message contains bare LF (RFC 5321 2.3.8)\r\n"
	  "554 5.6.0 <b@x> Message contains bare LF (RFC 5321 2.3.8)\r\n250 2.0.0 OK\r\n",
	  NULL, false },
	{ "bare CR kept as data",
	  "LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\na\rb\r\n.\r\n",
	  HELLO "250 2.1.0 OK\r\n250 2.1.5 OK\r\n" GO "250 2.0.0 <a@x> Saved\r\n", "a\rb\n",
	  false },
	{ "SIZE over the limit",
	  "LHLO mta\r\nMAIL FROM:<s@x> SIZE=1001\r\nMAIL FROM:<s@x> SIZE=1000\r\n",
	  HELLO "552 5.3.4 Message size exceeds fixed limit\r\n250 2.1.0 OK\r\n", NULL, false },
	{ "order of commands",
	  "MAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nLHLO mta\r\nDATA\r\nMAIL FROM:<s@x>\r\n"
	  "MAIL FROM:<s@x>\r\nRCPT TO:<nouser@x>\r\nDATA\r\nHELO x\r\nBDAT 1\r\nVRFY a\r\n"
	  "HELP\r\n",
	  "503 5.5.1 Send LHLO first\r\n503 5.5.1 Send MAIL first\r\n"
	  "503 5.5.1 Send MAIL first\r\n" HELLO "503 5.5.1 Send MAIL first\r\n250 2.1.0 OK\r\n"
	  "503 5.5.1 Nested MAIL command\r\n550 5.1.1 <nouser@x> User doesn't exist\r\n"
	  "503 5.5.1 No valid recipients\r\n500 5.5.1 This is LMTP: use LHLO (RFC 2033)\r\n"
	  "502 5.5.1 Command not implemented\r\n"
	  "252 2.5.0 Cannot VRFY user, but will accept message\r\n214 2.0.0 See RFC 2033\r\n",
	  NULL, false },
	{ "bad command limit: 421 after the tenth, nothing read after",
	  "X1\r\nX2\r\nX3\r\nX4\r\nX5\r\nX6\r\nX7\r\nX8\r\nNOOP\r\nX9\r\nX10\r\nNOOP\r\n",
	  "500 5.5.2 Unknown command\r\n500 5.5.2 Unknown command\r\n"
	  "500 5.5.2 Unknown command\r\n500 5.5.2 Unknown command\r\n"
	  "500 5.5.2 Unknown command\r\n500 5.5.2 Unknown command\r\n"
	  "500 5.5.2 Unknown command\r\n500 5.5.2 Unknown command\r\n"
	  "250 2.0.0 OK\r\n500 5.5.2 Unknown command\r\n"
	  "500 5.5.2 Unknown command\r\n421 4.7.0 Too many errors, closing connection\r\n",
	  NULL, true },
};

/*
 * Run a dialogue whole (step 0) or in pieces of step bytes, then end the input; deinit
 * the fake afterwards. Returns whether the session closed itself before the end.
 */
static bool
run(struct lmtp_fake *f, const char *input, size_t len, size_t step, uint64_t max)
{
	lmtp_fake_init(f, (const unsigned char *)input, "mx.test", max, 1 << 20);
	f->answer = answer;
	f->full_once = true;
	while (f->arrived < len && !f->closed)
		lmtp_fake_arrive(f, step == 0 ? len : MIN(step, len - f->arrived));
	if (f->closed)
		return true;
	lmtp_fake_eof(f);
	return false;
}

static void
assert_text(const struct buf *b, const char *want, const char *name)
{
	/* an empty buffer may have no storage at all: never memcmp a NULL */
	if (b->len != strlen(want) || (b->len > 0 && memcmp(b->data, want, b->len) != 0)) {
		print_error("%s: got\n%.*s\nwant\n%s\n", name, (int)b->len,
		    b->data != NULL ? b->data : "", want);
		fail();
	}
}

static void
test_dialogues(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dcase *c = &cases[i];

		for (size_t step = 0; step <= 1; step++) {
			struct lmtp_fake f;
			bool early = run(&f, c->input, strlen(c->input), step, MAXSZ);

			assert_text(&f.out, c->want, c->name);
			if (c->msg != NULL)
				assert_text(&f.msg, c->msg, c->name);
			if (early != c->closed)
				fail_msg("%s: closed early %d, want %d", c->name, early, c->closed);
			if (!f.closed)
				fail_msg("%s: not closed at the end of input", c->name);
			if (early && c->closed && strstr(c->want, "421") != NULL &&
			    f.pos == strlen(c->input))
				fail_msg("%s: read after the bad command limit", c->name);
			lmtp_fake_deinit(&f);
		}
	}
}

/* Each delivery carries Return-Path, Delivered-To and the +detail folder. */
static void
test_delivery_prefix(void **state)
{
	static const char in[] = "LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice+lists@x>\r\n"
	    "RCPT TO:<bob@x>\r\nDATA\r\nm\r\n.\r\n";
	struct lmtp_fake f;

	run(&f, in, strlen(in), 0, MAXSZ);
	assert_text(&f.log, "deliver <alice+lists@x> folder=lists "
	    "Return-Path: <s@x>\nDelivered-To: alice+lists@x\n"
	    "deliver <bob@x> folder= Return-Path: <s@x>\nDelivered-To: bob@x\n", "prefix");
	lmtp_fake_deinit(&f);
}

/* Over mail_max_size: refused for every recipient, nothing more written. */
static void
test_oversize(void **state)
{
	struct buf in;
	struct lmtp_fake f;

	buf_init(&in, SIZE_MAX);
	(void)buf_append_str(&in, "LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\n"
	    "RCPT TO:<b@x>\r\nDATA\r\n");
	for (int i = 0; i < 30; i++)
		(void)buf_append_str(&in, "0123456789012345678901234567890123456789\r\n");
	(void)buf_append_str(&in, ".\r\nNOOP\r\n");
	for (size_t step = 0; step <= 7; step += 7) {
		run(&f, in.data, in.len, step, MAXSZ);
		assert_text(&f.out, HELLO "250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n" GO
		    "552 5.3.4 <a@x> Message size exceeds fixed limit\r\n"
		    "552 5.3.4 <b@x> Message size exceeds fixed limit\r\n250 2.0.0 OK\r\n",
		    "oversize");
		assert_true(f.msg.len <= MAXSZ);
		lmtp_fake_deinit(&f);
	}
	buf_deinit(&in);
}

/* 1,000 recipients accepted, the 1,001st gets 452; one reply each after the dot. */
static void
test_recipient_cap(void **state)
{
	struct buf in, want;
	struct lmtp_fake f;

	buf_init(&in, SIZE_MAX);
	buf_init(&want, SIZE_MAX);
	(void)buf_append_str(&in, "LHLO mta\r\nMAIL FROM:<s@x>\r\n");
	(void)buf_append_str(&want, HELLO "250 2.1.0 OK\r\n");
	for (int i = 0; i < 1002; i++) {
		(void)buf_appendf(&in, "RCPT TO:<u%d@x>\r\n", i);
		(void)buf_append_str(&want, i < 1000 ? "250 2.1.5 OK\r\n" :
		    "452 4.5.3 Too many recipients\r\n");
	}
	(void)buf_append_str(&in, "DATA\r\nhi\r\n.\r\nQUIT\r\n");
	(void)buf_append_str(&want, GO);
	for (int i = 0; i < 1000; i++)
		(void)buf_appendf(&want, "250 2.0.0 <u%d@x> Saved\r\n", i);
	(void)buf_append_str(&want, BYE);
	run(&f, in.data, in.len, 0, MAXSZ);
	assert_text(&f.out, want.data, "1000 recipients");
	lmtp_fake_deinit(&f);
	buf_deinit(&in);
	buf_deinit(&want);
}

/* A 4 KiB line without an end: 500 5.5.2 and close. */
static void
test_long_line(void **state)
{
	char *in = xmalloc(LMTP_LINE_MAX + 10);
	struct lmtp_fake f;

	memset(in, 'A', LMTP_LINE_MAX + 10);
	assert_true(run(&f, in, LMTP_LINE_MAX + 10, 0, MAXSZ));
	assert_text(&f.out, "500 5.5.2 Line too long\r\n", "long line");
	assert_int_equal(f.pos, 0);
	lmtp_fake_deinit(&f);
	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dialogues),
		cmocka_unit_test(test_delivery_prefix),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_recipient_cap),
		cmocka_unit_test(test_long_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
