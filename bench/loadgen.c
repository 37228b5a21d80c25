/*
 * loadgen.c — the IMAP load generator of buzon's benchmarks (bench/run.sh runs it
 * against buzon and Dovecot in turn). A single-threaded libevent client with OpenSSL
 * that opens many connections and checks every reply: each command must end in a
 * tagged OK, SELECT must report the expected EXISTS, FETCH 1:* must return one FETCH
 * response per message carrying the requested item, SEARCH must find the expected
 * number of messages. A wrong reply stops the run with a non-zero exit, so a fast
 * but wrong server never shows up as a figure. Modes:
 *
 *   op NAME       one targeted operation timed over -r repetitions (first and median
 *                 reported): select, fetch-flags, fetch-envelope, fetch-bodystructure,
 *                 search-body, search-subject, search-from, store-seen, sort-date
 *                 (UID SORT (REVERSE DATE)), sort-subject (UID SORT (SUBJECT)),
 *                 thread-references (UID THREAD REFERENCES); -x runs a
 *                 command before each SELECT (cold), -K keeps another session with the
 *                 folder selected
 *   mixed         -c clients each running a random mix (select, fetch headers, fetch
 *                 a body, store flags, search, append, expunge, idle) for -t seconds;
 *                 -M sets the weights
 *   closed        closed-loop mix: -c clients (of one user, or -U users) over a folder
 *                 whose UIDs 1..-e N exist (200 in bench/run.sh); each client sends its
 *                 next command only after the tagged reply of the last. Mix: 50 % FETCH
 *                 (flags of 20 / six header fields of 20 / one whole message, evenly),
 *                 20 % UID STORE +-\Flagged, 20 % UID SEARCH (UNSEEN or SUBJECT WORD),
 *                 5 % APPEND of a 2-4 KiB message (APPENDUID required: UIDPLUS), 5 %
 *                 UID STORE +\Deleted + UID EXPUNGE of a message the client appended
 *                 itself (so the folder stays at ~N); -L K: LOGOUT, reconnect, LOGIN and
 *                 SELECT again after every K operations. Reports commands/s and per-
 *                 command-kind latency p50/p99 over the -t second window
 *   connect       -c parallel loops of connect + TLS handshake + LOGIN + LOGOUT
 *   idle          -c logged-in connections in IDLE; then sums the PSS and RSS of the
 *                 server's process tree (-P root pid) from /proc/PID/smaps_rollup
 *
 * With -P (the server's root pid) op and mixed also report the server's CPU time,
 * summed over its process tree from /proc/PID/schedstat, and op the largest VmHWM.
 * Results go to stdout as one "result key=value ..." line; diagnostics to stderr.
 * It is a test client run by hand or by bench/run.sh on loopback; it never verifies
 * the server's certificate (the benchmark uses a self-signed one).
 */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define RESP_MAX	(64u * 1024 * 1024)	/* one response without its large literals */
#define LIT_KEEP_MAX	(64u * 1024)		/* literals kept for checking; larger skipped */
#define MAX_REPS	1000

enum kind {
	K_NONE, K_LOGIN, K_SELECT, K_FETCH, K_SEARCH, K_STORE, K_APPEND, K_EXPUNGE,
	K_IDLE, K_LOGOUT, K_CAPA
};

/* closed-loop workload: the kinds of command whose latency is reported */
enum cop {
	C_FETCH_FLAGS, C_FETCH_HDR, C_FETCH_BODY, C_STORE, C_SEARCH, C_APPEND, C_EXPUNGE,
	C_MIX_COUNT,		/* the drawn operations are the ones above */
	C_STORE_DELETED = C_MIX_COUNT, C_LOGIN, C_SELECT, C_LOGOUT, C_CAPA,
	C_CONNECT,		/* not a command: connect + TLS handshake + greeting */
	C_COUNT
};
static const char *const cop_names[C_COUNT] = {
	"fetch_flags", "fetch_headers", "fetch_body", "store", "search", "append", "expunge",
	"store_deleted", "login", "select", "logout", "capability", "connect"
};
static const unsigned cop_weight[C_MIX_COUNT] = { 17, 17, 16, 20, 20, 5, 5 };
#define OWN_MAX		256	/* a closed-loop client's appended, not yet expunged UIDs */

struct client {
	unsigned idx;
	uint32_t own[OWN_MAX];	/* FIFO of UIDs this client appended */
	unsigned own_head, nown;
	bool ready;		/* selected once (the window opens when all are) */
};

/* mixed workload operations, in the order of their weights below */
enum mop {
	M_SELECT, M_FETCH_HDR, M_FETCH_BODY, M_STORE, M_SEARCH, M_APPEND, M_EXPUNGE,
	M_IDLE, M_COUNT
};
static const char *const mop_names[M_COUNT] = {
	"select", "fetch_headers", "fetch_body", "store", "search", "append",
	"expunge", "idle"
};
static unsigned mop_weight[M_COUNT] = { 5, 25, 20, 15, 10, 10, 10, 5 };

enum mode { MODE_OP, MODE_MIXED, MODE_CONNECT, MODE_IDLE, MODE_CLOSED };

struct conn {
	unsigned id;
	struct bufferevent *bev;
	bool greeted;
	bool dead;
	bool keeper;		/* op: holds the folder selected while others measure */
	/* the response being assembled: lines plus kept literals */
	char *resp;
	size_t rlen, rcap;
	uint64_t lit_left;
	bool lit_keep;
	/* the command in flight */
	unsigned tagno;
	char tag[16];
	size_t taglen;
	enum kind kind;
	const char *item;	/* K_FETCH: every FETCH response must contain it */
	long want_fetch;	/* K_FETCH: expected number of responses, -1 any */
	uint64_t n_fetch;
	uint64_t n_search;
	bool search_seen;
	bool got_exists;
	uint32_t exists;
	uint32_t uidnext;
	double t0;
	const char *lit_data;	/* K_APPEND: literal sent after the continuation */
	size_t lit_len;
	char *abuf;		/* mixed: this connection's APPEND message */
	uint32_t arg;		/* mixed: the UID being expunged */
	double op_t0;		/* mixed: when the current operation started */
	/* per-mode progress */
	int step;
	enum mop mop;
	uint64_t rnd;
	/* closed-loop */
	struct client *cl;
	enum cop cop;		/* kind of the command in flight */
	bool uidplus;		/* the server advertised UIDPLUS */
	bool fetch_min;		/* K_FETCH: want_fetch is a minimum (flag updates) */
	unsigned session_ops;	/* operations since LOGIN */
};

static struct {
	const char *host;
	int port;
	bool tls;
	const char *user;
	const char *pass;
	const char *folder;
	enum mode mode;
	const char *op;
	const char *word;
	const char *cold_cmd;
	int reps;
	int conns;
	double secs;
	long want_exists;
	long want_search;
	pid_t root_pid;
	int inflight;
	unsigned seed;
	bool verbose;
	bool keeper;
	int users;		/* > 0: connection i logs in as USER<i % users> */
	int relogin;		/* closed: operations per session, 0 = one session */
} opt = {
	.host = "127.0.0.1", .port = 993, .tls = true, .user = "bench", .pass = "bench",
	.folder = "INBOX", .word = NULL, .reps = 5, .conns = 10, .secs = 10,
	.want_exists = -1, .want_search = -1, .inflight = 16, .seed = 1
};

static struct event_base *base;
static SSL_CTX *ssl_ctx;
static struct sockaddr_in addr;

