/*
 * test_sieve.c — unit tests for the Sieve front end (src/sieve): the RFC example
 * scripts of tests/sieve/good/ compile; each script of tests/sieve/bad/ fails with the
 * first error at the line:column and with the text its first line announces
 * ("# expect L:C text"); string decoding (escapes, text: dot-stuffing, CRLF), numbers
 * and quantifiers; the validated tree (positional slots, tags, normalised match
 * parameters); every limit; and every prefix of every script compiles or fails
 * cleanly. SIEVE_SCRIPTS names the tests/sieve directory (set by meson).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include "lib/buf.h"
#include "sieve/sieve.h"

static struct sieve_limits lim;

static struct sieve_script *
compile(const char *text, struct sieve_errors *errs)
{
	return sieve_compile(text, strlen(text), &lim, errs);
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char tmp[4096];
	size_t n;

	assert_non_null(f);
	buf_init(&b, 1024 * 1024);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(&b, tmp, n), 0);
	fclose(f);
	*len_r = b.len;
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

/* Calls fn(path, text, len) for each *.sieve file of tests/sieve/<sub>; returns the count. */
static unsigned
each_script(const char *sub, void (*fn)(const char *, const char *, size_t))
{
	const char *dir = getenv("SIEVE_SCRIPTS");
	char path[1024];
	struct dirent *de;
	unsigned count = 0;
	DIR *d;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name), len;
		char *text;

		if (nl < 7 || strcmp(de->d_name + nl - 6, ".sieve") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, de->d_name);
		text = slurp(path, &len);
		fn(path, text, len);
		free(text);
		count++;
	}
	closedir(d);
	return count;
}

static void
good_one(const char *path, const char *text, size_t len)
{
	struct sieve_errors errs;
	struct sieve_script *s = sieve_compile(text, len, &lim, &errs);

	if (s == NULL)
		fail_msg("%s: line %u:%u: %s", path, errs.list[0].line, errs.list[0].col,
		    errs.list[0].text);
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);
}

static void
test_good_scripts(void **state)
{
	assert_true(each_script("good", good_one) >= 30);
}

static void
bad_one(const char *path, const char *text, size_t len)
{
	struct sieve_errors errs;
	struct sieve_script *s = sieve_compile(text, len, &lim, &errs);
	unsigned line, col;
	int used = 0;
	char want[256];
	const char *nl = memchr(text, '\n', len);

	assert_true(len > 9 && memcmp(text, "# expect ", 9) == 0 && nl != NULL);
	assert_true(sscanf(text + 9, "%u:%u %n", &line, &col, &used) == 2 && used > 0);
	snprintf(want, sizeof(want), "%.*s", (int)(nl - text - 9 - used), text + 9 + used);
	const struct sieve_error *e;

	if (s != NULL)
		fail_msg("%s: compiled", path);
	assert_true(errs.count > errs.warnings);
	for (e = errs.list; e->warning; e++)
		;
	if (e->line != line || e->col != col || strstr(e->text, want) == NULL)
		fail_msg("%s: want %u:%u %s; got %u:%u %s", path, line, col, want, e->line,
		    e->col, e->text);
	sieve_errors_deinit(&errs);
}

static void
test_bad_scripts(void **state)
{
	assert_true(each_script("bad", bad_one) >= 50);
}

/* Every prefix of a script compiles or fails with at least one error. */
static void
prefix_one(const char *path, const char *text, size_t len)
{
	for (size_t n = 0; n <= len; n++) {
		struct sieve_errors errs;
		struct sieve_script *s = sieve_compile(text, n, &lim, &errs);

		assert_true((s == NULL) == (errs.count > errs.warnings));
		sieve_script_destroy(&s);
		sieve_errors_deinit(&errs);
	}
}

static void
test_prefixes(void **state)
{
	each_script("good", prefix_one);
	each_script("bad", prefix_one);
}

