/*
 * store_format.h — pure parsers and writers of the Maildir control files and file
 * names used by the store: dovecot-uidlist (v1 and v3), dovecot-keywords, subscriptions
 * (v1 and v2), Maildir file names (":2,<flags>", ",S=", ",W=") and mailbox-name
 * validation. Bytes in, structures out; no I/O, no logging, no globals — these parse
 * files another program (or a user with a shell) may have written, so they are fuzzed.
 * Internal to src/store (and its tests and fuzz targets).
 */
#ifndef BUZON_STORE_FORMAT_H
#define BUZON_STORE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/store.h"

#define MAILDIR_BASE_MAX	255	/* a base file name; longer names are ignored */
#define UIDLIST_MAX_BYTES	(64u * 1024 * 1024)	/* larger files are treated as corrupt */

/* --- dovecot-uidlist */

struct uidlist_rec {
	uint32_t uid;
	uint64_t size;		/* S field or MAILBOX_SIZE_UNKNOWN */
	uint64_t vsize;		/* W field or MAILBOX_SIZE_UNKNOWN */
	char *base;		/* file name without ":2,..." (malloc'd) */
	uint64_t emailid;	/* from the G field, else maildir_emailid_base(base) */
};

struct uidlist {
	unsigned int version;	/* 1 or 3 (we always write 3) */
	uint32_t uidvalidity;
	uint32_t nextuid;
	char guid[33];		/* 32 hex digits or "" */
	struct uidlist_rec *recs;	/* ascending, unique UIDs */
	size_t count, cap;
};

enum uidlist_parse_result {
	UIDLIST_PARSE_OK,
	UIDLIST_PARSE_DAMAGED,		/* header fine, some lines dropped */
	UIDLIST_PARSE_BAD_HEADER,	/* unusable: records and values are empty */
};

void uidlist_init(struct uidlist *ul);
void uidlist_clear(struct uidlist *ul);	/* drop records and header values */
void uidlist_deinit(struct uidlist *ul);
/* Append a record (uid must be greater than the last one; panics otherwise). emailid 0:
 * the base name's (maildir_emailid_base). */
void uidlist_add(struct uidlist *ul, uint32_t uid, const char *base, size_t base_len,
    uint64_t size, uint64_t vsize, uint64_t emailid);
/*
 * Parse file content into ul (cleared first). Lines whose UID is not strictly ascending,
 * is 0, or whose name is not a valid base name are dropped (DAMAGED); a UID >= nextuid
 * raises nextuid. A last line without '\n' is dropped (truncated write). A missing or
 * malformed header (no V or N, V0, version not 1/3) gives BAD_HEADER. A record's G
 * field (Dovecot's message GUID) sets its emailid (maildir_emailid_guid); an unusable
 * G field is ignored, not an error.
 */
enum uidlist_parse_result uidlist_parse(const char *data, size_t len, struct uidlist *ul);
/* Serialise as version 3. Fails (-1) only if out's limit is reached. */
int uidlist_format(const struct uidlist *ul, struct buf *out);
/* The pieces of uidlist_format, for writers that do not build a struct uidlist: the
 * header line ("3 V<v> N<n>[ G<guid>]\n") and one record line ("<uid>[ G<id>][ S<size>]
 * [ W<vsize>] :<base>\n"; MAILBOX_SIZE_UNKNOWN sizes are left out; G<id>, 16 lowercase
 * hex digits, only when emailid is neither 0 nor the base name's). 0, or -1 at out's
 * limit. */
int uidlist_format_header(struct buf *out, uint32_t uidvalidity, uint32_t nextuid,
    const char *guid);
int uidlist_format_rec(struct buf *out, uint32_t uid, uint64_t size, uint64_t vsize,
    const char *base, size_t base_len, uint64_t emailid);

/* --- message ids (RFC 8474 EMAILID; docs/formats.md, "Message ids") */

#define MAILDIR_GUID_MAX	255	/* longer G fields are ignored */
/* The id of a message whose uidlist record has no G field: a 64-bit hash of its base
 * name (unique per delivery). Never 0. */
uint64_t maildir_emailid_base(const char *base, size_t len);
/* The id a G field gives: 16 lowercase hex digits (what buzon writes) are the id itself;
 * any other value of 1..MAILDIR_GUID_MAX printable ASCII bytes (a GUID Dovecot wrote)
 * is hashed. 0 if the field is unusable (empty, too long, other bytes, or all zero). */