/* run state */
static unsigned next_id;
static unsigned live;		/* connections open */
static double times[MAX_REPS];
static double cpus[MAX_REPS];
static int ntimes;
static uint64_t last_count;
static uint64_t peak_rss_kib;	/* op: largest VmHWM in the server tree at the end */	/* op: FETCH responses / SEARCH hits of the last repetition */
static double win_start, win_end;
static bool window_open, stopping;
static unsigned ready_conns;	/* mixed: selected; idle: idling */
static unsigned opened;		/* idle/connect: connections started */
static uint64_t op_count[M_COUNT];
static double op_time[M_COUNT];
static uint64_t logins;
static uint64_t errors;
static struct event *tick;

static struct conn *conn_start(void);
static void mode_ready(struct conn *c);
static void mode_done(struct conn *c, bool ok, const char *line);
static void mode_cont(struct conn *c);
static void mode_closed(void);
static void closed_greeted(struct conn *c);
static void cpu_begin(void);
static double cpu_end(void);
static uint64_t tree_peak_rss_kib(void);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* A wrong reply: the run is worthless, stop it. */
static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "loadgen: conn %u (tag %s): ", c->id, c->tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t
rnd_next(struct conn *c)
{
	/* xorshift64* */
	c->rnd ^= c->rnd >> 12;
	c->rnd ^= c->rnd << 25;
	c->rnd ^= c->rnd >> 27;
	return c->rnd * 2685821657736338717ULL;
}

static uint32_t
rnd_range(struct conn *c, uint32_t lo, uint32_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (uint32_t)(rnd_next(c) % (hi - lo + 1));
}

/* ------------------------------------------------------------ connections */

static void
conn_free_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct conn *c = ctx;

	free(c->resp);
	free(c->abuf);
	free(c);
}

/*
 * Close a connection. The struct itself is freed from the event loop, so callers up
 * the stack (read_cb) can still look at c->dead.
 */
static void
conn_close(struct conn *c)
{
	if (c->bev != NULL) {
		SSL *ssl = opt.tls ? bufferevent_openssl_get_ssl(c->bev) : NULL;

		if (ssl != NULL)
			SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN);
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->dead = true;
	event_base_once(base, -1, EV_TIMEOUT, conn_free_cb, c, NULL);
	live--;
	mode_closed();
}

static void
conn_write(struct conn *c, const void *p, size_t n)
{
	if (bufferevent_write(c->bev, p, n) < 0)
		conn_fail(c, "write failed");
}

/* Send one command line "TAG fmt\r\n" and reset the per-command counters. */
static void
conn_cmd(struct conn *c, enum kind kind, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	c->tagno++;
	snprintf(c->tag, sizeof(c->tag), "a%u", c->tagno);
	c->taglen = strlen(c->tag);
	c->kind = kind;
	c->item = NULL;
	c->want_fetch = -1;
	c->n_fetch = 0;
	c->n_search = 0;
	c->search_seen = false;
	c->fetch_min = false;
	if (kind == K_SELECT) {
		c->got_exists = false;
		c->uidnext = 0;
	}
	n = snprintf(line, sizeof(line), "%s ", c->tag);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 2)
		die("command too long");
	if (opt.verbose)
		fprintf(stderr, "C%u: %s\n", c->id, line);
	line[n++] = '\r';
	line[n++] = '\n';
	c->t0 = now();
	conn_write(c, line, (size_t)n);
}

static bool
has(const char *s, size_t n, const char *needle)
{
	return memmem(s, n, needle, strlen(needle)) != NULL;
}

static bool
prefix(const char *s, size_t n, const char *p)
{
	size_t pl = strlen(p);

	return n >= pl && strncasecmp(s, p, pl) == 0;
}

static uint64_t
parse_num(const char **sp, const char *end)
{
	const char *s = *sp;
	uint64_t v = 0;

	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	*sp = s;
	return v;
}

static void
untagged(struct conn *c, const char *s, size_t n)
{
	const char *end = s + n;

	if (n > 0 && isdigit((unsigned char)s[0])) {
		const char *p = s;
		uint64_t num = parse_num(&p, end);
		size_t rest = (size_t)(end - p);

		if (prefix(p, rest, " EXISTS")) {
			c->exists = (uint32_t)num;
			c->got_exists = true;
		} else if (prefix(p, rest, " EXPUNGE")) {
			if (c->exists > 0)
				c->exists--;
		} else if (prefix(p, rest, " FETCH ")) {
			if (c->kind != K_FETCH)
				return;
			if (c->item == NULL || has(p, rest, c->item))
				c->n_fetch++;
			else if (opt.mode != MODE_MIXED && opt.mode != MODE_CLOSED)
				conn_fail(c, "FETCH response without %s: %.200s", c->item, s);
			/* else: another session's flag change, not an answer */
		}
		return;
	}
	if (prefix(s, n, "SEARCH") || prefix(s, n, "SORT") || prefix(s, n, "THREAD")) {
		const char *p = s + (prefix(s, n, "SORT") ? 4 : 6);

		c->search_seen = true;
		/* a number starts after a space, or after "(" in THREAD's nested lists */
		while (p < end) {
			if ((*p == ' ' || *p == '(') && p + 1 < end && isdigit((unsigned char)p[1]))
				c->n_search++;
			p++;
		}
	} else if (prefix(s, n, "OK [UIDNEXT ")) {
		const char *p = s + 12;

		c->uidnext = (uint32_t)parse_num(&p, end);
	} else if (prefix(s, n, "BYE")) {
		if (c->kind != K_LOGOUT)
			conn_fail(c, "unexpected BYE: %.200s", s);
	} else if (prefix(s, n, "BAD")) {
		conn_fail(c, "untagged BAD: %.200s", s);
	}
}

static void
tagged(struct conn *c, const char *s, size_t n)
{
	bool ok = prefix(s, n, "OK");
	const char *why = NULL;

	if (!ok && !prefix(s, n, "NO") && !prefix(s, n, "BAD"))
		conn_fail(c, "malformed tagged reply: %.200s", s);
	if (ok) {
		switch (c->kind) {
		case K_SELECT:
			if (!c->got_exists)
				why = "SELECT without EXISTS";
			else if (opt.mode == MODE_OP && opt.want_exists >= 0 &&
			    c->exists != (uint32_t)opt.want_exists)
				why = "SELECT: wrong EXISTS";
			break;
		case K_FETCH:
			if (c->want_fetch >= 0 && (c->fetch_min ?
			    c->n_fetch < (uint64_t)c->want_fetch :
			    c->n_fetch != (uint64_t)c->want_fetch))
				why = "FETCH: wrong number of responses";
			break;
		case K_SEARCH:
			if (!c->search_seen)
				why = "SEARCH without * SEARCH";
			break;
		default:
			break;
		}
	}
	if (why != NULL)
		conn_fail(c, "%s (exists=%u fetched=%llu): %.200s", why, c->exists,
		    (unsigned long long)c->n_fetch, s);
	c->kind = K_NONE;
	mode_done(c, ok, s);
}

static void
response(struct conn *c, char *s, size_t n)
{
	if (opt.verbose)
		fprintf(stderr, "S%u: %.*s\n", c->id, (int)(n > 300 ? 300 : n), s);
	if (has(s, n, "CAPABILITY") && has(s, n, " UIDPLUS"))
		c->uidplus = true;
	if (!c->greeted) {
		if (!prefix(s, n, "* OK"))
			conn_fail(c, "bad greeting: %.200s", s);
		c->greeted = true;
		if (opt.mode == MODE_CLOSED)
			closed_greeted(c);
		mode_ready(c);
		return;
	}
	if (n > 0 && s[0] == '+') {
		if (c->kind == K_APPEND && c->lit_data != NULL) {
			conn_write(c, c->lit_data, c->lit_len);
			conn_write(c, "\r\n", 2);
			c->lit_data = NULL;
		} else if (c->kind == K_IDLE) {
			mode_cont(c);
		} else {
			conn_fail(c, "unexpected continuation: %.200s", s);
		}
		return;
	}
	if (prefix(s, n, "* ")) {
		untagged(c, s + 2, n - 2);
		return;
	}
	if (c->kind != K_NONE && n > c->taglen && memcmp(s, c->tag, c->taglen) == 0 &&
	    s[c->taglen] == ' ') {
		tagged(c, s + c->taglen + 1, n - c->taglen - 1);
		return;
	}
	conn_fail(c, "unexpected line: %.200s", s);
}

