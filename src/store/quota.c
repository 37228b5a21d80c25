/*
 * quota.c — Maildir++ quota: the `maildirsize` file at the Maildir root (docs/formats.md,
 * "Quota (maildirsize)"), its parser, its recalculation from the folders, and the checks
 * the save, copy and expunge paths make. Runs in the user's mail process (and in the
 * `buzon deliver` and `buzon quota` commands) with the mailbox owner's uid, always on
 * the event loop thread (the commit threads never touch it).
 *
 * Security role: the file is the user's (and Dovecot's, and any Maildir++ program's):
 * it is read bounded (MAILDIRSIZE_MAX octets, MAILDIRSIZE_LINES_MAX lines, overflow
 * checked numbers) and anything odd makes it be counted again from the folders. The
 * limits come from the caller (configuration and userdb), never from the file, so a
 * user who edits it gains nothing beyond the next recalculation. Opened O_NOFOLLOW
 * relative to the root fd.
 */
#include "store/store_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store_format.h"

#define MAILDIRSIZE_NAME	"maildirsize"
#define MAILDIRSIZE_LOCK	"maildirsize.lock"	/* Dovecot's dotlock name */
#define MAILDIRSIZE_LOCK_STALE	30		/* seconds: a lock older than this is a crash's */
/* a file over quota with more than one delta line, or older than this, is counted
 * again before a save is refused for it (the deltas may have drifted) */
#define MAILDIRSIZE_STALE_SECS	(15 * 60)
/* one number of the file: 2^60 leaves room to sum MAILDIRSIZE_LINES_MAX of them */
#define MAILDIRSIZE_VALUE_MAX	(UINT64_C(1) << 50)

/* ------------------------------------------------------------------ the parser */

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* "[-+]digits" at *pp (before end); advances *pp. 0 or -1. */
static int
parse_signed(const char **pp, const char *end, int64_t *v_r)
{
	const char *p = *pp;
	bool neg = false;
	uint64_t v;
	size_t n;

	if (p < end && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
	}
	for (n = 0; p + n < end && p[n] >= '0' && p[n] <= '9'; n++)
		;
	if (n == 0 || n > 20 || parse_u64(p, n, MAILDIRSIZE_VALUE_MAX, &v) < 0)
		return -1;
	*v_r = neg ? -(int64_t)v : (int64_t)v;
	*pp = p + n;
	return 0;
}

/* The limits line: comma-separated "<n>S" / "<n>C" (0 = none). */
static int
parse_limits(const char *p, const char *end, struct maildirsize *r)
{
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma != NULL ? comma : end;
		uint64_t v;

		if (e - p < 2 || parse_u64(p, (size_t)(e - p - 1), UINT64_MAX, &v) < 0)
			return -1;
		if (e[-1] == 'S')
			r->storage_limit = v;
		else if (e[-1] == 'C')
			r->messages_limit = v;
		else
			return -1;
		p = comma != NULL ? comma + 1 : end;
		if (comma != NULL && p == end)
			return -1;
	}
	return 0;
}

int
maildirsize_parse(const char *data, size_t len, struct maildirsize *r)
{
	const char *p = data, *end, *nl;
	int64_t bytes = 0, count = 0;

	memset(r, 0, sizeof(*r));
	if (len >= MAILDIRSIZE_MAX || memchr(data, '\0', len) != NULL)
		return -1;
	/* an unterminated last line is a writer's append in progress: not yet there */
	while (len > 0 && data[len - 1] != '\n')
		len--;
	end = data + len;
	if ((nl = memchr(p, '\n', len)) == NULL || nl == p)
		return -1;
	if (parse_limits(p, nl, r) < 0)
		return -1;
	for (p = nl + 1; p < end; p = nl + 1) {
		int64_t b, c;

		nl = memchr(p, '\n', (size_t)(end - p));
		while (p < nl && is_blank(*p))
			p++;
		if (parse_signed(&p, nl, &b) < 0 || p == nl || !is_blank(*p))
			return -1;
		while (p < nl && is_blank(*p))
			p++;
		if (parse_signed(&p, nl, &c) < 0)
			return -1;
		while (p < nl && is_blank(*p))
			p++;
		if (p != nl || ++r->lines > MAILDIRSIZE_LINES_MAX)
			return -1;
		/* |b|, |c| <= 2^50 and at most 512 lines: no overflow */
		bytes += b;
		count += c;
	}
	/* totals past one line's bound cannot be written back as one line: a damaged
	 * file, counted again like any other that does not parse */
	if (bytes < 0 || count < 0 || (uint64_t)bytes > MAILDIRSIZE_VALUE_MAX ||
	    (uint64_t)count > MAILDIRSIZE_VALUE_MAX)
		return -1;
	r->bytes = (uint64_t)bytes;
	r->count = (uint64_t)count;
	return 0;
}

