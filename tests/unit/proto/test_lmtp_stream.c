/*
 * test_lmtp_stream.c — the LMTP parsers of src/proto/lmtp_cmd.c used together as the
 * LMTP process uses them on one connection: command lines found with lmtp_line_find and
 * parsed, DATA switched to the decoder after the DATA command and back to commands right
 * after the final CRLF "." CRLF. A table of whole sessions (pipelined transactions,
 * dot-stuffed and smuggling-shaped messages, commands that look like the end of DATA,
 * overlong lines) is fed whole, split at every offset and one byte at a time, and must
 * give the same summary of commands and messages; plus verbs and parameters the
 * per-command table of test_lmtp_cmd.c does not cover (HELP, EXPN, NUL, SIZE limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/lmtp_cmd.h"
#include "lib/buf.h"
#include "lib/util.h"

#define S(x) x, sizeof(x) - 1

static const char *const verb_names[] = { "LHLO", "HELO", "EHLO", "MAIL", "RCPT", "DATA",
    "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS" };

struct scase {
	const char *name;
	const char *in;
	size_t inlen;
	const char *want;	/* summary: one item per command / message, ' '-separated */
};

static const struct scase sessions[] = {
	{ "one transaction",
	  S("LHLO mx\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nSubject: x\r\n\r\n"
	    "body\r\n.\r\nQUIT\r\n"),
	  "LHLO(mx) MAIL(a@b.c) RCPT(d@e.f) DATA [Subject: x||body|] QUIT()" },
	{ "dot-stuffing",
	  S("DATA\r\n..\r\n...x\r\n.y\r\n.\r\nNOOP\r\n"),
	  "DATA [.|..x|y|] NOOP()" },
	{ "DATA ends only at CRLF.CRLF",
	  S("DATA\r\na\n.\nQUIT\n.\rRSET\r\n.\r\nNOOP\r\n"),
	  "DATA [a|.|QUIT|.\\rRSET| lf=3 cr=1] NOOP()" },
	{ "command-looking lines inside DATA",
	  S("DATA\r\nQUIT\r\nRSET\r\n.\r\nRSET\r\n"),
	  "DATA [QUIT|RSET|] RSET()" },
	{ "two pipelined transactions",
	  S("MAIL FROM:<>\r\nRCPT TO:<x@y>\r\nDATA\r\n.\r\nMAIL FROM:<a@b>\r\n"
	    "RCPT TO:<\"q r\"@y>\r\nDATA\r\nm\r\n.\r\n"),
	  "MAIL() RCPT(x@y) DATA [] MAIL(a@b) RCPT(\"q r\"@y) DATA [m|]" },
	{ "bare LF command ends, CRLF in data",
	  S("LHLO x\nMAIL FROM:<a@b>\nDATA\nz\r\n.\r\nQUIT\n"),
	  "LHLO(x) MAIL(a@b) DATA [z|] QUIT()" },
	{ "bad commands go on",
	  S("FOO\r\n\r\nRCPT TO:<>\r\nNOOP\r\n"),
	  "E500 E500 E501 NOOP()" },
	{ "the end inside DATA",
	  S("DATA\r\nabc\r\n."),
	  "DATA [abc| open]" },
	{ "a line too long",
	  NULL, 0, "TOOLONG" },
};

/* Append a message with its LFs shown as '|', CRs as "\\r", and the bare counts. */
static void
summarise_msg(struct buf *sum, const struct buf *msg, const struct lmtp_data *d, bool done)
{
	(void)buf_append_str(sum, " [");
	for (size_t i = 0; i < msg->len; i++) {
		char ch = msg->data[i];

		if (ch == '\n') {
			/* a line end, or a bare LF (counted in d->bare_lf) */
			(void)buf_append_str(sum, "|");
		} else if (ch == '\r') {
			(void)buf_append_str(sum, "\\r");
		} else {
			(void)buf_append_c(sum, ch);
		}
	}
	if (d->bare_lf > 0 || d->bare_cr > 0)
		(void)buf_appendf(sum, " lf=%llu cr=%llu", (unsigned long long)d->bare_lf,
		    (unsigned long long)d->bare_cr);
	if (!done)
		(void)buf_append_str(sum, " open");
	(void)buf_append_str(sum, "]");
}

