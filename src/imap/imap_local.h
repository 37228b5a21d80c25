/*
 * imap_local.h — internal types shared by the files of src/imap (the IMAP session layer
 * of the per-user mail process): the IMAP state of the user, the session (client), the per-session view
 * of the selected mailbox, the command table and the parsed-message cache. Not used
 * outside src/imap. Security role: everything here handles authenticated but untrusted
 * client input; sizes are bounded by the constants below.
 *
 * I/O model: the session's bufferevent comes from the connection layer (lib/conn.h,
 * CONN_IMAP), which sets its bounds; the session uses the evbuffers directly, because it
 * needs the output length for FETCH backpressure, and a command may own the raw input
 * buffer for a while (an input hook: APPEND streams its literals into the store's save fd
 * without copying them into the parser, IDLE reads its DONE line).
 * Backpressure: input is read up to the bound and not parsed while a command runs; FETCH
 * and new commands stop while the output bound is reached and resume from the write
 * callback once it has drained.
 */
#ifndef BUZON_IMAP_LOCAL_H
#define BUZON_IMAP_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth/userdb.h"
#include "imap/imap_client.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/conn.h"
#include "mail/message.h"
#include "mailproc/mail_user.h"
#include "proto/imap_parser.h"
#include "proto/seqset.h"
#include "store/store.h"

#define IMAP_MAX_BAD_COMMANDS	10		/* consecutive, then * BYE */
#define IMAP_BODY_CHUNK		(64 * 1024)	/* FETCH body output step */
#define IMAP_SECTION_GEN_MAX	(8 * 1024 * 1024)	/* HEADER.FIELDS output per message */
#define IMAP_RESP_MAX		(16 * 1024 * 1024)	/* one FETCH item built in memory */
#define IMAP_BINARY_MAX		(256 * 1024 * 1024)	/* one decoded BINARY[] part */
#define IMAP_DEFAULT_AUTOLOGOUT	(31 * 60)
#define IMAP_LINGER_SECS	2		/* drain input after the last response */

enum imap_state {
	IMAP_STATE_AUTH = 0x01,		/* authenticated, nothing selected */
	IMAP_STATE_SELECTED = 0x02,
};

struct imap_client;
struct imap_cmd;
struct imap_zlib;

/* Handler results. */
#define IMAP_CMD_DONE	0	/* the tagged reply has been sent */
#define IMAP_CMD_MORE	1	/* running on: cmd->cont resumes it (write callback), or
				   its cmd->input hook ends it */

typedef int imap_cmd_func(struct imap_cmd *cmd);

/*
 * A streamed literal (IMAP_PARSE_LITERAL_STREAM) of a command still being parsed: cmd
 * has its tag ("" when it must not be echoed) but no def or args yet (they are the
 * parser's: imap_parser_args(cmd->client->parser)); size is the announced length.
 * Returns IMAP_CMD_MORE when parsing goes on: the hook has sent "+ OK" for a
 * synchronising literal and set cmd->input to read the size octets (or, for 0 octets,
 * called imap_parser_stream_done() itself). Returns IMAP_CMD_DONE when it refused the
 * literal and sent the tagged reply instead of "+": the command is thrown away.
 */
typedef int imap_literal_func(struct imap_cmd *cmd, uint64_t size);

/* Input hook results. */
enum imap_input_result {
	IMAP_INPUT_MORE,	/* took what it could: call again when more input arrives */
	IMAP_INPUT_PARSE,	/* finished reading: the parser takes the input again */
	IMAP_INPUT_DONE		/* the command has finished (its tagged reply is sent) */
};

/*
 * While cmd->input is set, the session hands the client's input buffer to it instead of
 * the command parser; the hook drains what it consumed. It runs even while the output
 * bound is reached (it must not produce more than a line or two then). A hook that
 * closes the session (imap_client_bye) returns IMAP_INPUT_MORE.
 */
typedef enum imap_input_result imap_input_func(struct imap_cmd *cmd, struct evbuffer *in);
/* See struct imap_cmd: called periodically while a command waits for the client. */
typedef void imap_keepalive_func(struct imap_cmd *cmd);

