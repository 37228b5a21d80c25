/*
 * mailbox_keywords.c — a folder's keyword names (dovecot-keywords: index 0..25 is the
 * Maildir letter a..z in file names): reloading the file when it changed, lookup by name
 * (case-insensitive), and defining a new keyword, which rewrites the file atomically and
 * tells the listeners. Runs in the per-user mail process. Security role: names from
 * clients are checked as IMAP flag keywords (atoms, at most 50 bytes, no '\\' start);
 * the file, which the user can write, is read with a 64 KiB limit and parsed by
 * keywords_parse, which skips invalid lines; at most 26 names are ever kept.
 */
#include "store/store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

void
keywords_reload(struct mbox *mbox)
{
	struct stat st;
	struct buf b;
	size_t bad;
	int ret;

	if (fstatat(mbox->dir_fd, KEYWORDS_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == mbox->keywords_st.st_ino && st.st_size == mbox->keywords_st.st_size &&
	    ts_eq(&st.st_mtim, &mbox->keywords_st.st_mtim))
		return;
	buf_init(&b, 64 * 1024);
	ret = store_read_file(mbox->dir_fd, KEYWORDS_NAME, b.max, &b, &st);
	if (ret < 0) {
		log_error("store keywords unreadable mailbox=%s error=%s", mbox->name,
		    strerror(errno));
		memset(&mbox->keywords_st, 0, sizeof(mbox->keywords_st));
	} else if (ret > 0) {
		char *names[STORE_KEYWORDS_MAX];
		unsigned int i;

		bad = keywords_parse(b.data == NULL ? "" : b.data, b.len, names);
		if (bad > 0)
			log_error("store keywords file damaged mailbox=%s bad_lines=%zu",
			    mbox->name, bad);
		/* names only ever get added: keep ours where the file lost them */
		for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
			if (names[i] == NULL)
				continue;
			if (mbox->keywords[i] == NULL) {
				mbox->keywords[i] = names[i];
				names[i] = NULL;
				notify_keyword(mbox, i);
			} else if (strcmp(mbox->keywords[i], names[i]) != 0) {
				free(mbox->keywords[i]);
				mbox->keywords[i] = names[i];
				names[i] = NULL;
				notify_keyword(mbox, i);
			}
		}
		keywords_free(names);
		mbox->keywords_st = st;
	}
	buf_deinit(&b);
}

const char *
mbox_keyword_name(const struct mbox *mbox, unsigned int idx)
{
	return idx < STORE_KEYWORDS_MAX ? mbox->keywords[idx] : NULL;
}

int
mbox_keyword_lookup(const struct mbox *mbox, const char *name)
{
	int i;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (mbox->keywords[i] != NULL && strcasecmp(mbox->keywords[i], name) == 0)
			return i;
	return -1;
}

enum store_status
mbox_keyword_add(struct mbox *mbox, const char *name, unsigned int *idx_r)
{
	enum store_status st;
	struct buf out;
	int idx, i;

	if (mbox->deleted)
		return STORE_NONEXISTENT;
	if (name[0] == '\\')
		return STORE_BADNAME;
	st = keyword_name_check(name, strlen(name));
	if (st != STORE_OK)
		return st;
	keywords_reload(mbox);
	idx = mbox_keyword_lookup(mbox, name);
	if (idx >= 0) {
		*idx_r = (unsigned int)idx;
		return STORE_OK;
	}
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (mbox->keywords[i] == NULL)
			break;
	if (i == STORE_KEYWORDS_MAX)
		return STORE_LIMIT;
	mbox->keywords[i] = xstrdup(name);
	buf_init(&out, BUF_UNLIMITED);
	(void)keywords_format(mbox->keywords, &out);
	if (store_write_file(mbox->store, mbox->dir_fd, KEYWORDS_NAME, out.data, out.len) < 0) {
		st = store_errno_status(errno);
		free(mbox->keywords[i]);
		mbox->keywords[i] = NULL;
		buf_deinit(&out);
		return st == STORE_NONEXISTENT ? STORE_IOERROR : st;
	}
	buf_deinit(&out);
	(void)fstatat(mbox->dir_fd, KEYWORDS_NAME, &mbox->keywords_st, AT_SYMLINK_NOFOLLOW);
	notify_keyword(mbox, (unsigned int)i);
	*idx_r = (unsigned int)i;
	return STORE_OK;
}
