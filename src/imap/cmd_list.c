/*
 * cmd_list.c — mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 * LIST (RFC 3501 and the RFC 5258 LIST-EXTENDED basics: selection SUBSCRIBED,
 * SPECIAL-USE, RECURSIVEMATCH; RETURN CHILDREN, SUBSCRIBED, SPECIAL-USE and RFC 5819
 * STATUS), LSUB and STATUS. Runs in the per-user mail process. Mailbox names are names,
 * never paths: they are validated here (mUTF-7) and by the store, and LIST only reports
 * what the store enumerates, so a pattern like "../%" cannot reach outside the Maildir.
 */
#include "imap/imap_local.h"
#include "lib/imapstr.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/mutf7.h"

#define LIST_MAX_PATTERNS	100

#define STATUS_MESSAGES		0x01
#define STATUS_RECENT		0x02
#define STATUS_UIDNEXT		0x04
#define STATUS_UIDVALIDITY	0x08
#define STATUS_UNSEEN		0x10
#define STATUS_SIZE		0x20	/* RFC 8438 */
#define STATUS_HIGHESTMODSEQ	0x40	/* RFC 7162 §3.1.6 */
#define STATUS_MAILBOXID	0x200	/* RFC 8474 */
#define STATUS_DELETED		0x400	/* RFC 9051 §6.3.11 */
#define STATUS_DELETED_STORAGE	0x800	/* RFC 9208 §4.3 */

static int
mailbox_cmd(struct imap_cmd *cmd, enum store_status (*fn)(struct mstore *, const char *),
    const char *done, enum imap_notify_folder_ev ev)
{
	char *name;
	enum store_status st;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &name))
		return IMAP_CMD_DONE;
	st = fn(cmd->client->user->store, name);
	if (st == STORE_OK) {
		size_t len = strlen(name);

		log_info("imap %s user=%s session=%u", cmd->def->name, cmd->client->user->name,
		    cmd->client->id);
		if (len > 1 && name[len - 1] == STORE_SEP)
			name[len - 1] = '\0';	/* CREATE's trailing separator */
		if (ev == IMAP_NOTIFY_DELETE)
			imap_metadata_mailbox_deleted(cmd->client, name);	/* RFC 5464 */
		imap_notify_folder_event(cmd->client, ev, name, NULL);	/* RFC 5465 */
	}
	free(name);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	return imap_cmd_ok(cmd, "%s", done);
}

/*
 * CREATE's parameter list (RFC 4466 §2.2): only USE (RFC 6154 §3, CREATE-SPECIAL-USE).
 * Returns 0 with the special-use bits in *use_r, or -1 when the tagged BAD or NO
 * [USEATTR] has been sent.
 */
static int
create_params(struct imap_cmd *cmd, const struct imap_arg *a, unsigned *use_r)
{
	const struct imap_arg *p, *u;
	unsigned n, nu, i, j;
	bool have_use = false;

	*use_r = 0;
	if (!imap_arg_get_list(a, &p, &n) || n == 0) {
		imap_cmd_bad(cmd, "Invalid CREATE parameters");
		return -1;
	}
	for (i = 0; i < n; i += 2) {	/* name and value pairs */
		if (!imap_arg_atom_equals(&p[i], "USE") || have_use || i + 1 >= n ||
		    !imap_arg_get_list(&p[i + 1], &u, &nu)) {
			imap_cmd_bad(cmd, "Invalid CREATE parameters");
			return -1;
		}
		for (j = 0; j < nu; j++) {
			unsigned attr;

			if (u[j].type != IMAP_ARG_ATOM || u[j].str[0] != '\\') {
				imap_cmd_bad(cmd, "Invalid special-use attribute");
				return -1;
			}
			if (mstore_special_use_parse(u[j].str, u[j].len, &attr) < 0) {
				/* §3: not created; virtual mailboxes are not offered */
				imap_cmd_no(cmd, "[USEATTR] %s",
				    imap_arg_atom_equals(&u[j], "\\All") ||
				    imap_arg_atom_equals(&u[j], "\\Flagged") ?
				    "\\All and \\Flagged mailboxes are not supported" :
				    "Unsupported special-use attribute");
				return -1;
			}
			*use_r |= attr;
		}
		have_use = true;
	}
	return 0;
}