/* Command flags. */
#define CMD_FLAG_UID		0x01	/* may follow "UID" */
#define CMD_FLAG_USES_SEQS	0x02	/* RFC 3501 §7.4.1: no EXPUNGE during or after it */
#define CMD_FLAG_NO_UPDATES	0x04	/* no untagged updates at all (LOGOUT) */
/* Does not look at the selected mailbox's messages: a lazy view (imap_view_materialize)
 * stays unbuilt. Every other command in the selected state gets the view built first. */
#define CMD_FLAG_NO_MSGS	0x08
/* Takes message sequence numbers unless it follows "UID": refused after ENABLE UIDONLY
 * (RFC 9586 §3) */
#define CMD_FLAG_SEQ_ARGS	0x10

struct imap_command {
	const char *name;
	imap_cmd_func *func;
	unsigned state_mask;	/* enum imap_state bits where it is allowed */
	unsigned flags;
	imap_literal_func *literal;	/* its streamed literals (the parser streams APPEND's) */
};

/* Look a command up by name (case-insensitive); NULL if unknown. */
const struct imap_command *imap_command_find(const char *name);

struct imap_cmd {
	struct imap_client *client;
	const struct imap_command *def;
	char tag[128];
	char name[64];
	bool uid;			/* "UID FETCH" etc. */
	const struct imap_arg *args;	/* owned by the parser until the command ends */
	unsigned argc;
	imap_cmd_func *cont;		/* set by a handler returning IMAP_CMD_MORE */
	void (*ctx_free)(void *ctx);	/* frees ctx when the command ends or is dropped */
	void *ctx;
	/*
	 * false while the command is still being parsed (it exists that early when it has
	 * a streamed literal), true once dispatched.
	 */
	bool running;
	uint64_t started_us;		/* CLOCK_MONOTONIC at dispatch, for imap_debug's "imap done" */
	imap_input_func *input;		/* owns the client's input while set */
	/*
	 * Set by a running command that waits for the client (IDLE): keepalive is called
	 * every keepalive_secs (autologout still applies), and untagged updates of the
	 * selected mailbox are sent as they happen when live_updates is set.
	 */
	imap_keepalive_func *keepalive;
	unsigned keepalive_secs;
	bool live_updates;
};

/* ---------------------------------------------------------------- user */

struct recent_claim {
	struct recent_claim *next;
	char *mailbox;
	uint32_t uidvalidity;
	uint32_t uid_max;		/* \Recent of UIDs <= this was handed out */
};

struct imap_msgcache;
struct imap_rcache;

/*
 * The IMAP state of a user (imap_user.c), in the user's MAIL_PROTO_IMAP slot of the
 * session registry; the store, the session list and the empty callback are the
 * registry's (mailproc/mail_user.h).
 */
struct imap_user {
	struct imap_client *zombies;	/* torn down, freed by the reap event */
	struct event *reap_ev;
	struct recent_claim *recent;
	struct imap_msgcache *cache;
	struct imap_rcache *rcache;	/* rendered ENVELOPE/BODYSTRUCTURE, header fields */
	struct imap_notify_folders *notify_folders;	/* cmd_notify.c; NULL until NOTIFY */
};

/* The IMAP state of mu, created on first use (freed by mail_user_destroy). */
struct imap_user *imap_user_get(struct mail_user *mu);
/*
 * Claim \Recent of the messages of mailbox with UIDs up to uid_max for one session.
 * Returns the previous claim boundary (messages with UIDs above it are the caller's).
 */
uint32_t imap_user_claim_recent(struct imap_user *iu, const char *mailbox,
    uint32_t uidvalidity, uint32_t uid_max);
/* Current claim boundary without claiming. */
uint32_t imap_user_recent_boundary(struct imap_user *iu, const char *mailbox,
    uint32_t uidvalidity);

/* ---------------------------------------------------------------- view */

/*
 * One message of a session's view: 5 bytes (packed), since every session of a large
 * folder holds one per message. Keywords as last reported live in the view's side
 * array (imap_view_keywords), allocated only once a message with keywords is seen.
 */
struct imap_view_msg {
	uint32_t uid;
	uint8_t flags : 5;	/* as last reported (MAILBOX_FLAGS_IMAP bits) */
	bool recent : 1;	/* \Recent belongs to this session */
	bool expunged : 1;	/* gone from the store, EXPUNGE not yet sent */
	bool dirty : 1;		/* flags may have changed in the store */
} __attribute__((packed));

