/*
 * jmap_create.c — Email/set create and Email/import (RFC 8621 §4.6, §4.8): the message
 * is built by jmap_mime.c (pure) from the create object, or is an uploaded blob
 * (import), and is saved through the store's save path into the first of its Mailboxes
 * (tmp file fsync'd, renamed, uidlist committed: mailbox_save_*, as APPEND and delivery
 * do), then copied into the others (the copies keep the EMAILID). The blobs a create
 * names are read whole, at most JMAP_CREATE_MAX octets in all.
 */
#include "jmap/jmap_local.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jmap/jmap_mime.h"
#include "jmap/jmap_request.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_user.h"
#include "store/store.h"

/* ---------------------------------------------------------------- blobs */

struct blob_set {
	struct mail_user *mu;
	struct {
		char *id;
		unsigned char *data;
		size_t len;
	} v[JMAP_MIME_PARTS_MAX];
	size_t n, total;
};

/* The blob open on fd: 1 and its octets, 0 larger than max, -1 error. */
static int
read_all(int fd, size_t max, unsigned char **data_r, size_t *len_r)
{
	char *d;
	int r = read_file_fd(fd, max, &d, len_r);

	if (r < 0 && errno == EFBIG)
		return 0;
	if (r <= 0)
		return -1;
	*data_r = (unsigned char *)d;
	return 1;
}

static int
blob_cb(void *ctx, const char *id, const unsigned char **data_r, size_t *len_r)
{
	struct blob_set *bs = ctx;
	unsigned char *d;
	size_t len;
	int fd, r;

	for (size_t i = 0; i < bs->n; i++)
		if (strcmp(bs->v[i].id, id) == 0) {
			*data_r = bs->v[i].data;
			*len_r = bs->v[i].len;
			return 1;
		}
	if (bs->n == JMAP_MIME_PARTS_MAX || jmap_blob_open(bs->mu, id, &fd) != 1)
		return 0;
	r = read_all(fd, JMAP_CREATE_MAX - bs->total, &d, &len);
	close(fd);
	if (r != 1)
		return 0;
	bs->v[bs->n].id = xstrdup(id);
	bs->v[bs->n].data = d;
	bs->v[bs->n].len = len;
	bs->n++;
	bs->total += len;
	*data_r = d;
	*len_r = len;
	return 1;
}

static void
blob_set_free(struct blob_set *bs)
{
	for (size_t i = 0; i < bs->n; i++) {
		free(bs->v[i].id);
		free(bs->v[i].data);
	}
	bs->n = 0;
}

/* ---------------------------------------------------------------- saving */

/* RFC 3339 UTCDate ("2026-03-03T08:15:40Z") to a time. */
static bool
utc_date_parse(const char *s, time_t *t_r)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
	    &n) != 6 || n != 19)
		return false;
	s += 19;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	if (strcmp(s, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || sec > 60)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*t_r = timegm(&tm);
	return *t_r != (time_t)-1;
}

/* mailboxIds, keywords, receivedAt of a create or import: checked into the folder
 * indexes (fis, *nfi) and *received; NULL, or the SetError. */
static json_t *
placement(struct jmap_call *call, struct folders *f, json_t *obj, size_t *fis, size_t *nfi,
    time_t *received)
{
	json_t *mb = json_object_get(obj, "mailboxIds"), *kw = json_object_get(obj, "keywords");
	json_t *ra = json_object_get(obj, "receivedAt");
	const char *k;
	json_t *v;

	*nfi = 0;
	if (!json_is_object(mb) || json_object_size(mb) == 0)
		return jmap_set_err("invalidProperties", "mailboxIds", "at least one Mailbox");
	json_object_foreach(mb, k, v) {
		const char *id = jmap_resolve_id(call, k);
		struct folder *fo = id != NULL ? jmap_folder_by_guid(f, id) : NULL;

		if (fo == NULL || !json_is_true(v) || *nfi >= f->n)
			return jmap_set_err("invalidProperties", "mailboxIds", "no such Mailbox");
		fis[(*nfi)++] = (size_t)(fo - f->v);
	}
	if (kw != NULL && !jmap_keywords_valid(kw))
		return jmap_set_err("invalidProperties", "keywords", NULL);
	*received = 0;
	if (ra != NULL && !json_is_null(ra) &&
	    !utc_date_parse(json_string_value(ra), received))
		return jmap_set_err("invalidProperties", "receivedAt", "a UTCDate");
	return NULL;
}

/*
 * Save data into the folders fis (the first by the save path, the rest as copies) with
 * keywords kw: the created object {id, blobId, threadId, size}, or NULL and *err_r.
 */
