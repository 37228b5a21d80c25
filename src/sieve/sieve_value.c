/*
 * sieve_value.c — the Sieve validator's checks of constant argument values (sieve_check.c
 * does the structure): encoded-character decoding (RFC 5228 §2.4.2.4), variable names,
 * header field names, dates and zones, IMAP flags, addresses, include script names,
 * envelope parts and the per-command rules that look at values. Untrusted script text:
 * every scan is bounded by the string's length; messages quote it sanitised and cut.
 */
#include <utf8proc.h>

#include "sieve/sieve_check.h"

/* ---- encoded-character (RFC 5228 §2.4.2.4) ---- */

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static size_t
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Scan the values of one encoding from p[i..len) up to its '}', writing the bytes to
 * out unless out is NULL. Returns the input length consumed (through the '}'), or 0 if
 * it is not well formed. Every value writes at most as many bytes as it has digits.
 */
static size_t
decode_values(const char *p, size_t len, size_t i, bool uni, char *out, size_t *o_r,
    uint32_t *bad_r)
{
	size_t maxdig = uni ? len : 2;	/* unicode-hex = 1*HEXDIG, hex-pair = 1*2HEXDIG */
	unsigned values = 0;

	*o_r = 0;
	for (;;) {
		uint32_t val = 0;
		size_t d = 0;

		while (i < len && is_blank(p[i]))
			i++;
		if (i < len && p[i] == '}')
			return values > 0 ? i + 1 : 0;
		while (i < len && d <= maxdig && hex_digit_value((unsigned char)p[i]) >= 0) {
			val = MIN(val * 16 + (uint32_t)hex_digit_value((unsigned char)p[i]),
			    0x110000);
			i++;
			d++;
		}
		if (d == 0 || d > maxdig || i >= len || (!is_blank(p[i]) && p[i] != '}'))
			return 0;
		values++;
		if (uni && (val > 0x10ffff || (val >= 0xd800 && val <= 0xdfff))) {
			*bad_r = val;
			val = '?';
		}
		if (out == NULL)
			continue;
		if (uni)
			*o_r += utf8_put(out + *o_r, val);
		else
			out[(*o_r)++] = (char)val;
	}
}

/*
 * Decode one "${hex:...}" or "${unicode:...}" at p[0..len) into out (out <= p: the
 * output never passes the input read so far). Returns the input length consumed, or 0
 * if this is not a well-formed encoding (left as is, nothing written). *bad_r is set
 * to a code point outside Unicode, which is an error.
 */
static size_t
decode_one(const char *p, size_t len, char *out, size_t *out_len_r, uint32_t *bad_r)
{
	bool uni;
	size_t start;

	if (len > 6 && mem_ieq(p, 6, "${hex:"))
		uni = false, start = 6;
	else if (len > 10 && mem_ieq(p, 10, "${unicode:"))
		uni = true, start = 10;
	else
		return 0;
	if (decode_values(p, len, start, uni, NULL, out_len_r, bad_r) == 0)
		return 0;
	return decode_values(p, len, start, uni, out, out_len_r, bad_r);
}

static void
decode_string(struct sieve_vstate *v, uint32_t si, const struct sieve_arg *a)
{
	struct sieve_str *st = &v->s->strs[si];
	char *p = v->s->pool + st->off;
	size_t r = 0, w = 0;

	while (r < st->len) {
		uint32_t bad = UINT32_MAX;
		size_t olen, used = p[r] == '$' ? decode_one(p + r, st->len - r, p + w, &olen,
		    &bad) : 0;

		if (bad != UINT32_MAX)
			sieve_error(v->c, a->line, a->col,
			    "invalid unicode character 0x%08x in encoded character substitution.",
			    bad);
		if (used == 0) {
			p[w++] = p[r++];
		} else {
			r += used;
			w += olen;
		}
	}
	st->len = (uint32_t)w;
	p[w] = '\0';
}

void
sieve_decode_encoded(struct sieve_vstate *v)
{
	if (!sieve_cap_ok(v->s, SIEVE_CAP_ENCODED_CHARACTER))
		return;
	for (uint32_t i = 0; i < v->s->arg_count; i++) {
		const struct sieve_arg *a = &v->s->args[i];

		if (a->type != SIEVE_ARG_STRING && a->type != SIEVE_ARG_LIST)
			continue;
		for (uint32_t k = 0; k < a->str_count; k++)
			decode_string(v, a->str_first + k, a);
	}
}

/* ---- constant values ---- */

