/*
 * jmap_mail.c — what the JMAP Mail methods (RFC 8621) share, and the table that runs
 * them: argument checks, the user's folders, Email ids. Runs in the mail process as
 * the mailbox owner. Ids are the store's, so IMAP and JMAP agree (docs/jmap.md, "Ids"):
 * a Mailbox id is the folder's MAILBOXID (its GUID), an Email id is its EMAILID ("M"
 * and 16 hex digits, as FETCH EMAILID sends it), a blobId is "B" and the same digits.
 * The methods live in jmap_mailbox.c and jmap_email.c.
 */
#include "jmap/jmap_local.h"

#include <string.h>

#include "jmap/jmap_request.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_user.h"
#include "store/store.h"
/* ---------------------------------------------------------------- helpers */

void
jmap_set_error(struct jmap_call *call, const char *type, const char *desc)
{
	call->error = type;
	call->error_desc = desc;
}

/* accountId must be ours (RFC 8620 §3.6.2 accountNotFound). */
bool
jmap_check_account(struct jmap_call *call)
{
	const char *a = json_string_value(json_object_get(call->args, "accountId"));

	if (a == NULL) {
		jmap_set_error(call, "invalidArguments", "accountId is required");
		return false;
	}
	if (strcmp(a, call->account_id) != 0) {
		jmap_set_error(call, "accountNotFound", NULL);
		return false;
	}
	return true;
}

/* FNV-1a over the state's ingredients: a short opaque string. */
void
jmap_state_add(uint64_t *h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		*h ^= b[i];
		*h *= 1099511628211ull;
	}
}


void
jmap_folders_free(struct folders *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		if (f->v[i].box != NULL)
			mailbox_unref(&f->v[i].box);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/* One selectable folder's status: counted (mstore_status), or from the folder opened
 * and held in fo->box (no message counts). */
static enum store_status
folder_status(struct mstore *store, const char *name, struct folder *fo, bool hold)
{
	enum store_status st;

	if (!hold)
		return mstore_status(store, name, &fo->st);
	if ((st = mailbox_open(store, name, &fo->box)) != STORE_OK)
		return st;
	fo->st.uidnext = mailbox_uidnext(fo->box);
	fo->st.uidvalidity = mailbox_uidvalidity(fo->box);
	fo->st.highestmodseq = mailbox_highestmodseq(fo->box);
	memcpy(fo->st.guid, mailbox_guid(fo->box), sizeof(fo->st.guid));
	return STORE_OK;
}

static int
folders_fill(struct mail_user *mu, struct folders *f, bool hold)
{
	struct mstore *store = mail_user_store(mu);
	struct mstore_folder *list;
	size_t count;

	memset(f, 0, sizeof(*f));
	if (mstore_list(store, &list, &count) != STORE_OK)
		return -1;
	f->v = xcalloc(count > 0 ? count : 1, sizeof(*f->v));
	for (size_t i = 0; i < count; i++) {
		struct folder *fo = &f->v[f->n];

		if ((list[i].attrs & (MSTORE_ATTR_NOSELECT | MSTORE_ATTR_NONEXISTENT)) != 0)
			continue;
		if (folder_status(store, list[i].name, fo, hold) != STORE_OK)
			continue;
		fo->name = xstrdup(list[i].name);
		fo->attrs = list[i].attrs;
		memcpy(fo->guid, fo->st.guid, sizeof(fo->guid));
		fo->selectable = true;
		f->n++;
	}
	mstore_list_free(list, count);
	return 0;
}

int
jmap_folders_load(struct mail_user *mu, struct folders *f)
{
	return folders_fill(mu, f, false);
}

/*
 * Every selectable folder, opened (synced) and held in f->v[i].box until
 * jmap_folders_free: what a method that reads messages of several folders needs, one
 * open each. The status has what the state is made of (uidvalidity, uidnext,
 * highestmodseq, guid); the message counts are not computed (0).
 */
int
jmap_folders_open(struct mail_user *mu, struct folders *f)
{
	return folders_fill(mu, f, true);
}

struct folder *
jmap_folder_by_guid(struct folders *f, const char *guid)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].guid, guid) == 0)
			return &f->v[i];
	return NULL;
}

