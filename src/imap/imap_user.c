/*
 * imap_user.c — the IMAP state of the user of the per-user mail process, kept in the
 * user's IMAP slot of the session registry (mailproc/mail_user.h): the parsed-message
 * cache, the rendered-item cache, the torn-down sessions waiting to be freed, and which
 * session gets \Recent. Created with the user's first IMAP session, freed with the user.
 * Security role: runs as the mailbox owner; holds only data of that user's mailboxes.
 */
#include <errno.h>

#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

#define MSGCACHE_ENTRIES	256
#define MSGCACHE_BYTES		(64 * 1024 * 1024)

static void
reap_cb(evutil_socket_t fd, short what, void *ctx)
{
	imap_client_reap(ctx);
}

static void
imap_user_free(void *ctx)
{
	struct imap_user *iu = ctx;
	struct recent_claim *r, *next;

	imap_client_reap(iu);
	imap_notify_user_free(iu);
	imap_msgcache_destroy(&iu->cache);
	imap_rcache_destroy(&iu->rcache);
	event_free(iu->reap_ev);
	for (r = iu->recent; r != NULL; r = next) {
		next = r->next;
		free(r->mailbox);
		free(r);
	}
	free(iu);
}

struct imap_user *
imap_user_get(struct mail_user *mu)
{
	struct imap_user *iu = mail_user_proto_ctx(mu, MAIL_PROTO_IMAP);

	if (iu != NULL)
		return iu;
	iu = xcalloc(1, sizeof(*iu));
	iu->reap_ev = event_new(mu->base, -1, 0, reap_cb, iu);
	iu->cache = imap_msgcache_create(MSGCACHE_ENTRIES, MSGCACHE_BYTES);
	iu->rcache = imap_rcache_create(IMAP_RCACHE_BYTES);
	mail_user_set_proto_ctx(mu, MAIL_PROTO_IMAP, iu, imap_user_free);
	return iu;
}

static struct recent_claim *
recent_find(struct imap_user *iu, const char *mailbox, uint32_t uidvalidity)
{
	struct recent_claim *r;

	for (r = iu->recent; r != NULL; r = r->next) {
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
	r->next = iu->recent;
	iu->recent = r;
	return r;
}

uint32_t
imap_user_claim_recent(struct imap_user *iu, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid_max)
{
	struct recent_claim *r = recent_find(iu, mailbox, uidvalidity);
	uint32_t prev = r->uid_max;

	if (uid_max > r->uid_max)
		r->uid_max = uid_max;
	return prev;
}

uint32_t
imap_user_recent_boundary(struct imap_user *iu, const char *mailbox, uint32_t uidvalidity)
{
	return recent_find(iu, mailbox, uidvalidity)->uid_max;
}
