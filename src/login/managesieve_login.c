/*
 * managesieve_login.c — ManageSieve (RFC 5804) before login, in the login process: the
 * capability greeting, CAPABILITY, STARTTLS (capabilities again afterwards, §2.2),
 * AUTHENTICATE PLAIN/LOGIN with an initial response or continuations (strings, quoted
 * or literal, §2.1), NOOP and LOGOUT. Runs unprivileged and chrooted; parses attacker
 * bytes with src/proto/managesieve (line and literal limits under the pre-login input
 * bound). Passwords are copied once into the IPC message to the master and wiped, with
 * the input buffer's copy; a login goes through IPC_LOGIN_AUTH like IMAP's and POP3's,
 * so the failure delays and bans are the same.
 */
#include "login/login_private.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "proto/managesieve.h"
#include "proto/sasl.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"

/* Bytes outside literals in one line; a literal holds at most one SASL line. */
#define MSL_LINE_MAX	1200

/* MAXREDIRECTS: the redirect limit of a delivery run (src/sieve/sieve_exec.h). */
static unsigned
max_redirects(void)
{
	struct sieve_exec_limits xl;

	sieve_exec_limits_default(&xl);
	return xl.redirects_max;
}

enum msl_sasl_step { MSL_SASL_NONE, MSL_SASL_PLAIN, MSL_SASL_LOGIN_USER, MSL_SASL_LOGIN_PASS,
	MSL_SASL_OAUTH, MSL_SASL_OAUTH_FAILED,		/* as in imap_login.c */
	MSL_SASL_SCRAM_FIRST, MSL_SASL_SCRAM_FINAL, MSL_SASL_SCRAM_DONE };	/* likewise */

struct ms_login {
	enum msl_sasl_step sasl;
	char *user;		/* the LOGIN mechanism's user name */
	int oauth;		/* SASL_MECH_OAUTHBEARER or _XOAUTH2 while MSL_SASL_OAUTH* */
	struct lscram *scram;	/* SCRAM mechanisms: the exchange */
	struct ms_cmd cmd;
};

static const struct ms_limits msl_limits = { MSL_LINE_MAX, SASL_MAX_LINE };

static void *
ms_login_create(struct lconn *c)
{
	return xcalloc(1, sizeof(struct ms_login));
}

static void
forget_user(struct ms_login *ml)
{
	if (ml->user != NULL) {
		secret_wipe(ml->user, strlen(ml->user));
		free(ml->user);
		ml->user = NULL;
	}
}

static void
ms_login_destroy(struct lconn *c, void *state)
{
	struct ms_login *ml = state;

	forget_user(ml);
	lscram_destroy(&ml->scram);
	secret_wipe(&ml->cmd, sizeof(ml->cmd));
	free(ml);
}

/* RFC 5804 §1.7: the capability lines, then OK. */
static void
send_capabilities(struct lconn *c, const char *ok)
{
	struct buf b;

	buf_init(&b, 4096);
	(void)buf_append_str(&b, "\"IMPLEMENTATION\" \"buzon\"\r\n");
	/* the mechanisms only where a password may be sent (IMAP's rule, LOGINDISABLED) */
	(void)buf_appendf(&b, "\"SASL\" \"%s", lconn_cleartext_ok(c) ? "PLAIN LOGIN" : "");
	if (lconn_cleartext_ok(c))
		lscram_capabilities(c, &b, " ");
	loauth_capabilities(c, &b, " ");
	(void)buf_append_str(&b, "\"\r\n");
	(void)buf_append_str(&b, "\"SIEVE\" \"");
	for (unsigned i = 0; i < SIEVE_CAP_COUNT; i++)
		(void)buf_appendf(&b, "%s%s", i ? " " : "", sieve_cap_name((enum sieve_cap)i));
	(void)buf_append_str(&b, "\"\r\n");
	if (lconn_starttls_available(c))
		(void)buf_append_str(&b, "\"STARTTLS\"\r\n");
	(void)buf_appendf(&b, "\"MAXREDIRECTS\" \"%u\"\r\n", max_redirects());
	(void)buf_append_str(&b, "\"VERSION\" \"1.0\"\r\n");
	(void)buf_appendf(&b, "OK \"%s\"\r\n", ok);
	lconn_printf(c, "%s", buf_cstr(&b));
	buf_deinit(&b);
}

static void
ms_login_greet(struct lconn *c)
{
	send_capabilities(c, "buzon ready.");
}

