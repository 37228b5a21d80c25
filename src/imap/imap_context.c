/*
 * imap_context.c — RFC 5267 §4.3 updating search results (CONTEXT=SEARCH,
 * CONTEXT=SORT): a SEARCH or SORT with RETURN (UPDATE) leaves its program and its
 * result with the session's view of the selected mailbox, and when the view sends its
 * updates (imap_view_send_updates, at the points where EXPUNGE and EXISTS may go out)
 * the messages that changed are evaluated again, one by one, and the differences go to
 * the client as "* ESEARCH (TAG ...) ADDTO / REMOVEFROM". Expunged members are removed
 * just before the EXPUNGE responses (while their sequence numbers still hold), new
 * messages added just after EXISTS, flag and keyword changes after the FETCH FLAGS
 * updates. A SEARCH result is its UIDs in ascending order (positions are 0); a SORT
 * result keeps the hits' sort keys (cmd_search.c) and their item numbers in sort order,
 * so a message's position is found by binary search. The changes of one pass are
 * applied in one pass over a result (removals from the highest position down, then
 * additions from the lowest final position up), so a mass STORE or EXPUNGE costs what
 * one pass costs. Runs in the per-user mail
 * process; memory: at most IMAP_CONTEXT_MAX contexts per session, each at most the
 * folder's messages, SORT keys at most IMAP_CONTEXT_BYTES_MAX per session.
 */
#include "imap/imap_context.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>

#define CONTEXT_LINE_FLUSH	(64 * 1024)	/* start another ESEARCH line past this */

struct ctx_member {
	uint32_t uid, item;
};

struct imap_context {
	struct imap_context *next;
	char *tag;
	bool uid;			/* UID SEARCH/SORT: UIDs, else sequence numbers */
	struct imap_search_program *prog;
	struct sort_run *sort;		/* SORT: the members' keys; NULL: SEARCH */
	/* SEARCH: member UIDs ascending; SORT: item numbers in the sort order */
	uint32_t *res;
	size_t n, cap;
	struct ctx_member *byuid;	/* SORT: members by UID (n of them, cap) */
	bool flag_keys;			/* a key on flags, keywords or MODSEQ */
};

struct imap_contexts {
	struct imap_context *list;
	unsigned count;
	/* UIDs whose flags changed since the last imap_context_flags (unsorted); when
	 * there would be more than the view's messages, all_changed instead */
	uint32_t *changed;
	size_t n_changed, cap_changed;
	bool all_changed;
};

/* One context's updates being written: ESEARCH lines of ADDTO / REMOVEFROM pairs. */
enum upd_op { UPD_NONE, UPD_ADD, UPD_REMOVE };

struct upd_out {
	struct imap_client *c;
	struct imap_context *x;
	struct buf b;
	enum upd_op item;		/* the data item open in b */
	/* the pair being built: ADDTO of consecutive ids at consecutive positions merge */
	enum upd_op op;
	uint32_t pos, lo, hi;
	/* SEARCH: ids added and removed (position 0, any order) */
	struct seqset *add, *rem;
	bool broken;			/* a set did not fit in a response line */
};

static void
upd_init(struct upd_out *u, struct imap_client *c, struct imap_context *x)
{
	memset(u, 0, sizeof(*u));
	u->c = c;
	u->x = x;
	buf_init(&u->b, IMAP_RESP_MAX);
}

static void
upd_head(struct upd_out *u)
{
	if (u->b.len == 0)
		(void)buf_appendf(&u->b, "* ESEARCH (TAG \"%s\")%s", u->x->tag,
		    u->x->uid ? " UID" : "");
}

static void
upd_line_end(struct upd_out *u)
{
	if (u->b.len == 0)
		return;
	if (u->item != UPD_NONE)
		(void)buf_append_c(&u->b, ')');
	(void)buf_append(&u->b, "\r\n", 2);
	imap_client_write(u->c, u->b.data, u->b.len);
	buf_reset(&u->b);
	u->item = UPD_NONE;
}

/* Write the pending SORT pair. */
static void
upd_pair_flush(struct upd_out *u)
{
	if (u->op == UPD_NONE)
		return;
	upd_head(u);
	if (u->item != u->op) {
		if (u->item != UPD_NONE)
			(void)buf_append_c(&u->b, ')');
		(void)buf_append_str(&u->b, u->op == UPD_ADD ? " ADDTO (" : " REMOVEFROM (");
		u->item = u->op;
	} else
		(void)buf_append_c(&u->b, ' ');
	if (u->lo == u->hi)
		(void)buf_appendf(&u->b, "%u %u", u->pos, u->lo);
	else
		(void)buf_appendf(&u->b, "%u %u:%u", u->pos, u->lo, u->hi);
	u->op = UPD_NONE;
	if (u->b.len > CONTEXT_LINE_FLUSH)
		upd_line_end(u);
}

