#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/util.h"

static char *
write_tmp(const char *text)
{
	char *path = xstrdup("/tmp/buzon-config-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_good(void **state)
{
	char *path = write_tmp(
	    "# comment\n"
	    "listen = 127.0.0.1, ::1\n"
	    "imap_port = 1143   # trailing comment\n"
	    "imaps_port=0\n"
	    "\n"
	    "ssl_cert = /a/fullchain.pem\n"
	    "ssl_key = /a/privkey.pem\n"
	    "ssl_cert = /b/fullchain.pem\n"
	    "ssl_key = /b/privkey.pem\n"
	    "mail_location = maildir:/var/mail/%d/%n\n"
	    "mail_max_size = 10M\n"
	    "system_users = yes\n"
	    "auth_pam_workers = 4\n"
	    "auth_allow_cleartext = no\n"
	    "jmap_base_url = https://mail.example.org:8443/mail\n");
	struct config *c;
	char *err = NULL;

	assert_int_equal(config_load(path, &c, &err), 0);
	assert_int_equal(c->listen_count, 2);
	assert_string_equal(c->listen[1], "::1");
	assert_int_equal(c->imap_port, 1143);
	assert_int_equal(c->imaps_port, 0);
	assert_int_equal(c->ssl_count, 2);
	assert_string_equal(c->ssl[1].key, "/b/privkey.pem");
	assert_true(c->mail_max_size == 10 * 1024 * 1024);
	assert_true(c->system_users);
	assert_int_equal(c->auth_pam_workers, 4);
	assert_int_equal(c->auth_allow_cleartext, CLEARTEXT_NO);
	assert_string_equal(c->jmap_base_url, "https://mail.example.org:8443/mail");
	assert_int_equal(c->mail_max_userip_connections, 10);
	/* LMTP defaults */
	assert_int_equal(c->lmtp_socket_mode, 0666);
	assert_null(c->lmtp_socket_group);
	assert_true(c->lmtp_socket_gid == (gid_t)-1);
	assert_string_equal(c->lmtp_spool_dir, "/run/buzon/lmtp-spool");
	assert_true(c->lmtp_spool_threshold == 1024 * 1024);
	/* the MTA sockets: off, 0660 */
	assert_null(c->auth_listen);
	assert_int_equal(c->auth_listen_mode, 0660);
	assert_true(c->auth_listen_gid == (gid_t)-1);
	assert_null(c->socketmap_listen);
	assert_int_equal(c->socketmap_listen_mode, 0660);
	assert_null(c->metrics_listen);		/* off */
	config_free(&c);
	assert_null(c);
	unlink(path);
	free(path);
}

#define X120 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static void
test_errors(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "imap_port = 143\nbogus = 1\n", ":2: unknown key 'bogus'" },
		{ "imap_port = 70000\n", ":1: imap_port: expected a port number" },
		{ "imap_port = -1\n", ":1: imap_port:" },
		{ "system_users = maybe\n", ":1: system_users: expected yes or no" },
		{ "just a line\n", ":1: expected key = value" },
		{ "ssl_key = /x\n", ":1: ssl_key: ssl_key must follow its ssl_cert" },
		{ "ssl_cert = /x\n", "ssl_cert without ssl_key" },
		{ "mail_location = mbox:/x\n", "mail_location must start with maildir:" },
		{ "imap_autologout = 60\n", "imap_autologout must be at least 1800" },
		{ "mail_uid = no-such-user-buzon\n", "mail_uid: no such user" },
		{ "bad\x1bkey = 1\n", "unknown key 'bad\\x1bkey'" },
		{ "log_level =\n", "log_level must not be empty" },
		{ "base_dir = \n", "base_dir must not be empty" },
		{ "login_user =\n", "login_user must not be empty" },
		{ "passwd_file =\n", "passwd_file must not be empty" },
		{ "lmtp_socket_mode = 0668\n", ":1: lmtp_socket_mode: expected an octal mode" },
		{ "lmtp_socket_mode = 1777\n", ":1: lmtp_socket_mode: expected an octal mode" },
		{ "lmtp_socket_mode = 07777\n", ":1: lmtp_socket_mode: expected an octal mode" },
		{ "lmtp_socket_mode = -660\n", ":1: lmtp_socket_mode: expected an octal mode" },
		{ "lmtp_socket_mode = 0x1ff\n", ":1: lmtp_socket_mode: expected an octal mode" },
		{ "lmtp_socket_group = no-such-group-buzon\n", "lmtp_socket_group: no such group" },
		{ "lmtp_spool_dir = spool\n", "lmtp_spool_dir must be an absolute path" },
		{ "auth_listen = /run/auth\n", "auth_listen must be unix:/absolute/path" },
		{ "auth_listen = unix:auth\n", "auth_listen must be unix:/absolute/path" },
		{ "auth_listen = unix:/" X120 "\n", "auth_listen must be unix:/absolute/path" },
		{ "auth_listen_mode = 0668\n", ":1: auth_listen_mode: expected an octal mode" },
		{ "auth_listen_group = no-such-group-buzon\n", "auth_listen_group: no such group" },
		{ "socketmap_listen = 127.0.0.1:1\n", "socketmap_listen must be unix:/absolute/path" },
		{ "socketmap_listen_group = no-such-group-buzon\n",
		  "socketmap_listen_group: no such group" },
		{ "quota_policy_listen = 0.0.0.0:10010\n", "quota_policy_listen must be unix:/" },
		{ "quota_policy_listen = 192.0.2.1:10010\n", "quota_policy_listen must be unix:/" },
		{ "quota_policy_listen = [::2]:10010\n", "quota_policy_listen must be unix:/" },
		{ "quota_policy_listen = 127.0.0.1:0\n", "quota_policy_listen must be unix:/" },
		{ "quota_policy_listen = localhost:10010\n", "quota_policy_listen must be unix:/" },
		{ "quota_policy_listen = unix:rel\n", "quota_policy_listen must be unix:/" },
		{ "metrics_listen = localhost:9154\n", "metrics_listen must be a numeric address" },
		{ "metrics_listen = 127.0.0.1\n", "metrics_listen must be a numeric address" },
		{ "metrics_listen = 127.0.0.1:0\n", "metrics_listen must be a numeric address" },
		{ "metrics_listen = 127.0.0.1:65536\n", "metrics_listen must be a numeric address" },
		{ "metrics_listen = ::1:9154\n", "metrics_listen must be a numeric address" },
		{ "metrics_listen = unix:/run/m\n", "metrics_listen must be a numeric address" },
		{ "quota_policy_reject = \n", "quota_policy_reject must be one line" },
		{ "lmtp_spool_threshold = 65M\n", "lmtp_spool_threshold must be at most 64M" },
		{ "auth_pam_workers = 0\n", "auth_pam_workers must be at least 1" },
		{ "auth_pam_workers = 17\n", ":1: auth_pam_workers:" },
		{ "login_seccomp = sometimes\n", ":1: login_seccomp: expected yes or no" },
		{ "login_vsz_limit = lots\n", ":1: login_vsz_limit: expected a size" },
		{ "login_vsz_limit = 16M\n", "login_vsz_limit must be 0 (no limit) or at least 64M" },
		{ "login_vsz_limit = 67108863\n", "login_vsz_limit must be 0" },
		{ "jmap_base_url = mail.example.org\n", "jmap_base_url must be http" },
		{ "jmap_base_url = ftp://mail.example.org\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://:443\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://mail.example.org/\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://mail.example.org:\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://mail.example.org:123456\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://mail.example.org:44x\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://mail.example.org/a?b\n", "jmap_base_url must be http" },
		{ "jmap_base_url = https://mail.example.org/\"x\n", "jmap_base_url must be http" },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *path = write_tmp(cases[i].text), *err = NULL;
		struct config *c = NULL;

		assert_int_equal(config_load(path, &c, &err), -1);
		assert_non_null(err);
		if (strstr(err, cases[i].want) == NULL || strstr(err, path) == NULL)
			fail_msg("case %zu: got '%s'", i, err);
		free(err);
		unlink(path);
		free(path);
	}
}

