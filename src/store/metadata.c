/*
 * metadata.c — the user's RFC 5464 METADATA entries in `<mail root>/buzon-metadata`:
 * entry-name checks, the sorted in-memory set, its limits, and the file (loaded per
 * command under a flock, replaced atomically with fsync). Runs in the per-user mail
 * process with the mailbox owner's uid. Security role: the file is parsed as untrusted
 * (bounded lengths, checked names, strict order), so a damaged file is refused, never
 * sent on, and never overwritten.
 */
#include "store/metadata.h"
#include "store/store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define METADATA_LOCK_MS	2000	/* longest wait for the lock */
#define MD_MAGIC	"BZMD"
#define MD_VERSION	1
#define MD_HDR_LEN	12	/* magic, u32 version, u32 count */
#define MD_REC_LEN	8	/* u16 mailbox len, u16 name len, u32 value len */
/* every entry name is at least "/shared/x": 9 octets of the byte budget */
#define MD_FILE_MAX	(MD_HDR_LEN + METADATA_USER_BYTES_MAX + \
			 (METADATA_USER_BYTES_MAX / 9 + 1) * MD_REC_LEN)

int
metadata_entry_name_check(const char *s, size_t len, char *out, size_t out_size)
{
	size_t i;

	if (len == 0 || len > METADATA_ENTRY_NAME_MAX || len >= out_size)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		/* §3.2: no '*' or '%', no "//", no trailing '/'; printable ASCII only */
		if (ch <= 0x20 || ch >= 0x7f || ch == '*' || ch == '%')
			return -1;
		if (ch == '/' && (i + 1 == len || s[i + 1] == '/'))
			return -1;
		out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
	}
	out[len] = '\0';
	if (strcmp(out, "/private") == 0 || strcmp(out, "/shared") == 0 ||
	    str_has_prefix(out, "/private/") || str_has_prefix(out, "/shared/"))
		return 0;
	return -1;
}

struct metadata *
metadata_new(void)
{
	struct metadata *md = xcalloc(1, sizeof(*md));

	md->lock_fd = -1;
	return md;
}

static void
entry_free(struct metadata_entry *e)
{
	free(e->mailbox);
	free(e->name);
	free(e->value);
}

static uint64_t
entry_bytes(const char *mailbox, const char *name, size_t value_len)
{
	return (uint64_t)strlen(mailbox) + strlen(name) + value_len;
}

static int
entry_cmp(const char *mb1, const char *n1, const char *mb2, const char *n2)
{
	int r = strcmp(mb1, mb2);

	return r != 0 ? r : strcmp(n1, n2);
}

