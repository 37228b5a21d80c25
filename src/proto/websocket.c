/*
 * websocket.c — the WebSocket frame decoder of websocket.h (RFC 6455 §5). Incremental:
 * a frame header is read whole (at most 14 octets, kept in the caller's input until it
 * is complete), the payload as it arrives, unmasked into the message (bounded by
 * max_message, checked from the frame length before anything is kept) or the control
 * payload (at most 125 octets).
 */
#include "proto/websocket.h"

#include <string.h>

void
ws_decoder_init(struct ws_decoder *d, size_t max_message)
{
	memset(d, 0, sizeof(*d));
	d->max_message = max_message;
	buf_init(&d->msg, max_message);
}

void
ws_decoder_deinit(struct ws_decoder *d)
{
	buf_deinit(&d->msg);
}

bool
ws_utf8_valid(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else
			return false;
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static enum ws_event
fail(struct ws_decoder *d, uint16_t code)
{
	d->failed = true;
	d->close_code = code;
	return WS_ERROR;
}

/* A close frame's payload: a valid code and a UTF-8 reason (RFC 6455 §5.5.1, §7.4). */
static enum ws_event
close_frame(struct ws_decoder *d)
{
	uint16_t code;

	if (d->ctl_len == 0) {
		d->close_code = WS_CLOSE_NO_STATUS;
		return WS_CLOSE;
	}
	if (d->ctl_len == 1)
		return fail(d, WS_CLOSE_PROTOCOL);
	code = (uint16_t)(d->ctl[0] << 8 | d->ctl[1]);
	if (code < 1000 || code >= 5000 || (code >= 1004 && code <= 1006) ||
	    (code >= 1015 && code < 3000))
		return fail(d, WS_CLOSE_PROTOCOL);
	if (!ws_utf8_valid(d->ctl + 2, d->ctl_len - 2))
		return fail(d, WS_CLOSE_BAD_DATA);
	d->close_code = code;
	return WS_CLOSE;
}

/* The header at p[0..len): 0 when incomplete, else its length; WS_ERROR via *ev. */
static size_t
read_header(struct ws_decoder *d, const unsigned char *p, size_t len, enum ws_event *ev)
{
	size_t need = 2;
	uint64_t plen;
	uint8_t op;

	*ev = WS_MORE;
	if (len < 2)
		return 0;
	if ((p[0] & 0x70) != 0) {	/* RSV1-3 without a negotiated extension */
		*ev = fail(d, WS_CLOSE_PROTOCOL);
		return 0;
	}
	if ((p[1] & 0x80) == 0) {	/* §5.1: a client frame must be masked */
		*ev = fail(d, WS_CLOSE_PROTOCOL);
		return 0;
	}
	op = p[0] & 0x0f;
	plen = p[1] & 0x7f;
	need += plen == 126 ? 2 : plen == 127 ? 8 : 0;
	need += 4;
	if (len < need)
		return 0;
	if (plen == 126) {
		plen = (uint64_t)p[2] << 8 | p[3];
		if (plen < 126) {	/* §5.2: the minimal number of octets */
			*ev = fail(d, WS_CLOSE_PROTOCOL);
			return 0;
		}
	} else if (plen == 127) {
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | p[2 + i];
		if ((plen >> 63) != 0 || plen <= 0xffff) {
			*ev = fail(d, WS_CLOSE_PROTOCOL);
			return 0;
		}
	}
	d->fin = (p[0] & 0x80) != 0;
	switch (op) {
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!d->fin || plen > WS_CONTROL_MAX) {	/* §5.5 */
			*ev = fail(d, WS_CLOSE_PROTOCOL);
			return 0;
		}
		d->ctl_len = 0;
		break;
	case WS_OP_CONT:
		if (!d->in_message) {
			*ev = fail(d, WS_CLOSE_PROTOCOL);
			return 0;
		}
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (d->in_message) {	/* §5.4: a new message inside a fragmented one */
			*ev = fail(d, WS_CLOSE_PROTOCOL);
			return 0;
		}
		if (op == WS_OP_BINARY) {	/* RFC 8887 §4.2: JMAP messages are text */
			*ev = fail(d, WS_CLOSE_UNSUPPORTED);
			return 0;
		}
		d->in_message = true;
		buf_reset(&d->msg);
		break;
	default:
		*ev = fail(d, WS_CLOSE_PROTOCOL);
		return 0;
	}
	if (op == WS_OP_CONT || op == WS_OP_TEXT) {
		if (plen > d->max_message - d->msg.len) {
			*ev = fail(d, WS_CLOSE_TOO_BIG);
			return 0;
		}
	}
	d->opcode = op;
	memcpy(d->mask, p + need - 4, 4);
	d->left = plen;
	d->done = 0;
	d->in_frame = true;
	return need;
}

enum ws_event
ws_decoder_feed(struct ws_decoder *d, const unsigned char *p, size_t len, size_t *consumed_r)
{
	size_t pos = 0;
	enum ws_event ev;

	*consumed_r = 0;
	if (d->failed)
		return WS_ERROR;
	if (d->message_ready) {
		d->message_ready = false;
		buf_reset(&d->msg);
	}
	for (;;) {
		if (!d->in_frame) {
			size_t h = read_header(d, p + pos, len - pos, &ev);

			if (ev == WS_ERROR)
				return ev;
			if (h == 0) {
				/* keep the incomplete header in the caller's input */
				*consumed_r = pos;
				return WS_MORE;
			}
			pos += h;
		}
		/* the payload */
		{
			size_t n = (size_t)((uint64_t)(len - pos) < d->left ? len - pos : d->left);
			bool control = d->opcode >= WS_OP_CLOSE;
			unsigned char chunk[512];

			for (size_t off = 0; off < n; ) {
				size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);

				for (size_t i = 0; i < k; i++)
					chunk[i] = p[pos + off + i] ^ d->mask[(d->done + i) & 3];
				if (control) {
					memcpy(d->ctl + d->ctl_len, chunk, k);
					d->ctl_len += k;
				} else if (buf_append(&d->msg, chunk, k) < 0) {
					return fail(d, WS_CLOSE_TOO_BIG);	/* checked above */
				}
				d->done += k;
				off += k;
			}
			pos += n;
			d->left -= n;
			if (d->left > 0) {
				*consumed_r = pos;
				return WS_MORE;
			}
		}
		/* the frame is whole */
		d->in_frame = false;
		*consumed_r = pos;
		switch (d->opcode) {
		case WS_OP_PING:
			return WS_PING;
		case WS_OP_PONG:
			return WS_PONG;
		case WS_OP_CLOSE:
			return close_frame(d);
		default:
			if (!d->fin)
				break;	/* more fragments follow */
			d->in_message = false;
			if (!ws_utf8_valid((const unsigned char *)d->msg.data, d->msg.len))
				return fail(d, WS_CLOSE_BAD_DATA);
			d->message_ready = true;
			return WS_MESSAGE;
		}
		if (pos == len) {
			*consumed_r = pos;
			return WS_MORE;
		}
	}
}

size_t
ws_frame_header(unsigned char out[10], enum ws_opcode op, uint64_t len)
{
	out[0] = (unsigned char)(0x80 | op);
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return 10;
}
