/*
 * store_format.c — parsers and writers of dovecot-uidlist, dovecot-keywords,
 * subscriptions, Maildir file names and mailbox names (see store_format.h). Runs in
 * the mail process on files that other programs or the user may have written: every
 * field is length-checked, numbers go through parse_u32/parse_u64, nothing is trusted.
 */
#include "store/store_format.h"

#include <strings.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

/* ------------------------------------------------------------------ uidlist */

void
uidlist_init(struct uidlist *ul)
{
	memset(ul, 0, sizeof(*ul));
	ul->version = 3;
}

void
uidlist_clear(struct uidlist *ul)
{
	size_t i;

	for (i = 0; i < ul->count; i++)
		free(ul->recs[i].base);
	ul->count = 0;
	ul->version = 3;
	ul->uidvalidity = 0;
	ul->nextuid = 0;
	ul->guid[0] = '\0';
}

void
uidlist_deinit(struct uidlist *ul)
{
	uidlist_clear(ul);
	free(ul->recs);
	ul->recs = NULL;
	ul->cap = 0;
}

void
uidlist_add(struct uidlist *ul, uint32_t uid, const char *base, size_t base_len,
    uint64_t size, uint64_t vsize, uint64_t emailid)
{
	struct uidlist_rec *r;

	if (uid == 0 || (ul->count > 0 && ul->recs[ul->count - 1].uid >= uid))
		panic("uidlist_add: uid %u not ascending", uid);
	if (ul->count == ul->cap) {
		ul->cap = ul->cap == 0 ? 64 : ul->cap * 2;
		ul->recs = xreallocarray(ul->recs, ul->cap, sizeof(*ul->recs));
	}
	r = &ul->recs[ul->count++];
	r->uid = uid;
	r->size = size;
	r->vsize = vsize;
	r->base = xstrndup(base, base_len);
	r->emailid = emailid != 0 ? emailid : maildir_emailid_base(base, base_len);
}

/* ------------------------------------------------------------------ message ids */

/* FNV-1a, then the splitmix64 finaliser so that every input bit reaches every output bit
 * (the id is shown to clients, who may compare prefixes). Never 0. */
static uint64_t
emailid_hash(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h != 0 ? h : 1;
}

uint64_t
maildir_emailid_base(const char *base, size_t len)
{
	return emailid_hash(base, len);
}

uint64_t
maildir_emailid_guid(const char *g, size_t len)
{
	uint64_t v = 0;
	size_t i;
	bool hex = len == 16;

	if (len == 0 || len > MAILDIR_GUID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)g[i];

		if (c <= 0x20 || c >= 0x7f)
			return 0;
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			hex = false;
	}
	if (hex)
		return v;	/* 0 for sixteen zeros: unusable */
	return emailid_hash(g, len);
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Split the next space-separated token of [*p, end). */
static bool
next_token(const char **p, const char *end, const char **tok_r, size_t *len_r)
{
	const char *s = *p, *e;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return false;
	e = memchr(s, ' ', (size_t)(end - s));
	if (e == NULL)
		e = end;
	*tok_r = s;
	*len_r = (size_t)(e - s);
	*p = e;
	return true;
}

static bool
uidlist_parse_header(const char *line, size_t len, struct uidlist *ul)
{
	const char *p = line, *end = line + len, *tok;
	size_t tlen;
	uint32_t v;

	if (!next_token(&p, end, &tok, &tlen))
		return false;
	if (tlen == 1 && tok[0] == '1') {
		/* Courier-compatible: "1 <uidvalidity> <nextuid>" */
		ul->version = 1;
		if (!next_token(&p, end, &tok, &tlen) || parse_u32(tok, tlen, &v) < 0)
			return false;
		ul->uidvalidity = v;
		if (!next_token(&p, end, &tok, &tlen) || parse_u32(tok, tlen, &v) < 0)
			return false;
		ul->nextuid = v;
	} else if (tlen == 1 && tok[0] == '3') {
		ul->version = 3;
		while (next_token(&p, end, &tok, &tlen)) {
			switch (tok[0]) {
			case 'V':
				if (parse_u32(tok + 1, tlen - 1, &v) < 0)
					return false;
				ul->uidvalidity = v;
				break;
			case 'N':
				if (parse_u32(tok + 1, tlen - 1, &v) < 0)
					return false;
				ul->nextuid = v;
				break;
			case 'G':
				if (tlen - 1 == 32) {
					size_t i;

					for (i = 1; i < tlen; i++)
						if (!is_hex(tok[i]))
							break;
					if (i == tlen) {
						memcpy(ul->guid, tok + 1, 32);
						ul->guid[32] = '\0';
					}
				}
				break;
			default:
				/* other header fields are ignored (Dovecot: order not fixed) */
				break;
			}
		}
	} else
		return false;
	return ul->uidvalidity != 0 && ul->nextuid != 0;
}

