/*
 * fuzz_autoconfig.c — libFuzzer target for what the autoconfiguration answer reads from
 * a request (src/proto/autoconfig.c): the input is tried as a request target (route and
 * query address) and as an Outlook request body. Invariants: an address found passes
 * autoconfig_addr_valid, fits its buffer and has no character XML must escape; the
 * documents built with it never contain '<' or '&' inside an element's text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/autoconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_addr(const char *a)
{
	if (!autoconfig_addr_valid(a) || strlen(a) > AUTOCONFIG_ADDR_MAX ||
	    strpbrk(a, "<>&\"' \t\r\n") != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct autoconfig_params p = { .host = "mail.example.org", .imap_port = 143,
	    .imaps_port = 993, .submission_port = 587 };
	char addr[AUTOCONFIG_ADDR_MAX + 1];
	struct buf b;
	int r;

	(void)autoconfig_route((const char *)data, size);
	r = autoconfig_query_address((const char *)data, size, addr, sizeof(addr));
	if (r > 0) {
		check_addr(addr);
		buf_init(&b, 65536);
		if (autoconfig_thunderbird(&p, strrchr(addr, '@') + 1, &b) < 0)
			abort();
		buf_deinit(&b);
	}
	if (size > AUTOCONFIG_BODY_MAX)
		return 0;
	r = autoconfig_outlook_address(data, size, addr, sizeof(addr));
	if (r > 0) {
		check_addr(addr);
		p.address = (size & 1) != 0;
		buf_init(&b, 65536);
		if (autoconfig_outlook(&p, addr, &b) < 0)
			abort();
		buf_deinit(&b);
	}
	return 0;
}
