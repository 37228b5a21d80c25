/*
 * autoconfig.c — client autoconfiguration documents (autoconfig.h). Pure; runs in the
 * login process on attacker bytes, which is why nothing read from a request reaches
 * the XML unless it passed autoconfig_addr_valid (no character that XML would need to
 * escape can pass it).
 */
#include <ctype.h>
#include <string.h>

#include "lib/util.h"
#include "proto/autoconfig.h"

static bool
path_is(const char *target, size_t len, const char *path)
{
	size_t n = strlen(path);

	return len >= n && mem_ieq(target, n, path) && (len == n || target[n] == '?');
}

enum autoconfig_route
autoconfig_route(const char *target, size_t len)
{
	/* Thunderbird asks http(s)://autoconfig.DOMAIN/mail/config-v1.1.xml, and the
	 * domain's own server under /.well-known/autoconfig/ */
	if (path_is(target, len, "/mail/config-v1.1.xml") ||
	    path_is(target, len, "/.well-known/autoconfig/mail/config-v1.1.xml"))
		return AUTOCONFIG_THUNDERBIRD;
	if (path_is(target, len, "/autodiscover/autodiscover.xml"))
		return AUTOCONFIG_OUTLOOK;
	return AUTOCONFIG_NONE;
}

/* dot-atom text (RFC 5322 §3.2.3) without the characters XML or a shell would need to
 * quote: letters, digits and ! # $ % * + - / = ? ^ _ ` { | } ~ */
static bool
local_char(unsigned char c)
{
	return isalnum(c) || strchr("!#$%*+-/=?^_`{|}~", c) != NULL;
}

bool
autoconfig_addr_valid(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t llen;

	if (at == NULL || strlen(addr) > AUTOCONFIG_ADDR_MAX)
		return false;
	llen = (size_t)(at - addr);
	if (llen == 0 || llen > 64 || addr[0] == '.' || at[-1] == '.')
		return false;
	for (size_t i = 0; i < llen; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c == '.' ? addr[i + 1] == '.' : !local_char(c))
			return false;
	}
	return strchr(at + 1, '.') != NULL && dns_name_valid(at + 1);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
autoconfig_query_address(const char *target, size_t len, char *out, size_t out_size)
{
	const char *q = memchr(target, '?', len), *end = target + len, *p;
	size_t n = 0;

	if (q == NULL || out_size < AUTOCONFIG_ADDR_MAX + 1)
		return 0;
	for (p = q + 1; p < end; ) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp != NULL ? amp : end;

		if ((size_t)(e - p) > 13 && mem_ieq(p, 13, "emailaddress=")) {
			for (p += 13; p < e; p++) {
				int c = (unsigned char)*p;

				if (c == '%') {
					int h, l;

					if (e - p < 3 || (h = hexval(p[1])) < 0 || (l = hexval(p[2])) < 0)
						return -1;
					c = h * 16 + l;
					p += 2;
				} else if (c == '+') {
					c = ' ';	/* form encoding: not valid in an address */
				}
				if (n == AUTOCONFIG_ADDR_MAX || c == '\0')
					return -1;
				out[n++] = (char)c;
			}
			out[n] = '\0';
			return autoconfig_addr_valid(out) ? 1 : -1;
		}
		p = amp != NULL ? amp + 1 : end;
	}
	return 0;
}

