/*
 * store.c — the user's Maildir++ store: open the root (creating it and INBOX's cur/ new/
 * tmp/) and close it, the helpers every store file uses (status texts, errno mapping,
 * directory fsync, reading and atomically replacing small control files, unique file
 * names), name canonicalisation, the persisted UIDVALIDITY counter and STATUS. Folder
 * directories are in store_folders.c, LIST and subscriptions in store_list.c, one folder
 * in mailbox*.c. Runs in the per-user mail process with the mailbox owner's uid.
 * Security role: everything below the root is opened with openat relative to the root
 * fd and O_NOFOLLOW, so a symlink planted by the user is never followed; files are
 * created O_EXCL 0600 (directories 0700, umask 077) and replaced through a temp file,
 * fsync and rename.
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
mstore_errno_status(int err)
{
	switch (err) {
	case ENOSPC: return STORE_NOSPACE;
	case EDQUOT: return STORE_OVERQUOTA;
	case ENOENT: return STORE_NONEXISTENT;
	default: return STORE_IOERROR;
	}
}

int
mstore_write_full(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
mstore_fsync_dir(int dirfd, const char *path)
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
mstore_read_file(int dirfd, const char *name, size_t max, struct buf *out, struct stat *st_r)
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
mstore_write_file(struct mstore *store, int dirfd, const char *name, const void *data,
    size_t len)
{
	struct buf tmpname;
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
	if ((err = mstore_write_full(fd, data, len)) != 0)
		goto fail;
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
	if (mstore_fsync_dir(dirfd, ".") < 0)
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
int
mstore_make_subdirs(int fd)
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
	if (mstore_make_subdirs(fd) < 0) {
		log_error("store mkdir failed root=%s error=%s", root_path, strerror(errno));
		close(fd);
		*err_r = "cannot create the INBOX directories";
		return -1;
	}
	store = xcalloc(1, sizeof(*store));
	store->root_fd = fd;
	store->root_path = xstrdup(root_path);
	store->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	store->wd_root = -1;
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
	mstore_commit_stop(store);	/* finishes every queued commit first */
	mstore_cache_drop(store, NULL, false);
	if (store->mailboxes != NULL)
		panic("mstore_close: mailbox %s still open", store->mailboxes->name);
	mstore_index_close(store);
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
	ret = mstore_read_file(store->root_fd, UIDVALIDITY_NAME, 64, &b, NULL);
	if (ret > 0) {
		/* hex, as Dovecot writes it */
		for (n = 0; n < b.len && n < 8; n++) {
			int v = hex_digit_value((unsigned char)b.data[n]);

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
	if (mstore_write_file(store, store->root_fd, UIDVALIDITY_NAME, tmp, n) < 0)
		return 0;
	return next;
}

/* ------------------------------------------------------------------ status */

enum store_status
mstore_status(struct mstore *store, const char *name, struct mailbox_status *st_r)
{
	enum store_status st;
	struct mailbox *box;
	size_t i, n;

	st = mailbox_open(store, name, &box);
	if (st != STORE_OK)
		return st;
	memset(st_r, 0, sizeof(*st_r));
	st_r->uidnext = mailbox_uidnext(box);
	st_r->uidvalidity = mailbox_uidvalidity(box);
	st_r->highestmodseq = mailbox_highestmodseq(box);
	memcpy(st_r->guid, mailbox_guid(box), sizeof(st_r->guid));
	if (!mailbox_msgs_loaded(box)) {
		/* from the snapshot's header, without loading the messages; none of them
		 * is \Recent (the flag is given only to loaded messages) */
		struct mailbox_summary sum;

		mailbox_summary(box, &sum);
		st_r->messages = sum.messages;
		st_r->unseen = sum.unseen;
		mailbox_unref(&box);
		return STORE_OK;
	}
	n = mailbox_count(box);
	st_r->messages = (uint32_t)n;
	for (i = 0; i < n; i++) {
		const struct mailbox_msg *m = mailbox_msg_at(box, i);

		if (m->flags & MAILBOX_FLAG_RECENT)
			st_r->recent++;
		if (!(m->flags & MAILBOX_FLAG_SEEN))
			st_r->unseen++;
	}
	mailbox_unref(&box);
	return STORE_OK;
}

void
mstore_set_added_cb(struct mstore *store, mstore_added_cb *cb, void *ctx)
{
	store->added_cb = cb;
	store->added_ctx = ctx;
}

int
mstore_root_fd(const struct mstore *store)
{
	return store->root_fd;
}