static void
resp_reserve(struct conn *c, size_t more)
{
	size_t want = c->rlen + more + 1;

	if (want > RESP_MAX)
		conn_fail(c, "response too long");
	if (want <= c->rcap)
		return;
	while (c->rcap < want)
		c->rcap = c->rcap ? c->rcap * 2 : 4096;
	c->resp = realloc(c->resp, c->rcap);
	if (c->resp == NULL)
		die("out of memory");
}

/* "{123}" or "{123+}" at the end of a line announces a literal */
static bool
ends_in_literal(const char *s, size_t n, uint64_t *len_r)
{
	size_t i;

	if (n < 3 || s[n - 1] != '}')
		return false;
	i = n - 1;
	if (s[i - 1] == '+')
		i--;
	if (i == 0 || !isdigit((unsigned char)s[i - 1]))
		return false;
	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i == 0 || s[i - 1] != '{')
		return false;
	{
		const char *p = s + i;

		*len_r = parse_num(&p, s + n);
	}
	return true;
}

static void
read_cb(struct bufferevent *bev, void *ctx)
{
	struct conn *c = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct evbuffer_ptr p;
		size_t eol, n, start;
		uint64_t lit;

		if (c->lit_left > 0) {
			size_t avail = evbuffer_get_length(in);

			if (avail == 0)
				return;
			n = avail < c->lit_left ? avail : (size_t)c->lit_left;
			if (c->lit_keep) {
				resp_reserve(c, n);
				evbuffer_remove(in, c->resp + c->rlen, n);
				c->rlen += n;
			} else {
				evbuffer_drain(in, n);
			}
			c->lit_left -= n;
			continue;
		}
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF_STRICT);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > RESP_MAX)
				conn_fail(c, "line too long");
			return;
		}
		n = (size_t)p.pos;
		resp_reserve(c, n);
		start = c->rlen;
		evbuffer_remove(in, c->resp + start, n);
		evbuffer_drain(in, eol);
		c->rlen += n;
		if (ends_in_literal(c->resp + start, n, &lit)) {
			c->lit_left = lit;
			c->lit_keep = lit <= LIT_KEEP_MAX;
			continue;
		}
		c->resp[c->rlen] = '\0';
		n = c->rlen;
		c->rlen = 0;
		response(c, c->resp, n);
		/* the mode may have closed the connection */
		if (c->dead)
			return;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct conn *c = ctx;

	if (what & BEV_EVENT_CONNECTED) {
		static bool shown;
		SSL *ssl = opt.tls ? bufferevent_openssl_get_ssl(bev) : NULL;

		if (ssl != NULL && !shown) {
			/* once per run, so the log shows both servers negotiate alike */
			int nid = SSL_get_negotiated_group(ssl);

			fprintf(stderr, "loadgen: %s %s %s\n", SSL_get_version(ssl),
			    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
			    nid > 0 ? OBJ_nid2sn(nid) : "-");
			shown = true;
		}
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = opt.tls ? bufferevent_get_openssl_error(bev) : 0;

		conn_fail(c, "connection error: %s%s%s", strerror(EVUTIL_SOCKET_ERROR()),
		    e ? " / " : "", e ? ERR_reason_error_string(e) : "");
	}
	if (what & BEV_EVENT_EOF)
		conn_fail(c, "connection closed by the server");
}