/* RFC 8474 §4.1: the tagged OK of CREATE carries the new folder's MAILBOXID. */
int
cmd_create(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct mailbox_status ms;
	enum store_status st;
	unsigned use = 0;
	char *name;
	size_t len;

	if (cmd->argc != 1 && cmd->argc != 2)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (cmd->argc == 2 && create_params(cmd, &cmd->args[1], &use) < 0)
		return IMAP_CMD_DONE;
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &name))
		return IMAP_CMD_DONE;
	st = mstore_create(c->user->store, name);
	if (st != STORE_OK) {
		free(name);
		return imap_cmd_store_error(cmd, st);
	}
	log_info("imap %s user=%s session=%u", cmd->def->name, c->user->name, c->id);
	/* mstore_create ignores one trailing separator (RFC 3501 §6.3.3) */
	len = strlen(name);
	if (len > 1 && name[len - 1] == STORE_SEP)
		name[len - 1] = '\0';
	imap_metadata_mailbox_created(c, name);		/* RFC 5464 */
	/* RFC 6154 §3: a mailbox whose special use cannot be kept is not created */
	if (use != 0 && imap_metadata_set_special_use(c, name, use) < 0) {
		(void)mstore_delete(c->user->store, name);
		free(name);
		return imap_cmd_store_error(cmd, STORE_IOERROR);
	}
	imap_notify_folder_event(c, IMAP_NOTIFY_CREATE, name, NULL);	/* RFC 5465 */
	st = mstore_status(c->user->store, name, &ms);
	free(name);
	if (st != STORE_OK || ms.guid[0] == '\0')
		return imap_cmd_ok(cmd, "Create completed.");
	return imap_cmd_ok(cmd, "[MAILBOXID (%s)] Create completed.", ms.guid);
}

int
cmd_delete(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	const char *s;
	size_t len;

	/* Deleting the selected mailbox is allowed: the view sees every message expunged. */
	if (cmd->argc == 1 && imap_arg_get_astring(&cmd->args[0], &s, &len) &&
	    len == 5 && mem_ieq(s, len, "INBOX"))
		return imap_cmd_no(cmd, "[CANNOT] INBOX cannot be deleted");
	/* the name may come back with other messages: forget what was rendered */
	imap_rcache_clear(c->iu->rcache);
	return mailbox_cmd(cmd, mstore_delete, "Delete completed.", IMAP_NOTIFY_DELETE);
}

int
cmd_rename(struct imap_cmd *cmd)
{
	char *from, *to;
	enum store_status st;

	if (cmd->argc != 2)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &from))
		return IMAP_CMD_DONE;
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[1], &to)) {
		free(from);
		return IMAP_CMD_DONE;
	}
	imap_rcache_clear(cmd->client->iu->rcache);
	/* NOTIFY watches hold folders open, and an open folder cannot be renamed */
	imap_notify_release(cmd->client, from);
	st = mstore_rename(cmd->client->user->store, from, to);
	if (st == STORE_OK)
		imap_metadata_mailbox_renamed(cmd->client, from, to);	/* RFC 5464 */
	/* renaming INBOX moves its messages into a new folder; INBOX stays */
	if (st == STORE_OK && strcmp(from, "INBOX") == 0)
		imap_notify_folder_event(cmd->client, IMAP_NOTIFY_CREATE, to, NULL);
	else if (st == STORE_OK)
		imap_notify_folder_event(cmd->client, IMAP_NOTIFY_RENAME, to, from);
	free(from);
	free(to);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	return imap_cmd_ok(cmd, "Rename completed.");
}