/* One change of a SORT result (pos 1-based, as after the change) or of a SEARCH
 * result (pos 0). */
static void
upd_pair(struct upd_out *u, enum upd_op op, uint32_t pos, uint32_t id)
{
	if (u->x->sort == NULL) {
		struct seqset **set = op == UPD_ADD ? &u->add : &u->rem;

		if (*set == NULL)
			*set = seqset_create();
		(void)seqset_add_range(*set, id, id);
		return;
	}
	/* RFC 5267 §3.2: a range of a sorted result stands for its ids ascending */
	if (op == UPD_ADD && u->op == UPD_ADD && u->hi < UINT32_MAX && id == u->hi + 1 &&
	    pos == u->pos + (u->hi - u->lo) + 1) {
		u->hi = id;
		return;
	}
	upd_pair_flush(u);
	u->op = op;
	u->pos = pos;
	u->lo = u->hi = id;
}

static void
upd_set(struct upd_out *u, const char *name, struct seqset **set)
{
	size_t at;

	if (*set == NULL)
		return;
	upd_head(u);
	at = u->b.len;
	if (buf_appendf(&u->b, " %s (0 ", name) < 0 || seqset_format(*set, &u->b) < 0 ||
	    buf_append_c(&u->b, ')') < 0) {
		/* the client would miss it: the context ends instead (ctx_apply) */
		buf_truncate(&u->b, at);
		u->broken = true;
	}
	seqset_destroy(set);
}

static void
upd_finish(struct upd_out *u)
{
	if (u->x->sort == NULL) {
		/* removals first: an id in both (not possible in one pass) would end added */
		upd_set(u, "REMOVEFROM", &u->rem);
		upd_set(u, "ADDTO", &u->add);
	} else
		upd_pair_flush(u);
	upd_line_end(u);
	buf_deinit(&u->b);
}

/* ---------------------------------------------------------------- lookups */

