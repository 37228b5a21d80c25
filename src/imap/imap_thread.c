/*
 * imap_thread.c — RFC 5256 §4 threading (see imap_thread.h). REFERENCES follows the
 * RFC's steps on an array of containers (a message or a dummy) linked by index: (1)
 * link the References chains and each message under its last reference, (2) the root
 * set, (4) prune dummies, (5) gather roots of the same base subject, (6) sort siblings
 * by sent date (ties in mailbox order). REFS (draft-ietf-morg-inthread-01 §4) is the
 * same without (5) (it ignores Subject), and orders the threads by the most recent
 * INTERNALDATE in each (a thread whose message arrived last is last); the messages
 * within a thread stay in sent-date order.
 * ORDEREDSUBJECT groups by base subject. Every walk over the trees is iterative.
 *
 * Loop checks: a link is only ever made from a node to a root (a container without a
 * parent), and makes a loop exactly when the parent-to-be lies in that root's tree:
 * never when the root has no children (a new container, the common case: O(1)), else
 * when the parent-to-be's root is that root. While one message's chain is linked that
 * root is carried along (a root linked under a node shares its root), so it is walked
 * up to only after a reference that already had a parent, and those walks take at most
 * THREAD_WALK_MAX parents per message in all: a link that would need more is not made
 * (far beyond real mail; it keeps hostile input linear).
 */
#include "imap/imap_thread.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define NONE		UINT32_MAX
#define THREAD_WALK_MAX	4096

struct tmsg {
	uint32_t id;
	uint64_t date;			/* sent date */
	uint64_t arrival;		/* INTERNALDATE (REFS orders threads by it) */
	uint32_t subj_off, subj_len;	/* in the arena */
	bool reply;
};

struct node {
	uint32_t msg;			/* index in msgs, NONE: a dummy */
	uint32_t parent, first_child, next_sibling;
	uint64_t date;			/* for sorting (a dummy's: its first child's) */
	uint64_t latest;		/* REFS: the newest INTERNALDATE in its tree */
	uint32_t order;			/* mailbox order, the tie-breaker */
};

/* A message ID: a "<...>" string in the arena. */
struct idref {
	uint32_t off, len;
};

struct hent {
	uint32_t node;
	struct idref key;
};

struct imap_thread {
	struct tmsg *msgs;
	size_t n_msgs, cap_msgs;
	struct node *nodes;
	size_t n_nodes, cap_nodes;
	struct buf arena;		/* subjects and message IDs */
	/* message ID -> node: open addressing (node NONE = empty slot) */
	struct hent *hash;
	size_t hash_cap, hash_used;
	/* per message, in order: its Message-ID and references (REFERENCES only) */
	struct idref *ids;		/* n_ids entries, per message: own id (len 0 if
					 * none), then its references */
	uint32_t *ids_first;		/* per message: first entry in ids */
	uint16_t *ids_count;		/* per message: references after its own id */
	size_t n_ids, cap_ids;
	bool by_arrival;		/* REFS: threads ordered by their newest INTERNALDATE */
};

struct imap_thread *
imap_thread_create(void)
{
	struct imap_thread *t = xcalloc(1, sizeof(*t));

	buf_init(&t->arena, (size_t)UINT32_MAX);
	return t;
}

void
imap_thread_destroy(struct imap_thread **tp)
{
	struct imap_thread *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	free(t->msgs);
	free(t->nodes);
	free(t->hash);
	free(t->ids);
	free(t->ids_first);
	free(t->ids_count);
	buf_deinit(&t->arena);
	free(t);
}

/* ---------------------------------------------------------------- input */

static uint32_t
arena_add(struct imap_thread *t, const char *p, size_t len)
{
	size_t off = t->arena.len;

	if (buf_append(&t->arena, p, len) < 0)
		return NONE;
	return (uint32_t)off;
}

static void
id_push(struct imap_thread *t, uint32_t off, uint32_t len)
{
	if (t->n_ids == t->cap_ids) {
		t->cap_ids = MAX(t->cap_ids * 2, 256);
		t->ids = xreallocarray(t->ids, t->cap_ids, sizeof(*t->ids));
	}
	t->ids[t->n_ids].off = off;
	t->ids[t->n_ids].len = len;
	t->n_ids++;
}

