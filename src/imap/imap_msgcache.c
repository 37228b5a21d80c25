/*
 * imap_msgcache.c — a bounded LRU cache of loaded and parsed messages of the mail
 * process, keyed by (mailbox, UIDVALIDITY, UID) through a hash, so a FETCH of several
 * sections does not reparse the message. Bounded by the number of entries and the total
 * loaded bytes (entries in use are pinned and may exceed it briefly). Messages up to
 * MSGCACHE_READ_MAX are read into memory (cheaper than mmap + munmap, whose TLB
 * shootdown dominated); larger ones are mapped read-only and private (an expunged or
 * renamed file stays valid while mapped). Entries loaded by a scan (FETCH or SEARCH
 * over many messages) go to the cold end of the LRU, so a 1:* scan evicts only its own
 * entries, not what the other sessions use. Also reads message headers alone
 * (imap_msg_read_header) for ENVELOPE and header SEARCH.
 */
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

#define MSGCACHE_READ_MAX	(256 * 1024)	/* read, not mapped, up to this size */
#define MSGCACHE_HASH_SIZE	1024		/* buckets (power of two) */

struct cache_entry {
	struct imap_cached_msg msg;	/* first: the public part */
	struct cache_entry *prev, *next;	/* LRU list, most recent first */
	struct cache_entry *hnext;	/* hash chain */
	size_t hval;
	char *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
	bool mapped;
	bool heap;			/* msg.data is malloc'd */
	unsigned refs;
};

struct imap_msgcache {
	struct cache_entry *head, *tail;
	struct cache_entry *hash[MSGCACHE_HASH_SIZE];
	size_t count, bytes;
	size_t max_entries, max_bytes;
};

struct imap_msgcache *
imap_msgcache_create(size_t max_entries, size_t max_bytes)
{
	struct imap_msgcache *c = xcalloc(1, sizeof(*c));

	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	return c;
}

