/*
 * sieve.c — `buzon sieve check FILE...`: compile Sieve scripts with the front end of
 * src/sieve and report their errors the way the delivery path will (docs/sieve.md);
 * `buzon sieve test [-c CONFIG] [-u USER] [-f FROM] [-a TO] FILE MESSAGE`: run a script
 * against a message and print the actions it would take, one per line. Runs as whoever
 * invoked buzon (with -u: as that user, whose store answers mailboxexists) and reads
 * only the files named; scripts and messages are untrusted text, read up to their size
 * limits and handed to the pure compiler and interpreter.
 */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/util.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"
#include "mailproc/deliver_sieve.h"

static int
usage_sieve(void)
{
	fprintf(stderr, "usage: buzon sieve check FILE...\n"
	    "       buzon sieve test [-c CONFIG] [-u USER] [-f ENVFROM] [-a ENVTO] [-d DIR] "
	    "[-g DIR] FILE MESSAGE\n");
	return 2;
}

/*
 * Read at most max + 1 bytes of path, so that an oversized file is still handed to the
 * compiler, which reports its size. Returns a malloc'd buffer or NULL with errno set.
 */
static char *
read_script(const char *path, size_t max, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 4096;
	char *data;

	if (fd < 0)
		return NULL;
	data = xmalloc(cap);
	while (len <= max) {
		ssize_t n;

		if (len == cap) {
			cap = MIN(cap * 2, max + 1);
			data = xrealloc(data, cap);
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			free(data);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*len_r = len;
	return data;
}

static int
check_one(const char *path, const struct sieve_limits *lim)
{
	struct sieve_errors errs;
	struct sieve_script *s;
	size_t len;
	char *text = read_script(path, lim->script_max, &len);

	if (text == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	s = sieve_compile(text, len, lim, &errs);
	free(text);
	for (unsigned i = 0; i < errs.count; i++)
		fprintf(stderr, "%s: line %u:%u: %s: %s\n", path, errs.list[i].line,
		    errs.list[i].col, errs.list[i].warning ? "warning" : "error",
		    errs.list[i].text);
	if (errs.truncated)
		fprintf(stderr, "%s: error: too many errors, stopped after %u.\n", path,
		    errs.count - errs.warnings);
	sieve_errors_deinit(&errs);
	if (s == NULL)
		return 1;
	printf("%s: ok\n", path);
	sieve_script_destroy(&s);
	return 0;
}

#define SIEVE_TEST_MESSAGE_MAX (64 * 1024 * 1024)

static int
test_mailbox_exists(void *ctx, const char *name)
{
	struct cli_user_store *us = ctx;
	struct mailbox *box;

	if (us->store == NULL)
		return str_ieq(name, "INBOX");
	if (mailbox_open(us->store, name, &box) != STORE_OK)
		return 0;
	mailbox_unref(&box);
	return 1;
}

/* Compile path or print its errors; NULL on failure. */
static struct sieve_script *
test_compile(const char *path, const struct sieve_limits *lim)
{
	struct sieve_errors errs;
	struct sieve_script *s;
	size_t len;
	char *text = read_script(path, lim->script_max, &len);

	if (text == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	s = sieve_compile(text, len, lim, &errs);
	free(text);
	for (unsigned i = 0; i < errs.count; i++)
		fprintf(stderr, "%s: line %u:%u: %s: %s\n", path, errs.list[i].line,
		    errs.list[i].col, errs.list[i].warning ? "warning" : "error",
		    errs.list[i].text);
	sieve_errors_deinit(&errs);
	return s;
}

static int
test_run(struct sieve_script *s, const char *script, const char *msgpath,
    struct sieve_exec_env *env)
{
	struct sieve_exec_limits xl;
	struct sieve_result r;
	struct buf out;
	size_t len;
	char *msg = read_script(msgpath, SIEVE_TEST_MESSAGE_MAX, &len);
	struct tm tm;
	int ret;

	if (msg == NULL) {
		fprintf(stderr, "%s: %s\n", msgpath, strerror(errno));
		return 1;
	}
	if (len > SIEVE_TEST_MESSAGE_MAX) {
		fprintf(stderr, "%s: message too large\n", msgpath);
		free(msg);
		return 1;
	}
	env->msg = (const unsigned char *)msg;
	env->msg_len = len;
	env->now = time(NULL);
	if (localtime_r(&env->now, &tm) != NULL)
		env->zone_min = (int)(tm.tm_gmtoff / 60);
	sieve_exec_limits_default(&xl);
	ret = sieve_execute(s, env, &xl, &r);
	if (ret < 0)
		fprintf(stderr, "%s: line %u: error: %s\n", script, r.error_line, r.error);
	buf_init(&out, BUF_UNLIMITED);
	(void)sieve_result_format(&r, &out);
	fwrite(out.data != NULL ? out.data : "", 1, out.len, stdout);
	buf_deinit(&out);
	sieve_result_deinit(&r);
	free(msg);
	return ret < 0 ? 1 : 0;
}

/* `buzon sieve test`: exit 0 and the actions, 1 compile or run-time error, 2 usage. */
static int
sieve_test(int argc, char **argv)
{
	struct sieve_exec_env env = { .env_from = "sender@example.com",
	    .env_to = "recipient@example.com", .mailbox_exists = test_mailbox_exists };
	struct cli_user_store us = { 0 };
	const char *cfg = NULL, *user = NULL, *gdir = NULL;
	char *pdir = NULL;
	struct sieve_includes *inc;
	struct sieve_limits lim;
	struct sieve_script *s;
	int c, ret;

	optind = 1;
	while ((c = getopt(argc, argv, "c:u:f:a:d:g:")) != -1) {
		switch (c) {
		case 'c': cfg = optarg; break;
		case 'u': user = optarg; break;
		case 'f': env.env_from = optarg; break;
		case 'a': env.env_to = optarg; break;
		case 'd': free(pdir); pdir = xstrdup(optarg); break;
		case 'g': gdir = optarg; break;
		default: free(pdir); return usage_sieve();
		}
	}
	if (argc - optind != 2) {
		free(pdir);
		return usage_sieve();
	}
	/* include :personal looks next to the script unless -d says where */
	if (pdir == NULL) {
		const char *slash = strrchr(argv[optind], '/');

		pdir = slash == NULL ? xstrdup(".") : xstrndup(argv[optind],
		    (size_t)(slash - argv[optind]) + (slash == argv[optind]));
	}
	inc = sieve_includes_create(pdir, gdir);
	free(pdir);
	env.include = sieve_includes_load;
	env.include_ctx = inc;
	if (user != NULL) {
		ret = cli_user_store_open(&us, "sieve test", cfg, user);
		if (ret != 0) {
			cli_user_store_close(&us);
			sieve_includes_destroy(&inc);
			return ret;
		}
	}
	env.ctx = &us;
	sieve_limits_default(&lim);
	s = test_compile(argv[optind], &lim);
	ret = s == NULL ? 1 : test_run(s, argv[optind], argv[optind + 1], &env);
	sieve_script_destroy(&s);
	sieve_includes_destroy(&inc);
	if (user != NULL)
		cli_user_store_close(&us);
	return ret;
}

int
cli_sieve(int argc, char **argv)
{
	struct sieve_limits lim;
	int ret = 0;

	if (argc >= 2 && strcmp(argv[1], "test") == 0)
		return sieve_test(argc - 1, argv + 1);
	if (argc < 3 || strcmp(argv[1], "check") != 0)
		return usage_sieve();
	sieve_limits_default(&lim);
	for (int i = 2; i < argc; i++)
		if (check_one(argv[i], &lim) != 0)
			ret = 1;
	return ret;
}
