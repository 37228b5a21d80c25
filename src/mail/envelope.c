/*
 * envelope.c — ENVELOPE, BODY and BODYSTRUCTURE output (RFC 3501 §7.4.2, §9 grammar) from
 * a parsed message (see envelope.h). Runs in the mail process; message bytes only reach
 * the client through lib/imapstr.h (quoted or literal), and all output goes to a bounded
 * buffer, so a hostile message can at worst make the reply fail with -1.
 */
#include "mail/envelope.h"

#include "lib/imapstr.h"
#include "mail/address.h"
#include "mail/header.h"

enum env_field {
	ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO, ENV_CC, ENV_BCC,
	ENV_IN_REPLY_TO, ENV_MESSAGE_ID, ENV_COUNT
};

static const char *const env_names[ENV_COUNT] = {
	"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to",
	"message-id"
};

static int
append_nstr(struct buf *out, const char *s)
{
	return imap_append_nstring(out, s, s == NULL ? 0 : strlen(s));
}

/* Address list: "(" 1*address ")" or NIL when it has no addresses. */
static int
write_addresses(struct buf *out, const char *value, unsigned int max)
{
	struct mail_address *list;
	unsigned int n;
	int ret = 0;

	if (value == NULL)
		return buf_append_str(out, "NIL");
	mail_address_parse(value, strlen(value), max, &list, &n);
	if (n == 0)
		return buf_append_str(out, "NIL");
	ret |= buf_append_c(out, '(');
	for (unsigned int i = 0; i < n; i++) {
		const struct mail_address *a = &list[i];

		ret |= buf_append_c(out, '(');
		if (a->group_end)
			ret |= buf_append_str(out, "NIL NIL NIL NIL");
		else if (a->group_start) {
			/* RFC 3501 §7.4.2: (NIL NIL "group" NIL) */
			ret |= buf_append_str(out, "NIL NIL ");
			ret |= append_nstr(out, a->mailbox);
			ret |= buf_append_str(out, " NIL");
		} else {
			ret |= append_nstr(out, a->name);
			ret |= buf_append_c(out, ' ');
			ret |= append_nstr(out, a->adl);
			ret |= buf_append_c(out, ' ');
			ret |= append_nstr(out, a->mailbox);
			ret |= buf_append_c(out, ' ');
			ret |= append_nstr(out, a->host);
		}
		ret |= buf_append_c(out, ')');
	}
	ret |= buf_append_c(out, ')');
	mail_address_list_free(&list, n);
	return ret < 0 ? -1 : 0;
}

/* Does the field value contain at least one address? (empty Sender: falls back to From) */
static bool
has_addresses(const char *value)
{
	struct mail_address *list;
	unsigned int n;

	if (value == NULL)
		return false;
	mail_address_parse(value, strlen(value), 1, &list, &n);
	mail_address_list_free(&list, n);
	return n > 0;
}

int
mail_envelope_write(struct buf *out, const struct mail_message *m,
    const struct mail_part *part)
{
	char *v[ENV_COUNT] = { NULL };
	struct mail_header_field f;
	size_t pos = 0;
	unsigned int nfields = 0;
	const unsigned char *hdr;
	unsigned int max = m->limits.max_addresses;
	int ret = 0;

	if (part == NULL)
		part = m->root;
	hdr = m->data + part->hdr_off;
	while (nfields++ < m->limits.max_header_fields &&
	    mail_header_next(hdr, part->hdr_len, &pos, &f) > 0) {
		for (unsigned int i = 0; i < ENV_COUNT; i++) {
			if (v[i] == NULL && mail_header_name_eq(f.name, f.name_len, env_names[i])) {
				v[i] = mail_header_unfold_dup(f.value, f.value_len);
				break;
			}
		}
	}
	ret |= buf_append_c(out, '(');
	ret |= append_nstr(out, v[ENV_DATE]);
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, v[ENV_SUBJECT]);
	ret |= buf_append_c(out, ' ');
	ret |= write_addresses(out, v[ENV_FROM], max);
	for (unsigned int i = ENV_SENDER; i <= ENV_REPLY_TO; i++) {
		ret |= buf_append_c(out, ' ');
		/* RFC 3501 §7.4.2: absent or empty Sender / Reply-To => From */
		ret |= write_addresses(out, has_addresses(v[i]) ? v[i] : v[ENV_FROM], max);
	}
	for (unsigned int i = ENV_TO; i <= ENV_BCC; i++) {
		ret |= buf_append_c(out, ' ');
		ret |= write_addresses(out, v[i], max);
	}
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, v[ENV_IN_REPLY_TO]);
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, v[ENV_MESSAGE_ID]);
	ret |= buf_append_c(out, ')');
	for (unsigned int i = 0; i < ENV_COUNT; i++)
		free(v[i]);
	return ret < 0 ? -1 : 0;
}

