/*
 * passdb.c — password verification (see passdb.h). Runs in the auth process, which is
 * the only process that reads password hashes. Plaintext passwords arrive from the
 * login process, are used once and wiped by the caller. PAM is never called here: a
 * system user's password goes to a PAM worker (pam_pool.c), and so does the dummy
 * check of an unknown name when system users are enabled, so that both take the same
 * path and cost the same.
 */
#include <sys/stat.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "lib/log.h"
#include "lib/util.h"

/* Which passwd-file the dummy template was taken from. */
static struct {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} dummy_src;

/*
 * Unknown users are checked against the first entry of the passwd-file (its scheme
 * and cost, e.g. a BLF-CRYPT or ARGON2ID file), re-read when the file changes; without
 * a usable entry, password.c's SHA512-CRYPT default.
 */
static void
dummy_refresh(const struct config *cfg)
{
	struct passwd_entry e;
	const char *err;
	struct stat st;

	if (cfg->passwd_file == NULL || stat(cfg->passwd_file, &st) < 0)
		return;
	if (dummy_src.path != NULL && strcmp(dummy_src.path, cfg->passwd_file) == 0 &&
	    dummy_src.dev == st.st_dev && dummy_src.ino == st.st_ino &&
	    dummy_src.size == st.st_size && dummy_src.mtime.tv_sec == st.st_mtim.tv_sec &&
	    dummy_src.mtime.tv_nsec == st.st_mtim.tv_nsec)
		return;
	free(dummy_src.path);
	dummy_src.path = xstrdup(cfg->passwd_file);
	dummy_src.dev = st.st_dev;
	dummy_src.ino = st.st_ino;
	dummy_src.size = st.st_size;
	dummy_src.mtime = st.st_mtim;
	if (passwd_file_find(cfg->passwd_file, NULL, &e, &err) > 0) {
		if (password_dummy_set(e.password) < 0)
			(void)password_dummy_set(NULL);
		passwd_entry_free(&e);
	}
}

/* A name no database knows: the same work as a real check, and a refusal. */
static int
refuse(const struct config *cfg, const char *password, size_t password_len,
    enum pam_job_kind *pam_r)
{
	if (cfg->system_users) {
		*pam_r = PAM_JOB_DUMMY;
		return PASSDB_PAM;
	}
	password_verify_dummy(password, password_len);
	return 0;
}

int
passdb_verify(const struct config *cfg, const char *name, const char *password,
    size_t password_len, struct user_info *u, enum pam_job_kind *pam_r,
    const char **error_r)
{
	struct passwd_entry e;
	int r;

	memset(u, 0, sizeof(*u));
	*pam_r = 0;
	dummy_refresh(cfg);
	if (!userdb_name_valid(name, strlen(name)) ||
	    memchr(password, '\0', password_len) != NULL)
		return refuse(cfg, password, password_len, pam_r);
	if (cfg->passwd_file != NULL) {
		r = passwd_file_find(cfg->passwd_file, name, &e, error_r);
		if (r < 0)
			return -1;
		if (r > 0) {
			r = password_verify(e.password, password, password_len, error_r);
			passwd_entry_free(&e);
			if (r < 0) {
				/* unknown scheme or malformed hash: fail closed, say why in the log */
				log_error("auth passwd-file user entry unusable: %s", *error_r);
				return 0;
			}
			if (r == 0)
				return 0;
			r = userdb_lookup(cfg, name, u, error_r);
			return r == 0 ? 0 : r;
		}
	}
	if (cfg->system_users) {
		r = userdb_lookup(cfg, name, u, error_r);
		if (r < 0)
			return r;
		if (r == 0)
			return refuse(cfg, password, password_len, pam_r);
		*pam_r = PAM_JOB_AUTH;
		return PASSDB_PAM;
	}
	return refuse(cfg, password, password_len, pam_r);
}