char *
jmap_state_str(uint64_t h)
{
	return xasprintf("s%016llx", (unsigned long long)h);
}
/* properties: null or an array of known names; false (error set) otherwise. */
bool
jmap_check_properties(struct jmap_call *call, json_t *props, const char *const *known)
{
	size_t i;
	json_t *p;

	if (props == NULL || json_is_null(props))
		return true;
	if (!json_is_array(props))
		goto bad;
	json_array_foreach(props, i, p) {
		const char *s = json_string_value(p);
		bool ok = false;

		if (s == NULL)
			goto bad;
		for (const char *const *k = known; *k != NULL; k++)
			if (strcmp(*k, s) == 0)
				ok = true;
		if (!ok)
			goto bad;
	}
	return true;
bad:
	jmap_set_error(call, "invalidArguments", "unknown or unsupported property");
	return false;
}

/* ids: null, or an array of at most maxObjectsInGet strings. */
bool
jmap_check_id_list(struct jmap_call *call, json_t *ids, bool required, const char *bad)
{
	size_t i;
	json_t *e;

	if (!required && (ids == NULL || json_is_null(ids)))
		return true;
	if (!json_is_array(ids)) {
		jmap_set_error(call, "invalidArguments", bad);
		return false;
	}
	if (json_array_size(ids) > JMAP_MAX_OBJECTS_IN_GET) {
		jmap_set_error(call, "requestTooLarge", NULL);
		return false;
	}
	json_array_foreach(ids, i, e)
		if (!json_is_string(e)) {
			jmap_set_error(call, "invalidArguments", bad);
			return false;
		}
	return true;
}

bool
jmap_check_ids(struct jmap_call *call, json_t *ids)
{
	return jmap_check_id_list(call, ids, false, "ids must be null or an array of Id");
}

void
jmap_email_id(uint64_t id, char out[18])
{
	snprintf(out, 18, "M%016llx", (unsigned long long)id);
}

