/*
 * threadref.c — the message ids a thread is made from (threadref.h).
 */
#include "mail/threadref.h"

#include <stdlib.h>
#include <string.h>

#include "mail/header.h"

uint64_t
mail_msgid_hash(const char *p, size_t len)
{
	uint64_t h = 14695981039346656037ull;	/* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h != 0 ? h : 1;
}

/* The hashes of the "<...>" ids of s appended to v[n..max); the new count. */
static size_t
msgids(const char *s, uint64_t *v, size_t n, size_t max)
{
	while (s != NULL && *s != '\0' && n < max) {
		const char *a = strchr(s, '<'), *b;

		if (a == NULL || (b = strchr(a + 1, '>')) == NULL)
			break;
		if (b > a + 1)
			v[n++] = mail_msgid_hash(a + 1, (size_t)(b - a - 1));
		s = b + 1;
	}
	return n;
}

size_t
mail_thread_refs(const unsigned char *hdr, size_t len, uint64_t *own_r, uint64_t *refs,
    size_t max)
{
	char *v;
	uint64_t own[1];
	size_t n = 0;

	*own_r = 0;
	if (max == 0)
		return 0;
	v = mail_header_get(hdr, len, "References");
	n = msgids(v, refs, 0, max - 1);
	free(v);
	v = mail_header_get(hdr, len, "In-Reply-To");
	n = msgids(v, refs, n, n + 1);
	free(v);
	v = mail_header_get(hdr, len, "Message-ID");
	if (msgids(v, own, 0, 1) == 1)
		*own_r = own[0];
	free(v);
	return n;
}