/*
 * The message IDs of a header value: every "<...>" with no white space or '<' inside,
 * brackets included. With keep_last, the last max of them (in a ring: returns how many
 * there were in all; the oldest kept is at index n % max when n > max); otherwise the
 * first max.
 */
static size_t
scan_ids(const char *v, size_t len, const char **starts, size_t *lens, size_t max,
    bool keep_last)
{
	size_t n = 0, i = 0;

	while (i < len) {
		size_t j;

		if (v[i] != '<') {
			i++;
			continue;
		}
		for (j = i + 1; j < len && v[j] != '>' && v[j] != '<' && v[j] != ' ' &&
		    v[j] != '\t' && v[j] != '\r' && v[j] != '\n'; j++)
			;
		if (j < len && v[j] == '>' && j > i + 1) {
			if (!keep_last && n == max)
				break;
			starts[n % max] = v + i;
			lens[n % max] = j + 1 - i;
			n++;
			i = j + 1;
		} else
			i = j;
	}
	return n;
}

bool
imap_thread_has_id(const char *v, size_t len)
{
	const char *start;
	size_t n;

	return scan_ids(v, len, &start, &n, 1, false) == 1;
}

void
imap_thread_add(struct imap_thread *t, const struct imap_thread_msg *msg)
{
	const char *starts[IMAP_THREAD_MAX_REFS];
	size_t lens[IMAP_THREAD_MAX_REFS], n, k, first, i;
	struct tmsg *m;
	uint32_t off;

	if (t->n_msgs == t->cap_msgs) {
		t->cap_msgs = MAX(t->cap_msgs * 2, 256);
		t->msgs = xreallocarray(t->msgs, t->cap_msgs, sizeof(*t->msgs));
		t->ids_first = xreallocarray(t->ids_first, t->cap_msgs, sizeof(*t->ids_first));
		t->ids_count = xreallocarray(t->ids_count, t->cap_msgs, sizeof(*t->ids_count));
	}
	m = &t->msgs[t->n_msgs];
	m->id = msg->id;
	m->date = msg->date;
	m->arrival = msg->arrival;
	m->reply = msg->reply;
	off = arena_add(t, msg->subject, msg->subject_len);
	m->subj_off = off == NONE ? 0 : off;
	m->subj_len = off == NONE ? 0 : (uint32_t)msg->subject_len;
	t->ids_first[t->n_msgs] = (uint32_t)t->n_ids;
	/* own Message-ID: the first in the field (len 0: none) */
	off = NONE;
	if (msg->message_id != NULL &&
	    scan_ids(msg->message_id, msg->message_id_len, starts, lens, 1, false) == 1)
		off = arena_add(t, starts[0], lens[0]);
	id_push(t, off == NONE ? 0 : off, off == NONE ? 0 : (uint32_t)lens[0]);
	/* references: References, else the first ID of In-Reply-To (RFC 5256 §4) */
	n = msg->references != NULL ? scan_ids(msg->references, msg->references_len, starts,
	    lens, IMAP_THREAD_MAX_REFS, true) : 0;
	first = 0;
	if (n > IMAP_THREAD_MAX_REFS) {
		first = n % IMAP_THREAD_MAX_REFS;
		n = IMAP_THREAD_MAX_REFS;
	}
	if (n == 0 && msg->in_reply_to != NULL)
		n = scan_ids(msg->in_reply_to, msg->in_reply_to_len, starts, lens, 1, false);
	for (k = 0; k < n; k++) {
		i = (first + k) % IMAP_THREAD_MAX_REFS;
		off = arena_add(t, starts[i], lens[i]);
		if (off != NONE)
			id_push(t, off, (uint32_t)lens[i]);
	}
	t->ids_count[t->n_msgs] = (uint16_t)(t->n_ids - t->ids_first[t->n_msgs] - 1);
	t->n_msgs++;
}

/* ---------------------------------------------------------------- containers */

