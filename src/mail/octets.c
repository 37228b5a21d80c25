/*
 * octets.c — the "IMAP octets" view of a message file: sizes, line counts and copies in
 * which every bare LF is CRLF (see message.h). Runs in the mail process over mmapped,
 * untrusted bytes; pure arithmetic, bounded by the range given.
 */
#include "mail/message.h"

/* Width in IMAP octets of p[i] (a bare LF is 2), looking only inside the range. */
static unsigned int
octet_width(const unsigned char *p, size_t i)
{
	if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
		return 2;
	return 1;
}

/*
 * One pass counting LFs and CRLF pairs, written so that the compiler vectorises it (at
 * -O2): blocks of 64 bytes with byte counters that cannot overflow, no early exit.
 * A bare LF is an LF not preceded by CR inside the range.
 */
void
mail_octets_count(const unsigned char *p, size_t len, uint64_t *size_r, uint64_t *lines_r)
{
	uint64_t lf = 0, crlf = 0;
	size_t i = 1;

	if (len == 0) {
		*size_r = 0;
		*lines_r = 0;
		return;
	}
	lf = p[0] == '\n';
	for (; len >= 64 && i <= len - 64; i += 64) {
		unsigned char nl = 0, pair = 0;

		for (size_t j = 0; j < 64; j++) {
			nl += p[i + j] == '\n';
			pair += (p[i + j] == '\n') & (p[i + j - 1] == '\r');
		}
		lf += nl;
		crlf += pair;
	}
	for (; i < len; i++) {
		lf += p[i] == '\n';
		crlf += (p[i] == '\n') & (p[i - 1] == '\r');
	}
	*size_r = (uint64_t)len + lf - crlf;
	*lines_r = lf;
}

uint64_t
mail_octets_size(const unsigned char *p, size_t len)
{
	uint64_t size, lines;

	mail_octets_count(p, len, &size, &lines);
	return size;
}

uint64_t
mail_octets_lines(const unsigned char *p, size_t len)
{
	uint64_t size, lines;

	mail_octets_count(p, len, &size, &lines);
	return lines;
}

/* Raw bytes skipped per step while positioning a reader (counted, not walked). */
#define SKIP_BLOCK 4096

void
mail_octets_reader_init(struct mail_octets_reader *r, const unsigned char *p, size_t len,
    uint64_t origin, uint64_t count, uint64_t *total_r)
{
	uint64_t at = 0, avail;
	size_t i = 0;

	r->p = p;
	r->len = len;
	r->cr_sent = false;
	/*
	 * Skip whole blocks that end at or before origin with the vectorised count (a
	 * block that starts with the LF of a CRLF split between blocks: that LF is not
	 * bare), then walk the last block byte by byte. A partial fetch of a large
	 * message in pieces thus costs a fast scan up to the piece, not a walk.
	 */
	while (len - i > SKIP_BLOCK) {
		uint64_t bs, bl;

		mail_octets_count(p + i, SKIP_BLOCK, &bs, &bl);
		if (i > 0 && p[i] == '\n' && p[i - 1] == '\r')
			bs--;
		if (at + bs > origin)
			break;
		at += bs;
		i += SKIP_BLOCK;
	}
	while (i < len) {
		unsigned int w = octet_width(p, i);

		if (at + w > origin) {
			/* origin falls on the LF after its synthetic CR */
			r->cr_sent = at < origin;
			break;
		}
		at += w;
		i++;
	}
	r->pos = i;
	if (i == len) {
		/* origin at or past the end */
		r->left = 0;
		if (total_r != NULL)
			*total_r = 0;
		return;
	}
	/*
	 * Octets from origin to the end: at least one per raw byte left, so a count that
	 * fits in the raw bytes needs no counting; otherwise count the (short) rest. The
	 * rest's own count takes its first byte, if an LF, as bare: fix that up when its
	 * CR precedes it or was already produced.
	 */
	if (count <= len - i)
		avail = count;
	else {
		uint64_t size, lines;

		mail_octets_count(p + i, len - i, &size, &lines);
		if (p[i] == '\n' && (r->cr_sent || (i > 0 && p[i - 1] == '\r')))
			size--;
		avail = size;
	}
	r->left = count < avail ? count : avail;
	if (total_r != NULL)
		*total_r = r->left;
}

int
mail_octets_read(struct mail_octets_reader *r, struct buf *out, size_t max)
{
	struct mail_octets_reader save = *r;
	size_t done = 0, start = out->len;

	if (max > (size_t)1 << 30)
		max = (size_t)1 << 30;
	while (r->left > 0 && done < max && r->pos < r->len) {
		size_t pos = r->pos, run;
		size_t want = (size_t)MIN((uint64_t)(max - done), r->left);
		const unsigned char *lf;

		if (octet_width(r->p, pos) == 2 && !r->cr_sent) {
			if (buf_append_c(out, '\r') < 0)
				goto fail;
			r->cr_sent = true;
			r->left--;
			done++;
			continue;
		}
		/* copy up to (and including) the next LF, whose CR is already handled */
		lf = pos + 1 < r->len ? memchr(r->p + pos + 1, '\n', r->len - pos - 1) : NULL;
		run = (lf == NULL ? r->len : (size_t)(lf - r->p)) - pos;
		if (lf != NULL && lf[-1] == '\r')
			run++;	/* a CRLF copies as is */
		if (run > want)
			run = want;
		if (buf_append(out, r->p + pos, run) < 0)
			goto fail;
		r->pos += run;
		r->cr_sent = false;
		r->left -= run;
		done += run;
	}
	return (int)done;
fail:
	*r = save;
	buf_truncate(out, start);
	return -1;
}

int
mail_octets_append(struct buf *out, const unsigned char *p, size_t len, uint64_t origin,
    uint64_t count)
{
	struct mail_octets_reader r;
	uint64_t total;
	int ret;

	mail_octets_reader_init(&r, p, len, origin, count, &total);
	while (r.left > 0) {
		ret = mail_octets_read(&r, out, 1 << 20);
		if (ret < 0)
			return -1;
		if (ret == 0)
			break;
	}
	return 0;
}
