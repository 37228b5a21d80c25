/*
 * quota_policy_login.c — Postfix's policy delegation protocol on the quota_policy_listen
 * socket, in the login process: "has this recipient room for this message?", so Postfix
 * refuses mail for a full mailbox at RCPT time (smtpd_recipient_restrictions =
 * check_policy_service unix:private/buzon-quota, docs/postfix.md), as Dovecot's
 * quota-status service does. One request at a time per connection: the next is parsed
 * once the answer to the previous one is out (pipelined requests wait in the buffer).
 *
 * Security role: the client is a local process (the socket's mode and group decide
 * which); its requests are parsed here, unprivileged and chrooted (src/proto/policy.c,
 * bounded). The recipient goes through the master to auth (found as an LMTP RCPT is),
 * then to the user's mail process, which reads the usage as the user. The answer tells
 * whether a user is over quota, which the socket's permissions keep from anyone else.
 * A malformed request closes the connection.
 */
#include "login/login_private.h"
#include "lib/config.h"
#include "lib/log.h"
#include "proto/policy.h"

#define POLICY_IDLE_SECS	1800

/* a whole request must fit in the connection's input buffer, or it would never parse */
_Static_assert(POLICY_REQUEST_MAX < LOGIN_INPUT_MAX, "policy requests over the input bound");
#define POLICY_ACTION_OK	"DUNNO"
#define POLICY_ACTION_TEMP	"DEFER_IF_PERMIT 4.3.0 Temporary quota lookup failure"

struct quota_policy_login {
	bool busy;		/* a check is with the master */
	uint32_t next_req;
};

static void *
quota_policy_login_create(struct lconn *c)
{
	return xcalloc(1, sizeof(struct quota_policy_login));
}

static void
quota_policy_login_destroy(struct lconn *c, void *state)
{
	free(state);
}

static void
quota_policy_login_greet(struct lconn *c)
{
	/* the client speaks first */
}

static void
reply(struct lconn *c, const char *action)
{
	char out[256];

	if (policy_reply(out, sizeof(out), action) < 0)
		(void)policy_reply(out, sizeof(out), POLICY_ACTION_TEMP);
	lconn_printf(c, "%s", out);
}

/* One request: answered at once, or sent to the master (busy until the answer). */
static void
request(struct lconn *c, struct quota_policy_login *qp, const struct policy_req *q)
{
	const char *at;

	/* no recipient (another protocol state), a domain, one too long: nothing to check */
	if (q->recipient == NULL || q->recipient_len == 0 || q->recipient_len > IPC_ADDR_MAX ||
	    (at = memchr(q->recipient, '@', q->recipient_len)) == q->recipient) {
		reply(c, POLICY_ACTION_OK);
		return;
	}
	if (lconn_send_quota(c, ++qp->next_req, q->recipient, q->recipient_len, q->size) < 0) {
		reply(c, POLICY_ACTION_TEMP);
		return;
	}
	qp->busy = true;
}

static void
quota_policy_login_input(struct lconn *c, struct evbuffer *in)
{
	struct quota_policy_login *qp = c->pstate;

	while (c->state == LC_CMD && !qp->busy) {
		size_t len = evbuffer_get_length(in), n, used = 0;
		struct policy_req q;
		enum policy_result r;
		unsigned char *data;

		if (len == 0 || lconn_output_full(c))
			return;
		n = MIN(len, (size_t)POLICY_REQUEST_MAX);
		data = evbuffer_pullup(in, (ssize_t)n);
		r = policy_parse(data, n, &q, &used);
		if (r == POLICY_MORE)
			return;
		if (r == POLICY_ERROR) {
			log_info("quota-policy disconnected ip=%s reason=malformed", c->ip);
			lconn_close_after(c);
			return;
		}
		lconn_deadline(c, POLICY_IDLE_SECS);
		request(c, qp, &q);
		evbuffer_drain(in, used);
	}
}

static void
quota_policy_login_verified(struct lconn *c, uint32_t req, uint32_t status, const char *user)
{
	struct quota_policy_login *qp = c->pstate;

	if (!qp->busy || req != qp->next_req)
		return;
	qp->busy = false;
	/* status: IPC_DELIVER_*; an unknown user is the socketmap's or LMTP's to refuse */
	if (status == IPC_DELIVER_OVERQUOTA)
		reply(c, lconn_config(c)->quota_policy_reject);
	else if (status == IPC_DELIVER_OK || status == IPC_DELIVER_NOUSER)
		reply(c, POLICY_ACTION_OK);
	else
		reply(c, POLICY_ACTION_TEMP);
	lconn_deadline(c, POLICY_IDLE_SECS);
	lconn_resume(c);
}

static void
quota_policy_login_unused(struct lconn *c)
{
	/* STARTTLS, kicks, goodbyes: none on this socket (the idle timeout just closes) */
}

static void
quota_policy_login_auth_failed(struct lconn *c, uint32_t status)
{
	/* never: this front end sends no IPC_LOGIN_AUTH */
}

const struct login_proto_ops quota_policy_login_ops = {
	.name = "quota-policy",
	.ipc_proto = 0,
	.alpn = NULL,
	.create = quota_policy_login_create,
	.destroy = quota_policy_login_destroy,
	.greet = quota_policy_login_greet,
	.input = quota_policy_login_input,
	.tls_started = quota_policy_login_unused,
	.auth_failed = quota_policy_login_auth_failed,
	.timeout = quota_policy_login_unused,
	.kicked = quota_policy_login_unused,
	.verified = quota_policy_login_verified,
};
