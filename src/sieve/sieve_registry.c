/*
 * sieve_registry.c — the tables of every Sieve capability, tagged argument, command and
 * test buzon knows (RFC 5228 and the extensions listed in docs/sieve.md), with their
 * argument signatures. Constant data; the validator (sieve_check.c) reads it.
 */
#include "sieve/sieve_registry.h"

#define T(x) (1ull << SIEVE_TAG_##x)
#define CMP T(COMPARATOR)
#define MATCH (T(IS) | T(CONTAINS) | T(MATCHES))
#define MATCH_EXT (T(REGEX) | T(VALUE) | T(COUNT))
#define ADDR (T(ALL) | T(LOCALPART) | T(DOMAIN))
#define ADDR_EXT (T(USER) | T(DETAIL))
#define INDEX_EXT (T(INDEX) | T(LAST))

static const char *const cap_names[SIEVE_CAP_COUNT] = {
	[SIEVE_CAP_FILEINTO] = "fileinto",
	[SIEVE_CAP_ENVELOPE] = "envelope",
	[SIEVE_CAP_ENCODED_CHARACTER] = "encoded-character",
	[SIEVE_CAP_COPY] = "copy",
	[SIEVE_CAP_BODY] = "body",
	[SIEVE_CAP_ENVIRONMENT] = "environment",
	[SIEVE_CAP_VARIABLES] = "variables",
	[SIEVE_CAP_RELATIONAL] = "relational",
	[SIEVE_CAP_CMP_OCTET] = "comparator-i;octet",
	[SIEVE_CAP_CMP_CASEMAP] = "comparator-i;ascii-casemap",
	[SIEVE_CAP_CMP_NUMERIC] = "comparator-i;ascii-numeric",
	[SIEVE_CAP_IMAP4FLAGS] = "imap4flags",
	[SIEVE_CAP_SUBADDRESS] = "subaddress",
	[SIEVE_CAP_VACATION] = "vacation",
	[SIEVE_CAP_VACATION_SECONDS] = "vacation-seconds",
	[SIEVE_CAP_DATE] = "date",
	[SIEVE_CAP_INDEX] = "index",
	[SIEVE_CAP_EDITHEADER] = "editheader",
	[SIEVE_CAP_REJECT] = "reject",
	[SIEVE_CAP_EREJECT] = "ereject",
	[SIEVE_CAP_MAILBOX] = "mailbox",
	[SIEVE_CAP_INCLUDE] = "include",
	[SIEVE_CAP_DUPLICATE] = "duplicate",
	[SIEVE_CAP_REGEX] = "regex",
};

