/*
 * test_websocket.c — unit tests for the WebSocket frame decoder (src/proto/websocket.c):
 * client frames built here (masked), decoded whole, split at every offset and one octet
 * at a time (the same events every way); fragmented messages with control frames
 * between the fragments; every protocol error with its close code (unmasked 1002,
 * binary 1003, bad UTF-8 1007, over the message bound 1009, RSV bits, long control
 * frames, continuation without a start, non-minimal lengths, bad close codes); server
 * frame headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto/websocket.h"

static size_t
frame(unsigned char *out, bool fin, unsigned op, const void *payload, size_t len, bool mask)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t h = 0;

	out[h++] = (unsigned char)((fin ? 0x80 : 0) | op);
	if (len < 126)
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | len);
	else if (len <= 0xffff) {
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | 126);
		out[h++] = (unsigned char)(len >> 8);
		out[h++] = (unsigned char)len;
	} else {
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | 127);
		for (int i = 0; i < 8; i++)
			out[h++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	if (mask) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	for (size_t i = 0; i < len; i++)
		out[h + i] = ((const unsigned char *)payload)[i] ^ (mask ? key[i & 3] : 0);
	return h + len;
}

/* The events of in, fed in pieces of at most step octets (0: whole), as a string. */
static void
events(const unsigned char *in, size_t len, size_t step, size_t max, char *out, size_t outsz)
{
	struct ws_decoder d;
	size_t pos = 0, avail = 0, o = 0;

	ws_decoder_init(&d, max);
	out[0] = '\0';
	while (pos < len || avail > pos) {
		size_t used;
		enum ws_event ev;

		avail = step == 0 ? len : (avail + step > len ? len : avail + step);
		ev = ws_decoder_feed(&d, in + pos, avail - pos, &used);
		assert_true(used <= avail - pos);
		pos += used;
		switch (ev) {
		case WS_MORE:
			if (avail == len && used == 0)
				goto end;
			continue;
		case WS_MESSAGE:
			o += (size_t)snprintf(out + o, outsz - o, "M[%.*s]", (int)d.msg.len,
			    d.msg.data != NULL ? d.msg.data : "");
			break;
		case WS_PING:
			o += (size_t)snprintf(out + o, outsz - o, "P[%.*s]", (int)d.ctl_len,
			    (const char *)d.ctl);
			break;
		case WS_PONG:
			o += (size_t)snprintf(out + o, outsz - o, "O");
			break;
		case WS_CLOSE:
			o += (size_t)snprintf(out + o, outsz - o, "C%u", d.close_code);
			break;
		case WS_ERROR:
			o += (size_t)snprintf(out + o, outsz - o, "E%u", d.close_code);
			goto end;
		}
		avail = pos;	/* the rest is given again */
	}
end:
	ws_decoder_deinit(&d);
}

static void
check_all_splits(const unsigned char *in, size_t len, size_t max, const char *want)
{
	char got[4096];

	events(in, len, 0, max, got, sizeof(got));
	assert_string_equal(got, want);
	for (size_t step = 1; step <= len; step++) {
		events(in, len, step, max, got, sizeof(got));
		assert_string_equal(got, want);
	}
}

static void
test_simple(void **state)
{
	unsigned char in[512];
	size_t n = 0;

	(void)state;
	n += frame(in + n, true, WS_OP_TEXT, "{\"@type\":\"Request\"}", 19, true);
	n += frame(in + n, true, WS_OP_PING, "hi", 2, true);
	n += frame(in + n, true, WS_OP_PONG, "", 0, true);
	n += frame(in + n, true, WS_OP_TEXT, "", 0, true);
	n += frame(in + n, true, WS_OP_TEXT, "\xc3\xa9t\xc3\xa9", 6, true);
	n += frame(in + n, true, WS_OP_CLOSE, "\x03\xe8" "bye", 5, true);
	check_all_splits(in, n, 1000, "M[{\"@type\":\"Request\"}]P[hi]OM[]M[\xc3\xa9t\xc3\xa9]C1000");
}

static void
test_fragments(void **state)
{
	unsigned char in[512];
	size_t n = 0;

	(void)state;
	n += frame(in + n, false, WS_OP_TEXT, "ab", 2, true);
	n += frame(in + n, true, WS_OP_PING, "x", 1, true);
	n += frame(in + n, false, WS_OP_CONT, "", 0, true);
	n += frame(in + n, false, WS_OP_CONT, "cd", 2, true);
	n += frame(in + n, true, WS_OP_CONT, "e", 1, true);
	n += frame(in + n, true, WS_OP_CLOSE, "", 0, true);
	check_all_splits(in, n, 1000, "P[x]M[abcde]C1005");
	/* a UTF-8 sequence split over fragments is fine */
	n = 0;
	n += frame(in + n, false, WS_OP_TEXT, "\xe2\x82", 2, true);
	n += frame(in + n, true, WS_OP_CONT, "\xac", 1, true);
	check_all_splits(in, n, 1000, "M[\xe2\x82\xac]");
}