/* body-fld-param: ("name" "value" ...) or NIL; text parts get a default charset. */
static int
write_params(struct buf *out, const struct mail_param *params, unsigned int n,
    bool default_charset)
{
	bool seen_charset = false;
	int ret = 0;

	if (n == 0 && !default_charset)
		return buf_append_str(out, "NIL");
	ret |= buf_append_c(out, '(');
	for (unsigned int i = 0; i < n; i++) {
		if (i > 0)
			ret |= buf_append_c(out, ' ');
		if (str_ieq(params[i].name, "charset"))
			seen_charset = true;
		ret |= append_nstr(out, params[i].name);
		ret |= buf_append_c(out, ' ');
		ret |= append_nstr(out, params[i].value);
	}
	if (default_charset && !seen_charset) {
		if (n > 0)
			ret |= buf_append_c(out, ' ');
		ret |= buf_append_str(out, "\"charset\" \"us-ascii\"");
	}
	ret |= buf_append_c(out, ')');
	return ret < 0 ? -1 : 0;
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int
write_ext_common(struct buf *out, const struct mail_part *p)
{
	int ret = 0;

	ret |= buf_append_c(out, ' ');
	if (p->disposition == NULL)
		ret |= buf_append_str(out, "NIL");
	else {
		ret |= buf_append_c(out, '(');
		ret |= append_nstr(out, p->disposition);
		ret |= buf_append_c(out, ' ');
		ret |= write_params(out, p->disp_params, p->ndisp_params, false);
		ret |= buf_append_c(out, ')');
	}
	ret |= buf_append_c(out, ' ');
	if (p->nlanguages == 0)
		ret |= buf_append_str(out, "NIL");
	else {
		ret |= buf_append_c(out, '(');
		for (unsigned int i = 0; i < p->nlanguages; i++) {
			if (i > 0)
				ret |= buf_append_c(out, ' ');
			ret |= append_nstr(out, p->languages[i]);
		}
		ret |= buf_append_c(out, ')');
	}
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, p->location);
	return ret < 0 ? -1 : 0;
}

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"

static int
write_part(struct buf *out, const struct mail_message *m, const struct mail_part *p,
    bool ext)
{
	int ret = 0;

	if (p->flags & MAIL_PART_MULTIPART) {
		ret |= buf_append_c(out, '(');
		if (p->children == NULL) {
			/* a multipart without parts is not valid IMAP: one empty text part */
			ret |= buf_append_str(out, EMPTY_BODY);
			ret |= buf_append_str(out, ext ? " NIL NIL NIL NIL)" : ")");
		}
		for (const struct mail_part *c = p->children; c != NULL && ret == 0; c = c->next)
			ret |= write_part(out, m, c, ext);
		ret |= buf_append_c(out, ' ');
		ret |= append_nstr(out, p->subtype);
		if (ext) {
			ret |= buf_append_c(out, ' ');
			ret |= write_params(out, p->params, p->nparams, false);
			ret |= write_ext_common(out, p);
		}
		ret |= buf_append_c(out, ')');
		return ret < 0 ? -1 : 0;
	}
	ret |= buf_append_c(out, '(');
	ret |= append_nstr(out, p->type);
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, p->subtype);
	ret |= buf_append_c(out, ' ');
	ret |= write_params(out, p->params, p->nparams, (p->flags & MAIL_PART_TEXT) != 0);
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, p->id);
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, p->description);
	ret |= buf_append_c(out, ' ');
	ret |= append_nstr(out, p->encoding != NULL ? p->encoding : "7bit");
	ret |= buf_appendf(out, " %llu", (unsigned long long)p->body_size);
	if ((p->flags & MAIL_PART_RFC822) && p->children != NULL) {
		/* body-type-msg: envelope, body and lines of the embedded message */
		ret |= buf_append_c(out, ' ');
		ret |= mail_envelope_write(out, m, p->children);
		ret |= buf_append_c(out, ' ');
		if (ret == 0)
			ret |= write_part(out, m, p->children, ext);
		ret |= buf_appendf(out, " %llu", (unsigned long long)p->body_lines);
	} else if (p->flags & MAIL_PART_TEXT)
		ret |= buf_appendf(out, " %llu", (unsigned long long)p->body_lines);
	if (ext) {
		ret |= buf_append_c(out, ' ');
		ret |= append_nstr(out, p->md5);
		ret |= write_ext_common(out, p);
	}
	ret |= buf_append_c(out, ')');
	return ret < 0 ? -1 : 0;
}

int
mail_bodystructure_write(struct buf *out, const struct mail_message *m,
    const struct mail_part *part, bool extended)
{
	return write_part(out, m, part == NULL ? m->root : part, extended);
}
