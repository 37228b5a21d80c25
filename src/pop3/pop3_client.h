/*
 * pop3_client.h — the POP3 server layer of the per-user mail process (RFC 1939,
 * RFC 2449): one session per connection after the login process has authenticated
 * it, serving the user's INBOX from the store the IMAP sessions of the same user share
 * (so a DELE + QUIT is an EXPUNGE for them). Security role: runs with the mailbox
 * owner's uid and parses authenticated but untrusted input; command lines are limited
 * to 255 octets, messages are streamed from their files, never loaded whole.
 */
#ifndef BUZON_POP3_CLIENT_H
#define BUZON_POP3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"

struct event_base;
struct mail_user;

#define POP3_AUTOLOGOUT_SECS	600	/* RFC 1939 §3: at least 10 minutes */
#define POP3_MAX_BAD		10	/* consecutive bad commands before the close */
#define POP3_MAX_LONG		3	/* overlong command lines before the close */

/*
 * Start an authenticated POP3 session on the connected socket fd (ownership passes to
 * the session, also on failure) in the TRANSACTION state: open INBOX, take the POP3
 * lock ("-ERR [IN-USE]" and close if another POP3 session of the user holds it), list
 * the messages, answer "+OK Logged in." and process pending_input (copied) before
 * anything read from fd. cfg (pop3_uidl_format) must outlive the session; user and
 * client_ip are copied (logging). The session is registered in mu's session registry
 * (MAIL_PROTO_POP3) until it ends, so it counts for the empty callback and for
 * mail_max_userip_connections; mail_user_destroy() closes it without a reply and
 * without deleting anything. Returns 0, or -1 (fd closed, logged).
 */
int pop3_client_create(struct event_base *base, struct mail_user *mu,
    const struct config *cfg, const char *user, int fd, const void *pending_input,
    size_t pending_len, const char *client_ip, bool secured);

#endif
