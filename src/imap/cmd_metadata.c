/*
 * cmd_metadata.c — GETMETADATA and SETMETADATA (RFC 5464) for the server ("") and the
 * user's mailboxes, /private and /shared entries (one user per store: both are the
 * user's, kept apart by name), and the RENAME/DELETE/CREATE hooks that keep a mailbox's
 * entries with it. The entries live in the store's metadata file (store/metadata.h).
 * Runs in the per-user mail process; entry names and values come from the client and
 * are checked and bounded before anything is stored.
 */
#include "imap/imap_local.h"
#include "lib/imapstr.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/metadata.h"

#include <stdlib.h>
#include <string.h>

#define METADATA_DEPTH_INFINITY	UINT32_MAX
/* one METADATA response: every entry of a mailbox with quoting or literal framing */
#define METADATA_RESP_MAX	(4 * 1024 * 1024)

/*
 * The mailbox argument: "" is the server; else a store name (caller frees *name_r) of an
 * existing selectable mailbox, with *box_r opened when box_r != NULL. Returns false
 * when the tagged reply has been sent.
 */
static bool
metadata_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *a, char **name_r,
    struct mailbox **box_r)
{
	struct mailbox *box = NULL;
	enum store_status st;
	const char *s;
	size_t len;

	if (box_r != NULL)
		*box_r = NULL;
	if (imap_arg_get_astring(a, &s, &len) && len == 0 && a->type != IMAP_ARG_NIL) {
		*name_r = xstrdup("");
		return true;
	}
	if (!imap_cmd_mailbox_arg(cmd, a, name_r))
		return false;
	st = mailbox_open(cmd->client->user->store, *name_r, &box);
	if (st != STORE_OK) {
		free(*name_r);
		*name_r = NULL;
		imap_cmd_store_error(cmd, st);
		return false;
	}
	if (box_r != NULL)
		*box_r = box;
	else
		mailbox_unref(&box);
	return true;
}

/* An entry argument: checked (RFC 5464 §3.2) and lower-cased into *name_r (caller
 * frees). */
static bool
entry_arg(const struct imap_arg *a, char **name_r)
{
	char out[METADATA_ENTRY_NAME_MAX + 1];
	const char *s;
	size_t len;

	if (a->type == IMAP_ARG_NIL || !imap_arg_get_astring(a, &s, &len) ||
	    metadata_entry_name_check(s, len, out, sizeof(out)) < 0)
		return false;
	*name_r = xstrdup(out);
	return true;
}

static void
names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Does entry name e fall under the requested req with depth (RFC 5464 §4.2.2)? */
static bool
entry_matches(const char *e, const char *req, uint32_t depth)
{
	size_t rl = strlen(req);
	const char *rest;

	if (strncmp(e, req, rl) != 0)
		return false;
	if (e[rl] == '\0')
		return true;
	if (e[rl] != '/' || depth == 0)
		return false;
	rest = e + rl + 1;
	return depth == METADATA_DEPTH_INFINITY || strchr(rest, '/') == NULL;
}

/*
 * RFC 6154 §4: GETMETADATA's /private/specialuse of a mailbox says what LIST says: the
 * attributes by name and those kept in the entry, put into md in memory only.
 */
static void
special_use_entry(struct metadata *md, const char *mailbox)
{
	const struct metadata_entry *e;
	char text[MSTORE_SPECIAL_USE_TEXT_MAX];
	unsigned attrs = mstore_special_use_by_name(mailbox), kept;

	e = metadata_find(md, mailbox, METADATA_SPECIALUSE_ENTRY);
	if (e != NULL && mstore_special_use_parse((const char *)e->value, e->value_len,
	    &kept) == 0)
		attrs |= kept;
	if (attrs == 0)
		return;
	mstore_special_use_format(attrs, text);
	(void)metadata_set(md, mailbox, METADATA_SPECIALUSE_ENTRY, text, strlen(text));
}

/* A value as nstring, or as literal8 when it holds NUL (RFC 5464 §5: value = nstring /
 * literal8). */
