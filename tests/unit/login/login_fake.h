/*
 * login_fake.h — link-seam fakes of the login.c functions the protocol front ends
 * (src/login/imap_login.c, pop3_login.c) call, for their unit tests and the pre-login
 * session fuzzer (fuzz/login/fuzz_prelogin.c). No sockets, no event loop, no master:
 * the client's bytes go into an evbuffer, replies into another, and every credential
 * hand-over, STARTTLS and close is recorded. The fakes mirror login.c where it matters
 * to the front ends (input bound, output bound, the invalid-name check of
 * lconn_send_auth, the state after a result or a TLS switch) and check the contract
 * the front ends promise (see login_private.h); a broken promise aborts.
 * Test code only. Several fakes may exist at once: all state is in struct login_fake.
 */
#ifndef BUZON_LOGIN_FAKE_H
#define BUZON_LOGIN_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/conn.h"
#include "login/login_private.h"

#define LOGIN_FAKE_USER_MAX	IPC_USER_MAX
#define LOGIN_FAKE_PASS_MAX	IPC_CRED_FRAME	/* the largest, an OAuth token */

struct login_fake {
	struct lconn c;			/* what the front end sees; first member */
	struct evbuffer *in;		/* client bytes not yet consumed */
	struct evbuffer *out;		/* replies not yet read by the "client" */
	bool cleartext;			/* auth_allow_cleartext = yes (else only over TLS) */
	bool tls_configured;		/* a certificate: STARTTLS/STLS offered */
	/* every byte the client has sent so far (to check what was consumed) */
	unsigned char *sent;
	size_t sent_len, sent_cap;
	size_t out_total;		/* bytes ever written */
	/* recorded calls */
	unsigned auth_calls;		/* lconn_send_auth calls */
	unsigned handovers;		/* ... of which login.c would send to the master */
	unsigned scram_waits;		/* SCRAM salt requests (never answered) */
	bool waiting_scram;		/* the last request sent was a SCRAM salt request */
	unsigned invalid_names;		/* ... refused by login.c's name check */
	unsigned closes;		/* lconn_close_after calls */
	unsigned starttls_calls;
	size_t starttls_pending;	/* input length when lconn_starttls was called */
	/* the last hand-over */
	char tag[sizeof(((struct lconn *)0)->tag)];
	char mech[16];
	char user[LOGIN_FAKE_USER_MAX + 1];
	size_t ulen;
	char pass[LOGIN_FAKE_PASS_MAX + 1];
	size_t plen;
	size_t consumed_at_auth;	/* client bytes consumed when it was handed over */
	/* auth_listen / socketmap_listen: requests to the master not yet answered */
	uint32_t outstanding[IPC_VERIFY_MAX];
	bool outstanding_scram[IPC_VERIFY_MAX];	/* a SCRAM salt request (auth_listen) */
	unsigned noutstanding;
	unsigned verifies, lookups;	/* lconn_send_verify / _lookup calls that went out */
	unsigned deadlines;		/* lconn_deadline calls */
	bool secured;			/* of the last verify */
	char ip[IPC_IP_MAX + 1];	/* of the last verify */
	char address[IPC_ADDR_MAX + 1];	/* of the last lookup or quota check */
	uint64_t size;			/* of the last quota check */
	unsigned metrics_requests;	/* lconn_send_metrics calls not yet answered */
	bool metrics_fail;		/* lconn_send_metrics fails (the master is gone) */
};

/*
 * Create the connection for ops (imap_login_ops, pop3_login_ops, auth_login_ops,
 * socketmap_login_ops; the last two: cleartext is auth_allow_cleartext = yes, else
 * loopback) and greet: the
 * greeting is in f->out. implicit_tls: the connection is TLS from the start.
 */
void login_fake_init(struct login_fake *f, const struct login_proto_ops *ops,
    bool cleartext, bool tls_configured, bool implicit_tls);
void login_fake_deinit(struct login_fake *f);

/*
 * The client sends data[0..len): as login.c with its read watermark, at most
 * LOGIN_INPUT_MAX bytes wait in the input; the rest is kept back. Each time, the front
 * end parses what it may (like lconn_input; with a client that reads the replies when
 * the output is full). Returns the bytes accepted into the input (< len: stalled).
 */
size_t login_fake_send(struct login_fake *f, const void *data, size_t len);
/* Let the front end parse what is buffered (after a result, a TLS switch...). */
void login_fake_run(struct login_fake *f);

/* The master's answer to the hand-over (state LC_AUTH_WAIT), as login_result(). */
void login_fake_auth_result(struct login_fake *f, uint32_t status);
/* The STARTTLS reply was flushed: the switch of lconn_switch_tls (input discarded). */
void login_fake_switch_tls(struct login_fake *f);

/*
 * The master's answer to the outstanding request req (auth_listen, socketmap_listen),
 * as login.c passes IPC_LOGIN_VERIFIED on: to ops->verified while the connection reads.
 */
void login_fake_verified(struct login_fake *f, uint32_t req, uint32_t status,
    const char *user);
/* The same with SCRAM's ServerSignature (IPC_LOGIN_VERIFIED's extra). */
void login_fake_verified_sig(struct login_fake *f, uint32_t req, uint32_t status,
    const char *user, const unsigned char *sig, size_t sig_len);
/* The master's salt and count for the outstanding SCRAM request req (auth_listen). */
void login_fake_scram_req_params(struct login_fake *f, uint32_t req, uint32_t status,
    const unsigned char *salt, size_t salt_len, uint32_t iter);

/*
 * The master's snapshot for the outstanding lconn_send_metrics, as login.c passes
 * IPC_LOGIN_METRICS_SNAPSHOT on: to ops->metrics while the connection reads.
 */
void login_fake_metrics(struct login_fake *f, const uint64_t *block);

/* Take what was written so far (caller frees; *len_r its length; NUL-terminated). */
char *login_fake_take_output(struct login_fake *f, size_t *len_r);

#endif