static uint32_t
node_new(struct imap_thread *t, uint32_t msg)
{
	struct node *n;

	if (t->n_nodes == t->cap_nodes) {
		t->cap_nodes = MAX(t->cap_nodes * 2, 256);
		t->nodes = xreallocarray(t->nodes, t->cap_nodes, sizeof(*t->nodes));
	}
	n = &t->nodes[t->n_nodes];
	n->msg = msg;
	n->parent = n->first_child = n->next_sibling = NONE;
	n->date = msg != NONE ? t->msgs[msg].date : 0;
	n->latest = 0;
	n->order = msg != NONE ? msg : UINT32_MAX;
	return (uint32_t)t->n_nodes++;
}

static uint64_t
hash_str(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (len-- > 0)
		h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
	return h;
}

static void
hash_insert(struct hent *tab, size_t cap, const struct hent *e, const char *arena)
{
	size_t i = hash_str(arena + e->key.off, e->key.len) & (cap - 1);

	while (tab[i].node != NONE)
		i = (i + 1) & (cap - 1);
	tab[i] = *e;
}

/* The node of message ID r; a new dummy when the ID is new (*created_r). */
static uint32_t
id_node(struct imap_thread *t, const struct idref *r, bool *created_r)
{
	const char *key = t->arena.data + r->off;
	struct hent e;
	size_t i;

	if ((t->hash_used + 1) * 2 > t->hash_cap) {
		struct hent *old = t->hash;
		size_t ocap = t->hash_cap;

		t->hash_cap = MAX(ocap * 2, (size_t)1024);
		t->hash = xreallocarray(NULL, t->hash_cap, sizeof(*t->hash));
		for (i = 0; i < t->hash_cap; i++)
			t->hash[i].node = NONE;
		for (i = 0; i < ocap; i++)
			if (old[i].node != NONE)
				hash_insert(t->hash, t->hash_cap, &old[i], t->arena.data);
		free(old);
	}
	for (i = hash_str(key, r->len) & (t->hash_cap - 1); t->hash[i].node != NONE;
	    i = (i + 1) & (t->hash_cap - 1)) {
		const struct hent *h = &t->hash[i];

		if (h->key.len == r->len && memcmp(t->arena.data + h->key.off, key, r->len) == 0) {
			*created_r = false;
			return h->node;
		}
	}
	e.node = node_new(t, NONE);
	e.key = *r;
	t->hash[i] = e;
	t->hash_used++;
	*created_r = true;
	return e.node;
}

/* The root of x's tree, walking up at most *budget parents (taken from it); NONE when
 * the budget runs out first. */
static uint32_t
root_of(const struct imap_thread *t, uint32_t x, unsigned *budget)
{
	while (t->nodes[x].parent != NONE) {
		if (*budget == 0)
			return NONE;
		(*budget)--;
		x = t->nodes[x].parent;
	}
	return x;
}

static void
unlink_child(struct imap_thread *t, uint32_t c)
{
	uint32_t p = t->nodes[c].parent, *pp;

	if (p == NONE)
		return;
	for (pp = &t->nodes[p].first_child; *pp != c; pp = &t->nodes[*pp].next_sibling)
		;
	*pp = t->nodes[c].next_sibling;
	t->nodes[c].parent = NONE;
	t->nodes[c].next_sibling = NONE;
}

/* Make c the first child of p (order is set later by sorting). */
static void
link_child(struct imap_thread *t, uint32_t p, uint32_t c)
{
	t->nodes[c].parent = p;
	t->nodes[c].next_sibling = t->nodes[p].first_child;
	t->nodes[p].first_child = c;
}

/* Append c's children to p's (c keeps none). */
static void
move_children(struct imap_thread *t, uint32_t c, uint32_t p)
{
	uint32_t k = t->nodes[c].first_child, next;

	t->nodes[c].first_child = NONE;
	for (; k != NONE; k = next) {
		next = t->nodes[k].next_sibling;
		t->nodes[k].parent = NONE;
		link_child(t, p, k);
	}
}

