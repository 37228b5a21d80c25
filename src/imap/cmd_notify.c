/*
 * cmd_notify.c — NOTIFY (RFC 5465): which changes a session hears about and when. The
 * selected mailbox's updates stay with the view (imap_view.c); this file filters them
 * (no FETCH FLAGS without FlagChange), pushes them between commands when MessageNew /
 * MessageExpunge were asked for, adds the fetch attributes of MessageNew, and watches
 * the other mailboxes the client named: each is opened through the store and listened
 * to (at most IMAP_NOTIFY_MAX_WATCH), and a change is sent as one coalesced untagged
 * STATUS. Mailbox creation, deletion, renaming and subscription changes made by the
 * user's other IMAP sessions in this process are sent as untagged LIST. Runs in the
 * per-user mail process. Security role: the command's arguments are untrusted and
 * bounded (names, groups); what waits for a client that does not read is bounded (the
 * LIST queue, IMAP_NOTIFY_QUEUE_MAX, then NOTIFICATIONOVERFLOW and notifications off;
 * STATUS is one flag per watched mailbox).
 */
#include "imap/imap_local.h"
#include "imap/imap_fetch_parse.h"
#include "lib/imapstr.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/envelope.h"
#include "mail/section.h"
#include "proto/imap_date.h"

enum notify_filter {
	NOTIFY_INBOXES,
	NOTIFY_PERSONAL,
	NOTIFY_SUBSCRIBED,
	NOTIFY_SUBTREE,
	NOTIFY_MAILBOXES,
};

struct notify_group {
	enum notify_filter filter;
	unsigned events;		/* IMAP_NOTIFY_EV_* */
	char **names;			/* SUBTREE, MAILBOXES */
	unsigned nnames;
};

struct notify_watch {
	struct imap_notify *n;
	struct mailbox *mbox;
	struct mailbox_listener *listener;
	unsigned events;
	bool dirty;			/* a STATUS is due */
	bool fresh;			/* opened by the running notify_rewatch */
};

struct imap_notify {
	struct imap_client *client;
	struct notify_group *groups;
	unsigned ngroups;
	bool sel_set;			/* a SELECTED or SELECTED-DELAYED group was given */
	bool sel_delayed;
	unsigned sel_events;
	struct imap_fetch_request *fetch;	/* MessageNew attributes, or NULL */
	struct notify_watch *watches;
	size_t nwatches;
	bool status_pending;
	bool rewatch;			/* folders changed: resolve the watched set again */
	bool overflow;
	struct buf queue;		/* LIST lines waiting to be sent */
};

static const char *const event_names[] = {
	"MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange",
};
#define SUPPORTED_EVENTS "(MessageNew MessageExpunge FlagChange MailboxName " \
	"SubscriptionChange)"

/* ---------------------------------------------------------------- life cycle */

static void
watches_free(struct notify_watch *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		mailbox_unlisten(w[i].mbox, &w[i].listener);
		mailbox_unref(&w[i].mbox);
	}
	free(w);
}

static void
groups_free(struct notify_group *g, unsigned n)
{
	unsigned i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < g[i].nnames; j++)
			free(g[i].names[j]);
		free(g[i].names);
	}
	free(g);
}

void
imap_notify_free(struct imap_notify **np)
{
	struct imap_notify *n = *np;

	if (n == NULL)
		return;
	*np = NULL;
	watches_free(n->watches, n->nwatches);
	groups_free(n->groups, n->ngroups);
	if (n->fetch != NULL)
		imap_fetch_request_free(&n->fetch);
	buf_deinit(&n->queue);
	free(n);
}

static struct imap_notify *
notify_new(struct imap_client *c)
{
	struct imap_notify *n = xcalloc(1, sizeof(*n));

	n->client = c;
	buf_init(&n->queue, IMAP_NOTIFY_QUEUE_MAX);
	return n;
}

/* NOTIFY NONE, or after an overflow: nothing at all (RFC 5465). */
static void
notify_turn_off(struct imap_notify *n)
{
	watches_free(n->watches, n->nwatches);
	n->watches = NULL;
	n->nwatches = 0;
	groups_free(n->groups, n->ngroups);
	n->groups = NULL;
	n->ngroups = 0;
	if (n->fetch != NULL)
		imap_fetch_request_free(&n->fetch);
	n->sel_set = true;
	n->sel_events = 0;
	n->status_pending = n->rewatch = n->overflow = false;
	buf_reset(&n->queue);
}

/* ---------------------------------------------------------------- matching */

static bool
name_under(const char *name, const char *top)
{
	size_t len = strlen(top);

	return strncmp(name, top, len) == 0 && (name[len] == '\0' || name[len] == STORE_SEP);
}

