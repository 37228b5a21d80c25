/* dovecot_conf.c (Dovecot 2.3 syntax) and import_dovecot_convert (buzon.conf text) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli/dovecot_conf.h"
#include "lib/util.h"

static struct dc_conf *
parse_ok(const char *text)
{
	struct dc_conf *c = dc_conf_create(false);
	char *err = NULL;

	if (dc_conf_parse_buffer(c, "t", text, strlen(text), &err) < 0)
		fail_msg("parse failed: %s", err);
	return c;
}

static void
parse_err(const char *text, size_t len, const char *want)
{
	struct dc_conf *c = dc_conf_create(false);
	char *err = NULL;

	assert_int_equal(dc_conf_parse_buffer(c, "t", text, len, &err), -1);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
	free(err);
	dc_conf_destroy(&c);
}

static void
test_syntax(void **state)
{
	struct dc_conf *c = parse_ok(
	    "# comment\n"
	    "a = 1 # trailing comment\n"
	    "b = x#y\n"				/* '#' not after white space: part of the value */
	    "q = \"quoted # \\\" value\"\n"
	    "s = 'single'\n"
	    "cert = </etc/ssl/x.pem\n"
	    "p = $a two\n"
	    "p = $p three $unknown\n"
	    "long = one \\\n  two\n"
	    "empty =\n"
	    "hidden = # hidden, use -P to show it\n"
	    "service imap-login {\n"
	    "  inet_listener imaps {\n"
	    "    port = 993\n"
	    "  }\n"
	    "}\n"
	    "mailbox \"Sent Messages\" {\n"
	    "  special_use = \\Sent\n"
	    "}\n"
	    "plugin{\n"
	    "}\n");
	struct dc_node *s, *l;

	assert_string_equal(dc_get(&c->root, "a")->value, "1");
	assert_string_equal(dc_get(&c->root, "b")->value, "x#y");
	assert_string_equal(dc_get(&c->root, "q")->value, "quoted # \" value");
	assert_string_equal(dc_get(&c->root, "s")->value, "single");
	assert_string_equal(dc_get(&c->root, "cert")->value, "</etc/ssl/x.pem");
	assert_string_equal(dc_get(&c->root, "p")->value, "1 two three $unknown");
	assert_string_equal(dc_get(&c->root, "long")->value, "one   two");
	assert_string_equal(dc_get(&c->root, "empty")->value, "");
	assert_true(dc_get(&c->root, "hidden")->hidden);
	assert_string_equal(dc_get(&c->root, "hidden")->value, "");
	s = c->root.first;
	while (s != NULL && !s->section)
		s = s->next;
	assert_non_null(s);
	assert_string_equal(s->key, "service");
	assert_string_equal(s->value, "imap-login");
	l = s->first;
	assert_true(l->section);
	assert_string_equal(l->value, "imaps");
	assert_string_equal(dc_get(l, "port")->value, "993");
	assert_int_equal(dc_get(l, "port")->line, 15);
	assert_string_equal(s->next->value, "Sent Messages");
	assert_string_equal(dc_get(s->next, "special_use")->value, "\\Sent");
	assert_true(s->next->next->section);
	assert_null(s->next->next->value);
	dc_conf_destroy(&c);
}

