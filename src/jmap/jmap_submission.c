/*
 * jmap_submission.c — Identity (RFC 8621 §6) and EmailSubmission (§7): the user's one
 * identity, its address taken from the login name (docs/jmap.md, "Sending"), and
 * messages sent through sendmail_path as Sieve's redirect is (src/mailproc/deliver_send.c):
 * one child per submission, watched by the event loop, so the request waits for
 * sendmail's exit (the MTA's acceptance) while the mail process serves everything else.
 * The submissions are remembered in the mail process (the last JMAP_SUB_KEEP), not on
 * disk. Runs as the mailbox owner; every value of the request and of the message is
 * untrusted and bounded here.
 */
#include "jmap/jmap_local.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jmap/jmap_request.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/address.h"
#include "mail/message.h"
#include "mailproc/deliver_send.h"
#include "mailproc/mail_user.h"

#define IDENTITY_ID		"I0"
#define IDENTITY_FILE		"buzon-jmap-identity.json"	/* in the mail root */
#define IDENTITY_FILE_MAX	(64 * 1024)
#define IDENTITY_TEXT_MAX	(16 * 1024)	/* a signature, a name */
#define JMAP_SUB_KEEP		1000	/* submissions remembered, oldest dropped */
#define JMAP_SUB_MAX_SIZE	(25 * 1024 * 1024)	/* tooLarge past it (maxSize) */
#define JMAP_SUB_MAX_RCPTS	DELIVER_SENDMAIL_RCPTS_MAX	/* tooManyRecipients */
#define JMAP_SUB_MAX_CREATE	50	/* submissions of one /set */
#define ADDR_MAX		320	/* one address (RFC 5321 §4.5.3.1: 64 + 1 + 255) */

/* ---------------------------------------------------------------- identity */

/*
 * The identity's address: the login name when it is an address, else the name at
 * this host's name (lower-cased). Caller frees.
 */
static char *
identity_email(const char *user)
{
	char host[256];

	if (strchr(user, '@') != NULL)
		return xstrdup(user);
	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return xasprintf("%s@%s", user, host);
}

static char *
identity_path(struct jmap_call *call)
{
	return xasprintf("%s/" IDENTITY_FILE, call->mu->mail_root);
}

/* The settings Identity/set keeps (an object; empty when there is no file). */
static json_t *
identity_settings(struct jmap_call *call)
{
	char *path = identity_path(call);
	json_t *v = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size <= IDENTITY_FILE_MAX) {
		json_error_t e;

		v = json_loadfd(fd, JSON_REJECT_DUPLICATES, &e);
	}
	if (fd >= 0)
		close(fd);
	free(path);
	if (v == NULL || !json_is_object(v)) {
		json_decref(v);
		v = json_object();
	}
	return v;
}

static json_t *
identity_object(struct jmap_call *call)
{
	json_t *set = identity_settings(call);
	char *email = identity_email(call->user);
	json_t *o = json_pack("{s:s, s:s, s:s, s:n, s:n, s:s, s:s, s:b}", "id", IDENTITY_ID,
	    "name", "", "email", email, "replyTo", "bcc", "textSignature", "",
	    "htmlSignature", "", "mayDelete", 0);
	static const char *const kept[] = { "name", "replyTo", "bcc", "textSignature",
		"htmlSignature" };

	for (size_t i = 0; i < N_ELEMENTS(kept); i++) {
		json_t *v = json_object_get(set, kept[i]);

		if (v != NULL)
			(void)json_object_set(o, kept[i], v);
	}
	json_decref(set);
	free(email);
	return o;
}

static char *
identity_state(struct jmap_call *call)
{
	json_t *o = identity_object(call);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 14695981039346656037ull;

	jmap_state_add(&h, s, strlen(s));
	free(s);
	json_decref(o);
	return xasprintf("i%016llx", (unsigned long long)h);
}

static const char *const identity_props[] = { "id", "name", "email", "replyTo", "bcc",
	"textSignature", "htmlSignature", "mayDelete", NULL };

/* RFC 8620 §5.1 over the one identity. */
void
jmap_identity_get(struct jmap_call *call)
{
	json_t *ids = json_object_get(call->args, "ids");
	json_t *props = json_object_get(call->args, "properties");
	json_t *list, *nf, *o, *id;
	size_t i;

	if (!jmap_check_account(call) || !jmap_check_ids(call, ids) ||
	    !jmap_check_properties(call, props, identity_props))
		return;
	list = json_array();
	nf = json_array();
	o = identity_object(call);
	if (props != NULL && !json_is_null(props)) {
		json_t *f = json_pack("{s:s}", "id", IDENTITY_ID);
		const char *k;
		json_t *v;

		json_object_foreach(o, k, v)
			if (jmap_want(props, k))
				(void)json_object_set(f, k, v);
		json_decref(o);
		o = f;
	}
	if (ids == NULL || json_is_null(ids)) {
		(void)json_array_append(list, o);
	} else {
		bool added = false;

		json_array_foreach(ids, i, id) {
			if (strcmp(json_string_value(id), IDENTITY_ID) == 0 && !added) {
				(void)json_array_append(list, o);
				added = true;
			} else if (strcmp(json_string_value(id), IDENTITY_ID) != 0) {
				(void)json_array_append(nf, id);
			}
		}
	}
	json_decref(o);
	{
		char *st = identity_state(call);

		call->result = json_pack("{s:s, s:s, s:o, s:o}", "accountId", call->account_id,
		    "state", st, "list", list, "notFound", nf);
		free(st);
	}
}

/* RFC 8620 §5.2: the identity is updated whenever its state differs. */
void
jmap_identity_changes(struct jmap_call *call)
{
	const char *since;
	json_int_t max;
	char *st;

	if (!jmap_changes_args(call, &since, &max))
		return;
	st = identity_state(call);
	if (since[0] != 'i' || strlen(since) != strlen(st)) {
		free(st);
		jmap_set_error(call, "cannotCalculateChanges", NULL);
		return;
	}
	call->result = json_pack("{s:s, s:s, s:s, s:b, s:[], s:[], s:[]}", "accountId",
	    call->account_id, "oldState", since, "newState", st, "hasMoreChanges", 0,
	    "created", "updated", "destroyed");
	if (strcmp(since, st) != 0)
		(void)json_array_append_new(json_object_get(call->result, "updated"),
		    json_string(IDENTITY_ID));
	free(st);
}

