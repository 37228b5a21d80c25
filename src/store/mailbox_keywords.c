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
mailbox_keywords_reload(struct mailbox *box)
{
	struct stat st;
	struct buf b;
	size_t bad;
	int ret;

	if (fstatat(box->dir_fd, KEYWORDS_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (st.st_ino == box->keywords_st.st_ino &&
		    st.st_size == box->keywords_st.st_size &&
		    mstore_ts_eq(&st.st_mtim, &box->keywords_st.st_mtim))
			return;
	} else if (errno == ENOENT && box->keywords_st.st_ino == 0) {
		return;		/* still none (a folder without keywords): nothing to read */
	}
	buf_init(&b, 64 * 1024);
	ret = mstore_read_file(box->dir_fd, KEYWORDS_NAME, b.max, &b, &st);
	if (ret < 0) {
		log_error("store keywords unreadable mailbox=%s error=%s", box->name,
		    strerror(errno));
		memset(&box->keywords_st, 0, sizeof(box->keywords_st));
	} else if (ret > 0) {
		char *names[STORE_KEYWORDS_MAX];
		unsigned int i;

		bad = keywords_parse(b.data == NULL ? "" : b.data, b.len, names);
		if (bad > 0)
			log_error("store keywords file damaged mailbox=%s bad_lines=%zu",
			    box->name, bad);
		/* names only ever get added: keep ours where the file lost them */
		for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
			if (names[i] == NULL)
				continue;
			if (box->keywords[i] == NULL) {
				box->keywords[i] = names[i];
				names[i] = NULL;
				mailbox_notify_keyword(box, i);
			} else if (strcmp(box->keywords[i], names[i]) != 0) {
				free(box->keywords[i]);
				box->keywords[i] = names[i];
				names[i] = NULL;
				mailbox_notify_keyword(box, i);
			}
		}
		keywords_free(names);
		box->keywords_st = st;
	}
	buf_deinit(&b);
}

const char *
mailbox_keyword_name(const struct mailbox *box, unsigned int idx)
{
	return idx < STORE_KEYWORDS_MAX ? box->keywords[idx] : NULL;
}

int
mailbox_keyword_lookup(const struct mailbox *box, const char *name)
{
	int i;

	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (box->keywords[i] != NULL && strcasecmp(box->keywords[i], name) == 0)
			return i;
	return -1;
}

enum store_status
mailbox_keyword_add(struct mailbox *box, const char *name, unsigned int *idx_r)
{
	enum store_status st;
	struct buf out;
	int idx, i;

	if (box->deleted)
		return STORE_NONEXISTENT;
	if (name[0] == '\\')
		return STORE_BADNAME;
	st = keyword_name_check(name, strlen(name));
	if (st != STORE_OK)
		return st;
	mailbox_keywords_reload(box);
	idx = mailbox_keyword_lookup(box, name);
	if (idx >= 0) {
		*idx_r = (unsigned int)idx;
		return STORE_OK;
	}
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if (box->keywords[i] == NULL)
			break;
	if (i == STORE_KEYWORDS_MAX)
		return STORE_LIMIT;
	box->keywords[i] = xstrdup(name);
	buf_init(&out, BUF_UNLIMITED);
	(void)keywords_format(box->keywords, &out);
	if (mstore_write_file(box->store, box->dir_fd, KEYWORDS_NAME, out.data, out.len) < 0) {
		st = mstore_errno_status(errno);
		free(box->keywords[i]);
		box->keywords[i] = NULL;
		buf_deinit(&out);
		return st == STORE_NONEXISTENT ? STORE_IOERROR : st;
	}
	buf_deinit(&out);
	(void)fstatat(box->dir_fd, KEYWORDS_NAME, &box->keywords_st, AT_SYMLINK_NOFOLLOW);
	mailbox_notify_keyword(box, (unsigned int)i);
	*idx_r = (unsigned int)i;
	return STORE_OK;
}
