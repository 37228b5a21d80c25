/*
 * netaddr.h — the key a client address is counted by: its IPv4 address, or its IPv6 /64
 * (one subscriber usually holds a whole /64). The master caps pre-login connections and
 * auth delays failed logins by this key, so both agree on what "one address" is.
 * Pure functions; used in the master and the auth process.
 */
#ifndef BUZON_NETADDR_H
#define BUZON_NETADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETADDR_KEY_LEN 16

/*
 * Fill key from a socket address: AF_INET → its 4 bytes; AF_INET6 → its first 8 bytes
 * and a marker byte, except an IPv4-mapped address (::ffff:a.b.c.d), which is keyed as
 * the IPv4 address it stands for. Returns false (key zeroed) for other families.
 */
bool netaddr_key_sockaddr(const struct sockaddr *sa, unsigned char key[NETADDR_KEY_LEN]);
/* The same from the text form (inet_ntop's output); false if ip is neither family. */
bool netaddr_key_string(const char *ip, unsigned char key[NETADDR_KEY_LEN]);
/* A hash of a key (FNV-1a) for the tables the master and auth keep by address. */
uint32_t netaddr_key_hash(const unsigned char key[NETADDR_KEY_LEN]);

#endif
