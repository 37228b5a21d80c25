/*
 * jmap_mime.c — the message of a JMAP Email create object (RFC 8621 §4.6): see
 * jmap_mime.h. Pure and bounded.
 */
#include "jmap/jmap_mime.h"

#include <string.h>
#include <strings.h>

#include "lib/base64.h"
#include "lib/util.h"

struct mb {
	struct buf *out;
	const struct jmap_mime_env *env;
	const char *prop;	/* the property at fault */
	const char *desc;
	enum jmap_mime_result err;
	json_t *values;		/* bodyValues */
	unsigned parts;		/* leaf and multipart parts made */
	unsigned boundaries;
};

static bool
put(struct mb *m, const void *p, size_t n)
{
	if (m->err != JMAP_MIME_OK)
		return false;
	if (buf_append(m->out, p, n) < 0) {
		m->err = JMAP_MIME_TOO_LARGE;
		m->desc = "the message is too large";
		return false;
	}
	return true;
}

static bool
puts_(struct mb *m, const char *s)
{
	return put(m, s, strlen(s));
}

static bool
invalid(struct mb *m, const char *prop, const char *desc)
{
	if (m->err == JMAP_MIME_OK) {
		m->err = JMAP_MIME_INVALID;
		m->prop = prop;
		m->desc = desc;
	}
	return false;
}

/* No CR, LF, NUL or other C0 control but TAB: a header value cannot break out. */
static bool
header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* ---------------------------------------------------------------- header text */

/*
 * The longest stretch of s between the places a header may fold there: before a space
 * that follows a character other than a space (a fold there leaves no line of spaces
 * alone, RFC 5322 §3.2.2). Text with a longer stretch than FOLD_STRETCH_MAX is sent as
 * encoded words, which always fold, so no line passes 998 octets.
 */
#define FOLD_STRETCH_MAX	400

static size_t
fold_stretch(const char *s)
{
	size_t longest = 0, cur = 0;

	for (const char *p = s; *p != '\0'; p++) {
		if (*p == ' ' && p > s && p[-1] != ' ')
			cur = 0;
		if (++cur > longest)
			longest = cur;
	}
	return longest;
}

/* RFC 2047 "B" encoded words of UTF-8, each at most 75 octets, never splitting a
 * character, folded between words. col: the column where the first one starts. */
static bool
put_encoded(struct mb *m, const char *s, size_t col)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		size_t take = 0;
		struct buf b64;
		bool ok;

		/* 45 octets -> 60 base64 + 12 of "=?UTF-8?B??=" = 72, after the fold's
		 * space; the first word fits in what is left of the line */
		size_t room = i == 0 ? (col + 12 + 4 < 78 ? (78 - col - 12) / 4 * 3 : 0) : 45;

		if (i == 0 && room < 3) {
			if (!puts_(m, "\r\n "))
				return false;
			room = 45;
		}
		if (room > 45)
			room = 45;
		while (i + take < n && take < room) {
			size_t cl = 1;
			unsigned char c = (unsigned char)s[i + take];

			if (c >= 0xf0)
				cl = 4;
			else if (c >= 0xe0)
				cl = 3;
			else if (c >= 0xc0)
				cl = 2;
			if (take + cl > room)
				break;
			take += cl;
		}
		if (take == 0)
			take = n - i < 4 ? n - i : 4;
		if (i > 0 && !puts_(m, "\r\n "))
			return false;
		buf_init(&b64, 256);
		(void)base64_encode(s + i, take, &b64);
		ok = puts_(m, "=?UTF-8?B?") && put(m, b64.data, b64.len) && puts_(m, "?=");
		buf_deinit(&b64);
		if (!ok)
			return false;
		i += take;
	}
	return true;
}

/* Can s be written as it is (folded at its spaces)? */
static bool
plain_ok(const char *s)
{
	return is_ascii(s) && strstr(s, "=?") == NULL && fold_stretch(s) <= FOLD_STRETCH_MAX;
}

