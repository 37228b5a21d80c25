/*
 * jmap_mailbox.c — Mailbox/get and Mailbox/changes (RFC 8621 §2) over the user's
 * folders. A Mailbox state lists every folder with a hash of what Mailbox/get says of
 * it, so /changes is the difference of two states (docs/jmap.md, "State").
 */
#include "jmap/jmap_local.h"

#include <string.h>

#include "jmap/jmap_request.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "proto/mutf7.h"
#include "store/store.h"

/* ---------------------------------------------------------------- Mailbox/get */

static const char *
role_of(const struct folder *fo)
{
	if (strcmp(fo->name, "INBOX") == 0)
		return "inbox";
	if (fo->attrs & MSTORE_ATTR_SENT)
		return "sent";
	if (fo->attrs & MSTORE_ATTR_DRAFTS)
		return "drafts";
	if (fo->attrs & MSTORE_ATTR_TRASH)
		return "trash";
	if (fo->attrs & MSTORE_ATTR_JUNK)
		return "junk";
	if (fo->attrs & MSTORE_ATTR_ARCHIVE)
		return "archive";
	return NULL;
}

/* The nearest selectable ancestor of fo (Maildir++ '.' hierarchy), or NULL. */
static struct folder *
parent_of(struct folders *f, const struct folder *fo)
{
	char *name = xstrdup(fo->name), *dot;
	struct folder *p = NULL;

	while (p == NULL && (dot = strrchr(name, '.')) != NULL) {
		*dot = '\0';
		for (size_t i = 0; i < f->n; i++)
			if (strcmp(f->v[i].name, name) == 0)
				p = &f->v[i];
	}
	free(name);
	return p;
}

static json_t *
mailbox_json(struct folders *f, const struct folder *fo, json_t *props)
{
	const char *leaf = strrchr(fo->name, '.');
	struct folder *parent = parent_of(f, fo);
	const char *role = role_of(fo);
	struct buf name;
	json_t *o, *all;

	leaf = leaf != NULL ? leaf + 1 : fo->name;
	buf_init(&name, 4096);
	if (strcmp(fo->name, "INBOX") == 0 || mutf7_to_utf8(leaf, strlen(leaf), &name) < 0) {
		buf_reset(&name);
		(void)buf_append_str(&name, leaf);
	}
	all = json_pack("{s:s, s:s%, s:o, s:o, s:i, s:I, s:I, s:I, s:I, s:b,"
	    " s:{s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b}}",
	    "id", fo->guid,
	    "name", (const char *)name.data, name.len,
	    "parentId", parent != NULL ? json_string(parent->guid) : json_null(),
	    "role", role != NULL ? json_string(role) : json_null(),
	    "sortOrder", 0,
	    "totalEmails", (json_int_t)fo->st.messages,
	    "unreadEmails", (json_int_t)fo->st.unseen,
	    "totalThreads", (json_int_t)(fo->threads_known ? fo->total_threads :
	    fo->st.messages),
	    "unreadThreads", (json_int_t)(fo->threads_known ? fo->unread_threads :
	    fo->st.unseen),
	    "isSubscribed", (fo->attrs & MSTORE_ATTR_SUBSCRIBED) != 0,
	    "myRights",
	    "mayReadItems", 1, "mayAddItems", 1, "mayRemoveItems", 1, "maySetSeen", 1,
	    "maySetKeywords", 1, "mayCreateChild", 1,
	    "mayRename", strcmp(fo->name, "INBOX") != 0,
	    "mayDelete", strcmp(fo->name, "INBOX") != 0,
	    "maySubmit", 0);
	buf_deinit(&name);
	if (all == NULL || props == NULL || json_is_null(props))
		return all;
	o = json_object();
	(void)json_object_set(o, "id", json_object_get(all, "id"));	/* always (§5.1) */
	{
		size_t i;
		json_t *p;

		json_array_foreach(props, i, p) {
			json_t *v = json_object_get(all, json_string_value(p));

			if (v != NULL)
				(void)json_object_set(o, json_string_value(p), v);
		}
	}
	json_decref(all);
	return o;
}
static char *mailbox_state(struct folders *f);

