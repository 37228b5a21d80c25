/*
 * tls.h — server TLS contexts (OpenSSL 3): TLS 1.2 and 1.3 only, ECDHE + AEAD suites,
 * no renegotiation, no compression, strict ALPN, SNI among several certificates.
 * Contexts are built in the login process before it drops privileges (the private key
 * is read once and never again), and by `buzon check` to report certificate names and
 * expiry.
 */
#ifndef BUZON_TLS_H
#define BUZON_TLS_H

#include <openssl/ssl.h>

#include "config.h"

struct tls_server;

/*
 * Build contexts for every ssl_cert/ssl_key pair of cfg; alpn is "imap" or "pop3".
 * Returns NULL with *error_r (malloc'd) if a file cannot be read or a key does not match.
 */
struct tls_server *tls_server_create(const struct config *cfg, const char *alpn,
    char **error_r);
void tls_server_destroy(struct tls_server **ts);
/* A new SSL object for one connection (uses the default context; SNI switches it). */
SSL *tls_server_new_ssl(struct tls_server *ts);

/*
 * Describe a certificate file for `buzon check` and the expiry warning: subject names,
 * and seconds until notAfter (negative if expired). Returns 0 or -1 with *error_r.
 */
int tls_cert_info(const char *path, char **names_r, long long *expires_in_r, char **error_r);

/* Log a warning for each configured certificate that expires within 14 days. */
void tls_warn_expiry(const struct config *cfg);

#endif
