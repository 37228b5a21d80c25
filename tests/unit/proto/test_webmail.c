/*
 * test_webmail.c — unit tests for the webmail's file lookup (src/proto/webmail.c):
 * routes, names found and not found, path traversal and encodings refused, the name
 * bound, the embedded table sorted and complete, and If-None-Match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/webmail.h"

#define S(x) x, sizeof(x) - 1

static const unsigned char d[] = "x";
static const struct webmail_file table[] = {
	{ "a.css", "text/css", "\"1\"", d, 1 },
	{ "app.js", "text/javascript", "\"2\"", d, 1 },
	{ "index.html", "text/html", "\"3\"", d, 1 },
	{ "z-1_2.png", "image/png", "\"4\"", d, 1 },
};
#define N (sizeof(table) / sizeof(table[0]))

static const struct webmail_file *
look(const char *t, size_t len, enum webmail_route want)
{
	const struct webmail_file *f = (void *)1;

	assert_int_equal(webmail_route(table, N, t, len, &f), want);
	return f;
}

static void
test_route(void **state)
{
	(void)state;
	assert_null(look(S("/"), WEBMAIL_ROOT));
	assert_null(look(S("/?x=1"), WEBMAIL_ROOT));
	assert_null(look(S("/webmail"), WEBMAIL_REDIRECT));
	assert_ptr_equal(look(S("/webmail/"), WEBMAIL_FILE), &table[2]);
	assert_ptr_equal(look(S("/webmail/?v=2"), WEBMAIL_FILE), &table[2]);
	assert_ptr_equal(look(S("/webmail/app.js"), WEBMAIL_FILE), &table[1]);
	assert_ptr_equal(look(S("/webmail/a.css?x"), WEBMAIL_FILE), &table[0]);
	assert_ptr_equal(look(S("/webmail/z-1_2.png"), WEBMAIL_FILE), &table[3]);
	assert_ptr_equal(look(S("/webmail/index.html"), WEBMAIL_FILE), &table[2]);
	assert_null(look(S("/.well-known/jmap"), WEBMAIL_NONE));
	assert_null(look(S("/jmap/api"), WEBMAIL_NONE));
	assert_null(look(S("/webmailx"), WEBMAIL_NONE));
	assert_null(look(S("/Webmail/"), WEBMAIL_NONE));
	assert_null(look(S(""), WEBMAIL_NONE));
}

static void
test_not_found(void **state)
{
	char big[200];

	(void)state;
	/* prefixes and extensions of a name are other names */
	assert_null(look(S("/webmail/app"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/app.jsx"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/a"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/APP.JS"), WEBMAIL_FILE));
	/* traversal, directories, encodings, hidden names */
	assert_null(look(S("/webmail/../etc/passwd"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/.."), WEBMAIL_FILE));
	assert_null(look(S("/webmail/./app.js"), WEBMAIL_FILE));
	assert_null(look(S("/webmail//app.js"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/x/app.js"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/%2e%2e/app.js"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/app%2ejs"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/.app.js"), WEBMAIL_FILE));
	assert_null(look(S("/webmail/app.js\\"), WEBMAIL_FILE));
	assert_null(look("/webmail/app.js\0x", 17, WEBMAIL_FILE));
	/* the name bound: a long name is refused before any comparison */
	memcpy(big, "/webmail/", 9);
	memset(big + 9, 'a', sizeof(big) - 9);
	assert_null(look(big, sizeof(big), WEBMAIL_FILE));
	assert_null(look(big, 9 + WEBMAIL_NAME_MAX + 1, WEBMAIL_FILE));
	assert_null(look(big, 9 + WEBMAIL_NAME_MAX, WEBMAIL_FILE));
}

static void
test_embedded(void **state)
{
	const struct webmail_file *f;

	(void)state;
	assert_true(webmail_files_count >= 3);
	for (size_t i = 0; i + 1 < webmail_files_count; i++)
		assert_true(strcmp(webmail_files[i].name, webmail_files[i + 1].name) < 0);
	for (size_t i = 0; i < webmail_files_count; i++) {
		assert_int_equal(webmail_files[i].data[webmail_files[i].len], 0);
		assert_int_equal(strlen(webmail_files[i].etag), 18);
	}
	assert_int_equal(webmail_route(webmail_files, webmail_files_count, S("/webmail/"), &f),
	    WEBMAIL_FILE);
	assert_non_null(f);
	assert_string_equal(f->name, "index.html");
	assert_string_equal(f->type, "text/html; charset=utf-8");
	assert_int_equal(webmail_route(webmail_files, webmail_files_count, S("/webmail/app.js"),
	    &f), WEBMAIL_FILE);
	assert_non_null(f);
	assert_int_equal(webmail_route(webmail_files, webmail_files_count, S("/webmail/app.css"),
	    &f), WEBMAIL_FILE);
	assert_non_null(f);
}

static void
test_not_modified(void **state)
{
	(void)state;
	assert_true(webmail_not_modified(S("\"ab\""), "\"ab\""));
	assert_true(webmail_not_modified(S("\"x\", W/\"ab\" "), "\"ab\""));
	assert_true(webmail_not_modified(S("*"), "\"ab\""));
	assert_true(webmail_not_modified(S(" , \"ab\""), "\"ab\""));
	assert_false(webmail_not_modified(S("\"abc\""), "\"ab\""));
	assert_false(webmail_not_modified(S("\"ab"), "\"ab\""));
	assert_false(webmail_not_modified(S("\"ab\""), "\"a\""));
	assert_false(webmail_not_modified(S(""), "\"ab\""));
	assert_false(webmail_not_modified(NULL, 0, "\"ab\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_embedded),
		cmocka_unit_test(test_not_modified),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
