/*
 * buf.h — the one length-tracked byte buffer, with its limit inside the object.
 * Appends past `max` fail (-1) and leave the buffer unchanged; memory exhaustion aborts.
 * The data is always NUL-terminated (the NUL is not counted in len) so text can be used
 * as a C string, but the length is authoritative.
 */
#ifndef BUZON_BUF_H
#define BUZON_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

struct buf {
	char *data;	/* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;	/* appends that would make len > max fail */
};

#define BUF_UNLIMITED ((size_t)-1 / 2)

void buf_init(struct buf *b, size_t max);
void buf_deinit(struct buf *b);
/* Empty the buffer, keep the allocation. */
void buf_reset(struct buf *b);
/* Returns 0, or -1 if the append would pass b->max (buffer unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_c(struct buf *b, char c);
int buf_appendf(struct buf *b, const char *fmt, ...) PRINTF(2, 3);
int buf_vappendf(struct buf *b, const char *fmt, va_list ap) PRINTF(2, 0);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Truncate to n bytes (n <= len). */
void buf_truncate(struct buf *b, size_t n);
/* Always a valid C string ("" when empty); borrowed until the next change. */
const char *buf_cstr(const struct buf *b);
/* Hand the data to the caller (free with free()); the buffer becomes empty. */
char *buf_steal(struct buf *b);

#endif
