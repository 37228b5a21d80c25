/*
 * auth_login.c — the server side of the Dovecot authentication protocol (version 1.x)
 * on the auth_listen socket, in the login process: how Postfix (smtpd_sasl_type =
 * dovecot) and Exim check the passwords of users who send mail (docs/postfix.md).
 * Handshake (VERSION, MECH PLAIN/LOGIN and, when configured, SCRAM-SHA-1/-256 and
 * OAUTHBEARER/XOAUTH2, SPID,
 * CUID, COOKIE, DONE; the client's VERSION and CPID), then AUTH/CONT requests, many at
 * a time on one connection, each answered OK (user= the name auth gave), CONT (the next
 * challenge) or FAIL.
 *
 * Security role: the client is a local process (the socket's mode and group decide
 * which) but its lines are parsed here, unprivileged and chrooted like every other
 * client byte (src/proto/authproto.c, bounded). A password check goes to the master as
 * IPC_LOGIN_VERIFY and on to auth like any login, with the address the client names
 * (rip) as the client's address, so failure delays and bans count per SMTP client: the
 * socket is trusted to name it, which is why only this listener's rip is used. No
 * connection of this listener is ever handed to a mail process (the master refuses
 * IPC_LOGIN_AUTH for it). Client protocol errors close the connection, as Dovecot does.
 */
#include <arpa/inet.h>
#include <sys/random.h>
#include <unistd.h>

#include "login/login_private.h"
#include "lib/log.h"
#include "proto/authproto.h"
#include "proto/sasl.h"

#define AUTH_LOGIN_IDLE_SECS	1800	/* an idle client (Postfix keeps one per smtpd) */

enum areq_step {
	AR_FREE = 0,
	AR_PLAIN,		/* waiting for the PLAIN message (CONT) */
	AR_LOGIN_USER,		/* LOGIN: waiting for the user name */
	AR_LOGIN_PASS,		/* LOGIN: waiting for the password */
	AR_CHECKING,		/* sent to the master; its answer is awaited */
	AR_OAUTH,		/* OAUTHBEARER/XOAUTH2: waiting for the message */
	AR_OAUTH_FAILED,	/* the RFC 7628 §3.2.2 error challenge sent: waiting for %x01 */
	AR_SCRAM_FIRST,		/* SCRAM: waiting for the client-first-message */
	AR_SCRAM_PARAMS,	/* SCRAM: the salt asked of the master; its answer is awaited */
	AR_SCRAM_FINAL,		/* SCRAM: server-first sent, waiting for client-final */
	AR_SCRAM_DONE,		/* SCRAM: server-final sent, waiting for the empty response */
};

/* One AUTH request of the client, until it is answered OK or FAIL. */
struct areq {
	enum areq_step step;
	uint32_t id;		/* the client's id */
	uint64_t seq;		/* age, to evict the oldest one waiting for the client */
	bool secured;
	const char *mech;	/* "PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2", "SCRAM-SHA-*" */
	int oauth;		/* SASL_MECH_OAUTHBEARER/_XOAUTH2, else SASL_MECH_UNKNOWN */
	struct lscram *scram;	/* SCRAM-SHA-1, SCRAM-SHA-256 (never -PLUS: no TLS here) */
	char ip[INET6_ADDRSTRLEN];	/* rip, normalised, or "local" */
	/* LOGIN: the name until the password comes; SCRAM: auth's name until the OK */
	char user[SASL_MAX_USER + 1];
	size_t ulen;
};

struct auth_login {
	bool version, cpid;	/* the client's handshake lines seen */
	uint64_t seq;
	struct areq req[IPC_VERIFY_MAX];
};

static void *
auth_login_create(struct lconn *c)
{
	return xcalloc(1, sizeof(struct auth_login));
}

static void
req_free(struct areq *r)
{
	lscram_destroy(&r->scram);
	secret_wipe(r, sizeof(*r));	/* a LOGIN user name */
	r->step = AR_FREE;
}

static void
auth_login_destroy(struct lconn *c, void *state)
{
	struct auth_login *al = state;

	for (size_t i = 0; i < N_ELEMENTS(al->req); i++)
		req_free(&al->req[i]);
	free(al);
}

/* OAUTHBEARER and XOAUTH2 are offered (the socket's clients check TLS themselves). */
static bool
oauth_configured(const struct lconn *c)
{
	const struct config *cfg = lconn_config(c);

	return cfg->oauth_issuer != NULL && cfg->oauth_jwks_file != NULL;
}