static void
entry_unlink(struct imap_msgcache *c, struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
entry_push_front(struct imap_msgcache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
entry_push_back(struct imap_msgcache *c, struct cache_entry *e)
{
	e->next = NULL;
	e->prev = c->tail;
	if (c->tail != NULL)
		c->tail->next = e;
	c->tail = e;
	if (c->head == NULL)
		c->head = e;
}

static size_t
key_hash(const char *mailbox, uint32_t uidvalidity, uint32_t uid)
{
	size_t h = 5381;

	while (*mailbox != '\0')
		h = h * 33 + (unsigned char)*mailbox++;
	return h ^ ((size_t)uidvalidity * 31) ^ ((size_t)uid * 2654435761u);
}

static void
entry_free(struct imap_msgcache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->hash[e->hval & (MSGCACHE_HASH_SIZE - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	entry_unlink(c, e);
	c->count--;
	c->bytes -= e->msg.len;
	if (e->msg.parsed != NULL)
		mail_message_free(&e->msg.parsed);
	if (e->mapped)
		munmap((void *)e->msg.data, e->msg.len);
	if (e->heap)
		free((void *)e->msg.data);
	free(e->mailbox);
	free(e);
}

static void
cache_trim(struct imap_msgcache *c)
{
	struct cache_entry *e = c->tail, *prev;

	while (e != NULL && (c->count > c->max_entries || c->bytes > c->max_bytes)) {
		prev = e->prev;
		if (e->refs == 0)
			entry_free(c, e);
		e = prev;
	}
}

void
imap_msgcache_destroy(struct imap_msgcache **cp)
{
	struct imap_msgcache *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	while (c->head != NULL)
		entry_free(c, c->head);
	free(c);
}

/* Read fd's size bytes into a new buffer; false on a short read or error. */
static bool
read_whole(int fd, unsigned char *b, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = pread(fd, b + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

enum store_status
imap_msgcache_get(struct imap_msgcache *c, struct mailbox *mbox, uint32_t uid,
    struct imap_cached_msg **msg_r)
{
	return imap_msgcache_get_scan(c, mbox, uid, false, msg_r);
}

enum store_status
imap_msgcache_get_scan(struct imap_msgcache *c, struct mailbox *mbox, uint32_t uid, bool scan,
    struct imap_cached_msg **msg_r)
{
	struct cache_entry *e;
	const char *name = mailbox_name(mbox);
	uint32_t uidv = mailbox_uidvalidity(mbox);
	size_t hval = key_hash(name, uidv, uid);
	enum store_status st;
	struct stat sb;
	void *p;
	int fd;

	*msg_r = NULL;
	for (e = c->hash[hval & (MSGCACHE_HASH_SIZE - 1)]; e != NULL; e = e->hnext) {
		if (e->uid == uid && e->uidvalidity == uidv && strcmp(e->mailbox, name) == 0) {
			if (!scan) {
				entry_unlink(c, e);
				entry_push_front(c, e);
			}
			e->refs++;
			*msg_r = &e->msg;
			return STORE_OK;
		}
	}
	st = mailbox_msg_open(mbox, uid, &fd);
	if (st != STORE_OK)
		return st;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		log_error("imap: fstat of message uid=%u mailbox=%s failed", uid, name);
		close(fd);
		return STORE_IOERROR;
	}
	e = xcalloc(1, sizeof(*e));
	if (sb.st_size > 0 && sb.st_size <= MSGCACHE_READ_MAX) {
		unsigned char *b = xmalloc((size_t)sb.st_size);

		if (!read_whole(fd, b, (size_t)sb.st_size)) {
			log_error("imap: read of message uid=%u mailbox=%s failed", uid, name);
			close(fd);
			free(b);
			free(e);
			return STORE_IOERROR;
		}
		e->msg.data = b;
		e->msg.len = (size_t)sb.st_size;
		e->heap = true;
	} else if (sb.st_size > 0) {
		p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			log_error("imap: mmap of message uid=%u mailbox=%s failed", uid, name);
			close(fd);
			free(e);
			return STORE_IOERROR;
		}
		e->msg.data = p;
		e->msg.len = (size_t)sb.st_size;
		e->mapped = true;
	} else {
		e->msg.data = (const unsigned char *)"";
		e->msg.len = 0;
	}
	close(fd);
	e->mailbox = xstrdup(name);
	e->uidvalidity = uidv;
	e->uid = uid;
	e->refs = 1;
	e->hval = hval;
	e->hnext = c->hash[hval & (MSGCACHE_HASH_SIZE - 1)];
	c->hash[hval & (MSGCACHE_HASH_SIZE - 1)] = e;
	if (scan)
		entry_push_back(c, e);	/* evicted first: a scan does not flush the LRU */
	else
		entry_push_front(c, e);
	c->count++;
	c->bytes += e->msg.len;
	cache_trim(c);
	*msg_r = &e->msg;
	return STORE_OK;
}

void
imap_msgcache_release(struct imap_msgcache *c, struct imap_cached_msg **msgp)
{
	struct cache_entry *e = (struct cache_entry *)*msgp;

	if (e == NULL)
		return;
	*msgp = NULL;
	if (e->refs == 0)
		panic("imap: message cache refcount underflow");
	e->refs--;
	cache_trim(c);
}

const struct mail_message *
imap_cached_msg_parse(struct imap_cached_msg *msg)
{
	if (msg->parsed == NULL)
		msg->parsed = mail_message_parse(msg->data, msg->len, NULL);
	return msg->parsed;
}

#define HDR_READ_STEP	(16 * 1024)

enum store_status
imap_msg_read_header(struct mailbox *mbox, uint32_t uid, unsigned char **bufp, size_t *capp,
    size_t *len_r, bool *complete_r)
{
	size_t len = 0, scan = 0;
	enum store_status st;
	int fd;

	*len_r = 0;
	*complete_r = false;
	st = mailbox_msg_open(mbox, uid, &fd);
	if (st != STORE_OK)
		return st;
	for (;;) {
		ssize_t n;

		if (len >= IMAP_HDR_READ_MAX)
			break;			/* not complete: the caller maps the file */
		if (*capp < len + HDR_READ_STEP) {
			size_t ncap = *capp < 2 * HDR_READ_STEP ? 2 * HDR_READ_STEP : *capp;

			while (ncap < len + HDR_READ_STEP)
				ncap *= 2;
			*bufp = xrealloc(*bufp, ncap);
			*capp = ncap;
		}
		n = pread(fd, *bufp + len, HDR_READ_STEP, (off_t)len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("imap: read of message uid=%u mailbox=%s failed: %s", uid,
			    mailbox_name(mbox), strerror(errno));
			close(fd);
			return STORE_IOERROR;
		}
		if (n == 0) {
			*complete_r = true;	/* no blank line: the whole file is header */
			break;
		}
		len += (size_t)n;
		/* the header ends at the first line that is empty (LF or CRLF) */
		while (scan < len) {
			const unsigned char *d = *bufp, *lf;

			if (d[scan] == '\n' || (d[scan] == '\r' && scan + 1 < len &&
			    d[scan + 1] == '\n')) {
				*len_r = scan + (d[scan] == '\n' ? 1 : 2);
				*complete_r = true;
				close(fd);
				return STORE_OK;
			}
			if (d[scan] == '\r' && scan + 1 == len)
				break;		/* CR at the end: read on */
			lf = memchr(d + scan, '\n', len - scan);
			if (lf == NULL)
				break;
			scan = (size_t)(lf - d) + 1;
		}
	}
	close(fd);
	*len_r = len;
	return STORE_OK;
}