/* An EmailAddress[] or null, as Identity's replyTo and bcc (bounded). */
static bool
address_list_ok(json_t *v)
{
	size_t i;
	json_t *a;

	if (json_is_null(v))
		return true;
	if (!json_is_array(v) || json_array_size(v) > 100)
		return false;
	json_array_foreach(v, i, a) {
		json_t *n = json_object_get(a, "name"), *e = json_object_get(a, "email");

		if (!json_is_object(a) || json_object_size(a) > 2 || !json_is_string(e) ||
		    json_string_length(e) > ADDR_MAX ||
		    (n != NULL && !json_is_null(n) && (!json_is_string(n) ||
		    json_string_length(n) > IDENTITY_TEXT_MAX)))
			return false;
	}
	return true;
}

/* Write the settings (tmp, fsync, rename). */
static int
identity_settings_write(struct jmap_call *call, json_t *set)
{
	char *path = identity_path(call), *tmp = xasprintf("%s.tmp", path);
	char *s = json_dumps(set, JSON_COMPACT);
	int fd, ret = 0;
	bool ok;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ok = fd >= 0 && s != NULL && write(fd, s, strlen(s)) == (ssize_t)strlen(s) &&
	    fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		log_error("jmap identity user=%s path=%s error=%s", call->user, path,
		    strerror(errno));
		(void)unlink(tmp);
		ret = -1;
	}
	free(s);
	free(tmp);
	free(path);
	return ret;
}

/*
 * RFC 8621 §6.3: the identity is the server's (no create, no destroy, email fixed);
 * name, replyTo, bcc and the signatures may be updated (kept in IDENTITY_FILE).
 */
void
jmap_identity_set(struct jmap_call *call)
{
	json_t *create = json_object_get(call->args, "create");
	json_t *update = json_object_get(call->args, "update");
	json_t *destroy = json_object_get(call->args, "destroy");
	json_t *nc = json_object(), *nu = json_object(), *nd = json_object(), *upd = json_object();
	char *old, *st;
	const char *k;
	json_t *v;
	size_t i;

	if (!jmap_check_account(call))
		goto bad;
	if ((create != NULL && !json_is_null(create) && !json_is_object(create)) ||
	    (update != NULL && !json_is_null(update) && !json_is_object(update)) ||
	    (destroy != NULL && !json_is_null(destroy) && !json_is_array(destroy))) {
		jmap_set_error(call, "invalidArguments", "create, update, destroy");
		goto bad;
	}
	old = identity_state(call);
	if (!jmap_if_in_state(call, old)) {
		free(old);
		goto bad;
	}
	json_object_foreach(create, k, v)
		(void)json_object_set_new(nc, k, json_pack("{s:s, s:s}", "type", "forbidden",
		    "description", "identities are the server's"));
	json_array_foreach(destroy, i, v)
		if (json_is_string(v))
			(void)json_object_set_new(nd, json_string_value(v), json_pack("{s:s}",
			    "type", strcmp(json_string_value(v), IDENTITY_ID) == 0 ? "forbidden" :
			    "notFound"));
	json_object_foreach(update, k, v) {
		json_t *set, *bad = json_array();
		const char *pk;
		json_t *pv;

		if (strcmp(k, IDENTITY_ID) != 0) {
			json_decref(bad);
			(void)json_object_set_new(nu, k, json_pack("{s:s}", "type", "notFound"));
			continue;
		}
		if (!json_is_object(v)) {
			json_decref(bad);
			(void)json_object_set_new(nu, k, json_pack("{s:s}", "type",
			    "invalidPatch"));
			continue;
		}
		set = identity_settings(call);
		json_object_foreach(v, pk, pv) {
			bool ok;

			if (strcmp(pk, "name") == 0 || strcmp(pk, "textSignature") == 0 ||
			    strcmp(pk, "htmlSignature") == 0)
				ok = json_is_string(pv) && json_string_length(pv) <= IDENTITY_TEXT_MAX;
			else if (strcmp(pk, "replyTo") == 0 || strcmp(pk, "bcc") == 0)
				ok = address_list_ok(pv);
			else
				ok = false;	/* id, email, mayDelete are the server's */
			if (ok)
				(void)json_object_set(set, pk, pv);
			else
				(void)json_array_append_new(bad, json_string(pk));
		}
		if (json_array_size(bad) > 0)
			(void)json_object_set_new(nu, k, json_pack("{s:s, s:O}", "type",
			    "invalidProperties", "properties", bad));
		else if (identity_settings_write(call, set) < 0)
			(void)json_object_set_new(nu, k, json_pack("{s:s}", "type", "serverFail"));
		else
			(void)json_object_set_new(upd, k, json_null());
		json_decref(bad);
		json_decref(set);
	}
	st = identity_state(call);
	call->result = json_pack("{s:s, s:s, s:s, s:n, s:o, s:[], s:o, s:o, s:o}",
	    "accountId", call->account_id, "oldState", old, "newState", st, "created",
	    "updated", upd, "destroyed", "notCreated", nc, "notUpdated", nu,
	    "notDestroyed", nd);
	free(old);
	free(st);
	return;
bad:
	json_decref(nc);
	json_decref(nu);
	json_decref(nd);
	json_decref(upd);
}

/* ---------------------------------------------------------------- submission records */

/*
 * The submissions of this mail process, oldest first. A state is "S" + 8 hex digits of
 * this process (random) + "-" + the change counter in hex, so a state of an earlier
 * process cannot be taken for one of this one.
 */
struct sub_rec {
	char id[20];
	json_t *obj;		/* the EmailSubmission */
	uint64_t created;	/* change counter values */
	uint64_t destroyed;	/* 0: not destroyed */
};

