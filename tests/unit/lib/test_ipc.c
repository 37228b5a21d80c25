#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include "lib/ipc.h"
#include "lib/util.h"

static void
test_roundtrip_with_fd(void **state)
{
	struct ipc_msg out, in;
	int sp[2], pfd[2];
	const void *p;
	size_t len;
	uint32_t u;
	uint64_t v;
	char *s, c;

	assert_int_equal(ipc_socketpair(sp), 0);
	assert_int_equal(pipe(pfd), 0);
	ipc_msg_init(&out, IPC_MAIL_CLIENT);
	ipc_put_u32(&out, 42);
	ipc_put_u64(&out, UINT64_MAX);
	ipc_put_str(&out, "tag1");
	ipc_put_bytes(&out, "a\0b", 3);
	assert_int_equal(ipc_send(sp[0], &out, pfd[0]), 0);
	assert_int_equal(ipc_recv(sp[1], &in), 1);
	assert_int_equal(in.type, IPC_MAIL_CLIENT);
	assert_true(in.fd >= 0);
	assert_int_equal(ipc_get_u32(&in, &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(ipc_get_u64(&in, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(ipc_get_str(&in, 10, &s), 0);
	assert_string_equal(s, "tag1");
	free(s);
	/* a string field containing NUL is refused as a string */
	{
		struct ipc_msg copy = in;

		assert_int_equal(ipc_get_str(&copy, 10, &s), -1);
	}
	assert_int_equal(ipc_get_bytes(&in, &p, &len), 0);
	assert_int_equal(len, 3);
	assert_true(ipc_get_done(&in));
	assert_int_equal(ipc_get_u32(&in, &u), -1);	/* past the end */
	/* the passed fd is the pipe's read end */
	assert_int_equal(write(pfd[1], "x", 1), 1);
	assert_int_equal(read(in.fd, &c, 1), 1);
	assert_int_equal(c, 'x');
	close(in.fd);
	close(pfd[0]);
	close(pfd[1]);
	/* nothing pending */
	assert_int_equal(ipc_recv(sp[1], &in), -1);
	assert_int_equal(errno, EAGAIN);
	close(sp[0]);
	assert_int_equal(ipc_recv(sp[1], &in), 0);
	close(sp[1]);
}

static void
test_bounds(void **state)
{
	static unsigned char big[IPC_MAX_PAYLOAD];
	struct ipc_msg m;
	int sp[2];
	char *s;

	ipc_msg_init(&m, 1);
	ipc_put_bytes(&m, big, sizeof(big));	/* 4-byte prefix makes it overflow */
	assert_true(m.overflow);
	assert_int_equal(ipc_socketpair(sp), 0);
	assert_int_equal(ipc_send(sp[0], &m, -1), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* a length prefix pointing past the payload */
	ipc_msg_init(&m, 1);
	ipc_put_u32(&m, 1000);
	ipc_put_bytes(&m, "ab", 2);
	m.rpos = 0;
	assert_int_equal(ipc_get_str(&m, 100, &s), -1);
	/* a string over its maximum */
	ipc_msg_init(&m, 1);
	ipc_put_str(&m, "abcdef");
	assert_int_equal(ipc_get_str(&m, 5, &s), -1);
	close(sp[0]);
	close(sp[1]);
}

static void
test_truncated_wire(void **state)
{
	struct ipc_msg in;
	uint32_t hdr[2] = { 1, 100 };	/* claims 100 bytes, carries 4 */
	unsigned char raw[12];
	int sp[2];

	memcpy(raw, hdr, 8);
	memset(raw + 8, 0, 4);
	assert_int_equal(ipc_socketpair(sp), 0);
	assert_int_equal(send(sp[0], raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
	assert_int_equal(ipc_recv(sp[1], &in), -1);
	assert_int_equal(errno, EBADMSG);
	close(sp[0]);
	close(sp[1]);
}

/* A header whose version byte is not ours is broken framing. */
static void
test_wrong_version(void **state)
{
	struct ipc_msg in;
	uint32_t hdr[2] = { ((uint32_t)(IPC_VERSION + 1) << 24) | IPC_LOGIN_DRAIN, 0 };
	int sp[2];

	assert_int_equal(ipc_socketpair(sp), 0);
	assert_int_equal(send(sp[0], hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	assert_int_equal(ipc_recv(sp[1], &in), -1);
	assert_int_equal(errno, EBADMSG);
	hdr[0] = ((uint32_t)IPC_VERSION << 24) | IPC_LOGIN_DRAIN;
	assert_int_equal(send(sp[0], hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	assert_int_equal(ipc_recv(sp[1], &in), 1);
	assert_int_equal(in.type, IPC_LOGIN_DRAIN);
	close(sp[0]);
	close(sp[1]);
}

static void
fill_login_auth(struct ipc_login_auth *a)
{
	memset(a, 0, sizeof(*a));
	a->id = 7;
	a->proto = IPC_PROTO_IMAP;
	a->mech = "PLAIN";
	a->user.p = (const unsigned char *)"us\0er";	/* content: may hold NUL */
	a->user.len = 5;
	a->pass.p = (const unsigned char *)"secret";
	a->pass.len = 6;
	a->ip = "192.0.2.1";
	a->flags = IPC_CONN_TLS | IPC_CONN_LOCAL;
	a->tag = "a1";
}

static void
test_codec_roundtrip(void **state)
{
	struct ipc_login_auth a, b;
	struct ipc_msg m;

	fill_login_auth(&a);
	assert_int_equal(ipc_encode(&m, IPC_LOGIN_AUTH, &a), 0);
	assert_int_equal(ipc_decode(&m, IPC_LOGIN_AUTH, &b), 0);
	assert_int_equal(b.id, 7);
	assert_int_equal(b.proto, IPC_PROTO_IMAP);
	assert_string_equal(b.mech, "PLAIN");
	assert_int_equal(b.user.len, 5);
	assert_memory_equal(b.user.p, "us\0er", 5);
	assert_memory_equal(b.pass.p, "secret", 6);
	assert_string_equal(b.ip, "192.0.2.1");
	assert_int_equal(b.flags, IPC_CONN_TLS | IPC_CONN_LOCAL);
	assert_string_equal(b.tag, "a1");
	{
		struct ipc_login_handoff h = { 7, { (const unsigned char *)"b NOOP\r\n", 8 } }, h2;

		assert_int_equal(ipc_encode(&m, IPC_LOGIN_HANDOFF, &h), 0);
		m.fd = 0;	/* LOGIN_HANDOFF carries the connection */
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_HANDOFF, &h2), 0);
		assert_int_equal(h2.id, 7);
		assert_memory_equal(h2.input.p, "b NOOP\r\n", 8);
		m.fd = -1;	/* without it the message is broken */
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_HANDOFF, &h2), -1);
	}
	{
		/* the MTA sockets' messages (auth_listen, socketmap_listen) */
		struct ipc_login_verify v = { 3, 77, "LOGIN", { (const unsigned char *)"demo", 4 },
		    { (const unsigned char *)"pw", 2 }, "198.51.100.7", IPC_CONN_TLS }, v2;
		struct ipc_login_verified r = { 3, 77, IPC_AUTH_OK, "demo",
		    { (const unsigned char *)"sig", 3 } }, r2;
		struct ipc_login_lookup l = { 4, 9, "alice+x@example.org" }, l2;

		assert_int_equal(ipc_encode(&m, IPC_LOGIN_VERIFY, &v), 0);
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_VERIFY, &v2), 0);
		assert_int_equal(v2.req, 77);
		assert_memory_equal(v2.pass.p, "pw", 2);
		assert_string_equal(v2.ip, "198.51.100.7");
		assert_int_equal(ipc_encode(&m, IPC_LOGIN_VERIFIED, &r), 0);
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_VERIFIED, &r2), 0);
		assert_int_equal(r2.req, 77);
		assert_string_equal(r2.user, "demo");
		assert_memory_equal(r2.extra.p, "sig", 3);	/* SCRAM's ServerSignature */
		assert_int_equal(ipc_encode(&m, IPC_LOGIN_LOOKUP, &l), 0);
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_LOOKUP, &l2), 0);
		assert_string_equal(l2.address, "alice+x@example.org");
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_VERIFY, &v2), -1);
		assert_string_equal(ipc_type_name(IPC_LOGIN_LOOKUP), "LOGIN_LOOKUP");
	}
	{
		/* SCRAM: the salt round trip, and the ServerSignature in the results */
		unsigned char salt[IPC_SALT_MAX + 1] = { 1, 2, 3 }, sig[IPC_EXTRA_MAX + 1] = { 9 };
		struct ipc_scram sc = { 5, "SCRAM-SHA-256-PLUS", { (const unsigned char *)"sam", 3 },
		    NULL, 41 }, sc2;
		struct ipc_scram as = { 6, "SCRAM-SHA-1", { NULL, 0 }, "sam", 0 }, as2;
		struct ipc_scram_params sp = { 6, IPC_AUTH_OK, { salt, 16 }, 4096, 41 }, sp2;
		struct ipc_login_result lr = { 5, IPC_AUTH_OK, { sig, 32 } }, lr2;

		assert_int_equal(ipc_encode(&m, IPC_LOGIN_SCRAM, &sc), 0);
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_SCRAM, &sc2), 0);
		assert_string_equal(sc2.mech, "SCRAM-SHA-256-PLUS");
		assert_memory_equal(sc2.user.p, "sam", 3);
		assert_int_equal(sc2.req, 41);	/* an auth_listen client's request id */
		assert_int_equal(ipc_encode(&m, IPC_AUTH_SCRAM, &as), 0);
		assert_int_equal(ipc_decode(&m, IPC_AUTH_SCRAM, &as2), 0);
		assert_string_equal(as2.name, "sam");
		assert_int_equal(ipc_encode(&m, IPC_LOGIN_SCRAM_PARAMS, &sp), 0);
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_SCRAM_PARAMS, &sp2), 0);
		assert_int_equal(sp2.iter, 4096);
		assert_int_equal(sp2.req, 41);
		assert_int_equal(sp2.salt.len, 16);
		sp.salt.len = IPC_SALT_MAX + 1;		/* over the salt's bound */
		assert_int_equal(ipc_encode(&m, IPC_AUTH_SCRAM_PARAMS, &sp), -1);
		assert_int_equal(ipc_encode(&m, IPC_LOGIN_RESULT, &lr), 0);
		assert_int_equal(ipc_decode(&m, IPC_LOGIN_RESULT, &lr2), 0);
		assert_int_equal(lr2.extra.len, 32);
		lr.extra.len = IPC_EXTRA_MAX + 1;
		assert_int_equal(ipc_encode(&m, IPC_LOGIN_RESULT, &lr), -1);
	}
	{
		/* the control socket's requests and answers (text bounded) */
		static unsigned char big[IPC_ADMIN_TEXT_MAX + 1];
		struct ipc_admin_request q = { 11, IPC_ADMIN_STATUS, "Sent Items" }, q2;
		struct ipc_admin_reply ar = { 11, 0, { (const unsigned char *)"messages 3\n", 11 } },
		    ar2;

		assert_int_equal(ipc_encode(&m, IPC_ADMIN_REQUEST, &q), 0);
		assert_int_equal(ipc_decode(&m, IPC_ADMIN_REQUEST, &q2), 0);
		assert_int_equal(q2.verb, IPC_ADMIN_STATUS);
		assert_string_equal(q2.arg, "Sent Items");
		assert_int_equal(ipc_encode(&m, IPC_ADMIN_REPLY, &ar), 0);
		assert_int_equal(ipc_decode(&m, IPC_ADMIN_REPLY, &ar2), 0);
		assert_int_equal(ar2.id, 11);
		assert_memory_equal(ar2.text.p, "messages 3\n", 11);
		ar.text.p = big;
		ar.text.len = IPC_ADMIN_TEXT_MAX;
		assert_int_equal(ipc_encode(&m, IPC_ADMIN_REPLY, &ar), 0);
		ar.text.len = IPC_ADMIN_TEXT_MAX + 1;
		assert_int_equal(ipc_encode(&m, IPC_ADMIN_REPLY, &ar), -1);
		assert_string_equal(ipc_type_name(IPC_ADMIN_REPLY), "ADMIN_REPLY");
	}
	assert_string_equal(ipc_type_name(IPC_LOGIN_AUTH), "LOGIN_AUTH");
	assert_string_equal(ipc_type_name(9999), "unknown");
}

