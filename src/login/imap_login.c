/*
 * imap_login.c — IMAP before login, in the login process: CAPABILITY, NOOP, LOGOUT, ID,
 * STARTTLS, LOGIN and AUTHENTICATE (PLAIN, LOGIN, SCRAM, OAUTHBEARER, XOAUTH2, SASL-IR).
 * Runs unprivileged and chrooted; parses attacker bytes with the pre-auth limits of
 * src/proto/imap_parser.
 * Passwords are copied once into the IPC message to the master and wiped.
 */
#include "login/login_private.h"
#include "lib/log.h"
#include "proto/imap_parser.h"
#include "proto/sasl.h"
#include "lib/buf.h"

enum imap_sasl_step {
	SASL_NONE, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS,
	SASL_SCRAM_FIRST,	/* waiting for the client-first-message */
	SASL_SCRAM_FINAL,	/* waiting for the client-final-message */
	SASL_SCRAM_DONE,	/* server-final sent: waiting for the empty response */
	SASL_OAUTH,		/* OAUTHBEARER/XOAUTH2: waiting for the message, then auth */
	SASL_OAUTH_FAILED,	/* error challenge sent: waiting for the client's %x01 */
};

#define IS_SCRAM(s)	((s) >= SASL_SCRAM_FIRST && (s) <= SASL_SCRAM_DONE)

struct imap_login {
	struct imap_parser *parser;
	enum imap_sasl_step sasl;
	char *sasl_user;	/* LOGIN mechanism: user name until the password comes */
	struct lscram *scram;	/* SCRAM mechanisms: the exchange */
	int oauth;		/* SASL_MECH_OAUTHBEARER or _XOAUTH2 while SASL_OAUTH* */
};

static struct imap_parser *
new_parser(void)
{
	struct imap_parser_limits lim;

	imap_parser_limits_default(&lim, false);
	/* UTF-8 user names and passwords in LOGIN's quoted strings (RFC 6855 §5) */
	return imap_parser_create(&lim, IMAP_PARSER_FLAG_UTF8);
}

static void *
imap_login_create(struct lconn *c)
{
	struct imap_login *il = xcalloc(1, sizeof(*il));

	il->parser = new_parser();
	return il;
}

static void
forget_sasl_user(struct imap_login *il)
{
	if (il->sasl_user != NULL) {
		secret_wipe(il->sasl_user, strlen(il->sasl_user));
		free(il->sasl_user);
		il->sasl_user = NULL;
	}
}

static void
imap_login_destroy(struct lconn *c, void *state)
{
	struct imap_login *il = state;

	imap_parser_destroy(&il->parser);
	forget_sasl_user(il);
	lscram_destroy(&il->scram);
	free(il);
}

static void
capability(struct lconn *c, struct buf *b)
{
	(void)buf_append_str(b, "IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL-");
	if (lconn_starttls_available(c))
		(void)buf_append_str(b, " STARTTLS");
	if (lconn_cleartext_ok(c)) {
		(void)buf_append_str(b, " AUTH=PLAIN AUTH=LOGIN");
		lscram_capabilities(c, b, " AUTH=");
		loauth_capabilities(c, b, " AUTH=");
	} else
		(void)buf_append_str(b, " LOGINDISABLED");
}

static void
imap_login_greet(struct lconn *c)
{
	struct buf b;

	buf_init(&b, 1024);
	capability(c, &b);
	lconn_printf(c, "* OK [CAPABILITY %s] buzon ready.\r\n", buf_cstr(&b));
	buf_deinit(&b);
}

static void
reply_bad(struct lconn *c, const char *tag, const char *text)
{
	if (tag != NULL)
		lconn_printf(c, "%s BAD %s\r\n", tag, text);
	else
		lconn_printf(c, "* BAD %s\r\n", text);
	if (++c->bad >= LOGIN_MAX_BAD) {
		lconn_printf(c, "* BYE Too many invalid commands.\r\n");
		lconn_close_after(c);
	}
}

static void
sasl_done(struct lconn *c, struct imap_login *il)
{
	il->sasl = SASL_NONE;
	forget_sasl_user(il);
	lscram_destroy(&il->scram);
	if (c->state == LC_SASL)
		c->state = LC_CMD;
}