uint64_t maildir_emailid_guid(const char *g, size_t len);

/* --- dovecot-keywords: "<index> <name>\n", index 0..25 */

/*
 * Parse into names[0..25] (each malloc'd or NULL; caller frees with keywords_free).
 * Invalid lines, indexes > 25, duplicate indexes or names are skipped.
 * Returns the number of skipped lines.
 */
size_t keywords_parse(const char *data, size_t len, char *names[STORE_KEYWORDS_MAX]);
void keywords_free(char *names[STORE_KEYWORDS_MAX]);
int keywords_format(char *const names[STORE_KEYWORDS_MAX], struct buf *out);
/* IMAP flag-keyword syntax (atom, no '\\' start), 1..50 bytes: STORE_OK, _BADNAME, _LIMIT */
enum store_status keyword_name_check(const char *name, size_t len);

/* --- subscriptions */

/*
 * Parse a Dovecot subscriptions file: version 2 ("V\t2\n\n", then names with TAB as the
 * hierarchy separator) or version 1 (one name per line). Names are returned with '.' as
 * separator; invalid names are skipped (counted in the return value). The result is
 * sorted and unique; caller frees with mstore_names_free().
 */
size_t subs_parse(const char *data, size_t len, char ***names_r, size_t *count_r);
int subs_format(char *const *names, size_t count, struct buf *out);

/* --- Maildir file names */

struct mdname {
	size_t base_len;	/* bytes before ":2," (or the whole name) */
	bool has_info;		/* ":2," present */
	uint8_t flags;		/* MAILBOX_FLAG_* from the info letters */
	uint32_t keywords;	/* a..z */
	uint64_t size, vsize;	/* ,S= / ,W= in the base or MAILBOX_SIZE_UNKNOWN */
};
/* Returns false for names that are not message files (".", hidden, '/', control chars,
 * too long). */
bool mdname_parse(const char *name, size_t len, struct mdname *r);
bool maildir_base_valid(const char *p, size_t len);
/* Append ":2," + sorted flag letters + keyword letters to out. */
int mdname_format_info(uint8_t flags, uint32_t keywords, struct buf *out);

/* --- mailbox names */

/* See mstore_name_check(); len-counted variant (no NUL inside allowed). */
enum store_status store_name_check_len(const char *name, size_t len);
/* True if p[0..len) is valid modified UTF-7 (RFC 3501 §5.1.3), canonical form only. */
bool mutf7_valid(const char *p, size_t len);

/* --- index records (docs/formats.md, "Index (LMDB)"; src/store/index_format.c) */

#define INDEX_FORMAT_VERSION	6
#define INDEX_EXPUNGE_REC	20	/* uid 4, modseq 8, emailid 8 (format 5; 12 before) */
#define INDEX_HDR_SIZE		168
#define INDEX_NAME_MAX		(MAILDIR_BASE_MAX + 64)	/* mdname_parse's limit */
#define INDEX_HDR_CURRENT	0x01	/* memory reflected the directories at snap_ns */
#define INDEX_HDR_VSIZE_KNOWN	0x02	/* vsize_total is the sum of every message's W= */
/* A folder's messages are stored in chunks of up to INDEX_CHUNK_MAX messages: a
 * 16-byte chunk header, INDEX_CHUNK_ENTRY bytes a message, then the names blob, every
 * name as "cur/<name>\0" or "new/<name>\0" (the in-memory file name, copied as is). */
#define INDEX_CHUNK_MAX		4096
#define INDEX_CHUNK_HDR		16
#define INDEX_CHUNK_ENTRY	64

struct index_hdr {
	uint32_t version, uidvalidity, nextuid, count, flags;
	uint64_t highestmodseq;		/* of the snapshot */
	uint64_t modseq_ceiling;	/* no MODSEQ above this was handed out */
	int64_t new_mtime_ns, cur_mtime_ns, uidlist_mtime_ns, snap_ns;
	uint64_t uidlist_ino, uidlist_size, new_ino, cur_ino;
	uint64_t expunge_forgotten;	/* highest MODSEQ of an expunge no longer listed */
	char guid[33];
	/* what SELECT and STATUS need without the messages (format 3), counted when the
	 * snapshot is written and checked against the messages when they are loaded */
	uint32_t unseen;		/* messages without \Seen */
	uint32_t first_unseen_seq;	/* 1-based position of the first of them; 0: none */
	uint32_t first_unseen_uid;	/* its UID; 0: none */
	uint64_t vsize_total;		/* with INDEX_HDR_VSIZE_KNOWN, else 0 */
};

