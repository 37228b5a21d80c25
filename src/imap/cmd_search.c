/*
 * cmd_search.c — SEARCH and UID SEARCH (RFC 3501 §6.4.4) with ESEARCH results (RFC
 * 4731 RETURN MIN MAX COUNT ALL). Flag, size, date, UID and sequence keys use the
 * store's records; header and text keys open the message through the parsed-message
 * cache only when such a key is reached. Text matching is i;unicode-casemap substring
 * matching (src/mail/search.h), bounded per message.
 */
#include "imap/imap_local.h"
#include "imap/imap_search_parse.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/search.h"

struct search_ctx {
	struct imap_client *client;
	struct imap_view *view;
	size_t idx;			/* view index of the message */
	/*
	 * A copy: opening the message may rescan the folder, which invalidates pointers
	 * into the store's message array.
	 */
	struct mbox_msg msgcopy;
	const struct mbox_msg *m;	/* == &msgcopy */
	struct imap_cached_msg *msg;	/* loaded on demand */
	bool load_failed;
	bool error;
};

static void
free_matcher(void *p)
{
	struct mail_search_key *k = p;

	mail_search_key_destroy(&k);
}

static const struct mail_message *
ctx_message(struct search_ctx *s)
{
	enum store_status st;

	if (s->msg == NULL && !s->load_failed) {
		st = imap_msgcache_get(s->client->user->cache, s->view->mbox, s->m->uid, &s->msg);
		if (st != STORE_OK) {
			s->load_failed = true;
			if (st != STORE_EXPUNGED)
				s->error = true;
		}
	}
	return s->msg != NULL ? imap_cached_msg_parse(s->msg) : NULL;
}

static struct mail_search_key *
key_matcher(struct imap_search_key *k)
{
	if (k->matcher == NULL)
		k->matcher = mail_search_key_create(k->str, k->str_len);
	return k->matcher;
}

/* Day (days since the epoch) of t in zone tz_min. */
static int64_t
day_of(time_t t, int tz_min)
{
	int64_t x = (int64_t)t + (int64_t)tz_min * 60;

	return x >= 0 ? x / 86400 : -((-x + 86399) / 86400);
}

static int
cmp_day(int64_t msg_day, time_t key)
{
	int64_t k = day_of(key, 0);

	return msg_day < k ? -1 : msg_day > k ? 1 : 0;
}

static bool
sent_day(struct search_ctx *s, int64_t *day_r)
{
	const struct mail_message *m = ctx_message(s);
	char *v;
	time_t t;
	int tz;
	bool ok = false;

	if (m == NULL)
		return false;
	v = mail_header_get(m->data + m->root->hdr_off, m->root->hdr_len, "Date");
	if (v != NULL && mail_date_parse(v, strlen(v), &t, &tz) == 0) {
		/* RFC 3501: disregarding time and timezone: the date as written */
		*day_r = day_of(t, tz);
		ok = true;
	}
	free(v);
	return ok;
}

static bool
eval(struct search_ctx *s, struct imap_search_key *k)
{
	const struct mbox_msg *m = s->m;
	const struct imap_view_msg *vm = &s->view->msgs[s->idx];
	const struct mail_message *msg;
	struct imap_search_key *c;
	int64_t day;
	int idx;

	switch (k->type) {
	case SEARCH_ALL:
		return true;
	case SEARCH_AND:
		for (c = k->child; c != NULL; c = c->next)
			if (!eval(s, c))
				return false;
		return true;
	case SEARCH_OR:
		return eval(s, k->child) || eval(s, k->child->next);
	case SEARCH_NOT:
		return !eval(s, k->child);
	case SEARCH_SEQSET:
		return seqset_contains(k->set, (uint32_t)s->idx + 1);
	case SEARCH_UIDSET:
		return seqset_contains(k->set, m->uid);
	case SEARCH_FLAG:
		return (m->flags & k->flag) != 0;
	case SEARCH_KEYWORD:
		idx = mbox_keyword_lookup(s->view->mbox, k->str);
		return idx >= 0 && (m->keywords & (1u << idx)) != 0;
	case SEARCH_RECENT:
		return vm->recent;
	case SEARCH_NEW:
		return vm->recent && !(m->flags & MBOX_FLAG_SEEN);
	case SEARCH_OLD:
		return !vm->recent;
	case SEARCH_LARGER:
		return m->vsize != MBOX_SIZE_UNKNOWN && m->vsize > k->number;
	case SEARCH_SMALLER:
		return m->vsize != MBOX_SIZE_UNKNOWN && m->vsize < k->number;
	case SEARCH_BEFORE:
		return cmp_day(day_of(m->internaldate, 0), k->date) < 0;
	case SEARCH_ON:
		return cmp_day(day_of(m->internaldate, 0), k->date) == 0;
	case SEARCH_SINCE:
		return cmp_day(day_of(m->internaldate, 0), k->date) >= 0;
	case SEARCH_SENTBEFORE:
		return sent_day(s, &day) && cmp_day(day, k->date) < 0;
	case SEARCH_SENTON:
		return sent_day(s, &day) && cmp_day(day, k->date) == 0;
	case SEARCH_SENTSINCE:
		return sent_day(s, &day) && cmp_day(day, k->date) >= 0;
	case SEARCH_HEADER:
		msg = ctx_message(s);
		return msg != NULL && mail_search_header(key_matcher(k), msg, NULL, k->field);
	case SEARCH_BODY:
		msg = ctx_message(s);
		return msg != NULL && mail_search_body(key_matcher(k), msg, false);
	case SEARCH_TEXT:
		msg = ctx_message(s);
		return msg != NULL && mail_search_body(key_matcher(k), msg, true);
	}
	return false;
}

