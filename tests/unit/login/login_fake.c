/*
 * login_fake.c — fake plumbing for the login front ends (see login_fake.h): the
 * functions of login_private.h that login.c implements, over two evbuffers. Linked
 * instead of login.c into tests/unit/login/test_login and fuzz/login/fuzz_prelogin.
 * Where the front ends break the contract of login_private.h, the fake aborts, so a
 * test fails and the fuzzer reports a crash.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login_fake.h"
#include "lib/util.h"
#include "proto/sasl.h"

static struct login_fake *
fake_of(const struct lconn *c)
{
	return (struct login_fake *)(void *)(uintptr_t)c;	/* c is the first member */
}

static void
contract(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "login_fake: front end broke the contract: %s\n", what);
		abort();
	}
}

static bool
reading(const struct lconn *c)
{
	return c->state == LC_CMD || c->state == LC_SASL;
}

static size_t
unread(const struct login_fake *f)
{
	return evbuffer_get_length(f->out);
}

void
lconn_printf(struct lconn *c, const char *fmt, ...)
{
	struct login_fake *f = fake_of(c);
	va_list ap;
	int n;

	/* nothing is said while the master decides, or behind the OK to STARTTLS */
	contract(c->state != LC_AUTH_WAIT && c->state != LC_STARTTLS && c->state != LC_PROXY,
	    "output while waiting for the master or for the TLS switch");
	contract(c->state != LC_CLOSING, "output after lconn_close_after");
	va_start(ap, fmt);
	n = evbuffer_add_vprintf(f->out, fmt, ap);
	va_end(ap);
	contract(n >= 0, "evbuffer_add_vprintf failed");
	f->out_total += (size_t)n;
}

bool
lconn_output_full(const struct lconn *c)
{
	return unread(fake_of(c)) >= (conn_bounds(CONN_PRELOGIN)->output_high);
}

void
lconn_close_after(struct lconn *c)
{
	struct login_fake *f = fake_of(c);

	contract(c->state != LC_PROXY && c->state != LC_AUTH_WAIT, "close while handed over");
	c->state = LC_CLOSING;
	f->closes++;
}

bool
lconn_cleartext_ok(const struct lconn *c)
{
	return fake_of(c)->cleartext || c->tls;
}

bool
lconn_starttls_available(const struct lconn *c)
{
	return !c->tls && fake_of(c)->tls_configured;
}

void
lconn_starttls(struct lconn *c)
{
	struct login_fake *f = fake_of(c);
	size_t consumed = f->sent_len - evbuffer_get_length(f->in);

	contract(reading(c), "STARTTLS outside the command state");
	contract(lconn_starttls_available(c), "STARTTLS when not available");
	contract(consumed > 0 && f->sent[consumed - 1] == '\n',
	    "STARTTLS before its command line was consumed");
	c->state = LC_STARTTLS;
	f->starttls_calls++;
	f->starttls_pending = evbuffer_get_length(f->in);
}

