/*
 * test_thread.c — RFC 5256 §4 threading (src/imap/imap_thread.c): chains, branches,
 * dummies pruned and kept, subject gathering (reply under original, siblings under a
 * dummy), duplicate and missing Message-IDs, In-Reply-To, reference loops, date order
 * with mailbox-order ties, ORDEREDSUBJECT, REFS (no subject gathering, threads by their
 * newest INTERNALDATE), the output grammar, and a 100,000-deep chain that must
 * not exhaust the stack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_thread.h"
#include "lib/util.h"

struct tm_in {
	uint64_t date;
	const char *subject;	/* base subject (already folded) */
	bool reply;
	const char *msgid, *refs, *irt;
};

/* imap_thread_add with NUL-terminated strings; arrival is date unless given */
static void
add(struct imap_thread *t, uint32_t id, uint64_t date, uint64_t arrival, const char *subject,
    bool reply, const char *msgid, const char *refs, const char *irt)
{
	struct imap_thread_msg m = {
		.id = id, .date = date, .arrival = arrival, .subject = subject,
		.subject_len = strlen(subject), .reply = reply,
		.message_id = msgid, .message_id_len = msgid != NULL ? strlen(msgid) : 0,
		.references = refs, .references_len = refs != NULL ? strlen(refs) : 0,
		.in_reply_to = irt, .in_reply_to_len = irt != NULL ? strlen(irt) : 0,
	};

	imap_thread_add(t, &m);
}

/* arrival: INTERNALDATE per message (REFS), NULL: the sent date */
static char *
thread_arr(const struct tm_in *in, const uint64_t *arrival, size_t n,
    enum imap_thread_algorithm alg)
{
	struct imap_thread *t = imap_thread_create();
	struct buf out;
	char *s;
	size_t i;

	for (i = 0; i < n; i++)
		add(t, (uint32_t)i + 1, in[i].date, arrival != NULL ? arrival[i] : in[i].date,
		    in[i].subject, in[i].reply, in[i].msgid, in[i].refs, in[i].irt);
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(imap_thread_format(t, alg, &out), 0);
	s = xstrdup(buf_cstr(&out));
	buf_deinit(&out);
	imap_thread_destroy(&t);
	return s;
}

#define CHECK(in, alg, want) do { \
	char *got_ = thread_arr(in, NULL, N_ELEMENTS(in), alg); \
	if (strcmp(got_, want) != 0) \
		fail_msg("%s: got %s, want %s", #in, got_, want); \
	free(got_); \
} while (0)

static void
test_references(void **state)
{
	static const struct tm_in chain[] = {
		{ 1, "a", false, "<a@x>", NULL, NULL },
		{ 2, "a", true, "<b@x>", "<a@x>", NULL },
		{ 3, "a", true, "<c@x>", "<a@x> <b@x>", NULL },
	};
	static const struct tm_in branch[] = {
		{ 1, "a", false, "<a@x>", NULL, NULL },
		{ 3, "a", true, "<c@x>", "<a@x>", NULL },
		{ 2, "a", true, "<b@x>", "<a@x>", NULL },
		{ 4, "a", true, "<d@x>", "<a@x> <c@x>", NULL },
	};
	/* the parent is not in the mailbox: a dummy holds the two replies */
	static const struct tm_in dummy[] = {
		{ 1, "p", true, "<p@x>", "<gone@x>", NULL },
		{ 2, "q", true, "<q@x>", "<gone@x>", NULL },
		{ 3, "r", false, "<r@x>", NULL, NULL },
	};
	/* a dummy with one child is replaced by it; In-Reply-To without References */
	static const struct tm_in single[] = {
		{ 2, "p", true, "<p@x>", "<gone@x>", NULL },
		{ 1, "q", false, "<q@x>", NULL, NULL },
		{ 3, "q", true, "<s@x>", NULL, "<q@x> <other@x>" },
	};
	/* the same base subject: a reply goes under the original, two originals become
	 * siblings under a dummy; an empty subject is never gathered */
	static const struct tm_in subj[] = {
		{ 1, "hello", false, "<1@x>", NULL, NULL },
		{ 2, "hello", true, "<2@x>", NULL, NULL },
		{ 3, "hi", false, "<3@x>", NULL, NULL },
		{ 4, "hi", false, "<4@x>", NULL, NULL },
		{ 5, "", false, "<5@x>", NULL, NULL },
		{ 6, "", false, "<6@x>", NULL, NULL },
	};
	/* duplicate and missing Message-IDs; a reference to the duplicate goes to the
	 * first */
	static const struct tm_in dup[] = {
		{ 1, "a", false, "<d@x>", NULL, NULL },
		{ 2, "b", false, "<d@x>", NULL, NULL },
		{ 3, "c", false, NULL, "<d@x>", NULL },
		{ 4, "e", false, "not an id", NULL, NULL },
	};
	/* references that form a loop are not followed into one */
	static const struct tm_in loop[] = {
		{ 2, "a", false, "<a@x>", "<b@x>", NULL },
		{ 1, "b", false, "<b@x>", "<a@x>", NULL },
	};
	/* equal dates: mailbox order */
	static const struct tm_in ties[] = {
		{ 5, "x", false, "<x@x>", NULL, NULL },
		{ 5, "y", false, "<y@x>", NULL, NULL },
		{ 1, "z", false, "<z@x>", NULL, NULL },
	};

	(void)state;
	CHECK(chain, IMAP_THREAD_REFERENCES, "(1 2 3)");
	CHECK(branch, IMAP_THREAD_REFERENCES, "(1 (3)(2 4))");
	CHECK(dummy, IMAP_THREAD_REFERENCES, "((1)(2))(3)");
	CHECK(single, IMAP_THREAD_REFERENCES, "(2 3)(1)");
	CHECK(subj, IMAP_THREAD_REFERENCES, "(1 2)((3)(4))(5)(6)");
	CHECK(dup, IMAP_THREAD_REFERENCES, "(1 3)(2)(4)");
	CHECK(loop, IMAP_THREAD_REFERENCES, "(2 1)");
	CHECK(ties, IMAP_THREAD_REFERENCES, "(3)(1)(2)");
	/* REFS: the same links, no subject gathering */
	CHECK(chain, IMAP_THREAD_REFS, "(1 2 3)");
	CHECK(dummy, IMAP_THREAD_REFS, "((1)(2))(3)");
	CHECK(subj, IMAP_THREAD_REFS, "(1)(2)(3)(4)(5)(6)");
	CHECK(loop, IMAP_THREAD_REFS, "(2 1)");
}