static void
sasl_plain(struct lconn *c, struct imap_login *il, const char *line, size_t len)
{
	struct sasl_plain sp;
	const char *err;
	enum sasl_response r = sasl_plain_decode(line, len, &sp, &err);

	sasl_done(c, il);
	if (r == SASL_RESPONSE_CANCEL) {
		lconn_printf(c, "%s BAD Authentication aborted by client.\r\n", c->tag);
	} else if (r != SASL_RESPONSE_OK) {
		lconn_printf(c, "%s BAD Invalid AUTHENTICATE response.\r\n", c->tag);
	} else if (sp.authzid_len != 0 && (sp.authzid_len != sp.authcid_len ||
	    memcmp(sp.authzid, sp.authcid, sp.authcid_len) != 0)) {
		/* no master users: acting as someone else is refused (docs/security.md) */
		lconn_printf(c, "%s NO [AUTHORIZATIONFAILED] Authorization failed.\r\n", c->tag);
	} else {
		lconn_send_auth(c, c->tag, "PLAIN", sp.authcid, sp.authcid_len, sp.passwd,
		    sp.passwd_len);
	}
	sasl_plain_wipe(&sp);
}

/* A SCRAM exchange that failed before auth judged a proof: no password was tried. */
static void
scram_failed(struct lconn *c, struct imap_login *il, const char *err)
{
	sasl_done(c, il);
	lconn_printf(c, "%s NO [AUTHENTICATIONFAILED] %s.\r\n", c->tag, err);
	if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
		lconn_printf(c, "* BYE Too many invalid authentication attempts.\r\n");
		lconn_close_after(c);
	}
}

static void
sasl_scram(struct lconn *c, struct imap_login *il, const char *line, size_t len)
{
	unsigned char *msg = xmalloc(SASL_MAX_BUF);
	const char *err = NULL;
	size_t n, ulen;
	const char *user;
	enum sasl_response r = sasl_decode_response(line, len, msg, SASL_MAX_BUF, &n, &err);

	if (r == SASL_RESPONSE_CANCEL) {
		sasl_done(c, il);
		lconn_printf(c, "%s BAD Authentication aborted by client.\r\n", c->tag);
	} else if (r != SASL_RESPONSE_OK) {
		sasl_done(c, il);
		lconn_printf(c, "%s BAD Invalid AUTHENTICATE response.\r\n", c->tag);
	} else if (il->sasl == SASL_SCRAM_FIRST) {
		if (lscram_client_first(c, il->scram, msg, n, &err) < 0) {
			scram_failed(c, il, err);
		} else {
			user = lscram_user(il->scram, &ulen);
			lconn_send_scram(c, lscram_mech(il->scram), user, ulen);
		}
	} else if (il->sasl == SASL_SCRAM_FINAL) {
		/* on success the answer comes through imap_login_scram_success */
		if (lscram_client_final(c, il->scram, msg, n, c->tag, &err) < 0)
			scram_failed(c, il, err);
	} else if (n == 0) {
		/* SASL_SCRAM_DONE: the client accepted our ServerSignature */
		lconn_login_finish(c);
	} else {
		lconn_printf(c, "* BYE Unexpected SCRAM response.\r\n");
		lconn_close_after(c);
	}
	secret_wipe(msg, SASL_MAX_BUF);
	free(msg);
}

static void
auth_fail_reply(struct lconn *c)
{
	lconn_printf(c, "%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", c->tag);
	if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
		lconn_printf(c, "* BYE Too many invalid authentication attempts.\r\n");
		lconn_close_after(c);
	}
}

static void
sasl_oauth(struct lconn *c, struct imap_login *il, const char *line, size_t len)
{
	const char *err = NULL;
	int r;

	if (il->sasl == SASL_OAUTH_FAILED) {
		/* RFC 7628 §3.2.2: whatever the client answers, the exchange fails */
		sasl_done(c, il);
		auth_fail_reply(c);
		return;
	}
	r = loauth_response(c, il->oauth, line, len, c->tag, &err);
	if (r == 0) {
		sasl_done(c, il);
		lconn_printf(c, "%s BAD Authentication aborted by client.\r\n", c->tag);
	} else if (r < 0) {
		scram_failed(c, il, err);
	}
	/* sent: the answer comes through imap_login_auth_failed or a login */
}

