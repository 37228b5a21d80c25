/*
 * login_private.h — what the protocol front ends of the login process (imap_login.c,
 * pop3_login.c) share with its generic part (login.c): the connection object, output,
 * STARTTLS, and handing credentials to the master. Runs in the login process.
 */
#ifndef BUZON_LOGIN_PRIVATE_H
#define BUZON_LOGIN_PRIVATE_H

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "proto/scram.h"

#define LOGIN_MAX_BAD		3		/* bad commands before the goodbye */
#define LOGIN_MAX_AUTH_FAILS	3		/* failed logins per connection */
#define LOGIN_INPUT_MAX		IPC_INPUT_MAX	/* pipelined input handed over at login */

enum lconn_state {
	LC_CMD,			/* reading commands (the front end parses) */
	LC_SASL,		/* reading SASL response lines (the front end parses) */
	LC_AUTH_WAIT,		/* credentials sent to the master */
	LC_STARTTLS,		/* the OK to STARTTLS/STLS is queued; switching when flushed */
	LC_PROXY,		/* logged in over TLS: proxying */
	LC_CLOSING,		/* flushing the last reply */
};

struct lconn;

/* One protocol's pre-login dialogue. */
struct login_proto_ops {
	const char *name;		/* "imap", "pop3": logs and IPC_LOGIN_AUTH */
	uint32_t ipc_proto;		/* IPC_PROTO_* */
	const char *alpn;		/* RFC 7301 protocol id */
	void *(*create)(struct lconn *c);	/* per-connection state */
	void (*destroy)(struct lconn *c, void *state);
	void (*greet)(struct lconn *c);
	/* Parse what is in the input buffer (states LC_CMD and LC_SASL). */
	void (*input)(struct lconn *c, struct evbuffer *in);
	/* STARTTLS done: forget everything said before (the state is recreated). */
	void (*tls_started)(struct lconn *c);
	/* Optional: the TLS session is set up (output is sent after the handshake). */
	void (*after_tls)(struct lconn *c);
	/* Login refused (IPC_AUTH_FAIL/TEMPFAIL/LIMIT): write the reply; may close. */
	void (*auth_failed)(struct lconn *c, uint32_t status);
	/* The pre-login deadline passed: write the goodbye (the connection closes). */
	void (*timeout)(struct lconn *c);
	/* The master needs the room (pre-login total full): write the goodbye (it closes). */
	void (*kicked)(struct lconn *c);
	/*
	 * auth_listen and socketmap_listen only (NULL elsewhere): the answer to request
	 * req of lconn_send_verify / lconn_send_lookup, with the user's name after
	 * IPC_AUTH_OK.
	 */
	void (*verified)(struct lconn *c, uint32_t req, uint32_t status, const char *user);
	/*
	 * SCRAM (login_scram.c; NULL where not offered): auth's salt and iteration count
	 * after lconn_send_scram (status IPC_AUTH_*), and after a successful login the
	 * ServerSignature, which the front end sends before it calls lconn_login_finish.
	 */
	void (*scram_params)(struct lconn *c, uint32_t status, const unsigned char *salt,
	    size_t salt_len, uint32_t iter);
	void (*scram_success)(struct lconn *c, const unsigned char *sig, size_t len);
	/*
	 * auth_listen only (NULL elsewhere): SCRAM per request. The salt and iteration
	 * count for request req after lconn_send_scram_req, and the answer to a request
	 * (called instead of verified) with, after a good SCRAM proof, the ServerSignature
	 * (sig_len 0 otherwise). Both come while the connection reads.
	 */
	void (*scram_req_params)(struct lconn *c, uint32_t req, uint32_t status,
	    const unsigned char *salt, size_t salt_len, uint32_t iter);
	void (*verified_sig)(struct lconn *c, uint32_t req, uint32_t status, const char *user,
	    const unsigned char *sig, size_t sig_len);
	/*
	 * metrics_listen only (NULL elsewhere): the master's snapshot after
	 * lconn_send_metrics, block[0..len) (len checked: METRICS_BLOCK_BYTES).
	 */
	void (*metrics)(struct lconn *c, const unsigned char *block, size_t len);
};

extern const struct login_proto_ops imap_login_ops;
extern const struct login_proto_ops pop3_login_ops;
extern const struct login_proto_ops managesieve_login_ops;
extern const struct login_proto_ops jmap_login_ops;
extern const struct login_proto_ops auth_login_ops;
extern const struct login_proto_ops socketmap_login_ops;
extern const struct login_proto_ops quota_policy_login_ops;
extern const struct login_proto_ops metrics_login_ops;

struct login;

