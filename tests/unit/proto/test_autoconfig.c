/*
 * test_autoconfig.c — unit tests for the client autoconfiguration documents
 * (src/proto/autoconfig.c): routes, the address of Thunderbird's query and of
 * Outlook's request body (found, absent, malformed, hostile), the address syntax, and
 * the two documents for each login form and port set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/autoconfig.h"

#define S(x) x, sizeof(x) - 1

static void
test_route(void **state)
{
	(void)state;
	assert_int_equal(autoconfig_route(S("/mail/config-v1.1.xml")), AUTOCONFIG_THUNDERBIRD);
	assert_int_equal(autoconfig_route(S("/mail/config-v1.1.xml?emailaddress=a%40b.c")),
	    AUTOCONFIG_THUNDERBIRD);
	assert_int_equal(autoconfig_route(S("/.well-known/autoconfig/mail/config-v1.1.xml")),
	    AUTOCONFIG_THUNDERBIRD);
	assert_int_equal(autoconfig_route(S("/Autodiscover/Autodiscover.xml")),
	    AUTOCONFIG_OUTLOOK);
	assert_int_equal(autoconfig_route(S("/mail/config-v1.1.xmlx")), AUTOCONFIG_NONE);
	assert_int_equal(autoconfig_route(S("/mail/")), AUTOCONFIG_NONE);
	assert_int_equal(autoconfig_route(S("")), AUTOCONFIG_NONE);
}

static void
test_addr(void **state)
{
	static const char *good[] = { "a@example.org", "first.last+tag@mail.example.org",
	    "x_y-z@a.b" };
	static const char *bad[] = { "", "a", "@example.org", "a@", "a@b", ".a@b.c", "a.@b.c",
	    "a..b@c.d", "a<b@c.d", "a&b@c.d", "a'b@c.d", "a\"b@c.d", "a b@c.d", "a@-b.c",
	    "a@b..c", "a@b.c;", "a@b_c.d" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(autoconfig_addr_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(autoconfig_addr_valid(bad[i]));
}

static void
test_query(void **state)
{
	char out[AUTOCONFIG_ADDR_MAX + 1];

	(void)state;
	assert_int_equal(autoconfig_query_address(S("/m?emailaddress=ann%40example.net"), out,
	    sizeof(out)), 1);
	assert_string_equal(out, "ann@example.net");
	assert_int_equal(autoconfig_query_address(S("/m?x=1&EmailAddress=b@c.de&y"), out,
	    sizeof(out)), 1);
	assert_string_equal(out, "b@c.de");
	assert_int_equal(autoconfig_query_address(S("/m"), out, sizeof(out)), 0);
	assert_int_equal(autoconfig_query_address(S("/m?x=1"), out, sizeof(out)), 0);
	assert_int_equal(autoconfig_query_address(S("/m?emailaddress=%3Cx%3E%40a.b"), out,
	    sizeof(out)), -1);
	assert_int_equal(autoconfig_query_address(S("/m?emailaddress=a%00b%40c.d"), out,
	    sizeof(out)), -1);
	assert_int_equal(autoconfig_query_address(S("/m?emailaddress=a%4"), out, sizeof(out)),
	    -1);
	assert_int_equal(autoconfig_query_address(S("/m?emailaddress=a+b%40c.d"), out,
	    sizeof(out)), -1);
}

static void
test_outlook_body(void **state)
{
	char out[AUTOCONFIG_ADDR_MAX + 1];
	static const char body[] = "<Autodiscover><Request><emailaddress> bob@example.org\n"
	    "</EMailAddress></Request></Autodiscover>";

	(void)state;
	assert_int_equal(autoconfig_outlook_address((const unsigned char *)body,
	    sizeof(body) - 1, out, sizeof(out)), 1);
	assert_string_equal(out, "bob@example.org");
	assert_int_equal(autoconfig_outlook_address((const unsigned char *)S("<Request/>"), out,
	    sizeof(out)), 0);
	assert_int_equal(autoconfig_outlook_address(
	    (const unsigned char *)S("<EMailAddress>bob@example.org"), out, sizeof(out)), -1);
	assert_int_equal(autoconfig_outlook_address(
	    (const unsigned char *)S("<EMailAddress>&lt;@x.y</EMailAddress>"), out,
	    sizeof(out)), -1);
	assert_int_equal(autoconfig_outlook_address(
	    (const unsigned char *)S("<EMailAddress></EMailAddress>"), out, sizeof(out)), -1);
}

static void
test_documents(void **state)
{
	struct autoconfig_params p = { .host = "mail.example.org", .imap_port = 143,
	    .imaps_port = 993, .pop3s_port = 995, .submission_port = 587 };
	struct buf b;
	const char *d;

	(void)state;
	buf_init(&b, 65536);
	assert_int_equal(autoconfig_thunderbird(&p, NULL, &b), 0);
	assert_int_equal(buf_append_c(&b, '\0'), 0);
	d = (const char *)b.data;
	assert_non_null(strstr(d, "<emailProvider id=\"example.org\">"));
	assert_non_null(strstr(d, "<port>993</port>\n      <socketType>SSL</socketType>"));
	assert_non_null(strstr(d, "<port>143</port>\n      <socketType>STARTTLS</socketType>"));
	assert_non_null(strstr(d, "<incomingServer type=\"pop3\">"));
	assert_non_null(strstr(d, "<username>%EMAILLOCALPART%</username>"));
	assert_true(strstr(d, "993") < strstr(d, "143"));	/* implicit TLS first */
	b.len = 0;
	p.address = true;
	assert_int_equal(autoconfig_outlook(&p, "bob@example.org", &b), 0);
	assert_int_equal(buf_append_c(&b, '\0'), 0);
	d = (const char *)b.data;
	assert_non_null(strstr(d, "<LoginName>bob@example.org</LoginName>"));
	assert_non_null(strstr(d, "<SSL>on</SSL>"));
	b.len = 0;
	p.address = false;
	p.imaps_port = 0;
	p.submission_port = 0;
	assert_int_equal(autoconfig_outlook(&p, "bad<@x.y", &b), 0);
	assert_int_equal(buf_append_c(&b, '\0'), 0);
	d = (const char *)b.data;
	assert_null(strstr(d, "LoginName"));
	assert_null(strstr(d, "<Type>SMTP</Type>"));
	assert_non_null(strstr(d, "<SSL>off</SSL>\n        <Encryption>TLS</Encryption>"));
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_outlook_body),
		cmocka_unit_test(test_documents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
