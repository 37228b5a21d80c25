/*
 * sieve_store.h — a user's Sieve scripts on disk, as ManageSieve (RFC 5804) and JMAP
 * (RFC 9661) both see them (docs/sieve.md, "Script store"): sieve_dir holds NAME.sieve,
 * sieve_script is a symlink to the active one, as Pigeonhole keeps them. Every change
 * is atomic (temporary file, fsync, rename, fsync of the directory).
 *
 * The JMAP vacation (src/jmap/jmap_vacation.c) makes the link point at the wrapper
 * buzon-jmap.sieve, which includes jmap-vacation and then the user's active script.
 * The store hides that: the wrapper is never listed, and while it is the link's target
 * the script it includes is the one reported active; activating another (or none)
 * rewrites the wrapper, so the vacation keeps running.
 *
 * Names are untrusted: RFC 5804 §1.6, at most SIEVE_STORE_NAME_MAX octets, no "/".
 * Runs in the user's mail process, as the user; single-threaded.
 */
#ifndef BUZON_SIEVE_STORE_H
#define BUZON_SIEVE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;

#define SIEVE_STORE_NAME_MAX	128	/* octets of a script name (ManageSieve's limit) */
#define SIEVE_STORE_HARD_MAX	(1024 * 1024)	/* octets of a script, whatever the config */
#define SIEVE_STORE_WRAP	"buzon-jmap"	/* the vacation wrapper: internal */
#define SIEVE_STORE_VACATION	"jmap-vacation"	/* VacationResponse's script */
#define SIEVE_STORE_ID_LEN	17	/* "S" + 16 hex digits */

enum sieve_store_result {
	SIEVE_STORE_OK = 0,
	SIEVE_STORE_ERROR,		/* errno and *what_r say (log them) */
	SIEVE_STORE_NONEXISTENT,	/* no script by that name */
	SIEVE_STORE_EXISTS,		/* the new name is taken */
	SIEVE_STORE_ACTIVE,		/* the active script cannot be deleted */
	SIEVE_STORE_TOOLARGE,		/* over max_size */
	SIEVE_STORE_TOOMANY,		/* a new script past max_scripts */
	SIEVE_STORE_NOLINK,		/* sieve_script is not configured */
	SIEVE_STORE_FOREIGN,		/* sieve_script is a file (or links out of sieve_dir) */
	SIEVE_STORE_RESERVED,		/* jmap-vacation: VacationResponse's to activate */
};

struct sieve_store {
	char *dir;		/* sieve_dir, expanded */
	char *active;		/* sieve_script, expanded; NULL: none configured */
	uint64_t max_size;	/* octets of one script */
	unsigned max_scripts;	/* 0: no limit */
	unsigned tmp_seq;
};

struct sieve_store_entry {
	char *name;
	char id[SIEVE_STORE_ID_LEN + 1];	/* stable across renames (docs/sieve.md) */
	uint64_t size;
	struct timespec mtime;
	bool active;
};

struct sieve_store_list {
	struct sieve_store_entry *v;
	size_t n;
};

/* "~/x" under home, or an absolute path (caller frees); NULL: neither. */
char *sieve_store_expand_home(const char *v, const char *home);

/*
 * The store of the user whose home is home (may be NULL): NULL when sieve_dir cannot
 * be expanded. With need_link, also NULL when Sieve is off or sieve_script is not set
 * (what JMAP needs). Free with sieve_store_close.
 */
struct sieve_store *sieve_store_open(const struct config *cfg, const char *home,
    bool need_link);
void sieve_store_close(struct sieve_store **st);

/*
 * The lines of the id map file (sieve_dir/.buzon-sieve-ids, docs/sieve.md): "S" and 16
 * hex digits, a space, a script name, LF. add(ctx, id, name) for each valid line; other
 * lines and a last line without LF are skipped. data (NUL-terminated) is written into.
 */
void sieve_store_ids_parse(char *data, void (*add)(void *ctx, const char *id,
    const char *name), void *ctx);

/* A name a client may give (RFC 5804 §1.6, length, no "/"); the wrapper's is not one. */
bool sieve_store_name_ok(const char *name, size_t len);

/*
 * The scripts, in name order (free with sieve_store_list_free): the wrapper left out,
 * ids assigned (the id map is written when it changed). 0 or -1 (errno, *what_r).
 */
int sieve_store_list(struct sieve_store *st, struct sieve_store_list *l, const char **what_r);
void sieve_store_list_free(struct sieve_store_list *l);
/* The entry of l named name or with id id; NULL when none. */
struct sieve_store_entry *sieve_store_find(struct sieve_store_list *l, const char *name);
struct sieve_store_entry *sieve_store_find_id(struct sieve_store_list *l, const char *id);

/*
 * The user's active script: 1 and *name_r (caller frees), 0 none, -1 sieve_script is a
 * plain file or points out of sieve_dir (not ours to manage).
 */
int sieve_store_active(struct sieve_store *st, char **name_r);
/* Is the wrapper the link's target (a JMAP vacation is set up)? */
bool sieve_store_wrapped(struct sieve_store *st);

/*
 * The content of script name (at most max octets; bigger: 0): 1 and *data_r (caller
 * frees, NUL-terminated) and *len_r, 0 no such script, -1 error (errno).
 */
int sieve_store_read(struct sieve_store *st, const char *name, size_t max, char **data_r,
    size_t *len_r);

/*
 * Compile data with the Sieve front end: true if it compiles. *msg_r (caller frees, NULL
 * when nothing to say) gets "line:column: message" lines joined by sep: the errors, or
 * the warnings of a script that compiles.
 */
bool sieve_store_check(const struct sieve_store *st, const char *data, size_t len,
    const char *sep, char **msg_r);

/* Would a script of size octets fit as name (RFC 5804 §2.3)? OK, TOOLARGE, TOOMANY. */
enum sieve_store_result sieve_store_quota(struct sieve_store *st, const char *name,
    uint64_t size);
/* Store data as name (checked by the caller). OK or ERROR. */
enum sieve_store_result sieve_store_put(struct sieve_store *st, const char *name,
    const char *data, size_t len, const char **what_r);
/* Rename (its id stays): OK, NONEXISTENT, EXISTS, RESERVED (jmap-vacation), ERROR. */
enum sieve_store_result sieve_store_rename(struct sieve_store *st, const char *from,
    const char *to, const char **what_r);
/* Delete: OK, NONEXISTENT, ACTIVE (also jmap-vacation while wrapped), ERROR. */
enum sieve_store_result sieve_store_delete(struct sieve_store *st, const char *name,
    const char **what_r);
/*
 * Make name (NULL: none) the active script: OK, NONEXISTENT, NOLINK, FOREIGN, RESERVED
 * (jmap-vacation runs through VacationResponse), ERROR. With the wrapper in place the
 * wrapper is rewritten and stays the link's target.
 */
enum sieve_store_result sieve_store_activate(struct sieve_store *st, const char *name,
    const char **what_r);
/*
 * Point the link at the wrapper (JMAP vacation on): it includes jmap-vacation and then
 * the script that was active. OK, NOLINK, FOREIGN, ERROR.
 */
enum sieve_store_result sieve_store_wrap(struct sieve_store *st, const char **what_r);

/* s as a Sieve quoted string (RFC 5228 §2.4.2: '"' and '\' escaped) onto b. */
struct buf;
void sieve_store_quote(struct buf *b, const char *s);

/* Write path whole (tmp file in its directory, fsync, rename, fsync dir). 0 or -1. */
int sieve_store_write_file(struct sieve_store *st, const char *path, const char *data,
    size_t len, const char **what_r);

#endif
