/*
 * metrics_login.c — the metrics endpoint on metrics_listen, in the login process: one
 * HTTP/1.x request per connection (src/proto/http.c, head at most 8 KiB), GET or
 * HEAD /metrics only; the numbers come from the master as one block
 * (IPC_LOGIN_METRICS -> IPC_LOGIN_METRICS_SNAPSHOT) and are rendered here
 * (lib/metrics.c) as Prometheus text 0.0.4, or OpenMetrics text when the Accept field
 * asks for application/openmetrics-text. The answer ends with Connection: close.
 *
 * Security role: any client that can reach the address may connect (loopback unless
 * configured otherwise); its bytes are parsed here, unprivileged and chrooted, never in
 * the master. The connection is under the pre-login caps and has a 10 s deadline for the
 * whole exchange; a malformed head gets 400, an oversized one 431, then the connection
 * closes. The page shows counts only: no user names, addresses or paths but the
 * configured certificates'.
 */
#include "login/login_private.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "proto/http.h"

#define METRICS_DEADLINE_SECS	10
#define METRICS_HEAD_MAX	8192	/* request line, fields and the empty line */

_Static_assert(METRICS_HEAD_MAX < LOGIN_INPUT_MAX, "HTTP heads over the input bound");

struct metrics_conn {
	bool busy;		/* the numbers are asked for: nothing more is parsed */
	bool head;		/* HEAD: the headers only */
	bool openmetrics;
};

static void *
metrics_login_create(struct lconn *c)
{
	return xcalloc(1, sizeof(struct metrics_conn));
}

static void
metrics_login_destroy(struct lconn *c, void *state)
{
	free(state);
}

static void
metrics_login_greet(struct lconn *c)
{
	/* the client speaks first; the whole exchange gets a short deadline */
	lconn_deadline(c, METRICS_DEADLINE_SECS);
}

/* An answer without a body of its own (errors): a short text, then close. */
static void
respond_error(struct lconn *c, const char *status, const char *extra)
{
	size_t n = strlen(status);

	lconn_printf(c, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s\n", status, n + 1, extra,
	    status);
	lconn_close_after(c);
}

static void
metrics_login_input(struct lconn *c, struct evbuffer *in)
{
	struct metrics_conn *ml = c->pstate;
	size_t len = evbuffer_get_length(in), used = 0;
	struct http_request q;
	unsigned char *data;
	char status[64];

	if (c->state != LC_CMD || ml->busy || len == 0)
		return;
	len = MIN(len, (size_t)METRICS_HEAD_MAX);
	data = evbuffer_pullup(in, (ssize_t)len);
	switch (http_request_parse(data, len, METRICS_HEAD_MAX, &q, &used)) {
	case HTTP_PARSE_MORE:
		return;
	case HTTP_PARSE_ERROR:
		log_info("metrics request refused ip=%s reason=%s", c->ip,
		    q.status == 431 ? "too-big" : "malformed");
		(void)snprintf(status, sizeof(status), "%u %s", q.status, http_reason(q.status));
		respond_error(c, status, "");
		return;
	case HTTP_PARSE_DONE:
		break;
	}
	if (http_target_path_len(&q) != 8 || memcmp(q.target, "/metrics", 8) != 0) {
		respond_error(c, "404 Not Found", "");
		return;
	}
	ml->head = q.method == HTTP_HEAD;
	if (!ml->head && q.method != HTTP_GET) {
		respond_error(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
		return;
	}
	ml->openmetrics = http_accepts(&q, "application/openmetrics-text");
	evbuffer_drain(in, used);
	if (lconn_send_metrics(c) < 0) {
		respond_error(c, "503 Service Unavailable", "");
		return;
	}
	ml->busy = true;
}

static void
metrics_login_metrics(struct lconn *c, const unsigned char *block, size_t len)
{
	struct metrics_conn *ml = c->pstate;
	uint64_t snap[METRICS_SLOTS];
	struct buf body;

	if (!ml->busy)
		return;
	ml->busy = false;
	memcpy(snap, block, sizeof(snap));
	buf_init(&body, METRICS_OUTPUT_MAX);
	if (metrics_render(&body, snap, lconn_metrics_extra(c), ml->openmetrics) < 0) {
		buf_deinit(&body);
		respond_error(c, "500 Internal Server Error", "");
		return;
	}
	lconn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n", ml->openmetrics ?
	    METRICS_TYPE_OPENMETRICS : METRICS_TYPE_PROMETHEUS, body.len);
	if (!ml->head)
		lconn_printf(c, "%.*s", (int)body.len, body.data);	/* text: no NUL */
	buf_deinit(&body);
	lconn_close_after(c);
}

static void
metrics_login_unused(struct lconn *c)
{
	/* no STARTTLS here; the deadline and a kick just close */
}

static void
metrics_login_auth_failed(struct lconn *c, uint32_t status)
{
	/* never: this front end sends no IPC_LOGIN_AUTH */
}

const struct login_proto_ops metrics_login_ops = {
	.name = "metrics",
	.ipc_proto = 0,
	.alpn = NULL,
	.create = metrics_login_create,
	.destroy = metrics_login_destroy,
	.greet = metrics_login_greet,
	.input = metrics_login_input,
	.tls_started = metrics_login_unused,
	.auth_failed = metrics_login_auth_failed,
	.timeout = metrics_login_unused,
	.kicked = metrics_login_unused,
	.metrics = metrics_login_metrics,
};
