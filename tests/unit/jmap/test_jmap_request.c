/*
 * test_jmap_request.c — unit tests for the JMAP request decoder and result references
 * (src/jmap/jmap_request.c): the request-level problems of RFC 8620 §3.6.1 (notJSON for
 * broken JSON and duplicate keys, notRequest for the wrong shape and deep nesting,
 * unknownCapability, limit), JSON pointers with '*' (§3.7's examples), and resolving
 * "#name" arguments: success, a missing response, a name mismatch, both forms given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "jmap/jmap_request.h"
#include "lib/util.h"

struct dcase {
	const char *in;
	enum jmap_problem want;
	const char *limit;
};

static const struct dcase dcases[] = {
	{ "{\"using\":[],\"methodCalls\":[]}", JMAP_OK, NULL },
	{ "{\"using\":[\"urn:ietf:params:jmap:core\"],\"methodCalls\":[[\"Core/echo\",{},\"c\"]],"
	  "\"createdIds\":{}}", JMAP_OK, NULL },
	{ "{\"using\":[],\"methodCalls\":[]", JMAP_NOT_JSON, NULL },
	{ "{\"using\":[],\"using\":[],\"methodCalls\":[]}", JMAP_NOT_JSON, NULL },
	{ "{\"using\":[],\"methodCalls\":[],\"x\":\"\xff\"}", JMAP_NOT_JSON, NULL },
	{ "[]", JMAP_NOT_REQUEST, NULL },
	{ "{\"using\":[]}", JMAP_NOT_REQUEST, NULL },
	{ "{\"using\":[1],\"methodCalls\":[]}", JMAP_NOT_REQUEST, NULL },
	{ "{\"using\":[],\"methodCalls\":[[\"a\",{}]]}", JMAP_NOT_REQUEST, NULL },
	{ "{\"using\":[],\"methodCalls\":[[\"a\",[],\"c\"]]}", JMAP_NOT_REQUEST, NULL },
	{ "{\"using\":[],\"methodCalls\":[],\"createdIds\":[]}", JMAP_NOT_REQUEST, NULL },
	{ "{\"using\":[\"urn:x\"],\"methodCalls\":[]}", JMAP_UNKNOWN_CAPABILITY, NULL },
	{ "{\"using\":[],\"methodCalls\":[[\"a\",{},\"1\"],[\"a\",{},\"2\"],[\"a\",{},\"3\"],"
	  "[\"a\",{},\"4\"],[\"a\",{},\"5\"],[\"a\",{},\"6\"],[\"a\",{},\"7\"],[\"a\",{},\"8\"],"
	  "[\"a\",{},\"9\"],[\"a\",{},\"10\"],[\"a\",{},\"11\"],[\"a\",{},\"12\"],"
	  "[\"a\",{},\"13\"],[\"a\",{},\"14\"],[\"a\",{},\"15\"],[\"a\",{},\"16\"],"
	  "[\"a\",{},\"17\"]]}", JMAP_LIMIT, "maxCallsInRequest" },
};

static void
test_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(dcases); i++) {
		struct jmap_request req;
		const char *detail = NULL, *limit = NULL;
		enum jmap_problem p;

		p = jmap_request_decode((const unsigned char *)dcases[i].in, strlen(dcases[i].in),
		    &req, &detail, &limit);
		assert_int_equal(p, dcases[i].want);
		if (p == JMAP_OK) {
			assert_non_null(req.calls);
			jmap_request_free(&req);
		} else {
			assert_non_null(detail);
			assert_null(req.root);
		}
		if (dcases[i].limit != NULL)
			assert_string_equal(limit, dcases[i].limit);
	}
}

static void
test_depth(void **state)
{
	char buf[2048];
	struct jmap_request req;
	const char *detail, *limit;
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(buf, sizeof(buf), "{\"using\":[],\"methodCalls\":[[\"a\",");
	for (int i = 0; i < 70; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"a\":");
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "1");
	for (int i = 0; i < 70; i++)
		buf[n++] = '}';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"c\"]]}");
	assert_int_equal(jmap_request_decode((const unsigned char *)buf, n, &req, &detail,
	    &limit), JMAP_NOT_REQUEST);
}

static json_t *
load(const char *s)
{
	json_t *v = json_loads(s, 0, NULL);

	assert_non_null(v);
	return v;
}

/* RFC 8620 §3.7's example paths. */
static void
test_pointer(void **state)
{
	json_t *doc = load("{\"list\":[{\"id\":\"a\",\"threadId\":\"t1\",\"emailIds\":[\"x\","
	    "\"y\"]},{\"id\":\"b\",\"threadId\":\"t2\",\"emailIds\":[\"z\"]}],\"a/b\":1,"
	    "\"m~n\":2,\"*x\":3}");
	json_t *r, *want;

	(void)state;
	r = jmap_pointer_eval(doc, "/list/*/threadId");
	want = load("[\"t1\",\"t2\"]");
	assert_true(json_equal(r, want));
	json_decref(r);
	json_decref(want);
	r = jmap_pointer_eval(doc, "/list/*/emailIds");
	want = load("[\"x\",\"y\",\"z\"]");	/* arrays flattened */
	assert_true(json_equal(r, want));
	json_decref(r);
	json_decref(want);
	r = jmap_pointer_eval(doc, "/list/1/id");
	assert_string_equal(json_string_value(r), "b");
	json_decref(r);
	r = jmap_pointer_eval(doc, "/a~1b");
	assert_int_equal(json_integer_value(r), 1);
	json_decref(r);
	r = jmap_pointer_eval(doc, "/m~0n");
	assert_int_equal(json_integer_value(r), 2);
	json_decref(r);
	r = jmap_pointer_eval(doc, "/*x");	/* a key, not the wildcard */
	assert_int_equal(json_integer_value(r), 3);
	json_decref(r);
	r = jmap_pointer_eval(doc, "/list/*");
	assert_int_equal(json_array_size(r), 2);
	json_decref(r);
	assert_null(jmap_pointer_eval(doc, "/list/2/id"));
	assert_null(jmap_pointer_eval(doc, "/list/01/id"));
	assert_null(jmap_pointer_eval(doc, "/list/-1/id"));
	assert_null(jmap_pointer_eval(doc, "/nope"));
	assert_null(jmap_pointer_eval(doc, "list"));
	assert_null(jmap_pointer_eval(doc, "/m~2n"));
	json_decref(doc);
}

