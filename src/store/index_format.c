/*
 * index_format.c — the byte layout of the persistent index's folder header and message
 * records (docs/formats.md, "Index (LMDB)"): encoders and validating decoders. Pure:
 * bytes in, structures out; no I/O, no logging, no globals. Runs in the mail process and
 * in the `buzon index` CLI. Security role: the index file is a cache that the mailbox
 * owner (and anything running as them) can write, so every record is decoded with
 * explicit bounds and rejected, never trusted, when it does not validate; this file is
 * fuzzed (fuzz/store/fuzz_index_rec.c).
 */
#include "store/store_private.h"

#include "lib/util.h"

/* little-endian integers at fixed offsets */
static inline void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static const unsigned char index_magic[4] = { 'B', 'Z', 'I', 'X' };

void
index_hdr_encode(const struct index_hdr *h, unsigned char out[INDEX_HDR_SIZE])
{
	memset(out, 0, INDEX_HDR_SIZE);
	memcpy(out, index_magic, 4);
	put32(out + 4, h->version);
	put32(out + 8, h->uidvalidity);
	put32(out + 12, h->nextuid);
	put64(out + 16, h->highestmodseq);
	put64(out + 24, h->modseq_ceiling);
	put64(out + 32, (uint64_t)h->new_mtime_ns);
	put64(out + 40, (uint64_t)h->cur_mtime_ns);
	put64(out + 48, h->uidlist_ino);
	put64(out + 56, h->uidlist_size);
	put64(out + 64, (uint64_t)h->uidlist_mtime_ns);
	put64(out + 72, (uint64_t)h->snap_ns);
	put64(out + 80, h->new_ino);
	put64(out + 88, h->cur_ino);
	put32(out + 96, h->count);
	put32(out + 100, h->flags);
	put64(out + 104, h->expunge_forgotten);
	memcpy(out + 112, h->guid, 32);
	put32(out + 144, h->unseen);
	put32(out + 148, h->first_unseen_seq);
	put32(out + 152, h->first_unseen_uid);
	put64(out + 160, h->vsize_total);
}