struct imap_view {
	struct imap_client *client;
	struct mailbox *mbox;
	struct mailbox_listener *listener;
	bool readonly;
	struct imap_view_msg *msgs;	/* index + 1 == sequence number */
	uint32_t *keywords;		/* parallel to msgs (cap entries) or NULL: all 0 */
	size_t count, cap;
	uint32_t last_uid;		/* highest UID ever added to the view */
	bool pending_expunge;
	uint64_t pending_expunge_modseq;	/* MODSEQ of the first unsent expunge */
	bool modseq_told;		/* a MODSEQ went out since the last check */
	bool pending_new;
	bool pending_flags;
	bool pending_keywords;
	uint32_t reported_exists;
	uint32_t reported_recent;
	/* SELECT of a folder whose messages were not loaded: msgs is NULL and count is
	 * the EXISTS told, until imap_view_materialize or the store's load (l_loaded) */
	bool lazy;
	bool lost;			/* told messages cannot be found again: BYE */
	uint32_t lazy_nextuid, lazy_uidvalidity;	/* of the folder at the SELECT */
	uint32_t lazy_boundary;		/* \Recent claim boundary of the SELECT */
	struct seqset *searchres;	/* RFC 5182 saved SEARCH result (UIDs); NULL: empty */
	struct imap_contexts *contexts;	/* RFC 5267 updating results (imap_context.c) */
	/* changes whenever the set of messages changes (added, expunged, removed), to a
	 * value no view had before: what a SORT found stays valid while it is the same */
	uint64_t gen;
	/* the answer of the last SORT or THREAD of the whole folder, for memo_key, while
	 * gen is memo_gen (cmd_search.c) */
	char *memo_key, *memo;
	size_t memo_key_len, memo_len;
	uint64_t memo_gen;
};

/* What SELECT/EXAMINE report (RFC 3501 §6.3.1). */
struct imap_view_summary {
	uint32_t exists, recent;
	uint32_t first_unseen_seq;	/* UNSEEN response code; 0: none */
};

/*
 * SELECT/EXAMINE: open the folder, build the view, claim \Recent (read-write only).
 * Returns STORE_OK and *view_r, or the store status.
 */
enum store_status imap_view_open(struct imap_client *client, const char *name,
    bool readonly, struct imap_view **view_r);
void imap_view_close(struct imap_view **view);
/* Build a lazy view's array (loads the folder's messages). 0, or -1 if the messages
 * the client was told of are gone in a way no EXPUNGE can describe (the session must
 * end with BYE; imap_view_send_updates sends it). */
int imap_view_materialize(struct imap_view *view);
/* EXISTS, RECENT and the first unseen message of the view; O(1) for a lazy view. */
void imap_view_summary(struct imap_view *view, struct imap_view_summary *sum_r);
/*
 * Send the pending untagged updates to the client: EXPUNGE (only if allow_expunge),
 * EXISTS, RECENT, FETCH FLAGS, FLAGS/PERMANENTFLAGS for new keywords.
 */
void imap_view_send_updates(struct imap_view *view, bool allow_expunge);
/* SELECT: "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]". */
void imap_view_send_flag_lists(struct imap_view *view);
/* Keywords of vm as last reported to this session. */
uint32_t imap_view_keywords(const struct imap_view *view, const struct imap_view_msg *vm);
/* Record the flags and keywords of vm as reported now (clears dirty). */
void imap_view_set_reported(struct imap_view *view, struct imap_view_msg *vm, uint8_t flags,
    uint32_t keywords);
/* Count of \Recent messages in this session's view. */
uint32_t imap_view_recent_count(const struct imap_view *view);
/* Flags of a view message as the client sees them (store flags + this session's RECENT). */
uint8_t imap_view_client_flags(const struct imap_view *view, const struct imap_view_msg *vm,
    const struct mailbox_msg *m);
/*
 * Resolve a sequence set (uid == false) or UID set against the view into ascending view
 * indexes (caller frees *idx_r). Sequence numbers beyond the view: returns -1 (BAD).
 * UIDs not in the view are ignored.
 */