/* Events of the first group whose filter takes the mailbox name (RFC 5465, mailbox specifiers). */
static unsigned
notify_match(const struct imap_notify *n, const char *name, bool subscribed)
{
	unsigned i, j;

	for (i = 0; i < n->ngroups; i++) {
		const struct notify_group *g = &n->groups[i];
		bool hit = false;

		switch (g->filter) {
		case NOTIFY_INBOXES:
			hit = strcmp(name, "INBOX") == 0;
			break;
		case NOTIFY_PERSONAL:
			hit = true;
			break;
		case NOTIFY_SUBSCRIBED:
			hit = subscribed;
			break;
		case NOTIFY_SUBTREE:
			for (j = 0; j < g->nnames && !hit; j++)
				hit = name_under(name, g->names[j]);
			break;
		case NOTIFY_MAILBOXES:
			for (j = 0; j < g->nnames && !hit; j++)
				hit = strcmp(name, g->names[j]) == 0;
			break;
		}
		if (hit)
			return g->events;
	}
	return 0;
}

static bool
notify_has_filter(const struct imap_notify *n, enum notify_filter f)
{
	unsigned i;

	for (i = 0; i < n->ngroups; i++)
		if (n->groups[i].filter == f)
			return true;
	return false;
}

static bool
is_subscribed(struct imap_client *c, const char *name)
{
	char **names;
	size_t count, i;
	bool found = false;

	if (mstore_subscriptions(c->user->store, &names, &count) != STORE_OK)
		return false;
	for (i = 0; i < count && !found; i++)
		found = strcmp(names[i], name) == 0;
	mstore_names_free(names, count);
	return found;
}

/* ---------------------------------------------------------------- watching */

static void
w_changed(struct notify_watch *w)
{
	struct imap_client *c = w->n->client;

	if (w->n->overflow)
		return;
	w->dirty = true;
	w->n->status_pending = true;
	imap_client_schedule_updates(c);
}

static void
w_expunged(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	w_changed(ctx);
}

static void
w_appended(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	w_changed(ctx);
}

static void
w_flags_changed(void *ctx, struct mailbox *mbox, uint32_t uid)
{
	struct notify_watch *w = ctx;

	if (w->events & IMAP_NOTIFY_EV_FLAGS)
		w_changed(w);
}

static const struct mailbox_listener_ops watch_ops = {
	w_expunged, w_appended, w_flags_changed, NULL, NULL, NULL,
};

/*
 * Resolve the set of watched mailboxes again: every selectable folder a group with
 * message events takes. Watches of folders still taken are kept (with their pending
 * STATUS), new ones opened, the rest released. Returns 0, or -1 when more than
 * IMAP_NOTIFY_MAX_WATCH folders would be watched (nothing changed then).
 */
static int
notify_rewatch(struct imap_notify *n)
{
	struct imap_client *c = n->client;
	struct mstore_folder *folders;
	struct notify_watch *nw;
	size_t count, i, j, nn = 0;
	bool *kept;

	n->rewatch = false;
	if (mstore_list(c->user->store, &folders, &count) != STORE_OK)
		return 0;
	nw = xcalloc(MAX(count, 1), sizeof(*nw));
	kept = xcalloc(MAX(n->nwatches, 1), sizeof(*kept));
	for (i = 0; i < count; i++) {
		const struct mstore_folder *f = &folders[i];
		unsigned ev;

		if (f->attrs & (MSTORE_ATTR_NOSELECT | MSTORE_ATTR_NONEXISTENT))
			continue;
		ev = notify_match(n, f->name, (f->attrs & MSTORE_ATTR_SUBSCRIBED) != 0) &
		    IMAP_NOTIFY_EV_MSGS;
		if (ev == 0)
			continue;
		if (nn == IMAP_NOTIFY_MAX_WATCH) {
			for (j = 0; j < nn; j++)
				if (nw[j].fresh)
					mailbox_unref(&nw[j].mbox);
			free(nw);
			free(kept);
			mstore_list_free(folders, count);
			return -1;
		}
		for (j = 0; j < n->nwatches; j++)
			if (!kept[j] && !mailbox_is_deleted(n->watches[j].mbox) &&
			    strcmp(mailbox_name(n->watches[j].mbox), f->name) == 0)
				break;
		if (j < n->nwatches) {
			kept[j] = true;
			nw[nn] = n->watches[j];
			nw[nn].listener = NULL;
			nw[nn].fresh = false;
			nw[nn].events = ev;
			nn++;
			continue;
		}
		if (mailbox_open(c->user->store, f->name, &nw[nn].mbox) != STORE_OK)
			continue;
		nw[nn].n = n;
		nw[nn].events = ev;
		nw[nn].fresh = true;
		nn++;
	}
	mstore_list_free(folders, count);
	/* listen only now: nw does not move any more, the listeners point into it */
	for (j = 0; j < n->nwatches; j++) {
		mailbox_unlisten(n->watches[j].mbox, &n->watches[j].listener);
		if (!kept[j])	/* a kept one's reference moved to nw */
			mailbox_unref(&n->watches[j].mbox);
	}
	free(n->watches);
	free(kept);
	for (j = 0; j < nn; j++)
		nw[j].listener = mailbox_listen(nw[j].mbox, &watch_ops, &nw[j]);
	n->watches = nw;
	n->nwatches = nn;
	return 0;
}