static void
reply_bad(struct lconn *c, const char *text)
{
	lconn_printf(c, "NO \"%s\"\r\n", text);
	if (++c->bad >= LOGIN_MAX_BAD) {
		/* not speaking ManageSieve: dropped quickly (docs/security.md, ALPACA) */
		lconn_printf(c, "BYE \"Too many invalid commands.\"\r\n");
		lconn_close_after(c);
	}
}

static void
sasl_done(struct lconn *c, struct ms_login *ml)
{
	ml->sasl = MSL_SASL_NONE;
	forget_user(ml);
	lscram_destroy(&ml->scram);
	if (c->state == LC_SASL)
		c->state = LC_CMD;
}

static void
auth_fail_reply(struct lconn *c)
{
	lconn_printf(c, "NO \"Authentication failed.\"\r\n");
	if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
		lconn_printf(c, "BYE \"Too many invalid authentication attempts.\"\r\n");
		lconn_close_after(c);
	}
}

/* A SCRAM exchange that failed before auth judged a proof: no password was tried. */
static void
scram_failed(struct lconn *c, struct ms_login *ml, const char *err)
{
	sasl_done(c, ml);
	lconn_printf(c, "NO \"%s.\"\r\n", err);
	if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
		lconn_printf(c, "BYE \"Too many invalid authentication attempts.\"\r\n");
		lconn_close_after(c);
	}
}

/* A SCRAM message (as in imap_login.c; challenges are strings, RFC 5804 §2.1). */
static void
sasl_scram(struct lconn *c, struct ms_login *ml, const char *p, size_t len)
{
	unsigned char *msg = xmalloc(SASL_MAX_BUF);
	const char *err = NULL, *user;
	size_t n, ulen;
	enum sasl_response r = sasl_decode_response(p, len, msg, SASL_MAX_BUF, &n, &err);

	if (r == SASL_RESPONSE_CANCEL) {
		sasl_done(c, ml);
		lconn_printf(c, "NO \"Authentication aborted.\"\r\n");
	} else if (r != SASL_RESPONSE_OK) {
		sasl_done(c, ml);
		reply_bad(c, "Invalid SASL response.");
	} else if (ml->sasl == MSL_SASL_SCRAM_FIRST) {
		if (lscram_client_first(c, ml->scram, msg, n, &err) < 0) {
			scram_failed(c, ml, err);
		} else {
			user = lscram_user(ml->scram, &ulen);
			lconn_send_scram(c, lscram_mech(ml->scram), user, ulen);
		}
	} else if (ml->sasl == MSL_SASL_SCRAM_FINAL) {
		if (lscram_client_final(c, ml->scram, msg, n, "", &err) < 0)
			scram_failed(c, ml, err);
	} else if (n == 0) {
		/* MSL_SASL_SCRAM_DONE: the client accepted our ServerSignature */
		lconn_login_finish(c);
	} else {
		lconn_printf(c, "BYE \"Unexpected SCRAM response.\"\r\n");
		lconn_close_after(c);
	}
	secret_wipe(msg, SASL_MAX_BUF);
	free(msg);
}

