/*
 * jmap_sieve.c — JMAP for Sieve Scripts (RFC 9661) on the scripts ManageSieve keeps
 * (src/mailproc/sieve_store.h; docs/jmap.md, "Sieve scripts"): SieveScript/get, /set,
 * /query, /validate and /changes. A script's id is kept across renames by the store's
 * id map; its blobId is "G" + 16 hex digits of a hash of its content, so a new content
 * is a new blob, and the download endpoint serves it (jmap_sieve_blob_open). The
 * scripts VacationResponse writes (jmap-vacation) are shown but only VacationResponse/set
 * changes them; the wrapper (buzon-jmap) is never shown. Runs as the mailbox owner;
 * ids, names and blob contents are untrusted and bounded.
 */
#include "jmap/jmap_local.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_user.h"
#include "mailproc/sieve_store.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"

#define READ_MAX	(16 * (size_t)SIEVE_STORE_HARD_MAX)	/* a script put there by hand */

static const char *const script_props[] = { "id", "name", "blobId", "isActive", NULL };

/* ---------------------------------------------------------------- capability */

json_t *
jmap_sieve_capability(const struct config *cfg, const char *home)
{
	struct sieve_store *st = sieve_store_open(cfg, home, true);
	struct sieve_exec_limits xl;
	json_t *ext, *c;

	if (st == NULL)
		return NULL;
	sieve_exec_limits_default(&xl);
	ext = json_array();
	for (unsigned i = 0; i < SIEVE_CAP_COUNT; i++)
		(void)json_array_append_new(ext, json_string(sieve_cap_name((enum sieve_cap)i)));
	c = json_pack("{s:s, s:I, s:I, s:o, s:I, s:o, s:n, s:n}",
	    "implementation", "buzon",
	    "maxSizeScriptName", (json_int_t)SIEVE_STORE_NAME_MAX,
	    "maxSizeScript", (json_int_t)st->max_size,
	    "maxNumberScripts", st->max_scripts > 0 ? json_integer(st->max_scripts) :
	    json_null(),
	    "maxNumberRedirects", (json_int_t)xl.redirects_max,
	    "sieveExtensions", ext,
	    "notificationMethods", "externalLists");
	sieve_store_close(&st);
	return c;
}

/* ---------------------------------------------------------------- blobs */

static void
blob_id_of(const char *data, size_t len, char out[18])
{
	uint64_t h = 14695981039346656037ull;

	jmap_state_add(&h, data, len);
	snprintf(out, 18, "G%016llx", (unsigned long long)h);
}

/*
 * The content of the script whose blob is blob_id: 1 and *data_r (caller frees), *len_r;
 * 0 none; -1 error.
 */
static int
script_blob_read(struct sieve_store *st, const char *blob_id, char **data_r, size_t *len_r)
{
	struct sieve_store_list l;
	const char *what;
	int found = 0;

	if (jmap_email_id_parse(blob_id, 'G') == 0 && strcmp(blob_id, "G0000000000000000") != 0)
		return 0;
	if (sieve_store_list(st, &l, &what) < 0)
		return -1;
	for (size_t i = 0; i < l.n && found == 0; i++) {
		char *data, bid[18];
		size_t len;

		if (sieve_store_read(st, l.v[i].name, READ_MAX, &data, &len) != 1)
			continue;
		blob_id_of(data, len, bid);
		if (strcmp(bid, blob_id) == 0) {
			*data_r = data;
			*len_r = len;
			found = 1;
		} else {
			free(data);
		}
	}
	sieve_store_list_free(&l);
	return found;
}

int
jmap_sieve_blob_open(struct mail_user *mu, const char *home, const char *blob_id, int *fd_r)
{
	struct sieve_store *st = sieve_store_open(mu->cfg, home, true);
	size_t len;
	char *data;
	int r;

	if (st == NULL)
		return 0;
	r = script_blob_read(st, blob_id, &data, &len);
	sieve_store_close(&st);
	if (r <= 0)
		return r;
	/* the download maps a file: a copy, so the script may change meanwhile */
	*fd_r = jmap_scratch_file(mu, data, len);
	free(data);
	return *fd_r < 0 ? -1 : 1;
}

