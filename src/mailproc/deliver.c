/*
 * deliver.c — LMTP deliveries in the mail process (see deliver.h). Runs with the
 * recipient's uid, so every file is created by and for its owner; the store does the
 * durable part (tmp file, fsync, rename into new/, directory fsync, uidlist) and tells
 * the user's IMAP sessions about the new messages at once.
 */
#include <errno.h>
#include <unistd.h>

#include "lib/ipc.h"
#include "lib/log.h"
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

/* Copy one delivery into the current message of ctx. */
static enum store_status
write_one(struct mailbox_save *ctx, const struct delivery *d, unsigned char *buf)
{
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

/* Save d[idx[0..n)] into mbox in one transaction. Returns the store status. */
static enum store_status
save_group(struct mailbox *mbox, struct delivery *d, const size_t *idx, size_t n,
    unsigned char *buf)
{
	struct mailbox_save *ctx = mailbox_save_begin(mbox, MAILBOX_SAVE_DELIVERY);
	enum store_status st = STORE_OK;
	uint32_t first, last;

	for (size_t i = 0; i < n && st == STORE_OK; i++)
		st = write_one(ctx, &d[idx[i]], buf);
	if (st != STORE_OK) {
		mailbox_save_abort(&ctx);
		return st;
	}
	return mailbox_save_commit(&ctx, &first, &last);
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

void
deliver_batch(struct mstore *store, struct delivery *d, size_t n)
{
	unsigned char *buf = xmalloc(DELIVER_CHUNK);
	size_t *idx = xcalloc(n, sizeof(*idx));
	bool *done = xcalloc(n, sizeof(*done));

	for (size_t i = 0; i < n; i++) {
		struct mailbox *mbox;
		enum store_status st;
		size_t k = 0;

		if (done[i])
			continue;
		/* this delivery and every later one for the same folder */
		for (size_t j = i; j < n; j++) {
			if (!done[j] && strcmp(d[j].folder, d[i].folder) == 0) {
				idx[k++] = j;
				done[j] = true;
			}
		}
		if ((mbox = open_folder(store, d[i].folder)) == NULL) {
			for (size_t j = 0; j < k; j++)
				d[idx[j]].status = IPC_DELIVER_TEMPFAIL;
			continue;
		}
		st = save_group(mbox, d, idx, k, buf);
		if (st == STORE_OK || k == 1) {
			for (size_t j = 0; j < k; j++)
				d[idx[j]].status = status_of(st);
		} else {
			/* find out which message failed: one transaction each */
			for (size_t j = 0; j < k; j++)
				d[idx[j]].status = status_of(save_group(mbox, d, &idx[j], 1, buf));
		}
		mailbox_unref(&mbox);
	}
	free(done);
	free(idx);
	free(buf);
}