/*
 * Run a stream through the parsers, `step` bytes arriving at a time (0: all; cut: first
 * piece ends at cut). The summary goes to sum.
 */
static void
run_stream(const unsigned char *in, size_t inlen, size_t cut, size_t step, struct buf *sum)
{
	size_t arrived = 0, pos = 0;
	bool in_data = false, closed = false;
	struct lmtp_data d;
	struct buf msg;
	unsigned char *out = xmalloc(inlen + 2);

	buf_init(&msg, SIZE_MAX);
	while (arrived < inlen && !closed) {
		size_t n = inlen - arrived;

		if (cut != 0 && arrived < cut)
			n = cut - arrived;
		else if (step != 0)
			n = MIN(n, step);
		arrived += n;
		for (;;) {
			size_t line_len, consumed, w, used;
			struct lmtp_cmd cmd;
			const char *reply;

			if (in_data) {
				bool done;

				if (pos == arrived)
					break;
				done = lmtp_data_feed(&d, in + pos, arrived - pos, out, &w, &used);
				assert_true(used <= arrived - pos && w <= arrived - pos + 1);
				(void)buf_append(&msg, out, w);
				pos += used;
				if (!done) {
					assert_int_equal(pos, arrived);
					break;
				}
				summarise_msg(sum, &msg, &d, true);
				in_data = false;
				continue;
			}
			switch (lmtp_line_find(in + pos, MIN(arrived - pos, (size_t)LMTP_LINE_MAX),
			    &line_len, &consumed)) {
			case LMTP_LINE_MORE:
				goto more;
			case LMTP_LINE_TOOLONG:
				(void)buf_append_str(sum, " TOOLONG");
				closed = true;
				goto more;
			case LMTP_LINE_DONE:
				break;
			}
			if (lmtp_cmd_parse((const char *)in + pos, line_len, &cmd, &reply) < 0) {
				(void)buf_appendf(sum, " E%.3s", reply);
			} else if (cmd.verb == LMTP_VERB_MAIL || cmd.verb == LMTP_VERB_RCPT) {
				(void)buf_appendf(sum, " %s(%s)", verb_names[cmd.verb], cmd.addr);
			} else if (cmd.verb == LMTP_VERB_DATA) {
				(void)buf_append_str(sum, " DATA");
				lmtp_data_init(&d);
				buf_reset(&msg);
				in_data = true;
			} else {
				(void)buf_appendf(sum, " %s(%s)", verb_names[cmd.verb], cmd.arg);
			}
			pos += consumed;
		}
more:
		;
	}
	if (in_data)
		summarise_msg(sum, &msg, &d, false);
	buf_deinit(&msg);
	free(out);
}

static void
check_session(const char *name, const unsigned char *in, size_t inlen, const char *want)
{
	struct buf whole, part;

	buf_init(&whole, SIZE_MAX);
	buf_init(&part, SIZE_MAX);
	run_stream(in, inlen, 0, 0, &whole);
	if (strcmp(buf_cstr(&whole) + 1, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name, buf_cstr(&whole) + 1, want);
	for (size_t cut = 1; cut < inlen; cut++) {
		buf_reset(&part);
		run_stream(in, inlen, cut, 0, &part);
		if (strcmp(buf_cstr(&part), buf_cstr(&whole)) != 0)
			fail_msg("%s split at %zu: \"%s\"", name, cut, buf_cstr(&part));
	}
	buf_reset(&part);
	run_stream(in, inlen, 0, 1, &part);
	if (strcmp(buf_cstr(&part), buf_cstr(&whole)) != 0)
		fail_msg("%s byte by byte: \"%s\"", name, buf_cstr(&part));
	buf_deinit(&whole);
	buf_deinit(&part);
}

static void
test_sessions(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(sessions); i++) {
		const struct scase *t = &sessions[i];

		if (t->in != NULL) {
			check_session(t->name, (const unsigned char *)t->in, t->inlen, t->want);
		} else {
			/* LMTP_LINE_MAX bytes without a line end, then a command: closed */
			size_t n = LMTP_LINE_MAX + 6;
			unsigned char *big = xmalloc(n);

			memset(big, 'x', LMTP_LINE_MAX);
			memcpy(big + LMTP_LINE_MAX, "QUIT\r\n", 6);
			check_session(t->name, big, n, t->want);
			/* one byte less with its LF is a line (a bad command) */
			big[LMTP_LINE_MAX - 1] = '\n';
			check_session(t->name, big, n, "E500 QUIT()");
			free(big);
		}
	}
}

