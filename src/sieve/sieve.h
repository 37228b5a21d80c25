/*
 * sieve.h — the Sieve (RFC 5228) front end: lexer, parser and validator that turn a
 * script into a compact, validated tree for the future interpreter, or into a bounded
 * list of errors with line:column. Pure: bytes in, a tree or errors out; no I/O, no
 * logging, no globals. Runs wherever a user's script is compiled (the CLI today, the
 * delivery path and ManageSieve later) on text the user wrote: every size is bounded
 * by struct sieve_limits and nothing recurses without a depth bound. Design in
 * docs/sieve.md.
 */
#ifndef BUZON_SIEVE_H
#define BUZON_SIEVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIEVE_NONE	UINT32_MAX	/* "no such index" in every index field */
#define SIEVE_POS_MAX	4	/* positional argument slots of one command or test */
#define SIEVE_ERROR_TEXT_MAX 200	/* one error message, without position */

/* Bounds; sieve_limits_default() fills the defaults given in brackets. */
struct sieve_limits {
	size_t script_max;	/* bytes of script text [1 MiB] */
	size_t string_max;	/* bytes of one decoded string [64 KiB] */
	unsigned depth_max;	/* nested blocks + tests + test lists [32] */
	unsigned nodes_max;	/* commands and tests in the script [10000] */
	unsigned args_max;	/* arguments of one command or test [32] */
	unsigned list_max;	/* strings in one string list [1024] */
	unsigned errors_max;	/* errors reported before giving up [16] */
};

void sieve_limits_default(struct sieve_limits *lim);

/* Capabilities that `require` accepts (RFC 5228 §3.2); bit (1u << cap) in requires. */
enum sieve_cap {
	SIEVE_CAP_FILEINTO,
	SIEVE_CAP_ENVELOPE,
	SIEVE_CAP_ENCODED_CHARACTER,
	SIEVE_CAP_COPY,
	SIEVE_CAP_BODY,
	SIEVE_CAP_ENVIRONMENT,
	SIEVE_CAP_VARIABLES,
	SIEVE_CAP_RELATIONAL,
	SIEVE_CAP_CMP_OCTET,
	SIEVE_CAP_CMP_CASEMAP,
	SIEVE_CAP_CMP_NUMERIC,
	SIEVE_CAP_IMAP4FLAGS,
	SIEVE_CAP_SUBADDRESS,
	SIEVE_CAP_VACATION,
	SIEVE_CAP_VACATION_SECONDS,
	SIEVE_CAP_DATE,
	SIEVE_CAP_INDEX,
	SIEVE_CAP_EDITHEADER,
	SIEVE_CAP_REJECT,
	SIEVE_CAP_EREJECT,
	SIEVE_CAP_MAILBOX,
	SIEVE_CAP_INCLUDE,
	SIEVE_CAP_DUPLICATE,
	SIEVE_CAP_REGEX,
	SIEVE_CAP_COUNT,
	SIEVE_CAP_CORE = 31,	/* pseudo: always available */
};

/* Every command and test the registry knows. */
enum sieve_id {
	SIEVE_ID_UNKNOWN,
	/* commands */
	SIEVE_CMD_REQUIRE, SIEVE_CMD_IF, SIEVE_CMD_ELSIF, SIEVE_CMD_ELSE, SIEVE_CMD_STOP,
	SIEVE_CMD_KEEP, SIEVE_CMD_DISCARD, SIEVE_CMD_REDIRECT, SIEVE_CMD_FILEINTO,
	SIEVE_CMD_SET, SIEVE_CMD_SETFLAG, SIEVE_CMD_ADDFLAG, SIEVE_CMD_REMOVEFLAG,
	SIEVE_CMD_VACATION, SIEVE_CMD_ADDHEADER, SIEVE_CMD_DELETEHEADER, SIEVE_CMD_REJECT,
	SIEVE_CMD_EREJECT, SIEVE_CMD_INCLUDE, SIEVE_CMD_RETURN, SIEVE_CMD_GLOBAL,
	/* tests */
	SIEVE_TEST_ADDRESS, SIEVE_TEST_ALLOF, SIEVE_TEST_ANYOF, SIEVE_TEST_EXISTS,
	SIEVE_TEST_FALSE, SIEVE_TEST_TRUE, SIEVE_TEST_HEADER, SIEVE_TEST_NOT, SIEVE_TEST_SIZE,
	SIEVE_TEST_ENVELOPE, SIEVE_TEST_BODY, SIEVE_TEST_ENVIRONMENT, SIEVE_TEST_STRING,
	SIEVE_TEST_HASFLAG, SIEVE_TEST_DATE, SIEVE_TEST_CURRENTDATE, SIEVE_TEST_MAILBOXEXISTS,
	SIEVE_TEST_DUPLICATE,
	SIEVE_ID_COUNT
};