void
lconn_send_auth(struct lconn *c, const char *tag, const char *mech, const char *user,
    size_t ulen, char *pass, size_t plen)
{
	struct login_fake *f = fake_of(c);
	size_t consumed = f->sent_len - evbuffer_get_length(f->in);

	f->auth_calls++;
	contract(reading(c), "credentials handed over outside the command/SASL state");
	contract(lconn_cleartext_ok(c), "credentials handed over where plaintext is refused");
	contract(c->auth_fails < LOGIN_MAX_AUTH_FAILS, "credentials after too many failures");
	contract(c->bad < LOGIN_MAX_BAD, "credentials after too many bad commands");
	/* the whole command line (or SASL line) is consumed: the rest is pipelined; JMAP
	 * leaves the authenticated request itself unread (docs/jmap.md), so what was
	 * consumed ends with the request before it */
	if (c->ops == &jmap_login_ops)
		contract(consumed == 0 || (consumed >= 4 &&
		    memcmp(f->sent + consumed - 4, "\r\n\r\n", 4) == 0),
		    "JMAP hand-over with part of a request consumed");
	else
		contract(consumed > 0 && f->sent[consumed - 1] == '\n',
		    "hand-over before the end of its line was consumed");
	contract(tag != NULL && mech != NULL && user != NULL && pass != NULL, "NULL argument");
	if (c->ops == &imap_login_ops)
		contract(tag[0] != '\0' && strcmp(tag, c->tag) == 0,
		    "IMAP hand-over without its tag");
	else
		contract(tag[0] == '\0', "POP3 hand-over with a tag");
	contract(strlen(tag) < sizeof(f->tag) && strlen(mech) < sizeof(f->mech), "tag or mech");
	/* the check of login.c: such a name cannot exist, a failed login */
	if ((ulen == 0 && !sasl_mech_is_oauth(mech)) || ulen > IPC_USER_MAX ||
	    memchr(user, '\0', ulen) != NULL || plen > sasl_mech_cred_max(mech)) {
		secret_wipe(pass, plen);
		f->invalid_names++;
		c->ops->auth_failed(c, IPC_AUTH_FAIL);
		return;
	}
	f->handovers++;
	f->waiting_scram = false;
	snprintf(f->tag, sizeof(f->tag), "%s", tag);
	snprintf(f->mech, sizeof(f->mech), "%s", mech);
	memcpy(f->user, user, ulen);
	f->user[ulen] = '\0';
	f->ulen = ulen;
	memcpy(f->pass, pass, plen);
	f->pass[plen] = '\0';
	f->plen = plen;
	f->consumed_at_auth = consumed;
	secret_wipe(pass, plen);
	c->state = LC_AUTH_WAIT;
}

enum config_cleartext
lconn_cleartext_policy(const struct lconn *c)
{
	return fake_of(c)->cleartext ? CLEARTEXT_YES : CLEARTEXT_LOOPBACK;
}

/* One more request with the master: the front end keeps them under the master's bound. */
static void
outstanding_add(struct login_fake *f, uint32_t req, bool scram)
{
	contract(f->noutstanding < IPC_VERIFY_MAX, "more requests in flight than the master "
	    "allows (it would kill the login process)");
	for (unsigned i = 0; i < f->noutstanding; i++)
		contract(f->outstanding[i] != req, "the same request id twice in flight");
	f->outstanding_scram[f->noutstanding] = scram;
	f->outstanding[f->noutstanding++] = req;
}

int
lconn_send_verify(struct lconn *c, uint32_t req, const char *mech, const char *ip,
    bool secured, const char *user, size_t ulen, char *pass, size_t plen, bool *temp_r)
{
	struct login_fake *f = fake_of(c);

	*temp_r = false;
	contract(c->ops == &auth_login_ops, "verify from another front end");
	contract(c->state == LC_CMD, "verify outside the command state");
	contract(mech != NULL && ip != NULL && user != NULL && pass != NULL, "NULL argument");
	contract(strlen(mech) < sizeof(f->mech) && strlen(ip) < sizeof(f->ip), "mech or ip");
	/* the check of login.c */
	if ((ulen == 0 && !sasl_mech_is_oauth(mech)) || ulen > IPC_USER_MAX ||
	    memchr(user, '\0', ulen) != NULL || plen > sasl_mech_cred_max(mech)) {
		secret_wipe(pass, plen);
		f->invalid_names++;
		return -1;
	}
	outstanding_add(f, req, false);
	f->verifies++;
	snprintf(f->mech, sizeof(f->mech), "%s", mech);
	snprintf(f->ip, sizeof(f->ip), "%s", ip);
	f->secured = secured;
	memcpy(f->user, user, ulen);
	f->user[ulen] = '\0';
	f->ulen = ulen;
	memcpy(f->pass, pass, plen);
	f->pass[plen] = '\0';
	f->plen = plen;
	secret_wipe(pass, plen);
	return 0;
}

