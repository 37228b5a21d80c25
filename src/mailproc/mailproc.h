/*
 * mailproc.h — the per-user mail process: receives logged-in connections from the
 * master and serves them with the IMAP layer, as the mailbox owner's uid.
 */
#ifndef BUZON_MAILPROC_H
#define BUZON_MAILPROC_H

/* Role entry, exec'ed by the master; fd 3 is the IPC socket. */
int mailproc_main(int argc, char **argv);

#endif
