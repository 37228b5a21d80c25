/*
 * sieve_exec.c — the Sieve interpreter (sieve_exec.h): walks a validated tree (RFC 5228
 * §2.10 control and actions), evaluates tests through sieve_match.c and sieve_msg.c and
 * builds the action list with Pigeonhole's rules for duplicates and conflicts. Runs in
 * the mail process and `buzon sieve test` on an untrusted script and message: blocks and
 * tests nest at most SIEVE_RUN_DEPTH deep (the compiler's depth_max is smaller), every
 * command and test is charged to steps_max, and actions are bounded by actions_max.
 */
#include <ctype.h>
#include <stdarg.h>

#include "mail/address.h"
#include "mail/rfc2047.h"
#include "sieve/sieve_run.h"

#define SIEVE_RUN_DEPTH 128	/* recursion bound of run_block / eval_test */
#define SIEVE_DAY 86400u

void
sieve_exec_limits_default(struct sieve_exec_limits *lim)
{
	lim->steps_max = 100000;
	lim->actions_max = 32;
	lim->redirects_max = 4;
	lim->var_max = 4096;
	lim->vars_max = 255;
	lim->regex_max = 1024;
	lim->body_max = 1024 * 1024;
	lim->headers_max = 10000;
	lim->includes_max = 255;
	lim->include_depth_max = 10;
}

int
sieve_run_error(struct sieve_run *x, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return -1;
	x->failed = true;
	va_start(ap, fmt);
	vsnprintf(x->r->error, sizeof(x->r->error), fmt, ap);
	va_end(ap);
	x->r->error_line = x->line;
	return -1;
}

int
sieve_run_step(struct sieve_run *x)
{
	if (++x->steps > x->lim->steps_max)
		return sieve_run_error(x, "too many instructions executed (limit %u)",
		    x->lim->steps_max);
	return 0;
}

static bool
has_tag(const struct sieve_node *n, enum sieve_tag t)
{
	return (n->tags & (1ull << t)) != 0;
}

static const struct sieve_arg *
tag_arg(struct sieve_run *x, const struct sieve_node *n, enum sieve_tag t)
{
	uint32_t ai = sieve_node_tag_value(x->s, n, t);

	return ai == SIEVE_NONE ? NULL : &x->s->args[ai];
}

static uint32_t
tag_ai(struct sieve_run *x, const struct sieve_node *n, enum sieve_tag t)
{
	return sieve_node_tag_value(x->s, n, t);
}

/* ---- flags (RFC 5232 §3) ---- */

static bool
flag_in(const struct buf *set, const char *f, size_t len)
{
	const char *p = set->len > 0 ? set->data : "";

	for (size_t i = 0; i < set->len;) {
		size_t e = i;

		while (e < set->len && p[e] != ' ')
			e++;
		if (e - i == len && strncasecmp(p + i, f, len) == 0)
			return true;
		i = e + 1;
	}
	return false;
}

/*
 * Add (add) or remove (!add) every space-separated flag of the strings in l; each
 * flag costs a scan of the set, charged to the run's work. 0 or -1 (budget).
 */
static int
flags_edit(struct sieve_run *x, struct buf *set, const struct sieve_strlist *l, bool add)
{
	for (unsigned k = 0; k < l->n; k++) {
		const char *p = l->v[k].p;
		size_t len = l->v[k].len;

		for (size_t i = 0; i < len;) {
			size_t e = i;

			while (e < len && p[e] != ' ')
				e++;
			if (sieve_run_charge(x, set->len + e - i) < 0)
				return -1;
			if (e > i && add && !flag_in(set, p + i, e - i)) {
				if (set->len > 0)
					(void)buf_append_c(set, ' ');
				(void)buf_append(set, p + i, e - i);
			} else if (e > i && !add) {
				struct buf keep;
				const char *s = set->len > 0 ? set->data : "";

				buf_init(&keep, set->max);
				for (size_t j = 0; j < set->len;) {
					size_t f = j;

					while (f < set->len && s[f] != ' ')
						f++;
					if (f > j && !(f - j == e - i &&
					    strncasecmp(s + j, p + i, e - i) == 0)) {
						if (keep.len > 0)
							(void)buf_append_c(&keep, ' ');
						(void)buf_append(&keep, s + j, f - j);
					}
					j = f + 1;
				}
				buf_reset(set);
				(void)buf_append(set, keep.data != NULL ? keep.data : "", keep.len);
				buf_deinit(&keep);
			}
			i = e + 1;
		}
	}
	return 0;
}

/* The flags of set, each once, as values. 0 or -1 (budget). */
static int
flags_values(struct sieve_run *x, const struct buf *set, struct sieve_strlist *out)
{
	struct sieve_strlist one = { 0 };
	struct buf b;
	int ret;

	sieve_strlist_add(&one, set->len > 0 ? set->data : "", set->len);
	buf_init(&b, SIEVE_EXPAND_MAX);
	ret = flags_edit(x, &b, &one, true);
	for (size_t i = 0; i < b.len;) {
		size_t e = i;

		while (e < b.len && b.data[e] != ' ')
			e++;
		sieve_strlist_add(out, b.data + i, e - i);
		i = e + 1;
	}
	buf_deinit(&b);
	sieve_strlist_free(&one);
	return ret;
}

/* ---- actions ---- */

