#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_with_fd),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_truncated_wire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