int imap_view_resolve(struct imap_view *view, struct seqset *set, bool uid,
    size_t **idx_r, size_t *count_r);
/*
 * A sequence-set argument a of a command, or "$", the saved SEARCH result (RFC 5182
 * SEARCHRES). Returns 0 with *set_r (caller destroys) and *uid_r: true for "$" (the
 * result holds UIDs, whatever the command), else uid; -1 when a is not a valid set.
 */
int imap_view_parse_set(const struct imap_view *view, const struct imap_arg *a, bool uid,
    struct seqset **set_r, bool *uid_r);
/* A copy of the saved SEARCH result (empty when there is none); caller destroys. */
struct seqset *imap_view_searchres(const struct imap_view *view);
/* Replace the saved SEARCH result with uids (taken; NULL: empty). */
void imap_view_set_searchres(struct imap_view *view, struct seqset *uids);
/*
 * The start of an untagged FETCH response about view message seq (1-based) whose UID is
 * uid, written into buf (IMAP_FETCH_START_MAX octets): "* seq FETCH (" followed by
 * "UID uid " when with_uid; after ENABLE UIDONLY "* uid UIDFETCH (" whatever with_uid
 * (RFC 9586 §3.3: the UID is the response's number). Returns buf.
 */
#define IMAP_FETCH_START_MAX	48
const char *imap_fetch_start(const struct imap_client *c, char *buf, size_t seq, uint32_t uid,
    bool with_uid);
/* Append "(\Seen ... kw)" for flags/keywords. Returns 0 or -1 (buffer limit). */
int imap_view_write_flags(struct imap_view *view, struct buf *out, uint8_t flags,
    uint32_t keywords);
/* Append the "(\Answered ... kw)" list of defined flags; permanent adds "\*". */
int imap_view_write_flag_list(struct imap_view *view, struct buf *out, bool permanent);

/* ---------------------------------------------------------------- client */

/* Extensions a client has turned on with ENABLE (RFC 5161); only those advertised in
 * IMAP_CAPABILITY can be enabled (cmd_enable). */
#define IMAP_ENABLE_CONDSTORE	0x01	/* RFC 7162 §3.1 (also by any CONDSTORE-enabling command) */
#define IMAP_ENABLE_QRESYNC	0x02	/* RFC 7162 §3.2, implies CONDSTORE */
#define IMAP_ENABLE_UTF8	0x04	/* RFC 6855 UTF8=ACCEPT */
#define IMAP_ENABLE_REV2	0x08	/* RFC 9051 IMAP4rev2 */
/* RFC 9586 UIDONLY: no message sequence numbers in commands (BAD [UIDREQUIRED]) or
 * responses (UIDFETCH instead of FETCH, VANISHED instead of EXPUNGE) */
#define IMAP_ENABLE_UIDONLY	0x10

struct imap_client {
	struct mail_user *user;
	struct imap_user *iu;		/* the user's IMAP state */
	struct mail_session session;	/* in the user's session registry */
	struct imap_client *next;	/* zombie list */
	unsigned id;
	int fd;
	struct bufferevent *bev;	/* with COMPRESS the zlib filter over the socket's */
	struct imap_zlib *zlib;		/* COMPRESS=DEFLATE state (cmd_compress.c); NULL: off */
	struct imap_parser *parser;
	char *ip;
	bool secured;
	unsigned enabled;		/* IMAP_ENABLE_* (RFC 5161 ENABLE) */
	struct imap_notify *notify;	/* RFC 5465 NOTIFY state; NULL: never sent */
	enum imap_state state;
	struct imap_view *view;
	unsigned bad_count;
	struct event *timer;
	struct event *update_ev;
	struct event *cont_ev;		/* resumes a command that yielded (SEARCH) */
	struct imap_cmd *cmd;		/* running command, one being parsed (cmd->running), or NULL */
	bool closing;			/* flush output, then destroy */
	bool input_eof;			/* the client closed its sending side */
	bool lingering;			/* output done and half-closed; draining input */
	bool destroyed;
	bool in_input;			/* re-entrancy guard for client_input */
	uint64_t last_input_ms;
	unsigned autologout_secs;
	struct buf line;		/* scratch for building one response line */
};

