/*
 * jmap_vacation.c — VacationResponse (RFC 8621 §8) as Sieve (docs/jmap.md, "Vacation"):
 * the object is kept as the script jmap-vacation in sieve_dir, written whole by buzon
 * (its first line holds the object as JSON, which is all that is read back: a user's
 * own scripts are never parsed here). The active script (sieve_script) becomes a link
 * to the wrapper buzon-jmap.sieve, which includes jmap-vacation and then the user's
 * active script, so the user's filters keep running unchanged; the script store
 * (src/mailproc/sieve_store.h) keeps the wrapper in step when another script is
 * activated. Runs as the mailbox owner; every value of the request is untrusted,
 * bounded, and quoted into the script.
 */
#include "jmap/jmap_local.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_user.h"
#include "mailproc/sieve_store.h"
#include "sieve/sieve.h"

#define VAC_MAGIC	"# buzon JMAP VacationResponse: "
#define VAC_TEXT_MAX	(64 * 1024)	/* textBody, htmlBody */
#define VAC_SUBJECT_MAX	998
#define VAC_FILE_MAX	(512 * 1024)

struct vac_paths {
	struct sieve_store *st;
	char *script;		/* sieve_dir/jmap-vacation.sieve */
};

/* false when Sieve is not configured for the user (no sieve_dir or sieve_script). */
static bool
vac_paths(struct jmap_call *call, struct vac_paths *p)
{
	memset(p, 0, sizeof(*p));
	if ((p->st = sieve_store_open(call->mu->cfg, call->home, true)) == NULL)
		return false;
	p->script = xasprintf("%s/" SIEVE_STORE_VACATION ".sieve", p->st->dir);
	return true;
}

static void
vac_paths_free(struct vac_paths *p)
{
	sieve_store_close(&p->st);
	free(p->script);
}

static json_t *
vac_default(void)
{
	return json_pack("{s:s, s:b, s:n, s:n, s:n, s:n, s:n}", "id", "singleton",
	    "isEnabled", 0, "fromDate", "toDate", "subject", "textBody", "htmlBody");
}

/* The stored object: the JSON of the vacation script's first line, or the default. */
static json_t *
vac_load(const struct vac_paths *p)
{
	json_t *v = NULL, *d = vac_default();
	char *line = NULL, *nl;
	size_t len;

	if (sieve_store_read(p->st, SIEVE_STORE_VACATION, VAC_FILE_MAX, &line, &len) == 1 &&
	    (nl = memchr(line, '\n', len)) != NULL &&
	    strncmp(line, VAC_MAGIC, strlen(VAC_MAGIC)) == 0) {
		json_error_t e;

		v = json_loadb(line + strlen(VAC_MAGIC), (size_t)(nl - line) - strlen(VAC_MAGIC),
		    JSON_REJECT_DUPLICATES, &e);
	}
	free(line);
	if (v != NULL && json_is_object(v)) {
		const char *k;
		json_t *x;

		/* only the known properties, of the right types, are taken */
		json_object_foreach(d, k, x) {
			json_t *s = json_object_get(v, k);

			if (strcmp(k, "id") == 0 || s == NULL)
				continue;
			if ((strcmp(k, "isEnabled") == 0 && json_is_boolean(s)) ||
			    (strcmp(k, "isEnabled") != 0 && (json_is_string(s) || json_is_null(s))))
				(void)json_object_set(d, k, s);
		}
	}
	json_decref(v);
	return d;
}

