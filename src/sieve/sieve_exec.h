/*
 * sieve_exec.h — the Sieve interpreter: runs a script compiled by sieve_compile against
 * one message (raw bytes plus envelope) and produces a bounded list of actions for the
 * caller to carry out (store, discard, redirect, reject, vacation, header edits). Pure:
 * no I/O, no logging, no globals; what needs the outside world (does a mailbox exist,
 * was this message seen before) goes through callbacks the caller supplies. Runs in the
 * user's mail process (delivery) and in `buzon sieve test`, on a script and a message
 * that are both untrusted: every run is bounded by struct sieve_exec_limits, and a run
 * that passes a limit or fails is a run-time error, after which the caller keeps the
 * message in INBOX (RFC 5228 §2.10.6). Design and action format in docs/sieve.md.
 */
#ifndef BUZON_SIEVE_EXEC_H
#define BUZON_SIEVE_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "sieve/sieve.h"

/* Bounds of one run; sieve_exec_limits_default() fills the defaults in brackets. */
struct sieve_exec_limits {
	unsigned steps_max;	/* commands, tests and match attempts executed [100000] */
	unsigned actions_max;	/* actions in the result (Pigeonhole sieve_max_actions) [32] */
	unsigned redirects_max;	/* redirect actions (Pigeonhole sieve_max_redirects) [4] */
	size_t var_max;		/* bytes of one variable value or expanded string [4096] */
	unsigned vars_max;	/* variables of a script [255] */
	size_t regex_max;	/* bytes of one regular expression [1024] */
	size_t body_max;	/* decoded body bytes a body test looks at [1 MiB] */
	unsigned headers_max;	/* header fields tests see, edits included [10000] */
	unsigned includes_max;	/* include commands carried out (Pigeonhole: 255) [255] */
	unsigned include_depth_max;	/* scripts including each other [10] */
};

void sieve_exec_limits_default(struct sieve_exec_limits *lim);

/* What the interpreter asks of its caller. Callbacks may be NULL (see each). */
struct sieve_exec_env {
	const unsigned char *msg;	/* the message as delivered (CRLF or LF) */
	size_t msg_len;
	const char *env_from;	/* envelope sender; "" is the null sender <> */
	const char *env_to;	/* envelope (original) recipient, the script owner's address */
	time_t now;		/* for currentdate */
	int zone_min;		/* local zone, minutes east of UTC (date, currentdate) */
	/* environment test (RFC 5183) items; NULL = not known */
	const char *domain, *host, *remote_host, *remote_ip;
	/* the imap4flags internal variable at the start (scripts run in sequence); NULL: "" */
	const char *flags_init;
	void *ctx;
	/* 1 if the mailbox exists, 0 if not (NULL: only "INBOX" exists). */
	int (*mailbox_exists)(void *ctx, const char *name);
	/*
	 * duplicate (RFC 7352): 1 if id was seen under handle within `seconds`, else 0;
	 * the caller records it as seen (NULL: never seen). last: :last was given.
	 */
	int (*duplicate)(void *ctx, const char *handle, const char *id, size_t id_len,
	    uint64_t seconds, bool last);
	/*
	 * include (RFC 6609): the compiled script `name` of the user's (global false) or the
	 * global location, borrowed until sieve_execute returns; NULL when there is no such
	 * script, with *exists_r false, or when it cannot be read or compiled, with
	 * *exists_r true and err filled (NULL callback: no script exists). Its ctx is
	 * include_ctx.
	 */
	const struct sieve_script *(*include)(void *ctx, bool global, const char *name,
	    bool *exists_r, char *err, size_t errlen);
	void *include_ctx;
};

enum sieve_action_type {
	SIEVE_ACT_KEEP,		/* store into INBOX */
	SIEVE_ACT_FILEINTO,	/* store into `target` */
	SIEVE_ACT_DISCARD,
	SIEVE_ACT_REDIRECT,	/* `target` is the addr-spec */
	SIEVE_ACT_REJECT,	/* `text` is the reason */
	SIEVE_ACT_EREJECT,
	SIEVE_ACT_VACATION,
	SIEVE_ACT_ADDHEADER,	/* `target` field name, `text` value */
	SIEVE_ACT_DELETEHEADER,	/* `target` field name, `count` fields removed */
};

/* One action; strings are malloc'd, owned by the result, NUL-terminated. */
struct sieve_action {
	enum sieve_action_type type;
	bool copy, create;	/* fileinto/redirect :copy, fileinto :create */
	bool last;		/* addheader :last */
	bool mime;		/* vacation :mime */
	bool implicit;		/* KEEP: the implicit keep (RFC 5228 §2.10.2) */
	char *target;
	char *text;
	char *flags;		/* KEEP/FILEINTO: space-separated IMAP flags, NULL = none */
	/* vacation: each NULL when not given; seconds at least one day (as Pigeonhole) */
	char *subject, *from, *handle, *addresses;
	uint64_t seconds;
	unsigned count;
};

struct sieve_result {
	struct sieve_action *actions;	/* in execution order, implicit keep last */
	unsigned count;
	/* The header block after editheader, when it changed (malloc'd); else NULL. */
	char *header;
	size_t header_len;
	char *flags_end;	/* the imap4flags internal variable at the end; NULL: empty */
	bool failed;		/* run-time error: actions are only the implicit keep */
	char error[SIEVE_ERROR_TEXT_MAX];
	uint32_t error_line;	/* where in the script, 0 if not at a command */
};

/*
 * Run script s for the message in env. Always fills *r (free with sieve_result_deinit):
 * the actions to take, or on a run-time error r->failed with the error and one implicit
 * keep. Returns 0, or -1 on a run-time error.
 */
int sieve_execute(const struct sieve_script *s, const struct sieve_exec_env *env,
    const struct sieve_exec_limits *lim, struct sieve_result *r);
void sieve_result_deinit(struct sieve_result *r);

/*
 * Append the actions of r to out, one line per action in the stable format of
 * docs/sieve.md ("fileinto \"Lists\" copy flags=\"\\\\Seen\""). Returns 0 or -1 (limit).
 */
int sieve_result_format(const struct sieve_result *r, struct buf *out);

/*
 * RFC 5230 §4.5 / RFC 3834 §2: may a vacation reply be sent for this message? false
 * (with a static reason) for the null sender, a MAILER-DAEMON / owner- / -request
 * sender, Auto-Submitted other than "no", List-Id / List-* / Precedence bulk, list or
 * junk, or when none of the recipient's addresses (env_to, :addresses) is in To, Cc,
 * Bcc, Resent-To, Resent-Cc or Resent-Bcc. The delivery side calls it before sending;
 * sieve_execute does not, so the action list shows what the script asked for.
 */
bool sieve_vacation_allowed(const struct sieve_exec_env *env, const struct sieve_action *a,
    const char **reason_r);

#endif