/* Free the sessions torn down since the last call. */
void imap_client_reap(struct imap_user *iu);
/* Write raw bytes / a formatted line (CRLF appended by imap_client_line). */
void imap_client_write(struct imap_client *c, const void *data, size_t len);
void imap_client_line(struct imap_client *c, const char *fmt, ...) PRINTF(2, 3);
/* Size of the pending output (with COMPRESS: uncompressed, in the filter; the
 * compressed output under it has its own bound, cmd_compress.c). */
size_t imap_client_output_len(struct imap_client *c);
/* Set the session's callbacks on c->bev (at creation and after COMPRESS). */
void imap_client_attach_bev(struct imap_client *c);
/* Everything written may have reached the socket: a closing session closes now. */
void imap_client_output_sent(struct imap_client *c);
/* COMPRESS (cmd_compress.c): compressed output not yet sent (plus 1 while deflate holds
 * unflushed input); the session's teardown detaches the filter state before freeing
 * c->bev. */
size_t imap_compress_unsent(const struct imap_client *c);
/* After the session has read its input: the input stream was corrupt (or ended) and
 * everything inflated before that has been taken: "* BYE" and close. */
void imap_compress_input_end(struct imap_client *c);
void imap_compress_detach(struct imap_client *c);
/* "* BYE text", flush, close. */
void imap_client_bye(struct imap_client *c, const char *text);
/* Resume the running command (cmd->cont) from the event loop soon. */
void imap_client_schedule_continue(struct imap_client *c);
/* Send updates of the selected mailbox soon, if the running command has live_updates. */
void imap_client_schedule_updates(struct imap_client *c);
/* The capability string (imap_commands.c; static buffer, valid until the next call). */
const char *imap_capability(const struct config *cfg);

/*
 * Tagged replies: untagged updates are sent first (EXPUNGE only if the command allows
 * them), then "<tag> OK|NO|BAD <text>". They always return IMAP_CMD_DONE.
 */
int imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...) PRINTF(2, 3);
int imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...) PRINTF(2, 3);
int imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...) PRINTF(2, 3);
/* A mod-sequence-value (RFC 7162 §7: 1..2^63-1) atom, or mod-sequence-valzer (0 too)
 * when zero_ok. */
bool imap_arg_modseq(const struct imap_arg *a, bool zero_ok, uint64_t *modseq_r);
/* Turn on IMAP_ENABLE_* bits (ENABLE, or a CONDSTORE-enabling command, RFC 7162 §3.1):
 * the first time CONDSTORE is on with a mailbox selected, its HIGHESTMODSEQ is sent. */
void imap_client_enable(struct imap_client *c, unsigned bits);
/* RFC 7162 §3.2.6: "* VANISHED (EARLIER) ..." for the UIDs of the resolved set uids
 * expunged from the selected mailbox after MODSEQ since (nothing if none). */
void imap_send_vanished_earlier(struct imap_client *c, struct seqset *uids, uint64_t since);
/* NO with the response code for a store status. */
int imap_cmd_store_error(struct imap_cmd *cmd, enum store_status st);
/*
 * Mailbox name argument: astring, valid mUTF-7, or valid UTF-8 once UTF8=ACCEPT or
 * IMAP4rev2 is enabled (imap_mailbox_name_in); else BAD or NO sent, returns false.
 * *name_r is the store's (mUTF-7) name, caller frees.
 */
bool imap_cmd_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *a, char **name_r);
/* Are mailbox names UTF-8 on the wire (ENABLE UTF8=ACCEPT or IMAP4rev2)? */
bool imap_client_utf8_names(const struct imap_client *c);
/*
 * The store name (mUTF-7, "INBOX" folded) of a client's mailbox name s[0..len): mUTF-7
 * before ENABLE, UTF-8 after (converted with mutf7_from_utf8). Returns 0 and *name_r
 * (caller frees), -1 when the name is not valid UTF-8 (BAD), -2 when it is not a valid
 * name (empty, NUL, invalid mUTF-7: NO [CANNOT]), -3 when its mUTF-7 form is longer
 * than STORE_NAME_MAX (NO [LIMIT]).
 */
