/*
 * jmap_local.h — what the JMAP Mail method files share (jmap_mail.c): argument checks,
 * the user's folders, Email ids, and the methods the table in jmap_mail.c runs. A new
 * method is a function here and a row in that table.
 */
#ifndef BUZON_JMAP_LOCAL_H
#define BUZON_JMAP_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include "jmap/jmap.h"
#include "store/store.h"

/* A selectable folder of the user, with its status. */
struct folder {
	char *name;		/* store name (mUTF-7) */
	char guid[33];
	unsigned attrs;
	struct mailbox_status st;
	bool selectable;
	bool threads_known;		/* the two below are set (jmap_query.c) */
	uint32_t total_threads, unread_threads;
	struct mailbox *box;		/* held open (jmap_folders_open), else NULL */
};

struct folders {
	struct folder *v;
	size_t n;
};

/* Every selectable folder with its status into f (free with jmap_folders_free); -1 on a store error. */
int jmap_folders_load(struct mail_user *mu, struct folders *f);
void jmap_folders_free(struct folders *f);
/* The same with every folder held open in f->v[i].box and no message counts in st. */
int jmap_folders_open(struct mail_user *mu, struct folders *f);
struct folder *jmap_folder_by_guid(struct folders *f, const char *guid);

/* The method error of call (type: RFC 8620 §3.6.2 / RFC 8621; desc optional, static). */
void jmap_set_error(struct jmap_call *call, const char *type, const char *desc);
/* accountId is present and ours; else the error is set (accountNotFound). */
bool jmap_check_account(struct jmap_call *call);
/* properties: null or an array of names from known (NULL-terminated); else invalidArguments. */
bool jmap_check_properties(struct jmap_call *call, json_t *props, const char *const *known);
/* ids: null or an array of at most maxObjectsInGet strings. */
bool jmap_check_ids(struct jmap_call *call, json_t *ids);
/* An Id[] argument of at most JMAP_MAX_OBJECTS_IN_GET; bad describes the argument. */
bool jmap_check_id_list(struct jmap_call *call, json_t *ids, bool required,
    const char *bad);
/* v absent or null: dflt; a non-negative integer: it; else false. */
bool jmap_json_uint(json_t *v, json_int_t dflt, json_int_t *out);
/* Does props (null = all) name name? */
bool jmap_want(json_t *props, const char *name);
/* A SetError (RFC 8620 §5.3): type, one property name or NULL, a description or NULL. */
json_t *jmap_set_err(const char *type, const char *prop, const char *desc);
/* RFC 8620 §5.3 ifInState: true when absent, null or equal to state; else false with
 * the method error set (stateMismatch, or invalidArguments when it is not a String). */
bool jmap_if_in_state(struct jmap_call *call, const char *state);
/* call->result as a /set response before its objects: accountId, oldState and the six
 * maps null until jmap_set_add fills one. */
void jmap_set_result_init(struct jmap_call *call, const char *old_state);
/* result[key][id] = v (v's reference taken; result[key] made an object): created, notCreated... */
void jmap_set_add(json_t *result, const char *key, const char *id, json_t *v);
/* /changes arguments (RFC 8620 §5.2) after the account check: *max_r -1 when null. */
bool jmap_changes_args(struct jmap_call *call, const char **since_r, json_int_t *max_r);

/* FNV-1a over state ingredients (h starts at 14695981039346656037). */
void jmap_state_add(uint64_t *h, const void *p, size_t len);
/* "s" + 16 hex digits of h (caller frees). */
char *jmap_state_str(uint64_t h);

/* An EMAILID as a JMAP id: "M" + 16 hex digits (out: 18 octets with the NUL). */
void jmap_email_id(uint64_t id, char out[18]);
/* prefix + 16 lower-case hex digits (Email "M", blob "B", thread "T"); 0 when not. */
uint64_t jmap_email_id_parse(const char *s, char prefix);

/* jmap_mailbox.c */
void jmap_mailbox_get(struct jmap_call *call);
void jmap_mailbox_changes(struct jmap_call *call);
/* The Mailbox state of f as Mailbox/get says it (caller frees; push: jmap_push.c); the
 * role of a folder or NULL. */
char *jmap_mailbox_state(struct mail_user *mu, struct folders *f);
const char *jmap_mailbox_role(const struct folder *fo);

/* jmap_email.c */
/* A Date header value as an RFC 8620 §1.4 Date with its zone offset (sentAt), or null. */
json_t *jmap_date_json(const char *raw, size_t len);
void jmap_email_get(struct jmap_call *call);
void jmap_email_changes(struct jmap_call *call);
/* The Email state of f as Email/get says it (caller frees; push: jmap_push.c). */
char *jmap_email_state(const struct folders *f);