static struct conn *
conn_start(void)
{
	struct conn *c = calloc(1, sizeof(*c));
	int fd;
	int one = 1;

	if (c == NULL)
		die("out of memory");
	c->id = next_id++;
	c->rnd = ((uint64_t)opt.seed << 32) ^ (0x9e3779b97f4a7c15ULL * (c->id + 1));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	evutil_make_socket_nonblocking(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt.tls) {
		SSL *ssl = SSL_new(ssl_ctx);

		if (ssl == NULL)
			die("SSL_new failed");
		SSL_set_tlsext_host_name(ssl, "localhost");
		c->bev = bufferevent_openssl_socket_new(base, fd, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (c->bev == NULL)
		die("bufferevent_new failed");
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect: %s", strerror(errno));
	live++;
	return c;
}

static void
send_login(struct conn *c)
{
	c->cop = C_LOGIN;
	if (opt.users > 0)
		conn_cmd(c, K_LOGIN, "LOGIN \"%s%u\" \"%s\"", opt.user,
		    (c->cl != NULL ? c->cl->idx : c->id) % (unsigned)opt.users, opt.pass);
	else
		conn_cmd(c, K_LOGIN, "LOGIN \"%s\" \"%s\"", opt.user, opt.pass);
}

static void
send_select(struct conn *c)
{
	c->cop = C_SELECT;
	conn_cmd(c, K_SELECT, "SELECT \"%s\"", opt.folder);
}

static void
send_logout(struct conn *c)
{
	c->cop = C_LOGOUT;
	conn_cmd(c, K_LOGOUT, "LOGOUT");
}

/* ------------------------------------------------------------ targeted ops */

enum {
	OP_SELECT, OP_FETCH_FLAGS, OP_FETCH_ENV, OP_FETCH_BS, OP_SEARCH, OP_STORE,
	OP_SEARCH_SUBJ, OP_SEARCH_FROM, OP_SORT_DATE, OP_SORT_SUBJ, OP_THREAD, OP_COUNT
};
static int op_id;

static bool
op_is_search(void)
{
	return op_id == OP_SEARCH || op_id == OP_SEARCH_SUBJ || op_id == OP_SEARCH_FROM ||
	    op_id == OP_SORT_DATE || op_id == OP_SORT_SUBJ || op_id == OP_THREAD;
}

static void
op_send(struct conn *c)
{
	switch (op_id) {
	case OP_FETCH_FLAGS:
		conn_cmd(c, K_FETCH, "FETCH 1:* (UID FLAGS)");
		c->item = "FLAGS (";
		break;
	case OP_FETCH_ENV:
		conn_cmd(c, K_FETCH, "FETCH 1:* (UID FLAGS ENVELOPE)");
		c->item = "ENVELOPE (";
		break;
	case OP_FETCH_BS:
		conn_cmd(c, K_FETCH, "FETCH 1:* (BODYSTRUCTURE)");
		c->item = "BODYSTRUCTURE (";
		break;
	case OP_SEARCH:
		conn_cmd(c, K_SEARCH, "SEARCH BODY \"%s\"", opt.word);
		break;
	case OP_SEARCH_SUBJ:
		conn_cmd(c, K_SEARCH, "SEARCH SUBJECT \"%s\"", opt.word);
		break;
	case OP_SEARCH_FROM:
		conn_cmd(c, K_SEARCH, "SEARCH FROM \"%s\"", opt.word);
		break;
	case OP_STORE:
		conn_cmd(c, K_STORE, "STORE 1:* +FLAGS.SILENT (\\Seen)");
		break;
	case OP_SORT_DATE:
		conn_cmd(c, K_SEARCH, "UID SORT (REVERSE DATE) UTF-8 ALL");
		break;
	case OP_SORT_SUBJ:
		conn_cmd(c, K_SEARCH, "UID SORT (SUBJECT) UTF-8 ALL");
		break;
	case OP_THREAD:
		conn_cmd(c, K_SEARCH, "UID THREAD REFERENCES UTF-8 ALL");
		break;
	default:
		abort();
	}
	if (c->kind == K_FETCH)
		c->want_fetch = c->exists;
}

/*
 * op steps: 0 LOGIN sent, 1 SELECT sent, 2 untimed reset sent (store-seen),
 * 3 timed command sent, 4 LOGOUT sent. SELECT ops: one connection per repetition,
 * 0 LOGIN, 3 timed SELECT, 4 LOGOUT.
 */
static void
op_next_rep(struct conn *c)
{
	if (ntimes >= opt.reps) {
		peak_rss_kib = tree_peak_rss_kib();
		c->step = 4;
		send_logout(c);
	} else if (op_id == OP_STORE) {
		c->step = 2;
		conn_cmd(c, K_STORE, "STORE 1:* -FLAGS.SILENT (\\Seen)");
	} else {
		c->step = 3;
		cpu_begin();
		op_send(c);
	}
}

static void op_begin_rep(void);

static void
op_done(struct conn *c, bool ok, const char *line)
{
	double t = now() - c->t0;

	if (!ok)
		conn_fail(c, "command failed: %.200s", line);
	if (c->keeper) {
		/* 0 LOGIN, 1 SELECT, then IDLE until the end of the run */
		if (c->step == 0) {
			c->step = 1;
			send_select(c);
		} else if (c->step == 1) {
			c->step = 6;
			conn_cmd(c, K_IDLE, "IDLE");
		} else {
			conn_fail(c, "keeper: IDLE ended: %.200s", line);
		}
		return;
	}
	switch (c->step) {
	case 0:
		if (op_id == OP_SELECT) {
			c->step = 3;
			cpu_begin();
			send_select(c);
		} else {
			c->step = 1;
			send_select(c);
		}
		break;
	case 1:
		op_next_rep(c);
		break;
	case 2:
		c->step = 3;
		cpu_begin();
		op_send(c);
		break;
	case 3:
		cpus[ntimes] = cpu_end();
		times[ntimes++] = t;
		last_count = op_is_search() ? c->n_search :
		    op_id == OP_SELECT ? c->exists : c->n_fetch;
		if (op_is_search() && opt.want_search >= 0 &&
		    c->n_search != (uint64_t)opt.want_search)
			conn_fail(c, "SEARCH found %llu messages, expected %ld",
			    (unsigned long long)c->n_search, opt.want_search);
		if (op_id == OP_SELECT) {
			if (ntimes >= opt.reps)
				peak_rss_kib = tree_peak_rss_kib();
			c->step = 4;
			send_logout(c);
		} else {
			op_next_rep(c);
		}
		break;
	case 4:
		conn_close(c);
		break;
	}
}

static void
op_begin_rep(void)
{
	if (opt.keeper && opt.cold_cmd != NULL)
		die("-K and -x exclude each other");
	if (opt.cold_cmd != NULL) {
		int st = system(opt.cold_cmd);

		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("cold command failed: %s", opt.cold_cmd);
	}
	conn_start();
}

static void
op_closed(void)
{
	if (op_id == OP_SELECT && ntimes < opt.reps)
		op_begin_rep();
	else
		event_base_loopexit(base, NULL);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* median, min and max of v[from..n) */
static void
stats(const double *v, int from, int n, double *med, double *mn, double *mx)
{
	double sorted[MAX_REPS];
	int k = n - from;

	memcpy(sorted, v + from, sizeof(double) * (size_t)k);
	qsort(sorted, (size_t)k, sizeof(double), cmp_double);
	*med = k % 2 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2;
	*mn = sorted[0];
	*mx = sorted[k - 1];
}

static void
op_report(void)
{
	double med, mn, mx, cmed, cmn, cmx;
	/* select and store: every repetition is alike; others: the first fills caches */
	int from = op_id == OP_SELECT || op_id == OP_STORE || ntimes == 1 ? 0 : 1;

	stats(times, from, ntimes, &med, &mn, &mx);
	stats(cpus, from, ntimes, &cmed, &cmn, &cmx);
	printf("result mode=op op=%s reps=%d first=%.4f median=%.4f min=%.4f max=%.4f "
	    "cpu_first=%.4f cpu_median=%.4f peak_rss_kib=%llu count=%llu\n", opt.op, ntimes,
	    times[0], med, mn, mx, cpus[0], cmed, (unsigned long long)peak_rss_kib,
	    (unsigned long long)last_count);
}

/* ------------------------------------------------------------ mixed workload */

static const char append_msg_fmt[] =
    "Return-Path: <loadgen@example.net>\r\n"
    "Received: from mx.example.net (mx.example.net [192.0.2.7])\r\n"
    "\tby mail.example.org with ESMTPS id 4Zq8b01xyz\r\n"
    "\tfor <bench@example.org>; Mon, 24 Nov 2025 10:00:00 +0100 (CET)\r\n"
    "From: Load Generator <loadgen@example.net>\r\n"
    "To: Bench User <bench@example.org>\r\n"
    "Subject: appended by the load generator, conn %u op %llu\r\n"
    "Date: Mon, 24 Nov 2025 10:00:00 +0100\r\n"
    "Message-ID: <lg.%u.%llu@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "%s";

static char append_body[3000];
static uint64_t append_seq;

static void
mixed_build_body(void)
{
	static const char line[] =
	    "The quarterly report is attached; numbers look fine, see section 4.\r\n";
	size_t n = 0;

	while (n + sizeof(line) < sizeof(append_body)) {
		memcpy(append_body + n, line, sizeof(line) - 1);
		n += sizeof(line) - 1;
	}
	append_body[n] = '\0';
}


static void
mixed_send_op(struct conn *c)
{
	unsigned total = 0, r;
	uint32_t top = c->uidnext > 1 ? c->uidnext - 1 : 1, a;

	if (stopping || (window_open && now() >= win_end)) {
		stopping = true;
		c->step = 4;
		send_logout(c);
		return;
	}
	for (int i = 0; i < M_COUNT; i++)
		total += mop_weight[i];
	r = (unsigned)(rnd_next(c) % total);
	for (c->mop = 0; r >= mop_weight[c->mop]; c->mop++)
		r -= mop_weight[c->mop];
	c->step = 3;
	c->op_t0 = now();
	switch (c->mop) {
	case M_SELECT:
		send_select(c);
		break;
	case M_FETCH_HDR:
		/* a client listing 20 messages somewhere in the folder */
		a = rnd_range(c, 1, top > 20 ? top - 19 : 1);
		conn_cmd(c, K_FETCH, "UID FETCH %u:%u (UID FLAGS RFC822.SIZE INTERNALDATE "
		    "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)])",
		    a, a + 19);
		c->item = "BODY[HEADER.FIELDS";
		break;
	case M_FETCH_BODY:
		conn_cmd(c, K_FETCH, "UID FETCH %u (UID BODY.PEEK[])", rnd_range(c, 1, top));
		c->item = "BODY[]";
		break;
	case M_STORE:
		a = rnd_range(c, 1, top);
		conn_cmd(c, K_STORE, "UID STORE %u:%u %cFLAGS (\\Flagged)", a, a + 4,
		    (rnd_next(c) & 1) ? '+' : '-');
		break;
	case M_SEARCH:
		if (rnd_next(c) & 1)
			conn_cmd(c, K_SEARCH, "UID SEARCH UNSEEN");
		else
			conn_cmd(c, K_SEARCH, "UID SEARCH SUBJECT \"report\"");
		break;
	case M_APPEND: {
		size_t cap = sizeof(append_msg_fmt) + sizeof(append_body) + 128;
		int n;

		if (c->abuf == NULL && (c->abuf = malloc(cap)) == NULL)
			die("out of memory");
		n = snprintf(c->abuf, cap, append_msg_fmt, c->id,
		    (unsigned long long)append_seq, c->id,
		    (unsigned long long)append_seq, append_body);
		append_seq++;
		conn_cmd(c, K_APPEND, "APPEND \"%s\" (\\Seen) {%d}", opt.folder, n);
		c->lit_data = c->abuf;
		c->lit_len = (size_t)n;
		break;
	}
	case M_EXPUNGE:
		/* STORE \Deleted, then UID EXPUNGE of just that message (UIDPLUS) */
		c->arg = rnd_range(c, 1, top);
		c->step = 5;
		conn_cmd(c, K_STORE, "UID STORE %u +FLAGS.SILENT (\\Deleted)", c->arg);
		break;
	case M_IDLE:
		conn_cmd(c, K_IDLE, "IDLE");
		break;
	default:
		abort();
	}
}

static double mixed_cpu;

static void
mixed_window_cb(evutil_socket_t fd, short what, void *ctx)
{
	mixed_cpu = cpu_end();
}

/* mixed steps: 0 LOGIN, 1 SELECT, 3 an operation, 5 expunge's STORE, 4 LOGOUT */
static void
mixed_done(struct conn *c, bool ok, const char *line)
{
	double t = now();

	if (!ok) {
		/* no server may refuse any of these; count and show the first few */
		if (errors++ < 10)
			fprintf(stderr, "loadgen: conn %u %s failed: %.200s\n", c->id,
			    c->step == 3 || c->step == 5 ? mop_names[c->mop] : "setup", line);
		if (c->step < 3)
			conn_fail(c, "setup failed");
	}
	switch (c->step) {
	case 0:
		c->step = 1;
		send_select(c);
		break;
	case 1:
		if (++ready_conns == (unsigned)opt.conns) {
			struct timeval tv = { (time_t)opt.secs,
			    (suseconds_t)((opt.secs - (double)(time_t)opt.secs) * 1e6) };

			win_start = now();
			win_end = win_start + opt.secs;
			window_open = true;
			cpu_begin();
			event_base_once(base, -1, EV_TIMEOUT, mixed_window_cb, NULL, &tv);
			fprintf(stderr, "loadgen: %d clients selected, measuring %.0f s\n",
			    opt.conns, opt.secs);
		}
		mixed_send_op(c);
		break;
	case 5:
		c->step = 3;
		conn_cmd(c, K_EXPUNGE, "UID EXPUNGE %u", c->arg);
		break;
	case 3:
		if (window_open && t <= win_end) {
			op_count[c->mop]++;
			op_time[c->mop] += t - c->op_t0;
		}
		mixed_send_op(c);
		break;
	case 4:
		conn_close(c);
		break;
	}
}

static void
mixed_cont(struct conn *c)
{
	/* IDLE accepted: end it at once (the mix measures the round trip) */
	conn_write(c, "DONE\r\n", 6);
}

static void
mixed_report(void)
{
	uint64_t total = 0;

	for (int i = 0; i < M_COUNT; i++)
		total += op_count[i];
	printf("result mode=mixed conns=%d secs=%.1f ops=%llu ops_per_sec=%.1f errors=%llu "
	    "server_cpu=%.2f ops_per_cpu_sec=%.1f", opt.conns, opt.secs,
	    (unsigned long long)total, (double)total / opt.secs, (unsigned long long)errors,
	    mixed_cpu, mixed_cpu > 0 ? (double)total / mixed_cpu : 0.0);
	for (int i = 0; i < M_COUNT; i++)
		printf(" %s=%llu/%.1fms", mop_names[i], (unsigned long long)op_count[i],
		    op_count[i] ? op_time[i] * 1000 / (double)op_count[i] : 0.0);
	printf("\n");
}

/* ------------------------------------------------------------ closed-loop mix */

static struct client *clients;
static double *lat[C_COUNT];		/* latencies (s) of the commands in the window */
static size_t nlat[C_COUNT], caplat[C_COUNT];
static double closed_cpu;
static char closed_body[4400];
static const char closed_msg_fmt[] =
    "Return-Path: <loadgen@example.net>\r\n"
    "From: Load Generator <loadgen@example.net>\r\n"
    "To: Bench User <bench@example.org>\r\n"
    "Subject: closed-loop append, client %u op %llu\r\n"
    "Date: Mon, 24 Nov 2025 10:00:00 +0100\r\n"
    "Message-ID: <lgc.%u.%llu@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "%.*s";

static void
closed_build_body(void)
{
	static const char line[] =
	    "Minutes of the weekly meeting: budget approved, deploy on Thursday.\r\n";
	size_t n = 0;

	while (n + sizeof(line) < sizeof(closed_body)) {
		memcpy(closed_body + n, line, sizeof(line) - 1);
		n += sizeof(line) - 1;
	}
	closed_body[n] = '\0';
}

static void
lat_add(enum cop k, double v)
{
	if (nlat[k] == caplat[k]) {
		caplat[k] = caplat[k] ? caplat[k] * 2 : 4096;
		if ((lat[k] = realloc(lat[k], caplat[k] * sizeof(double))) == NULL)
			die("out of memory");
	}
	lat[k][nlat[k]++] = v;
}

static void
closed_window_cb(evutil_socket_t fd, short what, void *ctx)
{
	closed_cpu = cpu_end();
	stopping = true;
}

/* the base messages' UIDs: 1 .. want_exists */
static uint32_t
closed_top(struct conn *c)
{
	if (opt.want_exists > 0)
		return (uint32_t)opt.want_exists;
	return c->exists > 0 ? c->exists : 1;
}

static void
closed_send_op(struct conn *c)
{
	struct client *cl = c->cl;
	uint32_t top = closed_top(c), a;
	unsigned total = 0, r;
	enum cop op = C_FETCH_FLAGS;

	if (stopping || (window_open && now() >= win_end)) {
		stopping = true;
		c->step = 4;
		send_logout(c);
		return;
	}
	if (opt.relogin > 0 && c->session_ops >= (unsigned)opt.relogin) {
		c->step = 4;
		send_logout(c);
		return;
	}
	for (int i = 0; i < C_MIX_COUNT; i++)
		total += cop_weight[i];
	/* an EXPUNGE needs a message of this client's own; an APPEND room to remember it */
	for (int tries = 0; tries < 20; tries++) {
		r = (unsigned)(rnd_next(c) % total);
		for (op = 0; r >= cop_weight[op]; op++)
			r -= cop_weight[op];
		if (op == C_EXPUNGE && cl->nown == 0)
			continue;
		if (op == C_APPEND && cl->nown == OWN_MAX)
			continue;
		break;
	}
	if ((op == C_EXPUNGE && cl->nown == 0) || (op == C_APPEND && cl->nown == OWN_MAX))
		op = C_FETCH_FLAGS;
	c->session_ops++;
	c->step = 3;
	c->cop = op;
	switch (op) {
	case C_FETCH_FLAGS:
		a = rnd_range(c, 1, top > 20 ? top - 19 : 1);
		conn_cmd(c, K_FETCH, "UID FETCH %u:%u (UID FLAGS)", a, a + 19);
		c->item = "FLAGS (";
		c->want_fetch = top >= 20 ? 20 : top;
		c->fetch_min = true;	/* other sessions' flag changes come as FETCH too */
		break;
	case C_FETCH_HDR:
		a = rnd_range(c, 1, top > 20 ? top - 19 : 1);
		conn_cmd(c, K_FETCH, "UID FETCH %u:%u (UID FLAGS RFC822.SIZE INTERNALDATE "
		    "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)])",
		    a, a + 19);
		c->item = "BODY[HEADER.FIELDS";
		c->want_fetch = top >= 20 ? 20 : top;
		break;
	case C_FETCH_BODY:
		conn_cmd(c, K_FETCH, "UID FETCH %u (UID BODY.PEEK[])", rnd_range(c, 1, top));
		c->item = "BODY[]";
		c->want_fetch = 1;
		break;
	case C_STORE:
		a = rnd_range(c, 1, top > 5 ? top - 4 : 1);
		conn_cmd(c, K_STORE, "UID STORE %u:%u %cFLAGS (\\Flagged)", a, a + 4,
		    (rnd_next(c) & 1) ? '+' : '-');
		break;
	case C_SEARCH:
		if (rnd_next(c) & 1) {
			conn_cmd(c, K_SEARCH, "UID SEARCH UNSEEN");
		} else {
			conn_cmd(c, K_SEARCH, "UID SEARCH SUBJECT \"%s\"", opt.word);
			c->step = 8;	/* the hit count is checked against -s */
		}
		break;
	case C_APPEND: {
		size_t cap = sizeof(closed_msg_fmt) + sizeof(closed_body) + 128;
		int blen = (int)rnd_range(c, 1800, 3800);	/* 2-4 KiB with the header */
		int n;

		if (c->abuf == NULL && (c->abuf = malloc(cap)) == NULL)
			die("out of memory");
		n = snprintf(c->abuf, cap, closed_msg_fmt, cl->idx,
		    (unsigned long long)append_seq, cl->idx, (unsigned long long)append_seq,
		    blen, closed_body);
		append_seq++;
		conn_cmd(c, K_APPEND, "APPEND \"%s\" (\\Seen) {%d}", opt.folder, n);
		c->lit_data = c->abuf;
		c->lit_len = (size_t)n;
		break;
	}
	case C_EXPUNGE:
		c->arg = cl->own[cl->own_head];
		c->cop = C_STORE_DELETED;
		c->step = 5;
		conn_cmd(c, K_STORE, "UID STORE %u +FLAGS.SILENT (\\Deleted)", c->arg);
		break;
	default:
		abort();
	}
}

static void
closed_start(struct client *cl)
{
	struct conn *c = conn_start();

	c->t0 = now();
	c->cl = cl;
	c->rnd ^= (uint64_t)cl->idx << 17;
}

/* the greeting: how long connect + TLS handshake took (-L: inside the window) */
static void
closed_greeted(struct conn *c)
{
	double t = now();

	if (window_open && c->t0 >= win_start && t <= win_end)
		lat_add(C_CONNECT, t - c->t0);
}

/*
 * closed steps: 0 LOGIN, 7 CAPABILITY (only if LOGIN did not show UIDPLUS), 1 SELECT,
 * 3 an operation, 8 SUBJECT search, 5 expunge's STORE \Deleted, 4 LOGOUT
 */
static void
closed_done(struct conn *c, bool ok, const char *line)
{
	struct client *cl = c->cl;
	double t = now();

	if (!ok)
		conn_fail(c, "%s failed: %.200s", cop_names[c->cop], line);
	if (window_open && c->t0 >= win_start && t <= win_end)
		lat_add(c->cop, t - c->t0);
	switch (c->step) {
	case 0:
		if (!c->uidplus) {
			c->step = 7;
			c->cop = C_CAPA;
			conn_cmd(c, K_CAPA, "CAPABILITY");
			break;
		}
		/* fall through */
	case 7:
		if (!c->uidplus)
			conn_fail(c, "the server does not advertise UIDPLUS (needed for "
			    "APPENDUID and UID EXPUNGE)");
		c->step = 1;
		c->session_ops = 0;
		send_select(c);
		break;
	case 1:
		if (opt.want_exists > 0 && c->exists < (uint32_t)opt.want_exists)
			conn_fail(c, "SELECT: %u messages, expected at least %ld", c->exists,
			    opt.want_exists);
		if (!cl->ready) {
			cl->ready = true;
			if (++ready_conns == (unsigned)opt.conns) {
				struct timeval tv = { (time_t)opt.secs,
				    (suseconds_t)((opt.secs - (double)(time_t)opt.secs) * 1e6) };

				win_start = now();
				win_end = win_start + opt.secs;
				window_open = true;
				cpu_begin();
				event_base_once(base, -1, EV_TIMEOUT, closed_window_cb, NULL, &tv);
				fprintf(stderr, "loadgen: %d clients selected, measuring %.0f s\n",
				    opt.conns, opt.secs);
			}
		}
		closed_send_op(c);
		break;
	case 8:
		if (opt.want_search >= 0 && c->n_search != (uint64_t)opt.want_search)
			conn_fail(c, "SEARCH SUBJECT found %llu messages, expected %ld",
			    (unsigned long long)c->n_search, opt.want_search);
		closed_send_op(c);
		break;
	case 3:
		if (c->cop == C_APPEND) {
			const char *p = strstr(line, "[APPENDUID ");
			const char *end = line + strlen(line);
			uint32_t uid;

			if (p == NULL)
				conn_fail(c, "APPEND without APPENDUID: %.200s", line);
			p += 11;
			(void)parse_num(&p, end);
			if (p >= end || *p != ' ')
				conn_fail(c, "bad APPENDUID: %.200s", line);
			p++;
			uid = (uint32_t)parse_num(&p, end);
			if (uid == 0 || (p < end && *p != ']'))
				conn_fail(c, "bad APPENDUID: %.200s", line);
			cl->own[(cl->own_head + cl->nown) % OWN_MAX] = uid;
			cl->nown++;
		} else if (c->cop == C_EXPUNGE) {
			cl->own_head = (cl->own_head + 1) % OWN_MAX;
			cl->nown--;
		}
		closed_send_op(c);
		break;
	case 5:
		c->step = 3;
		c->cop = C_EXPUNGE;
		conn_cmd(c, K_EXPUNGE, "UID EXPUNGE %u", c->arg);
		break;
	case 4:
		conn_close(c);
		if (!stopping)
			closed_start(cl);	/* the next session of this client */
		else if (live == 0)
			event_base_loopexit(base, NULL);
		break;
	default:
		conn_fail(c, "closed: unexpected step %d", c->step);
	}
}

static double
pct(double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i] * 1000;
}

static void
closed_report(void)
{
	size_t all_n = 0, ops = 0, k;
	double *all;

	for (int i = 0; i < C_COUNT; i++) {
		if (i != C_CONNECT)
			all_n += nlat[i];
		if (i < C_MIX_COUNT || i == C_STORE_DELETED)
			ops += nlat[i];
		qsort(lat[i], nlat[i], sizeof(double), cmp_double);
	}
	if ((all = malloc((all_n + 1) * sizeof(double))) == NULL)
		die("out of memory");
	k = 0;
	for (int i = 0; i < C_CONNECT; i++) {
		memcpy(all + k, lat[i], nlat[i] * sizeof(double));
		k += nlat[i];
	}
	qsort(all, all_n, sizeof(double), cmp_double);
	printf("result mode=closed conns=%d users=%d relogin=%d secs=%.1f cmds=%zu "
	    "cmds_per_sec=%.1f mix_cmds_per_sec=%.1f server_cpu=%.2f cmds_per_cpu_sec=%.1f "
	    "p50_ms=%.2f p99_ms=%.2f", opt.conns, opt.users, opt.relogin, opt.secs, all_n,
	    (double)all_n / opt.secs, (double)ops / opt.secs, closed_cpu,
	    closed_cpu > 0 ? (double)all_n / closed_cpu : 0.0, pct(all, all_n, 0.5),
	    pct(all, all_n, 0.99));
	for (int i = 0; i < C_COUNT; i++)
		if (nlat[i] > 0 || i < C_MIX_COUNT)
			printf(" %s_n=%zu %s_p50_ms=%.2f %s_p99_ms=%.2f", cop_names[i], nlat[i],
			    cop_names[i], pct(lat[i], nlat[i], 0.5), cop_names[i],
			    pct(lat[i], nlat[i], 0.99));
	printf("\n");
	free(all);
}

/* ------------------------------------------------------------ connection setup */

static void
connect_done(struct conn *c, bool ok, const char *line)
{
	if (!ok)
		conn_fail(c, "LOGIN failed: %.200s", line);
	if (c->step == 0) {
		if (window_open && now() <= win_end)
			logins++;
		c->step = 4;
		send_logout(c);
	} else {
		conn_close(c);
	}
}

static void
connect_closed(void)
{
	if (!stopping && now() < win_end)
		conn_start();
	else if (live == 0)
		event_base_loopexit(base, NULL);
}

/* ------------------------------------------------------------ idle memory */

struct mem {
	unsigned procs;
	uint64_t pss_kib, rss_kib;
};

static uint64_t
smaps_field(const char *buf, const char *name)
{
	const char *p = strstr(buf, name);

	if (p == NULL)
		return 0;
	p += strlen(name);
	while (*p == ' ')
		p++;
	return strtoull(p, NULL, 10);
}

#define TREE_MAX	65536

/* root and all its descendants (pids); returns how many, at most max */
static size_t
tree_pids(pid_t root, pid_t *tree, size_t max)
{
	static pid_t pids[TREE_MAX], ppids[TREE_MAX];
	size_t n = 0, nt = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (d == NULL)
		die("/proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL && n < TREE_MAX) {
		char path[300], buf[1024], *p;
		FILE *f;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL) {
			int ppid;

			if (sscanf(p + 1, " %*c %d", &ppid) == 1) {
				pids[n] = (pid_t)atol(de->d_name);
				ppids[n] = (pid_t)ppid;
				n++;
			}
		}
		fclose(f);
	}
	closedir(d);
	tree[nt++] = root;
	for (size_t i = 0; i < nt; i++)
		for (size_t j = 0; j < n; j++)
			if (ppids[j] == tree[i] && nt < max)
				tree[nt++] = pids[j];
	return nt;
}

/* Sum Pss and Rss over root and all its descendants. */
static void
mem_measure(pid_t root, struct mem *m)
{
	static pid_t tree[TREE_MAX];
	size_t nt = tree_pids(root, tree, TREE_MAX);

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < nt; i++) {
		char path[64], buf[4096];
		FILE *f;
		size_t len;

		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)tree[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		m->procs++;
		m->pss_kib += smaps_field(buf, "\nPss:");
		m->rss_kib += smaps_field(buf, "\nRss:");
	}
}