static struct {
	struct sub_rec *v;
	size_t n;
	uint64_t seq;
	uint64_t floor;		/* changes at or below it are forgotten */
	char boot[9];
} S;

static void
subs_init(void)
{
	unsigned char r[4];

	if (S.boot[0] != '\0')
		return;
	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0x5a, sizeof(r));
	snprintf(S.boot, sizeof(S.boot), "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
}

static char *
subs_state(void)
{
	subs_init();
	return xasprintf("S%s-%llx", S.boot, (unsigned long long)S.seq);
}

/* The counter a state of this process names; false when it is not one. */
static bool
subs_state_parse(const char *s, uint64_t *seq_r)
{
	uint64_t v = 0;
	size_t n;

	subs_init();
	if (s == NULL || s[0] != 'S' || strncmp(s + 1, S.boot, 8) != 0 || s[9] != '-')
		return false;
	n = strlen(s + 10);
	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = hex_digit_value((unsigned char)s[10 + i]);

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (v > S.seq)
		return false;
	*seq_r = v;
	return true;
}

static void
subs_add(json_t *obj)
{
	subs_init();
	if (S.n >= JMAP_SUB_KEEP) {
		/* the oldest is forgotten: changes before it cannot be told */
		S.floor = MAX(S.floor, MAX(S.v[0].created, S.v[0].destroyed));
		json_decref(S.v[0].obj);
		memmove(S.v, S.v + 1, (S.n - 1) * sizeof(*S.v));
		S.n--;
	}
	if (S.v == NULL)
		S.v = xcalloc(JMAP_SUB_KEEP, sizeof(*S.v));
	memset(&S.v[S.n], 0, sizeof(S.v[S.n]));
	snprintf(S.v[S.n].id, sizeof(S.v[S.n].id), "%s",
	    json_string_value(json_object_get(obj, "id")));
	S.v[S.n].obj = json_incref(obj);
	S.v[S.n].created = ++S.seq;
	S.n++;
}

static struct sub_rec *
subs_find(const char *id)
{
	for (size_t i = 0; i < S.n; i++)
		if (S.v[i].destroyed == 0 && strcmp(S.v[i].id, id) == 0)
			return &S.v[i];
	return NULL;
}

/* ---------------------------------------------------------------- the message */

/* One header field of hdr[0..end) at *pos: name [ns, ne), value to the field's end. */
static bool
next_field(const unsigned char *m, size_t end, size_t *pos, size_t *ns, size_t *ne,
    size_t *vs, size_t *fe)
{
	size_t i = *pos;

	while (i < end) {
		const unsigned char *colon, *nl;
		size_t e;

		nl = memchr(m + i, '\n', end - i);
		e = nl != NULL ? (size_t)(nl - m) + 1 : end;
		/* continuation lines belong to the field before */
		while (e < end && (m[e] == ' ' || m[e] == '\t')) {
			nl = memchr(m + e, '\n', end - e);
			e = nl != NULL ? (size_t)(nl - m) + 1 : end;
		}
		colon = memchr(m + i, ':', e - i);
		if (colon == NULL || m[i] == ' ' || m[i] == '\t') {
			i = e;
			continue;
		}
		*ns = i;
		*ne = (size_t)(colon - m);
		*vs = *ne + 1;
		*fe = e;
		*pos = e;
		return true;
	}
	*pos = end;
	return false;
}

static bool
name_is(const unsigned char *m, size_t ns, size_t ne, const char *name)
{
	return mem_ieq((const char *)m + ns, ne - ns, name);
}

/* Is a a plain address that may go to sendmail (local@domain, bounded)? */
static bool
addr_valid(const char *a)
{
	const char *at = strrchr(a, '@');

	if (!deliver_addr_ok(a) || strlen(a) > ADDR_MAX || at == NULL || at == a ||
	    at[1] == '\0' || strchr(at + 1, '.') == NULL)
		return false;
	for (const char *p = a; *p != '\0'; p++)
		if (*p == '<' || *p == '>' || *p == ',' || *p == '(' || *p == ')' ||
		    *p == ';' || *p == '"' || *p == '\\' || *p == '[' || *p == ']')
			return false;
	return true;
}