#define C(x) SIEVE_CAP_##x
const struct sieve_tag_def sieve_tags[SIEVE_TAG_COUNT_] = {
	[SIEVE_TAG_COMPARATOR] = { "comparator", C(CORE), SIEVE_TV_STRING, SIEVE_G_CMP },
	[SIEVE_TAG_IS] = { "is", C(CORE), SIEVE_TV_NONE, SIEVE_G_MATCH },
	[SIEVE_TAG_CONTAINS] = { "contains", C(CORE), SIEVE_TV_NONE, SIEVE_G_MATCH },
	[SIEVE_TAG_MATCHES] = { "matches", C(CORE), SIEVE_TV_NONE, SIEVE_G_MATCH },
	[SIEVE_TAG_REGEX] = { "regex", C(REGEX), SIEVE_TV_NONE, SIEVE_G_MATCH },
	[SIEVE_TAG_VALUE] = { "value", C(RELATIONAL), SIEVE_TV_STRING, SIEVE_G_MATCH },
	[SIEVE_TAG_COUNT] = { "count", C(RELATIONAL), SIEVE_TV_STRING, SIEVE_G_MATCH },
	[SIEVE_TAG_ALL] = { "all", C(CORE), SIEVE_TV_NONE, SIEVE_G_ADDR },
	[SIEVE_TAG_LOCALPART] = { "localpart", C(CORE), SIEVE_TV_NONE, SIEVE_G_ADDR },
	[SIEVE_TAG_DOMAIN] = { "domain", C(CORE), SIEVE_TV_NONE, SIEVE_G_ADDR },
	[SIEVE_TAG_USER] = { "user", C(SUBADDRESS), SIEVE_TV_NONE, SIEVE_G_ADDR },
	[SIEVE_TAG_DETAIL] = { "detail", C(SUBADDRESS), SIEVE_TV_NONE, SIEVE_G_ADDR },
	[SIEVE_TAG_OVER] = { "over", C(CORE), SIEVE_TV_NONE, SIEVE_G_SIZE },
	[SIEVE_TAG_UNDER] = { "under", C(CORE), SIEVE_TV_NONE, SIEVE_G_SIZE },
	[SIEVE_TAG_COPY] = { "copy", C(COPY), SIEVE_TV_NONE, SIEVE_G_NONE },
	[SIEVE_TAG_FLAGS] = { "flags", C(IMAP4FLAGS), SIEVE_TV_LIST, SIEVE_G_NONE },
	[SIEVE_TAG_CREATE] = { "create", C(MAILBOX), SIEVE_TV_NONE, SIEVE_G_NONE },
	[SIEVE_TAG_DAYS] = { "days", C(CORE), SIEVE_TV_NUMBER, SIEVE_G_PERIOD },
	[SIEVE_TAG_SECONDS] = { "seconds", C(VACATION_SECONDS), SIEVE_TV_NUMBER,
	    SIEVE_G_PERIOD },
	[SIEVE_TAG_SUBJECT] = { "subject", C(CORE), SIEVE_TV_STRING, SIEVE_G_NONE },
	[SIEVE_TAG_FROM] = { "from", C(CORE), SIEVE_TV_STRING, SIEVE_G_NONE },
	[SIEVE_TAG_ADDRESSES] = { "addresses", C(CORE), SIEVE_TV_LIST, SIEVE_G_NONE },
	[SIEVE_TAG_MIME] = { "mime", C(CORE), SIEVE_TV_NONE, SIEVE_G_NONE },
	[SIEVE_TAG_HANDLE] = { "handle", C(CORE), SIEVE_TV_STRING, SIEVE_G_NONE },
	[SIEVE_TAG_RAW] = { "raw", C(CORE), SIEVE_TV_NONE, SIEVE_G_TRANSFORM },
	[SIEVE_TAG_CONTENT] = { "content", C(CORE), SIEVE_TV_LIST, SIEVE_G_TRANSFORM },
	[SIEVE_TAG_TEXT] = { "text", C(CORE), SIEVE_TV_NONE, SIEVE_G_TRANSFORM },
	[SIEVE_TAG_ZONE] = { "zone", C(CORE), SIEVE_TV_STRING, SIEVE_G_ZONE },
	[SIEVE_TAG_ORIGINALZONE] = { "originalzone", C(CORE), SIEVE_TV_NONE, SIEVE_G_ZONE },
	[SIEVE_TAG_INDEX] = { "index", C(INDEX), SIEVE_TV_NUMBER, SIEVE_G_NONE },
	[SIEVE_TAG_LAST] = { "last", C(INDEX), SIEVE_TV_NONE, SIEVE_G_NONE },
	[SIEVE_TAG_LOWER] = { "lower", C(CORE), SIEVE_TV_NONE, SIEVE_G_MOD40 },
	[SIEVE_TAG_UPPER] = { "upper", C(CORE), SIEVE_TV_NONE, SIEVE_G_MOD40 },
	[SIEVE_TAG_LOWERFIRST] = { "lowerfirst", C(CORE), SIEVE_TV_NONE, SIEVE_G_MOD30 },
	[SIEVE_TAG_UPPERFIRST] = { "upperfirst", C(CORE), SIEVE_TV_NONE, SIEVE_G_MOD30 },
	[SIEVE_TAG_QUOTEWILDCARD] = { "quotewildcard", C(CORE), SIEVE_TV_NONE, SIEVE_G_MOD20 },
	[SIEVE_TAG_QUOTEREGEX] = { "quoteregex", C(REGEX), SIEVE_TV_NONE, SIEVE_G_MOD20 },
	[SIEVE_TAG_LENGTH] = { "length", C(CORE), SIEVE_TV_NONE, SIEVE_G_MOD10 },
	[SIEVE_TAG_PERSONAL] = { "personal", C(CORE), SIEVE_TV_NONE, SIEVE_G_LOCATION },
	[SIEVE_TAG_GLOBAL] = { "global", C(CORE), SIEVE_TV_NONE, SIEVE_G_LOCATION },
	[SIEVE_TAG_ONCE] = { "once", C(CORE), SIEVE_TV_NONE, SIEVE_G_NONE },
	[SIEVE_TAG_OPTIONAL] = { "optional", C(CORE), SIEVE_TV_NONE, SIEVE_G_NONE },
	[SIEVE_TAG_HEADER] = { "header", C(CORE), SIEVE_TV_STRING, SIEVE_G_DUPID },
	[SIEVE_TAG_UNIQUEID] = { "uniqueid", C(CORE), SIEVE_TV_STRING, SIEVE_G_DUPID },
};