/* "2026-12-06T20:00:00Z" -> "2026-12-06T20:00:00" (a UTCDate, RFC 8620 §1.4). */
static bool
utc_date_ok(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";

	if (s == NULL || strlen(s) != sizeof(pat) - 1)
		return false;
	for (size_t i = 0; i < sizeof(pat) - 1; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return false;
	return true;
}

/* The vacation reason: text, or (with HTML) a MIME entity for :mime (RFC 5230 §4.7). */
static void
vac_reason(struct buf *b, const char *text, const char *html, bool *mime_r)
{
	unsigned char r[12];
	char bnd[64];

	*mime_r = html != NULL;
	if (html == NULL) {
		sieve_store_quote(b, text != NULL ? text : "");
		return;
	}
	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0x3c, sizeof(r));
	snprintf(bnd, sizeof(bnd), "buzon-vacation-");
	for (unsigned i = 0; i < sizeof(r); i++)
		snprintf(bnd + strlen(bnd), sizeof(bnd) - strlen(bnd), "%02x", r[i]);
	{
		struct buf m;

		buf_init(&m, BUF_UNLIMITED);
		if (text != NULL) {
			buf_appendf(&m, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n"
			    "--%s\nContent-Type: text/plain; charset=utf-8\n"
			    "Content-Transfer-Encoding: 8bit\n\n", bnd, bnd);
			buf_append_str(&m, text);
			buf_appendf(&m, "\n--%s\nContent-Type: text/html; charset=utf-8\n"
			    "Content-Transfer-Encoding: 8bit\n\n", bnd);
			buf_append_str(&m, html);
			buf_appendf(&m, "\n--%s--\n", bnd);
		} else {
			buf_append_str(&m, "Content-Type: text/html; charset=utf-8\n"
			    "Content-Transfer-Encoding: 8bit\n\n");
			buf_append_str(&m, html);
		}
		(void)buf_append_c(&m, '\0');
		sieve_store_quote(b, m.data);
		buf_deinit(&m);
	}
}

/* The script for the object v (compiled before it is stored). */
static void
vac_script(struct buf *b, json_t *v)
{
	const char *from = json_string_value(json_object_get(v, "fromDate"));
	const char *to = json_string_value(json_object_get(v, "toDate"));
	const char *subject = json_string_value(json_object_get(v, "subject"));
	char *js = json_dumps(v, JSON_COMPACT);
	bool mime;

	buf_appendf(b, VAC_MAGIC "%s\n", js);
	free(js);
	buf_append_str(b, "# Written by buzon for JMAP VacationResponse/set: not to be edited.\n");
	if (!json_is_true(json_object_get(v, "isEnabled")))
		return;
	buf_append_str(b, "require [\"vacation\", \"date\", \"relational\"];\n");
	if (from != NULL || to != NULL) {
		/* RFC 5260 §5: iso8601 in UTC; "...+00:00" compares after "...:SS" at equal time */
		buf_append_str(b, "if allof(");
		if (from != NULL)
			buf_appendf(b, "currentdate :zone \"+0000\" :value \"ge\" \"iso8601\" "
			    "\"%.19s\"%s", from, to != NULL ? ", " : "");
		if (to != NULL)
			buf_appendf(b, "currentdate :zone \"+0000\" :value \"lt\" \"iso8601\" "
			    "\"%.19s\"", to);
		buf_append_str(b, ") {\n");
	} else {
		buf_append_str(b, "if true {\n");
	}
	buf_append_str(b, "  vacation");
	if (subject != NULL) {
		buf_append_str(b, " :subject ");
		sieve_store_quote(b, subject);
	}
	buf_append_str(b, " :handle \"jmap-vacation\"");
	{
		struct buf reason;

		buf_init(&reason, BUF_UNLIMITED);
		vac_reason(&reason, json_string_value(json_object_get(v, "textBody")),
		    json_string_value(json_object_get(v, "htmlBody")), &mime);
		if (mime)
			buf_append_str(b, " :mime");
		(void)buf_append_c(b, ' ');
		(void)buf_append(b, reason.data, reason.len);
		buf_deinit(&reason);
	}
	buf_append_str(b, ";\n}\n");
}

static bool
compiles(const struct vac_paths *p, const struct buf *b)
{
	char *msg;
	bool ok = sieve_store_check(p->st, b->data, b->len, "\n", &msg);

	free(msg);
	return ok;
}

static char *
vac_state(json_t *v, bool active)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 14695981039346656037ull;

	jmap_state_add(&h, s, strlen(s));
	jmap_state_add(&h, active ? "1" : "0", 1);
	free(s);
	return xasprintf("v%016llx", (unsigned long long)h);
}

