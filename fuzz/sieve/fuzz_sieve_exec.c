/*
 * fuzz_sieve_exec.c — libFuzzer target for the Sieve interpreter (src/sieve/sieve_exec.h):
 * the input is a script; when it compiles it runs against a fixed MIME message (RFC 2047
 * words, quoted-printable and base64 parts, Received and Date fields) with the default
 * run limits and with tight ones; every include is the script itself. Checks that a run
 * ends with a consistent result: on a run-time error only the implicit keep, otherwise
 * at most actions_max actions besides header edits, every action's strings present,
 * and the formatted list one line each.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/util.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char message[] =
    "Received: from a by b; Mon, 7 Dec 2026 09:00:05 +0000\r\n"
    "From: =?UTF-8?Q?J=C3=BCrgen?= <juergen+tag@example.de>, group: a@b, c@d;\r\n"
    "To: bob@example.com\r\n"
    "Subject: [list] Hello *world* ?\r\n"
    "Date: Sat, 31 Jan 2026 23:30:00 -0500\r\n"
    "Message-ID: <m2@example.de>\r\n"
    "X-Spam-Score: 12\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "sch=C3=B6ne zebra\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "c2VjcmV0IGVsZXBoYW50\r\n"
    "--XX--\r\n";

static int
exists(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] == 'A';
}

static int
duplicate(void *ctx, const char *handle, const char *id, size_t id_len, uint64_t seconds,
    bool last)
{
	(void)ctx;
	(void)handle;
	(void)seconds;
	(void)last;
	return id_len > 0 && id[0] == '<';
}

/* Every include is the fuzzed script itself (names "x*" do not exist): nesting, loops. */
static const struct sieve_script *
include(void *ctx, bool global, const char *name, bool *exists_r, char *err, size_t errlen)
{
	(void)global;
	(void)err;
	(void)errlen;
	*exists_r = name[0] != 'x';
	return *exists_r ? ctx : NULL;
}

static void
check(const struct sieve_result *r, int ret, const struct sieve_exec_limits *xl)
{
	unsigned real = 0, lines = 0;
	struct buf out;

	if ((ret < 0) != r->failed)
		abort();
	if (r->failed && (r->count != 1 || !r->actions[0].implicit || r->header != NULL))
		abort();
	for (unsigned i = 0; i < r->count; i++) {
		const struct sieve_action *a = &r->actions[i];

		if (a->type != SIEVE_ACT_ADDHEADER && a->type != SIEVE_ACT_DELETEHEADER)
			real++;
		if ((a->type == SIEVE_ACT_FILEINTO || a->type == SIEVE_ACT_REDIRECT ||
		    a->type == SIEVE_ACT_ADDHEADER || a->type == SIEVE_ACT_DELETEHEADER) &&
		    a->target == NULL)
			abort();
		if ((a->type == SIEVE_ACT_REJECT || a->type == SIEVE_ACT_EREJECT ||
		    a->type == SIEVE_ACT_VACATION) && a->text == NULL)
			abort();
		if (a->implicit && i != r->count - 1)
			abort();
	}
	/* actions_max plus the implicit keep */
	if (real > xl->actions_max + 1)
		abort();
	buf_init(&out, BUF_UNLIMITED);
	if (sieve_result_format(r, &out) != 0)
		abort();
	for (size_t i = 0; i < out.len; i++)
		lines += out.data[i] == '\n';
	if (lines != r->count)
		abort();
	buf_deinit(&out);
}

static void
run(const struct sieve_script *s, const struct sieve_exec_limits *xl)
{
	struct sieve_exec_env env = {
		.msg = (const unsigned char *)message, .msg_len = sizeof(message) - 1,
		.env_from = "a+b@example.org", .env_to = "bob+x@example.com",
		.now = 1796630400, .zone_min = 60, .mailbox_exists = exists,
		.duplicate = duplicate, .include = include, .include_ctx = (void *)s,
	};
	struct sieve_result r;
	int ret = sieve_execute(s, &env, xl, &r);

	check(&r, ret, xl);
	sieve_result_deinit(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sieve_limits lim;
	struct sieve_exec_limits xl;
	struct sieve_errors errs;
	struct sieve_script *s;

	sieve_limits_default(&lim);
	lim.script_max = 16384;
	s = sieve_compile((const char *)data, size, &lim, &errs);
	sieve_errors_deinit(&errs);
	if (s == NULL)
		return 0;
	sieve_exec_limits_default(&xl);
	xl.steps_max = 5000;
	run(s, &xl);
	xl.actions_max = 2;
	xl.redirects_max = 1;
	xl.var_max = 8;
	xl.vars_max = 2;
	xl.regex_max = 8;
	xl.body_max = 16;
	xl.headers_max = 3;
	xl.steps_max = 20;
	run(s, &xl);
	sieve_script_destroy(&s);
	return 0;
}
