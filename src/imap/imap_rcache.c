/*
 * imap_rcache.c — the rendered-item cache of the mail process: per message the
 * ENVELOPE, BODY and BODYSTRUCTURE strings as FETCH sends them and the few header
 * fields header SEARCH and ENVELOPE read, keyed by (mailbox, UIDVALIDITY, UID), so a
 * repeated FETCH 1:* (ENVELOPE) or SEARCH SUBJECT opens no message files. Maildir
 * messages are immutable and UIDs are never reused within one UIDVALIDITY, so the only
 * invalidations are a changed UIDVALIDITY (the folder is reset) and DELETE/RENAME
 * (imap_rcache_clear). Compact: one string arena per folder plus a record of offsets
 * per UID found through an open-addressing hash. Bounded: the whole cache holds at most
 * max_bytes; when full, least recently used folders are dropped whole, and a folder that
 * alone would exceed the bound stops growing. Security role: holds derived data of the
 * user's own mail only; sizes are bounded by RCACHE_ITEM_MAX and max_bytes.
 */
#include <strings.h>

#include "imap/imap_local.h"
#include "lib/util.h"
#include "mail/header.h"

#define RCACHE_ABSENT		UINT32_MAX
#define RCACHE_ITEM_MAX		(256 * 1024)	/* larger strings are not cached */

struct rc_rec {
	uint32_t uid;
	uint32_t off[IMAP_RC_NFIELDS];
	uint32_t len[IMAP_RC_NFIELDS];
};

struct rc_folder {
	struct rc_folder *prev, *next;	/* LRU, most recent first */
	char *mailbox;
	uint32_t uidvalidity;
	char *arena;
	size_t arena_len, arena_cap;
	struct rc_rec *recs;
	size_t nrecs, recs_cap;
	uint32_t *hash;			/* index + 1 into recs, 0 = empty */
	size_t hash_cap;		/* power of two */
	size_t bytes;			/* arena_cap + recs + hash */
};

struct imap_rcache {
	struct rc_folder *head, *tail;
	size_t bytes, max_bytes;
};

struct imap_rcache *
imap_rcache_create(size_t max_bytes)
{
	struct imap_rcache *rc = xcalloc(1, sizeof(*rc));

	rc->max_bytes = max_bytes;
	return rc;
}

static void
folder_unlink(struct imap_rcache *rc, struct rc_folder *f)
{
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		rc->head = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	else
		rc->tail = f->prev;
	f->prev = f->next = NULL;
}

static void
folder_push_front(struct imap_rcache *rc, struct rc_folder *f)
{
	f->prev = NULL;
	f->next = rc->head;
	if (rc->head != NULL)
		rc->head->prev = f;
	rc->head = f;
	if (rc->tail == NULL)
		rc->tail = f;
}

/* Drop the contents of f (keeps the folder itself). */
static void
folder_reset(struct imap_rcache *rc, struct rc_folder *f)
{
	rc->bytes -= f->bytes;
	free(f->arena);
	free(f->recs);
	free(f->hash);
	f->arena = NULL;
	f->recs = NULL;
	f->hash = NULL;
	f->arena_len = f->arena_cap = f->nrecs = f->recs_cap = f->hash_cap = 0;
	f->bytes = 0;
}

static void
folder_free(struct imap_rcache *rc, struct rc_folder *f)
{
	folder_reset(rc, f);
	folder_unlink(rc, f);
	free(f->mailbox);
	free(f);
}

void
imap_rcache_clear(struct imap_rcache *rc)
{
	while (rc->head != NULL)
		folder_free(rc, rc->head);
}

void
imap_rcache_destroy(struct imap_rcache **rcp)
{
	struct imap_rcache *rc = *rcp;

	if (rc == NULL)
		return;
	*rcp = NULL;
	imap_rcache_clear(rc);
	free(rc);
}

size_t
imap_rcache_bytes(const struct imap_rcache *rc)
{
	return rc->bytes;
}

/* The folder for (mailbox, uidvalidity), reset when its UIDVALIDITY changed. */
static struct rc_folder *
folder_get(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity, bool create)
{
	struct rc_folder *f;

	for (f = rc->head; f != NULL; f = f->next)
		if (strcmp(f->mailbox, mailbox) == 0)
			break;
	if (f == NULL) {
		if (!create)
			return NULL;
		f = xcalloc(1, sizeof(*f));
		f->mailbox = xstrdup(mailbox);
		f->uidvalidity = uidvalidity;
		folder_push_front(rc, f);
		return f;
	}
	if (f != rc->head) {
		folder_unlink(rc, f);
		folder_push_front(rc, f);
	}
	if (f->uidvalidity != uidvalidity) {
		folder_reset(rc, f);
		f->uidvalidity = uidvalidity;
	}
	return f;
}