/* Tagged arguments; bit (1ull << tag) in sieve_node.tags. */
enum sieve_tag {
	SIEVE_TAG_COMPARATOR, SIEVE_TAG_IS, SIEVE_TAG_CONTAINS, SIEVE_TAG_MATCHES,
	SIEVE_TAG_REGEX, SIEVE_TAG_VALUE, SIEVE_TAG_COUNT, SIEVE_TAG_ALL, SIEVE_TAG_LOCALPART,
	SIEVE_TAG_DOMAIN, SIEVE_TAG_USER, SIEVE_TAG_DETAIL, SIEVE_TAG_OVER, SIEVE_TAG_UNDER,
	SIEVE_TAG_COPY, SIEVE_TAG_FLAGS, SIEVE_TAG_CREATE, SIEVE_TAG_DAYS, SIEVE_TAG_SECONDS,
	SIEVE_TAG_SUBJECT, SIEVE_TAG_FROM, SIEVE_TAG_ADDRESSES, SIEVE_TAG_MIME,
	SIEVE_TAG_HANDLE, SIEVE_TAG_RAW, SIEVE_TAG_CONTENT, SIEVE_TAG_TEXT, SIEVE_TAG_ZONE,
	SIEVE_TAG_ORIGINALZONE, SIEVE_TAG_INDEX, SIEVE_TAG_LAST, SIEVE_TAG_LOWER,
	SIEVE_TAG_UPPER, SIEVE_TAG_LOWERFIRST, SIEVE_TAG_UPPERFIRST, SIEVE_TAG_QUOTEWILDCARD,
	SIEVE_TAG_QUOTEREGEX, SIEVE_TAG_LENGTH, SIEVE_TAG_PERSONAL, SIEVE_TAG_GLOBAL,
	SIEVE_TAG_ONCE, SIEVE_TAG_OPTIONAL, SIEVE_TAG_HEADER, SIEVE_TAG_UNIQUEID,
	SIEVE_TAG_COUNT_
};

/* Normalised match parameters (defaults per RFC 5228 §2.7.1, §2.7.3, §2.7.4). */
enum sieve_match { SIEVE_MATCH_IS, SIEVE_MATCH_CONTAINS, SIEVE_MATCH_MATCHES,
	SIEVE_MATCH_REGEX, SIEVE_MATCH_VALUE, SIEVE_MATCH_COUNT };
enum sieve_relop { SIEVE_REL_NONE, SIEVE_REL_GT, SIEVE_REL_GE, SIEVE_REL_LT, SIEVE_REL_LE,
	SIEVE_REL_EQ, SIEVE_REL_NE };
enum sieve_comparator { SIEVE_CMP_CASEMAP, SIEVE_CMP_OCTET, SIEVE_CMP_NUMERIC };
enum sieve_addrpart { SIEVE_ADDR_ALL, SIEVE_ADDR_LOCALPART, SIEVE_ADDR_DOMAIN,
	SIEVE_ADDR_USER, SIEVE_ADDR_DETAIL };

enum sieve_arg_type { SIEVE_ARG_NUMBER, SIEVE_ARG_STRING, SIEVE_ARG_LIST, SIEVE_ARG_TAG };

/* One decoded string: bytes [off, off + len) of sieve_script.pool, NUL after it. */
struct sieve_str {
	uint32_t off;
	uint32_t len;
};

