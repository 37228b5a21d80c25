/*
 * auth_main.c — the auth process (see auth.h). Runs as root when system users are
 * enabled (PAM needs /etc/shadow) and otherwise as root too, because the passwd-file
 * is root-only; it reads only IPC messages from the master, whose every field is
 * bounded. Requests from one client network are serialised and spaced out after
 * failures (2 s doubling to auth_failure_delay_max), so parallel connections do not
 * multiply an attacker's guesses (docs/security.md, Decisions: parallel guessing;
 * Limits: failure delay per address).  A network that fails auth_ban_failures times
 * (without 10 minutes of silence) is banned for auth_ban_seconds: its requests are
 * refused at once, without a password check, and the ban is logged ("auth ban ip=..."),
 * so fail2ban is not needed.  Trusted networks have no penalty entry and are never
 * delayed or banned.  A failure's delay counts from the start of its password check, so
 * an unknown user and a wrong password are answered at the same moment whatever the
 * hash or PAM cost.  PAM never runs in this loop: system users are checked by the PAM
 * workers of pam_pool.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/oauth.h"
#include "auth/pam_pool.h"
#include "auth/passdb.h"
#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/priv.h"
#include "lib/role.h"
#include "proto/sasl.h"

#define AUTH_IPC_FD		3
#define PENALTY_SLOTS		4096
#define PENALTY_EXPIRE_MS	(10 * 60 * 1000)
#define AUTH_MAX_QUEUED		10000
#define AUTH_MAX_QUEUED_PER_NET	256	/* a webmail host or NAT logs many users in at once */

struct auth_req;

struct auth_penalty {
	unsigned char key[16];	/* IPv4 address or IPv6 /64 prefix */
	bool used;
	bool busy;		/* a request from here is being verified or delayed */
	unsigned failures;
	unsigned ban_count;	/* failures since the last ban */
	unsigned queued;
	uint64_t last_ms;	/* last request */
	uint64_t ban_until_ms;	/* refused without a check until then (0: never banned) */
	struct auth_req *qhead, *qtail;	/* waiting requests from this network */
};

struct auth_req {
	struct auth_req *next;
	struct auth_req *qnext;	/* in its penalty queue */
	uint32_t id;
	char *user, *ip;
	char *pass;
	size_t plen;
	struct event *timer;
	struct auth_penalty *pen;	/* NULL for trusted networks */
	uint64_t start_ms;		/* the password check began (clock_ms) */
	struct user_info u;		/* a system user's identity while PAM checks */
	bool scram;			/* pass is a SCRAM proof + AuthMessage */
	bool oauth;			/* pass is a bearer token (OAUTHBEARER, XOAUTH2) */
	enum scram_hash scram_hash;
	unsigned char server_sig[SCRAM_KEY_MAX];	/* after a good SCRAM proof */
	size_t server_sig_len;
};

static struct {
	struct event_base *base;
	struct config *cfg;
	char *cfgpath;
	struct auth_penalty table[PENALTY_SLOTS];
	struct auth_req *reqs;
	unsigned nreqs;
	struct ipc_peer *master;
	struct jwks *jwks;		/* oauth_jwks_file; NULL when not configured */
} A;

unsigned
auth_penalty_delay(unsigned failures, unsigned max_delay)
{
	unsigned d;

	if (failures == 0 || max_delay == 0)
		return 0;
	d = failures >= 4 ? max_delay : 1U << failures;	/* 2, 4, 8 */
	return d > max_delay ? max_delay : d;
}

