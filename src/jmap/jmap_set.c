/*
 * jmap_set.c — Email/set (update and destroy; create in jmap_create.c) and Mailbox/set
 * (RFC 8621 §4.6, §2.5; RFC 8620 §5.3) over the user's store, through the calls IMAP
 * uses: a keyword change is mailbox_store_flags (MODSEQs move, IMAP sessions and IDLE
 * are told through the store's listeners), a mailboxIds change is mailbox_copy into the
 * added folders (the copy keeps the EMAILID) and mailbox_expunge from the removed ones,
 * a destroy expunges every instance; folders are mstore_create/rename/delete/subscribe.
 * Every change is committed synchronously, as IMAP does without the commit thread.
 */
#include "jmap/jmap_local.h"

#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "jmap/jmap_request.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_user.h"
#include "proto/mutf7.h"
#include "store/metadata.h"
#include "store/store.h"

/* ---------------------------------------------------------------- common */

/* An id that may be "#creationId" of this request (RFC 8620 §5.3); NULL when unknown. */
const char *
jmap_resolve_id(struct jmap_call *call, const char *id)
{
	if (id == NULL || id[0] != '#')
		return id;
	return json_string_value(json_object_get(call->created_ids, id + 1));
}

/* create/update/destroy are each null or of the right type; at most maxObjectsInSet in all. */
bool
jmap_set_args(struct jmap_call *call, json_t **create, json_t **update, json_t **destroy)
{
	size_t n = 0;

	*create = json_object_get(call->args, "create");
	*update = json_object_get(call->args, "update");
	*destroy = json_object_get(call->args, "destroy");
	if ((*create != NULL && !json_is_null(*create) && !json_is_object(*create)) ||
	    (*update != NULL && !json_is_null(*update) && !json_is_object(*update)) ||
	    (*destroy != NULL && !json_is_null(*destroy) && !json_is_array(*destroy))) {
		jmap_set_error(call, "invalidArguments", "create, update, destroy");
		return false;
	}
	n += json_is_object(*create) ? json_object_size(*create) : 0;
	n += json_is_object(*update) ? json_object_size(*update) : 0;
	n += json_is_array(*destroy) ? json_array_size(*destroy) : 0;
	if (n > JMAP_MAX_OBJECTS_IN_SET) {
		jmap_set_error(call, "requestTooLarge", "more than maxObjectsInSet");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- instances */

/* One message file of an Email: the folder (index in folders) and its UID. */
struct inst {
	uint64_t eid;
	size_t fi;
	uint32_t uid;
};

struct insts {
	struct inst *v;
	size_t n, cap;
};

static int
inst_cmp(const void *a, const void *b)
{
	const struct inst *x = a, *y = b;

	if (x->eid != y->eid)
		return x->eid < y->eid ? -1 : 1;
	if (x->fi != y->fi)
		return x->fi < y->fi ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The messages of the Emails update and destroy name (after the creations: they may
 * name those), sorted by id: found in each folder through the store's EMAILID table. */
static int
insts_load(struct jmap_call *call, struct folders *f, json_t *update, json_t *destroy,
    struct insts *in)
{
	struct mstore *store = mail_user_store(call->mu);
	uint64_t *eids;
	size_t neids = 0, i;
	const char *k;
	json_t *v;

	free(in->v);
	memset(in, 0, sizeof(*in));
	eids = xcalloc(json_object_size(update) + json_array_size(destroy) + 1,
	    sizeof(*eids));
	json_object_foreach(update, k, v)
		if ((eids[neids] = jmap_email_id_parse(jmap_resolve_id(call, k), 'M')) != 0)
			neids++;
	json_array_foreach(destroy, i, v)
		if ((eids[neids] = jmap_email_id_parse(jmap_resolve_id(call,
		    json_string_value(v)), 'M')) != 0)
			neids++;
	for (size_t fi = 0; fi < f->n && neids > 0; fi++) {
		struct mailbox *box;

		if (mailbox_open(store, f->v[fi].name, &box) != STORE_OK) {
			free(eids);
			return -1;
		}
		for (size_t j = 0; j < neids; j++) {
			size_t n = mailbox_emailid_uids(box, eids[j], NULL, 0);

			if (n == 0)
				continue;
			if (n > in->cap - in->n) {
				in->cap = MAX(in->cap * 2, in->n + n);
				in->v = xreallocarray(in->v, in->cap, sizeof(*in->v));
			}
			{
				uint32_t *uids = xcalloc(n, sizeof(*uids));

				(void)mailbox_emailid_uids(box, eids[j], uids, n);
				for (size_t u = 0; u < n; u++)
					in->v[in->n++] = (struct inst){ eids[j], fi, uids[u] };
				free(uids);
			}
		}
		mailbox_unref(&box);
	}
	free(eids);
	if (in->n > 0)
		qsort(in->v, in->n, sizeof(*in->v), inst_cmp);
	/* an id named twice (in update and destroy) was found twice: keep one */
	{
		size_t w = 0;

		for (size_t r = 0; r < in->n; r++)
			if (w == 0 || inst_cmp(&in->v[w - 1], &in->v[r]) != 0)
				in->v[w++] = in->v[r];
		in->n = w;
	}
	return 0;
}

/* The instances of eid: *first and the count. */
static size_t
insts_of(const struct insts *in, uint64_t eid, const struct inst **first)
{
	size_t lo = 0, hi = in->n, n = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (in->v[mid].eid < eid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = &in->v[lo];
	while (lo + n < in->n && in->v[lo + n].eid == eid)
		n++;
	return n;
}

/* ---------------------------------------------------------------- keywords */

/* RFC 8621 §4.1.1: 1-255 octets of %x21-7e but ( ) { ] % * " \ ; the store keeps IMAP
 * atoms of at most STORE_KEYWORD_LEN_MAX. */
bool
jmap_keyword_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > STORE_KEYWORD_LEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)k[i];

		if (ch < 0x21 || ch > 0x7e || strchr("(){]%*\"\\", ch) != NULL)
			return false;
	}
	return true;
}

/* The system flag of a JMAP keyword, or 0 (a Maildir keyword). */
uint8_t
jmap_keyword_flag(const char *k)
{
	if (strcasecmp(k, "$seen") == 0)
		return MAILBOX_FLAG_SEEN;
	if (strcasecmp(k, "$flagged") == 0)
		return MAILBOX_FLAG_FLAGGED;
	if (strcasecmp(k, "$answered") == 0)
		return MAILBOX_FLAG_ANSWERED;
	if (strcasecmp(k, "$draft") == 0)
		return MAILBOX_FLAG_DRAFT;
	return 0;
}

#define JMAP_FLAGS_KEYWORDS	(MAILBOX_FLAG_SEEN | MAILBOX_FLAG_FLAGGED | \
				 MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_DRAFT)