/* totalThreads and unreadThreads of every folder (from the thread ids in the index). */
static void
folders_threads(struct mail_user *mu, struct folders *f)
{
	uint32_t *t = xcalloc(f->n + 1, sizeof(*t)), *u = xcalloc(f->n + 1, sizeof(*u));

	if (jmap_thread_counts(mu, f, t, u) == 0)
		for (size_t i = 0; i < f->n; i++) {
			f->v[i].threads_known = true;
			f->v[i].total_threads = t[i];
			f->v[i].unread_threads = u[i];
		}
	free(t);
	free(u);
}

static const char *const mailbox_props[] = { "id", "name", "parentId", "role", "sortOrder",
	"totalEmails", "unreadEmails", "totalThreads", "unreadThreads", "myRights",
	"isSubscribed", NULL };

void
jmap_mailbox_get(struct jmap_call *call)
{
	json_t *ids = json_object_get(call->args, "ids");
	json_t *props = json_object_get(call->args, "properties");
	json_t *list, *notfound;
	struct folders f;
	char *state;

	if (!jmap_check_account(call) || !jmap_check_ids(call, ids) ||
	    !jmap_check_properties(call, props, mailbox_props))
		return;
	if (jmap_folders_load(call->mu, &f) < 0) {
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	folders_threads(call->mu, &f);
	list = json_array();
	notfound = json_array();
	if (ids == NULL || json_is_null(ids)) {
		for (size_t i = 0; i < f.n; i++)
			(void)json_array_append_new(list, mailbox_json(&f, &f.v[i], props));
	} else {
		size_t i;
		json_t *e;

		json_array_foreach(ids, i, e) {
			struct folder *fo = jmap_folder_by_guid(&f, json_string_value(e));

			if (fo != NULL)
				(void)json_array_append_new(list, mailbox_json(&f, fo, props));
			else
				(void)json_array_append(notfound, e);
		}
	}
	state = mailbox_state(&f);
	call->result = json_pack("{s:s, s:s, s:o, s:o}", "accountId", call->account_id,
	    "state", state, "list", list, "notFound", notfound);
	free(state);
	jmap_folders_free(&f);
}

/* ---------------------------------------------------------------- Mailbox/changes */

struct mstate {
	char (*guid)[65];
	uint32_t *hash;
	size_t n, cap;
};

static void
mstate_add(struct mstate *st, const char *guid, size_t glen, uint32_t hash)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 16;
		st->guid = xreallocarray(st->guid, st->cap, sizeof(*st->guid));
		st->hash = xreallocarray(st->hash, st->cap, sizeof(*st->hash));
	}
	memcpy(st->guid[st->n], guid, glen);
	st->guid[st->n][glen] = '\0';
	st->hash[st->n++] = hash;
}

static void
mstate_free(struct mstate *st)
{
	free(st->guid);
	free(st->hash);
	memset(st, 0, sizeof(*st));
}

static ssize_t
mstate_find(const struct mstate *st, const char *guid)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->guid[i], guid) == 0)
			return (ssize_t)i;
	return -1;
}

static char *
mstate_encode(const struct mstate *st)
{
	struct buf b;

	buf_init(&b, SIZE_MAX / 2);
	(void)buf_append_c(&b, '1');
	for (size_t i = 0; i < st->n; i++)
		(void)buf_appendf(&b, ",%s.%08x", st->guid[i], st->hash[i]);
	(void)buf_append_c(&b, '\0');
	return buf_steal(&b);
}

/* "1" then ",GUID.HASH" per folder; -1 when s is not such a state. */
static int
mstate_decode(const char *s, struct mstate *st)
{
	memset(st, 0, sizeof(*st));
	if (s[0] != '1')
		return -1;
	s++;
	while (*s == ',') {
		const char *g = ++s, *dot;
		uint32_t h = 0;
		size_t glen;

		while ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_')
			s++;
		glen = (size_t)(s - g);
		if (glen == 0 || glen > 64 || *s != '.' || st->n >= 100000)
			goto bad;
		dot = s++;
		for (int i = 0; i < 8; i++, s++) {
			if (*s >= '0' && *s <= '9')
				h = h << 4 | (uint32_t)(*s - '0');
			else if (*s >= 'a' && *s <= 'f')
				h = h << 4 | (uint32_t)(*s - 'a' + 10);
			else
				goto bad;
		}
		(void)dot;
		mstate_add(st, g, glen, h);
	}
	if (*s != '\0')
		goto bad;
	return 0;
bad:
	mstate_free(st);
	return -1;
}