int imap_mailbox_name_in(const struct imap_client *c, const char *s, size_t len,
    char **name_r);
/* Append the store name name as the client sees it: an mUTF-7 astring, or after ENABLE
 * UTF8=ACCEPT / IMAP4rev2 its UTF-8 form (quoted, or a literal). Returns 0 or -1. */
int imap_append_mailbox(const struct imap_client *c, struct buf *out, const char *name);

/* SELECT/EXAMINE in IMAP4rev2 (RFC 9051 §6.3.2): the LIST response of the selected
 * mailbox (store name), as LIST "" name would send it (cmd_list.c). */
void imap_list_send_selected(struct imap_client *c, const char *name);

/* ---------------------------------------------------------------- message cache */

struct imap_cached_msg {
	const unsigned char *data;	/* the file, read or mapped (or "" when empty) */
	size_t len;
	struct mail_message *parsed;	/* NULL until imap_cached_msg_parse() */
};

struct imap_msgcache *imap_msgcache_create(size_t max_entries, size_t max_bytes);
void imap_msgcache_destroy(struct imap_msgcache **cache);
/*
 * The mapped (and, after imap_cached_msg_parse, parsed) message uid of mbox, opening
 * and mapping it when not cached. The entry is pinned until imap_msgcache_release.
 * Returns STORE_OK, STORE_EXPUNGED or STORE_IOERROR.
 */
enum store_status imap_msgcache_get(struct imap_msgcache *cache, struct mailbox *mbox,
    uint32_t uid, struct imap_cached_msg **msg_r);
/*
 * As imap_msgcache_get for one message of a scan over many (FETCH 1:*, SEARCH): a new
 * entry goes to the cold end of the LRU and a hit is not moved, so the scan evicts its
 * own entries first.
 */
enum store_status imap_msgcache_get_scan(struct imap_msgcache *cache, struct mailbox *mbox,
    uint32_t uid, bool scan, struct imap_cached_msg **msg_r);
void imap_msgcache_release(struct imap_msgcache *cache, struct imap_cached_msg **msg);
/* Parse once (the structure stays cached with the entry). */
const struct mail_message *imap_cached_msg_parse(struct imap_cached_msg *msg);

/*
 * Read the header block of message uid (through its blank line; the whole file when it
 * has none) into *bufp (grown as needed, capacity *capp; reused across calls) without
 * mapping the body. *len_r is its length. *complete_r is false when the header did not
 * end within IMAP_HDR_READ_MAX octets (the caller then uses the whole message).
 * Returns STORE_OK, STORE_EXPUNGED or STORE_IOERROR.
 */
#define IMAP_HDR_READ_MAX	(1024 * 1024)
enum store_status imap_msg_read_header(struct mailbox *mbox, uint32_t uid,
    unsigned char **bufp, size_t *capp, size_t *len_r, bool *complete_r);

/* ---------------------------------------------------------------- rendered-item cache */

enum imap_rc_field {
	IMAP_RC_ENVELOPE,	/* "(...)" as after "ENVELOPE " */
	IMAP_RC_BODY,		/* "(...)" as after "BODY " */
	IMAP_RC_BODYSTRUCTURE,	/* "(...)" as after "BODYSTRUCTURE " */
	IMAP_RC_PREVIEW,	/* the string after "PREVIEW " (RFC 8970), quoted or literal */
	IMAP_RC_HEADER,		/* the IMAP_RC_HEADER_FIELDS of the root header, raw */
	IMAP_RC_SORT,		/* SORT keys (cmd_search.c), binary */
	IMAP_RC_NFIELDS
};
/* The rendered fields (before IMAP_RC_HEADER) are also kept in the store's persistent
 * index (mailbox_items_walk/put) as item field + 1, with format tag IMAP_RC_RENDER_KIND:
 * change it when what mail_envelope_write, mail_bodystructure_write or mail_preview_write
 * produce changes. */
#define IMAP_RC_NRENDERED	IMAP_RC_HEADER
#define IMAP_RC_RENDER_KIND	1

#define IMAP_RCACHE_BYTES	(64 * 1024 * 1024)	/* per user */
/* The format tag of IMAP_RC_HEADER blocks kept in the store's persistent index
 * (mailbox_hdrcache_get/put): change it when the field list in imap_rcache.c changes. */
