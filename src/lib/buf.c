/*
 * buf.c — bounded growable byte buffer (see buf.h). Used by every process.
 */
#include "buf.h"

#include <stdio.h>

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_deinit(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static void
buf_reserve(struct buf *b, size_t need)
{
	size_t cap;

	/* need <= max < SIZE_MAX / 2, so need + 1 cannot overflow */
	if (need + 1 <= b->cap)
		return;
	cap = b->cap == 0 ? 64 : b->cap;
	while (cap < need + 1)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len)
		return -1;
	buf_reserve(b, b->len + n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_c(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (size_t)n > b->max - b->len)
		return -1;
	buf_reserve(b, b->len + (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_truncate(struct buf *b, size_t n)
{
	if (n < b->len) {
		b->len = n;
		b->data[n] = '\0';
	}
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data == NULL ? "" : b->data;
}

char *
buf_steal(struct buf *b)
{
	char *p = b->data == NULL ? xstrdup("") : b->data;

	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