/*
 * Unstructured text (RFC 5322 §3.2.5): ASCII folded at spaces before 78 columns where
 * it can be; else encoded words (put_encoded). col: the column after "Name: ".
 */
static bool
put_text(struct mb *m, const char *s, size_t col)
{
	const char *p = s, *last = s + strlen(s);

	if (!plain_ok(s))
		return put_encoded(m, s, col);
	/* the last character that is not a space: no fold after it (a line of spaces) */
	while (last > s && last[-1] == ' ')
		last--;
	while (*p != '\0') {
		const char *sp = NULL, *q = p;

		/* the longest run that fits, ending before a space that ends a word */
		for (; *q != '\0' && (col + (size_t)(q - p) < 78 || sp == NULL); q++)
			if (*q == ' ' && q != p && q[-1] != ' ' && q < last)
				sp = q;
		if (*q == '\0')
			return put(m, p, strlen(p));
		if (!put(m, p, (size_t)(sp - p)) || !puts_(m, "\r\n"))
			return false;
		p = sp;		/* the space starts the folded line */
		col = 0;
	}
	return true;
}

/*
 * A display name as a quoted-string (RFC 5322 §3.2.4), folded before a space that ends
 * a word once past 76 columns (FWS may stand inside the quotes); encoded words when it
 * is not ASCII or has too long a stretch.
 */
static bool
put_name(struct mb *m, const char *name, size_t col)
{
	if (!plain_ok(name))
		return put_text(m, name, col);
	puts_(m, "\"");
	col++;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == ' ' && p > name && p[-1] != ' ' && col >= 76) {
			puts_(m, "\r\n");
			col = 0;
		}
		if (*p == '"' || *p == '\\') {
			puts_(m, "\\");
			col++;
		}
		put(m, p, 1);
		col++;
	}
	return puts_(m, "\"");
}

/* ---------------------------------------------------------------- addresses */

/* An addr-spec we can write as it is: printable ASCII, no specials that end it. */
static bool
email_ok(const char *e)
{
	const char *at = strchr(e, '@');

	if (*e == '\0' || at == NULL || at == e || at[1] == '\0' || strlen(e) > 320)
		return false;
	for (; *e != '\0'; e++)
		if ((unsigned char)*e <= 0x20 || (unsigned char)*e >= 0x7f ||
		    strchr("<>(),;:\"[]\\", *e) != NULL)
			return false;
	return true;
}

static bool
put_addresses(struct mb *m, const char *field, const char *prop, json_t *list)
{
	size_t i, col;
	json_t *a;

	if (json_is_null(list))
		return true;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > 1000)
		return invalid(m, prop, "a list of EmailAddress objects");
	puts_(m, field);
	puts_(m, ": ");
	col = strlen(field) + 2;
	json_array_foreach(list, i, a) {
		const char *name = json_string_value(json_object_get(a, "name"));
		const char *email = json_string_value(json_object_get(a, "email"));
		json_t *nv = json_object_get(a, "name");

		if (!json_is_object(a) || email == NULL || !email_ok(email) ||
		    (nv != NULL && !json_is_null(nv) && name == NULL) ||
		    (name != NULL && !header_safe(name)) || json_object_size(a) >
		    (size_t)(1 + (nv != NULL)))
			return invalid(m, prop, "not a valid EmailAddress");
		if (i > 0) {
			puts_(m, ",\r\n ");
			col = 1;
		}
		if (name != NULL && *name != '\0') {
			put_name(m, name, col);
			puts_(m, " <");
			puts_(m, email);
			puts_(m, ">");
		} else {
			puts_(m, email);
		}
	}
	return puts_(m, "\r\n");
}

/* ---------------------------------------------------------------- ids, dates */

