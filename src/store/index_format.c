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
static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
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
	for (i = 0; i < 32; i++)
		if (hex_digit_value((unsigned char)h->guid[i]) < 0)
			return -1;
	if (h->uidvalidity == 0 || h->nextuid == 0 || (h->flags & ~INDEX_HDR_CURRENT) != 0 ||
	    h->modseq_ceiling < h->highestmodseq ||
	    h->expunge_forgotten > h->highestmodseq || (uint64_t)h->count >= h->nextuid)
		return -1;
	return 0;
}

size_t
index_rec_size(const struct index_rec *r)
{
	return INDEX_REC_FIXED + r->name_len;
}

void
index_rec_encode(const struct index_rec *r, unsigned char *out)
{
	out[0] = r->flags;
	out[1] = r->in_new ? 1 : 0;
	out[2] = (unsigned char)r->name_len;
	out[3] = (unsigned char)(r->name_len >> 8);
	put32(out + 4, r->keywords);
	put64(out + 8, r->modseq);
	put64(out + 16, r->size);
	put64(out + 24, r->vsize);
	put64(out + 32, (uint64_t)r->internaldate);
	put64(out + 40, (uint64_t)r->savedate);
	put64(out + 48, r->emailid);
	memcpy(out + INDEX_REC_FIXED, r->name, r->name_len);
}

bool
index_rec_decode(const void *data, size_t len, struct index_rec *r)
{
	const unsigned char *p = data;
	struct mdname md;

	memset(r, 0, sizeof(*r));
	if (len < INDEX_REC_FIXED)
		return false;
	r->flags = p[0];
	if ((r->flags & ~(MAILBOX_FLAGS_IMAP | MAILBOX_FLAG_PASSED)) != 0 || p[1] > 1)
		return false;
	r->in_new = p[1] == 1;
	r->name_len = (size_t)p[2] | (size_t)p[3] << 8;
	if (r->name_len == 0 || r->name_len > INDEX_NAME_MAX ||
	    len != INDEX_REC_FIXED + r->name_len)
		return false;
	r->keywords = get32(p + 4);
	r->modseq = get64(p + 8);
	r->size = get64(p + 16);
	r->vsize = get64(p + 24);
	r->internaldate = (int64_t)get64(p + 32);
	r->savedate = (int64_t)get64(p + 40);
	r->emailid = get64(p + 48);
	r->name = (const char *)p + INDEX_REC_FIXED;
	if (memchr(r->name, '\0', r->name_len) != NULL ||
	    !mdname_parse(r->name, r->name_len, &md))
		return false;
	/* the flags are the file name's: a record that disagrees is not ours */
	if (md.flags != r->flags || md.keywords != r->keywords || r->modseq == 0 ||
	    (r->keywords >> STORE_KEYWORDS_MAX) != 0 || r->internaldate < 0 ||
	    r->savedate < 0)
		return false;
	if (r->size != MAILBOX_SIZE_UNKNOWN && r->vsize != MAILBOX_SIZE_UNKNOWN &&
	    r->vsize < r->size)
		return false;
	return true;
}
