/*
 * test_pop3_cmd.c — unit tests for the POP3 helpers: a table of command lines (known and
 * unknown keywords, arguments, PASS with spaces, NUL, empty lines, the 255-octet limit)
 * fed whole, split at every offset and byte by byte through a growing buffer; overlong
 * lines followed by pipelined commands; number arguments; and the RETR/TOP encoder
 * (CRLF, dot-stuffing, TOP line counts) whole, split and byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/pop3_cmd.h"
#include "lib/buf.h"

struct lcase {
	const char *in;
	enum pop3_parse_result res;
	enum pop3_cmd_id id;
	enum pop3_parse_error err;
	unsigned argc;
	const char *arg0, *arg1, *rest;
};

static const struct lcase lines[] = {
	{ "USER alice\r\n", POP3_PARSE_DONE, POP3_CMD_USER, 0, 1, "alice", NULL, "alice" },
	{ "user alice\n", POP3_PARSE_DONE, POP3_CMD_USER, 0, 1, "alice", NULL, "alice" },
	{ "PASS  two words \r\n", POP3_PARSE_DONE, POP3_CMD_PASS, 0, 2, "two", "words",
	  " two words " },
	{ "STAT\r\n", POP3_PARSE_DONE, POP3_CMD_STAT, 0, 0, NULL, NULL, "" },
	{ "stat \r\n", POP3_PARSE_DONE, POP3_CMD_STAT, 0, 0, NULL, NULL, "" },
	{ "LIST 1\r\n", POP3_PARSE_DONE, POP3_CMD_LIST, 0, 1, "1", NULL, "1" },
	{ "TOP 1 10\r\n", POP3_PARSE_DONE, POP3_CMD_TOP, 0, 2, "1", "10", "1 10" },
	{ "top 1 10 x\r\n", POP3_PARSE_DONE, POP3_CMD_TOP, 0, 3, "1", "10", "1 10 x" },
	{ "RETR 2\r\n", POP3_PARSE_DONE, POP3_CMD_RETR, 0, 1, "2", NULL, "2" },
	{ "DELE 3\r\n", POP3_PARSE_DONE, POP3_CMD_DELE, 0, 1, "3", NULL, "3" },
	{ "NOOP\r\n", POP3_PARSE_DONE, POP3_CMD_NOOP, 0, 0, NULL, NULL, "" },
	{ "RSET\r\n", POP3_PARSE_DONE, POP3_CMD_RSET, 0, 0, NULL, NULL, "" },
	{ "QUIT\r\n", POP3_PARSE_DONE, POP3_CMD_QUIT, 0, 0, NULL, NULL, "" },
	{ "UIDL\r\n", POP3_PARSE_DONE, POP3_CMD_UIDL, 0, 0, NULL, NULL, "" },
	{ "CAPA\r\n", POP3_PARSE_DONE, POP3_CMD_CAPA, 0, 0, NULL, NULL, "" },
	{ "STLS\r\n", POP3_PARSE_DONE, POP3_CMD_STLS, 0, 0, NULL, NULL, "" },
	{ "AUTH PLAIN AGEAYg==\r\n", POP3_PARSE_DONE, POP3_CMD_AUTH, 0, 2, "PLAIN",
	  "AGEAYg==", "PLAIN AGEAYg==" },
	{ "APOP a b\r\n", POP3_PARSE_DONE, POP3_CMD_APOP, 0, 2, "a", "b", "a b" },
	{ "GET / HTTP/1.1\r\n", POP3_PARSE_DONE, POP3_CMD_UNKNOWN, 0, 2, "/", "HTTP/1.1",
	  "/ HTTP/1.1" },
	{ "STATS\r\n", POP3_PARSE_DONE, POP3_CMD_UNKNOWN, 0, 0, NULL, NULL, "" },
	{ "ST\r\n", POP3_PARSE_DONE, POP3_CMD_UNKNOWN, 0, 0, NULL, NULL, "" },
	{ "\r\n", POP3_PARSE_ERROR, 0, POP3_ERR_EMPTY, 0, NULL, NULL, NULL },
	{ "\n", POP3_PARSE_ERROR, 0, POP3_ERR_EMPTY, 0, NULL, NULL, NULL },
	{ " STAT\r\n", POP3_PARSE_ERROR, 0, POP3_ERR_EMPTY, 0, NULL, NULL, NULL },
	{ "US\0ER a\r\n", POP3_PARSE_ERROR, 0, POP3_ERR_NUL, 0, NULL, NULL, NULL },
	{ "USER a\rb\r\n", POP3_PARSE_DONE, POP3_CMD_USER, 0, 1, "a\rb", NULL, "a\rb" },
	{ "USER ütf8\r\n", POP3_PARSE_DONE, POP3_CMD_USER, 0, 1, "ütf8", NULL, "ütf8" },
};

/* Length of a table input (NUL inside: up to the LF). */
static size_t
case_len(const char *s)
{
	const char *lf = strchr(s, '\n');
	size_t n = strlen(s);

	if (lf == NULL) {	/* "US\0ER..." */
		const char *p = s + n + 1;

		lf = strchr(p, '\n');
		return (size_t)(lf - s) + 1;
	}
	return (size_t)(lf - s) + 1;
}