static void
test_several_errors(void **state)
{
	struct sieve_errors errs;
	struct sieve_script *s = compile("foo;\nbar;\nfoo;\nif baz { keep; }\n"
	    "keep \"x\";\n", &errs);

	assert_null(s);
	assert_int_equal(errs.count, 4);
	assert_string_equal(errs.list[0].text, "unknown command 'foo'.");
	assert_string_equal(errs.list[1].text, "unknown command 'bar'.");
	assert_int_equal(errs.list[2].line, 4);
	assert_string_equal(errs.list[2].text, "unknown test 'baz'.");
	assert_int_equal(errs.list[3].line, 5);
	sieve_errors_deinit(&errs);

	/* syntax errors: recovery at the next ';' or '}' */
	s = compile("keep @;\nstop %;\nif true { discard ) ; keep; }\n", &errs);
	assert_null(s);
	assert_int_equal(errs.count, 3);
	assert_int_equal(errs.list[1].line, 2);
	assert_int_equal(errs.list[2].line, 3);
	assert_int_equal(errs.list[2].col, 19);
	sieve_errors_deinit(&errs);
}

static void
test_error_limit(void **state)
{
	struct buf b;
	struct sieve_errors errs;

	buf_init(&b, BUF_UNLIMITED);
	for (int i = 0; i < 100; i++)
		buf_appendf(&b, "nosuch%d;\n", i);
	assert_null(sieve_compile(b.data, b.len, &lim, &errs));
	assert_int_equal(errs.count, lim.errors_max);
	assert_true(errs.truncated);
	sieve_errors_deinit(&errs);
	buf_deinit(&b);
}

static const struct sieve_node *
top(const struct sieve_script *s, unsigned k)
{
	uint32_t i = s->first;

	while (k-- > 0)
		i = s->nodes[i].next;
	return &s->nodes[i];
}

static void
assert_arg_str(const struct sieve_script *s, uint32_t ai, uint32_t k, const char *want)
{
	size_t len;
	const char *p;

	assert_int_not_equal(ai, SIEVE_NONE);
	p = sieve_arg_str(s, &s->args[ai], k, &len);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(p, want, len);
}

static void
test_strings(void **state)
{
	struct sieve_errors errs;
	struct sieve_script *s = compile(
	    "require \"vacation\";\n"
	    "vacation \"a\\\"b\\\\c\\q\";\n"
	    "vacation \"two\nlines\";\n"
	    "vacation text:   # comment\r\n"
	    "..dot\n"
	    ".x\n"
	    "\n"
	    "last\r\n"
	    ".\n;\n"
	    "vacation text:\n.\n;\n", &errs);

	assert_non_null(s);
	assert_int_equal(top(s, 1)->id, SIEVE_CMD_VACATION);
	assert_arg_str(s, top(s, 1)->pos[0], 0, "a\"b\\cq");
	assert_arg_str(s, top(s, 2)->pos[0], 0, "two\r\nlines");
	assert_arg_str(s, top(s, 3)->pos[0], 0, ".dot\r\nx\r\n\r\nlast\r\n");
	assert_arg_str(s, top(s, 4)->pos[0], 0, "");
	assert_int_equal(top(s, 3)->line, 5);
	assert_int_equal(top(s, 4)->line, 12);
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);
}

static void
test_encoded_character(void **state)
{
	struct sieve_errors errs;
	struct sieve_script *s = compile(
	    "require [\"encoded-character\", \"fileinto\"];\n"
	    "fileinto \"$${hex:24 24}${hex:}x\";\n"
	    "fileinto \"${unicode:263A}${UNICODE: 41 1f600 }${unicode:000000000042}\";\n"
	    "fileinto \"${hex:4142}${hex:4 g}${foo:41}${hex:41\";\n", &errs);

	assert_non_null(s);
	assert_arg_str(s, top(s, 1)->pos[0], 0, "$$$${hex:}x");
	assert_arg_str(s, top(s, 2)->pos[0], 0, "\xe2\x98\xba" "A\xf0\x9f\x98\x80" "B");
	assert_arg_str(s, top(s, 3)->pos[0], 0, "${hex:4142}${hex:4 g}${foo:41}${hex:41");
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);

	/* without require the text stays as is */
	s = compile("require \"fileinto\"; fileinto \"${hex:41}\";", &errs);
	assert_non_null(s);
	assert_arg_str(s, top(s, 1)->pos[0], 0, "${hex:41}");
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);
}

