/*
 * master_login.c — logins as the master sees them: a login process's credentials go to
 * auth; auth alone decides who the user is; after a yes the user's mail process is
 * found or started, the login process hands the connection over, and it goes on to the
 * mail process. Also the mail processes' idle exit. Runs in the master (root).
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
#include "proto/sasl.h"
#include "proto/scram.h"

static const char *
proto_name(uint32_t proto)
{
	return proto == IPC_PROTO_POP3 ? "pop3" : proto == IPC_PROTO_MANAGESIEVE ?
	    "managesieve" : proto == IPC_PROTO_JMAP ? "jmap" : "imap";
}

void
pending_free(struct pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->tag);
	free(p->ip);
	free(p->mech);
	free(p->user);
	free(p->name);
	free(p->home);
	free(p->root);
	free(p->quota);
	free(p->address);
	free(p->folder);
	free(p->prefix);
	free(p->msg);
	free(p);
}

static void
login_reply(struct pending *p, uint32_t status)
{
	struct ipc_login_result r;
	struct ipc_msg m;
	struct mconn *mc;

	if (p->from == NULL)
		return;
	if ((mc = mconn_find(p->from_req)) != NULL && mc->login == p->from)
		mc->authing = false;
	r.id = p->from_req;
	r.status = status;
	r.extra.p = p->server_sig;
	r.extra.len = status == IPC_AUTH_OK ? p->server_sig_len : 0;
	if (ipc_encode(&m, IPC_LOGIN_RESULT, &r) == 0)
		(void)child_send(p->from, &m, -1);
}

/*
 * Answer an auth_listen request (PK_VERIFY) or a socketmap lookup (PK_LOOKUP): the
 * status and, after OK, the name auth gave, the only identity the client learns.
 * Nothing else happens: no mail process, no hand-over, the connection stays with the
 * login process.
 */
static void
verify_reply(struct pending *p, uint32_t status, const char *name, const unsigned char *sig,
    size_t sig_len)
{
	struct ipc_login_verified r;
	struct ipc_msg m;
	struct mconn *mc;
	char safe[128];

	if (status != IPC_AUTH_OK)
		status = status == IPC_AUTH_FAIL ? IPC_AUTH_FAIL : IPC_AUTH_TEMPFAIL;
	if (p->kind == PK_LOOKUP)
		;	/* a recipient check: Postfix logs the outcome */
	else if (status == IPC_AUTH_OK)
		log_info("auth-socket login user=%s method=%s ip=%s tls=%s", name, p->mech,
		    p->ip, (p->flags & IPC_CONN_TLS) ? "yes" : "no");
	else
		log_info("auth-socket login failed user=\"%s\" method=%s ip=%s tls=%s reason=%s",
		    p->user != NULL ? log_sanitize(p->user, strlen(p->user), safe, sizeof(safe)) :
		    "<invalid>", p->mech, p->ip, (p->flags & IPC_CONN_TLS) ? "yes" : "no",
		    status == IPC_AUTH_FAIL ? "password" : "tempfail");
	if (p->from == NULL)
		return;
	if ((mc = mconn_find(p->from_req)) == NULL || mc->login != p->from ||
	    !(p->kind == PK_LOOKUP ? mc->socketmap : mc->authsock))
		return;		/* the connection closed meanwhile */
	if (mc->verifying > 0)
		mc->verifying--;
	r.id = p->from_req;
	r.req = p->verify_req;
	r.status = status;
	r.user = status == IPC_AUTH_OK ? name : "";
	/* SCRAM: the ServerSignature, which the client checks (RFC 5802 §5) */
	r.extra.p = sig;
	r.extra.len = status == IPC_AUTH_OK ? sig_len : 0;
	if (ipc_encode(&m, IPC_LOGIN_VERIFIED, &r) == 0)
		(void)child_send(p->from, &m, -1);
}

/* Send the password check ar of p to auth, p then waits in M.pending; false when it
 * could not be sent (the caller answers and frees p). The encoded copy, which holds the
 * password, is wiped either way. */
static bool
auth_request_send(struct pending *p, const struct ipc_auth_request *ar)
{
	struct ipc_msg *out = xmalloc(sizeof(*out));
	bool sent = M.auth != NULL && ipc_encode(out, IPC_AUTH_REQUEST, ar) == 0 &&
	    child_send(M.auth, out, -1) == 0;

	secret_wipe(out, sizeof(*out));
	free(out);
	if (sent) {
		p->next = M.pending;
		M.pending = p;
	}
	return sent;
}

