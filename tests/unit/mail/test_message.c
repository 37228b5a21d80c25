/*
 * test_message.c — IMAP-octet sizes and the CRLF reader (every origin and count, one
 * octet at a time), header field access, part numbering and BODY[section] parsing and
 * resolution against LF and CRLF copies of the same messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/header.h"
#include "mail/message.h"
#include "mail/section.h"

static char *
to_crlf(const char *s, size_t *len_r)
{
	size_t n = strlen(s), o = 0;
	char *d = malloc(2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			d[o++] = '\r';
		d[o++] = s[i];
	}
	d[o] = '\0';
	*len_r = o;
	return d;
}

static void
test_octets(void **state)
{
	static const char *const raw[] = {
		"", "a", "\n", "\r\n", "a\nb\r\nc\n", "\r", "\r\r\n\n", "x\n\n\ny", "\n\r\n\n\r",
	};

	for (size_t k = 0; k < N_ELEMENTS(raw); k++) {
		const unsigned char *p = (const unsigned char *)raw[k];
		size_t len = strlen(raw[k]), clen, lines = 0;
		char *crlf;
		/* the expected CRLF view: bare LF -> CRLF */
		struct buf want;

		buf_init(&want, 1024);
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '\n') {
				lines++;
				if (i == 0 || p[i - 1] != '\r')
					buf_append_c(&want, '\r');
			}
			buf_append_c(&want, (char)p[i]);
		}
		crlf = want.data == NULL ? "" : want.data;
		clen = want.len;
		assert_int_equal(mail_octets_size(p, len), clen);
		assert_int_equal(mail_octets_lines(p, len), lines);
		/* every origin and count, whole and one octet at a time */
		for (uint64_t origin = 0; origin <= clen + 1; origin++) {
			for (uint64_t count = 0; count <= clen + 1; count++) {
				uint64_t expect = origin >= clen ? 0 : MIN(count, clen - origin);
				struct mail_octets_reader r;
				uint64_t total;
				struct buf a, b;
				int ret;

				buf_init(&a, 1024);
				buf_init(&b, 1024);
				assert_int_equal(mail_octets_append(&a, p, len, origin, count), 0);
				assert_int_equal(a.len, expect);
				if (expect > 0)
					assert_memory_equal(a.data, crlf + origin, expect);
				mail_octets_reader_init(&r, p, len, origin, count, &total);
				assert_int_equal(total, expect);
				while ((ret = mail_octets_read(&r, &b, 1)) > 0)
					assert_int_equal(ret, 1);
				assert_int_equal(ret, 0);
				assert_int_equal(b.len, expect);
				if (expect > 0)
					assert_memory_equal(b.data, crlf + origin, expect);
				buf_deinit(&a);
				buf_deinit(&b);
			}
		}
		/* a full buffer fails without appending or advancing */
		if (clen > 1) {
			struct mail_octets_reader r;
			struct buf small;

			buf_init(&small, 1);
			mail_octets_reader_init(&r, p, len, 0, UINT64_MAX, NULL);
			assert_int_equal(mail_octets_read(&r, &small, 100), -1);
			assert_int_equal(small.len, 0);
			assert_int_equal(mail_octets_read(&r, &small, 1), 1);
			buf_deinit(&small);
		}
		buf_deinit(&want);
	}
}