/*
 * The octets of any blob a script may come from (an upload, a script, a message): 1 and
 * *data_r (caller frees) and *len_r, 0 no such blob, -1 error, -2 more than max octets.
 */
static int
blob_read(struct jmap_call *call, struct sieve_store *st, const char *blob_id, size_t max,
    char **data_r, size_t *len_r)
{
	int fd, r;

	if (blob_id[0] == 'G') {
		r = script_blob_read(st, blob_id, data_r, len_r);
		if (r == 1 && *len_r > max) {
			free(*data_r);
			return -2;
		}
		return r;
	}
	if ((r = jmap_blob_open(call->mu, blob_id, &fd)) <= 0)
		return r;
	r = read_file_fd(fd, max, data_r, len_r);
	if (r < 0 && errno == EFBIG)
		r = -2;
	close(fd);
	return r == 0 ? -1 : r;
}

/* ---------------------------------------------------------------- common */

static struct sieve_store *
open_store(struct jmap_call *call)
{
	struct sieve_store *st;

	if (!jmap_check_account(call))
		return NULL;
	st = sieve_store_open(call->mu->cfg, call->home, true);
	if (st == NULL)
		jmap_set_error(call, "accountNotSupportedByMethod", "Sieve is not set up for "
		    "this account");
	return st;
}

static void
store_fail(struct jmap_call *call, const char *what)
{
	log_error("jmap sieve user=%s error=\"%s: %s\"", call->user, what, strerror(errno));
	jmap_set_error(call, "serverFail", NULL);
}

/* The state: every script's id, name, size, mtime and active flag. */
static char *
list_state(const struct sieve_store_list *l)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < l->n; i++) {
		const struct sieve_store_entry *e = &l->v[i];
		char x[96];

		jmap_state_add(&h, e->id, strlen(e->id));
		jmap_state_add(&h, e->name, strlen(e->name) + 1);
		snprintf(x, sizeof(x), "%llu.%lld.%ld.%d", (unsigned long long)e->size,
		    (long long)e->mtime.tv_sec, (long)e->mtime.tv_nsec, e->active);
		jmap_state_add(&h, x, strlen(x) + 1);
	}
	return jmap_state_str(h);
}

static json_t *
script_json(struct sieve_store *st, const struct sieve_store_entry *e, json_t *props)
{
	json_t *o = json_pack("{s:s}", "id", e->id);

	if (jmap_want(props, "name"))
		(void)json_object_set_new(o, "name", json_string(e->name));
	if (jmap_want(props, "isActive"))
		(void)json_object_set_new(o, "isActive", json_boolean(e->active));
	if (jmap_want(props, "blobId")) {
		char *data, bid[18];
		size_t len;

		if (sieve_store_read(st, e->name, READ_MAX, &data, &len) == 1) {
			blob_id_of(data, len, bid);
			free(data);
			(void)json_object_set_new(o, "blobId", json_string(bid));
		} else {
			(void)json_object_set_new(o, "blobId", json_null());
		}
	}
	return o;
}

/* ---------------------------------------------------------------- get */

void
jmap_sieve_get(struct jmap_call *call)
{
	json_t *ids = json_object_get(call->args, "ids");
	json_t *props = json_object_get(call->args, "properties");
	struct sieve_store_list l;
	struct sieve_store *st;
	json_t *list, *nf, *id;
	const char *what;
	char *state;
	size_t i;

	if ((st = open_store(call)) == NULL || !jmap_check_ids(call, ids) ||
	    !jmap_check_properties(call, props, script_props)) {
		sieve_store_close(&st);
		return;
	}
	if (sieve_store_list(st, &l, &what) < 0) {
		store_fail(call, what);
		sieve_store_close(&st);
		return;
	}
	list = json_array();
	nf = json_array();
	if (ids == NULL || json_is_null(ids)) {
		for (i = 0; i < l.n; i++)
			(void)json_array_append_new(list, script_json(st, &l.v[i], props));
	} else {
		json_array_foreach(ids, i, id) {
			struct sieve_store_entry *e = sieve_store_find_id(&l,
			    json_string_value(id));

			if (e != NULL)
				(void)json_array_append_new(list, script_json(st, e, props));
			else
				(void)json_array_append(nf, id);
		}
	}
	state = list_state(&l);
	call->result = json_pack("{s:s, s:s, s:o, s:o}", "accountId", call->account_id,
	    "state", state, "list", list, "notFound", nf);
	free(state);
	sieve_store_list_free(&l);
	sieve_store_close(&st);
}