static void
mail_idle_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct child *ch = ctx;
	struct ipc_msg m;

	ch->closing = true;
	if (ipc_encode(&m, IPC_MAIL_SHUTDOWN, NULL) == 0)
		(void)child_send(ch, &m, -1);
}

struct child *
mail_child_get(const char *user, uid_t uid, gid_t gid, const char *home, const char *root,
    const char *quota)
{
	struct ipc_mail_user mu;
	struct child *ch;
	struct ipc_msg m;

	for (ch = M.children; ch != NULL; ch = ch->next)
		if (ch->role == ROLE_MAIL && !ch->closing && ch->uid == uid &&
		    strcmp(ch->user, user) == 0)
			return ch;
	ch = child_spawn(ROLE_MAIL, "mail", NULL, 0, NULL, NULL);
	if (ch == NULL)
		return NULL;
	ch->user = xstrdup(user);
	ch->uid = uid;
	ch->empty = true;	/* no client yet: idle once nothing is on its way */
	mu.name = user;
	mu.uid = (uint32_t)uid;
	mu.gid = (uint32_t)gid;
	mu.home = home;
	mu.root = root;
	mu.quota = quota;
	if (ipc_encode(&m, IPC_MAIL_USER, &mu) < 0 || child_send(ch, &m, -1) < 0) {
		ch->closing = true;
		return NULL;
	}
	return ch;
}

/* ------------------------------------------------------------ quota policy service */


/*
 * Answer a quota_policy_listen request (PK_QUOTA) with an IPC_DELIVER_* status: OK
 * (room), NOUSER, OVERQUOTA or TEMPFAIL. The login process turns it into Postfix's
 * action. A connection closed meanwhile gets nothing.
 */
void
quota_reply(struct pending *p, uint32_t status)
{
	struct ipc_login_verified r;
	struct ipc_msg m;
	struct mconn *mc;

	if (p->from == NULL)
		return;
	if ((mc = mconn_find(p->from_req)) == NULL || mc->login != p->from ||
	    !mc->quotapolicy)
		return;
	if (mc->verifying > 0)
		mc->verifying--;
	r.id = p->from_req;
	r.req = p->verify_req;
	r.status = status;
	r.user = "";
	r.extra.p = NULL;
	r.extra.len = 0;
	if (ipc_encode(&m, IPC_LOGIN_VERIFIED, &r) == 0)
		(void)child_send(p->from, &m, -1);
}

/*
 * auth found the recipient (or not): the usage is the mail process's to read, as the
 * user (docs/architecture.md, "The quota policy service"): start it if none runs and
 * wait for its IPC_MAIL_QUOTA_RESULT in M.delivering, like a delivery.
 */
static void
quota_auth_reply(struct pending *p, uint32_t status, const char *name, uint32_t uid,
    uint32_t gid, const char *home, const char *root, const char *quota)
{
	struct ipc_mail_quota mq;
	struct ipc_msg m;
	struct child *mail;

	if (status != IPC_AUTH_OK) {
		quota_reply(p, status == IPC_AUTH_FAIL ? IPC_DELIVER_NOUSER : IPC_DELIVER_TEMPFAIL);
		pending_free(p);
		return;
	}
	/* no limit anywhere (no userdb fields, no defaults): no mail process to start */
	if (quota[0] == '\0' && M.cfg->quota_storage == 0 && M.cfg->quota_messages == 0) {
		quota_reply(p, IPC_DELIVER_OK);
		pending_free(p);
		return;
	}
	if (p->from == NULL || (priv_is_root() && (uid == 0 || gid == 0)) || root[0] != '/' ||
	    (mail = mail_child_get(name, uid, gid, home, root, quota)) == NULL) {
		quota_reply(p, IPC_DELIVER_TEMPFAIL);
		pending_free(p);
		return;
	}
	mq.id = p->id;
	mq.size_hi = (uint32_t)(p->size >> 32);
	mq.size_lo = (uint32_t)p->size;
	if (ipc_encode(&m, IPC_MAIL_QUOTA, &mq) < 0 || child_send(mail, &m, -1) < 0) {
		quota_reply(p, IPC_DELIVER_TEMPFAIL);
		pending_free(p);
		return;
	}
	if (mail->idle_timer != NULL)
		evtimer_del(mail->idle_timer);
	p->mail = mail;
	p->next = M.delivering;
	M.delivering = p;
}

