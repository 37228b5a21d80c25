/*
 * websocket.h — a bounded WebSocket frame decoder (RFC 6455 §5) for the server side of
 * JMAP over WebSocket (RFC 8887), pure: bytes in, a consumed count and at most one event
 * (a whole text message, a control frame, or a protocol error with the close code to
 * send) out, no I/O. Runs on authenticated but untrusted bytes in the user's mail
 * process. Only what RFC 8887 needs is accepted: client frames must be masked, data is
 * text (a binary message is refused with 1003), a message (all its fragments) is at
 * most max_message octets (1009), a text message must be UTF-8 (1007).
 */
#ifndef BUZON_PROTO_WEBSOCKET_H
#define BUZON_PROTO_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* RFC 6455 §7.4.1 status codes */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_NO_STATUS	1005	/* never sent: a close frame without a code */
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL	1011

enum ws_opcode {
	WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xa,
};

enum ws_event {
	WS_MORE,	/* everything given was consumed; no event yet */
	WS_MESSAGE,	/* a whole text message in msg (valid UTF-8) */
	WS_PING,	/* ctl[0..ctl_len): answer with a pong of the same payload */
	WS_PONG,
	WS_CLOSE,	/* the peer's close: close_code (WS_CLOSE_NO_STATUS if none) */
	WS_ERROR,	/* close_code is the code to close with; feed no more */
};

#define WS_CONTROL_MAX	125	/* RFC 6455 §5.5 */

struct ws_decoder {
	size_t max_message;
	/* the frame being read */
	bool in_frame;
	bool fin;
	uint8_t opcode;
	uint8_t mask[4];
	uint64_t left;		/* payload octets still to come */
	uint64_t done;		/* payload octets read (masking offset) */
	/* the message being assembled (text fragments) */
	bool in_message;
	bool message_ready;	/* returned last time: reset before going on */
	struct buf msg;
	/* the control frame being read */
	unsigned char ctl[WS_CONTROL_MAX];
	size_t ctl_len;
	uint16_t close_code;
	bool failed;
};

void ws_decoder_init(struct ws_decoder *d, size_t max_message);
void ws_decoder_deinit(struct ws_decoder *d);
/*
 * Consume p[0..len) until an event or the end of the input; *consumed_r the octets
 * used (the rest is given again). WS_MESSAGE: d->msg holds the message until the next
 * call. After WS_ERROR every call returns WS_ERROR again.
 */
enum ws_event ws_decoder_feed(struct ws_decoder *d, const unsigned char *p, size_t len,
    size_t *consumed_r);

/*
 * A server frame header (never masked, FIN set) for a payload of len octets into out;
 * returns its length (2, 4 or 10).
 */
size_t ws_frame_header(unsigned char out[10], enum ws_opcode op, uint64_t len);

/* true when p[0..len) is UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
bool ws_utf8_valid(const unsigned char *p, size_t len);

#endif
