/*
 * metrics.h — buzon's counters for the metrics endpoint (metrics_listen;
 * docs/architecture.md, "Metrics"). Every value is one slot of a fixed array of
 * uint64_t: the same layout in every process, so a child's report and the master's
 * snapshot are plain blocks of METRICS_SLOTS numbers (IPC_METRICS_REPORT,
 * IPC_LOGIN_METRICS_SNAPSHOT) and no name or label ever crosses a process boundary.
 *
 * Each slot is a counter (children send what they added since their last report, the
 * master adds it up) or a gauge (children send the current value, the master keeps the
 * last one per child and forgets it when the child goes), and has one owner role; the
 * master refuses a report that touches a slot its sender does not own. Counters are
 * updated with relaxed atomics, so the store's commit threads may count too.
 * The renderer (metrics_render) turns a snapshot into Prometheus text 0.0.4 or
 * OpenMetrics 1.0 text; it is pure and runs in the login process.
 */
#ifndef BUZON_METRICS_H
#define BUZON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum metrics_proto { METRICS_PROTO_IMAP, METRICS_PROTO_POP3, METRICS_PROTO_MANAGESIEVE,
	METRICS_PROTO_N };
enum metrics_mech { METRICS_MECH_PLAIN, METRICS_MECH_LOGIN, METRICS_MECH_SCRAM_SHA_1,
	METRICS_MECH_SCRAM_SHA_1_PLUS, METRICS_MECH_SCRAM_SHA_256,
	METRICS_MECH_SCRAM_SHA_256_PLUS, METRICS_MECH_USER, METRICS_MECH_OTHER, METRICS_MECH_N };
/* (IMAP's LOGIN command counts as LOGIN, POP3's USER/PASS as USER) */
enum metrics_login { METRICS_LOGIN_OK, METRICS_LOGIN_FAILED, METRICS_LOGIN_BANNED,
	METRICS_LOGIN_TEMPFAIL, METRICS_LOGIN_N };
enum metrics_delivery { METRICS_DELIVERY_OK, METRICS_DELIVERY_TEMPFAIL,
	METRICS_DELIVERY_PERMFAIL, METRICS_DELIVERY_N };
/* processes: the master itself and its children's roles (master_private.h's order) */
enum metrics_role { METRICS_ROLE_MASTER, METRICS_ROLE_AUTH, METRICS_ROLE_LOGIN,
	METRICS_ROLE_MAIL, METRICS_ROLE_LMTP, METRICS_ROLE_N };

/* Histogram buckets (seconds): fixed, the same for every latency histogram. */
#define METRICS_BUCKETS		14
/* A histogram's slots: the buckets (not cumulative), then the count, then the sum in µs. */
#define METRICS_HIST_SLOTS	(METRICS_BUCKETS + 2)
/* IMAP command names with their own histogram; others count as "other" (the last). */
#define METRICS_IMAP_CMDS	35

enum metrics_slot {
	MS_CONN_PRELOGIN = 0,					/* [proto] gauge, login */
	MS_CONN_AUTH = MS_CONN_PRELOGIN + METRICS_PROTO_N,	/* [proto] gauge, mail */
	MS_LOGINS = MS_CONN_AUTH + METRICS_PROTO_N,		/* [proto][mech][result], master */
	MS_DELIVERIES = MS_LOGINS + METRICS_PROTO_N * METRICS_MECH_N * METRICS_LOGIN_N,
	MS_INDEX_HITS = MS_DELIVERIES + METRICS_DELIVERY_N,	/* mail */
	MS_INDEX_STALE,						/* mail */
	MS_INDEX_INVALID,					/* mail */
	MS_FSYNC,						/* histogram, mail */
	MS_IMAP_CMD = MS_FSYNC + METRICS_HIST_SLOTS,		/* [cmd] histograms, mail */
	MS_PROCESSES = MS_IMAP_CMD + METRICS_IMAP_CMDS * METRICS_HIST_SLOTS, /* [role], master */
	METRICS_SLOTS = MS_PROCESSES + METRICS_ROLE_N
};

#define METRICS_BLOCK_BYTES	(METRICS_SLOTS * sizeof(uint64_t))

/* Who may report a slot (the master's own slots: METRICS_OWNER_MASTER). */
enum metrics_owner { METRICS_OWNER_MASTER, METRICS_OWNER_LOGIN, METRICS_OWNER_MAIL };

enum metrics_owner metrics_slot_owner(unsigned slot);
bool metrics_slot_is_gauge(unsigned slot);

/* ---- counting, in the process that owns the slot (thread-safe) */

void metrics_add(unsigned slot, uint64_t n);
void metrics_gauge_set(unsigned slot, uint64_t v);
/* One observation of us microseconds in the histogram starting at slot. */
void metrics_observe(unsigned slot, uint64_t us);
/* An IMAP command (its name as the dispatcher writes it: "FETCH", "UID FETCH") took us
 * (IDLE is not counted). */
void metrics_imap_command(const char *name, uint64_t us);
/* The index of an IMAP command name in the histogram table (METRICS_IMAP_CMDS - 1: other). */
unsigned metrics_imap_cmd_index(const char *name);
/* The label of a mechanism name (PLAIN, LOGIN, SCRAM-SHA-256-PLUS, USER ...; else OTHER). */
enum metrics_mech metrics_mech_from_name(const char *mech);

/*
 * A child's report: the counters added since the last call (taken, so they are not
 * sent twice) and the gauges' current values into out[METRICS_SLOTS]. Returns false
 * when nothing changed since the last report (no need to send one).
 */
bool metrics_take(uint64_t out[METRICS_SLOTS]);

/* ---- rendering (pure) */

#define METRICS_CERTS_MAX	8
#define METRICS_OUTPUT_MAX	(512 * 1024)

struct metrics_extra {
	const char *version;		/* buzon_build_info */
	unsigned ncerts;
	const char *cert_path[METRICS_CERTS_MAX];	/* buzon_tls_certificate_not_after */
	int64_t cert_not_after[METRICS_CERTS_MAX];	/* seconds since the epoch */
};

/*
 * Render snapshot snap[METRICS_SLOTS] into out (appended; out's limit should be at
 * least METRICS_OUTPUT_MAX): Prometheus text format 0.0.4, or OpenMetrics 1.0 text
 * ending with "# EOF" when openmetrics. Returns 0, or -1 when out's limit was reached.
 */
int metrics_render(struct buf *out, const uint64_t *snap, const struct metrics_extra *x,
    bool openmetrics);

/* The Content-Type of each format. */
#define METRICS_TYPE_PROMETHEUS	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

#endif
