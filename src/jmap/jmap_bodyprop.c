/*
 * jmap_bodyprop.c — header:{name}:as{form}[:all] property names and part blob ids
 * (jmap_bodyprop.h). Pure.
 */
#include "jmap/jmap_bodyprop.h"

#include <string.h>

#include "lib/util.h"

static const struct {
	const char *name;
	enum jmap_header_form form;
} forms[] = {
	{ "asRaw", JMAP_FORM_RAW },
	{ "asText", JMAP_FORM_TEXT },
	{ "asAddresses", JMAP_FORM_ADDRESSES },
	{ "asGroupedAddresses", JMAP_FORM_GROUPED },
	{ "asMessageIds", JMAP_FORM_MESSAGEIDS },
	{ "asDate", JMAP_FORM_DATE },
	{ "asURLs", JMAP_FORM_URLS },
};

/* §4.1.3: the fields with a known syntax and the forms they may be read as (besides Raw). */
static const struct {
	const char *name;
	unsigned forms;
} known_fields[] = {
#define F(x) (1u << (x))
#define ADDR (F(JMAP_FORM_ADDRESSES) | F(JMAP_FORM_GROUPED))
	{ "From", ADDR }, { "Sender", ADDR }, { "Reply-To", ADDR }, { "To", ADDR },
	{ "Cc", ADDR }, { "Bcc", ADDR }, { "Resent-From", ADDR }, { "Resent-Sender", ADDR },
	{ "Resent-Reply-To", ADDR }, { "Resent-To", ADDR }, { "Resent-Cc", ADDR },
	{ "Resent-Bcc", ADDR },
	{ "Subject", F(JMAP_FORM_TEXT) }, { "Comments", F(JMAP_FORM_TEXT) },
	{ "Keywords", F(JMAP_FORM_TEXT) }, { "List-Id", F(JMAP_FORM_TEXT) },
	{ "Date", F(JMAP_FORM_DATE) }, { "Resent-Date", F(JMAP_FORM_DATE) },
	{ "Message-ID", F(JMAP_FORM_MESSAGEIDS) }, { "In-Reply-To", F(JMAP_FORM_MESSAGEIDS) },
	{ "References", F(JMAP_FORM_MESSAGEIDS) },
	{ "Resent-Message-ID", F(JMAP_FORM_MESSAGEIDS) },
	{ "List-Help", F(JMAP_FORM_URLS) }, { "List-Unsubscribe", F(JMAP_FORM_URLS) },
	{ "List-Subscribe", F(JMAP_FORM_URLS) }, { "List-Post", F(JMAP_FORM_URLS) },
	{ "List-Owner", F(JMAP_FORM_URLS) }, { "List-Archive", F(JMAP_FORM_URLS) },
#undef ADDR
#undef F
};

static bool
form_allowed(const char *name, enum jmap_header_form form)
{
	if (form == JMAP_FORM_RAW)
		return true;
	for (size_t i = 0; i < N_ELEMENTS(known_fields); i++)
		if (str_ieq(known_fields[i].name, name))
			return (known_fields[i].forms & (1u << form)) != 0;
	return true;	/* an unknown field: any form (§4.1.3) */
}

static bool
seg_is(const char *p, size_t n, const char *w)
{
	return n == strlen(w) && memcmp(p, w, n) == 0;
}

int
jmap_header_prop_parse(const char *s, size_t len, struct jmap_header_prop *hp)
{
	size_t i, start;

	memset(hp, 0, sizeof(*hp));
	if (len < 8 || memcmp(s, "header:", 7) != 0)
		return -1;
	for (i = start = 7; i < len && s[i] != ':'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return -1;
	if (i == start || i - start > JMAP_HEADER_NAME_MAX)
		return -1;
	memcpy(hp->name, s + start, i - start);
	hp->name[i - start] = '\0';
	hp->form = JMAP_FORM_RAW;
	for (unsigned seg = 0; i < len; seg++) {
		size_t b = ++i, n;
		bool found = false;

		while (i < len && s[i] != ':')
			i++;
		n = i - b;
		if (seg_is(s + b, n, "all")) {
			if (i < len)
				return -1;	/* ":all" comes last */
			hp->all = true;
			break;
		}
		if (seg > 0)
			return -1;	/* one form at most, before ":all" */
		for (size_t k = 0; k < N_ELEMENTS(forms) && !found; k++)
			if (seg_is(s + b, n, forms[k].name)) {
				hp->form = forms[k].form;
				found = true;
			}
		if (!found)
			return -1;
	}
	return form_allowed(hp->name, hp->form) ? 0 : -1;
}

int
jmap_part_blob_parse(const char *s, size_t len, uint64_t *emailid_r,
    uint32_t nums[JMAP_PART_DEPTH_MAX], unsigned int *depth_r)
{
	uint64_t v = 0;
	unsigned depth = 0;
	size_t i;

	*depth_r = 0;
	*emailid_r = 0;
	if (len < 19 || len > JMAP_ID_MAX || s[0] != 'B')
		return -1;
	for (i = 1; i < 17; i++) {
		char ch = s[i];

		if (ch >= '0' && ch <= '9')
			v = v << 4 | (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v = v << 4 | (uint64_t)(ch - 'a' + 10);
		else
			return -1;
	}
	while (i < len) {
		uint32_t n = 0;
		size_t b;

		if (s[i++] != '_' || depth == JMAP_PART_DEPTH_MAX)
			return -1;
		for (b = i; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (i - b == 6)
				return -1;
			n = n * 10 + (uint32_t)(s[i] - '0');
		}
		if (i == b || s[b] == '0')
			return -1;
		nums[depth++] = n;
	}
	if (depth == 0 || v == 0)
		return -1;
	*emailid_r = v;
	*depth_r = depth;
	return 0;
}
