/*
 * test_master_accept.c — the master's accepting part (src/master/master_accept.c) on
 * real loopback sockets, with fake children: which login process gets a connection,
 * the caps in total and per address, the eviction of the busiest address's oldest
 * connection, and the bookkeeping when a connection logs in, closes or its login
 * process dies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/util.h"
#include "master/master_private.h"

/* ------------------------------------------------------------------ fakes */

struct master M;

#define MAX_SENT 256
static struct {
	struct child *to;
	uint32_t type, id, listener;
} sent[MAX_SENT];
static unsigned nsent, nspawned, ndropped;
static struct child kids[16];

int
child_send(struct child *ch, struct ipc_msg *m, int fd)
{
	struct ipc_login_conn c;
	struct ipc_login_closed k;

	assert_true(nsent < MAX_SENT);
	sent[nsent].to = ch;
	sent[nsent].type = m->type;
	if (m->type == IPC_LOGIN_CONN) {
		assert_true(fd >= 0);
		m->fd = fd;
		assert_int_equal(ipc_decode(m, IPC_LOGIN_CONN, &c), 0);
		sent[nsent].id = c.id;
		sent[nsent].listener = c.listener;
	} else if (m->type == IPC_LOGIN_KICK) {
		assert_int_equal(ipc_decode(m, IPC_LOGIN_KICK, &k), 0);
		sent[nsent].id = k.id;
	}
	nsent++;
	return 0;
}

struct child *
child_spawn(enum child_role role, const char *rolename, const int *fds, unsigned nfds,
    const char *extra_arg_name, const char *extra_arg)
{
	struct child *ch;

	assert_true(nspawned < N_ELEMENTS(kids));
	ch = &kids[nspawned++];
	memset(ch, 0, sizeof(*ch));
	ch->role = role;
	ch->pid = 1000 + (pid_t)nspawned;
	ch->peer = (struct ipc_peer *)ch;	/* non-NULL: reachable */
	ch->next = M.children;
	M.children = ch;
	return ch;
}

void
respawn_cb(evutil_socket_t fd, short what, void *ctx)
{
}

void
login_request_drop(struct child *login, uint32_t conn_id)
{
	ndropped++;
}

/* ------------------------------------------------------------------ harness */

static int lfd;
static uint16_t lport;

static int
setup(void **state)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(&M, 0, sizeof(M));
	memset(kids, 0, sizeof(kids));
	nsent = nspawned = ndropped = 0;
	M.cfg = xcalloc(1, sizeof(*M.cfg));
	M.cfg->login_processes = 2;
	M.cfg->login_max_connections = 6;
	M.cfg->login_max_connections_per_ip = 3;
	M.nlisten = 1;
	M.listen_kind[0] = "imap";
	M.listen_tls[0] = false;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	lport = ntohs(sin.sin_port);
	M.listen_fd[0] = lfd;
	spawn_logins();
	assert_int_equal(nspawned, 2);
	return 0;
}

static int
teardown(void **state)
{
	for (unsigned i = 0; i < nspawned; i++)
		mconn_forget_login(&kids[i]);
	assert_int_equal(M.prelogin, 0);
	close(lfd);
	free(M.cfg);
	return 0;
}

/* A client from 127.0.0.<host>; the master accepts it (listener_cb). */
static int
client(int host)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)host);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(lport);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	listener_cb(lfd, EV_READ, (void *)(uintptr_t)0);
	return fd;
}

/* What the master wrote to a refused client before closing it ("" if nothing). */
static void
expect_refused(int fd)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "* BYE"));
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);	/* then closed */
}

static unsigned
sent_to(const struct child *ch, uint32_t type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsent; i++)
		if (sent[i].to == ch && sent[i].type == type)
			n++;
	return n;
}

/* ------------------------------------------------------------------ tests */