/* The block-wise counting against a byte-by-byte count, across the 64-byte blocks. */
static void
test_octets_count_long(void **state)
{
	static const char alphabet[] = { 'a', '\r', '\n', '\n', '\r', 'b', '\0', '\xff' };
	unsigned char p[600];
	uint32_t seed = 99;

	for (int round = 0; round < 5000; round++) {
		size_t len, size, lines = 0;
		uint64_t got_size, got_lines;

		seed = seed * 1103515245 + 12345;
		len = (seed >> 16) % sizeof(p);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			/* some rounds nearly all CRLF, some nearly all bare LF */
			p[i] = (unsigned char)alphabet[(seed >> 16) % (round % 3 == 0 ? 3 :
			    N_ELEMENTS(alphabet))];
		}
		size = len;
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '\n') {
				lines++;
				if (i == 0 || p[i - 1] != '\r')
					size++;
			}
		}
		/* the whole string, and from a random start (blocks begin anywhere) */
		mail_octets_count(p, len, &got_size, &got_lines);
		assert_int_equal(got_size, size);
		assert_int_equal(got_lines, lines);
		if (len > 0) {
			size_t o = (seed >> 8) % len, sz = len - o, ln = 0;

			for (size_t i = o; i < len; i++) {
				if (p[i] == '\n') {
					ln++;
					if (i == o || p[i - 1] != '\r')
						sz++;
				}
			}
			mail_octets_count(p + o, len - o, &got_size, &got_lines);
			assert_int_equal(got_size, sz);
			assert_int_equal(got_lines, ln);
		}
	}
	/* long runs of LFs: the per-block byte counters must not overflow */
	memset(p, '\n', sizeof(p));
	{
		uint64_t sz, ln;

		mail_octets_count(p, sizeof(p), &sz, &ln);
		assert_int_equal(ln, sizeof(p));
		assert_int_equal(sz, 2 * sizeof(p));
		for (size_t i = 0; i + 1 < sizeof(p); i += 2) {
			p[i] = '\r';
			p[i + 1] = '\n';
		}
		mail_octets_count(p, sizeof(p), &sz, &ln);
		assert_int_equal(ln, sizeof(p) / 2);
		assert_int_equal(sz, sizeof(p));
	}
}

/* Partial ranges of a long text: the reader skips 4 KiB blocks before walking. */
static void
test_octets_reader_long(void **state)
{
	static const char alphabet[] = { 'a', 'b', '\r', '\n', '\n', 'c' };
	static const uint64_t counts[] = { 0, 1, 2, 7, 4095, 4096, 5000, 20000, UINT64_MAX };
	const size_t len = 3 * 4096 + 777;
	unsigned char *p = malloc(len);
	struct buf want, out;
	uint32_t seed = 7;

	for (int round = 0; round < 6; round++) {
		buf_init(&want, BUF_UNLIMITED);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			/* round 0: LF only, 1: CRLF only, else mixed with stray CRs */
			if (round == 0)
				p[i] = (seed >> 16) % 30 == 0 ? '\n' : 'x';
			else if (round == 1)
				p[i] = i % 2 == 1 ? '\n' : ((seed >> 16) % 15 == 0 ? '\r' : 'y');
			else
				p[i] = (unsigned char)alphabet[(seed >> 16) % N_ELEMENTS(alphabet)];
			/* CRLF split exactly at block ends */
			if (round == 4 && i % 4096 == 4095)
				p[i] = '\r';
			if (round == 4 && i % 4096 == 0 && i > 0)
				p[i] = '\n';
		}
		if (round == 1)
			for (size_t i = 1; i < len; i += 2)
				p[i - 1] = p[i - 1] == '\r' ? '\r' : (i % 4 == 1 ? '\r' : 'y');
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
				buf_append_c(&want, '\r');
			buf_append_c(&want, (char)p[i]);
		}
		assert_int_equal(mail_octets_size(p, len), want.len);
		for (int k = 0; k < 400; k++) {
			uint64_t origin;

			seed = seed * 1103515245 + 12345;
			/* near block boundaries in octets or raw bytes, or anywhere */
			if (k % 3 == 0)
				origin = (uint64_t)(1 + (seed >> 16) % 3) * 4096 + (seed >> 8) % 9 - 4;
			else if (k % 3 == 1)
				origin = mail_octets_size(p, (size_t)(1 + (seed >> 16) % 3) * 4096) +
				    (seed >> 8) % 5 - 2;
			else
				origin = (seed >> 8) % (want.len + 3);
			for (size_t c = 0; c < N_ELEMENTS(counts); c++) {
				struct mail_octets_reader r;
				uint64_t total, n;

				n = origin >= want.len ? 0 : MIN(counts[c], want.len - origin);
				buf_init(&out, BUF_UNLIMITED);
				mail_octets_reader_init(&r, p, len, origin, counts[c], &total);
				assert_int_equal(total, n);
				assert_int_equal(mail_octets_append(&out, p, len, origin, counts[c]), 0);
				assert_int_equal(out.len, n);
				if (n > 0)
					assert_memory_equal(out.data, want.data + origin, n);
				buf_deinit(&out);
			}
		}
		buf_deinit(&want);
	}
	free(p);
}

