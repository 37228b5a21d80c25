/*
 * jmap_push.c — the push hub of a user's mail process (RFC 8620 §7): while a push
 * subscriber exists it holds every selectable folder open (at most
 * JMAP_PUSH_FOLDERS_MAX) with a listener, so the store's inotify watches on their new/
 * and cur/ see deliveries and other programs' writes and every change made in this
 * process (IMAP, JMAP, LMTP) reaches it through the listeners; the Maildir root's
 * folder-level watch (mstore_folders_watch) tells it of folders created, renamed or
 * deleted, and it opens the new set. Changes are coalesced for JMAP_PUSH_DEBOUNCE_MS,
 * then the states are computed with the functions Mailbox/get and Email/get use and
 * each subscriber is told the types whose state differs from what it was last told.
 * A 30 s rescan catches what no listener reports (subscriptions, folders beyond the
 * bound, a folder that could not be opened when it appeared). EmailDelivery (RFC 8621 §1.5) changes when a message appears in a folder's
 * new/ (LMTP, `buzon deliver`, another MDA), not on APPEND or a JMAP import.
 */
#include "jmap/jmap_push.h"

#include <event2/event.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "jmap/jmap_local.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_user.h"
#include "store/store.h"

#define RESCAN_SECS	30
#define NTYPES		4

static const char *const type_names[NTYPES] = { "Mailbox", "Email", "EmailDelivery",
	"Thread" };

struct watched {
	struct mailbox *box;
	struct mailbox_listener *l;
};

struct jmap_push_sub {
	struct jmap_push_sub *prev, *next;
	struct push_hub *hub;
	unsigned types;
	jmap_push_cb *cb;
	void *ctx;
	char *told[NTYPES];	/* the states last told (or current at subscription) */
};

struct push_hub {
	struct mail_user *mu;
	unsigned conns;
	struct jmap_push_sub *subs;
	struct watched *w;
	size_t nw;
	bool too_many;		/* folders beyond JMAP_PUSH_FOLDERS_MAX */
	bool rewatch;		/* the folder list changed: watch_all when debounced */
	bool watching;
	struct event *debounce, *rescan;
	uint64_t epoch;		/* hub creation (µs): EmailDelivery states of this process */
	uint64_t delivered;
	char *state[NTYPES];
	char push_state[18];
};

/* ---------------------------------------------------------------- types */

unsigned
jmap_push_types_parse(const char *list, size_t len)
{
	unsigned t = 0;
	size_t i = 0;

	while (i < len) {
		size_t s = i;

		while (i < len && list[i] != ',')
			i++;
		if (i - s == 1 && list[s] == '*')
			t |= JMAP_PUSH_ALL;
		for (int k = 0; k < NTYPES; k++)
			if (strlen(type_names[k]) == i - s && memcmp(type_names[k], list + s, i - s) == 0)
				t |= 1u << k;
		i++;
	}
	return t;
}

bool
jmap_push_types_json(json_t *v, unsigned *types_r)
{
	size_t i;
	json_t *e;

	if (v == NULL || json_is_null(v)) {
		*types_r = JMAP_PUSH_ALL;
		return true;
	}
	if (!json_is_array(v) || json_array_size(v) > 64)
		return false;
	*types_r = 0;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return false;
		*types_r |= jmap_push_types_parse(json_string_value(e), json_string_length(e));
	}
	return true;
}

/* ---------------------------------------------------------------- the hub */

static void hub_free(void *ctx);
static void hub_dirty(struct push_hub *h);

static struct push_hub *
hub_get(struct mail_user *mu)
{
	struct push_hub *h = mail_user_proto_ctx(mu, MAIL_PROTO_JMAP);
	struct timeval tv;

	if (h != NULL)
		return h;
	h = xcalloc(1, sizeof(*h));
	h->mu = mu;
	gettimeofday(&tv, NULL);
	h->epoch = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	mail_user_set_proto_ctx(mu, MAIL_PROTO_JMAP, h, hub_free);
	return h;
}

static void
l_changed(void *ctx, struct mailbox *box, uint32_t uid)
{
	(void)box;
	(void)uid;
	hub_dirty(ctx);
}

/* RFC 8621 §1.5: EmailDelivery changes for delivered mail, not a client's APPEND */
static void
l_delivered(void *ctx, struct mailbox *box, uint32_t uid)
{
	struct push_hub *h = ctx;

	(void)box;
	(void)uid;
	h->delivered++;
	hub_dirty(h);
}

static void
l_keyword(void *ctx, struct mailbox *box, unsigned idx)
{
	(void)box;
	(void)idx;
	hub_dirty(ctx);
}