/* A keywords value: an object of valid keywords to true. */
bool
jmap_keywords_valid(json_t *kw)
{
	const char *k;
	json_t *v;

	if (!json_is_object(kw) || json_object_size(kw) > 64)
		return false;
	json_object_foreach(kw, k, v)
		if (!json_is_true(v) || !jmap_keyword_valid(k))
			return false;
	return true;
}

/*
 * Apply keywords to the flags and keyword bits of a message of box: whole (an object,
 * replaces) or set/clear of one keyword (patch). STORE_* from mailbox_keyword_add.
 */
static enum store_status
keywords_apply(struct mailbox *box, json_t *whole, json_t *patch, uint8_t *flags,
    uint32_t *kwbits)
{
	const char *k;
	json_t *v;

	if (whole != NULL) {
		*flags &= (uint8_t)~JMAP_FLAGS_KEYWORDS;
		*kwbits = 0;
		json_object_foreach(whole, k, v) {
			uint8_t fl = jmap_keyword_flag(k);
			unsigned idx;
			enum store_status st;

			if (fl != 0) {
				*flags |= fl;
				continue;
			}
			if ((st = mailbox_keyword_add(box, k, &idx)) != STORE_OK)
				return st;
			*kwbits |= 1u << idx;
		}
	}
	json_object_foreach(patch, k, v) {
		uint8_t fl = jmap_keyword_flag(k);

		if (fl != 0) {
			if (json_is_true(v))
				*flags |= fl;
			else
				*flags &= (uint8_t)~fl;
		} else if (json_is_true(v)) {
			unsigned idx;
			enum store_status st;

			if ((st = mailbox_keyword_add(box, k, &idx)) != STORE_OK)
				return st;
			*kwbits |= 1u << idx;
		} else {
			int idx = mailbox_keyword_lookup(box, k);

			if (idx >= 0)
				*kwbits &= ~(1u << idx);
		}
	}
	return STORE_OK;
}

/* ---------------------------------------------------------------- Email/set update */

/* A JSON pointer token (RFC 6901: ~1 is '/', ~0 is '~') into a new string, or NULL. */
static char *
pointer_token(const char *s)
{
	struct buf b;

	buf_init(&b, 1024);
	for (; *s != '\0'; s++) {
		if (*s == '~') {
			if (s[1] != '0' && s[1] != '1') {
				buf_deinit(&b);
				return NULL;
			}
			(void)buf_append_c(&b, s[1] == '0' ? '~' : '/');
			s++;
		} else if (*s == '/' || buf_append_c(&b, *s) < 0) {
			buf_deinit(&b);
			return NULL;
		}
	}
	(void)buf_append_c(&b, '\0');
	return buf_steal(&b);
}

/* What an Email update asks, checked before anything is changed. */
struct eupdate {
	json_t *kw_whole;	/* keywords: replaced (NULL: not) */
	json_t *kw_patch;	/* keyword -> true/null */
	json_t *mb_whole;	/* mailboxIds: resolved guid -> true */
	json_t *mb_patch;	/* resolved guid -> true/null */
};

