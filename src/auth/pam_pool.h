/*
 * pam_pool.h — PAM in a small pool of worker processes of auth, so that a PAM stack
 * that blocks (pam_unix's fail delay, an LDAP server that does not answer) never
 * stalls the auth event loop. The workers are forked by auth before it serves
 * requests (and again to replace a dead one); each runs one job at a time: {user,
 * password, rhost} in, one result out, over its own SOCK_SEQPACKET socketpair.  The
 * auth side never blocks on a worker: sends are non-blocking (a full socket counts as
 * a failed worker), results arrive through a libevent read event, jobs wait in a
 * bounded queue while every worker is busy, and a worker that dies or does not answer
 * within the timeout is killed and replaced while its job gets a temporary failure.
 * Workers run as root (pam_unix reads /etc/shadow), wipe every password after use and
 * set PAM_FAIL_DELAY to a function that does not sleep (the failure delay is auth's).
 */
#ifndef BUZON_PAM_POOL_H
#define BUZON_PAM_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/userdb.h"
#include "lib/config.h"
#include "lib/ipc.h"

struct event_base;

#define PAM_POOL_MAX_WORKERS	16
#define PAM_POOL_PASS_MAX	1024	/* bytes, the master's limit too */
#define PAM_POOL_RHOST_MAX	64
#define PAM_POOL_MAX_QUEUED	1024	/* jobs waiting for a worker */
#define PAM_POOL_TIMEOUT_MS	30000	/* per job, from the send */

enum pam_job_kind {
	PAM_JOB_AUTH = 1,	/* pam_authenticate + pam_acct_mgmt for a known system user */
	PAM_JOB_DUMMY = 2,	/* unknown user: the dummy hash, the answer is always 0 */
};

/* Result of a job: 1 ok, 0 refused, -1 temporary failure (PAM error, worker lost). */
typedef void pam_pool_cb(int result, void *ctx);

/*
 * With cfg->system_users, fork cfg->auth_pam_workers workers (the job timeout is
 * PAM_POOL_TIMEOUT_MS); without, do nothing. Call once, before serving requests. Fatal
 * when no worker can be started.
 */
void pam_pool_start(struct event_base *base, const struct config *cfg);

/* The same with explicit settings (unit tests). Returns 0 or -1 (no worker started). */
int pam_pool_init(struct event_base *base, unsigned workers, unsigned timeout_ms);

/*
 * Run a job (user may be "" for PAM_JOB_DUMMY). The password (password_len <=
 * PAM_POOL_PASS_MAX bytes, no NUL) is copied and the copy wiped once it is sent; the caller wipes its own.
 * cb(result, ctx) is called exactly once, later, from the event loop — never from
 * inside this call. Returns 0, or -1 (no pool, queue full, a field too long): no
 * callback then.
 */
int pam_pool_submit(enum pam_job_kind kind, const char *user, const char *password,
    size_t password_len, const char *rhost, pam_pool_cb *cb, void *ctx);

/* Worker pids (live ones), for tests: up to max into pids; returns the count. */
unsigned pam_pool_pids(pid_t *pids, unsigned max);

/* Kill every worker and fail every job (tempfail callbacks); for tests. */
void pam_pool_stop(void);

/*
 * The worker protocol, one datagram per message, fields in ipc_put order:
 *   job:    u32 PAM_MSG_JOB, u32 id, u32 kind, str user (<= USER_NAME_MAX, not empty
 *           for PAM_JOB_AUTH),
 *           bytes password (<= PAM_POOL_PASS_MAX, no NUL), str rhost (<= PAM_POOL_RHOST_MAX)
 *   result: u32 PAM_MSG_RESULT, u32 id, u32 result (0 refused, 1 ok, 2 tempfail)
 * Decoders check every length and value and reject trailing bytes.
 */
enum pam_msg_type { PAM_MSG_JOB = 0x706a6f62, PAM_MSG_RESULT = 0x70726573 };

struct pam_job {
	uint32_t id;
	uint32_t kind;
	char user[USER_NAME_MAX + 1];
	char password[PAM_POOL_PASS_MAX + 1];
	size_t password_len;
	char rhost[PAM_POOL_RHOST_MAX + 1];
};

/* Returns 0, or -1 if a field is out of bounds (m then holds nothing useful). */
int pam_job_encode(struct ipc_msg *m, uint32_t id, uint32_t kind, const char *user,
    const char *password, size_t password_len, const char *rhost);
/* Returns 0 with *j filled (wipe it after use), or -1 (malformed; *j wiped). */
int pam_job_decode(struct ipc_msg *m, struct pam_job *j);
void pam_result_encode(struct ipc_msg *m, uint32_t id, int result);
/* Returns 0 with *id_r and *result_r (1, 0 or -1), or -1 (malformed). */
int pam_result_decode(struct ipc_msg *m, uint32_t *id_r, int *result_r);

#endif