static bool
is_identifier(const char *p, size_t len)
{
	if (len == 0 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z') ||
	    p[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return false;
	return true;
}

/*
 * RFC 5229 §3 variable names; the "global." namespace comes with include (RFC 6609).
 * Match variables ("1") may be read (hasflag) but not assigned.
 */
static void
check_varname(struct sieve_vstate *v, const struct sieve_arg *a, const char *p, size_t len,
    bool assign)
{
	const char *dot = memchr(p, '.', len);
	char word[NAME_MAX_MSG];
	size_t i;

	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		;
	sieve_sanitize(word, sizeof(word), p, len);
	if (len > 0 && i == len) {
		if (assign)
			sieve_error(v->c, a->line, a->col, "cannot assign to match variable.");
	} else if (dot != NULL && (!mem_ieq(p, (size_t)(dot - p), "global") ||
	    !sieve_cap_ok(v->s, SIEVE_CAP_INCLUDE))) {
		sieve_sanitize(word, sizeof(word), p, (size_t)(dot - p));
		sieve_error(v->c, a->line, a->col,
		    "referring to variable in unknown namespace '%s'.", word);
	} else if (dot != NULL ? !is_identifier(dot + 1, len - (size_t)(dot - p) - 1) :
	    !is_identifier(p, len)) {
		sieve_error(v->c, a->line, a->col, "invalid variable name '%s'.", word);
	}
}

static void
check_varnames(struct sieve_vstate *v, uint32_t ai, bool assign)
{
	const struct sieve_arg *a;

	if (ai == SIEVE_NONE)
		return;
	a = &v->s->args[ai];
	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = sieve_vstr(v->s, a->str_first + k, &len);

		check_varname(v, a, p, len, assign);
	}
}

/* RFC 5322 §3.6.8 field-name: printable ASCII except ':' (RFC 5293 §4). */
static bool
field_name_ok(const char *p, size_t len)
{
	bool ok = len > 0 && len <= 997;

	for (size_t i = 0; ok && i < len; i++)
		ok = p[i] > 32 && p[i] < 127 && p[i] != ':';
	return ok;
}

/* Header names of tests: an invalid one never matches, so only a warning (as sievec). */
static void
warn_field_names(struct sieve_vstate *v, uint32_t ai)
{
	const struct sieve_arg *a;

	if (ai == SIEVE_NONE)
		return;
	a = &v->s->args[ai];
	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = sieve_vstr(v->s, a->str_first + k, &len);
		char word[NAME_MAX_MSG];

		if (field_name_ok(p, len) || sieve_has_var(v, p, len))
			continue;
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_warning(v->c, a->line, a->col, "specified header field name '%s' is "
		    "invalid.", word);
	}
}

/* RFC 5260 §2.4 date-part names and "+hhmm" zones (4DIGIT): others are warnings. */
static void
warn_date(struct sieve_vstate *v, struct sieve_node *n, uint32_t part_ai)
{
	static const char *const parts[] = { "year", "month", "day", "date", "julian", "hour",
		"minute", "second", "time", "iso8601", "std11", "zone", "weekday" };
	uint32_t zi = sieve_node_tag_value(v->s, n, SIEVE_TAG_ZONE);
	size_t len;
	const char *p = sieve_single_str(v, zi, &len);
	char word[NAME_MAX_MSG];
	bool ok = p == NULL || sieve_has_var(v, p, len) ||
	    (len == 5 && (p[0] == '+' || p[0] == '-') && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9' && p[4] >= '0' &&
	    p[4] <= '9');

	if (!ok) {
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_warning(v->c, v->s->args[zi].line, v->s->args[zi].col,
		    "specified :zone argument '%s' is not a valid timezone.", word);
	}
	p = sieve_single_str(v, part_ai, &len);
	ok = p == NULL || sieve_has_var(v, p, len);
	for (unsigned i = 0; !ok && i < N_ELEMENTS(parts); i++)
		ok = mem_ieq(p, len, parts[i]);
	if (ok)
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_warning(v->c, v->s->args[part_ai].line, v->s->args[part_ai].col,
	    "specified date part '%s' is not known.", word);
}