/* One record line; returns false if it must be dropped. */
static bool
uidlist_parse_line(const char *line, size_t len, struct uidlist *ul)
{
	const char *p = line, *end = line + len, *tok, *base;
	size_t tlen, base_len;
	uint64_t size = MAILBOX_SIZE_UNKNOWN, vsize = MAILBOX_SIZE_UNKNOWN, n, emailid = 0;
	uint32_t uid;

	if (!next_token(&p, end, &tok, &tlen) || parse_u32(tok, tlen, &uid) < 0 || uid == 0)
		return false;
	if (ul->version == 1) {
		if (!next_token(&p, end, &base, &base_len))
			return false;
	} else {
		for (;;) {
			if (!next_token(&p, end, &tok, &tlen))
				return false;
			if (tok[0] == ':') {
				/* the name runs to the end of the line */
				base = tok + 1;
				base_len = (size_t)(end - base);
				break;
			}
			if ((tok[0] == 'S' || tok[0] == 'W') &&
			    parse_u64(tok + 1, tlen - 1, UINT64_MAX - 1, &n) == 0) {
				if (tok[0] == 'S')
					size = n;
				else
					vsize = n;
			}
			/* Dovecot's message GUID; an unusable one is ignored */
			if (tok[0] == 'G')
				emailid = maildir_emailid_guid(tok + 1, tlen - 1);
		}
	}
	/* The stored name may carry an old ":2,..." info part: keep only the base. */
	tok = memchr(base, ':', base_len);
	if (tok != NULL)
		base_len = (size_t)(tok - base);
	if (!maildir_base_valid(base, base_len))
		return false;
	if (ul->count > 0 && ul->recs[ul->count - 1].uid >= uid)
		return false;
	if (uid >= ul->nextuid)
		ul->nextuid = uid == UINT32_MAX ? UINT32_MAX : uid + 1;
	uidlist_add(ul, uid, base, base_len, size, vsize, emailid);
	return true;
}

enum uidlist_parse_result
uidlist_parse(const char *data, size_t len, struct uidlist *ul)
{
	const char *p = data, *end = data + len, *nl;
	bool damaged = false;

	uidlist_clear(ul);
	nl = memchr(p, '\n', len);
	if (nl == NULL || !uidlist_parse_header(p, (size_t)(nl - p), ul)) {
		uidlist_clear(ul);
		return UIDLIST_PARSE_BAD_HEADER;
	}
	p = nl + 1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			damaged = true;		/* truncated last line */
			break;
		}
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL ||
		    !uidlist_parse_line(p, (size_t)(nl - p), ul))
			damaged = true;
		p = nl + 1;
	}
	return damaged ? UIDLIST_PARSE_DAMAGED : UIDLIST_PARSE_OK;
}