/* ---------------------------------------------------------------- changes */

/*
 * RFC 8620 §5.2 with the state of SieveScript/get: there is no change log, so a state
 * other than the current one is cannotCalculateChanges (the client gets everything).
 */
void
jmap_sieve_changes(struct jmap_call *call)
{
	struct sieve_store_list l;
	struct sieve_store *st;
	const char *since, *what;
	json_int_t max;
	char *s;

	if ((st = open_store(call)) == NULL)
		return;
	if (!jmap_changes_args(call, &since, &max)) {
		sieve_store_close(&st);
		return;
	}
	if (sieve_store_list(st, &l, &what) < 0) {
		store_fail(call, what);
		sieve_store_close(&st);
		return;
	}
	s = list_state(&l);
	if (strcmp(s, since) != 0)
		jmap_set_error(call, "cannotCalculateChanges", NULL);
	else
		call->result = json_pack("{s:s, s:s, s:s, s:b, s:[], s:[], s:[]}", "accountId",
		    call->account_id, "oldState", s, "newState", s, "hasMoreChanges", 0,
		    "created", "updated", "destroyed");
	free(s);
	sieve_store_list_free(&l);
	sieve_store_close(&st);
}

/* ---------------------------------------------------------------- validate, set */

/*
 * The content of blob_id checked as a script: NULL if it may be stored, else the
 * SetError (RFC 9661 invalidSieve with the compile errors, tooLarge, blobNotFound).
 */
static json_t *
load_checked(struct jmap_call *call, struct sieve_store *st, const char *blob_id,
    char **data_r, size_t *len_r)
{
	char *msg;
	int r;

	*data_r = NULL;
	r = blob_read(call, st, blob_id, (size_t)st->max_size, data_r, len_r);
	if (r == -2)
		return jmap_set_err("tooLarge", "blobId", "The script is larger than "
		    "maxSizeScript");
	if (r < 0)
		return jmap_set_err("serverFail", NULL, NULL);
	if (r == 0) {
		json_t *e = jmap_set_err("blobNotFound", "blobId", NULL);

		(void)json_object_set_new(e, "notFound", json_pack("[s]", blob_id));
		return e;
	}
	if (!sieve_store_check(st, *data_r, *len_r, "\n", &msg)) {
		json_t *e = jmap_set_err("invalidSieve", NULL, msg);

		free(msg);
		free(*data_r);
		*data_r = NULL;
		return e;
	}
	free(msg);	/* warnings: the script is stored all the same */
	return NULL;
}

void
jmap_sieve_validate(struct jmap_call *call)
{
	json_t *bid = json_object_get(call->args, "blobId"), *err;
	struct sieve_store *st;
	char *data;
	size_t len;

	if ((st = open_store(call)) == NULL)
		return;
	if (!json_is_string(bid) || json_string_length(bid) > 255) {
		jmap_set_error(call, "invalidArguments", "blobId");
		sieve_store_close(&st);
		return;
	}
	err = load_checked(call, st, json_string_value(bid), &data, &len);
	free(data);
	call->result = json_pack("{s:s, s:o}", "accountId", call->account_id, "error",
	    err != NULL ? err : json_null());
	sieve_store_close(&st);
}

/* A name from JSON: a string the store accepts (no NUL inside). */
static const char *
json_name(json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) != json_string_length(v) ||
	    !sieve_store_name_ok(s, strlen(s)))
		return NULL;
	return s;
}

