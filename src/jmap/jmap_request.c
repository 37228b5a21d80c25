/*
 * jmap_request.c — decoding a JMAP request and resolving result references
 * (jmap_request.h). Pure; runs in the mail process on client JSON. jansson parses with
 * duplicate keys refused and its own nesting limit; the depth is checked again against
 * JMAP_MAX_DEPTH so that later recursive walks (result references) stay shallow.
 */
#include "jmap/jmap_request.h"

#include <stdbool.h>
#include <string.h>

static unsigned
json_depth(json_t *v, unsigned depth)
{
	unsigned max = depth;

	if (depth > JMAP_MAX_DEPTH)
		return depth;
	if (json_is_array(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e) {
			unsigned d = json_depth(e, depth + 1);

			if (d > max)
				max = d;
			if (max > JMAP_MAX_DEPTH)
				break;
		}
	} else if (json_is_object(v)) {
		const char *k;
		json_t *e;

		json_object_foreach(v, k, e) {
			unsigned d = json_depth(e, depth + 1);

			if (d > max)
				max = d;
			if (max > JMAP_MAX_DEPTH)
				break;
		}
	}
	return max;
}

const char *
jmap_problem_type(enum jmap_problem p)
{
	switch (p) {
	case JMAP_NOT_JSON: return "urn:ietf:params:jmap:error:notJSON";
	case JMAP_NOT_REQUEST: return "urn:ietf:params:jmap:error:notRequest";
	case JMAP_UNKNOWN_CAPABILITY: return "urn:ietf:params:jmap:error:unknownCapability";
	case JMAP_LIMIT: return "urn:ietf:params:jmap:error:limit";
	case JMAP_OK: break;
	}
	return "about:blank";
}

int
jmap_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > 255)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return 0;
	}
	return 1;
}

enum jmap_problem
jmap_request_decode(const unsigned char *body, size_t len, struct jmap_request *req,
    const char **detail_r, const char **limit_r)
{
	json_error_t jerr;
	size_t i;
	json_t *e;

	memset(req, 0, sizeof(*req));
	*limit_r = NULL;
	if (len > JMAP_MAX_SIZE_REQUEST) {
		*detail_r = "The request is larger than maxSizeRequest";
		*limit_r = "maxSizeRequest";
		return JMAP_LIMIT;
	}
	req->root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req->root == NULL) {
		*detail_r = "The body is not valid I-JSON";
		return JMAP_NOT_JSON;
	}
	if (json_depth(req->root, 0) > JMAP_MAX_DEPTH) {
		*detail_r = "The request is nested too deeply";
		goto not_request;
	}
	if (!json_is_object(req->root) ||
	    !json_is_array(req->using = json_object_get(req->root, "using")) ||
	    !json_is_array(req->calls = json_object_get(req->root, "methodCalls"))) {
		*detail_r = "The request must be an object with using and methodCalls arrays";
		goto not_request;
	}
	req->created_ids = json_object_get(req->root, "createdIds");
	if (req->created_ids != NULL && !json_is_object(req->created_ids)) {
		*detail_r = "createdIds must be an object";
		goto not_request;
	}
	json_array_foreach(req->using, i, e) {
		const char *cap = json_string_value(e);

		if (cap == NULL) {
			*detail_r = "using must hold strings";
			goto not_request;
		}
		if (strcmp(cap, "urn:ietf:params:jmap:core") == 0) {
			req->caps |= JMAP_CAP_CORE;
		} else if (strcmp(cap, "urn:ietf:params:jmap:mail") == 0) {
			req->caps |= JMAP_CAP_MAIL;
		} else if (strcmp(cap, "urn:ietf:params:jmap:submission") == 0) {
			req->caps |= JMAP_CAP_SUBMISSION;
		} else if (strcmp(cap, "urn:ietf:params:jmap:vacationresponse") == 0) {
			req->caps |= JMAP_CAP_VACATION;
		} else if (strcmp(cap, "urn:ietf:params:jmap:sieve") == 0) {
			req->caps |= JMAP_CAP_SIEVE;
		} else {
			*detail_r = "The request uses a capability this server does not have";
			jmap_request_free(req);
			return JMAP_UNKNOWN_CAPABILITY;
		}
	}
	if (json_array_size(req->calls) > JMAP_MAX_CALLS_IN_REQUEST) {
		*detail_r = "The request has more method calls than maxCallsInRequest";
		*limit_r = "maxCallsInRequest";
		jmap_request_free(req);
		return JMAP_LIMIT;
	}
	json_array_foreach(req->calls, i, e) {
		if (!json_is_array(e) || json_array_size(e) != 3 ||
		    !json_is_string(json_array_get(e, 0)) ||
		    !json_is_object(json_array_get(e, 1)) ||
		    !json_is_string(json_array_get(e, 2))) {
			*detail_r = "Each method call must be [name, arguments, id]";
			goto not_request;
		}
	}
	return JMAP_OK;
