/*
 * test_userdb_extra.c — the passwd-file extra fields that carry a user's quota
 * (userdb_extra_fields): Dovecot's userdb_quota_rule, buzon's quota_storage /
 * quota_messages, fields that are not ours, bad values, and the round trip through
 * userdb_quota_fields (the form auth sends to the mail process).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/userdb.h"
#include "lib/util.h"

struct ecase {
	const char *input;
	int ret;
	unsigned int flags;
	uint64_t storage, messages;
};

static const struct ecase cases[] = {
	{ "", 0, 0, 0, 0 },
	{ "userdb_quota_rule=*:storage=1G", 0, USERDB_QUOTA_STORAGE, 1ULL << 30, 0 },
	{ "quota_rule=*:storage=512M:messages=1000", 0,
	  USERDB_QUOTA_STORAGE | USERDB_QUOTA_MESSAGES, 512ULL << 20, 1000 },
	{ "userdb_quota_rule=*:messages=10", 0, USERDB_QUOTA_MESSAGES, 0, 10 },
	{ "userdb_quota_rule=*:storage=100KB", 0, USERDB_QUOTA_STORAGE, 102400, 0 },
	{ "userdb_quota_rule=*:storage=3000B", 0, USERDB_QUOTA_STORAGE, 3000, 0 },
	{ "userdb_quota_rule=*:storage=0", 0, USERDB_QUOTA_STORAGE, 0, 0 },
	{ "userdb_quota_rule=Trash:storage=+100M", 0, 0, 0, 0 },
	{ "userdb_quota_rule=*:storage=+100M", 0, 0, 0, 0 },
	{ "userdb_quota_rule=*:storage=10%", 0, 0, 0, 0 },
	{ "quota_storage=2G quota_messages=50", 0,
	  USERDB_QUOTA_STORAGE | USERDB_QUOTA_MESSAGES, 2ULL << 30, 50 },
	{ "userdb_mail=maildir:~/Maildir  nopassword userdb_quota_storage=1K", 0,
	  USERDB_QUOTA_STORAGE, 1024, 0 },
	{ "userdb_quota_rule=*:storage=lots", -1, 0, 0, 0 },
	{ "quota_messages=1K", -1, 0, 0, 0 },
	{ "quota_storage=", -1, 0, 0, 0 },
	{ "quota_storage=99999999999999999999G", -1, 0, 0, 0 },
};

static void
test_extra_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct user_info u;
		int r;

		memset(&u, 0, sizeof(u));
		u.name = "t";
		r = userdb_extra_fields(cases[i].input, strlen(cases[i].input), &u);
		if (r != cases[i].ret)
			fail_msg("%s: ret %d", cases[i].input, r);
		if (r < 0)
			continue;
		if (u.quota_flags != cases[i].flags ||
		    ((u.quota_flags & USERDB_QUOTA_STORAGE) && u.quota_storage != cases[i].storage) ||
		    ((u.quota_flags & USERDB_QUOTA_MESSAGES) && u.quota_messages != cases[i].messages))
			fail_msg("%s: %u %llu %llu", cases[i].input, u.quota_flags,
			    (unsigned long long)u.quota_storage,
			    (unsigned long long)u.quota_messages);
	}
}

static void
test_round_trip(void **state)
{
	struct user_info u, v;
	char buf[USERDB_QUOTA_FIELDS_MAX];
	const char *s;

	(void)state;
	memset(&u, 0, sizeof(u));
	memset(&v, 0, sizeof(v));
	u.name = v.name = "t";
	assert_string_equal(userdb_quota_fields(&u, buf, sizeof(buf)), "");
	u.quota_flags = USERDB_QUOTA_STORAGE | USERDB_QUOTA_MESSAGES;
	u.quota_storage = UINT64_MAX;
	u.quota_messages = UINT64_MAX;
	s = userdb_quota_fields(&u, buf, sizeof(buf));
	assert_int_equal(userdb_extra_fields(s, strlen(s), &v), 0);
	assert_int_equal(v.quota_flags, u.quota_flags);
	assert_true(v.quota_storage == UINT64_MAX && v.quota_messages == UINT64_MAX);
	/* the extra-fields length bound */
	{
		char big[USERDB_EXTRA_MAX + 2];

		memset(big, ' ', sizeof(big));
		assert_int_equal(userdb_extra_fields(big, sizeof(big), &v), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extra_fields),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
