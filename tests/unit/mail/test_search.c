/*
 * test_search.c — SEARCH text matching (src/mail/search.c): the run-by-run folding
 * (ASCII lower-cased directly, only non-ASCII runs through utf8proc) and the chunked,
 * early-exit search must give exactly what folding the whole text with utf8proc gives:
 * pinned by explicit cases (ß and ss, fullwidth letters, ligatures, combining marks,
 * invalid UTF-8 taken as ISO-8859-1, NUL bytes), matches straddling the 64 KiB chunk
 * boundary at every offset, and random texts compared with a whole-text reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <utf8proc.h>

#include "mail/message.h"
#include "mail/rfc2047.h"
#include "mail/search.h"

/* The folding as it was before the ASCII fast path: the whole text at once. */
static char *
ref_fold(const char *p, size_t len, size_t *len_r)
{
	struct buf clean;
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t n;

	buf_init(&clean, BUF_UNLIMITED);
	(void)mail_charset_to_utf8(&clean, NULL, (const unsigned char *)p, len);
	n = utf8proc_map((const utf8proc_uint8_t *)buf_cstr(&clean), (utf8proc_ssize_t)clean.len,
	    &dst, UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD);
	assert_true(n >= 0);
	buf_deinit(&clean);
	*len_r = (size_t)n;
	return (char *)dst;
}

static bool
ref_match(const char *needle, size_t nlen, const char *text, size_t tlen)
{
	size_t fn, ft;
	char *n = ref_fold(needle, nlen, &fn), *t = ref_fold(text, tlen, &ft);
	bool ret = fn == 0 || memmem(t, ft, n, fn) != NULL;

	free(n);
	free(t);
	return ret;
}

static bool
match(const char *needle, size_t nlen, const char *text, size_t tlen)
{
	struct mail_search_key *k = mail_search_key_create(needle, nlen);
	bool ret = mail_search_text(k, text, tlen);

	mail_search_key_destroy(&k);
	/* and the same as the whole-text reference */
	assert_int_equal(ret, ref_match(needle, nlen, text, tlen));
	return ret;
}

#define M(needle, text) match(needle, sizeof(needle) - 1, text, sizeof(text) - 1)

static void
test_semantics(void **state)
{
	/* ASCII case */
	assert_true(M("zanzibar", "to ZANZIBAR and back"));
	assert_true(M("ZanZIBar", "to zanzibar"));
	assert_false(M("zanzibar", "to zanzibr"));
	assert_true(M("", ""));
	assert_true(M("", "abc"));
	assert_false(M("a", ""));
	assert_true(M("a\0b", "xA\0By"));
	assert_false(M("a\0b", "xA\0Cy"));
	assert_true(M("[\x7f]", "[\x7f]"));
	/* sharp s folds to ss, either way round */
	assert_true(M("strasse", "Stra\xc3\x9f" "e"));
	assert_true(M("STRA\xc3\x9f" "E", "strasse"));
	assert_true(M("\xc3\x9f", "SS"));
	assert_true(M("s", "\xc3\x9f"));
	assert_false(M("\xc3\x9f", "s"));
	assert_true(M("\xe1\xba\x9e", "ss"));		/* capital sharp s */
	/* fullwidth letters decompose to ASCII */
	assert_true(M("zanzibar", "\xef\xbd\x9a\xef\xbd\x81\xef\xbd\x8e\xef\xbd\x9a"
	    "\xef\xbd\x89\xef\xbd\x82\xef\xbd\x81\xef\xbd\x92"));
	assert_true(M("\xef\xbc\xba\xef\xbc\xa1N", "a zan b"));
	assert_true(M("ab", "\xef\xbd\x81" "B"));	/* fullwidth a then ASCII B */
	/* ligatures, Kelvin sign, dotted capital I, final sigma */
	assert_true(M("file", "a \xef\xac\x81le"));
	assert_true(M("k", "\xe2\x84\xaa"));
	assert_true(M("i", "\xc4\xb0"));
	assert_true(M("\xcf\x83", "\xcf\x82"));
	assert_true(M("\xd0\xb4\xd0\xb5\xd1\x84 g", "abc \xd0\x94\xd0\x95\xd0\xa4 GHI"));
	/* composed and decomposed accents; the base letter alone matches too */
	assert_true(M("\xc3\xa9", "caf" "e\xcc\x81"));
	assert_true(M("e\xcc\x81", "CAF\xc3\x89"));
	assert_true(M("cafe", "caf\xc3\xa9"));
	assert_false(M("caf\xc3\xa9", "cafe"));
	/* combining marks in non-canonical order are reordered */
	assert_true(M("a\xcc\xa7\xcc\x81", "xa\xcc\x81\xcc\xa7y"));
	/* invalid UTF-8 is ISO-8859-1, in the text and in the needle */
	assert_true(M("caf\xc3\xa9", "CAF\xe9 au lait"));
	assert_true(M("caf\xe9", "caf\xc3\xa9"));
	assert_true(M("\xc3\xa3" "a", "\xc3" "A"));	/* lone lead byte then ASCII */
	assert_true(M("\xc3\xbf", "\xff"));
	assert_false(M("\xef\xbf\xbd", "\xff"));
	assert_true(M("\xc3\xa2\xc2\x82", "\xe2\x82"));	/* truncated sequence */
	assert_true(M("\xc3\xad\xc2\xa0\xc2\x80", "\xed\xa0\x80"));	/* surrogate */
}