/* ---------------------------------------------------------------- sending */

static void
write_status(struct imap_client *c, struct mailbox *mbox, bool flags)
{
	struct mailbox_summary sum;
	const char *name = mailbox_name(mbox);
	struct buf b;

	mailbox_summary(mbox, &sum);
	buf_init(&b, STORE_NAME_MAX * 2 + 256);
	(void)buf_append_str(&b, "* STATUS ");
	(void)imap_append_mailbox(c, &b, name);
	(void)buf_appendf(&b, " (MESSAGES %u UIDNEXT %u UIDVALIDITY %u UNSEEN %u",
	    sum.messages, mailbox_uidnext(mbox), mailbox_uidvalidity(mbox), sum.unseen);
	/* RFC 5465 NOTIFY SET STATUS: with FlagChange, HIGHESTMODSEQ when CONDSTORE is offered */
	if ((c->enabled & IMAP_ENABLE_CONDSTORE) ||
	    (flags && strstr(" " IMAP_CAPABILITY " ", " CONDSTORE ") != NULL))
		(void)buf_appendf(&b, " HIGHESTMODSEQ %llu",
		    (unsigned long long)mailbox_highestmodseq(mbox));
	(void)buf_append_str(&b, ")\r\n");
	imap_client_write(c, b.data, b.len);
	buf_deinit(&b);
}

static bool
is_selected(const struct imap_client *c, const struct mailbox *mbox)
{
	return c->view != NULL && c->view->mbox == mbox;
}

/* The MessageNew attributes of one new message of the view (RFC 5465 MessageNew). */
/* More new messages at once than this get EXISTS without the MessageNew attributes. */
#define NOTIFY_NEW_FETCH_MAX	1000

/* BODY.PEEK[section]<partial> of a MessageNew notification, as a literal: at most
 * NOTIFY_SECTION_MAX octets (more: NIL). Returns 0 or -1. */
#define NOTIFY_SECTION_MAX	(1024 * 1024)

static int
write_section(struct buf *b, const struct imap_fetch_item *it, const struct mail_message *pm)
{
	struct mail_section_result res;
	struct buf tmp;
	int ret;

	memset(&res, 0, sizeof(res));
	buf_init(&tmp, NOTIFY_SECTION_MAX);
	ret = mail_section_resolve(pm, &it->section, NOTIFY_SECTION_MAX, &res);
	if (ret == 0)
		ret = mail_section_result_append(&tmp, pm, &res, it->partial ? it->origin : 0,
		    it->partial ? it->count : UINT64_MAX);
	if (ret == 0)
		ret = buf_appendf(b, "{%zu}\r\n", tmp.len);
	if (ret == 0)
		ret = buf_append(b, tmp.data, tmp.len);
	mail_section_result_deinit(&res);
	buf_deinit(&tmp);
	return ret;
}

