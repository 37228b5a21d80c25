/*
 * user.c — `buzon user add|passwd|del|list`: edits the passwd-file. Runs as the
 * administrator (root in production). The file is rewritten atomically (temp file,
 * fsync, rename) with mode 0600, and passwords are hashed with SHA512-CRYPT before
 * they touch the disk; the plaintext is read from stdin and wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "auth/password.h"
#include "auth/userdb.h"
#include "cli/cli.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"

#define PASSWD_MAX_FILE (64 * 1024 * 1024)

static int
read_password(char *pw, size_t size)
{
	struct termios t, old;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	size_t n;

	if (tty) {
		fprintf(stderr, "Password: ");
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	if (fgets(pw, (int)size, stdin) == NULL)
		pw[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fprintf(stderr, "\n");
	}
	n = strlen(pw);
	if (n > 0 && pw[n - 1] == '\n')
		pw[--n] = '\0';
	if (n > 0 && pw[n - 1] == '\r')
		pw[--n] = '\0';
	if (n == 0) {
		fprintf(stderr, "buzon: empty password refused\n");
		return -1;
	}
	return 0;
}

/* Read the whole passwd-file (missing file = empty). */
static int
read_file(const char *path, struct buf *b)
{
	char tmp[8192];
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0) {
		if (buf_append(b, tmp, (size_t)r) < 0) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	close(fd);
	return r < 0 ? -1 : 0;
}

static int
write_file(const char *path, const struct buf *b)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	char *dir = xstrdup(path), *slash;
	int fd, dfd, ret = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto out;
	if (write(fd, b->data == NULL ? "" : b->data, b->len) != (ssize_t)b->len ||
	    fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	ret = 0;
out:
	free(tmp);
	free(dir);
	return ret;
}

/* Find the line of user `name`; returns its start offset and length, or -1. */
static ssize_t
find_line(const struct buf *b, const char *name, size_t *len_r)
{
	size_t pos = 0, nlen = strlen(name);

	while (pos < b->len) {
		const char *nl = memchr(b->data + pos, '\n', b->len - pos);
		size_t end = nl ? (size_t)(nl - b->data) : b->len;

		if (end - pos > nlen && memcmp(b->data + pos, name, nlen) == 0 &&
		    b->data[pos + nlen] == ':') {
			*len_r = end - pos + (nl ? 1 : 0);
			return (ssize_t)pos;
		}
		pos = end + 1;
	}
	return -1;
}

static int
usage_user(void)
{
	fprintf(stderr,
	    "usage: buzon user add -c FILE [-u UID] [-g GID] [-h HOME] [-s SCHEME] NAME\n"
	    "                                                     (password on stdin)\n"
	    "       buzon user passwd -c FILE [-s SCHEME] NAME    (password on stdin)\n"
	    "       SCHEME: SHA512-CRYPT (default), SCRAM-SHA-256, SCRAM-SHA-1\n"
	    "       buzon user del -c FILE NAME\n"
	    "       buzon user list -c FILE\n");
	return 64;
}