static void
test_header_fields(void **state)
{
	static const char hdr[] =
	    " stray continuation\n"
	    "Subject: hello\n\tworld \n"
	    "no colon line\n"
	    "X-Empty:\n"
	    "To : a@b\r\n"
	    "subject:second\n"
	    "\n"
	    "Body: not a header\n";
	const unsigned char *h = (const unsigned char *)hdr;
	struct mail_header_field f;
	size_t pos = 0;
	char *v;

	assert_int_equal(mail_header_next(h, sizeof(hdr) - 1, &pos, &f), 1);
	assert_true(mail_header_name_eq(f.name, f.name_len, "SUBJECT"));
	v = mail_header_unfold_dup(f.value, f.value_len);
	assert_string_equal(v, "hello\tworld ");
	free(v);
	assert_int_equal(mail_header_next(h, sizeof(hdr) - 1, &pos, &f), 1);
	assert_true(mail_header_name_eq(f.name, f.name_len, "x-empty"));
	assert_int_equal(f.value_len, 0);
	assert_int_equal(mail_header_next(h, sizeof(hdr) - 1, &pos, &f), 1);
	assert_true(mail_header_name_eq(f.name, f.name_len, "to"));
	assert_int_equal(f.value_len, 4);
	assert_int_equal(mail_header_next(h, sizeof(hdr) - 1, &pos, &f), 1);
	assert_int_equal(mail_header_next(h, sizeof(hdr) - 1, &pos, &f), 0);
	assert_int_equal(mail_header_next(h, sizeof(hdr) - 1, &pos, &f), 0);

	v = mail_header_get(h, sizeof(hdr) - 1, "subject");
	assert_string_equal(v, "hello\tworld ");
	free(v);
	v = mail_header_get(h, sizeof(hdr) - 1, "To");
	assert_string_equal(v, "a@b");
	free(v);
	assert_null(mail_header_get(h, sizeof(hdr) - 1, "Body"));
	assert_null(mail_header_get(h, sizeof(hdr) - 1, "Missing"));
	/* every prefix of the block is walked without reading past it */
	for (size_t cut = 0; cut < sizeof(hdr); cut++) {
		unsigned char *d = malloc(cut + 1);

		memcpy(d, hdr, cut);
		pos = 0;
		while (mail_header_next(d, cut, &pos, &f) > 0)
			assert_true(f.off + f.len <= cut && f.value + f.value_len <= d + cut);
		free(d);
	}
}

struct section_parse_case {
	const char *spec;
	int ret;
	enum mail_section_kind kind;
	unsigned int depth;
	unsigned int nfields;
	const char *canonical;
};

