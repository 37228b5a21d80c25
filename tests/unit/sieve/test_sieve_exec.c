/*
 * test_sieve_exec.c — the Sieve interpreter (src/sieve/sieve_exec.h): table-driven
 * scripts against fixed messages with the exact action list expected (the format of
 * docs/sieve.md), every run-time limit, the callbacks, the edited header block and the
 * RFC 5230 §4.5 vacation checks. The comparison with Pigeonhole is tests/sieve/exec.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"

static const char msg_plain[] =
    "Received: from a by b; Mon, 7 Dec 2026 09:00:05 +0000\r\n"
    "From: Alice <alice+lists@example.org>\r\n"
    "To: bob@example.com, carol@example.net\r\n"
    "Subject: [acme-users] [fwd] version 1.0 is out\r\n"
    "Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n"
    "Message-ID: <m1@example.org>\r\n"
    "X-Spam-Score: 12\r\n"
    "\r\n"
    "Body with a Banana.\r\n";

static const char msg_bulk[] =
    "From: news@shop.example\r\n"
    "To: bob@example.com\r\n"
    "Precedence: bulk\r\n"
    "Subject: sale\r\n"
    "\r\n"
    "x\r\n";

#define R "require [\"fileinto\", \"imap4flags\", \"variables\", \"copy\", \"envelope\", " \
    "\"body\", \"relational\", \"comparator-i;ascii-numeric\", \"subaddress\", \"date\", " \
    "\"index\", \"mailbox\", \"regex\", \"editheader\", \"vacation\", \"reject\", " \
    "\"ereject\", \"duplicate\", \"include\", \"environment\"];\n"

static struct sieve_limits lim;

static int seen_calls;

static int
fake_duplicate(void *ctx, const char *handle, const char *id, size_t id_len,
    uint64_t seconds, bool last)
{
	(void)ctx;
	(void)last;
	seen_calls++;
	/* "seen" for this id under handle "h" only */
	return strcmp(handle, "h") == 0 && id_len == 16 &&
	    memcmp(id, "<m1@example.org>", 16) == 0 &&
	    seconds == 3600;
}

static int
fake_mailbox_exists(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "Lists") == 0 || strcmp(name, "INBOX") == 0;
}

static void
env_init(struct sieve_exec_env *env, const char *msg)
{
	memset(env, 0, sizeof(*env));
	env->msg = (const unsigned char *)msg;
	env->msg_len = strlen(msg);
	env->env_from = "alice+lists@example.org";
	env->env_to = "bob+sieve@example.com";
	env->now = 1796630400;	/* 2026-12-07 00:00:00 UTC */
	env->zone_min = 0;
	env->duplicate = fake_duplicate;
	env->mailbox_exists = fake_mailbox_exists;
}

/* Run script on msg with xl and return the formatted actions (caller frees). */
static char *
run_with(const char *script, const char *msg, const struct sieve_exec_limits *xl, int *ret_r,
    struct sieve_result *keep_r)
{
	struct sieve_errors errs;
	struct sieve_script *s = sieve_compile(script, strlen(script), &lim, &errs);
	struct sieve_exec_env env;
	struct sieve_result r;
	struct buf out;

	if (s == NULL)
		fail_msg("compile: %s", errs.count > 0 ? errs.list[0].text : "?");
	sieve_errors_deinit(&errs);
	env_init(&env, msg);
	*ret_r = sieve_execute(s, &env, xl, &r);
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(sieve_result_format(&r, &out), 0);
	if (keep_r != NULL)
		*keep_r = r;
	else
		sieve_result_deinit(&r);
	sieve_script_destroy(&s);
	return out.data != NULL ? buf_steal(&out) : xstrdup("");
}

static char *
run(const char *script, const char *msg, int *ret_r)
{
	struct sieve_exec_limits xl;

	sieve_exec_limits_default(&xl);
	return run_with(script, msg, &xl, ret_r, NULL);
}

struct exec_case {
	const char *name;
	const char *script;
	const char *want;	/* formatted actions */
};

