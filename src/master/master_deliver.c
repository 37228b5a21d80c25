/*
 * master_deliver.c — LMTP as the master sees it: recipients are looked up by auth, and
 * each message goes to the recipient's mail process (started if none runs) with its
 * descriptor; results go back to the lmtp process. Runs in the master (root).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/priv.h"
#include "lib/tls.h"
#include "master/master.h"
#include "master/master_private.h"

/*
 * Recipients auth confirmed at RCPT TO, kept for the DELIVER of the same transaction so
 * that each recipient costs one auth lookup, not two (docs/architecture.md, "A delivery,
 * step by step"). Direct-mapped by a hash of the address as the lmtp process sent it:
 * a colliding address replaces the entry. Entries expire after RCPT_CACHE_TTL seconds
 * and the whole cache is dropped at a reload, so a removed user stops receiving mail
 * within that time even for transactions already past RCPT. Bounded: RCPT_CACHE_SIZE
 * entries of at most a few short strings each.
 */
#define RCPT_CACHE_SIZE	1024		/* power of two */
#define RCPT_CACHE_TTL	30		/* seconds */

struct rcpt_entry {
	char *address;			/* NULL: empty slot */
	char *name, *home, *root, *quota;
	uid_t uid;
	gid_t gid;
	time_t expires;			/* CLOCK_MONOTONIC seconds */
};

static struct rcpt_entry rcpt_cache[RCPT_CACHE_SIZE];

static time_t
mono_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct rcpt_entry *
rcpt_slot(const char *address)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (const unsigned char *q = (const unsigned char *)address; *q != '\0'; q++)
		h = (h ^ *q) * 16777619u;
	return &rcpt_cache[h & (RCPT_CACHE_SIZE - 1)];
}

static void
rcpt_entry_clear(struct rcpt_entry *e)
{
	free(e->address);
	free(e->name);
	free(e->home);
	free(e->root);
	free(e->quota);
	memset(e, 0, sizeof(*e));
}

void
rcpt_cache_clear(void)
{
	for (size_t i = 0; i < RCPT_CACHE_SIZE; i++)
		rcpt_entry_clear(&rcpt_cache[i]);
}

static void
rcpt_cache_put(const char *address, const char *name, uid_t uid, gid_t gid,
    const char *home, const char *root, const char *quota)
{
	struct rcpt_entry *e = rcpt_slot(address);

	rcpt_entry_clear(e);
	e->address = xstrdup(address);
	e->name = xstrdup(name);
	e->home = xstrdup(home);
	e->root = xstrdup(root);
	e->quota = xstrdup(quota);
	e->uid = uid;
	e->gid = gid;
	e->expires = mono_now() + RCPT_CACHE_TTL;
}

static const struct rcpt_entry *
rcpt_cache_get(const char *address)
{
	struct rcpt_entry *e = rcpt_slot(address);

	if (e->address == NULL || strcmp(e->address, address) != 0)
		return NULL;
	if (mono_now() >= e->expires) {
		rcpt_entry_clear(e);
		return NULL;
	}
	return e;
}

void
lmtp_reply(struct pending *p, uint32_t type, uint32_t status, const char *user)
{
	struct ipc_lmtp_rcpt_result rr;
	struct ipc_result dr;
	struct ipc_msg m;
	int r;

	if (type == IPC_LMTP_DELIVER_RESULT)
		master_metrics_delivery(status);
	if (p->from == NULL)
		return;
	if (type == IPC_LMTP_RCPT_RESULT) {
		rr.id = p->from_req;
		rr.status = status;
		rr.user = user != NULL ? user : "";
		r = ipc_encode(&m, type, &rr);
	} else {
		dr.id = p->from_req;
		dr.status = status;
		r = ipc_encode(&m, type, &dr);
	}
	if (r == 0)
		(void)child_send(p->from, &m, -1);
}

/* A recipient lookup finished (PK_RCPT) or a message can go to its mail process. */
void
delivery_auth_reply(struct pending *p, uint32_t status, const char *name, uint32_t uid,
    uint32_t gid, const char *home, const char *root, const char *quota)
{
	uint32_t dstatus = status == IPC_AUTH_OK ? IPC_DELIVER_OK :
	    status == IPC_AUTH_FAIL ? IPC_DELIVER_NOUSER : IPC_DELIVER_TEMPFAIL;
	struct ipc_mail_deliver md;
	struct ipc_msg *out;
	struct child *mail;

	if (p->kind == PK_RCPT && dstatus == IPC_DELIVER_OK)
		rcpt_cache_put(p->address, name, uid, gid, home, root, quota);
	if (p->kind == PK_RCPT || dstatus != IPC_DELIVER_OK) {
		lmtp_reply(p, p->kind == PK_RCPT ? IPC_LMTP_RCPT_RESULT : IPC_LMTP_DELIVER_RESULT,
		    dstatus, dstatus == IPC_DELIVER_OK ? name : "");
		pending_free(p);
		return;
	}
	if ((priv_is_root() && (uid == 0 || gid == 0)) || root[0] != '/' ||
	    (mail = mail_child_get(name, uid, gid, home, root, quota)) == NULL) {
		lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, NULL);
		pending_free(p);
		return;
	}
	out = xmalloc(sizeof(*out));
	md.id = p->id;
	md.folder = p->folder;
	md.prefix.p = p->prefix;
	md.prefix.len = p->prefix_len;
	if (ipc_encode(out, IPC_MAIL_DELIVER, &md) < 0 || child_send(mail, out, p->fd) < 0) {
		lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, NULL);
		pending_free(p);
		free(out);
		return;
	}
	free(out);
	close(p->fd);
	p->fd = -1;
	mail->sent++;
	mail->empty = false;
	if (mail->idle_timer != NULL)
		evtimer_del(mail->idle_timer);
	p->mail = mail;
	p->next = M.delivering;
	M.delivering = p;
}

