/*
 * sandbox.c — seccomp allow-lists for the login and lmtp processes (see sandbox.h).
 * Runs in those processes as their last confinement step, after chroot and the drop to
 * login_user. Security role: a process taken over through a parser or TLS bug keeps only
 * the system calls its event loop needs on descriptors it already holds: no new network
 * sockets, no files (open fails with EACCES, like in the empty chroot), no exec, no
 * ptrace, no new executable memory, no signals to other processes. The lists were taken from strace of the test suites (docs/security.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

/*
 * Allowed in both roles without argument checks. Seen under strace of the security,
 * pop3, delivery and interop suites (after the filter was loaded): accept4, brk, close,
 * epoll_ctl, epoll_wait, exit_group, fcntl, futex, getpid, getsockname, read, readv,
 * recvmsg, sendmsg, setsockopt, write, writev, and below ioctl(FIONREAD), socketpair
 * (login), memfd_create (lmtp). The others are paths the suites do not reach but the
 * code or its libraries can take: malloc of large blocks, abort(), signals, OpenSSL's
 * reseeding, libevent's fallbacks. None of them creates a new way out of the process.
 */
static const int sandbox_common[] = {
	/* event loop (libevent's epoll backend); poll for the last IPC flush before exit */
	SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
	SCMP_SYS(poll), SCMP_SYS(ppoll),
	/* I/O on descriptors the process holds */
	SCMP_SYS(read), SCMP_SYS(readv), SCMP_SYS(write), SCMP_SYS(writev),
	SCMP_SYS(recvfrom), SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(sendmsg),
	SCMP_SYS(close), SCMP_SYS(shutdown), SCMP_SYS(fcntl), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	/* new connections: from a listener, or (later) passed by the master in recvmsg */
	SCMP_SYS(accept), SCMP_SYS(accept4),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(getsockopt),
	SCMP_SYS(setsockopt),
	/* malloc; mmap and mprotect are below, without PROT_EXEC */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* time (normally the vDSO), randomness (OpenSSL's DRBG reseeds) */
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom),
	/* signals and ends */
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(futex),
};

/*
 * The lmtp process writes each message into a memfd and seals it (fcntl), or, when it
 * is large, into a file of its spool directory, which it reads back to move a message
 * there (pread) — see sandbox_set_spool_dir for the only directory it may open in.
 */
static const int sandbox_lmtp[] = {
	SCMP_SYS(memfd_create), SCMP_SYS(pread64), SCMP_SYS(lseek),
};

static int sandbox_spool_fd = -1;

/*
 * One argument comparison, every field set (libseccomp's SCMP_An macros leave datum_b
 * to the compiler, which clang's -Wmissing-field-initializers refuses).
 */
static struct scmp_arg_cmp
sb_arg(unsigned arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = op, .datum_a = a, .datum_b = b };

	return c;
}

void
sandbox_set_spool_dir(int dirfd)
{
	sandbox_spool_fd = dirfd;
}

const char *
sandbox_role_name(enum sandbox_role role)
{
	return role == SANDBOX_LOGIN ? "login" : "lmtp";
}

static void
sandbox_allow(scmp_filter_ctx ctx, const int *nrs, size_t n, const char *role)
{
	for (size_t i = 0; i < n; i++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);

		/* a negative number is a call this architecture does not have (libseccomp) */
		if (rc < 0 && nrs[i] >= 0)
			fatal("%s: seccomp_rule_add(%d): %s", role, nrs[i], strerror(-rc));
	}
}

static void
sandbox_rule(scmp_filter_ctx ctx, int nr, const char *role, int rc)
{
	if (rc < 0 && nr >= 0)
		fatal("%s: seccomp rule for syscall %d: %s", role, nr, strerror(-rc));
}

bool
sandbox_apply(enum sandbox_role role)
{
	const char *name = sandbox_role_name(role);
	scmp_filter_ctx ctx;
	int rc;

	if (SANDBOX_ASAN) {
		log_info("%s: sanitizer build, seccomp filter not installed", name);
		return false;
	}
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatal("%s: seccomp_init failed", name);
	sandbox_allow(ctx, sandbox_common, N_ELEMENTS(sandbox_common), name);
	if (role == SANDBOX_LOGIN) {
		/* one socketpair per TLS login, to proxy it to the mail process */
		sandbox_rule(ctx, SCMP_SYS(socketpair), name, seccomp_rule_add(ctx,
		    SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, sb_arg(0, SCMP_CMP_EQ, AF_UNIX, 0)));
	} else {
		sandbox_allow(ctx, sandbox_lmtp, N_ELEMENTS(sandbox_lmtp), name);
		/* files only inside the spool directory, by its descriptor (openat, unlinkat) */
		if (sandbox_spool_fd >= 0) {
			sandbox_rule(ctx, SCMP_SYS(openat), name, seccomp_rule_add(ctx,
			    SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
			    sb_arg(0, SCMP_CMP_EQ, (scmp_datum_t)sandbox_spool_fd, 0)));
			sandbox_rule(ctx, SCMP_SYS(unlinkat), name, seccomp_rule_add(ctx,
			    SCMP_ACT_ALLOW, SCMP_SYS(unlinkat), 1,
			    sb_arg(0, SCMP_CMP_EQ, (scmp_datum_t)sandbox_spool_fd, 0)));
		}
	}
	/* memory, but never executable memory: no shellcode stage can map or flip pages */
	sandbox_rule(ctx, SCMP_SYS(mmap), name, seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(mmap), 1, sb_arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)));
	sandbox_rule(ctx, SCMP_SYS(mprotect), name, seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(mprotect), 1, sb_arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)));
	/* libevent sizes its reads with FIONREAD; no other ioctl */
	sandbox_rule(ctx, SCMP_SYS(ioctl), name, seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(ioctl), 1, sb_arg(1, SCMP_CMP_EQ, FIONREAD, 0)));
	/* a library that looks for a file (glibc's time zone, a config) gets what the empty
	 * chroot would answer instead of killing the process: nothing can be opened */
	if (role != SANDBOX_LMTP || sandbox_spool_fd < 0)
		sandbox_rule(ctx, SCMP_SYS(openat), name, seccomp_rule_add(ctx,
		    SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0));
	else
		sandbox_rule(ctx, SCMP_SYS(openat), name, seccomp_rule_add(ctx,
		    SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
		    sb_arg(0, SCMP_CMP_NE, (scmp_datum_t)sandbox_spool_fd, 0)));
	sandbox_rule(ctx, SCMP_SYS(open), name, seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
	    SCMP_SYS(open), 0));
	/* abort() and raise(): signals to this process only (panic still ends in SIGABRT) */
	sandbox_rule(ctx, SCMP_SYS(tgkill), name, seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(tgkill), 1, sb_arg(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0)));
	sandbox_rule(ctx, SCMP_SYS(kill), name, seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(kill), 1, sb_arg(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0)));
	if ((rc = seccomp_load(ctx)) < 0)
		fatal("%s: seccomp_load: %s (set login_seccomp = no if this kernel has no "
		    "seccomp filters)", name, strerror(-rc));
	seccomp_release(ctx);
	log_debug("%s: seccomp filter installed", name);
	return true;
}