static json_t *
result_err(enum sieve_store_result r, const char *what, struct jmap_call *call)
{
	switch (r) {
	case SIEVE_STORE_NONEXISTENT:
		return jmap_set_err("notFound", NULL, NULL);
	case SIEVE_STORE_EXISTS:
		return jmap_set_err("alreadyExists", "name", NULL);
	case SIEVE_STORE_ACTIVE:
		return jmap_set_err("sieveIsActive", NULL, "The active script cannot be "
		    "destroyed: deactivate it first");
	case SIEVE_STORE_TOOLARGE:
		return jmap_set_err("tooLarge", "blobId", "The script is larger than "
		    "maxSizeScript");
	case SIEVE_STORE_TOOMANY:
		return jmap_set_err("overQuota", NULL, "maxNumberScripts reached");
	case SIEVE_STORE_NOLINK:
	case SIEVE_STORE_FOREIGN:
		return jmap_set_err("forbidden", NULL, "The active Sieve script is not a link "
		    "into the script directory");
	case SIEVE_STORE_RESERVED:
		return jmap_set_err("forbidden", "name", SIEVE_STORE_VACATION " is changed "
		    "through VacationResponse/set");
	case SIEVE_STORE_ERROR:
		log_error("jmap sieve user=%s error=\"%s: %s\"", call->user, what,
		    strerror(errno));
		return jmap_set_err("serverFail", NULL, NULL);
	case SIEVE_STORE_OK:
		break;
	}
	return NULL;
}

/* The properties of a create or update other than these: invalidProperties. */
static json_t *
check_props(json_t *obj, const struct sieve_store_entry *e)
{
	json_t *bad = json_array(), *v;
	const char *k;

	json_object_foreach(obj, k, v) {
		if (strcmp(k, "name") == 0 || strcmp(k, "blobId") == 0)
			continue;
		/* server-set: only their current value may be given (RFC 8620 §5.3) */
		if (strcmp(k, "id") == 0 && e != NULL && json_is_string(v) &&
		    strcmp(json_string_value(v), e->id) == 0)
			continue;
		if (strcmp(k, "isActive") == 0 && json_is_boolean(v) &&
		    json_is_true(v) == (e != NULL && e->active))
			continue;
		(void)json_array_append_new(bad, json_string(k));
	}
	if (json_array_size(bad) == 0) {
		json_decref(bad);
		return NULL;
	}
	return json_pack("{s:s, s:o}", "type", "invalidProperties", "properties", bad);
}

static bool
reserved(const char *name)
{
	return strcmp(name, SIEVE_STORE_VACATION) == 0;
}

/* One create: the new script's id into id_r, or the SetError. */
static json_t *
set_create(struct jmap_call *call, struct sieve_store *st, json_t *obj, json_t **created_r)
{
	json_t *jname = json_object_get(obj, "name"), *jbid = json_object_get(obj, "blobId");
	struct sieve_store_list l;
	struct sieve_store_entry *e;
	enum sieve_store_result r;
	const char *name = NULL, *what = "";
	char *gen = NULL, *data = NULL, bid[18];
	json_t *err;
	size_t len;

	*created_r = NULL;
	if (!json_is_object(obj))
		return jmap_set_err("invalidProperties", NULL, "not an object");
	if ((err = check_props(obj, NULL)) != NULL)
		return err;
	if (jname != NULL && !json_is_null(jname) && (name = json_name(jname)) == NULL)
		return jmap_set_err("invalidProperties", "name", "A script name: 1 to 128 "
		    "octets of UTF-8 without control characters or \"/\"");
	if (!json_is_string(jbid) || json_string_length(jbid) > 255)
		return jmap_set_err("invalidProperties", "blobId", NULL);
	if (name == NULL) {
		/* RFC 9661 §2.1: a null name is the server's to choose */
		unsigned char rnd[6];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			panic("getrandom failed");
		gen = xasprintf("script-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
		    rnd[3], rnd[4], rnd[5]);
		name = gen;
	}
	if (reserved(name)) {
		err = result_err(SIEVE_STORE_RESERVED, NULL, call);
		goto out;
	}
	if ((err = load_checked(call, st, json_string_value(jbid), &data, &len)) != NULL)
		goto out;
	if (sieve_store_list(st, &l, &what) < 0) {
		err = result_err(SIEVE_STORE_ERROR, what, call);
		goto out;
	}
	e = sieve_store_find(&l, name);
	if (e != NULL) {
		err = jmap_set_err("alreadyExists", "name", NULL);
		(void)json_object_set_new(err, "existingId", json_string(e->id));
		sieve_store_list_free(&l);
		goto out;
	}
	sieve_store_list_free(&l);
	r = sieve_store_quota(st, name, len);
	if (r == SIEVE_STORE_OK)
		r = sieve_store_put(st, name, data, len, &what);
	if (r != SIEVE_STORE_OK) {
		err = result_err(r, what, call);
		goto out;
	}
	if (sieve_store_list(st, &l, &what) < 0 || (e = sieve_store_find(&l, name)) == NULL) {
		err = result_err(SIEVE_STORE_ERROR, what, call);
		goto out;
	}
	blob_id_of(data, len, bid);
	*created_r = json_pack("{s:s, s:s, s:b}", "id", e->id, "blobId", bid, "isActive", 0);
	if (gen != NULL)
		(void)json_object_set_new(*created_r, "name", json_string(name));
	log_info("jmap sieve create user=%s id=%s size=%zu", call->user, e->id, len);
	sieve_store_list_free(&l);
out:
	free(data);
	free(gen);
	return err;
}