static void
test_section_parse(void **state)
{
	static const struct section_parse_case cases[] = {
		{ "", 0, MAIL_SECTION_BODY, 0, 0, "" },
		{ "HEADER", 0, MAIL_SECTION_HEADER, 0, 0, "HEADER" },
		{ "header", 0, MAIL_SECTION_HEADER, 0, 0, "HEADER" },
		{ "TEXT", 0, MAIL_SECTION_TEXT, 0, 0, "TEXT" },
		{ "1", 0, MAIL_SECTION_BODY, 1, 0, "1" },
		{ "1.2", 0, MAIL_SECTION_BODY, 2, 0, "1.2" },
		{ "1.2.MIME", 0, MAIL_SECTION_MIME, 2, 0, "1.2.MIME" },
		{ "2.HEADER", 0, MAIL_SECTION_HEADER, 1, 0, "2.HEADER" },
		{ "3.TEXT", 0, MAIL_SECTION_TEXT, 1, 0, "3.TEXT" },
		{ "HEADER.FIELDS (From To)", 0, MAIL_SECTION_HEADER_FIELDS, 0, 2,
		  "HEADER.FIELDS (FROM TO)" },
		{ "1.HEADER.FIELDS.NOT (x-a \"Subject\")", 0, MAIL_SECTION_HEADER_FIELDS_NOT, 1, 2,
		  "1.HEADER.FIELDS.NOT (X-A SUBJECT)" },
		{ "MIME", -1, 0, 0, 0, NULL },
		{ "0", -1, 0, 0, 0, NULL },
		{ "01", -1, 0, 0, 0, NULL },
		{ "1.", -1, 0, 0, 0, NULL },
		{ ".1", -1, 0, 0, 0, NULL },
		{ "1..2", -1, 0, 0, 0, NULL },
		{ "4294967296", -1, 0, 0, 0, NULL },
		{ "HEADER.FIELDS", -1, 0, 0, 0, NULL },
		{ "HEADER.FIELDS ()", -1, 0, 0, 0, NULL },
		{ "HEADER.FIELDS (a", -1, 0, 0, 0, NULL },
		{ "HEADER.FIELDS (a:b)", -1, 0, 0, 0, NULL },
		{ "HEADER.FIELDS (a) x", -1, 0, 0, 0, NULL },
		{ "HEADER.FIELDS (a  b)", -1, 0, 0, 0, NULL },
		{ "HEADERX", -1, 0, 0, 0, NULL },
		{ "TEXT.1", -1, 0, 0, 0, NULL },
		{ "1.TEXTX", -1, 0, 0, 0, NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct mail_section s;
		const char *error = NULL;
		int ret = mail_section_parse(cases[i].spec, strlen(cases[i].spec), &s, &error);

		print_message("spec [%s]\n", cases[i].spec);
		assert_int_equal(ret, cases[i].ret);
		if (ret < 0) {
			assert_non_null(error);
			continue;
		}
		assert_int_equal(s.kind, cases[i].kind);
		assert_int_equal(s.depth, cases[i].depth);
		assert_int_equal(s.nfields, cases[i].nfields);
		{
			struct buf b;

			buf_init(&b, 4096);
			assert_int_equal(mail_section_write(&b, &s), 0);
			assert_string_equal(buf_cstr(&b), cases[i].canonical);
			buf_deinit(&b);
		}
		mail_section_deinit(&s);
	}
	/* every prefix of every spec parses or fails cleanly (ASan checks the reads) */
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t len = strlen(cases[i].spec);

		for (size_t cut = 0; cut <= len; cut++) {
			char *p = malloc(cut + 1);
			struct mail_section s;
			const char *error;

			memcpy(p, cases[i].spec, cut);
			if (mail_section_parse(p, cut, &s, &error) == 0)
				mail_section_deinit(&s);
			free(p);
		}
	}
	/* depth limit */
	{
		struct buf b;
		struct mail_section s;
		const char *error;

		buf_init(&b, BUF_UNLIMITED);
		for (int i = 0; i < MAIL_SECTION_MAX_DEPTH; i++)
			buf_append_str(&b, i == 0 ? "1" : ".1");
		assert_int_equal(mail_section_parse(b.data, b.len, &s, &error), 0);
		mail_section_deinit(&s);
		buf_append_str(&b, ".1");
		assert_int_equal(mail_section_parse(b.data, b.len, &s, &error), -1);
		buf_deinit(&b);
	}
}

static const char sect_msg[] =
"From: a@b\n"
"Subject: top\n"
"Content-Type: multipart/mixed; boundary=X\n"
"\n"
"preamble\n"
"--X\n"
"Content-Type: text/plain\n"
"\n"
"part one\n"
"--X\n"
"Content-Type: message/rfc822\n"
"X-Part: two\n"
"\n"
"Subject: inner\n"
"To: c@d\n"
"\n"
"inner body\n"
"--X\n"
"Content-Type: message/rfc822\n"
"\n"
"Subject: inner mp\n"
"Content-Type: multipart/alternative; boundary=Y\n"
"\n"
"--Y\n"
"\n"
"alt one\n"
"--Y\n"
"Content-Type: text/html\n"
"\n"
"<b>alt two</b>\n"
"--Y--\n"
"--X--\n"
"epilogue\n";