static int
append_value(struct buf *out, const struct metadata_entry *e)
{
	if (memchr(e->value, '\0', e->value_len) == NULL)
		return imap_append_string(out, (const char *)e->value, e->value_len);
	if (buf_appendf(out, "~{%zu}\r\n", e->value_len) < 0)
		return -1;
	return buf_append(out, e->value, e->value_len);
}

/* GETMETADATA options (RFC 5464 §4.2.1, §4.2.2). Returns false (BAD sent) if invalid. */
static bool
parse_options(struct imap_cmd *cmd, const struct imap_arg *list, uint64_t *maxsize_r,
    uint32_t *depth_r)
{
	const struct imap_arg *o;
	unsigned n, i;

	imap_arg_get_list(list, &o, &n);
	if (n == 0 || n % 2 != 0) {
		imap_cmd_bad(cmd, "Invalid GETMETADATA options");
		return false;
	}
	for (i = 0; i < n; i += 2) {
		const struct imap_arg *v = &o[i + 1];
		uint32_t u;

		if (imap_arg_atom_equals(&o[i], "MAXSIZE") && v->type == IMAP_ARG_ATOM &&
		    parse_u32(v->str, v->len, &u) == 0) {
			*maxsize_r = u;
		} else if (imap_arg_atom_equals(&o[i], "DEPTH") &&
		    (imap_arg_atom_equals(v, "0") || imap_arg_atom_equals(v, "1") ||
		    imap_arg_atom_equals(v, "infinity"))) {
			*depth_r = v->str[0] == '0' ? 0 : v->str[0] == '1' ? 1 :
			    METADATA_DEPTH_INFINITY;
		} else {
			imap_cmd_bad(cmd, "Invalid GETMETADATA option");
			return false;
		}
	}
	return true;
}

int
cmd_getmetadata(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	const struct imap_arg *args = cmd->args, *ents, *mbox_arg, *ents_arg;
	uint64_t maxsize = UINT64_MAX, longest = 0;
	uint32_t depth = 0;
	unsigned nents, i;
	char **names = NULL;
	struct metadata *md = NULL;
	char *mailbox = NULL;
	bool *sent = NULL, any = false;
	size_t first, j, k;
	struct buf b;
	int ret;

	/* getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries;
	 * the options after the mailbox (the order of drafts, which clients still send)
	 * are accepted too */
	if (cmd->argc == 3 && (args[0].type == IMAP_ARG_LIST ||
	    args[1].type == IMAP_ARG_LIST)) {
		bool opts_first = args[0].type == IMAP_ARG_LIST;

		if (!parse_options(cmd, &args[opts_first ? 0 : 1], &maxsize, &depth))
			return IMAP_CMD_DONE;
		mbox_arg = &args[opts_first ? 1 : 0];
		ents_arg = &args[2];
	} else if (cmd->argc == 2) {
		mbox_arg = &args[0];
		ents_arg = &args[1];
	} else {
		return imap_cmd_bad(cmd, "Invalid GETMETADATA arguments");
	}
	if (ents_arg->type == IMAP_ARG_LIST) {
		imap_arg_get_list(ents_arg, &ents, &nents);
		if (nents == 0)
			return imap_cmd_bad(cmd, "Empty entry list");
	} else {
		ents = ents_arg;
		nents = 1;
	}
	names = xcalloc(nents, sizeof(*names));
	for (i = 0; i < nents; i++) {
		if (!entry_arg(&ents[i], &names[i])) {
			names_free(names, nents);
			return imap_cmd_bad(cmd, "Invalid entry name");
		}
	}
	if (!metadata_mailbox_arg(cmd, mbox_arg, &mailbox, NULL)) {
		names_free(names, nents);
		return IMAP_CMD_DONE;
	}
	if (metadata_open(c->user->store, false, &md) < 0) {
		names_free(names, nents);
		free(mailbox);
		return imap_cmd_store_error(cmd, STORE_IOERROR);
	}
	if (mailbox[0] != '\0')
		special_use_entry(md, mailbox);
	buf_init(&b, METADATA_RESP_MAX);
	(void)buf_append_str(&b, "* METADATA ");
	ret = mailbox[0] == '\0' ? buf_append_str(&b, "\"\"") :
	    imap_append_mailbox(c, &b, mailbox);
	ret |= buf_append_str(&b, " (");
	first = metadata_first(md, mailbox);
	for (k = first; k < md->count && strcmp(md->e[k].mailbox, mailbox) == 0; k++)
		;
	sent = xcalloc(k - first + 1, sizeof(*sent));
	for (i = 0; i < nents && ret == 0; i++) {
		for (j = first; j < k && ret == 0; j++) {
			const struct metadata_entry *e = &md->e[j];

			if (sent[j - first] || !entry_matches(e->name, names[i], depth))
				continue;
			sent[j - first] = true;
			/* §4.2.1: too large values are left out and the largest is told */
			if (e->value_len > maxsize) {
				if (e->value_len > longest)
					longest = e->value_len;
				continue;
			}
			if (any)
				ret |= buf_append_c(&b, ' ');
			ret |= buf_append_str(&b, e->name);
			ret |= buf_append_c(&b, ' ');
			ret |= append_value(&b, e);
			any = true;
		}
	}
	free(sent);
	names_free(names, nents);
	free(mailbox);
	metadata_close(&md);
	if (ret != 0) {
		buf_deinit(&b);
		log_error("imap getmetadata response too large user=%s", c->user->name);
		return imap_cmd_store_error(cmd, STORE_IOERROR);
	}
	/* entries that do not exist are not returned (§4.2) */
	if (any) {
		(void)buf_append_str(&b, ")\r\n");
		imap_client_write(c, b.data, b.len);
	}
	buf_deinit(&b);
	if (longest > 0)
		return imap_cmd_ok(cmd, "[METADATA LONGENTRIES %llu] GETMETADATA completed.",
		    (unsigned long long)longest);
	return imap_cmd_ok(cmd, "GETMETADATA completed.");
}