int
lconn_send_lookup(struct lconn *c, uint32_t req, const char *address, size_t len)
{
	struct login_fake *f = fake_of(c);

	contract(c->ops == &socketmap_login_ops, "lookup from another front end");
	contract(c->state == LC_CMD, "lookup outside the command state");
	if (len > IPC_ADDR_MAX || memchr(address, '\0', len) != NULL)
		return -1;
	outstanding_add(f, req, false);
	f->lookups++;
	memcpy(f->address, address, len);
	f->address[len] = '\0';
	return 0;
}

int
lconn_send_quota(struct lconn *c, uint32_t req, const char *address, size_t len,
    uint64_t size)
{
	struct login_fake *f = fake_of(c);

	contract(c->ops == &quota_policy_login_ops, "quota check from another front end");
	contract(c->state == LC_CMD, "quota check outside the command state");
	if (len > IPC_ADDR_MAX || memchr(address, '\0', len) != NULL)
		return -1;
	outstanding_add(f, req, false);
	f->lookups++;
	f->size = size;
	memcpy(f->address, address, len);
	f->address[len] = '\0';
	return 0;
}

int
lconn_send_metrics(struct lconn *c)
{
	struct login_fake *f = fake_of(c);

	contract(c->ops == &metrics_login_ops, "metrics request from another front end");
	contract(c->state == LC_CMD, "metrics request outside the command state");
	contract(f->metrics_requests == 0, "a second metrics request on one connection");
	if (f->metrics_fail)
		return -1;
	f->metrics_requests++;
	return 0;
}

const struct metrics_extra *
lconn_metrics_extra(const struct lconn *c)
{
	static const struct metrics_extra x = { "0.0-test", 1, { "/etc/test.pem" },
		{ 1767225600 } };

	return &x;
}

void
login_fake_metrics(struct login_fake *f, const uint64_t *block)
{
	contract(f->metrics_requests == 1, "a snapshot nobody asked for");
	f->metrics_requests = 0;
	if (f->c.state == LC_CMD && f->c.ops->metrics != NULL)
		f->c.ops->metrics(&f->c, (const unsigned char *)block, METRICS_BLOCK_BYTES);
}

void
lconn_resume(struct lconn *c)
{
	login_fake_run(fake_of(c));
}

void
lconn_deadline(struct lconn *c, unsigned secs)
{
	contract(secs > 0, "a zero deadline");
	fake_of(c)->deadlines++;
}

int
lconn_send_scram_req(struct lconn *c, uint32_t req, const char *mech, const char *user,
    size_t ulen, bool *temp_r)
{
	struct login_fake *f = fake_of(c);

	*temp_r = false;
	contract(c->ops == &auth_login_ops, "per-request SCRAM from another front end");
	contract(c->state == LC_CMD, "SCRAM request outside the command state");
	contract(mech != NULL && user != NULL, "NULL argument");
	contract(strncmp(mech, "SCRAM-", 6) == 0 && strstr(mech, "-PLUS") == NULL,
	    "not a SCRAM mechanism the master takes from this socket");
	if (ulen == 0 || ulen > IPC_USER_MAX || memchr(user, '\0', ulen) != NULL) {
		f->invalid_names++;
		return -1;
	}
	outstanding_add(f, req, true);
	f->scram_waits++;
	memcpy(f->user, user, ulen);
	f->user[ulen] = '\0';
	f->ulen = ulen;
	return 0;
}

static void
outstanding_del(struct login_fake *f, uint32_t req, bool scram)
{
	unsigned i;

	for (i = 0; i < f->noutstanding && f->outstanding[i] != req; i++)
		;
	contract(i < f->noutstanding, "an answer to no request");
	contract(f->outstanding_scram[i] == scram, "a salt answer to a check, or the reverse");
	f->noutstanding--;
	f->outstanding[i] = f->outstanding[f->noutstanding];
	f->outstanding_scram[i] = f->outstanding_scram[f->noutstanding];
}

