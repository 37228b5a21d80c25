/*
 * pop3_login.c — POP3 before login, in the login process: CAPA (RFC 2449), STLS
 * (RFC 2595), USER/PASS (RFC 1939), AUTH PLAIN/LOGIN with initial response (RFC 5034)
 * and QUIT. Runs unprivileged and chrooted; parses attacker bytes with the 255-octet
 * line limit of src/proto/pop3_cmd (SASL response lines: the SASL limit). Passwords are
 * copied once into the IPC message to the master and wiped; USER answers +OK for any
 * name (no user enumeration: docs/security.md, Decisions).
 */
#include "login/login_private.h"
#include "lib/log.h"
#include "proto/pop3_cmd.h"
#include "proto/sasl.h"
#include "lib/buf.h"

enum pop3_sasl_step {
	P3_SASL_NONE, P3_SASL_PLAIN, P3_SASL_LOGIN_USER, P3_SASL_LOGIN_PASS,
	P3_SASL_SCRAM_FIRST, P3_SASL_SCRAM_FINAL, P3_SASL_SCRAM_DONE,	/* as in imap_login.c */
	P3_SASL_OAUTH, P3_SASL_OAUTH_FAILED,				/* as in imap_login.c */
};

#define IS_SCRAM(s)	((s) >= P3_SASL_SCRAM_FIRST && (s) <= P3_SASL_SCRAM_DONE)

struct pop3_login {
	struct pop3_cmd_parser parser;
	enum pop3_sasl_step sasl;
	char *user;		/* USER name until PASS, or the LOGIN mechanism's user name */
	struct lscram *scram;	/* SCRAM mechanisms: the exchange */
	int oauth;		/* SASL_MECH_OAUTHBEARER or _XOAUTH2 while P3_SASL_OAUTH* */
};

#define PLAINTEXT_REFUSED "-ERR [AUTH] Plaintext authentication disallowed on " \
	"non-secure (SSL/TLS) connections.\r\n"

static void *
pop3_login_create(struct lconn *c)
{
	struct pop3_login *pl = xcalloc(1, sizeof(*pl));

	pop3_cmd_parser_init(&pl->parser, POP3_LINE_MAX);
	return pl;
}

static void
forget_user(struct pop3_login *pl)
{
	if (pl->user != NULL) {
		secret_wipe(pl->user, strlen(pl->user));
		free(pl->user);
		pl->user = NULL;
	}
}

static void
pop3_login_destroy(struct lconn *c, void *state)
{
	struct pop3_login *pl = state;

	forget_user(pl);
	lscram_destroy(&pl->scram);
	free(pl);
}

static void
pop3_login_greet(struct lconn *c)
{
	lconn_printf(c, "+OK buzon ready.\r\n");
}

static void
reply_bad(struct lconn *c, const char *text)
{
	lconn_printf(c, "-ERR %s\r\n", text);
	if (++c->bad >= LOGIN_MAX_BAD) {
		/* not speaking POP3: dropped quickly (docs/security.md, Decisions: ALPACA) */
		lconn_printf(c, "-ERR Too many invalid commands.\r\n");
		lconn_close_after(c);
	}
}