/* login_seccomp and login_vsz_limit: defaults, yes/no, sizes, 0 = no limit */
static void
test_login_sandbox(void **state)
{
	static const struct { const char *text; bool seccomp; uint64_t vsz; } cases[] = {
		{ "", true, 256ULL << 20 },
		{ "login_seccomp = no\n", false, 256ULL << 20 },
		{ "login_seccomp = yes\nlogin_vsz_limit = 1G\n", true, 1ULL << 30 },
		{ "login_vsz_limit = 64M\n", true, 64ULL << 20 },
		{ "login_vsz_limit = 0\nlogin_seccomp = false\n", false, 0 },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *path = write_tmp(cases[i].text), *err = NULL;
		struct config *c = NULL;

		if (config_load(path, &c, &err) < 0)
			fail_msg("case %zu: %s", i, err);
		if (c->login_seccomp != cases[i].seccomp || c->login_vsz_limit != cases[i].vsz)
			fail_msg("case %zu: seccomp %d vsz %llu", i, c->login_seccomp,
			    (unsigned long long)c->login_vsz_limit);
		config_free(&c);
		unlink(path);
		free(path);
	}
	assert_true(CONFIG_LOGIN_VSZ_DEFAULT == 256ULL << 20);
}

static void
test_lmtp_keys(void **state)
{
	static const struct { const char *text; unsigned mode; gid_t gid; const char *spool;
	    uint64_t threshold; } cases[] = {
		{ "lmtp_socket_mode = 0660\nlmtp_socket_group = 0\n", 0660, 0,
		  "/run/buzon/lmtp-spool", 1024 * 1024 },
		{ "lmtp_socket_mode = 600\nlmtp_socket_group = 4321\n", 0600, 4321,
		  "/run/buzon/lmtp-spool", 1024 * 1024 },
		{ "lmtp_socket_mode = 0\nbase_dir = /tmp/b\n", 0, (gid_t)-1, "/tmp/b/lmtp-spool",
		  1024 * 1024 },
		{ "lmtp_socket_group = root\nlmtp_spool_dir = /var/spool/buzon\n"
		  "lmtp_spool_threshold = 64k\n", 0666, 0, "/var/spool/buzon", 64 * 1024 },
		{ "lmtp_socket_group =\nlmtp_spool_dir =\nlmtp_spool_threshold = 0\n", 0666,
		  (gid_t)-1, "/run/buzon/lmtp-spool", 0 },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *path = write_tmp(cases[i].text), *err = NULL;
		struct config *c = NULL;

		if (config_load(path, &c, &err) < 0)
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(c->lmtp_socket_mode, cases[i].mode);
		assert_true(c->lmtp_socket_gid == cases[i].gid);
		assert_string_equal(c->lmtp_spool_dir, cases[i].spool);
		assert_true(c->lmtp_spool_threshold == cases[i].threshold);
		config_free(&c);
		unlink(path);
		free(path);
	}
}

