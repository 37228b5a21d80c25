/*
 * dovecot_conf.h — a reader of Dovecot 2.3 configuration syntax (dovecot.conf with its
 * !include and !include_try files, or the output of `doveconf -n`) into a tree, for
 * `buzon import-dovecot-config`. Runs in the CLI as the invoking user. The files are
 * the administrator's, but the reader is bounded anyway (file size, line length, section
 * depth, include depth and count, nodes, $variable growth) and fuzzed
 * (fuzz/cli/fuzz_dovecot_conf.c).
 *
 * Syntax understood: `key = value` (value quoted "..." or '...' with backslash escapes,
 * or bare up to a `#` comment that follows white space), `<path` values kept as they are
 * (the caller reads no file), `$name` in a bare value replaced by the value `name` had
 * earlier (inner sections first, then outer), sections `type [name] {` ... `}` nested,
 * `#` comments, a backslash at the end of a line joining the next one, `!include PATH`
 * and `!include_try PATH` (glob patterns, relative to the including file's directory).
 */
#ifndef BUZON_DOVECOT_CONF_H
#define BUZON_DOVECOT_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define DC_MAX_FILE_SIZE (1024 * 1024)	/* one file */
#define DC_MAX_LINE (64 * 1024)		/* one line, continuations joined */
#define DC_MAX_DEPTH 16			/* nested sections */
#define DC_MAX_INCLUDE_DEPTH 8
#define DC_MAX_FILES 256		/* files read in all */
#define DC_MAX_NODES 20000		/* settings and sections in all */

struct dc_node {
	char *key;		/* setting name, or section type ("service", "protocol") */
	char *value;		/* setting value; a section's name (or NULL) */
	bool section;
	bool hidden;		/* doveconf -n printed "# hidden, use -P to show it" */
	bool used;		/* the importer carried it over or explained why not */
	const char *file;	/* owned by the dc_conf */
	unsigned line;
	struct dc_node *parent, *first, *last, *next;
};

struct dc_conf {
	struct dc_node root;		/* a section with no key */
	char *files[DC_MAX_FILES];	/* names of the files read, for dc_node.file */
	unsigned nfiles;
	unsigned nodes;
	bool follow_includes;		/* false: !include lines become "!include" nodes */
	/* include chain (real paths) while reading, to refuse loops */
	char *chain[DC_MAX_INCLUDE_DEPTH + 1];
	unsigned chain_len;
	/* called for each new file read (its name, the count so far); may be NULL */
	void (*on_file)(void *ctx, const char *name, unsigned nfiles);
	void *on_file_ctx;
};

struct dc_conf *dc_conf_create(bool follow_includes);
void dc_conf_destroy(struct dc_conf **c);

/*
 * Parse len bytes of text named `name` (a path, or "-" for standard input) into the
 * tree. Returns 0, or -1 with *error_r = "NAME:LINE: what" (caller frees).
 */
int dc_conf_parse_buffer(struct dc_conf *c, const char *name, const char *data, size_t len,
    char **error_r);
/* Read and parse a file (at most DC_MAX_FILE_SIZE). 0 or -1 with *error_r. */
int dc_conf_parse_file(struct dc_conf *c, const char *path, char **error_r);

/* The last setting `key` directly in section s (later ones win), or NULL. */
struct dc_node *dc_get(struct dc_node *s, const char *key);

/*
 * import_dovecot.c: the buzon.conf text for a parsed configuration, with the settings
 * not carried over as comments at its end (caller frees *out_r; *dropped_r counts them).
 * Every line is a comment, empty, or "KEY = VALUE" with a key config.c knows and a
 * value without control characters or '#'. Marks the tree's nodes used.
 */
int import_dovecot_convert(struct dc_conf *dc, const char *source, char **out_r,
    unsigned *dropped_r);

#endif