static void
auth_login_greet(struct lconn *c)
{
	unsigned char rnd[16];
	char cookie[33];

	/* COOKIE matters only to a Dovecot master's REQUEST command, which buzon lacks */
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(cookie + 2 * i, 3, "%02x", rnd[i]);
	/* a bearer token is as good as a password to whoever reads it: "plaintext" too */
	lconn_printf(c, "VERSION\t%u\t%u\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
	    "%s%sSPID\t%ld\nCUID\t%u\nCOOKIE\t%s\nDONE\n", AUTHPROTO_MAJOR, AUTHPROTO_MINOR,
	    /* no -PLUS: the socket has no TLS session to bind (nor does Dovecot offer it) */
	    lscram_offered(c) ? "MECH\tSCRAM-SHA-1\tmutual-auth\n"
	    "MECH\tSCRAM-SHA-256\tmutual-auth\n" : "",
	    oauth_configured(c) ? "MECH\tOAUTHBEARER\tplaintext\nMECH\tXOAUTH2\tplaintext\n" : "",
	    (long)getpid(), c->conn_id, cookie);
}

/* The client broke the protocol: log why and close (Dovecot does the same). */
static void
disconnect(struct lconn *c, const char *why)
{
	log_info("auth-login disconnected ip=%s reason=%s", c->ip, why);
	lconn_close_after(c);
}

static struct areq *
req_find(struct auth_login *al, uint32_t id)
{
	for (size_t i = 0; i < N_ELEMENTS(al->req); i++)
		if (al->req[i].step != AR_FREE && al->req[i].id == id)
			return &al->req[i];
	return NULL;
}

static void
reply_fail(struct lconn *c, uint32_t id, bool temp, const char *reason)
{
	lconn_printf(c, "FAIL\t%u\t%sreason=%s\n", id, temp ? "temp\t" : "", reason);
}

/*
 * A free slot, or the oldest request still waiting for the client (a client that gave
 * up, e.g. an SMTP client that sent "*", leaves its request behind: it gets a FAIL).
 * NULL when every slot waits for the master.
 */
static struct areq *
req_new(struct lconn *c, struct auth_login *al)
{
	struct areq *oldest = NULL;

	for (size_t i = 0; i < N_ELEMENTS(al->req); i++) {
		struct areq *r = &al->req[i];

		if (r->step == AR_FREE)
			return r;
		if (r->step != AR_CHECKING && r->step != AR_SCRAM_PARAMS &&
		    (oldest == NULL || r->seq < oldest->seq))
			oldest = r;
	}
	if (oldest != NULL) {
		reply_fail(c, oldest->id, false, "Authentication request timed out");
		req_free(oldest);
	}
	return oldest;
}

/* Same host: rip equals lip (both given, same address) or the client named none. */
static bool
same_host(const struct authproto_cmd *cmd, const char *rip)
{
	unsigned char a[16], b[16];
	char lip[INET6_ADDRSTRLEN];
	int fam;

	if (cmd->rip.p == NULL)
		return true;
	if (cmd->lip.p == NULL || cmd->lip.len >= sizeof(lip))
		return false;
	memcpy(lip, cmd->lip.p, cmd->lip.len);
	lip[cmd->lip.len] = '\0';
	fam = strchr(rip, ':') != NULL ? AF_INET6 : AF_INET;
	return inet_pton(fam, rip, a) == 1 && inet_pton(fam, lip, b) == 1 &&
	    memcmp(a, b, fam == AF_INET6 ? 16 : 4) == 0;
}

/* May a password be sent for this request (auth_allow_cleartext, as for IMAP)? */
static bool
cleartext_ok(const struct lconn *c, const struct authproto_cmd *cmd, const char *rip)
{
	switch (lconn_cleartext_policy(c)) {
	case CLEARTEXT_YES: return true;
	case CLEARTEXT_LOOPBACK: return cmd->secured || same_host(cmd, rip);
	case CLEARTEXT_NO: return cmd->secured;
	}
	return false;
}

/* rip as an address in normal form into out; false when it is not one. */
static bool
parse_rip(const struct authproto_str *rip, char *out, size_t out_size)
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char a[16];

	if (rip->len == 0 || rip->len >= sizeof(tmp))
		return false;
	memcpy(tmp, rip->p, rip->len);
	tmp[rip->len] = '\0';
	if (inet_pton(AF_INET, tmp, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)out_size) != NULL;
	if (inet_pton(AF_INET6, tmp, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)out_size) != NULL;
	return false;
}

