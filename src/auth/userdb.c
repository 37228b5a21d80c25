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

	e->extra = "";
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
	e->extra = p;		/* the rest, colons included ("userdb_quota_rule=*:storage=1G") */
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
	if (userdb_extra_fields(e.extra, strlen(e.extra), u) < 0) {
		passwd_entry_free(&e);
		userdb_info_free(u);
		*error_r = "passwd-file has a bad quota field";
		return -1;
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

/* ------------------------------------------------------------------ extra fields */

/* A quota value: octets with an optional B, K, M, G or T suffix (Dovecot's units). */
static int
quota_value(const char *p, size_t len, bool size, uint64_t *r)
{
	uint64_t mult = 1, v;

	if (size && len > 1 && (p[len - 1] == 'B' || p[len - 1] == 'b'))
		len--;
	if (size && len > 1) {
		switch (p[len - 1]) {
		case 'k': case 'K': mult = 1024; break;
		case 'm': case 'M': mult = 1024 * 1024; break;
		case 'g': case 'G': mult = 1024ULL * 1024 * 1024; break;
		case 't': case 'T': mult = 1024ULL * 1024 * 1024 * 1024; break;
		}
		if (mult != 1)
			len--;
	}
	if (parse_u64(p, len, UINT64_MAX / mult, &v) < 0)
		return -1;
	*r = v * mult;
	return 0;
}

/* Dovecot's rule "*:storage=1G:messages=1000" (only the "*" rule is a limit of the
 * whole store; rules of other folders, "ignore", "+N" and "N%" are not supported and
 * ignored). 0, or -1 for a value that is not a number. */
static int
quota_rule(const char *p, size_t len, struct user_info *u)
{
	const char *end = p + len;

	if (len < 2 || p[0] != '*' || p[1] != ':')
		return 0;
	for (p += 2; p < end;) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *e = colon != NULL ? colon : end;
		uint64_t v;

		if (e - p > 8 && memcmp(p, "storage=", 8) == 0) {
			if (p[8] == '+' || e[-1] == '%')
				log_warn("userdb user=%s relative quota rule ignored", u->name);
			else if (quota_value(p + 8, (size_t)(e - p - 8), true, &v) < 0)
				return -1;
			else {
				u->quota_storage = v;
				u->quota_flags |= USERDB_QUOTA_STORAGE;
			}
		} else if (e - p > 9 && memcmp(p, "messages=", 9) == 0) {
			if (p[9] == '+' || e[-1] == '%')
				log_warn("userdb user=%s relative quota rule ignored", u->name);
			else if (quota_value(p + 9, (size_t)(e - p - 9), false, &v) < 0)
				return -1;
			else {
				u->quota_messages = v;
				u->quota_flags |= USERDB_QUOTA_MESSAGES;
			}
		}
		p = colon != NULL ? colon + 1 : end;
	}
	return 0;
}

static bool
key_is(const char *p, size_t len, const char *key)
{
	size_t n = strlen(key);

	if (len > 7 && memcmp(p, "userdb_", 7) == 0) {
		p += 7;
		len -= 7;
	}
	return len == n && memcmp(p, key, n) == 0;
}

int
userdb_extra_fields(const char *s, size_t len, struct user_info *u)
{
	const char *end = s + len;

	if (len > USERDB_EXTRA_MAX)
		return -1;
	while (s < end) {
		const char *sp, *eq, *e;
		size_t klen, vlen;
		uint64_t v;

		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end)
			break;
		for (sp = s; sp < end && *sp != ' ' && *sp != '\t'; sp++)
			;
		e = sp;
		eq = memchr(s, '=', (size_t)(e - s));
		if (eq == NULL) {
			s = e;
			continue;
		}
		klen = (size_t)(eq - s);
		vlen = (size_t)(e - eq - 1);
		if (key_is(s, klen, "quota_rule")) {
			if (quota_rule(eq + 1, vlen, u) < 0)
				return -1;
		} else if (key_is(s, klen, "quota_storage")) {
			if (quota_value(eq + 1, vlen, true, &v) < 0)
				return -1;
			u->quota_storage = v;
			u->quota_flags |= USERDB_QUOTA_STORAGE;
		} else if (key_is(s, klen, "quota_messages")) {
			if (quota_value(eq + 1, vlen, false, &v) < 0)
				return -1;
			u->quota_messages = v;
			u->quota_flags |= USERDB_QUOTA_MESSAGES;
		}
		/* other extra fields (Dovecot's userdb_mail, nopassword ...) are not ours */
		s = e;
	}
	return 0;
}

const char *
userdb_quota_fields(const struct user_info *u, char *buf, size_t size)
{
	int n = 0;

	buf[0] = '\0';
	if (u->quota_flags & USERDB_QUOTA_STORAGE)
		n = snprintf(buf, size, "quota_storage=%llu",
		    (unsigned long long)u->quota_storage);
	if ((u->quota_flags & USERDB_QUOTA_MESSAGES) && n >= 0 && (size_t)n < size)
		(void)snprintf(buf + n, size - (size_t)n, "%squota_messages=%llu",
		    n > 0 ? " " : "", (unsigned long long)u->quota_messages);
	return buf;
}

void
userdb_quota_limits(const struct config *cfg, const struct user_info *u,
    uint64_t *storage_r, uint64_t *messages_r)
{
	*storage_r = (u->quota_flags & USERDB_QUOTA_STORAGE) ? u->quota_storage :
	    cfg->quota_storage;
	*messages_r = (u->quota_flags & USERDB_QUOTA_MESSAGES) ? u->quota_messages :
	    cfg->quota_messages;
}
