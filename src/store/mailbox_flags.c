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
msg_new_filename(const struct mbox_msg *m, uint8_t flags, uint32_t keywords)
{
	struct buf b;

	buf_init(&b, BUF_UNLIMITED);
	buf_append(&b, msg_name(m), msg_base_len(m));
	mdname_format_info(flags, keywords, &b);
	return buf_steal(&b);
}

enum store_status
mbox_store_flags(struct mbox *mbox, uint32_t uid, uint8_t flags, uint32_t keywords)
{
	struct mbox_msg *m;
	char *newname;
	int attempt;
	unsigned int i;

	if (mbox->deleted)
		return STORE_EXPUNGED;
	flags &= (uint8_t)~MBOX_FLAG_RECENT;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if ((keywords & (1u << i)) && mbox->keywords[i] == NULL)
			keywords &= ~(1u << i);	/* undefined index: not stored */
	keywords &= (1u << STORE_KEYWORDS_MAX) - 1;
	for (attempt = 0; attempt < 2; attempt++) {
		m = (struct mbox_msg *)mbox_lookup(mbox, uid, NULL);
		if (m == NULL)
			return STORE_EXPUNGED;
		if ((m->flags & ~MBOX_FLAG_RECENT) == flags && m->keywords == keywords &&
		    m->filename[0] == 'c')
			return STORE_OK;
		newname = msg_new_filename(m, flags, keywords);
		mbox_own_event(mbox, m->filename[0] == 'n', msg_name(m));
		mbox_own_event(mbox, false, newname);
		if (renameat(msg_dirfd(mbox, m), msg_name(m), mbox->cur_fd, newname) == 0) {
			name_release(mbox, m->filename);
			m->filename = arena_path(&mbox->names, "cur", newname, strlen(newname));
			free(newname);
			names_maybe_compact(mbox);
			m->flags = flags | (m->flags & MBOX_FLAG_RECENT);
			m->keywords = keywords;
			remember_mtimes(mbox);
			notify_flags(mbox, uid);
			return STORE_OK;
		}
		free(newname);
		if (errno != ENOENT) {
			log_error("store flag rename failed mailbox=%s uid=%u error=%s",
			    mbox->name, uid, strerror(errno));
			return store_errno_status(errno) == STORE_NONEXISTENT ? STORE_IOERROR :
			    store_errno_status(errno);
		}
		mbox->force_sync = true;
		if (sync_full(mbox) != STORE_OK)
			return STORE_IOERROR;
	}
	return STORE_EXPUNGED;
}