void
login_fake_verified(struct login_fake *f, uint32_t req, uint32_t status, const char *user)
{
	login_fake_verified_sig(f, req, status, user, NULL, 0);
}

void
login_fake_verified_sig(struct login_fake *f, uint32_t req, uint32_t status,
    const char *user, const unsigned char *sig, size_t sig_len)
{
	outstanding_del(f, req, false);
	/* login.c: gone or closing meanwhile, nobody to tell */
	if (f->c.state != LC_CMD)
		return;
	if (f->c.ops->verified_sig != NULL)
		f->c.ops->verified_sig(&f->c, req, status, user, sig, sig_len);
	else if (f->c.ops->verified != NULL)
		f->c.ops->verified(&f->c, req, status, user);
}

void
login_fake_scram_req_params(struct login_fake *f, uint32_t req, uint32_t status,
    const unsigned char *salt, size_t salt_len, uint32_t iter)
{
	outstanding_del(f, req, true);
	if (f->c.state == LC_CMD && f->c.ops->scram_req_params != NULL)
		f->c.ops->scram_req_params(&f->c, req, status, salt, salt_len, iter);
}

char *
lconn_sasl_line(struct lconn *c, struct evbuffer *in, size_t *len_r, const char *too_long)
{
	char *line;

	contract(c->state == LC_SASL, "SASL line outside LC_SASL");
	line = evbuffer_readln(in, len_r, EVBUFFER_EOL_CRLF);
	if (line == NULL && evbuffer_get_length(in) > SASL_MAX_LINE + 2) {
		lconn_printf(c, "%s\r\n", too_long);
		lconn_close_after(c);
	}
	return line;
}

void
login_fake_init(struct login_fake *f, const struct login_proto_ops *ops, bool cleartext,
    bool tls_configured, bool implicit_tls)
{
	memset(f, 0, sizeof(*f));
	f->c.ops = ops;
	f->c.fd = -1;
	f->c.proxy_fd = -1;
	f->c.tls = f->c.implicit_tls = implicit_tls;
	f->c.tls_ready = implicit_tls;
	f->c.state = LC_CMD;
	f->c.conn_id = 1;
	snprintf(f->c.ip, sizeof(f->c.ip), "192.0.2.1");
	f->cleartext = cleartext;
	f->tls_configured = tls_configured;
	f->in = evbuffer_new();
	f->out = evbuffer_new();
	if (f->in == NULL || f->out == NULL)
		abort();
	f->c.pstate = ops->create(&f->c);
	ops->greet(&f->c);
}

void
login_fake_deinit(struct login_fake *f)
{
	if (f->c.pstate != NULL)
		f->c.ops->destroy(&f->c, f->c.pstate);
	evbuffer_free(f->in);
	evbuffer_free(f->out);
	if (f->sent != NULL)
		secret_wipe(f->sent, f->sent_cap);
	free(f->sent);
	secret_wipe(f->pass, sizeof(f->pass));
	memset(f, 0, sizeof(*f));
}

void
login_fake_run(struct login_fake *f)
{
	struct lconn *c = &f->c;

	while (reading(c)) {
		size_t in_before = evbuffer_get_length(f->in), out_before = f->out_total;

		if (lconn_output_full(c)) {
			/* the client reads its replies; login.c resumes below half */
			evbuffer_drain(f->out, unread(f));
			continue;
		}
		c->ops->input(c, f->in);
		contract(c->state != LC_PROXY, "front end set LC_PROXY");
		if (c->state == LC_STARTTLS)
			contract(evbuffer_get_length(f->in) == f->starttls_pending,
			    "input consumed after STARTTLS");
		if (c->state == LC_CLOSING || c->state == LC_AUTH_WAIT ||
		    c->state == LC_STARTTLS)
			return;
		contract(c->bad < LOGIN_MAX_BAD, "reading on after too many bad commands");
		contract(c->auth_fails < LOGIN_MAX_AUTH_FAILS,
		    "reading on after too many failures");
		if (lconn_output_full(c))
			continue;
		/* nothing more can be done with what is buffered: wait for the client */
		if (evbuffer_get_length(f->in) == in_before && f->out_total == out_before)
			return;
		if (evbuffer_get_length(f->in) == 0)
			return;
	}
}

