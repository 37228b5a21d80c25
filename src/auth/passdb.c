/*
 * passdb.c — password verification (see passdb.h). Runs in the auth process, which is
 * the only process that reads password hashes. Plaintext passwords arrive from the
 * login process, are used once and wiped by the caller. PAM is never called here: a
 * system user's password goes to a PAM worker (pam_pool.c), and so does the dummy
 * check of an unknown name when system users are enabled, so that both take the same
 * path and cost the same.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "lib/buf.h"
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

/*
 * The secret behind made-up SCRAM salts: the dummy template (the passwd-file's first
 * entry's stored password, a secret only auth reads, stable across restarts), else
 * random bytes drawn once per process.
 */
static void
fake_key(unsigned char key[32])
{
	static unsigned char rnd[32];
	static bool have_rnd;
	const char *t = password_dummy_template();
	unsigned int n = 0;

	if (t != NULL) {
		(void)EVP_Digest(t, strlen(t), key, &n, EVP_sha256(), NULL);
		return;
	}
	if (!have_rnd) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			fatal("auth: no random bytes for SCRAM");
		have_rnd = true;
	}
	memcpy(key, rnd, sizeof(rnd));
}

static void
fake_params(const char *name, enum scram_hash h, unsigned char *salt, size_t *salt_len_r,
    uint32_t *iter_r)
{
	unsigned char key[32], mac[32];
	unsigned int n = 0;
	struct buf b;
	struct scram_stored st;
	const char *t = password_dummy_template();

	fake_key(key);
	buf_init(&b, BUF_UNLIMITED);
	(void)buf_appendf(&b, "%s\n%s", scram_mech_name(h), name);
	(void)HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)b.data, b.len, mac, &n);
	buf_deinit(&b);
	/* Dovecot's and `buzon user add`'s shape: 16 bytes, the users' count */
	memcpy(salt, mac, 16);
	*salt_len_r = 16;
	*iter_r = SCRAM_ITER_MIN;
	if (t != NULL && password_scram_stored(t, h, &st) == 1)
		*iter_r = st.iter;
	secret_wipe(&st, sizeof(st));
	secret_wipe(key, sizeof(key));
}

/* name's SCRAM credentials of hash h: 1 found, 0 none, -1 error. */
static int
scram_lookup(const struct config *cfg, const char *name, enum scram_hash h,
    struct scram_stored *st, const char **error_r)
{
	struct passwd_entry e;
	int r;

	dummy_refresh(cfg);
	if (cfg->passwd_file == NULL || !userdb_name_valid(name, strlen(name)))
		return 0;
	r = passwd_file_find(cfg->passwd_file, name, &e, error_r);
	if (r <= 0)
		return r;
	r = password_scram_stored(e.password, h, st);
	passwd_entry_free(&e);
	if (r < 0) {
		log_error("auth passwd-file user entry unusable: malformed SCRAM credentials");
		return 0;
	}
	return r;
}

int
passdb_scram_params(const struct config *cfg, const char *name, enum scram_hash h,
    unsigned char *salt, size_t *salt_len_r, uint32_t *iter_r, const char **error_r)
{
	struct scram_stored st;
	int r = scram_lookup(cfg, name, h, &st, error_r);

	if (r < 0)
		return -1;
	if (r > 0) {
		memcpy(salt, st.salt, st.salt_len);
		*salt_len_r = st.salt_len;
		*iter_r = st.iter;
	} else {
		fake_params(name, h, salt, salt_len_r, iter_r);
	}
	secret_wipe(&st, sizeof(st));
	return r;
}

int
passdb_verify_scram(const struct config *cfg, const char *name, enum scram_hash h,
    const unsigned char *msg, size_t len, struct user_info *u, unsigned char *server_sig,
    const char **error_r)
{
	struct scram_stored st;
	size_t hl = scram_hash_len(h);
	int r;

	memset(u, 0, sizeof(*u));
	if (len <= hl)
		return 0;
	r = scram_lookup(cfg, name, h, &st, error_r);
	if (r <= 0)
		return r;
	r = scram_verify_proof(&st, msg + hl, len - hl, msg, hl, server_sig);
	secret_wipe(&st, sizeof(st));
	if (r < 0) {
		*error_r = "SCRAM proof check failed";
		return -1;
	}
	if (r == 0)
		return 0;
	r = userdb_lookup(cfg, name, u, error_r);
	return r == 0 ? 0 : r;
}