static size_t
uid_hash(uint32_t uid)
{
	return (size_t)(uid * 2654435761u);
}

static struct rc_rec *
rec_find(const struct rc_folder *f, uint32_t uid)
{
	size_t mask, i;

	if (f->hash_cap == 0)
		return NULL;
	mask = f->hash_cap - 1;
	for (i = uid_hash(uid) & mask; f->hash[i] != 0; i = (i + 1) & mask) {
		struct rc_rec *r = &f->recs[f->hash[i] - 1];

		if (r->uid == uid)
			return r;
	}
	return NULL;
}

/* Account for a change of f's allocation; returns false when over the bound. */
static void
folder_account(struct imap_rcache *rc, struct rc_folder *f)
{
	size_t nb = f->arena_cap + f->recs_cap * sizeof(struct rc_rec) +
	    f->hash_cap * sizeof(uint32_t);

	rc->bytes = rc->bytes - f->bytes + nb;
	f->bytes = nb;
}

/* Make room for `need` more bytes by dropping folders other than keep (LRU first). */
static bool
make_room(struct imap_rcache *rc, struct rc_folder *keep, size_t need)
{
	struct rc_folder *f = rc->tail, *prev;

	while (rc->bytes + need > rc->max_bytes && f != NULL) {
		prev = f->prev;
		if (f != keep)
			folder_free(rc, f);
		f = prev;
	}
	return rc->bytes + need <= rc->max_bytes;
}

static void
hash_insert(struct rc_folder *f, uint32_t idx1)
{
	size_t mask = f->hash_cap - 1, i;

	for (i = uid_hash(f->recs[idx1 - 1].uid) & mask; f->hash[i] != 0; i = (i + 1) & mask)
		;
	f->hash[i] = idx1;
}

static struct rc_rec *
rec_add(struct imap_rcache *rc, struct rc_folder *f, uint32_t uid)
{
	struct rc_rec *r;
	unsigned i;

	if (f->nrecs == f->recs_cap) {
		size_t ncap = f->recs_cap == 0 ? 256 : f->recs_cap * 2;

		if (ncap > UINT32_MAX / 2 || !make_room(rc, f,
		    (ncap - f->recs_cap) * sizeof(struct rc_rec)))
			return NULL;
		f->recs = xreallocarray(f->recs, ncap, sizeof(struct rc_rec));
		f->recs_cap = ncap;
		folder_account(rc, f);
	}
	if ((f->nrecs + 1) * 2 > f->hash_cap) {
		size_t ncap = f->hash_cap == 0 ? 512 : f->hash_cap * 2, k;

		if (!make_room(rc, f, (ncap - f->hash_cap) * sizeof(uint32_t)))
			return NULL;
		free(f->hash);
		f->hash = xcalloc(ncap, sizeof(uint32_t));
		f->hash_cap = ncap;
		for (k = 0; k < f->nrecs; k++)
			hash_insert(f, (uint32_t)k + 1);
		folder_account(rc, f);
	}
	r = &f->recs[f->nrecs++];
	r->uid = uid;
	for (i = 0; i < IMAP_RC_NFIELDS; i++) {
		r->off[i] = 0;
		r->len[i] = RCACHE_ABSENT;
	}
	hash_insert(f, (uint32_t)f->nrecs);
	return r;
}

bool
imap_rcache_get(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field, const char **data_r, size_t *len_r)
{
	struct rc_folder *f = folder_get(rc, mailbox, uidvalidity, false);
	const struct rc_rec *r;

	if (f == NULL || (r = rec_find(f, uid)) == NULL || r->len[field] == RCACHE_ABSENT)
		return false;
	*data_r = f->arena + r->off[field];
	*len_r = r->len[field];
	return true;
}

bool
imap_rcache_has(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field)
{
	const char *d;
	size_t l;

	return imap_rcache_get(rc, mailbox, uidvalidity, uid, field, &d, &l);
}

static bool
rc_put(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity, uint32_t uid,
    enum imap_rc_field field, const void *data, size_t len, bool replace)
{
	struct rc_folder *f;
	struct rc_rec *r;

	if (len > RCACHE_ITEM_MAX || len > rc->max_bytes / 4)
		return false;
	f = folder_get(rc, mailbox, uidvalidity, true);
	r = rec_find(f, uid);
	if (r == NULL && (r = rec_add(rc, f, uid)) == NULL)
		return false;
	if (r->len[field] != RCACHE_ABSENT && !replace)
		return true;	/* immutable: the first rendering stays */
	if (f->arena_cap - f->arena_len < len) {
		size_t ncap = f->arena_cap == 0 ? 64 * 1024 : f->arena_cap;

		while (ncap - f->arena_len < len)
			ncap *= 2;
		if (ncap > UINT32_MAX) {
			ncap = UINT32_MAX;
			if (ncap - f->arena_len < len)
				return false;
		}
		if (!make_room(rc, f, ncap - f->arena_cap))
			return false;
		f->arena = xrealloc(f->arena, ncap);
		f->arena_cap = ncap;
		folder_account(rc, f);
	}
	if (len > 0)
		memcpy(f->arena + f->arena_len, data, len);
	r->off[field] = (uint32_t)f->arena_len;
	r->len[field] = (uint32_t)len;
	f->arena_len += len;
	return true;
}