/* A list of msg-ids without their angle brackets (RFC 8621 §4.1.3). */
static bool
put_msgids(struct mb *m, const char *field, const char *prop, json_t *list)
{
	size_t i, col;
	json_t *v;

	if (json_is_null(list))
		return true;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > 1000)
		return invalid(m, prop, "a list of message ids");
	puts_(m, field);
	puts_(m, ":");
	col = strlen(field) + 1;
	json_array_foreach(list, i, v) {
		const char *id = json_string_value(v);

		if (id == NULL || !email_ok(id))
			return invalid(m, prop, "not a valid message id");
		if (col + strlen(id) + 3 > 78 && i > 0) {
			puts_(m, "\r\n");
			col = 0;
		}
		puts_(m, " <");
		puts_(m, id);
		puts_(m, ">");
		col += strlen(id) + 3;
	}
	return puts_(m, "\r\n");
}

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	"Aug", "Sep", "Oct", "Nov", "Dec" };

static bool
digits(const char *s, int n, int *v_r)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*v_r = v;
	return true;
}

/* RFC 3339 date-time ("2026-03-03T09:15:40+01:00", "...Z", fractions ignored) to an
 * RFC 5322 Date value with the same offset. */
static bool
date_value(const char *s, char out[64])
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 1;
	struct tm tm;
	const char *p = s + 19;
	time_t t;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
			return false;
		p += 6;
	} else {
		return false;
	}
	if (*p != '\0' || y < 1900 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || oh > 23 || om > 59)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL || tm.tm_mday != d)
		return false;
	snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", wdays[tm.tm_wday], d,
	    months[mo - 1], y, h, mi, sec, sign < 0 ? '-' : '+', oh, om);
	return true;
}

/* ---------------------------------------------------------------- body */

static bool
token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?=", *s) != NULL)
			return false;
	return true;
}

/* type/subtype, lower-cased into out. */
static bool
media_type(const char *s, char out[256])
{
	const char *slash = s != NULL ? strchr(s, '/') : NULL;
	char a[128], b[128];

	if (slash == NULL || (size_t)(slash - s) >= sizeof(a) || strlen(slash + 1) >= sizeof(b))
		return false;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	snprintf(b, sizeof(b), "%s", slash + 1);
	if (!token_ok(a, 127) || !token_ok(b, 127))
		return false;
	snprintf(out, 256, "%s/%s", a, b);
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return true;
}

/* A MIME parameter value: quoted when ASCII, RFC 2231 UTF-8 percent-encoding else. */
static bool
put_param(struct mb *m, const char *name, const char *v)
{
	if (is_ascii(v)) {
		puts_(m, ";\r\n ");
		puts_(m, name);
		puts_(m, "=\"");
		for (const char *p = v; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				puts_(m, "\\");
			put(m, p, 1);
		}
		return puts_(m, "\"");
	}
	puts_(m, ";\r\n ");
	puts_(m, name);
	puts_(m, "*=utf-8''");
	for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
		char hex[4];

		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p) != NULL) {
			put(m, p, 1);
			continue;
		}
		snprintf(hex, sizeof(hex), "%%%02X", *p);
		puts_(m, hex);
	}
	return m->err == JMAP_MIME_OK;
}

/* Text with every line end CRLF; false when it must be quoted-printable (8-bit octets,
 * lines over 78, a bare CR, NUL). */
static bool
text_is_7bit(const unsigned char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			col = 0;
			continue;
		}
		if (p[i] >= 0x80 || p[i] == 0 || p[i] == '\r' || ++col > 78)
			return false;
	}
	/* a line starting "From " or "." is fine in 7bit; trailing spaces too */
	return true;
}

/* RFC 2045 §6.7 quoted-printable of text (LF or CRLF line ends become CRLF). */
static bool
put_qp(struct mb *m, const unsigned char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		char enc[4];
		size_t w;
		bool lit;

		if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
			continue;
		if (c == '\n') {
			puts_(m, "\r\n");
			col = 0;
			continue;
		}
		/* a space or tab before a line end is encoded (§6.7 rule 3) */
		lit = (c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && i + 1 < n && p[i + 1] != '\n' && p[i + 1] != '\r');
		w = lit ? 1 : 3;
		if (col + w > 75) {
			puts_(m, "=\r\n");
			col = 0;
		}
		if (lit) {
			put(m, &c, 1);
		} else {
			snprintf(enc, sizeof(enc), "=%02X", c);
			puts_(m, enc);
		}
		col += w;
	}
	return m->err == JMAP_MIME_OK;
}

