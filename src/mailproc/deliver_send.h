/*
 * deliver_send.h — what Sieve sends at delivery (docs/sieve.md, "What is sent"): the
 * sendmail child that carries redirect and vacation to the MTA, the vacation reply
 * (RFC 5230 §5, RFC 3834) and the durable record of replies sent, so :days/:seconds
 * hold across deliveries and restarts. Runs as the mailbox owner.
 */
#ifndef BUZON_DELIVER_SEND_H
#define BUZON_DELIVER_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/buf.h"
#include "sieve/sieve_exec.h"

struct event_base;

#define DELIVER_SENDMAIL_TIMEOUT_MS 10000	/* one sendmail child, writing and exit */
#define DELIVER_VACATION_MAX 1000	/* entries of the vacation file, oldest dropped */
#define DELIVER_VACATION_HASH 32
#define DELIVER_REDIRECT_LOOP_MAX 2	/* our Delivered-To already in a message: no redirect */

/*
 * Run `path -i -f FROM -- TO` (FROM "" or NULL: the null sender "<>") with a clean
 * environment, stdin the bytes head[0..hlen) then body[0..blen), stdout and stderr
 * /dev/null; wait at most DELIVER_SENDMAIL_TIMEOUT_MS in all (then the child is
 * killed). Returns 0 when it exited 0, else -1 with err filled. Blocks the caller
 * (`buzon deliver`; the mail process uses deliver_sendmail_spawn from its event loop).
 */
int deliver_sendmail(const char *path, const char *from, const char *to,
    const unsigned char *head, size_t hlen, const unsigned char *body, size_t blen,
    char *err, size_t errlen);

/*
 * The start of deliver_sendmail for a caller that waits itself (the mail process's
 * event loop): the child runs, *stdin_r is the non-blocking write end of its standard
 * input (close it after the message), *pid_r to reap. 0, or -1 with err filled.
 */
int deliver_sendmail_spawn(const char *path, const char *from, const char *to, pid_t *pid_r,
    int *stdin_r, char *err, size_t errlen);
/*
 * deliver_sendmail_spawn with several recipients: `path -i -f FROM -- TO...` (nto of
 * them, each deliver_addr_ok, at most DELIVER_SENDMAIL_RCPTS_MAX).
 */
#define DELIVER_SENDMAIL_RCPTS_MAX 1000
int deliver_sendmail_spawn_rcpts(const char *path, const char *from, const char *const *to,
    size_t nto, pid_t *pid_r, int *stdin_r, char *err, size_t errlen);

/*
 * One sendmail child watched by the event loop base (the mail process never waits for
 * it): data[0..len) (copied) is written to its standard input as the pipe takes it, its
 * exit is seen through a pidfd (or polled), and it is killed after
 * DELIVER_SENDMAIL_TIMEOUT_MS. done(ctx, r, err) runs once from the loop: r 0 when it
 * exited 0 having read everything, else -1 with err. deliver_sendmail_detach: done will
 * not be called (the child still runs to its end and is reaped). NULL (err filled) when
 * it cannot start; done is not called then.
 */
struct deliver_sendmail_child;
struct deliver_sendmail_child *deliver_sendmail_start(struct event_base *base,
    const char *path, const char *from, const char *const *to, size_t nto,
    const unsigned char *data, size_t len, void (*done)(void *ctx, int r, const char *err),
    void *ctx, char *err, size_t errlen);
void deliver_sendmail_detach(struct deliver_sendmail_child *c);

/* The result of a reaped child (waitpid status; wrote_all: stdin took every byte). */
int deliver_sendmail_status(const char *path, int status, bool wrote_all, char *err,
    size_t errlen);

/* May addr go on a sendmail command line (non-empty, no space, control or leading '-')? */
bool deliver_addr_ok(const char *addr);

/*
 * The first header field `name` of the message's header block, unfolded, CR/LF and
 * control characters turned into spaces, at most 998 bytes (malloc'd; NULL if absent).
 */
char *deliver_header_get(const unsigned char *msg, size_t len, const char *name);

/* How many `Delivered-To` fields of the header block name addr (case-insensitive). */
unsigned deliver_delivered_to_count(const unsigned char *msg, size_t len, const char *addr);

/*
 * The vacation reply to msg (RFC 5230 §5) into out, LF line ends: From `:from` or
 * me, To the envelope sender, Subject `:subject` or "Auto: " + the original subject,
 * In-Reply-To / References from the original Message-ID, Auto-Submitted:
 * auto-replied, the reason as text/plain (or as given with :mime). Returns 0, -1 when
 * the reply cannot be built (no sender).
 */
int deliver_vacation_build(struct buf *out, const unsigned char *msg, size_t len,
    const char *env_from, const char *me, const struct sieve_action *a, time_t now);

/*
 * The rejection of msg (RFC 5429 §2.1.1, an MDN as RFC 8098 / 3798) into out: a
 * multipart/report with the reason, a message/disposition-notification part and the
 * original message. Returns 0, -1 when there is no sender to send it to.
 */
int deliver_reject_build(struct buf *out, const unsigned char *msg, size_t len,
    const char *env_from, const char *me, const char *reason, time_t now);

/* SHA-256 of (lowercased sender, handle or one made from the action) for the file. */
void deliver_vacation_key(const char *sender, const struct sieve_action *a,
    unsigned char key[DELIVER_VACATION_HASH]);

/*
 * The vacation file (docs/formats.md): one "TIME HEX(key)" line per reply sent, newest
 * first, at most DELIVER_VACATION_MAX; malformed lines are ignored. _recent: was a
 * reply for key sent less than `seconds` before now? _record: remember one sent now
 * (tmp file, fsync, rename); 0 or -1.
 */
bool deliver_vacation_recent(const char *path, const unsigned char *key, time_t now,
    uint64_t seconds);
int deliver_vacation_record(const char *path, const unsigned char *key, time_t now);

#endif