static void
test_resolve(void **state)
{
	json_t *responses = load("[[\"Email/query\",{\"ids\":[\"M1\",\"M2\"]},\"q\"]]");
	json_t *args;
	const char *e;

	(void)state;
	args = load("{\"#ids\":{\"resultOf\":\"q\",\"name\":\"Email/query\",\"path\":\"/ids\"},"
	    "\"p\":1}");
	assert_int_equal(jmap_resolve_refs(args, responses, &e), 0);
	assert_null(json_object_get(args, "#ids"));
	assert_int_equal(json_array_size(json_object_get(args, "ids")), 2);
	json_decref(args);
	args = load("{\"#ids\":{\"resultOf\":\"x\",\"name\":\"Email/query\",\"path\":\"/ids\"}}");
	assert_int_equal(jmap_resolve_refs(args, responses, &e), -1);
	assert_string_equal(e, "invalidResultReference");
	json_decref(args);
	args = load("{\"#ids\":{\"resultOf\":\"q\",\"name\":\"Email/get\",\"path\":\"/ids\"}}");
	assert_int_equal(jmap_resolve_refs(args, responses, &e), -1);
	assert_string_equal(e, "invalidResultReference");
	json_decref(args);
	args = load("{\"#ids\":{\"resultOf\":\"q\",\"name\":\"Email/query\",\"path\":\"/ids\"},"
	    "\"ids\":[]}");
	assert_int_equal(jmap_resolve_refs(args, responses, &e), -1);
	assert_string_equal(e, "invalidArguments");
	json_decref(args);
	args = load("{\"#ids\":5}");
	assert_int_equal(jmap_resolve_refs(args, responses, &e), -1);
	assert_string_equal(e, "invalidResultReference");
	json_decref(args);
	json_decref(responses);
}

static void
test_ids(void **state)
{
	(void)state;
	assert_true(jmap_id_valid("M0123456789abcdef", 17));
	assert_true(jmap_id_valid("a-_Z", 4));
	assert_false(jmap_id_valid("", 0));
	assert_false(jmap_id_valid("a b", 3));
	assert_false(jmap_id_valid("a/b", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_pointer),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
