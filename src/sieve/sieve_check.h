/*
 * sieve_check.h — state and helpers shared by the two halves of the Sieve validator,
 * sieve_check.c (structure, tags, signatures) and sieve_value.c (constant values).
 * src/sieve only; same trust role as sieve.h.
 */
#ifndef BUZON_SIEVE_CHECK_H
#define BUZON_SIEVE_CHECK_H

#include "sieve/sieve_registry.h"

#define NAME_MAX_MSG 40	/* script words quoted in messages are cut to this */

struct sieve_vstate {
	struct sieve_ctx *c;
	struct sieve_script *s;
	uint32_t *parent;	/* per node: enclosing node or SIEVE_NONE */
	uint32_t *prev;		/* per node: previous sibling or SIEVE_NONE */
	uint32_t reported[16];	/* name strings of unknown commands/tests reported */
	unsigned reported_count;
	uint32_t last_require;	/* the last top-level require in its right place */
};

/* String i of the script (borrowed). */
const char *sieve_vstr(const struct sieve_script *s, uint32_t i, size_t *len_r);
/* "command" or "test". */
const char *sieve_noun(const struct sieve_node *n);
/* Whether the capability (enum sieve_cap, or SIEVE_CAP_CORE) was required. */
bool sieve_cap_ok(const struct sieve_script *s, unsigned cap);
/* The string of argument argi if it is a single string, else NULL. */
const char *sieve_single_str(const struct sieve_vstate *v, uint32_t argi, size_t *len_r);
/* Whether p holds "${" while variables are in use: its value is known only at run time. */
bool sieve_has_var(const struct sieve_vstate *v, const char *p, size_t len);

/* Decode ${hex:} and ${unicode:} in every string argument when encoded-character is
 * required. */
void sieve_decode_encoded(struct sieve_vstate *v);
/* The value checks of node n (its arguments are where its signature says). */
void sieve_check_values(struct sieve_vstate *v, struct sieve_node *n);

#endif
