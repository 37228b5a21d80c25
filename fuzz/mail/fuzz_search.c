/*
 * fuzz_search.c — libFuzzer target for SEARCH text matching: the run-by-run folding and
 * chunked search of mail_search_text against folding the whole text and needle at once
 * with utf8proc (the definition). The first byte gives the needle's length, the needle
 * follows, the rest is the text (any bytes: invalid UTF-8 is taken as ISO-8859-1). The
 * text is also repeated past the 64 KiB search chunk (when bit 5 of the first byte is
 * set) so that matches straddle chunks. The text is also taken as a header block:
 * mail_search_header_block (the cached header fields, searched without a parse) and
 * mail_search_header must equal unfolding, RFC 2047 decoding and folding every field
 * of the name (Subject or From, bit 6 of the first byte) whole.
 */
#include <stddef.h>
#include <stdint.h>

#include <utf8proc.h>

#include "mail/header.h"
#include "mail/message.h"
#include "mail/rfc2047.h"
#include "mail/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
ref_fold(const unsigned char *p, size_t len, size_t *len_r)
{
	struct buf clean;
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t n;

	buf_init(&clean, BUF_UNLIMITED);
	(void)mail_charset_to_utf8(&clean, NULL, p, len);
	n = utf8proc_map((const utf8proc_uint8_t *)buf_cstr(&clean), (utf8proc_ssize_t)clean.len,
	    &dst, UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD);
	if (n < 0)
		__builtin_trap();
	buf_deinit(&clean);
	*len_r = (size_t)n;
	return (char *)dst;
}

static void
compare(const unsigned char *needle, size_t nlen, const unsigned char *text, size_t tlen)
{
	struct mail_search_key *k = mail_search_key_create((const char *)needle, nlen);
	size_t fn, ft;
	char *fnd = ref_fold(needle, nlen, &fn), *ftx = ref_fold(text, tlen, &ft);
	bool want = fn == 0 || memmem(ftx, ft, fnd, fn) != NULL;

	if (mail_search_text(k, (const char *)text, tlen) != want)
		__builtin_trap();
	free(fnd);
	free(ftx);
	mail_search_key_destroy(&k);
}

static void
compare_header(const unsigned char *needle, size_t nlen, const unsigned char *hdr,
    size_t len, const char *name)
{
	struct mail_search_key *k = mail_search_key_create((const char *)needle, nlen);
	struct mail_message *m = mail_message_parse(hdr, len, NULL);
	struct mail_header_field f;
	size_t fn, pos = 0;
	char *fnd = ref_fold(needle, nlen, &fn);
	bool want = false;

	while (!want && mail_header_next(hdr, m->root->hdr_len, &pos, &f) > 0) {
		struct buf u, d;
		size_t ft;
		char *ftx;

		if (!mail_header_name_eq(f.name, f.name_len, name))
			continue;
		buf_init(&u, BUF_UNLIMITED);
		buf_init(&d, BUF_UNLIMITED);
		(void)mail_header_unfold(&u, f.value, f.value_len);
		(void)mail_rfc2047_decode(&d, buf_cstr(&u), u.len);
		ftx = ref_fold((const unsigned char *)buf_cstr(&d), d.len, &ft);
		want = fn == 0 || memmem(ftx, ft, fnd, fn) != NULL;
		free(ftx);
		buf_deinit(&u);
		buf_deinit(&d);
	}
	if (mail_search_header_block(k, hdr, len, name) != (want ? 1 : 0) ||
	    mail_search_header(k, m, NULL, name) != want)
		__builtin_trap();
	free(fnd);
	mail_message_free(&m);
	mail_search_key_destroy(&k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nlen;
	struct buf big;

	if (size == 0)
		return 0;
	nlen = MIN((size_t)data[0] % 32, size - 1);
	compare(data + 1, nlen, data + 1 + nlen, size - 1 - nlen);
	compare_header(data + 1, nlen, data + 1 + nlen, size - 1 - nlen,
	    (data[0] & 0x40) ? "From" : "Subject");
	if (size - 1 - nlen == 0 || !(data[0] & 0x20))
		return 0;
	/* for one input in two, the text repeated to just over one search chunk */
	buf_init(&big, BUF_UNLIMITED);
	while (big.len < 64 * 1024 + 64)
		(void)buf_append(&big, data + 1 + nlen, size - 1 - nlen);
	compare(data + 1, nlen, (const unsigned char *)big.data, big.len);
	buf_deinit(&big);
	return 0;
}