static void
test_numbers(void **state)
{
	static const struct { const char *num; uint64_t want; } cases[] = {
		{ "0", 0 }, { "10", 10 }, { "1k", 1024 }, { "2K", 2048 }, { "3M", 3 << 20 },
		{ "4g", 4ull << 30 }, { "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ull << 30 },
	};
	for (unsigned i = 0; i < N_ELEMENTS(cases); i++) {
		char text[128];
		struct sieve_errors errs;
		struct sieve_script *s;

		snprintf(text, sizeof(text), "if size :over %s { keep; }", cases[i].num);
		s = compile(text, &errs);
		assert_non_null(s);
		assert_int_equal(s->args[s->nodes[top(s, 0)->test_first].pos[0]].number,
		    cases[i].want);
		sieve_script_destroy(&s);
		sieve_errors_deinit(&errs);
	}
}

static void
test_tree(void **state)
{
	struct sieve_errors errs;
	struct sieve_script *s = compile(
	    "require [\"imap4flags\", \"relational\", \"comparator-i;ascii-numeric\", "
	    "\"subaddress\", \"vacation\", \"variables\"];\n"
	    "setflag \"\\\\Seen\";\n"
	    "addflag \"var\" [\"a\", \"b\"];\n"
	    "if anyof (address :detail :count \"GE\" :comparator \"i;ascii-numeric\" "
	    "\"to\" \"2\", not header :contains \"x\" \"y\") { stop; }\n"
	    "vacation :days 3 :subject \"s\" \"reason\";\n", &errs);
	const struct sieve_node *n, *t;

	assert_non_null(s);
	assert_int_equal(s->requires, 1u << SIEVE_CAP_IMAP4FLAGS | 1u << SIEVE_CAP_RELATIONAL |
	    1u << SIEVE_CAP_CMP_NUMERIC | 1u << SIEVE_CAP_SUBADDRESS | 1u << SIEVE_CAP_VACATION |
	    1u << SIEVE_CAP_VARIABLES);
	n = top(s, 1);
	assert_int_equal(n->id, SIEVE_CMD_SETFLAG);
	assert_int_equal(n->pos[0], SIEVE_NONE);	/* optional variable name omitted */
	assert_arg_str(s, n->pos[1], 0, "\\Seen");
	n = top(s, 2);
	assert_arg_str(s, n->pos[0], 0, "var");
	assert_arg_str(s, n->pos[1], 1, "b");
	n = top(s, 3);
	assert_int_equal(n->id, SIEVE_CMD_IF);
	assert_int_equal(n->test_count, 1);
	assert_int_equal(n->block_count, 1);
	assert_int_equal(s->nodes[n->block_first].id, SIEVE_CMD_STOP);
	t = &s->nodes[n->test_first];
	assert_int_equal(t->id, SIEVE_TEST_ANYOF);
	assert_int_equal(t->test_count, 2);
	t = &s->nodes[t->test_first];
	assert_int_equal(t->id, SIEVE_TEST_ADDRESS);
	assert_int_equal(t->match, SIEVE_MATCH_COUNT);
	assert_int_equal(t->relop, SIEVE_REL_GE);
	assert_int_equal(t->comparator, SIEVE_CMP_NUMERIC);
	assert_int_equal(t->addrpart, SIEVE_ADDR_DETAIL);
	assert_arg_str(s, t->pos[0], 0, "to");
	assert_arg_str(s, t->pos[1], 0, "2");
	assert_arg_str(s, sieve_node_tag_value(s, t, SIEVE_TAG_COUNT), 0, "GE");
	t = &s->nodes[t->next];
	assert_int_equal(t->id, SIEVE_TEST_NOT);
	t = &s->nodes[t->test_first];
	assert_int_equal(t->id, SIEVE_TEST_HEADER);
	assert_int_equal(t->match, SIEVE_MATCH_CONTAINS);
	assert_int_equal(t->comparator, SIEVE_CMP_CASEMAP);
	n = top(s, 4);
	assert_int_equal(n->id, SIEVE_CMD_VACATION);
	assert_true(n->tags & (1ull << SIEVE_TAG_DAYS));
	assert_int_equal(s->args[sieve_node_tag_value(s, n, SIEVE_TAG_DAYS)].number, 3);
	assert_arg_str(s, sieve_node_tag_value(s, n, SIEVE_TAG_SUBJECT), 0, "s");
	assert_int_equal(sieve_node_tag_value(s, n, SIEVE_TAG_FROM), SIEVE_NONE);
	assert_arg_str(s, n->pos[0], 0, "reason");
	assert_int_equal(n->next, SIEVE_NONE);
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);
}