static int
subscribe_common(struct imap_cmd *cmd, bool on)
{
	char *name;
	enum store_status st;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &name))
		return IMAP_CMD_DONE;
	st = mstore_subscribe(cmd->client->user->store, name, on);
	if (st == STORE_OK)
		imap_notify_folder_event(cmd->client, on ? IMAP_NOTIFY_SUBSCRIBE :
		    IMAP_NOTIFY_UNSUBSCRIBE, name, NULL);
	free(name);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	return imap_cmd_ok(cmd, "%s completed.", on ? "Subscribe" : "Unsubscribe");
}

int
cmd_subscribe(struct imap_cmd *cmd)
{
	return subscribe_common(cmd, true);
}

int
cmd_unsubscribe(struct imap_cmd *cmd)
{
	return subscribe_common(cmd, false);
}

/* ---------------------------------------------------------------- matching */

/*
 * Does name match pattern ('*' anything, '%' anything but the separator)? INBOX is
 * case-insensitive (RFC 3501 §5.1). Recursion depth is bounded by the number of
 * wildcards, which is bounded by the command length; the memo-free backtracking is
 * limited to LIST_MATCH_STEPS steps.
 */
#define LIST_MATCH_STEPS 100000

static bool
match_rec(const char *p, const char *n, unsigned *steps)
{
	while (*p != '\0') {
		if (++*steps > LIST_MATCH_STEPS)
			return false;
		if (*p == '*' || *p == '%') {
			bool star = *p == '*';

			p++;
			for (;;) {
				if (match_rec(p, n, steps))
					return true;
				if (*n == '\0' || (!star && *n == STORE_SEP))
					return false;
				n++;
			}
		}
		if (*p != *n)
			return false;
		p++;
		n++;
	}
	return *n == '\0';
}

static bool
list_match(const char *pattern, const char *name)
{
	unsigned steps = 0;
	char tmp[STORE_NAME_MAX + 16];

	/* Fold an "inbox" prefix of the pattern so "inbox" and "Inbox*" find INBOX. */
	if (strncasecmp(pattern, "INBOX", 5) == 0 &&
	    (pattern[5] == '\0' || pattern[5] == STORE_SEP || pattern[5] == '*' ||
	    pattern[5] == '%') && strlen(pattern) < sizeof(tmp)) {
		memcpy(tmp, "INBOX", 5);
		memcpy(tmp + 5, pattern + 5, strlen(pattern + 5) + 1);
		pattern = tmp;
	}
	return match_rec(pattern, name, &steps);
}

/*
 * list_match against the name as the client sees it: after ENABLE UTF8=ACCEPT or
 * IMAP4rev2 the patterns are UTF-8 and so is the name they are matched with.
 */
static bool
list_match_client(const struct imap_client *c, const char *pattern, const char *name)
{
	char u[STORE_NAME_MAX * 2 + 16];
	struct buf b;
	bool ok;

	if (!imap_client_utf8_names(c))
		return list_match(pattern, name);
	buf_init(&b, sizeof(u) - 1);
	if (mutf7_to_utf8(name, strlen(name), &b) < 0 || b.len >= sizeof(u)) {
		buf_deinit(&b);
		return list_match(pattern, name);
	}
	if (b.len > 0)
		memcpy(u, b.data, b.len);
	u[b.len] = '\0';
	buf_deinit(&b);
	ok = list_match(pattern, u);
	return ok;
}

/* ---------------------------------------------------------------- LIST */

struct list_opts {
	bool sel_subscribed;
	bool sel_special;
	bool sel_recursive;
	bool ret_subscribed;
	bool ret_children;
	bool ret_special;
	unsigned ret_status;
	bool lsub;
	bool extended;
};

