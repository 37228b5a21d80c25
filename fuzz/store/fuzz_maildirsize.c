/*
 * fuzz_maildirsize.c — libFuzzer target for the maildirsize parser (Maildir++ quota, a
 * file the user, Dovecot and every Maildir++ program write). Checks the bounds the store
 * relies on (never negative, at most MAILDIRSIZE_LINES_MAX lines, nothing accepted at
 * MAILDIRSIZE_MAX octets or with a NUL) and that a file made of our limits line and one
 * line of the parsed totals parses back to the same values.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "store/store_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildirsize ms, ms2;
	struct buf out;

	if (maildirsize_parse((const char *)data, size, &ms) < 0)
		return 0;
	if (size >= MAILDIRSIZE_MAX || memchr(data, '\0', size) != NULL)
		panic("accepted an overlong file or a NUL");
	if (ms.lines > MAILDIRSIZE_LINES_MAX || (int64_t)ms.bytes < 0 || (int64_t)ms.count < 0)
		panic("bounds");
	buf_init(&out, BUF_UNLIMITED);
	if (maildirsize_format_limits(ms.storage_limit, ms.messages_limit, &out) < 0 ||
	    buf_appendf(&out, "%" PRIu64 " %" PRIu64 "\n", ms.bytes, ms.count) < 0)
		panic("format failed");
	if (maildirsize_parse(out.data, out.len, &ms2) < 0)
		panic("own output rejected");
	if (ms2.storage_limit != ms.storage_limit || ms2.messages_limit != ms.messages_limit ||
	    ms2.bytes != ms.bytes || ms2.count != ms.count || ms2.lines != 1)
		panic("round trip differs");
	buf_deinit(&out);
	return 0;
}