int
cli_user(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "scheme", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfgpath = NULL, *uid = "", *gid = "", *home = "", *op, *name = NULL;
	const char *scheme = "SHA512-CRYPT";
	struct config *cfg;
	char *err, pw[1100];
	struct buf b;
	uint32_t num;
	size_t llen = 0;
	ssize_t at;
	int c, ret = 1;

	if (argc < 2)
		return usage_user();
	op = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:u:g:h:s:", longopts, NULL)) != -1) {
		switch (c) {
		case 's': scheme = optarg; break;
		case 'c': cfgpath = optarg; break;
		case 'u': uid = optarg; break;
		case 'g': gid = optarg; break;
		case 'h': home = optarg; break;
		default: return usage_user();
		}
	}
	if (cfgpath == NULL)
		return usage_user();
	if (strcasecmp(scheme, "SHA512-CRYPT") != 0 && strcasecmp(scheme, "SCRAM-SHA-256") != 0 &&
	    strcasecmp(scheme, "SCRAM-SHA-1") != 0) {
		fprintf(stderr, "buzon: unknown scheme %s (SHA512-CRYPT, SCRAM-SHA-256, "
		    "SCRAM-SHA-1)\n", scheme);
		return 64;
	}
	if (optind < argc)
		name = argv[optind];
	if (strcmp(op, "list") != 0 && name == NULL)
		return usage_user();
	if (name != NULL && !userdb_name_valid(name, strlen(name))) {
		fprintf(stderr, "buzon: invalid user name\n");
		return 65;
	}
	if ((uid[0] != '\0' && parse_u32(uid, strlen(uid), &num) < 0) ||
	    (gid[0] != '\0' && parse_u32(gid, strlen(gid), &num) < 0) ||
	    strchr(home, ':') != NULL || strchr(home, '\n') != NULL) {
		fprintf(stderr, "buzon: bad -u, -g or -h value\n");
		return 65;
	}
	if (config_load(cfgpath, &cfg, &err) < 0) {
		fprintf(stderr, "buzon: %s\n", err);
		free(err);
		return 78;
	}
	if (cfg->passwd_file == NULL) {
		fprintf(stderr, "buzon: no passwd_file configured\n");
		config_free(&cfg);
		return 78;
	}
	buf_init(&b, PASSWD_MAX_FILE);
	if (read_file(cfg->passwd_file, &b) < 0) {
		fprintf(stderr, "buzon: %s: %s\n", cfg->passwd_file, strerror(errno));
		goto out;
	}
	at = name != NULL ? find_line(&b, name, &llen) : -1;
	if (strcmp(op, "list") == 0) {
		for (size_t pos = 0; pos < b.len;) {
			const char *nl = memchr(b.data + pos, '\n', b.len - pos);
			size_t end = nl ? (size_t)(nl - b.data) : b.len;
			const char *colon = memchr(b.data + pos, ':', end - pos);

			if (colon != NULL && b.data[pos] != '#')
				printf("%.*s\n", (int)(colon - b.data - (ptrdiff_t)pos), b.data + pos);
			pos = end + 1;
		}
		ret = 0;
	} else if (strcmp(op, "add") == 0 || strcmp(op, "passwd") == 0) {
		bool add = strcmp(op, "add") == 0;
		struct buf nb;
		char *hash, *line;

		if (add && at >= 0) {
			fprintf(stderr, "buzon: user %s exists\n", name);
			goto out;
		}
		if (!add && at < 0) {
			fprintf(stderr, "buzon: no user %s\n", name);
			goto out;
		}
		if (read_password(pw, sizeof(pw)) < 0)
			goto out;
		/* SCRAM-SHA-*: Dovecot's format, for SCRAM logins (docs/security.md) */
		if (strcasecmp(scheme, "SCRAM-SHA-256") == 0)
			hash = password_hash_scram(SCRAM_SHA256, pw);
		else if (strcasecmp(scheme, "SCRAM-SHA-1") == 0)
			hash = password_hash_scram(SCRAM_SHA1, pw);
		else
			hash = password_hash(pw);
		secret_wipe(pw, sizeof(pw));
		if (hash == NULL) {
			fprintf(stderr, "buzon: hashing failed\n");
			goto out;
		}
		buf_init(&nb, PASSWD_MAX_FILE);
		if (add) {
			line = xasprintf("%s:%s:%s:%s::%s::\n", name, hash, uid, gid, home);
			(void)buf_append(&nb, b.data, b.len);
			if (b.len > 0 && b.data[b.len - 1] != '\n')
				(void)buf_append_c(&nb, '\n');
			(void)buf_append_str(&nb, line);
		} else {
			/* keep every field but the password */
			const char *old = b.data + at, *c1 = memchr(old, ':', llen);
			const char *c2 = c1 ? memchr(c1 + 1, ':', llen - (size_t)(c1 + 1 - old)) : NULL;
			const char *rest = c2 ? c2 : "::::::\n";
			size_t restlen = c2 ? llen - (size_t)(c2 - old) : strlen(rest);

			line = xasprintf("%s:%s%.*s", name, hash, (int)restlen, rest);
			if (line[strlen(line) - 1] != '\n') {
				char *l2 = xasprintf("%s\n", line);

				free(line);
				line = l2;
			}
			(void)buf_append(&nb, b.data, (size_t)at);
			(void)buf_append_str(&nb, line);
			(void)buf_append(&nb, b.data + at + llen, b.len - (size_t)at - llen);
		}
		free(hash);
		free(line);
		if (write_file(cfg->passwd_file, &nb) < 0)
			fprintf(stderr, "buzon: cannot write %s: %s\n", cfg->passwd_file, strerror(errno));
		else
			ret = 0;
		buf_deinit(&nb);
	} else if (strcmp(op, "del") == 0) {
		struct buf nb;

		if (at < 0) {
			fprintf(stderr, "buzon: no user %s\n", name);
			goto out;
		}
		buf_init(&nb, PASSWD_MAX_FILE);
		(void)buf_append(&nb, b.data, (size_t)at);
		(void)buf_append(&nb, b.data + at + llen, b.len - (size_t)at - llen);
		if (write_file(cfg->passwd_file, &nb) < 0)
			fprintf(stderr, "buzon: cannot write %s: %s\n", cfg->passwd_file, strerror(errno));
		else
			ret = 0;
		buf_deinit(&nb);
	} else {
		ret = usage_user();
	}
out:
	if (b.data != NULL)
		secret_wipe(b.data, b.len);
	buf_deinit(&b);
	config_free(&cfg);
	return ret;
}
