#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "lib/netaddr.h"

/* Two addresses count as one client exactly when their keys are equal. */
static bool
same(const char *a, const char *b)
{
	unsigned char ka[NETADDR_KEY_LEN], kb[NETADDR_KEY_LEN];

	assert_true(netaddr_key_string(a, ka));
	assert_true(netaddr_key_string(b, kb));
	return memcmp(ka, kb, NETADDR_KEY_LEN) == 0;
}

static void
test_string_keys(void **state)
{
	unsigned char k[NETADDR_KEY_LEN];

	assert_true(same("192.0.2.1", "192.0.2.1"));
	assert_false(same("192.0.2.1", "192.0.2.2"));
	/* one IPv6 /64 is one client, the next /64 another */
	assert_true(same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1"));
	/* an IPv4-mapped address is its IPv4 address, never an IPv6 /64 */
	assert_true(same("::ffff:192.0.2.7", "192.0.2.7"));
	assert_false(same("::ffff:192.0.2.7", "::ffff:192.0.2.8"));
	/* no IPv4 key equals an IPv6 one, even with the same leading bytes */
	assert_false(same("192.0.2.1", "c000:201::"));
	assert_false(netaddr_key_string("local", k));
	assert_false(netaddr_key_string("", k));
	assert_false(netaddr_key_string("192.0.2.1/24", k));
	/* the tables of the master and auth hash keys: one client, one hash */
	{
		unsigned char a[NETADDR_KEY_LEN], b[NETADDR_KEY_LEN];

		assert_true(netaddr_key_string("2001:db8:1:2::1", a));
		assert_true(netaddr_key_string("2001:db8:1:2::ff", b));
		assert_int_equal(netaddr_key_hash(a), netaddr_key_hash(b));
		assert_true(netaddr_key_string("2001:db8:1:3::1", b));
		assert_true(netaddr_key_hash(a) != netaddr_key_hash(b));
	}
}

/* The master keys socket addresses, auth their text form: the keys must agree. */
static void
test_sockaddr_agrees(void **state)
{
	static const char *const v4[] = { "127.0.0.1", "10.1.2.3", "255.255.255.255" };
	static const char *const v6[] = { "::1", "2001:db8::8:800:200c:417a", "::ffff:10.0.0.1",
		"fe80::1" };
	unsigned char ks[NETADDR_KEY_LEN], kt[NETADDR_KEY_LEN];
	struct sockaddr_storage ss;

	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, v4[i], &s4->sin_addr), 1);
		assert_true(netaddr_key_sockaddr((struct sockaddr *)&ss, ks));
		assert_true(netaddr_key_string(v4[i], kt));
		assert_memory_equal(ks, kt, NETADDR_KEY_LEN);
	}
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		memset(&ss, 0, sizeof(ss));
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, v6[i], &s6->sin6_addr), 1);
		assert_true(netaddr_key_sockaddr((struct sockaddr *)&ss, ks));
		assert_true(netaddr_key_string(v6[i], kt));
		assert_memory_equal(ks, kt, NETADDR_KEY_LEN);
	}
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_false(netaddr_key_sockaddr((struct sockaddr *)&ss, ks));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_keys),
		cmocka_unit_test(test_sockaddr_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
