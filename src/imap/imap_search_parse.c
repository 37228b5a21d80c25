/*
 * imap_search_parse.c — SEARCH program parsing (see imap_search_parse.h). Pure: client
 * arguments in, a bounded tree out.
 */
#include "imap/imap_search_parse.h"
#include "lib/util.h"
#include "proto/imap_date.h"
#include "store/store.h"

struct sp {
	const struct imap_arg *args;
	unsigned argc;
	unsigned pos;
	unsigned keys;
	const char *error;
	struct imap_search_program *prog;
};

static struct imap_search_key *parse_key(struct sp *p, unsigned depth);

static struct imap_search_key *
new_key(struct sp *p, enum imap_search_type type)
{
	struct imap_search_key *k;

	if (++p->keys > IMAP_SEARCH_MAX_KEYS) {
		p->error = "Too many search keys";
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->type = type;
	return k;
}

static void
key_free(struct imap_search_key *k, void (*free_matcher)(void *))
{
	while (k != NULL) {
		struct imap_search_key *next = k->next;

		key_free(k->child, free_matcher);
		if (k->set != NULL)
			seqset_destroy(&k->set);
		if (k->matcher != NULL && free_matcher != NULL)
			free_matcher(k->matcher);
		free(k->field);
		free(k->str);
		free(k);
		k = next;
	}
}

static const struct imap_arg *
next_arg(struct sp *p)
{
	if (p->pos >= p->argc) {
		p->error = "Missing search argument";
		return NULL;
	}
	return &p->args[p->pos++];
}

static bool
get_string(struct sp *p, char **str_r, size_t *len_r)
{
	const struct imap_arg *a = next_arg(p);
	const char *s;
	size_t len;

	if (a == NULL)
		return false;
	if (!imap_arg_get_astring(a, &s, &len)) {
		p->error = "Invalid search string";
		return false;
	}
	*str_r = xstrndup(s, len);
	*len_r = len;
	return true;
}

static bool
get_number(struct sp *p, uint64_t *n_r)
{
	const struct imap_arg *a = next_arg(p);

	if (a == NULL)
		return false;
	if (a->type != IMAP_ARG_ATOM || parse_u64(a->str, a->len, UINT32_MAX, n_r) < 0) {
		p->error = "Invalid number";
		return false;
	}
	return true;
}

static bool
get_date(struct sp *p, time_t *t_r)
{
	const struct imap_arg *a = next_arg(p);
	struct imap_date d;
	const char *s;
	size_t len;

	if (a == NULL)
		return false;
	if (!imap_arg_get_astring(a, &s, &len) || imap_date_parse(s, len, &d) < 0) {
		p->error = "Invalid search date";
		return false;
	}
	*t_r = imap_date_to_time(&d);
	return true;
}

bool
imap_objectid_valid(const char *s, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

uint64_t
imap_emailid_parse(const char *s, size_t len)
{
	uint64_t v = 0;

	if (len != IMAP_EMAILID_LEN || s[0] != 'M')
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			v = v << 4 | (uint64_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			v = v << 4 | (uint64_t)(s[i] - 'a' + 10);
		else
			return 0;
	}
	return v;
}

/* EMAILID / THREADID <objectid> (RFC 8474 §6) */
static struct imap_search_key *
objectid_key(struct sp *p, enum imap_search_type type)
{
	const struct imap_arg *a = next_arg(p);
	struct imap_search_key *k;
	const char *s;
	size_t len;

	if (a == NULL)
		return NULL;
	if (!imap_arg_get_astring(a, &s, &len) || !imap_objectid_valid(s, len)) {
		p->error = "Invalid object id";
		return NULL;
	}
	k = new_key(p, type);
	if (k != NULL && type == SEARCH_EMAILID)
		k->number = imap_emailid_parse(s, len);
	/* a THREADID is "T" and 16 hex digits, as an EMAILID is "M" and them */
	if (k != NULL && type == SEARCH_THREADID && len == IMAP_EMAILID_LEN && s[0] == 'T') {
		char m[IMAP_EMAILID_LEN];

		memcpy(m, s, len);
		m[0] = 'M';
		k->number = imap_emailid_parse(m, len);
	}
	return k;
}

static struct imap_search_key *
str_key(struct sp *p, enum imap_search_type type, const char *field)
{
	struct imap_search_key *k = new_key(p, type);

	if (k == NULL)
		return NULL;
	if (field != NULL)
		k->field = xstrdup(field);
	if (!get_string(p, &k->str, &k->str_len)) {
		key_free(k, NULL);
		return NULL;
	}
	p->prog->needs_message = true;
	return k;
}

static struct imap_search_key *
flag_key(struct sp *p, uint8_t flag, bool negate)
{
	struct imap_search_key *k = new_key(p, SEARCH_FLAG), *n;

	if (k == NULL)
		return NULL;
	k->flag = flag;
	if (!negate)
		return k;
	n = new_key(p, SEARCH_NOT);
	if (n == NULL) {
		key_free(k, NULL);
		return NULL;
	}
	n->child = k;
	return n;
}

/* A parenthesised list or the rest of the top level: an AND of keys. */
static struct imap_search_key *
parse_and(struct sp *p, const struct imap_arg *args, unsigned argc, unsigned depth)
{
	struct sp sub = *p;
	struct imap_search_key *and, **tail;

	and = new_key(p, SEARCH_AND);
	if (and == NULL)
		return NULL;
	tail = &and->child;
	sub.args = args;
	sub.argc = argc;
	sub.pos = 0;
	sub.keys = p->keys;
	if (argc == 0) {
		p->error = "Empty search list";
		key_free(and, NULL);
		return NULL;
	}
	while (sub.pos < sub.argc) {
		struct imap_search_key *k = parse_key(&sub, depth + 1);

		if (k == NULL) {
			p->error = sub.error;
			p->keys = sub.keys;
			key_free(and, NULL);
			return NULL;
		}
		*tail = k;
		tail = &k->next;
	}
	p->keys = sub.keys;
	return and;
}

static struct imap_search_key *
parse_key(struct sp *p, unsigned depth)
{
	const struct imap_arg *a;
	struct imap_search_key *k;
	const char *s;
	size_t len;

	if (depth > IMAP_SEARCH_MAX_DEPTH) {
		p->error = "Search program nested too deeply";
		return NULL;
	}
	a = next_arg(p);
	if (a == NULL)
		return NULL;
	if (a->type == IMAP_ARG_LIST)
		return parse_and(p, a->list, a->list_count, depth);
	if (a->type != IMAP_ARG_ATOM) {
		p->error = "Invalid search key";
		return NULL;
	}
	s = a->str;
	len = a->len;
#define IS(name) mem_ieq(s, len, name)
	if (IS("ALL"))
		return new_key(p, SEARCH_ALL);
	if (IS("ANSWERED"))
		return flag_key(p, MAILBOX_FLAG_ANSWERED, false);
	if (IS("DELETED"))
		return flag_key(p, MAILBOX_FLAG_DELETED, false);
	if (IS("DRAFT"))
		return flag_key(p, MAILBOX_FLAG_DRAFT, false);
	if (IS("FLAGGED"))
		return flag_key(p, MAILBOX_FLAG_FLAGGED, false);
	if (IS("SEEN"))
		return flag_key(p, MAILBOX_FLAG_SEEN, false);
	if (IS("UNANSWERED"))
		return flag_key(p, MAILBOX_FLAG_ANSWERED, true);
	if (IS("UNDELETED"))
		return flag_key(p, MAILBOX_FLAG_DELETED, true);
	if (IS("UNDRAFT"))
		return flag_key(p, MAILBOX_FLAG_DRAFT, true);
	if (IS("UNFLAGGED"))
		return flag_key(p, MAILBOX_FLAG_FLAGGED, true);
	if (IS("UNSEEN"))
		return flag_key(p, MAILBOX_FLAG_SEEN, true);
	if (IS("RECENT"))
		return new_key(p, SEARCH_RECENT);
	if (IS("NEW"))
		return new_key(p, SEARCH_NEW);
	if (IS("OLD"))
		return new_key(p, SEARCH_OLD);
	if (IS("KEYWORD") || IS("UNKEYWORD")) {
		bool neg = IS("UNKEYWORD");
		const struct imap_arg *kw = next_arg(p);
		struct imap_search_key *n;

		if (kw == NULL)
			return NULL;
		if (kw->type != IMAP_ARG_ATOM || kw->len == 0 || kw->str[0] == '\\') {
			p->error = "Invalid keyword";
			return NULL;
		}
		k = new_key(p, SEARCH_KEYWORD);
		if (k == NULL)
			return NULL;
		k->str = xstrndup(kw->str, kw->len);
		k->str_len = kw->len;
		if (!neg)
			return k;
		n = new_key(p, SEARCH_NOT);
		if (n == NULL) {
			key_free(k, NULL);
			return NULL;
		}
		n->child = k;
		return n;
	}
	if (IS("LARGER") || IS("SMALLER")) {
		k = new_key(p, IS("LARGER") ? SEARCH_LARGER : SEARCH_SMALLER);
		if (k != NULL && !get_number(p, &k->number)) {
			key_free(k, NULL);
			return NULL;
		}
		return k;
	}
	if (IS("BEFORE") || IS("ON") || IS("SINCE") || IS("SENTBEFORE") || IS("SENTON") ||
	    IS("SENTSINCE")) {
		enum imap_search_type t = IS("BEFORE") ? SEARCH_BEFORE : IS("ON") ? SEARCH_ON :
		    IS("SINCE") ? SEARCH_SINCE : IS("SENTBEFORE") ? SEARCH_SENTBEFORE :
		    IS("SENTON") ? SEARCH_SENTON : SEARCH_SENTSINCE;

		k = new_key(p, t);
		if (k != NULL && !get_date(p, &k->date)) {
			key_free(k, NULL);
			return NULL;
		}
		if (k != NULL && t >= SEARCH_SENTBEFORE)
			p->prog->needs_message = true;
		return k;
	}
	if (IS("SAVEDBEFORE") || IS("SAVEDON") || IS("SAVEDSINCE")) {
		k = new_key(p, IS("SAVEDBEFORE") ? SEARCH_SAVEDBEFORE : IS("SAVEDON") ?
		    SEARCH_SAVEDON : SEARCH_SAVEDSINCE);
		if (k != NULL && !get_date(p, &k->date)) {
			key_free(k, NULL);
			return NULL;
		}
		return k;
	}
	if (IS("OLDER") || IS("YOUNGER")) {
		/* RFC 5032: interval = nz-number (seconds) */
		k = new_key(p, IS("OLDER") ? SEARCH_OLDER : SEARCH_YOUNGER);
		if (k != NULL && !get_number(p, &k->number)) {
			key_free(k, NULL);
			return NULL;
		}
		if (k != NULL && k->number == 0) {
			p->error = "Invalid interval";
			key_free(k, NULL);
			return NULL;
		}
		return k;
	}
	if (IS("SAVEDATESUPPORTED"))
		return new_key(p, SEARCH_SAVEDATESUPPORTED);
	if (IS("MODSEQ")) {
		/* RFC 7162 §3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer;
		 * the store keeps one MODSEQ per message, so the entry is checked and
		 * otherwise ignored (as the RFC allows) */
		const struct imap_arg *ma = next_arg(p);

		if (ma == NULL)
			return NULL;
		if (ma->type == IMAP_ARG_QUOTED || ma->type == IMAP_ARG_LITERAL) {
			const struct imap_arg *t = next_arg(p);

			if (t == NULL)
				return NULL;
			if (!imap_arg_atom_equals(t, "priv") && !imap_arg_atom_equals(t, "shared") &&
			    !imap_arg_atom_equals(t, "all")) {
				p->error = "Invalid MODSEQ entry type";
				return NULL;
			}
			ma = next_arg(p);
			if (ma == NULL)
				return NULL;
		}
		k = new_key(p, SEARCH_MODSEQ);
		if (k == NULL)
			return NULL;
		if (ma->type != IMAP_ARG_ATOM ||
		    parse_u64(ma->str, ma->len, INT64_MAX, &k->number) < 0) {
			p->error = "Invalid MODSEQ value";
			key_free(k, NULL);
			return NULL;
		}
		p->prog->has_modseq = true;
		return k;
	}
	if (IS("EMAILID"))
		return objectid_key(p, SEARCH_EMAILID);
	if (IS("THREADID"))
		return objectid_key(p, SEARCH_THREADID);
	if (IS("FROM"))
		return str_key(p, SEARCH_HEADER, "From");
	if (IS("TO"))
		return str_key(p, SEARCH_HEADER, "To");
	if (IS("CC"))
		return str_key(p, SEARCH_HEADER, "Cc");
	if (IS("BCC"))
		return str_key(p, SEARCH_HEADER, "Bcc");
	if (IS("SUBJECT"))
		return str_key(p, SEARCH_HEADER, "Subject");
	if (IS("BODY"))
		return str_key(p, SEARCH_BODY, NULL);
	if (IS("TEXT"))
		return str_key(p, SEARCH_TEXT, NULL);
	if (IS("HEADER")) {
		char *field;
		size_t flen;

		if (!get_string(p, &field, &flen))
			return NULL;
		if (flen == 0 || memchr(field, ':', flen) != NULL ||
		    strlen(field) != flen) {
			free(field);
			p->error = "Invalid header field name";
			return NULL;
		}
		k = str_key(p, SEARCH_HEADER, field);
		free(field);
		return k;
	}
	if (IS("NOT")) {
		k = new_key(p, SEARCH_NOT);
		if (k == NULL)
			return NULL;
		k->child = parse_key(p, depth + 1);
		if (k->child == NULL) {
			key_free(k, NULL);
			return NULL;
		}
		return k;
	}
	if (IS("OR")) {
		k = new_key(p, SEARCH_OR);
		if (k == NULL)
			return NULL;
		k->child = parse_key(p, depth + 1);
		if (k->child == NULL || (k->child->next = parse_key(p, depth + 1)) == NULL) {
			key_free(k, NULL);
			return NULL;
		}
		return k;
	}
	if (IS("UID")) {
		const struct imap_arg *sa = next_arg(p);

		if (sa == NULL)
			return NULL;
		k = new_key(p, SEARCH_UIDSET);
		if (k == NULL)
			return NULL;
		if (sa->type == IMAP_ARG_ATOM && sa->len == 1 && sa->str[0] == '$') {
			k->saved = true;
			p->prog->uses_saved = true;
			return k;
		}
		if (sa->type != IMAP_ARG_ATOM ||
		    seqset_parse(sa->str, sa->len, 0, &k->set) != SEQSET_PARSE_OK) {
			key_free(k, NULL);
			p->error = "Invalid UID set";
			return NULL;
		}
		return k;
	}
#undef IS
	/* "$": the saved result, UIDs (RFC 5182 §2.1) */
	if (len == 1 && s[0] == '$') {
		k = new_key(p, SEARCH_UIDSET);
		if (k == NULL)
			return NULL;
		k->saved = true;
		p->prog->uses_saved = true;
		return k;
	}
	/* a sequence set */
	k = new_key(p, SEARCH_SEQSET);
	if (k == NULL)
		return NULL;
	if (seqset_parse(s, len, 0, &k->set) != SEQSET_PARSE_OK) {
		key_free(k, NULL);
		p->error = "Unknown search key";
		return NULL;
	}
	p->prog->has_seqset = true;
	return k;
}

/* One end of a PARTIAL range: nz-number, or "-" nz-number when neg. */
static bool
partial_number(const char *s, size_t len, bool neg, int64_t *n_r)
{
	uint64_t n;

	if (neg != (len > 0 && s[0] == '-'))
		return false;
	if (neg) {
		s++;
		len--;
	}
	if (len == 0 || s[0] == '0' || parse_u64(s, len, UINT32_MAX, &n) < 0)
		return false;
	*n_r = neg ? -(int64_t)n : (int64_t)n;
	return true;
}

/* RFC 9394 §5: partial-range = nz-number ":" nz-number / "-" nz-number ":" "-" nz-number */
static bool
parse_partial_range(const struct imap_arg *a, struct imap_search_program *prog)
{
	const char *colon;
	bool neg;

	if (a->type != IMAP_ARG_ATOM || a->len == 0)
		return false;
	colon = memchr(a->str, ':', a->len);
	if (colon == NULL)
		return false;
	neg = a->str[0] == '-';
	return partial_number(a->str, (size_t)(colon - a->str), neg, &prog->partial_first) &&
	    partial_number(colon + 1, a->len - (size_t)(colon - a->str) - 1, neg,
	    &prog->partial_last);
}

enum imap_search_parse_result
imap_search_parse(const struct imap_arg *args, unsigned argc,
    struct imap_search_program **prog_r, const char **error_r)
{
	struct imap_search_program *prog = xcalloc(1, sizeof(*prog));
	struct sp p;
	unsigned i = 0;

	*prog_r = NULL;
	*error_r = NULL;
	/* RFC 4731: SEARCH RETURN (opts) ... */
	if (argc >= 2 && imap_arg_atom_equals(&args[0], "RETURN") &&
	    args[1].type == IMAP_ARG_LIST) {
		unsigned j;

		prog->esearch = true;
		for (j = 0; j < args[1].list_count; j++) {
			const struct imap_arg *o = &args[1].list[j];

			if (imap_arg_atom_equals(o, "MIN"))
				prog->return_opts |= SEARCH_RETURN_MIN;
			else if (imap_arg_atom_equals(o, "MAX"))
				prog->return_opts |= SEARCH_RETURN_MAX;
			else if (imap_arg_atom_equals(o, "COUNT"))
				prog->return_opts |= SEARCH_RETURN_COUNT;
			else if (imap_arg_atom_equals(o, "ALL"))
				prog->return_opts |= SEARCH_RETURN_ALL;
			else if (imap_arg_atom_equals(o, "SAVE"))
				prog->return_opts |= SEARCH_RETURN_SAVE;
			else if (imap_arg_atom_equals(o, "CONTEXT"))
				;	/* RFC 5267 §4.2: a hint, which may be ignored */
			else if (imap_arg_atom_equals(o, "UPDATE") &&
			    !(prog->return_opts & SEARCH_RETURN_UPDATE))
				prog->return_opts |= SEARCH_RETURN_UPDATE;
			else if (imap_arg_atom_equals(o, "PARTIAL") &&
			    !(prog->return_opts & SEARCH_RETURN_PARTIAL) &&
			    j + 1 < args[1].list_count &&
			    parse_partial_range(&args[1].list[j + 1], prog)) {
				prog->return_opts |= SEARCH_RETURN_PARTIAL;
				j++;
			} else {
				free(prog);
				*error_r = "Unknown RETURN option";
				return IMAP_SEARCH_BAD;
			}
		}
		/* RFC 9394 §3.1: ALL and PARTIAL are mutually exclusive */
		if ((prog->return_opts & SEARCH_RETURN_ALL) &&
		    (prog->return_opts & SEARCH_RETURN_PARTIAL)) {
			free(prog);
			*error_r = "PARTIAL and ALL cannot be combined";
			return IMAP_SEARCH_BAD;
		}
		if (prog->return_opts == 0)
			prog->return_opts = SEARCH_RETURN_ALL;
		i = 2;
	}
	if (argc - i >= 2 && imap_arg_atom_equals(&args[i], "CHARSET")) {
		const char *cs;
		size_t cl;

		if (!imap_arg_get_astring(&args[i + 1], &cs, &cl)) {
			free(prog);
			*error_r = "Invalid charset";
			return IMAP_SEARCH_BAD;
		}
		if (!mem_ieq(cs, cl, "UTF-8") && !mem_ieq(cs, cl, "US-ASCII")) {
			free(prog);
			return IMAP_SEARCH_BADCHARSET;
		}
		i += 2;
	}
	memset(&p, 0, sizeof(p));
	p.prog = prog;
	prog->root = parse_and(&p, args + i, argc - i, 0);
	if (prog->root == NULL) {
		*error_r = p.error != NULL ? p.error : "Invalid search program";
		free(prog);
		return IMAP_SEARCH_BAD;
	}
	*prog_r = prog;
	return IMAP_SEARCH_OK;
}

void
imap_search_program_free(struct imap_search_program **progp, void (*free_matcher)(void *))
{
	struct imap_search_program *prog = *progp;

	if (prog == NULL)
		return;
	*progp = NULL;
	key_free(prog->root, free_matcher);
	free(prog);
}
