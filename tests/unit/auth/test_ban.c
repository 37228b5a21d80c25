/*
 * test_ban.c — the auth process's per-network penalty table and brute-force ban
 * (src/auth/auth_main.c): counting, banning after auth_ban_failures, expiry, IPv6 /64
 * sharing, disabled settings, and that a flood of other networks can neither unban an
 * address by expiry nor leave a newcomer untracked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "auth/auth.h"
#include "lib/util.h"

#define SEC	1000ULL
#define T0	(1000000 * SEC)	/* an arbitrary clock_ms() origin */

static int
setup(void **state)
{
	auth_penalty_reset_all();
	return 0;
}

/* n failures from ip at `now` (one per millisecond); returns the last ban length */
static unsigned
fail_n(const char *ip, unsigned n, uint64_t now, unsigned ban_failures, unsigned ban_seconds)
{
	unsigned ban = 0;

	for (unsigned i = 0; i < n; i++) {
		struct auth_penalty *p = auth_penalty_get(ip, now + i);

		assert_non_null(p);
		ban = auth_penalty_failure(p, now + i, ban_failures, ban_seconds);
		if (i + 1 < n)
			assert_int_equal(ban, 0);
	}
	return ban;
}

static void
test_ban_after_failures(void **state)
{
	struct auth_penalty *p;

	/* 19 failures: delayed, not banned */
	assert_int_equal(fail_n("192.0.2.7", 19, T0, 20, 3600), 0);
	p = auth_penalty_get("192.0.2.7", T0 + 100);
	assert_false(auth_penalty_banned(p, T0 + 100));
	assert_int_equal(auth_penalty_failures(p), 19);
	/* the 20th bans for exactly auth_ban_seconds */
	assert_int_equal(auth_penalty_failure(p, T0 + 100, 20, 3600), 3600);
	assert_true(auth_penalty_banned(p, T0 + 100));
	assert_true(auth_penalty_banned(auth_penalty_get("192.0.2.7", T0 + 3000 * SEC),
	    T0 + 3000 * SEC));
	/* silence longer than the 10-minute penalty expiry does not lift a ban */
	p = auth_penalty_get("192.0.2.7", T0 + 100 + 3599 * SEC);
	assert_true(auth_penalty_banned(p, T0 + 100 + 3599 * SEC));
	assert_false(auth_penalty_banned(p, T0 + 100 + 3600 * SEC));
	/* a neighbour is not affected */
	assert_false(auth_penalty_banned(auth_penalty_get("192.0.2.8", T0 + 200), T0 + 200));
	assert_false(auth_penalty_banned(NULL, T0));
}

static void
test_ban_again(void **state)
{
	struct auth_penalty *p;
	uint64_t after;

	assert_int_equal(fail_n("198.51.100.1", 3, T0, 3, 5), 5);
	after = T0 + 2 + 5 * SEC;
	p = auth_penalty_get("198.51.100.1", after);
	assert_false(auth_penalty_banned(p, after));
	/* the delay keeps counting; the next ban needs ban_failures new failures */
	assert_int_equal(auth_penalty_failures(p), 3);
	assert_int_equal(auth_penalty_failure(p, after, 3, 5), 0);
	assert_int_equal(auth_penalty_failure(p, after, 3, 5), 0);
	assert_false(auth_penalty_banned(p, after));
	assert_int_equal(auth_penalty_failure(p, after, 3, 5), 5);
	assert_true(auth_penalty_banned(p, after + 4 * SEC));
	assert_int_equal(auth_penalty_failures(p), 6);
}

static void
test_ipv6_prefix(void **state)
{
	assert_int_equal(fail_n("2001:db8:1:2::1", 4, T0, 4, 60), 60);
	/* same /64: same entry, banned */
	assert_true(auth_penalty_banned(auth_penalty_get("2001:db8:1:2:ffff::9", T0 + 10),
	    T0 + 10));
	/* next /64: not banned */
	assert_false(auth_penalty_banned(auth_penalty_get("2001:db8:1:3::1", T0 + 10),
	    T0 + 10));
	/* not an address: no entry */
	assert_null(auth_penalty_get("not-an-ip", T0));
	assert_null(auth_penalty_get("", T0));
}

static void
test_disabled(void **state)
{
	/* auth_ban_seconds = 0 or auth_ban_failures = 0: never banned */
	assert_int_equal(fail_n("203.0.113.1", 100, T0, 20, 0), 0);
	assert_false(auth_penalty_banned(auth_penalty_get("203.0.113.1", T0 + 200), T0 + 200));
	assert_int_equal(fail_n("203.0.113.2", 100, T0, 0, 3600), 0);
	assert_false(auth_penalty_banned(auth_penalty_get("203.0.113.2", T0 + 200), T0 + 200));
	assert_int_equal(auth_penalty_failures(auth_penalty_get("203.0.113.2", T0 + 200)), 100);
}

static void
test_expiry_without_ban(void **state)
{
	struct auth_penalty *p;

	assert_int_equal(fail_n("192.0.2.50", 5, T0, 20, 3600), 0);
	/* after 10 minutes of silence the failures are forgotten */
	p = auth_penalty_get("192.0.2.50", T0 + 11 * 60 * SEC);
	assert_int_equal(auth_penalty_failures(p), 0);
}

static void
test_flood(void **state)
{
	char ip[64];
	unsigned banned = 0, untracked = 0;

	/* ban the target first, then 20 000 other addresses fail once each */
	assert_int_equal(fail_n("192.0.2.99", 20, T0, 20, 3600), 3600);
	for (unsigned i = 0; i < 20000; i++) {
		struct auth_penalty *p;

		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		p = auth_penalty_get(ip, T0 + 100);
		if (p == NULL) {
			untracked++;
			continue;
		}
		auth_penalty_failure(p, T0 + 100, 20, 3600);
	}
	/* no request is in flight, so every newcomer found a slot */
	assert_int_equal(untracked, 0);
	/* the table holds 4096 entries: an address that merely failed once may be
	 * recycled, but banned entries are recycled last */
	banned = auth_penalty_banned(auth_penalty_get("192.0.2.99", T0 + 200), T0 + 200);
	assert_true(banned);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_ban_after_failures, setup),
		cmocka_unit_test_setup(test_ban_again, setup),
		cmocka_unit_test_setup(test_ipv6_prefix, setup),
		cmocka_unit_test_setup(test_disabled, setup),
		cmocka_unit_test_setup(test_expiry_without_ban, setup),
		cmocka_unit_test_setup(test_flood, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