static void
cmd_capa(struct lconn *c)
{
	struct buf b;

	buf_init(&b, 1024);
	(void)buf_append_str(&b, "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	    "AUTH-RESP-CODE\r\n");
	if (lconn_starttls_available(c))
		(void)buf_append_str(&b, "STLS\r\n");
	/* RFC 2449 §6.8/§6.9: advertise only what is usable on this connection */
	if (lconn_cleartext_ok(c)) {
		(void)buf_append_str(&b, "USER\r\nSASL PLAIN LOGIN");
		lscram_capabilities(c, &b, " ");
		loauth_capabilities(c, &b, " ");
		(void)buf_append_str(&b, "\r\n");
	}
	(void)buf_append_str(&b, "IMPLEMENTATION buzon\r\n.\r\n");
	lconn_printf(c, "%s", buf_cstr(&b));
	buf_deinit(&b);
}

static void
sasl_done(struct lconn *c, struct pop3_login *pl)
{
	pl->sasl = P3_SASL_NONE;
	forget_user(pl);
	lscram_destroy(&pl->scram);
	if (c->state == LC_SASL)
		c->state = LC_CMD;
}

static void
sasl_plain(struct lconn *c, struct pop3_login *pl, const char *line, size_t len)
{
	struct sasl_plain sp;
	const char *err;
	enum sasl_response r = sasl_plain_decode(line, len, &sp, &err);

	sasl_done(c, pl);
	if (r == SASL_RESPONSE_CANCEL) {
		lconn_printf(c, "-ERR Authentication aborted by client.\r\n");
	} else if (r != SASL_RESPONSE_OK) {
		reply_bad(c, "Invalid AUTH response.");
	} else if (sp.authzid_len != 0 && (sp.authzid_len != sp.authcid_len ||
	    memcmp(sp.authzid, sp.authcid, sp.authcid_len) != 0)) {
		/* no master users: acting as someone else is refused (docs/security.md) */
		lconn_printf(c, "-ERR [AUTH] Authorization failed.\r\n");
	} else {
		lconn_send_auth(c, "", "PLAIN", sp.authcid, sp.authcid_len, sp.passwd,
		    sp.passwd_len);
	}
	sasl_plain_wipe(&sp);
}

/* A SCRAM exchange that failed before auth judged a proof: no password was tried. */
static void
scram_failed(struct lconn *c, struct pop3_login *pl, const char *err)
{
	sasl_done(c, pl);
	lconn_printf(c, "-ERR [AUTH] %s.\r\n", err);
	if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
		lconn_printf(c, "-ERR Too many invalid authentication attempts.\r\n");
		lconn_close_after(c);
	}
}

static void
sasl_scram(struct lconn *c, struct pop3_login *pl, const char *line, size_t len)
{
	unsigned char *msg = xmalloc(SASL_MAX_BUF);
	const char *err = NULL, *user;
	size_t n, ulen;
	enum sasl_response r = sasl_decode_response(line, len, msg, SASL_MAX_BUF, &n, &err);

	if (r == SASL_RESPONSE_CANCEL) {
		sasl_done(c, pl);
		lconn_printf(c, "-ERR Authentication aborted by client.\r\n");
	} else if (r != SASL_RESPONSE_OK) {
		sasl_done(c, pl);
		lconn_printf(c, "-ERR Invalid AUTH response.\r\n");
	} else if (pl->sasl == P3_SASL_SCRAM_FIRST) {
		if (lscram_client_first(c, pl->scram, msg, n, &err) < 0) {
			scram_failed(c, pl, err);
		} else {
			user = lscram_user(pl->scram, &ulen);
			lconn_send_scram(c, lscram_mech(pl->scram), user, ulen);
		}
	} else if (pl->sasl == P3_SASL_SCRAM_FINAL) {
		if (lscram_client_final(c, pl->scram, msg, n, "", &err) < 0)
			scram_failed(c, pl, err);
	} else if (n == 0) {
		lconn_login_finish(c);
	} else {
		lconn_printf(c, "-ERR Unexpected SCRAM response.\r\n");
		lconn_close_after(c);
	}
	secret_wipe(msg, SASL_MAX_BUF);
	free(msg);
}

static void
auth_fail_reply(struct lconn *c)
{
	lconn_printf(c, "-ERR [AUTH] Authentication failed.\r\n");
	if (++c->auth_fails >= LOGIN_MAX_AUTH_FAILS) {
		lconn_printf(c, "-ERR Too many invalid authentication attempts.\r\n");
		lconn_close_after(c);
	}
}

static void
sasl_oauth(struct lconn *c, struct pop3_login *pl, const char *line, size_t len)
{
	const char *err = NULL;
	int r;

	if (pl->sasl == P3_SASL_OAUTH_FAILED) {
		/* RFC 7628 §3.2.2: whatever the client answers, the exchange fails */
		sasl_done(c, pl);
		auth_fail_reply(c);
		return;
	}
	r = loauth_response(c, pl->oauth, line, len, "", &err);
	if (r == 0) {
		sasl_done(c, pl);
		lconn_printf(c, "-ERR Authentication aborted by client.\r\n");
	} else if (r < 0) {
		scram_failed(c, pl, err);
	}
}