static void
send_check(struct lconn *c, struct areq *r, const char *user, size_t ulen, char *pass,
    size_t plen)
{
	bool temp;

	if (lconn_send_verify(c, r->id, r->mech, r->ip, r->secured, user, ulen, pass, plen,
	    &temp) < 0) {
		reply_fail(c, r->id, temp, temp ? "Temporary authentication failure" :
		    "Authentication failed");
		req_free(r);
		return;
	}
	r->step = AR_CHECKING;
}

/* The OAUTHBEARER or XOAUTH2 message of r, still base64: the token goes to auth. */
static void
oauth_response(struct lconn *c, struct areq *r, const char *data, size_t len)
{
	unsigned char *msg = xmalloc(SASL_MAX_BUF);
	struct sasl_oauth *o = xmalloc(sizeof(*o));
	enum sasl_response res;
	const char *err;
	size_t n = 0;

	res = sasl_decode_response(data, len, msg, SASL_MAX_BUF, &n, &err);
	if (res != SASL_RESPONSE_OK) {
		reply_fail(c, r->id, false, res == SASL_RESPONSE_CANCEL ?
		    "Authentication aborted" : "Invalid response");
		req_free(r);
	} else if ((r->oauth == SASL_MECH_OAUTHBEARER ? sasl_oauthbearer_parse(msg, n, o, &err) :
	    sasl_xoauth2_parse(msg, n, o, &err)) < 0) {
		reply_fail(c, r->id, false, "Invalid response");
		req_free(r);
	} else {
		send_check(c, r, o->user, o->user_len, o->token, o->token_len);
	}
	sasl_oauth_wipe(o);
	free(o);
	secret_wipe(msg, SASL_MAX_BUF);
	free(msg);
}

/* A SCRAM exchange that ended before auth judged a proof: no password was tried. */
static void
scram_fail(struct lconn *c, struct areq *r, bool temp, const char *reason)
{
	reply_fail(c, r->id, temp, reason);
	req_free(r);
}

/*
 * A SCRAM message of r, still base64 (RFC 5802 §5): the client-first (the salt is
 * asked of the master), the client-final (the proof goes to auth as a verify), or the
 * empty answer to server-final, after which the request is OK, as in Dovecot, whose
 * auth server sends server-final as a last CONT to a client that did not say
 * final-resp-ok (Postfix and Exim do not).
 */
static void
scram_response(struct lconn *c, struct areq *r, const char *data, size_t len)
{
	unsigned char *msg;
	const char *err = NULL, *user;
	char esc[2 * IPC_USER_MAX + 1];
	enum sasl_response res;
	struct buf am;
	size_t n = 0, ulen;
	bool temp;

	if (r->step == AR_SCRAM_DONE) {
		if (len == 0 && authproto_escape(r->user, strlen(r->user), esc, sizeof(esc)) > 0)
			lconn_printf(c, "OK\t%u\tuser=%s\n", r->id, esc);
		else
			reply_fail(c, r->id, false, len == 1 && data[0] == '*' ?
			    "Authentication aborted" : "Expected an empty response");
		req_free(r);
		return;
	}
	msg = xmalloc(SASL_MAX_BUF);
	res = sasl_decode_response(data, len, msg, SASL_MAX_BUF, &n, &err);
	if (res != SASL_RESPONSE_OK) {
		scram_fail(c, r, false, res == SASL_RESPONSE_CANCEL ? "Authentication aborted" :
		    "Invalid response");
	} else if (r->step == AR_SCRAM_FIRST) {
		if (lscram_client_first(c, r->scram, msg, n, &err) < 0) {
			scram_fail(c, r, false, err);
		} else {
			user = lscram_user(r->scram, &ulen);
			if (lconn_send_scram_req(c, r->id, r->mech, user, ulen, &temp) < 0)
				scram_fail(c, r, temp, temp ? "Temporary authentication failure" :
				    "Authentication failed");
			else
				r->step = AR_SCRAM_PARAMS;
		}
	} else if (lscram_client_final_proof(c, r->scram, msg, n, &am, &err) < 0) {
		secret_wipe(am.data, am.len);
		buf_deinit(&am);
		scram_fail(c, r, false, err);
	} else {
		user = lscram_user(r->scram, &ulen);
		send_check(c, r, user, ulen, am.data, am.len);	/* wipes the proof */
		buf_deinit(&am);
	}
	secret_wipe(msg, SASL_MAX_BUF);
	free(msg);
}

