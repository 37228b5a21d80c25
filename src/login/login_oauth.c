/*
 * login_oauth.c — OAUTHBEARER and XOAUTH2 in the login process (see login_private.h).
 * Parses pre-auth attacker bytes with src/proto/sasl.c (bounded) into heap storage that
 * is wiped before it is freed; the token is judged by the auth process only.
 */
#include "login/login_private.h"
#include "proto/sasl.h"

#include "lib/base64.h"

bool
loauth_offered(const struct lconn *c)
{
	const struct config *cfg = lconn_config(c);

	return cfg->oauth_issuer != NULL && cfg->oauth_jwks_file != NULL &&
	    lconn_cleartext_ok(c);
}

void
loauth_capabilities(const struct lconn *c, struct buf *b, const char *prefix)
{
	if (!loauth_offered(c))
		return;
	(void)buf_append_str(b, prefix);
	(void)buf_append_str(b, "OAUTHBEARER");
	(void)buf_append_str(b, prefix);
	(void)buf_append_str(b, "XOAUTH2");
}

int
loauth_mech(const struct lconn *c, const char *mech, size_t len)
{
	enum sasl_mech_kind k = sasl_mech_kind(mech, len);

	if ((k != SASL_MECH_OAUTHBEARER && k != SASL_MECH_XOAUTH2) || !loauth_offered(c))
		return SASL_MECH_UNKNOWN;
	return (int)k;
}

int
loauth_response(struct lconn *c, int kind, const char *line, size_t len, const char *tag,
    const char **error_r)
{
	unsigned char *msg = xmalloc(SASL_MAX_BUF);
	struct sasl_oauth *o = xmalloc(sizeof(*o));
	enum sasl_response r;
	size_t n = 0;
	int ret;

	r = sasl_decode_response(line, len, msg, SASL_MAX_BUF, &n, error_r);
	if (r == SASL_RESPONSE_CANCEL) {
		ret = 0;
	} else if (r != SASL_RESPONSE_OK) {
		ret = -1;
	} else if ((kind == SASL_MECH_OAUTHBEARER ? sasl_oauthbearer_parse(msg, n, o, error_r) :
	    sasl_xoauth2_parse(msg, n, o, error_r)) < 0) {
		ret = -1;
	} else {
		lconn_send_auth(c, tag, kind == SASL_MECH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2",
		    o->user, o->user_len, o->token, o->token_len);
		ret = 1;
	}
	sasl_oauth_wipe(o);
	free(o);
	secret_wipe(msg, SASL_MAX_BUF);
	free(msg);
	return ret;
}

const char *
loauth_error_challenge(void)
{
	static char b64[BASE64_ENCODED_LEN(sizeof(SASL_OAUTH_ERROR_JSON)) + 1];
	struct buf b;

	if (b64[0] == '\0') {
		buf_init(&b, sizeof(b64));
		if (base64_encode(SASL_OAUTH_ERROR_JSON, sizeof(SASL_OAUTH_ERROR_JSON) - 1,
		    &b) < 0 || b.len >= sizeof(b64))
			abort();
		memcpy(b64, buf_cstr(&b), b.len + 1);
		buf_deinit(&b);
	}
	return b64;
}