size_t
login_fake_send(struct login_fake *f, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t accepted = 0;

	while (accepted < len && reading(&f->c)) {
		size_t have = evbuffer_get_length(f->in), n;

		if (have >= LOGIN_INPUT_MAX)
			break;	/* the read watermark: the bytes stay in the socket */
		n = MIN(LOGIN_INPUT_MAX - have, len - accepted);
		if (f->sent_len + n > f->sent_cap) {
			size_t cap = MAX(f->sent_cap * 2, f->sent_len + n + 256);

			f->sent = xrealloc(f->sent, cap);
			f->sent_cap = cap;
		}
		memcpy(f->sent + f->sent_len, p + accepted, n);
		f->sent_len += n;
		if (evbuffer_add(f->in, p + accepted, n) < 0)
			abort();
		accepted += n;
		login_fake_run(f);
	}
	return accepted;
}

void
login_fake_auth_result(struct login_fake *f, uint32_t status)
{
	struct lconn *c = &f->c;

	contract(c->state == LC_AUTH_WAIT, "result without a hand-over");
	if (status == IPC_AUTH_OK) {
		/* the connection and what is pipelined are the mail process's now */
		c->state = LC_PROXY;
		return;
	}
	c->state = LC_CMD;
	c->ops->auth_failed(c, status);
	if (c->state == LC_CLOSING)
		return;
	login_fake_run(f);
}

void
login_fake_switch_tls(struct login_fake *f)
{
	struct lconn *c = &f->c;

	contract(c->state == LC_STARTTLS, "TLS switch without STARTTLS");
	/* RFC 3207 §4.2 / CVE-2011-0411: plaintext behind STARTTLS is dropped */
	evbuffer_drain(f->in, evbuffer_get_length(f->in));
	c->ops->tls_started(c);
	c->state = LC_CMD;
	c->bad = 0;
	c->tls = true;
	c->tls_ready = true;
	if (c->ops->after_tls != NULL)
		c->ops->after_tls(c);
}

char *
login_fake_take_output(struct login_fake *f, size_t *len_r)
{
	size_t n = evbuffer_get_length(f->out);
	char *s = xmalloc(n + 1);

	if (evbuffer_remove(f->out, s, n) != (int)n)
		abort();
	s[n] = '\0';
	if (len_r != NULL)
		*len_r = n;
	return s;
}

/* SCRAM's salt request: the fake master never answers (the exchange waits). */
void
lconn_send_scram(struct lconn *c, const char *mech, const char *user, size_t ulen)
{
	contract(reading(c), "SCRAM request outside the command/SASL state");
	contract(lconn_cleartext_ok(c), "SCRAM where plaintext is refused");
	contract(mech != NULL && user != NULL, "NULL argument");
	(void)ulen;
	fake_of(c)->scram_waits++;
	fake_of(c)->waiting_scram = true;
	c->state = LC_AUTH_WAIT;
}

void
lconn_login_finish(struct lconn *c)
{
	c->state = LC_AUTH_WAIT;
}

/* The front ends read auth_scram and oauth_*: SCRAM and OAuth are offered in these tests. */
const struct config *
lconn_config(const struct lconn *c)
{
	static struct config cfg;

	cfg.auth_scram = true;
	cfg.oauth_issuer = (char *)"https://idp.example.org";
	cfg.oauth_jwks_file = (char *)"/nonexistent/jwks.json";
	cfg.quota_policy_reject = (char *)"552 5.2.2 Mailbox is full";
	return &cfg;
}
