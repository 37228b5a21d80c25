/*
 * imap_url.h — IMAP URLs (RFC 5092) that name one message or one part of it, as CATENATE
 * (RFC 4469) takes them: the absolute form
 *   imap://[user[;AUTH=x]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=m
 *       [/;SECTION=s][/;PARTIAL=o[.l]]
 * and the server-relative form that starts at "/mailbox". Keywords are
 * case-insensitive; the user, mailbox and section are percent-decoded. URLAUTH
 * (";EXPIRE=", ";URLAUTH=") and message lists ("?search") are refused. Used by the imap
 * session process on client input: pure (no I/O, no allocation), every field bounded.
 */
#ifndef BUZON_IMAP_URL_H
#define BUZON_IMAP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_URL_MAX		8192	/* octets of one URL */
#define IMAP_URL_USER_MAX	255	/* decoded octets */
#define IMAP_URL_HOST_MAX	255
#define IMAP_URL_MAILBOX_MAX	1024
#define IMAP_URL_SECTION_MAX	1024

struct imap_url {
	bool absolute;			/* "imap://..." */
	bool has_user;
	char user[IMAP_URL_USER_MAX + 1];	/* decoded, NUL-terminated (no NUL inside) */
	char host[IMAP_URL_HOST_MAX + 1];	/* as written (not decoded); "" if relative */
	uint16_t port;			/* 0: none given */
	/* decoded (UTF-8 per RFC 5092); one spare octet: a '/' before ";UID=" is read first */
	char mailbox[IMAP_URL_MAILBOX_MAX + 2];
	size_t mailbox_len;
	uint32_t uidvalidity;		/* 0: not given */
	uint32_t uid;			/* never 0 */
	bool has_section;
	char section[IMAP_URL_SECTION_MAX + 2];	/* decoded, e.g. "1.MIME", "HEADER" */
	size_t section_len;
	bool has_partial;
	uint64_t partial_offset;
	uint64_t partial_length;	/* 0: to the end (no ".length" given) */
};

/*
 * Parse s[0..len) (no NUL, no surrounding quotes) into *url. Returns 0, or -1 with a
 * static, client-safe text in *error_r when it is not such a URL or a field is over its
 * bound.
 */
int imap_url_parse(const char *s, size_t len, struct imap_url *url, const char **error_r);

#endif