#define CMD SIEVE_NODE_COMMAND
#define TEST SIEVE_NODE_TEST
#define S SIEVE_PT_STRING
#define L SIEVE_PT_LIST
#define N SIEVE_PT_NUMBER
#define NOTESTS SIEVE_TESTS_NONE, false, false
#define P0 0, 0, false, { 0 }, { NULL }
/*
 * name, kind, capability, min/max positional, optional-first, types, names, native
 * tags (no extra require), extension tags (need their tag's capability), tests, block,
 * optional block.
 */
const struct sieve_sig sieve_sigs[SIEVE_ID_COUNT] = {
	[SIEVE_CMD_REQUIRE] = { "require", CMD, C(CORE), 1, 1, false, { L },
	    { "capabilities" }, 0, 0, NOTESTS },
	[SIEVE_CMD_IF] = { "if", CMD, C(CORE), P0, 0, 0, SIEVE_TESTS_ONE, true, false },
	[SIEVE_CMD_ELSIF] = { "elsif", CMD, C(CORE), P0, 0, 0, SIEVE_TESTS_ONE, true,
	    false },
	[SIEVE_CMD_ELSE] = { "else", CMD, C(CORE), P0, 0, 0, SIEVE_TESTS_NONE, true,
	    false },
	[SIEVE_CMD_STOP] = { "stop", CMD, C(CORE), P0, 0, 0, NOTESTS },
	[SIEVE_CMD_KEEP] = { "keep", CMD, C(CORE), P0, 0, T(FLAGS), NOTESTS },
	[SIEVE_CMD_DISCARD] = { "discard", CMD, C(CORE), P0, 0, 0, NOTESTS },
	[SIEVE_CMD_REDIRECT] = { "redirect", CMD, C(CORE), 1, 1, false, { S }, { "address" },
	    0, T(COPY), NOTESTS },
	[SIEVE_CMD_FILEINTO] = { "fileinto", CMD, C(FILEINTO), 1, 1, false, { S },
	    { "folder" }, 0, T(COPY) | T(FLAGS) | T(CREATE), NOTESTS },
	[SIEVE_CMD_SET] = { "set", CMD, C(VARIABLES), 2, 2, false, { S, S },
	    { "name", "value" }, T(LOWER) | T(UPPER) | T(LOWERFIRST) | T(UPPERFIRST) |
	    T(QUOTEWILDCARD) | T(LENGTH), T(QUOTEREGEX), NOTESTS },
	[SIEVE_CMD_SETFLAG] = { "setflag", CMD, C(IMAP4FLAGS), 1, 2, true, { S, L },
	    { "variable name", "list of flags" }, 0, 0, NOTESTS },
	[SIEVE_CMD_ADDFLAG] = { "addflag", CMD, C(IMAP4FLAGS), 1, 2, true, { S, L },
	    { "variable name", "list of flags" }, 0, 0, NOTESTS },
	[SIEVE_CMD_REMOVEFLAG] = { "removeflag", CMD, C(IMAP4FLAGS), 1, 2, true, { S, L },
	    { "variable name", "list of flags" }, 0, 0, NOTESTS },
	[SIEVE_CMD_VACATION] = { "vacation", CMD, C(VACATION), 1, 1, false, { S },
	    { "reason" }, T(DAYS) | T(SUBJECT) | T(FROM) | T(ADDRESSES) | T(MIME) | T(HANDLE),
	    T(SECONDS), NOTESTS },
	[SIEVE_CMD_ADDHEADER] = { "addheader", CMD, C(EDITHEADER), 2, 2, false, { S, S },
	    { "field name", "value" }, T(LAST), 0, NOTESTS },
	[SIEVE_CMD_DELETEHEADER] = { "deleteheader", CMD, C(EDITHEADER), 1, 2, false, { S, L },
	    { "field name", "value patterns" }, T(INDEX) | T(LAST) | CMP | MATCH, MATCH_EXT,
	    NOTESTS },
	[SIEVE_CMD_REJECT] = { "reject", CMD, C(REJECT), 1, 1, false, { S }, { "reason" }, 0, 0,
	    NOTESTS },
	[SIEVE_CMD_EREJECT] = { "ereject", CMD, C(EREJECT), 1, 1, false, { S }, { "reason" },
	    0, 0, NOTESTS },
	[SIEVE_CMD_INCLUDE] = { "include", CMD, C(INCLUDE), 1, 1, false, { S },
	    { "script name" }, T(PERSONAL) | T(GLOBAL) | T(ONCE) | T(OPTIONAL), 0, NOTESTS },
	[SIEVE_CMD_RETURN] = { "return", CMD, C(INCLUDE), P0, 0, 0, NOTESTS },
	[SIEVE_CMD_GLOBAL] = { "global", CMD, C(INCLUDE), 1, 1, false, { L },
	    { "variable names" }, 0, 0, NOTESTS },

	[SIEVE_TEST_ADDRESS] = { "address", TEST, C(CORE), 2, 2, false, { L, L },
	    { "header list", "key list" }, CMP | MATCH | ADDR, MATCH_EXT | ADDR_EXT | INDEX_EXT,
	    NOTESTS },
	[SIEVE_TEST_ALLOF] = { "allof", TEST, C(CORE), P0, 0, 0, SIEVE_TESTS_LIST,
	    false, false },
	[SIEVE_TEST_ANYOF] = { "anyof", TEST, C(CORE), P0, 0, 0, SIEVE_TESTS_LIST,
	    false, false },
	[SIEVE_TEST_EXISTS] = { "exists", TEST, C(CORE), 1, 1, false, { L },
	    { "header names" }, 0, 0, NOTESTS },
	[SIEVE_TEST_FALSE] = { "false", TEST, C(CORE), P0, 0, 0, NOTESTS },
	[SIEVE_TEST_TRUE] = { "true", TEST, C(CORE), P0, 0, 0, NOTESTS },
	[SIEVE_TEST_HEADER] = { "header", TEST, C(CORE), 2, 2, false, { L, L },
	    { "header names", "key list" }, CMP | MATCH, MATCH_EXT | INDEX_EXT, NOTESTS },
	[SIEVE_TEST_NOT] = { "not", TEST, C(CORE), P0, 0, 0, SIEVE_TESTS_ONE, false,
	    false },
	[SIEVE_TEST_SIZE] = { "size", TEST, C(CORE), 1, 1, false, { N }, { "limit" },
	    T(OVER) | T(UNDER), 0, NOTESTS },
	[SIEVE_TEST_ENVELOPE] = { "envelope", TEST, C(ENVELOPE), 2, 2, false, { L, L },
	    { "envelope part", "key list" }, CMP | MATCH | ADDR, MATCH_EXT | ADDR_EXT, NOTESTS },
	[SIEVE_TEST_BODY] = { "body", TEST, C(BODY), 1, 1, false, { L }, { "key list" },
	    CMP | MATCH | T(RAW) | T(CONTENT) | T(TEXT), MATCH_EXT, NOTESTS },
	[SIEVE_TEST_ENVIRONMENT] = { "environment", TEST, C(ENVIRONMENT), 2, 2, false, { S, L },
	    { "name", "key list" }, CMP | MATCH, MATCH_EXT, NOTESTS },
	[SIEVE_TEST_STRING] = { "string", TEST, C(VARIABLES), 2, 2, false, { L, L },
	    { "source", "key list" }, CMP | MATCH, MATCH_EXT, NOTESTS },
	[SIEVE_TEST_HASFLAG] = { "hasflag", TEST, C(IMAP4FLAGS), 1, 2, true, { L, L },
	    { "variable list", "list of flags" }, CMP | MATCH, MATCH_EXT, NOTESTS },
	[SIEVE_TEST_DATE] = { "date", TEST, C(DATE), 3, 3, false, { S, S, L },
	    { "header name", "date part", "key list" },
	    T(ZONE) | T(ORIGINALZONE) | CMP | MATCH, MATCH_EXT | INDEX_EXT, NOTESTS },
	[SIEVE_TEST_CURRENTDATE] = { "currentdate", TEST, C(DATE), 2, 2, false, { S, L },
	    { "date part", "key list" }, T(ZONE) | CMP | MATCH, MATCH_EXT, NOTESTS },
	[SIEVE_TEST_MAILBOXEXISTS] = { "mailboxexists", TEST, C(MAILBOX), 1, 1, false, { L },
	    { "mailbox names" }, 0, 0, NOTESTS },
	[SIEVE_TEST_DUPLICATE] = { "duplicate", TEST, C(DUPLICATE), P0,
	    T(HANDLE) | T(HEADER) | T(UNIQUEID) | T(SECONDS) | T(LAST), 0, NOTESTS },
};

