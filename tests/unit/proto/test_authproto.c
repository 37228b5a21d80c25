/*
 * test_authproto.c — unit tests for the Dovecot auth protocol line parser: a table of
 * client lines (Postfix's handshake and AUTH lines, CONT, unknown parameters and
 * commands, malformed numbers, missing fields, duplicate parameters, NUL, CR LF) fed
 * whole, split at every offset and byte by byte; the line limit; pipelined lines; and
 * the \001 escaping of values the server sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/authproto.h"
#include "lib/buf.h"

struct lcase {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	enum authproto_result res;
	enum authproto_cmd_id id;
	enum authproto_error err;
	uint32_t req_id;
	const char *mech, *service, *rip, *lip, *resp, *data;
	bool secured;
};

#define OK(in_, id_) { .in = in_, .res = AUTHPROTO_DONE, .id = id_ }
#define BAD(in_, id_, err_) { .in = in_, .res = AUTHPROTO_ERROR, .id = id_, .err = err_ }
#define AUTHL(in_, req_, mech_, service_, rip_, lip_, resp_, secured_) { .in = in_, \
	.res = AUTHPROTO_DONE, .id = AUTHPROTO_AUTH, .req_id = req_, .mech = mech_, \
	.service = service_, .rip = rip_, .lip = lip_, .resp = resp_, .secured = secured_ }
#define CONTL(in_, req_, data_) { .in = in_, .res = AUTHPROTO_DONE, .id = AUTHPROTO_CONT, \
	.req_id = req_, .data = data_ }

static const struct lcase lines[] = {
	OK("VERSION\t1\t0\n", AUTHPROTO_VERSION),
	OK("VERSION\t1\t2\textra\r\n", AUTHPROTO_VERSION),
	BAD("VERSION\t1\n", AUTHPROTO_VERSION, AUTHPROTO_ERR_SYNTAX),
	BAD("VERSION\tx\t1\n", AUTHPROTO_VERSION, AUTHPROTO_ERR_SYNTAX),
	OK("CPID\t4242\n", AUTHPROTO_CPID),
	BAD("CPID\t0\n", AUTHPROTO_CPID, AUTHPROTO_ERR_SYNTAX),
	BAD("CPID\t99999999999\n", AUTHPROTO_CPID, AUTHPROTO_ERR_SYNTAX),
	BAD("CPID\t-1\n", AUTHPROTO_CPID, AUTHPROTO_ERR_SYNTAX),
	BAD("CPID\n", AUTHPROTO_CPID, AUTHPROTO_ERR_SYNTAX),
	/* Postfix's AUTH line */
	AUTHL("AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=192.0.2.7\tsecured\t"
	    "resp=AGFsaWNlAHNlY3JldA==\n", 1, "PLAIN", "smtp", "192.0.2.7", "127.0.0.1",
	    "AGFsaWNlAHNlY3JldA==", true),
	AUTHL("AUTH\t7\tLOGIN\tservice=smtp\tnologin\tlip=::1\trip=::1\n", 7, "LOGIN", "smtp",
	    "::1", "::1", NULL, false),
	AUTHL("AUTH\t4294967295\tPLAIN\tservice=imap\tresp=\tsession=x\tlport=25\n",
	    4294967295u, "PLAIN", "imap", NULL, NULL, "", false),
	AUTHL("AUTH\t2\tPLAIN\n", 2, "PLAIN", NULL, NULL, NULL, NULL, false),
	BAD("AUTH\t4294967296\tPLAIN\tservice=smtp\n", AUTHPROTO_AUTH, AUTHPROTO_ERR_SYNTAX),
	BAD("AUTH\t\tPLAIN\tservice=smtp\n", AUTHPROTO_AUTH, AUTHPROTO_ERR_SYNTAX),
	BAD("AUTH\t1\n", AUTHPROTO_AUTH, AUTHPROTO_ERR_SYNTAX),
	BAD("AUTH\t1\t\tservice=smtp\n", AUTHPROTO_AUTH, AUTHPROTO_ERR_SYNTAX),
	BAD("AUTH\t1\tPLAIN\tservice=smtp\trip=1.2.3.4\trip=5.6.7.8\n", AUTHPROTO_AUTH,
	    AUTHPROTO_ERR_SYNTAX),
	BAD("AUTH\t1\tPLAIN\tservice=smtp\tresp=AA==\tresp=AA==\n", AUTHPROTO_AUTH,
	    AUTHPROTO_ERR_SYNTAX),
	BAD("AUTH\t1\tPLAIN\tservice=smtp\tsecured\tsecured\n", AUTHPROTO_AUTH,
	    AUTHPROTO_ERR_SYNTAX),
	/* "ripx=" and "rip" alone are unknown parameters, not rip */
	AUTHL("AUTH\t3\tPLAIN\tripx=1\trip\tservice=smtp\n", 3, "PLAIN", "smtp", NULL, NULL,
	    NULL, false),
	CONTL("CONT\t1\tdXNlcg==\n", 1, "dXNlcg=="),
	CONTL("CONT\t9\t\r\n", 9, ""),
	BAD("CONT\t9\n", AUTHPROTO_CONT, AUTHPROTO_ERR_SYNTAX),
	BAD("CONT\t9\ta\tb\n", AUTHPROTO_CONT, AUTHPROTO_ERR_SYNTAX),
	BAD("CONT\tx\ta\n", AUTHPROTO_CONT, AUTHPROTO_ERR_SYNTAX),
	OK("REQUEST\t1\t2\n", AUTHPROTO_UNKNOWN),
	OK("auth\t1\tPLAIN\n", AUTHPROTO_UNKNOWN),
	OK("\n", AUTHPROTO_UNKNOWN),
	{ .in = "AUTH\t1\tPL\0AIN\tservice=smtp\n", .len = 27, .res = AUTHPROTO_ERROR,
	  .err = AUTHPROTO_ERR_NUL },
};

