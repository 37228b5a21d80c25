/*
 * jmap_request.h — the JMAP request object (RFC 8620 §3.3) and result references
 * (§3.7), decoded from untrusted JSON with jansson: pure, no I/O, no store. Runs in the
 * mail process on the body of every API request; the body is bounded by
 * JMAP_MAX_SIZE_REQUEST before it gets here and jansson bounds the nesting depth.
 */
#ifndef BUZON_JMAP_REQUEST_H
#define BUZON_JMAP_REQUEST_H

#include <jansson.h>
#include <stddef.h>

#define JMAP_MAX_SIZE_REQUEST		(10 * 1000 * 1000)	/* maxSizeRequest */
#define JMAP_MAX_CALLS_IN_REQUEST	16			/* maxCallsInRequest */
#define JMAP_MAX_OBJECTS_IN_GET		500			/* maxObjectsInGet */
#define JMAP_MAX_OBJECTS_IN_SET		500			/* maxObjectsInSet */
#define JMAP_MAX_DEPTH			64	/* JSON nesting accepted in a request */
#define JMAP_MAX_REF_RESULTS		(JMAP_MAX_OBJECTS_IN_GET * 10)	/* values a '*' path yields */

/* The request-level problems of §3.6.1 (answered with HTTP 400, problem details). */
enum jmap_problem {
	JMAP_OK = 0,
	JMAP_NOT_JSON,		/* urn:ietf:params:jmap:error:notJSON */
	JMAP_NOT_REQUEST,	/* urn:ietf:params:jmap:error:notRequest */
	JMAP_UNKNOWN_CAPABILITY,/* urn:ietf:params:jmap:error:unknownCapability */
	JMAP_LIMIT,		/* urn:ietf:params:jmap:error:limit (with "limit") */
};

struct jmap_request {
	json_t *root;		/* owned */
	json_t *using;		/* borrowed from root: array of strings */
	json_t *calls;		/* borrowed: array of [name, args, id] */
	json_t *created_ids;	/* borrowed, may be NULL */
	unsigned caps;		/* JMAP_CAP_* bits named in using */
};

#define JMAP_CAP_CORE	1u	/* urn:ietf:params:jmap:core */
#define JMAP_CAP_MAIL	2u	/* urn:ietf:params:jmap:mail */
#define JMAP_CAP_SUBMISSION	4u	/* urn:ietf:params:jmap:submission */
#define JMAP_CAP_VACATION	8u	/* urn:ietf:params:jmap:vacationresponse */
#define JMAP_CAP_SIEVE	16u	/* urn:ietf:params:jmap:sieve (RFC 9661) */

/*
 * Decode body[0..len) into req. Returns JMAP_OK (free req with jmap_request_free), or a
 * problem with *detail_r (static, safe for the client) and, for JMAP_LIMIT, *limit_r the
 * limit's name.
 */
enum jmap_problem jmap_request_decode(const unsigned char *body, size_t len,
    struct jmap_request *req, const char **detail_r, const char **limit_r);
void jmap_request_free(struct jmap_request *req);
/* The URN of a problem ("urn:ietf:params:jmap:error:notJSON"). */
const char *jmap_problem_type(enum jmap_problem p);

/*
 * Resolve the result references in args (§3.7): every "#name" key whose value is a
 * ResultReference {resultOf, name, path} is replaced by "name" with the value the path
 * selects in the earlier response [name, args, id] of responses (an array). Returns 0,
 * or -1 with *error_type_r the method error ("invalidArguments": both "name" and
 * "#name", or a malformed reference; "invalidResultReference": no such response or the
 * path does not resolve). args is changed in place.
 */
int jmap_resolve_refs(json_t *args, json_t *responses, const char **error_type_r);

/*
 * Evaluate the JSON pointer path (RFC 6901 with JMAP's '*' for "every array member,
 * results flattened", §3.7) on v. Returns a new reference, or NULL when it does not
 * resolve or yields more than JMAP_MAX_REF_RESULTS values.
 */
json_t *jmap_pointer_eval(json_t *v, const char *path);

/* Is s[0..len) a valid JMAP Id (§1.2: 1-255 octets of A-Za-z0-9_-)? */
int jmap_id_valid(const char *s, size_t len);

#endif