bool
imap_rcache_put(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field, const void *data, size_t len)
{
	return rc_put(rc, mailbox, uidvalidity, uid, field, data, len, false);
}

bool
imap_rcache_replace(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field, const void *data, size_t len)
{
	return rc_put(rc, mailbox, uidvalidity, uid, field, data, len, true);
}

bool
imap_rc_item_valid(const unsigned char *p, size_t len, enum imap_rc_field field)
{
	size_t i = 0, depth = 0, tokens = 0;

	if (field >= IMAP_RC_NRENDERED || len == 0)
		return false;
	/* a list, or for PREVIEW one string (quoted or literal) */
	if (field == IMAP_RC_PREVIEW ? p[0] != '"' && p[0] != '{' : p[0] != '(')
		return false;
	while (i < len) {
		unsigned char ch = p[i];

		if (depth == 0 && tokens > 0)
			return false;	/* one value only */
		if (ch == '(') {
			depth++;
			i++;
		} else if (ch == ')') {
			if (depth == 0)
				return false;
			if (--depth == 0)
				tokens++;
			i++;
		} else if (ch == '"') {
			/* quoted: 7-bit, no CR, LF or NUL, \\ and \" escaped */
			for (i++; i < len && p[i] != '"'; i++) {
				if (p[i] == '\\')
					i++;
				if (i >= len || p[i] == '\0' || p[i] == '\r' || p[i] == '\n' ||
				    p[i] >= 0x80)
					return false;
			}
			if (i >= len)
				return false;
			i++;
			if (depth == 0)
				tokens++;
		} else if (ch == '{') {
			/* literal {n}CRLF and n octets without NUL */
			uint64_t n = 0;
			size_t digits = 0;

			for (i++; i < len && p[i] >= '0' && p[i] <= '9' && digits < 10; i++, digits++)
				n = n * 10 + (uint64_t)(p[i] - '0');
			if (digits == 0 || len - i < 3 || p[i] != '}' || p[i + 1] != '\r' ||
			    p[i + 2] != '\n' || n > len - i - 3 || memchr(p + i + 3, '\0', n) != NULL)
				return false;
			i += 3 + (size_t)n;
			if (depth == 0)
				tokens++;
		} else if (ch >= 0x20 && ch < 0x7f) {
			if (depth == 0)
				return false;	/* atoms (NIL, numbers) only inside a list */
			i++;
		} else
			return false;	/* CR, LF, NUL, 8-bit outside a string */
	}
	return depth == 0 && tokens == 1;
}

/* Fields kept in IMAP_RC_HEADER: the ENVELOPE fields (SEARCH FROM TO CC BCC SUBJECT,
 * SENT*, HEADER on any of them), References and Content-Type. The block is also kept in
 * the store's persistent index: change IMAP_RC_HEADER_KIND with this list. */
static const char *const rc_header_fields[] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID", "References", "Content-Type",
};

bool
imap_rc_header_field(const char *name)
{
	size_t i;

	for (i = 0; i < (sizeof(rc_header_fields) / sizeof(rc_header_fields[0])); i++)
		if (strcasecmp(name, rc_header_fields[i]) == 0)
			return true;
	return false;
}

int
imap_rc_header_build(const unsigned char *hdr, size_t len, struct buf *out)
{
	struct mail_limits lim;
	struct mail_header_field f;
	size_t pos = 0, i;
	unsigned nfields = 0;

	mail_limits_default(&lim);
	buf_reset(out);
	while (mail_header_next(hdr, len, &pos, &f) > 0) {
		/* the parser and SEARCH consider only the first max_header_fields */
		if (++nfields > lim.max_header_fields)
			return -1;
		for (i = 0; i < (sizeof(rc_header_fields) / sizeof(rc_header_fields[0])); i++)
			if (mail_header_name_eq(f.name, f.name_len, rc_header_fields[i]))
				break;
		if (i == (sizeof(rc_header_fields) / sizeof(rc_header_fields[0])))
			continue;
		if (f.len == 0 || hdr[f.off + f.len - 1] != '\n')
			return -1;
		if (buf_append(out, hdr + f.off, f.len) < 0)
			return -1;
	}
	return buf_append_str(out, "\r\n");
}
