/*
 * store.c — the user's Maildir++ folder tree: open the root, list/create/delete/rename
 * folders, subscriptions, special-use folders, STATUS, the UIDVALIDITY counter and the
 * inotify fd. Runs in the per-user mail process with the mailbox owner's uid.
 *
 * Security role: folder names are validated (store_name_check_len) and then mapped to
 * one directory entry ".a.b" directly under the root fd; everything is opened with
 * openat + O_NOFOLLOW so a symlink planted by the user (".Evil -> /etc") is never
 * followed, and every file is created O_EXCL 0600 (dirs 0700).
 */
#include "store/store_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

static const char *const special_names[] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };
static const unsigned int special_attrs[] = {
	MSTORE_ATTR_SENT, MSTORE_ATTR_DRAFTS, MSTORE_ATTR_TRASH, MSTORE_ATTR_JUNK,
	MSTORE_ATTR_ARCHIVE
};

const char *
store_status_str(enum store_status st)
{
	switch (st) {
	case STORE_OK: return "OK";
	case STORE_NONEXISTENT: return "Mailbox does not exist";
	case STORE_EXISTS: return "Mailbox already exists";
	case STORE_BADNAME: return "Invalid mailbox name";
	case STORE_CANNOT: return "Operation not permitted on this mailbox";
	case STORE_NOSELECT: return "Mailbox is not selectable";
	case STORE_LIMIT: return "Limit exceeded";
	case STORE_EXPUNGED: return "Message has been expunged";
	case STORE_OVERQUOTA: return "Quota exceeded";
	case STORE_NOSPACE: return "Not enough disk space";
	case STORE_IOERROR: return "Internal error occurred";
	}
	return "Internal error occurred";
}

enum store_status
store_errno_status(int err)
{
	switch (err) {
	case ENOSPC: return STORE_NOSPACE;
	case EDQUOT: return STORE_OVERQUOTA;
	case ENOENT: return STORE_NONEXISTENT;
	default: return STORE_IOERROR;
	}
}

int
store_fsync_dir(int dirfd, const char *path)
{
	int fd, ret, err;

	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		log_error("store fsync_dir open failed dir=%s error=%s", path, strerror(err));
		errno = err;
		return -1;
	}
	ret = fsync(fd);
	err = errno;
	close(fd);
	if (ret < 0) {
		log_error("store fsync_dir failed dir=%s error=%s", path, strerror(err));
		errno = err;
	}
	return ret;
}

int
store_read_file(int dirfd, const char *name, size_t max, struct buf *out, struct stat *st_r)
{
	struct stat st;
	char tmp[8192];
	ssize_t n;
	int fd, err;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	buf_reset(out);
	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_append(out, tmp, (size_t)n) < 0 || out->len > max) {
			n = -1;
			errno = EFBIG;
			break;
		}
	}
	err = errno;
	close(fd);
	if (n < 0) {
		errno = err;
		return -1;
	}
	if (st_r != NULL)
		*st_r = st;
	return 1;
}

int
store_write_file(struct mstore *store, int dirfd, const char *name, const void *data,
    size_t len)
{
	struct buf tmpname;
	const char *p = data;
	ssize_t n;
	int fd = -1, err = 0, tries;

	buf_init(&tmpname, 512);
	for (tries = 0; tries < 10; tries++) {
		buf_reset(&tmpname);
		buf_appendf(&tmpname, "%s.tmp.", name);
		mstore_unique_name(store, &tmpname);
		fd = openat(dirfd, buf_cstr(&tmpname),
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err = errno;
		goto fail;
	}
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		err = errno;
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, buf_cstr(&tmpname), dirfd, name) < 0) {
		err = errno;
		goto fail;
	}
	buf_deinit(&tmpname);
	if (store_fsync_dir(dirfd, ".") < 0)
		return -1;
	return 0;
fail:
	log_error("store write failed file=%s error=%s", name, strerror(err));
	if (fd >= 0)
		close(fd);
	if (tmpname.len > 0)
		(void)unlinkat(dirfd, buf_cstr(&tmpname), 0);
	buf_deinit(&tmpname);
	errno = err;
	return -1;
}