bool
auth_ip_in_networks(const char *ip, const char *list)
{
	unsigned char addr[16], net[16];
	char *copy, *save = NULL, *tok;
	bool v4, found = false;

	if (list == NULL)
		return false;
	if (inet_pton(AF_INET, ip, addr) == 1)
		v4 = true;
	else if (inet_pton(AF_INET6, ip, addr) == 1)
		v4 = false;
	else
		return false;
	copy = xstrdup(list);
	for (tok = strtok_r(copy, " ,", &save); tok != NULL && !found;
	    tok = strtok_r(NULL, " ,", &save)) {
		char *slash = strchr(tok, '/');
		uint32_t bits = v4 ? 32 : 128;
		unsigned full;

		if (slash != NULL) {
			*slash = '\0';
			if (parse_u32(slash + 1, strlen(slash + 1), &bits) < 0)
				continue;
		}
		if (inet_pton(v4 ? AF_INET : AF_INET6, tok, net) != 1 || bits > (v4 ? 32U : 128U))
			continue;
		full = bits / 8;
		if (memcmp(addr, net, full) != 0)
			continue;
		if (bits % 8 != 0) {
			unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));

			if ((addr[full] & mask) != (net[full] & mask))
				continue;
		}
		found = true;
	}
	free(copy);
	return found;
}

static bool
penalty_banned(const struct auth_penalty *p, uint64_t now)
{
	return p->ban_until_ms > now;
}

/*
 * Which slot to recycle: a free one, else the stalest unbanned one, else the stalest
 * banned one (so a flood of banned networks cannot leave newcomers untracked).
 */
static bool
penalty_better_victim(const struct auth_penalty *p, const struct auth_penalty *cur, uint64_t now)
{
	if (cur == NULL || !p->used)
		return true;
	if (!cur->used)
		return false;
	if (penalty_banned(p, now) != penalty_banned(cur, now))
		return !penalty_banned(p, now);
	return p->last_ms < cur->last_ms;
}

struct auth_penalty *
auth_penalty_get(const char *ip, uint64_t now)
{
	unsigned char key[16];
	struct auth_penalty *oldest = NULL;
	uint32_t h;
	unsigned i;

	if (!netaddr_key_string(ip, key))
		return NULL;
	h = netaddr_key_hash(key);
	/* open addressing, 8 probes; the stalest entry is recycled when all are taken */
	for (i = 0; i < 8; i++) {
		struct auth_penalty *p = &A.table[(h + i) % PENALTY_SLOTS];

		if (p->used && !p->busy && now - p->last_ms > PENALTY_EXPIRE_MS &&
		    !penalty_banned(p, now))
			p->used = false;
		if (p->used && memcmp(p->key, key, 16) == 0)
			return p;
		if (p->busy)
			continue;
		if (penalty_better_victim(p, oldest, now))
			oldest = p;
		if (!p->used)
			break;
	}
	if (oldest == NULL)
		return NULL;	/* every candidate slot is busy: no penalty tracking */
	memset(oldest, 0, sizeof(*oldest));
	memcpy(oldest->key, key, 16);
	oldest->used = true;
	oldest->last_ms = now;
	return oldest;
}

unsigned
auth_penalty_failure(struct auth_penalty *p, uint64_t now, unsigned ban_failures,
    unsigned ban_seconds)
{
	p->failures++;
	p->ban_count++;
	p->last_ms = now;
	if (ban_failures == 0 || ban_seconds == 0 || p->ban_count < ban_failures)
		return 0;
	p->ban_count = 0;
	p->ban_until_ms = now + (uint64_t)ban_seconds * 1000;
	return ban_seconds;
}

bool
auth_penalty_banned(const struct auth_penalty *p, uint64_t now)
{
	return p != NULL && penalty_banned(p, now);
}

unsigned
auth_penalty_failures(const struct auth_penalty *p)
{
	return p != NULL ? p->failures : 0;
}

void
auth_penalty_reset_all(void)
{
	memset(A.table, 0, sizeof(A.table));
}

static void
req_free(struct auth_req *r)
{
	struct auth_req **pp;

	for (pp = &A.reqs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	A.nreqs--;
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->pass != NULL) {
		secret_wipe(r->pass, r->plen);
		free(r->pass);
	}
	free(r->user);
	free(r->ip);
	free(r);
}

