/*
 * test_pam_pool.c — the PAM worker protocol codec (round trips, every bound, every
 * truncation, trailing bytes) and the pool itself with dummy jobs (no PAM stack
 * needed): results arrive from the loop, a killed worker is replaced, a worker that
 * does not answer (SIGSTOP) is killed after the timeout and its job fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/pam_pool.h"
#include "lib/util.h"

static void
test_job_roundtrip(void **state)
{
	struct ipc_msg m;
	struct pam_job j;

	assert_int_equal(pam_job_encode(&m, 7, PAM_JOB_AUTH, "alice", "pw\xff", 3, "192.0.2.1"), 0);
	assert_int_equal(pam_job_decode(&m, &j), 0);
	assert_int_equal(j.id, 7);
	assert_int_equal(j.kind, PAM_JOB_AUTH);
	assert_string_equal(j.user, "alice");
	assert_int_equal(j.password_len, 3);
	assert_memory_equal(j.password, "pw\xff", 4);
	assert_string_equal(j.rhost, "192.0.2.1");
	/* a dummy job needs no name and may carry an empty password */
	assert_int_equal(pam_job_encode(&m, 8, PAM_JOB_DUMMY, "", "", 0, ""), 0);
	assert_int_equal(pam_job_decode(&m, &j), 0);
	assert_int_equal(j.kind, PAM_JOB_DUMMY);
	assert_string_equal(j.user, "");
}

static void
test_job_bounds(void **state)
{
	char user[USER_NAME_MAX + 2], pass[PAM_POOL_PASS_MAX + 2], rhost[PAM_POOL_RHOST_MAX + 2];
	static const struct { uint32_t kind; size_t ulen, plen, rlen; bool nul; int want; } cases[] = {
		{ PAM_JOB_AUTH, USER_NAME_MAX, PAM_POOL_PASS_MAX, PAM_POOL_RHOST_MAX, false, 0 },
		{ PAM_JOB_AUTH, USER_NAME_MAX + 1, 1, 1, false, -1 },
		{ PAM_JOB_AUTH, 1, PAM_POOL_PASS_MAX + 1, 1, false, -1 },
		{ PAM_JOB_AUTH, 1, 1, PAM_POOL_RHOST_MAX + 1, false, -1 },
		{ PAM_JOB_AUTH, 0, 1, 1, false, -1 },
		{ PAM_JOB_DUMMY, 0, 1, 1, false, 0 },
		{ PAM_JOB_AUTH, 1, 4, 1, true, -1 },
		{ 0, 1, 1, 1, false, -1 },
		{ 3, 1, 1, 1, false, -1 },
	};
	struct ipc_msg m;

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		memset(user, 'u', sizeof(user));
		memset(pass, 'p', sizeof(pass));
		memset(rhost, '1', sizeof(rhost));
		user[cases[i].ulen] = '\0';
		rhost[cases[i].rlen] = '\0';
		if (cases[i].nul)
			pass[1] = '\0';
		if (pam_job_encode(&m, 1, cases[i].kind, user, pass, cases[i].plen, rhost) !=
		    cases[i].want)
			fail_msg("case %zu: want %d", i, cases[i].want);
	}
}

/* A job message built field by field, to feed the decoder what the encoder refuses. */
static void
raw_job(struct ipc_msg *m, uint32_t type, uint32_t kind, const char *user, size_t ulen,
    const char *pass, size_t plen, const char *rhost, size_t rlen)
{
	ipc_msg_init(m, 0);
	ipc_put_u32(m, type);
	ipc_put_u32(m, 1);
	ipc_put_u32(m, kind);
	ipc_put_bytes(m, user, ulen);
	ipc_put_bytes(m, pass, plen);
	ipc_put_bytes(m, rhost, rlen);
}

