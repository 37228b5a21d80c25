/*
 * sieve_store.c — the user's Sieve scripts (see sieve_store.h): NAME.sieve files in
 * sieve_dir, the sieve_script symlink, the JMAP vacation wrapper, and the id map
 * (.buzon-sieve-ids in sieve_dir: "ID NAME" lines) that keeps a script's JMAP id across
 * renames. Everything is written whole to a temporary file, fsync'd and renamed, and
 * the directory is fsync'd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/sieve_store.h"
#include "proto/managesieve.h"
#include "sieve/sieve.h"

#define IDS_FILE	".buzon-sieve-ids"
#define IDS_FILE_MAX	(1024 * 1024)
#define LIST_MAX	10000	/* scripts looked at in sieve_dir */

char *
sieve_store_expand_home(const char *v, const char *home)
{
	if (v == NULL || v[0] == '\0')
		return NULL;
	if (v[0] == '~' && (v[1] == '/' || v[1] == '\0'))
		return home != NULL && home[0] != '\0' ? xasprintf("%s%s", home, v + 1) : NULL;
	return v[0] == '/' ? xstrdup(v) : NULL;
}

struct sieve_store *
sieve_store_open(const struct config *cfg, const char *home, bool need_link)
{
	struct sieve_store *st;
	char *dir = sieve_store_expand_home(cfg->sieve_dir, home);

	if (dir == NULL)
		return NULL;
	st = xcalloc(1, sizeof(*st));
	st->dir = dir;
	st->active = sieve_store_expand_home(cfg->sieve_script, home);
	if (need_link && (!cfg->sieve || st->active == NULL)) {
		sieve_store_close(&st);
		return NULL;
	}
	st->max_size = cfg->managesieve_max_script_size != 0 &&
	    cfg->managesieve_max_script_size < SIEVE_STORE_HARD_MAX ?
	    cfg->managesieve_max_script_size : SIEVE_STORE_HARD_MAX;
	st->max_scripts = cfg->managesieve_max_scripts;
	return st;
}

void
sieve_store_close(struct sieve_store **stp)
{
	struct sieve_store *st = *stp;

	if (st == NULL)
		return;
	free(st->dir);
	free(st->active);
	free(st);
	*stp = NULL;
}

bool
sieve_store_name_ok(const char *name, size_t len)
{
	return len <= SIEVE_STORE_NAME_MAX && memchr(name, '/', len) == NULL &&
	    managesieve_name_valid(name, len) &&
	    !(len == strlen(SIEVE_STORE_WRAP) && memcmp(name, SIEVE_STORE_WRAP, len) == 0);
}

static char *
script_path(const struct sieve_store *st, const char *name)
{
	return xasprintf("%s/%s.sieve", st->dir, name);
}

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

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
script_exists(const struct sieve_store *st, const char *name)
{
	char *path = script_path(st, name);
	bool r = exists(path);

	free(path);
	return r;
}