/* One response of the client (initial or CONT) for r, still base64. */
static void
response(struct lconn *c, struct areq *r, const char *data, size_t len)
{
	char out[SASL_MAX_PASSWORD + 1];
	enum sasl_response res;
	struct sasl_plain sp;
	const char *err;
	size_t olen = 0;

	if (r->step == AR_OAUTH_FAILED) {
		/* RFC 7628 §3.2.2: whatever the client answers, the exchange fails */
		reply_fail(c, r->id, false, "Authentication failed");
		req_free(r);
		return;
	}
	if (r->step == AR_OAUTH) {
		oauth_response(c, r, data, len);
		return;
	}
	if (r->scram != NULL) {
		scram_response(c, r, data, len);
		return;
	}
	if (r->step == AR_PLAIN) {
		res = sasl_plain_decode(data, len, &sp, &err);
		if (res != SASL_RESPONSE_OK) {
			reply_fail(c, r->id, false, res == SASL_RESPONSE_CANCEL ?
			    "Authentication aborted" : "Invalid PLAIN response");
			req_free(r);
		} else if (sp.authzid_len != 0 && (sp.authzid_len != sp.authcid_len ||
		    memcmp(sp.authzid, sp.authcid, sp.authcid_len) != 0)) {
			/* no master users: acting as someone else is refused */
			reply_fail(c, r->id, false, "Authorization failed");
			req_free(r);
		} else {
			send_check(c, r, sp.authcid, sp.authcid_len, sp.passwd, sp.passwd_len);
		}
		sasl_plain_wipe(&sp);
		return;
	}
	res = sasl_login_decode(data, len, out, r->step == AR_LOGIN_USER ?
	    SASL_MAX_USER + 1 : SASL_MAX_PASSWORD + 1, &olen, &err);
	if (res != SASL_RESPONSE_OK) {
		reply_fail(c, r->id, false, res == SASL_RESPONSE_CANCEL ?
		    "Authentication aborted" : "Invalid LOGIN response");
		req_free(r);
	} else if (r->step == AR_LOGIN_USER) {
		memcpy(r->user, out, olen);
		r->ulen = olen;
		r->step = AR_LOGIN_PASS;
		lconn_printf(c, "CONT\t%u\tUGFzc3dvcmQ6\n", r->id);	/* "Password:" */
	} else {
		send_check(c, r, r->user, r->ulen, out, olen);
		secret_wipe(r->user, sizeof(r->user));
	}
	secret_wipe(out, sizeof(out));
}

static void
cmd_auth(struct lconn *c, struct auth_login *al, const struct authproto_cmd *cmd)
{
	struct areq *r;
	char rip[INET6_ADDRSTRLEN];
	enum sasl_mech_kind kind;
	struct lscram *scram;

	if (!al->cpid) {
		disconnect(c, "auth-before-cpid");
		return;
	}
	if (req_find(al, cmd->req_id) != NULL) {
		disconnect(c, "duplicate-request-id");
		return;
	}
	if (cmd->service.p == NULL) {
		disconnect(c, "no-service");
		return;
	}
	if (cmd->rip.p != NULL && !parse_rip(&cmd->rip, rip, sizeof(rip))) {
		reply_fail(c, cmd->req_id, false, "Invalid rip");
		return;
	}
	kind = sasl_mech_kind(cmd->mech.p, cmd->mech.len);
	/* SCRAM: lscram_create refuses -PLUS here (no TLS) and any when auth_scram = no */
	scram = kind == SASL_MECH_SCRAM ? lscram_create(c, cmd->mech.p, cmd->mech.len) : NULL;
	if (kind != SASL_MECH_PLAIN && kind != SASL_MECH_LOGIN && scram == NULL &&
	    ((kind != SASL_MECH_OAUTHBEARER && kind != SASL_MECH_XOAUTH2) ||
	    !oauth_configured(c))) {
		reply_fail(c, cmd->req_id, false, "Unsupported authentication mechanism");
		return;
	}
	/* no password crosses the wire with SCRAM */
	if (scram == NULL && !cleartext_ok(c, cmd, cmd->rip.p != NULL ? rip : "")) {
		reply_fail(c, cmd->req_id, false, "Plaintext authentication disallowed on "
		    "non-secure (SSL/TLS) connections");
		return;
	}
	if ((r = req_new(c, al)) == NULL) {
		lscram_destroy(&scram);
		reply_fail(c, cmd->req_id, true, "Too many requests in progress");
		return;
	}
	memset(r, 0, sizeof(*r));
	r->id = cmd->req_id;
	r->seq = ++al->seq;
	r->secured = cmd->secured;
	snprintf(r->ip, sizeof(r->ip), "%s", cmd->rip.p != NULL ? rip : "local");
	if (scram != NULL) {
		r->scram = scram;
		r->mech = lscram_mech(scram);
		r->step = AR_SCRAM_FIRST;
	} else if (kind == SASL_MECH_OAUTHBEARER || kind == SASL_MECH_XOAUTH2) {
		r->mech = kind == SASL_MECH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2";
		r->oauth = (int)kind;
		r->step = AR_OAUTH;
	} else if (kind == SASL_MECH_PLAIN) {
		r->mech = "PLAIN";
		r->step = AR_PLAIN;
	} else {
		r->mech = "LOGIN";
		r->step = AR_LOGIN_USER;
	}
	if (cmd->resp.p != NULL && cmd->resp.len > 0) {
		/* the initial response (LOGIN: the user name, as Dovecot takes it) */
		response(c, r, cmd->resp.p, cmd->resp.len);
		return;
	}
	lconn_printf(c, "CONT\t%u\t%s\n", r->id, r->step != AR_LOGIN_USER ? "" :
	    "VXNlcm5hbWU6");	/* "Username:" */
}

