/*
 * webmail.h — the built-in webmail's files (webmail/, embedded at build time by
 * scripts/gen-webmail.py) and the lookup of a request target among them. Pure, no I/O;
 * runs in the login process on attacker bytes: a target is matched against the
 * table's names only, never turned into a file system path (docs/webmail.md).
 */
#ifndef BUZON_PROTO_WEBMAIL_H
#define BUZON_PROTO_WEBMAIL_H

#include <stdbool.h>
#include <stddef.h>

#define WEBMAIL_NAME_MAX	64	/* a file name under /webmail/ */

struct webmail_file {
	const char *name;		/* "app.js"; the table is sorted by name */
	const char *type;		/* Content-Type */
	const char *etag;		/* strong ETag, quoted */
	const unsigned char *data;
	size_t len;
};

extern const struct webmail_file webmail_files[];
extern const size_t webmail_files_count;

enum webmail_route { WEBMAIL_NONE, WEBMAIL_ROOT, WEBMAIL_REDIRECT, WEBMAIL_FILE };

/*
 * What a request target (path and query) asks for: WEBMAIL_ROOT for "/" (redirect to
 * /webmail/), WEBMAIL_REDIRECT for "/webmail" (to "/webmail/"), WEBMAIL_FILE for a
 * path under "/webmail/" ("/webmail/" itself is index.html), with *file_r the table
 * entry, or NULL when no file has that name (404); WEBMAIL_NONE for any other target.
 * A name is at most WEBMAIL_NAME_MAX octets of [A-Za-z0-9._-], not starting with '.';
 * anything else (a '/', "..", percent-encoding) is not found.
 */
enum webmail_route webmail_route(const struct webmail_file *table, size_t n,
    const char *target, size_t len, const struct webmail_file **file_r);

/*
 * Whether an If-None-Match value (value[0..len), as src/proto/http.c parsed it; NULL:
 * none) lists etag or is "*", RFC 9110 §13.1.2 (weak comparison).
 */
bool webmail_not_modified(const char *value, size_t len, const char *etag);

#endif