not_request:
	jmap_request_free(req);
	return JMAP_NOT_REQUEST;
}

void
jmap_request_free(struct jmap_request *req)
{
	if (req->root != NULL)
		json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

/* One reference token of path[0..len), unescaped (~1 '/', ~0 '~'); -1 if malformed. */
static int
pointer_token(const char *p, size_t len, char *out, size_t out_size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (ch == '~') {
			if (i + 1 >= len || (p[i + 1] != '0' && p[i + 1] != '1'))
				return -1;
			ch = p[++i] == '0' ? '~' : '/';
		}
		if (o + 1 >= out_size)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

/* Append to acc what path selects in v; -1 when it does not resolve. */
static int
pointer_walk(json_t *v, const char *path, json_t *acc, bool star_seen, bool *star_used)
{
	const char *slash;
	size_t tlen;
	char tok[256];
	json_t *next;

	if (*path == '\0') {
		if (star_seen && json_is_array(v)) {
			if (json_array_extend(acc, v) < 0)
				return -1;
		} else if (json_array_append(acc, v) < 0) {
			return -1;
		}
		return json_array_size(acc) > JMAP_MAX_REF_RESULTS ? -1 : 0;
	}
	if (*path != '/')
		return -1;
	path++;
	slash = strchr(path, '/');
	tlen = slash != NULL ? (size_t)(slash - path) : strlen(path);
	if (pointer_token(path, tlen, tok, sizeof(tok)) < 0)
		return -1;
	path += tlen;
	if (json_is_array(v)) {
		size_t i;
		json_t *e;

		if (strcmp(tok, "*") == 0) {
			*star_used = true;
			json_array_foreach(v, i, e)
				if (pointer_walk(e, path, acc, true, star_used) < 0)
					return -1;
			return 0;
		}
		/* RFC 6901 §4: array indexes are decimal without leading zeros */
		if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0') || strlen(tok) > 9)
			return -1;
		i = 0;
		for (const char *q = tok; *q != '\0'; q++) {
			if (*q < '0' || *q > '9')
				return -1;
			i = i * 10 + (size_t)(*q - '0');
		}
		if ((next = json_array_get(v, i)) == NULL)
			return -1;
		return pointer_walk(next, path, acc, star_seen, star_used);
	}
	if (!json_is_object(v) || (next = json_object_get(v, tok)) == NULL)
		return -1;
	return pointer_walk(next, path, acc, star_seen, star_used);
}

json_t *
jmap_pointer_eval(json_t *v, const char *path)
{
	json_t *acc = json_array(), *r;
	bool star = false;

	if (acc == NULL)
		return NULL;
	if (pointer_walk(v, path, acc, false, &star) < 0) {
		json_decref(acc);
		return NULL;
	}
	if (star)
		return acc;
	/* no '*': exactly one value */
	r = json_incref(json_array_get(acc, 0));
	json_decref(acc);
	return r;
}

int
jmap_resolve_refs(json_t *args, json_t *responses, const char **error_type_r)
{
	const char *key;
	json_t *val, *tmp;
	void *iter;

	/* collect the "#" keys first: args changes while they are resolved */
	tmp = json_object();
	if (tmp == NULL)
		return *error_type_r = "serverFail", -1;
	json_object_foreach(args, key, val)
		if (key[0] == '#')
			(void)json_object_set(tmp, key, val);
	for (iter = json_object_iter(tmp); iter != NULL; iter = json_object_iter_next(tmp, iter)) {
		const char *k = json_object_iter_key(iter), *of, *name, *path;
		json_t *ref = json_object_iter_value(iter), *resp, *found = NULL, *res;
		size_t i;

		if (json_object_get(args, k + 1) != NULL) {
			*error_type_r = "invalidArguments";
			goto fail;
		}
		of = json_string_value(json_object_get(ref, "resultOf"));
		name = json_string_value(json_object_get(ref, "name"));
		path = json_string_value(json_object_get(ref, "path"));
		if (!json_is_object(ref) || of == NULL || name == NULL || path == NULL) {
			*error_type_r = "invalidResultReference";
			goto fail;
		}
		json_array_foreach(responses, i, resp) {
			const char *rid = json_string_value(json_array_get(resp, 2));

			if (rid != NULL && strcmp(rid, of) == 0) {
				found = resp;
				break;
			}
		}
		if (found == NULL ||
		    strcmp(json_string_value(json_array_get(found, 0)), name) != 0 ||
		    (res = jmap_pointer_eval(json_array_get(found, 1), path)) == NULL) {
			*error_type_r = "invalidResultReference";
			goto fail;
		}
		(void)json_object_del(args, k);
		(void)json_object_set_new(args, k + 1, res);
	}
	json_decref(tmp);
	return 0;
fail:
	json_decref(tmp);
	return -1;
}