static const struct exec_case cases[] = {
	{ "empty", "", "keep implicit\n" },
	{ "keep", "keep;", "keep\n" },
	{ "discard", "discard;", "discard\n" },
	{ "stop", "stop; discard;", "keep implicit\n" },
	{ "fileinto", R "fileinto \"A\";", "fileinto \"A\"\n" },
	{ "fileinto-copy", R "fileinto :copy :create \"A\";",
	  "fileinto \"A\" copy create\nkeep implicit\n" },
	{ "fileinto-inbox-is-keep", R "fileinto \"INBOX\"; keep;", "keep\n" },
	{ "fileinto-merge", R "fileinto :flags \"a\" \"A\"; fileinto :flags \"b\" \"A\";",
	  "fileinto \"A\" flags=\"b\"\n" },
	{ "redirect", "redirect \"Bob <bob@example.net>\";", "redirect \"bob@example.net\"\n" },
	{ "redirect-merge", "redirect \"a@b.c\"; redirect \"A@B.C\";", "redirect \"a@b.c\"\n" },
	{ "copy-first-decides", R "fileinto :copy \"A\"; fileinto \"A\"; redirect :copy "
	  "\"a@b.c\"; redirect \"a@b.c\";",
	  "fileinto \"A\" copy\nredirect \"a@b.c\" copy\nkeep implicit\n" },
	{ "if-chain", "if false { discard; } elsif true { keep; } else { discard; }", "keep\n" },
	{ "if-after-chain", "if true { keep; } if false { stop; } else { discard; }",
	  "keep\ndiscard\n" },
	{ "nongreedy", R "if header :matches \"subject\" \"[*] *\" { set \"a\" \"${1}|${2}\"; "
	  "fileinto \"${a}\"; }", "fileinto \"acme-users|[fwd] version 1.0 is out\"\n" },
	{ "question", R "if header :matches \"subject\" \"[??\?\?-*\" { fileinto \"${1}${4}${5}\"; }",
	  "fileinto \"aeusers] [fwd] version 1.0 is out\"\n" },
	{ "escape", R "if header :matches \"subject\" \"\\\\[*\" { fileinto \"${1}\"; }",
	  "fileinto \"acme-users] [fwd] version 1.0 is out\"\n" },
	{ "vars-unset", R "fileinto \"a${b}c${1}\";", "fileinto \"ac\"\n" },
	{ "vars-not-a-ref", R "fileinto \"${a-b}${}\";", "fileinto \"${a-b}${}\"\n" },
	{ "modifiers", R "set :upperfirst \"a\" \"xyz\"; set :length \"l\" \"äbc\"; "
	  "set :quotewildcard \"q\" \"*\"; fileinto \"${a}${l}${q}\";",
	  "fileinto \"Xyz3\\\\*\"\n" },
	{ "numeric", R "if header :value \"gt\" :comparator \"i;ascii-numeric\" "
	  "\"x-spam-score\" \"9\" { discard; }", "discard\n" },
	{ "casemap-value", R "if header :value \"gt\" \"x-spam-score\" \"9\" { discard; }",
	  "keep implicit\n" },
	{ "count", R "if address :count \"eq\" :comparator \"i;ascii-numeric\" \"to\" \"2\" "
	  "{ discard; }", "discard\n" },
	{ "detail", R "if envelope :detail \"to\" \"sieve\" { discard; }", "discard\n" },
	{ "user", R "if address :user \"from\" \"alice\" { discard; }", "discard\n" },
	{ "body", R "if body :contains \"banana\" { discard; }", "discard\n" },
	{ "body-raw", R "if body :raw :is \"Body with a Banana.\\r\\n\" { discard; }",
	  "keep implicit\n" },
	{ "regex-capture", R "if header :regex \"subject\" \"^\\\\[([a-z]+)-\" "
	  "{ fileinto \"${1}\"; }", "fileinto \"acme\"\n" },
	{ "date", R "if date :matches :originalzone \"date\" \"std11\" \"*\" { fileinto \"${0}\"; }",
	  "fileinto \"Mon, 07 Dec 2026 10:00:00 +0100\"\n" },
	{ "date-received", R "if date :zone \"+0000\" \"received\" \"time\" \"09:00:05\" "
	  "{ discard; }", "discard\n" },
	{ "currentdate", R "if currentdate :matches :zone \"+0100\" \"iso8601\" \"*\" "
	  "{ fileinto \"${0}\"; }", "fileinto \"2026-12-07T09:00:00+01:00\"\n" },
	{ "julian", R "if currentdate :matches \"julian\" \"*\" { fileinto \"${0}\"; }",
	  "fileinto \"61381\"\n" },
	{ "flags", R "addflag \"\\\\Seen b\"; addflag \"\\\\seen\"; removeflag \"b\"; "
	  "fileinto \"A\"; keep :flags \"x\";", "fileinto \"A\" flags=\"\\\\Seen\"\n"
	  "keep flags=\"x\"\n" },
	{ "flags-implicit", R "setflag \"a\"; addflag \"b\";", "keep implicit flags=\"a b\"\n" },
	{ "hasflag-var", R "addflag \"v\" [\"x\", \"y z\"]; if hasflag :count \"eq\" "
	  ":comparator \"i;ascii-numeric\" \"v\" \"3\" { discard; }", "discard\n" },
	{ "mailboxexists", R "if mailboxexists [\"Lists\", \"INBOX\"] { fileinto \"Lists\"; }"
	  " if mailboxexists \"Nope\" { discard; }", "fileinto \"Lists\"\n" },
	{ "duplicate", R "if duplicate :handle \"h\" :seconds 3600 { discard; }", "discard\n" },
	{ "duplicate-other", R "if duplicate :handle \"other\" { discard; }", "keep implicit\n" },
	{ "environment", R "if environment :is \"location\" \"MDA\" { discard; }", "discard\n" },
	{ "editheader", R "addheader \"X-A\" \"1\"; deleteheader :contains \"x-spam-score\" "
	  "\"1\"; if not exists \"x-spam-score\" { fileinto \"${0}ok\"; }",
	  "addheader \"X-A\" \"1\"\ndeleteheader \"x-spam-score\" count=1\n"
	  "fileinto \"ok\"\n" },
	{ "editheader-protected", R "deleteheader \"received\"; if exists \"received\" "
	  "{ discard; }", "discard\n" },
	{ "vacation", R "vacation :days 2 :subject \"S\" :addresses [\"a@b\", \"c@d\"] :mime "
	  "\"r\";", "vacation seconds=172800 subject=\"S\" addresses=\"a@b, c@d\" mime "
	  "reason=\"r\"\nkeep implicit\n" },
	{ "reject", R "reject text:\nno\n.\n;", "reject \"no\\r\\n\"\n" },
	{ "ereject", R "ereject \"x\"; discard;", "ereject \"x\"\ndiscard\n" },
	{ "quote", R "fileinto \"a\\\"b\\\\c\";", "fileinto \"a\\\"b\\\\c\"\n" },
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;
		char *got = run(cases[i].script, msg_plain, &ret);

		if (ret != 0 || strcmp(got, cases[i].want) != 0)
			fail_msg("%s: ret %d, got\n%swant\n%s", cases[i].name, ret, got,
			    cases[i].want);
		free(got);
	}
}

