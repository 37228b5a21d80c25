/*
 * fuzz_sasl.c — libFuzzer target for SASL decoding and base64 (src/lib/base64.c). The
 * input is used as a raw PLAIN message, as a base64 response line (PLAIN, LOGIN, generic),
 * is base64-encoded and decoded back, which must give the identical bytes, and is decoded
 * in the encoded-word and lenient modes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/sasl.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_plain(const struct sasl_plain *p)
{
	if (p->authcid_len == 0 || p->passwd_len == 0 || p->authzid_len > SASL_MAX_USER ||
	    p->authcid_len > SASL_MAX_USER || p->passwd_len > SASL_MAX_PASSWORD)
		abort();
	if (strlen(p->authzid) != p->authzid_len || strlen(p->authcid) != p->authcid_len ||
	    strlen(p->passwd) != p->passwd_len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct sasl_plain p;
	char user[SASL_MAX_USER + 1];
	unsigned char resp[SASL_MAX_BUF];
	const char *err;
	size_t n;
	struct buf enc, dec;

	if (sasl_plain_parse(data, size, &p, &err) == 0)
		check_plain(&p);
	if (sasl_plain_decode(line, size, &p, &err) == SASL_RESPONSE_OK)
		check_plain(&p);
	sasl_plain_wipe(&p);
	if (sasl_login_decode(line, size, user, sizeof(user), &n, &err) == SASL_RESPONSE_OK &&
	    (n == 0 || n > SASL_MAX_USER || strlen(user) != n))
		abort();
	if (sasl_decode_response(line, size, resp, sizeof(resp), &n, &err) ==
	    SASL_RESPONSE_OK && n > SASL_MAX_BUF)
		abort();

	buf_init(&enc, BUF_UNLIMITED);
	buf_init(&dec, BUF_UNLIMITED);
	if (base64_encode(data, size, &enc) != 0 || enc.len != BASE64_ENCODED_LEN(size))
		abort();
	if (base64_decode_buf(enc.data, enc.len, BASE64_STRICT, &dec) != 0 || dec.len != size ||
	    (size > 0 && memcmp(dec.data, data, size) != 0))
		abort();
	/* strict: anything that decodes re-encodes to the same text */
	buf_reset(&dec);
	buf_reset(&enc);
	if (base64_decode_buf(line, size, BASE64_STRICT, &dec) == 0) {
		if (base64_encode(dec.data, dec.len, &enc) != 0 || enc.len != size ||
		    (size > 0 && memcmp(enc.data, line, size) != 0))
			abort();
	}
	/* the other modes: the lenient one never fails, neither outgrows its input */
	buf_reset(&dec);
	if (base64_decode_buf(line, size, BASE64_LENIENT, &dec) != 0 || dec.len > size)
		abort();
	buf_reset(&dec);
	if (base64_decode_buf(line, size, BASE64_ENCODED_WORD, &dec) == 0 && dec.len > size)
		abort();
	buf_deinit(&enc);
	buf_deinit(&dec);
	return 0;
}