static struct sieve_action *
act_new(struct sieve_run *x, enum sieve_action_type type)
{
	struct sieve_result *r = x->r;
	struct sieve_action *a;

	if (r->count == x->act_cap) {
		x->act_cap = x->act_cap == 0 ? 8 : x->act_cap * 2;
		r->actions = xreallocarray(r->actions, x->act_cap, sizeof(*r->actions));
	}
	a = &r->actions[r->count++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

static void
act_free(struct sieve_action *a)
{
	free(a->target);
	free(a->text);
	free(a->flags);
	free(a->subject);
	free(a->from);
	free(a->handle);
	free(a->addresses);
}

static unsigned
count_real(const struct sieve_result *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->count; i++)
		if (r->actions[i].type != SIEVE_ACT_ADDHEADER &&
		    r->actions[i].type != SIEVE_ACT_DELETEHEADER)
			n++;
	return n;
}

static struct sieve_action *
act_find(struct sieve_run *x, enum sieve_action_type type)
{
	for (unsigned i = 0; i < x->r->count; i++)
		if (x->r->actions[i].type == type)
			return &x->r->actions[i];
	return NULL;
}

static bool
delivers(enum sieve_action_type t)
{
	return t == SIEVE_ACT_KEEP || t == SIEVE_ACT_FILEINTO || t == SIEVE_ACT_REDIRECT ||
	    t == SIEVE_ACT_VACATION;
}

static bool
rejects(enum sieve_action_type t)
{
	return t == SIEVE_ACT_REJECT || t == SIEVE_ACT_EREJECT;
}

/*
 * A new action of this type: reject / ereject exclude storing, redirecting and vacation
 * (RFC 5429 §2.1), one reject and one vacation per run, at most actions_max.
 */
static int
check_conflict(struct sieve_run *x, enum sieve_action_type type)
{
	for (unsigned i = 0; i < x->r->count; i++) {
		enum sieve_action_type t = x->r->actions[i].type;

		if (rejects(type) && rejects(t))
			return sieve_run_error(x, "duplicate reject/ereject action not allowed");
		if ((rejects(type) && delivers(t)) || (rejects(t) && delivers(type)))
			return sieve_run_error(x, "reject/ereject action conflicts with other "
			    "action");
		if (type == SIEVE_ACT_VACATION && t == SIEVE_ACT_VACATION)
			return sieve_run_error(x, "duplicate vacation action not allowed");
	}
	if (count_real(x->r) >= x->lim->actions_max)
		return sieve_run_error(x, "too many actions (limit %u)", x->lim->actions_max);
	return 0;
}

static bool
is_inbox(const char *name)
{
	return str_ieq(name, "INBOX");
}

/*
 * keep and fileinto: one store per folder ("INBOX" is keep, RFC 5228 §2.10.3); a later
 * store into the same folder only replaces the flags (as Pigeonhole).
 */
static int
act_store(struct sieve_run *x, const char *folder, const struct buf *flags, bool copy,
    bool create)
{
	bool keep = folder == NULL || is_inbox(folder);
	struct sieve_action *a = NULL;

	for (unsigned i = 0; i < x->r->count && a == NULL; i++) {
		struct sieve_action *o = &x->r->actions[i];

		if ((keep && o->type == SIEVE_ACT_KEEP) || (!keep &&
		    o->type == SIEVE_ACT_FILEINTO && strcmp(o->target, folder) == 0))
			a = o;
	}
	if (a == NULL) {
		if (check_conflict(x, keep ? SIEVE_ACT_KEEP : SIEVE_ACT_FILEINTO) < 0)
			return -1;
		a = act_new(x, keep ? SIEVE_ACT_KEEP : SIEVE_ACT_FILEINTO);
		a->target = keep ? NULL : xstrdup(folder);
		a->copy = copy;
		if (!copy)
			x->implicit_keep = false;
	} else {
		/* the first store decides :copy and the implicit keep, the last the flags */
		free(a->flags);
		a->flags = NULL;
	}
	a->create = a->create || create;
	if (flags != NULL && flags->len > 0)
		a->flags = xstrndup(flags->data, flags->len);
	return 0;
}

/* ---- commands ---- */

/* The flags of :flags, or the internal variable, for keep / fileinto. */
static int
store_flags(struct sieve_run *x, const struct sieve_node *n, struct buf *out)
{
	struct sieve_strlist l = { 0 };
	int ret = 0;

	buf_reset(out);
	if (!has_tag(n, SIEVE_TAG_FLAGS)) {
		if (x->flags.len > 0)
			(void)buf_append(out, x->flags.data, x->flags.len);
		return 0;
	}
	ret = sieve_arg_strings(x, tag_ai(x, n, SIEVE_TAG_FLAGS), &l);
	if (ret == 0)
		ret = flags_edit(x, out, &l, true);
	sieve_strlist_free(&l);
	return ret;
}

static bool
valid_utf8(const char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t l = mail_utf8_next((const unsigned char *)p + i, len - i, NULL);

		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

static int
cmd_store(struct sieve_run *x, const struct sieve_node *n)
{
	struct buf folder, flags;
	int ret;

	buf_init(&folder, SIEVE_EXPAND_MAX);
	buf_init(&flags, SIEVE_EXPAND_MAX);
	ret = store_flags(x, n, &flags);
	if (ret == 0 && n->id == SIEVE_CMD_FILEINTO) {
		ret = sieve_arg_string(x, n->pos[0], &folder);
		if (ret == 0 && (folder.len == 0 || !valid_utf8(folder.data, folder.len) ||
		    memchr(folder.data, '\0', folder.len) != NULL))
			ret = sieve_run_error(x, "fileinto: invalid folder name");
		if (ret == 0)
			ret = act_store(x, folder.data, &flags, has_tag(n, SIEVE_TAG_COPY),
			    has_tag(n, SIEVE_TAG_CREATE));
	} else if (ret == 0) {
		ret = act_store(x, NULL, &flags, false, false);
	}
	buf_deinit(&folder);
	buf_deinit(&flags);
	return ret;
}

/* One RFC 5322 mailbox ("a@b", "Name <a@b>") as "local@domain" (RFC 5228 §4.2). */
static char *
redirect_address(const char *p, size_t len)
{
	struct mail_address *list;
	unsigned count;
	char *ret = NULL;

	mail_address_parse(p, len, 2, &list, &count);
	if (count == 1 && list[0].mailbox != NULL && list[0].host != NULL &&
	    strcmp(list[0].mailbox, "MISSING_MAILBOX") != 0 &&
	    strcmp(list[0].host, "MISSING_DOMAIN") != 0 && list[0].host[0] != '\0')
		ret = xasprintf("%s@%s", list[0].mailbox, list[0].host);
	mail_address_list_free(&list, count);
	return ret;
}

static int
cmd_redirect(struct sieve_run *x, const struct sieve_node *n)
{
	struct buf b;
	char *addr;
	struct sieve_action *a;
	bool copy = has_tag(n, SIEVE_TAG_COPY);

	buf_init(&b, SIEVE_EXPAND_MAX);
	if (sieve_arg_string(x, n->pos[0], &b) < 0) {
		buf_deinit(&b);
		return -1;
	}
	addr = redirect_address(b.data != NULL ? b.data : "", b.len);
	buf_deinit(&b);
	if (addr == NULL)
		return sieve_run_error(x, "redirect: invalid address");
	for (unsigned i = 0; i < x->r->count; i++) {
		a = &x->r->actions[i];
		/* a second redirect to the same address changes nothing (as Pigeonhole) */
		if (a->type == SIEVE_ACT_REDIRECT && str_ieq(a->target, addr)) {
			free(addr);
			return 0;
		}
	}
	if (++x->redirects > x->lim->redirects_max) {
		free(addr);
		return sieve_run_error(x, "number of redirect actions exceeds policy limit "
		    "(%u > %u)", x->redirects, x->lim->redirects_max);
	}
	if (check_conflict(x, SIEVE_ACT_REDIRECT) < 0) {
		free(addr);
		return -1;
	}
	a = act_new(x, SIEVE_ACT_REDIRECT);
	a->target = addr;
	a->copy = copy;
	if (!copy)
		x->implicit_keep = false;
	return 0;
}

static int
cmd_reject(struct sieve_run *x, const struct sieve_node *n)
{
	enum sieve_action_type t = n->id == SIEVE_CMD_REJECT ? SIEVE_ACT_REJECT :
	    SIEVE_ACT_EREJECT;
	struct buf b;
	struct sieve_action *a;

	buf_init(&b, SIEVE_EXPAND_MAX);
	if (sieve_arg_string(x, n->pos[0], &b) < 0 || check_conflict(x, t) < 0) {
		buf_deinit(&b);
		return -1;
	}
	a = act_new(x, t);
	a->text = xstrndup(b.data != NULL ? b.data : "", b.len);
	buf_deinit(&b);
	x->implicit_keep = false;
	return 0;
}

static int
cmd_discard(struct sieve_run *x)
{
	x->implicit_keep = false;
	if (act_find(x, SIEVE_ACT_DISCARD) != NULL)
		return 0;
	if (count_real(x->r) >= x->lim->actions_max)
		return sieve_run_error(x, "too many actions (limit %u)", x->lim->actions_max);
	act_new(x, SIEVE_ACT_DISCARD);
	return 0;
}

static char *
opt_string(struct sieve_run *x, const struct sieve_node *n, enum sieve_tag t, int *err)
{
	struct buf b;
	char *ret;

	if (!has_tag(n, t))
		return NULL;
	buf_init(&b, SIEVE_EXPAND_MAX);
	if (sieve_arg_string(x, tag_ai(x, n, t), &b) < 0)
		*err = -1;
	ret = xstrndup(b.data != NULL ? b.data : "", b.len);
	buf_deinit(&b);
	return ret;
}

/* RFC 5230 §4.1, RFC 6131 §2: default 7 days; at least one day, as Pigeonhole. */
static uint64_t
vacation_seconds(struct sieve_run *x, const struct sieve_node *n)
{
	const struct sieve_arg *d = tag_arg(x, n, SIEVE_TAG_DAYS);
	const struct sieve_arg *s = tag_arg(x, n, SIEVE_TAG_SECONDS);
	uint64_t v = 7 * (uint64_t)SIEVE_DAY;

	if (d != NULL)
		v = d->number > UINT64_MAX / SIEVE_DAY ? UINT64_MAX : d->number * SIEVE_DAY;
	else if (s != NULL)
		v = s->number;
	return MAX(v, (uint64_t)SIEVE_DAY);
}

static int
cmd_vacation(struct sieve_run *x, const struct sieve_node *n)
{
	struct sieve_action *a;
	struct sieve_strlist l = { 0 };
	struct buf b;
	int err = 0;

	if (check_conflict(x, SIEVE_ACT_VACATION) < 0)
		return -1;
	a = act_new(x, SIEVE_ACT_VACATION);
	buf_init(&b, SIEVE_EXPAND_MAX);
	err = sieve_arg_string(x, n->pos[0], &b);
	a->text = xstrndup(b.data != NULL ? b.data : "", b.len);
	a->subject = opt_string(x, n, SIEVE_TAG_SUBJECT, &err);
	a->from = opt_string(x, n, SIEVE_TAG_FROM, &err);
	a->handle = opt_string(x, n, SIEVE_TAG_HANDLE, &err);
	a->mime = has_tag(n, SIEVE_TAG_MIME);
	a->seconds = vacation_seconds(x, n);
	if (has_tag(n, SIEVE_TAG_ADDRESSES) && err == 0) {
		err = sieve_arg_strings(x, tag_ai(x, n, SIEVE_TAG_ADDRESSES), &l);
		buf_reset(&b);
		for (unsigned i = 0; i < l.n; i++) {
			if (i > 0)
				(void)buf_append(&b, ", ", 2);
			(void)buf_append(&b, l.v[i].p, l.v[i].len);
		}
		a->addresses = xstrndup(b.data != NULL ? b.data : "", b.len);
		sieve_strlist_free(&l);
	}
	buf_deinit(&b);
	return err;
}

static void
apply_modifiers(const struct sieve_node *n, struct buf *v)
{
	char *p = v->len > 0 ? v->data : NULL;

	if (p != NULL && (has_tag(n, SIEVE_TAG_LOWER) || has_tag(n, SIEVE_TAG_UPPER)))
		for (size_t i = 0; i < v->len; i++)
			p[i] = (char)(has_tag(n, SIEVE_TAG_LOWER) ? tolower((unsigned char)p[i]) :
			    toupper((unsigned char)p[i]));
	if (p != NULL && has_tag(n, SIEVE_TAG_LOWERFIRST))
		p[0] = (char)tolower((unsigned char)p[0]);
	if (p != NULL && has_tag(n, SIEVE_TAG_UPPERFIRST))
		p[0] = (char)toupper((unsigned char)p[0]);
	if (has_tag(n, SIEVE_TAG_QUOTEWILDCARD) || has_tag(n, SIEVE_TAG_QUOTEREGEX)) {
		const char *special = has_tag(n, SIEVE_TAG_QUOTEWILDCARD) ? "*?\\" :
		    "*?\\.+^$|()[]{}";
		struct buf q;

		buf_init(&q, v->max);
		for (size_t i = 0; i < v->len; i++) {
			if (strchr(special, v->data[i]) != NULL)
				(void)buf_append_c(&q, '\\');
			(void)buf_append_c(&q, v->data[i]);
		}
		buf_reset(v);
		(void)buf_append(v, q.data != NULL ? q.data : "", q.len);
		buf_deinit(&q);
	}
	if (has_tag(n, SIEVE_TAG_LENGTH)) {
		size_t chars = 0;

		for (size_t i = 0; i < v->len;) {
			size_t l = mail_utf8_next((const unsigned char *)v->data + i, v->len - i,
			    NULL);

			i += l == 0 ? 1 : l;
			chars++;
		}
		buf_reset(v);
		buf_appendf(v, "%zu", chars);
	}
}

static int
cmd_set(struct sieve_run *x, const struct sieve_node *n)
{
	struct buf v;
	size_t nlen;
	const char *name = sieve_arg_str(x->s, &x->s->args[n->pos[0]], 0, &nlen);
	int ret;

	buf_init(&v, SIEVE_EXPAND_MAX);
	ret = sieve_arg_string(x, n->pos[1], &v);
	if (ret == 0) {
		apply_modifiers(n, &v);
		ret = sieve_var_set(x, name, nlen, v.data != NULL ? v.data : "", v.len);
	}
	buf_deinit(&v);
	return ret;
}

/* setflag / addflag / removeflag, on the internal variable or a named one. */
static int
cmd_flag(struct sieve_run *x, const struct sieve_node *n)
{
	struct sieve_strlist l = { 0 };
	struct buf *target = &x->flags, tmp;
	int ret;

	if (n->pos[0] != SIEVE_NONE) {
		size_t nlen;
		const char *name = sieve_arg_str(x->s, &x->s->args[n->pos[0]], 0, &nlen);

		target = sieve_var_get(x, name, nlen, true);
		if (target == NULL)
			return sieve_run_error(x, "too many variables (limit %u)",
			    x->lim->vars_max);
	}
	ret = sieve_arg_strings(x, n->pos[1], &l);
	if (ret == 0) {
		buf_init(&tmp, target->max);
		if (n->id != SIEVE_CMD_SETFLAG)
			(void)buf_append(&tmp, target->data != NULL ? target->data : "",
			    target->len);
		ret = flags_edit(x, &tmp, &l, n->id != SIEVE_CMD_REMOVEFLAG);
		buf_reset(target);
		(void)buf_append(target, tmp.data != NULL ? tmp.data : "", tmp.len);
		buf_deinit(&tmp);
	}
	sieve_strlist_free(&l);
	return ret;
}

/* RFC 5322 §3.6.8 field name: printable ASCII except ':'. */
static bool
valid_field_name(const char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127 || p[i] == ':')
			return false;
	return true;
}

static int
cmd_addheader(struct sieve_run *x, const struct sieve_node *n)
{
	struct buf name, value;
	struct sieve_action *a;
	int ret;

	buf_init(&name, SIEVE_EXPAND_MAX);
	buf_init(&value, SIEVE_EXPAND_MAX);
	ret = sieve_arg_string(x, n->pos[0], &name);
	if (ret == 0)
		ret = sieve_arg_string(x, n->pos[1], &value);
	if (ret == 0 && !valid_field_name(name.data, name.len))
		ret = sieve_run_error(x, "addheader: invalid field name");
	/* RFC 5293 §4: the value is unstructured text; no line breaks of its own */
	if (ret == 0 && value.len > 0 && (memchr(value.data, '\r', value.len) != NULL ||
	    memchr(value.data, '\n', value.len) != NULL || memchr(value.data, '\0', value.len)))
		ret = sieve_run_error(x, "addheader: invalid field value");
	if (ret == 0 && ++x->edits > SIEVE_EDITS_MAX)
		ret = sieve_run_error(x, "too many header edits (limit %u)", SIEVE_EDITS_MAX);
	if (ret == 0)
		ret = sieve_msg_add(x, name.data, value.data != NULL ? value.data : "",
		    has_tag(n, SIEVE_TAG_LAST));
	if (ret == 0) {
		a = act_new(x, SIEVE_ACT_ADDHEADER);
		a->target = xstrdup(name.data);
		a->text = xstrdup(value.data != NULL ? value.data : "");
		a->last = has_tag(n, SIEVE_TAG_LAST);
	}
	buf_deinit(&name);
	buf_deinit(&value);
	return ret;
}

static int
cmd_deleteheader(struct sieve_run *x, const struct sieve_node *n)
{
	struct sieve_strlist pats = { 0 };
	struct buf name;
	struct sieve_action *a;
	unsigned count;
	int ret, err = 0;

	buf_init(&name, SIEVE_EXPAND_MAX);
	ret = sieve_arg_string(x, n->pos[0], &name);
	if (ret == 0)
		ret = sieve_arg_strings(x, n->pos[1], &pats);
	if (ret == 0 && !valid_field_name(name.data, name.len))
		ret = sieve_run_error(x, "deleteheader: invalid field name");
	if (ret == 0 && ++x->edits > SIEVE_EDITS_MAX)
		ret = sieve_run_error(x, "too many header edits (limit %u)", SIEVE_EDITS_MAX);
	if (ret == 0) {
		count = sieve_msg_delete(x, n, name.data, &pats, &err);
		ret = err;
		if (ret == 0 && count > 0) {
			a = act_new(x, SIEVE_ACT_DELETEHEADER);
			a->target = xstrdup(name.data);
			a->count = count;
		}
	}
	sieve_strlist_free(&pats);
	buf_deinit(&name);
	return ret;
}

/* ---- include (RFC 6609) ---- */

static void
vars_free(struct sieve_var *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(v[i].name);
		buf_deinit(&v[i].val);
	}
	free(v);
}