/* One update of the script id: the updated value (null or {blobId}) or the SetError. */
static json_t *
set_update(struct jmap_call *call, struct sieve_store *st, const char *id, json_t *patch,
    json_t **updated_r)
{
	json_t *jname = json_object_get(patch, "name"), *jbid = json_object_get(patch, "blobId");
	struct sieve_store_list l;
	struct sieve_store_entry *e;
	enum sieve_store_result r = SIEVE_STORE_OK;
	const char *name = NULL, *what = "";
	char *data = NULL, *cur = NULL, bid[18];
	json_t *err = NULL;
	size_t len = 0;

	*updated_r = NULL;
	if (!json_is_object(patch))
		return jmap_set_err("invalidPatch", NULL, NULL);
	if (sieve_store_list(st, &l, &what) < 0)
		return result_err(SIEVE_STORE_ERROR, what, call);
	if ((e = sieve_store_find_id(&l, id)) == NULL) {
		sieve_store_list_free(&l);
		return jmap_set_err("notFound", NULL, NULL);
	}
	cur = xstrdup(e->name);
	if ((err = check_props(patch, e)) != NULL)
		goto out;
	if (reserved(cur)) {
		err = result_err(SIEVE_STORE_RESERVED, NULL, call);
		goto out;
	}
	if (jname != NULL && (name = json_name(jname)) == NULL) {
		err = jmap_set_err("invalidProperties", "name", NULL);
		goto out;
	}
	if (name != NULL && reserved(name)) {
		err = result_err(SIEVE_STORE_RESERVED, NULL, call);
		goto out;
	}
	if (name != NULL && strcmp(name, cur) != 0 && sieve_store_find(&l, name) != NULL) {
		err = jmap_set_err("alreadyExists", "name", NULL);
		(void)json_object_set_new(err, "existingId",
		    json_string(sieve_store_find(&l, name)->id));
		goto out;
	}
	if (jbid != NULL) {
		if (!json_is_string(jbid) || json_string_length(jbid) > 255) {
			err = jmap_set_err("invalidProperties", "blobId", NULL);
			goto out;
		}
		if ((err = load_checked(call, st, json_string_value(jbid), &data, &len)) != NULL)
			goto out;
		if ((r = sieve_store_quota(st, cur, len)) == SIEVE_STORE_OK)
			r = sieve_store_put(st, cur, data, len, &what);
		if (r != SIEVE_STORE_OK) {
			err = result_err(r, what, call);
			goto out;
		}
	}
	if (name != NULL && strcmp(name, cur) != 0 &&
	    (r = sieve_store_rename(st, cur, name, &what)) != SIEVE_STORE_OK) {
		err = result_err(r, what, call);
		goto out;
	}
	if (data != NULL) {
		blob_id_of(data, len, bid);
		*updated_r = json_pack("{s:s}", "blobId", bid);
	} else {
		*updated_r = json_null();
	}
	log_info("jmap sieve update user=%s id=%s", call->user, id);
out:
	sieve_store_list_free(&l);
	free(cur);
	free(data);
	return err;
}

static json_t *
set_destroy(struct jmap_call *call, struct sieve_store *st, const char *id)
{
	struct sieve_store_list l;
	struct sieve_store_entry *e;
	enum sieve_store_result r;
	const char *what = "";
	json_t *err = NULL;

	if (sieve_store_list(st, &l, &what) < 0)
		return result_err(SIEVE_STORE_ERROR, what, call);
	if ((e = sieve_store_find_id(&l, id)) == NULL)
		err = jmap_set_err("notFound", NULL, NULL);
	else if (reserved(e->name))
		err = result_err(SIEVE_STORE_RESERVED, NULL, call);
	else if ((r = sieve_store_delete(st, e->name, &what)) != SIEVE_STORE_OK)
		err = result_err(r, what, call);
	else
		log_info("jmap sieve destroy user=%s id=%s", call->user, id);
	sieve_store_list_free(&l);
	return err;
}