static int
parse_status_items(const struct imap_arg *list, unsigned n, unsigned *items_r)
{
	unsigned i;

	*items_r = 0;
	for (i = 0; i < n; i++) {
		const struct imap_arg *a = &list[i];

		if (imap_arg_atom_equals(a, "MESSAGES"))
			*items_r |= STATUS_MESSAGES;
		else if (imap_arg_atom_equals(a, "RECENT"))
			*items_r |= STATUS_RECENT;
		else if (imap_arg_atom_equals(a, "UIDNEXT"))
			*items_r |= STATUS_UIDNEXT;
		else if (imap_arg_atom_equals(a, "UIDVALIDITY"))
			*items_r |= STATUS_UIDVALIDITY;
		else if (imap_arg_atom_equals(a, "UNSEEN"))
			*items_r |= STATUS_UNSEEN;
		else if (imap_arg_atom_equals(a, "SIZE"))
			*items_r |= STATUS_SIZE;
		else if (imap_arg_atom_equals(a, "HIGHESTMODSEQ"))
			*items_r |= STATUS_HIGHESTMODSEQ;
		else if (imap_arg_atom_equals(a, "MAILBOXID"))
			*items_r |= STATUS_MAILBOXID;
		else if (imap_arg_atom_equals(a, "DELETED"))
			*items_r |= STATUS_DELETED;
		else if (imap_arg_atom_equals(a, "DELETED-STORAGE"))
			*items_r |= STATUS_DELETED_STORAGE;
		else
			return -1;
	}
	return n == 0 ? -1 : 0;
}

/*
 * STATUS RECENT (RFC 3501 §6.3.10) as a session sees \Recent: a message another session
 * already holds as \Recent (imap_user_claim_recent) is not recent for this one, so only
 * the unclaimed ones count; the session that has the folder selected gets its own
 * count.
 */
static void
status_recent(struct imap_client *c, const char *name, struct mailbox_status *st)
{
	struct mailbox *box;
	uint32_t boundary, n = 0;

	if (mailbox_open(c->user->store, name, &box) != STORE_OK)
		return;
	if (c->view != NULL && c->view->mbox == box) {
		st->recent = imap_view_recent_count(c->view);
		mailbox_unref(&box);
		return;
	}
	if (!mailbox_msgs_loaded(box)) {
		st->recent = 0;		/* no message of an unloaded folder is \Recent */
		mailbox_unref(&box);
		return;
	}
	boundary = imap_user_recent_boundary(c->iu, mailbox_name(box),
	    mailbox_uidvalidity(box));
	for (size_t i = mailbox_count(box); i > 0; i--) {
		const struct mailbox_msg *m = mailbox_msg_at(box, i - 1);

		if (m->uid <= boundary)
			break;
		if (m->flags & MAILBOX_FLAG_RECENT)
			n++;
	}
	st->recent = n;
	mailbox_unref(&box);
}

/* STATUS DELETED (RFC 9051 §6.3.11): messages with \Deleted; DELETED-STORAGE (RFC 9208
 * §4.3): the octets an EXPUNGE would free, the sum of their file sizes. false if
 * unreadable. */
static bool
status_deleted(struct imap_client *c, const char *name, bool storage, uint32_t *deleted_r,
    uint64_t *bytes_r)
{
	struct mailbox *box;
	uint32_t n = 0;
	uint64_t bytes = 0;

	if (mailbox_open(c->user->store, name, &box) != STORE_OK)
		return false;
	for (size_t i = 0; i < mailbox_count(box); i++) {
		const struct mailbox_msg *m = mailbox_msg_at(box, i);

		if (!(m->flags & MAILBOX_FLAG_DELETED))
			continue;
		n++;
		if (storage && m->size == MAILBOX_SIZE_UNKNOWN &&
		    mailbox_msg_info(box, m->uid, &m) != STORE_OK)
			continue;
		if (storage)
			bytes += m->size;
	}
	mailbox_unref(&box);
	*deleted_r = n;
	*bytes_r = bytes;
	return true;
}