/*
 * One argument as written. STRING is one string (str_count 1), LIST a bracketed list
 * (str_count >= 1), TAG a ":name" whose value, when the tag takes one, is the argument
 * at index `value` (that argument is then not positional).
 */
struct sieve_arg {
	uint8_t type;		/* enum sieve_arg_type */
	uint8_t tag;		/* enum sieve_tag, TAG only (after validation) */
	uint32_t line, col;
	uint64_t number;	/* NUMBER: value with quantifier applied */
	uint32_t str_first;	/* STRING/LIST: first index in sieve_script.strs; TAG: name */
	uint32_t str_count;
	uint32_t value;		/* TAG: index of its value argument or SIEVE_NONE */
};

enum sieve_node_kind { SIEVE_NODE_COMMAND, SIEVE_NODE_TEST };

/*
 * One command or test. Children are linked through `next`: the tests of a command or
 * test start at test_first, the commands of its block at block_first, the top-level
 * commands at sieve_script.first. After validation pos[] holds the argument index of
 * each positional slot of the registry signature (SIEVE_NONE for an omitted optional
 * one), `tags` has a bit per tag given and the match parameters are normalised.
 */
struct sieve_node {
	uint8_t kind;		/* enum sieve_node_kind */
	uint8_t match;		/* enum sieve_match */
	uint8_t relop;		/* enum sieve_relop (:value / :count) */
	uint8_t comparator;	/* enum sieve_comparator */
	uint8_t addrpart;	/* enum sieve_addrpart */
	bool has_block;
	bool test_list;		/* the tests were written as "( test, ... )" */
	uint16_t id;		/* enum sieve_id */
	uint32_t line, col;
	uint32_t name;		/* index in strs: the identifier as written */
	uint32_t arg_first, arg_count;
	uint32_t test_first, test_count;
	uint32_t block_first, block_count;
	uint32_t next;
	uint32_t pos[SIEVE_POS_MAX];
	uint64_t tags;
};

struct sieve_script {
	struct sieve_node *nodes;
	uint32_t node_count;
	struct sieve_arg *args;
	uint32_t arg_count;
	struct sieve_str *strs;
	uint32_t str_count;
	char *pool;		/* decoded string bytes */
	size_t pool_len;
	uint32_t first;		/* first top-level command or SIEVE_NONE */
	uint32_t requires;	/* bit (1u << enum sieve_cap) per capability required */
};

struct sieve_error {
	uint32_t line, col;
	bool warning;		/* the script still compiles (like sievec's warnings) */
	char text[SIEVE_ERROR_TEXT_MAX];
};

struct sieve_errors {
	struct sieve_error *list;	/* errors_max entries in source order, owned */
	unsigned count;		/* entries: errors and warnings */
	unsigned warnings;	/* of which warnings; the script failed iff count > warnings */
	bool truncated;		/* more errors than errors_max were found */
};

/*
 * Compile text[0..len) (any bytes; the script may use CRLF or LF). Returns the
 * validated script (caller frees with sieve_script_destroy) or NULL when there is any
 * error; in both cases *errors is filled (only warnings on success; free with
 * sieve_errors_deinit). Error texts read "unknown command 'fileinot'." and carry the
 * 1-based line and byte column where the offending token starts.
 */
struct sieve_script *sieve_compile(const char *text, size_t len,
    const struct sieve_limits *lim, struct sieve_errors *errors);
void sieve_script_destroy(struct sieve_script **script);
void sieve_errors_deinit(struct sieve_errors *errors);

/* The capability word of cap ("fileinto"), the name of an id or of a tag (without ':'). */
const char *sieve_cap_name(enum sieve_cap cap);
const char *sieve_id_name(enum sieve_id id);
const char *sieve_tag_name(enum sieve_tag tag);

/* Index of the value argument of tag on node, SIEVE_NONE if the tag is absent or has none. */
uint32_t sieve_node_tag_value(const struct sieve_script *s, const struct sieve_node *n,
    enum sieve_tag tag);
/* String i of argument a (a STRING or LIST); borrowed from the script. */
const char *sieve_arg_str(const struct sieve_script *s, const struct sieve_arg *a,
    uint32_t i, size_t *len_r);

#endif
