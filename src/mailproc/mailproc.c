/*
 * mailproc.c — process shell of the per-user mail process (see mailproc.h). It starts
 * as root (in production), learns its user from the master, drops to the user's uid/gid
 * for good and only then opens any mail, creating the mail root if it is missing: the
 * mail root usually lies in a path the user can write (~/Maildir), so root never works
 * there. If the user cannot open or create it, the process stays up and answers every
 * login and delivery with a temporary failure until the master retires it. Security
 * role: after the drop nothing here can touch another user's files; it trusts the master
 * for the identity and nothing else.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/userdb.h"
#include "imap/imap_client.h"
#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/priv.h"
#include "lib/role.h"
#include "mailproc/deliver.h"
#include "mailproc/deliver_sieve.h"
#include "mailproc/mail_user.h"
#include "mailproc/mailproc.h"
#include "managesieve/managesieve_client.h"
#include "jmap/jmap.h"
#include "pop3/pop3_client.h"
#include "store/store.h"

#define MAIL_IPC_FD 3
#define MAIL_RLIMIT_AS (1024ULL * 1024 * 1024)	/* one process serves all of a user's sessions */

static struct {
	struct event_base *base;
	struct config *cfg;
	struct mail_user *mu;
	uint32_t received;	/* clients and deliveries handed to us */
	const char *user;
	const char *home;	/* the user's home (ManageSieve: sieve_dir, sieve_script) */
	struct ipc_peer *master;
	unsigned delivering;	/* deliveries not yet durable or failed */
	struct deliver_sieve *sieve;	/* the user's compiled Sieve script, cached */
} P;

static void
empty_cb(void *ctx)
{
	struct ipc_mail_empty e = { P.received };
	struct ipc_msg m;

	if (P.delivering > 0)
		return;		/* delivery_done() calls again */

	if (P.master == NULL || ipc_encode(&m, IPC_MAIL_EMPTY, &e) < 0 ||
	    ipc_peer_send(P.master, &m, -1) < 0)
		exit(0);
}