static void
eupdate_free(struct eupdate *u)
{
	json_decref(u->kw_whole);
	json_decref(u->kw_patch);
	json_decref(u->mb_whole);
	json_decref(u->mb_patch);
}

/* A mailbox id of a patch or mailboxIds: a folder of f (a "#creationId" resolved). */
static const char *
mailbox_id_ref(struct jmap_call *call, struct folders *f, const char *id)
{
	id = jmap_resolve_id(call, id);
	if (id == NULL || jmap_folder_by_guid(f, id) == NULL)
		return NULL;
	return id;
}

/* Decode patch into u; NULL, or the SetError. */
static json_t *
eupdate_parse(struct jmap_call *call, struct folders *f, json_t *patch, struct eupdate *u)
{
	const char *k;
	json_t *v;

	memset(u, 0, sizeof(*u));
	u->kw_patch = json_object();
	u->mb_patch = json_object();
	if (!json_is_object(patch))
		return jmap_set_err("invalidPatch", NULL, "a PatchObject is an object");
	json_object_foreach(patch, k, v) {
		if (strcmp(k, "keywords") == 0) {
			if (!jmap_keywords_valid(v))
				return jmap_set_err("invalidProperties", "keywords", NULL);
			u->kw_whole = json_incref(v);
		} else if (strncmp(k, "keywords/", 9) == 0) {
			char *kw = pointer_token(k + 9);

			if (kw == NULL || !jmap_keyword_valid(kw) ||
			    !(json_is_true(v) || json_is_null(v))) {
				free(kw);
				return jmap_set_err("invalidPatch", k, NULL);
			}
			(void)json_object_set(u->kw_patch, kw, v);
			free(kw);
		} else if (strcmp(k, "mailboxIds") == 0) {
			const char *mk;
			json_t *mv;

			if (!json_is_object(v) || json_object_size(v) == 0)
				return jmap_set_err("invalidProperties", "mailboxIds",
				    "at least one Mailbox");
			u->mb_whole = json_object();
			json_object_foreach(v, mk, mv) {
				const char *g = mailbox_id_ref(call, f, mk);

				if (g == NULL || !json_is_true(mv))
					return jmap_set_err("invalidProperties", "mailboxIds",
					    "no such Mailbox");
				(void)json_object_set_new(u->mb_whole, g, json_true());
			}
		} else if (strncmp(k, "mailboxIds/", 11) == 0) {
			char *id = pointer_token(k + 11);
			const char *g = id != NULL ? mailbox_id_ref(call, f, id) : NULL;

			if (g == NULL || !(json_is_true(v) || json_is_null(v))) {
				free(id);
				return jmap_set_err("invalidProperties", "mailboxIds",
				    "no such Mailbox");
			}
			(void)json_object_set(u->mb_patch, g, v);
			free(id);
		} else {
			/* every other property is immutable (§4.6) */
			return jmap_set_err("invalidProperties", k, "cannot be changed");
		}
	}
	/* a patch may not name a path and its parent (RFC 8620 §5.3) */
	if ((u->kw_whole != NULL && json_object_size(u->kw_patch) > 0) ||
	    (u->mb_whole != NULL && json_object_size(u->mb_patch) > 0))
		return jmap_set_err("invalidPatch", NULL, "a property and a path within it");
	return NULL;
}

static enum store_status
set_flags(struct mail_user *mu, struct folders *f, const struct inst *x, struct eupdate *u)
{
	struct mailbox *box;
	const struct mailbox_msg *m;
	enum store_status st;
	uint8_t flags;
	uint32_t kw;

	if ((st = mailbox_open(mail_user_store(mu), f->v[x->fi].name, &box)) != STORE_OK)
		return st;
	if ((m = mailbox_lookup(box, x->uid, NULL)) == NULL) {
		mailbox_unref(&box);
		return STORE_EXPUNGED;
	}
	flags = m->flags & (uint8_t)~MAILBOX_FLAG_RECENT;
	kw = m->keywords;
	st = keywords_apply(box, u->kw_whole, u->kw_patch, &flags, &kw);
	if (st == STORE_OK && (m = mailbox_lookup(box, x->uid, NULL)) == NULL)
		st = STORE_EXPUNGED;
	if (st == STORE_OK && (flags != (m->flags & (uint8_t)~MAILBOX_FLAG_RECENT) ||
	    kw != m->keywords))
		st = mailbox_store_flags(box, x->uid, flags, kw);
	mailbox_unref(&box);
	return st;
}

/* Copy instance x into folder fi. */
static enum store_status
copy_into(struct mail_user *mu, struct folders *f, const struct inst *x, size_t fi, bool move)
{
	struct mstore *store = mail_user_store(mu);
	struct mailbox *src, *dst;
	enum store_status st;
	uint32_t uid;

	if ((st = mailbox_open(store, f->v[x->fi].name, &src)) != STORE_OK)
		return st;
	if ((st = mailbox_open(store, f->v[fi].name, &dst)) != STORE_OK) {
		mailbox_unref(&src);
		return st;
	}
	if (move)
		mstore_quota_next_copy_is_move(store);
	st = mailbox_copy(src, &x->uid, 1, dst, &uid);
	mailbox_unref(&dst);
	mailbox_unref(&src);
	return st;
}

