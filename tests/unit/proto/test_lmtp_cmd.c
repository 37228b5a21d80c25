/*
 * test_lmtp_cmd.c — unit tests for the LMTP command and DATA parsers: a table of
 * command lines (verbs, paths with quoted local parts and source routes, ESMTP
 * parameters, malformed input), line finding fed whole, split and byte by byte, and DATA
 * decoding (dot-unstuffing, CRLF -> LF, only CRLF.CRLF ends; bare CR/LF smuggling
 * sequences) fed whole, split at every offset and byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/lmtp_cmd.h"
#include "lib/buf.h"

struct ccase {
	const char *line;
	int ret;
	enum lmtp_verb verb;
	const char *addr;	/* MAIL/RCPT: expected address; else expected arg */
	const char *reply;	/* prefix of the reply on error */
	uint64_t size;		/* expected SIZE= (0: none) */
	enum lmtp_body body;
};

static const struct ccase cmds[] = {
	{ "LHLO mx.example.org", 0, LMTP_VERB_LHLO, "mx.example.org", NULL, 0, 0 },
	{ "lhlo  mx ", 0, LMTP_VERB_LHLO, "mx", NULL, 0, 0 },
	{ "LHLO", -1, 0, NULL, "501 ", 0, 0 },
	{ "HELO x", 0, LMTP_VERB_HELO, "x", NULL, 0, 0 },
	{ "EHLO x", 0, LMTP_VERB_EHLO, "x", NULL, 0, 0 },
	{ "MAIL FROM:<a@b.c>", 0, LMTP_VERB_MAIL, "a@b.c", NULL, 0, 0 },
	{ "mail from:<>", 0, LMTP_VERB_MAIL, "", NULL, 0, 0 },
	{ "MAIL FROM: <a@b.c>", 0, LMTP_VERB_MAIL, "a@b.c", NULL, 0, 0 },
	{ "MAIL FROM:<a@b.c> SIZE=1234 BODY=8BITMIME", 0, LMTP_VERB_MAIL, "a@b.c", NULL, 1234,
	  LMTP_BODY_8BITMIME },
	{ "MAIL FROM:<a@b.c> body=7bit", 0, LMTP_VERB_MAIL, "a@b.c", NULL, 0, LMTP_BODY_7BIT },
	{ "MAIL FROM:<a@b.c> BODY=BINARYMIME", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL FROM:<a@b.c> SIZE=", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL FROM:<a@b.c> SIZE=-1", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL FROM:<a@b.c> SIZE=99999999999999999999999", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL FROM:<a@b.c> SIZE=1 SIZE=2", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL FROM:<a@b.c> SMTPUTF8", -1, 0, NULL, "555 5.5.4", 0, 0 },
	{ "MAIL FROM:<a@b.c> X=Y=Z", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL FROM:<a@b.c>SIZE=1", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL FROM:a@b.c", -1, 0, NULL, "501 5.1.7", 0, 0 },
	{ "MAIL FROM:<a@b.c", -1, 0, NULL, "501 5.1.7", 0, 0 },
	{ "MAIL TO:<a@b.c>", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "MAIL", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "RCPT TO:<alice@example.org>", 0, LMTP_VERB_RCPT, "alice@example.org", NULL, 0, 0 },
	{ "RCPT TO:<alice+work@example.org>", 0, LMTP_VERB_RCPT, "alice+work@example.org",
	  NULL, 0, 0 },
	{ "RCPT TO:<demo>", 0, LMTP_VERB_RCPT, "demo", NULL, 0, 0 },
	{ "RCPT TO:<Postmaster>", 0, LMTP_VERB_RCPT, "Postmaster", NULL, 0, 0 },
	{ "RCPT TO:<@relay.example,@r2.example:bob@example.org>", 0, LMTP_VERB_RCPT,
	  "bob@example.org", NULL, 0, 0 },
	{ "RCPT TO:<\"bob\"@example.org>", 0, LMTP_VERB_RCPT, "bob@example.org", NULL, 0, 0 },
	{ "RCPT TO:<\"john doe\"@example.org>", 0, LMTP_VERB_RCPT, "\"john doe\"@example.org",
	  NULL, 0, 0 },
	{ "RCPT TO:<\"a\\\"b>c\"@example.org>", 0, LMTP_VERB_RCPT, "\"a\\\"b>c\"@example.org",
	  NULL, 0, 0 },
	{ "RCPT TO:<\"\"@example.org>", 0, LMTP_VERB_RCPT, "\"\"@example.org", NULL, 0, 0 },
	{ "RCPT TO:<a@[192.0.2.1]>", 0, LMTP_VERB_RCPT, "a@[192.0.2.1]", NULL, 0, 0 },
	{ "RCPT TO:<>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a..b@example.org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<.a@example.org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a b@example.org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@exa mple.org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@-x.org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@x-.org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@x..org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@b@c>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@[x]y>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<\"unterminated@example.org>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<@relay.example>", -1, 0, NULL, "501 5.1.3", 0, 0 },
	{ "RCPT TO:<a@b.c> NOTIFY=NEVER", -1, 0, NULL, "555 5.5.4", 0, 0 },
	{ "RCPT TO:<a@b.c>  ", 0, LMTP_VERB_RCPT, "a@b.c", NULL, 0, 0 },
	{ "RCPT FROM:<a@b.c>", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "DATA", 0, LMTP_VERB_DATA, "", NULL, 0, 0 },
	{ "data", 0, LMTP_VERB_DATA, "", NULL, 0, 0 },
	{ "DATA x", -1, 0, NULL, "501 5.5.4", 0, 0 },
	{ "RSET", 0, LMTP_VERB_RSET, "", NULL, 0, 0 },
	{ "NOOP", 0, LMTP_VERB_NOOP, "", NULL, 0, 0 },
	{ "NOOP anything", 0, LMTP_VERB_NOOP, "anything", NULL, 0, 0 },
	{ "QUIT", 0, LMTP_VERB_QUIT, "", NULL, 0, 0 },
	{ "VRFY alice", 0, LMTP_VERB_VRFY, "alice", NULL, 0, 0 },
	{ "VRFY", -1, 0, NULL, "501 ", 0, 0 },
	{ "STARTTLS", 0, LMTP_VERB_STARTTLS, "", NULL, 0, 0 },
	{ "BDAT 10 LAST", 0, LMTP_VERB_BDAT, "", NULL, 0, 0 },
	{ "", -1, 0, NULL, "500 5.5.2", 0, 0 },
	{ "FOO", -1, 0, NULL, "500 5.5.2", 0, 0 },
	{ "DATAX", -1, 0, NULL, "500 5.5.2", 0, 0 },
	{ " DATA", -1, 0, NULL, "500 5.5.2", 0, 0 },
	{ "DATA\r", -1, 0, NULL, "500 5.5.2", 0, 0 },
	{ "RCPT TO:<a\x01@b.c>", -1, 0, NULL, "500 5.5.2", 0, 0 },
	{ "RCPT TO:<\xc3\xa9@b.c>", -1, 0, NULL, "500 5.5.2", 0, 0 },
};

static void
test_cmd_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(cmds); i++) {
		struct lmtp_cmd cmd;
		const char *reply = NULL;
		int r = lmtp_cmd_parse(cmds[i].line, strlen(cmds[i].line), &cmd, &reply);

		if (r != cmds[i].ret)
			fail_msg("case %zu '%s': %d (%s)", i, cmds[i].line, r, reply ? reply : "");
		if (r < 0) {
			assert_non_null(reply);
			if (!str_has_prefix(reply, cmds[i].reply))
				fail_msg("case %zu '%s': reply '%s'", i, cmds[i].line, reply);
			continue;
		}
		assert_int_equal(cmd.verb, cmds[i].verb);
		if (cmd.verb == LMTP_VERB_MAIL || cmd.verb == LMTP_VERB_RCPT) {
			assert_string_equal(cmd.addr, cmds[i].addr);
			assert_int_equal(cmd.addr_len, strlen(cmds[i].addr));
			assert_int_equal(cmd.has_size, cmds[i].size != 0);
			assert_int_equal(cmd.size, cmds[i].size);
			assert_int_equal(cmd.body, cmds[i].body);
		} else {
			assert_string_equal(cmd.arg, cmds[i].addr);
		}
	}
}