static json_t *
save_email(struct jmap_call *call, struct folders *f, const size_t *fis, size_t nfi,
    json_t *kw, time_t received, const unsigned char *data, size_t len, json_t **err_r)
{
	struct mstore *store = mail_user_store(call->mu);
	struct mailbox *box;
	struct mailbox_save *ctx;
	const struct mailbox_msg *m;
	enum store_status st;
	uint32_t first = 0, last = 0, kwbits = 0;
	uint8_t flags = 0;
	char id[18];
	const char *k;
	json_t *v, *o;
	uint64_t eid, size;

	*err_r = NULL;
	if ((st = mailbox_open(store, f->v[fis[0]].name, &box)) != STORE_OK)
		goto fail;
	json_object_foreach(kw, k, v) {
		uint8_t fl = jmap_keyword_flag(k);
		unsigned idx;

		if (fl != 0) {
			flags |= fl;
			continue;
		}
		if ((st = mailbox_keyword_add(box, k, &idx)) != STORE_OK) {
			mailbox_unref(&box);
			*err_r = jmap_set_err("invalidProperties", "keywords", store_status_str(st));
			return NULL;
		}
		kwbits |= 1u << idx;
	}
	ctx = mailbox_save_begin(box, 0);
	st = mailbox_save_msg_begin(ctx);
	if (st == STORE_OK)
		st = mailbox_save_write(ctx, data, len);
	if (st == STORE_OK)
		st = mailbox_save_msg_end(ctx, flags, kwbits, received);
	if (st != STORE_OK) {
		mailbox_save_abort(&ctx);
		mailbox_unref(&box);
		goto fail;
	}
	if ((st = mailbox_save_commit(&ctx, &first, &last)) != STORE_OK ||
	    (st = mailbox_msg_info(box, first, &m)) != STORE_OK) {
		mailbox_unref(&box);
		goto fail;
	}
	eid = m->emailid;
	size = m->vsize;
	for (size_t i = 1; i < nfi && st == STORE_OK; i++) {
		struct mailbox *dst;
		uint32_t uid;

		if ((st = mailbox_open(store, f->v[fis[i]].name, &dst)) != STORE_OK)
			break;
		st = mailbox_copy(box, &first, 1, dst, &uid);
		mailbox_unref(&dst);
	}
	mailbox_unref(&box);
	if (st != STORE_OK)
		goto fail;
	jmap_email_id(eid, id);
	o = json_pack("{s:s, s:s, s:s, s:I}", "id", id, "blobId", "", "threadId", "",
	    "size", (json_int_t)size);
	id[0] = 'B';
	(void)json_object_set_new(o, "blobId", json_string(id));
	id[0] = 'T';
	(void)json_object_set_new(o, "threadId", json_string(id));
	return o;
fail:
	*err_r = st == STORE_OVERQUOTA ? jmap_set_err("overQuota", NULL, NULL) :
	    jmap_set_err("serverFail", NULL, store_status_str(st));
	return NULL;
}

/* ---------------------------------------------------------------- Email/set create */

static void
unique_token(char out[40])
{
	unsigned char r[12];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		panic("getrandom failed");
	snprintf(out, 40, "%lld.%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x",
	    (long long)time(NULL), r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
	    r[10], r[11]);
}

