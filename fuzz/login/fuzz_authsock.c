/*
 * fuzz_authsock.c — session fuzzer for the login process's MTA sockets: the real
 * auth_listen (src/login/auth_login.c, Dovecot's auth protocol), socketmap_listen
 * (src/login/socketmap_login.c), quota_policy_listen (src/login/quota_policy_login.c,
 * Postfix's policy delegation) and metrics_listen (src/login/metrics_login.c, HTTP)
 * front ends against the fake plumbing of
 * tests/unit/login/login_fake.c (link seams for login.c: no sockets, no master).
 *
 * Input: byte 0 chooses the front end (bit 0: socketmap, else bit 3: quota policy, else
 * bit 4: metrics) and
 * the policy (bit 1:
 * auth_allow_cleartext = yes, else loopback), bytes 1-2 seed the split points of the
 * client stream and the master's answers (OK with a name, fail, temporary failure, in
 * any order, some held back; SCRAM salt requests get a salt and count), the rest is what the client sends; an auth stream gets
 * the client's handshake first when bit 2 is set.
 *
 * Besides ASan/UBSan, the fakes abort on a broken contract (requests only while
 * reading, never more in flight than the master allows, no id twice in flight, no
 * answer to nothing), and here: auth replies are whole LF lines "OK|FAIL|CONT<TAB>id..."
 * without CR or NUL, socketmap replies are netstrings "OK x", "NOTFOUND ", "TEMP x" or
 * "PERM x", quota policy replies are "action=DUNNO", the reject or the DEFER_IF_PERMIT,
 * each followed by an empty line, metrics answers are one HTTP/1.1 response (head,
 * blank line, Content-Length octets of body) and then the connection closes, the unread
 * output stays bounded, and the input never stalls while the front
 * end reads with nothing owed by the master.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login_fake.h"
#include "proto/socketmap.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_authsock: %s\n", what);
	abort();
}

static uint32_t
next(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static void
check_auth_output(const char *out, size_t len, bool greeting)
{
	size_t i = 0;

	while (i < len) {
		const char *lf = memchr(out + i, '\n', len - i);
		size_t n;

		if (lf == NULL)
			fail("auth reply without LF");
		n = (size_t)(lf - (out + i));
		if (memchr(out + i, '\r', n) != NULL || memchr(out + i, '\0', n) != NULL)
			fail("CR or NUL in an auth reply");
		if (!greeting && !(n > 3 && memcmp(out + i, "OK\t", 3) == 0) &&
		    !(n > 5 && memcmp(out + i, "FAIL\t", 5) == 0) &&
		    !(n > 5 && memcmp(out + i, "CONT\t", 5) == 0))
			fail("auth reply is not OK, FAIL or CONT");
		i += n + 1;
	}
}

static void
check_map_output(const char *out, size_t len)
{
	size_t off = 0, used;

	while (off < len) {
		struct socketmap_req q;
		const char *body;
		size_t n;

		/* a reply is a netstring too; "NOTFOUND " has an empty "key" */
		if (socketmap_parse((const unsigned char *)out + off, len - off, &q, &used) !=
		    SOCKETMAP_DONE) {
			if (len - off >= 12 && memcmp(out + off, "9:NOTFOUND ,", 12) == 0) {
				off += 12;
				continue;
			}
			fail("socketmap reply is not a netstring");
		}
		body = q.name;
		n = q.name_len;
		if (!(n == 2 && memcmp(body, "OK", 2) == 0) &&
		    !(n == 4 && memcmp(body, "TEMP", 4) == 0) &&
		    !(n == 4 && memcmp(body, "PERM", 4) == 0))
			fail("socketmap reply status");
		off += used;
	}
}

static void
check_policy_output(const char *out, size_t len)
{
	static const char *const ok[] = { "action=DUNNO\n\n",
	    "action=552 5.2.2 Mailbox is full\n\n",
	    "action=DEFER_IF_PERMIT 4.3.0 Temporary quota lookup failure\n\n" };
	size_t off = 0;

	while (off < len) {
		size_t i;

		for (i = 0; i < N_ELEMENTS(ok); i++)
			if (len - off >= strlen(ok[i]) && memcmp(out + off, ok[i], strlen(ok[i])) == 0)
				break;
		if (i == N_ELEMENTS(ok))
			fail("quota policy reply");
		off += strlen(ok[i]);
	}
}

/* One whole HTTP response, then the connection closes; nothing before a request. */
static void
check_metrics_output(struct login_fake *f, const char *out, size_t len)
{
	const char *end = NULL, *cl = NULL;

	if (len == 0)
		return;
	if (f->c.state != LC_CLOSING || len < 9 || memcmp(out, "HTTP/1.1 ", 9) != 0 ||
	    memchr(out, '\0', len) != NULL || (end = strstr(out, "\r\n\r\n")) == NULL ||
	    (cl = strstr(out, "Content-Length: ")) == NULL || cl > end)
		fail("metrics: not one HTTP response");
	/* HEAD: the length of the body it would have had */
	if (strtoul(cl + 16, NULL, 10) != (unsigned long)(out + len - end - 4) &&
	    out + len != end + 4)
		fail("metrics: Content-Length differs from the body");
}

