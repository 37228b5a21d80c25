/*
 * userdb.c — user lookups in the passwd-file and the system user database, and the
 * passwd-file parser. Runs in the auth process and CLI subcommands. The uid a user maps
 * to decides which files the mail process may touch, so uid 0 and uids below
 * first_valid_uid are refused.
 */
#include <errno.h>
#include <pwd.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/userdb.h"
#include "lib/log.h"
#include "lib/util.h"

#define PASSWD_MAX_LINE 8192

bool
userdb_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > USER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x21 || c == 0x7f || c == '/' || c == ':' || c == '\\' || c == '%' ||
		    c == '*' || c == '"')
			return false;
	}
	if (name[0] == '.' || name[0] == '~' || name[0] == '-' || name[0] == '@')
		return false;
	for (size_t i = 0; i + 1 < len; i++)
		if (name[i] == '.' && name[i + 1] == '.')
			return false;
	return true;
}

void
passwd_entry_free(struct passwd_entry *e)
{
	if (e->line != NULL) {
		secret_wipe(e->line, strlen(e->line));
		free(e->line);
	}
	memset(e, 0, sizeof(*e));
}

static int
passwd_split(char *line, struct passwd_entry *e)
{
	const char **fields[] = { &e->user, &e->password, &e->uid, &e->gid, &e->gecos,
	    &e->home, &e->shell };
	char *p = line;

	for (size_t i = 0; i < N_ELEMENTS(fields); i++) {
		char *colon = strchr(p, ':');

		*fields[i] = p;
		if (colon == NULL) {
			for (size_t j = i + 1; j < N_ELEMENTS(fields); j++)
				*fields[j] = "";
			return i >= 1 ? 0 : -1;
		}
		*colon = '\0';
		p = colon + 1;
	}
	return 0;
}

int
passwd_file_find(const char *path, const char *name, struct passwd_entry *e,
    const char **error_r)
{
	char line[PASSWD_MAX_LINE];
	bool found = false;
	FILE *f;

	memset(e, 0, sizeof(*e));
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		*error_r = "cannot open passwd_file";
		log_error("passwd-file open path=%s error=%s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line), ulen;
		const char *colon;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		colon = strchr(line, ':');
		ulen = colon ? (size_t)(colon - line) : n;
		if (name != NULL && (ulen != strlen(name) || memcmp(line, name, ulen) != 0))
			continue;
		if (found) {
			log_warn("passwd-file path=%s duplicate user ignored (first entry wins)", path);
			break;
		}
		e->line = xstrdup(line);
		if (passwd_split(e->line, e) < 0) {
			passwd_entry_free(e);
			continue;
		}
		found = true;
		if (name == NULL)
			break;
	}
	secret_wipe(line, sizeof(line));
	fclose(f);
	return found ? 1 : 0;
}

static int
id_field(const char *s, uint32_t *r)
{
	return parse_u32(s, strlen(s), r);
}

/* Fill identity fields and check the uid policy. Returns 1, or -1 with *error_r. */
static int
user_finish(const struct config *cfg, struct user_info *u, const char **error_r)
{
	const char *err;

	if (getuid() != 0) {
		/* unprivileged run (development, demo): everything belongs to us */
		u->uid = getuid();
		u->gid = getgid();
	} else if (u->uid == 0 || u->gid == 0) {
		*error_r = "user maps to root; refused";
		return -1;
	} else if (u->uid < cfg->first_valid_uid) {
		*error_r = "user's uid is below first_valid_uid; refused";
		return -1;
	}
	if ((u->mail_root = config_mail_root(cfg, u->name, u->home, &err)) == NULL) {
		*error_r = err;
		return -1;
	}
	return 1;
}

void
userdb_info_free(struct user_info *u)
{
	free(u->name);
	free(u->home);
	free(u->mail_root);
	memset(u, 0, sizeof(*u));
}

static int
lookup_passwd_file(const struct config *cfg, const char *name, struct user_info *u,
    const char **error_r)
{
	struct passwd_entry e;
	uint32_t n;
	int r;

	if (cfg->passwd_file == NULL)
		return 0;
	r = passwd_file_find(cfg->passwd_file, name, &e, error_r);
	if (r <= 0)
		return r;
	memset(u, 0, sizeof(*u));
	u->name = xstrdup(e.user);
	u->home = xstrdup(e.home);
	u->uid = cfg->mail_uid_num;
	u->gid = cfg->mail_gid_num;
	if (e.uid[0] != '\0') {
		if (id_field(e.uid, &n) < 0)
			goto bad;
		u->uid = (uid_t)n;
	}
	if (e.gid[0] != '\0') {
		if (id_field(e.gid, &n) < 0)
			goto bad;
		u->gid = (gid_t)n;
	}
	passwd_entry_free(&e);
	if (getuid() == 0 && (u->uid == (uid_t)-1 || u->gid == (gid_t)-1)) {
		userdb_info_free(u);
		*error_r = "passwd-file user has no uid/gid and mail_uid/mail_gid are unset";
		return -1;
	}
	if (user_finish(cfg, u, error_r) < 0) {
		userdb_info_free(u);
		return -1;
	}
	return 1;
bad:
	passwd_entry_free(&e);
	userdb_info_free(u);
	*error_r = "passwd-file has a bad uid or gid";
	return -1;
}

void
userdb_info_from_passwd(struct user_info *u, const struct passwd *pw)
{
	memset(u, 0, sizeof(*u));
	u->name = xstrdup(pw->pw_name);
	u->home = xstrdup(pw->pw_dir);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->system = true;
}

static int
lookup_system(const struct config *cfg, const char *name, struct user_info *u,
    const char **error_r)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	if (!cfg->system_users)
		return 0;
	if (getpwnam_r(name, &pw, tmp, sizeof(tmp), &res) != 0) {
		*error_r = "system user lookup failed";
		return -1;
	}
	if (res == NULL)
		return 0;
	userdb_info_from_passwd(u, &pw);
	if (user_finish(cfg, u, error_r) < 0) {
		userdb_info_free(u);
		return -1;
	}
	return 1;
}

int
userdb_lookup(const struct config *cfg, const char *name, struct user_info *u,
    const char **error_r)
{
	int r;

	if (!userdb_name_valid(name, strlen(name)))
		return 0;
	r = lookup_passwd_file(cfg, name, u, error_r);
	if (r != 0)
		return r;
	return lookup_system(cfg, name, u, error_r);
}