int
index_hdr_decode(const void *data, size_t len, struct index_hdr *h)
{
	const unsigned char *p = data;
	size_t i;

	memset(h, 0, sizeof(*h));
	if (len < 8 || memcmp(p, index_magic, 4) != 0)
		return -1;
	h->version = get32(p + 4);
	if (h->version != INDEX_FORMAT_VERSION)
		return -2;
	if (len != INDEX_HDR_SIZE)
		return -1;
	h->uidvalidity = get32(p + 8);
	h->nextuid = get32(p + 12);
	h->highestmodseq = get64(p + 16);
	h->modseq_ceiling = get64(p + 24);
	h->new_mtime_ns = (int64_t)get64(p + 32);
	h->cur_mtime_ns = (int64_t)get64(p + 40);
	h->uidlist_ino = get64(p + 48);
	h->uidlist_size = get64(p + 56);
	h->uidlist_mtime_ns = (int64_t)get64(p + 64);
	h->snap_ns = (int64_t)get64(p + 72);
	h->new_ino = get64(p + 80);
	h->cur_ino = get64(p + 88);
	h->count = get32(p + 96);
	h->flags = get32(p + 100);
	h->expunge_forgotten = get64(p + 104);
	memcpy(h->guid, p + 112, 32);
	h->guid[32] = '\0';
	h->unseen = get32(p + 144);
	h->first_unseen_seq = get32(p + 148);
	h->first_unseen_uid = get32(p + 152);
	h->vsize_total = get64(p + 160);
	for (i = 0; i < 32; i++)
		if (hex_digit_value((unsigned char)h->guid[i]) < 0)
			return -1;
	/* the summary: no unseen message, or the first one within count and below next UID */
	if (h->unseen > h->count || (h->unseen == 0) != (h->first_unseen_seq == 0) ||
	    (h->unseen == 0) != (h->first_unseen_uid == 0) || h->first_unseen_seq > h->count ||
	    h->first_unseen_uid >= h->nextuid || get32(p + 156) != 0 ||
	    ((h->flags & INDEX_HDR_VSIZE_KNOWN) == 0 && h->vsize_total != 0))
		return -1;
	if (h->uidvalidity == 0 || h->nextuid == 0 ||
	    (h->flags & ~(INDEX_HDR_CURRENT | INDEX_HDR_VSIZE_KNOWN)) != 0 ||
	    h->modseq_ceiling < h->highestmodseq ||
	    h->expunge_forgotten > h->highestmodseq || (uint64_t)h->count >= h->nextuid)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ message chunks */

static const unsigned char chunk_magic[4] = { 'B', 'Z', 'C', 'K' };

size_t
index_chunk_size(uint32_t n, size_t names_len)
{
	return INDEX_CHUNK_HDR + (size_t)n * INDEX_CHUNK_ENTRY + names_len;
}

void
index_chunk_begin(unsigned char *out, uint32_t n, uint32_t names_len)
{
	memcpy(out, chunk_magic, 4);
	put32(out + 4, n);
	put32(out + 8, names_len);
	put32(out + 12, 0);
}

size_t
index_chunk_put(unsigned char *out, uint32_t n, uint32_t i, size_t name_off,
    const struct index_rec *r)
{
	unsigned char *e = out + INDEX_CHUNK_HDR + (size_t)i * INDEX_CHUNK_ENTRY;
	unsigned char *nm = out + INDEX_CHUNK_HDR + (size_t)n * INDEX_CHUNK_ENTRY + name_off;

	put32(e, r->uid);
	e[4] = r->flags;
	e[5] = 0;
	e[6] = (unsigned char)r->name_len;
	e[7] = (unsigned char)(r->name_len >> 8);
	put32(e + 8, r->keywords);
	put32(e + 12, 0);
	put64(e + 16, r->modseq);
	put64(e + 24, r->size);
	put64(e + 32, r->vsize);
	put64(e + 40, (uint64_t)r->internaldate);
	put64(e + 48, (uint64_t)r->savedate);
	put64(e + 56, r->emailid);
	memcpy(nm, r->in_new ? "new/" : "cur/", 4);
	memcpy(nm + 4, r->name, r->name_len);
	nm[4 + r->name_len] = '\0';
	return name_off + r->name_len + 5;
}

int
index_chunk_open(const void *data, size_t len, struct index_chunk *c)
{
	const unsigned char *p = data;

	memset(c, 0, sizeof(*c));
	if (len < INDEX_CHUNK_HDR || memcmp(p, chunk_magic, 4) != 0)
		return -1;
	c->n = get32(p + 4);
	c->names_len = get32(p + 8);
	if (c->n == 0 || c->n > INDEX_CHUNK_MAX || get32(p + 12) != 0 ||
	    c->names_len > (size_t)c->n * (INDEX_NAME_MAX + 5) ||
	    len != index_chunk_size(c->n, c->names_len))
		return -1;
	c->p = p;
	c->names = p + INDEX_CHUNK_HDR + (size_t)c->n * INDEX_CHUNK_ENTRY;
	return 0;
}

/* Bytes not allowed anywhere in a message file name (mdname_parse): control
 * characters, DEL, '/'. Eight bytes at a time: the classic "has a byte less than n" and
 * "has a zero byte" word tests, exact as yes/no answers. */
#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL
#define HAS_LESS(x, n)	(((x) - ONES * (n)) & ~(x) & HIGHS)
#define HAS_ZERO(x)	(((x) - ONES) & ~(x) & HIGHS)

/*
 * Check the bytes of a name and find its first ':' in one pass, eight bytes at a time:
 * the classic "has a byte less than n" and "has a zero byte" word tests, exact as yes/no
 * answers, and exact for the position of the lowest matching byte (a false positive can
 * only sit above a true one). Returns false for a control character, DEL or '/';
 * *colon_r is the offset of the first ':' or len.
 */
static bool
name_scan(const unsigned char *p, size_t len, size_t *colon_r)
{
	uint64_t x, bad = 0, col;
	size_t i = 0, colon = len;

	for (; i + 8 <= len; i += 8) {
		memcpy(&x, p + i, 8);
		bad |= HAS_LESS(x, 0x20) | HAS_ZERO(x ^ (ONES * 0x7f)) |
		    HAS_ZERO(x ^ (ONES * '/'));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (colon == len && (col = HAS_ZERO(x ^ (ONES * ':'))) != 0)
			colon = i + (size_t)__builtin_ctzll(col) / 8;
#else
		(void)col;
#endif
	}
	if (i < len && len >= 8) {
		/* the last word again, overlapping bytes already seen (none of them a ':'
		 * if colon is still len, so a match is a new byte) */
		i = len - 8;
		memcpy(&x, p + i, 8);
		bad |= HAS_LESS(x, 0x20) | HAS_ZERO(x ^ (ONES * 0x7f)) |
		    HAS_ZERO(x ^ (ONES * '/'));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (colon == len && (col = HAS_ZERO(x ^ (ONES * ':'))) != 0)
			colon = i + (size_t)__builtin_ctzll(col) / 8;
#endif
		i = len;
	}
	for (; i < len; i++) {
		bad |= (uint64_t)(p[i] < 0x20 || p[i] == 0x7f || p[i] == '/');
		if (colon == len && p[i] == ':')
			colon = i;
	}
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	{
		const unsigned char *c = memchr(p, ':', len);

		colon = c == NULL ? len : (size_t)(c - p);
	}
#endif
	*colon_r = colon;
	return bad == 0;
}

bool
index_name_parse(const char *name, size_t len, uint8_t *flags_r, uint32_t *keywords_r)
{
	size_t base_len, i;
	uint8_t flags = 0;
	uint32_t kw = 0;

	/* as mdname_parse: length, not hidden, no control characters, DEL or '/', a base
	 * (before the first ':') of 1..MAILDIR_BASE_MAX bytes, ":2," then flag letters */
	if (len == 0 || len > MAILDIR_BASE_MAX + 64 || name[0] == '.' ||
	    !name_scan((const unsigned char *)name, len, &base_len))
		return false;
	if (base_len == 0 || base_len > MAILDIR_BASE_MAX)
		return false;
	if (len - base_len >= 3 && memcmp(name + base_len, ":2,", 3) == 0) {
		for (i = base_len + 3; i < len; i++) {
			char ch = name[i];

			switch (ch) {
			case 'D': flags |= MAILBOX_FLAG_DRAFT; break;
			case 'F': flags |= MAILBOX_FLAG_FLAGGED; break;
			case 'P': flags |= MAILBOX_FLAG_PASSED; break;
			case 'R': flags |= MAILBOX_FLAG_ANSWERED; break;
			case 'S': flags |= MAILBOX_FLAG_SEEN; break;
			case 'T': flags |= MAILBOX_FLAG_DELETED; break;
			default:
				if (ch >= 'a' && ch <= 'z')
					kw |= 1u << (ch - 'a');
				break;
			}
		}
	}
	*flags_r = flags;
	*keywords_r = kw;
	return true;
}

int
index_chunk_next(struct index_chunk *c, struct index_rec *r)
{
	const unsigned char *e, *nm;
	uint8_t nflags;
	uint32_t nkw;

	if (c->i == c->n)
		return c->name_off == c->names_len ? 0 : -1;
	e = c->p + INDEX_CHUNK_HDR + (size_t)c->i * INDEX_CHUNK_ENTRY;
	r->uid = get32(e);
	r->flags = e[4];
	r->name_len = (size_t)e[6] | (size_t)e[7] << 8;
	r->keywords = get32(e + 8);
	r->modseq = get64(e + 16);
	r->size = get64(e + 24);
	r->vsize = get64(e + 32);
	r->internaldate = (int64_t)get64(e + 40);
	r->savedate = (int64_t)get64(e + 48);
	r->emailid = get64(e + 56);
	if (r->uid == 0 || r->emailid == 0 || (r->flags & ~(MAILBOX_FLAGS_IMAP | MAILBOX_FLAG_PASSED)) != 0 ||
	    e[5] != 0 || get32(e + 12) != 0 || r->name_len == 0 ||
	    r->name_len > INDEX_NAME_MAX || r->modseq == 0 ||
	    (r->keywords >> STORE_KEYWORDS_MAX) != 0 || r->internaldate < 0 ||
	    r->savedate < 0 ||
	    (r->size != MAILBOX_SIZE_UNKNOWN && r->vsize != MAILBOX_SIZE_UNKNOWN &&
	    r->vsize < r->size))
		return -1;
	if (r->name_len + 5 > c->names_len - c->name_off)
		return -1;
	nm = c->names + c->name_off;
	if (memcmp(nm, "cur/", 4) == 0)
		r->in_new = false;
	else if (memcmp(nm, "new/", 4) == 0)
		r->in_new = true;
	else
		return -1;
	r->name = (const char *)nm + 4;
	if (nm[4 + r->name_len] != '\0' ||
	    !index_name_parse(r->name, r->name_len, &nflags, &nkw) ||
	    nflags != r->flags || nkw != r->keywords)
		return -1;	/* the flags are the file name's: a record that disagrees */
	c->name_off += r->name_len + 5;
	c->i++;
	return 1;
}