/*
 * Ask auth whether address is a user's, for a login process's recipient question (kind
 * PK_QUOTA or PK_LOOKUP, on connection mc, its request req): IPC_AUTH_LOOKUP, as for an
 * LMTP RCPT; no password, no penalty. The answer arrives as for any pending request; when
 * it cannot be asked, the login process is told to try later at once.
 */
static void
lookup_start(struct child *login, struct mconn *mc, enum pending_kind kind, uint32_t conn_id,
    uint32_t req, const char *address, uint64_t size)
{
	struct ipc_auth_lookup al;
	struct ipc_msg out;
	struct pending *p = xcalloc(1, sizeof(*p));

	p->fd = -1;
	p->from = login;
	p->kind = kind;
	p->from_req = conn_id;
	p->verify_req = req;
	p->size = size;
	p->address = xstrdup(address);
	mc->verifying++;
	p->id = ++M.next_id;
	al.id = p->id;
	al.address = p->address;
	if (M.auth == NULL || ipc_encode(&out, IPC_AUTH_LOOKUP, &al) < 0 ||
	    child_send(M.auth, &out, -1) < 0) {
		if (kind == PK_QUOTA)
			quota_reply(p, IPC_DELIVER_TEMPFAIL);
		else
			verify_reply(p, IPC_AUTH_TEMPFAIL, "", NULL, 0);
		pending_free(p);
		return;
	}
	p->next = M.pending;
	M.pending = p;
}

/*
 * IPC_LOGIN_QUOTA: Postfix's check_policy_service asks whether a recipient has room for
 * a message of this size. auth looks the address up as for an LMTP RCPT; no password,
 * no penalty.
 */
void
handle_login_quota(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_quota lq;
	struct mconn *mc;

	if (ipc_decode(m, IPC_LOGIN_QUOTA, &lq) < 0 || (mc = mconn_find(lq.id)) == NULL ||
	    mc->login != login || !mc->quotapolicy || mc->verifying >= IPC_VERIFY_MAX) {
		log_error("malformed quota request from login pid=%d: killing it",
		    (int)login->pid);
		child_kill(login);
		return;
	}
	lookup_start(login, mc, PK_QUOTA, lq.id, lq.req, lq.address,
	    ((uint64_t)lq.size_hi << 32) | lq.size_lo);
}

/* The mail process's answer to an IPC_MAIL_QUOTA. */
void
handle_mail_quota_result(struct child *ch, struct ipc_msg *m)
{
	struct pending **pp, *p;
	struct ipc_result r;

	if (ipc_decode(m, IPC_MAIL_QUOTA_RESULT, &r) < 0 || (r.status != IPC_DELIVER_OK &&
	    r.status != IPC_DELIVER_OVERQUOTA && r.status != IPC_DELIVER_TEMPFAIL)) {
		log_error("malformed quota result from mail pid=%d: killing it", (int)ch->pid);
		child_kill(ch);
		return;
	}
	for (pp = &M.delivering; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == r.id && (*pp)->mail == ch && (*pp)->kind == PK_QUOTA)
			break;
	if ((p = *pp) == NULL)
		return;
	*pp = p->next;
	quota_reply(p, r.status);
	pending_free(p);
	mail_maybe_idle(ch);
}

