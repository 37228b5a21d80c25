/*
 * managesieve_client.h — the ManageSieve (RFC 5804) server layer of the per-user mail
 * process: one session per connection after the login process has authenticated it,
 * managing the user's Sieve scripts where Pigeonhole keeps them (sieve_dir/NAME.sieve,
 * the active one a symlink at sieve_script). Security role: runs with the mailbox
 * owner's uid and parses authenticated but untrusted input with the line limit of
 * src/proto/managesieve and the literal limit managesieve_max_script_size.
 */
#ifndef BUZON_MANAGESIEVE_CLIENT_H
#define BUZON_MANAGESIEVE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"

struct event_base;
struct mail_user;

#define MANAGESIEVE_AUTOLOGOUT_SECS	1800	/* idle time before the session ends */
#define MANAGESIEVE_MAX_BAD		10	/* consecutive bad commands before the close */
#define MANAGESIEVE_NAME_MAX		128	/* octets of a script name */

/*
 * Start an authenticated ManageSieve session on the connected socket fd (ownership
 * passes to the session, also on failure): answer OK for the AUTHENTICATE the login
 * process took, then process pending_input (copied) before anything read from fd.
 * cfg (sieve_dir, sieve_script, limits) must outlive the session; user, home and
 * client_ip are copied. The session is registered in mu's session registry
 * (MAIL_PROTO_MANAGESIEVE) until it ends. Returns 0, or -1 (fd closed, logged).
 */
int managesieve_client_create(struct event_base *base, struct mail_user *mu,
    const struct config *cfg, const char *user, const char *home, int fd,
    const void *pending_input, size_t pending_len, const char *client_ip, bool secured);

#endif