static void
sasl_line(struct lconn *c, struct pop3_login *pl, const char *line, size_t len)
{
	char out[SASL_MAX_PASSWORD + 1];
	const char *err;
	size_t olen = 0;
	enum sasl_response r;

	if (pl->sasl == P3_SASL_PLAIN) {
		sasl_plain(c, pl, line, len);
		return;
	}
	if (IS_SCRAM(pl->sasl)) {
		sasl_scram(c, pl, line, len);
		return;
	}
	if (pl->sasl == P3_SASL_OAUTH || pl->sasl == P3_SASL_OAUTH_FAILED) {
		sasl_oauth(c, pl, line, len);
		return;
	}
	r = sasl_login_decode(line, len, out, pl->sasl == P3_SASL_LOGIN_USER ?
	    SASL_MAX_USER + 1 : SASL_MAX_PASSWORD + 1, &olen, &err);
	if (r != SASL_RESPONSE_OK) {
		sasl_done(c, pl);
		if (r == SASL_RESPONSE_CANCEL)
			lconn_printf(c, "-ERR Authentication aborted by client.\r\n");
		else
			reply_bad(c, "Invalid AUTH response.");
	} else if (pl->sasl == P3_SASL_LOGIN_USER) {
		forget_user(pl);
		pl->user = xstrndup(out, olen);
		pl->sasl = P3_SASL_LOGIN_PASS;
		c->state = LC_SASL;
		lconn_printf(c, "+ UGFzc3dvcmQ6\r\n");
	} else {
		char *user = pl->user;

		pl->user = NULL;
		sasl_done(c, pl);
		lconn_send_auth(c, "", "LOGIN", user, strlen(user), out, olen);
		secret_wipe(user, strlen(user));
		free(user);
	}
	secret_wipe(out, sizeof(out));
}

static void
cmd_auth(struct lconn *c, struct pop3_login *pl, const struct pop3_cmd *cmd)
{
	const struct pop3_arg *mech = &cmd->args[0];
	int oauth;

	if (cmd->argc == 0) {
		/* the mechanism list, as Dovecot and most servers answer a bare AUTH */
		if (lconn_cleartext_ok(c)) {
			struct buf b;

			buf_init(&b, 256);
			lscram_capabilities(c, &b, "\r\n");
			loauth_capabilities(c, &b, "\r\n");
			lconn_printf(c, "+OK\r\nPLAIN\r\nLOGIN%s\r\n.\r\n", buf_cstr(&b));
			buf_deinit(&b);
		} else
			lconn_printf(c, "+OK\r\n.\r\n");
		return;
	}
	if (cmd->argc > 2) {
		reply_bad(c, "Invalid AUTH arguments.");
		return;
	}
	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, PLAINTEXT_REFUSED);
		return;
	}
	forget_user(pl);
	if (mem_ieq(mech->p, mech->len, "PLAIN"))
		pl->sasl = P3_SASL_PLAIN;
	else if (mem_ieq(mech->p, mech->len, "LOGIN"))
		pl->sasl = P3_SASL_LOGIN_USER;
	else if ((oauth = loauth_mech(c, mech->p, mech->len)) != SASL_MECH_UNKNOWN) {
		pl->sasl = P3_SASL_OAUTH;
		pl->oauth = oauth;
	} else if ((pl->scram = lscram_create(c, mech->p, mech->len)) != NULL &&
	    (c->tls || !lscram_plus(pl->scram)))
		pl->sasl = P3_SASL_SCRAM_FIRST;
	else {
		lscram_destroy(&pl->scram);
		lconn_printf(c, "-ERR Unsupported authentication mechanism.\r\n");
		return;
	}
	c->state = LC_SASL;
	if (cmd->argc == 2) {
		/* RFC 5034 §4: the initial response ("=" is an empty one) */
		char *copy = xstrndup(cmd->args[1].p, cmd->args[1].len);

		sasl_line(c, pl, copy, cmd->args[1].len);
		secret_wipe(copy, cmd->args[1].len);
		free(copy);
	} else {
		lconn_printf(c, pl->sasl == P3_SASL_LOGIN_USER ? "+ VXNlcm5hbWU6\r\n" : "+ \r\n");
	}
}

static void
cmd_user(struct lconn *c, struct pop3_login *pl, const struct pop3_cmd *cmd)
{
	if (cmd->argc != 1) {
		reply_bad(c, "Invalid USER arguments.");
		return;
	}
	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, PLAINTEXT_REFUSED);
		return;
	}
	forget_user(pl);
	if (cmd->args[0].len <= SASL_MAX_USER)
		pl->user = xstrndup(cmd->args[0].p, cmd->args[0].len);
	else
		pl->user = xstrdup("");	/* fails at PASS like any unknown name */
	/* the same answer for every name (docs/security.md, Decisions: user enumeration) */
	lconn_printf(c, "+OK\r\n");
}

