/*
 * socketmap.c — Postfix's socketmap requests and replies (see socketmap.h). Runs in the
 * login process on bytes from a local client of the socketmap_listen socket; pure and
 * bounded.
 */
#include <stdio.h>
#include <string.h>

#include "proto/socketmap.h"

enum socketmap_result
socketmap_parse(const unsigned char *data, size_t len, struct socketmap_req *req,
    size_t *used_r)
{
	size_t n = 0, i = 0, total;
	const char *body, *sp;

	memset(req, 0, sizeof(*req));
	*used_r = 0;
	/* the length: decimal digits, no sign, no leading zero (but "0") */
	for (; i < len && data[i] >= '0' && data[i] <= '9'; i++) {
		if (i == SOCKETMAP_LEN_DIGITS || (i == 1 && data[0] == '0'))
			return SOCKETMAP_ERROR;
		n = n * 10 + (size_t)(data[i] - '0');
	}
	if (i == len)
		return SOCKETMAP_MORE;
	if (i == 0 || data[i] != ':' || n > SOCKETMAP_DATA_MAX)
		return SOCKETMAP_ERROR;
	total = i + 1 + n + 1;
	if (len < total)
		return SOCKETMAP_MORE;
	if (data[total - 1] != ',')
		return SOCKETMAP_ERROR;
	body = (const char *)data + i + 1;
	if (memchr(body, '\0', n) != NULL || (sp = memchr(body, ' ', n)) == NULL ||
	    sp == body || (size_t)(sp - body) + 1 == n)
		return SOCKETMAP_ERROR;
	req->name = body;
	req->name_len = (size_t)(sp - body);
	req->key = sp + 1;
	req->key_len = n - req->name_len - 1;
	*used_r = total;
	return SOCKETMAP_DONE;
}

int
socketmap_reply(char *out, size_t out_size, const char *status, const char *text)
{
	size_t slen = strlen(status), tlen = text != NULL ? strlen(text) : 0;
	size_t n = slen + 1 + tlen;
	int r;

	if (n > SOCKETMAP_DATA_MAX * 4)
		return -1;
	r = snprintf(out, out_size, "%zu:%s %s,", n, status, text != NULL ? text : "");
	if (r < 0 || (size_t)r >= out_size)
		return -1;
	return r;
}
