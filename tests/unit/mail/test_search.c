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

#include "mail/header.h"
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

/*
 * The header value search as it was before the ASCII fast path: every field called
 * name, unfolded, RFC 2047 decoded and folded whole (ref_match).
 */
static bool
ref_header(const char *needle, const char *hdr, size_t len, const char *name)
{
	struct mail_header_field f;
	size_t pos = 0;
	bool hit = false;

	while (!hit && mail_header_next((const unsigned char *)hdr, len, &pos, &f) > 0) {
		struct buf u, d;

		if (!mail_header_name_eq(f.name, f.name_len, name))
			continue;
		buf_init(&u, BUF_UNLIMITED);
		buf_init(&d, BUF_UNLIMITED);
		(void)mail_header_unfold(&u, f.value, f.value_len);
		(void)mail_rfc2047_decode(&d, buf_cstr(&u), u.len);
		hit = ref_match(needle, strlen(needle), buf_cstr(&d), d.len);
		buf_deinit(&u);
		buf_deinit(&d);
	}
	return hit;
}

/*
 * mail_search_header_block (the cached header fields, no parse), mail_search_header
 * (a parsed message) and the reference agree; returns the answer.
 */
static bool
hdr_match(const char *needle, const char *hdr, const char *name)
{
	size_t len = strlen(hdr);
	struct mail_search_key *k = mail_search_key_create(needle, strlen(needle));
	struct mail_message *m = mail_message_parse((const unsigned char *)hdr, len, NULL);
	int blk = mail_search_header_block(k, (const unsigned char *)hdr, len, name);
	bool parsed = mail_search_header(k, m, NULL, name);
	bool ref = ref_header(needle, hdr, m->root->hdr_len, name);

	assert_int_not_equal(blk, -1);
	assert_int_equal(blk, ref);
	assert_int_equal(parsed, ref);
	/* the key's reused scratch: the same answer again */
	assert_int_equal(mail_search_header_block(k, (const unsigned char *)hdr, len, name),
	    blk);
	mail_message_free(&m);
	mail_search_key_destroy(&k);
	return ref;
}

static void
test_header_fast_path(void **state)
{
	char big[4096];

	/* ASCII: case-insensitive either way, only the named field */
	assert_true(hdr_match("kilimanjaro", "Subject: Trip to KiliManjaro\r\n\r\n", "Subject"));
	assert_true(hdr_match("KILI", "subject: kilimanjaro\r\n\r\n", "SUBJECT"));
	assert_false(hdr_match("kilimanjaro", "From: kilimanjaro\r\nSubject: x\r\n\r\n",
	    "Subject"));
	assert_false(hdr_match("[a]", "Subject: [A\r\n\r\n", "Subject"));
	assert_true(hdr_match("@", "Subject: A@b\n\n", "Subject"));
	/* the leading whitespace is not part of the value, trailing is */
	assert_false(hdr_match(" x", "Subject: x\r\n\r\n", "Subject"));
	assert_true(hdr_match("x ", "Subject: \t x \r\n\r\n", "Subject"));
	assert_true(hdr_match("x", "Subject:x\r\n\r\n", "Subject"));
	/* a term straddling a folded line: unfolded first */
	assert_true(hdr_match("hello world", "Subject: hello\r\n world\r\n\r\n", "Subject"));
	assert_true(hdr_match("l\tlo W", "Subject: hel\r\n\tlo\r\n World\r\n\r\n",
	    "Subject"));
	assert_false(hdr_match("hello", "Subject: hel\r\n\tlo\r\n World\r\n\r\n", "Subject"));
	assert_false(hdr_match("hello\r\n", "Subject: hello\r\n world\r\n\r\n", "Subject"));
	assert_true(hdr_match("x", "Subject:\r\n x\r\n\r\n", "Subject"));
	/* encoded words: decoded, Q and B, adjacent words joined, charsets converted */
	assert_true(hdr_match("caf\xc3\xa9", "Subject: =?UTF-8?Q?Caf=C3=A9?=\r\n\r\n",
	    "Subject"));
	assert_true(hdr_match("CAFE", "Subject: =?ISO-8859-1?Q?caf=E9?=\r\n\r\n",
	    "Subject"));
	assert_true(hdr_match("zanzibar", "Subject: =?utf-8?B?WmFuemliYXI=?=\r\n\r\n",
	    "Subject"));
	assert_false(hdr_match("wmfu", "Subject: =?utf-8?B?WmFuemliYXI=?=\r\n\r\n",
	    "Subject"));
	assert_true(hdr_match("ab", "Subject: =?utf-8?q?a?= =?utf-8?q?b?=\r\n\r\n",
	    "Subject"));
	assert_true(hdr_match("ab", "Subject: =?utf-8?q?a?=\r\n =?utf-8?q?b?=\r\n\r\n",
	    "Subject"));
	/* "=?" that is not an encoded word stays literal */
	assert_true(hdr_match("=?x", "Subject: a =?x b\r\n\r\n", "Subject"));
	assert_true(hdr_match("= ?", "Subject: = ?\r\n\r\n", "Subject"));
	/* 8-bit values: UTF-8, and invalid UTF-8 taken as ISO-8859-1 */
	assert_true(hdr_match("stra\xc3\x9f" "e", "Subject: STRASSE\r\n\r\n", "Subject"));
	assert_true(hdr_match("strasse", "Subject: Stra\xc3\x9f" "e\r\n\r\n", "Subject"));
	assert_true(hdr_match("caf\xc3\xa9", "Subject: CAF\xc9\r\n\r\n", "Subject"));
	assert_true(hdr_match("jos\xc3\xa9", "From: \"Jos\xc3\xa9\" <j@x>\r\n\r\n", "From"));
	/* a non-ASCII needle never matches ASCII text, one folding to ASCII may */
	assert_false(hdr_match("\xc3\xa9", "Subject: cafe\r\n\r\n", "Subject"));
	assert_true(hdr_match("\xef\xac\x81le", "Subject: a FILE\r\n\r\n", "Subject"));
	assert_true(hdr_match("\xe2\x84\xaa", "Subject: OK\r\n\r\n", "Subject"));
	/* every instance of the field */
	assert_true(hdr_match("quimby", "From: a@x\r\nSubject: s\r\nFrom: Zebedee Quimby "
	    "<z@x>\r\n\r\n", "From"));
	assert_true(hdr_match("quimby", "From: a@x\r\nFrom: =?utf-8?q?Quimby?= <z@x>\r\n"
	    "\r\n", "From"));
	assert_false(hdr_match("quimby", "From: a@x\r\nFrom: b@y\r\nTo: quimby\r\n\r\n",
	    "From"));
	/* empty fields: the empty needle matches when the field exists */
	assert_true(hdr_match("", "Subject:\r\n\r\n", "Subject"));
	assert_true(hdr_match("", "Subject: \r\n\r\n", "Subject"));
	assert_false(hdr_match("", "From: a\r\n\r\n", "Subject"));
	assert_false(hdr_match("a", "Subject:\r\n\r\n", "Subject"));
	assert_false(hdr_match("a", "", "Subject"));
	/* only up to the blank line; bare LF; name with WSP before the colon */
	assert_false(hdr_match("x", "Subject: a\n\nSubject: x\n", "Subject"));
	assert_true(hdr_match("x", "Subject : x\n\n", "Subject"));
	/* long values (beyond the stack buffer), the term at the end */
	memcpy(big, "Subject: ", 9);
	memset(big + 9, 'A', sizeof(big) - 9 - 16);
	memcpy(big + sizeof(big) - 16, "KilimanJaro\r\n\r\n", 16);
	assert_true(hdr_match("aKILIMANJARO", big, "Subject"));
	assert_false(hdr_match("kilimanjarox", big, "Subject"));
}