/* Decimal digits of v, right-aligned ending at end; returns the first digit. */
static char *
fmt_u64(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

int
uidlist_format_rec(struct buf *out, uint32_t uid, uint64_t size, uint64_t vsize,
    const char *base, size_t base_len, uint64_t emailid)
{
	/* "<uid> G<id> S<size> W<vsize> :" is at most 10 + 18 + 22 + 22 + 2 bytes */
	static const char hexd[] = "0123456789abcdef";
	char tmp[80], *p = tmp, *d, num[20];
	size_t n;

	d = fmt_u64(num + sizeof(num), uid);
	n = (size_t)(num + sizeof(num) - d);
	memcpy(p, d, n);
	p += n;
	if (emailid != 0 && emailid != maildir_emailid_base(base, base_len)) {
		*p++ = ' ';
		*p++ = 'G';
		for (int sh = 60; sh >= 0; sh -= 4)
			*p++ = hexd[(emailid >> sh) & 0xf];
	}
	if (size != MAILBOX_SIZE_UNKNOWN) {
		*p++ = ' ';
		*p++ = 'S';
		d = fmt_u64(num + sizeof(num), size);
		n = (size_t)(num + sizeof(num) - d);
		memcpy(p, d, n);
		p += n;
	}
	if (vsize != MAILBOX_SIZE_UNKNOWN) {
		*p++ = ' ';
		*p++ = 'W';
		d = fmt_u64(num + sizeof(num), vsize);
		n = (size_t)(num + sizeof(num) - d);
		memcpy(p, d, n);
		p += n;
	}
	*p++ = ' ';
	*p++ = ':';
	if (buf_append(out, tmp, (size_t)(p - tmp)) < 0 || buf_append(out, base, base_len) < 0 ||
	    buf_append_c(out, '\n') < 0)
		return -1;
	return 0;
}

int
uidlist_format_header(struct buf *out, uint32_t uidvalidity, uint32_t nextuid,
    const char *guid)
{
	int ret;

	ret = buf_appendf(out, "3 V%u N%u", uidvalidity, nextuid);
	if (ret == 0 && guid[0] != '\0')
		ret = buf_appendf(out, " G%s", guid);
	if (ret == 0)
		ret = buf_append_c(out, '\n');
	return ret;
}

int
uidlist_format(const struct uidlist *ul, struct buf *out)
{
	size_t i;
	int ret;

	ret = uidlist_format_header(out, ul->uidvalidity, ul->nextuid, ul->guid);
	for (i = 0; i < ul->count && ret == 0; i++) {
		const struct uidlist_rec *r = &ul->recs[i];

		ret = uidlist_format_rec(out, r->uid, r->size, r->vsize, r->base,
		    strlen(r->base), r->emailid);
	}
	return ret;
}

/* ------------------------------------------------------------------ keywords */

static bool
atom_char(unsigned char c)
{
	/* RFC 3501 ATOM-CHAR minus atom-specials; we also exclude ']' (resp-specials). */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return memchr("(){%*\"\\]", c, 8) == NULL;
}

enum store_status
keyword_name_check(const char *name, size_t len)
{
	size_t i;

	if (len == 0)
		return STORE_BADNAME;
	if (len > STORE_KEYWORD_LEN_MAX)
		return STORE_LIMIT;
	for (i = 0; i < len; i++)
		if (!atom_char((unsigned char)name[i]))
			return STORE_BADNAME;
	return STORE_OK;
}

size_t
keywords_parse(const char *data, size_t len, char *names[STORE_KEYWORDS_MAX])
{
	const char *p = data, *end = data + len, *nl, *sp;
	size_t bad = 0, i;
	uint32_t idx;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		names[i] = NULL;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp == NULL || parse_u32(p, (size_t)(sp - p), &idx) < 0 ||
		    idx >= STORE_KEYWORDS_MAX || names[idx] != NULL ||
		    keyword_name_check(sp + 1, (size_t)(nl - sp - 1)) != STORE_OK) {
			if (nl > p)
				bad++;
		} else {
			size_t klen = (size_t)(nl - sp - 1);
			bool dup = false;

			for (i = 0; i < STORE_KEYWORDS_MAX && !dup; i++)
				dup = names[i] != NULL && strlen(names[i]) == klen &&
				    strncasecmp(names[i], sp + 1, klen) == 0;
			if (dup)
				bad++;
			else
				names[idx] = xstrndup(sp + 1, klen);
		}
		p = nl + 1;
	}
	return bad;
}

void
keywords_free(char *names[STORE_KEYWORDS_MAX])
{
	size_t i;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
		free(names[i]);
		names[i] = NULL;
	}
}