/* RFC 3501 §2.3.2 flags: a system flag or an atom; others are ignored (warning). */
static void
warn_flags(struct sieve_vstate *v, struct sieve_node *n, uint32_t ai)
{
	static const char *const sys[] = { "\\Seen", "\\Answered", "\\Flagged",
		"\\Deleted", "\\Draft" };
	const struct sieve_arg *a;

	if (ai == SIEVE_NONE)
		return;
	a = &v->s->args[ai];
	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len, i = 0;
		const char *p = sieve_vstr(v->s, a->str_first + k, &len);

		if (sieve_has_var(v, p, len))
			continue;
		while (i < len) {	/* a string may hold several flags, space-separated */
			size_t start = i;
			bool ok = true;
			char word[NAME_MAX_MSG];

			while (i < len && p[i] != ' ')
				i++;
			if (i > start && p[start] == '\\') {
				ok = false;
				for (unsigned s = 0; s < N_ELEMENTS(sys); s++)
					ok |= mem_ieq(p + start, i - start, sys[s]);
			}
			for (size_t j = start; ok && j < i; j++)
				ok = (j == start && p[j] == '\\') ||
				    ((unsigned char)p[j] > 32 && (unsigned char)p[j] < 127 &&
				    memchr("(){%*\"\\]", p[j], 8) == NULL);
			if (!ok) {
				sieve_sanitize(word, sizeof(word), p + start, i - start);
				sieve_warning(v->c, a->line, a->col, "IMAP flag '%s' specified for "
				    "the %s %s is invalid and will be ignored.", word,
				    sieve_id_name(n->id), sieve_noun(n));
				return;
			}
			while (i < len && p[i] == ' ')
				i++;
		}
	}
}

static void
check_field_name(struct sieve_vstate *v, uint32_t ai, const char *cmd)
{
	size_t len;
	const char *p = sieve_single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p == NULL || sieve_has_var(v, p, len))
		return;
	if (field_name_ok(p, len)) {
		/* RFC 5293 lets a server protect fields; as sievec, these two */
		if (strcmp(cmd, "deleteheader") == 0 && (mem_ieq(p, len, "received") ||
		    mem_ieq(p, len, "auto-submitted")))
			sieve_warning(v->c, v->s->args[ai].line, v->s->args[ai].col,
			    "deleteheader command: deleting header field '%s' is forbidden; "
			    "modification will be denied.", mem_ieq(p, len, "received") ?
			    "Received" : "Auto-Submitted");
		return;
	}
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
	    "%s command: specified field name '%s' is invalid.", cmd, word);
}

/* Skip RFC 5322 §3.2.2 CFWS: white space and (nested) comments; false if unclosed. */
static bool
skip_cfws(const char *p, size_t len, size_t *i)
{
	size_t depth = 0;

	for (; *i < len; (*i)++) {
		char ch = p[*i];

		if (depth > 0 && ch == '\\' && *i + 1 < len)
			(*i)++;
		else if (ch == '(')
			depth++;
		else if (ch == ')' && depth > 0)
			depth--;
		else if (depth == 0 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
			return true;
	}
	return depth == 0;
}

static bool
is_atext(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    (unsigned char)ch >= 0x80 || memchr("!#$%&'*+-/=?^_`{|}~", ch, 19) != NULL;
}

/* A quoted-string at p[*i] (RFC 5322 §3.2.4); false if unterminated. */
static bool
skip_quoted(const char *p, size_t len, size_t *i)
{
	for ((*i)++; *i < len; (*i)++) {
		if (p[*i] == '\\')
			(*i)++;
		else if (p[*i] == '"')
			return ++(*i), true;
	}
	return false;
}

/* One side of an addr-spec: dots and atext (lenient about dots, as sievec), a quoted
 * string, or (domain) a domain literal. Returns false if empty or malformed. */
static bool
addr_word(const char *p, size_t len, size_t *i, bool domain)
{
	size_t start = *i;

	if (*i < len && p[*i] == '"' && !domain)
		return skip_quoted(p, len, i);
	if (*i < len && p[*i] == '[' && domain) {
		const char *end = memchr(p + *i, ']', len - *i);

		if (end == NULL)
			return false;
		*i = (size_t)(end - p) + 1;
		return true;
	}
	while (*i < len && (is_atext(p[*i]) || p[*i] == '.'))
		(*i)++;
	return *i > start;
}

/*
 * RFC 5228 §4.2: a constant redirect address must be one RFC 5322 mailbox:
 * [display-name] "<" addr-spec ">" or addr-spec, with comments and white space.
 */
static bool
address_ok(const char *p, size_t len)
{
	size_t i = 0;
	bool angle = false, phrase_bad = false;

	if (!skip_cfws(p, len, &i))
		return false;
	/* a display name (words and quoted strings) comes before '<' */
	for (size_t j = i; j < len;) {
		if (p[j] == '"') {
			if (!skip_quoted(p, len, &j))
				return false;
		} else if (p[j] == '<') {
			if (phrase_bad)
				return false;
			i = j + 1;
			angle = true;
			break;
		} else {
			phrase_bad |= p[j] == '@' || p[j] == ',' || p[j] == ';' || p[j] == ':';
			j++;
		}
	}
	if (!skip_cfws(p, len, &i) || !addr_word(p, len, &i, false) || !skip_cfws(p, len, &i) ||
	    i >= len || p[i++] != '@' || !skip_cfws(p, len, &i) || !addr_word(p, len, &i, true) ||
	    !skip_cfws(p, len, &i))
		return false;
	if (angle && (i >= len || p[i++] != '>' || !skip_cfws(p, len, &i)))
		return false;
	return i == len;
}

static void
check_redirect(struct sieve_vstate *v, uint32_t ai)
{
	size_t len;
	const char *p = sieve_single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p == NULL || sieve_has_var(v, p, len) || address_ok(p, len))
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
	    "specified redirect address '%s' is invalid.", word);
}

