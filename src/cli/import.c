/*
 * import.c — `buzon import mbox [-c FILE] MBOXFILE USER [FOLDER]`: moves an mbox file
 * (the format before Maildir) into a user's Maildir through the store's durable save
 * path. The file is opened first (so root can import a file the user cannot read), then
 * the process drops to the user's uid/gid and writes as the owner. Messages are split on
 * "From " lines (at the start of the file or after an empty line); the From_ line's date
 * becomes the INTERNALDATE; ">From " quoting is undone the mboxrd way (one '>' removed
 * from lines matching ^>+From ); Status (R: \Seen) and X-Status (A \Answered, F \Flagged,
 * T \Draft, D \Deleted) become flags and are dropped from the header. Saved into cur/
 * (not a delivery), committed in batches of 100.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/userdb.h"
#include "cli/cli.h"
#include "cli/deliver.h"
#include "cli/progress.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "store/store.h"
#include "lib/buf.h"

#define IMPORT_LINE_MAX	(64 * 1024)	/* longer lines are handled in pieces */
#define IMPORT_BATCH	100

struct import {
	FILE *in;
	struct mailbox *box;
	struct mailbox_save *save;
	size_t in_batch;
	unsigned long count;		/* messages finished */
	unsigned long committed;	/* of those, durable */
	/* the current message */
	bool in_msg, in_header, skip_cont, blank_pending;
	uint8_t flags;
	time_t date;
	enum store_status st;
	/* the status line on a terminal: messages and bytes read of the file's size */
	struct progress progress;
	uint64_t bytes_read, bytes_total;
};

/*
 * Read one line (or the next piece of a line longer than IMPORT_LINE_MAX) into buf.
 * Returns its length (0 at EOF); *whole_r is false for a piece not ending with '\n'.
 */
static size_t
read_line(FILE *f, char *buf, bool *whole_r)
{
	size_t n = 0;
	int ch;

	*whole_r = false;
	while (n < IMPORT_LINE_MAX && (ch = getc_unlocked(f)) != EOF) {
		buf[n++] = (char)ch;
		if (ch == '\n') {
			*whole_r = true;
			break;
		}
	}
	return n;
}

/* "From sender Www Mmm dd hh:mm:ss yyyy [...]": the date, or 0 if it does not parse. */
static time_t
from_line_date(const char *line, size_t len)
{
	char tmp[256];
	const char *sp;
	struct tm tm;
	size_t n;

	n = MIN(len, sizeof(tmp) - 1);
	memcpy(tmp, line, n);
	tmp[n] = '\0';
	sp = strchr(tmp + 5, ' ');
	if (sp == NULL)
		return 0;
	while (*sp == ' ')
		sp++;
	memset(&tm, 0, sizeof(tm));
	if (strptime(sp, "%a %b %d %H:%M:%S %Y", &tm) == NULL)
		return 0;
	tm.tm_isdst = -1;	/* mbox dates are the local time of the delivering host */
	return mktime(&tm);
}

static void
flags_from(const char *v, size_t len, bool xstatus, uint8_t *flags)
{
	for (size_t i = 0; i < len; i++) {
		switch (v[i]) {
		case 'R': if (!xstatus) *flags |= MAILBOX_FLAG_SEEN; break;
		case 'A': if (xstatus) *flags |= MAILBOX_FLAG_ANSWERED; break;
		case 'F': if (xstatus) *flags |= MAILBOX_FLAG_FLAGGED; break;
		case 'T': if (xstatus) *flags |= MAILBOX_FLAG_DRAFT; break;
		case 'D': if (xstatus) *flags |= MAILBOX_FLAG_DELETED; break;
		default: break;
		}
	}
}

static void
msg_write(struct import *im, const char *p, size_t len)
{
	if (im->st == STORE_OK && len > 0)
		im->st = mailbox_save_write(im->save, p, len);
}

static void
msg_end(struct import *im)
{
	uint32_t first, last;

	if (!im->in_msg)
		return;
	im->in_msg = false;
	/* the empty line before the next From_ line belongs to the mbox, not the message */
	im->blank_pending = false;
	if (im->st == STORE_OK)
		im->st = mailbox_save_msg_end(im->save, im->flags, 0, im->date);
	if (im->st != STORE_OK)
		return;
	im->count++;
	if (im->bytes_total > 0)
		progress_update(&im->progress, false, "importing: %lu messages, %llu%%",
		    im->count, (unsigned long long)(im->bytes_read * 100 / im->bytes_total));
	else
		progress_update(&im->progress, false, "importing: %lu messages", im->count);
	if (++im->in_batch == IMPORT_BATCH) {
		im->st = mailbox_save_commit(&im->save, &first, &last);
		if (im->st == STORE_OK)
			im->committed += im->in_batch;
		im->in_batch = 0;
	}
}

static void
msg_begin(struct import *im, const char *from_line, size_t len)
{
	if (im->st != STORE_OK)
		return;
	if (im->save == NULL)
		im->save = mailbox_save_begin(im->box, 0);
	im->st = mailbox_save_msg_begin(im->save);
	im->in_msg = true;
	im->in_header = true;
	im->skip_cont = false;
	im->blank_pending = false;
	im->flags = 0;
	im->date = from_line_date(from_line, len);
	if (im->date == 0)
		im->date = time(NULL);
}