static unsigned
rnd(uint32_t *seed, unsigned n)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) % n;
}

/* Random header blocks from pieces that exercise every path, against the reference. */
static void
test_header_random(void **state)
{
	static const char *const names[] = {
		"Subject", "From", "subject", "To", "Subject ", "Subject\t", " Subject",
		"Subjects", "Subject x", "Subject\r\n", "\r\nSubject", "Sub:ject", "FROM",
	};
	static const char *const pieces[] = {
		"a", "B", "ab", " ", "\t", "\r\n ", "\n\t", "=?", "?=", "=?utf-8?q?A_b?=",
		"=?UTF-8?B?w6k=?=", "=?iso-8859-1?q?=E9?=", "\xc3\xa9", "\xe9", "\xc3\x9f",
		"SS", "\xef\xac\x81", "fi", "=", "?", "\r", "x=?y", "\xe2\x84\xaa", "k",
		":", "\r\n\r\n", "\n",
	};
	static const char *const needles[] = {
		"a", "ab", "b a", "\xc3\xa9", "ss", "fi", "k", "=?", "a b", " ", "", "e",
		"\xc3\x9f", "FI", "?",
	};
	uint32_t seed = 12345;
	unsigned iter;

#define RND(n) rnd(&seed, (n))
	for (iter = 0; iter < 20000; iter++) {
		struct buf h;
		unsigned nf = RND(4), i, j;

		buf_init(&h, BUF_UNLIMITED);
		for (i = 0; i < nf; i++) {
			unsigned np = RND(8);

			buf_append_str(&h, names[RND(N_ELEMENTS(names))]);
			buf_append_str(&h, ":");
			for (j = 0; j < np; j++)
				buf_append_str(&h, pieces[RND(N_ELEMENTS(pieces))]);
			buf_append_str(&h, "\r\n");
		}
		buf_append_str(&h, "\r\n");
		for (j = 0; j < 3; j++) {
			const char *needle = needles[RND(N_ELEMENTS(needles))];

			(void)hdr_match(needle, buf_cstr(&h), RND(2) ? "Subject" : "From");
		}
		buf_deinit(&h);
	}
#undef RND
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_semantics),
		cmocka_unit_test(test_chunk_boundaries),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_body_charsets),
		cmocka_unit_test(test_header_fast_path),
		cmocka_unit_test(test_header_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
