/*
 * control.c — the control socket's request line (see control.h). Runs in the master;
 * pure.
 */
#include <stdbool.h>
#include <string.h>

#include "proto/control.h"

static const struct {
	const char *w1, *w2;	/* the verb's words (w2 NULL: one word) */
	enum control_verb verb;
	unsigned min, max;	/* arguments after the verb */
} verbs[] = {
	{ "who", NULL, CONTROL_WHO, 0, 0 },
	{ "kick", NULL, CONTROL_KICK, 1, 2 },
	{ "mailbox", "status", CONTROL_MAILBOX_STATUS, 1, 2 },
	{ "ban", "list", CONTROL_BAN_LIST, 0, 0 },
	{ "ban", "remove", CONTROL_BAN_REMOVE, 1, 1 },
	{ "quota", "get", CONTROL_QUOTA_GET, 1, 1 },
	{ "quota", "recalc", CONTROL_QUOTA_RECALC, 1, 1 },
	{ "index", "rebuild", CONTROL_INDEX_REBUILD, 1, 2 },
};

/* Split line[0..n) (no LF) into words in req->buf; false with *error_r on bad input. */
static bool
split(const unsigned char *line, size_t n, struct control_req *req, const char *words[],
    unsigned *nwords_r, const char **error_r)
{
	size_t i = 0, o = 0;
	unsigned nw = 0;

	while (i < n) {
		if (line[i] == ' ') {
			i++;
			continue;
		}
		if (nw == CONTROL_ARGS_MAX + 2) {
			*error_r = "too many arguments";
			return false;
		}
		words[nw++] = req->buf + o;
		if (line[i] == '"') {
			for (i++;; i++) {
				if (i == n) {
					*error_r = "unterminated quoted word";
					return false;
				}
				if (line[i] == '"')
					break;
				if (line[i] == '\\') {
					unsigned char next = i + 1 < n ? line[i + 1] : 0;

					if (next != '"' && next != '\\') {
						*error_r = "bad escape in a quoted word";
						return false;
					}
					i++;
				}
				req->buf[o++] = (char)line[i];
			}
			i++;
			if (i < n && line[i] != ' ') {
				*error_r = "bad quoted word";
				return false;
			}
			if (req->buf + o == words[nw - 1]) {
				*error_r = "empty argument";
				return false;
			}
		} else {
			while (i < n && line[i] != ' ') {
				if (line[i] == '"') {
					*error_r = "bad quoted word";
					return false;
				}
				req->buf[o++] = (char)line[i++];
			}
		}
		req->buf[o++] = '\0';	/* o <= i + nw <= n + 1 <= CONTROL_LINE_MAX */
	}
	*nwords_r = nw;
	return true;
}

enum control_result
control_parse(const unsigned char *data, size_t len, struct control_req *req, size_t *used_r,
    const char **error_r)
{
	const char *words[CONTROL_ARGS_MAX + 2];
	const unsigned char *lf;
	size_t n, used;
	unsigned nw, skip;

	*used_r = 0;
	*error_r = NULL;
	lf = memchr(data, '\n', len < CONTROL_LINE_MAX ? len : CONTROL_LINE_MAX);
	if (lf == NULL) {
		if (len >= CONTROL_LINE_MAX) {
			*error_r = "line too long";
			return CONTROL_ERROR;
		}
		for (size_t i = 0; i < len; i++)
			if (data[i] < 0x20 && data[i] != '\r') {
				*error_r = "control character";
				return CONTROL_ERROR;
			}
		return CONTROL_MORE;
	}
	used = (size_t)(lf - data) + 1;
	n = used - 1;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++)
		if (data[i] < 0x20 || data[i] == 0x7f) {
			*error_r = "control character";
			return CONTROL_ERROR;
		}
	memset(req, 0, sizeof(*req));
	if (!split(data, n, req, words, &nw, error_r))
		return CONTROL_ERROR;
	if (nw == 0) {
		*error_r = "empty request";
		return CONTROL_ERROR;
	}
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		if (strcmp(words[0], verbs[v].w1) != 0)
			continue;
		if (verbs[v].w2 != NULL && (nw < 2 || strcmp(words[1], verbs[v].w2) != 0))
			continue;
		skip = verbs[v].w2 != NULL ? 2 : 1;
		if (nw - skip < verbs[v].min || nw - skip > verbs[v].max) {
			*error_r = "wrong number of arguments";
			return CONTROL_ERROR;
		}
		req->verb = verbs[v].verb;
		req->argc = nw - skip;
		for (unsigned a = 0; a < req->argc; a++)
			req->argv[a] = words[skip + a];
		*used_r = used;
		return CONTROL_DONE;
	}
	*error_r = "unknown verb";
	return CONTROL_ERROR;
}
