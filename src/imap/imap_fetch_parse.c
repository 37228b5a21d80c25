/*
 * imap_fetch_parse.c — FETCH item list parsing (see imap_fetch_parse.h). Pure: client
 * arguments in, a bounded item array out.
 */
#include "imap/imap_fetch_parse.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

static struct imap_fetch_item *
add_item(struct imap_fetch_request *r, enum imap_fetch_kind kind, const char *name)
{
	struct imap_fetch_item *it;
	unsigned i;

	/* Duplicates of simple items are folded (Dovecot does the same). */
	if (kind != IMAP_FETCH_SECTION && kind != IMAP_FETCH_BINARY &&
	    kind != IMAP_FETCH_BINARY_SIZE) {
		for (i = 0; i < r->count; i++)
			if (r->items[i].kind == kind)
				return &r->items[i];
	}
	if (r->count == IMAP_FETCH_MAX_ITEMS)
		return NULL;
	it = &r->items[r->count++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->name = xstrdup(name);
	switch (kind) {
	case IMAP_FETCH_UID:
		r->has_uid = true;
		break;
	case IMAP_FETCH_FLAGS:
		r->has_flags = true;
		break;
	case IMAP_FETCH_MODSEQ:
		r->has_modseq = true;
		break;
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
	case IMAP_FETCH_SECTION:
	case IMAP_FETCH_PREVIEW:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		r->need_message = true;
		r->need_parse = true;
		break;
	default:
		break;
	}
	return it;
}

/* "<origin.count>" at p[0..len) */
static int
parse_partial(const char *p, size_t len, uint64_t *origin_r, uint64_t *count_r)
{
	const char *dot;

	if (len < 5 || p[0] != '<' || p[len - 1] != '>')
		return -1;
	p++;
	len -= 2;
	dot = memchr(p, '.', len);
	if (dot == NULL)
		return -1;
	if (parse_u64(p, (size_t)(dot - p), UINT32_MAX, origin_r) < 0 ||
	    parse_u64(dot + 1, len - (size_t)(dot - p) - 1, UINT32_MAX, count_r) < 0 ||
	    *count_r == 0)
		return -1;
	return 0;
}

static int
add_section(struct imap_fetch_request *r, enum imap_fetch_kind kind, const char *atom,
    size_t len, bool peek, size_t prefix_len, const char **error_r)
{
	const char *prefix = kind == IMAP_FETCH_BINARY ? "BINARY[" :
	    kind == IMAP_FETCH_BINARY_SIZE ? "BINARY.SIZE[" : "BODY[";
	const char *spec = atom + prefix_len, *close;
	size_t spec_len;
	struct imap_fetch_item *it;
	struct buf name;

	/* atom is BODY[...] or BODY.PEEK[...] optionally followed by <o.c> */
	close = NULL;
	for (size_t i = len; i > prefix_len; i--) {
		if (atom[i - 1] == ']') {
			close = atom + i - 1;
			break;
		}
	}
	if (close == NULL) {
		*error_r = kind == IMAP_FETCH_SECTION ? "Invalid BODY[] section" :
		    "Invalid BINARY[] section";
		return -1;
	}
	spec_len = (size_t)(close - spec);
	it = add_item(r, kind, "");
	if (it == NULL) {
		*error_r = "Too many FETCH items";
		return -1;
	}
	it->peek = peek;
	if (mail_section_parse(spec, spec_len, &it->section, error_r) < 0) {
		free(it->name);
		r->count--;
		return -1;
	}
	/* RFC 3516 §6: section-binary is part numbers only */
	if (kind != IMAP_FETCH_SECTION && it->section.kind != MAIL_SECTION_BODY) {
		*error_r = "Invalid BINARY[] section";
		mail_section_deinit(&it->section);
		free(it->name);
		r->count--;
		return -1;
	}
	if ((size_t)(close + 1 - atom) < len) {
		if (kind == IMAP_FETCH_BINARY_SIZE) {
			*error_r = "BINARY.SIZE takes no partial range";
			mail_section_deinit(&it->section);
			free(it->name);
			r->count--;
			return -1;
		}
		if (parse_partial(close + 1, len - (size_t)(close + 1 - atom), &it->origin,
		    &it->count) < 0) {
			*error_r = "Invalid partial range";
			mail_section_deinit(&it->section);
			free(it->name);
			r->count--;
			return -1;
		}
		it->partial = true;
	}
	buf_init(&name, 64 * 1024);
	(void)buf_append_str(&name, prefix);
	(void)mail_section_write(&name, &it->section);
	(void)buf_append_c(&name, ']');
	if (it->partial)
		(void)buf_appendf(&name, "<%llu>", (unsigned long long)it->origin);
	free(it->name);
	it->name = buf_steal(&name);
	buf_deinit(&name);
	if (!peek && kind != IMAP_FETCH_BINARY_SIZE)
		r->sets_seen = true;
	return 0;
}

static int
add_rfc822(struct imap_fetch_request *r, const char *spec, const char *name, bool peek,
    const char **error_r)
{
	struct imap_fetch_item *it = add_item(r, IMAP_FETCH_SECTION, name);

	if (it == NULL) {
		*error_r = "Too many FETCH items";
		return -1;
	}
	it->peek = peek;
	if (mail_section_parse(spec, strlen(spec), &it->section, error_r) < 0)
		panic("imap: built-in section %s does not parse", spec);
	if (!peek)
		r->sets_seen = true;
	return 0;
}

/*
 * PREVIEW with the modifier list mods (NULL: none). RFC 8970 §3.2: LAZY is the only
 * modifier; a PREVIEW asked for twice is lazy only if both are.
 */
static int
add_preview(struct imap_fetch_request *r, const struct imap_arg *mods, const char **error_r)
{
	struct imap_fetch_item *it;
	bool had = false, lazy = false;
	unsigned i;

	if (mods != NULL) {
		if (mods->list_count == 0) {
			*error_r = "Empty PREVIEW modifier list";
			return -1;
		}
		for (i = 0; i < mods->list_count; i++) {
			if (!imap_arg_atom_equals(&mods->list[i], "LAZY")) {
				*error_r = "Unknown PREVIEW modifier";
				return -1;
			}
			lazy = true;
		}
	}
	for (i = 0; i < r->count; i++)
		if (r->items[i].kind == IMAP_FETCH_PREVIEW)
			had = true;
	it = add_item(r, IMAP_FETCH_PREVIEW, "PREVIEW");
	if (it == NULL) {
		*error_r = "Too many FETCH items";
		return -1;
	}
	it->lazy = had ? it->lazy && lazy : lazy;
	return 0;
}

static int
parse_one(struct imap_fetch_request *r, const struct imap_arg *a, const char **error_r)
{
	const char *s;
	size_t len;

	if (a->type != IMAP_ARG_ATOM) {
		*error_r = "Invalid FETCH item";
		return -1;
	}
	s = a->str;
	len = a->len;
	if (len >= 5 && mem_ieq(s, 5, "BODY[")) {
		return add_section(r, IMAP_FETCH_SECTION, s, len, false, 5, error_r);
	}
	if (len >= 10 && mem_ieq(s, 10, "BODY.PEEK[")) {
		return add_section(r, IMAP_FETCH_SECTION, s, len, true, 10, error_r);
	}
	if (len >= 7 && mem_ieq(s, 7, "BINARY["))
		return add_section(r, IMAP_FETCH_BINARY, s, len, false, 7, error_r);
	if (len >= 12 && mem_ieq(s, 12, "BINARY.PEEK["))
		return add_section(r, IMAP_FETCH_BINARY, s, len, true, 12, error_r);
	if (len >= 12 && mem_ieq(s, 12, "BINARY.SIZE["))
		return add_section(r, IMAP_FETCH_BINARY_SIZE, s, len, true, 12, error_r);
	if (mem_ieq(s, len, "ALL") || mem_ieq(s, len, "FAST") || mem_ieq(s, len, "FULL")) {
		*error_r = "Macros must be used alone";
		return -1;
	}
	if (mem_ieq(s, len, "UID"))
		return add_item(r, IMAP_FETCH_UID, "UID") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "FLAGS"))
		return add_item(r, IMAP_FETCH_FLAGS, "FLAGS") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "INTERNALDATE"))
		return add_item(r, IMAP_FETCH_INTERNALDATE, "INTERNALDATE") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "SAVEDATE"))
		return add_item(r, IMAP_FETCH_SAVEDATE, "SAVEDATE") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "MODSEQ"))
		return add_item(r, IMAP_FETCH_MODSEQ, "MODSEQ") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "EMAILID"))
		return add_item(r, IMAP_FETCH_EMAILID, "EMAILID") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "THREADID"))
		return add_item(r, IMAP_FETCH_THREADID, "THREADID") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "RFC822.SIZE"))
		return add_item(r, IMAP_FETCH_RFC822_SIZE, "RFC822.SIZE") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "ENVELOPE"))
		return add_item(r, IMAP_FETCH_ENVELOPE, "ENVELOPE") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "BODY"))
		return add_item(r, IMAP_FETCH_BODY, "BODY") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "BODYSTRUCTURE"))
		return add_item(r, IMAP_FETCH_BODYSTRUCTURE, "BODYSTRUCTURE") != NULL ? 0 : -1;
	if (mem_ieq(s, len, "PREVIEW"))
		return add_preview(r, NULL, error_r);
	if (mem_ieq(s, len, "RFC822"))
		return add_rfc822(r, "", "RFC822", false, error_r);
	if (mem_ieq(s, len, "RFC822.HEADER"))
		return add_rfc822(r, "HEADER", "RFC822.HEADER", true, error_r);
	if (mem_ieq(s, len, "RFC822.TEXT"))
		return add_rfc822(r, "TEXT", "RFC822.TEXT", false, error_r);
	*error_r = "Unknown FETCH item";
	return -1;
}

