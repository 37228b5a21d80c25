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

void
priv_drop(uid_t uid, gid_t gid, const char *chroot_dir)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (!priv_is_root())
		return;
	if (uid == 0 || gid == 0)
		panic("priv_drop: refusing to run as uid %u gid %u", (unsigned)uid, (unsigned)gid);
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) < 0)
			panic("chroot(%s): %s", chroot_dir, strerror(errno));
		if (chdir("/") < 0)
			panic("chdir(/): %s", strerror(errno));
	}
	if (setgroups(1, &gid) < 0)
		panic("setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		panic("setresgid(%u): %s", (unsigned)gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		panic("setresuid(%u): %s", (unsigned)uid, strerror(errno));
	/* verify: we must not be able to get root back */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		panic("privilege drop did not stick");
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		panic("privilege drop verification failed");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		panic("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
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
