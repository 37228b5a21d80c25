/*
 * jmap_upload.c — uploaded blobs (RFC 8620 §6.1): the body of POST /jmap/upload/ is
 * streamed into a file of `buzon-uploads/` under the user's Maildir root (not a '.'
 * name, so never a folder; directory 0700, files 0600, created O_EXCL|O_NOFOLLOW),
 * fsync'd and renamed to its blob id ("U" and 16 random hex digits) when complete.
 * A blob lives JMAP_UPLOAD_TTL seconds after its upload (RFC 8620 §6.1: at least an
 * hour); older files and partial uploads are removed at the next upload. Blob ids "B…"
 * are messages (jmap_mail_blob_open).
 */
#include "jmap/jmap_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/mail_user.h"
#include "store/store.h"

#define UPLOAD_DIR	"buzon-uploads"

static int
upload_dir(struct mail_user *mu, bool create)
{
	int root = mstore_root_fd(mail_user_store(mu)), fd;

	fd = openat(root, UPLOAD_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(root, UPLOAD_DIR, 0700) < 0 && errno != EEXIST)
			return -1;
		fd = openat(root, UPLOAD_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd;
}

/*
 * Remove blobs and partial uploads older than JMAP_UPLOAD_TTL; the octets and files
 * of those left into *bytes_r, *files_r (what the user has uploaded in the last day).
 */
static void
sweep(int dfd, uint64_t *bytes_r, size_t *files_r)
{
	int fd = dup(dfd);
	time_t limit = time(NULL) - JMAP_UPLOAD_TTL;
	struct dirent *de;
	struct stat sb;
	DIR *dir;

	*bytes_r = 0;
	*files_r = 0;
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (sb.st_mtime < limit) {
			(void)unlinkat(dfd, de->d_name, 0);
			continue;
		}
		*bytes_r += (uint64_t)sb.st_size;
		(*files_r)++;
	}
	closedir(dir);
}

int
jmap_upload_begin(struct mail_user *mu, uint64_t size, char tmp[40])
{
	unsigned char r[8];
	uint64_t bytes;
	size_t files;
	int dfd, fd;

	if ((dfd = upload_dir(mu, true)) < 0) {
		log_error("jmap upload dir error=%s", strerror(errno));
		return -1;
	}
	sweep(dfd, &bytes, &files);
	if (files >= JMAP_UPLOADS_FILES_MAX || bytes + size > JMAP_UPLOADS_BYTES_MAX) {
		/* uploads are outside the folders the quota counts: bounded here instead */
		log_info("jmap upload refused: %zu files, %llu octets in the last day", files,
		    (unsigned long long)bytes);
		close(dfd);
		return -2;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		panic("getrandom failed");
	snprintf(tmp, 40, "tmp-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
	    r[5], r[6], r[7]);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		log_error("jmap upload create error=%s", strerror(errno));
	close(dfd);
	return fd;
}

int
jmap_scratch_file(struct mail_user *mu, const void *data, size_t len)
{
	const unsigned char *p = data;
	int dfd = upload_dir(mu, true), fd;

	if (dfd < 0)
		return -1;
	/* unnamed: gone with its last descriptor or mapping, never swept or counted */
	fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* a file system without O_TMPFILE: a new name, removed at once */
		unsigned char r[8];
		char name[40];

		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			panic("getrandom failed");
		snprintf(name, sizeof(name), "scratch-%02x%02x%02x%02x%02x%02x%02x%02x", r[0],
		    r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			(void)unlinkat(dfd, name, 0);
	}
	close(dfd);
	if (fd < 0) {
		log_error("jmap scratch file error=%s", strerror(errno));
		return -1;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("jmap scratch file write error=%s", w < 0 ? strerror(errno) :
			    "short write");
			close(fd);
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return fd;
}

void
jmap_upload_abort(struct mail_user *mu, const char *tmp)
{
	int dfd = upload_dir(mu, false);

	if (dfd >= 0) {
		(void)unlinkat(dfd, tmp, 0);
		close(dfd);
	}
}

int
jmap_upload_finish(struct mail_user *mu, int fd, const char *tmp, char blob_id[18])
{
	unsigned char r[8];
	int dfd, ret = -1;

	if (fsync(fd) < 0) {
		log_error("jmap upload fsync error=%s", strerror(errno));
		jmap_upload_abort(mu, tmp);
		return -1;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		panic("getrandom failed");
	snprintf(blob_id, 18, "U%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
	    r[5], r[6], r[7]);
	if ((dfd = upload_dir(mu, false)) < 0)
		return -1;
	if (renameat(dfd, tmp, dfd, blob_id) == 0)
		ret = 0;
	else
		log_error("jmap upload rename error=%s", strerror(errno));
	close(dfd);
	if (ret < 0)
		jmap_upload_abort(mu, tmp);
	return ret;
}

int
jmap_blob_open(struct mail_user *mu, const char *blob_id, int *fd_r)
{
	struct stat sb;
	int dfd, fd;

	if (blob_id == NULL)
		return 0;
	if (blob_id[0] == 'B')
		return jmap_mail_blob_open(mu, blob_id, fd_r);
	if (jmap_email_id_parse(blob_id, 'U') == 0 && strcmp(blob_id, "U0000000000000000") != 0)
		return 0;
	if ((dfd = upload_dir(mu, false)) < 0)
		return 0;
	fd = openat(dfd, blob_id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_mtime < time(NULL) - JMAP_UPLOAD_TTL) {
		close(fd);
		return 0;
	}
	*fd_r = fd;
	return 1;
}
