/*
 * managesieve_client.c — ManageSieve sessions in the per-user mail process (see
 * managesieve_client.h). Scripts live in sieve_dir as NAME.sieve; the active one is the
 * symlink sieve_script (relative, "sieve/NAME.sieve", when sieve_dir is beside it), as
 * Pigeonhole keeps them, so the delivery path (src/mailproc/deliver_sieve.c) and a user
 * moved from Dovecot see the same files. Every change is atomic: scripts are written to
 * a temporary file, fsync'd and renamed; the symlink is replaced by renaming a new one
 * over it; the directory is fsync'd. Scripts are checked with the Sieve front end
 * (src/sieve/sieve.h) before anything is stored.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "mailproc/mail_user.h"
#include "managesieve/managesieve_client.h"
#include "proto/managesieve.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"
#include "lib/util.h"

#define MS_LINE_MAX		8192	/* bytes of a command line outside literals */
#define MS_SCRIPT_HARD_MAX	(1024 * 1024)	/* sieve_limits_default's script_max */

/* MAXREDIRECTS: the redirect limit of a delivery run (src/sieve/sieve_exec.h). */
static unsigned
max_redirects(void)
{
	struct sieve_exec_limits xl;

	sieve_exec_limits_default(&xl);
	return xl.redirects_max;
}

struct ms_client {
	struct mail_session session;	/* in the user's session registry */
	struct mail_user *mu;
	const struct config *cfg;
	char *user, *ip;
	char *dir;		/* sieve_dir, expanded */
	char *active;		/* sieve_script, expanded; NULL: none configured */
	unsigned id;
	struct bufferevent *bev;
	struct event *timer;
	struct ms_limits lim;
	struct ms_cmd *cmd;
	unsigned bad;
	uint64_t skip_left;	/* bytes of a too long literal still to discard */
	bool skip_line;		/* then the rest of its line, then NO (QUOTA/MAXSIZE) */
	bool closing;
	bool input_eof;
	uint64_t last_activity_ms;
	unsigned tmp_seq;
};

static unsigned next_id;

static void client_destroy(struct ms_client *c);
static void client_shutdown(struct mail_session *s);
static void client_input(struct ms_client *c);

static void client_kick(struct mail_session *s);

static const struct mail_session_ops session_ops = { .shutdown = client_shutdown,
    .kick = client_kick };

/* ---------------------------------------------------------------- output */

static void client_printf(struct ms_client *c, const char *fmt, ...) PRINTF(2, 3);

static void
client_printf(struct ms_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap) < 0)
		panic("managesieve: evbuffer_add_vprintf failed");
	va_end(ap);
}

/* A string as RFC 5804 §4 allows: quoted when it can be, else a literal {n}. */
static void
put_string(struct buf *b, const char *p, size_t len)
{
	bool quoted = len <= MS_QUOTED_MAX && memchr(p, '\r', len) == NULL &&
	    memchr(p, '\n', len) == NULL && memchr(p, '\0', len) == NULL;

	if (!quoted) {
		(void)buf_appendf(b, "{%zu}\r\n", len);
		(void)buf_append(b, p, len);
		return;
	}
	(void)buf_append_str(b, "\"");
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			(void)buf_append_str(b, "\\");
		(void)buf_append(b, p + i, 1);
	}
	(void)buf_append_str(b, "\"");
}