static void
write_new_fetch(struct imap_client *c, size_t idx)
{
	struct imap_view *v = c->view;
	struct imap_view_msg *vm = &v->msgs[idx];
	const struct mailbox_msg *m;
	struct buf b;
	char start[IMAP_FETCH_START_MAX];
	unsigned i;
	struct imap_cached_msg *msg = NULL;
	const struct mail_message *pm;
	size_t mark;
	int ret;

	if (mailbox_msg_info(v->mbox, vm->uid, &m) != STORE_OK)
		return;
	buf_init(&b, IMAP_RESP_MAX);
	(void)buf_append_str(&b, imap_fetch_start(c, start, idx + 1, vm->uid, false));
	for (i = 0; i < c->notify->fetch->count; i++) {
		const struct imap_fetch_item *it = &c->notify->fetch->items[i];

		if (i > 0)
			(void)buf_append_c(&b, ' ');
		switch (it->kind) {
		case IMAP_FETCH_ENVELOPE:
		case IMAP_FETCH_BODY:
		case IMAP_FETCH_BODYSTRUCTURE:
		case IMAP_FETCH_SECTION:
			if (it->kind == IMAP_FETCH_SECTION)
				(void)buf_appendf(&b, "%s ", it->name);
			else
				(void)buf_append_str(&b, it->kind == IMAP_FETCH_ENVELOPE ?
				    "ENVELOPE " : it->kind == IMAP_FETCH_BODY ? "BODY " :
				    "BODYSTRUCTURE ");
			mark = b.len;
			if (msg == NULL && imap_msgcache_get(c->iu->cache, v->mbox, m->uid,
			    &msg) != STORE_OK) {
				msg = NULL;
				(void)buf_append_str(&b, "NIL");
				break;
			}
			/* the store may have rescanned: m is only good until then */
			if (mailbox_msg_info(v->mbox, vm->uid, &m) != STORE_OK)
				goto out;
			pm = imap_cached_msg_parse(msg);
			if (it->kind == IMAP_FETCH_SECTION)
				ret = write_section(&b, it, pm);
			else if (it->kind == IMAP_FETCH_ENVELOPE)
				ret = mail_envelope_write(&b, pm, NULL);
			else
				ret = mail_bodystructure_write(&b, pm, NULL,
				    it->kind == IMAP_FETCH_BODYSTRUCTURE);
			if (ret < 0) {
				buf_truncate(&b, mark);
				(void)buf_append_str(&b, "NIL");
			}
			break;
		case IMAP_FETCH_UID:
			(void)buf_appendf(&b, "UID %u", m->uid);
			break;
		case IMAP_FETCH_FLAGS:
			imap_view_set_reported(v, vm, m->flags, m->keywords);
			(void)buf_append_str(&b, "FLAGS ");
			(void)imap_view_write_flags(v, &b, imap_view_client_flags(v, vm, m),
			    m->keywords);
			break;
		case IMAP_FETCH_INTERNALDATE:
		case IMAP_FETCH_SAVEDATE:
			(void)buf_appendf(&b, "%s \"", it->kind == IMAP_FETCH_SAVEDATE ?
			    "SAVEDATE" : "INTERNALDATE");
			(void)imap_datetime_format(it->kind == IMAP_FETCH_SAVEDATE &&
			    m->savedate != 0 ? m->savedate : m->internaldate, 0, &b);
			(void)buf_append_c(&b, '"');
			break;
		case IMAP_FETCH_RFC822_SIZE:
			(void)buf_appendf(&b, "RFC822.SIZE %llu", (unsigned long long)
			    (m->vsize != MAILBOX_SIZE_UNKNOWN ? m->vsize : 0));
			break;
		default:	/* refused by NOTIFY SET */
			break;
		}
	}
	(void)buf_append_str(&b, ")\r\n");
	imap_client_write(c, b.data, b.len);
out:
	if (msg != NULL)
		imap_msgcache_release(c->iu->cache, &msg);
	buf_deinit(&b);
}

void
imap_notify_view_updates(struct imap_client *c, bool allow_expunge)
{
	struct imap_view *v = c->view;
	uint32_t last_uid;
	size_t i;

	if (v == NULL)
		return;
	last_uid = v->last_uid;
	imap_view_send_updates(v, allow_expunge);
	if (c->notify == NULL || c->notify->fetch == NULL || c->view != v || v->lazy ||
	    (imap_notify_selected_events(c) & IMAP_NOTIFY_EV_NEW) == 0)
		return;
	for (i = v->count; i > 0 && v->msgs[i - 1].uid > last_uid; i--)
		;
	/* a bulk COPY or import: the client fetches what it wants after EXISTS, and the
	 * process does not read thousands of files in one go */
	if (v->count - i > NOTIFY_NEW_FETCH_MAX)
		return;
	for (; i < v->count; i++)
		if (!v->msgs[i].expunged)
			write_new_fetch(c, i);
}

unsigned
imap_notify_selected_events(const struct imap_client *c)
{
	const struct imap_notify *n = c->notify;

	if (n == NULL)
		return IMAP_NOTIFY_EV_MSGS;
	/* without a SELECTED group: none, as Dovecot does */
	return n->sel_events;
}

void
imap_notify_live(struct imap_client *c)
{
	struct imap_notify *n = c->notify;

	if (n == NULL)
		return;
	if (c->view != NULL && (imap_notify_selected_events(c) &
	    (IMAP_NOTIFY_EV_NEW | IMAP_NOTIFY_EV_EXPUNGE)) != 0)
		imap_notify_view_updates(c, !n->sel_delayed);
	imap_notify_flush(c);
}

void
imap_notify_flush(struct imap_client *c)
{
	struct imap_notify *n = c->notify;
	size_t i;

	if (n == NULL)
		return;
	if (n->overflow) {
		/* RFC 5465 notification overflow: the server then behaves as after NOTIFY NONE */
		notify_turn_off(n);
		imap_client_line(c, "* OK [NOTIFICATIONOVERFLOW] Too many notifications; "
		    "notifications are off.");
		log_info("imap notify user=%s session=%u overflow", c->user->name, c->id);
		return;
	}
	if (n->rewatch && notify_rewatch(n) < 0) {
		n->overflow = true;
		imap_notify_flush(c);
		return;
	}
	if (n->queue.len > 0) {
		imap_client_write(c, n->queue.data, n->queue.len);
		buf_reset(&n->queue);
	}
	if (n->status_pending) {
		n->status_pending = false;
		for (i = 0; i < n->nwatches; i++) {
			struct notify_watch *w = &n->watches[i];

			if (!w->dirty)
				continue;
			w->dirty = false;
			if (!is_selected(c, w->mbox) && !mailbox_is_deleted(w->mbox))
				write_status(c, w->mbox, (w->events & IMAP_NOTIFY_EV_FLAGS) != 0);
		}
	}
}

