/*
 * test_session.c — the session entry points as the mail process uses them, over a
 * socketpair against a temporary Maildir: the post-login greeting with the login tag and
 * the pending input handed over by the login process, client counting and the "last
 * session gone" callback, the autologout timer (with a 1 s setting that the config
 * file would refuse), and CATENATE and REPLACE sent whole and one byte at a time.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "imap/imap_client.h"
#include "mailproc/mail_user.h"
#include "lib/log.h"
#include "lib/util.h"

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
	char tmpl[] = "/tmp/buzon-test-session-XXXXXX";

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

struct peer {
	struct event_base *base;
	char buf[8192];
	size_t len;
	bool eof;
	int empty_calls;
};

static void
peer_read_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct peer *p = ctx;
	ssize_t n = read(fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);

	if (n <= 0) {
		p->eof = true;
		event_base_loopexit(p->base, NULL);
		return;
	}
	p->len += (size_t)n;
	p->buf[p->len] = '\0';
}

static void
empty_cb(void *ctx)
{
	struct peer *p = ctx;

	p->empty_calls++;
}

static struct mail_user *
user_create(struct event_base *base, struct config *cfg)
{
	struct user_info u;
	struct mail_user *mu;

	memset(&u, 0, sizeof(u));
	u.name = (char *)"tester";
	u.home = (char *)"";
	u.mail_root = root;
	mu = mail_user_create(base, cfg, &u);
	assert_non_null(mu);
	return mu;
}

static void
run_for(struct event_base *base, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* The mail process path: login tag, pending input processed first, then the socket. */
static void
test_login_handover(void **state)
{
	struct config cfg;
	struct peer p;
	struct mail_user *mu;
	struct event *ev;
	int sv[2];
	const char *pending = "b NOOP\r\nc NAMESPACE\r\n";

	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0, sizeof(p));
	p.base = event_base_new();
	mu = user_create(p.base, &cfg);
	mail_user_set_empty_cb(mu, empty_cb, &p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ev = event_new(p.base, sv[1], EV_READ | EV_PERSIST, peer_read_cb, &p);
	event_add(ev, NULL);
	assert_int_equal(imap_client_create(mu, sv[0], "a1", pending, strlen(pending),
	    "192.0.2.1", false), 0);
	assert_int_equal(mail_user_client_count(mu), 1);
	assert_int_equal(write(sv[1], "d LOGOUT\r\n", 10), 10);
	run_for(p.base, 2000);
	assert_true(p.eof);
	assert_true(str_has_prefix(p.buf, "a1 OK [CAPABILITY IMAP4rev1 "));
	assert_non_null(strstr(p.buf, " Logged in\r\nb OK NOOP completed.\r\n"
	    "* NAMESPACE ((\"\" \".\")) NIL NIL\r\nc OK NAMESPACE completed.\r\n"
	    "* BYE Logging out\r\nd OK Logout completed.\r\n"));
	/* the session half-closed and drains input until the peer closes too */
	event_free(ev);
	close(sv[1]);
	run_for(p.base, 200);
	assert_int_equal(mail_user_client_count(mu), 0);
	assert_int_equal(p.empty_calls, 1);
	mail_user_destroy(&mu);
	assert_null(mu);
	event_base_free(p.base);
}

/*
 * Pending input that ends inside an APPEND literal: the rest of the literal arrives on
 * the socket (regression: an empty first input chain after the prepend made the session
 * spin).
 */
static void
test_pending_literal(void **state)
{
	struct config cfg;
	struct peer p;
	struct mail_user *mu;
	struct event *ev;
	int sv[2];
	const char *pending = "a APPEND INBOX {27+}\r\nSubject: p\r\n";
	const char *rest = "\r\nbody of it.\r\n\r\nb LOGOUT\r\n";

	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0, sizeof(p));
	p.base = event_base_new();
	mu = user_create(p.base, &cfg);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ev = event_new(p.base, sv[1], EV_READ | EV_PERSIST, peer_read_cb, &p);
	event_add(ev, NULL);
	assert_int_equal(imap_client_create(mu, sv[0], "L", pending, strlen(pending),
	    "127.0.0.1", true), 0);
	run_for(p.base, 100);
	assert_int_equal(write(sv[1], rest, strlen(rest)), (ssize_t)strlen(rest));
	run_for(p.base, 2000);
	assert_true(p.eof);
	assert_non_null(strstr(p.buf, "\r\na OK [APPENDUID "));
	assert_non_null(strstr(p.buf, "\r\nb OK Logout completed.\r\n"));
	event_free(ev);
	close(sv[1]);
	run_for(p.base, 200);
	assert_int_equal(mail_user_client_count(mu), 0);
	mail_user_destroy(&mu);
	event_base_free(p.base);
}