/* "OK"/"NO"/"BYE" [(CODE)] text. */
static void
reply(struct ms_client *c, const char *status, const char *code, const char *text)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	(void)buf_append_str(&b, status);
	if (code != NULL)
		(void)buf_appendf(&b, " (%s)", code);
	if (text != NULL) {
		(void)buf_append_str(&b, " ");
		put_string(&b, text, strlen(text));
	}
	(void)buf_append_str(&b, "\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

static void
client_close_after(struct ms_client *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

static void
reply_bad(struct ms_client *c, const char *text)
{
	reply(c, "NO", NULL, text);
	if (++c->bad >= MANAGESIEVE_MAX_BAD) {
		log_info("managesieve disconnect user=%s session=%u reason=too_many_bad_commands",
		    c->user, c->id);
		reply(c, "BYE", NULL, "Too many bad commands.");
		client_close_after(c);
	}
}

/* A storage failure: logged with the details, the client gets a short reply. */
static void
reply_error(struct ms_client *c, const char *what, int err)
{
	log_error("managesieve user=%s session=%u error=\"%s: %s\"", c->user, c->id, what,
	    strerror(err));
	if (err == ENOSPC || err == EDQUOT)
		reply(c, "NO", "QUOTA", "Not enough disk space.");
	else
		reply(c, "NO", "TRYLATER", "Internal error, try again later.");
}

/* ---------------------------------------------------------------- paths */

static char *
expand_home(const char *v, const char *home)
{
	if (v == NULL || v[0] == '\0')
		return NULL;
	if (v[0] == '~' && (v[1] == '/' || v[1] == '\0')) {
		if (home == NULL || home[0] == '\0')
			return NULL;
		return xasprintf("%s%s", home, v + 1);
	}
	return xstrdup(v);
}

/* Whether the argument names a script we may store (RFC 5804 §1.6, and no "/"). */
static bool
name_ok(const struct ms_arg *a)
{
	return a->type == MS_ARG_STRING && a->len <= MANAGESIEVE_NAME_MAX &&
	    memchr(a->p, '/', a->len) == NULL && managesieve_name_valid(a->p, a->len);
}

static char *
script_path(const struct ms_client *c, const char *name, size_t len)
{
	return xasprintf("%s/%.*s.sieve", c->dir, (int)len, name);
}

/* The directory part of path (caller frees). */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/*
 * The active script's file (dev/ino) when sieve_script is a symlink to an existing
 * file: 1, 0 (none active), or -1 (sieve_script is a regular file: not ours to manage).
 */
static int
active_ident(const struct ms_client *c, struct stat *st)
{
	struct stat lst;

	if (c->active == NULL || lstat(c->active, &lst) < 0)
		return 0;
	if (!S_ISLNK(lst.st_mode))
		return -1;
	return stat(c->active, st) == 0 ? 1 : 0;
}

static bool
is_active(const struct ms_client *c, const char *path)
{
	struct stat a, s;

	return active_ident(c, &a) == 1 && stat(path, &s) == 0 && a.st_dev == s.st_dev &&
	    a.st_ino == s.st_ino;
}

/* Scripts in sieve_dir (files NAME.sieve with a valid name). */
static unsigned
script_count(const struct ms_client *c)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 6 && memcmp(de->d_name + len - 6, ".sieve", 6) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---------------------------------------------------------------- checking */

/*
 * Compile the script with the Sieve front end. Returns true if it compiles; else the
 * NO reply ("line:column: message", one line per error) has been sent. *warn_r gets the
 * warnings (caller frees), NULL if none.
 */
static bool
check_script(struct ms_client *c, const struct ms_arg *script, char **warn_r)
{
	struct sieve_limits lim;
	struct sieve_errors errs;
	struct sieve_script *s;
	struct buf msg;
	bool ok;

	*warn_r = NULL;
	sieve_limits_default(&lim);
	if (lim.script_max < c->lim.literal_max)
		lim.script_max = (size_t)c->lim.literal_max;
	memset(&errs, 0, sizeof(errs));
	s = sieve_compile(script->p, script->len, &lim, &errs);
	ok = s != NULL;
	sieve_script_destroy(&s);
	buf_init(&msg, 16 * 1024);
	for (unsigned i = 0; i < errs.count; i++) {
		const struct sieve_error *e = &errs.list[i];

		if (e->warning == !ok)
			continue;	/* on failure the errors, on success the warnings */
		if (msg.len > 0)
			(void)buf_append_str(&msg, "\r\n");
		(void)buf_appendf(&msg, "%u:%u: %s%s", e->line, e->col,
		    e->warning ? "warning: " : "", e->text);
	}
	if (!ok && msg.len == 0)
		(void)buf_append_str(&msg, "the script does not compile");
	if (!ok) {
		reply(c, "NO", NULL, buf_cstr(&msg));
		c->bad = 0;
	} else if (msg.len > 0) {
		*warn_r = xstrdup(buf_cstr(&msg));
	}
	buf_deinit(&msg);
	sieve_errors_deinit(&errs);
	return ok;
}

static void
reply_checked(struct ms_client *c, char *warn, const char *text)
{
	if (warn != NULL)
		reply(c, "OK", "WARNINGS", warn);
	else
		reply(c, "OK", NULL, text);
	free(warn);
}

/* Quota checks of RFC 5804 §2.3/§2.6: size always, the count for a new script. */
static bool
quota_ok(struct ms_client *c, uint64_t size, const char *path)
{
	if (size > c->lim.literal_max) {
		reply(c, "NO", "QUOTA/MAXSIZE", "The script is too large.");
		return false;
	}
	if (c->cfg->managesieve_max_scripts > 0 && !exists(path) &&
	    script_count(c) >= c->cfg->managesieve_max_scripts) {
		reply(c, "NO", "QUOTA/MAXSCRIPTS", "Too many scripts.");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- commands */

static void
cmd_capability(struct ms_client *c)
{
	struct buf b;

	buf_init(&b, 4096);
	(void)buf_append_str(&b, "\"IMPLEMENTATION\" \"buzon\"\r\n\"SIEVE\" \"");
	for (unsigned i = 0; i < SIEVE_CAP_COUNT; i++)
		(void)buf_appendf(&b, "%s%s", i ? " " : "", sieve_cap_name((enum sieve_cap)i));
	(void)buf_appendf(&b, "\"\r\n\"MAXREDIRECTS\" \"%u\"\r\n", max_redirects());
	/* RFC 5804 §1.7: OWNER, the logged-in user, after authentication */
	(void)buf_append_str(&b, "\"OWNER\" ");
	put_string(&b, c->user, strlen(c->user));
	(void)buf_append_str(&b, "\r\n\"VERSION\" \"1.0\"\r\nOK \"Capability completed.\"\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

static void
cmd_listscripts(struct ms_client *c)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	struct stat a;
	bool have_active = active_ident(c, &a) == 1;
	struct buf b;

	if (d == NULL && errno != ENOENT) {
		reply_error(c, "opendir sieve_dir", errno);
		return;
	}
	buf_init(&b, 64 * 1024 * 1024);
	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct stat st;
		struct ms_arg n;

		/* temporary files (.buzon-tmp.*) never end in .sieve */
		if (len <= 6 || memcmp(de->d_name + len - 6, ".sieve", 6) != 0)
			continue;
		n.type = MS_ARG_STRING;
		n.p = de->d_name;
		n.len = len - 6;
		if (!name_ok(&n) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		put_string(&b, n.p, n.len);
		if (have_active && st.st_dev == a.st_dev && st.st_ino == a.st_ino)
			(void)buf_append_str(&b, " ACTIVE");
		(void)buf_append_str(&b, "\r\n");
	}
	if (d != NULL)
		closedir(d);
	(void)buf_append_str(&b, "OK \"Listscripts completed.\"\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

/* Write data to dir/NAME.sieve atomically. Returns 0, or -1 with errno (and what_r). */
static int
store_script(struct ms_client *c, const char *path, const char *data, size_t len,
    const char **what_r)
{
	char *tmp;
	int fd, r = -1, err = 0;
	size_t off = 0;

	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		*what_r = "mkdir sieve_dir";
		return -1;
	}
	tmp = xasprintf("%s/.buzon-tmp.%ld.%u", c->dir, (long)getpid(), ++c->tmp_seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*what_r = "create temporary script";
		free(tmp);
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off < len) {
		*what_r = "write script";
		err = errno;
	} else if (fsync(fd) < 0) {
		*what_r = "fsync script";
		err = errno;
	}
	if (close(fd) < 0 && err == 0) {
		*what_r = "close script";
		err = errno;
	}
	if (err == 0 && rename(tmp, path) < 0) {
		*what_r = "rename script";
		err = errno;
	}
	if (err == 0 && fsync_dir(c->dir) < 0) {
		*what_r = "fsync sieve_dir";
		err = errno;
	}
	if (err != 0)
		(void)unlink(tmp);
	else
		r = 0;
	free(tmp);
	errno = err;
	return r;
}

static void
cmd_putscript(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *name = &cmd->args[0], *script = &cmd->args[1];
	const char *what = "";
	char *path, *warn;

	if (cmd->argc != 2 || name->type != MS_ARG_STRING || script->type != MS_ARG_STRING) {
		reply_bad(c, "Invalid PUTSCRIPT arguments.");
		return;
	}
	if (!name_ok(name)) {
		reply_bad(c, "Invalid script name.");
		return;
	}
	path = script_path(c, name->p, name->len);
	if (quota_ok(c, script->len, path) && check_script(c, script, &warn)) {
		if (store_script(c, path, script->p, script->len, &what) < 0) {
			reply_error(c, what, errno);
			free(warn);
		} else {
			log_info("managesieve putscript user=%s session=%u size=%zu", c->user,
			    c->id, script->len);
			reply_checked(c, warn, "Putscript completed.");
		}
	}
	free(path);
}

static void
cmd_checkscript(struct ms_client *c, const struct ms_cmd *cmd)
{
	char *warn;

	if (cmd->argc != 1 || cmd->args[0].type != MS_ARG_STRING) {
		reply_bad(c, "Invalid CHECKSCRIPT arguments.");
		return;
	}
	if (cmd->args[0].len > c->lim.literal_max) {
		reply(c, "NO", "QUOTA/MAXSIZE", "The script is too large.");
		return;
	}
	if (check_script(c, &cmd->args[0], &warn))
		reply_checked(c, warn, "Script is valid.");
}

/* Point sieve_script at path (NULL: remove the link). Returns 0 or -1 (replied). */
static int
set_link(struct ms_client *c, const char *path)
{
	char *adir, *tmp, *target;
	size_t alen;
	int r = 0;

	if (c->active == NULL) {
		reply(c, "NO", NULL, "No active script is configured (sieve_script).");
		return -1;
	}
	adir = dir_of(c->active);
	if (path == NULL) {
		if (unlink(c->active) < 0 && errno != ENOENT) {
			reply_error(c, "unlink sieve_script", errno);
			r = -1;
		} else if (fsync_dir(adir) < 0) {
			reply_error(c, "fsync sieve_script directory", errno);
			r = -1;
		}
		free(adir);
		return r;
	}
	/* relative when sieve_dir is below the link's directory (Pigeonhole's sieve/NAME) */
	alen = strlen(adir);
	if (strncmp(path, adir, alen) == 0 && path[alen] == '/')
		target = xstrdup(path + alen + 1);
	else
		target = xstrdup(path);
	tmp = xasprintf("%s/.buzon-tmp-link.%ld.%u", adir, (long)getpid(), ++c->tmp_seq);
	(void)unlink(tmp);
	if (symlink(target, tmp) < 0) {
		reply_error(c, "symlink", errno);
		r = -1;
	} else if (rename(tmp, c->active) < 0) {
		reply_error(c, "rename symlink", errno);
		(void)unlink(tmp);
		r = -1;
	} else if (fsync_dir(adir) < 0) {
		reply_error(c, "fsync sieve_script directory", errno);
		r = -1;
	}
	free(tmp);
	free(target);
	free(adir);
	return r;
}

static void
cmd_setactive(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *name = &cmd->args[0];
	struct stat st;
	char *path;

	if (cmd->argc != 1 || name->type != MS_ARG_STRING) {
		reply_bad(c, "Invalid SETACTIVE arguments.");
		return;
	}
	if (active_ident(c, &st) < 0) {
		/* a script written by hand (or by Dovecot without sieve_dir): never clobbered */
		reply(c, "NO", NULL, "The active script is a file, not a link: move it into "
		    "the script directory first.");
		return;
	}
	if (name->len == 0) {
		/* RFC 5804 §2.8: the empty name deactivates */
		if (set_link(c, NULL) == 0)
			reply(c, "OK", NULL, "No script is active now.");
		return;
	}
	if (!name_ok(name)) {
		reply_bad(c, "Invalid script name.");
		return;
	}
	path = script_path(c, name->p, name->len);
	if (!exists(path))
		reply(c, "NO", "NONEXISTENT", "There is no script by that name.");
	else if (set_link(c, path) == 0) {
		log_info("managesieve setactive user=%s session=%u", c->user, c->id);
		reply(c, "OK", NULL, "Setactive completed.");
	}
	free(path);
}

static void
cmd_getscript(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *name = &cmd->args[0];
	struct stat st;
	char *path, *data = NULL;
	size_t off = 0;
	int fd;

	if (cmd->argc != 1 || !name_ok(name)) {
		reply_bad(c, "Invalid GETSCRIPT arguments.");
		return;
	}
	path = script_path(c, name->p, name->len);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(path);
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			reply(c, "NO", "NONEXISTENT", "There is no script by that name.");
		else
			reply_error(c, "open script", errno);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * MS_SCRIPT_HARD_MAX) {
		close(fd);
		reply(c, "NO", NULL, "The script cannot be read.");
		return;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, data + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	client_printf(c, "{%zu}\r\n", off);
	evbuffer_add(bufferevent_get_output(c->bev), data, off);
	client_printf(c, "\r\nOK \"Getscript completed.\"\r\n");
	free(data);
}

static void
cmd_deletescript(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *name = &cmd->args[0];
	char *path;

	if (cmd->argc != 1 || !name_ok(name)) {
		reply_bad(c, "Invalid DELETESCRIPT arguments.");
		return;
	}
	path = script_path(c, name->p, name->len);
	if (!exists(path))
		reply(c, "NO", "NONEXISTENT", "There is no script by that name.");
	else if (is_active(c, path))
		reply(c, "NO", "ACTIVE", "The active script cannot be deleted.");
	else if (unlink(path) < 0)
		reply_error(c, "unlink script", errno);
	else if (fsync_dir(c->dir) < 0)
		reply_error(c, "fsync sieve_dir", errno);
	else
		reply(c, "OK", NULL, "Deletescript completed.");
	free(path);
}

static void
cmd_renamescript(struct ms_client *c, const struct ms_cmd *cmd)
{
	char *from, *to;
	bool active;

	if (cmd->argc != 2 || !name_ok(&cmd->args[0]) || !name_ok(&cmd->args[1])) {
		reply_bad(c, "Invalid RENAMESCRIPT arguments.");
		return;
	}
	from = script_path(c, cmd->args[0].p, cmd->args[0].len);
	to = script_path(c, cmd->args[1].p, cmd->args[1].len);
	active = is_active(c, from);
	if (!exists(from)) {
		reply(c, "NO", "NONEXISTENT", "There is no script by that name.");
	} else if (strcmp(from, to) == 0 || exists(to)) {
		reply(c, "NO", "ALREADYEXISTS", "A script with the new name exists.");
	} else if (link(from, to) < 0) {
		/* link(2) never replaces: a script created meanwhile stays */
		if (errno == EEXIST)
			reply(c, "NO", "ALREADYEXISTS", "A script with the new name exists.");
		else
			reply_error(c, "link script", errno);
	} else if (active && set_link(c, to) < 0) {
		(void)unlink(to);
	} else if (unlink(from) < 0) {
		reply_error(c, "unlink old script", errno);
	} else if (fsync_dir(c->dir) < 0) {
		reply_error(c, "fsync sieve_dir", errno);
	} else {
		reply(c, "OK", NULL, "Renamescript completed.");
	}
	free(from);
	free(to);
}

static void
cmd_havespace(struct ms_client *c, const struct ms_cmd *cmd)
{
	uint32_t size;
	char *path;

	if (cmd->argc != 2 || !name_ok(&cmd->args[0]) ||
	    managesieve_arg_u32(&cmd->args[1], &size) < 0) {
		reply_bad(c, "Invalid HAVESPACE arguments.");
		return;
	}
	path = script_path(c, cmd->args[0].p, cmd->args[0].len);
	if (quota_ok(c, size, path))
		reply(c, "OK", NULL, "Putscript would succeed.");
	free(path);
}

static void
cmd_noop(struct ms_client *c, const struct ms_cmd *cmd)
{
	struct buf b;

	if (cmd->argc > 1 || (cmd->argc == 1 && cmd->args[0].type != MS_ARG_STRING)) {
		reply_bad(c, "Invalid NOOP arguments.");
		return;
	}
	if (cmd->argc == 0) {
		reply(c, "OK", NULL, "Done.");
		return;
	}
	/* RFC 5804 §2.11: the tag comes back in a TAG response code */
	buf_init(&b, 4096);
	(void)buf_append_str(&b, "OK (TAG ");
	put_string(&b, cmd->args[0].p, cmd->args[0].len);
	(void)buf_append_str(&b, ") \"Done.\"\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

static void
command(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *n = &cmd->name;

	if (mem_ieq(n->p, n->len, "LOGOUT")) {
		reply(c, "OK", NULL, "Logout completed.");
		client_close_after(c);
		return;
	}
	if (mem_ieq(n->p, n->len, "CAPABILITY"))
		cmd_capability(c);
	else if (mem_ieq(n->p, n->len, "NOOP"))
		cmd_noop(c, cmd);
	else if (mem_ieq(n->p, n->len, "LISTSCRIPTS"))
		cmd_listscripts(c);
	else if (mem_ieq(n->p, n->len, "PUTSCRIPT"))
		cmd_putscript(c, cmd);
	else if (mem_ieq(n->p, n->len, "CHECKSCRIPT"))
		cmd_checkscript(c, cmd);
	else if (mem_ieq(n->p, n->len, "SETACTIVE"))
		cmd_setactive(c, cmd);
	else if (mem_ieq(n->p, n->len, "GETSCRIPT"))
		cmd_getscript(c, cmd);
	else if (mem_ieq(n->p, n->len, "DELETESCRIPT"))
		cmd_deletescript(c, cmd);
	else if (mem_ieq(n->p, n->len, "RENAMESCRIPT"))
		cmd_renamescript(c, cmd);
	else if (mem_ieq(n->p, n->len, "HAVESPACE"))
		cmd_havespace(c, cmd);
	else if (mem_ieq(n->p, n->len, "UNAUTHENTICATE"))
		/* RFC 5804 §2.14.1: not advertised, so refused */
		reply(c, "NO", NULL, "UNAUTHENTICATE is not supported.");
	else if (mem_ieq(n->p, n->len, "AUTHENTICATE") || mem_ieq(n->p, n->len, "STARTTLS"))
		reply_bad(c, "Already authenticated.");
	else
		reply_bad(c, "Unknown command.");
}

/* ---------------------------------------------------------------- input */

static void
client_input(struct ms_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (!c->closing) {
		size_t len = evbuffer_get_length(in), used = 0;
		enum ms_parse_result r;
		unsigned char *data;

		if (len == 0 || evbuffer_get_length(out) >= conn_bounds(CONN_POP3)->output_high)
			return;
		if (c->skip_left > 0) {
			/* RFC 5804 §2.6: a script over the limit gets NO (QUOTA/MAXSIZE) */
			size_t n = (size_t)MIN((uint64_t)len, c->skip_left);

			evbuffer_drain(in, n);
			c->skip_left -= n;
			continue;
		}
		data = evbuffer_pullup(in, -1);
		if (c->skip_line) {
			const unsigned char *lf = memchr(data, '\n', len);

			if (lf == NULL && len <= MS_LINE_MAX)
				return;
			if (lf == NULL) {
				reply(c, "BYE", NULL, "Line too long.");
				client_close_after(c);
				return;
			}
			evbuffer_drain(in, (size_t)(lf - data) + 1);
			c->skip_line = false;
			reply(c, "NO", "QUOTA/MAXSIZE", "The script is too large.");
			continue;
		}
		r = managesieve_parse(data, len, &c->lim, false, c->cmd, &used);
		if (r == MS_PARSE_MORE)
			return;
		if (r == MS_PARSE_ERROR && c->cmd->error == MS_ERR_LITERAL && used > 0) {
			log_info("managesieve user=%s session=%u literal_too_long=%llu", c->user,
			    c->id, (unsigned long long)c->cmd->skip);
			evbuffer_drain(in, used);
			c->skip_left = c->cmd->skip;
			c->skip_line = true;
			continue;
		}
		if (r == MS_PARSE_ERROR && used == 0) {
			/* overlong line or literal: the stream cannot be resynchronised */
			log_info("managesieve disconnect user=%s session=%u reason=%s", c->user,
			    c->id, c->cmd->error == MS_ERR_LITERAL ? "literal_too_long" :
			    "line_too_long");
			if (c->cmd->error == MS_ERR_LITERAL)
				reply(c, "BYE", "QUOTA/MAXSIZE", "Literal too long.");
			else
				reply(c, "BYE", NULL, "Line too long.");
			client_close_after(c);
			return;
		}
		if (r == MS_PARSE_ERROR) {
			reply_bad(c, c->cmd->error == MS_ERR_NUL ? "Invalid command (NUL)." :
			    c->cmd->error == MS_ERR_ARGS ? "Too many arguments." :
			    "Invalid command.");
		} else {
			c->bad = 0;
			command(c, c->cmd);
		}
		evbuffer_drain(in, used);
	}
}

static bool
client_progress(struct ms_client *c)
{
	if (!c->closing)
		client_input(c);
	if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		client_destroy(c);
		return false;
	}
	if (c->input_eof && !c->closing) {
		log_info("managesieve disconnect user=%s session=%u reason=eof", c->user, c->id);
		client_destroy(c);
		return false;
	}
	return true;
}

static void
read_cb(struct bufferevent *bev, void *ctx)
{
	struct ms_client *c = ctx;

	c->last_activity_ms = clock_ms();
	(void)client_progress(c);
}

static void
write_cb(struct bufferevent *bev, void *ctx)
{
	(void)client_progress(ctx);
}

static void
event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct ms_client *c = ctx;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !c->closing) {
		/* answer what was sent before the half-close (LOGOUT included) */
		c->input_eof = true;
		bufferevent_disable(bev, EV_READ);
		(void)client_progress(c);
		return;
	}
	log_info("managesieve disconnect user=%s session=%u reason=%s", c->user, c->id,
	    (what & BEV_EVENT_TIMEOUT) ? "output_timeout" : (what & BEV_EVENT_EOF) ? "eof" :
	    "error");
	client_destroy(c);
}

static void
timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ms_client *c = ctx;
	uint64_t idle = clock_ms() - c->last_activity_ms;
	struct timeval tv = { 0, 0 };

	if (idle >= (uint64_t)MANAGESIEVE_AUTOLOGOUT_SECS * 1000 && !c->closing) {
		log_info("managesieve disconnect user=%s session=%u reason=autologout", c->user,
		    c->id);
		reply(c, "BYE", NULL, "Disconnected for inactivity.");
		client_close_after(c);
		tv.tv_sec = 10;		/* then give up on a client that does not read */
	} else if (c->closing) {
		client_destroy(c);
		return;
	} else {
		tv.tv_sec = (time_t)((MANAGESIEVE_AUTOLOGOUT_SECS * 1000 - idle) / 1000 + 1);
	}
	evtimer_add(c->timer, &tv);
}

/* ---------------------------------------------------------------- life cycle */

int
managesieve_client_create(struct event_base *base, struct mail_user *mu,
    const struct config *cfg, const char *user, const char *home, int fd,
    const void *pending_input, size_t pending_len, const char *client_ip, bool secured)
{
	struct ms_client *c;
	struct timeval tv = { MANAGESIEVE_AUTOLOGOUT_SECS, 0 };

	if (evutil_make_socket_nonblocking(fd) < 0) {
		log_error("managesieve: cannot make fd non-blocking: %s", strerror(errno));
		close(fd);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->bev = conn_new(base, fd, NULL, CONN_POP3, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("managesieve: bufferevent_socket_new failed");
		close(fd);
		free(c);
		return -1;
	}
	c->mu = mu;
	c->cfg = cfg;
	c->id = ++next_id;
	c->user = xstrdup(user);
	c->ip = xstrdup(client_ip != NULL ? client_ip : "");
	c->dir = expand_home(cfg->sieve_dir, home);
	c->active = expand_home(cfg->sieve_script, home);
	c->cmd = xmalloc(sizeof(*c->cmd));
	c->last_activity_ms = clock_ms();
	c->lim.line_max = MS_LINE_MAX;
	c->lim.literal_max = cfg->managesieve_max_script_size != 0 &&
	    cfg->managesieve_max_script_size < MS_SCRIPT_HARD_MAX ?
	    cfg->managesieve_max_script_size : MS_SCRIPT_HARD_MAX;
	mail_session_register(mu, &c->session, MAIL_PROTO_MANAGESIEVE, c->ip, &session_ops, c);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* a whole command (one script literal) fits the input buffer, no more */
	bufferevent_setwatermark(c->bev, EV_READ, 0, (size_t)c->lim.literal_max + MS_LINE_MAX +
	    1024);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	c->timer = evtimer_new(base, timer_cb, c);
	evtimer_add(c->timer, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (c->dir == NULL) {
		log_error("managesieve user=%s error=\"sieve_dir needs a home directory\"", user);
		reply(c, "NO", "TRYLATER", "Scripts are not available.");
		client_close_after(c);
		return 0;
	}
	log_info("managesieve session user=%s session=%u ip=%s secured=%s", c->user, c->id,
	    c->ip, secured ? "yes" : "no");
	reply(c, "OK", NULL, "Logged in.");
	/* libevent freezes the end of the input buffer: prepend into the empty buffer */
	if (pending_len > 0 &&
	    evbuffer_prepend(bufferevent_get_input(c->bev), pending_input, pending_len) != 0)
		panic("managesieve: cannot queue the pending input");
	client_input(c);
	return 0;
}

static void
client_free(struct ms_client *c)
{
	/* the empty callback runs from the loop, after this callback has returned */
	mail_session_unregister(&c->session);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c->cmd);
	free(c->user);
	free(c->ip);
	free(c->dir);
	free(c->active);
	free(c);
}

static void
client_destroy(struct ms_client *c)
{
	client_free(c);
}

/* `buzon kick`: BYE (RFC 5804 §1.3), then the connection closes. */
static void
client_kick(struct mail_session *s)
{
	struct ms_client *c = s->ctx;

	if (c->closing)
		return;
	log_info("managesieve disconnect user=%s session=%u reason=kick", c->user, c->id);
	reply(c, "BYE", NULL, "Disconnected by the administrator.");
	client_close_after(c);
}

/* Registry shutdown (mail_user_destroy): close at once, no reply. */
static void
client_shutdown(struct mail_session *s)
{
	client_free(s->ctx);
}
