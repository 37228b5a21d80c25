/*
 * deliver.h — the local delivery subcommands: `buzon deliver` (an LDA for Postfix's
 * mailbox_command) and `buzon import mbox`. Both write through the store's durable
 * save path as the mailbox owner.
 */
#ifndef BUZON_CLI_DELIVER_H
#define BUZON_CLI_DELIVER_H

/* Exit codes (sysexits.h): what Postfix makes of them. */
#define DELIVER_EX_OK		0
#define DELIVER_EX_USAGE	64
#define DELIVER_EX_DATAERR	65	/* bounce: message too big or malformed */
#define DELIVER_EX_NOINPUT	66
#define DELIVER_EX_NOUSER	67	/* bounce: no such user */
#define DELIVER_EX_TEMPFAIL	75	/* retry later: disk full, I/O error, lock timeout */
#define DELIVER_EX_NOPERM	77	/* bounce: over quota (75 with quota_full_tempfail) */
#define DELIVER_EX_CONFIG	78	/* configuration error (Postfix defers) */

/*
 * `buzon deliver [-c FILE] [-d USER] [-f SENDER] [-m FOLDER]` (argv[0] == "deliver"):
 * the message on stdin into new/ of FOLDER (INBOX if absent or missing). Returns the
 * exit status.
 */
int cli_deliver(int argc, char **argv);

/*
 * `buzon import mbox [-c FILE] MBOXFILE USER [FOLDER]` (argv[0] == "import"). Returns
 * the exit status.
 */
int cli_import(int argc, char **argv);

#endif
