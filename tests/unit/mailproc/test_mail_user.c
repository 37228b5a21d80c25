/*
 * test_mail_user.c — the session registry of the mail process (src/mailproc/mail_user.c)
 * with fake sessions of two protocols against a temporary Maildir: the per-address count
 * covers every protocol, the "last session gone" callback runs from the event loop once
 * the last session of any protocol has left, and mail_user_destroy shuts every remaining
 * session down and frees the per-protocol state before the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/userdb.h"
#include "lib/config.h"
#include "lib/log.h"
#include "mailproc/mail_user.h"

static char root[256];

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[1024];
	struct stat sb;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			rm_rf(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/buzon-test-mail-user-XXXXXX";

	log_set_level(LOG_LEVEL_WARN);
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(root, sizeof(root), "%s", tmpl);
	return 0;
}

static int
teardown(void **state)
{
	rm_rf(root);
	return 0;
}

/* ---------------------------------------------------------------- fake sessions */

struct fake {
	struct mail_session s;
	int shutdowns;
	int kicks;
};

static void
fake_shutdown(struct mail_session *s)
{
	struct fake *f = s->ctx;

	f->shutdowns++;
	mail_session_unregister(s);
}

static const struct mail_session_ops fake_ops = { .shutdown = fake_shutdown };

/* a front end with a goodbye: it leaves the registry later, from its own loop */
static void
fake_kick(struct mail_session *s)
{
	struct fake *f = s->ctx;

	f->kicks++;
}

static const struct mail_session_ops kick_ops = { .shutdown = fake_shutdown,
    .kick = fake_kick };

static int empty_calls;

static void
count_empty(void *ctx)
{
	empty_calls++;
}

static int proto_frees;

static void
proto_free(void *ctx)
{
	proto_frees++;
	free(ctx);
}

static struct mail_user *
user_create(struct event_base *base, const struct config *cfg)
{
	struct user_info u;
	struct mail_user *mu;

	memset(&u, 0, sizeof(u));
	u.name = (char *)"tester";
	u.home = (char *)"";
	u.mail_root = root;
	mu = mail_user_create(base, cfg, &u);
	assert_non_null(mu);
	mail_user_set_empty_cb(mu, count_empty, NULL);
	return mu;
}

/* ---------------------------------------------------------------- tests */