/* A needle placed at every offset around the 64 KiB chunk boundaries. */
static void
test_chunk_boundaries(void **state)
{
	static const char *const fillers[] = { "x", "\xc3\xa9", "y\xd0\x96", "\xe9" };
	static const char needle[] = "Z\xc3\xa4nz\xc3\xad" "bar";
	static const char written[] = "z\xc3\x84NZI\xcc\x81" "BAR";
	const size_t chunk = 64 * 1024;

	for (size_t fi = 0; fi < N_ELEMENTS(fillers); fi++) {
		size_t flen = strlen(fillers[fi]), size = 3 * chunk;
		char *text = malloc(size + 64);

		for (size_t i = 0; i + flen <= size + 64; i += flen)
			memcpy(text + i, fillers[fi], flen);
		/* the second boundary with the ASCII filler only (time) */
		for (size_t base = chunk; base <= (fi == 0 ? 2 : 1) * chunk; base += chunk) {
			for (size_t at = base - 16; at < base + 16; at++) {
				char *t = malloc(size + 64);
				struct mail_search_key *k = mail_search_key_create(needle,
				    strlen(needle));
				struct mail_search_key *miss = mail_search_key_create("zanzibarr", 9);

				memcpy(t, text, size + 64);
				memcpy(t + at, written, strlen(written));
				assert_true(mail_search_text(k, t, base + 4096));
				assert_false(mail_search_text(miss, t, base + 4096));
				/* cut just before the end of the match: no hit */
				assert_false(mail_search_text(k, t, at + strlen(written) - 1));
				assert_true(mail_search_text(k, t, at + strlen(written)));
				mail_search_key_destroy(&k);
				mail_search_key_destroy(&miss);
				free(t);
			}
		}
		free(text);
	}
}

/* Random texts built from troublesome pieces, compared with the reference. */
static void
test_random(void **state)
{
	static const char *const pieces[] = {
		"a", "B", "z", "Z", " ", "\n", "ss", "SS", "\xc3\x9f", "\xe1\xba\x9e",
		"\xef\xbd\x93", "\xef\xbc\xb3", "\xc3\xa9", "e\xcc\x81", "\xcc\x81", "\xcc\xa7",
		"\xc3", "\xff", "\xe2\x84", "\xe2\x84\xaa", "k", "\xc4\xb0", "i", "\xcf\x82",
		"\xcf\x83", "\xef\xac\x81", "fi", "\xed\xa0\x80", "\xf0\x9f\x98\x80", "\x80",
		"\xd0\x96", "\xd0\xb6", "\0", "\xea\xb0\x80",
	};
	uint32_t seed = 12345;

	for (int round = 0; round < 3000; round++) {
		struct buf text, needle;
		size_t npieces, tlen;

		buf_init(&text, BUF_UNLIMITED);
		buf_init(&needle, BUF_UNLIMITED);
		seed = seed * 1103515245 + 12345;
		/* mostly short texts, some longer than a chunk */
		npieces = round % 300 == 0 ? 15000 : 1 + (seed >> 16) % 40;
		for (size_t i = 0; i < npieces; i++) {
			seed = seed * 1103515245 + 12345;
			if (round % 300 == 0 && (seed >> 16) % 4 != 0)
				(void)buf_append_str(&text, "filler text ");
			const char *pc = pieces[(seed >> 16) % N_ELEMENTS(pieces)];

			(void)buf_append(&text, pc, pc[0] == '\0' ? 1 : strlen(pc));
		}
		seed = seed * 1103515245 + 12345;
		if ((seed >> 16) % 2 == 0 && text.len > 0) {
			/* a piece of the text itself */
			size_t from, n;

			seed = seed * 1103515245 + 12345;
			from = (seed >> 8) % text.len;
			seed = seed * 1103515245 + 12345;
			n = 1 + (seed >> 16) % 8;
			(void)buf_append(&needle, text.data + from, MIN(n, text.len - from));
		} else {
			for (size_t i = 0, np = 1 + (seed >> 20) % 4; i < np; i++) {
				const char *pc;

				seed = seed * 1103515245 + 12345;
				pc = pieces[(seed >> 16) % N_ELEMENTS(pieces)];
				(void)buf_append(&needle, pc, pc[0] == '\0' ? 1 : strlen(pc));
			}
		}
		tlen = text.len;
		(void)match(buf_cstr(&needle), needle.len, buf_cstr(&text), tlen);
		buf_deinit(&text);
		buf_deinit(&needle);
	}
}

