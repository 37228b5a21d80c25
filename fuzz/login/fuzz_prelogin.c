/*
 * fuzz_prelogin.c — session fuzzer for the login process before login: the real IMAP
 * and POP3 front ends (src/login/imap_login.c, pop3_login.c) against the fake plumbing
 * of tests/unit/login/login_fake.c (link seams for login.c: no sockets, no master).
 *
 * Input: byte 0 chooses the front end and the connection (bits 0, 4 and 5 all set: JMAP
 * (src/login/jmap_login.c; replies are whole HTTP/1.1 responses with Content-Length),
 * else bit 0 POP3, bit 4 ManageSieve
 * (src/login/managesieve_login.c; replies start with OK, NO, BYE, a quoted string or a
 * literal's length, and a capability list), bit 1 plaintext
 * allowed, bit 2 a certificate (STARTTLS offered), bit 3 implicit TLS), bytes 1-2 seed
 * the split points of the client stream and the master's answers (fail, temporary
 * failure, limit, success), the rest is what the client sends. STARTTLS is completed
 * whenever the front end asks for it; at the end the deadline fires or the master
 * kicks the connection out.
 *
 * Besides ASan/UBSan, the fakes abort on a broken contract (no output while the master
 * decides or behind STARTTLS, nothing consumed after STARTTLS, credentials only in the
 * command/SASL state, after a whole line, with the right tag, where plaintext is allowed,
 * never after three failures or three bad commands), and here: every reply is whole
 * CRLF lines of printable ASCII (IMAP: "* ", "+ " or an atom tag and OK/NO/BAD), the
 * unread output stays bounded, the input never stalls at the read
 * watermark while the front end is reading, and after a successful login exactly the
 * bytes after the login's line are left for the mail process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login_fake.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_prelogin: %s\n", what);
	abort();
}

static bool
tag_char(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '(' && ch != ')' && ch != '{' && ch != '%' &&
	    ch != '*' && ch != '"' && ch != '\\' && ch != '+';
}

/* " OK", " NO" or " BAD" after a tag */
static bool
status(const char *p)
{
	return memcmp(p, " OK", 3) == 0 || memcmp(p, " NO", 3) == 0 || memcmp(p, " BA", 3) == 0;
}

/* JMAP: whole HTTP/1.1 responses (status line, header lines, Content-Length body). */
static void
check_http_output(struct login_fake *f)
{
	size_t len, i = 0;
	char *out;

	if (evbuffer_get_length(f->out) >= (conn_bounds(CONN_PRELOGIN)->output_high) + 4096)
		fail("unread output beyond the bound");
	out = login_fake_take_output(f, &len);
	while (i < len) {
		size_t clen = SIZE_MAX;
		bool first = true;

		for (;;) {
			const char *lf = memchr(out + i, '\n', len - i);
			size_t n;

			if (lf == NULL)
				fail("HTTP response without its empty line");
			n = (size_t)(lf - (out + i));
			if (n == 0 || out[i + n - 1] != '\r')
				fail("HTTP line without CRLF");
			for (size_t k = i; k < i + n - 1; k++)
				if ((unsigned char)out[k] < 0x20 || (unsigned char)out[k] > 0x7e)
					fail("control or 8-bit byte in an HTTP head");
			if (first && (n < 14 || memcmp(out + i, "HTTP/1.1 ", 9) != 0))
				fail("HTTP response without a status line");
			if (n > 16 && memcmp(out + i, "Content-Length: ", 16) == 0)
				clen = strtoul(out + i + 16, NULL, 10);
			first = false;
			i += n + 1;
			if (n == 1)
				break;
		}
		if (clen == SIZE_MAX || clen > len - i)
			fail("HTTP response without a whole Content-Length body");
		i += clen;
	}
	free(out);
}

