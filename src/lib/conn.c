/*
 * conn.c — the connection layer (see conn.h). Runs in the login, mail and lmtp
 * processes. Its one table is what bounds the memory a client can make any of them
 * hold for it.
 */
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "ipc.h"
#include "util.h"

static const struct conn_bounds bounds[CONN_KINDS] = {
	/* a whole pre-login command with its literals fits; replies are short */
	[CONN_PRELOGIN] = { IPC_INPUT_MAX, 16 * 1024, 8 * 1024 },
	[CONN_PROXY] = { 64 * 1024, 256 * 1024, 128 * 1024 },
	[CONN_IMAP] = { 256 * 1024, 256 * 1024, 64 * 1024 },
	[CONN_POP3] = { 16 * 1024, 64 * 1024, 16 * 1024 },
	[CONN_LMTP] = { 256 * 1024, 64 * 1024, 16 * 1024 },
};

const struct conn_bounds *
conn_bounds(enum conn_kind kind)
{
	return &bounds[kind];
}

void
conn_set_kind(struct bufferevent *bev, enum conn_kind kind)
{
	bufferevent_setwatermark(bev, EV_READ, 0, bounds[kind].input_max);
	bufferevent_setwatermark(bev, EV_WRITE, bounds[kind].output_low, 0);
}

struct bufferevent *
conn_new(struct event_base *base, int fd, SSL *ssl, enum conn_kind kind, int options)
{
	struct bufferevent *bev;

	if (ssl != NULL)
		bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		    options);
	else
		bev = bufferevent_socket_new(base, fd, options);
	if (bev == NULL) {
		if (ssl != NULL)
			SSL_free(ssl);
		return NULL;
	}
	conn_set_kind(bev, kind);
	return bev;
}

size_t
conn_output_len(struct bufferevent *bev)
{
	return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

bool
conn_output_full(struct bufferevent *bev, enum conn_kind kind)
{
	return conn_output_len(bev) >= bounds[kind].output_high;
}

bool
conn_output_drained(struct bufferevent *bev, enum conn_kind kind)
{
	return conn_output_len(bev) <= bounds[kind].output_low;
}