int
cmd_setmetadata(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	const struct imap_arg *list;
	unsigned n, i;
	char **names = NULL;
	struct metadata *md = NULL;
	struct mailbox *box = NULL;
	enum metadata_status ms = METADATA_OK;
	char *mailbox = NULL;
	bool changed, ioerr = false;

	/* setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")" */
	if (cmd->argc != 2 || cmd->args[1].type != IMAP_ARG_LIST)
		return imap_cmd_bad(cmd, "Invalid SETMETADATA arguments");
	imap_arg_get_list(&cmd->args[1], &list, &n);
	if (n == 0 || n % 2 != 0)
		return imap_cmd_bad(cmd, "Invalid SETMETADATA entry list");
	names = xcalloc(n / 2, sizeof(*names));
	for (i = 0; i < n; i += 2) {
		const struct imap_arg *v = &list[i + 1];

		/* value = nstring / literal8; "/private" and "/shared" are not entries */
		if (!entry_arg(&list[i], &names[i / 2]) ||
		    strchr(names[i / 2] + 1, '/') == NULL ||
		    (v->type != IMAP_ARG_NIL && v->type != IMAP_ARG_QUOTED &&
		    v->type != IMAP_ARG_LITERAL)) {
			names_free(names, n / 2);
			return imap_cmd_bad(cmd, "Invalid SETMETADATA entry");
		}
	}
	if (!metadata_mailbox_arg(cmd, &cmd->args[0], &mailbox, &box)) {
		names_free(names, n / 2);
		return IMAP_CMD_DONE;
	}
	if (metadata_open(c->user->store, true, &md) < 0) {
		names_free(names, n / 2);
		free(mailbox);
		if (box != NULL)
			mailbox_unref(&box);
		return imap_cmd_store_error(cmd, STORE_IOERROR);
	}
	/* RFC 6154 §4: /private/specialuse holds attributes LIST can show */
	for (i = 0; i < n; i += 2) {
		const struct imap_arg *v = &list[i + 1];
		unsigned attrs;

		if (strcmp(names[i / 2], METADATA_SPECIALUSE_ENTRY) == 0 &&
		    v->type != IMAP_ARG_NIL &&
		    (mailbox[0] == '\0' || mstore_special_use_parse(v->str, v->len, &attrs) < 0)) {
			names_free(names, n / 2);
			free(mailbox);
			metadata_close(&md);
			if (box != NULL)
				mailbox_unref(&box);
			return imap_cmd_no(cmd, "[USEATTR] Unsupported special-use attribute");
		}
	}
	/* all or nothing: md is only written back when every entry was accepted */
	for (i = 0; i < n && ms == METADATA_OK; i += 2) {
		const struct imap_arg *v = &list[i + 1];

		ms = metadata_set(md, mailbox, names[i / 2],
		    v->type == IMAP_ARG_NIL ? NULL : v->str, v->len);
	}
	names_free(names, n / 2);
	changed = md->changed;
	if (ms == METADATA_OK && metadata_commit(c->user->store, md) < 0)
		ioerr = true;
	metadata_close(&md);
	/* RFC 7162 §3.2: with QRESYNC, a mailbox's metadata change raises its MODSEQ */
	if (ms == METADATA_OK && !ioerr && changed && box != NULL)
		mailbox_touch_modseq(box);
	if (box != NULL)
		mailbox_unref(&box);
	free(mailbox);
	if (ioerr)
		return imap_cmd_store_error(cmd, STORE_IOERROR);
	switch (ms) {
	case METADATA_OK:
		log_info("imap SETMETADATA user=%s session=%u", c->user->name, c->id);
		return imap_cmd_ok(cmd, "SETMETADATA completed.");
	case METADATA_MAXSIZE:
		return imap_cmd_no(cmd, "[METADATA MAXSIZE %u] Value too large",
		    (unsigned)METADATA_VALUE_MAX);
	case METADATA_TOOMANY:
		return imap_cmd_no(cmd, "[METADATA TOOMANY] Too many entries");
	case METADATA_OVERQUOTA:
		return imap_cmd_no(cmd, "[OVERQUOTA] Metadata storage limit reached");
	}
	return imap_cmd_store_error(cmd, STORE_IOERROR);
}