static void
test_cmd_limits(void **state)
{
	char line[LMTP_LINE_MAX + 64];
	struct lmtp_cmd cmd;
	const char *reply;
	size_t n;

	/* a path of exactly LMTP_PATH_MAX octets including <> is accepted, one more is not */
	for (size_t plen = LMTP_PATH_MAX - 2; plen <= LMTP_PATH_MAX; plen++) {
		size_t local = plen - 2 - 4;	/* "<" local "@b.c" ">" */

		n = 0;
		memcpy(line, "RCPT TO:<", 9);
		n = 9;
		memset(line + n, 'x', local);
		n += local;
		memcpy(line + n, "@b.c>", 5);
		n += 5;
		assert_int_equal(lmtp_cmd_parse(line, n, &cmd, &reply),
		    plen <= LMTP_PATH_MAX ? 0 : -1);
		if (plen <= LMTP_PATH_MAX)
			assert_int_equal(cmd.addr_len, local + 4);
	}
	{
		size_t local = LMTP_PATH_MAX - 5;	/* path = LMTP_PATH_MAX + 1 */

		memcpy(line, "RCPT TO:<", 9);
		memset(line + 9, 'x', local);
		memcpy(line + 9 + local, "@b.c>", 5);
		assert_int_equal(lmtp_cmd_parse(line, 9 + local + 5, &cmd, &reply), -1);
	}
	/* quoting that grows on output beyond the limit is refused, not truncated */
	n = 0;
	memcpy(line, "RCPT TO:<\"", 10);
	n = 10;
	for (size_t k = 0; k < 120; k++) {
		line[n++] = '\\';
		line[n++] = '"';
	}
	memcpy(line + n, "\"@b.c>", 6);
	n += 6;
	assert_int_equal(lmtp_cmd_parse(line, n, &cmd, &reply), 0);
	assert_true(cmd.addr_len <= LMTP_PATH_MAX);
	/* LHLO argument limit */
	memcpy(line, "LHLO ", 5);
	memset(line + 5, 'a', LMTP_ARG_MAX + 1);
	assert_int_equal(lmtp_cmd_parse(line, 5 + LMTP_ARG_MAX + 1, &cmd, &reply), -1);
	assert_int_equal(lmtp_cmd_parse(line, 5 + LMTP_ARG_MAX, &cmd, &reply), 0);
	/* a domain label of 63 octets is fine, 64 is not (RFC 1035 2.3.4) */
	memcpy(line, "RCPT TO:<a@", 11);
	memset(line + 11, 'd', 64);
	memcpy(line + 75, ".example.org>", 13);
	assert_int_equal(lmtp_cmd_parse(line, 88, &cmd, &reply), -1);
	assert_int_equal(lmtp_cmd_parse(line + 1, 87, &cmd, &reply), -1);	/* "CPT" */
	memcpy(line + 1, "RCPT TO:<a@", 11);
	assert_int_equal(lmtp_cmd_parse(line + 1, 87, &cmd, &reply), 0);
	assert_int_equal(cmd.addr_len, 2 + 63 + 12);
}

