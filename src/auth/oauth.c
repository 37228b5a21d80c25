/*
 * oauth.c — the auth process's side of OAUTHBEARER and XOAUTH2 (see oauth.h). The key
 * set is the administrator's file, bounded by JWKS_FILE_MAX; the token is a client's
 * and goes through jwt_verify, which bounds everything it reads.
 */
#include "auth/oauth.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

int
oauth_jwks_load(const char *path, struct jwks **out, char **error_r)
{
	const char *err;
	char *data;
	size_t got = 0;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	r = read_file_fd(fd, JWKS_FILE_MAX, &data, &got);
	close(fd);
	if (r != 1) {
		*error_r = xasprintf("%s: not a regular file of at most %d bytes", path,
		    JWKS_FILE_MAX);
		return -1;
	}
	if (jwks_parse(data, got, out, &err) < 0) {
		free(data);
		*error_r = xasprintf("%s: %s", path, err);
		return -1;
	}
	free(data);
	if (jwks_count(*out) == 0) {
		jwks_free(out);
		*error_r = xasprintf("%s: no usable signature key (RSA, EC P-256/P-384, Ed25519)",
		    path);
		return -1;
	}
	return 0;
}

int
oauth_verify(const struct config *cfg, const struct jwks *keys, const char *user,
    const char *token, size_t len, int64_t now, struct user_info *u,
    const char **reason_r)
{
	char name[JWT_USER_MAX + 1];
	struct jwt_policy p;
	int r;

	memset(u, 0, sizeof(*u));
	if (keys == NULL || cfg->oauth_issuer == NULL) {
		*reason_r = "no key set loaded";
		return -1;
	}
	p.issuer = cfg->oauth_issuer;
	p.audience = cfg->oauth_audience;
	p.user_claim = cfg->oauth_username_claim;
	p.skew = cfg->oauth_clock_skew;
	p.now = now;
	if (jwt_verify(keys, &p, token, len, name, reason_r) != 1)
		return 0;
	/* RFC 7628 §3.1: an authzid other than the token's user is not ours to grant */
	if (user[0] != '\0' && strcmp(user, name) != 0) {
		*reason_r = "user differs from the token's";
		return 0;
	}
	r = userdb_lookup(cfg, name, u, reason_r);
	if (r == 0)
		*reason_r = "the token's user is unknown";
	return r;
}