static void
sasl_line(struct lconn *c, struct imap_login *il, const char *line, size_t len)
{
	char out[SASL_MAX_PASSWORD + 1];
	const char *err;
	size_t olen = 0;
	enum sasl_response r;

	if (il->sasl == SASL_PLAIN) {
		sasl_plain(c, il, line, len);
		return;
	}
	if (IS_SCRAM(il->sasl)) {
		sasl_scram(c, il, line, len);
		return;
	}
	if (il->sasl == SASL_OAUTH || il->sasl == SASL_OAUTH_FAILED) {
		sasl_oauth(c, il, line, len);
		return;
	}
	r = sasl_login_decode(line, len, out, il->sasl == SASL_LOGIN_USER ?
	    SASL_MAX_USER + 1 : SASL_MAX_PASSWORD + 1, &olen, &err);
	if (r != SASL_RESPONSE_OK) {
		lconn_printf(c, "%s BAD %s\r\n", c->tag, r == SASL_RESPONSE_CANCEL ?
		    "Authentication aborted by client." : "Invalid AUTHENTICATE response.");
		sasl_done(c, il);
	} else if (il->sasl == SASL_LOGIN_USER) {
		il->sasl_user = xstrndup(out, olen);
		il->sasl = SASL_LOGIN_PASS;
		c->state = LC_SASL;
		lconn_printf(c, "+ UGFzc3dvcmQ6\r\n");
	} else {
		char *user = il->sasl_user;

		il->sasl_user = NULL;
		sasl_done(c, il);
		lconn_send_auth(c, c->tag, "LOGIN", user, strlen(user), out, olen);
		secret_wipe(user, strlen(user));
		free(user);
	}
	secret_wipe(out, sizeof(out));
}

static void
cmd_authenticate(struct lconn *c, struct imap_login *il, const struct imap_arg *args,
    unsigned argc)
{
	const char *mech, *ir = NULL;
	size_t mlen, irlen = 0;
	int oauth;

	if (argc < 1 || argc > 2 || !imap_arg_get_astring(&args[0], &mech, &mlen) ||
	    (argc == 2 && !imap_arg_get_astring(&args[1], &ir, &irlen))) {
		reply_bad(c, c->tag, "Invalid AUTHENTICATE arguments.");
		return;
	}
	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, "%s NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
		    "on non-secure (SSL/TLS) connections.\r\n", c->tag);
		return;
	}
	if (mem_ieq(mech, mlen, "PLAIN"))
		il->sasl = SASL_PLAIN;
	else if (mem_ieq(mech, mlen, "LOGIN"))
		il->sasl = SASL_LOGIN_USER;
	else if ((oauth = loauth_mech(c, mech, mlen)) != SASL_MECH_UNKNOWN) {
		il->sasl = SASL_OAUTH;
		il->oauth = oauth;
	} else if ((il->scram = lscram_create(c, mech, mlen)) != NULL &&
	    (c->tls || !lscram_plus(il->scram)))
		il->sasl = SASL_SCRAM_FIRST;
	else {
		lscram_destroy(&il->scram);
		lconn_printf(c, "%s NO Unsupported authentication mechanism.\r\n", c->tag);
		return;
	}
	c->state = LC_SASL;
	if (ir != NULL) {
		/* RFC 4959 SASL-IR: the initial response is the first line */
		char *copy = xstrndup(ir, irlen);

		sasl_line(c, il, copy, irlen);
		secret_wipe(copy, irlen);
		free(copy);
	} else {
		lconn_printf(c, il->sasl == SASL_LOGIN_USER ? "+ VXNlcm5hbWU6\r\n" : "+ \r\n");
	}
}

static void
cmd_login(struct lconn *c, const struct imap_arg *args, unsigned argc)
{
	const char *user, *pass;
	size_t ulen, plen;
	char *pcopy;

	if (argc != 2 || !imap_arg_get_astring(&args[0], &user, &ulen) ||
	    !imap_arg_get_astring(&args[1], &pass, &plen)) {
		reply_bad(c, c->tag, "Invalid LOGIN arguments.");
		return;
	}
	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, "%s NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
		    "on non-secure (SSL/TLS) connections.\r\n", c->tag);
		return;
	}
	if (ulen > SASL_MAX_USER || plen > SASL_MAX_PASSWORD) {
		lconn_printf(c, "%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", c->tag);
		return;
	}
	pcopy = xstrndup(pass, plen);
	secret_wipe((char *)pass, plen);	/* the parser's copy */
	lconn_send_auth(c, c->tag, "LOGIN", user, ulen, pcopy, plen);
	free(pcopy);
}

