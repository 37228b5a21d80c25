/*
 * test_jmap_mime.c — unit tests for the MIME builder of Email/set create
 * (src/jmap/jmap_mime.c): the header fields from the properties (RFC 8621 §4.6), the
 * Date and Message-ID made when absent, text/HTML/attachments as multipart/alternative
 * and multipart/mixed, quoted-printable and base64 with lines of at most 78, and every
 * limit at its edge: nesting depth, part count, the size bound, CR/LF in values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "jmap/jmap_mime.h"
#include "lib/util.h"

static int
blob(void *ctx, const char *id, const unsigned char **data_r, size_t *len_r)
{
	static unsigned char big[1000];

	(void)ctx;
	if (strcmp(id, "Bbig") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)i;
	*data_r = big;
	*len_r = sizeof(big);
	return 1;
}

static enum jmap_mime_result
build(const char *json, size_t max, struct buf *out, const char **prop_r)
{
	struct jmap_mime_env env = { 1765000000, "u1", "example.org", max, blob, NULL };
	json_error_t jerr;
	json_t *o = json_loads(json, 0, &jerr);
	const char *desc;
	enum jmap_mime_result r;

	assert_non_null(o);
	buf_init(out, BUF_UNLIMITED);
	static char prop[256];

	r = jmap_mime_build(o, &env, out, prop_r, &desc);
	(void)buf_append_c(out, '\0');
	/* *prop_r is borrowed from the object */
	snprintf(prop, sizeof(prop), "%s", *prop_r != NULL ? *prop_r : "(null)");
	*prop_r = prop;
	json_decref(o);
	return r;
}

static void
assert_lines(const struct buf *b, size_t max)
{
	size_t col = 0;

	for (size_t i = 0; i + 1 < b->len; i++) {
		if (b->data[i] == '\n')
			assert_true(i > 0 && b->data[i - 1] == '\r');
		col = b->data[i] == '\n' ? 0 : col + 1;
		assert_true(col <= max + 1);	/* + the CR */
	}
}

static void
test_minimal(void **state)
{
	struct buf b;
	const char *prop;

	(void)state;
	assert_int_equal(build("{}", 100000, &b, &prop), JMAP_MIME_OK);
	assert_non_null(strstr(b.data, "Date: Sat, 06 Dec 2025 05:46:40 +0000\r\n"));
	assert_non_null(strstr(b.data, "Message-ID: <u1@example.org>\r\n"));
	assert_non_null(strstr(b.data, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(b.data, "Content-Type: text/plain;\r\n charset=\"utf-8\"\r\n"));
	buf_deinit(&b);
}

static void
test_headers(void **state)
{
	struct buf b;
	const char *prop;

	(void)state;
	assert_int_equal(build("{\"from\":[{\"name\":\"A \\\"B\\\"\",\"email\":\"a@x.org\"}],"
	    "\"to\":[{\"email\":\"t@x.org\"},{\"name\":\"Zo\\u00eb\",\"email\":\"z@x.org\"}],"
	    "\"subject\":\"Gr\\u00fc\\u00dfe\",\"sentAt\":\"2026-03-03T09:15:40+01:00\","
	    "\"messageId\":[\"m@x.org\"],\"inReplyTo\":[\"p@x.org\"],"
	    "\"header:X-T:asText\":\"plain\",\"header:X-R\":\" raw\"}", 100000, &b, &prop),
	    JMAP_MIME_OK);
	assert_non_null(strstr(b.data, "Date: Tue, 03 Mar 2026 09:15:40 +0100\r\n"));
	assert_non_null(strstr(b.data, "From: \"A \\\"B\\\"\" <a@x.org>\r\n"));
	assert_non_null(strstr(b.data, "To: t@x.org,\r\n =?UTF-8?B?Wm/Dqw==?= <z@x.org>\r\n"));
	assert_non_null(strstr(b.data, "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"));
	assert_non_null(strstr(b.data, "Message-ID: <m@x.org>\r\n"));
	assert_non_null(strstr(b.data, "In-Reply-To: <p@x.org>\r\n"));
	assert_non_null(strstr(b.data, "X-T: plain\r\nX-R: raw\r\n"));
	buf_deinit(&b);
}

struct bad {
	const char *json;
	enum jmap_mime_result want;
	const char *prop;
};

static const struct bad bads[] = {
	{ "{\"subject\":\"a\\r\\nBcc: x@y\"}", JMAP_MIME_INVALID, "subject" },
	{ "{\"subject\":\"a\\u0001b\"}", JMAP_MIME_INVALID, "subject" },
	{ "{\"from\":[{\"name\":\"a\\nb\",\"email\":\"a@b\"}]}", JMAP_MIME_INVALID, "from" },
	{ "{\"to\":[{\"email\":\"a@b>\\r\\nX: y\"}]}", JMAP_MIME_INVALID, "to" },
	{ "{\"to\":[]}", JMAP_MIME_INVALID, "to" },
	{ "{\"header:X-A\":\"a\\r\\n b\"}", JMAP_MIME_INVALID, "header:X-A" },
	{ "{\"header:Subject\":\"x\"}", JMAP_MIME_INVALID, "header:Subject" },
	{ "{\"header:Content-Type\":\"x\"}", JMAP_MIME_INVALID, "header:Content-Type" },
	{ "{\"header:X-A:asAddresses\":\"x\"}", JMAP_MIME_INVALID, "header:X-A:asAddresses" },
	{ "{\"header:X-A\":\"\\u00e9\"}", JMAP_MIME_INVALID, "header:X-A" },
	{ "{\"sentAt\":\"2026-02-30T00:00:00Z\"}", JMAP_MIME_INVALID, "sentAt" },
	{ "{\"sentAt\":\"2026-02-03T00:00:00\"}", JMAP_MIME_INVALID, "sentAt" },
	{ "{\"messageId\":[\"a@b\",\"c@d\"]}", JMAP_MIME_INVALID, "messageId" },
	{ "{\"blobId\":\"B1\"}", JMAP_MIME_INVALID, "blobId" },
	{ "{\"textBody\":[{\"partId\":\"x\"}]}", JMAP_MIME_INVALID, "bodyValues" },
	{ "{\"textBody\":[{\"partId\":\"x\"},{\"partId\":\"y\"}]}", JMAP_MIME_INVALID, "textBody" },
	{ "{\"attachments\":[{\"blobId\":\"Bnone\"}]}", JMAP_MIME_BLOB, "Bnone" },
	{ "{\"attachments\":[{\"blobId\":\"Bbig\",\"type\":\"a b/c\"}]}", JMAP_MIME_INVALID,
	  "attachments" },
	{ "{\"bodyStructure\":{\"type\":\"multipart/mixed\",\"subParts\":[]}}", JMAP_MIME_INVALID,
	  "bodyStructure" },
	{ "{\"bodyStructure\":{\"type\":\"text/plain\",\"partId\":\"a\",\"blobId\":\"Bbig\"},"
	  "\"bodyValues\":{\"a\":{\"value\":\"x\"}}}", JMAP_MIME_INVALID, "bodyStructure" },
	{ "{\"bodyStructure\":{\"type\":\"image/png\",\"partId\":\"a\"},"
	  "\"bodyValues\":{\"a\":{\"value\":\"x\"}}}", JMAP_MIME_INVALID, "bodyStructure" },
};

static void
test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bads); i++) {
		struct buf b;
		const char *prop;

		assert_int_equal(build(bads[i].json, 100000, &b, &prop), bads[i].want);
		assert_string_equal(prop, bads[i].prop);
		assert_int_equal(b.len, 1);	/* nothing but the test's NUL */
		buf_deinit(&b);
	}
}