static void
reply_extra(uint32_t id, uint32_t status, const struct user_info *u,
    const unsigned char *extra, size_t extra_len)
{
	char quota[USERDB_QUOTA_FIELDS_MAX];
	struct ipc_auth_reply a;
	struct ipc_msg m;

	a.id = id;
	a.status = status;
	a.name = u ? u->name : "";
	a.uid = u ? (uint32_t)u->uid : 0;
	a.gid = u ? (uint32_t)u->gid : 0;
	a.home = u && u->home ? u->home : "";
	a.root = u && u->mail_root ? u->mail_root : "";
	a.quota = u ? userdb_quota_fields(u, quota, sizeof(quota)) : "";
	a.extra.p = extra;
	a.extra.len = extra != NULL ? extra_len : 0;
	if (ipc_encode(&m, IPC_AUTH_REPLY, &a) < 0) {
		/* a home or mail root over IPC_PATH_MAX: this user cannot be served */
		log_error("auth: reply for user %s does not fit: %s", a.name, strerror(errno));
		a.status = IPC_AUTH_TEMPFAIL;
		a.name = a.home = a.root = a.quota = "";
		a.uid = a.gid = 0;
		a.extra.len = 0;
		(void)ipc_encode(&m, IPC_AUTH_REPLY, &a);
	}
	/* queued when the master is busy; never waits (a master that never reads: exit) */
	if (A.master == NULL || ipc_peer_send(A.master, &m, -1) < 0)
		fatal("auth: cannot send to the master: %s", strerror(errno));
}

static void
reply(uint32_t id, uint32_t status, const struct user_info *u)
{
	reply_extra(id, status, u, NULL, 0);
}

static void verify_cb(evutil_socket_t fd, short what, void *ctx);
static void verify_done(struct auth_req *r, int res, const char *err);
static void pam_done_cb(int res, void *ctx);

/* Start the next waiting request of a network, if any. */
static void
penalty_next(struct auth_penalty *pen)
{
	struct auth_req *r = pen->qhead;
	struct timeval now = { 0, 0 };

	pen->busy = false;
	if (r == NULL)
		return;
	pen->qhead = r->qnext;
	if (pen->qhead == NULL)
		pen->qtail = NULL;
	pen->queued--;
	pen->busy = true;
	r->timer = evtimer_new(A.base, verify_cb, r);
	evtimer_add(r->timer, &now);
}

/* The request is answered: free it and let its network's next request go. */
static void
req_done(struct auth_req *r)
{
	struct auth_penalty *pen = r->pen;

	req_free(r);
	if (pen != NULL)
		penalty_next(pen);
}

static void
reply_fail_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct auth_req *r = ctx;

	reply(r->id, IPC_AUTH_FAIL, NULL);
	req_done(r);
}

static void
verify_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct auth_req *r = ctx;
	enum pam_job_kind kind;
	const char *err = NULL;
	int res;

	if (r->pen != NULL && penalty_banned(r->pen, clock_ms())) {
		/* banned while it waited in its network's queue: no password check */
		secret_wipe(r->pass, r->plen);
		reply_fail_cb(-1, 0, r);
		return;
	}
	r->start_ms = clock_ms();
	if (r->scram) {
		/* the proof decides, here, like a password: same queue, delay and ban */
		res = passdb_verify_scram(A.cfg, r->user, r->scram_hash,
		    (const unsigned char *)r->pass, r->plen, &r->u, r->server_sig, &err);
		if (res > 0)
			r->server_sig_len = scram_hash_len(r->scram_hash);
		secret_wipe(r->pass, r->plen);
		verify_done(r, res, err);
		return;
	}
	if (r->oauth) {
		/* the token decides, here, like a password: same queue, delay and ban */
		res = oauth_verify(A.cfg, A.jwks, r->user, r->pass, r->plen,
		    (int64_t)time(NULL), &r->u, &err);
		secret_wipe(r->pass, r->plen);
		if (res == 0) {
			char safe[128];

			log_info("auth oauth refused user=\"%s\" ip=%s reason=\"%s\"",
			    log_sanitize(r->user, strlen(r->user), safe, sizeof(safe)), r->ip, err);
		}
		verify_done(r, res, err);
		return;
	}
	res = passdb_verify(A.cfg, r->user, r->pass, r->plen, &r->u, &kind, &err);
	/* (a refused name's password may hold a NUL: the dummy check stops there too) */
	if (res == PASSDB_PAM && pam_pool_submit(kind, r->user, r->pass, strnlen(r->pass, r->plen),
	    r->ip, pam_done_cb, r) < 0) {
		userdb_info_free(&r->u);
		res = -1;
		err = "no PAM worker (queue full or system_users enabled by a reload)";
	}
	secret_wipe(r->pass, r->plen);
	if (res != PASSDB_PAM)
		verify_done(r, res, err);	/* else pam_done_cb() continues */
}

