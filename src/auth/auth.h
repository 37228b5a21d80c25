/*
 * auth.h — the auth process: verifies credentials for the master and slows down
 * password guessing per client network (IPv4 /32, IPv6 /64). Never sees mail.
 */
#ifndef BUZON_AUTH_H
#define BUZON_AUTH_H

#include <stdbool.h>
#include <stdint.h>

/* Role entry, exec'ed by the master; fd 3 is the IPC socket. */
int auth_main(int argc, char **argv);

/*
 * Failure penalty: seconds to wait after the n-th consecutive failure from one network
 * (2, 4, 8, then max_delay). 0 when n == 0 or max_delay == 0.
 */
unsigned auth_penalty_delay(unsigned failures, unsigned max_delay);

/*
 * Per-network penalty entries (IPv4 /32, IPv6 /64) in a fixed table of 4096 slots;
 * an entry is forgotten after 10 minutes without requests unless it is banned.
 * Times are clock_ms() values.  Exposed for the unit tests; the auth process is the
 * only user.
 */
struct auth_penalty;

/* The entry of ip's network, created if needed; NULL if ip is not an address or every
 * slot it may use is in use by a request.  Borrowed: lives in a static table. */
struct auth_penalty *auth_penalty_get(const char *ip, uint64_t now);

/* Count one failed login.  When ban_failures failures have been counted since the
 * last ban (and neither setting is 0), bans the network for ban_seconds from now and
 * returns ban_seconds; else returns 0. */
unsigned auth_penalty_failure(struct auth_penalty *p, uint64_t now, unsigned ban_failures,
    unsigned ban_seconds);

/* true while p (may be NULL) is banned. */
bool auth_penalty_banned(const struct auth_penalty *p, uint64_t now);

/* Failures counted for p (0 for NULL): drives auth_penalty_delay(). */
unsigned auth_penalty_failures(const struct auth_penalty *p);

/* Forget every entry (unit tests). */
void auth_penalty_reset_all(void);

/* true if ip (text) is inside one of the CIDR blocks in list (space/comma separated). */
bool auth_ip_in_networks(const char *ip, const char *list);

#endif