static void
write_status(struct imap_client *c, const char *name, unsigned items,
    const struct mailbox_status *st)
{
	struct buf b;
	uint64_t size, deleted_bytes;
	uint32_t deleted;

	buf_init(&b, STORE_NAME_MAX * 2 + 256);
	(void)buf_append_str(&b, "* STATUS ");
	(void)imap_append_mailbox(c, &b, name);
	(void)buf_append_str(&b, " (");
	if (items & STATUS_MESSAGES)
		(void)buf_appendf(&b, "MESSAGES %u ", st->messages);
	if (items & STATUS_RECENT)
		(void)buf_appendf(&b, "RECENT %u ", st->recent);
	if (items & STATUS_UIDNEXT)
		(void)buf_appendf(&b, "UIDNEXT %u ", st->uidnext);
	if (items & STATUS_UIDVALIDITY)
		(void)buf_appendf(&b, "UIDVALIDITY %u ", st->uidvalidity);
	if (items & STATUS_UNSEEN)
		(void)buf_appendf(&b, "UNSEEN %u ", st->unseen);
	if ((items & STATUS_SIZE) && mstore_folder_size(c->user->store, name, &size) == STORE_OK)
		(void)buf_appendf(&b, "SIZE %llu ", (unsigned long long)size);
	if (items & STATUS_HIGHESTMODSEQ)
		(void)buf_appendf(&b, "HIGHESTMODSEQ %llu ", (unsigned long long)st->highestmodseq);
	if ((items & STATUS_MAILBOXID) && st->guid[0] != '\0')
		(void)buf_appendf(&b, "MAILBOXID (%s) ", st->guid);
	if ((items & (STATUS_DELETED | STATUS_DELETED_STORAGE)) &&
	    status_deleted(c, name, (items & STATUS_DELETED_STORAGE) != 0, &deleted,
	    &deleted_bytes)) {
		if (items & STATUS_DELETED)
			(void)buf_appendf(&b, "DELETED %u ", deleted);
		if (items & STATUS_DELETED_STORAGE)
			(void)buf_appendf(&b, "DELETED-STORAGE %llu ",
			    (unsigned long long)deleted_bytes);
	}
	buf_truncate(&b, b.len - 1);
	(void)buf_append_str(&b, ")\r\n");
	imap_client_write(c, b.data, b.len);
	buf_deinit(&b);
}

