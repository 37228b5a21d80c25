/*
 * fuzz_sieve_ids.c — libFuzzer target for the Sieve store's id map file
 * (sieve_store_ids_parse, src/mailproc/sieve_store.c): a user-owned file, read bounded.
 * Every line taken has an id of "S" and 16 lower-case hex digits and a name the store
 * accepts (no "/", no LF, at most SIEVE_STORE_NAME_MAX octets).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailproc/sieve_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(void *ctx, const char *id, const char *name)
{
	size_t n = strlen(name);

	(*(size_t *)ctx)++;
	if (strlen(id) != SIEVE_STORE_ID_LEN || id[0] != 'S')
		abort();
	for (size_t i = 1; i < SIEVE_STORE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			abort();
	if (n == 0 || n > SIEVE_STORE_NAME_MAX || strchr(name, '/') != NULL ||
	    strchr(name, '\n') != NULL || !sieve_store_name_ok(name, n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	size_t lines = 0, nl = 0;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i < size && data[i] != '\0'; i++)
		nl += data[i] == '\n';
	sieve_store_ids_parse(copy, check, &lines);
	if (lines > nl)
		abort();	/* a line without its LF was taken */
	free(copy);
	return 0;
}