/* The client reads what is queued: whole CRLF lines of printable ASCII. */
static void
check_output(struct login_fake *f, bool imap)
{
	size_t len, i = 0;
	char *out;

	if (f->c.ops == &jmap_login_ops) {
		check_http_output(f);
		return;
	}
	if (evbuffer_get_length(f->out) >= (conn_bounds(CONN_PRELOGIN)->output_high) + 4096)
		fail("unread output beyond the bound");
	out = login_fake_take_output(f, &len);
	if (getenv("FUZZ_DUMP") != NULL)	/* reproducing: show the replies */
		fwrite(out, 1, len, stderr);
	while (i < len) {
		const char *lf = memchr(out + i, '\n', len - i);
		size_t n;

		if (lf == NULL)
			fail("reply without a line end");
		n = (size_t)(lf - (out + i));
		if (n == 0 || out[i + n - 1] != '\r')
			fail("reply line without CRLF");
		for (size_t k = i; k < i + n - 1; k++)
			if ((unsigned char)out[k] < 0x20 || (unsigned char)out[k] > 0x7e)
				fail("control or 8-bit byte in a reply");
		if (imap) {
			/* "* ...", "+ ...", or "<tag> OK|NO|BAD ..." */
			size_t t = i;

			if (n < 3)
				fail("short IMAP reply");
			if (out[i] != '*' && out[i] != '+') {
				while (t < i + n && out[t] != ' ') {
					if (!tag_char((unsigned char)out[t]))
						fail("IMAP reply with an invalid tag");
					t++;
				}
				if (t == i || t + 3 > i + n || !status(out + t))
					fail("IMAP tagged reply without OK/NO/BAD");
			} else if (out[i + 1] != ' ') {
				fail("IMAP untagged reply without a space");
			}
		}
		i += n + 1;
	}
	free(out);
}

static uint32_t
next(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t results[] = { IPC_AUTH_FAIL, IPC_AUTH_FAIL, IPC_AUTH_TEMPFAIL,
	    IPC_AUTH_LIMIT, IPC_AUTH_OK };
	struct login_fake f;
	uint32_t split, answer;
	size_t off = 3;
	bool imap;

	if (size < 3)
		return 0;
	imap = (data[0] & 0x11) == 0;
	split = data[1];
	answer = data[2];
	login_fake_init(&f, (data[0] & 0x31) == 0x31 ? &jmap_login_ops : imap ?
	    &imap_login_ops : (data[0] & 0x10) != 0 ? &managesieve_login_ops :
	    &pop3_login_ops, (data[0] & 2) != 0,
	    (data[0] & 4) != 0, (data[0] & 8) != 0);
	check_output(&f, imap);
	while (off < size) {
		/* seed 0: everything at once; else pieces of 1..64 bytes */
		size_t n = split == 0 ? size - off : 1 + next(&split) % 64, got;

		n = MIN(n, size - off);
		got = login_fake_send(&f, data + off, n);
		off += got;
		check_output(&f, imap);
		switch (f.c.state) {
		case LC_CMD:
		case LC_SASL:
			/* reading, yet the input is at the watermark: stuck till the deadline */
			if (got < n)
				fail("input stalled at the read watermark");
			continue;
		case LC_STARTTLS:
			login_fake_switch_tls(&f);
			login_fake_run(&f);	/* nothing buffered: a no-op */
			break;
		case LC_AUTH_WAIT: {
			uint32_t st = results[next(&answer) % N_ELEMENTS(results)];

			/* a SCRAM salt request (also after a failed LOGIN): the fake
			 * master never answers it, the connection waits until closed */
			if (f.waiting_scram)
				break;
			if (f.handovers == 0 || f.consumed_at_auth + evbuffer_get_length(f.in) !=
			    f.sent_len)
				fail("hand-over bookkeeping");
			login_fake_auth_result(&f, st);
			break;
		}
		case LC_CLOSING:
		case LC_PROXY:
		default:
			break;
		}
		check_output(&f, imap);
		if (f.c.state == LC_PROXY) {
			/* the mail process gets exactly what followed the login's line */
			if (f.sent_len - f.consumed_at_auth != evbuffer_get_length(f.in))
				fail("pipelined input lost or doubled");
			break;
		}
		if (f.c.state == LC_CLOSING ||
		    (f.c.state == LC_AUTH_WAIT && f.waiting_scram))
			break;
	}
	if (f.c.state == LC_CMD || f.c.state == LC_SASL) {
		/* the pre-login deadline, or the master needs the room */
		if (next(&answer) % 4 == 0)
			f.c.ops->kicked(&f.c);
		else
			f.c.ops->timeout(&f.c);
		lconn_close_after(&f.c);
		check_output(&f, imap);
	}
	login_fake_deinit(&f);
	return 0;
}