struct ccase {
	const char *line;
	size_t len;
	int ret;
	enum lmtp_verb verb;
	const char *arg;	/* arg or addr */
	uint64_t size;
	bool has_size;
	const char *reply;	/* prefix on error */
};

static const struct ccase cmds[] = {
	{ S("HELP"), 0, LMTP_VERB_HELP, "", 0, false, NULL },
	{ S("help data"), 0, LMTP_VERB_HELP, "data", 0, false, NULL },
	{ S("EXPN list"), 0, LMTP_VERB_EXPN, "list", 0, false, NULL },
	{ S("NOOP\0x"), -1, 0, NULL, 0, false, "500 " },
	{ S("RCPT TO:<a\0@b.c>"), -1, 0, NULL, 0, false, "500 " },
	{ S("MAIL FROM:<a@b.c>\0"), -1, 0, NULL, 0, false, "500 " },
	{ S("MAIL FROM:<a@b.c> SIZE=0"), 0, LMTP_VERB_MAIL, "a@b.c", 0, true, NULL },
	{ S("MAIL FROM:<a@b.c> SIZE=18446744073709551615"), 0, LMTP_VERB_MAIL, "a@b.c",
	  UINT64_MAX, true, NULL },
	{ S("MAIL FROM:<a@b.c> SIZE=18446744073709551616"), -1, 0, NULL, 0, false, "501 5.5.4" },
	{ S("MAIL FROM:<a@b.c> SIZE=1x"), -1, 0, NULL, 0, false, "501 5.5.4" },
	{ S("MAIL FROM:<a@b.c> size=00042"), 0, LMTP_VERB_MAIL, "a@b.c", 42, true, NULL },
	{ S("MAIL FROM:<a@b.c>\tSIZE=1"), -1, 0, NULL, 0, false, "50" },
	{ S("LHLO\tx"), -1, 0, NULL, 0, false, "50" },
	{ S("QUIT now"), -1, 0, NULL, 0, false, "501 " },
	{ S("RSET x"), -1, 0, NULL, 0, false, "501 " },
};

static void
test_cmds(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(cmds); i++) {
		const struct ccase *t = &cmds[i];
		struct lmtp_cmd cmd;
		const char *reply = NULL;
		int r = lmtp_cmd_parse(t->line, t->len, &cmd, &reply);

		if (r != t->ret)
			fail_msg("case %zu '%s': %d (%s)", i, t->line, r, reply ? reply : "");
		if (r < 0) {
			assert_non_null(reply);
			if (strncmp(reply, t->reply, strlen(t->reply)) != 0)
				fail_msg("case %zu '%s': reply '%s'", i, t->line, reply);
			continue;
		}
		assert_int_equal(cmd.verb, t->verb);
		if (cmd.verb == LMTP_VERB_MAIL || cmd.verb == LMTP_VERB_RCPT) {
			assert_string_equal(cmd.addr, t->arg);
			assert_int_equal(cmd.has_size, t->has_size);
			assert_true(cmd.size == t->size);
		} else {
			assert_string_equal(cmd.arg, t->arg);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_cmds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
