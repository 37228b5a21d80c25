/*
 * subject.c — RFC 5256 §2.1 base subject extraction (see subject.h). The steps of the
 * RFC work on [b, e) of one normalised copy; every step either removes what it scanned
 * or stops, so one pass of steps (2)-(5) is linear in the text, and step (6) repeats
 * them only after removing at least "[fwd:" and "]".
 */
#include "mail/subject.h"

#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "mail/header.h"
#include "mail/rfc2047.h"

/* Does s[i..e) start with the ASCII word w, ignoring case? */
static bool
starts_ci(const char *s, size_t i, size_t e, const char *w)
{
	size_t n = strlen(w);

	return e - i >= n && strncasecmp(s + i, w, n) == 0;
}

/* A subj-blob at s[i..e): "[" *BLOBCHAR "]" *WSP. Returns its end, or 0 if none. */
static size_t
blob_at(const char *s, size_t i, size_t e)
{
	size_t j;

	if (i >= e || s[i] != '[')
		return 0;
	for (j = i + 1; j < e && s[j] != ']'; j++)
		if (s[j] == '[')
			return 0;
	if (j >= e)
		return 0;
	for (j++; j < e && s[j] == ' '; j++)
		;
	return j;
}

/* subj-refwd at s[i..e): ("re" / ("fw" ["d"])) *WSP [subj-blob] ":". Its end or 0. */
static size_t
refwd_at(const char *s, size_t i, size_t e)
{
	size_t j, k;

	if (starts_ci(s, i, e, "re"))
		j = i + 2;
	else if (starts_ci(s, i, e, "fwd"))
		j = i + 3;
	else if (starts_ci(s, i, e, "fw"))
		j = i + 2;
	else
		return 0;
	while (j < e && s[j] == ' ')
		j++;
	if ((k = blob_at(s, j, e)) != 0)
		j = k;
	return j < e && s[j] == ':' ? j + 1 : 0;
}

/* Steps (3)-(5): leaders and leading blobs. Returns true if a refwd was removed. */
static bool
strip_leaders(const char *s, size_t *bp, size_t e)
{
	size_t b = *bp, j, prev, k, n;
	bool reply = false;

	for (;;) {
		while (b < e && s[b] == ' ')
			b++;
		/* (3) *subj-blob subj-refwd */
		j = b;
		prev = b;
		n = 0;
		while ((k = blob_at(s, j, e)) != 0) {
			prev = j;
			j = k;
			n++;
		}
		if ((k = refwd_at(s, j, e)) != 0) {
			b = k;
			reply = true;
			continue;
		}
		/* (4) a leading blob goes if text is left after it; repeated, that removes
		 * every blob before non-blob text, or all but the last of only blobs */
		if (n == 0)
			break;
		if (j < e)
			b = j;
		else if (n > 1)
			b = prev;
		else
			break;
	}
	*bp = b;
	return reply;
}

int
mail_base_subject(const char *p, size_t len, struct buf *out, bool *reply_r)
{
	struct buf raw, dec;
	char *s;
	size_t b, e, i, n = 0;
	bool reply = false, changed;
	int ret;

	if (reply_r != NULL)
		*reply_r = false;
	buf_init(&raw, 4 * MAIL_BASE_SUBJECT_MAX);
	buf_init(&dec, 16 * MAIL_BASE_SUBJECT_MAX);
	/* (1) decoded to UTF-8, runs of white space and controls as one space; bounded */
	(void)mail_header_unfold(&raw, (const unsigned char *)p,
	    MIN(len, (size_t)4 * MAIL_BASE_SUBJECT_MAX));
	(void)mail_rfc2047_decode(&dec, buf_cstr(&raw), raw.len);
	/* normalised in place (it only shrinks) */
	s = (char *)buf_cstr(&dec);
	for (i = 0; i < dec.len && n < MAIL_BASE_SUBJECT_MAX; i++) {
		char c = s[i];

		/* tabs, line ends and other controls (NUL from an encoded word) */
		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = ' ';
		if (c == ' ' && n > 0 && s[n - 1] == ' ')
			continue;
		s[n++] = c;
	}
	/* a cut inside a UTF-8 sequence (the decoder's output is valid UTF-8) drops the
	 * partial sequence */
	if (i < dec.len && n > 0) {
		size_t start = n - 1, want;
		unsigned char lead;

		while (start > 0 && n - start < 4 && ((unsigned char)s[start] & 0xc0) == 0x80)
			start--;
		lead = (unsigned char)s[start];
		want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
		if (n - start < want)
			n = start;
	}
	b = 0;
	e = n;
	do {
		/* (2) trailers: "(fwd)" and spaces */
		for (;;) {
			if (e > b && s[e - 1] == ' ')
				e--;
			else if (e - b >= 5 && strncasecmp(s + e - 5, "(fwd)", 5) == 0) {
				e -= 5;
				reply = true;	/* a forward, as Dovecot counts it */
			}
			else
				break;
		}
		/* (3)-(5) */
		if (strip_leaders(s, &b, e))
			reply = true;
		/* (6) "[fwd:" subject "]" */
		changed = false;
		if (starts_ci(s, b, e, "[fwd:") && e - b >= 6 && s[e - 1] == ']') {
			b += 5;
			e--;
			reply = true;
			changed = true;
		}
	} while (changed);
	while (b < e && s[b] == ' ')
		b++;
	if (reply_r != NULL)
		*reply_r = reply;
	ret = buf_append(out, s + b, e - b);
	buf_deinit(&raw);
	buf_deinit(&dec);
	return ret;
}
