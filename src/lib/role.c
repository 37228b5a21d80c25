/*
 * role.c — common start-up of child roles (see role.h). Runs first in every child, as
 * the user the master started it as; the confinement is the last step before the role
 * touches network input.
 */
#include <signal.h>
#include <time.h>

#include "log.h"
#include "priv.h"
#include "role.h"
#include "sandbox.h"

struct config *
role_start(const char *ident, int argc, char **argv, const char **fds_r)
{
	const char *cfgpath = NULL, *fds = NULL;
	struct config *cfg;
	char *err = NULL;

	log_set_ident(ident);
	for (int i = 0; i + 1 < argc; i++) {
		if (strcmp(argv[i], "-c") == 0)
			cfgpath = argv[i + 1];
		else if (strcmp(argv[i], "--fds") == 0)
			fds = argv[i + 1];
	}
	if (cfgpath == NULL || (fds_r != NULL && fds == NULL))
		fatal("%s: missing -c or --fds", ident);
	if (config_load(cfgpath, &cfg, &err) < 0)
		fatal("%s", err);
	if (strcmp(cfg->log_level, "debug") == 0)
		log_set_level(LOG_LEVEL_DEBUG);
	log_set_json(cfg->log_json);
	signal(SIGPIPE, SIG_IGN);
	if (fds_r != NULL)
		*fds_r = fds;
	return cfg;
}

void
role_confine_unprivileged(const struct config *cfg, enum sandbox_role role)
{
	const char *ident = sandbox_role_name(role);
	const char *u = getenv("BUZON_LOGIN_UID"), *g = getenv("BUZON_LOGIN_GID");
	const char *chroot_dir = getenv("BUZON_LOGIN_CHROOT");
	uint32_t uid, gid;

	priv_no_dump();
	/* glibc reads /etc/localtime at the first time conversion; do it while /etc is there */
	tzset();
	if (priv_is_root()) {
		if (u == NULL || g == NULL || chroot_dir == NULL ||
		    parse_u32(u, strlen(u), &uid) < 0 || parse_u32(g, strlen(g), &gid) < 0)
			fatal("%s: master did not pass the login identity", ident);
		priv_drop((uid_t)uid, (gid_t)gid, chroot_dir);
	}
	/* ASan reserves terabytes of shadow memory: no address-space limit there */
	if (!SANDBOX_ASAN)
		priv_limits(cfg->login_vsz_limit, 0);
	if (cfg->login_seccomp)
		(void)sandbox_apply(role);
	else
		log_info("%s: login_seccomp = no, seccomp filter not installed", ident);
}