/* jmap_set.c: Email/set, Mailbox/set (RFC 8621 §4.6, §2.5) */
void jmap_email_set(struct jmap_call *call);
void jmap_mailbox_set(struct jmap_call *call);
/* Email/copy: between accounts only (RFC 8620 §5.4); one account here. */
void jmap_email_copy(struct jmap_call *call);
/* create, update, destroy of a /set call, checked (types, maxObjectsInSet). */
bool jmap_set_args(struct jmap_call *call, json_t **create, json_t **update, json_t **destroy);
/* id, or the id "#creationId" was given earlier in the request; NULL when unknown. */
const char *jmap_resolve_id(struct jmap_call *call, const char *id);
/* RFC 8621 §4.1.1 keyword syntax (and the store's length); the flag of a system one. */
bool jmap_keyword_valid(const char *k);
uint8_t jmap_keyword_flag(const char *k);
bool jmap_keywords_valid(json_t *kw);

/* jmap_create.c: one Email/set create (RFC 8621 §4.6): adds to call->result's created or
 * notCreated and to the request's createdIds. */
void jmap_email_create(struct jmap_call *call, struct folders *f, const char *cid,
    json_t *obj);
/* Email/import (RFC 8621 §4.8). */
void jmap_email_import(struct jmap_call *call);
#define JMAP_CREATE_MAX		JMAP_MAX_SIZE_UPLOAD	/* octets of a created message */

/* jmap_submission.c (RFC 8621 §6, §7) */
void jmap_identity_get(struct jmap_call *call);
void jmap_identity_changes(struct jmap_call *call);
void jmap_identity_set(struct jmap_call *call);
void jmap_submission_get(struct jmap_call *call);
void jmap_submission_changes(struct jmap_call *call);
void jmap_submission_query(struct jmap_call *call);
void jmap_submission_set(struct jmap_call *call);

/* jmap_vacation.c (RFC 8621 §8) */
void jmap_vacation_get(struct jmap_call *call);
void jmap_vacation_set(struct jmap_call *call);
/* jmap_sieve.c (RFC 9661) */
void jmap_sieve_get(struct jmap_call *call);
void jmap_sieve_changes(struct jmap_call *call);
void jmap_sieve_set(struct jmap_call *call);
void jmap_sieve_query(struct jmap_call *call);
void jmap_sieve_validate(struct jmap_call *call);
/* jmap_body.c: body and header properties (RFC 8621 §4.1.2-§4.1.4), Email/parse */
struct mail_message;
struct jmap_body_args {
	json_t *body_props;		/* borrowed bodyProperties, NULL: the default */
	bool fetch_text, fetch_html, fetch_all;
	size_t max_value_bytes;		/* 0: no limit asked */
	size_t budget, used;		/* value octets a response may hold, held so far */
	uint64_t work;			/* header fields visited (bounded per call) */
};
/* bodyProperties, fetch*BodyValues, maxBodyValueBytes of call; false: the error is set. */
bool jmap_body_args_parse(struct jmap_call *call, struct jmap_body_args *a);
/* properties: names of known, the body properties and header:... forms; else invalidArguments. */
bool jmap_body_check_properties(struct jmap_call *call, json_t *props, const char *const *known);
/* Does props (null = the default) need jmap_body_fill? */
bool jmap_body_needed(json_t *props);
/* The body and header properties of m (an Email whose id is email_id) into o. */
/* RFC 8621 §4.1.4 hasAttachment of a parsed message (the FilterCondition uses it). */
bool jmap_body_has_attachment(const struct mail_message *m);
void jmap_body_fill(struct jmap_body_args *a, json_t *props, const struct mail_message *m,
    const char *email_id, json_t *o);
void jmap_email_parse(struct jmap_call *call);
/* The Email state (docs/jmap.md, "State"): per folder its UIDVALIDITY, UIDNEXT and
 * HIGHESTMODSEQ, which is what Email/changes and Email/queryChanges compare. */
struct estate_folder {
	char guid[65];
	uint32_t uidvalidity, uidnext;
	uint64_t modseq;
};
struct estate {
	struct estate_folder *v;
	size_t n, cap;
};
char *email_state(const struct folders *f);
/* 0 and *st (free st->v), or -1: not an Email state. */
int estate_decode(const char *s, struct estate *st);
const struct estate_folder *estate_find(const struct estate *st, const char *guid);

/* jmap_query.c */
void jmap_email_query(struct jmap_call *call);
void jmap_email_query_changes(struct jmap_call *call);
void jmap_thread_get(struct jmap_call *call);
void jmap_thread_changes(struct jmap_call *call);
void jmap_search_snippet_get(struct jmap_call *call);
/* The thread id of the message uid of box, whose EMAILID is emailid (fixed now if it
 * had none). */
uint64_t jmap_thread_of(struct mail_user *mu, struct mailbox *box, uint32_t uid,
    uint64_t emailid);
/* Per folder of f: totalThreads and unreadThreads (RFC 8621 §2); -1 on a store error. */
int jmap_thread_counts(struct mail_user *mu, const struct folders *f, uint32_t *total,
    uint32_t *unread);

#endif
