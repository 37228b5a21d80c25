/*
 * deliver_sieve.c — Sieve at delivery (deliver_sieve.h): the active script found and
 * cached by (dev, inode, size, mtime), run through src/sieve, its actions turned into a
 * plan of folders; redirect and vacation are handed to sendmail (deliver_send.h). Runs
 * as the user in the mail process or `buzon deliver`; reads only the user's own script
 * (bounded by script_max) and appends to its bounded log file.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/message.h"
#include "mailproc/deliver_send.h"
#include "mailproc/deliver_sieve.h"
#include "mailproc/sieve_store.h"
#include "proto/mutf7.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"
#include "store/store.h"

/* One script file compiled once per version (dev, inode, size, mtime). */
struct script_cache {
	char *path;
	bool have;		/* a version of the file was looked at */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct sieve_script *script;	/* NULL: no such file, or it does not compile */
};

#define GLOBAL_SCRIPTS_MAX 32	/* scripts of one sieve_before / sieve_after directory */

struct deliver_sieve {
	char *path;		/* the active script, NULL if none is configured */
	char *dir;		/* sieve_dir: personal scripts for include */
	char *global_dir;	/* sieve_global_dir */
	char *before, *after;	/* sieve_before, sieve_after: a file or a directory */
	char *log_path;		/* path + ".log" */
	char *dup_path;		/* path + ".dupes" */
	char *vac_path;		/* path + ".vacation" */
	char *sendmail;		/* sendmail_path, NULL: redirect and vacation are not sent */
	bool reject_exit;	/* reject: the caller answers it (plan->reject) */
	bool defer_sends;	/* sendmail jobs go into plan->sends for the caller */
	const char *cur_path;	/* the script being run or carried out (for the logs) */
	bool cur_global;	/* it is a global one: nothing goes to the user's log */
	struct script_cache user;
	struct script_cache *globals;	/* before and after scripts seen, by path */
	unsigned nglobals;
	struct sieve_limits lim;
	struct sieve_exec_limits xl;
};

struct deliver_sieve *
deliver_sieve_create(const struct config *cfg, const char *home)
{
	struct deliver_sieve *ds = xcalloc(1, sizeof(*ds));

	if (cfg->sieve)
		ds->path = sieve_store_expand_home(cfg->sieve_script, home);
	if (ds->path != NULL) {
		ds->log_path = xasprintf("%s.log", ds->path);
		ds->dup_path = xasprintf("%s.dupes", ds->path);
		ds->vac_path = xasprintf("%s.vacation", ds->path);
	}
	ds->sendmail = cfg->sendmail_path != NULL ? xstrdup(cfg->sendmail_path) : NULL;
	ds->dir = sieve_store_expand_home(cfg->sieve_dir, home);
	ds->global_dir = cfg->sieve_global_dir != NULL ? xstrdup(cfg->sieve_global_dir) : NULL;
	if (cfg->sieve) {
		ds->before = cfg->sieve_before != NULL && cfg->sieve_before[0] == '/' ?
		    xstrdup(cfg->sieve_before) : NULL;
		ds->after = cfg->sieve_after != NULL && cfg->sieve_after[0] == '/' ?
		    xstrdup(cfg->sieve_after) : NULL;
	}
	ds->user.path = ds->path != NULL ? xstrdup(ds->path) : NULL;
	sieve_limits_default(&ds->lim);
	sieve_exec_limits_default(&ds->xl);
	return ds;
}

void
deliver_sieve_destroy(struct deliver_sieve **dsp)
{
	struct deliver_sieve *ds = *dsp;

	if (ds == NULL)
		return;
	sieve_script_destroy(&ds->user.script);
	free(ds->user.path);
	for (unsigned i = 0; i < ds->nglobals; i++) {
		sieve_script_destroy(&ds->globals[i].script);
		free(ds->globals[i].path);
	}
	free(ds->globals);
	free(ds->before);
	free(ds->after);
	free(ds->path);
	free(ds->dir);
	free(ds->global_dir);
	free(ds->log_path);
	free(ds->dup_path);
	free(ds->vac_path);
	free(ds->sendmail);
	free(ds);
	*dsp = NULL;
}

/* Append one line to the script's log, starting it afresh past DELIVER_SIEVE_LOG_MAX. */
static void
user_log(struct deliver_sieve *ds, const char *fmt, ...) PRINTF(2, 3);

static void
user_log(struct deliver_sieve *ds, const char *fmt, ...)
{
	struct stat st;
	struct buf b;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	int fd, flags = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC;

	if (ds->cur_global || ds->log_path == NULL)
		return;
	if (lstat(ds->log_path, &st) == 0 && st.st_size > DELIVER_SIEVE_LOG_MAX)
		flags |= O_TRUNC;
	fd = open(ds->log_path, flags, 0600);
	if (fd < 0) {
		log_warn("sieve log path=%s error=%s", ds->log_path, strerror(errno));
		return;
	}
	(void)localtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	buf_init(&b, 4096);
	buf_appendf(&b, "%s ", date);
	va_start(ap, fmt);
	(void)buf_vappendf(&b, fmt, ap);
	va_end(ap);
	if (buf_append_c(&b, '\n') < 0)
		b.data[b.len - 1] = '\n';
	if (write(fd, b.data, b.len) < 0)
		log_warn("sieve log path=%s error=%s", ds->log_path, strerror(errno));
	buf_deinit(&b);
	close(fd);
}