/* Index of (mailbox, name) or where it would go; *found_r says which. */
static size_t
entry_search(const struct metadata *md, const char *mailbox, const char *name, bool *found_r)
{
	size_t lo = 0, hi = md->count;

	*found_r = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = entry_cmp(md->e[mid].mailbox, md->e[mid].name, mailbox, name);

		if (r == 0) {
			*found_r = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct metadata_entry *
metadata_find(const struct metadata *md, const char *mailbox, const char *name)
{
	bool found;
	size_t i = entry_search(md, mailbox, name, &found);

	return found ? &md->e[i] : NULL;
}

size_t
metadata_first(const struct metadata *md, const char *mailbox)
{
	bool found;
	size_t i = entry_search(md, mailbox, "", &found);

	/* "" sorts before every entry name of mailbox */
	return i < md->count && strcmp(md->e[i].mailbox, mailbox) == 0 ? i : md->count;
}

static size_t
md_mailbox_count(const struct metadata *md, const char *mailbox)
{
	size_t i = metadata_first(md, mailbox), n = 0;

	while (i + n < md->count && strcmp(md->e[i + n].mailbox, mailbox) == 0)
		n++;
	return n;
}

static void
entry_insert(struct metadata *md, size_t at, struct metadata_entry *e)
{
	if (md->count == md->cap) {
		md->cap = md->cap == 0 ? 16 : md->cap * 2;
		md->e = xreallocarray(md->e, md->cap, sizeof(*md->e));
	}
	memmove(&md->e[at + 1], &md->e[at], (md->count - at) * sizeof(*md->e));
	md->e[at] = *e;
	md->count++;
	md->bytes += entry_bytes(e->mailbox, e->name, e->value_len);
}

static void
entry_remove(struct metadata *md, size_t at)
{
	struct metadata_entry *e = &md->e[at];

	md->bytes -= entry_bytes(e->mailbox, e->name, e->value_len);
	entry_free(e);
	memmove(&md->e[at], &md->e[at + 1], (md->count - at - 1) * sizeof(*md->e));
	md->count--;
}

static unsigned char *
value_dup(const void *value, size_t len)
{
	unsigned char *v = xmalloc(len + 1);

	if (len > 0)
		memcpy(v, value, len);
	v[len] = '\0';
	return v;
}

enum metadata_status
metadata_set(struct metadata *md, const char *mailbox, const char *name, const void *value,
    size_t value_len)
{
	struct metadata_entry ne;
	bool found;
	size_t i = entry_search(md, mailbox, name, &found);
	uint64_t old = 0, add;

	if (value == NULL) {
		if (found) {
			entry_remove(md, i);
			md->changed = true;
		}
		return METADATA_OK;
	}
	if (value_len > METADATA_VALUE_MAX)
		return METADATA_MAXSIZE;
	if (found)
		old = entry_bytes(mailbox, name, md->e[i].value_len);
	else if (md_mailbox_count(md, mailbox) >= METADATA_MAILBOX_ENTRIES_MAX)
		return METADATA_TOOMANY;
	add = entry_bytes(mailbox, name, value_len);
	if (md->bytes - old + add > METADATA_USER_BYTES_MAX)
		return METADATA_OVERQUOTA;
	if (found) {
		free(md->e[i].value);
		md->e[i].value = value_dup(value, value_len);
		md->e[i].value_len = value_len;
		md->bytes = md->bytes - old + add;
	} else {
		ne.mailbox = xstrdup(mailbox);
		ne.name = xstrdup(name);
		ne.value = value_dup(value, value_len);
		ne.value_len = value_len;
		entry_insert(md, i, &ne);
	}
	md->changed = true;
	return METADATA_OK;
}

size_t
metadata_drop_mailbox(struct metadata *md, const char *mailbox)
{
	size_t i = metadata_first(md, mailbox), n = 0;

	while (i < md->count && strcmp(md->e[i].mailbox, mailbox) == 0) {
		entry_remove(md, i);
		n++;
	}
	if (n > 0)
		md->changed = true;
	return n;
}

static int
entry_qsort_cmp(const void *a, const void *b)
{
	const struct metadata_entry *x = a, *y = b;

	return entry_cmp(x->mailbox, x->name, y->mailbox, y->name);
}

int
metadata_rename_mailbox(struct metadata *md, const char *oldname, const char *newname,
    char sep)
{
	size_t i, olen = strlen(oldname), nlen = strlen(newname);
	bool any = false;

	/* the server's entries ("") are never a mailbox's */
	if (olen == 0 || nlen == 0)
		return -1;
	for (i = 0; i < md->count; i++) {
		const char *mb = md->e[i].mailbox;

		if (strncmp(mb, oldname, olen) == 0 && (mb[olen] == '\0' || mb[olen] == sep) &&
		    nlen + strlen(mb) - olen > METADATA_MAILBOX_NAME_MAX)
			return -1;
	}
	/* entries left under the new name (a folder deleted outside IMAP) are stale */
	for (i = 0; i < md->count; ) {
		const char *mb = md->e[i].mailbox;

		if (strncmp(mb, newname, nlen) == 0 && (mb[nlen] == '\0' || mb[nlen] == sep) &&
		    !(strncmp(mb, oldname, olen) == 0 && (mb[olen] == '\0' || mb[olen] == sep))) {
			entry_remove(md, i);
			md->changed = true;
		} else {
			i++;
		}
	}
	for (i = 0; i < md->count; i++) {
		char *mb = md->e[i].mailbox, *nm;

		if (strncmp(mb, oldname, olen) != 0 || (mb[olen] != '\0' && mb[olen] != sep))
			continue;
		nm = xasprintf("%s%s", newname, mb + olen);
		md->bytes = md->bytes - strlen(mb) + strlen(nm);
		free(mb);
		md->e[i].mailbox = nm;
		any = true;
	}
	if (any) {
		/* the new names may sort elsewhere */
		qsort(md->e, md->count, sizeof(*md->e), entry_qsort_cmp);
		md->changed = true;
	}
	return 0;
}

void
metadata_close(struct metadata **mdp)
{
	struct metadata *md = *mdp;
	size_t i;

	if (md == NULL)
		return;
	*mdp = NULL;
	for (i = 0; i < md->count; i++)
		entry_free(&md->e[i]);
	free(md->e);
	if (md->lock_fd >= 0)
		close(md->lock_fd);	/* releases the flock */
	free(md);
}

static void
put_u16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get_u16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
metadata_serialize(const struct metadata *md, struct buf *out)
{
	unsigned char h[MD_HDR_LEN];
	size_t i;

	memcpy(h, MD_MAGIC, 4);
	put_u32(h + 4, MD_VERSION);
	put_u32(h + 8, (uint32_t)md->count);
	if (buf_append(out, h, sizeof(h)) < 0)
		return -1;
	for (i = 0; i < md->count; i++) {
		const struct metadata_entry *e = &md->e[i];
		size_t ml = strlen(e->mailbox), nl = strlen(e->name);

		put_u16(h, (uint32_t)ml);
		put_u16(h + 2, (uint32_t)nl);
		put_u32(h + 4, (uint32_t)e->value_len);
		if (buf_append(out, h, MD_REC_LEN) < 0 || buf_append(out, e->mailbox, ml) < 0 ||
		    buf_append(out, e->name, nl) < 0 ||
		    buf_append(out, e->value, e->value_len) < 0)
			return -1;
	}
	return 0;
}

int
metadata_parse(struct metadata *md, const unsigned char *data, size_t len,
    const char **error_r)
{
	char name[METADATA_ENTRY_NAME_MAX + 1];
	size_t off = MD_HDR_LEN, run = 0;
	uint32_t count, i;

	if (len < MD_HDR_LEN || memcmp(data, MD_MAGIC, 4) != 0) {
		*error_r = "bad magic";
		return -1;
	}
	if (get_u32(data + 4) != MD_VERSION) {
		*error_r = "unknown version";
		return -1;
	}
	count = get_u32(data + 8);
	for (i = 0; i < count; i++) {
		struct metadata_entry e;
		size_t ml, nl, vl;

		if (len - off < MD_REC_LEN) {
			*error_r = "truncated";
			return -1;
		}
		ml = get_u16(data + off);
		nl = get_u16(data + off + 2);
		vl = get_u32(data + off + 4);
		off += MD_REC_LEN;
		if (ml > METADATA_MAILBOX_NAME_MAX || vl > METADATA_VALUE_MAX ||
		    len - off < ml + nl + vl) {
			*error_r = "bad lengths";
			return -1;
		}
		if (memchr(data + off, '\0', ml) != NULL ||
		    metadata_entry_name_check((const char *)data + off + ml, nl, name,
		    sizeof(name)) < 0 || memcmp(name, data + off + ml, nl) != 0) {
			*error_r = "bad name";
			return -1;
		}
		e.mailbox = xstrndup((const char *)data + off, ml);
		e.name = xstrdup(name);
		e.value = value_dup(data + off + ml + nl, vl);
		e.value_len = vl;
		off += ml + nl + vl;
		/* strictly ascending: no duplicates, and inserting at the end keeps order */
		if (md->count > 0 && entry_cmp(md->e[md->count - 1].mailbox,
		    md->e[md->count - 1].name, e.mailbox, e.name) >= 0) {
			entry_free(&e);
			*error_r = "out of order";
			return -1;
		}
		run = md->count > 0 && strcmp(md->e[md->count - 1].mailbox, e.mailbox) == 0 ?
		    run + 1 : 1;
		entry_insert(md, md->count, &e);
		if (run > METADATA_MAILBOX_ENTRIES_MAX || md->bytes > METADATA_USER_BYTES_MAX) {
			*error_r = "over the limits";
			return -1;
		}
	}
	if (off != len) {
		*error_r = "trailing data";
		return -1;
	}
	return 0;
}

int
metadata_open(struct mstore *store, bool write, struct metadata **md_r)
{
	struct metadata *md = metadata_new();
	const char *error = NULL;
	struct stat st;
	struct buf b;
	int ret;

	*md_r = NULL;
	md->lock_fd = openat(store->root_fd, METADATA_LOCK_FILE,
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (md->lock_fd < 0 || fstat(md->lock_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("metadata lock open failed file=%s error=%s", METADATA_LOCK_FILE,
		    md->lock_fd < 0 ? strerror(errno) : "not a regular file");
		metadata_close(&md);
		return -1;
	}
	/* bounded wait: holders keep the lock only to read and rewrite one small file;
	 * one that keeps it longer does not stall this process past METADATA_LOCK_MS */
	for (unsigned waited = 0;; waited += 10) {
		ret = flock(md->lock_fd, (write ? LOCK_EX : LOCK_SH) | LOCK_NB);
		if (ret == 0 || (errno != EWOULDBLOCK && errno != EINTR) ||
		    waited >= METADATA_LOCK_MS)
			break;
		(void)nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	if (ret < 0) {
		log_error("metadata lock failed error=%s", strerror(errno));
		metadata_close(&md);
		return -1;
	}
	buf_init(&b, MD_FILE_MAX + 1);
	ret = mstore_read_file(store->root_fd, METADATA_FILE, MD_FILE_MAX, &b, NULL);
	if (ret < 0) {
		log_error("metadata read failed file=%s error=%s", METADATA_FILE,
		    strerror(errno));
	} else if (ret > 0 && metadata_parse(md, (const unsigned char *)b.data, b.len,
	    &error) < 0) {
		log_error("metadata file damaged file=%s error=%s", METADATA_FILE, error);
		ret = -1;
	}
	buf_deinit(&b);
	if (ret < 0) {
		metadata_close(&md);
		return -1;
	}
	md->changed = false;
	*md_r = md;
	return 0;
}

int
metadata_commit(struct mstore *store, struct metadata *md)
{
	struct buf b;
	int ret;

	if (!md->changed)
		return 0;
	buf_init(&b, MD_FILE_MAX);
	if (metadata_serialize(md, &b) < 0) {
		buf_deinit(&b);
		log_error("metadata serialize failed: over %u bytes", (unsigned)MD_FILE_MAX);
		return -1;
	}
	ret = mstore_write_file(store, store->root_fd, METADATA_FILE, b.data, b.len);
	buf_deinit(&b);
	if (ret == 0)
		md->changed = false;
	return ret;
}

int
metadata_mailbox_follow(struct mstore *store, const char *name, const char *newname)
{
	struct metadata *md;
	int ret = 0;

	if (metadata_open(store, true, &md) < 0)
		return -1;
	if (newname == NULL)
		(void)metadata_drop_mailbox(md, name);
	else
		ret = metadata_rename_mailbox(md, name, newname, STORE_SEP);
	if (ret == 0)
		ret = metadata_commit(store, md);
	metadata_close(&md);
	return ret;
}