static void
test_defaults(void **state)
{
	char *path = write_tmp("imap_port = 143\n");
	struct config *c;
	char *err = NULL;

	assert_int_equal(config_load(path, &c, &err), 0);
	assert_int_equal(c->auth_pam_workers, 2);
	assert_int_equal(c->auth_failure_delay_max, 15);
	config_free(&c);
	unlink(path);
	free(path);
}

static void
test_missing_file(void **state)
{
	struct config *c;
	char *err = NULL;

	assert_int_equal(config_load("/nonexistent/buzon.conf", &c, &err), -1);
	assert_non_null(strstr(err, "/nonexistent/buzon.conf"));
	free(err);
}

static void
test_mail_root(void **state)
{
	static const struct { const char *loc, *user, *home, *want; } cases[] = {
		{ "maildir:/var/mail/%u", "alice", "", "/var/mail/alice" },
		{ "maildir:/var/mail/%d/%n", "bob@example.org", "", "/var/mail/example.org/bob" },
		{ "maildir:~/Maildir", "carol", "/home/carol", "/home/carol/Maildir" },
		{ "maildir:~/Maildir/", "carol", "/home/carol", "/home/carol/Maildir" },
		{ "maildir:%h/mail:INDEX=/x", "d", "/home/d", "/home/d/mail" },
		{ "maildir:~/Maildir", "e", "", NULL },
		{ "maildir:relative/%u", "f", "", NULL },
		{ "maildir:/var/mail/%u/../x", "g", "", NULL },
		{ "maildir:/var/mail/%q", "h", "", NULL },
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct config c;
		const char *err = NULL;
		char *r;

		memset(&c, 0, sizeof(c));
		c.mail_location = (char *)cases[i].loc;
		r = config_mail_root(&c, cases[i].user, cases[i].home, &err);
		if (cases[i].want == NULL) {
			assert_null(r);
			assert_non_null(err);
		} else {
			assert_non_null(r);
			assert_string_equal(r, cases[i].want);
			free(r);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_lmtp_keys),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_login_sandbox),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_mail_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
