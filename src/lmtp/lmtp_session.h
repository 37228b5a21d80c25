/*
 * lmtp_session.h — one LMTP session (RFC 2033) without sockets: command lines, the
 * LHLO/MAIL/RCPT/DATA/RSET/QUIT state machine, DATA decoded (src/proto/lmtp_cmd) into
 * the message store, the recipients of the transaction and their replies in RCPT order.
 * It talks to its environment only through struct lmtp_session_ops: the LMTP process
 * (lmtp.c) plugs in its bufferevent, the master (IPC) and memfds/spool files; the unit
 * test and the fuzz target plug in fakes. Runs in the unprivileged, chrooted LMTP
 * process on every byte the MTA sends; every field is bounded (4 KiB lines, 1000
 * recipients, 10 bad commands, mail_max_size, a 64 KiB decode buffer).
 */
#ifndef BUZON_LMTP_SESSION_H
#define BUZON_LMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMTP_SESSION_MAX_RCPTS		1000
#define LMTP_SESSION_MAX_BAD		10
#define LMTP_SESSION_CHUNK		(64 * 1024)	/* DATA decoded this much at once */
#define LMTP_SESSION_DELIVER_WINDOW	16	/* deliveries out and unanswered at once */

/*
 * The environment of a session. ctx is the caller's. A session calls these only from
 * inside an lmtp_session_* call. After close it touches nothing (the caller may destroy
 * it inside close).
 */
struct lmtp_session_ops {
	/* Queue reply bytes for the client (whole CRLF lines). */
	void (*write)(void *ctx, const char *data, size_t len);
	/*
	 * Unread input, not consumed: whole = true, the first MIN(max, available) bytes
	 * contiguous (a command line is searched in them); whole = false, any non-empty
	 * contiguous prefix of at most max bytes. *len_r = 0 when nothing is buffered.
	 */
	const unsigned char *(*input)(void *ctx, size_t max, bool whole, size_t *len_r);
	/* Drop n bytes from the front of the input (n <= what input returned). */
	void (*consume)(void *ctx, size_t n);
	/*
	 * True when too many replies are unsent: the caller stops reading and calls
	 * lmtp_session_drained once the client has read them.
	 */
	bool (*output_full)(void *ctx);
	/*
	 * Start the lookup of a recipient (answered later by lmtp_session_rcpt_result with
	 * the same *id_r). Returns 0, or -1 (the client gets a temporary failure).
	 */
	int (*rcpt_lookup)(void *ctx, const char *addr, uint32_t *id_r);
	/*
	 * Hand the finished message to delivery for one recipient with the header prefix
	 * (Return-Path, Delivered-To); answered later by lmtp_session_deliver_result with
	 * *id_r. Returns 0, or -1 (a temporary failure for that recipient).
	 */
	int (*deliver)(void *ctx, const char *addr, const char *folder,
	    const unsigned char *prefix, size_t prefix_len, uint32_t *id_r);
	/* Create the message store for DATA. Returns 0, or -1 (logged; 451). */
	int (*msg_open)(void *ctx);
	/* Append decoded message bytes (the store may move to a spool file). 0 or -1 (logged). */
	int (*msg_write)(void *ctx, const unsigned char *p, size_t n);
	/* The final dot came: make the message unchangeable. 0 or -1 (logged). */
	int (*msg_seal)(void *ctx);
	/*
	 * Close the message's descriptors (every recipient has it); release = true at the end
	 * of the transaction also gives back its memory accounting. Harmless with no message.
	 */
	void (*msg_close)(void *ctx, bool release);
	/* The session is over (QUIT, too long a line, too many errors, end of input). */
	void (*close)(void *ctx);
};

struct lmtp_session_conf {
	const char *hostname;	/* borrowed; printable ASCII */
	uint64_t max_size;	/* mail_max_size */
	const char *delimiter;	/* recipient_delimiter; NULL or "" = none */
	const char *ip;		/* for log lines; copied */
	bool quota_tempfail;	/* quota_full_tempfail: over quota is 452 4.2.2, not 552 */
};

struct lmtp_session;

/*
 * A session that has not sent its greeting (the caller sends "220"). conf's strings must
 * outlive the session except ip. Free with lmtp_session_destroy.
 */
struct lmtp_session *lmtp_session_create(const struct lmtp_session_ops *ops, void *ctx,
    const struct lmtp_session_conf *conf);
/* Ends the transaction (msg_close with release) and frees *s; sets *s = NULL. */
void lmtp_session_destroy(struct lmtp_session **s);

/* Run commands and DATA from the input until the session must wait for something. */
void lmtp_session_process(struct lmtp_session *s);
/*
 * The client shut down its side: what it sent is answered, then the session closes
 * (at once if it has nothing left to answer). The caller has stopped reading.
 */
void lmtp_session_eof(struct lmtp_session *s);
/*
 * The output drained after output_full: returns true if the session had stopped for it
 * (the caller resumes reading and calls lmtp_session_process), false otherwise.
 */
bool lmtp_session_drained(struct lmtp_session *s);
/* True while the session waits for a recipient lookup or deliveries (not for the client). */
bool lmtp_session_waiting(const struct lmtp_session *s);

/*
 * Answers. status is an IPC_DELIVER_* code (lib/ipc.h, <= IPC_DELIVER_TOOBIG). Each
 * returns false, doing nothing, if the session waits for no such id; otherwise it
 * replies as far as it can and goes on with the input (the session may be closed).
 */
bool lmtp_session_rcpt_result(struct lmtp_session *s, uint32_t id, uint32_t status);
bool lmtp_session_deliver_result(struct lmtp_session *s, uint32_t id, uint32_t status);
/* A Sieve reject (RFC 5429 §2.1.1): that recipient gets "550 5.7.1 " and the reason. */
bool lmtp_session_deliver_rejected(struct lmtp_session *s, uint32_t id, const char *reason);

#endif