static enum store_status
expunge_one(struct mail_user *mu, struct folders *f, const struct inst *x)
{
	struct mailbox *box;
	enum store_status st;

	if ((st = mailbox_open(mail_user_store(mu), f->v[x->fi].name, &box)) != STORE_OK)
		return st;
	st = mailbox_expunge(box, &x->uid, 1);
	mailbox_unref(&box);
	return st;
}

static json_t *
store_set_error(enum store_status st)
{
	switch (st) {
	case STORE_OVERQUOTA:
		return jmap_set_err("overQuota", NULL, NULL);
	case STORE_LIMIT:
	case STORE_BADNAME:
		return jmap_set_err("invalidProperties", "keywords", store_status_str(st));
	case STORE_EXPUNGED:
		return jmap_set_err("notFound", NULL, NULL);
	default:
		return jmap_set_err("serverFail", NULL, store_status_str(st));
	}
}

/* One Email update: NULL when done, else the SetError. */
static json_t *
email_update(struct jmap_call *call, struct folders *f, const struct insts *in, uint64_t eid,
    json_t *patch)
{
	struct eupdate u;
	const struct inst *x;
	size_t n = insts_of(in, eid, &x);
	bool *want;
	json_t *err;
	enum store_status st = STORE_OK;
	bool removes = false;

	if (n == 0)
		return jmap_set_err("notFound", NULL, NULL);
	if ((err = eupdate_parse(call, f, patch, &u)) != NULL) {
		eupdate_free(&u);
		return err;
	}
	/* the folders it is to be in */
	want = xcalloc(f->n + 1, sizeof(*want));
	for (size_t i = 0; i < n; i++)
		want[x[i].fi] = true;
	if (u.mb_whole != NULL || json_object_size(u.mb_patch) > 0) {
		const char *g;
		json_t *v;
		size_t cnt = 0;

		if (u.mb_whole != NULL)
			memset(want, 0, (f->n + 1) * sizeof(*want));
		json_object_foreach(u.mb_whole, g, v)
			want[jmap_folder_by_guid(f, g) - f->v] = true;
		json_object_foreach(u.mb_patch, g, v)
			want[jmap_folder_by_guid(f, g) - f->v] = json_is_true(v);
		for (size_t fi = 0; fi < f->n; fi++)
			cnt += want[fi];
		if (cnt == 0) {
			free(want);
			eupdate_free(&u);
			return jmap_set_err("invalidProperties", "mailboxIds",
			    "an Email is in at least one Mailbox");
		}
	}
	/* keywords on every instance, so copies carry them */
	if (u.kw_whole != NULL || json_object_size(u.kw_patch) > 0)
		for (size_t i = 0; i < n && st == STORE_OK; i++)
			st = set_flags(call->mu, f, &x[i], &u);
	for (size_t i = 0; i < n; i++)
		removes |= !want[x[i].fi];
	for (size_t fi = 0; fi < f->n && st == STORE_OK; fi++) {
		bool have = false;

		for (size_t i = 0; i < n; i++)
			have |= x[i].fi == fi;
		if (want[fi] && !have)
			st = copy_into(call->mu, f, &x[0], fi, removes);
	}
	for (size_t i = 0; i < n && st == STORE_OK; i++)
		if (!want[x[i].fi])
			st = expunge_one(call->mu, f, &x[i]);
	free(want);
	eupdate_free(&u);
	if (st != STORE_OK)
		return store_set_error(st);
	return NULL;
}

/* ---------------------------------------------------------------- Email/set */

