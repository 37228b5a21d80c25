/*
 * fuzz_subject.c — libFuzzer target for RFC 5256 base subjects (src/mail/subject.c): the
 * input is a raw Subject value. The result must be at most MAIL_BASE_SUBJECT_MAX octets
 * of valid UTF-8 without control characters, doubled, leading or trailing spaces, must not end
 * with "(fwd)", and must be its own base subject (extraction is idempotent).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mail/rfc2047.h"
#include "mail/subject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out, again;
	const unsigned char *p;
	size_t i;

	buf_init(&out, BUF_UNLIMITED);
	buf_init(&again, BUF_UNLIMITED);
	if (mail_base_subject((const char *)data, size, &out, NULL) != 0)
		__builtin_trap();
	p = (const unsigned char *)buf_cstr(&out);
	if (out.len > MAIL_BASE_SUBJECT_MAX)
		__builtin_trap();
	if (out.len > 0 && (p[0] == ' ' || p[out.len - 1] == ' '))
		__builtin_trap();
	if (out.len >= 5 && strncasecmp((const char *)p + out.len - 5, "(fwd)", 5) == 0)
		__builtin_trap();
	for (i = 0; i < out.len;) {
		size_t n;

		if (p[i] < 0x20 || p[i] == 0x7f ||
		    (p[i] == ' ' && i + 1 < out.len && p[i + 1] == ' '))
			__builtin_trap();
		n = mail_utf8_next(p + i, out.len - i, NULL);
		if (n == 0)
			__builtin_trap();
		i += n;
	}
	/* "=?" in the result would be decoded again: idempotence only without it */
	if (memmem(p, out.len, "=?", 2) == NULL) {
		if (mail_base_subject((const char *)p, out.len, &again, NULL) != 0 ||
		    again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
			__builtin_trap();
	}
	buf_deinit(&out);
	buf_deinit(&again);
	return 0;
}