/* updated[id].isActive = v (an object made of a null). */
static void
mark_active(json_t *result, const char *id, bool v)
{
	json_t *upd = json_object_get(result, "updated"), *o;

	if (!json_is_object(upd)) {
		upd = json_object();
		(void)json_object_set_new(result, "updated", upd);
	}
	o = json_object_get(upd, id);
	if (!json_is_object(o)) {
		o = json_object();
		(void)json_object_set_new(upd, id, o);
	}
	(void)json_object_set_new(o, "isActive", json_boolean(v));
}

/*
 * RFC 9661 §2.4: onSuccessActivateScript (an id, "#creationId") or
 * onSuccessDeactivateScript, once every create, update and destroy has succeeded.
 */
static void
set_activate(struct jmap_call *call, struct sieve_store *st, const char *act_id, bool deact)
{
	struct sieve_store_list l;
	struct sieve_store_entry *e = NULL, *prev = NULL;
	enum sieve_store_result r;
	const char *what = "", *cid = NULL;
	char *prev_id = NULL;

	if (act_id != NULL && act_id[0] == '#') {
		json_t *c = json_object_get(json_object_get(call->result, "created"), act_id + 1);

		cid = act_id + 1;
		act_id = json_string_value(json_object_get(c, "id"));
		if (act_id == NULL) {
			jmap_set_add(call->result, "notUpdated", cid, jmap_set_err("notFound",
			    NULL, "onSuccessActivateScript names no created script"));
			return;
		}
	}
	if (sieve_store_list(st, &l, &what) < 0) {
		jmap_set_add(call->result, "notUpdated", act_id != NULL ? act_id : "",
		    result_err(SIEVE_STORE_ERROR, what, call));
		return;
	}
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].active)
			prev = &l.v[i];
	if (prev != NULL)
		prev_id = xstrdup(prev->id);
	if (act_id != NULL && (e = sieve_store_find_id(&l, act_id)) == NULL) {
		jmap_set_add(call->result, "notUpdated", act_id, jmap_set_err("notFound", NULL,
		    NULL));
		goto out;
	}
	if (!deact && e == NULL)
		goto out;
	if (e != NULL && e == prev)
		goto out;	/* already active */
	r = sieve_store_activate(st, e != NULL ? e->name : NULL, &what);
	if (r != SIEVE_STORE_OK) {
		jmap_set_add(call->result, "notUpdated", e != NULL ? e->id :
		    prev_id != NULL ? prev_id : "", result_err(r, what, call));
		goto out;
	}
	log_info("jmap sieve activate user=%s id=%s", call->user, e != NULL ? e->id : "none");
	if (prev_id != NULL)
		mark_active(call->result, prev_id, false);
	if (e != NULL && cid != NULL)
		(void)json_object_set_new(json_object_get(json_object_get(call->result, "created"),
		    cid), "isActive", json_true());
	else if (e != NULL)
		mark_active(call->result, e->id, true);
out:
	free(prev_id);
	sieve_store_list_free(&l);
}

/* id, or "#c": a script created earlier in this call or in the request; NULL if none. */
static const char *
resolve_id(struct jmap_call *call, const char *id)
{
	const char *r = jmap_resolve_id(call, id);

	if (r == NULL && id[0] == '#')
		r = json_string_value(json_object_get(json_object_get(json_object_get(
		    call->result, "created"), id + 1), "id"));
	return r;
}

static char *
current_state(struct sieve_store *st)
{
	struct sieve_store_list l;
	const char *what;
	char *s;

	if (sieve_store_list(st, &l, &what) < 0)
		return xstrdup("s-");
	s = list_state(&l);
	sieve_store_list_free(&l);
	return s;
}

