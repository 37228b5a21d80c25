/*
 * imap_user.c — the mail user of the per-user mail process: owns the user's Maildir
 * store, its change notification (inotify fd on the event loop), the parsed-message
 * cache, the rendered-item cache and the list of IMAP sessions, and decides which session gets \Recent. Security
 * role: runs as the mailbox owner; opens only the configured mail root.
 */
#include <errno.h>

#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

#define MSGCACHE_ENTRIES	256
#define MSGCACHE_BYTES		(64 * 1024 * 1024)

static void
notify_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct mail_user *mu = ctx;

	mstore_notify_process(mu->store);
}

static void
reap_cb(evutil_socket_t fd, short what, void *ctx)
{
	imap_client_reap(ctx);
}

static void
empty_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct mail_user *mu = ctx;

	if (mu->client_count == 0 && mu->empty_cb != NULL)
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
	st = mstore_ensure_special_use(mu->store);
	if (st != STORE_OK)
		log_warn("imap user=%s error=\"cannot create special-use folders: %s\"",
		    mu->name, store_status_str(st));
	fd = mstore_notify_fd(mu->store);
	if (fd >= 0) {
		mu->notify_ev = event_new(base, fd, EV_READ | EV_PERSIST, notify_cb, mu);
		event_add(mu->notify_ev, NULL);
	}
	mu->empty_ev = event_new(base, -1, 0, empty_cb, mu);
	mu->reap_ev = event_new(base, -1, 0, reap_cb, mu);
	mu->cache = imap_msgcache_create(MSGCACHE_ENTRIES, MSGCACHE_BYTES);
	mu->rcache = imap_rcache_create(IMAP_RCACHE_BYTES);
	return mu;
}

void
mail_user_destroy(struct mail_user **mup)
{
	struct mail_user *mu = *mup;
	struct recent_claim *r, *next;

	if (mu == NULL)
		return;
	*mup = NULL;
	imap_client_destroy_all(mu);
	imap_client_reap(mu);
	imap_msgcache_destroy(&mu->cache);
	imap_rcache_destroy(&mu->rcache);
	if (mu->notify_ev != NULL)
		event_free(mu->notify_ev);
	event_free(mu->empty_ev);
	event_free(mu->reap_ev);
	mstore_close(&mu->store);
	for (r = mu->recent; r != NULL; r = next) {
		next = r->next;
		free(r->mailbox);
		free(r);
	}
	free(mu->name);
	free(mu->mail_root);
	free(mu);
}

unsigned
mail_user_client_count(const struct mail_user *mu)
{
	return mu->client_count;
}

unsigned
mail_user_ip_count(const struct mail_user *mu, const char *ip)
{
	unsigned n = 0;

	for (const struct imap_client *c = mu->clients; c != NULL; c = c->next)
		if (!c->destroyed && c->ip != NULL && strcmp(c->ip, ip) == 0)
			n++;
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
mail_user_session_begin(struct mail_user *mu)
{
	mu->client_count++;
}

void
mail_user_session_end(struct mail_user *mu)
{
	mu->client_count--;
	mail_user_client_gone(mu);
}

void
mail_user_client_gone(struct mail_user *mu)
{
	/* From the loop, not from inside the dying session's callback. */
	if (mu->client_count == 0)
		event_active(mu->empty_ev, EV_TIMEOUT, 0);
}

static struct recent_claim *
recent_find(struct mail_user *mu, const char *mailbox, uint32_t uidvalidity)
{
	struct recent_claim *r;

	for (r = mu->recent; r != NULL; r = r->next) {
		if (strcmp(r->mailbox, mailbox) == 0) {
			if (r->uidvalidity != uidvalidity) {
				r->uidvalidity = uidvalidity;
				r->uid_max = 0;
			}
			return r;
		}
	}
	r = xcalloc(1, sizeof(*r));
	r->mailbox = xstrdup(mailbox);
	r->uidvalidity = uidvalidity;
	r->next = mu->recent;
	mu->recent = r;
	return r;
}

uint32_t
mail_user_claim_recent(struct mail_user *mu, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid_max)
{
	struct recent_claim *r = recent_find(mu, mailbox, uidvalidity);
	uint32_t prev = r->uid_max;

	if (uid_max > r->uid_max)
		r->uid_max = uid_max;
	return prev;
}

uint32_t
mail_user_recent_boundary(struct mail_user *mu, const char *mailbox, uint32_t uidvalidity)
{
	return recent_find(mu, mailbox, uidvalidity)->uid_max;
}
