/*
 * test_metrics.c — unit tests for lib/metrics.c: slot owners and kinds, counting and
 * taking (counters are sent once, gauges when they change), histogram buckets, the
 * IMAP command table, and the renderer in both formats (families, cumulative buckets,
 * label escaping, OpenMetrics' counter names and # EOF, the output bound).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/metrics.h"

static void
test_slots(void **state)
{
	assert_int_equal(metrics_slot_owner(MS_CONN_PRELOGIN), METRICS_OWNER_LOGIN);
	assert_int_equal(metrics_slot_owner(MS_CONN_AUTH + 2), METRICS_OWNER_MAIL);
	assert_int_equal(metrics_slot_owner(MS_LOGINS), METRICS_OWNER_MASTER);
	assert_int_equal(metrics_slot_owner(MS_DELIVERIES + 2), METRICS_OWNER_MASTER);
	assert_int_equal(metrics_slot_owner(MS_INDEX_HITS), METRICS_OWNER_MAIL);
	assert_int_equal(metrics_slot_owner(MS_FSYNC), METRICS_OWNER_MAIL);
	assert_int_equal(metrics_slot_owner(METRICS_SLOTS - 1), METRICS_OWNER_MASTER);
	assert_true(metrics_slot_is_gauge(MS_CONN_AUTH));
	assert_false(metrics_slot_is_gauge(MS_LOGINS));
	assert_false(metrics_slot_is_gauge(MS_IMAP_CMD));
	assert_true(metrics_slot_is_gauge(MS_PROCESSES));
	assert_true(METRICS_BLOCK_BYTES <= 8192);
}

static void
test_take(void **state)
{
	uint64_t b[METRICS_SLOTS];

	assert_false(metrics_take(b));
	metrics_add(MS_INDEX_HITS, 2);
	metrics_gauge_set(MS_CONN_AUTH, 5);
	assert_true(metrics_take(b));
	assert_int_equal(b[MS_INDEX_HITS], 2);
	assert_int_equal(b[MS_CONN_AUTH], 5);
	/* the counter was taken; the gauge is the same: nothing to send */
	assert_false(metrics_take(b));
	assert_int_equal(b[MS_INDEX_HITS], 0);
	assert_int_equal(b[MS_CONN_AUTH], 5);
	metrics_gauge_set(MS_CONN_AUTH, 0);
	assert_true(metrics_take(b));
	assert_int_equal(b[MS_CONN_AUTH], 0);
	metrics_add(METRICS_SLOTS, 1);	/* out of range: ignored */
	assert_false(metrics_take(b));
}

static void
test_histogram(void **state)
{
	uint64_t b[METRICS_SLOTS];
	unsigned fetch = metrics_imap_cmd_index("UID FETCH");
	const uint64_t *h;

	assert_int_equal(metrics_imap_cmd_index("XYZZY"), METRICS_IMAP_CMDS - 1);
	assert_int_equal(metrics_imap_cmd_index("?"), METRICS_IMAP_CMDS - 1);
	assert_true(fetch < METRICS_IMAP_CMDS - 1);
	metrics_imap_command("UID FETCH", 400);		/* le 0.0005 */
	metrics_imap_command("UID FETCH", 500);		/* le 0.0005 (inclusive) */
	metrics_imap_command("UID FETCH", 3000);	/* le 0.005 */
	metrics_imap_command("UID FETCH", 20000000);	/* only +Inf */
	metrics_imap_command("IDLE", 600000000);	/* not counted */
	assert_true(metrics_take(b));
	h = b + MS_IMAP_CMD + fetch * METRICS_HIST_SLOTS;
	assert_int_equal(h[0], 2);
	assert_int_equal(h[3], 1);
	assert_int_equal(h[METRICS_BUCKETS], 4);
	assert_int_equal(h[METRICS_BUCKETS + 1], 20003900);
	h = b + MS_IMAP_CMD + (METRICS_IMAP_CMDS - 1) * METRICS_HIST_SLOTS;
	assert_int_equal(h[METRICS_BUCKETS], 0);	/* IDLE went nowhere */
	assert_int_equal(metrics_mech_from_name("plain"), METRICS_MECH_PLAIN);
	assert_int_equal(metrics_mech_from_name("SCRAM-SHA-256-PLUS"),
	    METRICS_MECH_SCRAM_SHA_256_PLUS);
	assert_int_equal(metrics_mech_from_name("XOAUTH2"), METRICS_MECH_OTHER);
	assert_int_equal(metrics_mech_from_name("USER"), METRICS_MECH_USER);
}