/* The object as get shows it: enabled only while the wrapper is the active script. */
static json_t *
vac_current(const struct vac_paths *p, bool ok, char **state_r)
{
	json_t *v = ok ? vac_load(p) : vac_default();
	bool active = ok && sieve_store_wrapped(p->st);

	if (!active)
		(void)json_object_set_new(v, "isEnabled", json_false());
	*state_r = vac_state(v, active);
	return v;
}

static const char *const vac_props[] = { "id", "isEnabled", "fromDate", "toDate",
	"subject", "textBody", "htmlBody", NULL };

void
jmap_vacation_get(struct jmap_call *call)
{
	json_t *ids = json_object_get(call->args, "ids");
	json_t *props = json_object_get(call->args, "properties");
	struct vac_paths p;
	json_t *list, *nf, *v, *id;
	bool ok;
	char *st;
	size_t i;

	if (!jmap_check_account(call) || !jmap_check_ids(call, ids) ||
	    !jmap_check_properties(call, props, vac_props))
		return;
	ok = vac_paths(call, &p);
	v = vac_current(&p, ok, &st);
	if (props != NULL && !json_is_null(props)) {
		json_t *f = json_pack("{s:s}", "id", "singleton");
		const char *k;
		json_t *x;

		json_object_foreach(v, k, x)
			if (jmap_want(props, k))
				(void)json_object_set(f, k, x);
		json_decref(v);
		v = f;
	}
	list = json_array();
	nf = json_array();
	if (ids == NULL || json_is_null(ids)) {
		(void)json_array_append(list, v);
	} else {
		json_array_foreach(ids, i, id)
			if (strcmp(json_string_value(id), "singleton") == 0 &&
			    json_array_size(list) == 0)
				(void)json_array_append(list, v);
			else if (strcmp(json_string_value(id), "singleton") != 0)
				(void)json_array_append(nf, id);
	}
	json_decref(v);
	call->result = json_pack("{s:s, s:s, s:o, s:o}", "accountId", call->account_id,
	    "state", st, "list", list, "notFound", nf);
	free(st);
	if (ok)
		vac_paths_free(&p);
}

/* Apply the patch to v; the properties in error go into bad. */
static void
vac_patch(json_t *v, json_t *patch, json_t *bad)
{
	const char *k;
	json_t *x;

	json_object_foreach(patch, k, x) {
		bool ok;

		if (strcmp(k, "isEnabled") == 0)
			ok = json_is_boolean(x);
		else if (strcmp(k, "fromDate") == 0 || strcmp(k, "toDate") == 0)
			ok = json_is_null(x) || utc_date_ok(json_string_value(x));
		else if (strcmp(k, "subject") == 0)
			ok = json_is_null(x) || (json_is_string(x) &&
			    json_string_length(x) <= VAC_SUBJECT_MAX &&
			    strlen(json_string_value(x)) == json_string_length(x) &&
			    strpbrk(json_string_value(x), "\r\n") == NULL);
		else if (strcmp(k, "textBody") == 0 || strcmp(k, "htmlBody") == 0)
			ok = json_is_null(x) || (json_is_string(x) &&
			    json_string_length(x) <= VAC_TEXT_MAX &&
			    strlen(json_string_value(x)) == json_string_length(x));
		else
			ok = strcmp(k, "id") == 0 && json_is_string(x) &&
			    strcmp(json_string_value(x), "singleton") == 0;
		if (ok)
			(void)json_object_set(v, k, x);
		else
			(void)json_array_append_new(bad, json_string(k));
	}
}