static size_t
case_len(const struct lcase *c)
{
	return c->len != 0 ? c->len : strlen(c->in);
}

static void
check_str(const struct authproto_str *s, const char *want)
{
	if (want == NULL) {
		assert_null(s->p);
		return;
	}
	assert_non_null(s->p);
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->p, want, s->len);
}

static void
check_case(const struct lcase *c, enum authproto_result r, const struct authproto_cmd *cmd)
{
	assert_int_equal(r, c->res);
	assert_int_equal(cmd->id, c->id);
	if (r == AUTHPROTO_ERROR) {
		assert_int_equal(cmd->error, c->err);
		return;
	}
	if (c->id != AUTHPROTO_AUTH && c->id != AUTHPROTO_CONT)
		return;
	assert_int_equal(cmd->req_id, c->req_id);
	check_str(&cmd->mech, c->mech);
	check_str(&cmd->service, c->service);
	check_str(&cmd->rip, c->rip);
	check_str(&cmd->lip, c->lip);
	check_str(&cmd->resp, c->resp);
	check_str(&cmd->data, c->data);
	assert_int_equal(cmd->secured, c->secured);
}

/* Feed data[0..len) growing by step octets from first (0: whole) until not MORE. */
static enum authproto_result
feed(const char *data, size_t len, size_t first, size_t step, struct authproto_cmd *cmd,
    size_t *used_r)
{
	size_t have = first == 0 ? len : first;
	enum authproto_result r;

	for (;;) {
		r = authproto_parse((const unsigned char *)data, have, cmd, used_r);
		if (r != AUTHPROTO_MORE || have == len)
			return r;
		assert_int_equal(*used_r, 0);
		have = step == 0 ? len : MIN(len, have + step);
	}
}

static void
test_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(lines); i++) {
		const struct lcase *c = &lines[i];
		size_t len = case_len(c), used;
		struct authproto_cmd cmd;
		enum authproto_result r;

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
test_pipelined(void **state)
{
	static const char in[] = "VERSION\t1\t0\nCPID\t77\nAUTH\t1\tLOGIN\tservice=smtp\n"
	    "CONT\t1\tYWxpY2U=\nAUTH\t2\tPLAIN\tservice=smtp\n";
	enum authproto_cmd_id want[] = { AUTHPROTO_VERSION, AUTHPROTO_CPID, AUTHPROTO_AUTH,
	    AUTHPROTO_CONT, AUTHPROTO_AUTH };
	size_t off = 0, used;
	struct authproto_cmd cmd;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(want); i++) {
		assert_int_equal(authproto_parse((const unsigned char *)in + off,
		    sizeof(in) - 1 - off, &cmd, &used), AUTHPROTO_DONE);
		assert_int_equal(cmd.id, want[i]);
		off += used;
	}
	assert_int_equal(off, sizeof(in) - 1);
	assert_int_equal(authproto_parse((const unsigned char *)in + off, 0, &cmd, &used),
	    AUTHPROTO_MORE);
}

static void
test_line_limit(void **state)
{
	unsigned char *big = malloc(AUTHPROTO_LINE_MAX + 10);
	struct authproto_cmd cmd;
	size_t used;

	(void)state;
	memset(big, 'A', AUTHPROTO_LINE_MAX + 10);
	/* just under the limit without LF: more may come */
	assert_int_equal(authproto_parse(big, AUTHPROTO_LINE_MAX - 1, &cmd, &used),
	    AUTHPROTO_MORE);
	/* a line of exactly the limit, LF included, is accepted */
	big[AUTHPROTO_LINE_MAX - 1] = '\n';
	assert_int_equal(authproto_parse(big, AUTHPROTO_LINE_MAX + 10, &cmd, &used),
	    AUTHPROTO_DONE);
	assert_int_equal(used, AUTHPROTO_LINE_MAX);
	/* one more octet is too long, whatever follows */
	big[AUTHPROTO_LINE_MAX - 1] = 'A';
	big[AUTHPROTO_LINE_MAX] = '\n';
	assert_int_equal(authproto_parse(big, AUTHPROTO_LINE_MAX + 10, &cmd, &used),
	    AUTHPROTO_ERROR);
	assert_int_equal(cmd.error, AUTHPROTO_ERR_TOOLONG);
	assert_int_equal(used, 0);
	assert_int_equal(authproto_parse(big, AUTHPROTO_LINE_MAX, &cmd, &used),
	    AUTHPROTO_ERROR);
	free(big);
}

static void
test_escape(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(authproto_escape("alice", 5, out, sizeof(out)), 5);
	assert_string_equal(out, "alice");
	assert_int_equal(authproto_escape("a\tb\nc\rd\001e\0f", 11, out, sizeof(out)), 16);
	assert_memory_equal(out, "a\001tb\001nc\001rd\0011e\0010f", 17);
	assert_int_equal(authproto_escape("abc", 3, out, 4), 3);
	assert_int_equal(authproto_escape("abc", 3, out, 3), -1);
	assert_int_equal(authproto_escape("a\t", 2, out, 4), 3);
	assert_int_equal(authproto_escape("a\t", 2, out, 3), -1);
	assert_int_equal(authproto_escape("", 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(authproto_escape("", 0, out, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