#define IMAP_RC_HEADER_KIND	1
/* The format tag of IMAP_RC_SORT blocks kept in the store's persistent index as item
 * IMAP_RC_SORT + 1 (cmd_search.c describes the block): change it with the block. */
#define IMAP_RC_SORT_KIND	2

/* Empty cache holding at most max_bytes (strings, offsets and hash together). */
struct imap_rcache *imap_rcache_create(size_t max_bytes);
void imap_rcache_destroy(struct imap_rcache **rc);
/* Forget everything (DELETE, RENAME: a name may come back with other messages). */
void imap_rcache_clear(struct imap_rcache *rc);
size_t imap_rcache_bytes(const struct imap_rcache *rc);
/*
 * The cached field of (mailbox, uidvalidity, uid): true with *data_r (not
 * NUL-terminated, valid until the next put or clear) and *len_r. A different
 * uidvalidity than the one cached for mailbox drops that folder's entries.
 */
bool imap_rcache_get(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field, const char **data_r, size_t *len_r);
bool imap_rcache_has(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field);
/* Store a copy of data (ignored when already cached, too large, or no room is left).
 * Returns false when it was not kept for lack of room or size (a caller filling many
 * items stops trying), true when stored or already there. */
bool imap_rcache_put(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field, const void *data, size_t len);
/* As put, but a field already cached is replaced (the old octets stay unused in the
 * folder's arena until it is dropped: for items that grow a few times, the SORT keys). */
bool imap_rcache_replace(struct imap_rcache *rc, const char *mailbox, uint32_t uidvalidity,
    uint32_t uid, enum imap_rc_field field, const void *data, size_t len);
/*
 * Build the IMAP_RC_HEADER block from a root header block hdr[0..len): the fields
 * header SEARCH keys and ENVELOPE read (imap_rc_header_field), each copied raw with
 * its line end, in their original order. Returns 0, or -1 when the block cannot stand
 * in for the header (more fields than the parser considers, a field without a line
 * end).
 */
int imap_rc_header_build(const unsigned char *hdr, size_t len, struct buf *out);
/*
 * Is p[0..len) one well-formed rendering of field (not IMAP_RC_HEADER): a parenthesised
 * list (ENVELOPE, BODY, BODYSTRUCTURE) or a string (PREVIEW) whose quoted strings,
 * literals and parentheses are complete, with no CR, LF, NUL or 8-bit octet outside a
 * literal? Items read from the index (a file the mailbox owner can write) are checked
 * with it before they go into a response, so a damaged entry cannot break the framing
 * of the response stream.
 */
bool imap_rc_item_valid(const unsigned char *p, size_t len, enum imap_rc_field field);
/* Is name (case-insensitive) one of the fields kept in IMAP_RC_HEADER? */
bool imap_rc_header_field(const char *name);

/* ---------------------------------------------------------------- NOTIFY (cmd_notify.c) */

/* RFC 5465 events a session may ask for. */
#define IMAP_NOTIFY_EV_NEW	0x01	/* MessageNew */
#define IMAP_NOTIFY_EV_EXPUNGE	0x02	/* MessageExpunge */
#define IMAP_NOTIFY_EV_FLAGS	0x04	/* FlagChange */
#define IMAP_NOTIFY_EV_NAME	0x08	/* MailboxName */
#define IMAP_NOTIFY_EV_SUBS	0x10	/* SubscriptionChange */
#define IMAP_NOTIFY_EV_MSGS	(IMAP_NOTIFY_EV_NEW | IMAP_NOTIFY_EV_EXPUNGE | \
				 IMAP_NOTIFY_EV_FLAGS)

/* Mailboxes one session watches (each holds the folder open: 4 fds and 2 inotify
 * watches, shared with other sessions that have it open); more: NOTIFICATIONOVERFLOW. */
#define IMAP_NOTIFY_MAX_WATCH	500
#define IMAP_NOTIFY_MAX_NAMES	1000		/* mailbox names in one NOTIFY SET */
#define IMAP_NOTIFY_MAX_GROUPS	64		/* event groups in one NOTIFY SET */
#define IMAP_NOTIFY_QUEUE_MAX	(16 * 1024)	/* LIST lines waiting for a client */