static void
write_list_line(struct imap_client *c, const struct list_opts *o,
    const struct mstore_folder *f, bool childinfo)
{
	static const struct {
		unsigned attr;
		const char *name;
		bool special;
	} attrs[] = {
		{ MSTORE_ATTR_NONEXISTENT, "\\NonExistent", false },
		{ MSTORE_ATTR_NOSELECT, "\\Noselect", false },
		{ MSTORE_ATTR_HASCHILDREN, "\\HasChildren", false },
		{ MSTORE_ATTR_HASNOCHILDREN, "\\HasNoChildren", false },
		{ MSTORE_ATTR_SUBSCRIBED, "\\Subscribed", false },
		{ MSTORE_ATTR_SENT, "\\Sent", true },
		{ MSTORE_ATTR_DRAFTS, "\\Drafts", true },
		{ MSTORE_ATTR_TRASH, "\\Trash", true },
		{ MSTORE_ATTR_JUNK, "\\Junk", true },
		{ MSTORE_ATTR_ARCHIVE, "\\Archive", true },
	};
	struct buf b;
	bool first = true;
	size_t i;

	buf_init(&b, STORE_NAME_MAX * 2 + 256);
	(void)buf_appendf(&b, "* %s (", o->lsub ? "LSUB" : "LIST");
	for (i = 0; i < N_ELEMENTS(attrs); i++) {
		if ((f->attrs & attrs[i].attr) == 0)
			continue;
		if (attrs[i].attr == MSTORE_ATTR_SUBSCRIBED &&
		    !(o->ret_subscribed || o->sel_subscribed))
			continue;
		if (attrs[i].attr == MSTORE_ATTR_NONEXISTENT && !o->sel_subscribed)
			continue;
		/* a folder that does not exist has no children to speak of (RFC 5258 §3.4) */
		if (attrs[i].attr == MSTORE_ATTR_HASNOCHILDREN &&
		    (f->attrs & MSTORE_ATTR_NONEXISTENT) && o->sel_subscribed)
			continue;
		if (o->lsub && attrs[i].attr != MSTORE_ATTR_NOSELECT)
			continue;
		(void)buf_appendf(&b, "%s%s", first ? "" : " ", attrs[i].name);
		first = false;
	}
	(void)buf_append_str(&b, ") \".\" ");
	(void)imap_append_mailbox(c, &b, f->name);
	if (childinfo)
		(void)buf_append_str(&b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	(void)buf_append_str(&b, "\r\n");
	imap_client_write(c, b.data, b.len);
	buf_deinit(&b);
}

void
imap_list_send_selected(struct imap_client *c, const char *name)
{
	struct list_opts o;
	struct mstore_folder *folders;
	size_t count, i;

	memset(&o, 0, sizeof(o));
	if (mstore_list(c->user->store, &folders, &count) != STORE_OK)
		return;
	for (i = 0; i < count; i++) {
		if (strcmp(folders[i].name, name) == 0 &&
		    !(folders[i].attrs & MSTORE_ATTR_NONEXISTENT)) {
			write_list_line(c, &o, &folders[i], false);
			break;
		}
	}
	mstore_list_free(folders, count);
}

/* RFC 5258 §3.5 (RECURSIVEMATCH): does a subscribed folder exist below name? */
static bool
has_subscribed_child(const struct mstore_folder *folders, size_t count, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < count; i++) {
		if ((folders[i].attrs & MSTORE_ATTR_SUBSCRIBED) &&
		    strncmp(folders[i].name, name, len) == 0 &&
		    folders[i].name[len] == STORE_SEP)
			return true;
	}
	return false;
}

static bool
folder_is_special(const struct mstore_folder *f)
{
	return (f->attrs & (MSTORE_ATTR_SENT | MSTORE_ATTR_DRAFTS | MSTORE_ATTR_TRASH |
	    MSTORE_ATTR_JUNK | MSTORE_ATTR_ARCHIVE)) != 0;
}

