/*
 * imap_msgcache.c — a bounded LRU cache of mapped and parsed messages of the mail
 * process, keyed by (mailbox, UIDVALIDITY, UID), so FETCH BODYSTRUCTURE twice or a
 * FETCH of several sections does not reparse the message. Bounded by the number of
 * entries and the total mapped bytes (entries in use are pinned and may exceed it
 * briefly). Message files are mapped read-only and private; an expunged or renamed file
 * stays valid while mapped.
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

struct cache_entry {
	struct imap_cached_msg msg;	/* first: the public part */
	struct cache_entry *prev, *next;	/* LRU list, most recent first */
	char *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
	bool mapped;
	unsigned refs;
};

struct imap_msgcache {
	struct cache_entry *head, *tail;
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
entry_free(struct imap_msgcache *c, struct cache_entry *e)
{
	entry_unlink(c, e);
	c->count--;
	c->bytes -= e->msg.len;
	if (e->msg.parsed != NULL)
		mail_message_free(&e->msg.parsed);
	if (e->mapped)
		munmap((void *)e->msg.data, e->msg.len);
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

enum store_status
imap_msgcache_get(struct imap_msgcache *c, struct mbox *mbox, uint32_t uid,
    struct imap_cached_msg **msg_r)
{
	struct cache_entry *e;
	const char *name = mbox_name(mbox);
	uint32_t uidv = mbox_uidvalidity(mbox);
	enum store_status st;
	struct stat sb;
	void *p;
	int fd;

	*msg_r = NULL;
	for (e = c->head; e != NULL; e = e->next) {
		if (e->uid == uid && e->uidvalidity == uidv && strcmp(e->mailbox, name) == 0) {
			entry_unlink(c, e);
			entry_push_front(c, e);
			e->refs++;
			*msg_r = &e->msg;
			return STORE_OK;
		}
	}
	st = mbox_msg_open(mbox, uid, &fd);
	if (st != STORE_OK)
		return st;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		log_error("imap: fstat of message uid=%u mailbox=%s failed", uid, name);
		close(fd);
		return STORE_IOERROR;
	}
	e = xcalloc(1, sizeof(*e));
	if (sb.st_size > 0) {
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
imap_msg_read_header(struct mbox *mbox, uint32_t uid, unsigned char **bufp, size_t *capp,
    size_t *len_r, bool *complete_r)
{
	size_t len = 0, scan = 0;
	enum store_status st;
	int fd;

	*len_r = 0;
	*complete_r = false;
	st = mbox_msg_open(mbox, uid, &fd);
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
			    mbox_name(mbox), strerror(errno));
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