static bool
put_base64(struct mb *m, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 57) {
		struct buf b;
		bool ok;

		buf_init(&b, 128);
		(void)base64_encode(p + i, n - i < 57 ? n - i : 57, &b);
		ok = put(m, b.data, b.len) && puts_(m, "\r\n");
		buf_deinit(&b);
		if (!ok)
			return false;
	}
	return true;
}

/* Raw bytes with LF line ends made CRLF (a message/rfc822 blob). */
static bool
put_crlf(struct mb *m, const unsigned char *p, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) {
			put(m, p + start, i - start);
			puts_(m, "\r\n");
			start = i + 1;
		}
	put(m, p + start, n - start);
	if (n > 0 && p[n - 1] != '\n')
		puts_(m, "\r\n");
	return m->err == JMAP_MIME_OK;
}

static const char *const part_props[] = { "partId", "blobId", "type", "charset",
	"disposition", "name", "cid", "subParts", "language", "location", "size", NULL };

static bool put_part(struct mb *m, json_t *part, const char *prop, unsigned depth,
    const char *dflt_type);

/* A multipart of the given subtype with parts (borrowed JSON parts). */
static bool
put_multipart(struct mb *m, const char *subtype, json_t **parts, size_t n, const char *prop,
    unsigned depth)
{
	char boundary[128];

	if (depth >= JMAP_MIME_DEPTH_MAX)
		return invalid(m, prop, "bodyStructure is too deep");
	if (++m->parts > JMAP_MIME_PARTS_MAX)
		return invalid(m, prop, "too many body parts");
	snprintf(boundary, sizeof(boundary), "=_%s_%u", m->env->unique, m->boundaries++);
	puts_(m, "Content-Type: multipart/");
	puts_(m, subtype);
	puts_(m, ";\r\n boundary=\"");
	puts_(m, boundary);
	puts_(m, "\"\r\n\r\n");
	for (size_t i = 0; i < n; i++) {
		puts_(m, "--");
		puts_(m, boundary);
		puts_(m, "\r\n");
		if (!put_part(m, parts[i], prop, depth + 1, NULL))
			return false;
		puts_(m, "\r\n");
	}
	puts_(m, "--");
	puts_(m, boundary);
	return puts_(m, "--\r\n");
}