static char *
render(const uint64_t *snap, bool om, size_t max)
{
	struct metrics_extra x = { "1.2.3", 1, { "/etc/a \"b\"\\c\n.pem" }, { 1767225600 } };
	struct buf out;

	buf_init(&out, max);
	if (metrics_render(&out, snap, &x, om) < 0) {
		buf_deinit(&out);
		return NULL;
	}
	return buf_steal(&out);
}

static void
test_render(void **state)
{
	static uint64_t s[METRICS_SLOTS];
	unsigned fetch = metrics_imap_cmd_index("FETCH");
	uint64_t *h = s + MS_IMAP_CMD + fetch * METRICS_HIST_SLOTS;
	char *p, *o;

	s[MS_LOGINS + ((METRICS_PROTO_POP3 * METRICS_MECH_N) + METRICS_MECH_LOGIN) *
	    METRICS_LOGIN_N + METRICS_LOGIN_BANNED] = 7;
	s[MS_CONN_AUTH + METRICS_PROTO_IMAP] = 3;
	s[MS_DELIVERIES + METRICS_DELIVERY_TEMPFAIL] = 2;
	s[MS_PROCESSES + METRICS_ROLE_MAIL] = 4;
	h[0] = 1;
	h[2] = 2;
	h[METRICS_BUCKETS] = 4;
	h[METRICS_BUCKETS + 1] = 12001500;
	p = render(s, false, METRICS_OUTPUT_MAX);
	assert_non_null(p);
	assert_non_null(strstr(p, "# TYPE buzon_logins_total counter\n"));
	assert_non_null(strstr(p, "buzon_logins_total{protocol=\"pop3\",mechanism=\"LOGIN\","
	    "result=\"banned\"} 7\n"));
	assert_non_null(strstr(p, "buzon_connections{protocol=\"imap\",state=\"authenticated\"} 3\n"));
	assert_non_null(strstr(p, "buzon_deliveries_total{transport=\"lmtp\",result=\"tempfail\"} 2\n"));
	assert_non_null(strstr(p, "buzon_processes{role=\"mail\"} 4\n"));
	assert_non_null(strstr(p, "buzon_build_info{version=\"1.2.3\"} 1\n"));
	/* cumulative buckets, +Inf = count, the sum in seconds */
	assert_non_null(strstr(p, "buzon_imap_command_duration_seconds_bucket{command=\"FETCH\","
	    "le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(p, "buzon_imap_command_duration_seconds_bucket{command=\"FETCH\","
	    "le=\"0.0025\"} 3\n"));
	assert_non_null(strstr(p, "buzon_imap_command_duration_seconds_bucket{command=\"FETCH\","
	    "le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(p, "buzon_imap_command_duration_seconds_count{command=\"FETCH\"} 4\n"));
	assert_non_null(strstr(p, "buzon_imap_command_duration_seconds_sum{command=\"FETCH\"} "
	    "12.001500\n"));
	/* commands never seen have no series */
	assert_null(strstr(p, "command=\"STORE\""));
	assert_non_null(strstr(p, "buzon_fsync_duration_seconds_count 0\n"));
	assert_non_null(strstr(p, "buzon_tls_certificate_not_after_seconds{cert="
	    "\"/etc/a \\\"b\\\"\\\\c\\n.pem\"} 1767225600\n"));
	assert_null(strstr(p, "# EOF"));
	o = render(s, true, METRICS_OUTPUT_MAX);
	assert_non_null(o);
	/* OpenMetrics: the counter family without _total, its samples with it */
	assert_non_null(strstr(o, "# TYPE buzon_logins counter\n"));
	assert_non_null(strstr(o, "# HELP buzon_logins "));
	assert_non_null(strstr(o, "buzon_logins_total{protocol=\"pop3\""));
	assert_non_null(strstr(o, "# TYPE buzon_index_rebuilds counter\n"));
	assert_int_equal(strcmp(o + strlen(o) - 6, "# EOF\n"), 0);
	/* bounded: a limit below the text fails, never overruns */
	assert_null(render(s, true, 1000));
	free(p);
	free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