int
keywords_format(char *const names[STORE_KEYWORDS_MAX], struct buf *out)
{
	size_t i;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (names[i] != NULL && buf_appendf(out, "%zu %s\n", i, names[i]) < 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------------ subscriptions */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t
subs_parse(const char *data, size_t len, char ***names_r, size_t *count_r)
{
	const char *p = data, *end = data + len, *nl;
	char **names = NULL, *name;
	size_t count = 0, cap = 0, bad = 0, i, j, n;
	bool v2 = false;

	if (len >= 5 && memcmp(data, "V\t2\n\n", 5) == 0) {
		v2 = true;
		p += 5;
	} else if (len >= 4 && memcmp(data, "V\t", 2) == 0 &&
	    (nl = memchr(data, '\n', len)) != NULL) {
		/* another version header we do not know: skip it */
		p = nl + 1;
		v2 = true;
	}
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			p = nl + 1;
			continue;
		}
		name = xstrndup(p, n);
		if (memchr(p, '\0', n) != NULL) {
			free(name);
			bad++;
			p = nl + 1;
			continue;
		}
		if (v2) {
			for (i = 0; i < n; i++)
				if (name[i] == '\t')
					name[i] = STORE_SEP;
				else if (name[i] == STORE_SEP)
					name[i] = '\0';	/* '.' inside a level: not representable */
		}
		if (strlen(name) != n || store_name_check_len(name, n) != STORE_OK) {
			free(name);
			bad++;
		} else {
			if (n == 5 && strncasecmp(name, "INBOX", 5) == 0)
				memcpy(name, "INBOX", 5);
			if (count == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				names = xreallocarray(names, cap, sizeof(*names));
			}
			names[count++] = name;
		}
		p = nl + 1;
	}
	if (count > 0)
		qsort(names, count, sizeof(*names), name_cmp);
	for (i = 0, j = 0; i < count; i++) {
		if (j > 0 && strcmp(names[j - 1], names[i]) == 0)
			free(names[i]);
		else
			names[j++] = names[i];
	}
	*names_r = names;
	*count_r = j;
	return bad;
}

int
subs_format(char *const *names, size_t count, struct buf *out)
{
	size_t i, j;

	if (buf_append(out, "V\t2\n\n", 5) < 0)
		return -1;
	for (i = 0; i < count; i++) {
		size_t start = out->len;

		if (buf_append_str(out, names[i]) < 0 || buf_append_c(out, '\n') < 0)
			return -1;
		for (j = start; j < out->len; j++)
			if (out->data[j] == STORE_SEP)
				out->data[j] = '\t';
	}
	return 0;
}

/* ------------------------------------------------------------------ file names */

bool
maildir_base_valid(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > MAILDIR_BASE_MAX || p[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == ':')
			return false;
	}
	return true;
}

/* ",S=123" style field in the base. */
static void
mdname_size_field(const char *base, size_t len, char key, uint64_t *val_r)
{
	const char *p = base, *end = base + len, *e;
	uint64_t v;

	while ((p = memchr(p, ',', (size_t)(end - p))) != NULL) {
		p++;
		if (end - p < 2 || p[0] != key || p[1] != '=')
			continue;
		p += 2;
		e = p;
		while (e < end && *e >= '0' && *e <= '9')
			e++;
		if (e > p && parse_u64(p, (size_t)(e - p), UINT64_MAX - 1, &v) == 0)
			*val_r = v;
		return;
	}
}

bool
mdname_parse(const char *name, size_t len, struct mdname *r)
{
	const char *colon;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->size = r->vsize = MAILBOX_SIZE_UNKNOWN;
	if (len == 0 || len > MAILDIR_BASE_MAX + 64 || name[0] == '.')
		return false;
	colon = memchr(name, ':', len);
	r->base_len = colon == NULL ? len : (size_t)(colon - name);
	if (!maildir_base_valid(name, r->base_len))
		return false;
	for (i = r->base_len; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '/')
			return false;
	}
	mdname_size_field(name, r->base_len, 'S', &r->size);
	mdname_size_field(name, r->base_len, 'W', &r->vsize);
	if (colon != NULL && len - r->base_len >= 3 && memcmp(colon, ":2,", 3) == 0) {
		r->has_info = true;
		for (i = r->base_len + 3; i < len; i++) {
			char c = name[i];

			switch (c) {
			case 'D': r->flags |= MAILBOX_FLAG_DRAFT; break;
			case 'F': r->flags |= MAILBOX_FLAG_FLAGGED; break;
			case 'P': r->flags |= MAILBOX_FLAG_PASSED; break;
			case 'R': r->flags |= MAILBOX_FLAG_ANSWERED; break;
			case 'S': r->flags |= MAILBOX_FLAG_SEEN; break;
			case 'T': r->flags |= MAILBOX_FLAG_DELETED; break;
			default:
				if (c >= 'a' && c <= 'z')
					r->keywords |= 1u << (c - 'a');
				break;
			}
		}
	}
	return true;
}

