/*
 * imap_client.h — the IMAP server layer of the per-user mail process: the entry points
 * the process code calls. The sessions register in the user's session registry
 * (struct mail_user, mailproc/mail_user.h), which owns the user's Maildir store and
 * every session of that user of every protocol (all in this process, so sessions see
 * each other's changes at once); each session is a plain socket fd (TLS, if any, is
 * terminated in the login process). Security role: runs with the mailbox owner's uid
 * and parses authenticated but untrusted client input; every buffer is bounded.
 */
#ifndef BUZON_IMAP_CLIENT_H
#define BUZON_IMAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/userdb.h"
#include "lib/config.h"
#include "mailproc/mail_user.h"

struct mail_user;

/*
 * The capability list after login (only what is implemented); APPENDLIMIT=<mail_max_size>
 * and MULTIAPPEND are appended at run time (imap_capability()). LITERAL+ (RFC 7888): a
 * non-synchronising APPEND literal streams into tmp/ like a synchronising one; other
 * commands' literals over the in-memory limit are read, discarded and the command
 * refused (IMAP_PARSER_FLAG_LITERAL_PLUS; docs/security.md, Limits). Before login the
 * login process keeps LITERAL- (4096 octets).
 */
#define IMAP_CAPABILITY "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE " \
	"UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH " \
	"SEARCHRES STATUS=SIZE SAVEDATE PREVIEW CONDSTORE QRESYNC SORT SORT=DISPLAY " \
	"ESORT PARTIAL WITHIN CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT " \
	"THREAD=REFERENCES THREAD=REFS OBJECTID NOTIFY UTF8=ACCEPT BINARY METADATA " \
	"METADATA-SERVER COMPRESS=DEFLATE UIDONLY CATENATE REPLACE CREATE-SPECIAL-USE " \
	"QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE"

/*
 * Start an authenticated session on the connected socket fd (ownership passes to the
 * session, also on failure). login_tag == NULL sends "* PREAUTH"; otherwise the tagged
 * "<tag> OK [CAPABILITY ...] Logged in" completes the login command. pending_input
 * (copied) is processed before anything read from fd. client_ip is for logging and the
 * per-address count; secured says the connection is TLS or loopback. The session is
 * registered in mu (MAIL_PROTO_IMAP) until it ends. Returns 0, or -1 (fd closed, logged).
 */
int imap_client_create(struct mail_user *mu, int fd, const char *login_tag,
    const void *pending_input, size_t pending_len, const char *client_ip, bool secured);

/*
 * A folder change another front end of the process made (mail_user_on_folder_event):
 * the user's IMAP sessions hear of it as of a change by another IMAP session (NOTIFY
 * MailboxName, SubscriptionChange; watches let go before a rename).
 */
void imap_notify_user_folder_event(struct mail_user *mu, enum mail_folder_ev ev,
    const char *name, const char *oldname);

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