static void
cmd_pass(struct lconn *c, struct pop3_login *pl, const struct pop3_cmd *cmd)
{
	char *user, *pass;
	size_t plen = cmd->rest.len;

	if (!lconn_cleartext_ok(c)) {
		lconn_printf(c, PLAINTEXT_REFUSED);
		return;
	}
	if (pl->user == NULL) {
		reply_bad(c, "No username given.");
		return;
	}
	if (plen == 0) {
		reply_bad(c, "Invalid PASS arguments.");
		return;
	}
	user = pl->user;
	pl->user = NULL;
	if (user[0] == '\0' || plen > SASL_MAX_PASSWORD) {
		free(user);
		c->ops->auth_failed(c, IPC_AUTH_FAIL);
		return;
	}
	/* RFC 1939 §7: the password is the rest of the line, spaces included */
	pass = xstrndup(cmd->rest.p, plen);
	secret_wipe((char *)cmd->rest.p, plen);	/* the input buffer's copy */
	lconn_send_auth(c, "", "USER", user, strlen(user), pass, plen);
	free(pass);
	secret_wipe(user, strlen(user));
	free(user);
}

static void
command(struct lconn *c, struct pop3_login *pl, const struct pop3_cmd *cmd)
{
	switch (cmd->id) {
	case POP3_CMD_CAPA:
		cmd_capa(c);
		break;
	case POP3_CMD_QUIT:
		lconn_printf(c, "+OK Logging out.\r\n");
		lconn_close_after(c);
		break;
	case POP3_CMD_STLS:
		if (c->tls) {
			reply_bad(c, "TLS is already active.");
		} else if (!lconn_starttls_available(c)) {
			reply_bad(c, "TLS support isn't enabled.");
		} else {
			lconn_printf(c, "+OK Begin TLS negotiation now.\r\n");
			lconn_starttls(c);
		}
		break;
	case POP3_CMD_USER:
		cmd_user(c, pl, cmd);
		break;
	case POP3_CMD_PASS:
		cmd_pass(c, pl, cmd);
		break;
	case POP3_CMD_AUTH:
		cmd_auth(c, pl, cmd);
		break;
	case POP3_CMD_APOP:
		reply_bad(c, "APOP is not supported.");
		break;
	case POP3_CMD_STAT: case POP3_CMD_LIST: case POP3_CMD_RETR: case POP3_CMD_DELE:
	case POP3_CMD_NOOP: case POP3_CMD_RSET: case POP3_CMD_TOP: case POP3_CMD_UIDL:
		reply_bad(c, "Command not allowed before authentication.");
		break;
	case POP3_CMD_UNKNOWN:
	default:
		/* nothing of the client's bytes is echoed (docs/security.md, ALPACA) */
		reply_bad(c, "Unknown command.");
		break;
	}
}

/* Point the parsed fields at a copy of the line (from old to new). */
static void
rebase(struct pop3_cmd *cmd, const unsigned char *old, char *new)
{
	struct pop3_arg *a[] = { &cmd->keyword, &cmd->args[0], &cmd->args[1], &cmd->rest };

	for (size_t i = 0; i < N_ELEMENTS(a); i++)
		if (a[i]->p != NULL)
			a[i]->p = new + (a[i]->p - (const char *)old);
}

static void
pop3_login_input(struct lconn *c, struct evbuffer *in)
{
	struct pop3_login *pl = c->pstate;

	while (c->state == LC_CMD || c->state == LC_SASL) {
		size_t len = evbuffer_get_length(in), used = 0;
		enum pop3_parse_result r;
		struct pop3_cmd cmd;
		unsigned char *data;

		if (len == 0 || lconn_output_full(c))
			return;
		if (c->state == LC_SASL) {
			size_t n;
			char *line = lconn_sasl_line(c, in, &n,
			    "-ERR Authentication response too long.");

			if (line == NULL)
				return;
			sasl_line(c, pl, line, n);
			secret_wipe(line, n);
			free(line);
			continue;
		}
		data = evbuffer_pullup(in, -1);
		r = pop3_cmd_parse(&pl->parser, data, len, &cmd, &used);
		if (r == POP3_PARSE_DONE) {
			/*
			 * Copy the line out and wipe it (it may hold a password), then drain it
			 * before acting: PASS/AUTH hand the bytes still buffered to the master.
			 */
			char line[POP3_LINE_MAX + 1];
			size_t start = (size_t)((const unsigned char *)cmd.keyword.p - data);
			size_t n = used - start;

			if (n > sizeof(line))
				panic("pop3-login: parsed line longer than the limit");
			memcpy(line, data + start, n);
			rebase(&cmd, data + start, line);
			secret_wipe(data + start, n);
			evbuffer_drain(in, used);
			command(c, pl, &cmd);
			secret_wipe(line, sizeof(line));
			continue;
		}
		evbuffer_drain(in, used);
		if (r == POP3_PARSE_ERROR)
			reply_bad(c, cmd.error == POP3_ERR_TOOLONG ? "Command line too long." :
			    cmd.error == POP3_ERR_NUL ? "Invalid command (NUL)." :
			    "Unknown command.");
		if (r == POP3_PARSE_MORE && used == 0)
			return;
	}
}