/* A Sieve reject (IPC_MAIL_REJECTED): the lmtp process answers 550 5.7.1 REASON. */
void
handle_mail_rejected(struct child *ch, struct ipc_msg *m)
{
	struct pending **pp, *p;
	struct ipc_rejected r;
	struct ipc_msg out;

	if (ipc_decode(m, IPC_MAIL_REJECTED, &r) < 0) {
		log_error("malformed delivery result from pid=%d: killing it", (int)ch->pid);
		child_kill(ch);
		return;
	}
	for (pp = &M.delivering; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == r.id && (*pp)->mail == ch)
			break;
	if ((p = *pp) == NULL || p->kind == PK_QUOTA)
		return;
	*pp = p->next;
	r.id = p->from_req;
	if (p->from != NULL && ipc_encode(&out, IPC_LMTP_REJECTED, &r) == 0)
		(void)child_send(p->from, &out, -1);
	pending_free(p);
}

void
handle_mail_delivered(struct child *ch, struct ipc_msg *m)
{
	struct pending **pp, *p;
	struct ipc_result r;

	if (ipc_decode(m, IPC_MAIL_DELIVERED, &r) < 0 || r.status > IPC_DELIVER_TOOBIG) {
		log_error("malformed delivery result from pid=%d: killing it", (int)ch->pid);
		child_kill(ch);
		return;
	}
	for (pp = &M.delivering; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == r.id && (*pp)->mail == ch)
			break;
	if ((p = *pp) == NULL || p->kind == PK_QUOTA)
		return;
	*pp = p->next;
	lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, r.status, NULL);
	pending_free(p);
}

/* A mail process is gone: its unanswered deliveries are temporary failures. */
void
fail_deliveries_of(struct child *mail)
{
	struct pending **pp = &M.handoffs;

	/* logins on their way to it: a new mail process takes the connection when it
	 * comes (handle_login_handoff) */
	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->mail == mail)
			(*pp)->mail = NULL;
	pp = &M.delivering;

	while (*pp != NULL) {
		struct pending *p = *pp;

		if (p->mail == mail) {
			*pp = p->next;
			if (p->kind == PK_QUOTA)
				quota_reply(p, IPC_DELIVER_TEMPFAIL);
			else
				lmtp_reply(p, IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, NULL);
			pending_free(p);
		} else {
			pp = &p->next;
		}
	}
}

static int
auth_lookup(struct pending *p)
{
	struct ipc_msg m;

	if (M.auth == NULL)
		return -1;
	struct ipc_auth_lookup l = { p->id, p->address };

	if (ipc_encode(&m, IPC_AUTH_LOOKUP, &l) < 0)
		return -1;
	return child_send(M.auth, &m, -1);
}

void
handle_lmtp(struct child *lmtp, struct ipc_msg *m)
{
	struct pending *p;
	struct ipc_lmtp_rcpt rc;
	struct ipc_lmtp_deliver d;
	int r;

	r = m->type == IPC_LMTP_RCPT ? ipc_decode(m, IPC_LMTP_RCPT, &rc) :
	    ipc_decode(m, IPC_LMTP_DELIVER, &d);
	if (r < 0) {
		log_error("malformed lmtp request from pid=%d: killing it", (int)lmtp->pid);
		child_kill(lmtp);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = m->fd;
	m->fd = -1;
	p->from = lmtp;
	if (m->type == IPC_LMTP_RCPT) {
		p->kind = PK_RCPT;
		p->from_req = rc.id;
		p->address = xstrdup(rc.address);
	} else {
		p->kind = PK_DELIVER;
		p->from_req = d.id;
		p->address = xstrdup(d.address);
		p->folder = xstrdup(d.folder);
		p->prefix = xmalloc(d.prefix.len == 0 ? 1 : d.prefix.len);
		memcpy(p->prefix, d.prefix.p, d.prefix.len);
		p->prefix_len = d.prefix.len;
	}
	p->id = ++M.next_id;
	if (p->kind == PK_DELIVER) {
		const struct rcpt_entry *e = rcpt_cache_get(p->address);

		if (e != NULL) {
			delivery_auth_reply(p, IPC_AUTH_OK, e->name, e->uid, e->gid, e->home,
			    e->root, e->quota);
			return;
		}
	}
	if (auth_lookup(p) < 0) {
		lmtp_reply(p, p->kind == PK_RCPT ? IPC_LMTP_RCPT_RESULT : IPC_LMTP_DELIVER_RESULT,
		    IPC_DELIVER_TEMPFAIL, "");
		pending_free(p);
		return;
	}
	p->next = M.pending;
	M.pending = p;
}
