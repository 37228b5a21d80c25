/*
 * autoconfig.h — client autoconfiguration documents (docs/autoconfig.md): Thunderbird's
 * config-v1.1.xml and Outlook's POX autodiscover answer, built from the configured
 * server name and ports, and the little that is read from a request (the address in
 * Thunderbird's query, the EMailAddress of Outlook's request body). Pure: bytes in,
 * XML out, no I/O. Runs in the login process on attacker bytes: everything read is
 * checked against a strict address syntax before it is written into XML.
 */
#ifndef BUZON_PROTO_AUTOCONFIG_H
#define BUZON_PROTO_AUTOCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define AUTOCONFIG_BODY_MAX	4096	/* an Outlook request body */
#define AUTOCONFIG_ADDR_MAX	254	/* an address read from a request */

enum autoconfig_route { AUTOCONFIG_NONE, AUTOCONFIG_THUNDERBIRD, AUTOCONFIG_OUTLOOK };

struct autoconfig_params {
	const char *host;		/* the server name (autoconfig_host) */
	uint16_t imap_port, imaps_port, pop3_port, pop3s_port;
	uint16_t submission_port;	/* the MTA's submission service (STARTTLS) */
	bool address;			/* log in with the whole address, else its local part */
};

/* Which document a request target asks for (the path, before any '?'). */
enum autoconfig_route autoconfig_route(const char *target, size_t len);

/*
 * The address in a target's query "emailaddress=..." (percent-decoded), into out
 * (AUTOCONFIG_ADDR_MAX + 1). Returns 1, 0 when there is none, -1 when it is not an
 * address autoconfig_addr_valid accepts.
 */
int autoconfig_query_address(const char *target, size_t len, char *out, size_t out_size);

/* The EMailAddress element of an Outlook POX request: 1 (into out), 0 none, -1 bad. */
int autoconfig_outlook_address(const unsigned char *body, size_t len, char *out,
    size_t out_size);

/* local@domain with a dot-atom local part of safe characters and a DNS domain. */
bool autoconfig_addr_valid(const char *addr);

/*
 * Thunderbird's document for domain (NULL: the host without its first label), or
 * Outlook's answer for addr (NULL: no LoginName, the client uses the address).
 * Return 0, or -1 if out is full.
 */
int autoconfig_thunderbird(const struct autoconfig_params *p, const char *domain,
    struct buf *out);
int autoconfig_outlook(const struct autoconfig_params *p, const char *addr, struct buf *out);

#endif
