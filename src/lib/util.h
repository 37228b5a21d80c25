/*
 * util.h — allocation that aborts on failure, bounded number parsing, constant-time
 * comparison and a few string helpers. Used by every process; no I/O, no globals.
 * Unsafe libc string functions are poisoned here so network code cannot use them.
 */
#ifndef BUZON_UTIL_H
#define BUZON_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED __attribute__((unused))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Allocation: never returns NULL; aborts the process on exhaustion. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
/* realloc for arrays: aborts on nmemb * size overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a malloc'd formatted string (caller frees). */
char *xasprintf(const char *fmt, ...) PRINTF(1, 2);

/*
 * Parse decimal digits [p, p+len) into *val_r. Every byte must be a digit, len >= 1,
 * no sign, no leading '+'; overflow beyond max is an error. Returns 0 or -1.
 */
int parse_u64(const char *p, size_t len, uint64_t max, uint64_t *val_r);
int parse_u32(const char *p, size_t len, uint32_t *val_r);

/* Constant-time comparison of two byte strings; the time depends only on the lengths. */
bool ct_memeq(const void *a, size_t alen, const void *b, size_t blen);

/* ASCII case-insensitive comparison of a length-counted string with a C string. */
bool mem_ieq(const char *p, size_t len, const char *cstr);
bool str_ieq(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);
/* A host or domain name as DNS and zone files take it: letters, digits, '-' and '.',
 * no empty label, no label starting with '-', at most 253 octets. */
bool dns_name_valid(const char *n);
/* Value of an ASCII hexadecimal digit (either case), or -1. */
int hex_digit_value(unsigned char c);

/*
 * The whole regular file open on fd, at most max octets, into a new NUL-terminated
 * buffer: 1 with *data_r (caller frees) and *len_r; 0 when fd is not a regular file;
 * -1 on error (errno; EFBIG: larger than max).
 */
int read_file_fd(int fd, size_t max, char **data_r, size_t *len_r);

/* Wipe a secret so the compiler cannot optimise it away. */
void secret_wipe(void *p, size_t n);

/* Monotonic clock in milliseconds (timers), wall clock in seconds (dates). */
uint64_t clock_ms(void);

/* Unsafe functions are unavailable past this point (STYLE.md). */
#pragma GCC poison strcpy strcat sprintf vsprintf strtok atoi atol gets
#endif
