/*
 * mail_user.c — the user of the per-user mail process and the registry of its sessions
 * of every protocol (see mail_user.h): owns the user's Maildir store and its change
 * notification (inotify fd on the event loop; the store's listeners carry a change to
 * every session), counts the sessions for mail_max_userip_connections and tells the
 * process when the last one has gone. Security role: runs as the mailbox owner; opens
 * only the configured mail root.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "auth/userdb.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_thread.h"
#include "mailproc/mail_user.h"
#include "store/store.h"

static void
notify_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct mail_user *mu = ctx;

	mstore_notify_process(mu->store);
}

static void
commit_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct mail_user *mu = ctx;

	mstore_commit_process(mu->store);
}

static void
empty_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct mail_user *mu = ctx;

	if (mu->session_count == 0 && mu->empty_cb != NULL)
		mu->empty_cb(mu->empty_ctx);
}

struct mail_user *
mail_user_create(struct event_base *base, const struct config *cfg,
    const struct user_info *user)
{
	struct mail_user *mu;
	const char *err = NULL;
	enum store_status st;
	int fd;

	if (user->mail_root == NULL || user->mail_root[0] == '\0') {
		log_error("imap user=%s error=\"no mail root\"", user->name);
		return NULL;
	}
	mu = xcalloc(1, sizeof(*mu));
	mu->base = base;
	mu->cfg = cfg;
	mu->name = xstrdup(user->name);
	mu->mail_root = xstrdup(user->mail_root);
	if (mstore_open(mu->mail_root, &mu->store, &err) < 0) {
		log_error("imap user=%s error=\"cannot open mail store: %s\"", mu->name,
		    err != NULL ? err : "?");
		free(mu->name);
		free(mu->mail_root);
		free(mu);
		return NULL;
	}
	mstore_set_added_cb(mu->store, mail_thread_added, mu->store);
	{
		uint64_t qs, qm;

		/* the limits come from the configuration and the userdb, never the Maildir */
		userdb_quota_limits(cfg, user, &qs, &qm);
		mstore_set_quota(mu->store, qs, qm, cfg->quota_warning);
	}
	st = mstore_ensure_special_use(mu->store);
	if (st != STORE_OK)
		log_warn("imap user=%s error=\"cannot create special-use folders: %s\"",
		    mu->name, store_status_str(st));
	fd = mstore_notify_fd(mu->store);
	if (fd >= 0) {
		mu->notify_ev = event_new(base, fd, EV_READ | EV_PERSIST, notify_cb, mu);
		event_add(mu->notify_ev, NULL);
	}
	/* saves become durable in the store's commit thread, beside this loop */
	if (mstore_commit_start(mu->store) == 0) {
		fd = mstore_commit_fd(mu->store);
		mu->commit_ev = event_new(base, fd, EV_READ | EV_PERSIST, commit_cb, mu);
		event_add(mu->commit_ev, NULL);
	}
	mu->empty_ev = event_new(base, -1, 0, empty_cb, mu);
	return mu;
}

void
mail_user_destroy(struct mail_user **mup)
{
	struct mail_user *mu = *mup;

	if (mu == NULL)
		return;
	*mup = NULL;
	mu->destroying = true;
	while (mu->sessions != NULL) {
		struct mail_session *s = mu->sessions;

		s->ops->shutdown(s);
		if (mu->sessions == s)
			panic("mail_user: a %u session stayed registered after shutdown",
			    (unsigned)s->proto);
	}
	/* the sessions' mailboxes and caches go before the store */
	for (unsigned p = 0; p < MAIL_PROTO_COUNT; p++)
		if (mu->proto_ctx[p] != NULL && mu->proto_ctx_free[p] != NULL)
			mu->proto_ctx_free[p](mu->proto_ctx[p]);
	if (mu->notify_ev != NULL)
		event_free(mu->notify_ev);
	event_free(mu->empty_ev);
	if (mu->commit_ev != NULL)
		event_free(mu->commit_ev);
	/* every queued commit finishes (delivery results go out) before the store closes */
	mstore_close(&mu->store);
	free(mu->name);
	free(mu->mail_root);
	free(mu);
}

unsigned
mail_user_client_count(const struct mail_user *mu)
{
	return mu->session_count;
}

