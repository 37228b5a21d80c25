/*
 * login.h — the login process: pre-authentication IMAP (CAPABILITY, STARTTLS, LOGIN,
 * AUTHENTICATE, ID, NOOP, LOGOUT), TLS termination and, after login, the plaintext
 * proxy between a TLS client and its mail process. Runs unprivileged in an empty
 * chroot; it never sees mail, password hashes or the TLS key file after start-up.
 */
#ifndef BUZON_LOGIN_H
#define BUZON_LOGIN_H

/*
 * Role entry, exec'ed by the master: fd 3 is the IPC socket to the master; listening
 * sockets are given as "--fds kind=fd,..." with kind imap (STARTTLS) or imaps.
 */
int login_main(int argc, char **argv);

#endif