static void
test_job_decode_hostile(void **state)
{
	char big[PAM_POOL_PASS_MAX + 1];
	struct ipc_msg m, t;
	struct pam_job j;

	memset(big, 'x', sizeof(big));
	raw_job(&m, PAM_MSG_RESULT, PAM_JOB_AUTH, "a", 1, "p", 1, "", 0);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	raw_job(&m, PAM_MSG_JOB, 9, "a", 1, "p", 1, "", 0);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	raw_job(&m, PAM_MSG_JOB, PAM_JOB_AUTH, big, USER_NAME_MAX + 1, "p", 1, "", 0);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	raw_job(&m, PAM_MSG_JOB, PAM_JOB_AUTH, "a", 1, big, PAM_POOL_PASS_MAX + 1, "", 0);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	raw_job(&m, PAM_MSG_JOB, PAM_JOB_AUTH, "a", 1, "p", 1, big, PAM_POOL_RHOST_MAX + 1);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	raw_job(&m, PAM_MSG_JOB, PAM_JOB_AUTH, "a\0b", 3, "p", 1, "", 0);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	raw_job(&m, PAM_MSG_JOB, PAM_JOB_AUTH, "a", 1, "p\0q", 3, "", 0);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	raw_job(&m, PAM_MSG_JOB, PAM_JOB_AUTH, "", 0, "p", 1, "", 0);
	assert_int_equal(pam_job_decode(&m, &j), -1);
	/* every truncation of a good message, and one trailing byte */
	assert_int_equal(pam_job_encode(&m, 5, PAM_JOB_AUTH, "bob", "secret", 6, "::1"), 0);
	for (uint32_t n = 0; n < m.len; n++) {
		t = m;
		t.len = n;
		t.rpos = 0;
		if (pam_job_decode(&t, &j) != -1)
			fail_msg("truncated to %u bytes: accepted", n);
		for (size_t k = 0; k < sizeof(j.password); k++)
			assert_int_equal(j.password[k], 0);	/* wiped on failure */
	}
	t = m;
	t.data[t.len++] = 0;
	assert_int_equal(pam_job_decode(&t, &j), -1);
}

static void
test_result_codec(void **state)
{
	static const int results[] = { 1, 0, -1 };
	struct ipc_msg m, t;
	uint32_t id;
	int res;

	for (size_t i = 0; i < N_ELEMENTS(results); i++) {
		pam_result_encode(&m, 40 + (uint32_t)i, results[i]);
		assert_int_equal(pam_result_decode(&m, &id, &res), 0);
		assert_int_equal(id, 40 + i);
		assert_int_equal(res, results[i]);
	}
	pam_result_encode(&m, 1, 1);
	for (uint32_t n = 0; n < m.len; n++) {
		t = m;
		t.len = n;
		t.rpos = 0;
		assert_int_equal(pam_result_decode(&t, &id, &res), -1);
	}
	t = m;
	t.data[t.len++] = 0;
	assert_int_equal(pam_result_decode(&t, &id, &res), -1);
	ipc_msg_init(&m, 0);
	ipc_put_u32(&m, PAM_MSG_RESULT);
	ipc_put_u32(&m, 1);
	ipc_put_u32(&m, 3);
	assert_int_equal(pam_result_decode(&m, &id, &res), -1);
	ipc_msg_init(&m, 0);
	ipc_put_u32(&m, PAM_MSG_JOB);
	ipc_put_u32(&m, 1);
	ipc_put_u32(&m, 1);
	assert_int_equal(pam_result_decode(&m, &id, &res), -1);
}

/* ---- the pool, with dummy jobs ---- */

static struct {
	int done, results[64];
	bool in_submit;
	bool called_in_submit;
} T;

static void
job_cb(int result, void *ctx)
{
	int i = (int)(intptr_t)ctx;

	if (T.in_submit)
		T.called_in_submit = true;
	T.results[i] = result;
	T.done++;
}

static void
submit(int i)
{
	T.in_submit = true;
	assert_int_equal(pam_pool_submit(PAM_JOB_DUMMY, "nobody-here", "guess", 5, "192.0.2.9",
	    job_cb, (void *)(intptr_t)i), 0);
	T.in_submit = false;
}