int
sieve_store_write_file(struct sieve_store *st, const char *path, const char *data,
    size_t len, const char **what_r)
{
	char *dir = dir_of(path), *tmp;
	int fd, err = 0;
	size_t off = 0;

	tmp = xasprintf("%s/.buzon-tmp.%ld.%u", dir, (long)getpid(), ++st->tmp_seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*what_r = "create temporary script";
		err = errno;
		goto out;
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
	if (err == 0 && fsync_dir(dir) < 0) {
		*what_r = "fsync sieve_dir";
		err = errno;
	}
	if (err != 0)
		(void)unlink(tmp);
out:
	free(tmp);
	free(dir);
	errno = err;
	return err == 0 ? 0 : -1;
}

int
sieve_store_read(struct sieve_store *st, const char *name, size_t max, char **data_r,
    size_t *len_r)
{
	char *path = script_path(st, name);
	int fd, r, e;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	free(path);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	r = read_file_fd(fd, max, data_r, len_r);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* ---------------------------------------------------------------- the link */

bool
sieve_store_wrapped(struct sieve_store *st)
{
	struct stat a, w;
	char *wrap;
	bool r;

	if (st->active == NULL)
		return false;
	wrap = script_path(st, SIEVE_STORE_WRAP);
	r = stat(st->active, &a) == 0 && stat(wrap, &w) == 0 && a.st_dev == w.st_dev &&
	    a.st_ino == w.st_ino;
	free(wrap);
	return r;
}

/* The user's script the wrapper includes (after jmap-vacation), or NULL. */
static char *
wrapper_included(struct sieve_store *st)
{
	static const char pfx[] = "include :personal \"";
	char *data, *p, *found = NULL;
	size_t len;

	if (sieve_store_read(st, SIEVE_STORE_WRAP, 64 * 1024, &data, &len) != 1)
		return NULL;
	for (p = data; p != NULL && *p != '\0' && found == NULL;) {
		char *nl = strchr(p, '\n');

		if (strncmp(p, pfx, sizeof(pfx) - 1) == 0) {
			struct buf n;
			const char *q = p + sizeof(pfx) - 1;

			/* our own quoting (wrap_write): '"' and '\' escaped */
			buf_init(&n, SIEVE_STORE_NAME_MAX + 1);
			for (; *q != '\0' && *q != '"' && *q != '\n'; q++) {
				if (*q == '\\' && q[1] != '\0')
					q++;
				if (buf_append_c(&n, *q) < 0)
					break;
			}
			if (*q == '"' && n.len > 0 && strcmp(buf_cstr(&n), SIEVE_STORE_VACATION) != 0)
				found = xstrdup(buf_cstr(&n));
			buf_deinit(&n);
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	free(data);
	return found;
}

/* The basename (without .sieve) of the script the link points at in sieve_dir; else NULL. */
static char *
link_target_name(const struct sieve_store *st, bool *outside_r)
{
	char *real, *rdir, *tdir, *name = NULL;
	size_t len;

	*outside_r = false;
	real = realpath(st->active, NULL);
	if (real == NULL)
		return NULL;	/* dangling: as good as none */
	rdir = realpath(st->dir, NULL);
	tdir = dir_of(real);
	len = strlen(real);
	if (rdir != NULL && strcmp(tdir, rdir) == 0 && len > strlen(tdir) + 7 &&
	    strcmp(real + len - 6, ".sieve") == 0)
		name = xstrndup(real + strlen(tdir) + 1, len - strlen(tdir) - 7);
	else
		*outside_r = true;
	free(real);
	free(rdir);
	free(tdir);
	return name;
}

int
sieve_store_active(struct sieve_store *st, char **name_r)
{
	struct stat lst;
	bool outside;
	char *name;

	*name_r = NULL;
	if (st->active == NULL || lstat(st->active, &lst) < 0)
		return 0;
	if (!S_ISLNK(lst.st_mode))
		return -1;
	if ((name = link_target_name(st, &outside)) == NULL)
		return 0;
	if (strcmp(name, SIEVE_STORE_WRAP) == 0) {
		free(name);
		name = wrapper_included(st);
		if (name == NULL)
			return 0;
	}
	*name_r = name;
	return 1;
}

/* Point the link at path (NULL: remove it). 0, or -1 with errno and *what_r. */
static int
set_link(struct sieve_store *st, const char *path, const char **what_r)
{
	char *adir = dir_of(st->active), *tmp, *target;
	size_t alen = strlen(adir);
	int r = 0;

	if (path == NULL) {
		if (unlink(st->active) < 0 && errno != ENOENT) {
			*what_r = "unlink sieve_script";
			r = -1;
		} else if (fsync_dir(adir) < 0) {
			*what_r = "fsync sieve_script directory";
			r = -1;
		}
		free(adir);
		return r;
	}
	/* relative when sieve_dir is below the link's directory (Pigeonhole's sieve/NAME) */
	if (strncmp(path, adir, alen) == 0 && path[alen] == '/')
		target = xstrdup(path + alen + 1);
	else
		target = xstrdup(path);
	tmp = xasprintf("%s/.buzon-tmp-link.%ld.%u", adir, (long)getpid(), ++st->tmp_seq);
	(void)unlink(tmp);
	if (symlink(target, tmp) < 0) {
		*what_r = "symlink";
		r = -1;
	} else if (rename(tmp, st->active) < 0) {
		int e = errno;

		*what_r = "rename symlink";
		(void)unlink(tmp);
		errno = e;
		r = -1;
	} else if (fsync_dir(adir) < 0) {
		*what_r = "fsync sieve_script directory";
		r = -1;
	}
	free(tmp);
	free(target);
	free(adir);
	return r;
}

void
sieve_store_quote(struct buf *b, const char *s)
{
	(void)buf_append_c(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			(void)buf_append_c(b, '\\');
		(void)buf_append_c(b, *s);
	}
	(void)buf_append_c(b, '"');
}

/* The wrapper: jmap-vacation, then name (NULL: nothing else). 0 or -1. */
static int
wrap_write(struct sieve_store *st, const char *name, const char **what_r)
{
	char *path = script_path(st, SIEVE_STORE_WRAP);
	struct buf w;
	int r;

	buf_init(&w, BUF_UNLIMITED);
	(void)buf_append_str(&w, "# Written by buzon for JMAP VacationResponse (docs/jmap.md): "
	    "the\n# vacation first, then the user's active script.\nrequire [\"include\"];\n"
	    "include :personal \"" SIEVE_STORE_VACATION "\";\n");
	if (name != NULL && strcmp(name, SIEVE_STORE_WRAP) != 0 &&
	    strcmp(name, SIEVE_STORE_VACATION) != 0) {
		(void)buf_append_str(&w, "include :personal ");
		sieve_store_quote(&w, name);
		(void)buf_append_str(&w, ";\n");
	}
	if (mkdir(st->dir, 0700) < 0 && errno != EEXIST) {
		*what_r = "mkdir sieve_dir";
		r = -1;
	} else {
		r = sieve_store_write_file(st, path, w.data, w.len, what_r);
	}
	buf_deinit(&w);
	free(path);
	return r;
}

enum sieve_store_result
sieve_store_wrap(struct sieve_store *st, const char **what_r)
{
	struct stat lst;
	char *name = NULL, *path;
	bool outside = false;
	int r;

	if (st->active == NULL)
		return SIEVE_STORE_NOLINK;
	if (sieve_store_wrapped(st))
		return SIEVE_STORE_OK;
	if (lstat(st->active, &lst) == 0) {
		if (!S_ISLNK(lst.st_mode))
			return SIEVE_STORE_FOREIGN;	/* ManageSieve does not manage it either */
		name = link_target_name(st, &outside);
		if (outside)
			return SIEVE_STORE_FOREIGN;
	}
	path = script_path(st, SIEVE_STORE_WRAP);
	r = wrap_write(st, name, what_r) < 0 || set_link(st, path, what_r) < 0 ? -1 : 0;
	free(path);
	free(name);
	return r < 0 ? SIEVE_STORE_ERROR : SIEVE_STORE_OK;
}

enum sieve_store_result
sieve_store_activate(struct sieve_store *st, const char *name, const char **what_r)
{
	struct stat lst;
	char *path = NULL;
	int r;

	if (name != NULL && strcmp(name, SIEVE_STORE_VACATION) == 0)
		return SIEVE_STORE_RESERVED;
	if (st->active == NULL)
		return SIEVE_STORE_NOLINK;
	if (lstat(st->active, &lst) == 0 && !S_ISLNK(lst.st_mode))
		return SIEVE_STORE_FOREIGN;	/* a script written by hand: never clobbered */
	if (name != NULL) {
		path = script_path(st, name);
		if (!exists(path)) {
			free(path);
			return SIEVE_STORE_NONEXISTENT;
		}
	}
	/* with a vacation on, the wrapper stays active and includes the new one */
	if (sieve_store_wrapped(st))
		r = wrap_write(st, name, what_r);
	else
		r = set_link(st, path, what_r);
	free(path);
	return r < 0 ? SIEVE_STORE_ERROR : SIEVE_STORE_OK;
}

/* ---------------------------------------------------------------- ids */

struct idmap {
	char (*id)[SIEVE_STORE_ID_LEN + 1];
	char **name;
	size_t n;
};

static void
idmap_free(struct idmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->name[i]);
	free(m->id);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

static bool
id_valid(const char *s, size_t len)
{
	if (len != SIEVE_STORE_ID_LEN || s[0] != 'S')
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void
idmap_add(struct idmap *m, const char *id, const char *name)
{
	m->id = xreallocarray(m->id, m->n + 1, sizeof(*m->id));
	m->name = xreallocarray(m->name, m->n + 1, sizeof(*m->name));
	memcpy(m->id[m->n], id, SIEVE_STORE_ID_LEN + 1);
	m->name[m->n] = xstrdup(name);
	m->n++;
}

static void
idmap_add_cb(void *ctx, const char *id, const char *name)
{
	idmap_add(ctx, id, name);
}

/* The map as stored (lines that do not parse are dropped). */
static void
idmap_load(struct sieve_store *st, struct idmap *m)
{
	char *path = xasprintf("%s/" IDS_FILE, st->dir), *data = NULL;
	size_t len;
	int fd, r;

	memset(m, 0, sizeof(*m));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	free(path);
	if (fd < 0)
		return;
	r = read_file_fd(fd, IDS_FILE_MAX, &data, &len);
	close(fd);
	if (r != 1)
		return;
	sieve_store_ids_parse(data, idmap_add_cb, m);
	free(data);
}

void
sieve_store_ids_parse(char *data, void (*add)(void *ctx, const char *id, const char *name),
    void *ctx)
{
	for (char *p = data; *p != '\0';) {
		char *nl = strchr(p, '\n');

		if (nl == NULL)
			break;	/* a torn last line: its script gets a new id */
		*nl = '\0';
		if (strnlen(p, SIEVE_STORE_ID_LEN + 1) > SIEVE_STORE_ID_LEN &&
		    id_valid(p, SIEVE_STORE_ID_LEN) && p[SIEVE_STORE_ID_LEN] == ' ' &&
		    sieve_store_name_ok(p + SIEVE_STORE_ID_LEN + 1,
		    strlen(p + SIEVE_STORE_ID_LEN + 1))) {
			p[SIEVE_STORE_ID_LEN] = '\0';
			add(ctx, p, p + SIEVE_STORE_ID_LEN + 1);
		}
		p = nl + 1;
	}
}

static int
idmap_save(struct sieve_store *st, const struct idmap *m, const char **what_r)
{
	char *path = xasprintf("%s/" IDS_FILE, st->dir);
	struct buf b;
	int r;

	buf_init(&b, BUF_UNLIMITED);
	for (size_t i = 0; i < m->n; i++)
		(void)buf_appendf(&b, "%s %s\n", m->id[i], m->name[i]);
	r = sieve_store_write_file(st, path, b.data != NULL ? b.data : "", b.len, what_r);
	buf_deinit(&b);
	free(path);
	return r;
}

static ssize_t
idmap_find(const struct idmap *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->name[i], name) == 0)
			return (ssize_t)i;
	return -1;
}

/* The map entry of from gets the name to (to == NULL: dropped). */
static int
idmap_move(struct sieve_store *st, const char *from, const char *to, const char **what_r)
{
	struct idmap m;
	ssize_t i;
	int r = 0;

	idmap_load(st, &m);
	if ((i = idmap_find(&m, from)) >= 0) {
		free(m.name[i]);
		if (to != NULL) {
			m.name[i] = xstrdup(to);
		} else {
			m.name[i] = m.name[m.n - 1];
			memcpy(m.id[i], m.id[m.n - 1], sizeof(m.id[i]));
			m.n--;
		}
		r = idmap_save(st, &m, what_r);
	}
	idmap_free(&m);
	return r;
}

/* ---------------------------------------------------------------- listing */

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sieve_store_entry *)a)->name,
	    ((const struct sieve_store_entry *)b)->name);
}