/* ---------------------------------------------------------------- folder events */

/*
 * The user's folders as last seen, so that a change of the Maildir root found by
 * inotify (another process created, deleted or renamed a folder) can be told as the
 * names that appeared and vanished. Changes of this process update it first
 * (notify_folders_take), so they are not told twice.
 */
struct imap_notify_folders {
	struct mail_user *mu;
	char **names;			/* sorted (strcmp), selectable folders */
	size_t count;
};

static void notify_broadcast(struct mail_user *mu, struct imap_client *origin,
    enum imap_notify_folder_ev ev, const char *name, const char *oldname);

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
folders_list(struct mail_user *mu, char ***names_r, size_t *count_r)
{
	struct mstore_folder *folders;
	size_t count, i, n = 0;
	char **names;

	*names_r = NULL;
	*count_r = 0;
	if (mstore_list(mu->store, &folders, &count) != STORE_OK)
		return;
	names = xcalloc(MAX(count, 1), sizeof(*names));
	for (i = 0; i < count; i++)
		if (!(folders[i].attrs & (MSTORE_ATTR_NOSELECT | MSTORE_ATTR_NONEXISTENT)))
			names[n++] = xstrdup(folders[i].name);
	mstore_list_free(folders, count);
	qsort(names, n, sizeof(*names), name_cmp);
	*names_r = names;
	*count_r = n;
}

static void
notify_folders_take(struct imap_notify_folders *nf)
{
	mstore_names_free(nf->names, nf->count);
	folders_list(nf->mu, &nf->names, &nf->count);
}

/* The Maildir root changed (mstore_set_folders_cb). */
static void
folders_changed(void *ctx)
{
	struct imap_notify_folders *nf = ctx;
	char **names;
	size_t count, i = 0, j = 0;

	folders_list(nf->mu, &names, &count);
	while (i < nf->count || j < count) {
		int cmp = i == nf->count ? 1 : j == count ? -1 :
		    strcmp(nf->names[i], names[j]);

		if (cmp < 0)
			notify_broadcast(nf->mu, NULL, IMAP_NOTIFY_DELETE, nf->names[i++], NULL);
		else if (cmp > 0)
			notify_broadcast(nf->mu, NULL, IMAP_NOTIFY_CREATE, names[j++], NULL);
		else
			i++, j++;
	}
	mstore_names_free(nf->names, nf->count);
	nf->names = names;
	nf->count = count;
}

static void
notify_folders_start(struct imap_client *c)
{
	struct imap_notify_folders *nf;

	if (c->iu->notify_folders != NULL)
		return;
	nf = xcalloc(1, sizeof(*nf));
	nf->mu = c->user;
	notify_folders_take(nf);
	c->iu->notify_folders = nf;
	mstore_set_folders_cb(c->user->store, folders_changed, nf);
}

void
imap_notify_user_free(struct imap_user *iu)
{
	struct imap_notify_folders *nf = iu->notify_folders;

	if (nf == NULL)
		return;
	iu->notify_folders = NULL;
	mstore_set_folders_cb(nf->mu->store, NULL, NULL);
	mstore_names_free(nf->names, nf->count);
	free(nf);
}

/* Queue one LIST line; past the bound the session overflows. */
static void
queue_list(struct imap_notify *n, const char *attrs, const char *name, const char *oldname)
{
	size_t mark = n->queue.len;
	int ret;

	if (n->overflow)
		return;
	ret = buf_appendf(&n->queue, "* LIST (%s) \".\" ", attrs);
	if (ret == 0)
		ret = imap_append_mailbox(n->client, &n->queue, name);
	if (ret == 0 && oldname != NULL) {
		/* RFC 5465 MailboxName (RFC 5258 OLDNAME extended data item) */
		ret = buf_append_str(&n->queue, " (\"OLDNAME\" (");
		if (ret == 0)
			ret = imap_append_mailbox(n->client, &n->queue, oldname);
		if (ret == 0)
			ret = buf_append_str(&n->queue, "))");
	}
	if (ret == 0)
		ret = buf_append(&n->queue, "\r\n", 2);
	if (ret < 0) {
		buf_truncate(&n->queue, mark);
		n->overflow = true;
	}
}

void
imap_notify_folder_event(struct imap_client *origin, enum imap_notify_folder_ev ev,
    const char *name, const char *oldname)
{
	if (origin->iu->notify_folders != NULL && ev != IMAP_NOTIFY_SUBSCRIBE &&
	    ev != IMAP_NOTIFY_UNSUBSCRIBE)
		notify_folders_take(origin->iu->notify_folders);
	notify_broadcast(origin->user, origin, ev, name, oldname);
}

static void
notify_broadcast(struct mail_user *mu, struct imap_client *origin,
    enum imap_notify_folder_ev ev, const char *name, const char *oldname)
{
	struct mail_session *s;

