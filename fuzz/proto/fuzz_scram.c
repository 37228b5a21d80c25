/*
 * fuzz_scram.c — libFuzzer target for the SCRAM message parsers (src/proto/scram.c): the
 * input as a client-first-message, as a client-final-message for both hashes (checked
 * against the nonce and gs2 header of a fixed client-first), and as Dovecot's stored
 * credential text. Results must stay within their documented bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scram_client_first cf;
	struct scram_client_final f;
	struct scram_stored st;
	const char *err;
	char sfirst[512];

	if (scram_parse_client_first(data, size, &cf, &err) == 0) {
		if (cf.user_len == 0 || cf.user_len > SCRAM_USER_MAX ||
		    strlen(cf.user) != cf.user_len || cf.nonce_len == 0 ||
		    cf.nonce_len > SCRAM_NONCE_MAX || cf.gs2_len > size ||
		    cf.authzid_len > SCRAM_USER_MAX)
			abort();
		if (scram_build_server_first(sfirst, sizeof(sfirst), cf.nonce, cf.nonce_len,
		    (const unsigned char *)"salt", 4, 4096) < 0)
			abort();
	}
	for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
		if (scram_parse_client_final(data, size, scram_hash_len(h), &f, &err) == 0) {
			if (f.without_proof_len >= size || f.nonce_off + f.nonce_len > size ||
			    f.proof_len != scram_hash_len(h))
				abort();
			(void)scram_check_final(&f, data, (const unsigned char *)"n,,", 3, "abc", 3,
			    NULL, 0, &err);
		}
		(void)scram_stored_parse(h, (const char *)data, size, &st);
	}
	return 0;
}