static void
handle_client(struct ipc_msg *m)
{
	struct ipc_mail_client mc;
	const char *tag, *ip;
	const void *input;
	size_t ilen;
	uint32_t proto;
	bool secure;
	int fd;

	if (ipc_decode(m, IPC_MAIL_CLIENT, &mc) < 0)
		fatal("mail: malformed client message from the master");
	/* first of all: the master may forget its copy of the connection */
	{
		struct ipc_msg t;

		if (P.master == NULL || ipc_encode(&t, IPC_MAIL_TAKEN, NULL) < 0 ||
		    ipc_peer_send(P.master, &t, -1) < 0)
			exit(0);
	}
	fd = m->fd;
	m->fd = -1;
	proto = mc.proto;
	tag = mc.tag;
	ip = mc.ip;
	input = mc.input.p;
	ilen = mc.input.len;
	secure = (mc.flags & (IPC_CONN_TLS | IPC_CONN_LOCAL)) != 0;
	P.received++;
	log_debug("mail client ip=%s pending=%zu", ip, ilen);
	if (P.mu == NULL) {
		/* the mail store could not be opened (logged at start): try again later */
		char line[160];
		int n;

		if (proto == IPC_PROTO_JMAP)
			n = snprintf(line, sizeof(line), "HTTP/1.1 503 Service Unavailable\r\n"
			    "Content-Length: 0\r\nRetry-After: 5\r\nConnection: close\r\n\r\n");
		else if (proto == IPC_PROTO_IMAP && tag[0] != '\0')
			n = snprintf(line, sizeof(line), "%s NO [UNAVAILABLE] Temporary failure, "
			    "try again later\r\n", tag);
		else if (proto == IPC_PROTO_MANAGESIEVE)
			n = snprintf(line, sizeof(line), "NO (TRYLATER) \"Temporary failure, "
			    "try again later\"\r\n");
		else if (proto == IPC_PROTO_IMAP)
			n = snprintf(line, sizeof(line), "* BYE [UNAVAILABLE] Temporary failure, "
			    "try again later\r\n");
		else
			n = snprintf(line, sizeof(line), "-ERR [SYS/TEMP] Temporary failure, "
			    "try again later\r\n");
		log_warn("mail unavailable user=%s ip=%s", P.user, ip);
		if (n > 0)
			(void)!write(fd, line, MIN((size_t)n, sizeof(line) - 1));
		close(fd);
		empty_cb(NULL);
	} else if (P.cfg->mail_max_userip_connections > 0 &&
	    mail_user_ip_count(P.mu, ip) >= P.cfg->mail_max_userip_connections) {
		char line[256];
		int n;

		/* the session never starts: refuse it as Dovecot does, then close */
		if (proto == IPC_PROTO_JMAP)
			n = snprintf(line, sizeof(line), "HTTP/1.1 429 Too Many Requests\r\n"
			    "Content-Length: 0\r\nConnection: close\r\n\r\n");
		else if (proto == IPC_PROTO_IMAP)
			n = snprintf(line, sizeof(line), "%s NO [LIMIT] Too many connections from "
			    "this user and address.\r\n* BYE Maximum number of connections from "
			    "user+IP exceeded (mail_max_userip_connections=%u)\r\n", tag,
			    P.cfg->mail_max_userip_connections);
		else if (proto == IPC_PROTO_MANAGESIEVE)
			n = snprintf(line, sizeof(line), "NO (TRYLATER) \"Maximum number of "
			    "connections from user+IP exceeded\"\r\n");
		else
			n = snprintf(line, sizeof(line), "-ERR [IN-USE] Maximum number of "
			    "connections from user+IP exceeded\r\n");
		log_warn("mail connection limit user=%s ip=%s limit=%u", P.user, ip,
		    P.cfg->mail_max_userip_connections);
		if (n > 0)
			(void)!write(fd, line, MIN((size_t)n, sizeof(line) - 1));
		close(fd);
		if (mail_user_client_count(P.mu) == 0)
			empty_cb(NULL);
	} else if (proto == IPC_PROTO_IMAP) {
		(void)imap_client_create(P.mu, fd, tag[0] == '\0' ? NULL : tag, input, ilen, ip,
		    secure);
	} else if (proto == IPC_PROTO_POP3) {
		(void)pop3_client_create(P.base, P.mu, P.cfg, P.user, fd, input, ilen, ip,
		    secure);
	} else if (proto == IPC_PROTO_MANAGESIEVE) {
		(void)managesieve_client_create(P.base, P.mu, P.cfg, P.user, P.home, fd, input,
		    ilen, ip, secure);
	} else if (proto == IPC_PROTO_JMAP) {
		(void)jmap_client_create(P.base, P.mu, P.user, P.home, fd, input, ilen, ip,
		    (mc.flags & IPC_CONN_TLS) != 0);
	} else {
		log_error("mail: protocol %u is not served", proto);
		close(fd);
	}
}

/* Parse an IPC_MAIL_DELIVER into d (takes the fd). */
static void
parse_delivery(struct ipc_msg *m, struct delivery *d)
{
	struct ipc_mail_deliver md;

	if (ipc_decode(m, IPC_MAIL_DELIVER, &md) < 0)
		fatal("mail: malformed delivery from the master");
	memset(d, 0, sizeof(*d));
	d->fd = m->fd;
	m->fd = -1;
	d->id = md.id;
	d->folder = xstrdup(md.folder);
	d->prefix = xmalloc(md.prefix.len == 0 ? 1 : md.prefix.len);
	memcpy(d->prefix, md.prefix.p, md.prefix.len);
	d->prefix_len = md.prefix.len;
}