void
jmap_email_set(struct jmap_call *call)
{
	json_t *create, *update, *destroy;
	struct folders f;
	struct insts in = { 0 };
	char *old_state, *new_state;
	const char *k;
	json_t *v;
	size_t i;

	if (!jmap_check_account(call) || !jmap_set_args(call, &create, &update, &destroy))
		return;
	if (jmap_folders_load(call->mu, &f) < 0) {
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	old_state = jmap_email_state(&f);
	if (!jmap_if_in_state(call, old_state)) {
		free(old_state);
		jmap_folders_free(&f);
		return;
	}
	jmap_set_result_init(call, old_state);
	/* creations first: updates and destroys may name them (RFC 8620 §5.3) */
	json_object_foreach(create, k, v)
		jmap_email_create(call, &f, k, v);
	if (json_object_size(update) > 0 || json_array_size(destroy) > 0) {
		jmap_folders_free(&f);
		if (jmap_folders_load(call->mu, &f) < 0 ||
		    insts_load(call, &f, update, destroy, &in) < 0)
			goto fail;
	}
	json_object_foreach(update, k, v) {
		const char *id = jmap_resolve_id(call, k);
		uint64_t eid = jmap_email_id_parse(id, 'M');
		json_t *err = eid == 0 ? jmap_set_err("notFound", NULL, NULL) :
		    email_update(call, &f, &in, eid, v);

		if (err != NULL)
			jmap_set_add(call->result, "notUpdated", k, err);
		else
			jmap_set_add(call->result, "updated", id, json_null());
		if (eid != 0)
			log_info("jmap email update user=%s id=%s ok=%d",
			    call->account_id, id, err == NULL);
	}
	if (json_object_size(update) > 0 && json_array_size(destroy) > 0 &&
	    insts_load(call, &f, update, destroy, &in) < 0)
		goto fail;
	json_array_foreach(destroy, i, v) {
		const char *id = jmap_resolve_id(call, json_string_value(v));
		uint64_t eid = jmap_email_id_parse(id, 'M');
		const struct inst *x;
		size_t n = eid != 0 ? insts_of(&in, eid, &x) : 0;
		enum store_status st = STORE_OK;
		json_t *d;

		if (json_string_value(v) == NULL)
			continue;
		if (n == 0) {
			jmap_set_add(call->result, "notDestroyed", json_string_value(v),
			    jmap_set_err("notFound", NULL, NULL));
			continue;
		}
		for (size_t j = 0; j < n && st == STORE_OK; j++)
			st = expunge_one(call->mu, &f, &x[j]);
		if (st != STORE_OK && st != STORE_EXPUNGED) {
			jmap_set_add(call->result, "notDestroyed", json_string_value(v),
			    store_set_error(st));
			continue;
		}
		/* forget them: the same id twice is notFound the second time */
		for (size_t j = 0; j < n; j++)
			((struct inst *)x)[j].eid = 0;
		qsort(in.v, in.n, sizeof(*in.v), inst_cmp);
		d = json_object_get(call->result, "destroyed");
		if (!json_is_array(d)) {
			d = json_array();
			(void)json_object_set_new(call->result, "destroyed", d);
		}
		(void)json_array_append_new(d, json_string(id));
		log_info("jmap email destroy user=%s id=%s", call->account_id, id);
	}
	free(in.v);
	jmap_folders_free(&f);
	if (jmap_folders_load(call->mu, &f) < 0)
		goto fail;
	new_state = jmap_email_state(&f);
	(void)json_object_set_new(call->result, "newState", json_string(new_state));
	free(new_state);
	free(old_state);
	jmap_folders_free(&f);
	return;
fail:
	free(in.v);
	free(old_state);
	jmap_folders_free(&f);
	json_decref(call->result);
	call->result = NULL;
	jmap_set_error(call, "serverFail", NULL);
}

/* ---------------------------------------------------------------- Mailbox/set */

/*
 * The store name of a Mailbox called name (UTF-8) under parent (NULL: top level): the
 * name in modified UTF-7 below the parent's, '.' being the separator, so a name may not
 * hold one (nor control characters). NULL when it cannot be such a name.
 */
static char *
store_name(const struct folder *parent, const char *name)
{
	struct buf b;
	size_t n = strlen(name);

	if (n == 0 || n > STORE_COMPONENT_MAX || !mutf7_utf8_is_valid(name, n))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == STORE_SEP ||
		    name[i] == '/')
			return NULL;
	buf_init(&b, STORE_NAME_MAX + 1);
	if (parent != NULL && (buf_append_str(&b, parent->name) < 0 ||
	    buf_append_c(&b, STORE_SEP) < 0))
		goto bad;
	if (parent == NULL && strcasecmp(name, "INBOX") == 0) {
		if (buf_append_str(&b, "INBOX") < 0)
			goto bad;
	} else if (mutf7_from_utf8(name, n, &b) < 0)
		goto bad;
	if (buf_append_c(&b, '\0') < 0 || mstore_name_check(buf_cstr(&b)) != STORE_OK)
		goto bad;
	return buf_steal(&b);
bad:
	buf_deinit(&b);
	return NULL;
}

static bool
has_children(const struct folders *f, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < f->n; i++)
		if (strncmp(f->v[i].name, name, n) == 0 && f->v[i].name[n] == STORE_SEP)
			return true;
	return false;
}

/* The parentId of a create or update: *parent_r NULL for the top level; false: bad. */
static bool
parent_arg(struct jmap_call *call, struct folders *f, json_t *v, struct folder **parent_r)
{
	const char *id;

	*parent_r = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	id = jmap_resolve_id(call, json_string_value(v));
	if (id == NULL || (*parent_r = jmap_folder_by_guid(f, id)) == NULL)
		return false;
	return true;
}

