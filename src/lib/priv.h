/*
 * priv.h — dropping privileges and confining processes. Runs in children right after
 * exec, before they read any network input or open any mail.
 */
#ifndef BUZON_PRIV_H
#define BUZON_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * When running as root: chroot(chroot_dir) and chdir("/") if chroot_dir != NULL, then
 * setgroups({gid}), setresgid(gid), setresuid(uid), then verify that setuid(0) and
 * setgid(0) fail, and set PR_SET_NO_NEW_PRIVS. Aborts the process (panic) if any step
 * fails or the verification shows privileges remain. When not root, does nothing.
 */
void priv_drop(uid_t uid, gid_t gid, const char *chroot_dir);
/*
 * priv_drop for a caller that can refuse with an exit status instead (`buzon imap -u`):
 * uid or gid 0, or a failing chroot, chdir, setgroups, setresgid or setresuid, returns
 * -1 with errno set and *step_r naming the step (static text). The verification and
 * PR_SET_NO_NEW_PRIVS still abort on failure. Returns 0 (also when not root).
 */
int priv_drop_try(uid_t uid, gid_t gid, const char *chroot_dir, const char **step_r);

/* Mark the process non-dumpable (no core, /proc/PID owned by root) and RLIMIT_CORE 0. */
void priv_no_dump(void);

/* Set RLIMIT_AS (bytes, 0 = leave) and RLIMIT_NOFILE (0 = leave). */
void priv_limits(unsigned long long as_bytes, unsigned long nofile);

bool priv_is_root(void);

#endif
