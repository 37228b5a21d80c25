/*
 * metrics.c — the slots of buzon's metrics, counting in the process that owns them,
 * and the text renderer (see metrics.h). Counting runs in the master, the login and
 * the mail processes (the latter also in the store's commit threads); rendering runs in
 * the login process on a snapshot from the master. Nothing here reads client input.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/ipc.h"
#include "lib/metrics.h"
#include "lib/util.h"

static const char *const proto_names[METRICS_PROTO_N] = { "imap", "pop3", "managesieve" };
static const char *const mech_names[METRICS_MECH_N] = { "PLAIN", "LOGIN", "SCRAM-SHA-1",
	"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "USER", "other" };
static const char *const login_names[METRICS_LOGIN_N] = { "ok", "failed", "banned",
	"tempfail" };
static const char *const delivery_names[METRICS_DELIVERY_N] = { "ok", "tempfail",
	"permfail" };
static const char *const role_names[METRICS_ROLE_N] = { "master", "auth", "login", "mail",
	"lmtp" };
/* upper bounds in µs and as the le label (canonical floats, valid in both formats) */
static const uint64_t bucket_us[METRICS_BUCKETS] = { 500, 1000, 2500, 5000, 10000, 25000,
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 };
static const char *const bucket_le[METRICS_BUCKETS] = { "0.0005", "0.001", "0.0025",
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0" };
/* the commands a client sends most; the last entry collects every other */
static const char *const imap_cmds[METRICS_IMAP_CMDS] = { "CAPABILITY", "NOOP", "LOGOUT",
	"ID", "ENABLE", "NAMESPACE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME",
	"SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "THREAD", "GETQUOTAROOT",
	"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "SORT", "FETCH", "STORE", "COPY",
	"MOVE", "UID FETCH", "UID STORE", "UID SEARCH", "UID COPY", "UID MOVE", "other" };

/* this process's values: counters since the last report, gauges as they are */
static uint64_t local[METRICS_SLOTS];
static uint64_t last_gauge[METRICS_SLOTS];

enum metrics_owner
metrics_slot_owner(unsigned slot)
{
	if (slot < MS_CONN_AUTH)
		return METRICS_OWNER_LOGIN;
	if (slot < MS_LOGINS)
		return METRICS_OWNER_MAIL;
	if (slot < MS_INDEX_HITS)
		return METRICS_OWNER_MASTER;
	if (slot < MS_PROCESSES)
		return METRICS_OWNER_MAIL;
	return METRICS_OWNER_MASTER;
}

bool
metrics_slot_is_gauge(unsigned slot)
{
	return slot < MS_LOGINS || (slot >= MS_PROCESSES && slot < METRICS_SLOTS);
}

void
metrics_add(unsigned slot, uint64_t n)
{
	if (slot < METRICS_SLOTS)
		__atomic_fetch_add(&local[slot], n, __ATOMIC_RELAXED);
}

void
metrics_gauge_set(unsigned slot, uint64_t v)
{
	if (slot < METRICS_SLOTS)
		__atomic_store_n(&local[slot], v, __ATOMIC_RELAXED);
}

void
metrics_observe(unsigned slot, uint64_t us)
{
	for (unsigned i = 0; i < METRICS_BUCKETS; i++) {
		if (us <= bucket_us[i]) {
			metrics_add(slot + i, 1);
			break;
		}
	}
	metrics_add(slot + METRICS_BUCKETS, 1);
	metrics_add(slot + METRICS_BUCKETS + 1, us);
}

unsigned
metrics_imap_cmd_index(const char *name)
{
	for (unsigned i = 0; i + 1 < METRICS_IMAP_CMDS; i++)
		if (strcmp(name, imap_cmds[i]) == 0)
			return i;
	return METRICS_IMAP_CMDS - 1;
}

void
metrics_imap_command(const char *name, uint64_t us)
{
	/* IDLE lasts as long as the client wants: not a latency */
	if (strcmp(name, "IDLE") == 0)
		return;
	metrics_observe(MS_IMAP_CMD + metrics_imap_cmd_index(name) * METRICS_HIST_SLOTS, us);
}

enum metrics_mech
metrics_mech_from_name(const char *mech)
{
	for (unsigned i = 0; i < METRICS_MECH_OTHER; i++)
		if (str_ieq(mech, mech_names[i]))
			return (enum metrics_mech)i;
	return METRICS_MECH_OTHER;
}

bool
metrics_take(uint64_t out[METRICS_SLOTS])
{
	bool changed = false;

	for (unsigned i = 0; i < METRICS_SLOTS; i++) {
		if (metrics_slot_is_gauge(i)) {
			out[i] = __atomic_load_n(&local[i], __ATOMIC_RELAXED);
			if (out[i] != last_gauge[i])
				changed = true;
			last_gauge[i] = out[i];
		} else {
			out[i] = __atomic_exchange_n(&local[i], 0, __ATOMIC_RELAXED);
			if (out[i] != 0)
				changed = true;
		}
	}
	return changed;
}

/* ------------------------------------------------------------------ rendering */

struct render {
	struct buf *out;
	bool om;		/* OpenMetrics */
	int err;
};

static void PRINTF(2, 3)
put(struct render *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err != 0)
		return;
	va_start(ap, fmt);
	if (buf_vappendf(r->out, fmt, ap) < 0)
		r->err = -1;
	va_end(ap);
}