/* The addresses of the fields named name... of the header into out (strings). */
static void
header_addresses(const unsigned char *m, size_t end, const char *const *names, json_t *out)
{
	size_t pos = 0, ns, ne, vs, fe;

	while (next_field(m, end, &pos, &ns, &ne, &vs, &fe)) {
		struct mail_address *list;
		unsigned count;
		bool want = false;
		char *v;

		for (const char *const *n = names; *n != NULL; n++)
			want = want || name_is(m, ns, ne, *n);
		if (!want)
			continue;
		v = xstrndup((const char *)m + vs, fe - vs);
		for (char *p = v; *p != '\0'; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
		mail_address_parse(v, strlen(v), JMAP_SUB_MAX_RCPTS + 1, &list, &count);
		free(v);
		for (unsigned i = 0; i < count; i++) {
			const struct mail_address *a = &list[i];
			json_t *j;
			char *e;

			if (a->group_start || a->group_end || a->mailbox == NULL)
				continue;
			if (json_array_size(out) > JMAP_SUB_MAX_RCPTS)
				break;
			/* no domain: kept as written, refused as an invalid recipient */
			e = a->host != NULL && strcmp(a->host, "MISSING_DOMAIN") != 0 ?
			    xasprintf("%s@%s", a->mailbox, a->host) : xstrdup(a->mailbox);
			/* an address that is not UTF-8 cannot be a JSON string: refused */
			j = json_string(e);
			(void)json_array_append_new(out, j != NULL ? j : json_string("(not UTF-8)"));
			free(e);
		}
		mail_address_list_free(&list, count);
	}
}

/* The message without its Bcc fields (RFC 8621 §7.5: they must not be sent). */
static void
strip_bcc(const unsigned char *m, size_t len, struct buf *out)
{
	bool complete;
	size_t end = mail_header_block_end(m, len, NULL, &complete), pos = 0, last = 0;
	size_t ns, ne, vs, fe;

	while (next_field(m, end, &pos, &ns, &ne, &vs, &fe)) {
		if (!name_is(m, ns, ne, "Bcc"))
			continue;
		(void)buf_append(out, m + last, ns - last);
		last = fe;
	}
	(void)buf_append(out, m + last, len - last);
}

/* ---------------------------------------------------------------- EmailSubmission/set */

struct sub_job;

/* One submission being sent. */
struct sub_child {
	struct sub_job *job;
	char *cid;		/* creation id */
	json_t *obj;		/* the EmailSubmission, complete once sent */
	struct deliver_sendmail_child *sm;
	bool done;
};

/* One EmailSubmission/set call. */
struct sub_job {
	struct jmap_call *call;	/* NULL once abandoned */
	json_t *created, *not_created, *not_updated, *destroyed, *not_destroyed;
	json_t *on_update, *on_destroy;	/* onSuccessUpdateEmail, onSuccessDestroyEmail */
	json_t *ok_ids;		/* submission id or "#cid" -> emailId, of what succeeded */
	char *old_state;
	struct sub_child *kids;
	size_t nkids;
	size_t left;
};

static char *
utc_now(void)
{
	char s[32];
	time_t now = time(NULL);
	struct tm tm;

	(void)gmtime_r(&now, &tm);
	(void)strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(s);
}

/* The Email's threadId and blobId through Email/get; 1 found, 0 not, -1 error. */
static int
email_lookup(struct jmap_call *call, const char *email_id, json_t **email_r)
{
	struct jmap_call g;
	json_t *list;

	memset(&g, 0, sizeof(g));
	g.mu = call->mu;
	g.account_id = call->account_id;
	g.user = call->user;
	g.home = call->home;
	g.base = call->base;
	g.caps = call->caps;
	g.created_ids = call->created_ids;
	g.args = json_pack("{s:s, s:[s], s:[s, s, s]}", "accountId", call->account_id, "ids",
	    email_id, "properties", "threadId", "blobId", "size");
	if (!jmap_mail_call("Email/get", JMAP_CAP_MAIL, &g) || g.result == NULL) {
		json_decref(g.args);
		json_decref(g.extra);
		/* an id Email/get refuses (invalidArguments) is no Email either */
		return g.error != NULL && strcmp(g.error, "serverFail") != 0 ? 0 : -1;
	}
	json_decref(g.args);
	list = json_object_get(g.result, "list");
	if (json_array_size(list) == 0) {
		json_decref(g.result);
		return 0;
	}
	*email_r = json_incref(json_array_get(list, 0));
	json_decref(g.result);
	return 1;
}

/* The message of the Email (blob "B" + its digits): malloc'd in *data_r. */
static int
email_read(struct jmap_call *call, const char *blob_id, unsigned char **data_r, size_t *len_r)
{
	char *d;
	int fd, r;

	if (jmap_mail_blob_open(call->mu, blob_id, &fd) <= 0)
		return -1;
	r = read_file_fd(fd, JMAP_SUB_MAX_SIZE, &d, len_r);
	close(fd);
	if (r != 1)
		return -1;
	*data_r = (unsigned char *)d;
	return 0;
}

static bool
addr_in(json_t *list, const char *a)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		if (str_ieq(json_string_value(e), a))
			return true;
	return false;
}

/* An Envelope's Address {email, parameters}: the email, or NULL when malformed. */
static const char *
envelope_address(json_t *a)
{
	json_t *e = json_object_get(a, "email"), *p = json_object_get(a, "parameters");

	/* (a NUL inside the JSON string would cut the address short) */
	if (!json_is_object(a) || !json_is_string(e) || json_string_length(e) > ADDR_MAX ||
	    strlen(json_string_value(e)) != json_string_length(e))
		return NULL;
	/* submissionExtensions is empty: no SMTP parameters */
	if (p != NULL && !json_is_null(p) && !(json_is_object(p) && json_object_size(p) == 0))
		return NULL;
	return json_string_value(e);
}

static void child_done(void *ctx, int r, const char *err);
static void job_finish(struct sub_job *job);

/*
 * Check one creation (RFC 8621 §7.5) and start its sendmail child; a SetError into
 * job->not_created otherwise.
 */
