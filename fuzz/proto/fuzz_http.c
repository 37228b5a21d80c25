/*
 * fuzz_http.c — libFuzzer target for the HTTP/1.1 request-head parser
 * (src/proto/http.c): the input is parsed as a stream of heads (the first byte picks a
 * small or the full head bound); every DONE keeps its pointers inside the input and
 * consumes at most the bound, every proper prefix of a DONE head is MORE, and a head's
 * Authorization value goes through the Basic decoder; its target through the webmail's
 * file lookup (src/proto/webmail.c: a found file's name is the target's) and the head
 * through its If-None-Match scan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "proto/webmail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const void *p, size_t len, const uint8_t *data, size_t size)
{
	if (p == NULL)
		return;
	if ((const uint8_t *)p < data || (const uint8_t *)p + len > data + size)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max, pos = 0;

	if (size == 0)
		return 0;
	max = (data[0] & 1) ? 256 : HTTP_HEAD_MAX;
	data++;
	size--;
	while (pos < size) {
		struct http_request r;
		size_t used = 0, n;
		enum http_parse_result res;
		unsigned char cred[512];

		res = http_request_parse(data + pos, size - pos, max, &r, &used);
		if (res == HTTP_PARSE_ERROR) {
			if (r.status < 400 || r.status > 599 || r.error == NULL)
				abort();
			break;
		}
		if (res == HTTP_PARSE_MORE)
			break;
		if (used == 0 || used > max || used > size - pos)
			abort();
		inside(r.target, r.target_len, data + pos, used);
		inside(r.auth, r.auth_len, data + pos, used);
		inside(r.host, r.host_len, data + pos, used);
		inside(r.ws_key, r.ws_key_len, data + pos, used);
		inside(r.ws_version, r.ws_version_len, data + pos, used);
		inside(r.last_event_id, r.last_event_id_len, data + pos, used);
		if (r.auth != NULL) {
			long k = http_basic_decode(r.auth, r.auth_len, cred, sizeof(cred), &n);

			const char *tok;

			if (k >= 0 && (n >= (size_t)k || (size_t)k > sizeof(cred) || cred[n] != ':'))
				abort();
			k = http_bearer_token(r.auth, r.auth_len, &tok);
			if (k >= 0 && (k == 0 || tok + k != r.auth + r.auth_len))
				abort();
		}
		{
			const struct webmail_file *f = NULL;
			enum webmail_route w = webmail_route(webmail_files, webmail_files_count,
			    r.target, r.target_len, &f);

			if (f != NULL && (w != WEBMAIL_FILE || (r.target_len > 9 &&
			    r.target[9] != '?' && strncmp(r.target + 9, f->name,
			    strlen(f->name)) != 0)))
				abort();
			inside(r.if_none_match, r.if_none_match_len, data + pos, used);
			(void)webmail_not_modified(r.if_none_match, r.if_none_match_len, "\"0\"");
		}
		/* a prefix of a whole head never ends it */
		if (used > 1 && http_request_parse(data + pos, used - 1, max, &r, &n) ==
		    HTTP_PARSE_DONE)
			abort();
		pos += used;
	}
	return 0;
}