/* Apply fn to the user's metadata and write it back; failures are logged only (the
 * folder operation has already happened). */
static void
metadata_update(struct imap_client *c, const char *what, const char *a, const char *b)
{
	if (metadata_mailbox_follow(c->user->store, a, b) < 0)
		log_error("imap metadata %s failed user=%s", what, c->user->name);
}

int
imap_metadata_set_special_use(struct imap_client *c, const char *name, unsigned attrs)
{
	char text[MSTORE_SPECIAL_USE_TEXT_MAX];
	struct metadata *md;
	int ret = -1;

	mstore_special_use_format(attrs, text);
	if (metadata_open(c->user->store, true, &md) < 0)
		return -1;
	if (metadata_set(md, name, METADATA_SPECIALUSE_ENTRY, text, strlen(text)) ==
	    METADATA_OK && metadata_commit(c->user->store, md) == 0)
		ret = 0;
	else
		log_error("imap metadata special-use failed user=%s", c->user->name);
	metadata_close(&md);
	return ret;
}

void
imap_metadata_mailbox_deleted(struct imap_client *c, const char *name)
{
	metadata_update(c, "delete", name, NULL);
}

void
imap_metadata_mailbox_created(struct imap_client *c, const char *name)
{
	/* entries left by a folder removed outside IMAP must not come back with the name */
	metadata_update(c, "create", name, NULL);
}

void
imap_metadata_mailbox_renamed(struct imap_client *c, const char *oldname,
    const char *newname)
{
	/* renaming INBOX moves its messages into a new folder; INBOX keeps its entries */
	if (strcmp(oldname, "INBOX") == 0)
		metadata_update(c, "rename", newname, NULL);
	else
		metadata_update(c, "rename", oldname, newname);
}