static const struct mailbox_listener_ops listener_ops = {
	.expunged = l_changed,
	.appended = l_changed,
	.delivered = l_delivered,
	.flags_changed = l_changed,
	.keyword_added = l_keyword,
};

static void
unwatch(struct watched *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mailbox_unlisten(w[i].box, &w[i].l);
		mailbox_unref(&w[i].box);
	}
	free(w);
}

/* Folders to hold open: JMAP_PUSH_FOLDERS_MAX, and at most a quarter of the
 * descriptors the process may open (an open folder holds four: the directory and its
 * cur/, new/ and tmp/), so IMAP sessions keep theirs. */
static size_t
folders_bound(void)
{
	struct rlimit rl;
	size_t n = JMAP_PUSH_FOLDERS_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 16 < n)
		n = (size_t)(rl.rlim_cur / 16);
	return n;
}

/* Open every selectable folder with a listener; the old set is released after, so a
 * folder in both stays open. */
static void
watch_all(struct push_hub *h)
{
	struct mstore *store = mail_user_store(h->mu);
	struct mstore_folder *list;
	struct watched *w;
	size_t count, n = 0, max = folders_bound();

	if (mstore_list(store, &list, &count) != STORE_OK)
		return;		/* logged; the rescan tries again */
	w = xcalloc(count > 0 ? count : 1, sizeof(*w));
	h->too_many = false;
	for (size_t i = 0; i < count; i++) {
		struct mailbox *box;

		if ((list[i].attrs & (MSTORE_ATTR_NOSELECT | MSTORE_ATTR_NONEXISTENT)) != 0)
			continue;
		if (n == max) {
			h->too_many = true;
			break;
		}
		if (mailbox_open(store, list[i].name, &box) != STORE_OK)
			continue;
		w[n].box = box;
		w[n].l = mailbox_listen(box, &listener_ops, h);
		n++;
	}
	mstore_list_free(list, count);
	unwatch(h->w, h->nw);
	h->w = w;
	h->nw = n;
}

/* mstore_rename is about to move name: let go of it and what is under it. */
static void
release_cb(void *ctx, const char *name)
{
	struct push_hub *h = ctx;
	size_t len = strlen(name), j = 0;

	for (size_t i = 0; i < h->nw; i++) {
		const char *n = mailbox_name(h->w[i].box);

		if (strcmp(n, "INBOX") != 0 && strncmp(n, name, len) == 0 &&
		    (n[len] == '\0' || n[len] == '.')) {
			mailbox_unlisten(h->w[i].box, &h->w[i].l);
			mailbox_unref(&h->w[i].box);
			continue;
		}
		h->w[j++] = h->w[i];
	}
	h->nw = j;
	h->rewatch = true;	/* the renamed folder under its new name */
	hub_dirty(h);
}

static void
folders_cb(void *ctx)
{
	struct push_hub *h = ctx;

	/* after the debounce: a folder being made (mkdir, then its cur/ new/ tmp/) is
	 * complete by then */
	h->rewatch = true;
	hub_dirty(h);
}

/* The states now, into h->state and h->push_state. */
static void
compute(struct push_hub *h)
{
	struct folders f;
	uint64_t x = 14695981039346656037ull;

	if (jmap_folders_load(h->mu, &f) < 0)
		return;		/* keep the old states; the next change or rescan retries */
	for (int i = 0; i < NTYPES; i++)
		free(h->state[i]);
	h->state[0] = jmap_mailbox_state(h->mu, &f);
	h->state[1] = jmap_email_state(&f);
	h->state[2] = xasprintf("d%llx.%llx", (unsigned long long)h->epoch,
	    (unsigned long long)h->delivered);
	h->state[3] = xstrdup(h->state[1]);	/* Thread/get's state is the Email state */
	jmap_folders_free(&f);
	for (int i = 0; i < NTYPES; i++)
		jmap_state_add(&x, h->state[i], strlen(h->state[i]) + 1);
	snprintf(h->push_state, sizeof(h->push_state), "p%016llx", (unsigned long long)x);
}

/* Tell sub the states of its types that differ from what it was told (all: every one). */
static void
tell(struct jmap_push_sub *s, bool all)
{
	struct push_hub *h = s->hub;
	json_t *changed = json_object();

	for (int i = 0; i < NTYPES; i++) {
		if ((s->types & (1u << i)) == 0 || h->state[i] == NULL)
			continue;
		if (!all && s->told[i] != NULL && strcmp(s->told[i], h->state[i]) == 0)
			continue;
		free(s->told[i]);
		s->told[i] = xstrdup(h->state[i]);
		(void)json_object_set_new(changed, type_names[i], json_string(h->state[i]));
	}
	if (json_object_size(changed) > 0)
		s->cb(s->ctx, changed, h->push_state);
	json_decref(changed);
}