struct section_case {
	const char *spec;
	bool found;
	const char *want;	/* LF form; compared after LF -> CRLF */
};

static const struct section_case section_cases[] = {
	{ "HEADER", true, "From: a@b\nSubject: top\nContent-Type: multipart/mixed; boundary=X\n\n" },
	{ "HEADER.FIELDS (subject from)", true, "From: a@b\nSubject: top\n\n" },
	{ "HEADER.FIELDS (nothing)", true, "\n" },
	{ "HEADER.FIELDS.NOT (Content-Type FROM)", true, "Subject: top\n\n" },
	{ "1", true, "part one" },
	{ "1.MIME", true, "Content-Type: text/plain\n\n" },
	{ "1.HEADER", false, "" },
	{ "2", true, "Subject: inner\nTo: c@d\n\ninner body" },
	{ "2.MIME", true, "Content-Type: message/rfc822\nX-Part: two\n\n" },
	{ "2.HEADER", true, "Subject: inner\nTo: c@d\n\n" },
	{ "2.HEADER.FIELDS (To)", true, "To: c@d\n\n" },
	{ "2.TEXT", true, "inner body" },
	{ "2.1", true, "inner body" },
	{ "2.2", false, "" },
	{ "3.1", true, "alt one" },
	{ "3.1.MIME", true, "\n" },
	{ "3.2", true, "<b>alt two</b>" },
	{ "3.2.MIME", true, "Content-Type: text/html\n\n" },
	{ "3.HEADER.FIELDS (Subject)", true, "Subject: inner mp\n\n" },
	{ "3.1.1", true, "alt one" },
	{ "4", false, "" },
	{ "1.2", false, "" },
};

static void
check_sections(const char *msg, size_t len)
{
	struct mail_message *m = mail_message_parse((const unsigned char *)msg, len, NULL);

	for (size_t i = 0; i < N_ELEMENTS(section_cases); i++) {
		const struct section_case *c = &section_cases[i];
		struct mail_section s;
		struct mail_section_result r;
		const char *error;
		struct buf out;
		size_t wlen;
		char *want = to_crlf(c->want, &wlen);

		print_message("section [%s]\n", c->spec);
		assert_int_equal(mail_section_parse(c->spec, strlen(c->spec), &s, &error), 0);
		assert_int_equal(mail_section_resolve(m, &s, 1 << 20, &r), 0);
		assert_int_equal(r.found, c->found);
		assert_int_equal(r.size, wlen);
		buf_init(&out, 1 << 20);
		assert_int_equal(mail_section_result_append(&out, m, &r, 0, UINT64_MAX), 0);
		assert_int_equal(out.len, wlen);
		if (wlen > 0)
			assert_memory_equal(out.data, want, wlen);
		/* every partial <origin.count> is the matching slice */
		for (uint64_t o = 0; o <= wlen; o++) {
			for (uint64_t n = 0; n <= wlen - o + 1; n++) {
				buf_reset(&out);
				assert_int_equal(mail_section_result_append(&out, m, &r, o, n), 0);
				assert_int_equal(out.len, MIN(n, wlen - o));
				if (out.len > 0)
					assert_memory_equal(out.data, want + o, out.len);
			}
		}
		buf_deinit(&out);
		mail_section_result_deinit(&r);
		mail_section_deinit(&s);
		free(want);
	}
	/* the whole message */
	{
		struct mail_section s;
		struct mail_section_result r;
		const char *error;

		assert_int_equal(mail_section_parse("", 0, &s, &error), 0);
		assert_int_equal(mail_section_resolve(m, &s, 0, &r), 0);
		assert_int_equal(r.size, mail_octets_size(m->data, m->len));
		mail_section_result_deinit(&r);
		/* generated output over the limit is refused */
		assert_int_equal(mail_section_parse("HEADER.FIELDS (From)", 20, &s, &error), 0);
		assert_int_equal(mail_section_resolve(m, &s, 4, &r), -1);
		assert_false(r.found);
		mail_section_result_deinit(&r);
		mail_section_deinit(&s);
	}
	mail_message_free(&m);
}