static void
pop3_login_tls_started(struct lconn *c)
{
	struct pop3_login *pl = c->pstate;

	/* RFC 2595 §4: forget everything learnt before TLS */
	pop3_cmd_parser_init(&pl->parser, POP3_LINE_MAX);
	sasl_done(c, pl);
}

static void
pop3_login_auth_failed(struct lconn *c, uint32_t status)
{
	struct pop3_login *pl = c->pstate;

	if (pl->sasl == P3_SASL_OAUTH && status == IPC_AUTH_FAIL) {
		/* RFC 7628 §3.2.2: the error status as a challenge, then the failure */
		pl->sasl = P3_SASL_OAUTH_FAILED;
		c->state = LC_SASL;
		lconn_printf(c, "+ %s\r\n", loauth_error_challenge());
		return;
	}
	if (IS_SCRAM(pl->sasl) || pl->sasl == P3_SASL_OAUTH)
		sasl_done(c, pl);	/* a SCRAM or OAuth exchange ends here */
	switch (status) {
	case IPC_AUTH_FAIL:
		auth_fail_reply(c);
		break;
	case IPC_AUTH_LIMIT:
		lconn_printf(c, "-ERR [IN-USE] Too many connections for this user from this "
		    "address.\r\n");
		break;
	default:
		lconn_printf(c, "-ERR [SYS/TEMP] Temporary authentication failure.\r\n");
		break;
	}
}

static void
pop3_login_scram_params(struct lconn *c, uint32_t status, const unsigned char *salt,
    size_t salt_len, uint32_t iter)
{
	struct pop3_login *pl = c->pstate;
	struct buf b;

	buf_init(&b, 1024);
	if (status == IPC_AUTH_OK && pl->scram != NULL &&
	    lscram_server_first(pl->scram, salt, salt_len, iter, &b) == 0) {
		pl->sasl = P3_SASL_SCRAM_FINAL;
		lconn_printf(c, "+ %s\r\n", buf_cstr(&b));
	} else {
		c->state = LC_CMD;
		pop3_login_auth_failed(c, status == IPC_AUTH_OK ? IPC_AUTH_TEMPFAIL : status);
	}
	buf_deinit(&b);
}

static void
pop3_login_scram_success(struct lconn *c, const unsigned char *sig, size_t len)
{
	struct pop3_login *pl = c->pstate;
	struct buf b;

	/* server-final as a last challenge (RFC 4422 §5), answered with an empty line */
	buf_init(&b, 1024);
	if (lscram_server_final(sig, len, &b) < 0)
		abort();
	pl->sasl = P3_SASL_SCRAM_DONE;
	lconn_printf(c, "+ %s\r\n", buf_cstr(&b));
	buf_deinit(&b);
}

static void
pop3_login_timeout(struct lconn *c)
{
	lconn_printf(c, "-ERR Disconnected for inactivity.\r\n");
}

static void
pop3_login_kicked(struct lconn *c)
{
	lconn_printf(c, "-ERR [SYS/TEMP] Too many connections, try again later.\r\n");
}

const struct login_proto_ops pop3_login_ops = {
	.name = "pop3",
	.ipc_proto = IPC_PROTO_POP3,
	.alpn = "pop3",
	.create = pop3_login_create,
	.destroy = pop3_login_destroy,
	.greet = pop3_login_greet,
	.input = pop3_login_input,
	.tls_started = pop3_login_tls_started,
	.auth_failed = pop3_login_auth_failed,
	.timeout = pop3_login_timeout,
	.kicked = pop3_login_kicked,
	.scram_params = pop3_login_scram_params,
	.scram_success = pop3_login_scram_success,
};