static int
import_run(struct import *im)
{
	char *line = xmalloc(IMPORT_LINE_MAX);
	bool whole, at_start = true, prev_blank = true;
	size_t len;

	while (im->st == STORE_OK && (len = read_line(im->in, line, &whole)) > 0) {
		bool start = at_start, blank;

		im->bytes_read += len;
		at_start = whole;
		if (!start) {
			/* the rest of a long line */
			msg_write(im, line, len);
			continue;
		}
		blank = (len == 1 && line[0] == '\n') || (len == 2 && line[0] == '\r' &&
		    line[1] == '\n');
		if (len >= 5 && memcmp(line, "From ", 5) == 0 && prev_blank) {
			msg_end(im);
			msg_begin(im, line, len);
			prev_blank = false;
			continue;
		}
		prev_blank = blank;
		if (!im->in_msg)
			continue;	/* text before the first From_ line: not mbox, skipped */
		if (im->in_header) {
			if (blank) {
				im->in_header = false;
				msg_write(im, line, len);
				continue;
			} else if (im->skip_cont && (line[0] == ' ' || line[0] == '\t')) {
				continue;	/* folded Status/X-Status */
			} else {
				im->skip_cont = false;
				if (len >= 7 && mem_ieq(line, 7, "Status:")) {
					flags_from(line + 7, len - 7, false, &im->flags);
					im->skip_cont = true;
					continue;
				}
				if (len >= 9 && mem_ieq(line, 9, "X-Status:")) {
					flags_from(line + 9, len - 9, true, &im->flags);
					im->skip_cont = true;
					continue;
				}
			}
		}
		/* an empty line is held back: before a From_ line it is the separator */
		if (im->blank_pending) {
			msg_write(im, "\n", 1);
			im->blank_pending = false;
		}
		if (blank && !im->in_header) {
			im->blank_pending = true;
			continue;
		}
		/* mboxrd: ">From ", ">>From " ... lose one '>' */
		if (line[0] == '>') {
			size_t k = 0;

			while (k < len && line[k] == '>')
				k++;
			if (len - k >= 5 && memcmp(line + k, "From ", 5) == 0) {
				msg_write(im, line + 1, len - 1);
				continue;
			}
		}
		msg_write(im, line, len);
	}
	free(line);
	if (ferror(im->in)) {
		fprintf(stderr, "buzon import: reading the mbox: %s\n", strerror(errno));
		if (im->st == STORE_OK)
			im->st = STORE_IOERROR;
	}
	msg_end(im);
	if (im->save != NULL) {
		uint32_t first, last;

		if (im->st == STORE_OK)
			im->st = mailbox_save_commit(&im->save, &first, &last);
		else
			mailbox_save_abort(&im->save);
		if (im->st == STORE_OK)
			im->committed += im->in_batch;
	}
	return im->st == STORE_OK ? 0 : -1;
}

int
cli_import(int argc, char **argv)
{
	const char *cfgpath = "/etc/buzon/buzon.conf", *path, *user, *folder = "INBOX";
	struct cli_user_store us;
	struct import im;
	enum store_status st;
	struct stat sb;
	int c, fd = -1, ret;

	memset(&im, 0, sizeof(im));
	memset(&us, 0, sizeof(us));
	if (argc < 2 || strcmp(argv[1], "mbox") != 0)
		goto usage;
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			goto usage;
		cfgpath = optarg;
	}
	if (argc - optind < 2 || argc - optind > 3)
		goto usage;
	path = argv[optind];
	user = argv[optind + 1];
	if (argc - optind == 3)
		folder = argv[optind + 2];
	log_set_ident("import");
	/* opened before the privilege drop: root may import a file the user cannot read */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "buzon import: %s: %s\n", path, strerror(errno));
		return DELIVER_EX_NOINPUT;
	}
	if ((ret = cli_user_store_open(&us, "import", cfgpath, user)) != 0)
		goto out;
	ret = DELIVER_EX_TEMPFAIL;
	st = mstore_create(us.store, folder);
	if (st != STORE_OK && st != STORE_EXISTS) {
		fprintf(stderr, "buzon import: folder %s: %s\n", folder, store_status_str(st));
		ret = st == STORE_BADNAME ? DELIVER_EX_USAGE : DELIVER_EX_TEMPFAIL;
		goto out;
	}
	if ((st = mailbox_open(us.store, folder, &im.box)) != STORE_OK) {
		fprintf(stderr, "buzon import: folder %s: %s\n", folder, store_status_str(st));
		goto out;
	}
	if ((im.in = fdopen(fd, "r")) == NULL)
		fatal("fdopen: %s", strerror(errno));
	fd = -1;
	progress_init(&im.progress);
	if (fstat(fileno(im.in), &sb) == 0 && S_ISREG(sb.st_mode))
		im.bytes_total = (uint64_t)sb.st_size;
	ret = import_run(&im);
	progress_done(&im.progress);
	if (ret < 0) {
		ret = DELIVER_EX_TEMPFAIL;
		fprintf(stderr, "buzon import: stopped after %lu messages: %s\n", im.committed,
		    store_status_str(im.st));
	} else {
		printf("imported %lu messages into %s of %s\n", im.committed, mailbox_name(im.box),
		    us.u.name);
		ret = 0;
	}
	if (im.committed > 0) {
		uint64_t qs, qm;
		struct mstore_quota q;

		/* an import is the administrator's: never refused for quota, but counted
		 * (maildirsize written again from the folders) */
		userdb_quota_limits(us.cfg, &us.u, &qs, &qm);
		mstore_set_quota(us.store, qs, qm, 0);
		if (mstore_quota_on(us.store))
			(void)mstore_quota_recalc(us.store, &q);
	}
out:
	if (im.in != NULL)
		fclose(im.in);
	if (fd >= 0)
		close(fd);
	if (im.box != NULL)
		mailbox_unref(&im.box);
	cli_user_store_close(&us);
	return ret;
usage:
	fprintf(stderr, "usage: buzon import mbox [-c FILE] MBOXFILE USER [FOLDER]\n");
	return DELIVER_EX_USAGE;
}