/* BINARY[part] (RFC 3516): transfer encodings removed, LF-only and CRLF files alike. */
static const char bin_msg[] =
	"Content-Type: multipart/mixed; boundary=b\n\n"
	"--b\nContent-Transfer-Encoding: quoted-printable\n\nA=3D=00b=\nc\nd \n"
	"--b\nContent-Transfer-Encoding: Base64\n\nAAEC\nYQ==\n"
	"--b\nContent-Transfer-Encoding: x-foo\n\nraw\n"
	"--b\nContent-Transfer-Encoding: 8bit\n\nl1\nl2\n"
	"--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nX: y\n\nz\n"
	"--b--\n";

static void
check_binary(const char *data, size_t len)
{
	static const struct {
		const char *spec;
		int ret;
		const char *want;
		size_t want_len;
	} cases[] = {
		{ "1", 0, "A=\0bc\r\nd ", 9 },
		{ "2", 0, "\0\1\2a", 4 },
		{ "3", -2, "", 0 },
		{ "4", 0, "l1\r\nl2", 6 },
		{ "5", 0, "X: y\r\n\r\nz", 9 },	/* message/rfc822: not decoded */
		{ "9", 0, "", 0 },
	};
	struct mail_message *m = mail_message_parse((const unsigned char *)data, len, NULL);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mail_section s;
		struct mail_section_result r;
		const char *error;

		assert_int_equal(mail_section_parse(cases[i].spec, strlen(cases[i].spec), &s,
		    &error), 0);
		assert_int_equal(mail_section_binary_known_cte(m, &s), cases[i].ret != -2);
		assert_int_equal(mail_section_binary(m, &s, 1 << 20, &r), cases[i].ret);
		assert_true(r.generated);
		assert_int_equal(r.buf.len, cases[i].want_len);
		assert_int_equal(r.size, cases[i].ret == 0 ? cases[i].want_len : 0);
		if (cases[i].want_len > 0)
			assert_memory_equal(r.buf.data, cases[i].want, cases[i].want_len);
		mail_section_result_deinit(&r);
		/* over the limit: refused, empty */
		if (cases[i].want_len > 1) {
			assert_int_equal(mail_section_binary(m, &s, 1, &r), -1);
			assert_int_equal(r.buf.len, 0);
			mail_section_result_deinit(&r);
		}
		mail_section_deinit(&s);
	}
	{
		/* the whole message: its CRLF form */
		struct mail_section s;
		struct mail_section_result r;
		const char *error;

		assert_int_equal(mail_section_parse("", 0, &s, &error), 0);
		assert_true(mail_section_binary_known_cte(m, &s));
		assert_int_equal(mail_section_binary(m, &s, 1 << 20, &r), 0);
		assert_int_equal(r.size, mail_octets_size(m->data, m->len));
		mail_section_result_deinit(&r);
		mail_section_deinit(&s);
	}
	mail_message_free(&m);
}

static void
test_binary(void **state)
{
	size_t n;
	char *crlf = to_crlf(bin_msg, &n);

	check_binary(bin_msg, strlen(bin_msg));
	check_binary(crlf, n);
	free(crlf);
}

static void
test_sections(void **state)
{
	size_t n;
	char *crlf = to_crlf(sect_msg, &n);

	check_sections(sect_msg, strlen(sect_msg));
	check_sections(crlf, n);
	free(crlf);
}

static void
test_part_find(void **state)
{
	static const char text[] = "Subject: x\n\nbody\n";
	struct mail_message *m = mail_message_parse((const unsigned char *)text,
	    strlen(text), NULL);
	uint32_t one[] = { 1, 1 }, two[] = { 2 }, zero[] = { 0 };

	/* BODY[1] of a non-multipart message is its body */
	assert_ptr_equal(mail_part_find(m, one, 1), m->root);
	assert_null(mail_part_find(m, two, 1));
	assert_null(mail_part_find(m, zero, 1));
	assert_ptr_equal(mail_part_find(m, NULL, 0), m->root);
	mail_message_free(&m);
}