/* The PAM worker's answer for r. */
static void
pam_done_cb(int res, void *ctx)
{
	struct auth_req *r = ctx;

	if (res != 1)
		userdb_info_free(&r->u);
	verify_done(r, res, "PAM failed or its worker was lost");
}

/* The check is over: reply now, or after the network's failure delay. */
static void
verify_done(struct auth_req *r, int res, const char *err)
{
	if (res > 0) {
		reply_extra(r->id, IPC_AUTH_OK, &r->u, r->server_sig, r->server_sig_len);
		userdb_info_free(&r->u);
		req_done(r);
		return;
	}
	if (res < 0) {
		log_error("auth tempfail ip=%s error=\"%s\"", r->ip, err ? err : "unknown");
		reply(r->id, IPC_AUTH_TEMPFAIL, NULL);
		req_done(r);
		return;
	}
	if (r->pen != NULL) {
		unsigned delay, ban;

		ban = auth_penalty_failure(r->pen, clock_ms(), A.cfg->auth_ban_failures,
		    A.cfg->auth_ban_seconds);
		if (ban > 0)
			log_warn("auth ban ip=%s failures=%u seconds=%u", r->ip,
			    r->pen->failures, ban);
		delay = auth_penalty_delay(r->pen->failures, A.cfg->auth_failure_delay_max);
		if (delay > 0) {
			/* from the start of the check: the hash or PAM time does not show */
			uint64_t spent = clock_ms() - r->start_ms, want = (uint64_t)delay * 1000;
			uint64_t left = want > spent ? want - spent : 0;
			struct timeval tv = { (time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 };

			if (r->pen->failures >= 4 && r->pen->failures % 4 == 0)
				log_warn("auth penalty ip=%s failures=%u delay=%us", r->ip,
				    r->pen->failures, delay);
			/* the network stays busy until the failure is answered */
			event_free(r->timer);
			r->timer = evtimer_new(A.base, reply_fail_cb, r);
			evtimer_add(r->timer, &tv);
			return;
		}
	}
	reply_fail_cb(-1, 0, r);
}

static void
handle_request(struct ipc_msg *m)
{
	struct ipc_auth_request q;
	struct auth_req *r;
	const char *ip;
	uint64_t now = clock_ms();
	struct timeval tv = { 0, 0 };

	if (ipc_decode(m, IPC_AUTH_REQUEST, &q) < 0)
		fatal("auth: malformed request from the master");
	if (A.nreqs >= AUTH_MAX_QUEUED) {
		reply(q.id, IPC_AUTH_TEMPFAIL, NULL);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = q.id;
	r->user = xstrdup(q.user);
	r->ip = xstrdup(q.ip);
	ip = r->ip;
	r->pass = xmalloc(q.pass.len + 1);
	memcpy(r->pass, q.pass.p, q.pass.len);
	r->pass[q.pass.len] = '\0';
	r->plen = q.pass.len;
	secret_wipe((void *)q.pass.p, q.pass.len);
	{
		bool plus;

		r->scram = scram_mech_parse(q.mech, strlen(q.mech), &r->scram_hash, &plus) == 1;
	}
	r->oauth = sasl_mech_is_oauth(q.mech);
	if (q.pass.len > sasl_mech_cred_max(q.mech))
		fatal("auth: malformed request from the master");
	r->next = A.reqs;
	A.reqs = r;
	A.nreqs++;
	if (!auth_ip_in_networks(ip, A.cfg->auth_trusted_networks))
		r->pen = auth_penalty_get(ip, now);
	if (r->pen != NULL) {
		struct auth_penalty *pen = r->pen;

		pen->last_ms = now;
		if (penalty_banned(pen, now)) {
			/* refused at once, without a password check or a queue slot */
			log_debug("auth banned ip=%s", ip);
			r->pen = NULL;
			reply(r->id, IPC_AUTH_BANNED, NULL);
			req_free(r);
			return;
		}
		if (pen->busy) {
			/* serialise: one guess at a time per network */
			if (pen->queued >= AUTH_MAX_QUEUED_PER_NET) {
				r->pen = NULL;
				reply(r->id, IPC_AUTH_TEMPFAIL, NULL);
				req_free(r);
				return;
			}
			if (pen->qtail != NULL)
				pen->qtail->qnext = r;
			else
				pen->qhead = r;
			pen->qtail = r;
			pen->queued++;
			return;
		}
		pen->busy = true;
	}
	r->timer = evtimer_new(A.base, verify_cb, r);
	evtimer_add(r->timer, &tv);
}

/*
 * LMTP recipient: the address as given, then without the +detail, then the local part
 * alone (passwd-file users are often plain names). No password, no penalty.
 */
static void
handle_lookup(struct ipc_msg *m)
{
	struct ipc_auth_lookup lk;
	char *addr, *cand[3] = { NULL, NULL, NULL }, *at;
	const char *err = NULL;
	struct user_info u;
	uint32_t id;
	int r = 0;

	if (ipc_decode(m, IPC_AUTH_LOOKUP, &lk) < 0)
		fatal("auth: malformed lookup from the master");
	id = lk.id;
	addr = xstrdup(lk.address);
	cand[0] = xstrdup(addr);
	if (A.cfg->recipient_delimiter != NULL) {
		char *d = strchr(addr, A.cfg->recipient_delimiter[0]);

		if (d != NULL) {
			at = strchr(d, '@');
			cand[1] = xasprintf("%.*s%s", (int)(d - addr), addr, at != NULL ? at : "");
		}
	}
	at = strchr(cand[1] != NULL ? cand[1] : cand[0], '@');
	if (at != NULL) {
		const char *base = cand[1] != NULL ? cand[1] : cand[0];

		cand[2] = xstrndup(base, (size_t)(at - base));
	}
	memset(&u, 0, sizeof(u));
	for (unsigned i = 0; i < N_ELEMENTS(cand) && r == 0; i++)
		if (cand[i] != NULL)
			r = userdb_lookup(A.cfg, cand[i], &u, &err);
	if (r > 0) {
		reply(id, IPC_AUTH_OK, &u);
		userdb_info_free(&u);
	} else if (r == 0) {
		reply(id, IPC_AUTH_FAIL, NULL);
	} else {
		log_error("auth lookup tempfail error=\"%s\"", err ? err : "unknown");
		reply(id, IPC_AUTH_TEMPFAIL, NULL);
	}
	for (unsigned i = 0; i < N_ELEMENTS(cand); i++)
		free(cand[i]);
	free(addr);
}

/*
 * SCRAM's first step: the salt and iteration count to send the client. No password is
 * checked, so no penalty; an unknown name gets made-up ones (passdb_scram_params).
 */
static void
handle_scram(struct ipc_msg *m)
{
	struct ipc_scram q;
	struct ipc_scram_params p;
	unsigned char salt[SCRAM_SALT_MAX];
	const char *err = NULL;
	enum scram_hash h;
	struct ipc_msg out;
	bool plus;
	int r;

	if (ipc_decode(m, IPC_AUTH_SCRAM, &q) < 0 ||
	    scram_mech_parse(q.mech, strlen(q.mech), &h, &plus) != 1)
		fatal("auth: malformed SCRAM request from the master");
	p.id = q.id;
	p.iter = 0;
	p.salt.p = salt;
	p.salt.len = 0;
	r = passdb_scram_params(A.cfg, q.name, h, salt, &p.salt.len, &p.iter, &err);
	if (r < 0) {
		log_error("auth scram tempfail error=\"%s\"", err ? err : "unknown");
		p.status = IPC_AUTH_TEMPFAIL;
		p.salt.len = 0;
	} else {
		p.status = IPC_AUTH_OK;
	}
	if (ipc_encode(&out, IPC_AUTH_SCRAM_PARAMS, &p) < 0 ||
	    A.master == NULL || ipc_peer_send(A.master, &out, -1) < 0)
		fatal("auth: cannot send to the master: %s", strerror(errno));
}

/* A penalty key in text: the IPv4 address, or the IPv6 /64 (netaddr.c's keys). */
static void
penalty_key_text(const unsigned char key[16], char *out, size_t size)
{
	unsigned char a6[16];
	char net[INET6_ADDRSTRLEN];

	if (key[15] == 6) {
		memset(a6, 0, sizeof(a6));
		memcpy(a6, key, 8);
		if (inet_ntop(AF_INET6, a6, net, sizeof(net)) != NULL) {
			snprintf(out, size, "%s/64", net);
			return;
		}
	} else if (inet_ntop(AF_INET, key, out, (socklen_t)size) != NULL) {
		return;
	}
	snprintf(out, size, "?");
}

/*
 * IPC_ADMIN_REQUEST (`buzon ban list|remove`, docs/architecture.md, "The control
 * socket"): the bans live here, in the penalty table. list: one line per banned network
 * "ADDRESS FAILURES SECONDS-LEFT"; remove: the network's penalty is forgotten (no ban,
 * no delay), so its next login is checked at once.
 */
static void
handle_admin(struct ipc_msg *m)
{
	struct ipc_admin_request rq;
	struct ipc_admin_reply r;
	struct ipc_msg out;
	uint64_t now = clock_ms();
	char *text = xmalloc(IPC_ADMIN_TEXT_MAX);
	size_t len = 0;

	if (ipc_decode(m, IPC_ADMIN_REQUEST, &rq) < 0)
		fatal("auth: malformed admin request from the master");
	r.id = rq.id;
	r.status = 0;
	text[0] = '\0';
	if (rq.verb == IPC_ADMIN_BAN_LIST) {
		for (size_t i = 0; i < PENALTY_SLOTS; i++) {
			const struct auth_penalty *p = &A.table[i];
			char addr[INET6_ADDRSTRLEN + 8];
			int n;

			if (!p->used || !penalty_banned(p, now))
				continue;
			penalty_key_text(p->key, addr, sizeof(addr));
			n = snprintf(text + len, IPC_ADMIN_TEXT_MAX - len, "%s %u %llu\n", addr,
			    p->failures, (unsigned long long)((p->ban_until_ms - now + 999) / 1000));
			if (n < 0 || (size_t)n >= IPC_ADMIN_TEXT_MAX - len)
				break;	/* the rest does not fit one answer */
			len += (size_t)n;
		}
	} else if (rq.verb == IPC_ADMIN_BAN_REMOVE) {
		unsigned char key[16];
		char ip[INET6_ADDRSTRLEN + 8];
		size_t alen = strlen(rq.arg);
		unsigned removed = 0;

		/* "2001:db8::/64" as ban list prints it, or any address of the network */
		if (alen >= 3 && alen < sizeof(ip) && strcmp(rq.arg + alen - 3, "/64") == 0) {
			memcpy(ip, rq.arg, alen - 3);
			ip[alen - 3] = '\0';
		} else {
			snprintf(ip, sizeof(ip), "%s", alen < sizeof(ip) ? rq.arg : "");
		}
		if (!netaddr_key_string(ip, key)) {
			r.status = 1;
			len = (size_t)snprintf(text, IPC_ADMIN_TEXT_MAX, "not an address");
		} else {
			for (size_t i = 0; i < PENALTY_SLOTS; i++) {
				struct auth_penalty *p = &A.table[i];

				if (!p->used || memcmp(p->key, key, 16) != 0)
					continue;
				if (penalty_banned(p, now))
					removed++;
				p->ban_until_ms = 0;
				p->ban_count = 0;
				p->failures = 0;
			}
			if (removed == 0) {
				r.status = 1;
				len = (size_t)snprintf(text, IPC_ADMIN_TEXT_MAX, "no ban for that address");
			} else {
				log_info("auth ban removed ip=%s", ip);
				len = (size_t)snprintf(text, IPC_ADMIN_TEXT_MAX, "ban removed\n");
			}
		}
	} else {
		fatal("auth: unknown admin verb %u", rq.verb);
	}
	r.text.p = (const unsigned char *)text;
	r.text.len = len;
	if (ipc_encode(&out, IPC_ADMIN_REPLY, &r) < 0 || A.master == NULL ||
	    ipc_peer_send(A.master, &out, -1) < 0)
		fatal("auth: cannot send to the master: %s", strerror(errno));
	free(text);
}

static void
master_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx)
{
	if (m->type == IPC_AUTH_REQUEST)
		handle_request(m);
	else if (m->type == IPC_AUTH_SCRAM)
		handle_scram(m);
	else if (m->type == IPC_AUTH_LOOKUP)
		handle_lookup(m);
	else if (m->type == IPC_ADMIN_REQUEST)
		handle_admin(m);
	else
		fatal("auth: unexpected message %u", m->type);
}

static void
master_error_cb(struct ipc_peer *peer, int error, void *ctx)
{
	if (error == 0)
		exit(0);	/* the master is gone */
	fatal("auth: ipc: %s", strerror(error));
}

/*
 * (Re)read oauth_jwks_file. A file that no longer parses at a reload keeps the keys
 * read before (logged): a half-written file must not log everyone out.
 */
static void
oauth_reload(void)
{
	struct jwks *keys;
	char *err;

	if (A.cfg->oauth_jwks_file == NULL) {
		jwks_free(&A.jwks);
		return;
	}
	if (oauth_jwks_load(A.cfg->oauth_jwks_file, &keys, &err) < 0) {
		log_error("auth oauth key set not loaded%s: %s",
		    A.jwks != NULL ? " (the previous one stays)" : "", err);
		free(err);
		return;
	}
	jwks_free(&A.jwks);
	A.jwks = keys;
	log_debug("auth oauth keys=%zu", jwks_count(A.jwks));
}

static void
sighup_cb(evutil_socket_t sig, short what, void *ctx)
{
	struct config *n;
	char *err;

	if (config_load(A.cfgpath, &n, &err) < 0) {
		log_error("auth reload failed: %s", err);
		free(err);
		return;
	}
	config_free(&A.cfg);
	A.cfg = n;
	oauth_reload();
}

static void
sigterm_cb(evutil_socket_t sig, short what, void *ctx)
{
	exit(0);
}

int
auth_main(int argc, char **argv)
{
	struct event *hup, *term;

	A.cfg = role_start("auth", argc, argv, NULL);
	A.cfgpath = xstrdup(A.cfg->path);	/* re-read on SIGHUP (A.cfg is replaced) */
	priv_no_dump();
	A.base = event_base_new();
	oauth_reload();
	pam_pool_start(A.base, A.cfg);	/* forks the PAM workers before any request */
	A.master = ipc_peer_create(A.base, AUTH_IPC_FD, master_msg_cb, master_error_cb, NULL);
	hup = evsignal_new(A.base, SIGHUP, sighup_cb, NULL);
	term = evsignal_new(A.base, SIGTERM, sigterm_cb, NULL);
	event_add(hup, NULL);
	event_add(term, NULL);
	event_base_dispatch(A.base);
	return 0;
}