/* One SASL response (base64, "*" cancels), initial or after a challenge. */
static void
sasl_response(struct lconn *c, struct ms_login *ml, const char *p, size_t len)
{
	char out[SASL_MAX_PASSWORD + 1];
	const char *err;
	size_t olen = 0;
	enum sasl_response r;

	if (ml->sasl >= MSL_SASL_SCRAM_FIRST) {
		sasl_scram(c, ml, p, len);
		return;
	}
	if (ml->sasl == MSL_SASL_OAUTH_FAILED) {
		/* RFC 7628 §3.2.2: whatever the client answers, the exchange fails */
		sasl_done(c, ml);
		auth_fail_reply(c);
		return;
	}
	if (ml->sasl == MSL_SASL_OAUTH) {
		int res = loauth_response(c, ml->oauth, p, len, "", &err);

		if (res == 0) {
			sasl_done(c, ml);
			lconn_printf(c, "NO \"Authentication aborted.\"\r\n");
		} else if (res < 0) {
			sasl_done(c, ml);
			lconn_printf(c, "NO \"%s.\"\r\n", err);
			if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
				lconn_printf(c, "BYE \"Too many invalid authentication "
				    "attempts.\"\r\n");
				lconn_close_after(c);
			}
		}
		return;
	}
	if (ml->sasl == MSL_SASL_PLAIN) {
		struct sasl_plain sp;

		r = sasl_plain_decode(p, len, &sp, &err);
		sasl_done(c, ml);
		if (r == SASL_RESPONSE_CANCEL) {
			lconn_printf(c, "NO \"Authentication aborted.\"\r\n");
		} else if (r != SASL_RESPONSE_OK) {
			reply_bad(c, "Invalid SASL response.");
		} else if (sp.authzid_len != 0 && (sp.authzid_len != sp.authcid_len ||
		    memcmp(sp.authzid, sp.authcid, sp.authcid_len) != 0)) {
			/* no master users: acting as someone else is refused (docs/security.md) */
			lconn_printf(c, "NO \"Authorization failed.\"\r\n");
		} else {
			lconn_send_auth(c, "", "PLAIN", sp.authcid, sp.authcid_len, sp.passwd,
			    sp.passwd_len);
		}
		sasl_plain_wipe(&sp);
		return;
	}
	r = sasl_login_decode(p, len, out, ml->sasl == MSL_SASL_LOGIN_USER ?
	    SASL_MAX_USER + 1 : SASL_MAX_PASSWORD + 1, &olen, &err);
	if (r != SASL_RESPONSE_OK) {
		sasl_done(c, ml);
		if (r == SASL_RESPONSE_CANCEL)
			lconn_printf(c, "NO \"Authentication aborted.\"\r\n");
		else
			reply_bad(c, "Invalid SASL response.");
	} else if (ml->sasl == MSL_SASL_LOGIN_USER) {
		forget_user(ml);
		ml->user = xstrndup(out, olen);
		ml->sasl = MSL_SASL_LOGIN_PASS;
		c->state = LC_SASL;
		lconn_printf(c, "\"UGFzc3dvcmQ6\"\r\n");
	} else {
		char *user = ml->user;

		ml->user = NULL;
		sasl_done(c, ml);
		lconn_send_auth(c, "", "LOGIN", user, strlen(user), out, olen);
		secret_wipe(user, strlen(user));
		free(user);
	}
	secret_wipe(out, sizeof(out));
}

static void
cmd_authenticate(struct lconn *c, struct ms_login *ml, const struct ms_cmd *cmd)
{
	const struct ms_arg *mech = &cmd->args[0];
	int oauth;

	if (cmd->argc < 1 || cmd->argc > 2 || mech->type != MS_ARG_STRING ||
	    (cmd->argc == 2 && cmd->args[1].type != MS_ARG_STRING)) {
		reply_bad(c, "Invalid AUTHENTICATE arguments.");
		return;
	}
	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, "NO (ENCRYPT-NEEDED) \"Plaintext authentication disallowed on "
		    "non-secure connections.\"\r\n");
		return;
	}
	forget_user(ml);
	if (mem_ieq(mech->p, mech->len, "PLAIN"))
		ml->sasl = MSL_SASL_PLAIN;
	else if (mem_ieq(mech->p, mech->len, "LOGIN"))
		ml->sasl = MSL_SASL_LOGIN_USER;
	else if ((oauth = loauth_mech(c, mech->p, mech->len)) != SASL_MECH_UNKNOWN) {
		ml->sasl = MSL_SASL_OAUTH;
		ml->oauth = oauth;
	} else if ((ml->scram = lscram_create(c, mech->p, mech->len)) != NULL &&
	    (c->tls || !lscram_plus(ml->scram))) {
		ml->sasl = MSL_SASL_SCRAM_FIRST;
	} else {
		lscram_destroy(&ml->scram);
		lconn_printf(c, "NO \"Unsupported authentication mechanism.\"\r\n");
		return;
	}
	c->state = LC_SASL;
	if (cmd->argc == 2) {
		/* RFC 5804 §2.1: the initial response */
		sasl_response(c, ml, cmd->args[1].p, cmd->args[1].len);
	} else {
		lconn_printf(c, ml->sasl == MSL_SASL_LOGIN_USER ? "\"VXNlcm5hbWU6\"\r\n" :
		    "\"\"\r\n");
	}
}

/*
 * RFC 5804 §2.11: NOOP's tag comes back in a TAG response code: the only client bytes
 * echoed before login, and only printable ASCII (else a plain OK).
 */