/* A delivery is durable or has failed: tell the master (the LMTP reply follows). */
static void
delivery_done(struct delivery *d)
{
	struct ipc_result r = { d->id, d->status };
	struct ipc_rejected rej = { d->id, NULL };
	struct ipc_msg m;
	int er;

	if (d->rejected != NULL && d->status == IPC_DELIVER_OK) {
		/* RFC 5429 §2.1.1: refused in the LMTP reply; the lmtp process makes it one
		 * line of printable text */
		if (strlen(d->rejected) > IPC_REASON_MAX)
			d->rejected[IPC_REASON_MAX] = '\0';
		rej.reason = d->rejected;
		er = ipc_encode(&m, IPC_MAIL_REJECTED, &rej);
		log_info("deliver user=%s rejected by sieve", P.user);
	} else {
		er = ipc_encode(&m, IPC_MAIL_DELIVERED, &r);
	}
	free(d->rejected);
	d->rejected = NULL;
	if (P.master == NULL || er < 0 || ipc_peer_send(P.master, &m, -1) < 0)
		exit(0);
	log_info("deliver user=%s folder=%s status=%u", P.user, d->folder[0] ? d->folder :
	    "INBOX", d->status);
	close(d->fd);
	free(d->folder);
	free(d->prefix);
	free(d);
	P.delivering--;
	if (P.delivering == 0 && (P.mu == NULL || mail_user_client_count(P.mu) == 0))
		empty_cb(NULL);
}

/*
 * IPC_MAIL_QUOTA (the quota policy service, docs/architecture.md): has the user room for
 * a message of this size? Read here, as the user, from maildirsize (recalculated if
 * needed); the same test as a delivery's: usage + size over a limit, one more message
 * over the message limit.
 */
static void
handle_quota(struct ipc_msg *m)
{
	struct ipc_mail_quota mq;
	struct ipc_result r;
	struct mstore_quota q;
	struct ipc_msg out;
	struct mstore *store;
	uint64_t size;

	if (ipc_decode(m, IPC_MAIL_QUOTA, &mq) < 0)
		fatal("mail: malformed quota request from the master");
	size = ((uint64_t)mq.size_hi << 32) | mq.size_lo;
	if (size == 0)
		size = 1;	/* no size= (no SIZE in MAIL FROM): a message is never empty */
	r.id = mq.id;
	r.status = IPC_DELIVER_OK;
	if (P.mu == NULL) {
		r.status = IPC_DELIVER_TEMPFAIL;
	} else if (mstore_quota_on(store = mail_user_store(P.mu))) {
		if (mstore_quota_get(store, &q) != STORE_OK)
			r.status = IPC_DELIVER_TEMPFAIL;
		else if ((q.storage_limit > 0 && (q.bytes > q.storage_limit ||
		    size > q.storage_limit - q.bytes)) ||
		    (q.messages_limit > 0 && q.count >= q.messages_limit))
			r.status = IPC_DELIVER_OVERQUOTA;
	}
	log_info("quota-policy user=%s size=%llu status=%s", P.user, (unsigned long long)size,
	    r.status == IPC_DELIVER_OK ? "ok" : r.status == IPC_DELIVER_OVERQUOTA ?
	    "overquota" : "tempfail");
	if (P.master == NULL || ipc_encode(&out, IPC_MAIL_QUOTA_RESULT, &r) < 0 ||
	    ipc_peer_send(P.master, &out, -1) < 0)
		exit(0);
}

/* One quota line as `buzon quota get` prints it offline (src/cli/quota.c). */
static int
quota_line(char *out, size_t size, const char *what, uint64_t used, uint64_t limit)
{
	if (limit == 0)
		return snprintf(out, size, "%-9s %llu (no limit)\n", what, (unsigned long long)used);
	return snprintf(out, size, "%-9s %llu of %llu (%llu%%)\n", what, (unsigned long long)used,
	    (unsigned long long)limit,
	    (unsigned long long)(used > UINT64_MAX / 100 ? used / (limit / 100 + 1) :
	    used * 100 / limit));
}

/*
 * IPC_ADMIN_REQUEST (the control socket, docs/architecture.md): `buzon who`, `kick`,
 * `mailbox status`, `quota get|recalc` and `index rebuild`, answered here because this
 * process owns the user's sessions and store (its state stays right: a recalculated
 * quota or a rebuilt index is the one the sessions use).
 */