/* RFC 5230 §4.1 :days >= 1 (a warning, as sievec); §4.4 :from is one address. */
static void
check_vacation(struct sieve_vstate *v, struct sieve_node *n)
{
	uint32_t di = sieve_node_tag_value(v->s, n, SIEVE_TAG_DAYS);
	uint32_t fi = sieve_node_tag_value(v->s, n, SIEVE_TAG_FROM);
	size_t len;
	const char *p = sieve_single_str(v, fi, &len);
	char word[NAME_MAX_MSG];

	if (di != SIEVE_NONE && v->s->args[di].number == 0)
		sieve_warning(v->c, v->s->args[di].line, v->s->args[di].col,
		    "specified :days value '0' is under the minimum.");
	if (p == NULL || sieve_has_var(v, p, len) || address_ok(p, len))
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[fi].line, v->s->args[fi].col,
	    "specified :from address '%s' is invalid for vacation action.", word);
}

/* RFC 5804 §1.6 (script names of RFC 6609): UTF-8 without control characters. */
static bool
script_name_ok(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > 255 || memchr(p, '/', len) != NULL)
		return false;
	while (i < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)p + i,
		    (utf8proc_ssize_t)(len - i), &cp);

		if (n <= 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029)
			return false;
		i += (size_t)n;
	}
	return true;
}

/* RFC 6609 §3.2: the script name is a constant string without '/'. */
static void
check_include(struct sieve_vstate *v, uint32_t ai)
{
	size_t len;
	const char *p = sieve_single_str(v, ai, &len);
	char word[NAME_MAX_MSG];

	if (p != NULL && sieve_has_var(v, p, len)) {
		sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col, "the include command "
		    "requires a constant string for its value argument.");
		return;
	}
	if (p == NULL || script_name_ok(p, len))
		return;
	sieve_sanitize(word, sizeof(word), p, len);
	sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
	    "include: invalid script name '%s'.", word);
}

/*
 * RFC 5228 §5.1: the address test only looks at header fields that hold addresses;
 * the RFC 5322 §3.6.2-3.6.6 address fields and a few well-known others.
 */
static void
check_address_headers(struct sieve_vstate *v, uint32_t ai)
{
	static const char *const fields[] = { "from", "sender", "reply-to", "to", "cc", "bcc",
		"resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc",
		"resent-reply-to", "return-path", "delivered-to", "x-original-to", "envelope-to",
		"errors-to", "disposition-notification-to", "return-receipt-to", "original-from",
		"original-recipient", "original-sender", "original-to", "x-envelope-to",
		"x-envelope-from", "mail-followup-to", "mail-reply-to", "approved",
	};
	const struct sieve_arg *a = &v->s->args[ai];

	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = sieve_vstr(v->s, a->str_first + k, &len);
		char word[NAME_MAX_MSG];
		bool ok = sieve_has_var(v, p, len);

		for (unsigned i = 0; !ok && i < N_ELEMENTS(fields); i++)
			ok = mem_ieq(p, len, fields[i]);
		if (ok)
			continue;
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_error(v->c, a->line, a->col, "specified header '%s' is not allowed for the "
		    "address test.", word);
	}
}

