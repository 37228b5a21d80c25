/*
 * sieve_registry.h — constant tables of the Sieve capabilities, tagged arguments,
 * commands and tests buzon knows, with argument signatures (src/sieve only).
 */
#ifndef BUZON_SIEVE_REGISTRY_H
#define BUZON_SIEVE_REGISTRY_H

#include "sieve/sieve_local.h"

/* What a tag takes after it. */
enum sieve_tag_value { SIEVE_TV_NONE, SIEVE_TV_NUMBER, SIEVE_TV_STRING, SIEVE_TV_LIST };

/* Tags of one group exclude each other (RFC 5229 §4.1 for the modifier precedences). */
enum sieve_tag_group {
	SIEVE_G_NONE, SIEVE_G_MATCH, SIEVE_G_ADDR, SIEVE_G_CMP, SIEVE_G_SIZE, SIEVE_G_PERIOD,
	SIEVE_G_TRANSFORM, SIEVE_G_ZONE, SIEVE_G_LOCATION, SIEVE_G_DUPID, SIEVE_G_MOD40,
	SIEVE_G_MOD30, SIEVE_G_MOD20, SIEVE_G_MOD10,
};

struct sieve_tag_def {
	const char *name;
	uint8_t cap;		/* enum sieve_cap needed when the tag extends a command */
	uint8_t value;		/* enum sieve_tag_value */
	uint8_t group;		/* enum sieve_tag_group */
};

enum sieve_pos_type { SIEVE_PT_STRING = 1, SIEVE_PT_LIST, SIEVE_PT_NUMBER };
enum sieve_tests { SIEVE_TESTS_NONE, SIEVE_TESTS_ONE, SIEVE_TESTS_LIST };

struct sieve_sig {
	const char *name;
	uint8_t kind;		/* enum sieve_node_kind */
	uint8_t cap;		/* enum sieve_cap that must be required */
	uint8_t pos_min, pos_max;
	bool opt_first;		/* with fewer than pos_max, the first slots are omitted */
	uint8_t pos[SIEVE_POS_MAX];	/* enum sieve_pos_type */
	const char *pos_names[SIEVE_POS_MAX];
	uint64_t native;	/* tags allowed by the command's own capability */
	uint64_t ext;		/* tags allowed when their own capability is required */
	uint8_t tests;		/* enum sieve_tests */
	bool block;		/* a block is required */
	bool unused;
};

extern const struct sieve_tag_def sieve_tags[SIEVE_TAG_COUNT_];
extern const struct sieve_sig sieve_sigs[SIEVE_ID_COUNT];

/* Capability index of the word p[0..len) (exact match), or -1. */
int sieve_cap_lookup(const char *p, size_t len);
/* Command or test with that name (case-insensitive), or SIEVE_ID_UNKNOWN. */
enum sieve_id sieve_id_lookup(const char *name, size_t len);
/* Tag with that name without ':' (case-insensitive), or -1. */
int sieve_tag_lookup(const char *name, size_t len);

#endif