/* ---------------------------------------------------------------- lines */

static const char lines_in[] = "LHLO x\r\nMAIL FROM:<>\nRCPT TO:<a@b>\r\nDATA\r\n";
static const char *const lines_want[] = { "LHLO x", "MAIL FROM:<>", "RCPT TO:<a@b>", "DATA" };

/* Feed src in chunks of size step (0 = whole), collecting lines like the process does. */
static void
lines_feed(size_t step)
{
	unsigned char acc[256];
	size_t acc_len = 0, got = 0, pos = 0, total = sizeof(lines_in) - 1;

	while (pos < total) {
		size_t n = step == 0 ? total : MIN(step, total - pos);
		size_t line_len, consumed;

		memcpy(acc + acc_len, lines_in + pos, n);
		acc_len += n;
		pos += n;
		while (lmtp_line_find(acc, acc_len, &line_len, &consumed) == LMTP_LINE_DONE) {
			assert_true(got < N_ELEMENTS(lines_want));
			assert_int_equal(line_len, strlen(lines_want[got]));
			assert_memory_equal(acc, lines_want[got], line_len);
			got++;
			memmove(acc, acc + consumed, acc_len - consumed);
			acc_len -= consumed;
		}
	}
	assert_int_equal(got, N_ELEMENTS(lines_want));
	assert_int_equal(acc_len, 0);
}