struct lconn {
	struct login *l;
	struct lconn *prev, *next;
	const struct login_proto_ops *ops;
	void *pstate;		/* the front end's state */
	int fd;
	struct bufferevent *bev;
	bool tls;		/* TLS active on this connection */
	bool tls_ready;		/* the TLS handshake has completed */
	bool implicit_tls;	/* imaps/pop3s listener */
	bool local;		/* client address == server address (same host) */
	char ip[INET6_ADDRSTRLEN];
	enum lconn_state state;
	unsigned bad, auth_fails;
	char tag[80];		/* IMAP tag of the login command ("" for POP3) */
	uint32_t conn_id;	/* the master's id of this connection */
	bool throttled;		/* not reading: too much output is waiting */
	int proxy_fd;		/* our end of the socketpair to the mail process */
	struct bufferevent *proxy;
	struct event *deadline;
};

void lconn_printf(struct lconn *c, const char *fmt, ...) PRINTF(2, 3);
/*
 * true while more output waits than a pre-login connection may queue: the front ends
 * stop parsing then, and login.c resumes them once the client has read enough.
 */
bool lconn_output_full(const struct lconn *c);
/* Stop reading; close once the queued output has been sent. */
void lconn_close_after(struct lconn *c);
/* The configuration the login process runs with. */
const struct config *lconn_config(const struct lconn *c);
/* auth_allow_cleartext as configured (the auth_listen front end applies it itself). */
enum config_cleartext lconn_cleartext_policy(const struct lconn *c);
/* May this connection send a password now (TLS, same host, or configured)? */
bool lconn_cleartext_ok(const struct lconn *c);
/* Can STARTTLS/STLS be offered (not yet TLS, certificate configured)? */
bool lconn_starttls_available(const struct lconn *c);
/*
 * The OK to STARTTLS/STLS has been queued: once it is flushed, discard every byte the
 * client sent after the command and start the TLS handshake (RFC 3207 §4.2, CVE-2011-0411).
 */
void lconn_starttls(struct lconn *c);
/*
 * Hand credentials to the master; wipes pass. tag is the IMAP tag to complete after
 * login ("" for POP3). Reading stops until the result comes; after a success the
 * connection (and what the client pipelined) goes to the master, then to the mail process.
 */
void lconn_send_auth(struct lconn *c, const char *tag, const char *mech, const char *user,
    size_t ulen, char *pass, size_t plen);
/*
 * auth_listen: ask the master to check user and password for the client's request req
 * (the answer comes through ops->verified); wipes pass. ip is the address the client
 * named (rip) or "local"; secured sets IPC_CONN_TLS. The connection keeps reading:
 * many requests may be in flight (the front end keeps them under IPC_VERIFY_MAX).
 * Returns 0, or -1 when the request could not be sent (answer it as a temporary
 * failure) or the name cannot be a user's (answer it as a failure): *temp_r says which.
 */
int lconn_send_verify(struct lconn *c, uint32_t req, const char *mech, const char *ip,
    bool secured, const char *user, size_t ulen, char *pass, size_t plen, bool *temp_r);
/*
 * socketmap_listen: ask the master whether address[0..len) is a user's (the answer comes
 * through ops->verified for req). Returns 0, or -1 (answer it as a temporary failure).
 */
int lconn_send_lookup(struct lconn *c, uint32_t req, const char *address, size_t len);
/*
 * quota_policy_listen: ask the master whether address[0..len) has room for a message of
 * size octets (the answer comes through ops->verified for req, its status an
 * IPC_DELIVER_*). Returns 0, or -1 (answer it as a temporary failure).
 */
int lconn_send_quota(struct lconn *c, uint32_t req, const char *address, size_t len,
    uint64_t size);
/*
 * metrics_listen: ask the master for the current numbers (the answer comes through
 * ops->metrics). Returns 0, or -1 (answer 503).
 */
int lconn_send_metrics(struct lconn *c);
/* The numbers the metrics endpoint shows besides the master's: the build and the
 * configured certificates' notAfter (read before the chroot). */
const struct metrics_extra *lconn_metrics_extra(const struct lconn *c);
/* Parse what the client has sent meanwhile (a front end that waited for an answer). */
void lconn_resume(struct lconn *c);
/* (Re)arm the connection's deadline secs from now (auth_listen: its idle timeout). */
void lconn_deadline(struct lconn *c, unsigned secs);

/*
 * State LC_SASL: take one SASL response line (without its CRLF) from in. Returns the
 * line (caller wipes and frees it; *len_r its length), or NULL when no whole line is
 * there yet; a line longer than SASL allows gets too_long (the protocol's goodbye line)
 * and the connection closes.
 */
char *lconn_sasl_line(struct lconn *c, struct evbuffer *in, size_t *len_r,
    const char *too_long);

/*
 * SCRAM: ask the master for user's salt and iteration count (the answer comes through
 * ops->scram_params). Reading stops until then, as in lconn_send_auth.
 */