static char *
read_file(int fd, size_t max, size_t *len_r)
{
	size_t len = 0, cap = 4096;
	char *data = xmalloc(cap);

	while (len <= max) {
		ssize_t n;

		if (len == cap) {
			cap = MIN(cap * 2, max + 1);
			data = xrealloc(data, cap);
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0) {
				free(data);
				return NULL;
			}
			break;
		}
		len += (size_t)n;
	}
	*len_r = len;
	return data;
}

struct sieve_includes {
	char *dir[2];		/* personal, global */
	struct sieve_script **scripts;
	unsigned count;
	struct sieve_limits lim;
};

struct sieve_includes *
sieve_includes_create(const char *personal_dir, const char *global_dir)
{
	struct sieve_includes *inc = xcalloc(1, sizeof(*inc));

	inc->dir[0] = personal_dir != NULL ? xstrdup(personal_dir) : NULL;
	inc->dir[1] = global_dir != NULL ? xstrdup(global_dir) : NULL;
	sieve_limits_default(&inc->lim);
	return inc;
}

void
sieve_includes_destroy(struct sieve_includes **incp)
{
	struct sieve_includes *inc = *incp;

	if (inc == NULL)
		return;
	for (unsigned i = 0; i < inc->count; i++)
		sieve_script_destroy(&inc->scripts[i]);
	free(inc->scripts);
	free(inc->dir[0]);
	free(inc->dir[1]);
	free(inc);
	*incp = NULL;
}

static char *read_file(int fd, size_t max, size_t *len_r);

