/*
 * conn.h — the connection layer: every client connection of every buzon process (the
 * login processes' pre-login connections and TLS proxies, the mail process's IMAP and
 * POP3 sessions, LMTP sessions) is a libevent bufferevent made here, with the bounds of
 * its kind from one table. Input is read at most input_max ahead of the parser; the
 * owner stops producing output and parsing commands while output_high bytes wait
 * (conn_output_full), which also stops reading; the write callback runs again once the
 * output is down to output_low (conn_output_drained). So a client that never reads
 * costs a fixed amount of memory. The table is in docs/security.md ("Backpressure").
 */
#ifndef BUZON_CONN_H
#define BUZON_CONN_H

#include <event2/bufferevent.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

enum conn_kind {
	CONN_PRELOGIN,	/* login process, before login: commands and short replies */
	CONN_PROXY,	/* login process, logged in over TLS: either side of the proxy */
	CONN_IMAP,	/* mail process: an IMAP session (FETCH bodies stream in chunks) */
	CONN_POP3,	/* mail process: a POP3 session (RETR streams) */
	CONN_LMTP,	/* lmtp process: an LMTP session (DATA streams to the message file) */
	CONN_KINDS
};

struct conn_bounds {
	size_t input_max;	/* bytes read ahead of the parser */
	size_t output_high;	/* queued output that stops producing, parsing and reading */
	size_t output_low;	/* ... until it is down to this (the write callback runs) */
};

const struct conn_bounds *conn_bounds(enum conn_kind kind);

/*
 * A bufferevent on fd with kind's bounds: plaintext when ssl is NULL, else the server
 * side of a TLS session whose handshake it runs (ssl is then owned by the bufferevent).
 * options as for bufferevent_socket_new. Returns NULL on failure (ssl freed).
 */
struct bufferevent *conn_new(struct event_base *base, int fd, SSL *ssl, enum conn_kind kind,
    int options);
/* Give an existing bufferevent kind's bounds (a login connection that becomes a proxy). */
void conn_set_kind(struct bufferevent *bev, enum conn_kind kind);
/* Bytes of output not yet sent. */
size_t conn_output_len(struct bufferevent *bev);
/* true while at least output_high bytes wait: produce nothing more, read nothing more. */
bool conn_output_full(struct bufferevent *bev, enum conn_kind kind);
/* true once the output is down to output_low (from the write callback: go on). */
bool conn_output_drained(struct bufferevent *bev, enum conn_kind kind);

#endif