void lconn_send_scram(struct lconn *c, const char *mech, const char *user, size_t ulen);
/*
 * auth_listen: ask the master for user's salt and iteration count for the client's
 * request req (the answer comes through ops->scram_req_params); the connection keeps
 * reading, the request counts as one of its IPC_VERIFY_MAX in flight. Returns 0, or -1
 * (*temp_r: answer it as a temporary failure, else as a failure: no such name).
 */
int lconn_send_scram_req(struct lconn *c, uint32_t req, const char *mech, const char *user,
    size_t ulen, bool *temp_r);
/*
 * The login succeeded and the front end has said what it had to (SCRAM's
 * server-final): hand the connection over. (Called by login.c itself otherwise.)
 */
void lconn_login_finish(struct lconn *c);

/* login_scram.c: one SCRAM exchange of a connection. */
struct lscram;
/*
 * For mechanism name mech[0..len): NULL when it is not a SCRAM mechanism offered on c
 * (auth_scram = no, or -PLUS without TLS).
 */
struct lscram *lscram_create(const struct lconn *c, const char *mech, size_t len);
/* auth_scram: are SCRAM mechanisms offered? */
bool lscram_offered(const struct lconn *c);
void lscram_destroy(struct lscram **s);
/* The mechanism's name as offered ("SCRAM-SHA-256-PLUS"). */
const char *lscram_mech(const struct lscram *s);
/* A -PLUS mechanism (channel binding required)? */
bool lscram_plus(const struct lscram *s);
/* Append the SCRAM mechanisms this connection offers, each after prefix (" AUTH="). */
void lscram_capabilities(const struct lconn *c, struct buf *b, const char *prefix);
/*
 * The decoded client-first-message: parse it, check the channel-binding flag against
 * the mechanism and the connection, draw the server nonce. Returns 0, or -1 with
 * *error_r (client-safe): the exchange failed.
 */
int lscram_client_first(struct lconn *c, struct lscram *s, const unsigned char *msg,
    size_t len, const char **error_r);
/* The user name the client gave (decoded). */
const char *lscram_user(const struct lscram *s, size_t *len_r);
/* Build the server-first-message; append its base64 to out. Returns 0 or -1. */
int lscram_server_first(struct lscram *s, const unsigned char *salt, size_t salt_len,
    uint32_t iter, struct buf *out);
/*
 * The decoded client-final-message: check the nonce and channel binding, then send
 * the proof with lconn_send_auth (tag as there). Returns 0 (sent; the answer comes as
 * for any login), or -1 with *error_r: the exchange failed, nothing was sent.
 */
int lscram_client_final(struct lconn *c, struct lscram *s, const unsigned char *msg,
    size_t len, const char *tag, const char **error_r);
/*
 * The same checks, but the proof is not sent: ClientProof followed by the AuthMessage
 * (what auth checks, at most IPC_SCRAM_MAX) is put in *am (caller wipes and
 * deinits it) for lconn_send_verify. Returns 0, or -1 with *error_r.
 */
int lscram_client_final_proof(struct lconn *c, struct lscram *s, const unsigned char *msg,
    size_t len, struct buf *am, const char **error_r);
/* Append base64("v=" base64(sig)) to out. Returns 0 or -1. */
int lscram_server_final(const unsigned char *sig, size_t len, struct buf *out);

/*
 * login_oauth.c: OAUTHBEARER and XOAUTH2 (RFC 7628; docs/oauth.md), shared by the IMAP,
 * POP3 and ManageSieve front ends. The login process only unpacks the message: the
 * token goes to auth as the "password" of an ordinary lconn_send_auth.
 */
/* Offered on c: oauth_issuer and oauth_jwks_file set, and a password may be sent here. */
bool loauth_offered(const struct lconn *c);
/* Append OAUTHBEARER and XOAUTH2 (when offered on c), each after prefix (" AUTH="). */
void loauth_capabilities(const struct lconn *c, struct buf *b, const char *prefix);
/* The OAuth mechanism mech[0..len) offered on c, else SASL_MECH_UNKNOWN. */
int loauth_mech(const struct lconn *c, const char *mech, size_t len);
/*
 * A client response line of mechanism kind (SASL_MECH_OAUTHBEARER/XOAUTH2): decode,
 * parse and send it (lconn_send_auth, tag as there). Returns 1 sent (the answer comes as
 * for any login), 0 the client cancelled ("*"), -1 malformed (*error_r client-safe).
 */
int loauth_response(struct lconn *c, int kind, const char *line, size_t len,
    const char *tag, const char **error_r);
/* The RFC 7628 §3.2.2 error challenge, base64 (a constant). */
const char *loauth_error_challenge(void);

#endif