static void
test_lines(void **state)
{
	unsigned char big[LMTP_LINE_MAX + 1];
	size_t l, c;

	for (size_t step = 0; step <= sizeof(lines_in); step++)
		lines_feed(step);
	memset(big, 'a', sizeof(big));
	assert_int_equal(lmtp_line_find(big, LMTP_LINE_MAX - 1, &l, &c), LMTP_LINE_MORE);
	assert_int_equal(lmtp_line_find(big, LMTP_LINE_MAX, &l, &c), LMTP_LINE_TOOLONG);
	big[LMTP_LINE_MAX - 1] = '\n';
	assert_int_equal(lmtp_line_find(big, LMTP_LINE_MAX + 1, &l, &c), LMTP_LINE_DONE);
	assert_int_equal(l, LMTP_LINE_MAX - 1);
	assert_int_equal(c, LMTP_LINE_MAX);
	assert_int_equal(lmtp_line_find(big, 0, &l, &c), LMTP_LINE_MORE);
}

/* ---------------------------------------------------------------- DATA */

#define S(x) x, sizeof(x) - 1

struct dcase {
	const char *in;		/* the stream after 354 */
	size_t inlen;
	const char *out;	/* decoded message */
	size_t outlen;
	size_t rest;		/* bytes left after the end (next commands) */
	bool done;
	uint64_t bare_cr, bare_lf;
};

static const struct dcase datas[] = {
	{ S("a\r\n.\r\n"), S("a\n"), 0, true, 0, 0 },
	{ S(".\r\n"), S(""), 0, true, 0, 0 },
	{ S("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"), S("Subject: x\n\nbody\n"), 6, true, 0, 0 },
	{ S("..line\r\n.\r\n"), S(".line\n"), 0, true, 0, 0 },
	{ S("...\r\n.\r\n"), S("..\n"), 0, true, 0, 0 },
	{ S("..\r\n.\r\n"), S(".\n"), 0, true, 0, 0 },
	{ S("a.\r\n.b\r\n.\r\n"), S("a.\nb\n"), 0, true, 0, 0 },
	{ S("x\r\n.\r\n.\r\n"), S("x\n"), 3, true, 0, 0 },
	/* smuggling: a bare LF or CR never ends a line, so "\n.\n" does not end DATA */
	{ S("a\n.\nb\r\n.\r\n"), S("a\n.\nb\n"), 0, true, 0, 2 },
	{ S("a\r\n.\nb\r\n.\r\n"), S("a\n\nb\n"), 0, true, 0, 1 },
	{ S("a\n.\r\nb\r\n.\r\n"), S("a\n.\nb\n"), 0, true, 0, 1 },
	{ S("a\r.\rb\r\n.\r\n"), S("a\r.\rb\n"), 0, true, 2, 0 },
	{ S("a\r\n.\rX\r\n.\r\n"), S("a\n\rX\n"), 0, true, 1, 0 },
	{ S("a\r\r\n.\r\n"), S("a\r\n"), 0, true, 1, 0 },
	{ S("a\r\n."), S("a\n"), 0, false, 0, 0 },
	{ S("a\r\n.\r"), S("a\n"), 0, false, 0, 0 },
	{ S("no end\r\n"), S("no end\n"), 0, false, 0, 0 },
	{ S(""), S(""), 0, false, 0, 0 },
	{ S("\0bin\r\n.\r\n"), S("\0bin\n"), 0, true, 0, 0 },
};