void
handle_auth_reply(struct child *auth, struct ipc_msg *m)
{
	struct ipc_auth_reply a;
	uint32_t status, uid, gid;
	const char *name, *home, *root, *quota;
	struct pending **pp, *p;
	struct child *mail;
	struct mconn *mc;
	bool banned;

	if (ipc_decode(m, IPC_AUTH_REPLY, &a) < 0 || a.status > IPC_AUTH_BANNED) {
		log_error("malformed reply from auth pid=%d: killing it", (int)auth->pid);
		child_kill(auth);
		return;
	}
	/* a ban is a failure for everyone but the metrics */
	banned = a.status == IPC_AUTH_BANNED;
	status = banned ? IPC_AUTH_FAIL : a.status;
	uid = a.uid;
	gid = a.gid;
	name = a.name;
	home = a.home;
	root = a.root;
	quota = a.quota;
	for (pp = &M.pending; *pp != NULL && (*pp)->id != a.id; pp = &(*pp)->next)
		;
	if ((p = *pp) == NULL)
		return;
	if (p->kind == PK_SCRAM) {
		log_error("auth pid=%d answered a SCRAM request wrongly: killing it",
		    (int)auth->pid);
		child_kill(auth);
		return;
	}
	*pp = p->next;
	if (p->kind == PK_VERIFY || p->kind == PK_LOOKUP) {
		verify_reply(p, status, name, a.extra.p, a.extra.len);
		pending_free(p);
		return;
	}
	if (p->kind == PK_QUOTA) {
		quota_auth_reply(p, status, name, uid, gid, home, root, quota);
		return;
	}
	if (p->kind == PK_ADMIN) {
		control_auth_reply(p, status, name, uid, gid, home, root, quota);
		return;
	}
	if (p->kind != PK_LOGIN) {
		delivery_auth_reply(p, status, name, uid, gid, home, root, quota);
		return;
	}
	if (status != IPC_AUTH_OK) {
		char safe[128];

		log_info("%s login failed user=\"%s\" method=%s ip=%s tls=%s reason=%s",
		    proto_name(p->proto), log_sanitize(p->user, strlen(p->user), safe, sizeof(safe)),
		    p->mech, p->ip,
		    (p->flags & IPC_CONN_TLS) ? "yes" : "no",
		    banned ? "banned" : status == IPC_AUTH_FAIL ? "password" : "tempfail");
		master_metrics_login(p->proto, p->mech, banned ? METRICS_LOGIN_BANNED :
		    status == IPC_AUTH_FAIL ? METRICS_LOGIN_FAILED : METRICS_LOGIN_TEMPFAIL);
		login_reply(p, status == IPC_AUTH_FAIL ? IPC_AUTH_FAIL : IPC_AUTH_TEMPFAIL);
		pending_free(p);
		return;
	}
	mc = mconn_find(p->from_req);
	if (p->from == NULL || mc == NULL || mc->login != p->from) {
		pending_free(p);	/* the client is gone */
		return;
	}
	if ((priv_is_root() && (uid == 0 || gid == 0)) ||
	    root[0] != '/' || (mail = mail_child_get(name, uid, gid, home, root, quota)) == NULL) {
		master_metrics_login(p->proto, p->mech, METRICS_LOGIN_TEMPFAIL);
		login_reply(p, IPC_AUTH_TEMPFAIL);
		pending_free(p);
		return;
	}
	if (a.extra.len > sizeof(p->server_sig)) {
		master_metrics_login(p->proto, p->mech, METRICS_LOGIN_TEMPFAIL);
		login_reply(p, IPC_AUTH_TEMPFAIL);
		pending_free(p);
		return;
	}
	if (a.extra.len > 0)
		memcpy(p->server_sig, a.extra.p, a.extra.len);
	p->server_sig_len = a.extra.len;
	mconn_prelogin_end(mc);
	/* the mail process stays up until the connection arrives (or is abandoned) */
	p->kind = PK_HANDOFF;
	p->mail = mail;
	p->name = xstrdup(name);
	p->uid = uid;
	p->gid = gid;
	p->home = xstrdup(home);
	p->root = xstrdup(root);
	p->quota = xstrdup(quota);
	mail->handoffs++;
	if (mail->idle_timer != NULL)
		evtimer_del(mail->idle_timer);
	p->next = M.handoffs;
	M.handoffs = p;
	master_metrics_login(p->proto, p->mech, METRICS_LOGIN_OK);
	login_reply(p, IPC_AUTH_OK);
}

/* Arm the idle exit of a mail process that has no clients and none on the way. */
void
mail_maybe_idle(struct child *ch)
{
	struct timeval tv = { (time_t)M.cfg->mail_idle_exit, 0 };

	if (ch->closing || !ch->empty || ch->handoffs > 0)
		return;
	if (ch->idle_timer == NULL)
		ch->idle_timer = evtimer_new(M.base, mail_idle_cb, ch);
	evtimer_add(ch->idle_timer, &tv);
}

/* Take the handoff of login's connection conn_id off the list (NULL if none). */
static struct pending *
handoff_take(struct child *login, uint32_t conn_id)
{
	for (struct pending **pp = &M.handoffs; *pp != NULL; pp = &(*pp)->next) {
		struct pending *p = *pp;

		if (p->from == login && p->from_req == conn_id) {
			*pp = p->next;
			if (p->mail != NULL)
				p->mail->handoffs--;
			return p;
		}
	}
	return NULL;
}