static int
list_run(struct imap_cmd *cmd, const struct list_opts *o, const char *ref,
    char **patterns, unsigned npatterns)
{
	struct imap_client *c = cmd->client;
	struct mstore_folder *folders;
	size_t count, i;
	unsigned p;
	enum store_status st;

	/* RFC 3501 §6.3.8: empty pattern => hierarchy delimiter and root name. */
	if (npatterns == 1 && patterns[0][0] == '\0' && !o->lsub) {
		imap_client_line(c, "* LIST (\\Noselect) \".\" \"\"");
		return imap_cmd_ok(cmd, "List completed.");
	}
	st = mstore_list(c->user->store, &folders, &count);
	if (st != STORE_OK)
		return imap_cmd_store_error(cmd, st);
	for (i = 0; i < count; i++) {
		const struct mstore_folder *f = &folders[i];
		bool matched = false, childinfo = false;

		bool lsub_parent = false;

		if (o->sel_recursive)
			childinfo = has_subscribed_child(folders, count, f->name);
		/*
		 * RFC 3501 §6.3.9: LSUB "%" returns an unsubscribed parent of a subscribed
		 * folder, flagged \Noselect.
		 */
		if (o->lsub && (f->attrs & MSTORE_ATTR_SUBSCRIBED) == 0)
			lsub_parent = has_subscribed_child(folders, count, f->name);
		if (o->sel_subscribed || o->lsub) {
			if ((f->attrs & MSTORE_ATTR_SUBSCRIBED) == 0 && !childinfo &&
			    !lsub_parent)
				continue;
		} else if (f->attrs & MSTORE_ATTR_NONEXISTENT) {
			continue;
		}
		if (o->sel_special && !folder_is_special(f))
			continue;
		for (p = 0; p < npatterns && !matched; p++) {
			char full[STORE_NAME_MAX * 2 + 2];

			if (patterns[p][0] == '\0')
				continue;
			if (ref[0] != '\0')
				snprintf(full, sizeof(full), "%s%s", ref, patterns[p]);
			else
				snprintf(full, sizeof(full), "%s", patterns[p]);
			matched = list_match_client(c, full, f->name);
		}
		if (!matched)
			continue;
		if (lsub_parent) {
			/* only when the pattern hides the subscribed child ("%") */
			bool child_shown = false;
			size_t j, len = strlen(f->name);

			for (j = 0; j < count && !child_shown; j++) {
				const struct mstore_folder *g = &folders[j];

				if (!(g->attrs & MSTORE_ATTR_SUBSCRIBED) ||
				    strncmp(g->name, f->name, len) != 0 || g->name[len] != STORE_SEP)
					continue;
				for (p = 0; p < npatterns && !child_shown; p++) {
					char full[STORE_NAME_MAX * 2 + 2];

					snprintf(full, sizeof(full), "%s%s", ref, patterns[p]);
					child_shown = list_match_client(c, full, g->name);
				}
			}
			if (child_shown)
				continue;
			{
				struct mstore_folder parent = { f->name, MSTORE_ATTR_NOSELECT };

				write_list_line(c, o, &parent, false);
			}
			continue;
		}
		write_list_line(c, o, f, childinfo);
		if (o->ret_status != 0 && !(f->attrs & MSTORE_ATTR_NOSELECT)) {
			struct mailbox_status ms;

			if (mstore_status(c->user->store, f->name, &ms) == STORE_OK) {
				if (o->ret_status & STATUS_RECENT)
					status_recent(c, f->name, &ms);
				write_status(c, f->name, o->ret_status, &ms);
			}
		}
	}
	mstore_list_free(folders, count);
	return imap_cmd_ok(cmd, "%s completed.", o->lsub ? "Lsub" : "List");
}

static bool
get_pattern(const struct imap_client *c, const struct imap_arg *a, char **out_r)
{
	const char *s;
	size_t len;

	if (!imap_arg_get_astring(a, &s, &len) || memchr(s, '\0', len) != NULL ||
	    len > STORE_NAME_MAX)
		return false;
	if (imap_client_utf8_names(c) && !mutf7_utf8_is_valid(s, len))
		return false;
	*out_r = xstrndup(s, len);
	return true;
}