/*
 * Server CPU time: the nanoseconds on CPU (/proc/PID/schedstat, first field) summed
 * over the server's process tree, taken before a timed command and compared after it.
 * Unlike the wall time it hardly depends on what else the machine runs.
 */
#define CPU_MAX		4096
static pid_t cpu_pids[CPU_MAX];
static uint64_t cpu_ns[CPU_MAX];
static size_t cpu_n;

static uint64_t
schedstat_ns(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

/* the largest peak RSS (VmHWM) of any process in the server tree, KiB; 0 without -P */
static uint64_t
tree_peak_rss_kib(void)
{
	static pid_t tree[CPU_MAX];
	uint64_t peak = 0;
	size_t n;

	if (opt.root_pid <= 0)
		return 0;
	n = tree_pids(opt.root_pid, tree, CPU_MAX);
	for (size_t i = 0; i < n; i++) {
		char path[64], line[256];
		unsigned long long kib;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)tree[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "VmHWM: %llu", &kib) == 1 && kib > peak)
				peak = kib;
		fclose(f);
	}
	return peak;
}

static void
cpu_begin(void)
{
	if (opt.root_pid <= 0)
		return;
	cpu_n = tree_pids(opt.root_pid, cpu_pids, CPU_MAX);
	for (size_t i = 0; i < cpu_n; i++)
		cpu_ns[i] = schedstat_ns(cpu_pids[i]);
}