/* Post-login commands a real client may send too early: answered with its tag. */
static bool
known_command(const char *cmd)
{
	static const char *const known[] = { "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME",
	    "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "CHECK", "CLOSE",
	    "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID", "IDLE", "ENABLE",
	    "NAMESPACE", "UNSELECT", "GETQUOTAROOT", "GETQUOTA", "COMPRESS", "XLIST" };

	for (size_t i = 0; i < N_ELEMENTS(known); i++)
		if (str_ieq(cmd, known[i]))
			return true;
	return false;
}

static void
command(struct lconn *c, struct imap_login *il)
{
	const char *cmd = imap_parser_command(il->parser);
	unsigned argc;
	const struct imap_arg *args = imap_parser_args(il->parser, &argc);

	snprintf(c->tag, sizeof(c->tag), "%s", imap_parser_tag(il->parser));
	if (str_ieq(cmd, "CAPABILITY") && argc == 0) {
		struct buf b;

		buf_init(&b, 1024);
		capability(c, &b);
		lconn_printf(c, "* CAPABILITY %s\r\n%s OK Pre-login capabilities listed, "
		    "post-login capabilities have more.\r\n", buf_cstr(&b), c->tag);
		buf_deinit(&b);
	} else if (str_ieq(cmd, "NOOP") && argc == 0) {
		lconn_printf(c, "%s OK NOOP completed.\r\n", c->tag);
	} else if (str_ieq(cmd, "LOGOUT") && argc == 0) {
		lconn_printf(c, "* BYE Logging out\r\n%s OK Logout completed.\r\n", c->tag);
		lconn_close_after(c);
	} else if (str_ieq(cmd, "ID")) {
		/* RFC 2971: the client's values are neither logged unsanitised nor echoed */
		lconn_printf(c, "* ID (\"name\" \"buzon\")\r\n%s OK ID completed.\r\n", c->tag);
	} else if (str_ieq(cmd, "STARTTLS") && argc == 0) {
		if (c->tls) {
			reply_bad(c, c->tag, "TLS is already active.");
		} else if (!lconn_starttls_available(c)) {
			reply_bad(c, c->tag, "TLS support isn't enabled.");
		} else {
			lconn_printf(c, "%s OK Begin TLS negotiation now.\r\n", c->tag);
			lconn_starttls(c);
		}
	} else if (str_ieq(cmd, "LOGIN")) {
		cmd_login(c, args, argc);
	} else if (str_ieq(cmd, "AUTHENTICATE")) {
		cmd_authenticate(c, il, args, argc);
	} else if (str_ieq(cmd, "CAPABILITY") || str_ieq(cmd, "NOOP") ||
	    str_ieq(cmd, "LOGOUT") || str_ieq(cmd, "STARTTLS")) {
		/* a command we know, with arguments it does not take: tagged BAD */
		reply_bad(c, c->tag, "Unexpected arguments.");
	} else if (known_command(cmd)) {
		reply_bad(c, c->tag, "Command not allowed before authentication.");
	} else {
		/* what is not IMAP gets no echo, not even the tag (docs/security.md, ALPACA) */
		reply_bad(c, NULL, "Unknown command.");
	}
}

static void
imap_login_input(struct lconn *c, struct evbuffer *in)
{
	struct imap_login *il = c->pstate;

	while (c->state == LC_CMD || c->state == LC_SASL) {
		size_t len = evbuffer_get_length(in), used = 0;
		enum imap_parse_result r;
		const char *text;
		unsigned char *data;

		if (len == 0 || lconn_output_full(c))
			return;
		if (c->state == LC_SASL) {
			size_t n;
			char *line = lconn_sasl_line(c, in, &n,
			    "* BYE Authentication response too long.");

			if (line == NULL)
				return;
			sasl_line(c, il, line, n);
			secret_wipe(line, n);
			free(line);
			continue;
		}
		data = evbuffer_pullup(in, -1);
		r = imap_parser_feed(il->parser, data, len, &used);
		evbuffer_drain(in, used);
		switch (r) {
		case IMAP_PARSE_MORE:
			return;
		case IMAP_PARSE_LITERAL_CONT:
			lconn_printf(c, "+ OK\r\n");
			continue;
		case IMAP_PARSE_DONE:
			command(c, il);
			imap_parser_reset(il->parser);
			break;
		case IMAP_PARSE_LITERAL_STREAM:	/* APPEND before login */
		case IMAP_PARSE_ERROR:
			switch (imap_parser_error(il->parser, &text)) {
			case IMAP_PARSE_ERROR_FATAL:
				lconn_printf(c, "* BYE %s\r\n", text);
				lconn_close_after(c);
				return;
			case IMAP_PARSE_ERROR_TOOBIG:
				lconn_printf(c, "%s NO [TOOBIG] %s\r\n", imap_parser_tag(il->parser),
				    text);
				break;
			default:
				if (r == IMAP_PARSE_LITERAL_STREAM) {
					lconn_printf(c, "* BYE Command not allowed before authentication.\r\n");
					lconn_close_after(c);
					return;
				}
				reply_bad(c, imap_parser_tag(il->parser), text);
				break;
			}
			imap_parser_reset(il->parser);
			break;
		}
	}
}