/* The folders now: each GUID with a hash of everything Mailbox/get says of it. */
static void
mstate_current(struct folders *f, struct mstate *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < f->n; i++) {
		json_t *o = mailbox_json(f, &f->v[i], NULL);
		char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		uint64_t h = 14695981039346656037ull;

		if (text != NULL)
			jmap_state_add(&h, text, strlen(text));
		mstate_add(st, f->v[i].guid, strlen(f->v[i].guid), (uint32_t)(h ^ (h >> 32)));
		free(text);
		json_decref(o);
	}
}

static char *
mailbox_state(struct folders *f)
{
	struct mstate st;
	char *s;

	mstate_current(f, &st);
	s = mstate_encode(&st);
	mstate_free(&st);
	return s;
}

char *
jmap_mailbox_state(struct mail_user *mu, struct folders *f)
{
	if (f->n > 0 && !f->v[0].threads_known)
		folders_threads(mu, f);	/* the state covers the thread counts */
	return mailbox_state(f);
}

const char *
jmap_mailbox_role(const struct folder *fo)
{
	return role_of(fo);
}

/*
 * RFC 8620 §5.2 for Mailboxes: both states list every folder, so the changes are the
 * difference; with maxChanges the new state is the old one with the reported changes
 * applied (an intermediate state the client continues from).
 */
void
jmap_mailbox_changes(struct jmap_call *call)
{
	const char *since;
	json_t *created, *updated, *destroyed;
	struct mstate old, cur;
	struct folders f;
	json_int_t max;
	size_t count = 0;
	bool more = false;
	char *newstate;

	if (!jmap_changes_args(call, &since, &max))
		return;
	if (mstate_decode(since, &old) < 0) {
		jmap_set_error(call, "cannotCalculateChanges", NULL);
		return;
	}
	if (jmap_folders_load(call->mu, &f) < 0) {
		mstate_free(&old);
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	folders_threads(call->mu, &f);
	mstate_current(&f, &cur);
	created = json_array();
	updated = json_array();
	destroyed = json_array();
	/* destroyed first, then created and updated; old becomes the state reported */
	for (size_t i = 0; i < old.n && !more; ) {
		if (mstate_find(&cur, old.guid[i]) >= 0) {
			i++;
			continue;
		}
		if (max >= 0 && (json_int_t)count == max) {
			more = true;
			break;
		}
		(void)json_array_append_new(destroyed, json_string(old.guid[i]));
		count++;
		old.n--;
		memmove(old.guid[i], old.guid[i + 1], (old.n - i) * sizeof(*old.guid));
		memmove(&old.hash[i], &old.hash[i + 1], (old.n - i) * sizeof(*old.hash));
	}
	for (size_t i = 0; i < cur.n && !more; i++) {
		ssize_t k = mstate_find(&old, cur.guid[i]);

		if (k >= 0 && old.hash[k] == cur.hash[i])
			continue;
		if (max >= 0 && (json_int_t)count == max) {
			more = true;
			break;
		}
		count++;
		if (k < 0) {
			(void)json_array_append_new(created, json_string(cur.guid[i]));
			mstate_add(&old, cur.guid[i], strlen(cur.guid[i]), cur.hash[i]);
		} else {
			(void)json_array_append_new(updated, json_string(cur.guid[i]));
			old.hash[k] = cur.hash[i];
		}
	}
	newstate = more ? mstate_encode(&old) : mstate_encode(&cur);
	call->result = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:n}", "accountId",
	    call->account_id, "oldState", since, "newState", newstate, "hasMoreChanges", more,
	    "created", created, "updated", updated, "destroyed", destroyed,
	    "updatedProperties");
	free(newstate);
	mstate_free(&old);
	mstate_free(&cur);
	jmap_folders_free(&f);
}
