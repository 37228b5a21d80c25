/*
 * sieve_run.h — internals of the Sieve interpreter shared by sieve_exec.c (commands,
 * actions), sieve_match.c (comparators, match types, variables) and sieve_msg.c (the
 * message as tests see it: header fields with edits, addresses, body, dates). src/sieve
 * only; same trust role as sieve_exec.h.
 */
#ifndef BUZON_SIEVE_RUN_H
#define BUZON_SIEVE_RUN_H

#include "sieve/sieve_exec.h"
#include "sieve/sieve_local.h"

#define SIEVE_MATCH_VARS 10	/* ${0} .. ${9} (RFC 5229 §3.2) */
#define SIEVE_EXPAND_MAX 65536	/* an expanded string ("${a}${a}...") */
#define SIEVE_EDITS_MAX 256	/* addheader / deleteheader actions per run */
#define SIEVE_WORK_MAX 50000000u	/* comparisons and fields scanned in one run */
#define SIEVE_VALUES_MAX 10000	/* values one test compares */

/* A list of owned strings (values or keys of one test). */
struct sieve_sv {
	char *p;
	size_t len;
};

struct sieve_strlist {
	struct sieve_sv *v;
	unsigned n, cap;
};

struct sieve_var {
	char *name;		/* lowercase */
	struct buf val;
};

/* One script included during the run. */
struct sieve_inc {
	const struct sieve_script *s;
	bool global;
	char *name;
	bool active;		/* being run now (an include of it again is a loop) */
};

/* One header field as tests see it; `owned` fields were added by addheader. */
struct sieve_hdr {
	const char *name;
	size_t name_len;
	const char *value;	/* raw, folded */
	size_t value_len;
	size_t raw_off, raw_len;	/* original fields: the bytes in the message */
	bool owned;
	bool deleted;
};

struct sieve_run {
	const struct sieve_script *s;
	const struct sieve_exec_env *env;
	const struct sieve_exec_limits *lim;
	struct sieve_result *r;
	unsigned act_cap;
	unsigned steps;
	uint64_t work;
	bool variables;		/* "variables" is required: expand ${...} */
	struct sieve_var *vars;	/* the current script's own variables */
	unsigned nvars;
	struct sieve_var *gvars;	/* global variables (RFC 6609 §3.3) */
	unsigned ngvars;
	char **gnames;		/* names the current script declared global */
	unsigned ngnames;
	unsigned includes;	/* include commands carried out */
	unsigned depth;		/* include nesting of the current script */
	struct sieve_inc *incs;	/* scripts included (for :once and loops) */
	unsigned nincs;
	struct buf match[SIEVE_MATCH_VARS];
	unsigned nmatch;
	struct buf flags;	/* the imap4flags internal variable */
	struct sieve_hdr *hdrs;
	unsigned nhdrs, hdr_cap;
	size_t hdr_end;		/* end of the header block in env->msg */
	bool edited;
	bool hdr_full;		/* more fields than headers_max: no edits */
	unsigned edits;
	struct mail_message *mime;	/* parsed on the first body test */
	bool implicit_keep;
	unsigned redirects;
	uint32_t line;		/* the command being run */
	bool failed;
};

/* Record a run-time error (the first one wins). Always returns -1. */
int sieve_run_error(struct sieve_run *x, const char *fmt, ...) PRINTF(2, 3);
/* Charge n units of work (byte comparisons, fields scanned); -1 past SIEVE_WORK_MAX. */
int sieve_run_charge(struct sieve_run *x, size_t n);
/* Count one step; -1 (with the error set) past steps_max. */
int sieve_run_step(struct sieve_run *x);

void sieve_strlist_add(struct sieve_strlist *l, const char *p, size_t len);
void sieve_strlist_free(struct sieve_strlist *l);

/* sieve_match.c */
/* Expand ${...} in p[0..len) into out (reset first) when variables are on. 0 or -1. */
int sieve_expand(struct sieve_run *x, const char *p, size_t len, struct buf *out);
/* The strings of argument ai, expanded, appended to l. 0 or -1. */
int sieve_arg_strings(struct sieve_run *x, uint32_t ai, struct sieve_strlist *l);
/* String argument ai expanded into out (reset first). 0 or -1. */
int sieve_arg_string(struct sieve_run *x, uint32_t ai, struct buf *out);
/* Variable lookup by name (any case); NULL if unset. */
struct buf *sieve_var_get(struct sieve_run *x, const char *name, size_t len, bool create);
int sieve_var_set(struct sieve_run *x, const char *name, size_t len, const char *v,
    size_t vlen);
/*
 * Compare the values with the keys by n's match type, comparator and relation: 1 when
 * one value matches one key (match variables set for :matches / :regex), 0, -1 error.
 */
int sieve_match_values(struct sieve_run *x, const struct sieve_node *n,
    const struct sieve_strlist *values, const struct sieve_strlist *keys);

/* sieve_msg.c */
void sieve_msg_init(struct sieve_run *x);
void sieve_msg_deinit(struct sieve_run *x);
/* Values of the fields called name (all, or the :index one of n), unfolded; RFC 2047
 * decoded when decode. 0 or -1. */
int sieve_msg_header_values(struct sieve_run *x, const struct sieve_node *n,
    const char *name, bool decode, struct sieve_strlist *out);
/* Address parts (n->addrpart) of the addresses in the fields called name. */
int sieve_msg_address_values(struct sieve_run *x, const struct sieve_node *n,
    const char *name, struct sieve_strlist *out);
/* The part of an envelope address (no angle brackets; "" is the null path). */
void sieve_msg_addr_part(const struct sieve_node *n, const char *addr, size_t len,
    struct sieve_strlist *out);
/* Body test values per n's transform (:raw, :content, :text). 0 or -1. */
int sieve_msg_body_values(struct sieve_run *x, const struct sieve_node *n,
    const struct sieve_strlist *types, struct sieve_strlist *out);
/* Date part of t shifted to zone (minutes east); false for an unknown part. */
bool sieve_msg_date_part(time_t t, int zone, const char *part, struct buf *out);
/* Date header: the time and zone of the field's value (after the last ';'). */
bool sieve_msg_parse_date(const char *v, size_t len, time_t *t_r, int *zone_r);
/* addheader / deleteheader on the fields tests see. 0 or -1. */
int sieve_msg_add(struct sieve_run *x, const char *name, const char *value, bool last);
unsigned sieve_msg_delete(struct sieve_run *x, const struct sieve_node *n, const char *name,
    const struct sieve_strlist *patterns, int *err_r);
/* The edited header block into r->header. */
void sieve_msg_write_header(struct sieve_run *x);

#endif