static int
add_simple(struct imap_fetch_request *r, const char *const *names)
{
	for (; *names != NULL; names++) {
		struct imap_arg a;

		memset(&a, 0, sizeof(a));
		a.type = IMAP_ARG_ATOM;
		a.str = *names;
		a.len = strlen(*names);
		if (parse_one(r, &a, &(const char *){ NULL }) < 0)
			return -1;
	}
	return 0;
}

int
imap_fetch_parse(const struct imap_arg *args, unsigned argc, bool uid_cmd,
    struct imap_fetch_request **req_r, const char **error_r)
{
	static const char *const m_fast[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL };
	static const char *const m_all[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE",
	    "ENVELOPE", NULL };
	static const char *const m_full[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE",
	    "ENVELOPE", "BODY", NULL };
	struct imap_fetch_request *r;
	unsigned i;
	int ret = 0;

	*req_r = NULL;
	*error_r = NULL;
	/* one item or list; or PREVIEW (modifiers) alone (RFC 8970 §5: a fetch-att) */
	if (argc != 1 && !(argc == 2 && args[1].type == IMAP_ARG_LIST &&
	    imap_arg_atom_equals(&args[0], "PREVIEW"))) {
		*error_r = "Invalid FETCH arguments";
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->items = xcalloc(IMAP_FETCH_MAX_ITEMS, sizeof(*r->items));
	if (uid_cmd)
		add_item(r, IMAP_FETCH_UID, "UID");
	if (args[0].type == IMAP_ARG_LIST) {
		if (args[0].list_count == 0) {
			*error_r = "Empty FETCH item list";
			ret = -1;
		}
		for (i = 0; i < args[0].list_count && ret == 0; i++) {
			const struct imap_arg *a = &args[0].list[i];

			/* PREVIEW (modifiers): the one item followed by a list */
			if (i + 1 < args[0].list_count && a[1].type == IMAP_ARG_LIST &&
			    imap_arg_atom_equals(a, "PREVIEW")) {
				ret = add_preview(r, &a[1], error_r);
				i++;
			} else
				ret = parse_one(r, a, error_r);
		}
	} else if (argc == 2) {
		ret = add_preview(r, &args[1], error_r);
	} else if (imap_arg_atom_equals(&args[0], "ALL")) {
		ret = add_simple(r, m_all);
	} else if (imap_arg_atom_equals(&args[0], "FAST")) {
		ret = add_simple(r, m_fast);
	} else if (imap_arg_atom_equals(&args[0], "FULL")) {
		ret = add_simple(r, m_full);
	} else {
		ret = parse_one(r, &args[0], error_r);
	}
	if (ret < 0) {
		if (*error_r == NULL)
			*error_r = "Too many FETCH items";
		imap_fetch_request_free(&r);
		return -1;
	}
	*req_r = r;
	return 0;
}

int
imap_fetch_request_add_modseq(struct imap_fetch_request *r)
{
	return add_item(r, IMAP_FETCH_MODSEQ, "MODSEQ") != NULL ? 0 : -1;
}

void
imap_fetch_request_free(struct imap_fetch_request **rp)
{
	struct imap_fetch_request *r = *rp;
	unsigned i;

	if (r == NULL)
		return;
	*rp = NULL;
	for (i = 0; i < r->count; i++) {
		if (r->items[i].kind == IMAP_FETCH_SECTION ||
		    r->items[i].kind == IMAP_FETCH_BINARY ||
		    r->items[i].kind == IMAP_FETCH_BINARY_SIZE)
			mail_section_deinit(&r->items[i].section);
		free(r->items[i].name);
	}
	free(r->items);
	free(r);
}
