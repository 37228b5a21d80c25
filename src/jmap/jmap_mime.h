/*
 * jmap_mime.h — an RFC 5322 / MIME message from a JMAP Email create object (RFC 8621
 * §4.6): header fields from the Email properties, the body from bodyStructure or from
 * textBody/htmlBody/attachments with bodyValues and blobs. Pure (no I/O, no globals):
 * the time, the unique token and the blobs come from the caller. Every input is
 * untrusted and bounded: JMAP_MIME_DEPTH_MAX levels and JMAP_MIME_PARTS_MAX parts of
 * bodyStructure, env->max_size octets of output, CR, LF or NUL in a header value is
 * refused (no header injection). Lines are CRLF and at most 78 octets where the
 * builder makes them (text is quoted-printable when it has longer lines or 8-bit
 * octets, blobs are base64 except message/rfc822).
 */
#ifndef BUZON_JMAP_MIME_H
#define BUZON_JMAP_MIME_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

#define JMAP_MIME_DEPTH_MAX	16
#define JMAP_MIME_PARTS_MAX	256
#define JMAP_MIME_HEADERS_MAX	128	/* header:X properties of one Email */

/* The bytes of blob id (borrowed until jmap_mime_build returns): 1, or 0 unknown. */
typedef int jmap_mime_blob_cb(void *ctx, const char *blob_id, const unsigned char **data_r,
    size_t *len_r);

struct jmap_mime_env {
	time_t now;		/* Date when sentAt is absent (written in UTC) */
	const char *unique;	/* [A-Za-z0-9.-]+: Message-ID left side, boundaries */
	const char *domain;	/* Message-ID right side */
	size_t max_size;	/* octets of the whole message */
	jmap_mime_blob_cb *blob;
	void *blob_ctx;
};

enum jmap_mime_result {
	JMAP_MIME_OK = 0,
	JMAP_MIME_INVALID,	/* invalidProperties: *prop_r names the property */
	JMAP_MIME_BLOB,		/* blobNotFound: *prop_r is the blob id */
	JMAP_MIME_TOO_LARGE,	/* tooLarge */
};

/*
 * Build the message of the create object email into out (appended; at most
 * env->max_size octets, and within out's own bound). mailboxIds, keywords and receivedAt
 * are the caller's and skipped here. On failure *prop_r (borrowed from email or
 * static) and *desc_r (static) say why, and out is as it was.
 */
enum jmap_mime_result jmap_mime_build(json_t *email, const struct jmap_mime_env *env,
    struct buf *out, const char **prop_r, const char **desc_r);

#endif
