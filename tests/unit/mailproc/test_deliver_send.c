/*
 * test_deliver_send.c — what Sieve sends at delivery (src/mailproc/deliver_send.c): the
 * vacation reply's header (RFC 5230 §5), header values stripped of CR/LF, the key made
 * with and without :handle, and the vacation file: :days measured from the last reply,
 * bounded to DELIVER_VACATION_MAX entries with the oldest dropped, a corrupt file read
 * as far as its lines are good. And the sendmail child: argv, stdin, exit status, also
 * watched by an event loop (deliver_sendmail_start) with several recipients.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "mailproc/deliver_send.h"

static const char MSG[] =
    "From: Sender <a@example.net>\n"
    "To: me@example.org\n"
    "Subject: Lunch\n"
    " tomorrow?\n"
    "Message-ID: <m1@example.net>\n"
    "References: <m0@example.net>\n"
    "\n"
    "body\n";

static void
test_vacation_reply(void **state)
{
	struct sieve_action a = { .type = SIEVE_ACT_VACATION, .text = (char *)"Away." };
	struct buf b;

	(void)state;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(deliver_vacation_build(&b, (const unsigned char *)MSG, strlen(MSG),
	    "a@example.net", "me@example.org", &a, 0), 0);
	assert_int_equal(buf_append_c(&b, '\0'), 0);
	assert_non_null(strstr(b.data, "\nFrom: me@example.org\n"));
	assert_non_null(strstr(b.data, "\nTo: a@example.net\n"));
	assert_non_null(strstr(b.data, "\nSubject: Auto: Lunch tomorrow?\n"));
	assert_non_null(strstr(b.data, "\nIn-Reply-To: <m1@example.net>\n"));
	assert_non_null(strstr(b.data, "\nReferences: <m0@example.net> <m1@example.net>\n"));
	assert_non_null(strstr(b.data, "\nAuto-Submitted: auto-replied"));
	assert_non_null(strstr(b.data, "charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nAway.\n"));
	assert_true(strncmp(b.data, "Date: Thu, 01 Jan 1970 00:00:00 +0000\n", 38) == 0);
	buf_deinit(&b);

	/* :subject and :from with CR/LF cannot add header fields */
	a.subject = (char *)"Away\r\nBcc: victim@example.com";
	a.from = (char *)"Me <me@example.org>\nX-Evil: 1";
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(deliver_vacation_build(&b, (const unsigned char *)MSG, strlen(MSG),
	    "a@example.net", "me@example.org", &a, 0), 0);
	assert_int_equal(buf_append_c(&b, '\0'), 0);
	assert_null(strstr(b.data, "\nBcc:"));
	assert_null(strstr(b.data, "\nX-Evil:"));
	assert_non_null(strstr(b.data, "\nSubject: Away  Bcc: victim@example.com\n"));
	buf_deinit(&b);

	/* no sender to reply to */
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(deliver_vacation_build(&b, (const unsigned char *)MSG, strlen(MSG),
	    "", "me@example.org", &a, 0), -1);
	assert_int_equal(deliver_vacation_build(&b, (const unsigned char *)MSG, strlen(MSG),
	    "-oQ/tmp@x", "me@example.org", &a, 0), -1);
	buf_deinit(&b);
}

static void
test_reject_mdn(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(deliver_reject_build(&b, (const unsigned char *)MSG, strlen(MSG),
	    "a@example.net", "me@example.org", "No.", 0), 0);
	assert_int_equal(buf_append_c(&b, '\0'), 0);
	assert_non_null(strstr(b.data, "\nTo: a@example.net\n"));
	assert_non_null(strstr(b.data, "\nSubject: Rejected: Lunch tomorrow?\n"));
	assert_non_null(strstr(b.data, "report-type=disposition-notification"));
	assert_non_null(strstr(b.data, "was automatically rejected:\nNo.\n"));
	assert_non_null(strstr(b.data, "\nFinal-Recipient: rfc822; me@example.org\n"));
	assert_non_null(strstr(b.data, "\nOriginal-Message-ID: <m1@example.net>\n"));
	assert_non_null(strstr(b.data, "Content-Type: message/rfc822\n\nFrom: Sender"));
	buf_deinit(&b);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(deliver_reject_build(&b, (const unsigned char *)MSG, strlen(MSG),
	    "", "me@example.org", "No.", 0), -1);
	buf_deinit(&b);
}

