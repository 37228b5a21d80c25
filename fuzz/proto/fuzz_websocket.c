/*
 * fuzz_websocket.c — libFuzzer target for the WebSocket frame decoder
 * (src/proto/websocket.c): the input (after a first byte that picks the message bound
 * and the feeding step) is fed in pieces until an error; every event keeps its
 * invariants (consumed within the input, a message within the bound and UTF-8, a
 * control payload within 125 octets, an error with a close code), and the events are
 * the same when the input is fed whole.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
run(const uint8_t *data, size_t size, size_t max, size_t step, uint32_t *trace, size_t tmax)
{
	struct ws_decoder d;
	size_t pos = 0, avail = 0, nt = 0;

	ws_decoder_init(&d, max);
	while (nt < tmax) {
		size_t used;
		enum ws_event ev;

		avail = step == 0 || avail + step > size ? size : avail + step;
		if (avail < pos)
			avail = pos;
		ev = ws_decoder_feed(&d, data + pos, avail - pos, &used);
		if (used > avail - pos)
			abort();
		pos += used;
		if (ev == WS_MORE) {
			if (avail == size)
				break;
			continue;
		}
		if (ev == WS_MESSAGE && (d.msg.len > max ||
		    !ws_utf8_valid((const unsigned char *)d.msg.data, d.msg.len)))
			abort();
		if ((ev == WS_PING || ev == WS_PONG) && d.ctl_len > WS_CONTROL_MAX)
			abort();
		if (ev == WS_ERROR && (d.close_code < 1000 || d.close_code > 1011))
			abort();
		trace[nt++] = (uint32_t)ev << 24 | (uint32_t)(ev == WS_MESSAGE ? d.msg.len :
		    ev == WS_ERROR || ev == WS_CLOSE ? d.close_code : d.ctl_len);
		if (ev == WS_ERROR)
			break;
		avail = pos;
	}
	ws_decoder_deinit(&d);
	return nt;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t a[64], b[64];
	size_t max, step, na, nb;

	if (size < 1)
		return 0;
	max = (size_t)(data[0] & 0x0f) * 64 + 1;
	step = (size_t)(data[0] >> 4);
	data++;
	size--;
	na = run(data, size, max, step, a, 64);
	nb = run(data, size, max, 0, b, 64);
	if (na < 64 && nb < 64 && (na != nb || memcmp(a, b, na * sizeof(*a)) != 0))
		abort();
	return 0;
}