static void
noop_tag(struct lconn *c, const struct ms_arg *tag)
{
	bool printable = tag->len <= MS_QUOTED_MAX;
	struct buf b;

	buf_init(&b, 2 * MS_QUOTED_MAX + 64);
	for (size_t i = 0; printable && i < tag->len; i++)
		printable = (unsigned char)tag->p[i] >= 0x20 && (unsigned char)tag->p[i] < 0x7f;
	if (printable) {
		(void)buf_append_str(&b, "OK (TAG \"");
		for (size_t i = 0; i < tag->len; i++) {
			if (tag->p[i] == '"' || tag->p[i] == '\\')
				(void)buf_append_str(&b, "\\");
			(void)buf_append(&b, tag->p + i, 1);
		}
		(void)buf_append_str(&b, "\") \"Done.\"\r\n");
		lconn_printf(c, "%s", buf_cstr(&b));
	} else {
		lconn_printf(c, "OK \"Done.\"\r\n");
	}
	buf_deinit(&b);
}

static void
command(struct lconn *c, struct ms_login *ml, const struct ms_cmd *cmd)
{
	const struct ms_arg *n = &cmd->name;

	if (mem_ieq(n->p, n->len, "CAPABILITY")) {
		if (cmd->argc != 0)
			reply_bad(c, "Invalid CAPABILITY arguments.");
		else
			send_capabilities(c, "Capability completed.");
	} else if (mem_ieq(n->p, n->len, "LOGOUT")) {
		lconn_printf(c, "OK \"Logout completed.\"\r\n");
		lconn_close_after(c);
	} else if (mem_ieq(n->p, n->len, "NOOP")) {
		if (cmd->argc == 0)
			lconn_printf(c, "OK \"Done.\"\r\n");
		else if (cmd->argc == 1 && cmd->args[0].type == MS_ARG_STRING)
			noop_tag(c, &cmd->args[0]);
		else
			reply_bad(c, "Invalid NOOP arguments.");
	} else if (mem_ieq(n->p, n->len, "STARTTLS")) {
		if (c->tls) {
			reply_bad(c, "TLS is already active.");
		} else if (!lconn_starttls_available(c)) {
			reply_bad(c, "TLS support isn't enabled.");
		} else {
			lconn_printf(c, "OK \"Begin TLS negotiation now.\"\r\n");
			lconn_starttls(c);
		}
	} else if (mem_ieq(n->p, n->len, "AUTHENTICATE")) {
		cmd_authenticate(c, ml, cmd);
	} else if (mem_ieq(n->p, n->len, "LISTSCRIPTS") || mem_ieq(n->p, n->len, "PUTSCRIPT") ||
	    mem_ieq(n->p, n->len, "GETSCRIPT") || mem_ieq(n->p, n->len, "SETACTIVE") ||
	    mem_ieq(n->p, n->len, "DELETESCRIPT") || mem_ieq(n->p, n->len, "RENAMESCRIPT") ||
	    mem_ieq(n->p, n->len, "CHECKSCRIPT") || mem_ieq(n->p, n->len, "HAVESPACE") ||
	    mem_ieq(n->p, n->len, "UNAUTHENTICATE")) {
		reply_bad(c, "Authenticate first.");
	} else {
		/* nothing of the client's bytes is echoed (docs/security.md, ALPACA) */
		reply_bad(c, "Unknown command.");
	}
}

static void
ms_login_input(struct lconn *c, struct evbuffer *in)
{
	struct ms_login *ml = c->pstate;

	while (c->state == LC_CMD || c->state == LC_SASL) {
		size_t len = evbuffer_get_length(in), used = 0;
		bool sasl = c->state == LC_SASL;
		enum ms_parse_result r;
		unsigned char *data, *copy;

		if (len == 0 || lconn_output_full(c))
			return;
		data = evbuffer_pullup(in, -1);
		r = managesieve_parse(data, len, &msl_limits, sasl, &ml->cmd, &used);
		if (r == MS_PARSE_MORE)
			return;
		if (r == MS_PARSE_ERROR && (used == 0 || ml->cmd.error == MS_ERR_LITERAL)) {
			/* overlong line or literal: cannot resynchronise */
			lconn_printf(c, "BYE \"%s\"\r\n", ml->cmd.error == MS_ERR_LITERAL ?
			    "Literal too long." : "Line too long.");
			lconn_close_after(c);
			return;
		}
		/*
		 * Copy the line out, wipe and drain it (it may hold a password) before acting:
		 * a login hands the bytes still buffered to the master. The copy parses the same.
		 */
		copy = xmalloc(used);
		memcpy(copy, data, used);
		secret_wipe(data, used);
		evbuffer_drain(in, used);
		if (r == MS_PARSE_ERROR) {
			if (sasl) {
				sasl_done(c, ml);
				reply_bad(c, "Invalid SASL response.");
			} else {
				reply_bad(c, ml->cmd.error == MS_ERR_NUL ? "Invalid command (NUL)." :
				    ml->cmd.error == MS_ERR_ARGS ? "Too many arguments." :
				    "Invalid command.");
			}
		} else if (managesieve_parse(copy, used, &msl_limits, sasl, &ml->cmd, &used) !=
		    MS_PARSE_DONE) {
			panic("managesieve-login: a parsed line does not parse again");
		} else if (sasl) {
			sasl_response(c, ml, ml->cmd.args[0].p, ml->cmd.args[0].len);
		} else {
			command(c, ml, &ml->cmd);
		}
		secret_wipe(copy, used);
		free(copy);
		secret_wipe(&ml->cmd, sizeof(ml->cmd));
	}
}