/* Connections go to the least loaded login process of the pool. */
static void
test_spread(void **state)
{
	int fds[4];

	for (int i = 0; i < 4; i++)
		fds[i] = client(10 + i);
	assert_int_equal(nsent, 4);
	assert_int_equal(sent_to(&kids[0], IPC_LOGIN_CONN), 2);
	assert_int_equal(sent_to(&kids[1], IPC_LOGIN_CONN), 2);
	assert_int_equal(kids[0].nconns + kids[1].nconns, 4);
	assert_int_equal(M.prelogin, 4);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* Per address: the 4th from one address is refused; another address is not. */
static void
test_per_ip_cap(void **state)
{
	int fds[5];

	for (int i = 0; i < 3; i++)
		fds[i] = client(20);
	fds[3] = client(20);
	expect_refused(fds[3]);
	assert_int_equal(nsent, 3);
	fds[4] = client(21);
	assert_int_equal(nsent, 4);
	/* one of 127.0.0.20's logs in: it no longer counts, a new one gets in */
	mconn_prelogin_end(mconn_find(sent[0].id));
	close(fds[3]);
	fds[3] = client(20);
	assert_int_equal(nsent, 5);
	assert_int_equal(M.prelogin, 4);
	for (int i = 0; i < 5; i++)
		close(fds[i]);
}

/* Total full: the busiest address's oldest connection is evicted, the newcomer served. */
static void
test_total_evicts_busiest(void **state)
{
	int fds[8];
	uint32_t oldest_of_30;
	struct mconn *mc;

	fds[0] = client(30);
	oldest_of_30 = sent[0].id;
	fds[1] = client(31);
	fds[2] = client(30);
	fds[3] = client(32);
	fds[4] = client(30);
	fds[5] = client(33);
	assert_int_equal(M.prelogin, 6);	/* the total cap */
	fds[6] = client(40);
	/* the newcomer is served, and 127.0.0.30 (3 connections) lost its oldest */
	assert_int_equal(M.prelogin, 6);
	assert_int_equal(sent[nsent - 2].type, IPC_LOGIN_KICK);
	assert_int_equal(sent[nsent - 2].id, oldest_of_30);
	assert_int_equal(sent[nsent - 1].type, IPC_LOGIN_CONN);
	/* the kicked one stays known until its login process says it closed */
	mc = mconn_find(oldest_of_30);
	assert_non_null(mc);
	assert_false(mc->prelogin);
	mconn_remove(mc);
	assert_null(mconn_find(oldest_of_30));
	/* full again: 127.0.0.30 still holds the most (2), its oldest left goes */
	fds[7] = client(41);
	assert_int_equal(sent[nsent - 2].type, IPC_LOGIN_KICK);
	assert_int_equal(sent[nsent - 2].id, sent[2].id);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
}

/* Equally busy addresses: the oldest connection of all goes. */
static void
test_evict_oldest_among_equals(void **state)
{
	int fds[7];

	for (int i = 0; i < 6; i++)
		fds[i] = client(70 + i);
	fds[6] = client(80);
	assert_int_equal(sent[nsent - 2].type, IPC_LOGIN_KICK);
	assert_int_equal(sent[nsent - 2].id, sent[0].id);
	for (int i = 0; i < 7; i++)
		close(fds[i]);
}

/* A connection whose auth request is in flight is dropped at auth too when evicted. */
static void
test_evict_authing(void **state)
{
	int fds[7];

	for (int i = 0; i < 6; i++)
		fds[i] = client(50);	/* per-ip 3: three of them refused */
	for (int i = 3; i < 6; i++)
		expect_refused(fds[i]);
	fds[3] = client(51);
	fds[4] = client(52);
	fds[5] = client(53);
	mconn_find(sent[0].id)->authing = true;
	fds[6] = client(54);
	assert_int_equal(ndropped, 1);
	for (int i = 0; i < 7; i++)
		close(fds[i]);
}

/* A login process that dies takes its connections out of every count. */
static void
test_login_dies(void **state)
{
	int fds[4];

	for (int i = 0; i < 4; i++)
		fds[i] = client(60 + i);
	assert_int_equal(M.prelogin, 4);
	mconn_forget_login(&kids[0]);
	assert_int_equal(kids[0].nconns, 0);
	assert_int_equal(M.prelogin, 2);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_ip_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_evicts_busiest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_oldest_among_equals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_authing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_dies, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