static void
handle_admin(struct ipc_msg *m)
{
	struct ipc_admin_request rq;
	struct ipc_admin_reply r;
	struct ipc_msg out;
	struct mstore *store;
	enum store_status st = STORE_OK;
	char *text = xmalloc(IPC_ADMIN_TEXT_MAX);
	int n = 0;

	if (ipc_decode(m, IPC_ADMIN_REQUEST, &rq) < 0)
		fatal("mail: malformed admin request from the master");
	r.id = rq.id;
	r.status = 0;
	text[0] = '\0';
	if (P.mu == NULL) {
		if (rq.verb == IPC_ADMIN_WHO)
			n = 0;
		else if (rq.verb == IPC_ADMIN_KICK)
			n = snprintf(text, IPC_ADMIN_TEXT_MAX, "0\n");
		else {
			r.status = 1;
			n = snprintf(text, IPC_ADMIN_TEXT_MAX, "the mail store is unavailable");
		}
	} else if (rq.verb == IPC_ADMIN_WHO) {
		n = (int)mail_user_who(P.mu, text, IPC_ADMIN_TEXT_MAX);
	} else if (rq.verb == IPC_ADMIN_KICK) {
		unsigned k = mail_user_kick(P.mu, rq.arg[0] != '\0' ? rq.arg : NULL);

		log_info("kick user=%s sessions=%u", P.user, k);
		n = snprintf(text, IPC_ADMIN_TEXT_MAX, "%u\n", k);
	} else if (rq.verb == IPC_ADMIN_STATUS) {
		struct mailbox_status ms;
		const char *folder = rq.arg[0] != '\0' ? rq.arg : "INBOX";
		uint64_t size = 0;

		store = mail_user_store(P.mu);
		if ((st = mstore_status(store, folder, &ms)) == STORE_OK &&
		    (st = mstore_folder_size(store, folder, &size)) == STORE_OK)
			n = snprintf(text, IPC_ADMIN_TEXT_MAX, "user          %s\n"
			    "folder        %.*s\nmessages      %u\nrecent        %u\n"
			    "unseen        %u\nuidvalidity   %u\nuidnext       %u\n"
			    "highestmodseq %llu\nsize          %llu\n", P.user, 1024, folder,
			    ms.messages, ms.recent, ms.unseen, ms.uidvalidity, ms.uidnext,
			    (unsigned long long)ms.highestmodseq, (unsigned long long)size);
	} else if (rq.verb == IPC_ADMIN_QUOTA_GET || rq.verb == IPC_ADMIN_QUOTA_RECALC) {
		struct mstore_quota q;

		store = mail_user_store(P.mu);
		st = rq.verb == IPC_ADMIN_QUOTA_GET ? mstore_quota_get(store, &q) :
		    mstore_quota_recalc(store, &q);
		if (st == STORE_OK) {
			n = snprintf(text, IPC_ADMIN_TEXT_MAX, "user      %s\n", P.user);
			if (n > 0 && n < 512)
				n += quota_line(text + n, IPC_ADMIN_TEXT_MAX - (size_t)n, "storage",
				    q.bytes, q.storage_limit);
			if (n > 0 && n < 1024)
				n += quota_line(text + n, IPC_ADMIN_TEXT_MAX - (size_t)n, "messages",
				    q.count, q.messages_limit);
		}
	} else if (rq.verb == IPC_ADMIN_INDEX_REBUILD) {
		store = mail_user_store(P.mu);
		st = mstore_index_rebuild(store, rq.arg[0] != '\0' ? rq.arg : NULL);
		if (st == STORE_OK)
			n = snprintf(text, IPC_ADMIN_TEXT_MAX, "index of %s rebuilt (%.*s)\n",
			    P.user, 1024, rq.arg[0] != '\0' ? rq.arg : "all folders");
	} else {
		fatal("mail: unknown admin verb %u", rq.verb);
	}
	if (st != STORE_OK) {
		r.status = 1;
		/* the words `buzon` turns into exit 64 (as offline) */
		n = snprintf(text, IPC_ADMIN_TEXT_MAX, "%s", st == STORE_NONEXISTENT ||
		    st == STORE_BADNAME || st == STORE_NOSELECT ? "no such folder" :
		    store_status_str(st));
	}
	if (n < 0)
		n = 0;
	r.text.p = (const unsigned char *)text;
	r.text.len = MIN((size_t)n, (size_t)IPC_ADMIN_TEXT_MAX - 1);
	if (P.master == NULL || ipc_encode(&out, IPC_ADMIN_REPLY, &r) < 0 ||
	    ipc_peer_send(P.master, &out, -1) < 0)
		exit(0);
	free(text);
}