static void
create_one(struct sub_job *job, struct jmap_call *call, const char *cid, json_t *o,
    const char *me)
{
	static const char *const hdr_from[] = { "From", NULL };
	static const char *const hdr_sender[] = { "Sender", NULL };
	static const char *const hdr_rcpt[] = { "To", "Cc", "Bcc", NULL };
	const char *ident, *email_id, *k;
	json_t *v, *env, *email = NULL, *rcpts = NULL, *froms = NULL, *bad = NULL;
	const char *mail_from = NULL;
	unsigned char *msg = NULL;
	size_t len = 0, hend;
	struct buf out;
	bool complete;
	char err[256], *sent_at;
	const char **to = NULL;
	struct sub_child *kid;
	json_t *fail = NULL;
	unsigned char rnd[8];
	char id[20];
	int r;

	if (!json_is_object(o)) {
		fail = jmap_set_err("invalidProperties", NULL, "not an object");
		goto out;
	}
	bad = json_array();
	json_object_foreach(o, k, v)
		if (strcmp(k, "identityId") != 0 && strcmp(k, "emailId") != 0 &&
		    strcmp(k, "envelope") != 0)
			(void)json_array_append_new(bad, json_string(k));
	ident = json_string_value(json_object_get(o, "identityId"));
	email_id = json_string_value(json_object_get(o, "emailId"));
	if (ident == NULL || strcmp(ident, IDENTITY_ID) != 0)
		(void)json_array_append_new(bad, json_string("identityId"));
	if (email_id != NULL && email_id[0] == '#') {
		/* RFC 8620 §5.3: a creation id of an earlier call of this request */
		email_id = json_string_value(json_object_get(call->created_ids, email_id + 1));
	}
	if (email_id == NULL)
		(void)json_array_append_new(bad, json_string("emailId"));
	if (json_array_size(bad) > 0) {
		fail = json_pack("{s:s, s:O}", "type", "invalidProperties", "properties", bad);
		goto out;
	}
	if ((r = email_lookup(call, email_id, &email)) <= 0) {
		fail = r < 0 ? jmap_set_err("serverFail", NULL, NULL) :
		    jmap_set_err("invalidEmail", NULL, "no such Email");
		goto out;
	}
	if (json_integer_value(json_object_get(email, "size")) > JMAP_SUB_MAX_SIZE) {
		fail = json_pack("{s:s, s:I}", "type", "tooLarge", "maxSize",
		    (json_int_t)JMAP_SUB_MAX_SIZE);
		goto out;
	}
	if (email_read(call, json_string_value(json_object_get(email, "blobId")), &msg,
	    &len) < 0) {
		fail = jmap_set_err("serverFail", NULL, "the message cannot be read");
		goto out;
	}
	hend = mail_header_block_end(msg, len, NULL, &complete);
	/* the From field must be the identity's (forbiddenFrom) */
	froms = json_array();
	header_addresses(msg, hend, hdr_from, froms);
	if (json_array_size(froms) == 0) {
		fail = jmap_set_err("forbiddenFrom", NULL, "the message has no From address");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(froms); i++)
		if (!str_ieq(json_string_value(json_array_get(froms, i)), me)) {
			fail = jmap_set_err("forbiddenFrom", NULL, "From is not the identity's address");
			goto out;
		}
	env = json_object_get(o, "envelope");
	rcpts = json_array();
	if (env != NULL && !json_is_null(env)) {
		json_t *rt = json_object_get(env, "rcptTo");
		size_t i;

		mail_from = envelope_address(json_object_get(env, "mailFrom"));
		if (!json_is_object(env) || mail_from == NULL || !json_is_array(rt)) {
			fail = json_pack("{s:s, s:[s]}", "type", "invalidProperties",
			    "properties", "envelope");
			goto out;
		}
		if (json_array_size(rt) > JMAP_SUB_MAX_RCPTS) {
			fail = json_pack("{s:s, s:I}", "type", "tooManyRecipients",
			    "maxRecipients", (json_int_t)JMAP_SUB_MAX_RCPTS);
			goto out;
		}
		json_array_foreach(rt, i, v) {
			const char *a = envelope_address(v);

			if (a == NULL) {
				fail = json_pack("{s:s, s:[s]}", "type", "invalidProperties",
				    "properties", "envelope");
				goto out;
			}
			if (!addr_in(rcpts, a))
				(void)json_array_append_new(rcpts, json_string(a));
		}
	} else {
		/* §7: the Sender (else From) address, and To, Cc and Bcc deduplicated */
		json_t *s = json_array(), *all = json_array();
		size_t i;

		header_addresses(msg, hend, hdr_sender, s);
		mail_from = json_string_value(json_array_get(json_array_size(s) > 0 ? s : froms,
		    0));
		mail_from = mail_from != NULL ? xstrdup(mail_from) : NULL;
		header_addresses(msg, hend, hdr_rcpt, all);
		json_array_foreach(all, i, v)
			if (!addr_in(rcpts, json_string_value(v)))
				(void)json_array_append(rcpts, v);
		json_decref(s);
		json_decref(all);
		env = json_pack("{s:{s:s, s:n}, s:[]}", "mailFrom", "email",
		    mail_from != NULL ? mail_from : "", "parameters", "rcptTo");
		json_array_foreach(rcpts, i, v)
			(void)json_array_append_new(json_object_get(env, "rcptTo"),
			    json_pack("{s:O, s:n}", "email", v, "parameters"));
		free((char *)mail_from);
		mail_from = json_string_value(json_object_get(json_object_get(env,
		    "mailFrom"), "email"));
		(void)json_object_set_new(o, "envelope", env);
	}
	if (mail_from == NULL || !str_ieq(mail_from, me)) {
		fail = jmap_set_err("forbiddenMailFrom", NULL, "mailFrom is not the identity's address");
		goto out;
	}
	if (json_array_size(rcpts) > JMAP_SUB_MAX_RCPTS) {
		fail = json_pack("{s:s, s:I}", "type", "tooManyRecipients", "maxRecipients",
		    (json_int_t)JMAP_SUB_MAX_RCPTS);
		goto out;
	}
	if (json_array_size(rcpts) == 0) {
		fail = jmap_set_err("noRecipients", NULL, NULL);
		goto out;
	}
	{
		json_t *inv = json_array();
		size_t i;

		json_array_foreach(rcpts, i, v)
			if (!addr_valid(json_string_value(v)))
				(void)json_array_append(inv, v);
		if (json_array_size(inv) > 0) {
			fail = json_pack("{s:s, s:o}", "type", "invalidRecipients",
			    "invalidRecipients", inv);
			goto out;
		}
		json_decref(inv);
	}
	if (call->mu->cfg->sendmail_path == NULL || call->mu->cfg->sendmail_path[0] != '/') {
		fail = jmap_set_err("forbiddenToSend", NULL, "the server has no sendmail_path");
		goto out;
	}
	to = xcalloc(json_array_size(rcpts), sizeof(*to));
	for (size_t i = 0; i < json_array_size(rcpts); i++)
		to[i] = json_string_value(json_array_get(rcpts, i));
	buf_init(&out, BUF_UNLIMITED);
	strip_bcc(msg, len, &out);
	kid = &job->kids[job->nkids];
	memset(kid, 0, sizeof(*kid));
	kid->job = job;
	kid->sm = deliver_sendmail_start(call->base, call->mu->cfg->sendmail_path, mail_from,
	    to, json_array_size(rcpts), (const unsigned char *)out.data, out.len, child_done,
	    kid, err, sizeof(err));
	buf_deinit(&out);
	if (kid->sm == NULL) {
		log_error("jmap submission user=%s error=\"%s\"", call->user, err);
		fail = jmap_set_err("serverFail", NULL, "the message could not be handed to the MTA");
		goto out;
	}
	job->nkids++;
	job->left++;
	kid->cid = xstrdup(cid);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		panic("jmap: RAND_bytes failed");
	snprintf(id, sizeof(id), "S%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
	    rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	sent_at = utc_now();
	kid->obj = json_pack("{s:s, s:s, s:s, s:O?, s:O, s:s, s:s, s:n, s:[], s:[]}", "id", id,
	    "identityId", IDENTITY_ID, "emailId", email_id, "threadId",
	    json_object_get(email, "threadId"), "envelope", json_object_get(o, "envelope"),
	    "sendAt", sent_at, "undoStatus", "final", "deliveryStatus", "dsnBlobIds",
	    "mdnBlobIds");
	free(sent_at);
	log_info("jmap submission user=%s id=%s rcpts=%zu size=%zu", call->user, id,
	    json_array_size(rcpts), len);
out:
	if (fail != NULL)
		(void)json_object_set_new(job->not_created, cid, fail);
	free(to);
	free(msg);
	json_decref(bad);
	json_decref(email);
	json_decref(rcpts);
	json_decref(froms);
}

/* sendmail exited (from the event loop). */
static void
child_done(void *ctx, int r, const char *err)
{
	struct sub_child *kid = ctx;
	struct sub_job *job = kid->job;

	kid->done = true;
	kid->sm = NULL;
	if (r == 0) {
		json_t *ds = json_object(), *rt;
		size_t i;
		json_t *v;

		/* RFC 8621 §7: accepted by the MTA, its fate past that unknown */
		rt = json_object_get(json_object_get(kid->obj, "envelope"), "rcptTo");
		json_array_foreach(rt, i, v)
			(void)json_object_set_new(ds, json_string_value(json_object_get(v,
			    "email")), json_pack("{s:s, s:s, s:s}", "smtpReply",
			    "250 2.0.0 Accepted by sendmail", "delivered", "queued", "displayed",
			    "unknown"));
		(void)json_object_set_new(kid->obj, "deliveryStatus", ds);
		subs_add(kid->obj);
		(void)json_object_set_new(job->created, kid->cid, json_pack("{s:O, s:O, s:O, "
		    "s:O, s:O, s:O}", "id", json_object_get(kid->obj, "id"), "threadId",
		    json_object_get(kid->obj, "threadId"), "envelope",
		    json_object_get(kid->obj, "envelope"), "sendAt", json_object_get(kid->obj,
		    "sendAt"), "undoStatus", json_object_get(kid->obj, "undoStatus"),
		    "deliveryStatus", ds));
		{
			char *ref = xasprintf("#%s", kid->cid);

			(void)json_object_set(job->ok_ids, ref, json_object_get(kid->obj,
			    "emailId"));
			free(ref);
		}
		log_info("jmap submission id=%s sent", json_string_value(json_object_get(kid->obj,
		    "id")));
	} else {
		log_error("jmap submission id=%s not sent: %s",
		    json_string_value(json_object_get(kid->obj, "id")), err);
		(void)json_object_set_new(job->not_created, kid->cid, jmap_set_err("serverFail", NULL,
		    "the MTA did not accept the message"));
	}
	if (--job->left == 0)
		job_finish(job);
}

static void
job_free(struct sub_job *job)
{
	for (size_t i = 0; i < job->nkids; i++) {
		if (job->kids[i].sm != NULL)
			deliver_sendmail_detach(job->kids[i].sm);
		free(job->kids[i].cid);
		json_decref(job->kids[i].obj);
	}
	free(job->kids);
	json_decref(job->created);
	json_decref(job->not_created);
	json_decref(job->not_updated);
	json_decref(job->destroyed);
	json_decref(job->not_destroyed);
	json_decref(job->on_update);
	json_decref(job->on_destroy);
	json_decref(job->ok_ids);
	free(job->old_state);
	free(job);
}

/*
 * RFC 8621 §7.5: after the submissions, onSuccessUpdateEmail / onSuccessDestroyEmail
 * as an implicit Email/set (its response follows, with the same call id).
 */
static void
implicit_email_set(struct sub_job *job, struct jmap_call *call)
{
	json_t *upd = json_object(), *des = json_array(), *v;
	struct jmap_call sc;
	const char *k;
	size_t i;

	json_object_foreach(job->on_update, k, v) {
		json_t *eid = json_object_get(job->ok_ids, k);

		if (json_is_string(eid))
			(void)json_object_set(upd, json_string_value(eid), v);
	}
	json_array_foreach(job->on_destroy, i, v) {
		json_t *eid = json_is_string(v) ? json_object_get(job->ok_ids,
		    json_string_value(v)) : NULL;

		if (json_is_string(eid))
			(void)json_array_append(des, eid);
	}
	if (json_object_size(upd) == 0 && json_array_size(des) == 0) {
		json_decref(upd);
		json_decref(des);
		return;
	}
	memset(&sc, 0, sizeof(sc));
	sc.mu = call->mu;
	sc.account_id = call->account_id;
	sc.base = call->base;
	sc.user = call->user;
	sc.home = call->home;
	sc.caps = call->caps;
	sc.created_ids = call->created_ids;
	sc.args = json_pack("{s:s}", "accountId", call->account_id);
	if (json_object_size(upd) > 0)
		(void)json_object_set(sc.args, "update", upd);
	if (json_array_size(des) > 0)
		(void)json_object_set(sc.args, "destroy", des);
	if (call->extra == NULL)
		call->extra = json_array();
	if (!jmap_mail_call("Email/set", call->caps, &sc))
		(void)json_array_append_new(call->extra, json_pack("[s, {s:s}]", "error",
		    "type", "unknownMethod"));
	else if (sc.result == NULL)
		(void)json_array_append_new(call->extra, json_pack("[s, {s:s}]", "error",
		    "type", sc.error != NULL ? sc.error : "serverFail"));
	else
		(void)json_array_append_new(call->extra, json_pack("[s, o]", "Email/set",
		    sc.result));
	json_decref(sc.extra);	/* an implicit call's own implicit calls: none */
	json_decref(sc.args);
	json_decref(upd);
	json_decref(des);
}

/* Every submission of the call is done: the response, then the call resumes. */
static void
job_finish(struct sub_job *job)
{
	struct jmap_call *call = job->call;
	char *st;

	if (call == NULL) {
		job_free(job);
		return;
	}
	call->wait_state = NULL;
	st = subs_state();
	call->result = json_pack("{s:s, s:s, s:s, s:O, s:n, s:O, s:O, s:n, s:O}",
	    "accountId", call->account_id, "oldState", job->old_state, "newState", st,
	    "created", job->created, "updated", "destroyed", job->destroyed, "notCreated",
	    job->not_created, "notUpdated", "notDestroyed", job->not_destroyed);
	free(st);
	if (json_object_size(job->not_updated) > 0)
		(void)json_object_set(call->result, "notUpdated", job->not_updated);
	if (json_object_size(job->created) == 0)
		(void)json_object_set_new(call->result, "created", json_null());
	implicit_email_set(job, call);
	if (call->waiting) {
		job_free(job);
		call->resume(call->resume_ctx);
		return;
	}
	job_free(job);
}

/* The connection is gone (jmap_call.abandon). */
static void
job_abandon(struct jmap_call *call)
{
	struct sub_job *job = call->wait_state;

	if (job == NULL)
		return;
	/* the children run to their end and are recorded; nobody hears of them */
	job->call = NULL;
	call->wait_state = NULL;
}

void
jmap_submission_set(struct jmap_call *call)
{
	json_t *create = json_object_get(call->args, "create");
	json_t *update = json_object_get(call->args, "update");
	json_t *destroy = json_object_get(call->args, "destroy");
	json_t *onu = json_object_get(call->args, "onSuccessUpdateEmail");
	json_t *ond = json_object_get(call->args, "onSuccessDestroyEmail");
	struct sub_job *job;
	char *me;
	const char *k;
	json_t *v;
	size_t i;

	if (!jmap_check_account(call))
		return;
	if ((create != NULL && !json_is_null(create) && !json_is_object(create)) ||
	    (update != NULL && !json_is_null(update) && !json_is_object(update)) ||
	    (destroy != NULL && !json_is_null(destroy) && !json_is_array(destroy)) ||
	    (onu != NULL && !json_is_null(onu) && !json_is_object(onu)) ||
	    (ond != NULL && !json_is_null(ond) && !json_is_array(ond))) {
		jmap_set_error(call, "invalidArguments", NULL);
		return;
	}
	if (json_object_size(create) + json_object_size(update) + json_array_size(destroy) >
	    JMAP_SUB_MAX_CREATE || json_object_size(onu) > JMAP_SUB_MAX_CREATE ||
	    json_array_size(ond) > JMAP_SUB_MAX_CREATE) {
		jmap_set_error(call, "requestTooLarge", NULL);
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->old_state = subs_state();
	if (!jmap_if_in_state(call, job->old_state)) {
		free(job->old_state);
		free(job);
		return;
	}
	job->created = json_object();
	job->not_created = json_object();
	job->not_updated = json_object();
	job->destroyed = json_array();
	job->not_destroyed = json_object();
	job->ok_ids = json_object();
	job->on_update = onu != NULL && json_is_object(onu) ? json_incref(onu) : json_object();
	job->on_destroy = ond != NULL && json_is_array(ond) ? json_incref(ond) : json_array();
	job->kids = xcalloc(json_object_size(create) + 1, sizeof(*job->kids));
	/* undoStatus is final at once (maxDelayedSend 0): nothing can be changed */
	json_object_foreach(update, k, v)
		(void)json_object_set_new(job->not_updated, k, subs_find(k) == NULL ?
		    jmap_set_err("notFound", NULL, NULL) : jmap_set_err("cannotUnsend", NULL,
		    "the message was sent"));
	/* destroying a submission forgets the record (§7.5), the message stays sent */
	json_array_foreach(destroy, i, v) {
		struct sub_rec *r = json_is_string(v) ? subs_find(json_string_value(v)) : NULL;

		if (r == NULL) {
			if (json_is_string(v))
				(void)json_object_set_new(job->not_destroyed, json_string_value(v),
				    jmap_set_err("notFound", NULL, NULL));
			continue;
		}
		(void)json_object_set(job->ok_ids, r->id, json_object_get(r->obj, "emailId"));
		r->destroyed = ++S.seq;
		(void)json_array_append_new(job->destroyed, json_string(r->id));
	}
	me = identity_email(call->user);
	json_object_foreach(create, k, v)
		create_one(job, call, k, v, me);
	free(me);
	job->call = call;
	if (job->left == 0) {
		job_finish(job);
		return;
	}
	/* sendmail runs: the request waits for its exit (jmap_call in jmap.h) */
	call->waiting = true;
	call->wait_state = job;
	call->abandon = job_abandon;
}

/* ---------------------------------------------------------------- get, changes, query */

static const char *const sub_props[] = { "id", "identityId", "emailId", "threadId",
	"envelope", "sendAt", "undoStatus", "deliveryStatus", "dsnBlobIds", "mdnBlobIds",
	NULL };

static json_t *
sub_filtered(json_t *obj, json_t *props)
{
	json_t *o = json_object(), *v;
	const char *k;

	json_object_foreach(obj, k, v)
		if (strcmp(k, "id") == 0 || jmap_want(props, k))
			(void)json_object_set(o, k, v);
	return o;
}

void
jmap_submission_get(struct jmap_call *call)
{
	json_t *ids = json_object_get(call->args, "ids");
	json_t *props = json_object_get(call->args, "properties");
	json_t *list, *nf, *id;
	char *st;
	size_t i;

	if (!jmap_check_account(call) || !jmap_check_ids(call, ids) ||
	    !jmap_check_properties(call, props, sub_props))
		return;
	list = json_array();
	nf = json_array();
	if (ids == NULL || json_is_null(ids)) {
		for (size_t k = 0; k < S.n; k++)
			if (S.v[k].destroyed == 0)
				(void)json_array_append_new(list, sub_filtered(S.v[k].obj, props));
	} else {
		json_array_foreach(ids, i, id) {
			struct sub_rec *r = subs_find(json_string_value(id));

			if (r != NULL)
				(void)json_array_append_new(list, sub_filtered(r->obj, props));
			else
				(void)json_array_append(nf, id);
		}
	}
	st = subs_state();
	call->result = json_pack("{s:s, s:s, s:o, s:o}", "accountId", call->account_id,
	    "state", st, "list", list, "notFound", nf);
	free(st);
}

/* RFC 8620 §5.2 from the change counters of the records. */
void
jmap_submission_changes(struct jmap_call *call)
{
	const char *since;
	json_int_t max;
	uint64_t from, upto;
	json_t *cr, *de;
	size_t n = 0;
	bool more = false;
	char *st;

	if (!jmap_changes_args(call, &since, &max))
		return;
	if (!subs_state_parse(since, &from) || from < S.floor) {
		jmap_set_error(call, "cannotCalculateChanges", NULL);
		return;
	}
	cr = json_array();
	de = json_array();
	upto = S.seq;
	/* changes in counter order, cut after maxChanges */
	for (uint64_t q = from + 1; q <= S.seq; q++) {
		for (size_t k = 0; k < S.n; k++) {
			struct sub_rec *r = &S.v[k];

			if (r->created == q && (r->destroyed == 0 || r->destroyed > S.seq)) {
				(void)json_array_append_new(cr, json_string(r->id));
				n++;
			} else if (r->destroyed == q && r->created <= from) {
				(void)json_array_append_new(de, json_string(r->id));
				n++;
			}
		}
		if (max > 0 && (json_int_t)n >= max && q < S.seq) {
			upto = q;
			more = true;
			break;
		}
	}
	subs_init();
	st = xasprintf("S%s-%llx", S.boot, (unsigned long long)upto);
	call->result = json_pack("{s:s, s:s, s:s, s:b, s:o, s:[], s:o}", "accountId",
	    call->account_id, "oldState", since, "newState", st, "hasMoreChanges", more,
	    "created", cr, "updated", "destroyed", de);
	free(st);
}

/* Does the record match the FilterCondition f (RFC 8621 §7.3)? */
static bool
sub_match(json_t *obj, json_t *f)
{
	static const struct { const char *filter, *prop; } lists[] = {
		{ "identityIds", "identityId" }, { "emailIds", "emailId" },
		{ "threadIds", "threadId" },
	};
	const char *s, *when = json_string_value(json_object_get(obj, "sendAt"));

	for (size_t i = 0; i < N_ELEMENTS(lists); i++) {
		json_t *l = json_object_get(f, lists[i].filter);

		if (l != NULL && !addr_in(l, json_string_value(json_object_get(obj,
		    lists[i].prop))))
			return false;
	}
	if ((s = json_string_value(json_object_get(f, "undoStatus"))) != NULL &&
	    strcmp(s, "final") != 0)
		return false;
	/* UTCDates compare as strings */
	if ((s = json_string_value(json_object_get(f, "before"))) != NULL &&
	    strcmp(when, s) >= 0)
		return false;
	if ((s = json_string_value(json_object_get(f, "after"))) != NULL &&
	    strcmp(when, s) < 0)
		return false;
	return true;
}

void
jmap_submission_query(struct jmap_call *call)
{
	json_t *f = json_object_get(call->args, "filter");
	json_t *sort = json_object_get(call->args, "sort");
	json_int_t pos, limit;
	json_t *ids, *all;
	bool desc = false, total;
	const char *k;
	json_t *v;
	char *st;

	if (!jmap_check_account(call))
		return;
	if (f != NULL && !json_is_null(f)) {
		if (!json_is_object(f) || json_object_get(f, "operator") != NULL) {
			jmap_set_error(call, "unsupportedFilter", NULL);
			return;
		}
		json_object_foreach(f, k, v) {
			bool list = strcmp(k, "identityIds") == 0 || strcmp(k, "emailIds") == 0 ||
			    strcmp(k, "threadIds") == 0;

			if (list ? !json_is_array(v) : (strcmp(k, "undoStatus") != 0 &&
			    strcmp(k, "before") != 0 && strcmp(k, "after") != 0) ||
			    !json_is_string(v)) {
				jmap_set_error(call, "unsupportedFilter", NULL);
				return;
			}
		}
	}
	/* sort: sentAt only (the order of sending) */
	if (sort != NULL && !json_is_null(sort)) {
		json_t *c = json_array_get(sort, 0);
		json_t *asc = json_object_get(c, "isAscending");

		if (!json_is_array(sort) || json_array_size(sort) > 1 ||
		    (json_array_size(sort) == 1 && !mem_ieq("sentAt", 6,
		    json_string_value(json_object_get(c, "property")) != NULL ?
		    json_string_value(json_object_get(c, "property")) : ""))) {
			jmap_set_error(call, "unsupportedSort", NULL);
			return;
		}
		desc = asc != NULL && json_is_false(asc);
	}
	if (!jmap_json_uint(json_object_get(call->args, "position"), 0, &pos) ||
	    !jmap_json_uint(json_object_get(call->args, "limit"), JMAP_SUB_KEEP, &limit) ||
	    json_object_get(call->args, "anchor") != NULL) {
		jmap_set_error(call, "invalidArguments", "position, limit (no anchor)");
		return;
	}
	total = json_is_true(json_object_get(call->args, "calculateTotal"));
	all = json_array();
	for (size_t i = 0; i < S.n; i++) {
		size_t k2 = desc ? S.n - 1 - i : i;

		if (S.v[k2].destroyed == 0 && (f == NULL || json_is_null(f) ||
		    sub_match(S.v[k2].obj, f)))
			(void)json_array_append_new(all, json_string(S.v[k2].id));
	}
	ids = json_array();
	for (size_t i = (size_t)pos; i < json_array_size(all) &&
	    json_array_size(ids) < (size_t)limit; i++)
		(void)json_array_append(ids, json_array_get(all, i));
	st = subs_state();
	call->result = json_pack("{s:s, s:s, s:b, s:I, s:o}", "accountId", call->account_id,
	    "queryState", st, "canCalculateChanges", 0, "position", pos, "ids", ids);
	if (total)
		(void)json_object_set_new(call->result, "total",
		    json_integer((json_int_t)json_array_size(all)));
	json_decref(all);
	free(st);
}