/* seconds of server CPU since cpu_begin (processes that ended meanwhile are lost) */
static double
cpu_end(void)
{
	uint64_t sum = 0;

	if (opt.root_pid <= 0)
		return 0;
	for (size_t i = 0; i < cpu_n; i++) {
		uint64_t ns = schedstat_ns(cpu_pids[i]);

		if (ns > cpu_ns[i])
			sum += ns - cpu_ns[i];
	}
	return (double)sum / 1e9;
}

static struct mem mem_before;

static void
idle_measure_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct mem after;
	double n = opt.conns;

	mem_measure(opt.root_pid, &after);
	printf("result mode=idle conns=%d procs_before=%u procs_after=%u "
	    "pss_before_kib=%llu pss_after_kib=%llu rss_before_kib=%llu rss_after_kib=%llu "
	    "pss_per_conn_kib=%.1f rss_per_conn_kib=%.1f setup_secs=%.2f\n",
	    opt.conns, mem_before.procs, after.procs,
	    (unsigned long long)mem_before.pss_kib, (unsigned long long)after.pss_kib,
	    (unsigned long long)mem_before.rss_kib, (unsigned long long)after.rss_kib,
	    ((double)after.pss_kib - (double)mem_before.pss_kib) / n,
	    ((double)after.rss_kib - (double)mem_before.rss_kib) / n,
	    win_end - win_start);
	fflush(stdout);
	event_base_loopexit(base, NULL);
}