/* Run-time errors: the actions are replaced by the implicit keep (RFC 5228 §2.10.6). */
static const struct exec_case errors[] = {
	{ "reject-keep", R "reject \"x\"; keep;", "reject/ereject action conflicts" },
	{ "keep-reject", R "fileinto \"a\"; reject \"x\";", "reject/ereject action conflicts" },
	{ "reject-vacation", R "vacation \"v\"; ereject \"x\";", "conflicts" },
	{ "reject-twice", R "reject \"x\"; reject \"y\";", "duplicate reject" },
	{ "vacation-twice", R "vacation \"x\"; vacation \"y\";", "duplicate vacation" },
	{ "redirect-bad", R "set \"a\" \"nobody\"; redirect \"${a}\";", "redirect: invalid" },
	{ "fileinto-bad", R "set \"a\" \"\"; fileinto \"${a}\";", "invalid folder" },
	{ "regex-bad", R "if header :regex \"subject\" \"(\" { keep; }", "invalid regular" },
	{ "regex-backref", R "if header :regex \"subject\" \"(a)\\\\1\" { keep; }",
	  "back-references" },
	{ "addheader-bad", R "set \"n\" \"a:b\"; addheader \"${n}\" \"v\";", "invalid field" },
	{ "addheader-crlf", R "set \"v\" text:\na\nb\n.\n; addheader \"X\" \"${v}\";",
	  "invalid field value" },
};

