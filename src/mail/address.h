/*
 * address.h — RFC 5322 address lists as IMAP sees them (RFC 3501 §7.4.2 ENVELOPE
 * addresses: name, adl, mailbox, host; groups as start/end markers). Lenient like
 * Dovecot: obsolete routes, comments, quoted strings and junk are tolerated. Runs in the
 * mail process on untrusted header text; the number of addresses is capped by the
 * caller's limit. Values are raw (RFC 2047 words are not decoded).
 */
#ifndef BUZON_MAIL_ADDRESS_H
#define BUZON_MAIL_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

struct mail_address {
	/*
	 * Each field is a malloc'd C string or NULL (NIL). Group start: mailbox = group name,
	 * host = NULL; group end: mailbox = NULL, host = NULL (RFC 3501 §7.4.2). name has
	 * quoted-pair escapes removed and quotes stripped; mailbox is the local part as
	 * written minus quoting; an address without '@' gets host "MISSING_DOMAIN" and
	 * a missing local part "MISSING_MAILBOX" (Dovecot's convention).
	 */
	char *name;
	char *adl;
	char *mailbox;
	char *host;
	bool group_start;
	bool group_end;
};

/*
 * Parse the unfolded field value p[0..len). At most max_addresses entries (group markers
 * included) are returned; the rest is ignored. *list_r is a malloc'd array (NULL when
 * *count_r == 0) freed with mail_address_list_free. Never fails.
 */
void mail_address_parse(const char *p, size_t len, unsigned int max_addresses,
    struct mail_address **list_r, unsigned int *count_r);
void mail_address_list_free(struct mail_address **list, unsigned int count);

#endif
