/*
 * imap_client.h — the IMAP server layer of the per-user mail process: the entry points
 * the process code calls. A struct mail_user owns the user's Maildir store and every
 * authenticated IMAP session of that user (all in this process, so sessions see each
 * other's changes at once); each session is a plain socket fd (TLS, if any, is
 * terminated in the login process). Security role: runs with the mailbox owner's uid
 * and parses authenticated but untrusted client input; every buffer is bounded.
 */
#ifndef BUZON_IMAP_CLIENT_H
#define BUZON_IMAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/userdb.h"
#include "lib/config.h"

struct event_base;
struct mail_user;
struct mstore;

/*
 * The capability list after login (only what is implemented); APPENDLIMIT=<mail_max_size>
 * and MULTIAPPEND are appended at run time (imap_capability()). LITERAL- (RFC 7888), not
 * LITERAL+: the command parser refuses non-synchronising literals over 4096 octets
 * (docs/security.md, Limits), so a client that believed LITERAL+ and sent a large
 * APPEND as {n+} would be disconnected.
 */
#define IMAP_CAPABILITY "IMAP4rev1 LITERAL- SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS " \
	"MOVE UNSELECT CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH"

/*
 * Open the user's store (user->mail_root), ensure the special-use folders exist, and
 * register the store's change notification on base. cfg and user are copied where
 * needed (the caller may free them afterwards; cfg must outlive the mail_user).
 * Returns the new mail_user (free with mail_user_destroy) or NULL (logged).
 */
struct mail_user *mail_user_create(struct event_base *base, const struct config *cfg,
    const struct user_info *user);
/* Close every session (without a BYE) and the store; sets *mu = NULL. NULL-safe. */
void mail_user_destroy(struct mail_user **mu);
/* Number of live IMAP sessions. */
unsigned mail_user_client_count(const struct mail_user *mu);
/*
 * Sessions of other protocols (POP3) that live in this process: counted like IMAP
 * sessions, so the empty callback runs only when every session of every kind is gone.
 */
void mail_user_session_begin(struct mail_user *mu);
void mail_user_session_end(struct mail_user *mu);
/* Live IMAP sessions of this user from client address ip. */
unsigned mail_user_ip_count(const struct mail_user *mu, const char *ip);
/*
 * The user's store, shared with the sessions (deliveries save through it so that
 * sessions hear of new mail at once). Borrowed for the mail_user's lifetime.
 */
struct mstore *mail_user_store(struct mail_user *mu);
/* cb(ctx) runs (from the event loop) whenever the last session has gone. */
void mail_user_set_empty_cb(struct mail_user *mu, void (*cb)(void *ctx), void *ctx);

/*
 * Start an authenticated session on the connected socket fd (ownership passes to the
 * session, also on failure). login_tag == NULL sends "* PREAUTH"; otherwise the tagged
 * "<tag> OK [CAPABILITY ...] Logged in" completes the login command. pending_input
 * (copied) is processed before anything read from fd. client_ip is for logging; secured
 * says the connection is TLS or loopback. Returns 0, or -1 (fd closed, logged).
 */
int imap_client_create(struct mail_user *mu, int fd, const char *login_tag,
    const void *pending_input, size_t pending_len, const char *client_ip, bool secured);

/*
 * `buzon imap -c FILE -u USER`: serve one PREAUTH session on stdin/stdout (IMAP over
 * ssh, tests). As root it drops to the user's uid/gid first (setgroups, setresgid,
 * setresuid, verified). Returns the process exit status (0 after a normal LOGOUT/EOF).
 */
int imap_preauth_main(const char *config_path, const char *user);

/*
 * Test and debugging mode: like imap_preauth_main, but every connection accepted on the
 * listening socket listen_fd becomes a PREAUTH session of the same user in this one
 * process (as in the mail process), until SIGTERM. Returns the exit status.
 */
int imap_preauth_serve(const char *config_path, const char *user, int listen_fd);

#endif