static void
test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct sieve_exec_limits xl;
		struct sieve_result r;
		int ret;
		char *got;

		sieve_exec_limits_default(&xl);
		got = run_with(errors[i].script, msg_plain, &xl, &ret, &r);
		if (ret != -1 || !r.failed || strcmp(got, "keep implicit\n") != 0 ||
		    strstr(r.error, errors[i].want) == NULL || r.error_line == 0)
			fail_msg("%s: ret %d, error '%s', got %s", errors[i].name, ret, r.error,
			    got);
		assert_null(r.header);
		sieve_result_deinit(&r);
		free(got);
	}
}

static void
expect_error(const char *script, const struct sieve_exec_limits *xl, const char *want)
{
	struct sieve_result r;
	int ret;
	char *got = run_with(script, msg_plain, xl, &ret, &r);

	if (ret != -1 || strstr(r.error, want) == NULL || strcmp(got, "keep implicit\n") != 0)
		fail_msg("%s: ret %d error '%s' got %s", script, ret, r.error, got);
	sieve_result_deinit(&r);
	free(got);
}

static void
test_limits(void **state)
{
	struct sieve_exec_limits xl;
	struct buf big;
	char *got;
	int ret;

	(void)state;
	sieve_exec_limits_default(&xl);
	xl.steps_max = 10;
	expect_error("if true { keep; } if true { keep; } if true { keep; } if true { keep; } "
	    "if true { keep; } if true { keep; }", &xl, "too many instructions");
	sieve_exec_limits_default(&xl);
	xl.actions_max = 2;
	expect_error(R "fileinto \"a\"; fileinto \"b\"; fileinto \"c\";", &xl, "too many actions");
	sieve_exec_limits_default(&xl);
	expect_error("redirect \"a@x.y\"; redirect \"b@x.y\"; redirect \"c@x.y\"; "
	    "redirect \"d@x.y\"; redirect \"e@x.y\";", &xl, "redirect actions exceeds");
	xl.vars_max = 2;
	expect_error(R "set \"a\" \"1\"; set \"b\" \"2\"; set \"c\" \"3\";", &xl,
	    "too many variables");
	sieve_exec_limits_default(&xl);
	xl.regex_max = 4;
	expect_error(R "if header :regex \"subject\" \"abcde\" { keep; }", &xl,
	    "regular expression too long");

	/* a value is cut at var_max on a character boundary */
	sieve_exec_limits_default(&xl);
	xl.var_max = 4;
	got = run_with(R "set \"a\" \"abcäf\"; fileinto \"${a}\";", msg_plain, &xl, &ret, NULL);
	assert_int_equal(ret, 0);
	assert_string_equal(got, "fileinto \"abc\"\n");
	free(got);

	/* an expanded string over SIEVE_EXPAND_MAX is an error, not a truncation */
	sieve_exec_limits_default(&xl);
	buf_init(&big, BUF_UNLIMITED);
	buf_append_str(&big, R "set \"a\" \"");
	for (int i = 0; i < 4000; i++)
		buf_append_c(&big, 'x');
	buf_append_str(&big, "\"; set \"b\" \"${a}${a}${a}${a}${a}${a}${a}${a}\";"
	    " set \"c\" \"${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}\";"
	    " fileinto \"${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}\";");
	got = run_with(big.data, msg_plain, &xl, &ret, NULL);
	assert_int_equal(ret, -1);
	free(got);
	buf_deinit(&big);

	/* the work budget: many body tests over a big body end the run */
	{
		struct buf m, sc;
		struct sieve_errors errs;
		struct sieve_script *s;
		struct sieve_exec_env env;
		struct sieve_result r;

		buf_init(&m, BUF_UNLIMITED);
		buf_init(&sc, BUF_UNLIMITED);
		buf_append_str(&m, "Subject: big\r\n\r\n");
		for (int i = 0; i < 20000; i++)
			buf_append_str(&m, "0123456789");
		buf_append_str(&sc, R);
		for (int i = 0; i < 300; i++)
			buf_append_str(&sc, "if body :raw :contains \"zz\" { keep; }\n");
		s = sieve_compile(sc.data, sc.len, &lim, &errs);
		assert_non_null(s);
		sieve_errors_deinit(&errs);
		env_init(&env, m.data);
		assert_int_equal(sieve_execute(s, &env, &xl, &r), -1);
		assert_non_null(strstr(r.error, "matching takes too long"));
		sieve_result_deinit(&r);
		sieve_script_destroy(&s);
		buf_deinit(&m);
		buf_deinit(&sc);
	}

	/* headers over headers_max: tests see the first ones, edits are refused */
	xl.headers_max = 2;
	expect_error(R "if header :is \"from\" \"Alice <alice+lists@example.org>\" "
	    "{ addheader \"X\" \"y\"; }", &xl, "too many header fields");
}