static void
expect_error(const char *text, const char *want)
{
	struct sieve_errors errs;
	struct sieve_script *s = sieve_compile(text, strlen(text), &lim, &errs);

	assert_null(s);
	assert_true(errs.count > 0);
	if (strstr(errs.list[0].text, want) == NULL)
		fail_msg("want %s; got %s", want, errs.list[0].text);
	sieve_errors_deinit(&errs);
}

static void
test_limits(void **state)
{
	struct buf b;
	struct sieve_errors errs;
	struct sieve_script *s;
	unsigned i;

	buf_init(&b, BUF_UNLIMITED);
	/* nesting: depth_max commands and tests inside each other, not one more */
	buf_append_str(&b, "if ");
	for (i = 0; i < lim.depth_max - 2; i++)
		buf_append_str(&b, "not ");
	buf_append_str(&b, "true { keep; }");
	s = sieve_compile(b.data, b.len, &lim, &errs);
	assert_non_null(s);
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);
	buf_reset(&b);
	buf_append_str(&b, "if ");
	for (i = 0; i < lim.depth_max - 1; i++)
		buf_append_str(&b, "not ");
	buf_append_str(&b, "true { keep; }");
	s = sieve_compile(b.data, b.len, &lim, &errs);
	assert_null(s);
	assert_non_null(strstr(errs.list[0].text, "nesting too deep"));
	sieve_errors_deinit(&errs);
	/* deep blocks and deep test lists, far past the limit: one error, no recursion */
	buf_reset(&b);
	for (i = 0; i < 100000; i++)
		buf_append_str(&b, "if anyof(");
	s = sieve_compile(b.data, b.len, &lim, &errs);
	assert_null(s);
	assert_int_equal(errs.count, 1);
	sieve_errors_deinit(&errs);
	buf_reset(&b);
	for (i = 0; i < 100000; i++)
		buf_append_str(&b, "if true {");
	s = sieve_compile(b.data, b.len, &lim, &errs);
	assert_null(s);
	assert_int_equal(errs.count, 1);
	sieve_errors_deinit(&errs);

	/* script size */
	buf_reset(&b);
	while (b.len <= lim.script_max)
		buf_append_str(&b, "keep;                                   \n");
	expect_error(b.data, "script is too large");

	/* string length */
	buf_reset(&b);
	buf_append_str(&b, "redirect \"");
	for (i = 0; i <= lim.string_max; i++)
		buf_append_c(&b, 'a');
	buf_append_str(&b, "\";");
	expect_error(b.data, "string is too long");

	/* strings in a list, arguments of a command, commands in a script */
	buf_reset(&b);
	buf_append_str(&b, "if exists [\"a\"");
	for (i = 0; i < lim.list_max; i++)
		buf_append_str(&b, ",\"a\"");
	buf_append_str(&b, "] { keep; }");
	expect_error(b.data, "too many strings in a list");
	buf_reset(&b);
	buf_append_str(&b, "keep");
	for (i = 0; i <= lim.args_max; i++)
		buf_append_str(&b, " 1");
	buf_append_str(&b, ";");
	expect_error(b.data, "too many arguments");
	buf_reset(&b);
	for (i = 0; i <= lim.nodes_max; i++)
		buf_append_str(&b, "keep;");
	expect_error(b.data, "too many commands and tests");
	buf_deinit(&b);
}