struct imap_notify;
struct imap_notify_folders;

enum imap_notify_folder_ev {
	IMAP_NOTIFY_CREATE,
	IMAP_NOTIFY_DELETE,
	IMAP_NOTIFY_RENAME,
	IMAP_NOTIFY_SUBSCRIBE,
	IMAP_NOTIFY_UNSUBSCRIBE,
};

void imap_notify_free(struct imap_notify **n);
/* The user's IMAP state goes (imap_user.c): stop watching the Maildir root. */
void imap_notify_user_free(struct imap_user *iu);
/* Events the client wants about its selected mailbox: IMAP_NOTIFY_EV_MSGS without
 * NOTIFY (the RFC 3501 behaviour), else what its NOTIFY SET says. */
unsigned imap_notify_selected_events(const struct imap_client *c);
/* imap_view_send_updates plus the MessageNew fetch attributes for the new messages. */
void imap_notify_view_updates(struct imap_client *c, bool allow_expunge);
/* Send what waits: the overflow, LIST lines, STATUS of changed watched mailboxes. */
void imap_notify_flush(struct imap_client *c);
/* Between commands (no command running, output not full): the selected mailbox's
 * updates if MessageNew/MessageExpunge were asked for, then imap_notify_flush. */
void imap_notify_live(struct imap_client *c);
/*
 * A folder was created, deleted, renamed (oldname set) or (un)subscribed by session
 * origin: queue the LIST notifications of the user's other sessions that asked for
 * them, and make every NOTIFY session resolve its watched mailboxes again.
 */
void imap_notify_folder_event(struct imap_client *origin, enum imap_notify_folder_ev ev,
    const char *name, const char *oldname);
/* Before RENAME of name: every session stops watching name and its children (an open
 * folder cannot be renamed). */
void imap_notify_release(struct imap_client *origin, const char *name);

/* ---------------------------------------------------------------- METADATA (cmd_metadata.c) */

/* RFC 5464 hooks after a successful folder operation: DELETE drops the folder's
 * entries, RENAME moves them (children too; INBOX keeps its own), CREATE drops stale
 * ones left by a folder removed outside IMAP. Failures are logged only. */
void imap_metadata_mailbox_deleted(struct imap_client *c, const char *name);
void imap_metadata_mailbox_created(struct imap_client *c, const char *name);
void imap_metadata_mailbox_renamed(struct imap_client *c, const char *oldname,
    const char *newname);
/* CREATE ... (USE (...)) (RFC 6154 §3): keep the special-use bits attrs of mailbox name
 * as its /private/specialuse entry. Returns 0, or -1 (logged). */
int imap_metadata_set_special_use(struct imap_client *c, const char *name, unsigned attrs);

/* ---------------------------------------------------------------- command handlers */

imap_cmd_func cmd_capability, cmd_noop, cmd_logout, cmd_id, cmd_enable, cmd_namespace;
imap_cmd_func cmd_compress;
imap_cmd_func cmd_starttls_after_login, cmd_select, cmd_examine, cmd_create, cmd_delete;
imap_cmd_func cmd_rename, cmd_subscribe, cmd_unsubscribe, cmd_list, cmd_lsub, cmd_status;
imap_cmd_func cmd_append, cmd_check, cmd_close, cmd_unselect, cmd_expunge, cmd_search;
imap_cmd_func cmd_fetch, cmd_store, cmd_copy, cmd_move, cmd_idle, cmd_sort, cmd_notify;
imap_cmd_func cmd_thread, cmd_getmetadata, cmd_setmetadata;
imap_cmd_func cmd_replace;
imap_cmd_func cmd_getquotaroot, cmd_getquota, cmd_setquota;

imap_literal_func cmd_append_literal;

/* ---------------------------------------------------------------- APPEND flags */

/*
 * APPEND flags (cmd_store.c): system flags and keywords (defined in mbox). Returns 0,
 * -1 (BAD: *error_r) or -2 (NO [LIMIT]: *error_r).
 */
int imap_parse_append_flags(struct mailbox *mbox, const struct imap_arg *list, unsigned n,
    uint8_t *flags_r, uint32_t *kw_r, const char **error_r);

#endif