/* RFC 8621 §8.2: only "singleton" is updated; create and destroy are refused. */
void
jmap_vacation_set(struct jmap_call *call)
{
	json_t *create = json_object_get(call->args, "create");
	json_t *update = json_object_get(call->args, "update");
	json_t *destroy = json_object_get(call->args, "destroy");
	json_t *nc, *nu, *nd, *upd, *cur, *x;
	struct vac_paths p;
	const char *k;
	char *old, *st;
	bool ok;
	size_t i;

	if (!jmap_check_account(call))
		return;
	if ((create != NULL && !json_is_null(create) && !json_is_object(create)) ||
	    (update != NULL && !json_is_null(update) && !json_is_object(update)) ||
	    (destroy != NULL && !json_is_null(destroy) && !json_is_array(destroy))) {
		jmap_set_error(call, "invalidArguments", "create, update, destroy");
		return;
	}
	ok = vac_paths(call, &p);
	cur = vac_current(&p, ok, &old);
	json_decref(cur);
	if (!jmap_if_in_state(call, old)) {
		free(old);
		if (ok)
			vac_paths_free(&p);
		return;
	}
	nc = json_object();
	nu = json_object();
	nd = json_object();
	upd = json_object();
	json_object_foreach(create, k, x)
		(void)json_object_set_new(nc, k, json_pack("{s:s, s:s}", "type", "singleton",
		    "description", "VacationResponse is a singleton"));
	json_array_foreach(destroy, i, x)
		if (json_is_string(x))
			(void)json_object_set_new(nd, json_string_value(x), json_pack("{s:s}",
			    "type", strcmp(json_string_value(x), "singleton") == 0 ? "singleton" :
			    "notFound"));
	json_object_foreach(update, k, x) {
		json_t *bad, *v;
		struct buf b;
		const char *why = NULL, *what = "compile";
		enum sieve_store_result wr = SIEVE_STORE_OK;

		if (strcmp(k, "singleton") != 0) {
			(void)json_object_set_new(nu, k, json_pack("{s:s}", "type", "notFound"));
			continue;
		}
		if (!json_is_object(x)) {
			(void)json_object_set_new(nu, k, json_pack("{s:s}", "type", "invalidPatch"));
			continue;
		}
		if (!ok) {
			(void)json_object_set_new(nu, k, json_pack("{s:s, s:s}", "type", "forbidden",
			    "description", "Sieve is not set up for this account"));
			continue;
		}
		v = vac_load(&p);
		bad = json_array();
		vac_patch(v, x, bad);
		if (json_array_size(bad) > 0) {
			(void)json_object_set_new(nu, k, json_pack("{s:s, s:o}", "type",
			    "invalidProperties", "properties", bad));
			json_decref(v);
			continue;
		}
		json_decref(bad);
		buf_init(&b, BUF_UNLIMITED);
		vac_script(&b, v);
		(void)mkdir(p.st->dir, 0700);
		/* the wrapper is needed only while the vacation is on */
		if (!compiles(&p, &b) ||
		    sieve_store_write_file(p.st, p.script, b.data, b.len, &what) < 0 ||
		    (json_is_true(json_object_get(v, "isEnabled")) &&
		    (wr = sieve_store_wrap(p.st, &what)) != SIEVE_STORE_OK)) {
			if (wr == SIEVE_STORE_FOREIGN || wr == SIEVE_STORE_NOLINK)
				why = "the active Sieve script is not a link into sieve_dir";
			else
				log_error("jmap vacation user=%s dir=%s error=\"%s: %s\"",
				    call->user, p.st->dir, what, strerror(errno));
			(void)json_object_set_new(nu, k, why != NULL ?
			    json_pack("{s:s, s:s}", "type", "forbidden", "description", why) :
			    json_pack("{s:s}", "type", "serverFail"));
		} else {
			log_info("jmap vacation user=%s enabled=%s", call->user,
			    json_is_true(json_object_get(v, "isEnabled")) ? "yes" : "no");
			(void)json_object_set_new(upd, k, json_null());
		}
		buf_deinit(&b);
		json_decref(v);
	}
	cur = vac_current(&p, ok, &st);
	json_decref(cur);
	call->result = json_pack("{s:s, s:s, s:s, s:n, s:o, s:[], s:o, s:o, s:o}",
	    "accountId", call->account_id, "oldState", old, "newState", st, "created",
	    "updated", upd, "destroyed", "notCreated", nc, "notUpdated", nu,
	    "notDestroyed", nd);
	free(old);
	free(st);
	if (ok)
		vac_paths_free(&p);
}
