/*
 * sasl.c — SASL PLAIN and LOGIN response decoding (see sasl.h). Runs in the login
 * process on pre-authentication input and touches passwords: all sizes are checked
 * against fixed bounds, decoded bytes go straight into caller-owned storage or a stack
 * buffer that is wiped before returning, and error texts are constants.
 */
#include "proto/sasl.h"

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