static void
test_warnings(void **state)
{
	struct sieve_errors errs;
	struct sieve_script *s = compile(
	    "require [\"date\", \"imap4flags\", \"editheader\", \"vacation\"];\n"
	    "if date :zone \"+250Z\" \"date\" \"fortnight\" \"1\" { keep; }\n"
	    "if exists \"a b\" { setflag [\"\\\\Seen \\\\Bogus\"]; }\n"
	    "deleteheader \"received\";\n"
	    "vacation :days 0 \"x\";\n"
	    "addflag [\"\\\\Flagged $Label1\", \"Junk\"];\n", &errs);
	static const struct { unsigned line, col; const char *text; } want[] = {
		{ 2, 15, "specified :zone argument '+250Z' is not a valid timezone." },
		{ 2, 30, "specified date part 'fortnight' is not known." },
		{ 3, 11, "specified header field name 'a b' is invalid." },
		{ 3, 27, "IMAP flag '\\Bogus' specified for the setflag command is invalid" },
		{ 4, 14, "deleting header field 'Received' is forbidden" },
		{ 5, 16, "specified :days value '0' is under the minimum." },
	};

	assert_non_null(s);
	assert_int_equal(errs.count, N_ELEMENTS(want));
	assert_int_equal(errs.warnings, N_ELEMENTS(want));
	for (unsigned i = 0; i < N_ELEMENTS(want); i++) {
		if (!errs.list[i].warning || errs.list[i].line != want[i].line ||
		    errs.list[i].col != want[i].col ||
		    strstr(errs.list[i].text, want[i].text) == NULL)
			fail_msg("%u: want %u:%u %s; got %u:%u %s", i, want[i].line, want[i].col,
			    want[i].text, errs.list[i].line, errs.list[i].col, errs.list[i].text);
	}
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);
}

static void
test_lexical(void **state)
{
	expect_error("redirect \"a\rb@example.com\";", "bare CR in string");
	{
		struct sieve_errors errs;
		static const char nul[] = "require \"fileinto\"; fileinto \"a\0b\";";

		assert_null(sieve_compile(nul, sizeof(nul) - 1, &lim, &errs));
		assert_string_equal(errs.list[0].text, "NUL character in string.");
		assert_int_equal(errs.list[0].col, 30);
		sieve_errors_deinit(&errs);
	}
	{
		struct sieve_errors errs;
		static const char hash[] = "keep; # a\0b\nstop;", bracket[] = "keep; /*\0*/";
		struct sieve_script *s = compile("keep;\rstop;\r\r\n", &errs);

		assert_non_null(s);	/* a CR alone between tokens is white space (sievec) */
		sieve_script_destroy(&s);
		sieve_errors_deinit(&errs);
		assert_null(sieve_compile(hash, sizeof(hash) - 1, &lim, &errs));
		assert_string_equal(errs.list[0].text, "NUL character in comment.");
		sieve_errors_deinit(&errs);
		assert_null(sieve_compile(bracket, sizeof(bracket) - 1, &lim, &errs));
		assert_string_equal(errs.list[0].text, "NUL character in comment.");
		sieve_errors_deinit(&errs);
	}
	expect_error("if header :is \"a\" \"b\" { keep; } /* x", "unterminated comment");
	expect_error("keep; :", "unexpected character ':'");
	expect_error("keep; \x01", "unexpected character '?'");
	expect_error("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;",
	    "identifier too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_scripts),
		cmocka_unit_test(test_bad_scripts),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_error_limit),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_encoded_character),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_lexical),
	};

	sieve_limits_default(&lim);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