static void
test_edited_header(void **state)
{
	struct sieve_exec_limits xl;
	struct sieve_result r;
	int ret;
	char *got;

	(void)state;
	sieve_exec_limits_default(&xl);
	got = run_with(R "addheader \"X-First\" \"1\"; addheader :last \"X-Last\" \"2\"; "
	    "deleteheader \"to\"; deleteheader :index 1 \"x-nope\";", msg_plain, &xl, &ret, &r);
	assert_int_equal(ret, 0);
	assert_non_null(r.header);
	assert_int_equal(r.header_len, strlen(r.header));
	assert_string_equal(r.header,
	    "X-First: 1\r\n"
	    "Received: from a by b; Mon, 7 Dec 2026 09:00:05 +0000\r\n"
	    "From: Alice <alice+lists@example.org>\r\n"
	    "Subject: [acme-users] [fwd] version 1.0 is out\r\n"
	    "Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n"
	    "Message-ID: <m1@example.org>\r\n"
	    "X-Spam-Score: 12\r\n"
	    "X-Last: 2\r\n"
	    "\r\n");
	sieve_result_deinit(&r);
	free(got);

	got = run_with("keep;", msg_plain, &xl, &ret, &r);
	assert_null(r.header);
	sieve_result_deinit(&r);
	free(got);
}

/* include (RFC 6609) with scripts from a table. */
static const struct { const char *name; const char *text; } inc_scripts[] = {
	{ "a", "require [\"include\", \"variables\", \"fileinto\"]; global \"g\"; "
	  "fileinto \"a-${g}-${l}\"; include \"b\";" },
	{ "b", "require [\"include\"]; return; discard;" },
	{ "self", "require \"include\"; include \"self\";" },
	{ "deep", "require \"include\"; include :once \"deep2\";" },
	{ "deep2", "require \"include\"; include \"deep\";" },
	{ "stop", "stop;" },
	{ "broken", "fileinto \"x\";" },
};

static struct sieve_script *inc_compiled[N_ELEMENTS(inc_scripts)];

static const struct sieve_script *
fake_include(void *ctx, bool global, const char *name, bool *exists_r, char *err,
    size_t errlen)
{
	(void)ctx;
	*exists_r = false;
	for (size_t i = 0; i < N_ELEMENTS(inc_scripts); i++) {
		struct sieve_errors errs;

		if (global || strcmp(name, inc_scripts[i].name) != 0)
			continue;
		*exists_r = true;
		if (inc_compiled[i] == NULL) {
			inc_compiled[i] = sieve_compile(inc_scripts[i].text,
			    strlen(inc_scripts[i].text), &lim, &errs);
			sieve_errors_deinit(&errs);
		}
		if (inc_compiled[i] == NULL)
			snprintf(err, errlen, "does not compile");
		return inc_compiled[i];
	}
	return NULL;
}