static void
test_lengths(void **state)
{
	static unsigned char in[70000 + 20], payload[70000];
	size_t n;

	(void)state;
	memset(payload, 'a', sizeof(payload));
	n = frame(in, true, WS_OP_TEXT, payload, 300, true);
	{
		struct ws_decoder d;
		size_t used;

		ws_decoder_init(&d, 1000);
		assert_int_equal(ws_decoder_feed(&d, in, n, &used), WS_MESSAGE);
		assert_int_equal(used, n);
		assert_int_equal(d.msg.len, 300);
		/* over the bound, known from the header before the payload */
		ws_decoder_deinit(&d);
		ws_decoder_init(&d, 299);
		assert_int_equal(ws_decoder_feed(&d, in, 8, &used), WS_ERROR);
		assert_int_equal(d.close_code, WS_CLOSE_TOO_BIG);
		assert_int_equal(ws_decoder_feed(&d, in, n, &used), WS_ERROR);
		ws_decoder_deinit(&d);
		/* 64-bit length */
		n = frame(in, true, WS_OP_TEXT, payload, 70000, true);
		ws_decoder_init(&d, 100000);
		assert_int_equal(ws_decoder_feed(&d, in, n, &used), WS_MESSAGE);
		assert_int_equal(d.msg.len, 70000);
		ws_decoder_deinit(&d);
	}
	/* fragments together over the bound */
	n = frame(in, false, WS_OP_TEXT, payload, 60, true);
	n += frame(in + n, true, WS_OP_CONT, payload, 60, true);
	check_all_splits(in, n, 100, "E1009");
	{
		char want[130] = "M[";

		memset(want + 2, 'a', 120);
		memcpy(want + 122, "]", 2);
		check_all_splits(in, n, 120, want);
	}
}

static void
test_errors(void **state)
{
	unsigned char in[512];
	size_t n;

	(void)state;
	n = frame(in, true, WS_OP_TEXT, "abc", 3, false);
	check_all_splits(in, n, 1000, "E1002");		/* unmasked */
	n = frame(in, true, WS_OP_BINARY, "abc", 3, true);
	check_all_splits(in, n, 1000, "E1003");
	n = frame(in, true, WS_OP_TEXT, "a\xff", 2, true);
	check_all_splits(in, n, 1000, "E1007");
	n = frame(in, true, WS_OP_TEXT, "\xc0\x80", 2, true);	/* overlong */
	check_all_splits(in, n, 1000, "E1007");
	n = frame(in, true, WS_OP_TEXT, "\xed\xa0\x80", 3, true);	/* surrogate */
	check_all_splits(in, n, 1000, "E1007");
	n = frame(in, true, WS_OP_TEXT, "\xe2\x82", 2, true);	/* truncated */
	check_all_splits(in, n, 1000, "E1007");
	n = frame(in, true, WS_OP_TEXT, "x", 1, true);
	in[0] |= 0x40;						/* RSV1 */
	check_all_splits(in, n, 1000, "E1002");
	n = frame(in, true, 3, "x", 1, true);			/* reserved opcode */
	check_all_splits(in, n, 1000, "E1002");
	n = frame(in, true, WS_OP_CONT, "x", 1, true);		/* no message started */
	check_all_splits(in, n, 1000, "E1002");
	n = frame(in, false, WS_OP_PING, "x", 1, true);		/* fragmented control */
	check_all_splits(in, n, 1000, "E1002");
	{
		unsigned char big[200];

		memset(big, 'p', sizeof(big));
		n = frame(in, true, WS_OP_PING, big, 126, true);	/* control > 125 */
		check_all_splits(in, n, 1000, "E1002");
	}
	n = frame(in, false, WS_OP_TEXT, "a", 1, true);
	n += frame(in + n, true, WS_OP_TEXT, "b", 1, true);	/* a new message inside */
	check_all_splits(in, n, 1000, "E1002");
	n = frame(in, true, WS_OP_CLOSE, "\x03", 1, true);
	check_all_splits(in, n, 1000, "E1002");
	n = frame(in, true, WS_OP_CLOSE, "\x03\xed", 2, true);	/* 1005 may not be sent */
	check_all_splits(in, n, 1000, "E1002");
	n = frame(in, true, WS_OP_CLOSE, "\x03\xe8\xff", 3, true);
	check_all_splits(in, n, 1000, "E1007");
	n = frame(in, true, WS_OP_CLOSE, "\x0f\xa0", 2, true);	/* 4000: private use */
	check_all_splits(in, n, 1000, "C4000");
	/* a 16-bit length that fits in 7 bits is not minimal */
	{
		const unsigned char nm[] = { 0x81, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e' };

		check_all_splits(nm, sizeof(nm), 1000, "E1002");
	}
	/* 64-bit length with the top bit set */
	{
		const unsigned char top[] = { 0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };

		check_all_splits(top, sizeof(top), 1000, "E1002");
	}
}

static void
test_header(void **state)
{
	unsigned char h[10];

	(void)state;
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 5), 2);
	assert_int_equal(h[0], 0x81);
	assert_int_equal(h[1], 5);
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 126), 4);
	assert_int_equal(h[1], 126);
	assert_int_equal(h[3], 126);
	assert_int_equal(ws_frame_header(h, WS_OP_CLOSE, 70000), 10);
	assert_int_equal(h[0], 0x88);
	assert_int_equal(h[1], 127);
	assert_int_equal(h[7], 0x01);
	assert_int_equal(h[8], 0x11);
	assert_int_equal(h[9], 0x70);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