static void
names_free(char **names, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* `global "a"`: later references to a in this script are to the global a (§3.3). */
static int
cmd_global(struct sieve_run *x, const struct sieve_node *n)
{
	const struct sieve_arg *a = &x->s->args[n->pos[0]];

	for (uint32_t i = 0; i < a->str_count; i++) {
		size_t len;
		const char *name = sieve_arg_str(x->s, a, i, &len);
		bool known = false;

		for (unsigned k = 0; k < x->ngnames && !known; k++)
			known = mem_ieq(name, len, x->gnames[k]);
		if (known)
			continue;
		if (x->ngnames >= x->lim->vars_max)
			return sieve_run_error(x, "too many variables (limit %u)", x->lim->vars_max);
		x->gnames = xreallocarray(x->gnames, x->ngnames + 1, sizeof(*x->gnames));
		x->gnames[x->ngnames++] = xstrndup(name, len);
	}
	return 0;
}

/* The script to include: its index in x->incs, or -1 (error set), or -2 (skip it). */
static long
include_find(struct sieve_run *x, const struct sieve_node *n, const char *name, bool global)
{
	const struct sieve_script *s;
	char err[SIEVE_ERROR_TEXT_MAX] = "";
	bool exists = false;

	for (unsigned i = 0; i < x->nincs; i++) {
		struct sieve_inc *inc = &x->incs[i];

		if (inc->global != global || strcmp(inc->name, name) != 0)
			continue;
		if (inc->active)
			return sieve_run_error(x, "include: script '%s' includes itself", name);
		return has_tag(n, SIEVE_TAG_ONCE) ? -2 : (long)i;
	}
	s = x->env->include == NULL ? NULL :
	    x->env->include(x->env->include_ctx, global, name, &exists, err,
	    sizeof(err));
	if (s == NULL && !exists && has_tag(n, SIEVE_TAG_OPTIONAL))
		return -2;	/* RFC 6609 §3.2 :optional */
	if (s == NULL)
		return sieve_run_error(x, "include: %s script '%s' %s", global ? "global" :
		    "personal", name, exists ? err : "not found");
	x->incs = xreallocarray(x->incs, x->nincs + 1, sizeof(*x->incs));
	x->incs[x->nincs] = (struct sieve_inc){ .s = s, .global = global,
	    .name = xstrdup(name) };
	return (long)x->nincs++;
}

static int run_block(struct sieve_run *x, uint32_t first, unsigned depth);

static int
cmd_include(struct sieve_run *x, const struct sieve_node *n)
{
	size_t len;
	const char *name = sieve_arg_str(x->s, &x->s->args[n->pos[0]], 0, &len);
	long i = include_find(x, n, name, has_tag(n, SIEVE_TAG_GLOBAL));
	const struct sieve_script *saved_s = x->s;
	struct sieve_var *saved_vars = x->vars;
	char **saved_gnames = x->gnames;
	unsigned saved_nvars = x->nvars, saved_ngnames = x->ngnames;
	bool saved_variables = x->variables;
	int r;

	if (i == -2)
		return 0;
	if (i < 0)
		return -1;
	if (++x->includes > x->lim->includes_max)
		return sieve_run_error(x, "too many includes (limit %u)", x->lim->includes_max);
	if (x->depth + 1 > x->lim->include_depth_max)
		return sieve_run_error(x, "includes nested too deeply (limit %u)",
		    x->lim->include_depth_max);
	/* the included script has its own variables, globals aside (§3.3) */
	x->s = x->incs[i].s;
	x->variables = (x->s->requires & (1u << SIEVE_CAP_VARIABLES)) != 0;
	x->vars = NULL;
	x->nvars = 0;
	x->gnames = NULL;
	x->ngnames = 0;
	x->depth++;
	x->incs[i].active = true;
	r = run_block(x, x->s->first, 0);
	x->incs[i].active = false;
	x->depth--;
	vars_free(x->vars, x->nvars);
	names_free(x->gnames, x->ngnames);
	x->s = saved_s;
	x->variables = saved_variables;
	x->vars = saved_vars;
	x->nvars = saved_nvars;
	x->gnames = saved_gnames;
	x->ngnames = saved_ngnames;
	x->line = n->line;
	/* stop ends everything; return only the included script (§3.2, §3.4) */
	return r == 2 ? 0 : r;
}

/* ---- tests ---- */

static int eval_test(struct sieve_run *x, uint32_t ti, unsigned depth);

static int
test_list(struct sieve_run *x, const struct sieve_node *n, bool all, unsigned depth)
{
	for (uint32_t t = n->test_first; t != SIEVE_NONE; t = x->s->nodes[t].next) {
		int r = eval_test(x, t, depth + 1);

		if (r < 0)
			return -1;
		if (r != all)
			return r;
	}
	return all;
}

/* Values of the header / address / envelope / date / ... test n, by its kind. */
static int
test_values(struct sieve_run *x, const struct sieve_node *n, struct sieve_strlist *vals)
{
	struct sieve_strlist names = { 0 };
	int ret = sieve_arg_strings(x, n->pos[0], &names);

	for (unsigned i = 0; i < names.n && ret == 0; i++) {
		const char *nm = names.v[i].p;

		switch (n->id) {
		case SIEVE_TEST_HEADER:
			ret = sieve_msg_header_values(x, n, nm, true, vals);
			break;
		case SIEVE_TEST_ADDRESS:
			ret = sieve_msg_address_values(x, n, nm, vals);
			break;
		case SIEVE_TEST_ENVELOPE:
			/* "from" / "to" (RFC 5228 §5.4); others have no value here */
			if (str_ieq(nm, "from") && x->env->env_from != NULL)
				sieve_msg_addr_part(n, x->env->env_from,
				    strlen(x->env->env_from), vals);
			else if (str_ieq(nm, "to") && x->env->env_to != NULL)
				sieve_msg_addr_part(n, x->env->env_to, strlen(x->env->env_to),
				    vals);
			break;
		case SIEVE_TEST_STRING:
			/* :count counts the non-empty strings (RFC 5229 §5) */
			if (n->match != SIEVE_MATCH_COUNT || names.v[i].len > 0)
				sieve_strlist_add(vals, nm, names.v[i].len);
			break;
		case SIEVE_TEST_HASFLAG: {
			struct buf *v = sieve_var_get(x, nm, names.v[i].len, false);

			if (v != NULL)
				ret = flags_values(x, v, vals);
			break;
		}
		default:
			break;
		}
	}
	sieve_strlist_free(&names);
	return ret;
}

static const char *
env_item(struct sieve_run *x, const char *name)
{
	const struct sieve_exec_env *e = x->env;

	/* RFC 5183 §4 */
	if (str_ieq(name, "domain"))
		return e->domain;
	if (str_ieq(name, "host"))
		return e->host;
	if (str_ieq(name, "location"))
		return "MDA";
	if (str_ieq(name, "name"))
		return "buzon";
	if (str_ieq(name, "phase"))
		return "during";
	if (str_ieq(name, "remote-host"))
		return e->remote_host;
	if (str_ieq(name, "remote-ip"))
		return e->remote_ip;
	if (str_ieq(name, "version"))
		return "1.0";
	return NULL;
}

/* The :zone offset "+hhmm" / "-hhmm" in minutes; false if malformed (RFC 5260 §4.1). */
static bool
parse_zone(const char *z, size_t len, int *zone_r)
{
	int h, m;

	if (len != 5 || (z[0] != '+' && z[0] != '-'))
		return false;
	for (int i = 1; i < 5; i++)
		if (!isdigit((unsigned char)z[i]))
			return false;
	h = (z[1] - '0') * 10 + (z[2] - '0');
	m = (z[3] - '0') * 10 + (z[4] - '0');
	if (h > 23 || m > 59)
		return false;
	*zone_r = (z[0] == '-' ? -1 : 1) * (h * 60 + m);
	return true;
}

static int
date_values(struct sieve_run *x, const struct sieve_node *n, struct sieve_strlist *vals)
{
	bool current = n->id == SIEVE_TEST_CURRENTDATE;
	struct buf part, zone, out;
	struct sieve_strlist hv = { 0 };
	int ret, z = x->env->zone_min;
	time_t t = x->env->now;
	bool ok = true;

	buf_init(&part, SIEVE_EXPAND_MAX);
	buf_init(&zone, SIEVE_EXPAND_MAX);
	buf_init(&out, 256);
	ret = sieve_arg_string(x, n->pos[current ? 0 : 1], &part);
	if (ret == 0 && has_tag(n, SIEVE_TAG_ZONE)) {
		ret = sieve_arg_string(x, tag_ai(x, n, SIEVE_TAG_ZONE), &zone);
		/* a malformed zone is ignored (RFC 5260 §4.1 says so for the warning case) */
		if (ret == 0 && !parse_zone(zone.data, zone.len, &z))
			z = x->env->zone_min;
	}
	if (ret == 0 && !current) {
		struct buf name;
		int hz = 0;

		buf_init(&name, SIEVE_EXPAND_MAX);
		ret = sieve_arg_string(x, n->pos[0], &name);
		if (ret == 0)
			ret = sieve_msg_header_values(x, n, name.data != NULL ? name.data : "",
			    false, &hv);
		buf_deinit(&name);
		/* the first field (or the :index one) is the date (RFC 5260 §4) */
		ok = ret == 0 && hv.n > 0 && sieve_msg_parse_date(hv.v[0].p, hv.v[0].len, &t,
		    &hz);
		if (ok && has_tag(n, SIEVE_TAG_ORIGINALZONE))
			z = hz;
	}
	if (ret == 0 && ok && sieve_msg_date_part(t, z, part.data != NULL ? part.data : "",
	    &out))
		sieve_strlist_add(vals, out.data, out.len);
	sieve_strlist_free(&hv);
	buf_deinit(&part);
	buf_deinit(&zone);
	buf_deinit(&out);
	return ret;
}

static int
test_duplicate(struct sieve_run *x, const struct sieve_node *n)
{
	struct buf handle, id;
	struct sieve_strlist hv = { 0 };
	const struct sieve_arg *sec = tag_arg(x, n, SIEVE_TAG_SECONDS);
	int ret;

	buf_init(&handle, SIEVE_EXPAND_MAX);
	buf_init(&id, SIEVE_EXPAND_MAX);
	ret = sieve_arg_string(x, tag_ai(x, n, SIEVE_TAG_HANDLE), &handle);
	if (ret == 0 && has_tag(n, SIEVE_TAG_UNIQUEID)) {
		ret = sieve_arg_string(x, tag_ai(x, n, SIEVE_TAG_UNIQUEID), &id);
	} else if (ret == 0) {
		struct buf name;

		buf_init(&name, SIEVE_EXPAND_MAX);
		ret = sieve_arg_string(x, tag_ai(x, n, SIEVE_TAG_HEADER), &name);
		if (ret == 0)
			ret = sieve_msg_header_values(x, n, has_tag(n, SIEVE_TAG_HEADER) ?
			    name.data : "message-id", false, &hv);
		if (ret == 0 && hv.n > 0)
			(void)buf_append(&id, hv.v[0].p, hv.v[0].len);
		buf_deinit(&name);
		/* no such field: never a duplicate (RFC 7352 §3.1) */
		if (hv.n == 0)
			ret = ret < 0 ? -1 : 2;
	}
	if (ret == 0)
		ret = x->env->duplicate == NULL ? 0 : x->env->duplicate(x->env->ctx,
		    handle.data != NULL ? handle.data : "", id.data != NULL ? id.data : "",
		    id.len, sec != NULL ? sec->number : 14 * (uint64_t)SIEVE_DAY,
		    has_tag(n, SIEVE_TAG_LAST)) == 1;
	else if (ret == 2)
		ret = 0;
	sieve_strlist_free(&hv);
	buf_deinit(&handle);
	buf_deinit(&id);
	return ret;
}

static int
test_mailboxexists(struct sieve_run *x, const struct sieve_node *n)
{
	struct sieve_strlist l = { 0 };
	int ret = sieve_arg_strings(x, n->pos[0], &l);

	for (unsigned i = 0; i < l.n && ret == 0; i++) {
		int e = x->env->mailbox_exists != NULL ?
		    x->env->mailbox_exists(x->env->ctx, l.v[i].p) : is_inbox(l.v[i].p);

		if (e != 1)
			ret = 2;
	}
	sieve_strlist_free(&l);
	return ret < 0 ? -1 : ret == 0;
}

static int
test_exists(struct sieve_run *x, const struct sieve_node *n)
{
	struct sieve_strlist l = { 0 }, v = { 0 };
	int ret = sieve_arg_strings(x, n->pos[0], &l), all = 1;

	for (unsigned i = 0; i < l.n && ret == 0 && all; i++) {
		sieve_strlist_free(&v);
		ret = sieve_msg_header_values(x, n, l.v[i].p, false, &v);
		all = v.n > 0;
	}
	sieve_strlist_free(&l);
	sieve_strlist_free(&v);
	return ret < 0 ? -1 : all;
}

/* Tests that compare values with a key list: collect values, then match. */
static int
test_match(struct sieve_run *x, const struct sieve_node *n)
{
	struct sieve_strlist vals = { 0 }, keys = { 0 }, aux = { 0 };
	uint32_t key_ai;
	int ret = 0;

	switch (n->id) {
	case SIEVE_TEST_BODY:
		key_ai = n->pos[0];
		if (has_tag(n, SIEVE_TAG_CONTENT))
			ret = sieve_arg_strings(x, tag_ai(x, n, SIEVE_TAG_CONTENT), &aux);
		if (ret == 0)
			ret = sieve_msg_body_values(x, n, &aux, &vals);
		break;
	case SIEVE_TEST_ENVIRONMENT: {
		struct buf name;
		const char *v;

		key_ai = n->pos[1];
		buf_init(&name, SIEVE_EXPAND_MAX);
		ret = sieve_arg_string(x, n->pos[0], &name);
		v = ret == 0 ? env_item(x, name.data != NULL ? name.data : "") : NULL;
		if (v != NULL)
			sieve_strlist_add(&vals, v, strlen(v));
		buf_deinit(&name);
		break;
	}
	case SIEVE_TEST_DATE:
		key_ai = n->pos[2];
		ret = date_values(x, n, &vals);
		break;
	case SIEVE_TEST_CURRENTDATE:
		key_ai = n->pos[1];
		ret = date_values(x, n, &vals);
		break;
	case SIEVE_TEST_HASFLAG:
		key_ai = n->pos[1];
		if (n->pos[0] == SIEVE_NONE)
			ret = flags_values(x, &x->flags, &vals);
		else
			ret = test_values(x, n, &vals);
		break;
	default:
		key_ai = n->pos[1];
		ret = test_values(x, n, &vals);
		break;
	}
	if (ret == 0)
		ret = sieve_arg_strings(x, key_ai, &keys);
	if (ret == 0 && n->id == SIEVE_TEST_HASFLAG) {
		struct buf all;

		/* the keys are flag lists too (RFC 5232 §5) */
		buf_init(&all, SIEVE_EXPAND_MAX);
		ret = flags_edit(x, &all, &keys, true);
		sieve_strlist_free(&keys);
		if (ret == 0)
			ret = flags_values(x, &all, &keys);
		buf_deinit(&all);
	}
	if (ret == 0)
		ret = sieve_match_values(x, n, &vals, &keys);
	sieve_strlist_free(&vals);
	sieve_strlist_free(&keys);
	sieve_strlist_free(&aux);
	return ret;
}

static int
eval_test(struct sieve_run *x, uint32_t ti, unsigned depth)
{
	const struct sieve_node *n = &x->s->nodes[ti];
	int r;

	if (depth > SIEVE_RUN_DEPTH)
		return sieve_run_error(x, "tests nested too deeply");
	if (sieve_run_step(x) < 0)
		return -1;
	switch (n->id) {
	case SIEVE_TEST_TRUE:
		return 1;
	case SIEVE_TEST_FALSE:
		return 0;
	case SIEVE_TEST_NOT:
		r = eval_test(x, n->test_first, depth + 1);
		return r < 0 ? -1 : !r;
	case SIEVE_TEST_ALLOF:
		return test_list(x, n, true, depth);
	case SIEVE_TEST_ANYOF:
		return test_list(x, n, false, depth);
	case SIEVE_TEST_SIZE: {
		uint64_t limit = x->s->args[n->pos[0]].number, size = x->env->msg_len;

		return has_tag(n, SIEVE_TAG_OVER) ? size > limit : size < limit;
	}
	case SIEVE_TEST_EXISTS:
		return test_exists(x, n);
	case SIEVE_TEST_MAILBOXEXISTS:
		return test_mailboxexists(x, n);
	case SIEVE_TEST_DUPLICATE:
		return test_duplicate(x, n);
	default:
		return test_match(x, n);
	}
}

/* ---- control (RFC 5228 §3) ---- */

/* 2: return, 1: stop, 0: go on, -1: error. */
static int
run_command(struct sieve_run *x, const struct sieve_node *n)
{
	switch (n->id) {
	case SIEVE_CMD_REQUIRE:
		return 0;
	case SIEVE_CMD_GLOBAL:
		return cmd_global(x, n);
	case SIEVE_CMD_STOP:
		return 1;
	case SIEVE_CMD_RETURN:
		return 2;
	case SIEVE_CMD_KEEP:
	case SIEVE_CMD_FILEINTO:
		return cmd_store(x, n);
	case SIEVE_CMD_DISCARD:
		return cmd_discard(x);
	case SIEVE_CMD_REDIRECT:
		return cmd_redirect(x, n);
	case SIEVE_CMD_REJECT:
	case SIEVE_CMD_EREJECT:
		return cmd_reject(x, n);
	case SIEVE_CMD_VACATION:
		return cmd_vacation(x, n);
	case SIEVE_CMD_SET:
		return cmd_set(x, n);
	case SIEVE_CMD_SETFLAG:
	case SIEVE_CMD_ADDFLAG:
	case SIEVE_CMD_REMOVEFLAG:
		return cmd_flag(x, n);
	case SIEVE_CMD_ADDHEADER:
		return cmd_addheader(x, n);
	case SIEVE_CMD_DELETEHEADER:
		return cmd_deleteheader(x, n);
	case SIEVE_CMD_INCLUDE:
		return cmd_include(x, n);
	default:
		return sieve_run_error(x, "command '%s' cannot be executed",
		    sieve_id_name((enum sieve_id)n->id));
	}
}

static int
run_block(struct sieve_run *x, uint32_t first, unsigned depth)
{
	bool chain_taken = false;

	if (depth > SIEVE_RUN_DEPTH)
		return sieve_run_error(x, "blocks nested too deeply");
	for (uint32_t i = first; i != SIEVE_NONE; i = x->s->nodes[i].next) {
		const struct sieve_node *n = &x->s->nodes[i];
		int r = 0;

		x->line = n->line;
		if (sieve_run_step(x) < 0)
			return -1;
		if (n->id == SIEVE_CMD_IF || n->id == SIEVE_CMD_ELSIF ||
		    n->id == SIEVE_CMD_ELSE) {
			if (n->id == SIEVE_CMD_IF)
				chain_taken = false;
			if (chain_taken)
				continue;
			r = n->id == SIEVE_CMD_ELSE ? 1 : eval_test(x, n->test_first, depth + 1);
			if (r < 0)
				return -1;
			if (r == 0)
				continue;
			chain_taken = true;
			r = run_block(x, n->block_first, depth + 1);
		} else {
			r = run_command(x, n);
		}
		if (r != 0)
			return r;
	}
	return 0;
}

static void
result_clear(struct sieve_result *r)
{
	for (unsigned i = 0; i < r->count; i++)
		act_free(&r->actions[i]);
	r->count = 0;
	free(r->header);
	r->header = NULL;
	r->header_len = 0;
}

static void
run_deinit(struct sieve_run *x)
{
	vars_free(x->vars, x->nvars);
	vars_free(x->gvars, x->ngvars);
	names_free(x->gnames, x->ngnames);
	for (unsigned i = 0; i < x->nincs; i++)
		free(x->incs[i].name);
	free(x->incs);
	for (unsigned i = 0; i < SIEVE_MATCH_VARS; i++)
		buf_deinit(&x->match[i]);
	buf_deinit(&x->flags);
	sieve_msg_deinit(x);
}

int
sieve_execute(const struct sieve_script *s, const struct sieve_exec_env *env,
    const struct sieve_exec_limits *lim, struct sieve_result *r)
{
	struct sieve_run x = {
		.s = s, .env = env, .lim = lim, .r = r, .implicit_keep = true,
		.variables = (s->requires & (1u << SIEVE_CAP_VARIABLES)) != 0,
	};
	struct sieve_action *a;

	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < SIEVE_MATCH_VARS; i++)
		buf_init(&x.match[i], lim->var_max);
	buf_init(&x.flags, lim->var_max);
	/* scripts run in sequence share the imap4flags internal variable (as Pigeonhole) */
	if (env->flags_init != NULL)
		(void)buf_append(&x.flags, env->flags_init,
		    MIN(strlen(env->flags_init), lim->var_max));
	sieve_msg_init(&x);
	if (run_block(&x, s->first, 0) < 0 || x.failed) {
		/* RFC 5228 §2.10.6: a run-time error cancels everything but implicit keep */
		result_clear(r);
		r->failed = true;
		x.implicit_keep = true;
		buf_reset(&x.flags);
	}
	if (x.implicit_keep) {
		a = act_new(&x, SIEVE_ACT_KEEP);
		a->implicit = true;
		if (x.flags.len > 0)
			a->flags = xstrndup(x.flags.data, x.flags.len);
	}
	if (!r->failed && x.flags.len > 0)
		r->flags_end = xstrndup(x.flags.data, x.flags.len);
	if (!r->failed)
		sieve_msg_write_header(&x);
	run_deinit(&x);
	return r->failed ? -1 : 0;
}

void
sieve_result_deinit(struct sieve_result *r)
{
	result_clear(r);
	free(r->actions);
	r->actions = NULL;
	free(r->flags_end);
	r->flags_end = NULL;
}
