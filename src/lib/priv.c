/*
 * priv.c — privilege drop and verification (see priv.h). The order follows STYLE.md:
 * chroot, chdir, setgroups, setresgid, setresuid, verify, no_new_privs.
 */
#include <errno.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

bool
priv_is_root(void)
{
	return geteuid() == 0;
}

/* Fail a step of priv_drop_try with errno kept. */
static int
step_failed(const char *step, const char **step_r)
{
	*step_r = step;
	return -1;
}

int
priv_drop_try(uid_t uid, gid_t gid, const char *chroot_dir, const char **step_r)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (!priv_is_root())
		return 0;
	if (uid == 0 || gid == 0) {
		errno = EPERM;
		return step_failed("refusing to run as root", step_r);
	}
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) < 0)
			return step_failed("chroot", step_r);
		if (chdir("/") < 0)
			return step_failed("chdir(/)", step_r);
	}
	if (setgroups(1, &gid) < 0)
		return step_failed("setgroups", step_r);
	if (setresgid(gid, gid, gid) < 0)
		return step_failed("setresgid", step_r);
	if (setresuid(uid, uid, uid) < 0)
		return step_failed("setresuid", step_r);
	/* verify: we must not be able to get root back */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		panic("privilege drop did not stick");
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		panic("privilege drop verification failed");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		panic("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	return 0;
}

void
priv_drop(uid_t uid, gid_t gid, const char *chroot_dir)
{
	const char *step;

	if (priv_drop_try(uid, gid, chroot_dir, &step) < 0)
		panic("priv_drop uid=%u gid=%u chroot=%s: %s: %s", (unsigned)uid, (unsigned)gid,
		    chroot_dir != NULL ? chroot_dir : "-", step, strerror(errno));
}

void
priv_no_dump(void)
{
	struct rlimit rl = { 0, 0 };

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
}

void
priv_limits(unsigned long long as_bytes, unsigned long nofile)
{
	struct rlimit rl;

	if (as_bytes != 0) {
		rl.rlim_cur = rl.rlim_max = as_bytes;
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			log_warn("setrlimit RLIMIT_AS: %s", strerror(errno));
	}
	if (nofile != 0) {
		rl.rlim_cur = rl.rlim_max = nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit RLIMIT_NOFILE: %s", strerror(errno));
	}
}