const struct sieve_script *
sieve_includes_load(void *ctx, bool global, const char *name, bool *exists_r, char *err,
    size_t errlen)
{
	struct sieve_includes *inc = ctx;
	const char *dir = inc->dir[global ? 1 : 0];
	struct sieve_errors errs;
	struct sieve_script *s;
	char *path, *text;
	size_t len;
	int fd;

	*exists_r = false;
	/* the compiler allowed no '/' and no control characters in name (RFC 6609 §3.2) */
	if (dir == NULL || name[0] == '\0' || name[0] == '.')
		return NULL;
	path = xasprintf("%s/%s.sieve", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	free(path);
	if (fd < 0) {
		*exists_r = errno != ENOENT;
		snprintf(err, errlen, "cannot be read: %s", strerror(errno));
		return NULL;
	}
	*exists_r = true;
	text = read_file(fd, inc->lim.script_max, &len);
	close(fd);
	if (text == NULL) {
		snprintf(err, errlen, "cannot be read");
		return NULL;
	}
	s = sieve_compile(text, len, &inc->lim, &errs);
	free(text);
	if (s == NULL)
		snprintf(err, errlen, "does not compile: line %u:%u: %s",
		    errs.count > 0 ? errs.list[0].line : 0, errs.count > 0 ? errs.list[0].col : 0,
		    errs.count > 0 ? errs.list[0].text : "?");
	sieve_errors_deinit(&errs);
	if (s == NULL)
		return NULL;
	inc->scripts = xreallocarray(inc->scripts, inc->count + 1, sizeof(*inc->scripts));
	inc->scripts[inc->count++] = s;
	return s;
}

/*
 * Compile sc's file. The user's script reports its errors to the user's log; a global
 * one (sieve_before / sieve_after) to the server log only: the user cannot fix it.
 */
static void
compile(struct deliver_sieve *ds, struct script_cache *sc, int fd, bool global)
{
	struct sieve_errors errs;
	size_t len;
	char *text = read_file(fd, ds->lim.script_max, &len);

	if (text == NULL) {
		log_error("sieve script=%s read error=%s", sc->path, strerror(errno));
		return;
	}
	sc->script = sieve_compile(text, len, &ds->lim, &errs);
	free(text);
	for (unsigned i = 0; i < errs.count; i++) {
		const struct sieve_error *e = &errs.list[i];

		if (global)
			log_error("sieve global script=%s line=%u:%u %s: %s", sc->path, e->line,
			    e->col, e->warning ? "warning" : "error", e->text);
		else
			user_log(ds, "%s: line %u:%u: %s: %s", sc->path, e->line, e->col,
			    e->warning ? "warning" : "error", e->text);
	}
	if (sc->script == NULL && global) {
		log_error("sieve global script=%s does not compile: skipped", sc->path);
	} else if (sc->script == NULL) {
		user_log(ds, "%s: error: the script does not compile: messages go to INBOX",
		    sc->path);
		log_error("sieve script=%s does not compile (%u errors, see %s)", sc->path,
		    errs.count - errs.warnings, ds->log_path);
	}
	sieve_errors_deinit(&errs);
}

/* The compiled script of sc, recompiled when the file changed; NULL if none. */
static const struct sieve_script *
cached_script(struct deliver_sieve *ds, struct script_cache *sc, bool global)
{
	struct stat st;
	int fd;

	if (sc->path == NULL)
		return NULL;
	/* the active script is usually a link into sieve_dir: follow it (as Pigeonhole) */
	fd = open(sc->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			log_error("sieve script=%s error=%s", sc->path, strerror(errno));
		sieve_script_destroy(&sc->script);
		sc->have = false;
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		log_error("sieve script=%s is not a regular file", sc->path);
		return NULL;
	}
	if (!sc->have || st.st_dev != sc->dev || st.st_ino != sc->ino ||
	    st.st_size != sc->size || st.st_mtim.tv_sec != sc->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != sc->mtime.tv_nsec) {
		sieve_script_destroy(&sc->script);
		compile(ds, sc, fd, global);
		sc->have = true;
		sc->dev = st.st_dev;
		sc->ino = st.st_ino;
		sc->size = st.st_size;
		sc->mtime = st.st_mtim;
	}
	close(fd);
	return sc->script;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The script files of a sieve_before / sieve_after value: the file itself, or the
 * "*.sieve" files of the directory in byte order of their names (as Pigeonhole), at most
 * GLOBAL_SCRIPTS_MAX. Appends malloc'd paths to paths[*n].
 */
static void
global_paths(const char *loc, char **paths, unsigned *n)
{
	char *names[GLOBAL_SCRIPTS_MAX];
	unsigned count = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (loc == NULL || stat(loc, &st) < 0) {
		if (loc != NULL && errno != ENOENT)
			log_error("sieve global script=%s error=%s", loc, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		paths[(*n)++] = xstrdup(loc);
		return;
	}
	d = opendir(loc);
	if (d == NULL) {
		log_error("sieve global dir=%s error=%s", loc, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= 6 || strcmp(de->d_name + len - 6, ".sieve") != 0)
			continue;
		if (count == GLOBAL_SCRIPTS_MAX) {
			log_error("sieve global dir=%s has more than %u scripts: the rest skipped",
			    loc, GLOBAL_SCRIPTS_MAX);
			break;
		}
		names[count++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, count, sizeof(names[0]), cmp_str);
	for (unsigned i = 0; i < count; i++) {
		paths[(*n)++] = xasprintf("%s/%s", loc, names[i]);
		free(names[i]);
	}
}

/* The cache entry of a global script path (created on first sight). */
static struct script_cache *
global_cache(struct deliver_sieve *ds, const char *path)
{
	struct script_cache *sc;

	for (unsigned i = 0; i < ds->nglobals; i++)
		if (strcmp(ds->globals[i].path, path) == 0)
			return &ds->globals[i];
	ds->globals = xreallocarray(ds->globals, ds->nglobals + 1, sizeof(*ds->globals));
	sc = &ds->globals[ds->nglobals++];
	memset(sc, 0, sizeof(*sc));
	sc->path = xstrdup(path);
	return sc;
}

void
deliver_sieve_reject_by_exit(struct deliver_sieve *ds)
{
	ds->reject_exit = true;
}

bool
deliver_sieve_active(const struct deliver_sieve *ds)
{
	struct stat st;

	return (ds->path != NULL && stat(ds->path, &st) == 0) ||
	    (ds->before != NULL && stat(ds->before, &st) == 0) ||
	    (ds->after != NULL && stat(ds->after, &st) == 0);
}

/* ---- the plan ---- */

static void
flag_word(struct deliver_target *t, const char *w, size_t len)
{
	static const struct { const char *name; uint8_t flag; } sys[] = {
		{ "\\Seen", MAILBOX_FLAG_SEEN }, { "\\Answered", MAILBOX_FLAG_ANSWERED },
		{ "\\Flagged", MAILBOX_FLAG_FLAGGED }, { "\\Deleted", MAILBOX_FLAG_DELETED },
		{ "\\Draft", MAILBOX_FLAG_DRAFT },
	};

	for (unsigned i = 0; i < N_ELEMENTS(sys); i++)
		if (mem_ieq(w, len, sys[i].name)) {
			t->flags |= sys[i].flag;
			return;
		}
	/* other system flags (\Recent) cannot be set; a keyword is an atom (RFC 3501 §9) */
	if (w[0] == '\\' || t->nkeywords >= 26)
		return;
	for (unsigned i = 0; i < t->nkeywords; i++)
		if (mem_ieq(w, len, t->keywords[i]))
			return;
	t->keywords = xreallocarray(t->keywords, t->nkeywords + 1, sizeof(*t->keywords));
	t->keywords[t->nkeywords++] = xstrndup(w, len);
}

/*
 * The store's name (modified UTF-7, as IMAP names it) of a Sieve mailbox name, which
 * RFC 5228 §2.7.2 and RFC 3501 §5.1.3 make UTF-8; a name that is already valid modified
 * UTF-7 (ASCII, "&" segments: scripts written for IMAP's names) is taken as it is.
 * Caller frees.
 */
static char *
sieve_mailbox_name(const char *name)
{
	size_t len = strlen(name);
	struct buf b;
	char *out;

	if (mutf7_is_valid(name, len) || !mutf7_utf8_is_valid(name, len))
		return xstrdup(name);
	buf_init(&b, 4 * len + 16);
	out = mutf7_from_utf8(name, len, &b) == 0 ? xstrdup(buf_cstr(&b)) : xstrdup(name);
	buf_deinit(&b);
	return out;
}

static void
add_target(struct deliver_plan *plan, const char *folder, bool create, const char *flags,
    bool merge)
{
	char *store_name = folder != NULL ? sieve_mailbox_name(folder) : NULL;
	struct deliver_target *t;

	t = NULL;
	for (unsigned i = 0; i < plan->count && t == NULL; i++) {
		const char *f = plan->targets[i].folder;

		if ((f == NULL && store_name == NULL) || (f != NULL && store_name != NULL &&
		    strcmp(f, store_name) == 0))
			t = &plan->targets[i];
	}
	/* the same folder again (keep in two scripts run in sequence): the flags add up */
	if (t != NULL) {
		t->create = t->create || create;
		if (!merge) {
			free(store_name);
			return;
		}
	} else {
		plan->targets = xreallocarray(plan->targets, plan->count + 1,
		    sizeof(*plan->targets));
		t = &plan->targets[plan->count++];
		memset(t, 0, sizeof(*t));
		t->folder = store_name;
		store_name = NULL;
		t->create = create;
	}
	for (const char *p = flags; p != NULL && *p != '\0';) {
		const char *e = p;

		while (*e != '\0' && *e != ' ')
			e++;
		if (e > p)
			flag_word(t, p, (size_t)(e - p));
		p = *e == ' ' ? e + 1 : e;
	}	free(store_name);
}

static const char *
action_name(enum sieve_action_type t)
{
	switch (t) {
	case SIEVE_ACT_REDIRECT: return "redirect";
	case SIEVE_ACT_REJECT: return "reject";
	case SIEVE_ACT_EREJECT: return "ereject";
	case SIEVE_ACT_VACATION: return "vacation";
	default: return "?";
	}
}

/*
 * What became of one message handed to sendmail (r 0 sent, -1 not, with err): logged;
 * a vacation sent is recorded; a redirect or rejection not sent keeps the message in
 * INBOX (it must not be lost).
 */
static void
send_result(struct deliver_sieve *ds, struct deliver_plan *plan,
    const struct deliver_send_job *j, int r, const char *err)
{
	const char *saved = ds->cur_path;
	bool saved_global = ds->cur_global;

	ds->cur_path = j->script;
	ds->cur_global = j->global;
	switch (j->kind) {
	case DELIVER_SEND_REDIRECT:
		if (r == 0) {
			log_info("sieve script=%s redirect to=%s sent", j->script, j->to);
			break;
		}
		log_error("sieve script=%s redirect to=%s not sent: %s: kept in INBOX", j->script,
		    j->to, err);
		user_log(ds, "%s: redirect to %s not sent (%s): the message is kept in INBOX",
		    j->script, j->to, err);
		add_target(plan, NULL, false, NULL, false);
		break;
	case DELIVER_SEND_VACATION:
		if (r == 0) {
			log_info("sieve script=%s vacation to=%s sent", j->script, j->to);
			(void)deliver_vacation_record(ds->vac_path, j->key, time(NULL));
			break;
		}
		log_error("sieve script=%s vacation to=%s not sent: %s", j->script, j->to, err);
		user_log(ds, "%s: vacation reply to %s not sent: %s", j->script, j->to, err);
		break;
	case DELIVER_SEND_REJECT:
		if (r == 0) {
			log_info("sieve script=%s reject to=%s sent", j->script, j->to);
			break;
		}
		log_info("sieve script=%s reject not sent: %s: kept in INBOX", j->script, err);
		user_log(ds, "%s: reject not sent (%s): the message is kept in INBOX", j->script,
		    err);
		add_target(plan, NULL, false, NULL, false);
		break;
	}
	ds->cur_path = saved;
	ds->cur_global = saved_global;
}

static void
send_job_free(struct deliver_send_job *j)
{
	free(j->from);
	free(j->to);
	free(j->script);
	free(j->data);
	memset(j, 0, sizeof(*j));
}

/*
 * Hand head + body to sendmail: now (blocking, `buzon deliver`), or, when the caller
 * sends (deliver_sieve_defer_sends), as a job in plan->sends whose result comes later
 * through deliver_sieve_sent.
 */
static void
do_send(struct deliver_sieve *ds, struct deliver_plan *plan, enum deliver_send_kind kind,
    const char *from, const char *to, const unsigned char *head, size_t hlen,
    const unsigned char *body, size_t blen, const unsigned char *key)
{
	struct deliver_send_job j = {
		.kind = kind, .from = xstrdup(from != NULL ? from : ""), .to = xstrdup(to),
		.script = xstrdup(ds->cur_path != NULL ? ds->cur_path : "?"),
		.global = ds->cur_global,
	};
	char err[256] = "";
	int r;

	if (key != NULL)
		memcpy(j.key, key, sizeof(j.key));
	if (ds->defer_sends && plan->nsends < DELIVER_SENDS_MAX) {
		j.len = hlen + blen;
		j.data = xmalloc(j.len + 1);
		if (hlen > 0)
			memcpy(j.data, head, hlen);
		if (blen > 0)
			memcpy(j.data + hlen, body, blen);
		plan->sends = xreallocarray(plan->sends, plan->nsends + 1, sizeof(*plan->sends));
		plan->sends[plan->nsends++] = j;
		return;
	}
	r = deliver_sendmail(ds->sendmail, from, to, head, hlen, body, blen, err, sizeof(err));
	send_result(ds, plan, &j, r, err);
	send_job_free(&j);
}

void
deliver_sieve_defer_sends(struct deliver_sieve *ds)
{
	ds->defer_sends = true;
}

const char *
deliver_sieve_sendmail_path(const struct deliver_sieve *ds)
{
	return ds->sendmail;
}

void
deliver_sieve_sent(struct deliver_sieve *ds, struct deliver_plan *plan, unsigned i, int r,
    const char *err)
{
	send_result(ds, plan, &plan->sends[i], r, err);
}

/* A send that failed before sendmail: logged as its result. */
static void
send_fail(struct deliver_sieve *ds, struct deliver_plan *plan, enum deliver_send_kind kind,
    const char *to, const char *err)
{
	struct deliver_send_job j = { .kind = kind, .to = (char *)to,
		.script = (char *)(ds->cur_path != NULL ? ds->cur_path : "?"),
		.global = ds->cur_global };

	send_result(ds, plan, &j, -1, err);
}

/*
 * redirect (RFC 5228 §4.2): the message as delivered, with our Delivered-To on top,
 * envelope sender the original one (as Pigeonhole's default).
 */
static void
send_redirect(struct deliver_sieve *ds, const struct sieve_exec_env *env,
    const struct sieve_action *a, struct deliver_plan *plan)
{
	const char *me = env->env_to != NULL ? env->env_to : "";
	char err[256], *head;
	size_t body_off = 0;

	if (ds->sendmail == NULL) {
		send_fail(ds, plan, DELIVER_SEND_REDIRECT, a->target, "sendmail_path is empty");
		return;
	}
	/* RFC 5228 §4.2: prevent loops; each redirect adds our Delivered-To */
	if (me[0] != '\0' && deliver_delivered_to_count(env->msg, env->msg_len, me) >=
	    DELIVER_REDIRECT_LOOP_MAX) {
		snprintf(err, sizeof(err), "mail loop: Delivered-To %s seen %u times", me,
		    DELIVER_REDIRECT_LOOP_MAX);
		send_fail(ds, plan, DELIVER_SEND_REDIRECT, a->target, err);
		return;
	}
	/* editheader changes go out too (RFC 5293 §8: they apply to redirect) */
	if (plan->header != NULL) {
		head = me[0] != '\0' && deliver_addr_ok(me) ?
		    xasprintf("Delivered-To: %s\n%.*s", me, (int)plan->header_len, plan->header) :
		    xstrndup(plan->header, plan->header_len);
		body_off = plan->body_off;
	} else {
		head = me[0] != '\0' && deliver_addr_ok(me) ?
		    xasprintf("Delivered-To: %s\n", me) : xstrdup("");
	}
	do_send(ds, plan, DELIVER_SEND_REDIRECT, env->env_from, a->target,
	    (unsigned char *)head, strlen(head), env->msg + body_off, env->msg_len - body_off,
	    NULL);
	free(head);
}

/* vacation (RFC 5230): checked, sent with the null sender, remembered. */
static void
send_vacation(struct deliver_sieve *ds, const struct sieve_exec_env *env,
    const struct sieve_action *a, struct deliver_plan *plan)
{
	unsigned char key[DELIVER_VACATION_HASH];
	const char *reason = NULL;
	struct buf b;
	time_t now = time(NULL);

	if (!sieve_vacation_allowed(env, a, &reason)) {
		log_info("sieve script=%s vacation not sent: %s", ds->cur_path, reason);
		return;
	}
	if (ds->sendmail == NULL || ds->vac_path == NULL) {
		/* the vacation file is the user's script path + ".vacation" */
		const char *why = ds->sendmail == NULL ? "sendmail_path is empty" :
		    "no sieve_script for the vacation file";

		log_info("sieve script=%s vacation not sent: %s", ds->cur_path, why);
		user_log(ds, "%s: vacation not sent: %s", ds->cur_path, why);
		return;
	}
	deliver_vacation_key(env->env_from, a, key);
	if (deliver_vacation_recent(ds->vac_path, key, now, a->seconds)) {
		log_info("sieve script=%s vacation not sent: replied within %llu seconds",
		    ds->cur_path, (unsigned long long)a->seconds);
		return;
	}
	buf_init(&b, BUF_UNLIMITED);
	/* RFC 5230 §5.1 / RFC 3834 §3.3: the reply goes out with the null sender */
	if (deliver_vacation_build(&b, env->msg, env->msg_len, env->env_from, env->env_to, a,
	    now) == 0)
		do_send(ds, plan, DELIVER_SEND_VACATION, "", env->env_from,
		    (unsigned char *)b.data, b.len, NULL, 0, key);
	buf_deinit(&b);
}

/*
 * reject/ereject over LMTP (RFC 5429 §2.1.1): a rejection MDN to the envelope sender,
 * sent with the null sender; never to the null sender (kept then).
 */
static void
send_reject(struct deliver_sieve *ds, const struct sieve_exec_env *env,
    const struct sieve_action *a, struct deliver_plan *plan)
{
	struct buf b;

	if (ds->sendmail == NULL) {
		send_fail(ds, plan, DELIVER_SEND_REJECT, "", "sendmail_path is empty");
	} else if (env->env_from == NULL || env->env_from[0] == '\0') {
		send_fail(ds, plan, DELIVER_SEND_REJECT, "", "the null sender gets no rejection");
	} else {
		buf_init(&b, BUF_UNLIMITED);
		if (deliver_reject_build(&b, env->msg, env->msg_len, env->env_from, env->env_to,
		    a->text != NULL ? a->text : "", time(NULL)) < 0)
			send_fail(ds, plan, DELIVER_SEND_REJECT, env->env_from,
			    "bad sender address");
		else
			do_send(ds, plan, DELIVER_SEND_REJECT, "", env->env_from,
			    (unsigned char *)b.data, b.len, NULL, 0, NULL);
		buf_deinit(&b);
	}
}

/*
 * Carry out r into plan. env has the message as delivered (redirect sends it with
 * plan's header). more: another script runs after this one, which takes over the
 * keep (so it is not planned here).
 */
static void
plan_from_result(struct deliver_sieve *ds, const struct sieve_result *r,
    const struct sieve_exec_env *env, struct deliver_plan *plan, bool more)
{
	if (r->header != NULL) {
		free(plan->header);
		plan->header = xstrndup(r->header, r->header_len);
		plan->header_len = r->header_len;
	}
	for (unsigned i = 0; i < r->count; i++) {
		const struct sieve_action *a = &r->actions[i];

		switch (a->type) {
		case SIEVE_ACT_KEEP:
			/* a keep, explicit or not, of a script that is not the last only lets
			 * the next one run (as Pigeonhole's LDA: the last one decides) */
			if (!more)
				add_target(plan, NULL, false, a->flags, true);
			break;
		case SIEVE_ACT_FILEINTO:
			add_target(plan, a->target, a->create, a->flags, false);
			break;
		case SIEVE_ACT_REDIRECT:
			/* not sent: the message must not be lost, it is kept instead */
			send_redirect(ds, env, a, plan);
			break;
		case SIEVE_ACT_VACATION:
			send_vacation(ds, env, a, plan);
			break;
		case SIEVE_ACT_REJECT:
		case SIEVE_ACT_EREJECT:
			if (ds->reject_exit) {
				free(plan->reject);
				plan->reject = xstrdup(a->text != NULL ? a->text : "");
				log_info("sieve script=%s %s: answered by the caller", ds->cur_path,
				    action_name(a->type));
			} else {
				send_reject(ds, env, a, plan);
			}
			break;
		default:
			break;
		}
	}
}

/* ---- duplicate (RFC 7352) ---- */

#define DUP_HASH 32

struct dup_entry {
	unsigned char h[DUP_HASH];
	int64_t expiry;
	bool seen;		/* pending: what the test said the first time */
};

struct deliver_dups {
	struct dup_entry *e;
	unsigned n;
};

struct plan_ctx {
	struct deliver_sieve *ds;
	struct mstore *store;
	struct deliver_dups *dups;
};

static int
hex_byte(const char *p)
{
	int hi = hex_digit_value((unsigned char)p[0]), lo = hex_digit_value((unsigned char)p[1]);

	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* The entries of the duplicate file that have not expired (malformed lines skipped). */
static void
dups_load(const char *path, int64_t now, struct deliver_dups *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	size_t len;
	char *text;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return;
	text = read_file(fd, (size_t)DELIVER_DUPS_MAX * 100, &len);
	close(fd);
	for (size_t i = 0; text != NULL && i < len && out->n < DELIVER_DUPS_MAX;) {
		const char *nl = memchr(text + i, '\n', len - i), *sp;
		size_t e = nl != NULL ? (size_t)(nl - text) : len;
		struct dup_entry d = { .seen = false };
		uint64_t exp;
		bool ok;

		sp = memchr(text + i, ' ', e - i);
		ok = sp != NULL && (size_t)(text + e - sp - 1) == 2 * DUP_HASH &&
		    parse_u64(text + i, (size_t)(sp - text) - i, INT64_MAX, &exp) == 0;
		for (unsigned k = 0; ok && k < DUP_HASH; k++) {
			int b = hex_byte(sp + 1 + 2 * k);

			ok = b >= 0;
			d.h[k] = (unsigned char)b;
		}
		if (ok && (int64_t)exp > now) {
			d.expiry = (int64_t)exp;
			out->e = xreallocarray(out->e, out->n + 1, sizeof(*out->e));
			out->e[out->n++] = d;
		}
		i = e + 1;
	}
	free(text);
}

static struct dup_entry *
dups_find(struct deliver_dups *d, const unsigned char *h)
{
	for (unsigned i = 0; i < d->n; i++)
		if (memcmp(d->e[i].h, h, DUP_HASH) == 0)
			return &d->e[i];
	return NULL;
}

static int
dup_check(void *ctx, const char *handle, const char *id, size_t id_len, uint64_t seconds,
    bool last)
{
	struct plan_ctx *pc = ctx;
	struct deliver_dups known;
	struct dup_entry e, *old;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int64_t now = (int64_t)time(NULL);
	unsigned hl = 0;
	bool seen;

	if (md == NULL || pc->ds->dup_path == NULL)
		fatal("sieve duplicate: out of memory");
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, handle, strlen(handle) + 1) != 1 ||
	    EVP_DigestUpdate(md, id, id_len) != 1 || EVP_DigestFinal_ex(md, e.h, &hl) != 1 ||
	    hl != DUP_HASH)
		fatal("sieve duplicate: sha256 failed");
	EVP_MD_CTX_free(md);
	dups_load(pc->ds->dup_path, now, &known);
	seen = dups_find(&known, e.h) != NULL;
	free(known.e);
	e.expiry = now + (int64_t)MIN(seconds, (uint64_t)INT32_MAX);
	/* first seen: remember; seen again: :last measures from now (RFC 7352 §3.3) */
	if (pc->dups == NULL)
		pc->dups = xcalloc(1, sizeof(*pc->dups));
	old = dups_find(pc->dups, e.h);
	if (old != NULL) {
		if (last)
			old->expiry = e.expiry;
		return old->seen;	/* the same answer within one run */
	}
	e.seen = seen;
	if (!seen || last) {
		pc->dups->e = xreallocarray(pc->dups->e, pc->dups->n + 1, sizeof(e));
		pc->dups->e[pc->dups->n++] = e;
	}
	return seen;
}

void
deliver_dups_free(struct deliver_dups **dups)
{
	if (*dups == NULL)
		return;
	free((*dups)->e);
	free(*dups);
	*dups = NULL;
}

void
deliver_dups_commit(struct deliver_sieve *ds, struct deliver_dups **dups)
{
	struct deliver_dups all;
	struct buf b;
	char *tmp;
	int fd;

	if (*dups == NULL || (*dups)->n == 0 || ds->dup_path == NULL) {
		deliver_dups_free(dups);
		return;
	}
	dups_load(ds->dup_path, (int64_t)time(NULL), &all);
	buf_init(&b, BUF_UNLIMITED);
	/* the new ones first, then the known ones not replaced, up to DELIVER_DUPS_MAX */
	for (unsigned i = 0, n = 0; i < (*dups)->n + all.n && n < DELIVER_DUPS_MAX; i++) {
		const struct dup_entry *e = i < (*dups)->n ? &(*dups)->e[i] :
		    &all.e[i - (*dups)->n];

		if (i >= (*dups)->n && dups_find(*dups, e->h) != NULL)
			continue;
		buf_appendf(&b, "%lld ", (long long)e->expiry);
		for (unsigned k = 0; k < DUP_HASH; k++)
			buf_appendf(&b, "%02x", e->h[k]);
		(void)buf_append_c(&b, '\n');
		n++;
	}
	free(all.e);
	deliver_dups_free(dups);
	tmp = xasprintf("%s.tmp", ds->dup_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || close(fd) < 0 ||
	    rename(tmp, ds->dup_path) < 0) {
		log_error("sieve duplicates path=%s error=%s", ds->dup_path, strerror(errno));
		(void)unlink(tmp);
	}
	free(tmp);
	buf_deinit(&b);
}

static int
store_mailbox_exists(void *ctx, const char *name)
{
	struct plan_ctx *pc = ctx;
	struct mailbox *box;

	char *store_name;
	enum store_status st;

	if (pc->store == NULL)
		return str_ieq(name, "INBOX");
	store_name = sieve_mailbox_name(name);
	st = mailbox_open(pc->store, store_name, &box);
	free(store_name);
	if (st != STORE_OK)
		return 0;
	mailbox_unref(&box);
	return 1;
}

/* Does the next script of a sequence run after r: is the message still kept? */
static bool
chain_goes_on(const struct sieve_result *r)
{
	if (r->failed)
		return false;
	/* as Pigeonhole: the implicit keep in effect, or an explicit keep */
	for (unsigned i = 0; i < r->count; i++)
		if (r->actions[i].type == SIEVE_ACT_KEEP)
			return true;
	return false;
}

struct chain_script {
	const struct sieve_script *s;
	const char *path;
	bool global;
};

void
deliver_sieve_plan(struct deliver_sieve *ds, const unsigned char *msg, size_t len,
    const char *env_from, const char *env_to, struct mstore *store,
    struct deliver_plan *plan)
{
	struct plan_ctx pc = { .ds = ds, .store = store };
	struct sieve_exec_env env = {
		.msg = msg, .msg_len = len, .env_from = env_from, .env_to = env_to,
		.ctx = &pc, .mailbox_exists = store_mailbox_exists, .duplicate = dup_check,
	}, orig;
	char *paths[2 * GLOBAL_SCRIPTS_MAX];
	struct chain_script chain[2 * GLOBAL_SCRIPTS_MAX + 1];
	unsigned npaths = 0, nbefore, n = 0;
	struct sieve_includes *inc;
	struct buf edited;
	char *flags = NULL;
	bool failed = false;
	struct tm tm;
	bool complete;

	memset(plan, 0, sizeof(*plan));
	plan->body_off = mail_header_block_end(msg, len, NULL, &complete);
	/* sieve_before scripts, the user's, sieve_after scripts (docs/sieve.md, "Global") */
	global_paths(ds->before, paths, &npaths);
	nbefore = npaths;
	global_paths(ds->after, paths, &npaths);
	for (unsigned i = 0; i <= npaths; i++) {
		struct script_cache *sc;

		if (i == nbefore) {
			chain[n].s = cached_script(ds, &ds->user, false);
			chain[n].path = ds->path;
			chain[n].global = false;
			if (chain[n].s != NULL)
				n++;
		}
		if (i == npaths)
			break;
		sc = global_cache(ds, paths[i]);
		chain[n].s = cached_script(ds, sc, true);
		chain[n].path = sc->path;
		chain[n].global = true;
		if (chain[n].s != NULL)
			n++;
	}
	for (unsigned i = 0; i < npaths; i++)
		free(paths[i]);
	if (n == 0) {
		add_target(plan, NULL, false, NULL, false);
		return;
	}
	env.now = time(NULL);
	if (localtime_r(&env.now, &tm) != NULL)
		env.zone_min = (int)(tm.tm_gmtoff / 60);
	inc = sieve_includes_create(ds->dir, ds->global_dir);
	env.include = sieve_includes_load;
	env.include_ctx = inc;
	orig = env;
	buf_init(&edited, BUF_UNLIMITED);
	for (unsigned i = 0; i < n; i++) {
		struct sieve_result r;
		bool more;

		ds->cur_path = chain[i].path;
		ds->cur_global = chain[i].global;
		env.flags_init = flags;
		if (sieve_execute(chain[i].s, &env, &ds->xl, &r) < 0) {
			failed = true;
			log_error("sieve %sscript=%s line=%u run-time error: %s",
			    chain[i].global ? "global " : "", chain[i].path, r.error_line, r.error);
			user_log(ds, "%s: line %u: error: %s: the message is kept in INBOX",
			    chain[i].path, r.error_line, r.error);
		}
		more = i + 1 < n && chain_goes_on(&r);
		plan_from_result(ds, &r, &orig, plan, more);
		free(flags);
		flags = r.flags_end != NULL ? xstrdup(r.flags_end) : NULL;
		sieve_result_deinit(&r);
		if (!more)
			break;
		/* the next script sees the header as edited so far (RFC 5293 §3) */
		if (plan->header != NULL) {
			buf_reset(&edited);
			if (buf_append(&edited, plan->header, plan->header_len) < 0 ||
			    buf_append(&edited, msg + plan->body_off, len - plan->body_off) < 0)
				fatal("sieve: out of memory");
			env.msg = (const unsigned char *)edited.data;
			env.msg_len = edited.len;
		}
	}
	ds->cur_path = ds->path;
	ds->cur_global = false;
	free(flags);
	buf_deinit(&edited);
	/* a failed run keeps the message: its duplicate IDs are not recorded */
	if (failed)
		deliver_dups_free(&pc.dups);
	plan->dups = pc.dups;
	sieve_includes_destroy(&inc);
}

void
deliver_plan_deinit(struct deliver_plan *plan)
{
	for (unsigned i = 0; i < plan->count; i++) {
		struct deliver_target *t = &plan->targets[i];

		for (unsigned k = 0; k < t->nkeywords; k++)
			free(t->keywords[k]);
		free(t->keywords);
		free(t->folder);
	}
	free(plan->targets);
	for (unsigned i = 0; i < plan->nsends; i++)
		send_job_free(&plan->sends[i]);
	free(plan->sends);
	free(plan->header);
	free(plan->reject);
	deliver_dups_free(&plan->dups);
	memset(plan, 0, sizeof(*plan));
}

/* The value of a trace line "name: value" in prefix, without <> (NULL if absent). */
static char *
prefix_value(const unsigned char *p, size_t len, const char *name)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < len;) {
		const unsigned char *nl = memchr(p + i, '\n', len - i);
		size_t e = nl != NULL ? (size_t)(nl - p) : len, vs, ve;

		if (e - i > nlen && strncasecmp((const char *)p + i, name, nlen) == 0) {
			vs = i + nlen;
			ve = e;
			while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
				vs++;
			while (ve > vs && (p[ve - 1] == '\r' || p[ve - 1] == ' '))
				ve--;
			if (ve > vs && p[vs] == '<' && p[ve - 1] == '>') {
				vs++;
				ve--;
			}
			return xstrndup((const char *)p + vs, ve - vs);
		}
		i = e + 1;
	}
	return NULL;
}

void
deliver_prefix_envelope(const unsigned char *prefix, size_t len, char **from_r, char **to_r)
{
	*from_r = prefix_value(prefix, len, "Return-Path:");
	*to_r = prefix_value(prefix, len, "Delivered-To:");
}