static void
test_errors(void **state)
{
	static const char nul[] = "a = 1\nb = x\0y\n";
	char *big;

	parse_err("a {\n b = 1\n", 11, "t:1: section 'a' is not closed");
	parse_err("}\n", 2, "t:1: '}' without a section");
	parse_err("a = \"x\n", 7, "t:1: unterminated quote");
	parse_err("a = \"x\" y\n", 10, "t:1: text after a quoted value");
	parse_err("a b c\n", 6, "t:1: expected '=' or '{'");
	parse_err("a {\n} x\n", 8, "t:2: text after '}'");
	parse_err("!includ x\n", 10, "t:1: unknown directive");
	parse_err("!include\n", 9, "t:1: unknown directive");
	parse_err(nul, sizeof(nul) - 1, "t:2: NUL byte");
	big = xmalloc(DC_MAX_LINE + 16);
	memcpy(big, "a = ", 4);
	memset(big + 4, 'x', DC_MAX_LINE + 10);
	parse_err(big, DC_MAX_LINE + 14, "t:1: line longer than");
	free(big);
	big = xmalloc(DC_MAX_FILE_SIZE + 1);
	memset(big, '#', DC_MAX_FILE_SIZE + 1);
	parse_err(big, DC_MAX_FILE_SIZE + 1, "larger than");
	free(big);
	{
		char deep[DC_MAX_DEPTH * 4 + 8];
		size_t n = 0;

		for (int i = 0; i <= DC_MAX_DEPTH; i++)
			n += (size_t)snprintf(deep + n, sizeof(deep) - n, "s {\n");
		parse_err(deep, n, "sections nested deeper");
	}
	/* $a $a ... doubling: bounded */
	{
		struct buf_text { char s[4096]; } t;
		size_t n = (size_t)snprintf(t.s, sizeof(t.s), "a = xxxxxxxxxxxxxxxx\n");

		for (int i = 0; i < 20; i++)
			n += (size_t)snprintf(t.s + n, sizeof(t.s) - n, "a = $a $a\n");
		parse_err(t.s, n, "value longer than");
	}
}

static void
test_convert(void **state)
{
	struct dc_conf *c = parse_ok(
	    "protocols = imap pop3\n"
	    "ssl = required\n"
	    "ssl_cert = </le/fullchain.pem\n"
	    "ssl_key = </le/privkey.pem\n"
	    "mail_location = maildir:/var/vmail/%{domain}/%{username}:INDEX=/x\n"
	    "passdb {\n  driver = passwd-file\n  args = scheme=CRYPT username_format=%u /etc/u\n}\n"
	    "userdb {\n  driver = static\n  args = uid=vmail gid=vmail home=/var/vmail/%d/%n\n}\n"
	    "auth_mechanisms = plain login cram-md5\n"
	    "last_valid_uid = 60000\n"
	    "frobnicate = 1\n"
	    "plugin {\n  quota_rule = *:storage=1048576\n  quota_rule2 = *:messages=100\n}\n"
	    "listen = \"1.2.3.4\\nmail_uid = 0\"\n");
	char *out = NULL;
	unsigned dropped = 0;

	import_dovecot_convert(c, "t", &out, &dropped);
	assert_non_null(strstr(out, "\nimap_port = 143\n"));
	assert_non_null(strstr(out, "\npop3_port = 110\npop3s_port = 995\n"));
	assert_non_null(strstr(out, "\nssl_cert = /le/fullchain.pem\nssl_key = /le/privkey.pem\n"));
	assert_non_null(strstr(out, "\nauth_allow_cleartext = loopback\n"));
	assert_non_null(strstr(out, "\npasswd_file = /etc/u\n"));
	assert_non_null(strstr(out, "\nmail_location = maildir:/var/vmail/%d/%n\n"));
	assert_non_null(strstr(out, "\nmail_uid = vmail\nmail_gid = vmail\n"));
	/* storage= without a unit is in kilobytes */
	assert_non_null(strstr(out, "\nquota_storage = 1G\nquota_messages = 100\n"));
	assert_non_null(strstr(out, "t:14: auth_mechanisms = plain login cram-md5\n#     buzon "
	    "offers PLAIN and LOGIN only (over TLS); not carried over: cram-md5\n"));
	assert_non_null(strstr(out, "t:15: last_valid_uid = 60000\n#     buzon has first_valid_uid"));
	assert_non_null(strstr(out, "t:16: frobnicate = 1\n#     no equivalent in buzon\n"));
	assert_non_null(strstr(out, "# listen: the value has a control character"));
	assert_null(strstr(out, "\nmail_uid = 0"));
	assert_non_null(strstr(out, "Dovecot's options 'INDEX=/x' were left out"));
	assert_int_equal(dropped, 3);
	free(out);
	dc_conf_destroy(&c);
	/* mail_home is the home ~ stands for */
	c = parse_ok("mail_home = /var/vmail/%d/%n\nmail_location = maildir:~/Maildir\n");
	import_dovecot_convert(c, "t", &out, &dropped);
	assert_non_null(strstr(out, "\nmail_location = maildir:/var/vmail/%d/%n/Maildir\n"));
	assert_int_equal(dropped, 0);
	free(out);
	dc_conf_destroy(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_convert),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
