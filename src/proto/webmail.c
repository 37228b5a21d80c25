/*
 * webmail.c — the webmail's file lookup (webmail.h). Pure; the target comes from the
 * network before login.
 */
#include <string.h>

#include "lib/util.h"
#include "proto/webmail.h"

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == '-';
}

enum webmail_route
webmail_route(const struct webmail_file *table, size_t n, const char *target, size_t len,
    const struct webmail_file **file_r)
{
	const char *q = memchr(target, '?', len);
	static const char prefix[] = "/webmail/";
	const char *name;
	size_t plen = q != NULL ? (size_t)(q - target) : len, nlen;

	*file_r = NULL;
	if (plen == 1 && target[0] == '/')
		return WEBMAIL_ROOT;
	if (plen == sizeof(prefix) - 2 && memcmp(target, prefix, plen) == 0)
		return WEBMAIL_REDIRECT;
	if (plen < sizeof(prefix) - 1 || memcmp(target, prefix, sizeof(prefix) - 1) != 0)
		return WEBMAIL_NONE;
	name = target + sizeof(prefix) - 1;
	nlen = plen - (sizeof(prefix) - 1);
	if (nlen == 0) {
		name = "index.html";
		nlen = strlen(name);
	}
	if (nlen > WEBMAIL_NAME_MAX || name[0] == '.')
		return WEBMAIL_FILE;
	for (size_t i = 0; i < nlen; i++)
		if (!name_char(name[i]))
			return WEBMAIL_FILE;
	for (size_t lo = 0, hi = n; lo < hi; ) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strncmp(table[mid].name, name, nlen);

		if (cmp == 0 && table[mid].name[nlen] != '\0')
			cmp = 1;
		if (cmp == 0) {
			*file_r = &table[mid];
			break;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return WEBMAIL_FILE;
}

/* The value of the first If-None-Match field, or NULL. */
bool
webmail_not_modified(const char *value, size_t len, const char *etag)
{
	size_t elen = strlen(etag);
	const char *v = value, *end;

	if (v == NULL)
		return false;
	end = v + len;
	while (v < end) {
		const char *comma, *t;
		size_t tlen;

		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		comma = memchr(v, ',', (size_t)(end - v));
		t = v;
		tlen = (comma != NULL ? (size_t)(comma - v) : (size_t)(end - v));
		while (tlen > 0 && (t[tlen - 1] == ' ' || t[tlen - 1] == '\t'))
			tlen--;
		if (tlen == 1 && t[0] == '*')
			return true;
		if (tlen > 2 && t[0] == 'W' && t[1] == '/') {
			t += 2;
			tlen -= 2;
		}
		if (tlen == elen && memcmp(t, etag, elen) == 0)
			return true;
		if (comma == NULL)
			break;
		v = comma + 1;
	}
	return false;
}