static void
test_no_separator_and_oversized_header(void **state)
{
	struct mail_limits lim;
	struct mail_message *m;
	static const char msg[] = "Subject: a\nX: bbbbbbbbbbbbbbbbbbbb\nY: c\n\nbody\n";

	m = mail_message_parse((const unsigned char *)"A: b\nC: d", 9, NULL);
	assert_true(m->root->flags & MAIL_PART_NO_SEPARATOR);
	assert_int_equal(m->root->hdr_len, 9);
	assert_int_equal(m->root->hdr_size, 10);
	assert_int_equal(m->root->body_len, 0);
	mail_message_free(&m);

	mail_limits_default(&lim);
	lim.max_header_bytes = 20;
	m = mail_message_parse((const unsigned char *)msg, strlen(msg), &lim);
	assert_true(m->limited);
	assert_int_equal(m->root->hdr_len, 11);
	assert_int_equal(m->root->body_off, 11);
	mail_message_free(&m);
}

static void
check_same_header(const struct mail_message *full, const struct mail_message *h)
{
	const struct mail_part *a = full->root, *b = h->root;

	assert_true(h->header_only);
	assert_int_equal(h->len, a->hdr_len);
	assert_int_equal(b->hdr_off, 0);
	assert_int_equal(b->hdr_len, a->hdr_len);
	assert_int_equal(b->hdr_size, a->hdr_size);
	assert_int_equal(b->hdr_lines, a->hdr_lines);
	assert_int_equal(b->body_off, a->body_off);
	assert_int_equal(b->body_len, 0);
	assert_int_equal(b->body_size, 0);
	assert_int_equal(b->body_lines, 0);
	assert_null(b->children);
	assert_int_equal(b->flags & ~(unsigned int)MAIL_PART_LIMITED,
	    a->flags & ~(unsigned int)MAIL_PART_LIMITED);
	assert_string_equal(b->type, a->type);
	assert_string_equal(b->subtype, a->subtype);
	assert_int_equal(b->nparams, a->nparams);
	for (unsigned int i = 0; i < a->nparams; i++)
		assert_string_equal(b->params[i].value, a->params[i].value);
	if (a->encoding == NULL)
		assert_null(b->encoding);
	else
		assert_string_equal(b->encoding, a->encoding);
}

/* The header-only parse of every prefix that holds the whole header. */
static void
check_header_only(const char *msg, size_t len, const struct mail_limits *lim)
{
	const unsigned char *d = (const unsigned char *)msg;
	struct mail_message *full = mail_message_parse(d, len, lim), *h;
	size_t hend = full->root->hdr_len;

	for (size_t cut = 0; cut <= len; cut++) {
		bool complete;
		size_t e = mail_header_block_end(d, cut, lim, &complete);

		if (complete) {
			assert_int_equal(e, hend);
			h = mail_message_parse_header(d, cut, lim);
			check_same_header(full, h);
			mail_message_free(&h);
		} else {
			/*
			 * only a prefix that stops inside the header is undecided (or
			 * inside a line that might still grow past the size limit)
			 */
			assert_int_equal(e, cut);
			assert_true(cut <= hend ||
			    (lim != NULL && cut <= lim->max_header_bytes));
		}
	}
	/* the whole file, also without a blank line */
	h = mail_message_parse_header(d, len, lim);
	check_same_header(full, h);
	mail_message_free(&h);
	mail_message_free(&full);
}

