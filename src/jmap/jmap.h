/*
 * jmap.h — the JMAP front end of the per-user mail process (docs/jmap.md): one HTTP/1.1
 * connection per session after the login process has authenticated its first request.
 * Security role: runs as the mailbox owner; parses authenticated but untrusted HTTP
 * (src/proto/http) and JSON (jmap_request.c) under the bounds of docs/jmap.md.
 */
#ifndef BUZON_JMAP_H
#define BUZON_JMAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct mail_user;

#define JMAP_IDLE_SECS		300	/* between requests */
#define JMAP_REQUEST_SECS	60	/* from a request's first octet to its last */

/*
 * Serve the connection fd (ownership passes, also on failure): pending_input (copied)
 * holds the request the login process authenticated, first. tls: the client speaks
 * HTTPS (URLs in the session resource). home: the user's (Sieve scripts), may be NULL. Registered in mu (MAIL_PROTO_JMAP) until it
 * ends. Returns 0 or -1 (fd closed, logged).
 */
int jmap_client_create(struct event_base *base, struct mail_user *mu, const char *user,
    const char *home, int fd, const void *pending_input, size_t pending_len, const char *client_ip, bool tls);

/* jmap_mail.c: the methods of RFC 8621 (and what follows it) a request can call. */
struct jmap_call {
	struct mail_user *mu;
	const char *account_id;
	json_t *args;		/* borrowed: the resolved arguments */
	json_t *result;		/* out: the response arguments (owned), or NULL on error */
	const char *error;	/* out: the method error type, with result NULL */
	const char *error_desc;	/* optional description */
	/* in: what EmailSubmission and VacationResponse need (jmap_submission.c) */
	struct event_base *base;
	const char *user;	/* the login name */
	const char *home;	/* the user's home, "" if none */
	unsigned caps;		/* JMAP_CAP_* of the request (for an implicit call) */
	json_t *created_ids;	/* borrowed: creation id -> id of the request (RFC 8620
				 * §3.3); the client adds the "created" of every /set */
	/* out: more responses after this one, [name, args] each (owned, NULL: none) */
	json_t *extra;
	/*
	 * A method that must wait for a child (EmailSubmission/set waits for sendmail's
	 * exit, RFC 8621 §7.5) sets waiting and returns: the request is held (the event loop
	 * serves everything else meanwhile) until the method sets result or error and calls
	 * resume(resume_ctx) from the loop. If the connection goes first, the client calls
	 * abandon(call) (set by the method): the method forgets the call (its work may go
	 * on) and resume is never called.
	 */
	bool waiting;
	void (*resume)(void *ctx);
	void *resume_ctx;
	void (*abandon)(struct jmap_call *call);
	void *wait_state;	/* the waiting method's own */
};
/*
 * The message whose blobId is "B" + 16 hex digits (blob_id): an open, read-only
 * descriptor of its file in *fd_r (caller closes). Returns 1 found, 0 no such blob,
 * -1 error (logged).
 */
int jmap_mail_blob_open(struct mail_user *mu, const char *blob_id, int *fd_r);
/*
 * The blob of a body part (jmap_bodyprop.h: "B" + 16 hex digits + "_1_2"...): its
 * decoded content (malloc'd, caller frees) and lower-case type; 1 found, 0 no such part
 * (or a multipart), -1 error or too large (logged).
 */
int jmap_body_blob_read(struct mail_user *mu, const char *blob_id, char **data_r,
    size_t *len_r, char *type, size_t type_size);
/*
 * jmap_upload.c: uploads (RFC 8620 §6.1) under the Maildir root, JMAP_UPLOAD_TTL
 * seconds. begin: a new partial file for size octets (its name into tmp), the descriptor,
 * -1 (an error) or -2 (over the limits below);
 * finish: fsync, then it is the blob blob_id ("U" + 16 hex); 0 or -1 (removed);
 * abort removes it. jmap_blob_open: any blob id (an Email's "B…" or an upload's
 * "U…"), as jmap_mail_blob_open.
 */
#define JMAP_MAX_SIZE_UPLOAD	(50 * 1000 * 1000)	/* maxSizeUpload */
#define JMAP_UPLOAD_TTL		(24 * 3600)
/* A user's uploads of the last JMAP_UPLOAD_TTL: begin answers -2 beyond these. */
#define JMAP_UPLOADS_BYTES_MAX	(4 * (uint64_t)JMAP_MAX_SIZE_UPLOAD)
#define JMAP_UPLOADS_FILES_MAX	1000
int jmap_upload_begin(struct mail_user *mu, uint64_t size, char tmp[40]);
int jmap_upload_finish(struct mail_user *mu, int fd, const char *tmp, char blob_id[18]);
void jmap_upload_abort(struct mail_user *mu, const char *tmp);
int jmap_blob_open(struct mail_user *mu, const char *blob_id, int *fd_r);
/* An unnamed file (O_TMPFILE) beside the uploads holding data[0..len), for a blob made
 * in memory (a decoded part, a script) and sent from disk; -1 on error. */
int jmap_scratch_file(struct mail_user *mu, const void *data, size_t len);
/*
 * jmap_sieve.c (RFC 9661): the account capability urn:ietf:params:jmap:sieve of the
 * user whose home is home (owned), NULL when Sieve is not set up for the user; a
 * script's blob ("G" + 16 hex) as jmap_blob_open does.
 */
struct config;
json_t *jmap_sieve_capability(const struct config *cfg, const char *home);
int jmap_sieve_blob_open(struct mail_user *mu, const char *home, const char *blob_id,
    int *fd_r);

/*
 * Run the method name; false when there is no such method or caps (JMAP_CAP_* of the
 * request's "using") lacks its capability: unknownMethod (RFC 8620 §3.6.2).
 */
bool jmap_mail_call(const char *name, unsigned caps, struct jmap_call *call);

#endif
