/*
 * policy.c — Postfix's policy delegation requests and replies (see policy.h). Runs in
 * the login process on bytes from a local client of the quota_policy_listen socket;
 * pure and bounded.
 */
#include <stdio.h>
#include <string.h>

#include "proto/policy.h"

static bool
attr_is(const char *name, size_t name_len, const char *want)
{
	return name_len == strlen(want) && memcmp(name, want, name_len) == 0;
}

static int
parse_size(const char *v, size_t n, uint64_t *size_r)
{
	uint64_t x = 0;

	if (n > POLICY_SIZE_DIGITS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*size_r = x;
	return 0;
}

enum policy_result
policy_parse(const unsigned char *data, size_t len, struct policy_req *req,
    size_t *used_r)
{
	const char *p = (const char *)data;
	size_t n = len < POLICY_REQUEST_MAX ? len : POLICY_REQUEST_MAX, off = 0;
	unsigned attrs = 0;

	memset(req, 0, sizeof(*req));
	*used_r = 0;
	for (;;) {
		const char *line = p + off, *nl, *eq;
		size_t line_len, name_len, value_len;

		nl = memchr(line, '\n', n - off);
		if (nl == NULL) {
			if (memchr(line, '\0', n - off) != NULL || len >= POLICY_REQUEST_MAX)
				return POLICY_ERROR;
			return POLICY_MORE;
		}
		line_len = (size_t)(nl - line);
		off += line_len + 1;
		if (line_len == 0)
			break;		/* the empty line: the end of the request */
		if (++attrs > POLICY_ATTRS_MAX || memchr(line, '\0', line_len) != NULL ||
		    (eq = memchr(line, '=', line_len)) == NULL || eq == line)
			return POLICY_ERROR;
		name_len = (size_t)(eq - line);
		value_len = line_len - name_len - 1;
		if (attr_is(line, name_len, "request")) {
			if (req->request != NULL)
				return POLICY_ERROR;
			req->request = eq + 1;
			req->request_len = value_len;
		} else if (attr_is(line, name_len, "recipient")) {
			if (req->recipient != NULL)
				return POLICY_ERROR;
			req->recipient = eq + 1;
			req->recipient_len = value_len;
		} else if (attr_is(line, name_len, "size")) {
			if (req->have_size || parse_size(eq + 1, value_len, &req->size) < 0)
				return POLICY_ERROR;
			req->have_size = true;
		}
	}
	*used_r = off;
	return POLICY_DONE;
}

int
policy_reply(char *out, size_t out_size, const char *action)
{
	int r;

	for (const unsigned char *q = (const unsigned char *)action; *q != '\0'; q++)
		if (*q < 0x20 || *q == 0x7f)
			return -1;
	r = snprintf(out, out_size, "action=%s\n\n", action);
	if (r < 0 || (size_t)r >= out_size)
		return -1;
	return r;
}
