/*
 * util.c — allocation wrappers, bounded number parsing and constant-time comparison.
 * Runs in every process.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		panic("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t n)
{
	void *p = calloc(nmemb == 0 ? 1 : nmemb, n == 0 ? 1 : n);

	if (p == NULL)
		panic("out of memory allocating %zu*%zu bytes", nmemb, n);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);

	if (q == NULL)
		panic("out of memory reallocating %zu bytes", n);
	return q;
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		panic("allocation overflow %zu*%zu", nmemb, size);
	return xrealloc(p, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		panic("out of memory in xasprintf");
	return s;
}

int
parse_u64(const char *p, size_t len, uint64_t max, uint64_t *val_r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return -1;
		d = (unsigned)(p[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*val_r = v;
	return 0;
}

int
parse_u32(const char *p, size_t len, uint32_t *val_r)
{
	uint64_t v;

	if (parse_u64(p, len, UINT32_MAX, &v) < 0)
		return -1;
	*val_r = (uint32_t)v;
	return 0;
}

bool
ct_memeq(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = alen != blen;
	size_t i;

	/* Compare alen bytes of a against b (wrapping) so time depends only on alen. */
	for (i = 0; i < alen; i++)
		diff |= x[i] ^ (blen == 0 ? 0 : y[i % blen]);
	return diff == 0;
}

bool
mem_ieq(const char *p, size_t len, const char *cstr)
{
	size_t n = strlen(cstr);

	if (n != len)
		return false;
	return strncasecmp(p, cstr, n) == 0;
}

bool
str_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
hex_digit_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
secret_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)		/* an empty buffer may have no memory behind it */
		explicit_bzero(p, n);
}

uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool
dns_name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 253 || n[0] == '.' || n[len - 1] == '-' || strstr(n, "..") != NULL)
		return false;
	for (const char *p = n; *p != '\0'; p++) {
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.'))
			return false;
		if (*p == '-' && (p == n || p[-1] == '.'))
			return false;
	}
	return true;
}

int
read_file_fd(int fd, size_t max, char **data_r, size_t *len_r)
{
	struct stat sb;
	size_t off = 0;
	char *data;

	if (fstat(fd, &sb) < 0)
		return -1;
	if (!S_ISREG(sb.st_mode))
		return 0;
	if (sb.st_size < 0 || (uint64_t)sb.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	/* a file that shrinks meanwhile ends early: what was there */
	while (off < (size_t)sb.st_size) {
		ssize_t n = read(fd, data + off, (size_t)sb.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(data);
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	data[off] = '\0';
	*data_r = data;
	*len_r = off;
	return 1;
}
