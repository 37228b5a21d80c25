/*
 * mail_user.h — the user of a per-user mail process and the registry of all its sessions,
 * whatever their protocol: the user's Maildir store (opened once, shared by every session
 * and by deliveries, so a change made through one session reaches the others at once
 * through the store's listeners), the store's change notification on the event loop,
 * the list of live sessions (struct mail_session: protocol, client address, operations)
 * that the IMAP and POP3 front ends register theirs in, and the "last session gone"
 * callback. Protocol-specific per-user state (IMAP's caches and \Recent claims) hangs off
 * a per-protocol slot. Depends only on lib and store, so src/imap and src/pop3 include it
 * without including each other or the process shell (mailproc.c). Security role: runs as
 * the mailbox owner; opens only the configured mail root.
 */
#ifndef BUZON_MAILPROC_MAIL_USER_H
#define BUZON_MAILPROC_MAIL_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config;
struct event;
struct event_base;
struct mstore;
struct user_info;

enum mail_proto {
	MAIL_PROTO_IMAP,
	MAIL_PROTO_POP3,
	MAIL_PROTO_MANAGESIEVE,
	MAIL_PROTO_JMAP,
	MAIL_PROTO_COUNT	/* ManageSieve and JMAP come before this */
};

struct mail_session;

struct mail_session_ops {
	/*
	 * Close the session at once, without a reply and without committing anything
	 * (mail_user_destroy at process exit). It must mail_session_unregister() the
	 * session; it may free it.
	 */
	void (*shutdown)(struct mail_session *s);
	/*
	 * End the session at an administrator's request (`buzon kick`), with the
	 * protocol's goodbye (IMAP: * BYE) once the output is sent, from the event loop.
	 * NULL: shutdown is used.
	 */
	void (*kick)(struct mail_session *s);
};

/*
 * One session of the user, embedded in the front end's session struct (caller-owned
 * storage, filled by mail_session_register).
 */
struct mail_session {
	struct mail_session *prev, *next;
	struct mail_user *user;
	enum mail_proto proto;
	const char *ip;		/* client address; borrowed from the front end ("" if unknown) */
	const struct mail_session_ops *ops;
	void *ctx;		/* the front end's session */
	time_t since;		/* registered at (wall clock, for `buzon who`) */
};

/*
 * The fields above the line are read-only for the front ends; the rest belongs to
 * mail_user.c.
 */
struct mail_user {
	struct event_base *base;
	const struct config *cfg;
	char *name;
	char *mail_root;
	struct mstore *store;
	unsigned next_session_id;	/* the front ends number their sessions with it */
	/* ---- */
	struct mail_session *sessions;
	unsigned session_count;
	bool destroying;
	struct event *notify_ev;
	struct event *commit_ev;	/* the store's commit thread finished a group */
	struct event *empty_ev;
	void (*empty_cb)(void *ctx);
	void *empty_ctx;
	void *proto_ctx[MAIL_PROTO_COUNT];
	void (*proto_ctx_free[MAIL_PROTO_COUNT])(void *ctx);
};

/*
 * Open the user's store (user->mail_root), ensure the special-use folders exist, and
 * register the store's change notification on base. The strings of user are copied
 * (the caller may free them afterwards); cfg must outlive the mail_user.
 * Returns the new mail_user (free with mail_user_destroy) or NULL (logged).
 */
struct mail_user *mail_user_create(struct event_base *base, const struct config *cfg,
    const struct user_info *user);
/*
 * Shut every registered session down (its ops->shutdown: no reply, nothing committed),
 * free the per-protocol state, close the store; sets *mu = NULL. NULL-safe.
 */
void mail_user_destroy(struct mail_user **mu);
/* Number of live sessions of every protocol. */
unsigned mail_user_client_count(const struct mail_user *mu);
/*
 * `buzon who`: one line "PROTO IP SINCE\n" per session (SINCE in seconds since the
 * epoch) into out (size octets, NUL-terminated); sessions that do not fit are left out.
 * Returns the length.
 */
size_t mail_user_who(const struct mail_user *mu, char *out, size_t size);
/* `buzon kick`: end every session (from client address ip, if not NULL) with its
 * protocol's goodbye; returns how many. */
unsigned mail_user_kick(struct mail_user *mu, const char *ip);
/* Live sessions of every protocol of this user from client address ip. */
unsigned mail_user_ip_count(const struct mail_user *mu, const char *ip);
/*
 * The user's store, shared with the sessions (deliveries save through it so that
 * sessions hear of new mail at once). Borrowed for the mail_user's lifetime.
 */
struct mstore *mail_user_store(struct mail_user *mu);
/* cb(ctx) runs (from the event loop) whenever the last session has gone. */
void mail_user_set_empty_cb(struct mail_user *mu, void (*cb)(void *ctx), void *ctx);

/*
 * Add session s (storage owned by the caller, usually inside its session struct) to
 * mu's sessions. ip is borrowed and must stay valid until mail_session_unregister; ops
 * is borrowed (static); ctx is the caller's session, for ops.
 */
void mail_session_register(struct mail_user *mu, struct mail_session *s,
    enum mail_proto proto, const char *ip, const struct mail_session_ops *ops, void *ctx);
/*
 * Remove s from its user's sessions. When it was the last one, the empty callback runs
 * from the event loop (not from inside the caller). s may be freed afterwards.
 */
void mail_session_unregister(struct mail_session *s);

/*
 * Per-protocol state of the user (IMAP: caches, \Recent claims), created by its front
 * end on first use. NULL until set. free_cb(ctx) runs from mail_user_destroy after every
 * session is gone and before the store closes.
 */
void *mail_user_proto_ctx(const struct mail_user *mu, enum mail_proto proto);
void mail_user_set_proto_ctx(struct mail_user *mu, enum mail_proto proto, void *ctx,
    void (*free_cb)(void *ctx));

/*
 * Folder changes one front end makes (a JMAP Mailbox/set), told to the others of the
 * process (IMAP NOTIFY's MailboxName and SubscriptionChange, RFC 5465). RELEASE comes
 * before a rename of name: whatever a front end holds open of name and below it lets
 * go, or the rename would find the folder in use.
 */
enum mail_folder_ev {
	MAIL_FOLDER_CREATE,
	MAIL_FOLDER_DELETE,
	MAIL_FOLDER_RENAME,	/* name is the new name, oldname the old */
	MAIL_FOLDER_SUBSCRIBE,
	MAIL_FOLDER_UNSUBSCRIBE,
	MAIL_FOLDER_RELEASE,
};
typedef void mail_folder_event_fn(struct mail_user *mu, enum mail_folder_ev ev,
    const char *name, const char *oldname);
/* proto's handler, set once when the process starts. */
void mail_user_on_folder_event(enum mail_proto proto, mail_folder_event_fn *fn);
/* Tell every front end but origin's (store names, as mstore_* take them). */
void mail_user_folder_event(struct mail_user *mu, enum mail_proto origin,
    enum mail_folder_ev ev, const char *name, const char *oldname);

#endif
