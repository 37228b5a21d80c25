/*
 * policy.h — Postfix's policy delegation protocol (SMTPD_POLICY_README), server side:
 * the client sends "name=value" lines ending with an empty line; the server answers
 * "action=..." and an empty line. Parsed in the login process (the quota_policy_listen
 * front end, src/login/quota_policy_login.c) from a local but untrusted client:
 * bounded, nothing allocated, results point into the caller's bytes. Pure, no I/O, no
 * logging.
 */
#ifndef BUZON_POLICY_H
#define BUZON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_REQUEST_MAX	8192	/* a whole request, the empty line included (under
				 * the login process's input bound, IPC_INPUT_MAX) */
#define POLICY_ATTRS_MAX	128	/* name=value lines in one request */
#define POLICY_SIZE_DIGITS	19	/* size= below 10^19: fits in uint64_t */

enum policy_result {
	POLICY_MORE,		/* no empty line yet: keep the bytes, add more */
	POLICY_DONE,		/* one request in *req */
	POLICY_ERROR,		/* over a limit, NUL, a line without '=' or with an empty
				 * name, a bad or repeated size=/recipient=/request= */
};

struct policy_req {
	const char *request, *recipient;	/* in the caller's bytes; NULL if absent */
	size_t request_len, recipient_len;
	uint64_t size;				/* size=, 0 when absent or empty */
	bool have_size;
};

/*
 * Parse one request from data[0..len). DONE: *used_r octets are consumed (up to and
 * including the empty line). MORE and ERROR: *used_r = 0 (after an ERROR the caller
 * closes the connection: the stream cannot be resynced). Unknown attributes are
 * ignored, as the protocol asks.
 */
enum policy_result policy_parse(const unsigned char *data, size_t len,
    struct policy_req *req, size_t *used_r);

/*
 * The reply "action=ACTION\n\n" into out (out_size octets, NUL-terminated). Returns the
 * length, or -1 when it does not fit or action holds a control character.
 */
int policy_reply(char *out, size_t out_size, const char *action);

#endif