/* RFC 5256 §4 REFERENCES step (1): containers and their links. */
static void
build_links(struct imap_thread *t)
{
	size_t mi;

	for (mi = 0; mi < t->n_msgs; mi++) {
		const struct idref *ids = t->ids + t->ids_first[mi];
		unsigned nref = t->ids_count[mi], k, budget = THREAD_WALK_MAX;
		/* prev_root: the root of prev's tree, NONE while not known */
		uint32_t prev = NONE, prev_root = NONE, self, last = NONE, old_parent;
		bool created;

		/* (A) the chain of references, parent before child; only roots are linked
		 * ("already linked: don't change the existing links") */
		for (k = 0; k < nref; k++) {
			uint32_t cur = id_node(t, &ids[1 + k], &created);

			if (cur == prev)
				continue;
			if (t->nodes[cur].parent != NONE) {
				prev = cur;
				prev_root = NONE;
				continue;
			}
			/* a loop exactly when prev is in cur's tree: never when cur has no
			 * children (a new container), else when prev's root is cur */
			if (prev != NONE && prev_root == NONE && t->nodes[cur].first_child != NONE)
				prev_root = root_of(t, prev, &budget);
			if (prev != NONE && (t->nodes[cur].first_child == NONE ||
			    (prev_root != NONE && prev_root != cur)))
				link_child(t, prev, cur);	/* cur's tree joins prev's */
			else
				prev_root = cur;		/* cur stays a root */
			prev = cur;
		}
		last = prev;
		/* (B) the message's own container: a duplicate or missing ID gets its own */
		self = NONE;
		if (ids[0].len > 0) {
			self = id_node(t, &ids[0], &created);
			if (t->nodes[self].msg != NONE)
				self = NONE;		/* duplicate Message-ID */
		}
		if (self == NONE)
			self = node_new(t, (uint32_t)mi);
		t->nodes[self].msg = (uint32_t)mi;
		t->nodes[self].date = t->msgs[mi].date;
		t->nodes[self].order = (uint32_t)mi;
		/* under the last reference, replacing a parent guessed from elsewhere */
		old_parent = t->nodes[self].parent;
		if (old_parent != NONE && old_parent == last)
			continue;			/* already there */
		if (old_parent != NONE) {
			unlink_child(t, self);
			prev_root = NONE;		/* last may have been under self */
		}
		if (last == NONE || last == self)
			continue;
		if (t->nodes[self].first_child == NONE) {
			link_child(t, last, self);
			continue;
		}
		if (prev_root == NONE)
			prev_root = root_of(t, last, &budget);
		if (prev_root != NONE && prev_root != self)
			link_child(t, last, self);
	}
}

/* ---------------------------------------------------------------- tree walks */

/* Every node under the roots in pre-order (parents before children), iteratively. */
static uint32_t *
preorder(const struct imap_thread *t, const uint32_t *roots, size_t n_roots, size_t *n_r)
{
	uint32_t *out = xreallocarray(NULL, MAX(t->n_nodes, 1), sizeof(*out));
	uint32_t *stack = xreallocarray(NULL, MAX(t->n_nodes, 1), sizeof(*stack));
	size_t n = 0, sp = 0, i;

	for (i = n_roots; i-- > 0;)
		stack[sp++] = roots[i];
	while (sp > 0) {
		uint32_t x = stack[--sp], c;

		out[n++] = x;
		for (c = t->nodes[x].first_child; c != NONE; c = t->nodes[c].next_sibling)
			stack[sp++] = c;
	}
	free(stack);
	*n_r = n;
	return out;
}

