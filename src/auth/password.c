/*
 * password.c — verifying and creating password hashes (see password.h). Runs in the
 * auth process (as root when system users are enabled) and in `buzon user`. Holds
 * plaintext passwords only for the duration of one call; callers wipe them.
 */
#include <argon2.h>
#include <crypt.h>
#include <errno.h>

#include <openssl/rand.h>

#include "auth/password.h"
#include "lib/log.h"
#include "proto/scram.h"
#include "lib/util.h"

/* A SHA512-CRYPT hash of a random string: verifying against it costs what a real one costs. */
static const char dummy_hash[] =
    "$6$Vf3dJqSBc3ZpM1uy$Gr/2yJ8Ff2f4gHb6y2f7Yd4p1Zpk6JvZ8E0yqkSx2jRZ8kTcm3H2e1Qq5y7e0D1fS3"
    "m4R6tB0bW2nC9xQ1vE.";

/* password_dummy_set(): a hash like the real ones (NULL: dummy_hash). */
static char *dummy_stored;

static int
verify_crypt(const char *hash, const char *password)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *out;
	int ret;

	out = crypt_r(password, hash, cd);
	/* libxcrypt returns a string starting with '*' on failure */
	if (out == NULL || out[0] == '*')
		ret = -1;
	else
		ret = ct_memeq(out, strlen(out), hash, strlen(hash)) ? 1 : 0;
	secret_wipe(cd, sizeof(*cd));
	free(cd);
	return ret;
}

int
password_verify(const char *stored, const char *password, size_t password_len,
    const char **error_r)
{
	const char *end, *hash;
	size_t slen;
	int r;

	if (stored[0] != '{') {
		/* Dovecot's default scheme is CRYPT */
		if (stored[0] != '$') {
			*error_r = "password without {SCHEME} that is not a crypt(3) hash";
			return -1;
		}
		hash = stored;
		goto crypt;
	}
	if ((end = strchr(stored, '}')) == NULL) {
		*error_r = "malformed {SCHEME}";
		return -1;
	}
	slen = (size_t)(end - stored - 1);
	hash = end + 1;
	if (mem_ieq(stored + 1, slen, "SHA512-CRYPT")) {
		if (!str_has_prefix(hash, "$6$"))
			goto bad;
	} else if (mem_ieq(stored + 1, slen, "SHA256-CRYPT")) {
		if (!str_has_prefix(hash, "$5$"))
			goto bad;
	} else if (mem_ieq(stored + 1, slen, "BLF-CRYPT")) {
		if (!str_has_prefix(hash, "$2"))
			goto bad;
	} else if (mem_ieq(stored + 1, slen, "CRYPT")) {
		if (hash[0] != '$')
			goto bad;
	} else if (mem_ieq(stored + 1, slen, "ARGON2ID") || mem_ieq(stored + 1, slen, "ARGON2I")) {
		argon2_type t = mem_ieq(stored + 1, slen, "ARGON2ID") ? Argon2_id : Argon2_i;

		r = argon2_verify(hash, password, password_len, t);
		if (r == ARGON2_OK)
			return 1;
		if (r == ARGON2_VERIFY_MISMATCH)
			return 0;
		*error_r = "malformed ARGON2 hash";
		return -1;
	} else if (mem_ieq(stored + 1, slen, "SCRAM-SHA-256") ||
	    mem_ieq(stored + 1, slen, "SCRAM-SHA-1")) {
		/* PLAIN/LOGIN for a SCRAM user: derive the keys (RFC 5802 §3) and compare */
		struct scram_stored st;

		if (scram_stored_parse(mem_ieq(stored + 1, slen, "SCRAM-SHA-1") ? SCRAM_SHA1 :
		    SCRAM_SHA256, hash, strlen(hash), &st) < 0) {
			*error_r = "malformed SCRAM credentials";
			return -1;
		}
		r = scram_password_matches(&st, password, password_len);
		secret_wipe(&st, sizeof(st));
		if (r < 0)
			*error_r = "SCRAM key derivation failed";
		return r;
	} else if (mem_ieq(stored + 1, slen, "PLAIN") || mem_ieq(stored + 1, slen, "CLEARTEXT")) {
		return ct_memeq(password, password_len, hash, strlen(hash)) ? 1 : 0;
	} else {
		*error_r = "unknown password scheme";
		return -1;
	}
crypt:
	/* crypt(3) refuses passphrases this long: a wrong password, not a broken hash */
	if (memchr(password, '\0', password_len) != NULL ||
	    password_len >= CRYPT_MAX_PASSPHRASE_SIZE) {
		password_verify_dummy(password, password_len);
		return 0;
	}
	r = verify_crypt(hash, password);
	if (r < 0)
		*error_r = "crypt(3) rejected the stored hash";
	return r;
bad:
	*error_r = "hash does not match its {SCHEME}";
	return -1;
}