static void
test_pending_cut_literal(void **state)
{
	static const char cut[] = "a APPEND INBOX (#Seen) {90+}\r\nSub<e APPENctD";
	struct config cfg;
	struct peer p;
	struct mail_user *mu;
	struct event *ev;
	int sv[2];

	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0, sizeof(p));
	p.base = event_base_new();
	mu = user_create(p.base, &cfg);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ev = event_new(p.base, sv[1], EV_READ | EV_PERSIST, peer_read_cb, &p);
	event_add(ev, NULL);
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(imap_client_create(mu, sv[0], NULL, cut, strlen(cut), "127.0.0.1",
	    true), 0);
	run_for(p.base, 1000);
	assert_true(p.eof);
	assert_int_equal(mail_user_client_count(mu), 0);
	event_free(ev);
	close(sv[1]);
	mail_user_destroy(&mu);
	event_base_free(p.base);
}

/* RFC 3501 §5.4: an idle session is logged out at imap_autologout. */
static void
test_autologout(void **state)
{
	struct config cfg;
	struct peer p;
	struct mail_user *mu;
	struct event *ev;
	int sv[2];

	memset(&cfg, 0, sizeof(cfg));
	cfg.imap_autologout = 1;
	memset(&p, 0, sizeof(p));
	p.base = event_base_new();
	mu = user_create(p.base, &cfg);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ev = event_new(p.base, sv[1], EV_READ | EV_PERSIST, peer_read_cb, &p);
	event_add(ev, NULL);
	assert_int_equal(imap_client_create(mu, sv[0], NULL, NULL, 0, "127.0.0.1", true), 0);
	run_for(p.base, 500);
	assert_false(p.eof);			/* not yet */
	assert_true(str_has_prefix(p.buf, "* PREAUTH [CAPABILITY "));
	run_for(p.base, 3000);
	assert_true(p.eof);
	assert_non_null(strstr(p.buf, "\r\n* BYE Autologout; idle for too long\r\n"));
	event_free(ev);
	close(sv[1]);
	run_for(p.base, 200);
	assert_int_equal(mail_user_client_count(mu), 0);
	mail_user_destroy(&mu);
	event_base_free(p.base);
}

/* Several sessions, destroyed with the user (no BYE, no leak). */
static void
test_destroy_with_sessions(void **state)
{
	struct config cfg;
	struct event_base *base = event_base_new();
	struct mail_user *mu;
	int sv[3][2], i;

	memset(&cfg, 0, sizeof(cfg));
	mu = user_create(base, &cfg);
	for (i = 0; i < 3; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
		assert_int_equal(imap_client_create(mu, sv[i][0], NULL, "x SELECT INBOX\r\n",
		    16, "127.0.0.1", true), 0);
	}
	assert_int_equal(mail_user_client_count(mu), 3);
	run_for(base, 100);
	mail_user_destroy(&mu);
	for (i = 0; i < 3; i++)
		close(sv[i][1]);
	event_base_free(base);
}

/*
 * CATENATE (TEXT literals streamed inside the list, URL parts before and after them) and
 * UID REPLACE, the input written whole or one byte at a time: the same messages.
 */
static void
catenate_session(bool bytewise)
{
	static const char input[] =
	    "a APPEND INBOX {20+}\r\nSubject: s\r\n\r\nbody\r\n\r\n"
	    "b APPEND INBOX CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER\" TEXT {5+}\r\n"
	    "hello URL \"/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=1.3\")\r\n"
	    "c SELECT INBOX\r\n"
	    "d UID REPLACE 2 INBOX CATENATE (TEXT ~{3+}\r\nxyz URL \"/INBOX/;UID=2\")\r\n"
	    "e UID FETCH 1:* BODY.PEEK[]\r\n"
	    "f LOGOUT\r\n";
	struct config cfg;
	struct peer p;
	struct mail_user *mu;
	struct event *ev;
	size_t i;
	int sv[2];

	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0, sizeof(p));
	p.base = event_base_new();
	mu = user_create(p.base, &cfg);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ev = event_new(p.base, sv[1], EV_READ | EV_PERSIST, peer_read_cb, &p);
	event_add(ev, NULL);
	assert_int_equal(imap_client_create(mu, sv[0], NULL, NULL, 0, "127.0.0.1", true), 0);
	if (bytewise) {
		for (i = 0; i < sizeof(input) - 1; i++) {
			assert_int_equal(write(sv[1], input + i, 1), 1);
			run_for(p.base, 1);
		}
	} else {
		assert_int_equal(write(sv[1], input, sizeof(input) - 1),
		    (ssize_t)sizeof(input) - 1);
	}
	run_for(p.base, 3000);
	assert_true(p.eof);
	assert_non_null(strstr(p.buf, "\r\nb OK [APPENDUID "));
	assert_non_null(strstr(p.buf, " 3] Replacement Message ready\r\n"));
	assert_non_null(strstr(p.buf, "\r\n* 1 FETCH (UID 1 BODY[] {20}\r\n"
	    "Subject: s\r\n\r\nbody\r\n)\r\n"
	    "* 2 FETCH (UID 3 BODY[] {25}\r\nxyzSubject: s\r\n\r\nhelloody)\r\n"
	    "e OK "));
	event_free(ev);
	close(sv[1]);
	run_for(p.base, 200);
	mail_user_destroy(&mu);
	event_base_free(p.base);
}

static void
test_catenate_whole(void **state)
{
	catenate_session(false);
}

static void
test_catenate_bytewise(void **state)
{
	catenate_session(true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_handover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_literal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_cut_literal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_autologout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catenate_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catenate_bytewise, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