/*
 * HELP and TYPE of a family. OpenMetrics names a counter family without "_total"
 * (its samples keep it); Prometheus 0.0.4 names it with.
 */
static void
family(struct render *r, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);

	if (r->om && strcmp(type, "counter") == 0 && n > 6 && strcmp(name + n - 6, "_total") == 0)
		n -= 6;
	put(r, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n, name, type);
}

/* A label value: backslash, double quote and line feed escaped (both formats). */
static void
label_value(struct render *r, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			put(r, "\\\\");
		else if (*v == '"')
			put(r, "\\\"");
		else if (*v == '\n')
			put(r, "\\n");
		else
			put(r, "%c", *v);
	}
}

/* One histogram's samples; labels: "name=\"v\"," or "". */
static void
histogram(struct render *r, const char *name, const char *labels, const uint64_t *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i < METRICS_BUCKETS; i++) {
		cum += h[i];
		put(r, "%s_bucket{%sle=\"%s\"} %" PRIu64 "\n", name, labels, bucket_le[i], cum);
	}
	put(r, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, h[METRICS_BUCKETS]);
	/* the labels without their trailing comma, for _count and _sum */
	if (labels[0] != '\0') {
		int ln = (int)strlen(labels) - 1;

		put(r, "%s_count{%.*s} %" PRIu64 "\n", name, ln, labels, h[METRICS_BUCKETS]);
		put(r, "%s_sum{%.*s} %" PRIu64 ".%06" PRIu64 "\n", name, ln, labels,
		    h[METRICS_BUCKETS + 1] / 1000000, h[METRICS_BUCKETS + 1] % 1000000);
	} else {
		put(r, "%s_count %" PRIu64 "\n", name, h[METRICS_BUCKETS]);
		put(r, "%s_sum %" PRIu64 ".%06" PRIu64 "\n", name,
		    h[METRICS_BUCKETS + 1] / 1000000, h[METRICS_BUCKETS + 1] % 1000000);
	}
}

