/*
 * role.h — start-up shared by the child roles the master execs (login, lmtp, auth,
 * mail): argument parsing, configuration, logging, and the confinement of the
 * unprivileged network-facing roles.
 */
#ifndef BUZON_ROLE_H
#define BUZON_ROLE_H

#include "config.h"
#include "sandbox.h"

/*
 * Parse "-c FILE" (required) and "--fds SPEC" (returned in *fds_r when fds_r != NULL,
 * required then), load the configuration, set the log ident and level, ignore SIGPIPE.
 * Exits with a log line on any error. Returns the configuration (caller frees).
 */
struct config *role_start(const char *ident, int argc, char **argv, const char **fds_r);

/*
 * Confine a network-facing role (login, lmtp) once it holds what it needs: non-dumpable,
 * and as root chroot into the empty directory and drop to login_user, as the master
 * passed them in BUZON_LOGIN_UID, BUZON_LOGIN_GID and BUZON_LOGIN_CHROOT; then (also
 * when not started as root) RLIMIT_AS = cfg->login_vsz_limit (not in ASan builds) and,
 * if cfg->login_seccomp, the seccomp allow-list of role (sandbox.h). From here on the
 * process can open no file, create no network socket and exec nothing.
 */
void role_confine_unprivileged(const struct config *cfg, enum sandbox_role role);

#endif