	for (s = mu->sessions; s != NULL; s = s->next) {
		struct imap_client *c;
		struct imap_notify *n;
		unsigned events;
		bool subscribed;

		if (s->proto != MAIL_PROTO_IMAP)
			continue;
		c = s->ctx;
		n = c->notify;
		if (n == NULL || c->destroyed)
			continue;
		if (ev != IMAP_NOTIFY_SUBSCRIBE && ev != IMAP_NOTIFY_UNSUBSCRIBE)
			n->rewatch = true;
		else if (notify_has_filter(n, NOTIFY_SUBSCRIBED))
			n->rewatch = true;
		/* the session that made the change has its tagged reply */
		if (c == origin)
			goto schedule;
		subscribed = ev == IMAP_NOTIFY_SUBSCRIBE ||
		    (ev != IMAP_NOTIFY_UNSUBSCRIBE && notify_has_filter(n, NOTIFY_SUBSCRIBED) &&
		    is_subscribed(c, name));
		events = notify_match(n, name, subscribed);
		if (oldname != NULL)
			events |= notify_match(n, oldname, false);
		switch (ev) {
		case IMAP_NOTIFY_CREATE:
			if (events & IMAP_NOTIFY_EV_NAME)
				queue_list(n, "", name, NULL);
			break;
		case IMAP_NOTIFY_DELETE:
			if (events & IMAP_NOTIFY_EV_NAME)
				queue_list(n, "\\NonExistent", name, NULL);
			break;
		case IMAP_NOTIFY_RENAME:
			if (events & IMAP_NOTIFY_EV_NAME)
				queue_list(n, "", name, oldname);
			break;
		case IMAP_NOTIFY_SUBSCRIBE:
		case IMAP_NOTIFY_UNSUBSCRIBE:
			/* SUBSCRIBED takes the name either way: it is or was subscribed */
			if (notify_has_filter(n, NOTIFY_SUBSCRIBED))
				events |= notify_match(n, name, true);
			if (events & IMAP_NOTIFY_EV_SUBS)
				queue_list(n, ev == IMAP_NOTIFY_SUBSCRIBE ? "\\Subscribed" : "",
				    name, NULL);
			break;
		}
schedule:
		imap_client_schedule_updates(c);
	}
}

static void
notify_release(struct mail_user *mu, const char *name)
{
	struct mail_session *s;

	for (s = mu->sessions; s != NULL; s = s->next) {
		struct imap_client *c;
		struct imap_notify *n;
		size_t i, j;

		if (s->proto != MAIL_PROTO_IMAP)
			continue;
		c = s->ctx;
		n = c->notify;
		if (n == NULL || c->destroyed)
			continue;
		for (i = 0, j = 0; i < n->nwatches; i++) {
			struct notify_watch *w = &n->watches[i];

			if (strcmp(mailbox_name(w->mbox), "INBOX") != 0 &&
			    name_under(mailbox_name(w->mbox), name)) {
				mailbox_unlisten(w->mbox, &w->listener);
				mailbox_unref(&w->mbox);
				continue;
			}
			if (i != j) {
				/* the listener's ctx is the slot: register it again */
				mailbox_unlisten(w->mbox, &w->listener);
				n->watches[j] = *w;
				n->watches[j].listener = mailbox_listen(n->watches[j].mbox,
				    &watch_ops, &n->watches[j]);
			}
			j++;
		}
		n->nwatches = j;
		n->rewatch = true;
		imap_client_schedule_updates(c);
	}
}

void
imap_notify_release(struct imap_client *origin, const char *name)
{
	notify_release(origin->user, name);
}

void
imap_notify_user_folder_event(struct mail_user *mu, enum mail_folder_ev ev, const char *name,
    const char *oldname)
{
	struct imap_user *iu = mail_user_proto_ctx(mu, MAIL_PROTO_IMAP);
	enum imap_notify_folder_ev iev;

	if (iu == NULL)
		return;		/* no IMAP session has been here: nobody to tell */
	switch (ev) {
	case MAIL_FOLDER_RELEASE:
		notify_release(mu, name);
		return;
	case MAIL_FOLDER_CREATE: iev = IMAP_NOTIFY_CREATE; break;
	case MAIL_FOLDER_DELETE: iev = IMAP_NOTIFY_DELETE; break;
	case MAIL_FOLDER_RENAME: iev = IMAP_NOTIFY_RENAME; break;
	case MAIL_FOLDER_SUBSCRIBE: iev = IMAP_NOTIFY_SUBSCRIBE; break;
	default: iev = IMAP_NOTIFY_UNSUBSCRIBE; break;
	}
	/* the folder list as it is now, so the Maildir root's watch does not tell it again */
	if (iu->notify_folders != NULL && iev != IMAP_NOTIFY_SUBSCRIBE &&
	    iev != IMAP_NOTIFY_UNSUBSCRIBE)
		notify_folders_take(iu->notify_folders);
	notify_broadcast(mu, NULL, iev, name, oldname);
}