void
mstore_unique_name(struct mstore *store, struct buf *out)
{
	struct timeval tv;
	uint64_t rnd = 0;

	gettimeofday(&tv, NULL);
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = clock_ms() ^ ((uint64_t)getpid() << 32);
	buf_appendf(out, "%lld.M%ldP%ldQ%uR%016llx.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), ++store->seq, (unsigned long long)rnd,
	    store->host);
}

static int
mkdirat_0700(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Create cur/ new/ tmp/ inside the folder directory fd. */
static int
maildir_make_subdirs(int fd)
{
	if (mkdirat_0700(fd, "cur") < 0 || mkdirat_0700(fd, "new") < 0 ||
	    mkdirat_0700(fd, "tmp") < 0)
		return -1;
	return 0;
}

int
mstore_open(const char *root_path, struct mstore **store_r, const char **err_r)
{
	struct mstore *store;
	char host[256];
	size_t i, n;
	int fd;

	umask(077);
	fd = open(root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/*
		 * Create missing levels. The caller runs as the mailbox owner (never root):
		 * the path may lie where the user can write (~/Maildir), so only the user's
		 * own rights may be used there. The new root itself is opened O_NOFOLLOW.
		 */
		char *path = xstrdup(root_path), *p;

		for (p = path + 1; *p != '\0'; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			(void)mkdir(path, 0700);
			*p = '/';
		}
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			free(path);
			*err_r = "cannot create the mail root directory";
			return -1;
		}
		free(path);
		fd = open(root_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		log_error("store open failed root=%s error=%s", root_path, strerror(errno));
		*err_r = "cannot open the mail root directory";
		return -1;
	}
	if (maildir_make_subdirs(fd) < 0) {
		log_error("store mkdir failed root=%s error=%s", root_path, strerror(errno));
		close(fd);
		*err_r = "cannot create the INBOX directories";
		return -1;
	}
	store = xcalloc(1, sizeof(*store));
	store->root_fd = fd;
	store->root_path = xstrdup(root_path);
	store->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	/* maildir(5): '/' and ':' in the host part are written as \057 and \072 */
	for (i = 0, n = 0; host[i] != '\0' && n + 5 < sizeof(store->host); i++) {
		if (host[i] == '/' || host[i] == ':' || host[i] == ',') {
			/* ',' too, so that ",S=" fields stay unambiguous */
			memcpy(store->host + n, host[i] == '/' ? "\\057" :
			    host[i] == ':' ? "\\072" : "\\054", 4);
			n += 4;
		} else if ((unsigned char)host[i] > 0x20 && (unsigned char)host[i] < 0x7f)
			store->host[n++] = host[i];
	}
	if (n == 0)
		memcpy(store->host, "localhost", (n = 9));
	store->host[n] = '\0';
	*store_r = store;
	return 0;
}

void
mstore_close(struct mstore **storep)
{
	struct mstore *store = *storep;

	if (store == NULL)
		return;
	mstore_cache_drop(store, NULL, false);
	if (store->mboxes != NULL)
		panic("mstore_close: mailbox %s still open", store->mboxes->name);
	while (store->recent != NULL) {
		struct recent_cache *rc = store->recent;

		store->recent = rc->next;
		free(rc->name);
		free(rc->uids);
		free(rc);
	}
	if (store->inotify_fd >= 0)
		close(store->inotify_fd);
	close(store->root_fd);
	free(store->root_path);
	free(store);
	*storep = NULL;
}

char *
mstore_canonical(const char *name)
{
	char *c = xstrdup(name);

	if (strncasecmp(c, "INBOX", 5) == 0 && (c[5] == '\0' || c[5] == STORE_SEP))
		memcpy(c, "INBOX", 5);
	return c;
}

char *
mstore_dirname(const char *canonical)
{
	if (strcmp(canonical, "INBOX") == 0)
		return xstrdup(".");
	return xasprintf(".%s", canonical);
}

uint32_t
mstore_next_uidvalidity(struct mstore *store, uint32_t at_least)
{
	struct buf b;
	uint32_t last = 0, now = (uint32_t)time(NULL), next;
	char tmp[16];
	size_t n;
	int ret;

	buf_init(&b, 64);
	ret = store_read_file(store->root_fd, UIDVALIDITY_NAME, 64, &b, NULL);
	if (ret > 0) {
		/* hex, as Dovecot writes it */
		for (n = 0; n < b.len && n < 8; n++) {
			char c = b.data[n];
			int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
			    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

			if (v < 0)
				break;
			last = last << 4 | (uint32_t)v;
		}
	}
	buf_deinit(&b);
	next = MAX(now, last + 1);
	if (next <= at_least)
		next = at_least + 1;
	if (next == 0)
		next = 1;
	n = (size_t)snprintf(tmp, sizeof(tmp), "%08x\n", next);
	if (store_write_file(store, store->root_fd, UIDVALIDITY_NAME, tmp, n) < 0)
		return 0;
	return next;
}

/* ------------------------------------------------------------------ folder existence */

/* 1 selectable folder, 2 directory without cur/ (noselect), 0 missing, -1 error */
static int
folder_stat(struct mstore *store, const char *dirname)
{
	struct stat st;
	int fd, ret;

	if (strcmp(dirname, ".") == 0)
		return 1;
	if (fstatat(store->root_fd, dirname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return 0;	/* symlinks and files are not folders */
	fd = openat(store->root_fd, dirname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = fstatat(fd, "cur", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) ? 1 : 2;
	close(fd);
	return ret;
}

static enum store_status
name_prepare(const char *name, char **canon_r, char **dir_r)
{
	enum store_status st;

	st = mstore_name_check(name);
	if (st != STORE_OK)
		return st;
	*canon_r = mstore_canonical(name);
	*dir_r = mstore_dirname(*canon_r);
	return STORE_OK;
}

/* ------------------------------------------------------------------ listing */

struct namelist {
	char **names;
	size_t count, cap;
};

static void
namelist_add(struct namelist *l, char *name)
{
	if (l->count == l->cap) {
		l->cap = l->cap == 0 ? 32 : l->cap * 2;
		l->names = xreallocarray(l->names, l->cap, sizeof(*l->names));
	}
	l->names[l->count++] = name;
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All existing folder names (not INBOX) from the root directory, sorted, unique. */
static enum store_status
read_folder_names(struct mstore *store, struct namelist *l)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd;

	fd = openat(store->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		log_error("store list failed root=%s error=%s", store->root_path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return STORE_IOERROR;
	}
	while ((de = readdir(dir)) != NULL) {
		const char *n = de->d_name;

		if (n[0] != '.' || n[1] == '\0' || n[1] == '.')
			continue;
		if (store_name_check_len(n + 1, strlen(n + 1)) != STORE_OK)
			continue;
		if (strncasecmp(n + 1, "INBOX", 5) == 0 && n[6] == '\0')
			continue;
		if (fstatat(store->root_fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;	/* ".Evil -> /etc" is not a folder */
		namelist_add(l, xstrdup(n + 1));
	}
	closedir(dir);
	if (l->count > 0)
		qsort(l->names, l->count, sizeof(char *), strp_cmp);
	return STORE_OK;
}

static void
namelist_free(struct namelist *l)
{
	mstore_names_free(l->names, l->count);
	l->names = NULL;
	l->count = l->cap = 0;
}

static bool
sorted_contains(char *const *names, size_t count, const char *name)
{
	return count > 0 && bsearch(&name, names, count, sizeof(char *), strp_cmp) != NULL;
}

static int
folder_cmp(const void *a, const void *b)
{
	const struct mstore_folder *fa = a, *fb = b;

	if (strcmp(fa->name, "INBOX") == 0)
		return strcmp(fb->name, "INBOX") == 0 ? 0 : -1;
	if (strcmp(fb->name, "INBOX") == 0)
		return 1;
	return strcmp(fa->name, fb->name);
}

enum store_status
mstore_list(struct mstore *store, struct mstore_folder **list_r, size_t *count_r)
{
	struct namelist l = { 0 }, all = { 0 };
	struct mstore_folder *out;
	char **subs = NULL, *dir;
	size_t nsubs = 0, i, j, n;
	enum store_status st;

	st = read_folder_names(store, &l);
	if (st != STORE_OK)
		return st;
	st = mstore_subscriptions(store, &subs, &nsubs);
	if (st != STORE_OK) {
		namelist_free(&l);
		return st;
	}
	/* existing names, their missing parents, INBOX */
	namelist_add(&all, xstrdup("INBOX"));
	for (i = 0; i < l.count; i++) {
		namelist_add(&all, xstrdup(l.names[i]));
		for (j = strlen(l.names[i]); j > 0; j--)
			if (l.names[i][j] == STORE_SEP)
				namelist_add(&all, xstrndup(l.names[i], j));
	}
	for (i = 0; i < nsubs; i++)
		namelist_add(&all, xstrdup(subs[i]));
	qsort(all.names, all.count, sizeof(char *), strp_cmp);
	out = xcalloc(all.count, sizeof(*out));
	for (i = 0, n = 0; i < all.count; i++) {
		const char *name = all.names[i];
		size_t len = strlen(name);
		unsigned int attrs = 0;

		if (n > 0 && strcmp(out[n - 1].name, name) == 0)
			continue;
		if (strcmp(name, "INBOX") != 0 && !sorted_contains(l.names, l.count, name)) {
			/* a parent level or a subscription: does it have existing children? */
			bool parent = false;

			for (j = 0; j < l.count && !parent; j++)
				parent = strncmp(l.names[j], name, len) == 0 &&
				    l.names[j][len] == STORE_SEP;
			attrs |= MSTORE_ATTR_NOSELECT;
			if (!parent)
				attrs |= MSTORE_ATTR_NONEXISTENT;
		} else if (strcmp(name, "INBOX") != 0) {
			dir = mstore_dirname(name);
			if (folder_stat(store, dir) != 1)
				attrs |= MSTORE_ATTR_NOSELECT;
			free(dir);
		}
		/* children: any sorted successor starting with "name." */
		attrs |= MSTORE_ATTR_HASNOCHILDREN;
		for (j = 0; j < l.count; j++)
			if (strncmp(l.names[j], name, len) == 0 && l.names[j][len] == STORE_SEP) {
				attrs &= ~MSTORE_ATTR_HASNOCHILDREN;
				attrs |= MSTORE_ATTR_HASCHILDREN;
				break;
			}
		if (sorted_contains(subs, nsubs, name))
			attrs |= MSTORE_ATTR_SUBSCRIBED;
		for (j = 0; j < N_ELEMENTS(special_names); j++)
			if (strcmp(name, special_names[j]) == 0)
				attrs |= special_attrs[j];
		out[n].name = xstrdup(name);
		out[n].attrs = attrs;
		n++;
	}
	qsort(out, n, sizeof(*out), folder_cmp);
	namelist_free(&l);
	namelist_free(&all);
	mstore_names_free(subs, nsubs);
	*list_r = out;
	*count_r = n;
	return STORE_OK;
}

void
mstore_list_free(struct mstore_folder *list, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(list[i].name);
	free(list);
}

void
mstore_names_free(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* ------------------------------------------------------------------ create */

/* Create one folder directory with cur/ new/ tmp/ and maildirfolder. */
static enum store_status
folder_create_one(struct mstore *store, const char *dir)
{
	int fd, ffd, err;

	if (mkdirat(store->root_fd, dir, 0700) < 0 && errno != EEXIST) {
		err = errno;
		log_error("store mkdir failed dir=%s error=%s", dir, strerror(err));
		return store_errno_status(err);
	}
	fd = openat(store->root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_error("store open failed dir=%s error=%s", dir, strerror(errno));
		return STORE_CANNOT;	/* e.g. a symlink with that name */
	}
	ffd = openat(fd, MAILDIRFOLDER_NAME, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ffd < 0 || maildir_make_subdirs(fd) < 0) {
		err = errno;
		log_error("store create failed dir=%s error=%s", dir, strerror(err));
		if (ffd >= 0)
			close(ffd);
		close(fd);
		return store_errno_status(err);
	}
	close(ffd);
	if (fsync(fd) < 0) {
		err = errno;
		close(fd);
		return store_errno_status(err);
	}
	close(fd);
	return STORE_OK;
}

enum store_status
mstore_create(struct mstore *store, const char *name)
{
	enum store_status st;
	char *copy, *canon, *dir;
	size_t len = strlen(name), i;
	int ex;

	copy = xstrdup(name);
	if (len > 1 && copy[len - 1] == STORE_SEP)
		copy[--len] = '\0';	/* RFC 3501 §6.3.3 trailing separator */
	st = name_prepare(copy, &canon, &dir);
	free(copy);
	if (st != STORE_OK)
		return st;
	if (strcmp(canon, "INBOX") == 0) {
		st = STORE_EXISTS;
		goto out;
	}
	ex = folder_stat(store, dir);
	if (ex == 1) {
		st = STORE_EXISTS;
		goto out;
	}
	if (ex < 0) {
		st = STORE_IOERROR;
		goto out;
	}
	/* parents first, so they are never \Noselect (INBOX.x lives under the root) */
	for (i = 1; dir[i] != '\0'; i++) {
		if (dir[i] != STORE_SEP)
			continue;
		dir[i] = '\0';
		if (strcasecmp(dir, ".INBOX") != 0 && folder_stat(store, dir) != 1)
			st = folder_create_one(store, dir);
		dir[i] = STORE_SEP;
		if (st != STORE_OK)
			goto out;
	}
	st = folder_create_one(store, dir);
	if (st == STORE_OK && store_fsync_dir(store->root_fd, ".") < 0)
		st = STORE_IOERROR;
	if (st == STORE_OK)
		log_info("store create mailbox=%s", canon);
out:
	free(canon);
	free(dir);
	return st;
}

/* ------------------------------------------------------------------ delete */

/* Unlink every entry of a directory (no recursion except into cur/new/tmp). */
static int
remove_dir_contents(int fd, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int dfd, ret = 0;

	dfd = dup(fd);
	if (dfd < 0 || (dir = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 2) {
			int sub = openat(fd, de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0 || remove_dir_contents(sub, depth + 1) < 0)
				ret = -1;
			if (sub >= 0)
				close(sub);
			if (unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0)
				ret = -1;
		} else if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
				ret = -1;
		} else
			ret = -1;
	}
	closedir(dir);
	return ret;
}

static void
mark_open_deleted(struct mstore *store, const char *canon)
{
	struct mbox *m;

	mstore_cache_drop(store, canon, false);
	for (m = store->mboxes; m != NULL; m = m->next)
		if (strcmp(m->name, canon) == 0)
			mbox_mark_deleted(m);
}

enum store_status
mstore_delete(struct mstore *store, const char *name)
{
	enum store_status st;
	char *canon, *dir;
	struct buf trash;
	int ex, fd;

	st = name_prepare(name, &canon, &dir);
	if (st != STORE_OK)
		return st;
	if (strcmp(canon, "INBOX") == 0) {
		st = STORE_CANNOT;
		goto out;
	}
	ex = folder_stat(store, dir);
	if (ex == 0) {
		/* a \Noselect level that only exists through its children */
		struct mstore_folder *list;
		size_t count, i;

		st = STORE_NONEXISTENT;
		if (mstore_list(store, &list, &count) == STORE_OK) {
			for (i = 0; i < count; i++)
				if (strcmp(list[i].name, canon) == 0 &&
				    (list[i].attrs & MSTORE_ATTR_HASCHILDREN))
					st = STORE_CANNOT;
			mstore_list_free(list, count);
		}
		goto out;
	}
	if (ex < 0) {
		st = STORE_IOERROR;
		goto out;
	}
	/* Move it out of the namespace atomically, then remove the contents: a crash
	 * leaves an invisible "..buzon-deleted.*" directory, never half a folder. */
	buf_init(&trash, 512);
	buf_append_str(&trash, DELETED_PREFIX);
	mstore_unique_name(store, &trash);
	if (renameat(store->root_fd, dir, store->root_fd, buf_cstr(&trash)) < 0) {
		log_error("store delete rename failed dir=%s error=%s", dir, strerror(errno));
		buf_deinit(&trash);
		st = STORE_IOERROR;
		goto out;
	}
	mark_open_deleted(store, canon);
	fd = openat(store->root_fd, buf_cstr(&trash),
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || remove_dir_contents(fd, 0) < 0 ||
	    unlinkat(store->root_fd, buf_cstr(&trash), AT_REMOVEDIR) < 0)
		log_error("store delete cleanup failed dir=%s error=%s", buf_cstr(&trash),
		    strerror(errno));
	if (fd >= 0)
		close(fd);
	(void)store_fsync_dir(store->root_fd, ".");
	buf_deinit(&trash);
	log_info("store delete mailbox=%s", canon);
out:
	free(canon);
	free(dir);
	return st;
}

/* ------------------------------------------------------------------ rename */

static enum store_status rename_inbox(struct mstore *store, const char *newdir,
    const char *newcanon);

enum store_status
mstore_rename(struct mstore *store, const char *oldname, const char *newname)
{
	struct namelist l = { 0 };
	char *ocanon = NULL, *odir = NULL, *ncanon = NULL, *ndir = NULL;
	enum store_status st;
	size_t olen, i;
	struct mbox *m;
	int ex;

	st = name_prepare(oldname, &ocanon, &odir);
	if (st != STORE_OK)
		return st;
	st = name_prepare(newname, &ncanon, &ndir);
	if (st != STORE_OK)
		goto out;
	olen = strlen(ocanon);
	if (strcmp(ncanon, "INBOX") == 0 || strcmp(ocanon, ncanon) == 0 ||
	    (strncmp(ncanon, ocanon, olen) == 0 && ncanon[olen] == STORE_SEP &&
	    strcmp(ocanon, "INBOX") != 0)) {
		st = strcmp(ncanon, "INBOX") == 0 ? STORE_EXISTS : STORE_CANNOT;
		goto out;
	}
	ex = folder_stat(store, ndir);
	if (ex != 0) {
		st = ex < 0 ? STORE_IOERROR : STORE_EXISTS;
		goto out;
	}
	if (strcmp(ocanon, "INBOX") == 0) {
		st = rename_inbox(store, ndir, ncanon);
		goto out;
	}
	ex = folder_stat(store, odir);
	if (ex <= 0) {
		st = ex < 0 ? STORE_IOERROR : STORE_NONEXISTENT;
		goto out;
	}
	mstore_cache_drop(store, ocanon, true);	/* closed ones need not stop it */
	for (m = store->mboxes; m != NULL; m = m->next)
		if (!m->deleted && (strcmp(m->name, ocanon) == 0 ||
		    (strncmp(m->name, ocanon, olen) == 0 && m->name[olen] == STORE_SEP))) {
			st = STORE_CANNOT;
			goto out;
		}
	st = read_folder_names(store, &l);
	if (st != STORE_OK)
		goto out;
	/* children first check: no target may exist, names must stay valid */
	for (i = 0; i < l.count; i++) {
		char *nn, *nd;

		if (strncmp(l.names[i], ocanon, olen) != 0 || l.names[i][olen] != STORE_SEP)
			continue;
		nn = xasprintf("%s%s", ncanon, l.names[i] + olen);
		if (mstore_name_check(nn) != STORE_OK)
			st = STORE_LIMIT;
		nd = mstore_dirname(nn);
		if (st == STORE_OK && folder_stat(store, nd) != 0)
			st = STORE_EXISTS;
		free(nn);
		free(nd);
		if (st != STORE_OK)
			goto out;
	}
	/* missing parents of the new name become real folders (not \Noselect) */
	for (i = 1; ndir[i] != '\0'; i++) {
		if (ndir[i] != STORE_SEP)
			continue;
		ndir[i] = '\0';
		if (strcasecmp(ndir, ".INBOX") != 0 && folder_stat(store, ndir) == 0)
			st = folder_create_one(store, ndir);
		ndir[i] = STORE_SEP;
		if (st != STORE_OK)
			goto out;
	}
	if (renameat(store->root_fd, odir, store->root_fd, ndir) < 0) {
		log_error("store rename failed from=%s to=%s error=%s", odir, ndir,
		    strerror(errno));
		st = STORE_IOERROR;
		goto out;
	}
	for (i = 0; i < l.count; i++) {
		char *on, *od, *nn, *nd;

		if (strncmp(l.names[i], ocanon, olen) != 0 || l.names[i][olen] != STORE_SEP)
			continue;
		on = l.names[i];
		od = mstore_dirname(on);
		nn = xasprintf("%s%s", ncanon, on + olen);
		nd = mstore_dirname(nn);
		if (renameat(store->root_fd, od, store->root_fd, nd) < 0) {
			log_error("store rename child failed from=%s to=%s error=%s", od, nd,
			    strerror(errno));
			st = STORE_IOERROR;
		}
		free(od);
		free(nn);
		free(nd);
	}
	if (store_fsync_dir(store->root_fd, ".") < 0)
		st = STORE_IOERROR;
	if (st == STORE_OK)
		log_info("store rename from=%s to=%s", ocanon, ncanon);
out:
	namelist_free(&l);
	free(ocanon);
	free(odir);
	free(ncanon);
	free(ndir);
	return st;
}

/* RFC 3501 §6.3.5: renaming INBOX moves its messages to the new name; INBOX stays. */
static enum store_status
rename_inbox(struct mstore *store, const char *newdir, const char *newcanon)
{
	struct mbox *inbox, *dst;
	enum store_status st;
	uint32_t *uids, *nuids;
	size_t i, n;

	st = mstore_create(store, newcanon);
	if (st != STORE_OK)
		return st;
	(void)newdir;
	st = mbox_open(store, "INBOX", &inbox);
	if (st != STORE_OK)
		return st;
	st = mbox_open(store, newcanon, &dst);
	if (st != STORE_OK) {
		mbox_unref(&inbox);
		return st;
	}
	n = mbox_count(inbox);
	uids = xcalloc(n + 1, sizeof(*uids));
	nuids = xcalloc(n + 1, sizeof(*nuids));
	for (i = 0; i < n; i++)
		uids[i] = mbox_msg_at(inbox, i)->uid;
	st = mbox_copy(inbox, uids, n, dst, nuids);
	if (st == STORE_OK)
		st = mbox_expunge(inbox, uids, n);
	free(uids);
	free(nuids);
	mbox_unref(&dst);
	mbox_unref(&inbox);
	return st;
}

/* ------------------------------------------------------------------ subscriptions */

enum store_status
mstore_subscriptions(struct mstore *store, char ***names_r, size_t *count_r)
{
	struct buf b;
	int ret;

	buf_init(&b, 16 * 1024 * 1024);
	ret = store_read_file(store->root_fd, SUBSCRIPTIONS_NAME, b.max, &b, NULL);
	if (ret < 0) {
		log_error("store subscriptions read failed error=%s", strerror(errno));
		buf_deinit(&b);
		return STORE_IOERROR;
	}
	if (subs_parse(b.data == NULL ? "" : b.data, b.len, names_r, count_r) > 0)
		log_warn("store subscriptions: invalid lines ignored");
	buf_deinit(&b);
	return STORE_OK;
}

enum store_status
mstore_subscribe(struct mstore *store, const char *name, bool on)
{
	enum store_status st;
	char **names, *canon;
	size_t count, i;
	bool found = false;
	struct buf out;

	st = mstore_name_check(name);
	if (st != STORE_OK)
		return st;
	st = mstore_subscriptions(store, &names, &count);
	if (st != STORE_OK)
		return st;
	canon = mstore_canonical(name);
	for (i = 0; i < count; i++)
		if (strcmp(names[i], canon) == 0) {
			found = true;
			break;
		}
	if (found == on) {
		free(canon);
		mstore_names_free(names, count);
		return STORE_OK;
	}
	if (on) {
		names = xreallocarray(names, count + 1, sizeof(*names));
		names[count++] = canon;
		canon = NULL;
	} else {
		free(names[i]);
		names[i] = names[--count];
	}
	free(canon);
	if (count > 0)
		qsort(names, count, sizeof(*names), strp_cmp);
	buf_init(&out, BUF_UNLIMITED);
	(void)subs_format(names, count, &out);
	if (store_write_file(store, store->root_fd, SUBSCRIPTIONS_NAME, out.data, out.len) < 0)
		st = store_errno_status(errno) == STORE_NONEXISTENT ? STORE_IOERROR :
		    store_errno_status(errno);
	buf_deinit(&out);
	mstore_names_free(names, count);
	return st;
}

enum store_status
mstore_ensure_special_use(struct mstore *store)
{
	enum store_status st;
	size_t i;

	for (i = 0; i < N_ELEMENTS(special_names); i++) {
		st = mstore_create(store, special_names[i]);
		if (st == STORE_EXISTS)
			continue;
		if (st != STORE_OK)
			return st;
		st = mstore_subscribe(store, special_names[i], true);
		if (st != STORE_OK)
			return st;
	}
	return STORE_OK;
}

/* ------------------------------------------------------------------ status */

enum store_status
mstore_status(struct mstore *store, const char *name, struct mbox_status *st_r)
{
	enum store_status st;
	struct mbox *mbox;
	size_t i, n;

	st = mbox_open(store, name, &mbox);
	if (st != STORE_OK)
		return st;
	memset(st_r, 0, sizeof(*st_r));
	n = mbox_count(mbox);
	st_r->messages = (uint32_t)n;
	st_r->uidnext = mbox_uidnext(mbox);
	st_r->uidvalidity = mbox_uidvalidity(mbox);
	for (i = 0; i < n; i++) {
		const struct mbox_msg *m = mbox_msg_at(mbox, i);

		if (m->flags & MBOX_FLAG_RECENT)
			st_r->recent++;
		if (!(m->flags & MBOX_FLAG_SEEN))
			st_r->unseen++;
	}
	mbox_unref(&mbox);
	return STORE_OK;
}

/* ------------------------------------------------------------------ notification */

int
mstore_notify_fd(struct mstore *store)
{
	return store->inotify_fd;
}

void
mstore_notify_drain(struct mstore *store)
{
	char evbuf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct mbox *m;
	ssize_t n;
	char *p;

	if (store->inotify_fd < 0)
		return;
	for (;;) {
		n = read(store->inotify_fd, evbuf, sizeof(evbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = evbuf; p < evbuf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (m = store->mboxes; m != NULL; m = m->next)
					m->force_sync = true;
				continue;
			}
			for (m = store->mboxes; m != NULL; m = m->next) {
				if (ev->wd != m->wd_new && ev->wd != m->wd_cur)
					continue;
				if (ev->len == 0 || !mbox_own_event_match(m, ev->wd == m->wd_new,
				    ev->name))
					m->force_sync = true;
			}
		}
	}
}

void
mstore_notify_process(struct mstore *store)
{
	struct mbox *m, **todo;
	size_t n = 0, i;

	mstore_notify_drain(store);
	/* Sync outside the walk: listeners may open (or close) mboxes, and a closed one
	 * going into the cache can evict others. Cached folders have nobody to tell:
	 * they keep force_sync until they are opened again. */
	for (m = store->mboxes; m != NULL; m = m->next)
		if (m->force_sync && !m->cached && !m->deleted)
			n++;
	if (n == 0)
		return;
	todo = xcalloc(n, sizeof(*todo));
	for (m = store->mboxes, i = 0; m != NULL && i < n; m = m->next)
		if (m->force_sync && !m->cached && !m->deleted) {
			mbox_ref(m);
			todo[i++] = m;
		}
	n = i;
	for (i = 0; i < n; i++) {
		(void)mbox_sync(todo[i]);
		mbox_unref(&todo[i]);
	}
	free(todo);
}