static void
host_domain(char out[256])
{
	if (gethostname(out, 255) < 0 || out[0] == '\0')
		snprintf(out, 256, "buzon.invalid");
	out[255] = '\0';
	for (char *p = out; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			*p = '-';
	if (strchr(out, '.') == NULL && strlen(out) < 200)
		memcpy(out + strlen(out), ".invalid", sizeof(".invalid"));
}

void
jmap_email_create(struct jmap_call *call, struct folders *f, const char *cid, json_t *obj)
{
	struct blob_set bs = { .mu = call->mu };
	struct jmap_mime_env env;
	size_t *fis = xcalloc(f->n + 1, sizeof(*fis)), nfi;
	char unique[40], domain[256];
	const char *prop, *desc;
	time_t received;
	struct buf msg;
	json_t *err = NULL, *created;

	if (!json_is_object(obj)) {
		err = jmap_set_err("invalidProperties", NULL, "an Email is an object");
		goto out;
	}
	if ((err = placement(call, f, obj, fis, &nfi, &received)) != NULL)
		goto out;
	unique_token(unique);
	host_domain(domain);
	memset(&env, 0, sizeof(env));
	env.now = time(NULL);
	env.unique = unique;
	env.domain = domain;
	env.max_size = JMAP_CREATE_MAX;
	env.blob = blob_cb;
	env.blob_ctx = &bs;
	buf_init(&msg, JMAP_CREATE_MAX + 1);
	switch (jmap_mime_build(obj, &env, &msg, &prop, &desc)) {
	case JMAP_MIME_OK:
		break;
	case JMAP_MIME_INVALID:
		err = jmap_set_err("invalidProperties", prop, desc);
		break;
	case JMAP_MIME_BLOB:
		err = json_pack("{s:s, s:[s]}", "type", "blobNotFound", "notFound",
		    prop != NULL ? prop : "");
		break;
	case JMAP_MIME_TOO_LARGE:
		err = jmap_set_err("tooLarge", NULL, desc);
		break;
	}
	blob_set_free(&bs);
	if (err == NULL) {
		created = save_email(call, f, fis, nfi, json_object_get(obj, "keywords"),
		    received, (const unsigned char *)msg.data, msg.len, &err);
		if (created != NULL) {
			log_info("jmap email create account=%s creation=%s id=%s size=%zu",
			    call->account_id, cid,
			    json_string_value(json_object_get(created, "id")), msg.len);
			(void)json_object_set(call->created_ids, cid,
			    json_object_get(created, "id"));
			jmap_set_add(call->result, "created", cid, created);
		}
	}
	buf_deinit(&msg);
out:
	if (err != NULL)
		jmap_set_add(call->result, "notCreated", cid, err);
	free(fis);
}

/* ---------------------------------------------------------------- Email/import */

/* RFC 8621 §4.8: each email {blobId, mailboxIds, keywords, receivedAt}. */
void
jmap_email_import(struct jmap_call *call)
{
	json_t *emails = json_object_get(call->args, "emails");
	struct folders f;
	char *old_state, *new_state;
	const char *cid;
	json_t *obj;

	if (!jmap_check_account(call))
		return;
	if (!json_is_object(emails)) {
		jmap_set_error(call, "invalidArguments", "emails is an object");
		return;
	}
	if (json_object_size(emails) > JMAP_MAX_OBJECTS_IN_SET) {
		jmap_set_error(call, "requestTooLarge", NULL);
		return;
	}
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
	call->result = json_pack("{s:s, s:s, s:n, s:n}", "accountId", call->account_id,
	    "oldState", old_state, "created", "notCreated");
	free(old_state);
	json_object_foreach(emails, cid, obj) {
		size_t *fis = xcalloc(f.n + 1, sizeof(*fis)), nfi = 0;
		const char *k, *blob_id = json_string_value(json_object_get(obj, "blobId"));
		json_t *err = NULL, *created, *v;
		unsigned char *data = NULL;
		time_t received;
		size_t len = 0;
		int fd, r;

		json_object_foreach(obj, k, v)
			if (strcmp(k, "blobId") != 0 && strcmp(k, "mailboxIds") != 0 &&
			    strcmp(k, "keywords") != 0 && strcmp(k, "receivedAt") != 0 &&
			    err == NULL)
				err = jmap_set_err("invalidProperties", k, NULL);
		if (err == NULL && !json_is_object(obj))
			err = jmap_set_err("invalidProperties", NULL, NULL);
		if (err == NULL && blob_id == NULL)
			err = jmap_set_err("invalidProperties", "blobId", NULL);
		if (err == NULL)
			err = placement(call, &f, obj, fis, &nfi, &received);
		if (err == NULL) {
			blob_id = jmap_resolve_id(call, blob_id);
			if (blob_id == NULL || jmap_blob_open(call->mu, blob_id, &fd) != 1) {
				err = json_pack("{s:s, s:[s]}", "type", "blobNotFound", "notFound",
				    json_string_value(json_object_get(obj, "blobId")));
			} else {
				r = read_all(fd, JMAP_CREATE_MAX, &data, &len);
				close(fd);
				if (r == 0)
					err = jmap_set_err("tooLarge", NULL, NULL);
				else if (r < 0)
					err = jmap_set_err("serverFail", NULL, NULL);
				else if (len == 0)
					err = jmap_set_err("invalidEmail", NULL, "an empty blob");
			}
		}
		if (err == NULL) {
			if (received == 0)
				received = time(NULL);
			created = save_email(call, &f, fis, nfi, json_object_get(obj, "keywords"),
			    received, data, len, &err);
			if (created != NULL) {
				log_info("jmap email import account=%s creation=%s id=%s",
				    call->account_id, cid,
				    json_string_value(json_object_get(created, "id")));
				(void)json_object_set(call->created_ids, cid,
				    json_object_get(created, "id"));
				jmap_set_add(call->result, "created", cid, created);
			}
		}
		if (err != NULL)
			jmap_set_add(call->result, "notCreated", cid, err);
		free(data);
		free(fis);
	}
	jmap_folders_free(&f);
	if (jmap_folders_load(call->mu, &f) < 0) {
		json_decref(call->result);
		call->result = NULL;
		jmap_set_error(call, "serverFail", NULL);
		return;
	}
	new_state = jmap_email_state(&f);
	(void)json_object_set_new(call->result, "newState", json_string(new_state));
	free(new_state);
	jmap_folders_free(&f);
}