/* The properties a Mailbox create or update may give; the server-set ones only as they are. */
static json_t *
mailbox_props_check(json_t *obj, const struct folder *fo)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		if (strcmp(k, "name") == 0) {
			if (!json_is_string(v))
				return jmap_set_err("invalidProperties", k, NULL);
		} else if (strcmp(k, "parentId") == 0) {
			if (!json_is_string(v) && !json_is_null(v))
				return jmap_set_err("invalidProperties", k, NULL);
		} else if (strcmp(k, "isSubscribed") == 0) {
			if (!json_is_boolean(v))
				return jmap_set_err("invalidProperties", k, NULL);
		} else if (strcmp(k, "sortOrder") == 0) {
			/* not kept: 0 only */
			if (!json_is_integer(v) || json_integer_value(v) != 0)
				return jmap_set_err("invalidProperties", k, "sortOrder is 0");
		} else if (strcmp(k, "role") == 0) {
			/* roles come from the folder's name or special-use (docs/jmap.md) */
			const char *have = fo != NULL ? jmap_mailbox_role(fo) : NULL;

			if (!(json_is_null(v) && have == NULL) &&
			    !(json_is_string(v) && have != NULL &&
			    strcmp(json_string_value(v), have) == 0))
				return jmap_set_err("invalidProperties", k,
				    "the role cannot be changed");
		} else {
			return jmap_set_err("invalidProperties", k, "server-set or unknown");
		}
	}
	return NULL;
}

/* The folder's METADATA entries follow a create (dropped), rename or delete (RFC 5464). */
static void
folder_metadata(struct jmap_call *call, const char *name, const char *newname)
{
	if (metadata_mailbox_follow(mail_user_store(call->mu), name, newname) < 0)
		log_error("jmap mailbox metadata failed account=%s", call->account_id);
}

static json_t *
mailbox_create(struct jmap_call *call, struct folders *f, const char *cid, json_t *obj,
    char **guid_r)
{
	struct mstore *store = mail_user_store(call->mu);
	struct folder *parent;
	struct mailbox_status ms;
	enum store_status st;
	const char *name;
	char *sname;
	json_t *err;

	*guid_r = NULL;
	if (!json_is_object(obj))
		return jmap_set_err("invalidProperties", NULL, "not an object");
	if ((err = mailbox_props_check(obj, NULL)) != NULL)
		return err;
	name = json_string_value(json_object_get(obj, "name"));
	if (name == NULL)
		return jmap_set_err("invalidProperties", "name", "name is required");
	if (!parent_arg(call, f, json_object_get(obj, "parentId"), &parent))
		return jmap_set_err("invalidProperties", "parentId", "no such Mailbox");
	if ((sname = store_name(parent, name)) == NULL)
		return jmap_set_err("invalidProperties", "name", "not a valid Mailbox name");
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, sname) == 0 || (strcmp(sname, "INBOX") == 0)) {
			free(sname);
			/* RFC 8621 §2.5: siblings have distinct names */
			return jmap_set_err("invalidProperties", "name", "a sibling has that name");
		}
	st = mstore_create(store, sname);
	if (st == STORE_OK) {
		/* entries an old folder of the name left must not come back (RFC 5464) */
		folder_metadata(call, sname, NULL);
		mail_user_folder_event(call->mu, MAIL_PROTO_JMAP, MAIL_FOLDER_CREATE, sname,
		    NULL);
	}
	if (st == STORE_OK && json_is_true(json_object_get(obj, "isSubscribed"))) {
		st = mstore_subscribe(store, sname, true);
		if (st == STORE_OK)
			mail_user_folder_event(call->mu, MAIL_PROTO_JMAP, MAIL_FOLDER_SUBSCRIBE,
			    sname, NULL);
	}
	if (st == STORE_OK)
		st = mstore_status(store, sname, &ms);
	log_info("jmap mailbox create account=%s creation=%s status=%s", call->account_id,
	    cid, store_status_str(st));
	free(sname);
	if (st == STORE_EXISTS)
		return jmap_set_err("invalidProperties", "name", "a sibling has that name");
	if (st == STORE_LIMIT || st == STORE_BADNAME)
		return jmap_set_err("invalidProperties", "name", store_status_str(st));
	if (st != STORE_OK)
		return jmap_set_err("serverFail", NULL, store_status_str(st));
	*guid_r = xstrdup(ms.guid);
	return NULL;
}