const char *
sieve_cap_name(enum sieve_cap cap)
{
	return (unsigned)cap < SIEVE_CAP_COUNT ? cap_names[cap] : "?";
}

const char *
sieve_id_name(enum sieve_id id)
{
	return id > SIEVE_ID_UNKNOWN && id < SIEVE_ID_COUNT ? sieve_sigs[id].name : "?";
}

const char *
sieve_tag_name(enum sieve_tag tag)
{
	return (unsigned)tag < SIEVE_TAG_COUNT_ ? sieve_tags[tag].name : "?";
}

int
sieve_cap_lookup(const char *p, size_t len)
{
	for (unsigned i = 0; i < SIEVE_CAP_COUNT; i++)
		if (strlen(cap_names[i]) == len && memcmp(cap_names[i], p, len) == 0)
			return (int)i;
	return -1;
}

enum sieve_id
sieve_id_lookup(const char *name, size_t len)
{
	for (unsigned i = SIEVE_ID_UNKNOWN + 1; i < SIEVE_ID_COUNT; i++)
		if (mem_ieq(name, len, sieve_sigs[i].name))
			return (enum sieve_id)i;
	return SIEVE_ID_UNKNOWN;
}

int
sieve_tag_lookup(const char *name, size_t len)
{
	for (unsigned i = 0; i < SIEVE_TAG_COUNT_; i++)
		if (mem_ieq(name, len, sieve_tags[i].name))
			return (int)i;
	return -1;
}
