/*
 * imapstr.c — IMAP string output (see imapstr.h). Runs in the mail and login processes.
 */
#include "imapstr.h"

bool
imap_is_atom_char(unsigned char c)
{
	/* atom-specials: ( ) { SP CTL list-wildcards quoted-specials resp-specials */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

static int
append_string(struct buf *out, const char *p, size_t len, bool utf8)
{
	bool quotable = len <= 1024;
	size_t i;

	for (i = 0; i < len && quotable; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\0' || c == '\r' || c == '\n' || (c >= 0x80 && !utf8))
			quotable = false;
	}
	if (!quotable) {
		if (buf_appendf(out, "{%zu}\r\n", len) < 0)
			return -1;
		return buf_append(out, p, len);
	}
	if (buf_append_c(out, '"') < 0)
		return -1;
	for (i = 0; i < len; i++) {
		if ((p[i] == '"' || p[i] == '\\') && buf_append_c(out, '\\') < 0)
			return -1;
		if (buf_append_c(out, p[i]) < 0)
			return -1;
	}
	return buf_append_c(out, '"');
}

int
imap_append_string(struct buf *out, const char *p, size_t len)
{
	return append_string(out, p, len, false);
}

int
imap_append_nstring(struct buf *out, const char *p, size_t len)
{
	if (p == NULL)
		return buf_append_str(out, "NIL");
	return imap_append_string(out, p, len);
}

int
imap_append_astring(struct buf *out, const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > 1024 || (len == 3 && mem_ieq(p, len, "NIL")))
		return imap_append_string(out, p, len);
	for (i = 0; i < len; i++)
		if (!imap_is_atom_char((unsigned char)p[i]))
			return imap_append_string(out, p, len);
	return buf_append(out, p, len);
}

int
imap_append_astring_utf8(struct buf *out, const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > 1024 || (len == 3 && mem_ieq(p, len, "NIL")))
		return append_string(out, p, len, true);
	for (i = 0; i < len; i++)
		if (!imap_is_atom_char((unsigned char)p[i]))
			return append_string(out, p, len, true);
	return buf_append(out, p, len);
}