int
autoconfig_outlook_address(const unsigned char *body, size_t len, char *out,
    size_t out_size)
{
	static const char open[] = "<EMailAddress>", close[] = "</EMailAddress>";
	const unsigned char *s = NULL, *e;
	size_t n;

	for (size_t i = 0; i + sizeof(open) - 1 <= len; i++)
		if (mem_ieq((const char *)body + i, sizeof(open) - 1, open)) {
			s = body + i + sizeof(open) - 1;
			break;
		}
	if (s == NULL)
		return 0;
	for (e = s; (size_t)(e - body) + sizeof(close) - 1 <= len; e++)
		if (mem_ieq((const char *)e, sizeof(close) - 1, close))
			break;
	if ((size_t)(e - body) + sizeof(close) - 1 > len)
		return -1;
	/* surrounding white space is the XML's, not the address's */
	while (s < e && isspace(*s))
		s++;
	while (e > s && isspace(e[-1]))
		e--;
	n = (size_t)(e - s);
	if (n == 0 || n > AUTOCONFIG_ADDR_MAX || n >= out_size || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return autoconfig_addr_valid(out) ? 1 : -1;
}

static int
tb_server(struct buf *out, const char *kind, const char *type, const char *host,
    uint16_t port, const char *socket, const char *user)
{
	return buf_appendf(out,
	    "    <%s type=\"%s\">\n"
	    "      <hostname>%s</hostname>\n"
	    "      <port>%u</port>\n"
	    "      <socketType>%s</socketType>\n"
	    "      <authentication>password-cleartext</authentication>\n"
	    "      <username>%s</username>\n"
	    "    </%s>\n", kind, type, host, port, socket, user, kind);
}

int
autoconfig_thunderbird(const struct autoconfig_params *p, const char *domain,
    struct buf *out)
{
	const char *user = p->address ? "%EMAILADDRESS%" : "%EMAILLOCALPART%";
	const char *dot = strchr(p->host, '.');
	int r = 0;

	if (domain == NULL)
		domain = dot != NULL && strchr(dot + 1, '.') != NULL ? dot + 1 : p->host;
	r |= buf_appendf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<clientConfig version=\"1.1\">\n"
	    "  <emailProvider id=\"%s\">\n"
	    "    <domain>%s</domain>\n"
	    "    <displayName>%s</displayName>\n"
	    "    <displayShortName>%s</displayShortName>\n", domain, domain, domain, domain);
	/* implicit TLS first (RFC 8314 §5.1), then STARTTLS, IMAP before POP3 */
	if (p->imaps_port != 0)
		r |= tb_server(out, "incomingServer", "imap", p->host, p->imaps_port, "SSL", user);
	if (p->imap_port != 0)
		r |= tb_server(out, "incomingServer", "imap", p->host, p->imap_port, "STARTTLS",
		    user);
	if (p->pop3s_port != 0)
		r |= tb_server(out, "incomingServer", "pop3", p->host, p->pop3s_port, "SSL", user);
	if (p->pop3_port != 0)
		r |= tb_server(out, "incomingServer", "pop3", p->host, p->pop3_port, "STARTTLS",
		    user);
	if (p->submission_port != 0)
		r |= tb_server(out, "outgoingServer", "smtp", p->host, p->submission_port,
		    p->submission_port == 465 ? "SSL" : "STARTTLS", user);
	r |= buf_append_str(out, "  </emailProvider>\n</clientConfig>\n");
	return r < 0 ? -1 : 0;
}

int
autoconfig_outlook(const struct autoconfig_params *p, const char *addr, struct buf *out)
{
	char login[AUTOCONFIG_ADDR_MAX + 1] = "";
	bool tls = p->imaps_port != 0;
	int r = 0;

	if (addr != NULL && autoconfig_addr_valid(addr)) {
		snprintf(login, sizeof(login), "%s", addr);
		if (!p->address)
			*strrchr(login, '@') = '\0';
	}
	r |= buf_append_str(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/"
	    "responseschema/2006\">\n"
	    "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
	    "responseschema/2006a\">\n"
	    "    <Account>\n"
	    "      <AccountType>email</AccountType>\n"
	    "      <Action>settings</Action>\n");
	if (p->imaps_port != 0 || p->imap_port != 0)
		r |= buf_appendf(out, "      <Protocol>\n"
		    "        <Type>IMAP</Type>\n"
		    "        <Server>%s</Server>\n"
		    "        <Port>%u</Port>\n"
		    "%s%s%s"
		    "        <DomainRequired>off</DomainRequired>\n"
		    "        <SPA>off</SPA>\n"
		    "        <SSL>%s</SSL>\n"
		    "%s"
		    "        <AuthRequired>on</AuthRequired>\n"
		    "      </Protocol>\n", p->host, tls ? p->imaps_port : p->imap_port,
		    login[0] != '\0' ? "        <LoginName>" : "", login,
		    login[0] != '\0' ? "</LoginName>\n" : "", tls ? "on" : "off",
		    tls ? "" : "        <Encryption>TLS</Encryption>\n");
	if (p->submission_port != 0)
		r |= buf_appendf(out, "      <Protocol>\n"
		    "        <Type>SMTP</Type>\n"
		    "        <Server>%s</Server>\n"
		    "        <Port>%u</Port>\n"
		    "%s%s%s"
		    "        <DomainRequired>off</DomainRequired>\n"
		    "        <SPA>off</SPA>\n"
		    "        <Encryption>%s</Encryption>\n"
		    "        <AuthRequired>on</AuthRequired>\n"
		    "        <UsePOPAuth>off</UsePOPAuth>\n"
		    "        <SMTPLast>off</SMTPLast>\n"
		    "      </Protocol>\n", p->host, p->submission_port,
		    login[0] != '\0' ? "        <LoginName>" : "", login,
		    login[0] != '\0' ? "</LoginName>\n" : "",
		    p->submission_port == 465 ? "SSL" : "TLS");
	r |= buf_append_str(out, "    </Account>\n  </Response>\n</Autodiscover>\n");
	return r < 0 ? -1 : 0;
}