int
metrics_render(struct buf *out, const uint64_t *s, const struct metrics_extra *x,
    bool openmetrics)
{
	struct render r = { out, openmetrics, 0 };

	family(&r, "buzon_build_info", "gauge", "Build information (always 1).");
	put(&r, "buzon_build_info{version=\"");
	label_value(&r, x->version != NULL ? x->version : "");
	put(&r, "\"} 1\n");

	family(&r, "buzon_processes", "gauge", "Running processes by role.");
	for (unsigned i = 0; i < METRICS_ROLE_N; i++)
		put(&r, "buzon_processes{role=\"%s\"} %" PRIu64 "\n", role_names[i],
		    s[MS_PROCESSES + i]);

	family(&r, "buzon_connections", "gauge",
	    "Client connections by protocol and state (pre-login: in a login process; "
	    "authenticated: in a mail process).");
	for (unsigned p = 0; p < METRICS_PROTO_N; p++) {
		put(&r, "buzon_connections{protocol=\"%s\",state=\"pre-login\"} %" PRIu64 "\n",
		    proto_names[p], s[MS_CONN_PRELOGIN + p]);
		put(&r, "buzon_connections{protocol=\"%s\",state=\"authenticated\"} %" PRIu64
		    "\n", proto_names[p], s[MS_CONN_AUTH + p]);
	}

	family(&r, "buzon_logins_total", "counter",
	    "Login attempts by protocol, SASL mechanism and result.");
	for (unsigned p = 0; p < METRICS_PROTO_N; p++)
		for (unsigned m = 0; m < METRICS_MECH_N; m++)
			for (unsigned k = 0; k < METRICS_LOGIN_N; k++)
				put(&r, "buzon_logins_total{protocol=\"%s\",mechanism=\"%s\","
				    "result=\"%s\"} %" PRIu64 "\n", proto_names[p], mech_names[m],
				    login_names[k], s[MS_LOGINS + (p * METRICS_MECH_N + m) *
				    METRICS_LOGIN_N + k]);

	family(&r, "buzon_deliveries_total", "counter",
	    "LMTP deliveries by result (one per recipient).");
	for (unsigned k = 0; k < METRICS_DELIVERY_N; k++)
		put(&r, "buzon_deliveries_total{transport=\"lmtp\",result=\"%s\"} %" PRIu64 "\n",
		    delivery_names[k], s[MS_DELIVERIES + k]);

	family(&r, "buzon_index_hits_total", "counter",
	    "Folders opened from a trusted index snapshot.");
	put(&r, "buzon_index_hits_total %" PRIu64 "\n", s[MS_INDEX_HITS]);
	family(&r, "buzon_index_rebuilds_total", "counter",
	    "Folders rescanned from the Maildir: snapshot stale or invalid.");
	put(&r, "buzon_index_rebuilds_total{reason=\"stale\"} %" PRIu64 "\n", s[MS_INDEX_STALE]);
	put(&r, "buzon_index_rebuilds_total{reason=\"invalid\"} %" PRIu64 "\n",
	    s[MS_INDEX_INVALID]);

	family(&r, "buzon_fsync_duration_seconds", "histogram",
	    "fsync(2) calls of the store's commit threads.");
	histogram(&r, "buzon_fsync_duration_seconds", "", s + MS_FSYNC);

	family(&r, "buzon_imap_command_duration_seconds", "histogram",
	    "IMAP commands from their start to the tagged reply, by command.");
	for (unsigned i = 0; i < METRICS_IMAP_CMDS; i++) {
		const uint64_t *h = s + MS_IMAP_CMD + i * METRICS_HIST_SLOTS;
		char labels[64];

		if (h[METRICS_BUCKETS] == 0)
			continue;	/* a command never seen: no series */
		snprintf(labels, sizeof(labels), "command=\"%s\",", imap_cmds[i]);
		histogram(&r, "buzon_imap_command_duration_seconds", labels, h);
	}

	family(&r, "buzon_tls_certificate_not_after_seconds", "gauge",
	    "notAfter of each configured certificate, in seconds since the epoch.");
	for (unsigned i = 0; i < x->ncerts && i < METRICS_CERTS_MAX; i++) {
		put(&r, "buzon_tls_certificate_not_after_seconds{cert=\"");
		label_value(&r, x->cert_path[i]);
		put(&r, "\"} %" PRId64 "\n", x->cert_not_after[i]);
	}
	if (openmetrics)
		put(&r, "# EOF\n");
	return r.err;
}
_Static_assert(METRICS_BLOCK_BYTES <= IPC_METRICS_MAX, "a metrics block must fit its IPC field");
