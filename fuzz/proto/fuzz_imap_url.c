/*
 * fuzz_imap_url.c — libFuzzer target for the IMAP URL parser (src/proto/imap_url.c):
 * whatever parses names a message (UID != 0) with NUL-free, in-bound fields, and the
 * parse does not depend on what follows the input in memory.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_url url;
	const char *error = NULL;
	char *copy;

	if (imap_url_parse((const char *)data, size, &url, &error) < 0) {
		if (error == NULL)
			abort();
		return 0;
	}
	if (url.uid == 0 || url.mailbox_len == 0 || url.mailbox_len > IMAP_URL_MAILBOX_MAX ||
	    strlen(url.mailbox) != url.mailbox_len ||
	    url.section_len > IMAP_URL_SECTION_MAX ||
	    strlen(url.section) != url.section_len ||
	    (url.has_section && url.section_len == 0) ||
	    strlen(url.user) > IMAP_URL_USER_MAX || strlen(url.host) > IMAP_URL_HOST_MAX ||
	    (url.absolute && url.host[0] == '\0') || (!url.absolute && url.has_user) ||
	    url.partial_offset > UINT32_MAX || url.partial_length > UINT32_MAX)
		abort();
	/* the same bytes in a larger buffer give the same result */
	copy = malloc(size + 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = 'x';
	{
		struct imap_url again;

		if (imap_url_parse(copy, size, &again, &error) < 0 ||
		    memcmp(&again, &url, sizeof(url)) != 0)
			abort();
	}
	free(copy);
	return 0;
}
