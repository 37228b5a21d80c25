/*
 * deliver.h — saving messages handed over by the LMTP process (through the master)
 * into the user's Maildir, inside the user's mail process.
 */
#ifndef BUZON_MAILPROC_DELIVER_H
#define BUZON_MAILPROC_DELIVER_H

#include <stddef.h>
#include <stdint.h>

struct mstore;

struct delivery {
	uint32_t id;		/* the master's request id */
	char *folder;		/* "" = INBOX; a missing folder falls back to INBOX */
	unsigned char *prefix;	/* header lines to prepend (Return-Path, Delivered-To) */
	size_t prefix_len;
	int fd;			/* the message (read from offset 0), owned */
	uint32_t status;	/* result: IPC_DELIVER_* */
};

/*
 * Save n deliveries. Those for the same folder are committed together, so a burst of
 * messages costs one directory fsync per folder (group commit); a failure inside a
 * group is retried message by message so one bad message does not fail the others.
 * Each d[i].status is set; nothing is acknowledged before it is durable.
 */
void deliver_batch(struct mstore *store, struct delivery *d, size_t n);

#endif