/* ---------------------------------------------------------------- the command */

/* A mailbox name of the command: astring, valid mUTF-7 (UTF-8 after ENABLE UTF8=ACCEPT
 * or IMAP4rev2, converted: imap_mailbox_name_in), INBOX canonical. */
static char *
notify_name(const struct imap_client *c, const struct imap_arg *a)
{
	const char *s;
	size_t len;
	char *name;

	if (!imap_arg_get_astring(a, &s, &len) || len > STORE_NAME_MAX ||
	    imap_mailbox_name_in(c, s, len, &name) < 0)
		return NULL;
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == STORE_SEP))
		memcpy(name, "INBOX", 5);
	return name;
}

struct notify_parse {
	struct imap_notify *n;
	unsigned names;			/* mailbox names so far */
	unsigned bad_events;		/* an event we do not support was named */
	const char *error;		/* BAD text */
	bool too_many;
};

static int
parse_names(struct notify_parse *p, struct notify_group *g, const struct imap_arg *a)
{
	const struct imap_arg *list = a;
	unsigned n = 1, i;

	if (a->type == IMAP_ARG_LIST) {
		list = a->list;
		n = a->list_count;
		if (n == 0)
			return -1;
	}
	if (p->names + n > IMAP_NOTIFY_MAX_NAMES) {
		p->too_many = true;
		return -1;
	}
	g->names = xcalloc(n, sizeof(*g->names));
	for (i = 0; i < n; i++) {
		g->names[i] = notify_name(p->n->client, &list[i]);
		if (g->names[i] == NULL)
			return -1;
		g->nnames++;
	}
	p->names += n;
	return 0;
}

/* The events list of one group; fetch_ok for SELECTED (MessageNew attributes). */
static int
parse_events(struct notify_parse *p, const struct imap_arg *a, bool fetch_ok,
    unsigned *events_r)
{
	unsigned i, j;

	*events_r = 0;
	if (imap_arg_atom_equals(a, "NONE"))
		return 0;
	if (a->type != IMAP_ARG_LIST || a->list_count == 0) {
		p->error = "Invalid event list";
		return -1;
	}
	for (i = 0; i < a->list_count; i++) {
		const struct imap_arg *e = &a->list[i];

		if (e->type != IMAP_ARG_ATOM) {
			p->error = "Invalid event";
			return -1;
		}
		for (j = 0; j < N_ELEMENTS(event_names); j++)
			if (str_ieq(e->str, event_names[j]))
				break;
		if (j == N_ELEMENTS(event_names)) {
			/* AnnotationChange, the METADATA events, or an extension */
			p->bad_events++;
			continue;
		}
		*events_r |= 1u << j;
		if (j == 0 && i + 1 < a->list_count && a->list[i + 1].type == IMAP_ARG_LIST) {
			const char *err;
			unsigned k;

			if (!fetch_ok) {
				/* RFC 5465: fetch attributes only for the selected mailbox */
				p->error = "MessageNew attributes only for the selected mailbox";
				return -1;
			}
			if (p->n->fetch != NULL || imap_fetch_parse(&a->list[i + 1], 1, false,
			    &p->n->fetch, &err) < 0) {
				p->error = "Invalid MessageNew attributes";
				return -1;
			}
			if (p->n->fetch->sets_seen) {
				/* a notification does not change the message */
				p->error = "MessageNew body sections must be BODY.PEEK";
				return -1;
			}
			for (k = 0; k < p->n->fetch->count; k++) {
				enum imap_fetch_kind kind = p->n->fetch->items[k].kind;

				if (kind != IMAP_FETCH_UID && kind != IMAP_FETCH_FLAGS &&
				    kind != IMAP_FETCH_INTERNALDATE &&
				    kind != IMAP_FETCH_SAVEDATE &&
				    kind != IMAP_FETCH_RFC822_SIZE &&
				    kind != IMAP_FETCH_ENVELOPE && kind != IMAP_FETCH_BODY &&
				    kind != IMAP_FETCH_BODYSTRUCTURE &&
				    kind != IMAP_FETCH_SECTION) {
					p->error = "MessageNew attributes supported: UID FLAGS "
					    "INTERNALDATE SAVEDATE RFC822.SIZE ENVELOPE BODY "
					    "BODYSTRUCTURE BODY.PEEK[...]";
					return -1;
				}
			}
			i++;
		}
	}
	/* RFC 5465: MessageNew and MessageExpunge together; FlagChange
	 * needs both */
	if (((*events_r & IMAP_NOTIFY_EV_NEW) != 0) != ((*events_r & IMAP_NOTIFY_EV_EXPUNGE) != 0)) {
		p->error = "MessageNew and MessageExpunge must be given together";
		return -1;
	}
	if ((*events_r & IMAP_NOTIFY_EV_FLAGS) && !(*events_r & IMAP_NOTIFY_EV_NEW)) {
		p->error = "FlagChange needs MessageNew and MessageExpunge";
		return -1;
	}
	return 0;
}