static int
list_common(struct imap_cmd *cmd, bool lsub)
{
	const struct imap_arg *args = cmd->args;
	unsigned argc = cmd->argc, i, npat = 0;
	struct list_opts o;
	char *ref = NULL, *patterns[LIST_MAX_PATTERNS];
	int ret;

	memset(&o, 0, sizeof(o));
	o.lsub = lsub;
	if (!lsub && argc > 0 && args[0].type == IMAP_ARG_LIST) {
		/* RFC 5258 selection options */
		o.extended = true;
		for (i = 0; i < args[0].list_count; i++) {
			const struct imap_arg *a = &args[0].list[i];

			if (imap_arg_atom_equals(a, "SUBSCRIBED"))
				o.sel_subscribed = true;
			else if (imap_arg_atom_equals(a, "SPECIAL-USE"))
				o.sel_special = true;
			else if (imap_arg_atom_equals(a, "RECURSIVEMATCH"))
				o.sel_recursive = true;
			else if (imap_arg_atom_equals(a, "REMOTE"))
				continue;	/* no remote mailboxes: nothing to add */
			else	/* an option we do not know: BAD (RFC 5258 §3) */
				return imap_cmd_bad(cmd, "Unknown LIST selection option");
		}
		if (o.sel_recursive && !o.sel_subscribed)
			return imap_cmd_bad(cmd, "RECURSIVEMATCH needs another selection option");
		args++;
		argc--;
	}
	if (argc < 2)
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (!get_pattern(cmd->client, &args[0], &ref))
		return imap_cmd_bad(cmd, "Invalid reference");
	if (args[1].type == IMAP_ARG_LIST && !lsub) {
		o.extended = true;
		for (i = 0; i < args[1].list_count; i++) {
			if (npat == LIST_MAX_PATTERNS || !get_pattern(cmd->client, &args[1].list[i],
			    &patterns[npat])) {
				ret = imap_cmd_bad(cmd, "Invalid pattern");
				goto out;
			}
			npat++;
		}
		if (npat == 0) {
			ret = imap_cmd_bad(cmd, "Invalid pattern");
			goto out;
		}
	} else {
		if (!get_pattern(cmd->client, &args[1], &patterns[0])) {
			ret = imap_cmd_bad(cmd, "Invalid pattern");
			goto out;
		}
		npat = 1;
	}
	if (argc > 2) {
		const struct imap_arg *r;
		unsigned rn;

		if (lsub || argc != 4 || !imap_arg_atom_equals(&args[2], "RETURN") ||
		    !imap_arg_get_list(&args[3], &r, &rn)) {
			ret = imap_cmd_bad(cmd, "Invalid arguments");
			goto out;
		}
		for (i = 0; i < rn; i++) {
			const struct imap_arg *sl;
			unsigned sn;

			if (imap_arg_atom_equals(&r[i], "SUBSCRIBED")) {
				o.ret_subscribed = true;
			} else if (imap_arg_atom_equals(&r[i], "CHILDREN")) {
				o.ret_children = true;
			} else if (imap_arg_atom_equals(&r[i], "SPECIAL-USE")) {
				o.ret_special = true;
			} else if (imap_arg_atom_equals(&r[i], "STATUS") && i + 1 < rn &&
			    imap_arg_get_list(&r[i + 1], &sl, &sn)) {
				if (parse_status_items(sl, sn, &o.ret_status) < 0) {
					ret = imap_cmd_bad(cmd, "Invalid STATUS items");
					goto out;
				}
				i++;
			} else {
				ret = imap_cmd_bad(cmd, "Invalid RETURN option");
				goto out;
			}
		}
	}
	ret = list_run(cmd, &o, ref, patterns, npat);
out:
	for (i = 0; i < npat; i++)
		free(patterns[i]);
	free(ref);
	return ret;
}

int
cmd_list(struct imap_cmd *cmd)
{
	return list_common(cmd, false);
}

int
cmd_lsub(struct imap_cmd *cmd)
{
	return list_common(cmd, true);
}

int
cmd_status(struct imap_cmd *cmd)
{
	const struct imap_arg *list;
	unsigned n, items;
	char *name;
	struct mailbox_status st;
	enum store_status ss;

	if (cmd->argc != 2 || !imap_arg_get_list(&cmd->args[1], &list, &n))
		return imap_cmd_bad(cmd, "Invalid arguments");
	if (parse_status_items(list, n, &items) < 0)
		return imap_cmd_bad(cmd, "Invalid STATUS items");
	if (!imap_cmd_mailbox_arg(cmd, &cmd->args[0], &name))
		return IMAP_CMD_DONE;
	/* RFC 7162 §3.1: a CONDSTORE-enabling command */
	if (items & STATUS_HIGHESTMODSEQ)
		imap_client_enable(cmd->client, IMAP_ENABLE_CONDSTORE);
	ss = mstore_status(cmd->client->user->store, name, &st);
	if (ss != STORE_OK) {
		free(name);
		return imap_cmd_store_error(cmd, ss);
	}
	if (items & STATUS_RECENT)
		status_recent(cmd->client, name, &st);
	write_status(cmd->client, name, items, &st);
	free(name);
	return imap_cmd_ok(cmd, "Status completed.");
}