static bool
body_hit(const char *msg, const char *needle)
{
	struct mail_message *m = mail_message_parse((const unsigned char *)msg, strlen(msg),
	    NULL);
	struct mail_search_key *k = mail_search_key_create(needle, strlen(needle));
	bool ret = mail_search_body(k, m, false);

	mail_search_key_destroy(&k);
	mail_message_free(&m);
	return ret;
}

/* Body parts in several charsets and encodings. */
static void
test_body_charsets(void **state)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=b\n\n"
	    "--b\nContent-Type: text/plain; charset=iso-8859-1\n"
	    "Content-Transfer-Encoding: quoted-printable\n\nStra=DFe und S=FC=\n=DF\n"
	    "--b\nContent-Type: text/plain; charset=windows-1252\n\n\x93quoted\x94 \xe9t\xe9\n"
	    "--b\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n\n77y677yh77yu\n"	/* fullwidth ZAN */
	    "--b\nContent-Type: text/plain; charset=utf-8\n\nraw caf\xe9 and \xc3\x9f\n"
	    "--b\nContent-Type: text/plain; charset=x-unknown\n\nUNKNOWN \xfc\n"
	    "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!!:::\n"
	    "--b\nContent-Type: application/octet-stream\n\nnot text\n"
	    "--b--\n";

	assert_true(body_hit(msg, "strasse"));
	assert_true(body_hit(msg, "s\xc3\xbc\xc3\x9f"));
	assert_true(body_hit(msg, "\xe2\x80\x9cquoted\xe2\x80\x9d"));
	assert_true(body_hit(msg, "\xc3\xa9t\xc3\xa9"));
	assert_true(body_hit(msg, "zan"));
	assert_true(body_hit(msg, "CAF\xc3\x89 AND SS"));
	assert_true(body_hit(msg, "unknown \xc3\xbc"));
	/* a base64 part that decodes to nothing does not match its raw text */
	assert_false(body_hit(msg, "!!!!"));
	assert_false(body_hit(msg, "not text"));
	/* windows-1252 is converted: the raw byte 0x93 is not ISO-8859-1 here */
	assert_false(body_hit(msg, "\xc2\x93quoted"));

	/* quoted-printable: invalid escapes kept, soft breaks with padding, "=" at the end */
	{
		static const char qp[] =
		    "Content-Transfer-Encoding: quoted-printable\n\n"
		    "a=ZZb =3D=3d c=  \t\r\nd e=4\n=4 f=";

		assert_true(body_hit(qp, "a=zzb"));
		assert_true(body_hit(qp, "== cd e=4\n=4 f"));
		assert_false(body_hit(qp, "f="));
		assert_false(body_hit(qp, "=3d"));
	}
	/* base64 across lines, with padding and junk in between */
	{
		static const char b64[] =
		    "Content-Transfer-Encoding: BASE64\n\nWmFu\r\nemli YX*I=\n=\n";

		assert_true(body_hit(b64, "zanzibar"));
		assert_false(body_hit(b64, "wmfu"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_semantics),
		cmocka_unit_test(test_chunk_boundaries),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_body_charsets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