static void
test_body(void **state)
{
	struct buf b;
	const char *prop;
	char json[4096];

	(void)state;
	snprintf(json, sizeof(json), "{\"textBody\":[{\"partId\":\"t\"}],\"htmlBody\":[{\"partId\":"
	    "\"h\"}],\"attachments\":[{\"blobId\":\"Bbig\",\"name\":\"\\u00fc.bin\","
	    "\"disposition\":\"attachment\",\"type\":\"application/octet-stream\"}],"
	    "\"bodyValues\":{\"t\":{\"value\":\"%s\\u00fc\\n\"},\"h\":{\"value\":\"<p>x</p>\"}}}",
	    "0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 = trailing \\nline");
	assert_int_equal(build(json, 100000, &b, &prop), JMAP_MIME_OK);
	assert_lines(&b, 78);
	assert_non_null(strstr(b.data, "Content-Type: multipart/mixed;"));
	assert_non_null(strstr(b.data, "Content-Type: multipart/alternative;"));
	assert_non_null(strstr(b.data, "Content-Transfer-Encoding: quoted-printable\r\n"));
	assert_non_null(strstr(b.data, "=3D trailing=20\r\nline=C3=BC\r\n"));
	assert_non_null(strstr(b.data, "Content-Type: text/html;\r\n charset=\"utf-8\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n<p>x</p>\r\n"));
	assert_non_null(strstr(b.data, "Content-Disposition: attachment;\r\n"
	    " filename*=utf-8''%C3%BC.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"));
	buf_deinit(&b);
	/* a long non-ASCII subject: encoded words on lines of at most 78 */
	assert_int_equal(build("{\"subject\":\"\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc"
	    "\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc"
	    "\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc"
	    "\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\\u00fc\"}", 100000, &b, &prop),
	    JMAP_MIME_OK);
	assert_lines(&b, 78);
	buf_deinit(&b);
}

/* RFC 8621 §4.6: inline parts (a cid, not an attachment) go with the HTML into
 * multipart/related, the others into multipart/mixed. */