/* A logged-in connection will not come (its login or mail process is gone). */
void
handoff_abandon(struct pending *p)
{
	struct child *mail = p->mail;

	pending_free(p);
	if (mail != NULL)
		mail_maybe_idle(mail);
}

/* IPC_LOGIN_HANDOFF: the connection of a successful login, on to the mail process. */
void
handle_login_handoff(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_handoff h;
	struct ipc_mail_client mcl;
	struct ipc_msg *out;
	struct child *mail;
	struct pending *p;

	if (ipc_decode(m, IPC_LOGIN_HANDOFF, &h) < 0) {
		log_error("malformed handoff from login pid=%d: killing it", (int)login->pid);
		child_kill(login);
		return;
	}
	if ((p = handoff_take(login, h.id)) == NULL)
		return;		/* the login was dropped meanwhile: the client sees EOF */
	mcl.proto = p->proto;
	mcl.tag = p->tag;
	mcl.input = h.input;
	mcl.ip = p->ip;
	mcl.flags = p->flags;
	out = xmalloc(sizeof(*out));
	if (ipc_encode(out, IPC_MAIL_CLIENT, &mcl) < 0) {
		handoff_abandon(p);
		free(out);
		return;
	}
	/* The user's mail process may have died (or be dying) since auth said yes: then
	 * the connection goes to a new one instead of being dropped. */
	for (int attempt = 0; attempt < 2; attempt++) {
		mail = p->mail;
		if (mail == NULL || mail->closing || mail->peer == NULL)
			mail = mail_child_get(p->name, p->uid, p->gid, p->home, p->root, p->quota);
		if (mail == NULL)
			break;
		if (child_send(mail, out, m->fd) == 0) {
			log_info("%s login user=%s method=%s ip=%s tls=%s mail_pid=%d",
			    proto_name(p->proto), p->name, p->mech, p->ip,
			    (p->flags & IPC_CONN_TLS) ? "yes" : "no", (int)mail->pid);
			/* kept until the mail process says it has the connection */
			p->fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 3);
			if (p->fd < 0) {
				mail->sent++;
				mail->empty = false;
				pending_free(p);
				free(out);
				return;
			}
			p->msg = out;
			mail_sent(mail, p);
			return;
		}
		mail->closing = true;	/* broken: the next try starts a new one */
		p->mail = NULL;
	}
	handoff_abandon(p);
	free(out);
}

/* p (PK_SENT, with its message and a duplicate of the connection) went to mail. */
void
mail_sent(struct child *mail, struct pending *p)
{
	p->kind = PK_SENT;
	p->mail = mail;
	p->next = NULL;
	if (mail->untaken == NULL)
		mail->untaken_tail = &mail->untaken;
	*mail->untaken_tail = p;
	mail->untaken_tail = &p->next;
	mail->nuntaken++;
	mail->sent++;
	mail->empty = false;
	if (mail->nuntaken > MAIL_UNTAKEN_MAX) {
		log_error("mail pid=%d does not acknowledge its clients: killing it",
		    (int)mail->pid);
		child_kill(mail);
	}
}

/* IPC_MAIL_TAKEN: the oldest client sent to ch has arrived. */
void
handle_mail_taken(struct child *ch, struct ipc_msg *m)
{
	struct pending *p = ch->untaken;

	if (ipc_decode(m, IPC_MAIL_TAKEN, NULL) < 0 || p == NULL) {
		log_error("unexpected acknowledgement from mail pid=%d: killing it",
		    (int)ch->pid);
		child_kill(ch);
		return;
	}
	ch->untaken = p->next;
	ch->nuntaken--;
	pending_free(p);
}

/* A mail process died: the clients it never acknowledged go to a new one. */
void
mail_reroute_untaken(struct child *dead)
{
	while (dead->untaken != NULL) {
		struct pending *p = dead->untaken;
		struct child *mail;

		dead->untaken = p->next;
		dead->nuntaken--;
		mail = M.stopping ? NULL :
		    mail_child_get(p->name, p->uid, p->gid, p->home, p->root, p->quota);
		if (mail == NULL || child_send(mail, p->msg, p->fd) < 0) {
			if (mail != NULL)
				mail->closing = true;
			pending_free(p);
			continue;
		}
		log_info("%s login user=%s ip=%s moved from dead mail pid=%d to pid=%d",
		    proto_name(p->proto), p->name, p->ip, (int)dead->pid, (int)mail->pid);
		mail_sent(mail, p);
	}
}