struct index_rec {
	uint32_t uid;
	uint8_t flags;			/* MAILBOX_FLAG_* without RECENT */
	bool in_new;			/* file in new/ (else cur/) */
	uint32_t keywords;
	uint64_t modseq, size, vsize;
	int64_t internaldate, savedate;
	uint64_t emailid;		/* RFC 8474 EMAILID (format 4), not 0 */
	const char *name;		/* file name in its directory (not NUL-terminated) */
	size_t name_len;
};

/* A chunk being decoded (index_chunk_open, index_chunk_next). */
struct index_chunk {
	const unsigned char *p;
	uint32_t n, names_len;
	const unsigned char *names;	/* the names blob */
	uint32_t i;			/* next entry */
	size_t name_off;		/* its name's offset in the blob */
};

/* Encode into out (INDEX_HDR_SIZE bytes). */
void index_hdr_encode(const struct index_hdr *h, unsigned char out[INDEX_HDR_SIZE]);
/* Decode and validate (magic, version, nextuid >= 1, guid hex, modseqs ordered).
 * Returns 0, -1 for garbage, -2 for another format version. */
int index_hdr_decode(const void *p, size_t len, struct index_hdr *h);
/* Bytes of a chunk of n messages whose names blob is names_len bytes; the blob takes
 * name_len + 5 bytes a message. */
size_t index_chunk_size(uint32_t n, size_t names_len);
/* Write the chunk header, then every entry i < n with index_chunk_put (name_off: 0 for
 * the first, then what the previous call returned). out holds index_chunk_size bytes. */
void index_chunk_begin(unsigned char *out, uint32_t n, uint32_t names_len);
size_t index_chunk_put(unsigned char *out, uint32_t n, uint32_t i, size_t name_off,
    const struct index_rec *r);
/* Check a chunk's header and exact length: 0, or -1 for garbage. */
int index_chunk_open(const void *p, size_t len, struct index_chunk *c);
/* The next message of the chunk, validated: no unknown flag bits, a name that parses as
 * a Maildir message file name (as mdname_parse) whose flags and keywords are the
 * record's, MODSEQ not 0, vsize not below size. r->name points into the chunk; the
 * in-memory file name ("cur/<name>") starts 4 bytes before it, NUL-terminated.
 * Returns 1, 0 at the end (every name byte used), -1 if invalid. UID order is the
 * caller's to check. */
int index_chunk_next(struct index_chunk *c, struct index_rec *r);
/* The name check index_chunk_next uses: like mdname_parse, without the size fields. */
bool index_name_parse(const char *name, size_t len, uint8_t *flags_r, uint32_t *keywords_r);

/* --- maildirsize (Maildir++ quota, docs/formats.md "Quota"; src/store/quota.c) */

/* A file this size or larger is not read: it is recalculated (as Dovecot does). */
#define MAILDIRSIZE_MAX		5120
#define MAILDIRSIZE_LINES_MAX	512	/* delta lines; more: recalculate */

struct maildirsize {
	uint64_t storage_limit;	/* bytes, 0 = none ("<n>S") */
	uint64_t messages_limit;	/* 0 = none ("<n>C") */
	uint64_t bytes, count;	/* the sums of the delta lines, never negative */
	unsigned int lines;	/* delta lines read */
};
/*
 * Parse a maildirsize file: a limits line ("<n>S", "<n>C" or "<n>S,<n>C"), then
 * "<bytes> <count>" delta lines (signed decimals; spaces and tabs around them). An
 * unterminated last line is ignored (a writer in progress). Returns 0, or -1 for a file
 * that must be recalculated: len >= MAILDIRSIZE_MAX, NUL, an unknown limit, a bad or
 * overlong number, more than MAILDIRSIZE_LINES_MAX lines, or a negative sum. Pure.
 */
int maildirsize_parse(const char *data, size_t len, struct maildirsize *r);
/* Append the limits line Dovecot writes ("0S" when there are none) with its LF. */
int maildirsize_format_limits(uint64_t storage, uint64_t messages, struct buf *out);

#endif