/* One EmailBodyPart of a create (RFC 8621 §4.1.4), header fields then body. */
static bool
put_part(struct mb *m, json_t *part, const char *prop, unsigned depth, const char *dflt_type)
{
	const char *k, *type_s, *part_id, *blob_id, *charset, *disp, *name, *cid;
	json_t *v, *sub;
	char type[256];
	const unsigned char *data = NULL;
	size_t len = 0;
	bool is_text;

	if (!json_is_object(part))
		return invalid(m, prop, "a body part is an object");
	json_object_foreach(part, k, v) {
		bool known = false;

		for (const char *const *p = part_props; *p != NULL && !known; p++)
			known = strcmp(*p, k) == 0;
		if (!known && strncmp(k, "header:", 7) != 0)
			return invalid(m, prop, "unknown body part property");
		if (strncmp(k, "header:", 7) == 0)
			return invalid(m, prop, "header fields of body parts are not supported");
	}
	type_s = json_string_value(json_object_get(part, "type"));
	part_id = json_string_value(json_object_get(part, "partId"));
	blob_id = json_string_value(json_object_get(part, "blobId"));
	charset = json_string_value(json_object_get(part, "charset"));
	disp = json_string_value(json_object_get(part, "disposition"));
	name = json_string_value(json_object_get(part, "name"));
	cid = json_string_value(json_object_get(part, "cid"));
	sub = json_object_get(part, "subParts");
	if (type_s == NULL)
		type_s = dflt_type != NULL ? dflt_type : sub != NULL ? "multipart/mixed" :
		    "text/plain";
	if (!media_type(type_s, type))
		return invalid(m, prop, "not a valid media type");
	if (strncmp(type, "multipart/", 10) == 0) {
		json_t **parts;
		size_t i, n;
		bool ok;

		if (!json_is_array(sub) || part_id != NULL || blob_id != NULL)
			return invalid(m, prop, "a multipart has subParts only");
		if (depth + 1 >= JMAP_MIME_DEPTH_MAX)
			return invalid(m, prop, "bodyStructure is too deep");
		n = json_array_size(sub);
		if (n == 0 || n > JMAP_MIME_PARTS_MAX)
			return invalid(m, prop, "a multipart has 1 to 256 parts");
		parts = xcalloc(n, sizeof(*parts));
		json_array_foreach(sub, i, v)
			parts[i] = v;
		ok = put_multipart(m, type + 10, parts, n, prop, depth);
		free(parts);
		return ok;
	}
	if (sub != NULL && !json_is_null(sub))
		return invalid(m, prop, "subParts of a part that is not multipart");
	if (++m->parts > JMAP_MIME_PARTS_MAX)
		return invalid(m, prop, "too many body parts");
	if ((part_id == NULL) == (blob_id == NULL))
		return invalid(m, prop, "a part has a partId or a blobId");
	if ((charset != NULL && !token_ok(charset, 64)) ||
	    (disp != NULL && !token_ok(disp, 64)) || (name != NULL && (!header_safe(name) ||
	    strlen(name) > 255)) || (cid != NULL && !email_ok(cid) && !token_ok(cid, 255)))
		return invalid(m, prop, "charset, disposition, name or cid");
	if (part_id != NULL) {
		json_t *bv = json_object_get(m->values, part_id);
		const char *text = json_string_value(json_object_get(bv, "value"));

		/* §4.6: a bodyValue given in a create is whole and decoded */
		if (text == NULL || json_is_true(json_object_get(bv, "isEncodingProblem")) ||
		    json_is_true(json_object_get(bv, "isTruncated")))
			return invalid(m, "bodyValues", "no such bodyValue, or a partial one");
		if (strncmp(type, "text/", 5) != 0)
			return invalid(m, prop, "a partId part is text");
		if (charset != NULL && strcasecmp(charset, "utf-8") != 0 &&
		    strcasecmp(charset, "us-ascii") != 0)
			return invalid(m, prop, "bodyValues are UTF-8");
		data = (const unsigned char *)text;
		len = json_string_length(json_object_get(bv, "value"));
		charset = "utf-8";
	} else {
		if (m->env->blob == NULL || m->env->blob(m->env->blob_ctx, blob_id, &data,
		    &len) != 1) {
			m->err = JMAP_MIME_BLOB;
			m->prop = blob_id;
			m->desc = "no such blob";
			return false;
		}
	}
	is_text = strncmp(type, "text/", 5) == 0;
	puts_(m, "Content-Type: ");
	puts_(m, type);
	if (is_text)
		put_param(m, "charset", charset != NULL ? charset : "utf-8");
	if (name != NULL && disp == NULL)
		put_param(m, "name", name);
	puts_(m, "\r\n");
	if (disp != NULL) {
		puts_(m, "Content-Disposition: ");
		puts_(m, disp);
		if (name != NULL)
			put_param(m, "filename", name);
		puts_(m, "\r\n");
	}
	if (cid != NULL) {
		puts_(m, "Content-ID: <");
		puts_(m, cid);
		puts_(m, ">\r\n");
	}
	if (strcmp(type, "message/rfc822") == 0) {
		/* RFC 2046 §5.2.1: never base64 */
		puts_(m, "Content-Transfer-Encoding: 8bit\r\n\r\n");
		return put_crlf(m, data, len);
	}
	if (is_text && part_id != NULL && text_is_7bit(data, len)) {
		puts_(m, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		put_crlf(m, data, len);
		return m->err == JMAP_MIME_OK;
	}
	if (is_text && part_id != NULL) {
		puts_(m, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		put_qp(m, data, len);
		return len > 0 && data[len - 1] == '\n' ? m->err == JMAP_MIME_OK : puts_(m, "\r\n");
	}
	puts_(m, "Content-Transfer-Encoding: base64\r\n\r\n");
	return put_base64(m, data, len);
}

/* An inline part of the HTML (RFC 8621 §4.6): it has a cid and is not an attachment. */
static bool
is_inline(json_t *part)
{
	const char *disp = json_string_value(json_object_get(part, "disposition"));

	return json_is_string(json_object_get(part, "cid")) &&
	    (disp == NULL || strcasecmp(disp, "attachment") != 0);
}

/*
 * RFC 8621 §4.6: textBody/htmlBody/attachments to a structure: multipart/alternative for
 * text + HTML, multipart/related for the HTML and its inline parts (a cid, not an
 * attachment), multipart/mixed with the other attachments. The tree is made of the
 * client's parts (borrowed) and written as a bodyStructure would be.
 */
static bool
put_simple_body(struct mb *m, json_t *email)
{
	json_t *tb = json_object_get(email, "textBody"), *hb = json_object_get(email, "htmlBody");
	json_t *at = json_object_get(email, "attachments");
	json_t *text = NULL, *html = NULL, *body = NULL, *root = NULL, *inl, *rest, *v;
	const char *prop = "textBody";
	size_t i;
	bool ok;

	if ((tb != NULL && (!json_is_array(tb) || json_array_size(tb) > 1)) ||
	    (hb != NULL && (!json_is_array(hb) || json_array_size(hb) > 1)))
		return invalid(m, tb != NULL ? "textBody" : "htmlBody", "at most one part");
	if (at != NULL && (!json_is_array(at) || json_array_size(at) > JMAP_MIME_PARTS_MAX))
		return invalid(m, "attachments", "a list of at most 256 parts");
	text = json_array_get(tb, 0);
	html = json_array_get(hb, 0);
	if (text != NULL && (!json_is_object(text) ||
	    (json_object_get(text, "type") != NULL &&
	    strcasecmp(json_string_value(json_object_get(text, "type")) ?: "", "text/plain") != 0)))
		return invalid(m, "textBody", "textBody is text/plain");
	if (html != NULL && (!json_is_object(html) ||
	    (json_object_get(html, "type") != NULL &&
	    strcasecmp(json_string_value(json_object_get(html, "type")) ?: "", "text/html") != 0)))
		return invalid(m, "htmlBody", "htmlBody is text/html");
	/* copies with their type said */
	text = text != NULL ? json_copy(text) : NULL;
	html = html != NULL ? json_copy(html) : NULL;
	if (text != NULL)
		(void)json_object_set_new(text, "type", json_string("text/plain"));
	if (html != NULL)
		(void)json_object_set_new(html, "type", json_string("text/html"));
	inl = json_array();
	rest = json_array();
	json_array_foreach(at, i, v)
		(void)json_array_append(html != NULL && is_inline(v) ? inl : rest, v);
	if (html != NULL && json_array_size(inl) > 0) {
		json_t *rel;

		(void)json_array_insert(inl, 0, html);
		rel = json_pack("{s:s, s:O}", "type", "multipart/related", "subParts", inl);
		json_decref(html);
		html = rel;
	}
	if (text != NULL && html != NULL)
		body = json_pack("{s:s, s:[O, O]}", "type", "multipart/alternative", "subParts",
		    text, html);
	else if (text != NULL || html != NULL)
		body = json_incref(text != NULL ? text : html);
	if (html != NULL && text == NULL)
		prop = "htmlBody";
	if (json_array_size(rest) > 0) {
		if (body != NULL)
			(void)json_array_insert(rest, 0, body);
		root = json_pack("{s:s, s:O}", "type", "multipart/mixed", "subParts", rest);
		prop = "attachments";
	} else {
		root = json_incref(body);
	}
	if (root == NULL) {
		/* no body at all: an empty text/plain */
		root = json_pack("{s:s, s:s}", "type", "text/plain", "partId", "");
		(void)json_object_set_new(m->values, "", json_pack("{s:s}", "value", ""));
	}
	ok = put_part(m, root, prop, 0, NULL);
	json_decref(root);
	json_decref(body);
	json_decref(text);
	json_decref(html);
	json_decref(inl);
	json_decref(rest);
	return ok;
}

/* ---------------------------------------------------------------- the message */

static const char *const email_props[] = { "mailboxIds", "keywords", "receivedAt", "from",
	"to", "cc", "bcc", "replyTo", "sender", "subject", "sentAt", "messageId", "inReplyTo",
	"references", "bodyStructure", "textBody", "htmlBody", "attachments", "bodyValues",
	NULL };

/* Header fields set from properties: header:X may not give them again. */
static const char *const own_fields[] = { "from", "to", "cc", "bcc", "reply-to", "sender",
	"subject", "date", "message-id", "in-reply-to", "references", "mime-version",
	"content-type", "content-transfer-encoding", NULL };

static bool
field_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 76)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ':')
			return false;
	return true;
}