static void
resolve_sets(struct imap_search_key *k, struct imap_view *v)
{
	uint32_t max_uid = v->count > 0 ? v->msgs[v->count - 1].uid : 0;

	for (; k != NULL; k = k->next) {
		if (k->type == SEARCH_SEQSET)
			seqset_resolve(k->set, (uint32_t)v->count);
		else if (k->type == SEARCH_UIDSET)
			seqset_resolve(k->set, max_uid);
		resolve_sets(k->child, v);
	}
}

int
cmd_search(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct imap_view *v = c->view;
	struct imap_search_program *prog = NULL;
	const char *err = NULL;
	struct search_ctx s;
	struct seqset *hits;
	struct buf out;
	size_t i;
	uint64_t count = 0;
	uint32_t min = 0, max = 0;
	bool error = false;

	switch (imap_search_parse(cmd->args, cmd->argc, &prog, &err)) {
	case IMAP_SEARCH_OK:
		break;
	case IMAP_SEARCH_BADCHARSET:
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
	case IMAP_SEARCH_BAD:
	default:
		return imap_cmd_bad(cmd, "%s", err != NULL ? err : "Invalid search");
	}
	resolve_sets(prog->root, v);
	hits = seqset_create();
	buf_init(&out, IMAP_RESP_MAX);
	(void)buf_append_str(&out, "* SEARCH");
	for (i = 0; i < v->count; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		const struct mbox_msg *m;
		uint32_t id;

		if (vm->expunged)
			continue;
		m = mbox_lookup(v->mbox, vm->uid, NULL);
		if (m == NULL)
			continue;
		if (m->vsize == MBOX_SIZE_UNKNOWN || m->internaldate == 0) {
			if (mbox_msg_info(v->mbox, vm->uid, &m) != STORE_OK)
				continue;
		}
		memset(&s, 0, sizeof(s));
		s.client = c;
		s.view = v;
		s.idx = i;
		s.msgcopy = *m;
		s.msgcopy.filename = NULL;
		s.m = &s.msgcopy;
		if (eval(&s, prog->root)) {
			id = cmd->uid ? s.msgcopy.uid : (uint32_t)i + 1;
			if (count == 0)
				min = id;
			max = id;
			count++;
			if (prog->esearch)
				(void)seqset_add_range(hits, id, id);
			else if (buf_appendf(&out, " %u", id) < 0)
				error = true;
		}
		if (s.error)
			error = true;
		if (s.msg != NULL)
			imap_msgcache_release(c->user->cache, &s.msg);
	}
	if (prog->esearch) {
		buf_reset(&out);
		(void)buf_appendf(&out, "* ESEARCH (TAG \"%s\")%s", cmd->tag, cmd->uid ? " UID" : "");
		if ((prog->return_opts & SEARCH_RETURN_MIN) && count > 0)
			(void)buf_appendf(&out, " MIN %u", min);
		if ((prog->return_opts & SEARCH_RETURN_MAX) && count > 0)
			(void)buf_appendf(&out, " MAX %u", max);
		if (prog->return_opts & SEARCH_RETURN_COUNT)
			(void)buf_appendf(&out, " COUNT %llu", (unsigned long long)count);
		if ((prog->return_opts & SEARCH_RETURN_ALL) && count > 0) {
			(void)buf_append_str(&out, " ALL ");
			if (seqset_format(hits, &out) < 0)
				error = true;
		}
	}
	(void)buf_append_str(&out, "\r\n");
	imap_client_write(c, out.data, out.len);
	buf_deinit(&out);
	seqset_destroy(&hits);
	imap_search_program_free(&prog, free_matcher);
	if (error)
		return imap_cmd_no(cmd, "[SERVERBUG] Internal error while searching");
	return imap_cmd_ok(cmd, "Search completed.");
}
