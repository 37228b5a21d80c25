/*
 * master_metrics.c — the master's side of the metrics endpoint (docs/architecture.md,
 * "Metrics"): it adds up the counters its children report (IPC_METRICS_REPORT), keeps
 * each child's last gauges, counts what it decides itself (logins, deliveries,
 * processes), and answers a login process's IPC_LOGIN_METRICS for a metrics_listen
 * connection with one block of numbers. Runs in the master (root). It parses no HTTP
 * and renders no text: a report is a fixed-size block whose slots the sender's role
 * must own, anything else kills the sender.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "master/master_private.h"

/* the counters, added up over every report of every child that ever lived */
static uint64_t totals[METRICS_SLOTS];

/* a child's gauges: at most this each (a connection count cannot be more) */
#define GAUGE_MAX	(1ULL << 32)

void
master_metrics_login(uint32_t proto, const char *mech, enum metrics_login result)
{
	unsigned p;

	if (proto == IPC_PROTO_IMAP)
		p = METRICS_PROTO_IMAP;
	else if (proto == IPC_PROTO_POP3)
		p = METRICS_PROTO_POP3;
	else if (proto == IPC_PROTO_MANAGESIEVE)
		p = METRICS_PROTO_MANAGESIEVE;
	else
		return;
	totals[MS_LOGINS + (p * METRICS_MECH_N + metrics_mech_from_name(mech != NULL ? mech :
	    "")) * METRICS_LOGIN_N + result]++;
}

void
master_metrics_delivery(uint32_t status)
{
	if (status == IPC_DELIVER_OK)
		totals[MS_DELIVERIES + METRICS_DELIVERY_OK]++;
	else if (status == IPC_DELIVER_TEMPFAIL || status == IPC_DELIVER_NOSPACE)
		totals[MS_DELIVERIES + METRICS_DELIVERY_TEMPFAIL]++;
	else
		totals[MS_DELIVERIES + METRICS_DELIVERY_PERMFAIL]++;
}

void
master_metrics_forget(struct child *ch)
{
	free(ch->metrics);
	ch->metrics = NULL;
}

/* IPC_METRICS_REPORT from a login or mail process. */
void
handle_metrics_report(struct child *ch, struct ipc_msg *m)
{
	enum metrics_owner own = ch->role == ROLE_LOGIN ? METRICS_OWNER_LOGIN :
	    METRICS_OWNER_MAIL;
	struct ipc_metrics r;
	uint64_t v[METRICS_SLOTS];

	if (ipc_decode(m, IPC_METRICS_REPORT, &r) < 0 || r.block.len != METRICS_BLOCK_BYTES)
		goto bad;
	memcpy(v, r.block.p, sizeof(v));
	for (unsigned i = 0; i < METRICS_SLOTS; i++)
		if (v[i] != 0 && (metrics_slot_owner(i) != own ||
		    (metrics_slot_is_gauge(i) && v[i] > GAUGE_MAX)))
			goto bad;
	if (ch->metrics == NULL)
		ch->metrics = xcalloc(METRICS_SLOTS, sizeof(uint64_t));
	for (unsigned i = 0; i < METRICS_SLOTS; i++) {
		if (metrics_slot_is_gauge(i))
			ch->metrics[i] = v[i];
		else
			totals[i] += v[i];
	}
	return;
bad:
	log_error("%s pid=%d sent a malformed metrics report: killing it",
	    role_names[ch->role], (int)ch->pid);
	child_kill(ch);
}

/* IPC_LOGIN_METRICS: the totals, for a metrics_listen connection of this login process. */
void
handle_login_metrics(struct child *login, struct ipc_msg *m)
{
	struct ipc_metrics q, a;
	struct ipc_msg *out;
	struct mconn *mc;
	uint64_t *snap;

	if (ipc_decode(m, IPC_LOGIN_METRICS, &q) < 0 || (mc = mconn_find(q.id)) == NULL ||
	    mc->login != login || !mc->metrics) {
		/* a connection it does not hold, or not of metrics_listen: broken */
		log_error("login pid=%d asked for metrics wrongly: killing it", (int)login->pid);
		child_kill(login);
		return;
	}
	snap = xcalloc(METRICS_SLOTS, sizeof(uint64_t));
	memcpy(snap, totals, sizeof(totals));
	snap[MS_PROCESSES + METRICS_ROLE_MASTER] = 1;
	for (struct child *ch = M.children; ch != NULL; ch = ch->next) {
		if (ch->metrics != NULL)
			for (unsigned i = 0; i < METRICS_SLOTS; i++)
				if (metrics_slot_is_gauge(i))
					snap[i] += ch->metrics[i];
		/* by enum child_role: auth, login, mail, lmtp */
		snap[MS_PROCESSES + METRICS_ROLE_AUTH + ch->role]++;
	}
	a.id = q.id;
	a.block.p = (const unsigned char *)snap;
	a.block.len = METRICS_BLOCK_BYTES;
	out = xmalloc(sizeof(*out));
	if (ipc_encode(out, IPC_LOGIN_METRICS_SNAPSHOT, &a) == 0)
		(void)child_send(login, out, -1);
	free(out);
	free(snap);
}

_Static_assert(ROLE_AUTH == 0 && ROLE_LMTP == 3 && METRICS_ROLE_AUTH == 1 &&
    METRICS_ROLE_LMTP == 4, "child roles and metrics roles out of step");