int
maildirsize_format_limits(uint64_t storage, uint64_t messages, struct buf *out)
{
	int ret = 0;

	/* as Dovecot: "<n>S" when there is a storage limit or no limit at all */
	if (storage != 0 || messages == 0)
		ret |= buf_appendf(out, "%" PRIu64 "S", storage);
	if (messages != 0)
		ret |= buf_appendf(out, "%s%" PRIu64 "C", storage != 0 ? "," : "", messages);
	ret |= buf_append(out, "\n", 1);
	return ret < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ counting */

/* Add the messages of one cur/ or new/ directory (relative to parent). */
static int
sum_dir(int parent, const char *sub, uint64_t *bytes, uint64_t *count)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(parent, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct mdname mn;
		struct stat st;
		size_t len = strlen(de->d_name);

		if (!mdname_parse(de->d_name, len, &mn))
			continue;
		if (mn.size == MAILBOX_SIZE_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;	/* gone meanwhile, or not a message */
			mn.size = (uint64_t)st.st_size;
		}
		*bytes += mn.size;
		(*count)++;
	}
	closedir(d);
	return 0;
}

/* Count every folder: the root's cur/ new/ and those of every ".name" directory. */
static int
quota_count(struct mstore *store, uint64_t *bytes_r, uint64_t *count_r)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	*bytes_r = *count_r = 0;
	if (sum_dir(store->root_fd, "cur", bytes_r, count_r) < 0 ||
	    sum_dir(store->root_fd, "new", bytes_r, count_r) < 0)
		return -1;
	fd = openat(store->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL && ret == 0) {
		int sub;

		/* folders are ".name"; "..x" is no folder (a DELETE's leftover) */
		if (de->d_name[0] != '.' || de->d_name[1] == '\0' || de->d_name[1] == '.')
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (sub < 0)
			continue;	/* a file, a symlink, or gone */
		if (sum_dir(sub, "cur", bytes_r, count_r) < 0 ||
		    sum_dir(sub, "new", bytes_r, count_r) < 0)
			ret = -1;
		close(sub);
	}
	closedir(d);
	return ret;
}

/* Write a fresh maildirsize (limits + one line of totals) through the lock file and a
 * rename; another writer holding the lock: leave it to them. */
