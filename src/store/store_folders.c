/*
 * store_folders.c — the folders of the user's store as directories: whether a folder
 * exists and is selectable, CREATE (missing parents become real folders), DELETE (the
 * directory is moved out of the namespace atomically, then emptied) and RENAME (with its
 * children; renaming INBOX moves its messages). Runs in the per-user mail process with the
 * mailbox owner's uid. Security role: names are validated and mapped to one ".a.b" entry
 * directly under the root fd; directories are opened with O_NOFOLLOW and emptied without
 * following symlinks, so a link planted by the user (".Evil -> /etc") is never followed;
 * directories are created 0700 and the maildirfolder file 0600.
 */
#include "store/store_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

/* ------------------------------------------------------------------ folder existence */

/* 1 selectable folder, 2 directory without cur/ (noselect), 0 missing, -1 error */
int
mstore_folder_stat(struct mstore *store, const char *dirname)
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

/* ------------------------------------------------------------------ create */

/* Create one folder directory with cur/ new/ tmp/ and maildirfolder. */
enum store_status
mstore_folder_create_one(struct mstore *store, const char *dir)
{
	int fd, ffd, err;

	if (mkdirat(store->root_fd, dir, 0700) < 0 && errno != EEXIST) {
		err = errno;
		log_error("store mkdir failed dir=%s error=%s", dir, strerror(err));
		return mstore_errno_status(err);
	}
	fd = openat(store->root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_error("store open failed dir=%s error=%s", dir, strerror(errno));
		return STORE_CANNOT;	/* e.g. a symlink with that name */
	}
	ffd = openat(fd, MAILDIRFOLDER_NAME, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ffd < 0 || mstore_make_subdirs(fd) < 0) {
		err = errno;
		log_error("store create failed dir=%s error=%s", dir, strerror(err));
		if (ffd >= 0)
			close(ffd);
		close(fd);
		return mstore_errno_status(err);
	}
	close(ffd);
	if (fsync(fd) < 0) {
		err = errno;
		close(fd);
		return mstore_errno_status(err);
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
	ex = mstore_folder_stat(store, dir);
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
		if (strcasecmp(dir, ".INBOX") != 0 && mstore_folder_stat(store, dir) != 1)
			st = mstore_folder_create_one(store, dir);
		dir[i] = STORE_SEP;
		if (st != STORE_OK)
			goto out;
	}
	st = mstore_folder_create_one(store, dir);
	if (st == STORE_OK && mstore_fsync_dir(store->root_fd, ".") < 0)
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

unsigned mstore_deleted_sweep_secs = 60;

/* Empty and remove a DELETED_PREFIX directory of the root. A process that still had the
 * folder open (a delivery holding its directory) may add a file meanwhile: try again a
 * few times. 0, or -1 with errno. */
static int
remove_deleted_dir(struct mstore *store, const char *name)
{
	int attempt, fd, ret = -1;

	for (attempt = 0; attempt < 3 && ret < 0; attempt++) {
		fd = openat(store->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : -1;
		(void)remove_dir_contents(fd, 0);
		close(fd);
		if (unlinkat(store->root_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			ret = 0;
		else if (errno != ENOTEMPTY && errno != EEXIST)
			break;
	}
	return ret;
}

void
mstore_sweep_deleted(struct mstore *store, const char *name)
{
	struct stat st;

	if (fstatat(store->root_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode) ||
	    st.st_ctime + (time_t)mstore_deleted_sweep_secs > time(NULL))
		return;
	if (remove_deleted_dir(store, name) == 0)
		log_info("store removed leftover dir=%s", name);
}

static void
mark_open_deleted(struct mstore *store, const char *canon)
{
	struct mailbox *m;

	mstore_cache_drop(store, canon, false);
	mstore_index_drop(store, canon, false);
	for (m = store->mailboxes; m != NULL; m = m->next)
		if (strcmp(m->name, canon) == 0)
			mailbox_mark_deleted(m);
}

enum store_status
mstore_delete(struct mstore *store, const char *name)
{
	enum store_status st;
	char *canon, *dir;
	struct buf trash;
	int ex;

	st = name_prepare(name, &canon, &dir);
	if (st != STORE_OK)
		return st;
	if (strcmp(canon, "INBOX") == 0) {
		st = STORE_CANNOT;
		goto out;
	}
	ex = mstore_folder_stat(store, dir);
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
	if (remove_deleted_dir(store, buf_cstr(&trash)) < 0)
		log_error("store delete cleanup failed dir=%s error=%s (the next LIST "
		    "retries)", buf_cstr(&trash), strerror(errno));
	(void)mstore_fsync_dir(store->root_fd, ".");
	buf_deinit(&trash);
	mstore_quota_invalidate(store);		/* its messages left the usage */
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
	struct mstore_namelist l = { 0 };
	char *ocanon = NULL, *odir = NULL, *ncanon = NULL, *ndir = NULL;
	enum store_status st;
	size_t olen, i;
	struct mailbox *m;
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
	ex = mstore_folder_stat(store, ndir);
	if (ex != 0) {
		st = ex < 0 ? STORE_IOERROR : STORE_EXISTS;
		goto out;
	}
	if (strcmp(ocanon, "INBOX") == 0) {
		st = rename_inbox(store, ndir, ncanon);
		goto out;
	}
	ex = mstore_folder_stat(store, odir);
	if (ex <= 0) {
		st = ex < 0 ? STORE_IOERROR : STORE_NONEXISTENT;
		goto out;
	}
	/* watchers let go of what they hold open only to watch (before the cache drop:
	 * what they release goes into the cache) */
	for (i = 0; i < store->n_release_watch; i++)
		store->release_watch[i].cb(store->release_watch[i].ctx, ocanon);
	mstore_cache_drop(store, ocanon, true);	/* closed ones need not stop it */
	mstore_index_drop(store, ocanon, true);
	mstore_index_drop(store, ncanon, true);
	for (m = store->mailboxes; m != NULL; m = m->next)
		if (!m->deleted && (strcmp(m->name, ocanon) == 0 ||
		    (strncmp(m->name, ocanon, olen) == 0 && m->name[olen] == STORE_SEP))) {
			st = STORE_CANNOT;
			goto out;
		}
	st = mstore_folder_names(store, &l);
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
		if (st == STORE_OK && mstore_folder_stat(store, nd) != 0)
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
		if (strcasecmp(ndir, ".INBOX") != 0 && mstore_folder_stat(store, ndir) == 0)
			st = mstore_folder_create_one(store, ndir);
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
	if (mstore_fsync_dir(store->root_fd, ".") < 0)
		st = STORE_IOERROR;
	if (st == STORE_OK)
		log_info("store rename from=%s to=%s", ocanon, ncanon);
out:
	mstore_namelist_free(&l);
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
	struct mailbox *inbox, *dst;
	enum store_status st;
	uint32_t *uids, *nuids;
	size_t i, n;

	st = mstore_create(store, newcanon);
	if (st != STORE_OK)
		return st;
	(void)newdir;
	st = mailbox_open(store, "INBOX", &inbox);
	if (st != STORE_OK)
		return st;
	st = mailbox_open(store, newcanon, &dst);
	if (st != STORE_OK) {
		mailbox_unref(&inbox);
		return st;
	}
	n = mailbox_count(inbox);
	uids = xcalloc(n + 1, sizeof(*uids));
	nuids = xcalloc(n + 1, sizeof(*nuids));
	for (i = 0; i < n; i++)
		uids[i] = mailbox_msg_at(inbox, i)->uid;
	st = mailbox_copy(inbox, uids, n, dst, nuids);
	if (st == STORE_OK)
		st = mailbox_expunge(inbox, uids, n);
	free(uids);
	free(nuids);
	mailbox_unref(&dst);
	mailbox_unref(&inbox);
	return st;
}