static void
cmd_cont(struct lconn *c, struct auth_login *al, const struct authproto_cmd *cmd)
{
	struct areq *r = req_find(al, cmd->req_id);

	if (r == NULL) {
		reply_fail(c, cmd->req_id, false, "Unknown or timed out request");
		return;
	}
	if (r->step == AR_CHECKING || r->step == AR_SCRAM_PARAMS) {
		disconnect(c, "cont-while-checking");
		return;
	}
	response(c, r, cmd->data.p, cmd->data.len);
}

static void
command(struct lconn *c, struct auth_login *al, const struct authproto_cmd *cmd)
{
	if (!al->version) {
		/* both sides must speak major version 1 */
		if (cmd->id != AUTHPROTO_VERSION || cmd->major != AUTHPROTO_MAJOR) {
			disconnect(c, "version");
			return;
		}
		al->version = true;
		return;
	}
	switch (cmd->id) {
	case AUTHPROTO_CPID:
		if (al->cpid) {
			disconnect(c, "cpid-again");
			return;
		}
		al->cpid = true;
		lconn_deadline(c, AUTH_LOGIN_IDLE_SECS);
		break;
	case AUTHPROTO_AUTH:
		cmd_auth(c, al, cmd);
		break;
	case AUTHPROTO_CONT:
		if (!al->cpid)
			disconnect(c, "cont-before-cpid");
		else
			cmd_cont(c, al, cmd);
		break;
	case AUTHPROTO_VERSION:
		disconnect(c, "version-again");
		break;
	case AUTHPROTO_UNKNOWN:
	default:
		disconnect(c, "unknown-command");
		break;
	}
}

static void
auth_login_input(struct lconn *c, struct evbuffer *in)
{
	struct auth_login *al = c->pstate;

	while (c->state == LC_CMD) {
		size_t len = evbuffer_get_length(in), n, used = 0;
		struct authproto_cmd cmd;
		enum authproto_result r;
		unsigned char *data;

		if (len == 0 || lconn_output_full(c))
			return;
		n = len < AUTHPROTO_LINE_MAX ? len : AUTHPROTO_LINE_MAX;
		data = evbuffer_pullup(in, (ssize_t)n);
		r = authproto_parse(data, n, &cmd, &used);
		if (r == AUTHPROTO_MORE)
			return;
		if (r == AUTHPROTO_ERROR) {
			secret_wipe(data, used);
			evbuffer_drain(in, used);
			disconnect(c, cmd.error == AUTHPROTO_ERR_TOOLONG ? "line-too-long" :
			    cmd.error == AUTHPROTO_ERR_NUL ? "nul" : "syntax");
			return;
		}
		if (al->cpid)
			lconn_deadline(c, AUTH_LOGIN_IDLE_SECS);
		command(c, al, &cmd);
		/* the line may hold a password (resp=, CONT) */
		secret_wipe(data, used);
		evbuffer_drain(in, used);
	}
}