static char *
run_include(const char *script, int *ret_r, struct sieve_result *r)
{
	struct sieve_errors errs;
	struct sieve_script *s = sieve_compile(script, strlen(script), &lim, &errs);
	struct sieve_exec_limits xl;
	struct sieve_exec_env env;
	struct buf out;

	assert_non_null(s);
	sieve_errors_deinit(&errs);
	sieve_exec_limits_default(&xl);
	env_init(&env, msg_plain);
	env.include = fake_include;
	*ret_r = sieve_execute(s, &env, &xl, r);
	buf_init(&out, BUF_UNLIMITED);
	(void)sieve_result_format(r, &out);
	sieve_script_destroy(&s);
	return out.data != NULL ? buf_steal(&out) : xstrdup("");
}

static void
test_include(void **state)
{
	static const struct exec_case inc_cases[] = {
		{ "globals", R "global \"g\"; set \"g\" \"G\"; set \"l\" \"L\"; include "
		  "\"a\"; fileinto \"main-${l}\";",
		  "fileinto \"a-G-\"\nfileinto \"main-L\"\n" },
		{ "namespace", R "set \"global.g\" \"N\"; include \"a\";",
		  "fileinto \"a-N-\"\n" },
		{ "stop", R "include \"stop\"; discard;", "keep implicit\n" },
		{ "optional", R "include :optional \"none\"; discard;", "discard\n" },
		{ "once", R "include :once \"a\"; include :once \"a\";", "fileinto \"a--\"\n" },
	};
	static const struct exec_case inc_errors[] = {
		{ "missing", R "include \"none\";", "personal script 'none' not found" },
		{ "global-missing", R "include :global \"a\";", "global script 'a' not found" },
		{ "self", R "include \"self\";", "includes itself" },
		{ "loop-once", R "include \"deep\";", "includes itself" },
		{ "broken", R "include \"broken\";", "does not compile" },
	};
	struct sieve_result r;
	int ret;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(inc_cases); i++) {
		char *got = run_include(inc_cases[i].script, &ret, &r);

		if (ret != 0 || strcmp(got, inc_cases[i].want) != 0)
			fail_msg("%s: ret %d (%s), got\n%swant\n%s", inc_cases[i].name, ret,
			    r.error, got, inc_cases[i].want);
		sieve_result_deinit(&r);
		free(got);
	}
	for (size_t i = 0; i < N_ELEMENTS(inc_errors); i++) {
		char *got = run_include(inc_errors[i].script, &ret, &r);

		if (ret != -1 || strstr(r.error, inc_errors[i].want) == NULL)
			fail_msg("%s: ret %d error '%s'", inc_errors[i].name, ret, r.error);
		sieve_result_deinit(&r);
		free(got);
	}
	for (size_t i = 0; i < N_ELEMENTS(inc_compiled); i++)
		sieve_script_destroy(&inc_compiled[i]);
}

static void
test_vacation_allowed(void **state)
{
	struct sieve_exec_env env;
	struct sieve_action a = { .type = SIEVE_ACT_VACATION };
	const char *why;

	(void)state;
	env_init(&env, msg_plain);
	env.env_to = "bob@example.com";
	assert_true(sieve_vacation_allowed(&env, &a, &why));
	env.env_to = "other@example.com";
	assert_false(sieve_vacation_allowed(&env, &a, &why));
	a.addresses = (char *)"x@y, carol@example.net";
	assert_true(sieve_vacation_allowed(&env, &a, &why));
	a.addresses = NULL;
	env.env_to = "bob@example.com";
	env.env_from = "";
	assert_false(sieve_vacation_allowed(&env, &a, &why));
	env.env_from = "MAILER-DAEMON@example.org";
	assert_false(sieve_vacation_allowed(&env, &a, &why));
	env.env_from = "list-request@example.org";
	assert_false(sieve_vacation_allowed(&env, &a, &why));
	env_init(&env, msg_bulk);
	env.env_to = "bob@example.com";
	assert_false(sieve_vacation_allowed(&env, &a, &why));
	assert_string_equal(why, "automatic or list message");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_edited_header),
		cmocka_unit_test(test_vacation_allowed),
		cmocka_unit_test(test_include),
	};

	sieve_limits_default(&lim);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