void
jmap_sieve_set(struct jmap_call *call)
{
	json_t *create, *update, *destroy, *v;
	json_t *act = json_object_get(call->args, "onSuccessActivateScript");
	json_t *deact = json_object_get(call->args, "onSuccessDeactivateScript");
	struct sieve_store *st;
	const char *k;
	char *old, *st_new;
	size_t i;
	bool failed = false;

	if ((st = open_store(call)) == NULL)
		return;
	if (!jmap_set_args(call, &create, &update, &destroy)) {
		sieve_store_close(&st);
		return;
	}
	json_array_foreach(destroy, i, v)
		if (!json_is_string(v)) {
			jmap_set_error(call, "invalidArguments", "destroy holds ids");
			sieve_store_close(&st);
			return;
		}
	if ((act != NULL && !json_is_null(act) && !json_is_string(act)) ||
	    (deact != NULL && !json_is_null(deact) && !json_is_boolean(deact)) ||
	    (json_is_string(act) && json_is_true(deact))) {
		jmap_set_error(call, "invalidArguments", "onSuccessActivateScript, "
		    "onSuccessDeactivateScript");
		sieve_store_close(&st);
		return;
	}
	old = current_state(st);
	if (!jmap_if_in_state(call, old)) {
		free(old);
		sieve_store_close(&st);
		return;
	}
	jmap_set_result_init(call, old);
	free(old);
	json_object_foreach(create, k, v) {
		json_t *created, *err = set_create(call, st, v, &created);

		if (err != NULL) {
			jmap_set_add(call->result, "notCreated", k, err);
			failed = true;
		} else {
			jmap_set_add(call->result, "created", k, created);
		}
	}
	json_object_foreach(update, k, v) {
		const char *id = resolve_id(call, k);
		json_t *upd = NULL, *err;

		err = id == NULL ? jmap_set_err("notFound", NULL, NULL) :
		    set_update(call, st, id, v, &upd);
		if (err != NULL) {
			jmap_set_add(call->result, "notUpdated", k, err);
			failed = true;
		} else {
			jmap_set_add(call->result, "updated", id, upd);
		}
	}
	json_array_foreach(destroy, i, v) {
		const char *id = resolve_id(call, json_string_value(v));
		json_t *err;

		err = id == NULL ? jmap_set_err("notFound", NULL, NULL) :
		    set_destroy(call, st, id);
		if (err != NULL) {
			jmap_set_add(call->result, "notDestroyed", json_string_value(v), err);
			failed = true;
		} else {
			json_t *d = json_object_get(call->result, "destroyed");

			if (!json_is_array(d)) {
				d = json_array();
				(void)json_object_set_new(call->result, "destroyed", d);
			}
			(void)json_array_append_new(d, json_string(id));
		}
	}
	if (!failed && (json_is_string(act) || json_is_true(deact))) {
		const char *a = json_string_value(act);

		/* "#c" of this call stays as it is: set_activate marks it in created */
		if (a != NULL && a[0] == '#' && json_object_get(json_object_get(call->result,
		    "created"), a + 1) == NULL && jmap_resolve_id(call, a) != NULL)
			a = jmap_resolve_id(call, a);
		set_activate(call, st, a, json_is_true(deact));
	}
	st_new = current_state(st);
	(void)json_object_set_new(call->result, "newState", json_string(st_new));
	free(st_new);
	sieve_store_close(&st);
}

/* ---------------------------------------------------------------- query */

/* The comparators of a query (RFC 8620 §5.5): property and direction. */
struct sortkey {
	bool active;		/* isActive, else name */
	bool asc;
};
struct sortkeys {
	struct sortkey k[2];
	size_t n;
};

static int
sort_cmp(const void *a, const void *b, void *ctx)
{
	const struct sieve_store_entry *x = *(struct sieve_store_entry *const *)a;
	const struct sieve_store_entry *y = *(struct sieve_store_entry *const *)b;
	const struct sortkeys *sk = ctx;

	for (size_t i = 0; i < sk->n; i++) {
		int c = sk->k[i].active ? (int)x->active - (int)y->active :
		    strcmp(x->name, y->name);

		if (c != 0)
			return sk->k[i].asc ? c : -c;
	}
	return strcmp(x->name, y->name);
}

static bool
filter_match(json_t *f, const struct sieve_store_entry *e)
{
	json_t *n = json_object_get(f, "name"), *a = json_object_get(f, "isActive");

	if (json_is_string(n) && strstr(e->name, json_string_value(n)) == NULL)
		return false;
	if (json_is_boolean(a) && json_is_true(a) != e->active)
		return false;
	return true;
}