unsigned
mail_user_ip_count(const struct mail_user *mu, const char *ip)
{
	unsigned n = 0;

	for (const struct mail_session *s = mu->sessions; s != NULL; s = s->next)
		if (strcmp(s->ip, ip) == 0)
			n++;
	return n;
}

size_t
mail_user_who(const struct mail_user *mu, char *out, size_t size)
{
	static const char *const names[MAIL_PROTO_COUNT] = { "imap", "pop3", "managesieve" };
	size_t len = 0;

	out[0] = '\0';
	for (const struct mail_session *s = mu->sessions; s != NULL; s = s->next) {
		int n = snprintf(out + len, size - len, "%s %s %lld\n", names[s->proto],
		    s->ip[0] != '\0' ? s->ip : "-", (long long)s->since);

		if (n < 0 || (size_t)n >= size - len) {
			out[len] = '\0';
			break;
		}
		len += (size_t)n;
	}
	return len;
}

unsigned
mail_user_kick(struct mail_user *mu, const char *ip)
{
	struct mail_session *s, *next;
	unsigned n = 0;

	for (s = mu->sessions; s != NULL; s = next) {
		next = s->next;
		if (ip != NULL && strcmp(s->ip, ip) != 0)
			continue;
		n++;
		if (s->ops->kick != NULL)
			s->ops->kick(s);
		else
			s->ops->shutdown(s);
	}
	return n;
}

struct mstore *
mail_user_store(struct mail_user *mu)
{
	return mu->store;
}

void
mail_user_set_empty_cb(struct mail_user *mu, void (*cb)(void *ctx), void *ctx)
{
	mu->empty_cb = cb;
	mu->empty_ctx = ctx;
}

void
mail_session_register(struct mail_user *mu, struct mail_session *s,
    enum mail_proto proto, const char *ip, const struct mail_session_ops *ops, void *ctx)
{
	if ((unsigned)proto >= MAIL_PROTO_COUNT || ops == NULL || ops->shutdown == NULL)
		panic("mail_session_register: bad protocol %u or ops", (unsigned)proto);
	s->user = mu;
	s->proto = proto;
	s->ip = ip != NULL ? ip : "";
	s->ops = ops;
	s->ctx = ctx;
	s->since = time(NULL);
	s->prev = NULL;
	s->next = mu->sessions;
	if (mu->sessions != NULL)
		mu->sessions->prev = s;
	mu->sessions = s;
	mu->session_count++;
}

void
mail_session_unregister(struct mail_session *s)
{
	struct mail_user *mu = s->user;

	if (mu == NULL)
		panic("mail_session_unregister: session not registered");
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		mu->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->user = NULL;
	mu->session_count--;
	/* From the loop, not from inside the dying session's callback. */
	if (mu->session_count == 0 && !mu->destroying)
		event_active(mu->empty_ev, EV_TIMEOUT, 0);
}

static mail_folder_event_fn *folder_event_fns[MAIL_PROTO_COUNT];

void
mail_user_on_folder_event(enum mail_proto proto, mail_folder_event_fn *fn)
{
	if ((unsigned)proto < MAIL_PROTO_COUNT)
		folder_event_fns[proto] = fn;
}

void
mail_user_folder_event(struct mail_user *mu, enum mail_proto origin, enum mail_folder_ev ev,
    const char *name, const char *oldname)
{
	for (unsigned p = 0; p < MAIL_PROTO_COUNT; p++)
		if (p != (unsigned)origin && folder_event_fns[p] != NULL)
			folder_event_fns[p](mu, ev, name, oldname);
}

void *
mail_user_proto_ctx(const struct mail_user *mu, enum mail_proto proto)
{
	return (unsigned)proto < MAIL_PROTO_COUNT ? mu->proto_ctx[proto] : NULL;
}

void
mail_user_set_proto_ctx(struct mail_user *mu, enum mail_proto proto, void *ctx,
    void (*free_cb)(void *ctx))
{
	if ((unsigned)proto >= MAIL_PROTO_COUNT)
		panic("mail_user_set_proto_ctx: bad protocol %u", (unsigned)proto);
	mu->proto_ctx[proto] = ctx;
	mu->proto_ctx_free[proto] = free_cb;
}
