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

/* true if ip (text) is inside one of the CIDR blocks in list (space/comma separated). */
bool auth_ip_in_networks(const char *ip, const char *list);

#endif
