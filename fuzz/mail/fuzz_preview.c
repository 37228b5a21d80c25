/*
 * fuzz_preview.c — libFuzzer target for message previews (src/mail/preview.c): the input
 * is parsed as a message and its preview written, and (first byte: html or not) taken
 * as decoded text and previewed; both results must be valid UTF-8 (RFC 3629) without
 * control characters or leading, trailing or doubled spaces, at most
 * MAIL_PREVIEW_CHARS characters.
 */
#include <stddef.h>
#include <stdint.h>

#include "mail/message.h"
#include "mail/preview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct buf *b)
{
	const unsigned char *p = (const unsigned char *)b->data;
	size_t i = 0, chars = 0;

	if (b->len > 4 * MAIL_PREVIEW_CHARS)
		__builtin_trap();
	if (b->len > 0 && (p[0] == ' ' || p[b->len - 1] == ' '))
		__builtin_trap();
	while (i < b->len) {
		uint32_t cp;
		size_t n, k;

		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f ||
			    (p[i] == ' ' && i + 1 < b->len && p[i + 1] == ' '))
				__builtin_trap();
			i++;
			chars++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 2;
			cp = p[i] & 0x1f;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			n = 3;
			cp = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 4;
			cp = p[i] & 0x07;
		} else
			__builtin_trap();
		if (i + n > b->len)
			__builtin_trap();
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				__builtin_trap();
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0x80 && cp <= 0xa0))
			__builtin_trap();
		i += n;
		chars++;
	}
	if (chars > MAIL_PREVIEW_CHARS)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_message *m = mail_message_parse(data, size, NULL);
	struct buf out;

	buf_init(&out, BUF_UNLIMITED);
	if (mail_preview_write(&out, m) < 0)
		__builtin_trap();
	check(&out);
	mail_message_free(&m);
	if (size > 0) {
		buf_reset(&out);
		if (mail_preview_text(&out, data + 1, size - 1, (data[0] & 1) != 0) < 0)
			__builtin_trap();
		check(&out);
	}
	buf_deinit(&out);
	return 0;
}