void
jmap_sieve_query(struct jmap_call *call)
{
	json_t *filter = json_object_get(call->args, "filter");
	json_t *sort = json_object_get(call->args, "sort"), *c, *ids, *v;
	const char *anchor = json_string_value(json_object_get(call->args, "anchor"));
	struct sieve_store_entry **m;
	struct sieve_store_list l;
	struct sieve_store *st;
	struct sortkeys sk;
	json_int_t pos, lim, total;
	const char *what, *k;
	size_t i, n = 0;
	char *s;

	if ((st = open_store(call)) == NULL)
		return;
	if (filter != NULL && !json_is_null(filter)) {
		bool ok = json_is_object(filter);

		json_object_foreach(filter, k, v)
			if (!((strcmp(k, "name") == 0 && json_is_string(v)) ||
			    (strcmp(k, "isActive") == 0 && json_is_boolean(v))))
				ok = false;
		if (!ok) {
			jmap_set_error(call, "unsupportedFilter", "name (String), isActive "
			    "(Boolean)");
			sieve_store_close(&st);
			return;
		}
	}
	sk.n = 0;
	if (sort != NULL && !json_is_null(sort)) {
		bool ok = json_is_array(sort) && json_array_size(sort) <= 2;

		json_array_foreach(sort, i, c) {
			const char *p = json_string_value(json_object_get(c, "property"));
			json_t *asc = json_object_get(c, "isAscending");

			if (!ok || p == NULL || (strcmp(p, "name") != 0 &&
			    strcmp(p, "isActive") != 0) || (asc != NULL && !json_is_boolean(asc)) ||
			    json_object_get(c, "collation") != NULL) {
				ok = false;
				break;
			}
			sk.k[sk.n].active = strcmp(p, "isActive") == 0;
			sk.k[sk.n].asc = asc == NULL || json_is_true(asc);
			sk.n++;
		}
		if (!ok) {
			jmap_set_error(call, "unsupportedSort", "name, isActive");
			sieve_store_close(&st);
			return;
		}
	}
	if (!jmap_json_uint(json_object_get(call->args, "limit"), -1, &lim) ||
	    (json_object_get(call->args, "position") != NULL &&
	    !json_is_integer(json_object_get(call->args, "position")) &&
	    !json_is_null(json_object_get(call->args, "position")))) {
		jmap_set_error(call, "invalidArguments", "position, limit");
		sieve_store_close(&st);
		return;
	}
	pos = json_integer_value(json_object_get(call->args, "position"));
	if (sieve_store_list(st, &l, &what) < 0) {
		store_fail(call, what);
		sieve_store_close(&st);
		return;
	}
	m = xreallocarray(NULL, l.n + 1, sizeof(*m));
	for (i = 0; i < l.n; i++)
		if (filter == NULL || json_is_null(filter) || filter_match(filter, &l.v[i]))
			m[n++] = &l.v[i];
	if (n > 1)
		qsort_r(m, n, sizeof(*m), sort_cmp, &sk);
	total = (json_int_t)n;
	if (anchor != NULL) {
		json_t *ao = json_object_get(call->args, "anchorOffset");
		json_int_t off = json_is_integer(ao) ? json_integer_value(ao) : 0, at = -1;

		for (i = 0; i < n; i++)
			if (strcmp(m[i]->id, anchor) == 0)
				at = (json_int_t)i;
		if (at < 0) {
			jmap_set_error(call, "anchorNotFound", NULL);
			goto out;
		}
		pos = at + off < 0 ? 0 : at + off;
	} else if (pos < 0) {
		pos = total + pos < 0 ? 0 : total + pos;
	}
	ids = json_array();
	for (json_int_t j = pos; j < total && (lim < 0 || j < pos + lim); j++)
		(void)json_array_append_new(ids, json_string(m[j]->id));
	s = list_state(&l);
	call->result = json_pack("{s:s, s:s, s:b, s:I, s:o, s:I}", "accountId",
	    call->account_id, "queryState", s, "canCalculateChanges", 0, "position",
	    pos > total ? total : pos, "ids", ids, "total", total);
	free(s);
out:
	free(m);
	sieve_store_list_free(&l);
	sieve_store_close(&st);
}