/* idle steps: 0 LOGIN, 1 SELECT, 3 IDLE (waiting for the continuation), 6 idling */
static void
idle_done(struct conn *c, bool ok, const char *line)
{
	if (!ok)
		conn_fail(c, "command failed: %.200s", line);
	if (c->step == 0) {
		c->step = 1;
		send_select(c);
	} else if (c->step == 1) {
		c->step = 3;
		conn_cmd(c, K_IDLE, "IDLE");
	} else {
		conn_fail(c, "IDLE ended: %.200s", line);
	}
}

static void
idle_cont(struct conn *c)
{
	struct timeval settle = { 3, 0 };

	c->step = 6;
	ready_conns++;
	if (opened < (unsigned)opt.conns) {
		opened++;
		conn_start();
	}
	if (ready_conns == (unsigned)opt.conns) {
		win_end = now();
		fprintf(stderr, "loadgen: %d connections idling after %.1f s; settling\n",
		    opt.conns, win_end - win_start);
		event_base_once(base, -1, EV_TIMEOUT, idle_measure_cb, NULL, &settle);
	}
}

/* ------------------------------------------------------------ dispatch */

static void
mode_ready(struct conn *c)
{
	c->step = 0;
	send_login(c);
}

static void
mode_done(struct conn *c, bool ok, const char *line)
{
	switch (opt.mode) {
	case MODE_OP:
		op_done(c, ok, line);
		break;
	case MODE_MIXED:
		mixed_done(c, ok, line);
		break;
	case MODE_CONNECT:
		connect_done(c, ok, line);
		break;
	case MODE_IDLE:
		idle_done(c, ok, line);
		break;
	case MODE_CLOSED:
		closed_done(c, ok, line);
		break;
	}
}

static void
mode_cont(struct conn *c)
{
	if (opt.mode == MODE_MIXED)
		mixed_cont(c);
	else if (opt.mode == MODE_OP && c->keeper)
		op_begin_rep();		/* the folder is held open: start measuring */
	else if (opt.mode == MODE_IDLE)
		idle_cont(c);
	else
		conn_fail(c, "unexpected IDLE continuation");
}

