/*
 * deliver.h — saving messages handed over by the LMTP process (through the master)
 * into the user's Maildir, inside the user's mail process.
 */
#ifndef BUZON_MAILPROC_DELIVER_H
#define BUZON_MAILPROC_DELIVER_H

#include <stddef.h>
#include <stdint.h>

struct deliver_sieve;
struct event_base;
struct mstore;
struct mstore_quota;

struct delivery {
	uint32_t id;		/* the master's request id */
	char *folder;		/* "" = INBOX; a missing folder falls back to INBOX */
	unsigned char *prefix;	/* header lines to prepend (Return-Path, Delivered-To) */
	size_t prefix_len;
	int fd;			/* the message (read from offset 0), owned */
	uint32_t status;	/* result: IPC_DELIVER_* */
	void (*done)(struct delivery *d);	/* status is set; d is the caller's again */
	/* the quota warning notice is saved from this loop, after the commit's callbacks
	 * (NULL: at once); set by the caller */
	struct event_base *base;
	/* the user's Sieve script (deliver_sieve.h), NULL = none; set by the caller */
	struct deliver_sieve *sieve;
	/* the envelope for Sieve when the prefix has no Return-Path / Delivered-To (the
	 * message brought its own trace lines: `buzon deliver` under Postfix's local);
	 * NULL: taken from the prefix. Set by the caller. */
	const char *env_from, *env_to;
	/* Sieve reject (deliver_sieve_reject_by_exit): the reason, malloc'd, for the
	 * caller to free; nothing was stored */
	char *rejected;
	/* private to deliver.c */
	struct mstore *store;
	uint64_t size;		/* octets written */
	unsigned pending;	/* Sieve: stores not yet committed, plus one while starting */
	struct deliver_dups *dups;	/* Sieve: duplicate IDs to record on success */
};

/*
 * Save one delivery: its bytes are written into tmp/ now, and the store's commit thread
 * makes it durable together with every other save that arrives meanwhile (group
 * commit: one directory fsync and one uidlist write per folder for the whole group).
 * d->done runs once it is durable or has failed (d->status); nothing is acknowledged
 * before. Without the commit thread it runs before this function returns. With
 * d->sieve, the user's script decides the folders and flags (docs/sieve.md, "Delivery"):
 * each folder is its own transaction, d->done runs once all are durable, and a folder
 * that cannot be written falls back to INBOX.
 */
void deliver_start(struct mstore *store, struct delivery *d);

/*
 * After a delivery of `size` octets to store was committed: if it took the usage across
 * the quota warning threshold (mstore_quota_warn_crossed), save the notice (docs/
 * delivery.md, "Quota"): a short text message from MAILER-DAEMON with
 * Auto-Submitted: auto-generated into INBOX, not itself checked against the quota.
 * With base, the save runs from the event loop soon (safe inside commit callbacks);
 * without, now and synchronously. Failures are logged.
 */
void deliver_quota_warning(struct mstore *store, struct event_base *base, uint64_t size);

#endif