static void
master_msg_cb(struct ipc_peer *peer, struct ipc_msg *m, void *ctx)
{
	if (m->type == IPC_MAIL_CLIENT) {
		handle_client(m);
	} else if (m->type == IPC_MAIL_DELIVER) {
		/* saved now, made durable with whatever else arrives meanwhile (group commit) */
		struct delivery *d = xcalloc(1, sizeof(*d));

		P.received++;
		P.delivering++;
		parse_delivery(m, d);
		d->done = delivery_done;
		d->base = P.base;
		d->sieve = P.sieve;
		if (P.mu == NULL) {
			d->status = IPC_DELIVER_TEMPFAIL;
			delivery_done(d);
		} else
			deliver_start(mail_user_store(P.mu), d);
	} else if (m->type == IPC_MAIL_QUOTA) {
		handle_quota(m);
	} else if (m->type == IPC_ADMIN_REQUEST) {
		handle_admin(m);
	} else if (m->type == IPC_MAIL_SHUTDOWN) {
		if (P.mu == NULL || mail_user_client_count(P.mu) == 0)
			event_base_loopexit(P.base, NULL);
	} else {
		fatal("mail: unexpected message %u", m->type);
	}
}

static void
master_error_cb(struct ipc_peer *peer, int error, void *ctx)
{
	if (error != 0)
		log_error("mail: ipc: %s", strerror(error));
	event_base_loopexit(P.base, NULL);	/* the master is gone */
}

static void
sigterm_cb(evutil_socket_t sig, short what, void *ctx)
{
	event_base_loopexit(P.base, NULL);
}

static void
read_user(struct user_info *u)
{
	struct pollfd pfd = { MAIL_IPC_FD, POLLIN, 0 };
	struct ipc_msg *m = xmalloc(sizeof(*m));
	struct ipc_mail_user mu;
	int r;

	/* the first message, before the event loop: wait for it (the master sends it at once) */
	do {
		(void)poll(&pfd, 1, 30 * 1000);
		r = ipc_recv(MAIL_IPC_FD, m);
	} while (r < 0 && errno == EAGAIN);
	if (r <= 0 || ipc_decode(m, IPC_MAIL_USER, &mu) < 0 || mu.root[0] != '/')
		fatal("mail: expected the user from the master");
	memset(u, 0, sizeof(*u));
	u->name = xstrdup(mu.name);
	u->uid = (uid_t)mu.uid;
	u->gid = (gid_t)mu.gid;
	u->home = xstrdup(mu.home);
	u->mail_root = xstrdup(mu.root);
	/* auth wrote these from the userdb: a value that does not parse is a broken master */
	if (userdb_extra_fields(mu.quota, strlen(mu.quota), u) < 0)
		fatal("mail: bad quota fields from the master");
	free(m);
}

/*
 * Metrics (docs/architecture.md, "Metrics"): this user's sessions by protocol and what
 * was counted since the last report (IMAP command latencies, the store's fsyncs and
 * index), to the master when something changed.
 */