static int
node_cmp(const void *a, const void *b, void *ctx)
{
	const struct imap_thread *t = ctx;
	const struct node *x = &t->nodes[*(const uint32_t *)a];
	const struct node *y = &t->nodes[*(const uint32_t *)b];

	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Sort node p's children by (date, mailbox order); scratch holds >= their count. */
static void
sort_children(struct imap_thread *t, uint32_t p, uint32_t *scratch)
{
	size_t n = 0, i;
	uint32_t c;

	for (c = t->nodes[p].first_child; c != NONE; c = t->nodes[c].next_sibling)
		scratch[n++] = c;
	if (n < 2)
		return;
	qsort_r(scratch, n, sizeof(*scratch), node_cmp, t);
	t->nodes[p].first_child = scratch[0];
	for (i = 0; i + 1 < n; i++)
		t->nodes[scratch[i]].next_sibling = scratch[i + 1];
	t->nodes[scratch[n - 1]].next_sibling = NONE;
}

/* REFS: threads by their newest INTERNALDATE, then as node_cmp orders their roots. */
static int
latest_cmp(const void *a, const void *b, void *ctx)
{
	const struct imap_thread *t = ctx;
	const struct node *x = &t->nodes[*(const uint32_t *)a];
	const struct node *y = &t->nodes[*(const uint32_t *)b];

	if (x->latest != y->latest)
		return x->latest < y->latest ? -1 : 1;
	return node_cmp(a, b, ctx);
}

/* (6): children sorted by date, a dummy dated by its first child, then the roots (by
 * date, or for REFS by the newest INTERNALDATE in each thread). */
static void
sort_threads(struct imap_thread *t, uint32_t *roots, size_t n_roots)
{
	size_t n, i;
	uint32_t *pre = preorder(t, roots, n_roots, &n);
	uint32_t *scratch = xreallocarray(NULL, MAX(t->n_nodes, 1), sizeof(*scratch));

	/* bottom-up: a node's children are done before it */
	for (i = n; i-- > 0;) {
		struct node *x = &t->nodes[pre[i]];
		uint32_t c;

		sort_children(t, pre[i], scratch);
		if (x->msg == NONE && x->first_child != NONE) {
			x->date = t->nodes[x->first_child].date;
			x->order = t->nodes[x->first_child].order;
		}
		x->latest = x->msg != NONE ? t->msgs[x->msg].arrival : 0;
		for (c = x->first_child; c != NONE; c = t->nodes[c].next_sibling)
			x->latest = MAX(x->latest, t->nodes[c].latest);
	}
	qsort_r(roots, n_roots, sizeof(*roots), t->by_arrival ? latest_cmp : node_cmp, t);
	free(scratch);
	free(pre);
}

/* ---------------------------------------------------------------- REFERENCES */

/* (4) prune dummies: without children they go, with children they are replaced by
 * them, except a root dummy with more than one child. Returns the new root count. */
static size_t
prune(struct imap_thread *t, uint32_t *roots, size_t n_roots)
{
	size_t n, i, out = 0;
	uint32_t *pre = preorder(t, roots, n_roots, &n);

	/* bottom-up: a non-root dummy's children move up to its parent */
	for (i = n; i-- > 0;) {
		uint32_t x = pre[i], p = t->nodes[x].parent;

		if (t->nodes[x].msg != NONE || p == NONE)
			continue;
		unlink_child(t, x);
		move_children(t, x, p);
	}
	free(pre);
	/* roots: an empty dummy goes, a dummy with one child is replaced by it */
	for (i = 0; i < n_roots; i++) {
		uint32_t x = roots[i], c = t->nodes[x].first_child;

		if (t->nodes[x].msg == NONE) {
			if (c == NONE)
				continue;
			if (t->nodes[c].next_sibling == NONE) {
				unlink_child(t, c);
				roots[out++] = c;
				continue;
			}
		}
		roots[out++] = x;
	}
	return out;
}

/* The base subject of a root (its first child's for a dummy). */
static const struct tmsg *
root_msg(const struct imap_thread *t, uint32_t r)
{
	if (t->nodes[r].msg == NONE)
		r = t->nodes[r].first_child;
	return r != NONE && t->nodes[r].msg != NONE ? &t->msgs[t->nodes[r].msg] : NULL;
}

struct sent {
	uint32_t off, len;
	uint32_t root;		/* the root holding this subject */
};

/* (5) gather roots with the same base subject. Returns the new root count. */
static size_t
gather_subjects(struct imap_thread *t, uint32_t *roots, size_t n_roots)
{
	size_t cap = 1024, i, j, out = 0;
	struct sent *tab;
	bool *gone = xcalloc(MAX(n_roots, 1), sizeof(*gone));

	while (cap < n_roots * 2)
		cap *= 2;
	tab = xreallocarray(NULL, cap, sizeof(*tab));
	for (i = 0; i < cap; i++)
		tab[i].root = NONE;
	/* (B) one root per subject: prefer a dummy, then a message that is not a reply */
	for (i = 0; i < n_roots; i++) {
		const struct tmsg *m = root_msg(t, roots[i]);
		const char *s;

		if (m == NULL || m->subj_len == 0)
			continue;
		s = t->arena.data + m->subj_off;
		for (j = hash_str(s, m->subj_len) & (cap - 1); tab[j].root != NONE;
		    j = (j + 1) & (cap - 1))
			if (tab[j].len == m->subj_len &&
			    memcmp(t->arena.data + tab[j].off, s, m->subj_len) == 0)
				break;
		if (tab[j].root == NONE) {
			tab[j].off = m->subj_off;
			tab[j].len = m->subj_len;
			tab[j].root = (uint32_t)i;
			continue;
		}
		{
			uint32_t cur = roots[tab[j].root];
			const struct tmsg *cm = root_msg(t, cur);

			if ((t->nodes[roots[i]].msg == NONE && t->nodes[cur].msg != NONE) ||
			    (t->nodes[cur].msg != NONE && t->nodes[roots[i]].msg != NONE &&
			     cm->reply && !m->reply))
				tab[j].root = (uint32_t)i;
		}
	}
	/* (C) merge the others into it */
	for (i = 0; i < n_roots; i++) {
		const struct tmsg *m = root_msg(t, roots[i]);
		const char *s;
		uint32_t keep, x = roots[i];
		size_t ki;

		if (m == NULL || m->subj_len == 0)
			continue;
		s = t->arena.data + m->subj_off;
		for (j = hash_str(s, m->subj_len) & (cap - 1);
		    !(tab[j].len == m->subj_len &&
		      memcmp(t->arena.data + tab[j].off, s, m->subj_len) == 0);
		    j = (j + 1) & (cap - 1))
			;
		ki = tab[j].root;
		if (ki == i)
			continue;
		keep = roots[ki];
		gone[i] = true;
		if (t->nodes[keep].msg == NONE && t->nodes[x].msg == NONE) {
			move_children(t, x, keep);
		} else if (t->nodes[keep].msg == NONE) {
			link_child(t, keep, x);
		} else if (!t->msgs[t->nodes[keep].msg].reply && m->reply) {
			link_child(t, keep, x);
		} else {
			/* both replies or neither: siblings under a new dummy */
			uint32_t d = node_new(t, NONE);

			link_child(t, d, keep);
			link_child(t, d, x);
			roots[ki] = d;
		}
	}
	for (i = 0; i < n_roots; i++)
		if (!gone[i])
			roots[out++] = roots[i];
	free(gone);
	free(tab);
	return out;
}

/* ---------------------------------------------------------------- ORDEREDSUBJECT */

static int
subject_cmp(const void *a, const void *b, void *ctx)
{
	const struct imap_thread *t = ctx;
	const struct tmsg *x = &t->msgs[*(const uint32_t *)a];
	const struct tmsg *y = &t->msgs[*(const uint32_t *)b];
	int r = memcmp(t->arena.data + x->subj_off, t->arena.data + y->subj_off,
	    MIN(x->subj_len, y->subj_len));

	if (r == 0 && x->subj_len != y->subj_len)
		r = x->subj_len < y->subj_len ? -1 : 1;
	if (r == 0 && x->date != y->date)
		r = x->date < y->date ? -1 : 1;
	if (r == 0)
		r = *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
	return r;
}

/* RFC 5256 §4 ORDEREDSUBJECT: by base subject then date; each subject is one thread,
 * its first message the parent of the others. Returns the root count. */
static size_t
ordered_subject(struct imap_thread *t, uint32_t **roots_r)
{
	uint32_t *order = xreallocarray(NULL, MAX(t->n_msgs, 1), sizeof(*order));
	uint32_t *roots = xreallocarray(NULL, MAX(t->n_msgs, 1), sizeof(*roots));
	size_t i, n = 0;
	uint32_t root = NONE, last_child = NONE;

	for (i = 0; i < t->n_msgs; i++) {
		order[i] = (uint32_t)i;
		node_new(t, (uint32_t)i);	/* node i is message i */
	}
	qsort_r(order, t->n_msgs, sizeof(*order), subject_cmp, t);
	for (i = 0; i < t->n_msgs; i++) {
		const struct tmsg *m = &t->msgs[order[i]];
		const struct tmsg *p = root != NONE ? &t->msgs[t->nodes[root].msg] : NULL;

		if (p == NULL || p->subj_len != m->subj_len ||
		    memcmp(t->arena.data + p->subj_off, t->arena.data + m->subj_off,
		    m->subj_len) != 0) {
			root = order[i];
			roots[n++] = root;
			last_child = NONE;
			continue;
		}
		/* children in date order: append */
		t->nodes[order[i]].parent = root;
		if (last_child == NONE)
			t->nodes[root].first_child = order[i];
		else
			t->nodes[last_child].next_sibling = order[i];
		last_child = order[i];
	}
	free(order);
	qsort_r(roots, n, sizeof(*roots), node_cmp, t);
	*roots_r = roots;
	return n;
}

/* ---------------------------------------------------------------- output */

static int
append_num(struct buf *out, uint32_t v)
{
	char num[12];
	size_t n = sizeof(num);

	do {
		num[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return buf_append(out, num + n, sizeof(num) - n);
}

/*
 * One thread as RFC 5256's thread-list: a chain of single children is a run of
 * numbers; where a node has several children each is a nested list. Iterative: the
 * stack holds, per open nested list, the child it is printing.
 */
static int
format_thread(const struct imap_thread *t, uint32_t root, uint32_t *stack, struct buf *out)
{
	size_t sp = 0;
	uint32_t cur = root;
	bool first = true;
	int ret = buf_append_c(out, '(');

	for (;;) {
		/* the chain from cur */
		for (;;) {
			const struct node *x = &t->nodes[cur];

			if (x->msg != NONE) {
				if (!first)
					ret |= buf_append_c(out, ' ');
				ret |= append_num(out, t->msgs[x->msg].id);
				first = false;
			}
			if (x->first_child == NONE)
				break;
			if (t->nodes[x->first_child].next_sibling == NONE) {
				cur = x->first_child;
				continue;
			}
			/* several children: each in its own list */
			if (!first)
				ret |= buf_append_c(out, ' ');
			stack[sp++] = x->first_child;
			ret |= buf_append_c(out, '(');
			cur = x->first_child;
			first = true;
		}
		/* close lists until one has a next sibling */
		for (;;) {
			uint32_t next;

			if (sp == 0)
				return ret | buf_append_c(out, ')');
			ret |= buf_append_c(out, ')');
			next = t->nodes[stack[sp - 1]].next_sibling;
			if (next != NONE) {
				stack[sp - 1] = next;
				ret |= buf_append_c(out, '(');
				cur = next;
				first = true;
				break;
			}
			sp--;
		}
		if (ret < 0)
			return -1;
	}
}

int
imap_thread_format(struct imap_thread *t, enum imap_thread_algorithm alg, struct buf *out)
{
	uint32_t *roots, *stack;
	size_t n_roots = 0, i;
	int ret = 0;

	if (alg == IMAP_THREAD_ORDEREDSUBJECT) {
		n_roots = ordered_subject(t, &roots);
	} else {
		/* draft-ietf-morg-inthread-01 §4: REFS orders threads by arrival */
		t->by_arrival = alg == IMAP_THREAD_REFS;
		build_links(t);
		roots = xreallocarray(NULL, MAX(t->n_nodes, 1), sizeof(*roots));
		for (i = 0; i < t->n_nodes; i++)
			if (t->nodes[i].parent == NONE)
				roots[n_roots++] = (uint32_t)i;
		/* (3) the ID table is not needed any more */
		free(t->hash);
		t->hash = NULL;
		t->hash_cap = t->hash_used = 0;
		n_roots = prune(t, roots, n_roots);
		/* dates of root dummies (their children sorted) for (5)'s first child */
		sort_threads(t, roots, n_roots);
		/* REFS ignores Subject: no (5) */
		if (alg == IMAP_THREAD_REFERENCES) {
			n_roots = gather_subjects(t, roots, n_roots);
			sort_threads(t, roots, n_roots);
		}
	}
	stack = xreallocarray(NULL, MAX(t->n_nodes, 1), sizeof(*stack));
	for (i = 0; i < n_roots && ret == 0; i++)
		ret = format_thread(t, roots[i], stack, out);
	free(stack);
	free(roots);
	return ret;
}