static void
run_until(struct event_base *base, int done, unsigned ms)
{
	uint64_t end = clock_ms() + ms;

	while (T.done < done && clock_ms() < end) {
		struct timeval tv = { 0, 20000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	assert_int_equal(T.done, done);
}

/* Wait until the pool has want workers, none of them one of the gone ones. */
static unsigned
wait_pool(struct event_base *base, pid_t *pids, unsigned want, const pid_t *gone,
    unsigned ngone, unsigned ms)
{
	uint64_t end = clock_ms() + ms;
	unsigned n;

	for (;;) {
		struct timeval tv = { 0, 20000 };
		bool stale = false;

		n = pam_pool_pids(pids, PAM_POOL_MAX_WORKERS);
		for (unsigned i = 0; i < n; i++)
			for (unsigned k = 0; k < ngone; k++)
				stale |= pids[i] == gone[k];
		if ((n == want && !stale) || clock_ms() > end)
			return n;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void
test_pool(void **state)
{
	struct event_base *base = event_base_new();
	pid_t pids[PAM_POOL_MAX_WORKERS], after[PAM_POOL_MAX_WORKERS];
	uint64_t t0;

	memset(&T, 0, sizeof(T));
	assert_int_equal(pam_pool_submit(PAM_JOB_DUMMY, "x", "y", 1, "", job_cb, NULL), -1);
	assert_int_equal(pam_pool_init(base, 2, 400), 0);
	assert_int_equal(pam_pool_pids(pids, PAM_POOL_MAX_WORKERS), 2);

	/* more jobs than workers: queued, all answered (refused), never inside submit */
	for (int i = 0; i < 5; i++) {
		T.results[i] = 99;
		submit(i);
	}
	assert_int_equal(T.done, 0);
	run_until(base, 5, 10000);
	for (int i = 0; i < 5; i++)
		assert_int_equal(T.results[i], 0);
	assert_false(T.called_in_submit);

	/* a killed worker is replaced and the pool keeps working */
	assert_int_equal(kill(pids[0], SIGKILL), 0);
	assert_int_equal(wait_pool(base, after, 2, pids, 1, 5000), 2);
	assert_true(after[0] != pids[0] && after[1] != pids[0]);
	T.results[5] = 99;
	submit(5);
	run_until(base, 6, 10000);
	assert_int_equal(T.results[5], 0);

	/* a worker that never answers: killed after the timeout, its job fails */
	assert_int_equal(pam_pool_pids(pids, PAM_POOL_MAX_WORKERS), 2);
	assert_int_equal(kill(pids[0], SIGSTOP), 0);
	assert_int_equal(kill(pids[1], SIGSTOP), 0);
	t0 = clock_ms();
	T.results[6] = T.results[7] = 99;
	submit(6);
	submit(7);
	run_until(base, 8, 10000);
	assert_int_equal(T.results[6], -1);
	assert_int_equal(T.results[7], -1);
	assert_true(clock_ms() - t0 >= 350);
	assert_int_equal(wait_pool(base, after, 2, pids, 2, 5000), 2);
	assert_true(after[0] != pids[0] && after[0] != pids[1]);
	assert_true(after[1] != pids[0] && after[1] != pids[1]);
	T.results[8] = 99;
	submit(8);
	run_until(base, 9, 10000);
	assert_int_equal(T.results[8], 0);

	/* stop: queued jobs fail through their callbacks */
	submit(9);
	submit(10);
	pam_pool_stop();
	assert_int_equal(T.done, 11);
	assert_int_equal(T.results[9], -1);
	assert_int_equal(T.results[10], -1);
	assert_int_equal(pam_pool_pids(pids, PAM_POOL_MAX_WORKERS), 0);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_roundtrip),
		cmocka_unit_test(test_job_bounds),
		cmocka_unit_test(test_job_decode_hostile),
		cmocka_unit_test(test_result_codec),
		cmocka_unit_test(test_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