/* RFC 5228 §5.4: "from" and "to"; "auth" as Pigeonhole (RFC 4954 AUTH=). */
static void
check_envelope_parts(struct sieve_vstate *v, uint32_t ai)
{
	const struct sieve_arg *a = &v->s->args[ai];

	for (uint32_t k = 0; k < a->str_count; k++) {
		size_t len;
		const char *p = sieve_vstr(v->s, a->str_first + k, &len);
		char word[NAME_MAX_MSG];

		if (mem_ieq(p, len, "from") || mem_ieq(p, len, "to") || mem_ieq(p, len, "auth") ||
		    sieve_has_var(v, p, len))
			continue;
		sieve_sanitize(word, sizeof(word), p, len);
		sieve_error(v->c, a->line, a->col, "specified envelope part '%s' is not "
		    "supported by the envelope test.", word);
	}
}

static void
check_index(struct sieve_vstate *v, struct sieve_node *n)
{
	uint32_t ai = sieve_node_tag_value(v->s, n, SIEVE_TAG_INDEX);
	const char *name = sieve_id_name(n->id);

	if (ai != SIEVE_NONE && v->s->args[ai].number == 0)
		sieve_error(v->c, v->s->args[ai].line, v->s->args[ai].col,
		    "the :index tag for the %s %s cannot be zero.", name, sieve_noun(n));
	if ((n->tags & 1ull << SIEVE_TAG_LAST) && !(n->tags & 1ull << SIEVE_TAG_INDEX))
		sieve_error(v->c, n->line, n->col, "the :last tag for the %s %s cannot be "
		    "specified without the :index tag.", name, sieve_noun(n));
}

void
sieve_check_values(struct sieve_vstate *v, struct sieve_node *n)
{
	switch (n->id) {
	case SIEVE_TEST_SIZE:
		if ((n->tags & (1ull << SIEVE_TAG_OVER | 1ull << SIEVE_TAG_UNDER)) == 0)
			sieve_error(v->c, n->line, n->col, "the size test requires either the "
			    ":under or the :over tag to be specified.");
		break;
	case SIEVE_TEST_ADDRESS:
		check_address_headers(v, n->pos[0]);
		check_index(v, n);
		break;
	case SIEVE_TEST_HEADER:
	case SIEVE_TEST_DATE:
	case SIEVE_CMD_DELETEHEADER:
		check_index(v, n);
		if (n->id == SIEVE_CMD_DELETEHEADER)
			check_field_name(v, n->pos[0], "deleteheader");
		else
			warn_field_names(v, n->pos[0]);
		if (n->id == SIEVE_TEST_DATE)
			warn_date(v, n, n->pos[1]);
		break;
	case SIEVE_TEST_EXISTS:
		warn_field_names(v, n->pos[0]);
		break;
	case SIEVE_TEST_CURRENTDATE:
		warn_date(v, n, n->pos[0]);
		break;
	case SIEVE_CMD_KEEP:
	case SIEVE_CMD_FILEINTO:
		warn_flags(v, n, sieve_node_tag_value(v->s, n, SIEVE_TAG_FLAGS));
		break;
	case SIEVE_CMD_VACATION:
		check_vacation(v, n);
		break;
	case SIEVE_CMD_ADDHEADER:
		check_field_name(v, n->pos[0], "addheader");
		break;
	case SIEVE_TEST_ENVELOPE:
		check_envelope_parts(v, n->pos[0]);
		break;
	case SIEVE_CMD_SET:
		check_varnames(v, n->pos[0], true);
		break;
	case SIEVE_CMD_SETFLAG:
	case SIEVE_CMD_ADDFLAG:
	case SIEVE_CMD_REMOVEFLAG:
		warn_flags(v, n, n->pos[1]);
		/* FALLTHROUGH */
	case SIEVE_TEST_HASFLAG:
		/* RFC 5232 §3: the variable form comes with the variables extension */
		if (n->pos[0] != SIEVE_NONE && !sieve_cap_ok(v->s, SIEVE_CAP_VARIABLES))
			sieve_error(v->c, n->line, n->col, "the %s %s only allows for the "
			    "specification of a variable name when the variables extension is "
			    "active.", sieve_id_name(n->id), sieve_noun(n));
		else
			check_varnames(v, n->pos[0], n->id != SIEVE_TEST_HASFLAG);
		break;
	case SIEVE_CMD_GLOBAL:
		if (!sieve_cap_ok(v->s, SIEVE_CAP_VARIABLES))
			sieve_error(v->c, n->line, n->col, "global command requires that "
			    "variables extension is active.");
		else
			check_varnames(v, n->pos[0], true);
		break;
	case SIEVE_CMD_REDIRECT:
		check_redirect(v, n->pos[0]);
		break;
	case SIEVE_CMD_INCLUDE:
		check_include(v, n->pos[0]);
		break;
	default:
		break;
	}
}