void
sieve_store_list_free(struct sieve_store_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Scripts on disk (names only checked), no ids. */
static int
list_files(struct sieve_store *st, struct sieve_store_list *l, const char **what_r)
{
	DIR *d = opendir(st->dir);
	struct dirent *de;

	memset(l, 0, sizeof(*l));
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		*what_r = "opendir sieve_dir";
		return -1;
	}
	while ((de = readdir(d)) != NULL && l->n < LIST_MAX) {
		size_t len = strlen(de->d_name);
		struct stat sb;
		struct sieve_store_entry *e;

		/* temporary files (.buzon-tmp.*) never end in .sieve */
		if (len <= 6 || memcmp(de->d_name + len - 6, ".sieve", 6) != 0 ||
		    !sieve_store_name_ok(de->d_name, len - 6) ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		e = &l->v[l->n++];
		memset(e, 0, sizeof(*e));
		e->name = xstrndup(de->d_name, len - 6);
		e->size = (uint64_t)sb.st_size;
		e->mtime = sb.st_mtim;
	}
	closedir(d);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
	return 0;
}

static void
random_id(char out[SIEVE_STORE_ID_LEN + 1])
{
	unsigned char r[8];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		panic("getrandom failed");
	snprintf(out, SIEVE_STORE_ID_LEN + 1, "S%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
	    r[2], r[3], r[4], r[5], r[6], r[7]);
}

int
sieve_store_list(struct sieve_store *st, struct sieve_store_list *l, const char **what_r)
{
	struct idmap m, out;
	char *active = NULL;
	bool changed;

	if (list_files(st, l, what_r) < 0)
		return -1;
	(void)sieve_store_active(st, &active);
	idmap_load(st, &m);
	memset(&out, 0, sizeof(out));
	changed = false;
	for (size_t i = 0; i < l->n; i++) {
		struct sieve_store_entry *e = &l->v[i];
		ssize_t k = idmap_find(&m, e->name);

		e->active = active != NULL && strcmp(active, e->name) == 0;
		if (k >= 0) {
			memcpy(e->id, m.id[k], sizeof(e->id));
		} else {
			bool dup;

			do {
				random_id(e->id);
				dup = false;
				for (size_t j = 0; j < m.n && !dup; j++)
					dup = strcmp(m.id[j], e->id) == 0;
			} while (dup);
			changed = true;
		}
		idmap_add(&out, e->id, e->name);
	}
	changed = changed || out.n != m.n;
	idmap_free(&m);
	free(active);
	if (changed && idmap_save(st, &out, what_r) < 0)
		/* listing still works (a read-only sieve_dir); ids change at the next look */
		log_warn("sieve store dir=%s error=\"%s: %s\"", st->dir, *what_r,
		    strerror(errno));
	idmap_free(&out);
	return 0;
}

struct sieve_store_entry *
sieve_store_find(struct sieve_store_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

struct sieve_store_entry *
sieve_store_find_id(struct sieve_store_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0)
			return &l->v[i];
	return NULL;
}

/* ---------------------------------------------------------------- changes */

bool
sieve_store_check(const struct sieve_store *st, const char *data, size_t len,
    const char *sep, char **msg_r)
{
	struct sieve_limits lim;
	struct sieve_errors errs;
	struct sieve_script *s;
	struct buf msg;
	bool ok;

	*msg_r = NULL;
	sieve_limits_default(&lim);
	if (lim.script_max < st->max_size)
		lim.script_max = (size_t)st->max_size;
	memset(&errs, 0, sizeof(errs));
	s = sieve_compile(data != NULL ? data : "", len, &lim, &errs);
	ok = s != NULL;
	sieve_script_destroy(&s);
	buf_init(&msg, 16 * 1024);
	for (unsigned i = 0; i < errs.count; i++) {
		const struct sieve_error *e = &errs.list[i];

		if (e->warning == !ok)
			continue;	/* on failure the errors, on success the warnings */
		if (msg.len > 0)
			(void)buf_append_str(&msg, sep);
		(void)buf_appendf(&msg, "%u:%u: %s%s", e->line, e->col,
		    e->warning ? "warning: " : "", e->text);
	}
	if (!ok && msg.len == 0)
		(void)buf_append_str(&msg, "the script does not compile");
	if (msg.len > 0)
		*msg_r = xstrdup(buf_cstr(&msg));
	buf_deinit(&msg);
	sieve_errors_deinit(&errs);
	return ok;
}

enum sieve_store_result
sieve_store_quota(struct sieve_store *st, const char *name, uint64_t size)
{
	struct sieve_store_list l;
	const char *what;
	bool full;

	if (size > st->max_size)
		return SIEVE_STORE_TOOLARGE;
	if (st->max_scripts == 0 || script_exists(st, name))
		return SIEVE_STORE_OK;
	if (list_files(st, &l, &what) < 0)
		return SIEVE_STORE_OK;	/* the put reports the directory's trouble */
	full = l.n >= st->max_scripts;
	sieve_store_list_free(&l);
	return full ? SIEVE_STORE_TOOMANY : SIEVE_STORE_OK;
}

enum sieve_store_result
sieve_store_put(struct sieve_store *st, const char *name, const char *data, size_t len,
    const char **what_r)
{
	char *path;
	int r;

	if (mkdir(st->dir, 0700) < 0 && errno != EEXIST) {
		*what_r = "mkdir sieve_dir";
		return SIEVE_STORE_ERROR;
	}
	path = script_path(st, name);
	r = sieve_store_write_file(st, path, data, len, what_r);
	free(path);
	return r < 0 ? SIEVE_STORE_ERROR : SIEVE_STORE_OK;
}

static bool
is_active(struct sieve_store *st, const char *name)
{
	char *active;
	bool r = sieve_store_active(st, &active) == 1 && strcmp(active, name) == 0;

	free(active);
	return r;
}

enum sieve_store_result
sieve_store_delete(struct sieve_store *st, const char *name, const char **what_r)
{
	char *path = script_path(st, name);
	enum sieve_store_result r = SIEVE_STORE_OK;

	if (!exists(path))
		r = SIEVE_STORE_NONEXISTENT;
	else if (is_active(st, name) ||
	    (strcmp(name, SIEVE_STORE_VACATION) == 0 && sieve_store_wrapped(st)))
		r = SIEVE_STORE_ACTIVE;
	else if (unlink(path) < 0) {
		*what_r = "unlink script";
		r = SIEVE_STORE_ERROR;
	} else if (fsync_dir(st->dir) < 0) {
		*what_r = "fsync sieve_dir";
		r = SIEVE_STORE_ERROR;
	} else if (idmap_move(st, name, NULL, what_r) < 0) {
		r = SIEVE_STORE_ERROR;
	}
	free(path);
	return r;
}

enum sieve_store_result
sieve_store_rename(struct sieve_store *st, const char *from, const char *to,
    const char **what_r)
{
	char *pfrom = script_path(st, from), *pto = script_path(st, to);
	enum sieve_store_result r = SIEVE_STORE_OK;
	bool active = is_active(st, from), wrapped = sieve_store_wrapped(st);

	if (wrapped && (strcmp(from, SIEVE_STORE_VACATION) == 0 ||
	    strcmp(to, SIEVE_STORE_VACATION) == 0)) {
		r = SIEVE_STORE_RESERVED;	/* the wrapper includes jmap-vacation by name */
	} else if (!exists(pfrom)) {
		r = SIEVE_STORE_NONEXISTENT;
	} else if (strcmp(pfrom, pto) == 0 || exists(pto)) {
		r = SIEVE_STORE_EXISTS;
	} else if (link(pfrom, pto) < 0) {
		/* link(2) never replaces: a script created meanwhile stays */
		if (errno == EEXIST) {
			r = SIEVE_STORE_EXISTS;
		} else {
			*what_r = "link script";
			r = SIEVE_STORE_ERROR;
		}
	} else if (active && (wrapped ? wrap_write(st, to, what_r) :
	    set_link(st, pto, what_r)) < 0) {
		int e = errno;

		(void)unlink(pto);
		errno = e;
		r = SIEVE_STORE_ERROR;
	} else if (unlink(pfrom) < 0) {
		*what_r = "unlink old script";
		r = SIEVE_STORE_ERROR;
	} else if (fsync_dir(st->dir) < 0) {
		*what_r = "fsync sieve_dir";
		r = SIEVE_STORE_ERROR;
	} else if (idmap_move(st, from, to, what_r) < 0) {
		r = SIEVE_STORE_ERROR;
	}
	free(pfrom);
	free(pto);
	return r;
}