/* "M" + 16 lower-case hex digits; 0 when s is not such an id. */
uint64_t
jmap_email_id_parse(const char *s, char prefix)
{
	uint64_t v = 0;

	if (s == NULL || s[0] != prefix || strlen(s) != 17)
		return 0;
	for (int i = 1; i < 17; i++) {
		char ch = s[i];

		if (ch >= '0' && ch <= '9')
			v = v << 4 | (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v = v << 4 | (uint64_t)(ch - 'a' + 10);
		else
			return 0;
	}
	return v;
}

bool
jmap_json_uint(json_t *v, json_int_t dflt, json_int_t *out)
{
	if (v == NULL || json_is_null(v)) {
		*out = dflt;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = json_integer_value(v);
	return true;
}
bool
jmap_want(json_t *props, const char *name)
{
	size_t i;
	json_t *p;

	if (props == NULL || json_is_null(props))
		return true;
	json_array_foreach(props, i, p)
		if (strcmp(json_string_value(p), name) == 0)
			return true;
	return false;
}

/* A SetError object (RFC 8620 §5.3) with optional properties (one name) and description. */
bool
jmap_if_in_state(struct jmap_call *call, const char *state)
{
	json_t *v = json_object_get(call->args, "ifInState");

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		jmap_set_error(call, "invalidArguments", "ifInState must be a String or null");
		return false;
	}
	if (strcmp(json_string_value(v), state) != 0) {
		jmap_set_error(call, "stateMismatch", NULL);
		return false;
	}
	return true;
}

void
jmap_set_result_init(struct jmap_call *call, const char *old_state)
{
	call->result = json_pack("{s:s, s:s, s:n, s:n, s:n, s:n, s:n, s:n}",
	    "accountId", call->account_id, "oldState", old_state,
	    "created", "updated", "destroyed", "notCreated", "notUpdated", "notDestroyed");
}

json_t *
jmap_set_err(const char *type, const char *prop, const char *desc)
{
	json_t *e = json_pack("{s:s}", "type", type);

	if (prop != NULL)
		(void)json_object_set_new(e, "properties", json_pack("[s]", prop));
	if (desc != NULL)
		(void)json_object_set_new(e, "description", json_string(desc));
	return e;
}

/* result[key][id] = v (v's reference is taken); result[key] made an object if it is not. */
void
jmap_set_add(json_t *result, const char *key, const char *id, json_t *v)
{
	json_t *o = json_object_get(result, key);

	if (!json_is_object(o)) {
		o = json_object();
		(void)json_object_set_new(result, key, o);
	}
	(void)json_object_set_new(o, id, v);
}

/* RFC 8620 §5.2: sinceState (required) and maxChanges (a positive integer or null). */
bool
jmap_changes_args(struct jmap_call *call, const char **since_r, json_int_t *max_r)
{
	json_t *maxj = json_object_get(call->args, "maxChanges");

	if (!jmap_check_account(call))
		return false;
	*since_r = json_string_value(json_object_get(call->args, "sinceState"));
	if (*since_r == NULL) {
		jmap_set_error(call, "invalidArguments", "sinceState is required");
		return false;
	}
	*max_r = -1;
	if (maxj != NULL && !json_is_null(maxj)) {
		if (!json_is_integer(maxj) || json_integer_value(maxj) <= 0) {
			jmap_set_error(call, "invalidArguments", "maxChanges must be positive");
			return false;
		}
		*max_r = json_integer_value(maxj);
	}
	return true;
}

/* ---------------------------------------------------------------- the methods */

static const struct jmap_method {
	const char *name;
	unsigned caps;		/* JMAP_CAP_* the request must name in "using" (§3.6.2) */
	void (*run)(struct jmap_call *call);
} methods[] = {
	{ "Mailbox/get", JMAP_CAP_MAIL, jmap_mailbox_get },
	{ "Mailbox/changes", JMAP_CAP_MAIL, jmap_mailbox_changes },
	{ "Email/query", JMAP_CAP_MAIL, jmap_email_query },
	{ "Email/get", JMAP_CAP_MAIL, jmap_email_get },
	{ "Email/changes", JMAP_CAP_MAIL, jmap_email_changes },
	{ "Identity/get", JMAP_CAP_SUBMISSION, jmap_identity_get },
	{ "Identity/changes", JMAP_CAP_SUBMISSION, jmap_identity_changes },
	{ "Identity/set", JMAP_CAP_SUBMISSION, jmap_identity_set },
	{ "EmailSubmission/get", JMAP_CAP_SUBMISSION, jmap_submission_get },
	{ "EmailSubmission/changes", JMAP_CAP_SUBMISSION, jmap_submission_changes },
	{ "EmailSubmission/query", JMAP_CAP_SUBMISSION, jmap_submission_query },
	{ "EmailSubmission/set", JMAP_CAP_SUBMISSION, jmap_submission_set },
	{ "VacationResponse/get", JMAP_CAP_VACATION, jmap_vacation_get },
	{ "VacationResponse/set", JMAP_CAP_VACATION, jmap_vacation_set },
	{ "SieveScript/get", JMAP_CAP_SIEVE, jmap_sieve_get },
	{ "SieveScript/changes", JMAP_CAP_SIEVE, jmap_sieve_changes },
	{ "SieveScript/set", JMAP_CAP_SIEVE, jmap_sieve_set },
	{ "SieveScript/query", JMAP_CAP_SIEVE, jmap_sieve_query },
	{ "SieveScript/validate", JMAP_CAP_SIEVE, jmap_sieve_validate },
	{ "Email/parse", JMAP_CAP_MAIL, jmap_email_parse },
	{ "Email/set", JMAP_CAP_MAIL, jmap_email_set },
	{ "Email/import", JMAP_CAP_MAIL, jmap_email_import },
	{ "Email/copy", JMAP_CAP_MAIL, jmap_email_copy },
	{ "Mailbox/set", JMAP_CAP_MAIL, jmap_mailbox_set },
	{ "Email/queryChanges", JMAP_CAP_MAIL, jmap_email_query_changes },
	{ "Thread/get", JMAP_CAP_MAIL, jmap_thread_get },
	{ "Thread/changes", JMAP_CAP_MAIL, jmap_thread_changes },
	{ "SearchSnippet/get", JMAP_CAP_MAIL, jmap_search_snippet_get },
};

bool
jmap_mail_call(const char *name, unsigned caps, struct jmap_call *call)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0) {
			if ((caps & methods[i].caps) != methods[i].caps)
				return false;
			methods[i].run(call);
			return true;
		}
	return false;
}