static void
debounce_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct push_hub *h = ctx;
	struct jmap_push_sub *s, *next;

	(void)fd;
	(void)what;
	if (h->rewatch) {
		h->rewatch = false;
		watch_all(h);
	}
	compute(h);
	/* a callback may end its connection (and unsubscribe): take next first */
	for (s = h->subs; s != NULL; s = next) {
		next = s->next;
		tell(s, false);
	}
}

static void
hub_dirty(struct push_hub *h)
{
	struct timeval tv = { 0, JMAP_PUSH_DEBOUNCE_MS * 1000 };

	if (h->subs == NULL || h->debounce == NULL)
		return;
	if (!evtimer_pending(h->debounce, NULL))
		evtimer_add(h->debounce, &tv);
}

static void
rescan_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct push_hub *h = ctx;

	(void)fd;
	(void)what;
	h->rewatch = true;	/* also a folder that could not be opened before */
	debounce_cb(-1, 0, h);
}

static void
hub_start(struct push_hub *h)
{
	struct timeval tv = { RESCAN_SECS, 0 };

	if (h->watching)
		return;
	h->watching = true;
	if (mstore_folders_watch(mail_user_store(h->mu), folders_cb, h, true) < 0)
		log_warn("jmap push user=%s: no folder-level watch left, rescans only",
		    h->mu->name);
	if (mstore_release_watch(mail_user_store(h->mu), release_cb, h, true) < 0)
		log_warn("jmap push user=%s: no release slot left", h->mu->name);
	h->debounce = evtimer_new(h->mu->base, debounce_cb, h);
	h->rescan = event_new(h->mu->base, -1, EV_PERSIST, rescan_cb, h);
	evtimer_add(h->rescan, &tv);
	watch_all(h);
	compute(h);
}

static void
hub_stop(struct push_hub *h)
{
	if (!h->watching)
		return;
	h->watching = false;
	(void)mstore_folders_watch(mail_user_store(h->mu), folders_cb, h, false);
	(void)mstore_release_watch(mail_user_store(h->mu), release_cb, h, false);
	event_free(h->debounce);
	event_free(h->rescan);
	h->debounce = h->rescan = NULL;
	unwatch(h->w, h->nw);
	h->w = NULL;
	h->nw = 0;
}

static void
hub_free(void *ctx)
{
	struct push_hub *h = ctx;

	/* the connections are gone (mail_user_destroy shut them down first) */
	hub_stop(h);
	for (int i = 0; i < NTYPES; i++)
		free(h->state[i]);
	free(h);
}

/* ---------------------------------------------------------------- subscribers */

bool
jmap_push_conn_acquire(struct mail_user *mu)
{
	struct push_hub *h = hub_get(mu);

	if (h->conns >= JMAP_PUSH_CONNS_MAX)
		return false;
	h->conns++;
	return true;
}

void
jmap_push_conn_release(struct mail_user *mu)
{
	struct push_hub *h = hub_get(mu);

	if (h->conns > 0)
		h->conns--;
}

struct jmap_push_sub *
jmap_push_subscribe(struct mail_user *mu, unsigned types, jmap_push_cb *cb, void *ctx)
{
	struct push_hub *h = hub_get(mu);
	struct jmap_push_sub *s = xcalloc(1, sizeof(*s));

	s->hub = h;
	s->types = types;
	s->cb = cb;
	s->ctx = ctx;
	if (!h->watching)
		hub_start(h);
	else
		compute(h);	/* the baseline: what is there now */
	for (int i = 0; i < NTYPES; i++)
		s->told[i] = h->state[i] != NULL ? xstrdup(h->state[i]) : NULL;
	s->next = h->subs;
	if (h->subs != NULL)
		h->subs->prev = s;
	h->subs = s;
	return s;
}

void
jmap_push_unsubscribe(struct jmap_push_sub **sp)
{
	struct jmap_push_sub *s = *sp;
	struct push_hub *h;

	if (s == NULL)
		return;
	h = s->hub;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		h->subs = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	for (int i = 0; i < NTYPES; i++)
		free(s->told[i]);
	free(s);
	*sp = NULL;
	if (h->subs == NULL)
		hub_stop(h);
}

const char *
jmap_push_state(struct jmap_push_sub *s)
{
	return s->hub->push_state;
}

void
jmap_push_send_all(struct jmap_push_sub *s)
{
	tell(s, true);
}