static void
check_arg(const struct pop3_arg *a, const char *want)
{
	if (want == NULL)
		return;
	assert_int_equal(a->len, strlen(want));
	assert_memory_equal(a->p, want, a->len);
}

static void
check_case(const struct lcase *c, enum pop3_parse_result r, const struct pop3_cmd *cmd)
{
	assert_int_equal(r, c->res);
	if (r == POP3_PARSE_ERROR) {
		assert_int_equal(cmd->error, c->err);
		return;
	}
	assert_int_equal(cmd->id, c->id);
	assert_int_equal(cmd->argc, c->argc);
	check_arg(&cmd->args[0], c->arg0);
	check_arg(&cmd->args[1], c->arg1);
	check_arg(&cmd->rest, c->rest);
}

/* Feed data in pieces of `step` bytes (0 = whole) through a growing buffer. */
static enum pop3_parse_result
feed(const char *data, size_t len, size_t first, size_t step, struct pop3_cmd *cmd,
    size_t *consumed_r)
{
	struct pop3_cmd_parser p;
	size_t have = first == 0 ? len : first, used, off = 0;
	enum pop3_parse_result r;

	pop3_cmd_parser_init(&p, POP3_LINE_MAX);
	for (;;) {
		r = pop3_cmd_parse(&p, (const unsigned char *)data + off, have - off, cmd, &used);
		off += used;
		if (r != POP3_PARSE_MORE) {
			*consumed_r = off;
			return r;
		}
		if (have == len) {
			*consumed_r = off;
			return r;
		}
		have = step == 0 ? len : MIN(len, have + step);
	}
}

static void
test_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(lines); i++) {
		const struct lcase *c = &lines[i];
		size_t len = case_len(c->in), used;
		struct pop3_cmd cmd;
		enum pop3_parse_result r;

		r = feed(c->in, len, 0, 0, &cmd, &used);
		check_case(c, r, &cmd);
		assert_int_equal(used, len);
		for (size_t split = 1; split < len; split++) {
			r = feed(c->in, len, split, 0, &cmd, &used);
			check_case(c, r, &cmd);
			assert_int_equal(used, len);
		}
		r = feed(c->in, len, 1, 1, &cmd, &used);
		check_case(c, r, &cmd);
		assert_int_equal(used, len);
	}
}

static void
test_incomplete(void **state)
{
	struct pop3_cmd_parser p;
	struct pop3_cmd cmd;
	size_t used;

	(void)state;
	pop3_cmd_parser_init(&p, POP3_LINE_MAX);
	assert_int_equal(pop3_cmd_parse(&p, (const unsigned char *)"STAT", 4, &cmd, &used),
	    POP3_PARSE_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(pop3_cmd_parse(&p, (const unsigned char *)"", 0, &cmd, &used),
	    POP3_PARSE_MORE);
	assert_int_equal(used, 0);
}

/* Exactly 255 octets with CRLF pass; 256 do not; a bare LF line gets the same limit. */
static void
test_limit(void **state)
{
	char line[600];
	struct pop3_cmd cmd;
	size_t used;

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "USER ", 5);
	memcpy(line + 253, "\r\n", 2);
	assert_int_equal(feed(line, 255, 0, 0, &cmd, &used), POP3_PARSE_DONE);
	assert_int_equal(cmd.args[0].len, 248);
	memset(line, 'a', sizeof(line));
	memcpy(line, "USER ", 5);
	memcpy(line + 254, "\r\n", 2);
	assert_int_equal(feed(line, 256, 0, 0, &cmd, &used), POP3_PARSE_ERROR);
	assert_int_equal(cmd.error, POP3_ERR_TOOLONG);
	assert_int_equal(used, 256);
	memset(line, 'a', sizeof(line));
	line[254] = '\n';	/* 254 octets of text: 256 with CRLF */
	assert_int_equal(feed(line, 255, 0, 0, &cmd, &used), POP3_PARSE_ERROR);
	assert_int_equal(cmd.error, POP3_ERR_TOOLONG);
	assert_int_equal(used, 255);
	line[253] = '\n';
	assert_int_equal(feed(line, 254, 0, 0, &cmd, &used), POP3_PARSE_DONE);
}

/*
 * An overlong line then two commands: one TOOLONG, then STAT and QUIT, in every way of
 * feeding the bytes.
 */