static void
test_header_get(void **state)
{
	char *v;

	(void)state;
	v = deliver_header_get((const unsigned char *)MSG, strlen(MSG), "subject");
	assert_string_equal(v, "Lunch tomorrow?");
	free(v);
	assert_null(deliver_header_get((const unsigned char *)MSG, strlen(MSG), "body"));
	assert_int_equal(deliver_delivered_to_count((const unsigned char *)
	    "Delivered-To: <ME@example.org>\nDelivered-To: me@example.org\n"
	    "Delivered-To: other@example.org\n\nDelivered-To: me@example.org\n", 100,
	    "me@example.org"), 2);
}

static void
test_vacation_key(void **state)
{
	struct sieve_action a = { .type = SIEVE_ACT_VACATION, .text = (char *)"x" };
	unsigned char k1[DELIVER_VACATION_HASH], k2[DELIVER_VACATION_HASH];

	(void)state;
	deliver_vacation_key("A@Example.NET", &a, k1);
	deliver_vacation_key("a@example.net", &a, k2);
	assert_memory_equal(k1, k2, sizeof(k1));
	a.text = (char *)"y";	/* another reason: another response (RFC 5230 §4.2) */
	deliver_vacation_key("a@example.net", &a, k2);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	a.handle = (char *)"h";
	deliver_vacation_key("a@example.net", &a, k1);
	a.text = (char *)"z";
	deliver_vacation_key("a@example.net", &a, k2);
	assert_memory_equal(k1, k2, sizeof(k1));
}

static char dir[64], path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/buzon-vac.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/.dovecot.sieve.vacation", dir);
	return 0;
}

static int
teardown(void **state)
{
	char tmp[160];

	(void)state;
	(void)unlink(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	(void)unlink(tmp);
	snprintf(tmp, sizeof(tmp), "%s/out", dir);
	(void)unlink(tmp);
	snprintf(tmp, sizeof(tmp), "%s/sm", dir);
	(void)unlink(tmp);
	(void)rmdir(dir);
	return 0;
}

static void
key_of(unsigned n, unsigned char *k)
{
	memset(k, 0, DELIVER_VACATION_HASH);
	memcpy(k, &n, sizeof(n));
}

static void
test_vacation_file(void **state)
{
	unsigned char k[DELIVER_VACATION_HASH], k2[DELIVER_VACATION_HASH];
	FILE *f;
	struct stat st;

	(void)state;
	key_of(1, k);
	key_of(2, k2);
	assert_false(deliver_vacation_recent(path, k, 1000, 86400));	/* no file */
	assert_int_equal(deliver_vacation_record(path, k, 1000), 0);
	assert_true(deliver_vacation_recent(path, k, 1000 + 86399, 86400));
	assert_false(deliver_vacation_recent(path, k, 1000 + 86400, 86400));
	assert_false(deliver_vacation_recent(path, k2, 1000, 86400));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* bounded: the oldest entries fall off */
	for (unsigned i = 10; i < 10 + DELIVER_VACATION_MAX; i++) {
		unsigned char ki[DELIVER_VACATION_HASH];

		key_of(i, ki);
		assert_int_equal(deliver_vacation_record(path, ki, 2000 + i), 0);
	}
	assert_false(deliver_vacation_recent(path, k, 1001, 86400));	/* dropped */
	{
		unsigned char ki[DELIVER_VACATION_HASH];

		key_of(10 + DELIVER_VACATION_MAX - 1, ki);
		assert_true(deliver_vacation_recent(path, ki, 3000 + DELIVER_VACATION_MAX, 86400));
	}
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= (off_t)DELIVER_VACATION_MAX * 100);

	/* a corrupt file: the good lines count, the rest is ignored */
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "garbage\n\n12x 0102\n500 ");
	for (unsigned i = 0; i < DELIVER_VACATION_HASH; i++)
		fprintf(f, "%02x", k[i]);
	fprintf(f, "\n-1 zz\n\xff\xfe");
	fclose(f);
	assert_true(deliver_vacation_recent(path, k, 600, 86400));
	assert_int_equal(deliver_vacation_record(path, k2, 700), 0);
	assert_true(deliver_vacation_recent(path, k, 700, 86400));
	assert_true(deliver_vacation_recent(path, k2, 700, 86400));
}

