/*
 * mailbox_flags.c — setting a message's flags and keywords: its file is renamed into cur/
 * with the new ":2,<letters>" info part, and renamed again after one rescan if another
 * program renamed it first. Runs in the per-user mail process. Security role: the rename
 * stays between the folder's own new/ and cur/ fds; the new name is the message's
 * validated base name plus letters generated here; undefined keyword indexes are
 * dropped, not stored.
 */
#include "store/store_private.h"

#include <errno.h>
#include <fcntl.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

/* ------------------------------------------------------------------ flags */

static char *
msg_new_filename(const struct mailbox_msg *m, uint8_t flags, uint32_t keywords)
{
	struct buf b;

	buf_init(&b, BUF_UNLIMITED);
	buf_append(&b, mailbox_msg_name(m), mailbox_msg_base_len(m));
	mdname_format_info(flags, keywords, &b);
	return buf_steal(&b);
}

enum store_status
mailbox_store_flags(struct mailbox *box, uint32_t uid, uint8_t flags, uint32_t keywords)
{
	struct mailbox_msg *m;
	char *newname;
	int attempt;
	unsigned int i;

	if (box->deleted)
		return STORE_EXPUNGED;
	mailbox_msgs_load(box);
	flags &= (uint8_t)~MAILBOX_FLAG_RECENT;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if ((keywords & (1u << i)) && box->keywords[i] == NULL)
			keywords &= ~(1u << i);	/* undefined index: not stored */
	keywords &= (1u << STORE_KEYWORDS_MAX) - 1;
	for (attempt = 0; attempt < 2; attempt++) {
		m = (struct mailbox_msg *)mailbox_lookup(box, uid, NULL);
		if (m == NULL)
			return STORE_EXPUNGED;
		if ((m->flags & ~MAILBOX_FLAG_RECENT) == flags && m->keywords == keywords &&
		    m->filename[0] == 'c')
			return STORE_OK;
		newname = msg_new_filename(m, flags, keywords);
		mailbox_own_event(box, m->filename[0] == 'n', mailbox_msg_name(m));
		mailbox_own_event(box, false, newname);
		if (renameat(mailbox_msg_dirfd(box, m), mailbox_msg_name(m), box->cur_fd,
		    newname) == 0) {
			mailbox_name_release(box, m->filename);
			m->filename = name_arena_path(&box->names, "cur", newname,
			    strlen(newname));
			free(newname);
			mailbox_names_maybe_compact(box);
			m->flags = flags | (m->flags & MAILBOX_FLAG_RECENT);
			m->keywords = keywords;
			mailbox_remember_mtimes(box);
			mailbox_notify_flags(box, uid);
			return STORE_OK;
		}
		free(newname);
		if (errno != ENOENT) {
			log_error("store flag rename failed mailbox=%s uid=%u error=%s",
			    box->name, uid, strerror(errno));
			return mstore_errno_status(errno) == STORE_NONEXISTENT ?
			    STORE_IOERROR : mstore_errno_status(errno);
		}
		box->force_sync = true;
		if (mailbox_sync_full(box) != STORE_OK)
			return STORE_IOERROR;
	}
	return STORE_EXPUNGED;
}
