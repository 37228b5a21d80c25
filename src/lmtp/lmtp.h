/*
 * lmtp.h — the LMTP process (RFC 2033): accepts the MTA's connections on lmtp_listen,
 * speaks LMTP, streams each message into a sealed memfd and hands it, once per
 * recipient, to the master (IPC_LMTP_DELIVER), which has the recipient's own mail
 * process save it. Runs as login_user in the empty login chroot: it parses every byte
 * the MTA (or anyone who reaches the socket) sends, and never touches a Maildir.
 */
#ifndef BUZON_LMTP_H
#define BUZON_LMTP_H

/*
 * Role entry, exec'ed by the master as `buzon --role lmtp -c FILE --fds lmtp=4[,lmtp=5]`:
 * fd 3 is the IPC socket to the master; BUZON_LOGIN_UID/GID/CHROOT give the identity to
 * drop to when started as root. IPC_LOGIN_DRAIN (empty payload) makes it stop accepting
 * and exit once its sessions have ended, as a login process does on reload (the
 * master then starts a new one with the new configuration). Returns only on exit
 * (status 0).
 */
int lmtp_main(int argc, char **argv);

#endif