int
mdname_format_info(uint8_t flags, uint32_t keywords, struct buf *out)
{
	char tmp[3 + 6 + STORE_KEYWORDS_MAX];
	size_t n = 0;
	unsigned int i;

	memcpy(tmp, ":2,", 3);
	n = 3;
	/* maildir(5): letters in ASCII order */
	if (flags & MAILBOX_FLAG_DRAFT) tmp[n++] = 'D';
	if (flags & MAILBOX_FLAG_FLAGGED) tmp[n++] = 'F';
	if (flags & MAILBOX_FLAG_PASSED) tmp[n++] = 'P';
	if (flags & MAILBOX_FLAG_ANSWERED) tmp[n++] = 'R';
	if (flags & MAILBOX_FLAG_SEEN) tmp[n++] = 'S';
	if (flags & MAILBOX_FLAG_DELETED) tmp[n++] = 'T';
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (keywords & (1u << i))
			tmp[n++] = (char)('a' + i);
	return buf_append(out, tmp, n);
}

/* ------------------------------------------------------------------ mailbox names */

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == ',') return 63;
	return -1;
}

bool
mutf7_valid(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '&') {
			i++;
			continue;
		}
		i++;
		if (i < len && p[i] == '-') {	/* "&-" is '&' */
			i++;
			continue;
		}
		{
			uint32_t bits = 0, nbits = 0, hi = 0;
			size_t units = 0;

			while (i < len && p[i] != '-') {
				int v = b64_val(p[i]);

				if (v < 0)
					return false;
				bits = (bits << 6) | (uint32_t)v;
				nbits += 6;
				if (nbits >= 16) {
					uint32_t u = (bits >> (nbits - 16)) & 0xffff;

					nbits -= 16;
					bits &= (1u << nbits) - 1;
					units++;
					if (hi != 0) {
						if (u < 0xdc00 || u > 0xdfff)
							return false;
						hi = 0;
					} else if (u >= 0xd800 && u <= 0xdbff)
						hi = u;
					else if (u >= 0xdc00 && u <= 0xdfff)
						return false;
					else if (u < 0x80)
						return false;	/* must have been a direct char */
				}
				i++;
			}
			/* must end with '-', at least one unit, no dangling bits/surrogate */
			if (i == len || units == 0 || hi != 0 || nbits >= 6 || bits != 0)
				return false;
			i++;
			/* "&...-&...-" should have been one sequence, but is harmless */
		}
	}
	return true;
}

enum store_status
store_name_check_len(const char *name, size_t len)
{
	size_t i, start = 0, levels = 0;

	if (len == 0)
		return STORE_BADNAME;
	if (len > STORE_NAME_MAX)
		return STORE_LIMIT;
	if (name[0] == '~' || name[0] == '/')
		return STORE_BADNAME;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c > 0x7e || c == '/' || c == '\\' || c == '*' || c == '%')
			return STORE_BADNAME;
	}
	if (!mutf7_valid(name, len))
		return STORE_BADNAME;
	for (i = 0; i <= len; i++) {
		if (i < len && name[i] != STORE_SEP)
			continue;
		/* component [start, i): non-empty (also rules out ".", "..", leading '.') */
		if (i == start)
			return STORE_BADNAME;
		if (i - start > STORE_COMPONENT_MAX)
			return STORE_LIMIT;
		if (name[start] == '~')
			return STORE_BADNAME;
		if (++levels > STORE_DEPTH_MAX)
			return STORE_LIMIT;
		start = i + 1;
	}
	/* the Maildir subdirectory names cannot be mailboxes */
	if (len == 3 && (strncasecmp(name, "cur", 3) == 0 || strncasecmp(name, "new", 3) == 0 ||
	    strncasecmp(name, "tmp", 3) == 0))
		return STORE_BADNAME;
	return STORE_OK;
}

enum store_status
mstore_name_check(const char *name)
{
	return store_name_check_len(name, strlen(name));
}
