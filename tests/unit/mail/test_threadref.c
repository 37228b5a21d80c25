/*
 * test_threadref.c — the ids a thread is made from (src/mail/threadref.c): Message-ID,
 * References root first then In-Reply-To, ids without brackets ignored, the bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/util.h"
#include "mail/threadref.h"

#define H(s)	mail_msgid_hash(s, strlen(s))

static void
test_fields(void **state)
{
	const char *hdr = "Message-ID: <c@x>\r\nReferences: <a@x>\r\n <b@x>\r\n"
	    "In-Reply-To: <b@x> (comment) <z@x>\r\nSubject: hi\r\n";
	uint64_t own, refs[8];
	size_t n;

	(void)state;
	n = mail_thread_refs((const unsigned char *)hdr, strlen(hdr), &own, refs, 8);
	assert_int_equal(n, 3);
	assert_true(own == H("c@x"));
	assert_true(refs[0] == H("a@x") && refs[1] == H("b@x") && refs[2] == H("b@x"));
	assert_true(H("a@x") != H("b@x"));
}

static void
test_none_and_junk(void **state)
{
	const char *hdr = "Subject: no ids\r\nReferences: a@x <> <unclosed\r\n";
	uint64_t own = 7, refs[4];

	(void)state;
	assert_int_equal(mail_thread_refs((const unsigned char *)hdr, strlen(hdr), &own, refs,
	    4), 0);
	assert_true(own == 0);
	assert_true(mail_msgid_hash("", 0) != 0);
}

static void
test_bound(void **state)
{
	char hdr[8192];
	size_t off = 0;
	uint64_t own, refs[10];

	(void)state;
	off += (size_t)snprintf(hdr + off, sizeof(hdr) - off, "References:");
	for (int i = 0; i < 200; i++)
		off += (size_t)snprintf(hdr + off, sizeof(hdr) - off, " <%d@x>", i);
	off += (size_t)snprintf(hdr + off, sizeof(hdr) - off, "\r\nIn-Reply-To: <last@x>\r\n");
	/* the first max - 1 References, then In-Reply-To */
	assert_int_equal(mail_thread_refs((const unsigned char *)hdr, off, &own, refs, 10), 10);
	assert_true(refs[0] == H("0@x") && refs[8] == H("8@x") && refs[9] == H("last@x"));
	assert_int_equal(mail_thread_refs((const unsigned char *)hdr, off, &own, refs, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_none_and_junk),
		cmocka_unit_test(test_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