void
password_verify_dummy(const char *password, size_t password_len)
{
	/* cut at NUL and at crypt(3)'s limit, so password_verify() never recurses here */
	char *p = xstrndup(password, MIN(password_len, CRYPT_MAX_PASSPHRASE_SIZE - 1));
	const char *err;

	if (dummy_stored != NULL)
		(void)password_verify(dummy_stored, p, strlen(p), &err);
	else
		(void)verify_crypt(dummy_hash, p);
	secret_wipe(p, strlen(p));
	free(p);
}

static bool
scheme_is_plain(const char *stored)
{
	const char *end = strchr(stored, '}');
	size_t n;

	if (stored[0] != '{' || end == NULL)
		return false;
	n = (size_t)(end - stored - 1);
	return mem_ieq(stored + 1, n, "PLAIN") || mem_ieq(stored + 1, n, "CLEARTEXT");
}

const char *
password_dummy_template(void)
{
	return dummy_stored;
}

int
password_dummy_set(const char *stored)
{
	const char *err;

	if (stored != NULL) {
		if (scheme_is_plain(stored) || password_verify(stored, "", 0, &err) < 0)
			return -1;
	}
	if (dummy_stored != NULL) {
		secret_wipe(dummy_stored, strlen(dummy_stored));
		free(dummy_stored);
	}
	dummy_stored = stored != NULL ? xstrdup(stored) : NULL;
	return 0;
}

char *
password_hash_system_default(void)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *out;
	char *ret = NULL;

	if (crypt_gensalt_rn(NULL, 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return NULL;
	cd = xcalloc(1, sizeof(*cd));
	out = crypt_r("buzon-dummy", salt, cd);
	if (out != NULL && out[0] == '$')
		ret = xasprintf("{CRYPT}%s", out);
	secret_wipe(cd, sizeof(*cd));
	free(cd);
	return ret;
}

char *
password_hash(const char *password)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *out;
	char *ret = NULL;

	if (crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return NULL;
	cd = xcalloc(1, sizeof(*cd));
	out = crypt_r(password, salt, cd);
	if (out != NULL && out[0] == '$')
		ret = xasprintf("{SHA512-CRYPT}%s", out);
	secret_wipe(cd, sizeof(*cd));
	free(cd);
	return ret;
}

int
password_scram_stored(const char *stored, enum scram_hash h, struct scram_stored *out)
{
	const char *name = scram_mech_name(h), *end;
	size_t n = strlen(name);

	if (stored[0] != '{' || strlen(stored) < n + 2 || !mem_ieq(stored + 1, n, name) ||
	    stored[n + 1] != '}')
		return 0;
	end = stored + n + 2;
	return scram_stored_parse(h, end, strlen(end), out) == 0 ? 1 : -1;
}

char *
password_hash_scram(enum scram_hash h, const char *password)
{
	unsigned char salt[16];
	struct scram_stored st;
	char *ret;

	/* Dovecot's choice: 16 random bytes of salt, 4096 iterations (RFC 7677 §4) */
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    scram_stored_derive(h, password, strlen(password), salt, sizeof(salt),
	    SCRAM_ITER_MIN, &st) < 0)
		return NULL;
	ret = scram_stored_format(&st);
	secret_wipe(&st, sizeof(st));
	return ret;
}
