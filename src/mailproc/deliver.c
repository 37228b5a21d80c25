/*
 * deliver.c — LMTP deliveries in the mail process (see deliver.h). Runs with the
 * recipient's uid, so every file is created by and for its owner; the store does the
 * durable part (tmp file, fsync, rename into new/, directory fsync, uidlist) in its
 * commit thread and tells the user's IMAP sessions about the new messages at once.
 * Each delivery is its own transaction, so one that fails (a read error, a full disk)
 * never fails the others of its group.
 */
#include <errno.h>
#include <unistd.h>

#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/deliver.h"
#include "store/store.h"

#define DELIVER_CHUNK (64 * 1024)

static uint32_t
status_of(enum store_status st)
{
	switch (st) {
	case STORE_OK: return IPC_DELIVER_OK;
	case STORE_NOSPACE: return IPC_DELIVER_NOSPACE;
	case STORE_OVERQUOTA: return IPC_DELIVER_OVERQUOTA;
	default: return IPC_DELIVER_TEMPFAIL;
	}
}

/* Copy the delivery into the current message of ctx. */
static enum store_status
write_one(struct mailbox_save *ctx, const struct delivery *d)
{
	static unsigned char buf[DELIVER_CHUNK];
	enum store_status st = mailbox_save_msg_begin(ctx);
	off_t off = 0;

	if (st == STORE_OK && d->prefix_len > 0)
		st = mailbox_save_write(ctx, d->prefix, d->prefix_len);
	while (st == STORE_OK) {
		ssize_t r = pread(d->fd, buf, DELIVER_CHUNK, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("deliver read error=%s", strerror(errno));
			return STORE_IOERROR;
		}
		if (r == 0)
			break;
		off += r;
		st = mailbox_save_write(ctx, buf, (size_t)r);
	}
	if (st == STORE_OK)
		st = mailbox_save_msg_end(ctx, 0, 0, 0);
	return st;
}

static struct mailbox *
open_folder(struct mstore *store, const char *folder)
{
	struct mailbox *mbox = NULL;

	if (folder[0] != '\0' && mailbox_open(store, folder, &mbox) == STORE_OK)
		return mbox;
	/* no such folder (or a name that is not one): INBOX, as Dovecot's lmtp does */
	if (mailbox_open(store, "INBOX", &mbox) != STORE_OK)
		return NULL;
	return mbox;
}

static void
committed(void *ctx, enum store_status st, uint32_t first, uint32_t last)
{
	struct delivery *d = ctx;

	(void)first;
	(void)last;
	d->status = status_of(st);
	d->done(d);
}

void
deliver_start(struct mstore *store, struct delivery *d)
{
	struct mailbox *mbox = open_folder(store, d->folder);
	struct mailbox_save *ctx;
	enum store_status st;
	uint32_t first, last;

	if (mbox == NULL) {
		d->status = IPC_DELIVER_TEMPFAIL;
		d->done(d);
		return;
	}
	ctx = mailbox_save_begin(mbox, MAILBOX_SAVE_DELIVERY);
	mailbox_unref(&mbox);		/* the transaction holds its own reference */
	st = write_one(ctx, d);
	if (st != STORE_OK) {
		mailbox_save_abort(&ctx);
		d->status = status_of(st);
		d->done(d);
	} else if (mstore_commit_fd(store) >= 0) {
		(void)mailbox_save_commit_async(&ctx, committed, d);
	} else {
		st = mailbox_save_commit(&ctx, &first, &last);
		d->status = status_of(st);
		d->done(d);
	}
}