/* View index of uid, or -1. */
static ssize_t
view_index(const struct imap_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->msgs[mid].uid == uid)
			return (ssize_t)mid;
		if (v->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* What the client calls the message at view index idx. */
static uint32_t
ctx_id(const struct imap_context *x, const struct imap_view *v, size_t idx)
{
	return x->uid ? v->msgs[idx].uid : (uint32_t)idx + 1;
}

/* First index of a[0..n) not below uid. */
static size_t
uid_lower_bound(const uint32_t *a, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index in x->byuid of uid (lower bound). */
static size_t
member_lower_bound(const struct imap_context *x, uint32_t uid)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->byuid[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* SORT: the position in x->res where item goes (the first not ordered before it). */
static size_t
sort_lower_bound(const struct imap_context *x, uint32_t item)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (imap_sort_keys_cmp(x->sort, x->res[mid], item) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
ctx_member(const struct imap_context *x, uint32_t uid)
{
	size_t i;

	if (x->sort == NULL) {
		i = uid_lower_bound(x->res, x->n, uid);
		return i < x->n && x->res[i] == uid;
	}
	i = member_lower_bound(x, uid);
	return i < x->n && x->byuid[i].uid == uid;
}

/* The changes of one context in one pass: members to remove (view indexes) and
 * messages to add (view indexes), each ascending. */
struct ctx_change {
	size_t *rem, *add;
	size_t n_rem, n_add, cap_rem, cap_add;
};

static void
change_push(size_t **a, size_t *n, size_t *cap, size_t idx)
{
	if (*n == *cap) {
		*cap = MAX(*cap * 2, 64);
		*a = xreallocarray(*a, *cap, sizeof(**a));
	}
	(*a)[(*n)++] = idx;
}

static void
change_free(struct ctx_change *ch)
{
	free(ch->rem);
	free(ch->add);
	memset(ch, 0, sizeof(*ch));
}

static void
ctx_reserve(struct imap_context *x, size_t n)
{
	if (n <= x->cap)
		return;
	x->cap = MAX(n, x->cap * 2);
	x->res = xreallocarray(x->res, x->cap, sizeof(*x->res));
	if (x->sort != NULL)
		x->byuid = xreallocarray(x->byuid, x->cap, sizeof(*x->byuid));
}

/*
 * SEARCH: apply ch to x, written to u. Removals and additions are each one pass over
 * the result (a mass STORE costs what one pass costs).
 */
static void
search_apply(struct imap_context *x, struct imap_view *v, const struct ctx_change *ch,
    struct upd_out *u)
{
	size_t i, j, r, k, w;

	if (ch->n_rem > 0) {
		for (i = j = r = 0; i < x->n; i++) {
			while (r < ch->n_rem && v->msgs[ch->rem[r]].uid < x->res[i])
				r++;
			if (r < ch->n_rem && v->msgs[ch->rem[r]].uid == x->res[i]) {
				upd_pair(u, UPD_REMOVE, 0, ctx_id(x, v, ch->rem[r]));
				continue;
			}
			x->res[j++] = x->res[i];
		}
		x->n = j;
	}
	if (ch->n_add > 0) {
		/* merge from the end, both ascending */
		ctx_reserve(x, x->n + ch->n_add);
		i = x->n;
		k = ch->n_add;
		for (w = x->n + ch->n_add; w > 0; w--) {
			uint32_t nu = k > 0 ? v->msgs[ch->add[k - 1]].uid : 0;

			if (k > 0 && (i == 0 || nu > x->res[i - 1])) {
				x->res[w - 1] = nu;
				k--;
			} else
				x->res[w - 1] = x->res[--i];
		}
		x->n += ch->n_add;
		for (k = 0; k < ch->n_add; k++)
			upd_pair(u, UPD_ADD, 0, ctx_id(x, v, ch->add[k]));
	}
}

struct rem_pos {
	size_t pos;
	uint32_t item;
	size_t idx;		/* view index */
};

static int
rem_pos_desc(const void *a, const void *b)
{
	const struct rem_pos *x = a, *y = b;

	return x->pos > y->pos ? -1 : x->pos < y->pos;
}

/*
 * SORT: apply ch to x, written to u: removals from the highest position down (so each
 * position is the one the client still has), then additions from the lowest final
 * position up (each is where it ends up); each in one pass over the result. Returns
 * false when the keys of the new messages could not be kept.
 */
static bool
sort_apply(struct imap_context *x, struct imap_view *v, const struct ctx_change *ch,
    struct upd_out *u)
{
	size_t i, j, k, w, nkeys, first;

	if (ch->n_rem > 0) {
		struct rem_pos *rp = xreallocarray(NULL, ch->n_rem, sizeof(*rp));
		uint8_t *keep;
		uint32_t *map;

		for (k = 0; k < ch->n_rem; k++) {
			size_t m = member_lower_bound(x, v->msgs[ch->rem[k]].uid);

			rp[k].item = x->byuid[m].item;
			rp[k].pos = sort_lower_bound(x, rp[k].item);
			rp[k].idx = ch->rem[k];
		}
		qsort(rp, ch->n_rem, sizeof(*rp), rem_pos_desc);
		nkeys = imap_sort_keys_count(x->sort);
		keep = xreallocarray(NULL, MAX(nkeys, 1), sizeof(*keep));
		map = xreallocarray(NULL, MAX(nkeys, 1), sizeof(*map));
		memset(keep, 1, nkeys);
		for (k = 0; k < ch->n_rem; k++) {
			upd_pair(u, UPD_REMOVE, (uint32_t)rp[k].pos + 1, ctx_id(x, v, rp[k].idx));
			keep[rp[k].item] = 0;
		}
		imap_sort_keys_keep(x->sort, keep, map);
		for (i = j = 0; i < x->n; i++)
			if (keep[x->res[i]])
				x->res[j++] = map[x->res[i]];
		for (i = j = 0; i < x->n; i++) {
			if (keep[x->byuid[i].item]) {
				x->byuid[j].uid = x->byuid[i].uid;
				x->byuid[j++].item = map[x->byuid[i].item];
			}
		}
		x->n = j;
		free(rp);
		free(keep);
		free(map);
	}
	if (ch->n_add > 0) {
		uint32_t *items, *merged;

		first = imap_sort_keys_count(x->sort);
		for (k = 0; k < ch->n_add; k++) {
			if (imap_sort_keys_add(x->sort, v->client, ch->add[k]) < 0)
				return false;
		}
		items = xreallocarray(NULL, ch->n_add, sizeof(*items));
		for (k = 0; k < ch->n_add; k++)
			items[k] = (uint32_t)(first + k);
		imap_sort_keys_order(x->sort, items, ch->n_add);
		ctx_reserve(x, x->n + ch->n_add);
		merged = xreallocarray(NULL, x->cap, sizeof(*merged));
		for (i = k = w = 0; w < x->n + ch->n_add; w++) {
			if (k < ch->n_add && (i == x->n ||
			    imap_sort_keys_cmp(x->sort, items[k], x->res[i]) < 0)) {
				merged[w] = items[k];
				upd_pair(u, UPD_ADD, (uint32_t)w + 1,
				    ctx_id(x, v, ch->add[items[k] - first]));
				k++;
			} else
				merged[w] = x->res[i++];
		}
		free(x->res);
		x->res = merged;
		/* by UID: the new ones are ascending (view order), numbered first.. */
		i = x->n;
		k = ch->n_add;
		for (w = x->n + ch->n_add; w > 0; w--) {
			uint32_t nu = k > 0 ? v->msgs[ch->add[k - 1]].uid : 0;

			if (k > 0 && (i == 0 || nu > x->byuid[i - 1].uid)) {
				x->byuid[w - 1].uid = nu;
				x->byuid[w - 1].item = (uint32_t)(first + k - 1);
				k--;
			} else
				x->byuid[w - 1] = x->byuid[--i];
		}
		x->n += ch->n_add;
		free(items);
	}
	if (imap_sort_keys_count(x->sort) != x->n)
		panic("imap: context %s keeps %zu keys for %zu messages", x->tag,
		    imap_sort_keys_count(x->sort), x->n);
	return true;
}

/*
 * Apply ch to x and send it (one or more ESEARCH lines). Returns false when x cannot
 * be kept (its keys): the caller drops it.
 */
static bool
ctx_apply(struct imap_context *x, struct imap_view *v, const struct ctx_change *ch)
{
	struct upd_out u;
	bool ok = true;

	if (ch->n_rem == 0 && ch->n_add == 0)
		return true;
	upd_init(&u, v->client, x);
	if (x->sort == NULL)
		search_apply(x, v, ch, &u);
	else
		ok = sort_apply(x, v, ch, &u);
	upd_finish(&u);
	return ok && !u.broken;
}

/* ---------------------------------------------------------------- contexts */

/* Can a flag or keyword change (and the MODSEQ it raises) change k's answer? */
static bool
keys_on_flags(const struct imap_search_key *k)
{
	for (; k != NULL; k = k->next) {
		if (k->type == SEARCH_FLAG || k->type == SEARCH_KEYWORD ||
		    k->type == SEARCH_NEW || k->type == SEARCH_MODSEQ)
			return true;
		if (keys_on_flags(k->child))
			return true;
	}
	return false;
}

static void
ctx_free(struct imap_context *x)
{
	imap_search_program_free(&x->prog, imap_search_matcher_free);
	if (x->sort != NULL)
		imap_sort_keys_free(&x->sort);
	free(x->res);
	free(x->byuid);
	free(x->tag);
	free(x);
}

static size_t
ctx_bytes(const struct imap_contexts *cs)
{
	const struct imap_context *x;
	size_t n = 0;

	for (x = cs->list; x != NULL; x = x->next)
		if (x->sort != NULL)
			n += imap_sort_keys_bytes(x->sort) + x->cap * sizeof(*x->byuid);
	return n;
}

/* RFC 5267 §4.3.1: stop updating x, telling the client. */
static void
ctx_drop(struct imap_view *v, struct imap_context *x, const char *why)
{
	struct imap_contexts *cs = v->contexts;
	struct imap_context **p;

	imap_client_line(v->client, "* NO [NOUPDATE \"%s\"] %s", x->tag, why);
	for (p = &cs->list; *p != NULL; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			break;
		}
	}
	cs->count--;
	ctx_free(x);
}

bool
imap_context_exists(const struct imap_view *v, const char *tag)
{
	const struct imap_context *x;

	if (v == NULL || v->contexts == NULL)
		return false;
	for (x = v->contexts->list; x != NULL; x = x->next)
		if (strcmp(x->tag, tag) == 0)
			return true;
	return false;
}

void
imap_context_add(struct imap_client *c, const char *tag, bool uid,
    struct imap_search_program *prog, struct sort_run *sort, uint32_t *uids, size_t n)
{
	struct imap_view *v = c->view;
	struct imap_contexts *cs;
	struct imap_context *x, **p;
	size_t i;

	if (v->contexts == NULL)
		v->contexts = xcalloc(1, sizeof(*v->contexts));
	cs = v->contexts;
	x = xcalloc(1, sizeof(*x));
	x->tag = xstrdup(tag);
	x->uid = uid;
	x->prog = prog;
	x->flag_keys = keys_on_flags(prog->root);
	x->sort = sort;
	x->res = uids;
	x->n = x->cap = n;
	if (x->cap == 0) {
		x->cap = 1;
		x->res = xreallocarray(x->res, 1, sizeof(*x->res));
	}
	if (sort != NULL) {
		/* the hits were added in view (UID) order */
		x->byuid = xreallocarray(NULL, x->cap, sizeof(*x->byuid));
		for (i = 0; i < n; i++) {
			x->byuid[i].uid = imap_sort_keys_uid(sort, (uint32_t)i);
			x->byuid[i].item = (uint32_t)i;
		}
	}
	if (cs->count >= IMAP_CONTEXT_MAX) {
		imap_client_line(c, "* NO [NOUPDATE \"%s\"] Too many updating searches", tag);
		ctx_free(x);
		return;
	}
	for (p = &cs->list; *p != NULL; p = &(*p)->next)
		;
	*p = x;
	cs->count++;
	if (ctx_bytes(cs) > IMAP_CONTEXT_BYTES_MAX)
		ctx_drop(v, x, "Too large to keep up to date");
}

bool
imap_context_cancel(struct imap_view *v, const char *tag)
{
	struct imap_contexts *cs = v->contexts;
	struct imap_context **p, *x;

	if (cs == NULL)
		return false;
	for (p = &cs->list; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->tag, tag) == 0) {
			x = *p;
			*p = x->next;
			cs->count--;
			ctx_free(x);
			return true;
		}
	}
	return false;
}

void
imap_context_free_all(struct imap_view *v)
{
	struct imap_contexts *cs = v->contexts;
	struct imap_context *x;

	if (cs == NULL)
		return;
	while ((x = cs->list) != NULL) {
		cs->list = x->next;
		ctx_free(x);
	}
	free(cs->changed);
	free(cs);
	v->contexts = NULL;
}

/* ---------------------------------------------------------------- view hooks */

void
imap_context_changed(struct imap_view *v, uint32_t uid)
{
	struct imap_contexts *cs = v->contexts;

	if (cs == NULL || cs->list == NULL || cs->all_changed)
		return;
	if (cs->n_changed == cs->cap_changed) {
		if (cs->cap_changed >= MAX(v->count, (size_t)1024)) {
			/* every message once is cheaper than this list */
			cs->all_changed = true;
			cs->n_changed = 0;
			return;
		}
		cs->cap_changed = MAX(cs->cap_changed * 2, 64);
		cs->changed = xreallocarray(cs->changed, cs->cap_changed,
		    sizeof(*cs->changed));
	}
	cs->changed[cs->n_changed++] = uid;
}

/*
 * RFC 9586 §3: after ENABLE UIDONLY no response carries sequence numbers: a context of
 * a SEARCH or SORT without UID (from before the ENABLE) ends. Returns false then.
 */
static bool
ctx_usable(struct imap_view *v, struct imap_context *x)
{
	if (x->uid || !(v->client->enabled & IMAP_ENABLE_UIDONLY))
		return true;
	ctx_drop(v, x, "Message sequence numbers are disabled (UIDONLY)");
	return false;
}

/* Drop x when it could not be kept or the contexts' keys passed their bound. */
static void
ctx_check(struct imap_view *v, struct imap_context *x, bool ok)
{
	if (!ok || ctx_bytes(v->contexts) > IMAP_CONTEXT_BYTES_MAX)
		ctx_drop(v, x, "Too large to keep up to date");
}

void
imap_context_expunging(struct imap_view *v)
{
	struct imap_contexts *cs = v->contexts;
	struct imap_context *x, *next;
	struct ctx_change ch;
	size_t i;

	if (cs == NULL)
		return;
	/* RFC 5267 §4.3.2: before the EXPUNGE, while the numbers still hold */
	memset(&ch, 0, sizeof(ch));
	for (x = cs->list; x != NULL; x = next) {
		next = x->next;
		if (!ctx_usable(v, x))
			continue;
		ch.n_rem = 0;
		for (i = 0; i < v->count && x->n > 0; i++)
			if (v->msgs[i].expunged && ctx_member(x, v->msgs[i].uid))
				change_push(&ch.rem, &ch.n_rem, &ch.cap_rem, i);
		ctx_check(v, x, ctx_apply(x, v, &ch));
	}
	change_free(&ch);
}

void
imap_context_added(struct imap_view *v, size_t first)
{
	struct imap_contexts *cs = v->contexts;
	struct imap_context *x, *next;
	struct ctx_change ch;
	size_t i;

	if (cs == NULL || first >= v->count)
		return;
	memset(&ch, 0, sizeof(ch));
	for (x = cs->list; x != NULL; x = next) {
		next = x->next;
		if (!ctx_usable(v, x))
			continue;
		ch.n_add = 0;
		for (i = first; i < v->count; i++) {
			if (v->msgs[i].expunged || ctx_member(x, v->msgs[i].uid))
				continue;
			if (imap_search_match(v->client, x->prog, i) > 0)
				change_push(&ch.add, &ch.n_add, &ch.cap_add, i);
		}
		ctx_check(v, x, ctx_apply(x, v, &ch));
	}
	change_free(&ch);
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
imap_context_flags(struct imap_view *v)
{
	struct imap_contexts *cs = v->contexts;
	struct imap_context *x, *next;
	struct ctx_change ch;
	uint32_t *changed;
	size_t i, n = 0, k;
	bool all;

	if (cs == NULL || (cs->n_changed == 0 && !cs->all_changed))
		return;
	/* taken: reading a message may rescan the folder, whose listener calls
	 * imap_context_changed again (those changes wait for the next time) */
	all = cs->all_changed;
	changed = cs->changed;
	if (cs->n_changed > 0)
		qsort(changed, cs->n_changed, sizeof(*changed), uid_cmp);
	for (i = 0; i < cs->n_changed; i++)
		if (n == 0 || changed[n - 1] != changed[i])
			changed[n++] = changed[i];
	cs->changed = NULL;
	cs->n_changed = cs->cap_changed = 0;
	cs->all_changed = false;
	memset(&ch, 0, sizeof(ch));
	for (x = cs->list; x != NULL; x = next) {
		next = x->next;
		if (!ctx_usable(v, x) || !x->flag_keys)
			continue;
		ch.n_rem = ch.n_add = 0;
		for (k = 0; k < (all ? v->count : n); k++) {
			ssize_t idx = all ? (ssize_t)k : view_index(v, changed[k]);
			bool member;
			int hit;

			/* an expunged member goes with its EXPUNGE */
			if (idx < 0 || v->msgs[idx].expunged)
				continue;
			member = ctx_member(x, v->msgs[idx].uid);
			hit = imap_search_match(v->client, x->prog, (size_t)idx);
			if (hit < 0)
				continue;	/* unreadable now: as it was */
			if (member && hit == 0)
				change_push(&ch.rem, &ch.n_rem, &ch.cap_rem, (size_t)idx);
			else if (!member && hit > 0)
				change_push(&ch.add, &ch.n_add, &ch.cap_add, (size_t)idx);
		}
		ctx_check(v, x, ctx_apply(x, v, &ch));
	}
	change_free(&ch);
	free(changed);
}

/*
 * CANCELUPDATE "tag" ... (RFC 5267 §4.3.5): no more updates of those searches. Every
 * tag must name one (else BAD, and none is cancelled).
 */
int
cmd_cancelupdate(struct imap_cmd *cmd)
{
	struct imap_view *v = cmd->client->view;
	char tag[sizeof(cmd->tag)];
	const char *s;
	size_t len;
	unsigned i;

	if (cmd->argc == 0)
		return imap_cmd_bad(cmd, "CANCELUPDATE needs the tags of searches");
	for (i = 0; i < cmd->argc; i++) {
		if (!imap_arg_get_string(&cmd->args[i], &s, &len) || len == 0 ||
		    len >= sizeof(tag) || memchr(s, '\0', len) != NULL)
			return imap_cmd_bad(cmd, "Invalid tag");
		memcpy(tag, s, len);
		tag[len] = '\0';
		if (!imap_context_exists(v, tag))
			return imap_cmd_bad(cmd, "No updating search with that tag");
	}
	for (i = 0; i < cmd->argc; i++) {
		(void)imap_arg_get_string(&cmd->args[i], &s, &len);
		memcpy(tag, s, len);
		tag[len] = '\0';
		(void)imap_context_cancel(v, tag);
	}
	return imap_cmd_ok(cmd, "Updates cancelled.");
}
