/*
 * sasl.c — SASL PLAIN and LOGIN response decoding (see sasl.h). Runs in the login
 * process on pre-authentication input and touches passwords: all sizes are checked
 * against fixed bounds, decoded bytes go straight into caller-owned storage or a stack
 * buffer that is wiped before returning, and error texts are constants.
 */
#include "proto/sasl.h"

#include "lib/ipc.h"
#include "lib/util.h"

static bool
is_cancel(const char *line, size_t len)
{
	return len == 1 && line[0] == '*';
}

static bool
is_empty_response(const char *line, size_t len)
{
	/* RFC 4959 §3: "=" is a zero-length initial response */
	return len == 1 && line[0] == '=';
}

void
sasl_plain_wipe(struct sasl_plain *p)
{
	secret_wipe(p, sizeof(*p));
}

static int
copy_field(char *dst, size_t max, const unsigned char *src, size_t len, size_t *len_r)
{
	if (len > max)
		return -1;
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
	*len_r = len;
	return 0;
}

int
sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_plain *out,
    const char **error_r)
{
	const unsigned char *nul1, *nul2;
	size_t zlen, clen, plen;

	sasl_plain_wipe(out);
	if (len > SASL_MAX_BUF) {
		*error_r = "Authentication data too long";
		return -1;
	}
	/* RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
	nul1 = len > 0 ? memchr(msg, '\0', len) : NULL;
	nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 - msg) - 1) : NULL;
	if (nul2 == NULL) {
		*error_r = "Invalid PLAIN authentication data";
		return -1;
	}
	zlen = (size_t)(nul1 - msg);
	clen = (size_t)(nul2 - nul1) - 1;
	plen = len - (size_t)(nul2 - msg) - 1;
	if (plen > 0 && memchr(nul2 + 1, '\0', plen) != NULL) {
		*error_r = "Invalid PLAIN authentication data";
		return -1;
	}
	if (clen == 0 || plen == 0) {
		*error_r = "Empty user name or password";
		return -1;
	}
	if (copy_field(out->authzid, SASL_MAX_USER, msg, zlen, &out->authzid_len) < 0 ||
	    copy_field(out->authcid, SASL_MAX_USER, nul1 + 1, clen, &out->authcid_len) < 0 ||
	    copy_field(out->passwd, SASL_MAX_PASSWORD, nul2 + 1, plen, &out->passwd_len) < 0) {
		sasl_plain_wipe(out);
		*error_r = "User name or password too long";
		return -1;
	}
	return 0;
}

enum sasl_response
sasl_decode_response(const char *line, size_t len, unsigned char *out, size_t out_size,
    size_t *len_r, const char **error_r)
{
	*len_r = 0;
	if (is_cancel(line, len))
		return SASL_RESPONSE_CANCEL;
	if (is_empty_response(line, len))
		return SASL_RESPONSE_OK;
	if (len > SASL_MAX_LINE) {
		*error_r = "Authentication data too long";
		return SASL_RESPONSE_ERROR;
	}
	if (base64_decode(line, len, BASE64_STRICT, out, MIN(out_size, (size_t)SASL_MAX_BUF),
	    len_r) < 0) {
		secret_wipe(out, MIN(out_size, (size_t)SASL_MAX_BUF));
		*len_r = 0;
		*error_r = "Invalid base64 data";
		return SASL_RESPONSE_ERROR;
	}
	return SASL_RESPONSE_OK;
}

enum sasl_response
sasl_plain_decode(const char *line, size_t len, struct sasl_plain *out, const char **error_r)
{
	unsigned char tmp[SASL_MAX_BUF];
	enum sasl_response r;
	size_t n;

	sasl_plain_wipe(out);
	if (is_empty_response(line, len)) {
		*error_r = "Invalid PLAIN authentication data";
		return SASL_RESPONSE_ERROR;
	}
	r = sasl_decode_response(line, len, tmp, sizeof(tmp), &n, error_r);
	if (r == SASL_RESPONSE_OK && sasl_plain_parse(tmp, n, out, error_r) < 0)
		r = SASL_RESPONSE_ERROR;
	secret_wipe(tmp, sizeof(tmp));
	return r;
}

enum sasl_response
sasl_login_decode(const char *line, size_t len, char *out, size_t out_size, size_t *len_r,
    const char **error_r)
{
	enum sasl_response r;
	size_t n;

	*len_r = 0;
	if (out_size == 0)
		abort();
	out[0] = '\0';
	r = sasl_decode_response(line, len, (unsigned char *)out, out_size - 1, &n, error_r);
	if (r != SASL_RESPONSE_OK)
		return r;
	if (n == 0 || memchr(out, '\0', n) != NULL) {
		secret_wipe(out, out_size);
		*error_r = n == 0 ? "Empty user name or password" : "Invalid characters";
		return SASL_RESPONSE_ERROR;
	}
	out[n] = '\0';
	*len_r = n;
	return SASL_RESPONSE_OK;
}

static const struct {
	const char *name;
	enum sasl_mech_kind kind;
} mechs[] = {
	{ "PLAIN", SASL_MECH_PLAIN },
	{ "LOGIN", SASL_MECH_LOGIN },
	{ "SCRAM-SHA-1", SASL_MECH_SCRAM },
	{ "SCRAM-SHA-1-PLUS", SASL_MECH_SCRAM },
	{ "SCRAM-SHA-256", SASL_MECH_SCRAM },
	{ "SCRAM-SHA-256-PLUS", SASL_MECH_SCRAM },
	{ "OAUTHBEARER", SASL_MECH_OAUTHBEARER },
	{ "XOAUTH2", SASL_MECH_XOAUTH2 },
};

enum sasl_mech_kind
sasl_mech_kind(const char *name, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(mechs); i++)
		if (mem_ieq(name, len, mechs[i].name))
			return mechs[i].kind;
	return SASL_MECH_UNKNOWN;
}

bool
sasl_mech_is_oauth(const char *name)
{
	enum sasl_mech_kind k = sasl_mech_kind(name, strlen(name));

	return k == SASL_MECH_OAUTHBEARER || k == SASL_MECH_XOAUTH2;
}

size_t
sasl_mech_cred_max(const char *name)
{
	switch (sasl_mech_kind(name, strlen(name))) {
	case SASL_MECH_SCRAM:
		return IPC_SCRAM_MAX;
	case SASL_MECH_OAUTHBEARER:
	case SASL_MECH_XOAUTH2:
		return IPC_OAUTH_MAX;
	default:
		return IPC_PASS_MAX;
	}
}

void
sasl_oauth_wipe(struct sasl_oauth *o)
{
	secret_wipe(o, sizeof(*o));
}

/* "Bearer TOKEN" (RFC 6750 §2.1: the scheme is case-insensitive) into out->token. */
static int
bearer_value(const unsigned char *v, size_t len, struct sasl_oauth *out)
{
	if (len <= 7 || !mem_ieq((const char *)v, 7, "Bearer "))
		return -1;
	v += 7;
	len -= 7;
	if (len > SASL_OAUTH_TOKEN_MAX || memchr(v, '\0', len) != NULL ||
	    memchr(v, ' ', len) != NULL)
		return -1;
	memcpy(out->token, v, len);
	out->token[len] = '\0';
	out->token_len = len;
	return 0;
}

/* Walk key=value %x01 pairs up to the closing %x01; take "auth" (required, once). */
static int
oauth_kvpairs(const unsigned char *p, size_t len, struct sasl_oauth *out)
{
	bool have_auth = false;

	for (;;) {
		const unsigned char *end = memchr(p, 0x01, len), *eq;
		size_t n;

		if (end == NULL)
			return -1;
		n = (size_t)(end - p);
		if (n == 0)	/* the closing %x01: nothing may follow */
			return len == 1 && have_auth ? 0 : -1;
		eq = memchr(p, '=', n);
		if (eq == NULL || eq == p)
			return -1;
		if ((size_t)(eq - p) == 4 && memcmp(p, "auth", 4) == 0) {
			if (have_auth || bearer_value(eq + 1, n - (size_t)(eq + 1 - p), out) < 0)
				return -1;
			have_auth = true;
		}
		/* other keys (host, port: RFC 7628 §3.1) are not needed */
		len -= n + 1;
		p = end + 1;
	}
}

int
sasl_oauthbearer_parse(const unsigned char *msg, size_t len, struct sasl_oauth *out,
    const char **error_r)
{
	const unsigned char *p = msg, *comma;
	size_t rest = len;

	sasl_oauth_wipe(out);
	*error_r = "Invalid OAUTHBEARER message";
	if (len > SASL_MAX_BUF)
		return -1;
	/* gs2-cb-flag: "n" or "y"; "p=" would be channel binding, which it has none of */
	if (rest < 3 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return -1;
	p += 2;
	rest -= 2;
	comma = memchr(p, ',', rest);
	if (comma == NULL)
		return -1;
	if (comma != p) {
		/* "a=" saslname: "=2C" is ',' and "=3D" is '=' (RFC 5801 §4) */
		size_t n = (size_t)(comma - p), o = 0;

		if (n < 3 || p[0] != 'a' || p[1] != '=')
			return -1;
		for (size_t i = 2; i < n; i++) {
			unsigned char ch = p[i];

			if (ch == '=') {
				if (i + 2 >= n)
					return -1;
				if (p[i + 1] == '2' && p[i + 2] == 'C')
					ch = ',';
				else if (p[i + 1] == '3' && p[i + 2] == 'D')
					ch = '=';
				else
					return -1;
				i += 2;
			}
			if (ch == '\0' || o >= SASL_MAX_USER)
				return -1;
			out->user[o++] = (char)ch;
		}
		out->user[o] = '\0';
		out->user_len = o;
	}
	p = comma + 1;
	rest = len - (size_t)(p - msg);
	if (rest < 2 || p[0] != 0x01 || oauth_kvpairs(p + 1, rest - 1, out) < 0) {
		sasl_oauth_wipe(out);
		return -1;
	}
	return 0;
}

int
sasl_xoauth2_parse(const unsigned char *msg, size_t len, struct sasl_oauth *out,
    const char **error_r)
{
	const unsigned char *end;
	size_t n;

	sasl_oauth_wipe(out);
	*error_r = "Invalid XOAUTH2 message";
	if (len > SASL_MAX_BUF || len < 5 || memcmp(msg, "user=", 5) != 0)
		return -1;
	end = memchr(msg, 0x01, len);
	if (end == NULL)
		return -1;
	n = (size_t)(end - msg) - 5;
	if (n == 0 || n > SASL_MAX_USER || memchr(msg + 5, '\0', n) != NULL)
		return -1;
	memcpy(out->user, msg + 5, n);
	out->user[n] = '\0';
	out->user_len = n;
	if (oauth_kvpairs(end + 1, len - (size_t)(end + 1 - msg), out) < 0) {
		sasl_oauth_wipe(out);
		return -1;
	}
	return 0;
}