static json_t *
mailbox_update(struct jmap_call *call, struct folders *f, struct folder *fo, json_t *patch)
{
	struct mstore *store = mail_user_store(call->mu);
	json_t *nv = json_object_get(patch, "name"), *pv = json_object_get(patch, "parentId");
	json_t *sv = json_object_get(patch, "isSubscribed");
	enum store_status st = STORE_OK;
	json_t *err;

	if (!json_is_object(patch))
		return jmap_set_err("invalidPatch", NULL, NULL);
	if ((err = mailbox_props_check(patch, fo)) != NULL)
		return err;
	if (nv != NULL || pv != NULL) {
		const char *leaf = strrchr(fo->name, STORE_SEP);
		struct folder *parent = NULL;
		char *sname, *old_leaf = NULL;
		struct buf lb;

		/* the present name and parent where the patch does not change them */
		leaf = leaf != NULL ? leaf + 1 : fo->name;
		buf_init(&lb, STORE_NAME_MAX + 1);
		if (nv == NULL && (strcmp(fo->name, "INBOX") == 0 ||
		    mutf7_to_utf8(leaf, strlen(leaf), &lb) < 0 || buf_append_c(&lb, '\0') < 0)) {
			buf_deinit(&lb);
			return jmap_set_err("forbidden", NULL, NULL);
		}
		if (nv == NULL)
			old_leaf = buf_steal(&lb);
		buf_deinit(&lb);
		if (pv != NULL) {
			if (!parent_arg(call, f, pv, &parent)) {
				free(old_leaf);
				return jmap_set_err("invalidProperties", "parentId",
				    "no such Mailbox");
			}
		} else {
			/* the folder's present parent level */
			char *p = xstrdup(fo->name), *dot = strrchr(p, STORE_SEP);

			if (dot != NULL) {
				*dot = '\0';
				for (size_t i = 0; i < f->n; i++)
					if (strcmp(f->v[i].name, p) == 0)
						parent = &f->v[i];
			}
			free(p);
		}
		sname = store_name(parent, nv != NULL ? json_string_value(nv) : old_leaf);
		free(old_leaf);
		if (sname == NULL)
			return jmap_set_err("invalidProperties", nv != NULL ? "name" : "parentId",
			    "not a valid Mailbox name");
		/* a Mailbox cannot go below itself (§2.5) */
		if (parent != NULL && (parent == fo ||
		    (strncmp(parent->name, fo->name, strlen(fo->name)) == 0 &&
		    parent->name[strlen(fo->name)] == STORE_SEP))) {
			free(sname);
			return jmap_set_err("invalidProperties", "parentId", "a loop");
		}
		if (strcmp(sname, fo->name) != 0) {
			if (strcmp(fo->name, "INBOX") == 0) {
				st = STORE_CANNOT;
			} else {
				/* IMAP NOTIFY sessions let go of what they watch there */
				mail_user_folder_event(call->mu, MAIL_PROTO_JMAP,
				    MAIL_FOLDER_RELEASE, fo->name, NULL);
				st = mstore_rename(store, fo->name, sname);
			}
			if (st == STORE_OK) {
				folder_metadata(call, fo->name, sname);
				mail_user_folder_event(call->mu, MAIL_PROTO_JMAP,
				    MAIL_FOLDER_RENAME, sname, fo->name);
			}
			if (st == STORE_OK && (fo->attrs & MSTORE_ATTR_SUBSCRIBED) != 0) {
				(void)mstore_subscribe(store, fo->name, false);
				(void)mstore_subscribe(store, sname, true);
			}
			log_info("jmap mailbox rename account=%s id=%s status=%s",
			    call->account_id, fo->guid, store_status_str(st));
			if (st == STORE_OK) {
				free(fo->name);
				fo->name = sname;
				sname = NULL;
			}
		}
		free(sname);
	}
	if (st == STORE_OK && sv != NULL) {
		st = mstore_subscribe(store, fo->name, json_is_true(sv));
		if (st == STORE_OK && json_is_true(sv) !=
		    ((fo->attrs & MSTORE_ATTR_SUBSCRIBED) != 0))
			mail_user_folder_event(call->mu, MAIL_PROTO_JMAP, json_is_true(sv) ?
			    MAIL_FOLDER_SUBSCRIBE : MAIL_FOLDER_UNSUBSCRIBE, fo->name, NULL);
	}
	if (st == STORE_EXISTS)
		return jmap_set_err("invalidProperties", "name", "a sibling has that name");
	if (st == STORE_CANNOT)
		return jmap_set_err("forbidden", NULL, "the Mailbox is in use or is the inbox");
	if (st == STORE_LIMIT || st == STORE_BADNAME)
		return jmap_set_err("invalidProperties", "name", store_status_str(st));
	if (st != STORE_OK)
		return jmap_set_err("serverFail", NULL, store_status_str(st));
	return NULL;
}

static json_t *
mailbox_destroy(struct jmap_call *call, struct folders *f, struct folder *fo)
{
	struct mstore *store = mail_user_store(call->mu);
	enum store_status st;

	if (strcmp(fo->name, "INBOX") == 0)
		return jmap_set_err("forbidden", NULL, "the inbox cannot be destroyed");
	if (has_children(f, fo->name))
		return jmap_set_err("mailboxHasChild", NULL, NULL);
	if (fo->st.messages > 0 &&
	    !json_is_true(json_object_get(call->args, "onDestroyRemoveEmails")))
		return jmap_set_err("mailboxHasEmail", NULL, NULL);
	st = mstore_delete(store, fo->name);
	if (st == STORE_OK) {
		(void)mstore_subscribe(store, fo->name, false);
		folder_metadata(call, fo->name, NULL);
		mail_user_folder_event(call->mu, MAIL_PROTO_JMAP, MAIL_FOLDER_DELETE, fo->name,
		    NULL);
	}
	log_info("jmap mailbox destroy account=%s id=%s status=%s", call->account_id, fo->guid,
	    store_status_str(st));
	if (st == STORE_CANNOT)
		return jmap_set_err("forbidden", NULL, NULL);
	if (st != STORE_OK)
		return jmap_set_err("serverFail", NULL, store_status_str(st));
	return NULL;
}

