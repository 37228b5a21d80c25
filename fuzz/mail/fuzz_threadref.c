/*
 * fuzz_threadref.c — libFuzzer target for the ids a thread is made from
 * (src/mail/threadref.c): the input is a header block. At most max ids come out, the
 * same ones for the same input, and none is 0.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mail/threadref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t own, own2, refs[101], refs2[101];
	size_t n, n2;

	n = mail_thread_refs(data, size, &own, refs, 100);
	n2 = mail_thread_refs(data, size, &own2, refs2, 100);
	if (n > 100 || n != n2 || own != own2 || memcmp(refs, refs2, n * sizeof(*refs)) != 0)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if (refs[i] == 0)
			__builtin_trap();
	if (mail_thread_refs(data, size, &own, refs, 0) != 0)
		__builtin_trap();
	return 0;
}
