/*
 * fuzz_sieve.c — libFuzzer target for the Sieve front end (src/sieve): the input is a
 * script compiled once with the default limits and once with tight ones (so the limit
 * paths run too). Checks that a script comes back exactly when there is no error
 * (warnings aside), that errors stay within errors_max with sane positions, and that
 * every index of a compiled tree is in range and every node is reached exactly once
 * from the top.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/util.h"
#include "sieve/sieve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_arg(const struct sieve_script *s, uint32_t ai)
{
	const struct sieve_arg *a;

	if (ai == SIEVE_NONE)
		return;
	if (ai >= s->arg_count)
		abort();
	a = &s->args[ai];
	if (a->type == SIEVE_ARG_STRING || a->type == SIEVE_ARG_LIST || a->type == SIEVE_ARG_TAG) {
		if (a->str_first >= s->str_count || a->str_count > s->str_count - a->str_first)
			abort();
		for (uint32_t k = 0; k < a->str_count; k++) {
			const struct sieve_str *st = &s->strs[a->str_first + k];

			if (st->off > s->pool_len || st->len >= s->pool_len - st->off ||
			    s->pool[st->off + st->len] != '\0')
				abort();
		}
	}
	if (a->type == SIEVE_ARG_TAG && a->value != SIEVE_NONE && a->value >= s->arg_count)
		abort();
}

static void
check_node(const struct sieve_script *s, const struct sieve_node *n)
{
	if (n->id == 0 || n->id >= SIEVE_ID_COUNT || n->arg_first > s->arg_count ||
	    n->arg_count > s->arg_count - n->arg_first || n->line == 0 || n->col == 0)
		abort();
	for (uint32_t i = 0; i < n->arg_count; i++)
		check_arg(s, n->arg_first + i);
	for (unsigned i = 0; i < SIEVE_POS_MAX; i++)
		if (n->pos[i] != SIEVE_NONE &&
		    (n->pos[i] < n->arg_first || n->pos[i] >= n->arg_first + n->arg_count))
			abort();
}

/* Walk every list from the top with an explicit work list; each node once. */
static void
check_tree(const struct sieve_script *s)
{
	size_t cap = 2 * (size_t)s->node_count + 2;
	uint32_t *work = xcalloc(cap, sizeof(*work));
	uint8_t *seen = xcalloc(s->node_count + 1, 1);
	size_t top = 0, count = 0;

	if (s->first != SIEVE_NONE)
		work[top++] = s->first;
	while (top > 0) {
		uint32_t i = work[--top];

		for (; i != SIEVE_NONE; i = s->nodes[i].next) {
			const struct sieve_node *n;

			if (i >= s->node_count || seen[i] || top + 2 > cap)
				abort();
			seen[i] = 1;
			count++;
			n = &s->nodes[i];
			check_node(s, n);
			if (n->test_first != SIEVE_NONE)
				work[top++] = n->test_first;
			if (n->block_first != SIEVE_NONE)
				work[top++] = n->block_first;
		}
	}
	if (count != s->node_count)
		abort();
	free(work);
	free(seen);
}

static void
run(const uint8_t *data, size_t size, const struct sieve_limits *lim)
{
	struct sieve_errors errs;
	struct sieve_script *s = sieve_compile((const char *)data, size, lim, &errs);

	if ((s == NULL) != (errs.count > errs.warnings) || errs.count > lim->errors_max ||
	    errs.warnings > errs.count)
		abort();
	for (unsigned i = 0; i < errs.count; i++)
		if (errs.list[i].line == 0 || errs.list[i].col == 0 ||
		    memchr(errs.list[i].text, '\0', sizeof(errs.list[i].text)) == NULL)
			abort();
	if (s != NULL)
		check_tree(s);
	sieve_script_destroy(&s);
	sieve_errors_deinit(&errs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sieve_limits lim;

	sieve_limits_default(&lim);
	run(data, size, &lim);
	lim.string_max = 16;
	lim.depth_max = 3;
	lim.nodes_max = 8;
	lim.args_max = 4;
	lim.list_max = 3;
	lim.errors_max = 2;
	lim.script_max = 4096;
	run(data, size, &lim);
	return 0;
}