static void
check_output(struct login_fake *f, bool map, bool greeting)
{
	size_t len;
	char *out;

	if (f->c.ops != &metrics_login_ops &&
	    evbuffer_get_length(f->out) >= conn_bounds(CONN_PRELOGIN)->output_high + 4096)
		fail("unread output beyond the bound");
	out = login_fake_take_output(f, &len);
	if (getenv("FUZZ_DUMP") != NULL)
		fwrite(out, 1, len, stderr);
	if (f->c.ops == &metrics_login_ops)
		check_metrics_output(f, out, len);
	else if (f->c.ops == &quota_policy_login_ops)
		check_policy_output(out, len);
	else if (map)
		check_map_output(out, len);
	else
		check_auth_output(out, len, greeting);
	free(out);
}

/* The master's snapshot, its numbers from the seed. */
static void
answer_metrics(struct login_fake *f, uint32_t *seed)
{
	static uint64_t block[METRICS_SLOTS];

	for (unsigned i = 0; i < METRICS_SLOTS; i++)
		block[i] = next(seed) % 3 == 0 ? (uint64_t)next(seed) << (next(seed) % 32) : 0;
	login_fake_metrics(f, block);
	check_output(f, false, false);
}

/* The master answers some (all: every) of the outstanding requests. */
static void
answer(struct login_fake *f, uint32_t *seed, bool all, bool map)
{
	static const char *const names[] = { "demo", "we\tird\001name\n", "x" };
	static const unsigned char salt[16] = { 7 }, sig[32] = { 9 };

	if (f->metrics_requests > 0 && (all || next(seed) % 4 != 0))
		answer_metrics(f, seed);
	while (f->noutstanding > 0 && f->c.state == LC_CMD) {
		uint32_t r = next(seed);
		uint32_t req = f->outstanding[r % f->noutstanding];
		bool scram = f->outstanding_scram[r % f->noutstanding];
		uint32_t st = (r >> 3) % 3 == 0 ? IPC_AUTH_OK : (r >> 3) % 3 == 1 ?
		    IPC_AUTH_FAIL : IPC_AUTH_TEMPFAIL;

		if (f->c.ops == &quota_policy_login_ops)	/* IPC_DELIVER_*, any */
			st = (r >> 3) % 6;

		if (!all && r % 4 == 0)
			return;	/* held back */
		if (scram)	/* auth_listen SCRAM: the salt and count, some empty */
			login_fake_scram_req_params(f, req, st, salt, (r >> 5) % 2 ? 16 : 0,
			    4096);
		else	/* after OK a ServerSignature, SCRAM or not (ignored then) */
			login_fake_verified_sig(f, req, st, st == IPC_AUTH_OK ?
			    names[(r >> 5) % N_ELEMENTS(names)] : "", sig,
			    (r >> 7) % 2 ? sizeof(sig) : 0);
		check_output(f, map, false);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct login_fake f;
	uint32_t split, seed;
	size_t off = 3;
	bool map, policy, metrics;

	if (size < 3)
		return 0;
	map = (data[0] & 1) != 0;
	policy = !map && (data[0] & 8) != 0;
	metrics = !map && !policy && (data[0] & 16) != 0;
	split = data[1];
	seed = data[2];
	login_fake_init(&f, map ? &socketmap_login_ops : policy ? &quota_policy_login_ops :
	    metrics ? &metrics_login_ops : &auth_login_ops, (data[0] & 2) != 0, false, false);
	check_output(&f, map, true);
	if (!map && !policy && !metrics && (data[0] & 4) != 0) {
		(void)login_fake_send(&f, "VERSION\t1\t0\nCPID\t1\n", 19);
		check_output(&f, map, false);
	}
	while (off < size && f.c.state == LC_CMD) {
		size_t n = split == 0 ? size - off : 1 + next(&split) % 64, got;

		n = MIN(n, size - off);
		got = login_fake_send(&f, data + off, n);
		off += got;
		check_output(&f, map, false);
		if (f.c.state != LC_CMD)
			break;
		if (got < n) {
			/* reading stops only while the master owes an answer */
			if (f.noutstanding == 0 && f.metrics_requests == 0)
				fail("input stalled at the read watermark");
			answer(&f, &seed, true, map);
			continue;
		}
		answer(&f, &seed, false, map);
	}
	if (f.c.state == LC_CMD)
		answer(&f, &seed, true, map);
	login_fake_deinit(&f);
	return 0;
}