static int
parse_group(struct notify_parse *p, const struct imap_arg *a)
{
	struct imap_notify *n = p->n;
	const struct imap_arg *l;
	struct notify_group *g;
	unsigned events, argn;

	if (a->type != IMAP_ARG_LIST || a->list_count < 2 || a->list[0].type != IMAP_ARG_ATOM) {
		p->error = "Invalid event group";
		return -1;
	}
	l = a->list;
	if (imap_arg_atom_equals(&l[0], "SELECTED") ||
	    imap_arg_atom_equals(&l[0], "SELECTED-DELAYED")) {
		if (a->list_count != 2) {
			p->error = "Invalid event group";
			return -1;
		}
		if (n->sel_set) {
			p->error = "SELECTED given twice";
			return -1;
		}
		n->sel_set = true;
		n->sel_delayed = imap_arg_atom_equals(&l[0], "SELECTED-DELAYED");
		return parse_events(p, &l[1], true, &n->sel_events);
	}
	if (n->ngroups == IMAP_NOTIFY_MAX_GROUPS) {
		p->too_many = true;
		return -1;
	}
	n->groups = xreallocarray(n->groups, n->ngroups + 1, sizeof(*n->groups));
	g = &n->groups[n->ngroups++];
	memset(g, 0, sizeof(*g));
	argn = 2;
	if (imap_arg_atom_equals(&l[0], "INBOXES"))
		g->filter = NOTIFY_INBOXES;
	else if (imap_arg_atom_equals(&l[0], "PERSONAL"))
		g->filter = NOTIFY_PERSONAL;
	else if (imap_arg_atom_equals(&l[0], "SUBSCRIBED"))
		g->filter = NOTIFY_SUBSCRIBED;
	else if (imap_arg_atom_equals(&l[0], "SUBTREE") ||
	    imap_arg_atom_equals(&l[0], "MAILBOXES")) {
		g->filter = imap_arg_atom_equals(&l[0], "SUBTREE") ? NOTIFY_SUBTREE :
		    NOTIFY_MAILBOXES;
		argn = 3;
		if (a->list_count != 3 || parse_names(p, g, &l[1]) < 0) {
			p->error = "Invalid mailbox list";
			return -1;
		}
	} else {
		p->error = "Unknown mailbox filter";
		return -1;
	}
	if (a->list_count != argn) {
		p->error = "Invalid event group";
		return -1;
	}
	if (parse_events(p, &l[argn - 1], false, &events) < 0)
		return -1;
	g->events = events;
	return 0;
}

int
cmd_notify(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct notify_parse p;
	struct imap_notify *n;
	unsigned i = 1;
	bool status = false;

	if (cmd->argc == 1 && imap_arg_atom_equals(&cmd->args[0], "NONE")) {
		if (c->notify == NULL)
			c->notify = notify_new(c);
		notify_turn_off(c->notify);
		return imap_cmd_ok(cmd, "NOTIFY completed.");
	}
	if (cmd->argc < 2 || !imap_arg_atom_equals(&cmd->args[0], "SET"))
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (imap_arg_atom_equals(&cmd->args[1], "STATUS")) {
		status = true;
		i++;
	}
	if (i >= cmd->argc)
		return imap_cmd_bad(cmd, "Missing event groups");
	memset(&p, 0, sizeof(p));
	p.n = n = notify_new(c);
	for (; i < cmd->argc; i++)
		if (parse_group(&p, &cmd->args[i]) < 0)
			break;
	if (p.too_many) {
		imap_notify_free(&n);
		return imap_cmd_no(cmd, "[NOTIFICATIONOVERFLOW] Too many mailboxes");
	}
	if (p.error != NULL) {
		imap_notify_free(&n);
		return imap_cmd_bad(cmd, "%s", p.error);
	}
	if (p.bad_events > 0) {
		/* RFC 5465 BADEVENT: the code lists the events the server supports */
		imap_notify_free(&n);
		return imap_cmd_no(cmd, "[BADEVENT " SUPPORTED_EVENTS "] Unsupported event");
	}
	if (notify_rewatch(n) < 0) {
		imap_notify_free(&n);
		return imap_cmd_no(cmd, "[NOTIFICATIONOVERFLOW] Too many mailboxes to watch");
	}
	imap_notify_free(&c->notify);
	c->notify = n;
	if (n->ngroups > 0)
		notify_folders_start(c);	/* folder changes by other processes */
	/* RFC 5465 NOTIFY SET STATUS: STATUS for each mailbox with message events, before the OK */
	if (status)
		for (i = 0; i < n->nwatches; i++)
			if (!is_selected(c, n->watches[i].mbox))
				write_status(c, n->watches[i].mbox,
				    (n->watches[i].events & IMAP_NOTIFY_EV_FLAGS) != 0);
	return imap_cmd_ok(cmd, "NOTIFY completed.");
}
