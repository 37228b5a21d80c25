/*
 * sieve.c — `buzon sieve check FILE...`: compile Sieve scripts with the front end of
 * src/sieve and report their errors the way the delivery path will (docs/sieve.md).
 * Runs as whoever invoked buzon and reads only the files named; the scripts are
 * untrusted text, read up to the script size limit and handed to the pure compiler.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/util.h"
#include "sieve/sieve.h"

static int
usage_sieve(void)
{
	fprintf(stderr, "usage: buzon sieve check FILE...\n");
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

int
cli_sieve(int argc, char **argv)
{
	struct sieve_limits lim;
	int ret = 0;

	if (argc < 3 || strcmp(argv[1], "check") != 0)
		return usage_sieve();
	sieve_limits_default(&lim);
	for (int i = 2; i < argc; i++)
		if (check_one(argv[i], &lim) != 0)
			ret = 1;
	return ret;
}