void
jmap_mailbox_set(struct jmap_call *call)
{
	json_t *create, *update, *destroy;
	struct folders f;
	char *old_state, *new_state;
	const char *k;
	json_t *v;
	size_t i;

	if (!jmap_check_account(call) || !jmap_set_args(call, &create, &update, &destroy))
		return;
	if (jmap_folders_load(call->mu, &f) < 0) {
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	old_state = jmap_mailbox_state(call->mu, &f);
	if (!jmap_if_in_state(call, old_state)) {
		free(old_state);
		jmap_folders_free(&f);
		return;
	}
	jmap_set_result_init(call, old_state);
	free(old_state);
	json_object_foreach(create, k, v) {
		char *guid;
		json_t *err = mailbox_create(call, &f, k, v, &guid);

		if (err != NULL) {
			jmap_set_add(call->result, "notCreated", k, err);
			continue;
		}
		jmap_set_add(call->result, "created", k, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i,"
		    " s:{s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b}}", "id", guid,
		    "sortOrder", 0, "totalEmails", 0, "unreadEmails", 0, "totalThreads", 0,
		    "unreadThreads", 0, "myRights", "mayReadItems", 1, "mayAddItems", 1,
		    "mayRemoveItems", 1, "maySetSeen", 1, "maySetKeywords", 1,
		    "mayCreateChild", 1, "mayRename", 1, "mayDelete", 1, "maySubmit", 0));
		(void)json_object_set_new(call->created_ids, k, json_string(guid));
		free(guid);
		/* a later create may name it as its parent */
		jmap_folders_free(&f);
		if (jmap_folders_load(call->mu, &f) < 0)
			goto fail;
	}
	json_object_foreach(update, k, v) {
		const char *id = jmap_resolve_id(call, k);
		struct folder *fo = id != NULL ? jmap_folder_by_guid(&f, id) : NULL;
		json_t *err = fo == NULL ? jmap_set_err("notFound", NULL, NULL) :
		    mailbox_update(call, &f, fo, v);

		if (err != NULL)
			jmap_set_add(call->result, "notUpdated", k, err);
		else
			jmap_set_add(call->result, "updated", id, json_null());
		jmap_folders_free(&f);
		if (jmap_folders_load(call->mu, &f) < 0)
			goto fail;
	}
	json_array_foreach(destroy, i, v) {
		const char *id = jmap_resolve_id(call, json_string_value(v));
		struct folder *fo = id != NULL ? jmap_folder_by_guid(&f, id) : NULL;
		json_t *err, *d;

		if (json_string_value(v) == NULL)
			continue;
		err = fo == NULL ? jmap_set_err("notFound", NULL, NULL) :
		    mailbox_destroy(call, &f, fo);
		if (err != NULL) {
			jmap_set_add(call->result, "notDestroyed", json_string_value(v), err);
			continue;
		}
		d = json_object_get(call->result, "destroyed");
		if (!json_is_array(d)) {
			d = json_array();
			(void)json_object_set_new(call->result, "destroyed", d);
		}
		(void)json_array_append_new(d, json_string(id));
		jmap_folders_free(&f);
		if (jmap_folders_load(call->mu, &f) < 0)
			goto fail;
	}
	new_state = jmap_mailbox_state(call->mu, &f);
	(void)json_object_set_new(call->result, "newState", json_string(new_state));
	free(new_state);
	jmap_folders_free(&f);
	return;
fail:
	json_decref(call->result);
	call->result = NULL;
	jmap_set_error(call, "serverFail", NULL);
}

/*
 * Email/copy (RFC 8621 §4.7, RFC 8620 §5.4) copies between two accounts; accountId must
 * differ from fromAccountId. A user sees one account here (docs/jmap.md, "The API"), so
 * the source is never found; a copy within the account is Email/set's mailboxIds.
 */
void
jmap_email_copy(struct jmap_call *call)
{
	json_t *from = json_object_get(call->args, "fromAccountId");

	if (!jmap_check_account(call))
		return;
	if (!json_is_string(from)) {
		jmap_set_error(call, "invalidArguments", "fromAccountId is required");
		return;
	}
	if (strcmp(json_string_value(from), call->account_id) == 0) {
		jmap_set_error(call, "invalidArguments", "fromAccountId must differ from "
		    "accountId; within an account, set mailboxIds with Email/set");
		return;
	}
	jmap_set_error(call, "fromAccountNotFound", NULL);
}