static void
test_sendmail(void **state)
{
	char sm[160], out[160], err[128], data[256];
	FILE *f;
	size_t n;

	(void)state;
	snprintf(sm, sizeof(sm), "%s/sm", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	f = fopen(sm, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n{ echo \"$*\"; echo \"$HOME\"; cat; } > %s\n"
	    "[ \"$3\" = '<>' ] && exit 75\nexit 0\n", out);
	fclose(f);
	assert_int_equal(chmod(sm, 0700), 0);
	assert_string_equal(deliver_sendmail(sm, "s@example.net", "r@example.net",
	    (const unsigned char *)"H: 1\n", 5, (const unsigned char *)"\nbody\n", 6, err,
	    sizeof(err)) == 0 ? "" : err, "");
	f = fopen(out, "r");
	assert_non_null(f);
	n = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[n] = '\0';
	/* argv, a clean environment (no HOME), then stdin */
	assert_string_equal(data, "-i -f s@example.net -- r@example.net\n\nH: 1\n\nbody\n");
	assert_int_equal(deliver_sendmail(sm, "", "r@example.net",
	    (const unsigned char *)"x\n", 2, NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exited with 75"));
	assert_int_equal(deliver_sendmail(sm, "", "-oXfoo", (const unsigned char *)"x\n", 2,
	    NULL, 0, err, sizeof(err)), -1);
	assert_int_equal(deliver_sendmail("/nonexistent/sendmail", "", "r@example.net",
	    (const unsigned char *)"x\n", 2, NULL, 0, err, sizeof(err)), -1);
}

struct done_rec {
	int calls, r;
	char err[128];
};

static void
done_cb(void *ctx, int r, const char *err)
{
	struct done_rec *d = ctx;

	d->calls++;
	d->r = r;
	snprintf(d->err, sizeof(d->err), "%s", err);
}

/* The child in an event loop: several recipients, a message larger than a pipe. */
static void
test_sendmail_start(void **state)
{
	const char *const to[] = { "a@example.org", "b@example.net" };
	const char *const bad[] = { "a@example.org", "-oQ" };
	char sm[160], out[160], err[128], line[256];
	struct event_base *base = event_base_new();
	struct done_rec d = { 0, 0, "" };
	size_t big = 300 * 1024;
	unsigned char *data = malloc(big);
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(base);
	memset(data, 'x', big);
	snprintf(sm, sizeof(sm), "%s/sm", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	f = fopen(sm, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n{ echo \"$*\"; cat; } > %s\n[ \"$3\" = '<>' ] && exit 75\n"
	    "exit 0\n", out);
	fclose(f);
	assert_int_equal(chmod(sm, 0700), 0);
	assert_non_null(deliver_sendmail_start(base, sm, "s@example.net", to, 2, data, big,
	    done_cb, &d, err, sizeof(err)));
	free(data);		/* the child has its own copy */
	while (d.calls == 0)
		assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.r, 0);
	f = fopen(out, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "-i -f s@example.net -- a@example.org b@example.net\n");
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal((size_t)st.st_size, strlen(line) + big);
	/* exit 75 is a failure */
	d.calls = 0;
	assert_non_null(deliver_sendmail_start(base, sm, "", to, 1,
	    (const unsigned char *)"x\n", 2, done_cb, &d, err, sizeof(err)));
	while (d.calls == 0)
		assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
	assert_int_equal(d.r, -1);
	assert_non_null(strstr(d.err, "exited with 75"));
	/* a recipient that would be an option, none at all: not started */
	assert_null(deliver_sendmail_start(base, sm, "", bad, 2, (const unsigned char *)"x", 1,
	    done_cb, &d, err, sizeof(err)));
	assert_null(deliver_sendmail_start(base, sm, "", to, 0, (const unsigned char *)"x", 1,
	    done_cb, &d, err, sizeof(err)));
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vacation_reply),
		cmocka_unit_test(test_header_get),
		cmocka_unit_test(test_reject_mdn),
		cmocka_unit_test(test_vacation_key),
		cmocka_unit_test_setup_teardown(test_vacation_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendmail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendmail_start, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