static void
ms_login_tls_started(struct lconn *c)
{
	struct ms_login *ml = c->pstate;

	sasl_done(c, ml);
}

/* RFC 5804 §2.2: the capabilities again, unasked, once TLS is up. */
static void
ms_login_after_tls(struct lconn *c)
{
	send_capabilities(c, "TLS negotiation successful.");
}

static void
ms_login_auth_failed(struct lconn *c, uint32_t status)
{
	struct ms_login *ml = c->pstate;

	if (ml->sasl == MSL_SASL_OAUTH && status == IPC_AUTH_FAIL) {
		/* RFC 7628 §3.2.2: the error status as a challenge (RFC 5804 §2.1), then NO */
		ml->sasl = MSL_SASL_OAUTH_FAILED;
		c->state = LC_SASL;
		lconn_printf(c, "\"%s\"\r\n", loauth_error_challenge());
		return;
	}
	if (ml->sasl == MSL_SASL_OAUTH || ml->sasl >= MSL_SASL_SCRAM_FIRST)
		sasl_done(c, ml);	/* an OAuth or SCRAM exchange ends here */
	switch (status) {
	case IPC_AUTH_FAIL:
		auth_fail_reply(c);
		break;
	case IPC_AUTH_LIMIT:
		lconn_printf(c, "NO (TRYLATER) \"Too many connections for this user from this "
		    "address.\"\r\n");
		break;
	default:
		lconn_printf(c, "NO (TRYLATER) \"Temporary authentication failure.\"\r\n");
		break;
	}
}

static void
ms_login_scram_params(struct lconn *c, uint32_t status, const unsigned char *salt,
    size_t salt_len, uint32_t iter)
{
	struct ms_login *ml = c->pstate;
	struct buf b;

	buf_init(&b, 1024);
	if (status == IPC_AUTH_OK && ml->scram != NULL &&
	    lscram_server_first(ml->scram, salt, salt_len, iter, &b) == 0) {
		ml->sasl = MSL_SASL_SCRAM_FINAL;
		lconn_printf(c, "\"%s\"\r\n", buf_cstr(&b));
	} else {
		c->state = LC_CMD;
		ms_login_auth_failed(c, status == IPC_AUTH_OK ? IPC_AUTH_TEMPFAIL : status);
	}
	buf_deinit(&b);
}

static void
ms_login_scram_success(struct lconn *c, const unsigned char *sig, size_t len)
{
	struct ms_login *ml = c->pstate;
	struct buf b;

	/* server-final as a last challenge, answered with an empty string (RFC 4422 §5) */
	buf_init(&b, 1024);
	if (lscram_server_final(sig, len, &b) < 0)
		abort();
	ml->sasl = MSL_SASL_SCRAM_DONE;
	lconn_printf(c, "\"%s\"\r\n", buf_cstr(&b));
	buf_deinit(&b);
}

static void
ms_login_timeout(struct lconn *c)
{
	lconn_printf(c, "BYE \"Disconnected for inactivity.\"\r\n");
}

static void
ms_login_kicked(struct lconn *c)
{
	lconn_printf(c, "BYE (TRYLATER) \"Too many connections, try again later.\"\r\n");
}

const struct login_proto_ops managesieve_login_ops = {
	.name = "managesieve",
	.ipc_proto = IPC_PROTO_MANAGESIEVE,
	.alpn = "managesieve",
	.create = ms_login_create,
	.destroy = ms_login_destroy,
	.greet = ms_login_greet,
	.input = ms_login_input,
	.tls_started = ms_login_tls_started,
	.after_tls = ms_login_after_tls,
	.auth_failed = ms_login_auth_failed,
	.timeout = ms_login_timeout,
	.kicked = ms_login_kicked,
	.scram_params = ms_login_scram_params,
	.scram_success = ms_login_scram_success,
};
