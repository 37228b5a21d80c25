/*
 * sieve_result.c — the action list of a Sieve run as text (`buzon sieve test`, logs and
 * the side-by-side tests; format in docs/sieve.md) and the RFC 5230 §4.5 checks that
 * decide whether a vacation reply may go out. Pure; runs in the mail process and the
 * CLI on strings that came from the script and the message: every string is quoted
 * with control bytes escaped, so one action is always one line.
 */
#include "mail/address.h"
#include "mail/header.h"
#include "mail/message.h"
#include "sieve/sieve_exec.h"

static void
quote(struct buf *out, const char *s)
{
	(void)buf_append_c(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_appendf(out, "\\%c", *p);
		else if (*p == '\r')
			(void)buf_append_str(out, "\\r");
		else if (*p == '\n')
			(void)buf_append_str(out, "\\n");
		else if (*p < 0x20 || *p == 0x7f)
			buf_appendf(out, "\\x%02x", *p);
		else
			(void)buf_append_c(out, (char)*p);
	}
	(void)buf_append_c(out, '"');
}

static void
opt(struct buf *out, const char *key, const char *v)
{
	if (v == NULL)
		return;
	buf_appendf(out, " %s=", key);
	quote(out, v);
}

static void
format_one(struct buf *out, const struct sieve_action *a)
{
	switch (a->type) {
	case SIEVE_ACT_KEEP:
		(void)buf_append_str(out, a->implicit ? "keep implicit" : "keep");
		opt(out, "flags", a->flags);
		break;
	case SIEVE_ACT_FILEINTO:
		(void)buf_append_str(out, "fileinto ");
		quote(out, a->target);
		if (a->copy)
			(void)buf_append_str(out, " copy");
		if (a->create)
			(void)buf_append_str(out, " create");
		opt(out, "flags", a->flags);
		break;
	case SIEVE_ACT_DISCARD:
		(void)buf_append_str(out, "discard");
		break;
	case SIEVE_ACT_REDIRECT:
		(void)buf_append_str(out, "redirect ");
		quote(out, a->target);
		if (a->copy)
			(void)buf_append_str(out, " copy");
		break;
	case SIEVE_ACT_REJECT:
	case SIEVE_ACT_EREJECT:
		(void)buf_append_str(out, a->type == SIEVE_ACT_REJECT ? "reject " : "ereject ");
		quote(out, a->text);
		break;
	case SIEVE_ACT_VACATION:
		buf_appendf(out, "vacation seconds=%llu", (unsigned long long)a->seconds);
		opt(out, "subject", a->subject);
		opt(out, "from", a->from);
		opt(out, "handle", a->handle);
		opt(out, "addresses", a->addresses);
		if (a->mime)
			(void)buf_append_str(out, " mime");
		opt(out, "reason", a->text);
		break;
	case SIEVE_ACT_ADDHEADER:
		(void)buf_append_str(out, a->last ? "addheader last " : "addheader ");
		quote(out, a->target);
		(void)buf_append_c(out, ' ');
		quote(out, a->text);
		break;
	case SIEVE_ACT_DELETEHEADER:
		(void)buf_append_str(out, "deleteheader ");
		quote(out, a->target);
		buf_appendf(out, " count=%u", a->count);
		break;
	}
	(void)buf_append_c(out, '\n');
}

int
sieve_result_format(const struct sieve_result *r, struct buf *out)
{
	struct buf tmp;
	int ret;

	buf_init(&tmp, BUF_UNLIMITED);
	for (unsigned i = 0; i < r->count; i++)
		format_one(&tmp, &r->actions[i]);
	ret = buf_append(out, tmp.data != NULL ? tmp.data : "", tmp.len);
	buf_deinit(&tmp);
	return ret;
}

/* ---- RFC 5230 §4.5, RFC 3834 §2 ---- */

static char *
field(const struct sieve_exec_env *env, const char *name)
{
	bool complete;
	size_t end = mail_header_block_end(env->msg, env->msg_len, NULL, &complete);

	return mail_header_get(env->msg, end, name);
}

/* Is one of the addresses of field `name` in the recipient's list me[]? */
static bool
field_has(const struct sieve_exec_env *env, const char *name, const char *const *me,
    unsigned nme)
{
	char *v = field(env, name);
	struct mail_address *list;
	unsigned count;
	bool found = false;

	if (v == NULL)
		return false;
	mail_address_parse(v, strlen(v), 1000, &list, &count);
	for (unsigned i = 0; i < count && !found; i++) {
		char *addr;

		if (list[i].mailbox == NULL || list[i].host == NULL)
			continue;
		addr = xasprintf("%s@%s", list[i].mailbox, list[i].host);
		for (unsigned j = 0; j < nme && !found; j++)
			found = str_ieq(addr, me[j]);
		free(addr);
	}
	mail_address_list_free(&list, count);
	free(v);
	return found;
}

static bool
sender_is_robot(const char *from)
{
	const char *at = strrchr(from, '@');
	size_t local = at != NULL ? (size_t)(at - from) : strlen(from);

	return mem_ieq(from, local, "mailer-daemon") || (local >= 6 &&
	    strncasecmp(from, "owner-", 6) == 0) || (local >= 8 &&
	    strncasecmp(from + local - 8, "-request", 8) == 0);
}

static bool
is_bulk(const struct sieve_exec_env *env)
{
	static const char *const list_fields[] = { "list-id", "list-help", "list-subscribe",
	    "list-unsubscribe", "list-post", "list-owner", "list-archive" };
	char *v = field(env, "auto-submitted");
	bool bulk = v != NULL && !str_ieq(v, "no");

	free(v);
	for (unsigned i = 0; i < N_ELEMENTS(list_fields) && !bulk; i++) {
		v = field(env, list_fields[i]);
		bulk = v != NULL;
		free(v);
	}
	v = field(env, "precedence");
	if (!bulk && v != NULL)
		bulk = str_ieq(v, "bulk") || str_ieq(v, "list") || str_ieq(v, "junk");
	free(v);
	return bulk;
}

bool
sieve_vacation_allowed(const struct sieve_exec_env *env, const struct sieve_action *a,
    const char **reason_r)
{
	static const char *const fields[] = { "to", "cc", "bcc", "resent-to", "resent-cc",
	    "resent-bcc" };
	const char *me[64];
	unsigned nme = 0;
	char *addrs = a->addresses != NULL ? xstrdup(a->addresses) : NULL;
	bool found = false;

	if (env->env_from == NULL || env->env_from[0] == '\0') {
		*reason_r = "null envelope sender";
		free(addrs);
		return false;
	}
	if (sender_is_robot(env->env_from) || is_bulk(env)) {
		*reason_r = "automatic or list message";
		free(addrs);
		return false;
	}
	if (env->env_to != NULL)
		me[nme++] = env->env_to;
	for (char *p = addrs, *save = NULL, *t; addrs != NULL &&
	    (t = strtok_r(p, ", ", &save)) != NULL &&
	    nme < N_ELEMENTS(me); p = NULL)
		me[nme++] = t;
	for (unsigned i = 0; i < N_ELEMENTS(fields) && !found; i++)
		found = field_has(env, fields[i], me, nme);
	free(addrs);
	if (!found) {
		*reason_r = "recipient not in To, Cc or Bcc";
		return false;
	}
	*reason_r = NULL;
	return true;
}