static void
mode_closed(void)
{
	switch (opt.mode) {
	case MODE_OP:
		op_closed();
		break;
	case MODE_MIXED:
		if (live == 0)
			event_base_loopexit(base, NULL);
		break;
	case MODE_CONNECT:
		connect_closed();
		break;
	case MODE_IDLE:
	case MODE_CLOSED:	/* closed_done decides */
		break;
	}
}

static void
tick_cb(evutil_socket_t fd, short what, void *ctx)
{
	if (opt.mode == MODE_CONNECT && now() >= win_end)
		stopping = true;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen [options] op NAME | mixed | closed | connect | idle\n"
	    "  -h HOST -p PORT   server (127.0.0.1:993)\n"
	    "  -n                plaintext instead of implicit TLS\n"
	    "  -u USER -w PASS   credentials (bench/bench)\n"
	    "  -U N              users USER0 .. USER<N-1>, connections round-robin\n"
	    "  -f FOLDER         folder to select (INBOX)\n"
	    "  -e N              expected EXISTS (op mode); closed: UIDs 1..N exist\n"
	    "  -s N              expected SEARCH hits (op search-*, closed SEARCH SUBJECT)\n"
	    "  -W WORD           search term (search-body zanzibar, search-subject and\n"
	    "                    closed kilimanjaro, search-from quimby)\n"
	    "  -L N              closed: LOGOUT + new connection + LOGIN every N operations\n"
	    "  -r N              repetitions (op mode, 5)\n"
	    "  -x CMD            shell command before each SELECT repetition (cold)\n"
	    "  -K                op: keep another session with the folder selected (IDLE)\n"
	    "  -c N              connections (mixed, closed, connect, idle)\n"
	    "  -t SECS           duration (mixed, closed, connect)\n"
	    "  -P PID            server root pid: memory (idle) and CPU time (op, mixed)\n"
	    "  -i N              connections being set up at once (idle, 16)\n"
	    "  -S SEED           random seed (mixed)\n"
	    "  -M W,W,...        mixed weights: select, fetch_headers, fetch_body, store,\n"
	    "                    search, append, expunge, idle (5,25,20,15,10,10,10,5)\n"
	    "  -v                print the dialogue\n"
	    "ops: select fetch-flags fetch-envelope fetch-bodystructure search-body store-seen\n"
	    "     search-subject search-from sort-date sort-subject thread-references\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const char *const op_names[OP_COUNT] = {
		"select", "fetch-flags", "fetch-envelope", "fetch-bodystructure",
		"search-body", "store-seen", "search-subject", "search-from", "sort-date",
		"sort-subject", "thread-references"
	};
	struct rlimit rl;
	int ch;

	while ((ch = getopt(argc, argv, "h:p:nu:U:w:f:e:s:W:r:x:c:t:P:i:S:M:L:Kv")) != -1) {
		switch (ch) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'n': opt.tls = false; break;
		case 'u': opt.user = optarg; break;
		case 'U': opt.users = atoi(optarg); break;
		case 'w': opt.pass = optarg; break;
		case 'f': opt.folder = optarg; break;
		case 'e': opt.want_exists = atol(optarg); break;
		case 's': opt.want_search = atol(optarg); break;
		case 'W': opt.word = optarg; break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'x': opt.cold_cmd = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 't': opt.secs = atof(optarg); break;
		case 'P': opt.root_pid = (pid_t)atol(optarg); break;
		case 'i': opt.inflight = atoi(optarg); break;
		case 'S': opt.seed = (unsigned)atol(optarg); break;
		case 'M': {
			char *p = optarg;
			unsigned total = 0;

			for (int i = 0; i < M_COUNT; i++) {
				mop_weight[i] = (unsigned)strtoul(p, &p, 10);
				total += mop_weight[i];
				if (*p == ',')
					p++;
				else if (i < M_COUNT - 1 || *p != '\0')
					usage();
			}
			if (total == 0)
				usage();
			break;
		}
		case 'K': opt.keeper = true; break;
		case 'L': opt.relogin = atoi(optarg); break;
		case 'v': opt.verbose = true; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "op") == 0 && argc == 2) {
		opt.mode = MODE_OP;
		opt.op = argv[1];
		for (op_id = 0; op_id < OP_COUNT && strcmp(op_names[op_id], opt.op) != 0;
		    op_id++)
			;
		if (op_id == OP_COUNT)
			usage();
		if (opt.word == NULL)
			opt.word = op_id == OP_SEARCH_SUBJ ? "kilimanjaro" :
			    op_id == OP_SEARCH_FROM ? "quimby" : "zanzibar";
	} else if (strcmp(argv[0], "mixed") == 0 && argc == 1) {
		opt.mode = MODE_MIXED;
	} else if (strcmp(argv[0], "closed") == 0 && argc == 1) {
		opt.mode = MODE_CLOSED;
		if (opt.word == NULL)
			opt.word = "kilimanjaro";
	} else if (strcmp(argv[0], "connect") == 0 && argc == 1) {
		opt.mode = MODE_CONNECT;
	} else if (strcmp(argv[0], "idle") == 0 && argc == 1) {
		opt.mode = MODE_IDLE;
		if (opt.root_pid <= 0)
			usage();
	} else {
		usage();
	}
	if (opt.reps < 1 || opt.reps > MAX_REPS || opt.conns < 1 || opt.secs <= 0 ||
	    opt.inflight < 1 || opt.port <= 0 || opt.port > 65535 || opt.relogin < 0)
		usage();
	if (opt.word == NULL)
		opt.word = "zanzibar";
	if (strpbrk(opt.user, "\"\\") || strpbrk(opt.pass, "\"\\") ||
	    strpbrk(opt.folder, "\"\\") || strpbrk(opt.word, "\"\\"))
		die("user, password, folder and word must not contain '\"' or '\\'");

	/* many connections: raise the descriptor limit to the hard limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1)
		die("bad IPv4 address %s", opt.host);
	if ((base = event_base_new()) == NULL)
		die("event_base_new failed");
	if (opt.tls) {
		if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
		/* every connection a full handshake, as from distinct clients */
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	}
	mixed_build_body();
	closed_build_body();

	switch (opt.mode) {
	case MODE_OP:
		if (opt.keeper)
			conn_start()->keeper = true;
		else
			op_begin_rep();
		break;
	case MODE_MIXED:
		for (int i = 0; i < opt.conns; i++)
			conn_start();
		break;
	case MODE_CLOSED:
		if ((clients = calloc((size_t)opt.conns, sizeof(*clients))) == NULL)
			die("out of memory");
		for (int i = 0; i < opt.conns; i++) {
			clients[i].idx = (unsigned)i;
			closed_start(&clients[i]);
		}
		break;
	case MODE_CONNECT: {
		struct timeval tv = { 0, 100000 };

		win_start = now();
		win_end = win_start + opt.secs;
		window_open = true;
		tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
		event_add(tick, &tv);
		for (int i = 0; i < opt.conns; i++)
			conn_start();
		break;
	}
	case MODE_IDLE:
		mem_measure(opt.root_pid, &mem_before);
		win_start = now();
		for (; opened < (unsigned)opt.inflight && opened < (unsigned)opt.conns; opened++)
			conn_start();
		break;
	}
	event_base_dispatch(base);

	switch (opt.mode) {
	case MODE_OP:
		op_report();
		break;
	case MODE_MIXED:
		mixed_report();
		break;
	case MODE_CLOSED:
		closed_report();
		break;
	case MODE_CONNECT:
		printf("result mode=connect conns=%d secs=%.1f logins=%llu logins_per_sec=%.1f\n",
		    opt.conns, opt.secs, (unsigned long long)logins, (double)logins / opt.secs);
		break;
	case MODE_IDLE:
		break;
	}
	if (tick != NULL)
		event_free(tick);
	return errors > 0 ? 1 : 0;
}