/* Every truncation and any trailing byte is broken framing; so is a wrong fd or type. */
static void
test_codec_framing(void **state)
{
	struct ipc_login_auth a, b;
	struct ipc_result r = { 1, 2 }, r2;
	struct ipc_msg m, t;

	fill_login_auth(&a);
	assert_int_equal(ipc_encode(&m, IPC_LOGIN_AUTH, &a), 0);
	for (uint32_t n = 0; n < m.len; n++) {
		t = m;
		t.len = n;
		assert_int_equal(ipc_decode(&t, IPC_LOGIN_AUTH, &b), -1);
	}
	t = m;
	t.data[t.len++] = 'x';
	assert_int_equal(ipc_decode(&t, IPC_LOGIN_AUTH, &b), -1);
	t = m;
	assert_int_equal(ipc_decode(&t, IPC_LOGIN_AUTH, &b), 0);
	assert_int_equal(ipc_encode(&m, IPC_MAIL_DELIVERED, &r), 0);
	t = m;
	t.fd = 0;	/* a descriptor where none belongs */
	assert_int_equal(ipc_decode(&t, IPC_MAIL_DELIVERED, &r2), -1);
	t = m;
	assert_int_equal(ipc_decode(&t, IPC_LMTP_DELIVER_RESULT, &r2), -1);	/* type */
	t = m;
	assert_int_equal(ipc_decode(&t, IPC_MAIL_DELIVERED, &r2), 0);
	assert_int_equal(r2.id, 1);
	assert_int_equal(r2.status, 2);
	/* a Sieve reject's reason: up to IPC_REASON_MAX, not one byte more */
	{
		char reason[IPC_REASON_MAX + 2];
		struct ipc_rejected rj = { 7, reason }, rj2;

		memset(reason, 'r', IPC_REASON_MAX);
		reason[IPC_REASON_MAX] = '\0';
		assert_int_equal(ipc_encode(&m, IPC_MAIL_REJECTED, &rj), 0);
		t = m;
		assert_int_equal(ipc_decode(&t, IPC_LMTP_REJECTED, &rj2), -1);	/* type */
		t = m;
		assert_int_equal(ipc_decode(&t, IPC_MAIL_REJECTED, &rj2), 0);
		assert_int_equal(rj2.id, 7);
		assert_int_equal(strlen(rj2.reason), IPC_REASON_MAX);
		reason[IPC_REASON_MAX] = 'r';
		reason[IPC_REASON_MAX + 1] = '\0';
		assert_int_equal(ipc_encode(&m, IPC_MAIL_REJECTED, &rj), -1);
	}
}

