/*
 * socketmap.h — Postfix's socketmap protocol (socketmap_table(5)), server side: the
 * client sends a netstring "len:name key," and gets a netstring back: "OK value",
 * "NOTFOUND ", "TEMP reason" or "PERM reason". Parsed in the login process (the
 * socketmap_listen front end, src/login/socketmap_login.c) from a local but untrusted
 * client: bounded, nothing allocated, results point into the caller's bytes. Pure, no
 * I/O, no logging.
 */
#ifndef BUZON_SOCKETMAP_H
#define BUZON_SOCKETMAP_H

#include <stddef.h>

#define SOCKETMAP_DATA_MAX	4096	/* a request's "name key" (an address is < 1 KiB) */
#define SOCKETMAP_LEN_DIGITS	5	/* enough for SOCKETMAP_DATA_MAX */

enum socketmap_result {
	SOCKETMAP_MORE,		/* no whole netstring yet: keep the bytes, add more */
	SOCKETMAP_DONE,		/* one request in name and key */
	SOCKETMAP_ERROR,	/* not a netstring, over the limit, NUL, or no "name key" */
};

struct socketmap_req {
	const char *name, *key;	/* inside the caller's bytes, not NUL-terminated */
	size_t name_len, key_len;	/* both > 0 on DONE */
};

/*
 * Parse one request from data[0..len). DONE: *used_r octets are consumed (the whole
 * netstring). MORE and ERROR: *used_r = 0 (after an ERROR the stream cannot be resynced:
 * the caller closes the connection).
 */
enum socketmap_result socketmap_parse(const unsigned char *data, size_t len,
    struct socketmap_req *req, size_t *used_r);

/*
 * The reply netstring "len:status[ text]," into out (out_size octets, NUL-terminated);
 * status is "OK", "NOTFOUND", "TEMP" or "PERM" (NOTFOUND gets its space and no text).
 * Returns the length, or -1 when it does not fit.
 */
int socketmap_reply(char *out, size_t out_size, const char *status, const char *text);

#endif
