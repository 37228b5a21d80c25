/*
 * deliver_sieve.h — Sieve at delivery: find the user's active script where Pigeonhole
 * keeps it (sieve_script, "~/.dovecot.sieve", usually a link to ~/sieve/NAME.sieve),
 * compile it once per version of the file, run it on a delivered message and turn the
 * actions into a plan of folders to store into. Runs in the user's mail process and in
 * `buzon deliver`, as the user; the script and the message are untrusted and go through
 * the bounded compiler and interpreter of src/sieve. Whatever fails, the plan keeps the
 * message in INBOX: a script never loses mail (docs/sieve.md, "Delivery").
 */
#ifndef BUZON_MAILPROC_DELIVER_SIEVE_H
#define BUZON_MAILPROC_DELIVER_SIEVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct mstore;
struct deliver_sieve;

#define DELIVER_SIEVE_LOG_MAX (64 * 1024)	/* ~/.dovecot.sieve.log is cut past this */

/* One store of the plan. */
struct deliver_target {
	char *folder;		/* NULL = INBOX */
	bool create;		/* fileinto :create (RFC 5490 §3) */
	uint8_t flags;		/* MAILBOX_FLAG_* */
	char **keywords;	/* other IMAP flags (keywords), count nkeywords */
	unsigned nkeywords;
};

/* One message for sendmail, made by the plan, sent by the caller (deliver_sieve_defer_sends). */
enum deliver_send_kind { DELIVER_SEND_REDIRECT, DELIVER_SEND_VACATION, DELIVER_SEND_REJECT };
#define DELIVER_SENDS_MAX 16	/* jobs of one plan; past it they are sent at once */

struct deliver_send_job {
	enum deliver_send_kind kind;
	char *from;		/* envelope sender, "" the null sender */
	char *to;		/* the one recipient */
	unsigned char *data;	/* standard input of sendmail */
	size_t len;
	unsigned char key[32];	/* vacation: the vacation file's key */
	char *script;		/* the script that asked (for the logs) */
	bool global;
};

/* IDs the duplicate test saw (RFC 7352), to record once the delivery succeeded. */
struct deliver_dups;

struct deliver_plan {
	struct deliver_target *targets;	/* count 0: discarded by the script */
	unsigned count;
	struct deliver_dups *dups;	/* NULL: none; see deliver_dups_commit */
	struct deliver_send_job *sends;	/* deferred sends (deliver_sieve_defer_sends) */
	unsigned nsends;
	char *reject;		/* reject/ereject when the caller answers it (deliver_sieve_reject_by_exit) */
	char *header;		/* editheader: replaces the message's bytes [0, body_off) */
	size_t header_len;
	size_t body_off;
};

/*
 * Scripts for include (RFC 6609): NAME.sieve in the personal or the global directory
 * (either may be NULL: none there), compiled when first asked for and kept until
 * sieve_includes_destroy. sieve_includes_load is a sieve_exec_env.include callback
 * (ctx = the struct sieve_includes).
 */
struct sieve_includes;
struct sieve_includes *sieve_includes_create(const char *personal_dir, const char *global_dir);
void sieve_includes_destroy(struct sieve_includes **inc);
const struct sieve_script *sieve_includes_load(void *ctx, bool global, const char *name,
    bool *exists_r, char *err, size_t errlen);

/* The cache of the user's compiled script. home may be "" (no script then). */
struct deliver_sieve *deliver_sieve_create(const struct config *cfg, const char *home);
void deliver_sieve_destroy(struct deliver_sieve **ds);

/*
 * reject/ereject (RFC 5429) are answered by the caller (`buzon deliver`: exit 77 with the
 * reason) instead of a rejection message sent through sendmail_path.
 */
void deliver_sieve_reject_by_exit(struct deliver_sieve *ds);

/*
 * sendmail is run by the caller: redirect, vacation and reject messages go into
 * plan->sends, and the caller reports each result with deliver_sieve_sent before it
 * carries out the targets (a redirect or rejection not sent adds INBOX to them). The
 * mail process does so not to hold its event loop while sendmail runs.
 */
void deliver_sieve_defer_sends(struct deliver_sieve *ds);
void deliver_sieve_sent(struct deliver_sieve *ds, struct deliver_plan *plan, unsigned i,
    int r, const char *err);
const char *deliver_sieve_sendmail_path(const struct deliver_sieve *ds);

/* Is there an active script file (whether it compiles or not)? */
bool deliver_sieve_active(const struct deliver_sieve *ds);

/*
 * Plan the delivery of msg[0..len) (envelope env_from, "" for <>, and env_to, either
 * may be NULL): no script, a script that does not compile or fails at run time, a
 * redirect or rejection not sent all end in INBOX; errors are
 * logged and appended to the script's ".log" file. redirect and vacation are sent here,
 * through sendmail_path (deliver_send.h; blocks up to its timeout per message sent),
 * unless deliver_sieve_defer_sends.
 * store answers mailboxexists.
 * Always fills *plan (free with deliver_plan_deinit).
 */
void deliver_sieve_plan(struct deliver_sieve *ds, const unsigned char *msg, size_t len,
    const char *env_from, const char *env_to, struct mstore *store,
    struct deliver_plan *plan);
void deliver_plan_deinit(struct deliver_plan *plan);

/*
 * After the delivery succeeded: record the plan's duplicate IDs in the user's
 * duplicate file (<sieve_script>.dupes: one "EXPIRY SHA256(handle NUL id)" line each,
 * expired lines dropped, at most DELIVER_DUPS_MAX kept). Never on failure: a retried
 * delivery must not be taken for a duplicate (RFC 7352 §3). Frees *dups either way.
 */
#define DELIVER_DUPS_MAX 10000
void deliver_dups_commit(struct deliver_sieve *ds, struct deliver_dups **dups);
void deliver_dups_free(struct deliver_dups **dups);

/*
 * The envelope from the trace header lines delivery prepends ("Return-Path: <a@b>",
 * "Delivered-To: c@d"): malloc'd strings, NULL when absent.
 */
void deliver_prefix_envelope(const unsigned char *prefix, size_t len, char **from_r,
    char **to_r);

#endif