static void
metrics_report(void)
{
	unsigned n[MAIL_PROTO_COUNT] = { 0 };
	uint64_t block[METRICS_SLOTS];
	struct ipc_metrics r;
	struct ipc_msg *m;

	_Static_assert((int)MAIL_PROTO_IMAP == (int)METRICS_PROTO_IMAP &&
	    (int)MAIL_PROTO_POP3 == (int)METRICS_PROTO_POP3 &&
	    (int)MAIL_PROTO_MANAGESIEVE == (int)METRICS_PROTO_MANAGESIEVE,
	    "mail and metrics protocols out of step");
	for (struct mail_session *s = P.mu != NULL ? P.mu->sessions : NULL; s != NULL;
	    s = s->next)
		if ((unsigned)s->proto < METRICS_PROTO_N)
			n[s->proto]++;
	for (unsigned i = 0; i < METRICS_PROTO_N; i++)
		metrics_gauge_set(MS_CONN_AUTH + i, n[i]);
	if (!metrics_take(block) || P.master == NULL)
		return;
	r.id = 0;
	r.block.p = (const unsigned char *)block;
	r.block.len = sizeof(block);
	m = xmalloc(sizeof(*m));
	if (ipc_encode(m, IPC_METRICS_REPORT, &r) == 0)
		(void)ipc_peer_send(P.master, m, -1);
	free(m);
}

static void
metrics_report_cb(evutil_socket_t fd, short what, void *ctx)
{
	metrics_report();
}

int
mailproc_main(int argc, char **argv)
{
	struct event *term, *metrics_ev = NULL;
	struct user_info u;

	P.cfg = role_start("imap", argc, argv, NULL);
	read_user(&u);
	if (priv_is_root()) {
		if (u.uid == 0 || u.gid == 0 || u.uid < P.cfg->first_valid_uid)
			fatal("mail: refusing uid %u for user %s", (unsigned)u.uid, u.name);
		priv_drop(u.uid, u.gid, NULL);
	}
#if !defined(__SANITIZE_ADDRESS__)
	priv_limits(MAIL_RLIMIT_AS, 0);
#endif
	umask(077);
	P.base = event_base_new();
	P.user = u.name;
	P.home = u.home;
	/* as the user: a missing mail root is created here, with the user's rights only */
	P.mu = mail_user_create(P.base, P.cfg, &u);
	/* a JMAP Mailbox/set reaches IMAP NOTIFY sessions as an IMAP change would */
	mail_user_on_folder_event(MAIL_PROTO_IMAP, imap_notify_user_folder_event);
	P.sieve = deliver_sieve_create(P.cfg, u.home);
	/* reject over LMTP: a 550 reply (the default) or an MDN through sendmail_path */
	if (!P.cfg->sieve_reject_mdn)
		deliver_sieve_reject_by_exit(P.sieve);
	if (P.mu == NULL)
		log_error("mail unavailable user=%s root=%s: logins and deliveries get a "
		    "temporary failure", u.name, u.mail_root);
	else
		mail_user_set_empty_cb(P.mu, empty_cb, NULL);
	P.master = ipc_peer_create(P.base, MAIL_IPC_FD, master_msg_cb, master_error_cb, NULL);
	term = evsignal_new(P.base, SIGTERM, sigterm_cb, NULL);
	event_add(term, NULL);
	if (P.cfg->metrics_listen != NULL) {
		struct timeval tv = { 1, 0 };

		metrics_ev = event_new(P.base, -1, EV_PERSIST, metrics_report_cb, NULL);
		evtimer_add(metrics_ev, &tv);
	}
	event_base_dispatch(P.base);
	mail_user_destroy(&P.mu);	/* every session of every protocol, then the store */
	if (metrics_ev != NULL) {
		metrics_report();	/* the last second's counts */
		event_free(metrics_ev);
	}
	deliver_sieve_destroy(&P.sieve);
	/* delivery results still queued: an unsent 250 would make the MTA deliver twice */
	(void)ipc_peer_flush(P.master, 5000);
	ipc_peer_destroy(&P.master);
	event_free(term);
	event_base_free(P.base);
	userdb_info_free(&u);
	config_free(&P.cfg);
	return 0;
}