/* header:Name[:asRaw|:asText] (RFC 8621 §4.1.3). */
static bool
put_header_prop(struct mb *m, const char *k, json_t *v)
{
	const char *name = k + 7, *form = strchr(name, ':');
	size_t nlen = form != NULL ? (size_t)(form - name) : strlen(name);
	char lname[80];
	const char *val = json_string_value(v);

	if (!field_name_ok(name, nlen))
		return invalid(m, k, "not a header field name");
	for (size_t i = 0; i < nlen; i++)
		lname[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
	lname[nlen] = '\0';
	for (const char *const *p = own_fields; *p != NULL; p++)
		if (strcmp(*p, lname) == 0)
			return invalid(m, k, "give this field by its property");
	if (strncmp(lname, "content-", 8) == 0)
		return invalid(m, k, "content fields come from the body");
	if (json_is_null(v))
		return true;
	if (val == NULL || !header_safe(val) || strlen(val) > 10000)
		return invalid(m, k, "a header value is a line of text");
	put(m, name, nlen);
	puts_(m, ":");
	if (form == NULL || strcmp(form, ":asRaw") == 0) {
		/* raw: ASCII as given (it cannot fold or break the header), the whole field
		 * on one line of at most 998 octets (RFC 5322 §2.1.1) */
		if (!is_ascii(val))
			return invalid(m, k, "asRaw is ASCII");
		if (nlen + 2 + strlen(val) > 998)
			return invalid(m, k, "a raw field is one line of at most 998 octets");
		puts_(m, val[0] == ' ' || val[0] == '\t' ? "" : " ");
		puts_(m, val);
	} else if (strcmp(form, ":asText") == 0) {
		puts_(m, " ");
		put_text(m, val, nlen + 2);
	} else {
		return invalid(m, k, "only the asRaw and asText forms can be set");
	}
	return puts_(m, "\r\n");
}

enum jmap_mime_result
jmap_mime_build(json_t *email, const struct jmap_mime_env *env, struct buf *out,
    const char **prop_r, const char **desc_r)
{
	struct mb m = { out, env, NULL, NULL, JMAP_MIME_OK, NULL, 0, 0 };
	struct buf saved = *out;
	size_t start = out->len, nheaders = 0;
	json_t *v, *bs;
	const char *k;
	char date[64];

	*prop_r = *desc_r = NULL;
	if (out->max > start + env->max_size)
		out->max = start + env->max_size;
	if (!json_is_object(email)) {
		invalid(&m, NULL, "an Email is an object");
		goto done;
	}
	json_object_foreach(email, k, v) {
		bool known = false;

		for (const char *const *p = email_props; *p != NULL && !known; p++)
			known = strcmp(*p, k) == 0;
		if (!known && strncmp(k, "header:", 7) != 0) {
			invalid(&m, k, "unknown or server-set property");
			goto done;
		}
		if (!known && ++nheaders > JMAP_MIME_HEADERS_MAX) {
			invalid(&m, k, "too many header fields");
			goto done;
		}
	}
	m.values = json_object_get(email, "bodyValues");
	if (m.values != NULL && !json_is_object(m.values)) {
		invalid(&m, "bodyValues", "an object");
		goto done;
	}
	m.values = m.values != NULL ? json_copy(m.values) : json_object();
	/* the originator fields first */
	if ((v = json_object_get(email, "sentAt")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || !date_value(json_string_value(v), date)) {
			invalid(&m, "sentAt", "a Date with its offset");
			goto done;
		}
	} else {
		struct tm tm;

		gmtime_r(&env->now, &tm);
		snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000",
		    wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	puts_(&m, "Date: ");
	puts_(&m, date);
	puts_(&m, "\r\n");
	put_addresses(&m, "From", "from", json_object_get(email, "from") ?: json_null());
	put_addresses(&m, "Sender", "sender", json_object_get(email, "sender") ?: json_null());
	put_addresses(&m, "Reply-To", "replyTo", json_object_get(email, "replyTo") ?: json_null());
	put_addresses(&m, "To", "to", json_object_get(email, "to") ?: json_null());
	put_addresses(&m, "Cc", "cc", json_object_get(email, "cc") ?: json_null());
	put_addresses(&m, "Bcc", "bcc", json_object_get(email, "bcc") ?: json_null());
	if ((v = json_object_get(email, "subject")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || !header_safe(json_string_value(v)) ||
		    json_string_length(v) > 10000)
			invalid(&m, "subject", "a line of text");
		else if (puts_(&m, "Subject: "))
			put_text(&m, json_string_value(v), 9), puts_(&m, "\r\n");
	}
	if ((v = json_object_get(email, "messageId")) != NULL && !json_is_null(v)) {
		if (json_array_size(v) != 1)
			invalid(&m, "messageId", "one message id");
		put_msgids(&m, "Message-ID", "messageId", v);
	} else {
		puts_(&m, "Message-ID: <");
		puts_(&m, env->unique);
		puts_(&m, "@");
		puts_(&m, env->domain);
		puts_(&m, ">\r\n");
	}
	put_msgids(&m, "In-Reply-To", "inReplyTo", json_object_get(email, "inReplyTo") ?: json_null());
	put_msgids(&m, "References", "references", json_object_get(email, "references") ?: json_null());
	json_object_foreach(email, k, v)
		if (strncmp(k, "header:", 7) == 0 && !put_header_prop(&m, k, v))
			break;
	puts_(&m, "MIME-Version: 1.0\r\n");
	bs = json_object_get(email, "bodyStructure");
	if (bs != NULL && !json_is_null(bs)) {
		if (json_object_get(email, "textBody") != NULL ||
		    json_object_get(email, "htmlBody") != NULL ||
		    json_object_get(email, "attachments") != NULL)
			invalid(&m, "bodyStructure", "bodyStructure or textBody/htmlBody/attachments");
		else
			put_part(&m, bs, "bodyStructure", 0, NULL);
	} else if (m.err == JMAP_MIME_OK) {
		put_simple_body(&m, email);
	}
done:
	json_decref(m.values);
	out->max = saved.max;
	if (m.err != JMAP_MIME_OK) {
		buf_truncate(out, start);
		*prop_r = m.prop;
		*desc_r = m.desc;
	}
	return m.err;
}