static void
test_parse_header(void **state)
{
	static const char *const msgs[] = {
		"", "\n", "\r\n", "\r", "A: b", "A: b\n", "A: b\r", "A: b\nC: d",
		"Subject: x\n\nbody\n", "Subject: x\r\n\r\nbody\r\n",
		"Subject: x\n folded\n\n\n", "X: y\r\n\r",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n",
		"Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\n"
		    "Subject: inner\n\ninner body\n",
		"Content-Type: text/plain; charset=utf-8\r\nFrom: a@b\r\n\r\n\r\n",
	};
	struct mail_limits lim;
	struct mail_message *m;
	size_t n;
	char *crlf;

	for (size_t i = 0; i < N_ELEMENTS(msgs); i++) {
		print_message("header-only %zu\n", i);
		check_header_only(msgs[i], strlen(msgs[i]), NULL);
	}
	check_header_only(sect_msg, strlen(sect_msg), NULL);
	crlf = to_crlf(sect_msg, &n);
	check_header_only(crlf, n, NULL);
	free(crlf);

	/* the header size limit ends the header the same way */
	mail_limits_default(&lim);
	for (lim.max_header_bytes = 1; lim.max_header_bytes < 45; lim.max_header_bytes++) {
		static const char big[] = "Subject: a\nX: bbbbbbbbbbbbbbbbbbbb\nY: c\n\nbody\n";

		check_header_only(big, strlen(big), &lim);
		m = mail_message_parse_header((const unsigned char *)big, strlen(big), &lim);
		/* "Y: c\n" ends at 40 */
		if (lim.max_header_bytes < 40) {
			assert_true(m->limited);
			assert_true(m->root->flags & MAIL_PART_NO_SEPARATOR);
		} else
			assert_false(m->limited);
		mail_message_free(&m);
	}

	/* a multipart root has its type but no children */
	m = mail_message_parse_header((const unsigned char *)sect_msg, strlen(sect_msg), NULL);
	assert_true(m->root->flags & MAIL_PART_MULTIPART);
	assert_int_equal(m->root->nchildren, 0);
	assert_int_equal(m->nparts, 1);
	mail_message_free(&m);
}

/* Boundary lines among dashes: only "--b" at the start of a line counts. */
static void
test_boundary_search(void **state)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=\"b-1\"\n\n"
	    "pre - amble x--b-1 -\n---b-1\n- --b-1\n"
	    "--b-1\n\none - two --b-1\n-\n--b-10\n--\n"
	    "--b-1 \t\n\nsecond\n"
	    "--b-1--\nepilogue\n--b-1\n\nnot a part\n";
	static const char *const want[] = {
		"one - two --b-1\n-\n--b-10\n--", "second",
	};

	for (int pass = 0; pass < 2; pass++) {
		size_t len;
		char *d = pass == 0 ? strdup(msg) : to_crlf(msg, &len);
		struct mail_message *m;
		const struct mail_part *c;
		size_t i = 0;

		len = strlen(d);
		m = mail_message_parse((const unsigned char *)d, len, NULL);
		assert_int_equal(m->root->nchildren, 2);
		for (c = m->root->children; c != NULL; c = c->next, i++) {
			size_t wlen;
			char *w = pass == 0 ? strdup(want[i]) : to_crlf(want[i], &wlen);

			assert_int_equal(c->body_len, strlen(w));
			assert_memory_equal(m->data + c->body_off, w, c->body_len);
			free(w);
		}
		mail_message_free(&m);
		free(d);
	}
}

static void
test_skip_cfws(void **state)
{
	static const struct { const char *in; size_t from, want; } t[] = {
		{ "", 0, 0 }, { "x", 0, 0 }, { " \t\r\n x", 0, 5 }, { "(c) x", 0, 4 },
		{ "(a (nested) comment)x", 0, 20 }, { "(quoted \\) paren)x", 0, 17 },
		{ "(open", 0, 5 }, { "(a\\", 0, 3 }, { "ab (c) d", 2, 7 }, { ")x", 0, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(t); i++)
		assert_int_equal(mail_header_skip_cfws((const unsigned char *)t[i].in,
		    strlen(t[i].in), t[i].from), t[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_octets),
		cmocka_unit_test(test_octets_count_long),
		cmocka_unit_test(test_octets_reader_long),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_section_parse),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_part_find),
		cmocka_unit_test(test_no_separator_and_oversized_header),
		cmocka_unit_test(test_parse_header),
		cmocka_unit_test(test_boundary_search),
		cmocka_unit_test(test_skip_cfws),
		cmocka_unit_test(test_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
