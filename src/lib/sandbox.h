/*
 * sandbox.h — the seccomp allow-lists of the network-facing roles (login, lmtp). Applied
 * last in role_confine_unprivileged(), after the chroot and the privilege drop, so the
 * filter only has to allow what the event loop needs to serve connections.
 */
#ifndef BUZON_SANDBOX_H
#define BUZON_SANDBOX_H

#include <stdbool.h>

/* Sanitizer runtimes need system calls (and address space) that the filter and the
 * RLIMIT_AS of the roles do not allow: both are skipped in ASan builds. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif
#ifndef SANDBOX_ASAN
#define SANDBOX_ASAN 0
#endif

enum sandbox_role {
	SANDBOX_LOGIN,	/* TLS sessions, proxy socketpairs, fds passed to the master */
	SANDBOX_LMTP,	/* LMTP sessions, one sealed memfd per message in transit */
};

/*
 * Install the seccomp filter of role in the calling process (and its future threads):
 * the system calls the role makes once confined are allowed, a few harmless probes fail
 * with an errno, anything else kills the whole process with SIGSYS
 * (SECCOMP_RET_KILL_PROCESS). Sets PR_SET_NO_NEW_PRIVS. Exits (fatal) if the filter
 * cannot be built or loaded: a role that asked for the filter never runs without it.
 * In an ASan build does nothing but log that it did nothing; returns false then, true
 * when the filter is installed.
 */
bool sandbox_apply(enum sandbox_role role);
/*
 * The lmtp process's spool directory (an open descriptor): its filter then allows
 * openat and unlinkat relative to this descriptor only. Call before sandbox_apply.
 */
void sandbox_set_spool_dir(int dirfd);

/* "login" or "lmtp". */
const char *sandbox_role_name(enum sandbox_role role);

#endif