static void
quota_write(struct mstore *store, uint64_t bytes, uint64_t count)
{
	struct buf b;
	struct stat st;
	int fd, err, tries;

	for (tries = 0; tries < 2; tries++) {
		fd = openat(store->root_fd, MAILDIRSIZE_LOCK,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
		if (fstatat(store->root_fd, MAILDIRSIZE_LOCK, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_mtime > time(NULL) - MAILDIRSIZE_LOCK_STALE)
			return;		/* someone is writing it now */
		(void)unlinkat(store->root_fd, MAILDIRSIZE_LOCK, 0);
	}
	if (fd < 0) {
		log_warn("store quota lock failed root=%s error=%s", store->root_path,
		    strerror(errno));
		return;
	}
	buf_init(&b, 256);
	(void)maildirsize_format_limits(store->quota_storage, store->quota_messages, &b);
	(void)buf_appendf(&b, "%" PRIu64 " %" PRIu64 "\n", bytes, count);
	err = mstore_write_full(fd, b.data, b.len);
	buf_deinit(&b);
	if (close(fd) < 0 && err == 0)
		err = errno;
	if (err == 0 && renameat(store->root_fd, MAILDIRSIZE_LOCK, store->root_fd,
	    MAILDIRSIZE_NAME) < 0)
		err = errno;
	if (err != 0) {
		log_warn("store quota write failed root=%s error=%s", store->root_path,
		    strerror(err));
		(void)unlinkat(store->root_fd, MAILDIRSIZE_LOCK, 0);
	}
}

static enum store_status
quota_recalc(struct mstore *store, uint64_t *bytes_r, uint64_t *count_r)
{
	if (quota_count(store, bytes_r, count_r) < 0) {
		log_error("store quota count failed root=%s error=%s", store->root_path,
		    strerror(errno));
		return STORE_IOERROR;
	}
	if (mstore_quota_on(store))
		quota_write(store, *bytes_r, *count_r);
	return STORE_OK;
}

/* The usage from maildirsize, recalculated when the file cannot be used. */
static enum store_status
quota_usage(struct mstore *store, uint64_t *bytes_r, uint64_t *count_r)
{
	struct maildirsize ms;
	struct stat st;
	struct buf b;
	int r;

	buf_init(&b, MAILDIRSIZE_MAX);
	r = mstore_read_file(store->root_fd, MAILDIRSIZE_NAME, MAILDIRSIZE_MAX - 1, &b, &st);
	if (r > 0 && maildirsize_parse(b.data, b.len, &ms) == 0 &&
	    ms.storage_limit == store->quota_storage &&
	    ms.messages_limit == store->quota_messages && ms.lines > 0) {
		bool over = (ms.storage_limit != 0 && ms.bytes > ms.storage_limit) ||
		    (ms.messages_limit != 0 && ms.count > ms.messages_limit);

		if (!over || (ms.lines == 1 &&
		    st.st_mtime >= time(NULL) - MAILDIRSIZE_STALE_SECS)) {
			buf_deinit(&b);
			*bytes_r = ms.bytes;
			*count_r = ms.count;
			return STORE_OK;
		}
	} else if (r < 0 && errno != EFBIG && errno != EINVAL)
		log_warn("store quota read failed root=%s error=%s", store->root_path,
		    strerror(errno));
	buf_deinit(&b);
	/* missing, damaged, too long, other limits, or over quota on old deltas */
	return quota_recalc(store, bytes_r, count_r);
}

/* ------------------------------------------------------------------ the API */

void
mstore_set_quota(struct mstore *store, uint64_t storage, uint64_t messages,
    unsigned int warn_percent)
{
	store->quota_storage = storage;
	store->quota_messages = messages;
	store->quota_warn = warn_percent > 100 ? 100 : warn_percent;
}

bool
mstore_quota_on(const struct mstore *store)
{
	return store->quota_storage != 0 || store->quota_messages != 0;
}

enum store_status
mstore_quota_get(struct mstore *store, struct mstore_quota *q_r)
{
	memset(q_r, 0, sizeof(*q_r));
	q_r->storage_limit = store->quota_storage;
	q_r->messages_limit = store->quota_messages;
	q_r->warn_percent = store->quota_warn;
	if (!mstore_quota_on(store))
		return quota_recalc(store, &q_r->bytes, &q_r->count);
	return quota_usage(store, &q_r->bytes, &q_r->count);
}

enum store_status
mstore_quota_recalc(struct mstore *store, struct mstore_quota *q_r)
{
	memset(q_r, 0, sizeof(*q_r));
	q_r->storage_limit = store->quota_storage;
	q_r->messages_limit = store->quota_messages;
	q_r->warn_percent = store->quota_warn;
	return quota_recalc(store, &q_r->bytes, &q_r->count);
}

void
mstore_quota_next_copy_is_move(struct mstore *store)
{
	store->quota_move = true;
}

enum store_status
mstore_quota_check(struct mstore *store, uint64_t bytes, uint64_t count)
{
	uint64_t used_b, used_c;

	if (!mstore_quota_on(store))
		return STORE_OK;
	if (quota_usage(store, &used_b, &used_c) != STORE_OK)
		return STORE_OK;	/* logged; a broken count never blocks mail */
	used_b += store->quota_rsv_bytes;
	used_c += store->quota_rsv_count;
	if (store->quota_storage != 0 &&
	    (bytes > store->quota_storage || used_b > store->quota_storage - bytes))
		return STORE_OVERQUOTA;
	if (store->quota_messages != 0 &&
	    (count > store->quota_messages || used_c > store->quota_messages - count))
		return STORE_OVERQUOTA;
	return STORE_OK;
}

void
mstore_quota_reserve(struct mailbox_save *ctx)
{
	struct mstore *store = ctx->box->store;

	if (!mstore_quota_on(store) || ctx->count == 0)
		return;
	store->quota_rsv_bytes += ctx->quota_bytes;
	store->quota_rsv_count += ctx->count;
	ctx->quota_reserved = true;
}

void
mstore_quota_finish(struct mailbox_save *ctx, bool committed)
{
	struct mstore *store = ctx->box->store;

	if (ctx->quota_reserved) {
		store->quota_rsv_bytes -= MIN(store->quota_rsv_bytes, ctx->quota_bytes);
		store->quota_rsv_count -= MIN(store->quota_rsv_count, ctx->count);
		ctx->quota_reserved = false;
	}
	if (committed && ctx->count > 0)
		mstore_quota_update(store, (int64_t)ctx->quota_bytes, (int64_t)ctx->count);
}

void
mstore_quota_update(struct mstore *store, int64_t bytes, int64_t count)
{
	char line[64];
	int fd, n;

	if (!mstore_quota_on(store) || (bytes == 0 && count == 0))
		return;
	/* no file: the next read counts the folders, this change included */
	fd = openat(store->root_fd, MAILDIRSIZE_NAME,
	    O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("store quota open failed root=%s error=%s", store->root_path,
			    strerror(errno));
		return;
	}
	/* one write() of the whole line: O_APPEND makes it atomic among writers (the
	 * Maildir++ rule); a short write leaves an unterminated line, which readers skip
	 * until the next recalculation */
	n = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", bytes, count);
	if (write(fd, line, (size_t)n) != n)
		log_warn("store quota update failed root=%s error=%s", store->root_path,
		    strerror(errno));
	close(fd);
}

void
mstore_quota_invalidate(struct mstore *store)
{
	if (mstore_quota_on(store) &&
	    unlinkat(store->root_fd, MAILDIRSIZE_NAME, 0) < 0 && errno != ENOENT)
		log_warn("store quota unlink failed root=%s error=%s", store->root_path,
		    strerror(errno));
}

/* 1..100 percent of limit, rounded up; limit 0: never reached */
static uint64_t
threshold(uint64_t limit, unsigned int percent)
{
	if (limit == 0)
		return UINT64_MAX;
	if (limit > UINT64_MAX / 100)
		return limit / 100 * percent;
	return (limit * percent + 99) / 100;
}

bool
mstore_quota_warn_crossed(struct mstore *store, uint64_t bytes, uint64_t count,
    struct mstore_quota *q_r)
{
	uint64_t tb, tc;

	if (!mstore_quota_on(store) || store->quota_warn == 0)
		return false;
	if (mstore_quota_get(store, q_r) != STORE_OK)
		return false;
	tb = threshold(q_r->storage_limit, store->quota_warn);
	tc = threshold(q_r->messages_limit, store->quota_warn);
	/* before = now - this delivery; crossed when before < threshold <= now */
	return (q_r->bytes >= tb && q_r->bytes - MIN(bytes, q_r->bytes) < tb) ||
	    (q_r->count >= tc && q_r->count - MIN(count, q_r->count) < tc);
}

enum store_status
mailbox_save_quota_precheck(struct mailbox_save *ctx, uint64_t size)
{
	if (ctx->quota_exempt)
		return STORE_OK;
	if (size > UINT64_MAX - ctx->quota_bytes)
		return STORE_OVERQUOTA;
	/* the current message is already one of ctx->count */
	return mstore_quota_check(ctx->box->store, ctx->quota_bytes + size, ctx->count);
}