/* REFS (draft-ietf-morg-inthread-01 §4): siblings by sent date as for REFERENCES,
 * threads by the most recent INTERNALDATE in each (ties: as REFERENCES orders roots) */
static void
test_refs(void **state)
{
	static const struct tm_in in[] = {
		{ 1, "a", false, "<a@x>", NULL, NULL },
		{ 2, "a", true, "<b@x>", "<a@x>", NULL },
		{ 3, "b", false, "<c@x>", NULL, NULL },
		{ 4, "c", false, "<d@x>", NULL, NULL },
		{ 5, "c", true, "<e@x>", "<d@x>", NULL },
		{ 6, "a", true, "<f@x>", "<a@x>", NULL },
	};
	static const uint64_t arrival[] = { 10, 50, 20, 30, 40, 45 };
	static const uint64_t same[] = { 7, 7, 7, 7, 7, 7 };
	char *got;

	(void)state;
	got = thread_arr(in, NULL, N_ELEMENTS(in), IMAP_THREAD_REFERENCES);
	assert_string_equal(got, "(1 (2)(6))(3)(4 5)");
	free(got);
	got = thread_arr(in, arrival, N_ELEMENTS(in), IMAP_THREAD_REFS);
	assert_string_equal(got, "(3)(4 5)(1 (2)(6))");
	free(got);
	got = thread_arr(in, same, N_ELEMENTS(in), IMAP_THREAD_REFS);
	assert_string_equal(got, "(1 (2)(6))(3)(4 5)");
	free(got);
}

static void
test_orderedsubject(void **state)
{
	/* by base subject, then date; the first of each subject is the parent of the
	 * others; threads in the order of their first message's date */
	static const struct tm_in os[] = {
		{ 1, "b", false, NULL, NULL, NULL },
		{ 2, "a", false, NULL, NULL, NULL },
		{ 3, "b", true, NULL, NULL, NULL },
		{ 5, "a", true, NULL, NULL, NULL },
		{ 4, "a", true, NULL, NULL, NULL },
		{ 0, "c", false, NULL, NULL, NULL },
	};

	(void)state;
	CHECK(os, IMAP_THREAD_ORDEREDSUBJECT, "(6)(1 3)(2 (5)(4))");
}

/* A chain as deep as the mailbox and a fan-out as wide: linear work, no recursion. */
static void
test_deep(void **state)
{
	enum { N = 100000 };
	struct imap_thread *t = imap_thread_create();
	struct buf out;
	char id[32], ref[32];
	size_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "<%zu@x>", i);
		snprintf(ref, sizeof(ref), "<%zu@x>", i > 0 ? i - 1 : N + 7);
		add(t, (uint32_t)i + 1, i, i, "s", i > 0, id, ref, NULL);
	}
	buf_init(&out, BUF_UNLIMITED);
	assert_int_equal(imap_thread_format(t, IMAP_THREAD_REFERENCES, &out), 0);
	/* each message is a new container: linked without a walk, one chain */
	assert_true(out.len > 6 * N / 10);
	assert_true(strncmp(buf_cstr(&out), "(1 2 3 4 ", 9) == 0);
	assert_true(memchr(out.data, '(', out.len) == out.data &&
	    memchr(out.data + 1, '(', out.len - 1) == NULL);
	assert_int_equal(out.data[0], '(');
	assert_int_equal(out.data[out.len - 1], ')');
	imap_thread_destroy(&t);
	buf_deinit(&out);
	/* every message a reply to the first: one parent, N - 1 children */
	t = imap_thread_create();
	buf_init(&out, BUF_UNLIMITED);
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "<%zu@x>", i);
		add(t, (uint32_t)i + 1, i, i, "s", i > 0, id, i > 0 ? "<0@x>" : NULL, NULL);
	}
	assert_int_equal(imap_thread_format(t, IMAP_THREAD_REFERENCES, &out), 0);
	assert_true(strncmp(buf_cstr(&out), "(1 (2)(3)(4)", 12) == 0);
	imap_thread_destroy(&t);
	buf_deinit(&out);
	/* an output limit: -1 */
	t = imap_thread_create();
	buf_init(&out, 8);
	for (i = 0; i < 100; i++)
		add(t, (uint32_t)i + 1, i, i, "", false, NULL, NULL, NULL);
	assert_int_equal(imap_thread_format(t, IMAP_THREAD_ORDEREDSUBJECT, &out), -1);
	imap_thread_destroy(&t);
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_orderedsubject),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