static void
auth_login_verified(struct lconn *c, uint32_t req, uint32_t status, const char *user)
{
	struct auth_login *al = c->pstate;
	struct areq *r = req_find(al, req);
	char esc[2 * IPC_USER_MAX + 1];

	if (r == NULL || r->step != AR_CHECKING)
		return;
	if (status == IPC_AUTH_FAIL && r->oauth != SASL_MECH_UNKNOWN) {
		/* RFC 7628 §3.2.2: the error status as a challenge; FAIL after the answer */
		r->step = AR_OAUTH_FAILED;
		lconn_printf(c, "CONT\t%u\t%s\n", req, loauth_error_challenge());
		lconn_deadline(c, AUTH_LOGIN_IDLE_SECS);
		return;
	}
	if (status == IPC_AUTH_OK && authproto_escape(user, strlen(user), esc, sizeof(esc)) > 0)
		lconn_printf(c, "OK\t%u\tuser=%s\n", req, esc);
	else if (status == IPC_AUTH_FAIL || status == IPC_AUTH_OK)
		reply_fail(c, req, false, "Authentication failed");
	else
		reply_fail(c, req, true, "Temporary authentication failure");
	req_free(r);
	lconn_deadline(c, AUTH_LOGIN_IDLE_SECS);
}

/* auth's answer to request req; after a good SCRAM proof, sig is its ServerSignature. */
static void
auth_login_verified_sig(struct lconn *c, uint32_t req, uint32_t status, const char *user,
    const unsigned char *sig, size_t sig_len)
{
	struct auth_login *al = c->pstate;
	struct areq *r = req_find(al, req);
	struct buf b;

	if (r == NULL || r->step != AR_CHECKING)
		return;
	if (r->scram == NULL || status != IPC_AUTH_OK) {
		auth_login_verified(c, req, status, user);
		return;
	}
	buf_init(&b, 1024);
	if (sig_len == 0 || strlen(user) > SASL_MAX_USER ||
	    lscram_server_final(sig, sig_len, &b) < 0) {
		reply_fail(c, req, true, "Temporary authentication failure");
		req_free(r);
	} else {
		/* RFC 5802 §5: the client checks the ServerSignature; OK after its answer */
		snprintf(r->user, sizeof(r->user), "%s", user);
		r->step = AR_SCRAM_DONE;
		lconn_printf(c, "CONT\t%u\t%s\n", req, buf_cstr(&b));
	}
	buf_deinit(&b);
	lconn_deadline(c, AUTH_LOGIN_IDLE_SECS);
}

/* The master's salt and iteration count for SCRAM request req: server-first. */
static void
auth_login_scram_req_params(struct lconn *c, uint32_t req, uint32_t status,
    const unsigned char *salt, size_t salt_len, uint32_t iter)
{
	struct auth_login *al = c->pstate;
	struct areq *r = req_find(al, req);
	struct buf b;

	if (r == NULL || r->step != AR_SCRAM_PARAMS)
		return;
	buf_init(&b, 1024);
	if (status == IPC_AUTH_OK && lscram_server_first(r->scram, salt, salt_len, iter,
	    &b) == 0) {
		r->step = AR_SCRAM_FINAL;
		lconn_printf(c, "CONT\t%u\t%s\n", req, buf_cstr(&b));
	} else {
		/* FAIL here is no user's answer (unknown users get made-up salts) */
		scram_fail(c, r, status != IPC_AUTH_FAIL, status == IPC_AUTH_FAIL ?
		    "Authentication failed" : "Temporary authentication failure");
	}
	buf_deinit(&b);
}

static void
auth_login_tls_started(struct lconn *c)
{
	/* never: the listener is a unix socket without STARTTLS */
}

static void
auth_login_auth_failed(struct lconn *c, uint32_t status)
{
	/* never: this front end sends no IPC_LOGIN_AUTH */
}

static void
auth_login_timeout(struct lconn *c)
{
	/* idle (login.c logs it): close without a word, the client connects again */
}

static void
auth_login_kicked(struct lconn *c)
{
	/* never: not a pre-login connection */
}

const struct login_proto_ops auth_login_ops = {
	.name = "auth",
	.ipc_proto = 0,
	.alpn = NULL,
	.create = auth_login_create,
	.destroy = auth_login_destroy,
	.greet = auth_login_greet,
	.input = auth_login_input,
	.tls_started = auth_login_tls_started,
	.auth_failed = auth_login_auth_failed,
	.timeout = auth_login_timeout,
	.kicked = auth_login_kicked,
	.verified = auth_login_verified,
	.scram_req_params = auth_login_scram_req_params,
	.verified_sig = auth_login_verified_sig,
};