static void
test_long_then_pipelined(void **state)
{
	char data[1200];
	size_t n = 0;

	(void)state;
	memset(data, 'x', 1000);
	n = 1000;
	memcpy(data + n, "\r\nSTAT\r\nQUIT\r\n", 14);
	n += 14;
	for (size_t step = 1; step <= n; step = step < 16 ? step + 1 : step * 3) {
		struct pop3_cmd_parser p;
		struct pop3_cmd cmd;
		size_t have = MIN(step, n), off = 0, used;
		unsigned errors = 0, stat = 0, quit = 0;

		pop3_cmd_parser_init(&p, POP3_LINE_MAX);
		for (;;) {
			enum pop3_parse_result r = pop3_cmd_parse(&p,
			    (const unsigned char *)data + off, have - off, &cmd, &used);

			off += used;
			if (r == POP3_PARSE_ERROR) {
				assert_int_equal(cmd.error, POP3_ERR_TOOLONG);
				errors++;
			} else if (r == POP3_PARSE_DONE) {
				if (cmd.id == POP3_CMD_STAT)
					stat++;
				else if (cmd.id == POP3_CMD_QUIT)
					quit++;
				else
					fail();
			} else if (used == 0) {
				if (have == n)
					break;
				have = MIN(n, have + step);
			}
		}
		assert_int_equal(off, n);
		assert_int_equal(errors, 1);
		assert_int_equal(stat, 1);
		assert_int_equal(quit, 1);
		assert_false(p.skipping);
	}
}

static void
test_numbers(void **state)
{
	static const struct { const char *s; int ret; uint32_t v; } t[] = {
		{ "1", 0, 1 }, { "0", 0, 0 }, { "4294967295", 0, UINT32_MAX },
		{ "4294967296", -1, 0 }, { "-1", -1, 0 }, { "+1", -1, 0 }, { "1a", -1, 0 },
		{ "", -1, 0 }, { "00000000001", -1, 0 }, { "007", 0, 7 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(t); i++) {
		struct pop3_arg a = { t[i].s, strlen(t[i].s) };
		uint32_t v = 12345;

		assert_int_equal(pop3_arg_u32(&a, &v), t[i].ret);
		if (t[i].ret == 0)
			assert_int_equal(v, t[i].v);
	}
	assert_int_equal(pop3_arg_u32(NULL, NULL), -1);
}

struct ecase {
	const char *in;
	bool top;
	uint64_t lines;
	const char *want;
};

static const struct ecase enc[] = {
	{ "A: b\n\nbody\n", false, 0, "A: b\r\n\r\nbody\r\n.\r\n" },
	{ "A: b\r\n\r\nbody\r\n", false, 0, "A: b\r\n\r\nbody\r\n.\r\n" },
	{ "A: b\n\n.\n..x\n.", false, 0, "A: b\r\n\r\n..\r\n...x\r\n..\r\n.\r\n" },
	{ "no end", false, 0, "no end\r\n.\r\n" },
	{ "cr end\r", false, 0, "cr end\r\n.\r\n" },
	{ "bare\rcr\n", false, 0, "bare\rcr\r\n.\r\n" },
	{ "", false, 0, ".\r\n" },
	{ "H: 1\nH: 2\n\nl1\nl2\nl3\n", true, 0, "H: 1\r\nH: 2\r\n\r\n.\r\n" },
	{ "H: 1\nH: 2\n\nl1\nl2\nl3\n", true, 2, "H: 1\r\nH: 2\r\n\r\nl1\r\nl2\r\n.\r\n" },
	{ "H: 1\nH: 2\n\nl1\nl2\nl3\n", true, 9, "H: 1\r\nH: 2\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n" },
	{ "H: 1\r\n\r\n.l1\r\nl2", true, 1, "H: 1\r\n\r\n..l1\r\n.\r\n" },
	{ "H: 1\nno body", true, 0, "H: 1\r\nno body\r\n.\r\n" },
	{ "H: 1\n\nl1 no end", true, 5, "H: 1\r\n\r\nl1 no end\r\n.\r\n" },
};

/* Encode in pieces of `step` input bytes with an output buffer of `osize` bytes. */
static void
encode_all(const struct ecase *c, size_t step, size_t osize, struct buf *out)
{
	struct pop3_encoder e;
	const unsigned char *in = (const unsigned char *)c->in;
	size_t len = strlen(c->in), off = 0;
	unsigned char ob[64];

	buf_reset(out);
	pop3_encoder_init(&e, c->top, c->lines);
	while (off < len) {
		size_t end = step == 0 ? len : MIN(len, off + step), used, w;

		while (off < end) {
			w = pop3_encode(&e, in + off, end - off, ob, osize, &used);
			assert_true(w <= osize);
			assert_int_equal(buf_append(out, ob, w), 0);
			assert_true(used > 0 || w > 0);
			off += used;
		}
	}
	assert_int_equal(buf_append(out, ob, pop3_encoder_finish(&e, ob, sizeof(ob))), 0);
}

static void
test_encoder(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	for (size_t i = 0; i < N_ELEMENTS(enc); i++) {
		size_t len = strlen(enc[i].in);

		for (size_t step = 0; step <= len; step++) {
			for (size_t osize = 2; osize <= 64; osize = osize == 2 ? 3 : osize * 4) {
				encode_all(&enc[i], step, osize, &out);
				assert_int_equal(out.len, strlen(enc[i].want));
				assert_memory_equal(out.data, enc[i].want, out.len);
			}
		}
	}
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_long_then_pipelined),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_encoder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