static void
test_related(void **state)
{
	struct buf b;
	const char *prop, *alt, *rel, *html, *img, *att;

	(void)state;
	assert_int_equal(build("{\"textBody\":[{\"partId\":\"t\"}],\"htmlBody\":[{\"partId\":"
	    "\"h\"}],\"attachments\":[{\"blobId\":\"Bbig\",\"type\":\"image/png\",\"cid\":"
	    "\"img1@x\"},{\"blobId\":\"Bbig\",\"type\":\"application/pdf\",\"disposition\":"
	    "\"attachment\"}],\"bodyValues\":{\"t\":{\"value\":\"t\"},\"h\":{\"value\":"
	    "\"<img src=cid:img1@x>\"}}}", 100000, &b, &prop), JMAP_MIME_OK);
	assert_non_null(strstr(b.data, "Content-Type: multipart/mixed;"));
	alt = strstr(b.data, "Content-Type: multipart/alternative;");
	rel = strstr(b.data, "Content-Type: multipart/related;");
	html = strstr(b.data, "Content-Type: text/html;");
	img = strstr(b.data, "Content-Type: image/png\r\nContent-ID: <img1@x>\r\n");
	att = strstr(b.data, "Content-Type: application/pdf\r\n");
	assert_true(alt != NULL && rel != NULL && html != NULL && img != NULL && att != NULL);
	assert_true(alt < rel && rel < html && html < img && img < att);
	buf_deinit(&b);
	/* without HTML there is nothing to relate: a cid part is an attachment */
	assert_int_equal(build("{\"textBody\":[{\"partId\":\"t\"}],\"attachments\":[{"
	    "\"blobId\":\"Bbig\",\"type\":\"image/png\",\"cid\":\"i@x\"}],\"bodyValues\":"
	    "{\"t\":{\"value\":\"t\"}}}", 100000, &b, &prop), JMAP_MIME_OK);
	assert_null(strstr(b.data, "multipart/related"));
	assert_non_null(strstr(b.data, "multipart/mixed"));
	buf_deinit(&b);
}

/* n multipart levels around one text part */
static char *
nested(unsigned n)
{
	struct buf j;

	buf_init(&j, BUF_UNLIMITED);
	(void)buf_append_str(&j, "{\"bodyValues\":{\"a\":{\"value\":\"x\"}},\"bodyStructure\":");
	for (unsigned i = 0; i < n; i++)
		(void)buf_append_str(&j, "{\"type\":\"multipart/mixed\",\"subParts\":[");
	(void)buf_append_str(&j, "{\"partId\":\"a\"}");
	for (unsigned i = 0; i < n; i++)
		(void)buf_append_str(&j, "]}");
	(void)buf_append_str(&j, "}");
	(void)buf_append_c(&j, '\0');
	return buf_steal(&j);
}

static void
test_limits(void **state)
{
	struct buf b, j;
	const char *prop;
	char *s;
	size_t full;

	(void)state;
	/* depth: JMAP_MIME_DEPTH_MAX levels with the leaf */
	s = nested(JMAP_MIME_DEPTH_MAX - 1);
	assert_int_equal(build(s, 1000000, &b, &prop), JMAP_MIME_OK);
	buf_deinit(&b);
	free(s);
	s = nested(JMAP_MIME_DEPTH_MAX);
	assert_int_equal(build(s, 1000000, &b, &prop), JMAP_MIME_INVALID);
	assert_string_equal(prop, "bodyStructure");
	buf_deinit(&b);
	free(s);
	/* parts: the multipart and 255 leaves are 256; one more is too many */
	for (unsigned n = JMAP_MIME_PARTS_MAX - 1; n <= JMAP_MIME_PARTS_MAX; n++) {
		buf_init(&j, BUF_UNLIMITED);
		(void)buf_append_str(&j, "{\"bodyValues\":{\"a\":{\"value\":\"x\"}},\"bodyStructure\":"
		    "{\"type\":\"multipart/mixed\",\"subParts\":[");
		for (unsigned i = 0; i < n; i++)
			(void)buf_append_str(&j, i > 0 ? ",{\"partId\":\"a\"}" : "{\"partId\":\"a\"}");
		(void)buf_append_str(&j, "]}}");
		(void)buf_append_c(&j, '\0');
		assert_int_equal(build(j.data, 10000000, &b, &prop),
		    n < JMAP_MIME_PARTS_MAX ? JMAP_MIME_OK : JMAP_MIME_INVALID);
		buf_deinit(&b);
		buf_deinit(&j);
	}
	/* size: exactly max_size octets fit, one fewer does not */
	assert_int_equal(build("{\"attachments\":[{\"blobId\":\"Bbig\"}]}", 1000000, &b, &prop),
	    JMAP_MIME_OK);
	full = b.len - 1;
	buf_deinit(&b);
	assert_int_equal(build("{\"attachments\":[{\"blobId\":\"Bbig\"}]}", full, &b, &prop),
	    JMAP_MIME_OK);
	assert_int_equal(b.len - 1, full);
	buf_deinit(&b);
	assert_int_equal(build("{\"attachments\":[{\"blobId\":\"Bbig\"}]}", full - 1, &b, &prop),
	    JMAP_MIME_TOO_LARGE);
	assert_int_equal(b.len, 1);
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_related),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
