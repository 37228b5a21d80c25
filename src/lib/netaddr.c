/*
 * netaddr.c — client address keys (see netaddr.h). Runs in the master and auth; reads
 * only addresses the kernel returned or the master formatted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "netaddr.h"

static void
key_v4(const void *a4, unsigned char key[NETADDR_KEY_LEN])
{
	memcpy(key, a4, 4);
}

static void
key_v6(const struct in6_addr *a6, unsigned char key[NETADDR_KEY_LEN])
{
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		key_v4(a6->s6_addr + 12, key);
		return;
	}
	memcpy(key, a6->s6_addr, 8);	/* the /64 */
	key[NETADDR_KEY_LEN - 1] = 6;	/* never equal to an IPv4 key */
}

bool
netaddr_key_sockaddr(const struct sockaddr *sa, unsigned char key[NETADDR_KEY_LEN])
{
	memset(key, 0, NETADDR_KEY_LEN);
	if (sa->sa_family == AF_INET) {
		key_v4(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, key);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		key_v6(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, key);
		return true;
	}
	return false;
}

bool
netaddr_key_string(const char *ip, unsigned char key[NETADDR_KEY_LEN])
{
	struct in6_addr a6;
	struct in_addr a4;

	memset(key, 0, NETADDR_KEY_LEN);
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		key_v4(&a4, key);
		return true;
	}
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		key_v6(&a6, key);
		return true;
	}
	return false;
}

uint32_t
netaddr_key_hash(const unsigned char key[NETADDR_KEY_LEN])
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < NETADDR_KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}