/* Field limits hold at both ends; a string field never holds NUL. */
static void
test_codec_limits(void **state)
{
	char longmech[IPC_MECH_MAX + 2];
	struct ipc_login_auth a, b;
	struct ipc_auth_lookup l;
	struct ipc_msg m;

	fill_login_auth(&a);
	memset(longmech, 'M', sizeof(longmech) - 1);
	longmech[sizeof(longmech) - 1] = '\0';
	a.mech = longmech;
	assert_int_equal(ipc_encode(&m, IPC_LOGIN_AUTH, &a), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* the same message put together by hand (a broken sender) is refused */
	ipc_msg_init(&m, IPC_LOGIN_AUTH);
	ipc_put_u32(&m, 1);
	ipc_put_u32(&m, 1);
	ipc_put_str(&m, longmech);
	assert_int_equal(ipc_decode(&m, IPC_LOGIN_AUTH, &b), -1);
	ipc_msg_init(&m, IPC_AUTH_LOOKUP);
	ipc_put_u32(&m, 1);
	ipc_put_bytes(&m, "a\0b", 3);
	assert_int_equal(ipc_decode(&m, IPC_AUTH_LOOKUP, &l), -1);
	assert_int_equal(ipc_encode(&m, 9999, NULL), -1);
	assert_int_equal(ipc_encode(&m, IPC_LOGIN_DRAIN, NULL), 0);
	assert_int_equal(ipc_decode(&m, IPC_LOGIN_DRAIN, NULL), 0);
}

/* ------------------------------------------------------------------ peers */

struct peer_test {
	struct event_base *base;
	unsigned received;
	uint32_t last;
	bool order_ok;
	int error;
	bool errored;
};

static void
pt_msg(struct ipc_peer *p, struct ipc_msg *m, void *ctx)
{
	struct peer_test *t = ctx;
	struct ipc_mail_empty e;

	if (ipc_decode(m, IPC_MAIL_EMPTY, &e) < 0 || e.received != t->last + 1)
		t->order_ok = false;
	t->last = e.received;
	t->received++;
}

static void
pt_error(struct ipc_peer *p, int error, void *ctx)
{
	struct peer_test *t = ctx;

	t->error = error;
	t->errored = true;
	event_base_loopbreak(t->base);
}

/* A send never waits: what the socket does not take is queued and drained in order. */
static void
test_peer_queue(void **state)
{
	struct peer_test tx = { 0 }, rx = { 0 };
	struct event_base *base = event_base_new();
	struct ipc_peer *a, *b;
	struct ipc_msg m;
	struct timeval tv = { 0, 20000 };
	int sp[2];
	uint32_t n = 0;

	assert_int_equal(ipc_socketpair(sp), 0);
	tx.base = rx.base = base;
	rx.order_ok = true;
	a = ipc_peer_create(base, sp[0], pt_msg, pt_error, &tx);
	/* no reader yet: send until the socket is full and the queue holds some */
	while (ipc_peer_queued(a) < 256 * 1024) {
		struct ipc_mail_empty e = { ++n };

		assert_int_equal(ipc_encode(&m, IPC_MAIL_EMPTY, &e), 0);
		assert_int_equal(ipc_peer_send(a, &m, -1), 0);
		assert_true(n < 1000000);
	}
	b = ipc_peer_create(base, sp[1], pt_msg, pt_error, &rx);
	while (rx.received < n && !rx.errored && !tx.errored)
		event_base_loopexit(base, &tv), event_base_dispatch(base);
	assert_false(tx.errored);
	assert_false(rx.errored);
	assert_int_equal(rx.received, n);
	assert_true(rx.order_ok);
	assert_int_equal(ipc_peer_queued(a), 0);
	ipc_peer_destroy(&a);
	ipc_peer_destroy(&b);
	assert_null(a);
	event_base_free(base);
}

/* A peer that never reads: its queue hits the bound (ENOBUFS) or stalls (ETIMEDOUT). */
static void
test_peer_overflow_and_stall(void **state)
{
	struct peer_test tx = { 0 };
	struct event_base *base = event_base_new();
	struct ipc_peer *a;
	struct ipc_mail_empty e = { 1 };
	struct ipc_msg m;
	int sp[2], r = 0;

	tx.base = base;
	assert_int_equal(ipc_socketpair(sp), 0);
	a = ipc_peer_create(base, sp[0], pt_msg, pt_error, &tx);
	ipc_peer_set_limits(a, 64 * 1024, 30);
	assert_int_equal(ipc_encode(&m, IPC_MAIL_EMPTY, &e), 0);
	for (int i = 0; i < 1000000 && (r = ipc_peer_send(a, &m, -1)) == 0; i++)
		;
	assert_int_equal(r, -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(ipc_peer_send(a, &m, -1), -1);	/* broken from now on */
	event_base_dispatch(base);	/* the error is reported from the loop */
	assert_true(tx.errored);
	assert_int_equal(tx.error, ENOBUFS);
	ipc_peer_destroy(&a);
	close(sp[1]);

	memset(&tx, 0, sizeof(tx));
	tx.base = base;
	assert_int_equal(ipc_socketpair(sp), 0);
	a = ipc_peer_create(base, sp[0], pt_msg, pt_error, &tx);
	ipc_peer_set_limits(a, IPC_QUEUE_MAX_BYTES, 1);
	while (ipc_peer_queued(a) == 0)
		assert_int_equal(ipc_peer_send(a, &m, -1), 0);
	event_base_dispatch(base);	/* nobody reads: after 1 s the peer is stalled */
	assert_true(tx.errored);
	assert_int_equal(tx.error, ETIMEDOUT);
	ipc_peer_destroy(&a);
	close(sp[1]);
	event_base_free(base);
}

/* Before exit, what is queued goes out (blocking, bounded), in order. */
static void
test_peer_flush(void **state)
{
	struct peer_test tx = { 0 };
	struct event_base *base = event_base_new();
	struct ipc_peer *a;
	struct ipc_msg m;
	int sp[2], status;
	uint32_t n = 0;
	pid_t pid;

	tx.base = base;
	assert_int_equal(ipc_socketpair(sp), 0);
	a = ipc_peer_create(base, sp[0], pt_msg, pt_error, &tx);
	while (ipc_peer_queued(a) < 128 * 1024) {
		struct ipc_mail_empty e = { ++n };

		assert_int_equal(ipc_encode(&m, IPC_MAIL_EMPTY, &e), 0);
		assert_int_equal(ipc_peer_send(a, &m, -1), 0);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the reader: count what arrives, in order, until EOF */
		struct ipc_msg in;
		struct ipc_mail_empty e;
		uint32_t got = 0;
		int r;

		close(sp[0]);
		usleep(100 * 1000);
		for (;;) {
			struct pollfd pfd = { sp[1], POLLIN, 0 };

			r = ipc_recv(sp[1], &in);
			if (r > 0) {
				if (ipc_decode(&in, IPC_MAIL_EMPTY, &e) < 0 || e.received != ++got)
					_exit(2);
				continue;
			}
			if (r < 0 && errno == EAGAIN && poll(&pfd, 1, 10000) > 0)
				continue;
			break;
		}
		_exit(r == 0 && got == n ? 0 : 1);
	}
	close(sp[1]);
	assert_int_equal(ipc_peer_flush(a, 10000), 0);
	assert_int_equal(ipc_peer_queued(a), 0);
	ipc_peer_destroy(&a);	/* EOF for the reader */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	event_base_free(base);
}

/* A descriptor that cannot be installed (no fd left) is reported, not silently lost. */
static void
test_ctrunc(void **state)
{
	struct rlimit old, low;
	struct ipc_msg m, in;
	int sp[2], fds[64], n = 0, r, e;

	assert_int_equal(ipc_socketpair(sp), 0);
	ipc_msg_init(&m, IPC_LOGIN_CLOSED);
	ipc_put_u32(&m, 1);
	assert_int_equal(ipc_send(sp[0], &m, sp[0]), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)sp[1] + 8;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (fds[n] = dup(0)) >= 0)
		n++;
	r = ipc_recv(sp[1], &in);
	e = errno;
	while (n > 0)
		close(fds[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(r, -1);
	assert_int_equal(e, EMFILE);
	close(sp[0]);
	close(sp[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_with_fd),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_truncated_wire),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_codec_roundtrip),
		cmocka_unit_test(test_codec_framing),
		cmocka_unit_test(test_codec_limits),
		cmocka_unit_test(test_peer_queue),
		cmocka_unit_test(test_peer_overflow_and_stall),
		cmocka_unit_test(test_peer_flush),
		cmocka_unit_test(test_ctrunc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
