/*
 * test_managesieve.c — unit tests for the ManageSieve command line parser: a table of
 * lines (atoms, quoted strings with escapes, {n+} and {n} literals, SASL response lines)
 * fed whole and through every growing prefix; malformed input (bad escapes, NUL, bare
 * CR, unterminated strings, too many arguments) dropped through its LF with the next
 * command still parsed; the line and literal limits; numbers and script names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto/managesieve.h"

static const struct ms_limits lim = { 200, 100 };

struct lcase {
	const char *in;
	size_t in_len;		/* 0: strlen */
	bool string_only;
	enum ms_parse_result res;
	enum ms_error err;
	const char *name;
	unsigned argc;
	const char *arg0, *arg1;
	size_t used;		/* 0: the whole input */
};

static struct ms_cmd cmd;

static const struct lcase lines[] = {
	{ "CAPABILITY\r\n", 0, false, MS_PARSE_DONE, 0, "CAPABILITY", 0, NULL, NULL, 0 },
	{ "noop\n", 0, false, MS_PARSE_DONE, 0, "noop", 0, NULL, NULL, 0 },
	{ "NOOP \"tag\"\r\n", 0, false, MS_PARSE_DONE, 0, "NOOP", 1, "tag", NULL, 0 },
	{ "PUTSCRIPT \"a b\" {5+}\r\nkeep;\r\n", 0, false, MS_PARSE_DONE, 0, "PUTSCRIPT", 2,
	  "a b", "keep;", 0 },
	{ "PUTSCRIPT {1}\r\nx {0+}\r\n\r\n", 0, false, MS_PARSE_DONE, 0, "PUTSCRIPT", 2, "x",
	  "", 0 },
	{ "RENAMESCRIPT \"a\\\"b\" \"c\\\\d\"\r\n", 0, false, MS_PARSE_DONE, 0,
	  "RENAMESCRIPT", 2, "a\"b", "c\\d", 0 },
	{ "HAVESPACE \"x\" 1000\r\n", 0, false, MS_PARSE_DONE, 0, "HAVESPACE", 2, "x", "1000",
	  0 },
	{ "SETACTIVE \"\"  \r\n", 0, false, MS_PARSE_DONE, 0, "SETACTIVE", 1, "", NULL, 0 },
	{ "GETSCRIPT {3+}\r\na\0b\r\n", 21, false, MS_PARSE_DONE, 0, "GETSCRIPT", 1, NULL,
	  NULL, 0 },
	{ "\"AGFsaWNlAHM=\"\r\n", 0, true, MS_PARSE_DONE, 0, NULL, 1, "AGFsaWNlAHM=", NULL, 0 },
	{ "{4+}\r\n\"*\"\"\r\n", 0, true, MS_PARSE_DONE, 0, NULL, 1, "\"*\"\"", NULL, 0 },
	/* malformed: dropped through the LF */
	{ "\r\nNOOP\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 2 },
	{ "NOOP \"a\\x\"\r\nNOOP\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL,
	  NULL, 12 },
	{ "NOOP \"a\0\"\r\nNOOP\r\n", 17, false, MS_PARSE_ERROR, MS_ERR_NUL, NULL, 0, NULL,
	  NULL, 11 },
	{ "NOOP a\0\r\n", 9, false, MS_PARSE_ERROR, MS_ERR_NUL, NULL, 0, NULL, NULL, 0 },
	{ "NOOP\rX\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "NOOP \"abc\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "NOOP (x)\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "NOOP {x}\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "NOOP {}\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "NOOP {2+} \r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "X a b c d e\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_ARGS, NULL, 0, NULL, NULL, 0 },
	{ "\"a\" \"b\"\r\n", 0, true, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "\r\n", 0, true, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	{ "\"a\"x\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_SYNTAX, NULL, 0, NULL, NULL, 0 },
	/* limits: a literal too long to take is skippable, a line too long is not */
	{ "PUTSCRIPT \"a\" {101+}\r\n", 0, false, MS_PARSE_ERROR, MS_ERR_LITERAL, NULL, 0,
	  NULL, NULL, 0 },
	{ "PUTSCRIPT \"a\" {99999999999999999999999+}\r\n", 0, false, MS_PARSE_ERROR,
	  MS_ERR_LITERAL, NULL, 0, NULL, NULL, 1 /* unbounded: nothing used */ },
};

static size_t
case_len(const struct lcase *t)
{
	return t->in_len != 0 ? t->in_len : strlen(t->in);
}

static void
check_case(const struct lcase *t, enum ms_parse_result r, size_t used)
{
	size_t len = case_len(t);

	assert_int_equal(r, t->res);
	if (r == MS_PARSE_ERROR) {
		assert_int_equal(cmd.error, t->err);
		if (t->err == MS_ERR_TOOLONG || (t->err == MS_ERR_LITERAL && t->used == 1)) {
			assert_int_equal(used, 0);
			assert_int_equal(cmd.skip, 0);
		} else if (t->err == MS_ERR_LITERAL) {
			/* skippable: through its header, with its length */
			assert_int_equal(used, len);
			assert_int_equal(cmd.skip, 101);
		} else
			assert_int_equal(used, t->used != 0 ? t->used : len);
		return;
	}
	assert_int_equal(used, t->used != 0 ? t->used : len);
	if (t->name != NULL)
		assert_true(cmd.name.len == strlen(t->name) &&
		    memcmp(cmd.name.p, t->name, cmd.name.len) == 0);
	assert_int_equal(cmd.argc, t->argc);
	if (t->arg0 != NULL)
		assert_true(cmd.args[0].len == strlen(t->arg0) &&
		    memcmp(cmd.args[0].p, t->arg0, cmd.args[0].len) == 0);
	if (t->arg1 != NULL)
		assert_true(cmd.args[1].len == strlen(t->arg1) &&
		    memcmp(cmd.args[1].p, t->arg1, cmd.args[1].len) == 0);
}

static void
test_whole(void **state)
{
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct lcase *t = &lines[i];
		size_t used;
		enum ms_parse_result r = managesieve_parse((const unsigned char *)t->in,
		    case_len(t), &lim, t->string_only, &cmd, &used);

		check_case(t, r, used);
	}
}

/* Every prefix gives MORE or the same answer as the whole line (byte by byte arrival). */
static void
test_prefixes(void **state)
{
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct lcase *t = &lines[i];
		size_t len = case_len(t), used;

		for (size_t k = 0; k <= len; k++) {
			enum ms_parse_result r = managesieve_parse((const unsigned char *)t->in,
			    k, &lim, t->string_only, &cmd, &used);

			if (r == MS_PARSE_MORE) {
				assert_int_equal(used, 0);
				continue;
			}
			check_case(t, r, used);
			break;
		}
	}
}

static void
test_limits(void **state)
{
	char line[600];
	size_t used;

	/* a line without an end: TOOLONG once past line_max, MORE before */
	memset(line, 'A', sizeof(line));
	assert_int_equal(managesieve_parse((unsigned char *)line, 150, &lim, false, &cmd,
	    &used), MS_PARSE_MORE);
	assert_int_equal(managesieve_parse((unsigned char *)line, 201 + 20, &lim, false, &cmd,
	    &used), MS_PARSE_ERROR);
	/* a long name ending exactly at the end of the input (found by the fuzzer) */
	assert_int_equal(managesieve_parse((unsigned char *)line, MS_NAME_MAX + 1, &lim, false,
	    &cmd, &used), MS_PARSE_MORE);
	/* a long name is a syntax error, dropped at its LF */
	memcpy(line + 100, "\r\n", 2);
	assert_int_equal(managesieve_parse((unsigned char *)line, 102, &lim, false, &cmd,
	    &used), MS_PARSE_ERROR);
	assert_int_equal(cmd.error, MS_ERR_SYNTAX);
	assert_int_equal(used, 102);
	/* an overlong quoted string: TOOLONG (the line limit is below MS_QUOTED_MAX) */
	line[0] = 'X';
	line[1] = ' ';
	line[2] = '"';
	memset(line + 3, 'b', sizeof(line) - 3);
	assert_int_equal(managesieve_parse((unsigned char *)line, sizeof(line), &lim, false,
	    &cmd, &used), MS_PARSE_ERROR);
	assert_int_equal(cmd.error, MS_ERR_TOOLONG);
	/* literal contents do not count against the line: 100 bytes + a short line */
	{
		char l2[200];
		int n = snprintf(l2, sizeof(l2), "P {100+}\r\n");

		memset(l2 + n, 'x', 100);
		memcpy(l2 + n + 100, "\r\n", 2);
		assert_int_equal(managesieve_parse((unsigned char *)l2, (size_t)n + 102, &lim,
		    false, &cmd, &used), MS_PARSE_DONE);
		assert_int_equal(cmd.args[0].len, 100);
		assert_true(cmd.args[0].literal);
	}
}

static void
test_numbers_names(void **state)
{
	struct ms_arg a = { MS_ARG_ATOM, "4294967295", 10, false };
	uint32_t n;

	assert_int_equal(managesieve_arg_u32(&a, &n), 0);
	assert_int_equal(n, UINT32_MAX);
	a.p = "4294967296";
	assert_int_equal(managesieve_arg_u32(&a, &n), -1);
	a.p = "12a";
	a.len = 3;
	assert_int_equal(managesieve_arg_u32(&a, &n), -1);
	a.type = MS_ARG_STRING;
	a.p = "123";
	assert_int_equal(managesieve_arg_u32(&a, &n), -1);

	assert_true(managesieve_name_valid("vacation", 8));
	assert_true(managesieve_name_valid("caf\xc3\xa9 rules", 11));
	assert_false(managesieve_name_valid("", 0));
	assert_false(managesieve_name_valid("a\tb", 3));
	assert_false(managesieve_name_valid("a\x7f", 2));
	assert_false(managesieve_name_valid("\xc2\x85", 2));	/* C1 NEL */
	assert_false(managesieve_name_valid("\xe2\x80\xa8", 3));	/* LS */
	assert_false(managesieve_name_valid("\xc0\xaf", 2));	/* overlong */
	assert_false(managesieve_name_valid("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(managesieve_name_valid("\xe2\x82", 2));	/* truncated */
	assert_false(managesieve_name_valid("a\0b", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_numbers_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