static void
imap_login_tls_started(struct lconn *c)
{
	struct imap_login *il = c->pstate;

	imap_parser_destroy(&il->parser);
	il->parser = new_parser();
	sasl_done(c, il);
}

static void
imap_login_auth_failed(struct lconn *c, uint32_t status)
{
	struct imap_login *il = c->pstate;

	if (il->sasl == SASL_OAUTH && status == IPC_AUTH_FAIL) {
		/* RFC 7628 §3.2.2: the error status as a challenge, then the failure */
		il->sasl = SASL_OAUTH_FAILED;
		c->state = LC_SASL;
		lconn_printf(c, "+ %s\r\n", loauth_error_challenge());
		return;
	}
	if (IS_SCRAM(il->sasl) || il->sasl == SASL_OAUTH)
		sasl_done(c, il);	/* a SCRAM or OAuth exchange ends here */
	switch (status) {
	case IPC_AUTH_FAIL:
		auth_fail_reply(c);
		break;
	case IPC_AUTH_LIMIT:
		lconn_printf(c, "%s NO [LIMIT] Too many connections for this user from this "
		    "address.\r\n", c->tag);
		break;
	default:
		lconn_printf(c, "%s NO [UNAVAILABLE] Temporary authentication failure.\r\n",
		    c->tag);
		break;
	}
}

static void
imap_login_scram_params(struct lconn *c, uint32_t status, const unsigned char *salt,
    size_t salt_len, uint32_t iter)
{
	struct imap_login *il = c->pstate;
	struct buf b;

	buf_init(&b, 1024);
	if (status == IPC_AUTH_OK && il->scram != NULL &&
	    lscram_server_first(il->scram, salt, salt_len, iter, &b) == 0) {
		il->sasl = SASL_SCRAM_FINAL;
		lconn_printf(c, "+ %s\r\n", buf_cstr(&b));
	} else {
		sasl_done(c, il);
		c->state = LC_CMD;
		imap_login_auth_failed(c, status == IPC_AUTH_OK ? IPC_AUTH_TEMPFAIL : status);
	}
	buf_deinit(&b);
}

static void
imap_login_scram_success(struct lconn *c, const unsigned char *sig, size_t len)
{
	struct imap_login *il = c->pstate;
	struct buf b;

	/* RFC 4422 §5: IMAP has no success data, so server-final is a last challenge */
	buf_init(&b, 1024);
	if (lscram_server_final(sig, len, &b) < 0)
		abort();
	il->sasl = SASL_SCRAM_DONE;
	lconn_printf(c, "+ %s\r\n", buf_cstr(&b));
	buf_deinit(&b);
}

static void
imap_login_timeout(struct lconn *c)
{
	lconn_printf(c, "* BYE Disconnected for inactivity.\r\n");
}

static void
imap_login_kicked(struct lconn *c)
{
	lconn_printf(c, "* BYE [UNAVAILABLE] Too many connections, try again later.\r\n");
}

const struct login_proto_ops imap_login_ops = {
	.name = "imap",
	.ipc_proto = IPC_PROTO_IMAP,
	.alpn = "imap",
	.create = imap_login_create,
	.destroy = imap_login_destroy,
	.greet = imap_login_greet,
	.input = imap_login_input,
	.tls_started = imap_login_tls_started,
	.auth_failed = imap_login_auth_failed,
	.timeout = imap_login_timeout,
	.kicked = imap_login_kicked,
	.scram_params = imap_login_scram_params,
	.scram_success = imap_login_scram_success,
};