static void
data_run(const struct dcase *dc, size_t step, bool split_at, size_t split)
{
	const unsigned char *in = (const unsigned char *)dc->in;
	size_t inlen = dc->inlen, pos = 0, olen = 0;
	unsigned char out[128];
	struct lmtp_data d;
	bool done = false;

	lmtp_data_init(&d);
	while (pos < inlen && !done) {
		size_t n, w, used;
		unsigned char tmp[64];

		if (split_at)
			n = pos < split ? split - pos : inlen - pos;
		else
			n = step == 0 ? inlen - pos : MIN(step, inlen - pos);
		done = lmtp_data_feed(&d, in + pos, n, tmp, &w, &used);
		assert_true(used <= n);
		assert_true(w <= n + 1);
		if (!done)
			assert_int_equal(used, n);
		memcpy(out + olen, tmp, w);
		olen += w;
		pos += used;
	}
	assert_int_equal(done, dc->done);
	assert_int_equal(olen, dc->outlen);
	assert_memory_equal(out, dc->out, olen);
	assert_int_equal(d.size, olen);
	if (dc->done) {
		assert_int_equal(inlen - pos, dc->rest);
		assert_int_equal(d.bare_cr, dc->bare_cr);
		assert_int_equal(d.bare_lf, dc->bare_lf);
	}
}

static void
test_data_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(datas); i++) {
		size_t inlen = datas[i].inlen;

		data_run(&datas[i], 0, false, 0);	/* whole */
		data_run(&datas[i], 1, false, 0);	/* byte by byte */
		for (size_t s = 0; s <= inlen; s++)	/* split at every offset */
			data_run(&datas[i], 0, true, s);
	}
}

static void
test_data_large(void **state)
{
	/* 1 MiB of lines, some starting with dots, fed in odd chunk sizes */
	struct buf in, want, got;
	struct lmtp_data d;
	size_t pos = 0;
	bool done = false;
	unsigned char out[1001];

	buf_init(&in, BUF_UNLIMITED);
	buf_init(&want, BUF_UNLIMITED);
	buf_init(&got, BUF_UNLIMITED);
	for (unsigned i = 0; in.len < (1u << 20); i++) {
		if (i % 7 == 0) {
			buf_appendf(&in, "..dot %u\r\n", i);
			buf_appendf(&want, ".dot %u\n", i);
		} else {
			buf_appendf(&in, "line %u xxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", i);
			buf_appendf(&want, "line %u xxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", i);
		}
	}
	buf_append_str(&in, ".\r\n");
	lmtp_data_init(&d);
	while (!done) {
		size_t n = MIN((size_t)999, in.len - pos), w, used;

		done = lmtp_data_feed(&d, (unsigned char *)in.data + pos, n, out, &w, &used);
		buf_append(&got, out, w);
		pos += used;
	}
	assert_int_equal(pos, in.len);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	assert_int_equal(d.bare_cr + d.bare_lf, 0);
	buf_deinit(&in);
	buf_deinit(&want);
	buf_deinit(&got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_table),
		cmocka_unit_test(test_cmd_limits),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_data_table),
		cmocka_unit_test(test_data_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