static void
test_ip_count_all_protocols(void **state)
{
	static const struct {
		enum mail_proto proto;
		const char *ip;
	} sessions[] = {
		{ MAIL_PROTO_IMAP, "192.0.2.1" },
		{ MAIL_PROTO_IMAP, "192.0.2.1" },
		{ MAIL_PROTO_POP3, "192.0.2.1" },
		{ MAIL_PROTO_POP3, "192.0.2.2" },
		{ MAIL_PROTO_IMAP, "2001:db8::1" },
	};
	static const struct {
		const char *ip;
		unsigned want;
	} counts[] = {
		{ "192.0.2.1", 3 }, { "192.0.2.2", 1 }, { "2001:db8::1", 1 }, { "192.0.2.3", 0 },
		{ "", 0 },
	};
	struct fake f[sizeof(sessions) / sizeof(sessions[0])];
	struct event_base *base = event_base_new();
	struct config cfg;
	struct mail_user *mu;
	size_t i;

	memset(&cfg, 0, sizeof(cfg));
	mu = user_create(base, &cfg);
	memset(f, 0, sizeof(f));
	for (i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
		mail_session_register(mu, &f[i].s, sessions[i].proto, sessions[i].ip, &fake_ops,
		    &f[i]);
	assert_int_equal(mail_user_client_count(mu), 5);
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		assert_int_equal(mail_user_ip_count(mu, counts[i].ip), counts[i].want);
	/* the POP3 session leaves: its address counts one less */
	mail_session_unregister(&f[2].s);
	assert_int_equal(mail_user_ip_count(mu, "192.0.2.1"), 2);
	assert_int_equal(mail_user_client_count(mu), 4);
	mail_user_destroy(&mu);
	assert_null(mu);
	assert_int_equal(f[2].shutdowns, 0);
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (i != 2)
			assert_int_equal(f[i].shutdowns, 1);
	event_base_free(base);
}

static void
test_empty_after_last_of_any_protocol(void **state)
{
	struct event_base *base = event_base_new();
	struct config cfg;
	struct mail_user *mu;
	struct fake imap, pop3;

	memset(&cfg, 0, sizeof(cfg));
	mu = user_create(base, &cfg);
	memset(&imap, 0, sizeof(imap));
	memset(&pop3, 0, sizeof(pop3));
	empty_calls = 0;
	mail_session_register(mu, &imap.s, MAIL_PROTO_IMAP, "192.0.2.1", &fake_ops, &imap);
	mail_session_register(mu, &pop3.s, MAIL_PROTO_POP3, "192.0.2.1", &fake_ops, &pop3);
	mail_session_unregister(&imap.s);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(empty_calls, 0);	/* the POP3 session is still there */
	mail_session_unregister(&pop3.s);
	assert_int_equal(empty_calls, 0);	/* not from inside the caller */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(empty_calls, 1);
	/* destroying with sessions left shuts them down without the empty callback */
	mail_session_register(mu, &pop3.s, MAIL_PROTO_POP3, NULL, &fake_ops, &pop3);
	assert_int_equal(mail_user_ip_count(mu, ""), 1);
	mail_user_destroy(&mu);
	assert_int_equal(pop3.shutdowns, 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(empty_calls, 1);
	event_base_free(base);
}

/* `buzon who` and `buzon kick`: every session listed; kick by address or all, through
 * the front end's kick (else its shutdown). */
static void
test_who_and_kick(void **state)
{
	struct event_base *base = event_base_new();
	struct fake a, b, c;
	struct config cfg;
	struct mail_user *mu;
	char out[256], small[20];
	size_t n;

	memset(&cfg, 0, sizeof(cfg));
	mu = user_create(base, &cfg);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	mail_session_register(mu, &a.s, MAIL_PROTO_IMAP, "192.0.2.1", &kick_ops, &a);
	mail_session_register(mu, &b.s, MAIL_PROTO_POP3, "192.0.2.2", &fake_ops, &b);
	mail_session_register(mu, &c.s, MAIL_PROTO_MANAGESIEVE, "", &kick_ops, &c);
	n = mail_user_who(mu, out, sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_non_null(strstr(out, "imap 192.0.2.1 "));
	assert_non_null(strstr(out, "pop3 192.0.2.2 "));
	assert_non_null(strstr(out, "managesieve - "));
	/* what does not fit is left out whole */
	n = mail_user_who(mu, small, sizeof(small));
	assert_int_equal(n, strlen(small));
	assert_true(n == 0 || small[n - 1] == '\n');
	assert_int_equal(mail_user_kick(mu, "192.0.2.9"), 0);
	assert_int_equal(mail_user_kick(mu, "192.0.2.2"), 1);
	assert_int_equal(b.shutdowns, 1);	/* no kick op: shut down */
	assert_int_equal(mail_user_client_count(mu), 2);
	assert_int_equal(mail_user_kick(mu, NULL), 2);
	assert_int_equal(a.kicks, 1);
	assert_int_equal(c.kicks, 1);
	assert_int_equal(a.shutdowns + c.shutdowns, 0);
	mail_user_destroy(&mu);
	assert_int_equal(a.shutdowns + c.shutdowns, 2);
	event_base_free(base);
}

static void
test_proto_ctx(void **state)
{
	struct event_base *base = event_base_new();
	struct config cfg;
	struct mail_user *mu;

	memset(&cfg, 0, sizeof(cfg));
	mu = user_create(base, &cfg);
	proto_frees = 0;
	assert_null(mail_user_proto_ctx(mu, MAIL_PROTO_IMAP));
	assert_null(mail_user_proto_ctx(mu, MAIL_PROTO_POP3));
	mail_user_set_proto_ctx(mu, MAIL_PROTO_IMAP, malloc(16), proto_free);
	assert_non_null(mail_user_proto_ctx(mu, MAIL_PROTO_IMAP));
	assert_null(mail_user_proto_ctx(mu, MAIL_PROTO_POP3));
	assert_non_null(mail_user_store(mu));
	mail_user_destroy(&mu);
	assert_int_equal(proto_frees, 1);
	mail_user_destroy(&mu);	/* NULL-safe */
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ip_count_all_protocols, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_after_last_of_any_protocol, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_proto_ctx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_who_and_kick, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