/* Forget what a login process asked about conn_id (it closed, or was kicked). */
void
login_request_drop(struct child *login, uint32_t conn_id)
{
	struct pending *p;

	for (struct pending **pp = &M.pending; *pp != NULL;) {
		p = *pp;
		/* (an auth_listen or socketmap connection may have many in flight) */
		if ((p->kind == PK_LOGIN || p->kind == PK_VERIFY || p->kind == PK_LOOKUP ||
		    p->kind == PK_SCRAM || p->kind == PK_QUOTA) &&
		    p->from == login && p->from_req == conn_id) {
			*pp = p->next;
			pending_free(p);
			continue;
		}
		pp = &p->next;
	}
	if ((p = handoff_take(login, conn_id)) != NULL)
		handoff_abandon(p);
}

void
handle_login_auth(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_auth a;
	struct ipc_auth_request ar;
	struct pending *p;
	struct mconn *mc;
	bool valid;

	if (ipc_decode(m, IPC_LOGIN_AUTH, &a) < 0 ||
	    (a.proto != IPC_PROTO_IMAP && a.proto != IPC_PROTO_POP3 &&
	    a.proto != IPC_PROTO_MANAGESIEVE && a.proto != IPC_PROTO_JMAP) ||
	    (mc = mconn_find(a.id)) == NULL || mc->login != login || !mc->prelogin ||
	    mc->authing || mc->authsock || mc->socketmap || mc->quotapolicy) {
		log_error("malformed login request from pid=%d: killing it", (int)login->pid);
		child_kill(login);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->from = login;
	p->kind = PK_LOGIN;
	p->from_req = a.id;
	p->proto = a.proto;
	p->mech = xstrdup(a.mech);
	p->ip = xstrdup(a.ip);
	p->flags = a.flags;
	p->tag = xstrdup(a.tag);
	/* the client's choice of name, not the login process's fault: a failed login */
	/* SCRAM: pass is the proof and AuthMessage (docs/architecture.md, "SCRAM") */
	/* OAUTHBEARER, XOAUTH2: pass is a token, the name may be empty (auth takes the token's) */
	valid = (a.user.len > 0 || sasl_mech_is_oauth(a.mech)) && a.user.len <= IPC_USER_MAX &&
	    memchr(a.user.p, '\0', a.user.len) == NULL &&
	    a.pass.len <= sasl_mech_cred_max(a.mech);
	if (!valid) {
		log_info("%s login failed user=<invalid> method=%s ip=%s reason=invalid-name",
		    proto_name(p->proto), p->mech, p->ip);
		login_reply(p, IPC_AUTH_FAIL);
		pending_free(p);
		return;
	}
	mc->authing = true;
	p->user = xstrndup((const char *)a.user.p, a.user.len);
	p->id = ++M.next_id;
	ar.id = p->id;
	ar.user = p->user;
	ar.pass = a.pass;
	ar.ip = p->ip;
	ar.mech = p->mech;
	if (!auth_request_send(p, &ar)) {
		login_reply(p, IPC_AUTH_TEMPFAIL);
		pending_free(p);
	}
}

void
handle_login_closed(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_closed lc;
	struct mconn *mc;

	if (ipc_decode(m, IPC_LOGIN_CLOSED, &lc) < 0) {
		log_error("malformed message from login pid=%d: killing it", (int)login->pid);
		child_kill(login);
		return;
	}
	login_request_drop(login, lc.id);
	if ((mc = mconn_find(lc.id)) != NULL && mc->login == login)
		mconn_remove(mc);
}

/*
 * IPC_LOGIN_VERIFY: a password check from an auth_listen connection (Postfix's SMTP AUTH
 * through the Dovecot auth protocol). It goes to auth like a login, with the client
 * address the MTA named (rip), so the same passdb, failure delays and bans apply; the
 * answer is only yes or no and the user's name.
 */
void
handle_login_verify(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_verify v;
	struct ipc_auth_request ar;
	struct pending *p;
	struct mconn *mc;
	bool valid, plus = false;
	enum scram_hash h;

	/* the socket has no TLS session to bind: never a -PLUS mechanism */
	if (ipc_decode(m, IPC_LOGIN_VERIFY, &v) < 0 || (mc = mconn_find(v.id)) == NULL ||
	    mc->login != login || !mc->authsock || mc->verifying >= IPC_VERIFY_MAX ||
	    (scram_mech_parse(v.mech, strlen(v.mech), &h, &plus) == 1 && plus)) {
		log_error("malformed verify request from login pid=%d: killing it",
		    (int)login->pid);
		child_kill(login);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->from = login;
	p->kind = PK_VERIFY;
	p->from_req = v.id;
	p->verify_req = v.req;
	p->mech = xstrdup(v.mech);
	p->ip = xstrdup(v.ip);
	p->flags = v.flags;
	mc->verifying++;
	/* OAUTHBEARER, XOAUTH2: a token; the name may be empty (auth takes the token's) */
	valid = (v.user.len > 0 || sasl_mech_is_oauth(v.mech)) && v.user.len <= IPC_USER_MAX &&
	    memchr(v.user.p, '\0', v.user.len) == NULL &&
	    v.pass.len <= sasl_mech_cred_max(v.mech);
	if (!valid) {
		verify_reply(p, IPC_AUTH_FAIL, "", NULL, 0);
		pending_free(p);
		return;
	}
	p->user = xstrndup((const char *)v.user.p, v.user.len);
	p->id = ++M.next_id;
	ar.id = p->id;
	ar.user = p->user;
	ar.pass = v.pass;
	ar.ip = p->ip;
	/* a password check, whatever the client's mechanism, unless it carries a token or
	 * a SCRAM proof (pass: ClientProof + AuthMessage, docs/architecture.md "SCRAM") */
	ar.mech = sasl_mech_is_oauth(p->mech) ||
	    scram_mech_parse(p->mech, strlen(p->mech), &h, &plus) == 1 ? p->mech : "PLAIN";
	if (!auth_request_send(p, &ar)) {
		verify_reply(p, IPC_AUTH_TEMPFAIL, "", NULL, 0);
		pending_free(p);
	}
}

/*
 * IPC_LOGIN_LOOKUP: Postfix's socketmap asks whether an address is a user's (RCPT time
 * recipient check). auth looks it up as for an LMTP RCPT (as given, without the
 * +detail, the local part alone); no password, no penalty.
 */
void
handle_login_lookup(struct child *login, struct ipc_msg *m)
{
	struct ipc_login_lookup lk;
	struct mconn *mc;

	if (ipc_decode(m, IPC_LOGIN_LOOKUP, &lk) < 0 || (mc = mconn_find(lk.id)) == NULL ||
	    mc->login != login || !mc->socketmap || mc->verifying >= IPC_VERIFY_MAX) {
		log_error("malformed lookup request from login pid=%d: killing it",
		    (int)login->pid);
		child_kill(login);
		return;
	}
	lookup_start(login, mc, PK_LOOKUP, lk.id, lk.req, lk.address, 0);
}

/* Answer a login process's IPC_LOGIN_SCRAM. */
static void
scram_reply(struct pending *p, uint32_t status, const unsigned char *salt, size_t salt_len,
    uint32_t iter)
{
	struct ipc_scram_params r;
	struct ipc_msg m;
	struct mconn *mc;

	if (p->from == NULL)
		return;
	if ((mc = mconn_find(p->from_req)) == NULL || mc->login != p->from)
		return;		/* the connection closed meanwhile */
	if (!mc->authsock)
		mc->authing = false;
	else if (mc->verifying > 0)
		mc->verifying--;
	r.id = p->from_req;
	r.req = p->verify_req;
	r.status = status;
	r.salt.p = salt;
	r.salt.len = status == IPC_AUTH_OK ? salt_len : 0;
	r.iter = status == IPC_AUTH_OK ? iter : 0;
	if (ipc_encode(&m, IPC_LOGIN_SCRAM_PARAMS, &r) == 0)
		(void)child_send(p->from, &m, -1);
}

/*
 * IPC_LOGIN_SCRAM: a SCRAM exchange needs the user's salt and iteration count before
 * the client can send its proof. No password is checked here; the proof comes later as
 * an IPC_LOGIN_AUTH and is judged by auth with the failure delays and bans of any login.
 */
void
handle_login_scram(struct child *login, struct ipc_msg *m)
{
	struct ipc_scram s, as;
	struct ipc_msg out;
	struct pending *p;
	struct mconn *mc;
	enum scram_hash h;
	bool plus;

	/* an auth_listen connection: one request of many, never -PLUS (no TLS session);
	 * any other: its one login exchange before the hand-over */
	if (ipc_decode(m, IPC_LOGIN_SCRAM, &s) < 0 ||
	    scram_mech_parse(s.mech, strlen(s.mech), &h, &plus) != 1 ||
	    (mc = mconn_find(s.id)) == NULL || mc->login != login ||
	    (mc->authsock ? plus || mc->verifying >= IPC_VERIFY_MAX :
	    !mc->prelogin || mc->authing || mc->socketmap || mc->quotapolicy)) {
		log_error("malformed SCRAM request from login pid=%d: killing it",
		    (int)login->pid);
		child_kill(login);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->from = login;
	p->kind = PK_SCRAM;
	p->from_req = s.id;
	p->verify_req = s.req;
	if (mc->authsock)
		mc->verifying++;
	else
		mc->authing = true;
	if (s.user.len == 0 || s.user.len > IPC_USER_MAX ||
	    memchr(s.user.p, '\0', s.user.len) != NULL) {
		/* no such user: made-up parameters would need auth; a temporary failure
		 * cannot happen for a valid name, so this tells nothing about users */
		scram_reply(p, IPC_AUTH_FAIL, NULL, 0, 0);
		pending_free(p);
		return;
	}
	p->user = xstrndup((const char *)s.user.p, s.user.len);
	p->mech = xstrdup(s.mech);
	p->id = ++M.next_id;
	as.id = p->id;
	as.mech = p->mech;
	as.name = p->user;
	if (M.auth == NULL || ipc_encode(&out, IPC_AUTH_SCRAM, &as) < 0 ||
	    child_send(M.auth, &out, -1) < 0) {
		scram_reply(p, IPC_AUTH_TEMPFAIL, NULL, 0, 0);
		pending_free(p);
		return;
	}
	p->next = M.pending;
	M.pending = p;
}

/* IPC_AUTH_SCRAM_PARAMS: auth's salt and count, on to the login process. */
void
handle_auth_scram_params(struct child *auth, struct ipc_msg *m)
{
	struct ipc_scram_params a;
	struct pending **pp, *p;

	if (ipc_decode(m, IPC_AUTH_SCRAM_PARAMS, &a) < 0 || a.status > IPC_AUTH_LIMIT) {
		log_error("malformed reply from auth pid=%d: killing it", (int)auth->pid);
		child_kill(auth);
		return;
	}
	for (pp = &M.pending; *pp != NULL && (*pp)->id != a.id; pp = &(*pp)->next)
		;
	if ((p = *pp) == NULL || p->kind != PK_SCRAM)
		return;
	*pp = p->next;
	scram_reply(p, a.status, a.salt.p, a.salt.len, a.iter);
	pending_free(p);
}

void
handle_mail_empty(struct child *ch, struct ipc_msg *m)
{
	struct ipc_mail_empty e;

	if (ipc_decode(m, IPC_MAIL_EMPTY, &e) < 0) {
		/* a mail process runs as its user: nothing it sends may stop the master */
		log_error("malformed message from mail pid=%d: killing it", (int)ch->pid);
		child_kill(ch);
		return;
	}
	/* a client counted by us but not yet by it is on its way: not idle */
	ch->empty = e.received == ch->sent;
	mail_maybe_idle(ch);
}

void
fail_pending_auth(void)
{
	while (M.pending != NULL) {
		struct pending *p = M.pending;

		M.pending = p->next;
		if (p->kind == PK_LOGIN)
			login_reply(p, IPC_AUTH_TEMPFAIL);
		else if (p->kind == PK_SCRAM)
			scram_reply(p, IPC_AUTH_TEMPFAIL, NULL, 0, 0);
		else if (p->kind == PK_VERIFY || p->kind == PK_LOOKUP)
			verify_reply(p, IPC_AUTH_TEMPFAIL, "", NULL, 0);
		else if (p->kind == PK_QUOTA)
			quota_reply(p, IPC_DELIVER_TEMPFAIL);
		else if (p->kind == PK_ADMIN) {
			control_auth_reply(p, IPC_AUTH_TEMPFAIL, "", 0, 0, "", "", "");
			continue;
		} else
			lmtp_reply(p, p->kind == PK_RCPT ? IPC_LMTP_RCPT_RESULT :
			    IPC_LMTP_DELIVER_RESULT, IPC_DELIVER_TEMPFAIL, "");
		pending_free(p);
	}
}
