/*
 * jmap_client.c — the JMAP HTTP session in the per-user mail process: requests are read
 * under bounds (head HTTP_HEAD_MAX, body JMAP_MAX_SIZE_REQUEST held in memory because
 * JSON is parsed whole, JMAP_REQUEST_SECS for a whole request, JMAP_IDLE_SECS between
 * requests) and answered in order. Routes: GET /.well-known/jmap (the session resource,
 * RFC 8620 §2), POST /jmap/api (§3), and the push connections (jmap_pushconn.c: GET
 * /jmap/eventsource/ §7.3, the WebSocket upgrade at /jmap/ws, RFC 8887). Every request must carry the Authorization the
 * login process checked: its SHA-256 is kept, and another value ends the connection
 * with 401 (the client reconnects and logs in again). Runs as the mailbox owner.
 */
#include "jmap/jmap.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jmap/jmap_push.h"
#include "jmap/jmap_request.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/message.h"
#include "mailproc/mail_user.h"
#include "proto/http.h"

#define API_PATH	"/jmap/api"
#define JMAP_ES_PATH	"/jmap/eventsource"
#define JMAP_WS_PATH	"/jmap/ws"

/*
 * JC_WAIT: an API request waits for a method (a pending call, jmap.h); no input is read.
 * JC_PUSH: the connection is an EventSource or WebSocket (jmap_pushconn.c).
 */
enum jc_state { JC_HEAD, JC_BODY, JC_DOWNLOAD, JC_WAIT, JC_CLOSING, JC_PUSH };

/* An API request being run: its calls in order, suspended while one waits. */
struct api_run {
	struct jmap_request req;
	json_t *responses;
	json_t *created_ids;	/* creation id -> id, shared by the calls */
	size_t next;		/* the next call to run */
	struct jmap_call *waiting;	/* the call that waits (owned), or NULL */
	const char *call_name, *call_id;	/* of the waiting call */
	jmap_api_done_fn *done;	/* gets the Response once every call has run */
	void *done_ctx;
};

#define DOWNLOAD_CHUNK	(64 * 1024)	/* octets of a blob produced per write round */

struct jmap_client {
	struct mail_session session;
	struct mail_user *mu;
	struct bufferevent *bev;
	struct event *timer;
	struct event_base *base;
	enum jc_state state;
	struct api_run *api;	/* JC_WAIT: the request held */
	char *home;
	bool tls;
	bool have_auth;
	bool in_request;		/* bytes of a request have arrived */
	unsigned char auth_hash[32];	/* SHA-256 of the Authorization value */
	unsigned id;
	char *user, *ip;
	char account_id[32];
	/* the request being read */
	enum http_method method;
	char *target;
	char *host;
	bool keep_alive;
	uint64_t body_left;
	struct buf body;
	/* JC_DOWNLOAD: the message file, mapped, streamed with CRLF line ends */
	unsigned char *map;
	size_t map_len;
	struct mail_octets_reader reader;
	bool raw;			/* an uploaded blob: its bytes as they are */
	size_t raw_pos;
	/* POST /jmap/upload/: the body streams into a file (jmap_upload.c) */
	int upload_fd;			/* -1: not an upload */
	bool upload_failed;
	char upload_tmp[40];
	char upload_type[128];
	uint64_t upload_size;
	/* a push request (EventSource, WebSocket) and then JC_PUSH's connection */
	bool push_target;
	struct jmap_push_req push_req;
	struct jmap_pushconn *push;
};

static unsigned next_id;

static void client_free(struct jmap_client *c);
static void client_input(struct jmap_client *c);

static void
client_shutdown(struct mail_session *s)
{
	client_free(s->ctx);
}

static const struct mail_session_ops session_ops = { .shutdown = client_shutdown };

static void
sha256(const void *p, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1)
		panic("jmap: SHA-256 failed");
}

static void
arm_timer(struct jmap_client *c, unsigned secs)
{
	struct timeval tv = { secs, 0 };

	evtimer_add(c->timer, &tv);
}

/* ---------------------------------------------------------------- output */

static void
respond(struct jmap_client *c, unsigned status, const char *ctype, const char *extra,
    const void *body, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %u %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-cache, no-store, must-revalidate\r\n%s%s%s%s%s\r\n", status,
	    http_reason(status), len, ctype != NULL ? "Content-Type: " : "",
	    ctype != NULL ? ctype : "", ctype != NULL ? "\r\n" : "", extra,
	    c->keep_alive ? "" : "Connection: close\r\n");
	if (len > 0 && c->method != HTTP_HEAD)
		evbuffer_add(out, body, len);
	if (!c->keep_alive)
		c->state = JC_CLOSING;
}

static void
respond_text(struct jmap_client *c, unsigned status, const char *text)
{
	respond(c, status, "text/plain; charset=utf-8", "", text, strlen(text));
}

static void
respond_json(struct jmap_client *c, unsigned status, const char *ctype, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	if (s == NULL) {
		respond_text(c, 500, "Internal error");
		return;
	}
	respond(c, status, ctype, "", s, strlen(s));
	free(s);
}

/* RFC 8620 §3.6.1: request-level errors as RFC 7807 problem details. */
static void
respond_problem(struct jmap_client *c, unsigned status, const char *type, const char *detail,
    const char *limit)
{
	json_t *p = json_pack("{s:s, s:I, s:s}", "type", type, "status", (json_int_t)status,
	    "detail", detail);

	if (limit != NULL)
		(void)json_object_set_new(p, "limit", json_string(limit));
	respond_json(c, status, "application/problem+json", p);
	json_decref(p);
}

/* ---------------------------------------------------------------- session resource */

/* jmap_base_url, else the scheme of the connection and the request's Host. */
static char *
base_url(struct jmap_client *c)
{
	const char *conf = c->mu->cfg->jmap_base_url;

	if (conf != NULL)
		return xstrdup(conf);
	return xasprintf("%s://%s", c->tls ? "https" : "http",
	    c->host != NULL ? c->host : "localhost");
}

static void
serve_session(struct jmap_client *c)
{
	char *base = base_url(c);
	char *api = xasprintf("%s" API_PATH, base);
	char *dl = xasprintf("%s/jmap/download/{accountId}/{blobId}/{name}?accept={type}",
	    base);
	char *ul = xasprintf("%s/jmap/upload/{accountId}/", base);
	char *ev = xasprintf("%s/jmap/eventsource/?types={types}&closeafter={closeafter}"
	    "&ping={ping}", base);
	json_t *s;

	s = json_pack("{s:{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:[]}, s:{}, s:{}, s:{}},"
	    " s:{s:{s:s, s:b, s:b, s:{s:{s:n, s:n, s:I, s:I, s:[s], s:b}, s:{s:I, s:{}}, s:{}}}},"
	    " s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "capabilities",
	    "urn:ietf:params:jmap:core",
	    "maxSizeUpload", (json_int_t)JMAP_MAX_SIZE_UPLOAD,
	    "maxConcurrentUpload", (json_int_t)1,
	    "maxSizeRequest", (json_int_t)JMAP_MAX_SIZE_REQUEST,
	    "maxConcurrentRequests", (json_int_t)1,
	    "maxCallsInRequest", (json_int_t)JMAP_MAX_CALLS_IN_REQUEST,
	    "maxObjectsInGet", (json_int_t)JMAP_MAX_OBJECTS_IN_GET,
	    "maxObjectsInSet", (json_int_t)JMAP_MAX_OBJECTS_IN_SET,
	    "collationAlgorithms",
	    "urn:ietf:params:jmap:mail",
	    "urn:ietf:params:jmap:submission",
	    "urn:ietf:params:jmap:vacationresponse",
	    "accounts", c->account_id,
	    "name", c->user,
	    "isPersonal", 1,
	    "isReadOnly", 0,
	    "accountCapabilities", "urn:ietf:params:jmap:mail",
	    "maxMailboxesPerEmail", "maxMailboxDepth",
	    "maxSizeMailboxName", (json_int_t)490,
	    "maxSizeAttachmentsPerEmail", (json_int_t)0,
	    "emailQuerySortOptions", "receivedAt",
	    "mayCreateTopLevelMailbox", 1,
	    /* RFC 8621 §1.3.2: sent at once (no delayed send), no SMTP extensions */
	    "urn:ietf:params:jmap:submission", "maxDelayedSend", (json_int_t)0,
	    "submissionExtensions",
	    "urn:ietf:params:jmap:vacationresponse",
	    "primaryAccounts", "urn:ietf:params:jmap:mail", c->account_id,
	    "urn:ietf:params:jmap:submission", c->account_id,
	    "urn:ietf:params:jmap:vacationresponse", c->account_id,
	    "username", c->user,
	    "apiUrl", api,
	    "downloadUrl", dl,
	    "uploadUrl", ul,
	    "eventSourceUrl", ev,
	    "state", "0");
	if (s != NULL) {
		/* RFC 8887 §4.1: JMAP over WebSocket, with push (the base URL's scheme
		 * with "ws" for "http") */
		char *ws = xasprintf("ws%s" JMAP_WS_PATH, strncmp(base, "http", 4) == 0 ?
		    base + 4 : base);

		(void)json_object_set_new(json_object_get(s, "capabilities"),
		    "urn:ietf:params:jmap:websocket", json_pack("{s:s, s:b}", "url", ws,
		    "supportsPush", 1));
		free(ws);
	}
	if (s != NULL) {
		/* RFC 9661: only for a user whose Sieve scripts are set up */
		json_t *sc = jmap_sieve_capability(c->mu->cfg, c->home);

		if (sc != NULL) {
			(void)json_object_set_new(json_object_get(s, "capabilities"),
			    "urn:ietf:params:jmap:sieve", json_pack("{s:s}", "implementation",
			    "buzon"));
			(void)json_object_set_new(json_object_get(json_object_get(json_object_get(
			    s, "accounts"), c->account_id), "accountCapabilities"),
			    "urn:ietf:params:jmap:sieve", sc);
			(void)json_object_set_new(json_object_get(s, "primaryAccounts"),
			    "urn:ietf:params:jmap:sieve", json_string(c->account_id));
		}
	}
	if (s == NULL)
		respond_text(c, 500, "Internal error");
	else
		respond_json(c, 200, "application/json", s);
	json_decref(s);
	free(base);
	free(api);
	free(dl);
	free(ul);
	free(ev);
}

/* ---------------------------------------------------------------- API */

static void api_resume(void *ctx);

static json_t *
method_error(const char *type, const char *desc, const char *call_id)
{
	json_t *e = json_pack("{s:s}", "type", type);

	if (desc != NULL)
		(void)json_object_set_new(e, "description", json_string(desc));
	return json_pack("[s, o, s]", "error", e, call_id);
}

/*
 * The response(s) of a call that ran: its own, then any implicit ones (jc->extra). The
 * creations of a /set become the request's creation ids (RFC 8620 §5.3), for the
 * "#creationId" references of later calls and the response's createdIds.
 */
static void
call_responses(json_t *responses, const char *name, const char *call_id, struct jmap_call *jc)
{
	json_t *created = json_object_get(jc->result, "created"), *e;
	const char *k;
	size_t i;

	json_object_foreach(created, k, e)
		if (json_is_string(json_object_get(e, "id")))
			(void)json_object_set(jc->created_ids, k, json_object_get(e, "id"));
	if (jc->result == NULL)
		(void)json_array_append_new(responses, method_error(jc->error != NULL ?
		    jc->error : "serverFail", jc->error_desc, call_id));
	else
		(void)json_array_append_new(responses, json_pack("[s, o, s]", name, jc->result,
		    call_id));
	jc->result = NULL;
	/* RFC 8621 §7.5: an implicit Email/set answers with the same method call id */
	json_array_foreach(jc->extra, i, e)
		(void)json_array_append_new(responses, json_pack("[O, O, s]",
		    json_array_get(e, 0), json_array_get(e, 1), call_id));
	json_decref(jc->extra);
	jc->extra = NULL;
}

/*
 * Run one call, appending its response(s) to a->responses; false when it waits
 * (a->waiting is then the call, resumed by api_resume).
 */
static bool
run_call(struct jmap_client *c, struct api_run *a, json_t *call)
{
	const char *name = json_string_value(json_array_get(call, 0));
	const char *call_id = json_string_value(json_array_get(call, 2));
	json_t *args = json_deep_copy(json_array_get(call, 1));
	struct jmap_call *jc;
	const char *etype;

	if (args == NULL) {
		(void)json_array_append_new(a->responses, method_error("serverFail", NULL,
		    call_id));
		return true;
	}
	if (jmap_resolve_refs(args, a->responses, &etype) < 0) {
		json_decref(args);
		(void)json_array_append_new(a->responses, method_error(etype, NULL, call_id));
		return true;
	}
	if (strcmp(name, "Core/echo") == 0 && (a->req.caps & JMAP_CAP_CORE) != 0) {
		(void)json_array_append_new(a->responses, json_pack("[s, o, s]", name, args,
		    call_id));
		return true;
	}
	jc = xcalloc(1, sizeof(*jc));
	jc->mu = c->mu;
	jc->account_id = c->account_id;
	jc->args = args;
	jc->base = c->base;
	jc->user = c->user;
	jc->home = c->home != NULL ? c->home : "";
	jc->caps = a->req.caps;
	jc->created_ids = a->created_ids;
	jc->resume = api_resume;
	jc->resume_ctx = c;
	/* RFC 8620 §3.6.2: a method of a capability the request does not use is unknown */
	if (!jmap_mail_call(name, a->req.caps, jc)) {
		(void)json_array_append_new(a->responses, method_error("unknownMethod", NULL,
		    call_id));
	} else if (jc->waiting) {
		a->waiting = jc;
		a->call_name = name;
		a->call_id = call_id;
		return false;
	} else {
		call_responses(a->responses, name, call_id, jc);
	}
	json_decref(args);
	free(jc);
	return true;
}

static void
api_free(struct api_run *a)
{
	if (a == NULL)
		return;
	if (a->waiting != NULL) {
		if (a->waiting->abandon != NULL)
			a->waiting->abandon(a->waiting);
		json_decref(a->waiting->args);
		json_decref(a->waiting->result);
		json_decref(a->waiting->extra);
		free(a->waiting);
	}
	json_decref(a->responses);
	json_decref(a->created_ids);
	jmap_request_free(&a->req);
	free(a);
}

/* Run the calls from a->next on; false while one waits. Responds when all have run. */
static bool
api_continue(struct jmap_client *c, struct api_run *a)
{
	json_t *resp;

	while (a->next < json_array_size(a->req.calls))
		if (!run_call(c, a, json_array_get(a->req.calls, a->next++)))
			return false;
	resp = json_pack("{s:O, s:s}", "methodResponses", a->responses, "sessionState", "0");
	/* §3.4: createdIds only when the request had it */
	if (a->req.created_ids != NULL)
		(void)json_object_set(resp, "createdIds", a->created_ids);
	a->done(c, resp, a->done_ctx);
	json_decref(resp);
	return true;
}

static void request_done(struct jmap_client *c);

/* A waiting call is done (from the event loop): its responses, then the rest. */
static void
api_resume(void *ctx)
{
	struct jmap_client *c = ctx;
	struct api_run *a = c->api;
	struct jmap_call *jc = a->waiting;
	bool ws = c->push != NULL;	/* a WebSocket's Request (jmap_pushconn.c) */

	a->waiting = NULL;
	call_responses(a->responses, a->call_name, a->call_id, jc);
	json_decref(jc->args);
	free(jc);
	if (c->state == JC_CLOSING) {
		/* the WebSocket ended while the call waited (a push found its output full):
		 * no one to answer, and the connection must stay closing */
		api_free(a);
		c->api = NULL;
		return;
	}
	if (!ws)
		c->state = JC_BODY;	/* responding may make it JC_CLOSING */
	if (!api_continue(c, a)) {
		if (!ws)
			c->state = JC_WAIT;
		return;
	}
	api_free(a);
	c->api = NULL;
	if (ws) {
		jmap_pushconn_input(c->push);	/* the next messages; may end c */
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	request_done(c);
	client_input(c);
}

int
jmap_client_run(struct jmap_client *c, const unsigned char *body, size_t len,
    json_t **problem_r, jmap_api_done_fn *done, void *done_ctx)
{
	const char *detail, *limit;
	enum jmap_problem p;
	struct api_run *a = xcalloc(1, sizeof(*a));

	*problem_r = NULL;
	p = jmap_request_decode(body, len, &a->req, &detail, &limit);
	if (p != JMAP_OK) {
		free(a);
		log_info("jmap bad request user=%s session=%u problem=%s", c->user, c->id,
		    jmap_problem_type(p));
		*problem_r = json_pack("{s:s, s:i, s:s}", "type", jmap_problem_type(p),
		    "status", 400, "detail", detail);
		if (limit != NULL)
			(void)json_object_set_new(*problem_r, "limit", json_string(limit));
		return -1;
	}
	a->responses = json_array();
	a->created_ids = a->req.created_ids != NULL ? json_deep_copy(a->req.created_ids) :
	    json_object();
	a->done = done;
	a->done_ctx = done_ctx;
	if (api_continue(c, a)) {
		api_free(a);
		return 1;
	}
	/* a call waits: api_resume goes on */
	c->api = a;
	return 0;
}

static void
http_api_done(struct jmap_client *c, json_t *resp, void *ctx)
{
	(void)ctx;
	respond_json(c, 200, "application/json", resp);
}

static void
serve_api(struct jmap_client *c)
{
	json_t *problem;

	switch (jmap_client_run(c, (const unsigned char *)c->body.data, c->body.len, &problem,
	    http_api_done, NULL)) {
	case -1:
		respond_json(c, 400, "application/problem+json", problem);
		json_decref(problem);
		break;
	case 0:
		/* no input is read until api_resume */
		c->state = JC_WAIT;
		bufferevent_disable(c->bev, EV_READ);
		break;
	}
}

static int
write_full(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---------------------------------------------------------------- download */

static void
download_end(struct jmap_client *c)
{
	if (c->map != NULL)
		munmap(c->map, c->map_len);
	c->map = NULL;
	c->map_len = 0;
}

/* Produce the blob while the output has room; false while more is to come. */
static bool
download_pump(struct jmap_client *c)
{
	struct buf chunk;
	int n = 1;

	buf_init(&chunk, DOWNLOAD_CHUNK);
	while (c->raw && !conn_output_full(c->bev, CONN_IMAP)) {
		size_t k = MIN(c->map_len - c->raw_pos, (size_t)DOWNLOAD_CHUNK);

		if ((n = k > 0) == 0)
			break;
		evbuffer_add(bufferevent_get_output(c->bev), c->map + c->raw_pos, k);
		c->raw_pos += k;
		arm_timer(c, JMAP_IDLE_SECS);
	}
	while (!c->raw && !conn_output_full(c->bev, CONN_IMAP)) {
		buf_reset(&chunk);
		if ((n = mail_octets_read(&c->reader, &chunk, DOWNLOAD_CHUNK)) <= 0)
			break;
		evbuffer_add(bufferevent_get_output(c->bev), chunk.data, chunk.len);
		/* progress: a blob may take long, a client that reads nothing may not */
		arm_timer(c, JMAP_IDLE_SECS);
	}
	buf_deinit(&chunk);
	if (n > 0)
		return false;
	download_end(c);
	return true;
}

/* A safe token for a header value: the type a client asked for, or a file name. */
static bool
header_safe(const char *s, size_t len)
{
	if (len == 0 || len > 200)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == '\\' || s[i] == ';' || s[i] == '%')
			return false;
	return true;
}

/*
 * Answer a download from fd (a message, an upload, a decoded part): mapped and pumped
 * as the client reads (download_pump), so a client that does not read holds a mapping,
 * not memory. raw: the octets as they are; else the message with CRLF line ends.
 */
static void
download_from_fd(struct jmap_client *c, int fd, bool raw, const char *type, const char *name,
    size_t nlen)
{
	struct stat sb;
	uint64_t total;
	size_t len;

	c->raw = raw;
	c->raw_pos = 0;
	if (fstat(fd, &sb) < 0 || sb.st_size < 0) {
		close(fd);
		respond_text(c, 503, "Temporary failure");
		return;
	}
	len = (size_t)sb.st_size;
	c->map = len > 0 ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		respond_text(c, 503, "Temporary failure");
		return;
	}
	c->map_len = len;
	mail_octets_reader_init(&c->reader, c->map != NULL ? c->map :
	    (const unsigned char *)"", len, 0, UINT64_MAX, &total);
	if (c->raw)
		total = len;
	evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 200 OK\r\n"
	    "Content-Length: %llu\r\nContent-Type: %s\r\n"
	    "Cache-Control: private, immutable, max-age=31536000\r\n%s%.*s%s%s\r\n",
	    (unsigned long long)total, type,
	    header_safe(name, nlen) ? "Content-Disposition: attachment; filename=\"" : "",
	    header_safe(name, nlen) ? (int)nlen : 0, name,
	    header_safe(name, nlen) ? "\"\r\n" : "", c->keep_alive ? "" : "Connection: close\r\n");
	if (c->method == HTTP_HEAD) {
		download_end(c);
		if (!c->keep_alive)
			c->state = JC_CLOSING;
		return;
	}
	c->state = JC_DOWNLOAD;
}

/*
 * The blob of a body part (jmap_body.c): its decoded content (at most 64 MiB, decoded
 * at once: the mail process does one at a time), written to an unnamed scratch file
 * and sent from there like a message; its type is the part's unless the client asked
 * for one (accept).
 */
static void
serve_part_download(struct jmap_client *c, const char *blob, const char *name, size_t nlen,
    const char *accept)
{
	char type[256], *data;
	size_t len;
	int r, fd;

	if ((r = jmap_body_blob_read(c->mu, blob, &data, &len, type, sizeof(type))) <= 0) {
		if (r < 0)
			respond_text(c, 503, "Temporary failure");
		else
			respond_text(c, 404, "Not found");
		return;
	}
	if (!header_safe(type, strlen(type)))
		snprintf(type, sizeof(type), "application/octet-stream");
	fd = jmap_scratch_file(c->mu, data, len);
	free(data);
	if (fd < 0) {
		respond_text(c, 503, "Temporary failure");
		return;
	}
	download_from_fd(c, fd, true, accept != NULL ? accept : type, name, nlen);
}

/*
 * GET /jmap/download/{accountId}/{blobId}/{name}?accept={type} (RFC 8620 §6.2): the
 * blob is the message, with CRLF line ends (its size is the Email's size).
 */
static void
serve_download(struct jmap_client *c)
{
	const char *p = c->target + strlen("/jmap/download/"), *slash, *name, *q;
	char acc[64], blob[256], type[256];
	size_t nlen;
	int fd, r;
	bool accepted = false, raw;

	if ((slash = strchr(p, '/')) == NULL || (size_t)(slash - p) >= sizeof(acc))
		goto notfound;
	memcpy(acc, p, (size_t)(slash - p));
	acc[slash - p] = '\0';
	p = slash + 1;
	if ((slash = strchr(p, '/')) == NULL || (size_t)(slash - p) >= sizeof(blob))
		goto notfound;
	memcpy(blob, p, (size_t)(slash - p));
	blob[slash - p] = '\0';
	name = slash + 1;
	q = strchr(name, '?');
	nlen = q != NULL ? (size_t)(q - name) : strlen(name);
	snprintf(type, sizeof(type), "message/rfc822");
	if (q != NULL && strncmp(q, "?accept=", 8) == 0 && header_safe(q + 8, strlen(q + 8))) {
		snprintf(type, sizeof(type), "%s", q + 8);
		accepted = true;
	}
	if (strcmp(acc, c->account_id) != 0)
		goto notfound;
	if (strlen(blob) > 17) {
		serve_part_download(c, blob, name, nlen, accepted ? type : NULL);
		return;
	}
	/* uploads and Sieve scripts (jmap_sieve.c) are served as they are */
	raw = blob[0] == 'U' || blob[0] == 'G';
	if (raw && (q == NULL || strncmp(q, "?accept=", 8) != 0 ||
	    !header_safe(q + 8, strlen(q + 8))))
		snprintf(type, sizeof(type), blob[0] == 'G' ? "application/sieve" :
		    "application/octet-stream");
	r = blob[0] == 'G' ? jmap_sieve_blob_open(c->mu, c->home, blob, &fd) :
	    jmap_blob_open(c->mu, blob, &fd);
	if (r <= 0) {
		if (r < 0) {
			respond_text(c, 503, "Temporary failure");
			return;
		}
		goto notfound;
	}
	download_from_fd(c, fd, raw, type, name, nlen);
	return;
notfound:
	respond_text(c, 404, "Not found");
}

/* ---------------------------------------------------------------- upload */


/* The body has been written to the upload file: it becomes a blob (RFC 8620 §6.1). */
static void
serve_upload(struct jmap_client *c)
{
	char blob_id[18];
	json_t *v;
	int fd = c->upload_fd;

	c->upload_fd = -1;
	if (c->upload_failed || jmap_upload_finish(c->mu, fd, c->upload_tmp, blob_id) < 0) {
		if (c->upload_failed)
			jmap_upload_abort(c->mu, c->upload_tmp);
		close(fd);
		respond_text(c, 503, "Temporary failure");
		return;
	}
	close(fd);
	log_info("jmap upload user=%s session=%u blob=%s size=%llu", c->user, c->id, blob_id,
	    (unsigned long long)c->upload_size);
	v = json_pack("{s:s, s:s, s:s, s:I}", "accountId", c->account_id, "blobId", blob_id,
	    "type", c->upload_type, "size", (json_int_t)c->upload_size);
	respond_json(c, 201, "application/json", v);
	json_decref(v);
}

/* POST /jmap/upload/{accountId}/: bounded by maxSizeUpload before a byte is read. */
static bool
start_upload(struct jmap_client *c, const struct http_request *r)
{
	const char *acc = c->target + 13;
	size_t alen = strcspn(acc, "/?");

	if (alen != strlen(c->account_id) || strncmp(acc, c->account_id, alen) != 0) {
		c->keep_alive = false;
		respond_text(c, 404, "Not found");
		return false;
	}
	if (r->content_length > JMAP_MAX_SIZE_UPLOAD) {
		c->keep_alive = false;
		respond_problem(c, 413, jmap_problem_type(JMAP_LIMIT),
		    "The file is larger than maxSizeUpload", "maxSizeUpload");
		return false;
	}
	snprintf(c->upload_type, sizeof(c->upload_type), "application/octet-stream");
	if (r->content_type != NULL && header_safe(r->content_type,
	    MIN(r->content_type_len, sizeof(c->upload_type) - 1))) {
		size_t n = MIN(r->content_type_len, sizeof(c->upload_type) - 1);
		/* the media type without parameters (the value is not NUL-terminated) */
		const char *semi = memchr(r->content_type, ';', n);

		if (semi != NULL)
			n = (size_t)(semi - r->content_type);
		memcpy(c->upload_type, r->content_type, n);
		c->upload_type[n] = '\0';
	}
	c->upload_fd = jmap_upload_begin(c->mu, r->content_length, c->upload_tmp);
	if (c->upload_fd == -2) {
		c->upload_fd = -1;
		c->keep_alive = false;
		respond_text(c, 413, "Too much uploaded in the last day");
		return false;
	}
	if (c->upload_fd < 0) {
		c->keep_alive = false;
		respond_text(c, 503, "Temporary failure");
		return false;
	}
	c->upload_failed = false;
	c->upload_size = r->content_length;
	if (r->expect_continue && r->content_length > 0)
		evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	c->body_left = r->content_length;
	c->state = JC_BODY;
	return true;
}

static bool
target_is(const struct jmap_client *c, const char *path)
{
	size_t n = strlen(path);

	/* a query string is ignored on these resources */
	return strncmp(c->target, path, n) == 0 && (c->target[n] == '\0' || c->target[n] == '?');
}

/* RFC 8620 §7.3 EventSource, RFC 8887 WebSocket: the connection becomes a push one. */
static void
start_push(struct jmap_client *c)
{
	bool ws = target_is(c, JMAP_WS_PATH);
	unsigned status = 400;
	const char *q;

	if (c->method != HTTP_GET) {
		respond(c, 405, NULL, "Allow: GET\r\n", NULL, 0);
		return;
	}
	if (c->body.len > 0) {
		c->keep_alive = false;
		respond_text(c, 400, "A push request has no body");
		return;
	}
	q = strchr(c->target, '?');
	c->push = ws ? jmap_websocket_start(c, &c->push_req, &status) :
	    jmap_eventsource_start(c, q != NULL ? q + 1 : "", &c->push_req, &status);
	if (c->push != NULL) {
		c->state = JC_PUSH;
		evtimer_del(c->timer);
		return;
	}
	if (status == 429)
		respond_problem(c, 429, "urn:ietf:params:jmap:error:limit",
		    "Too many push connections", "pushConnections");
	else if (status == 426)
		respond(c, 426, "text/plain", "Sec-WebSocket-Version: 13\r\n", "Upgrade Required",
		    16);
	else
		respond_text(c, status, "Bad push request");
}

static void
serve_request(struct jmap_client *c)
{
	log_debug("jmap request user=%s session=%u target=%s", c->user, c->id, c->target);
	if (target_is(c, "/.well-known/jmap")) {
		if (c->method == HTTP_GET || c->method == HTTP_HEAD)
			serve_session(c);
		else
			respond(c, 405, NULL, "Allow: GET, HEAD\r\n", NULL, 0);
	} else if (target_is(c, API_PATH)) {
		if (c->method == HTTP_POST)
			serve_api(c);
		else
			respond(c, 405, NULL, "Allow: POST\r\n", NULL, 0);
	} else if (strncmp(c->target, "/jmap/upload/", 13) == 0 && c->upload_fd >= 0) {
		serve_upload(c);
	} else if (strncmp(c->target, "/jmap/download/", 15) == 0) {
		if (c->method == HTTP_GET || c->method == HTTP_HEAD)
			serve_download(c);
		else
			respond(c, 405, NULL, "Allow: GET, HEAD\r\n", NULL, 0);
	} else if (c->push_target) {
		start_push(c);
	} else {
		/* upload comes with a later slice */
		respond_text(c, 404, "Not found");
	}
}

/* ---------------------------------------------------------------- input */

static void
request_reset(struct jmap_client *c)
{
	free(c->target);
	free(c->host);
	c->target = c->host = NULL;
	if (c->upload_fd >= 0) {
		/* an upload cut short */
		close(c->upload_fd);
		jmap_upload_abort(c->mu, c->upload_tmp);
		c->upload_fd = -1;
	}
	c->push_target = false;
	buf_reset(&c->body);
	c->body_left = 0;
}

/* A request was answered: ready for the next one. */
static void
request_done(struct jmap_client *c)
{
	request_reset(c);
	c->in_request = false;
	if (c->state != JC_CLOSING) {
		c->state = JC_HEAD;
		arm_timer(c, JMAP_IDLE_SECS);
	}
}

static void
push_req_copy(struct jmap_push_req *p, const struct http_request *r)
{
	memset(p, 0, sizeof(*p));
	p->upgrade = r->upgrade_websocket && r->connection_upgrade;
	p->has_upgrade = r->upgrade_websocket || r->connection_upgrade;
	p->version13 = r->ws_version_len == 2 && memcmp(r->ws_version, "13", 2) == 0;
	p->proto_jmap = r->ws_protocol_jmap;
	if (r->ws_key != NULL && r->ws_key_len == 24)
		memcpy(p->ws_key, r->ws_key, 24);
	if (r->last_event_id != NULL && r->last_event_id_len < sizeof(p->last_event_id))
		memcpy(p->last_event_id, r->last_event_id, r->last_event_id_len);
}

/* A head is complete: check it; false when the connection ends. */
static bool
start_request(struct jmap_client *c, const struct http_request *r)
{
	unsigned char h[32];

	c->method = r->method;
	c->keep_alive = r->keep_alive;
	c->target = xstrndup(r->target, r->target_len);
	c->host = r->host != NULL && r->host_len > 0 && r->host_len < 256 ?
	    xstrndup(r->host, r->host_len) : NULL;
	if (c->host != NULL)
		for (char *p = c->host; *p != '\0'; p++)
			if (*p == '/' || *p == '"' || *p == '\\' || *p == '{' || *p == '}')
				*p = '_';	/* it goes into URLs and JSON */
	if (r->auth == NULL) {
		c->keep_alive = false;
		respond(c, 401, "text/plain", "WWW-Authenticate: Basic realm=\"buzon\", "
		    "charset=\"UTF-8\"\r\n", "Authentication required", 23);
		return false;
	}
	sha256(r->auth, r->auth_len, h);
	if (!c->have_auth) {
		memcpy(c->auth_hash, h, sizeof(h));
		c->have_auth = true;
	} else if (CRYPTO_memcmp(h, c->auth_hash, sizeof(h)) != 0) {
		/* other credentials: the login process must check them */
		c->keep_alive = false;
		respond(c, 401, "text/plain", "WWW-Authenticate: Basic realm=\"buzon\", "
		    "charset=\"UTF-8\"\r\n", "Authentication required", 23);
		return false;
	}
	c->push_target = target_is(c, JMAP_WS_PATH) || target_is(c, JMAP_ES_PATH) ||
	    target_is(c, JMAP_ES_PATH "/");
	if (c->push_target)
		push_req_copy(&c->push_req, r);
	if (r->method == HTTP_POST && !r->has_length) {
		c->keep_alive = false;
		respond_text(c, 411, "Content-Length required");
		return false;
	}
	if (r->method == HTTP_POST && strncmp(c->target, "/jmap/upload/", 13) == 0)
		return start_upload(c, r);
	if (r->content_length > JMAP_MAX_SIZE_REQUEST) {
		c->keep_alive = false;
		respond_problem(c, 413, jmap_problem_type(JMAP_LIMIT),
		    "The request is larger than maxSizeRequest", "maxSizeRequest");
		return false;
	}
	if (r->expect_continue && r->content_length > 0)
		evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	c->body_left = r->content_length;
	c->state = JC_BODY;
	return true;
}

static void
client_input(struct jmap_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state != JC_CLOSING && c->state != JC_WAIT &&
	    !conn_output_full(c->bev, CONN_IMAP)) {
		size_t len = evbuffer_get_length(in);

		if (c->state == JC_PUSH) {
			jmap_pushconn_input(c->push);	/* may end c */
			return;
		}

		if (c->state == JC_DOWNLOAD) {
			if (!download_pump(c))
				break;
			request_reset(c);
			c->in_request = false;
			if (!c->keep_alive) {
				c->state = JC_CLOSING;
				break;
			}
			c->state = JC_HEAD;
			arm_timer(c, JMAP_IDLE_SECS);
			continue;
		}

		if (c->state == JC_HEAD) {
			struct http_request r;
			const unsigned char *p;
			size_t head;

			if (len == 0)
				break;
			if (!c->in_request) {
				c->in_request = true;
				arm_timer(c, JMAP_REQUEST_SECS);
			}
			if (len > HTTP_HEAD_MAX)
				len = HTTP_HEAD_MAX;
			p = evbuffer_pullup(in, (ssize_t)len);
			switch (http_request_parse(p, len, HTTP_HEAD_MAX, &r, &head)) {
			case HTTP_PARSE_MORE:
				return;
			case HTTP_PARSE_ERROR:
				log_info("jmap bad request user=%s session=%u status=%u", c->user,
				    c->id, r.status);
				c->keep_alive = false;
				c->method = HTTP_GET;
				respond_text(c, r.status, r.error);
				break;
			case HTTP_PARSE_DONE:
				(void)start_request(c, &r);
				evbuffer_drain(in, head);
				break;
			}
			continue;
		}
		/* JC_BODY */
		if (c->body_left > 0) {
			size_t n = (size_t)MIN((uint64_t)len, c->body_left);

			if (n == 0)
				break;
			if (c->upload_fd >= 0) {
				/* streamed to the file, a bounded piece at a time */
				n = MIN(n, (size_t)DOWNLOAD_CHUNK);
				if (!c->upload_failed && write_full(c->upload_fd,
				    evbuffer_pullup(in, (ssize_t)n), n) < 0) {
					log_error("jmap upload write user=%s error=%s", c->user,
					    strerror(errno));
					c->upload_failed = true;
				}
				evbuffer_drain(in, n);
				c->body_left -= n;
				arm_timer(c, JMAP_REQUEST_SECS);	/* progress */
				if (c->body_left > 0)
					continue;
			} else if (buf_append(&c->body, evbuffer_pullup(in, (ssize_t)n), n) < 0)
				panic("jmap: body over its bound");
			else {
				evbuffer_drain(in, n);
				c->body_left -= n;
			}
			if (c->body_left > 0)
				break;
		}
		serve_request(c);
		if (c->state == JC_DOWNLOAD)
			continue;	/* the blob streams from the loop's top */
		if (c->state == JC_WAIT)
			break;		/* api_resume goes on */
		if (c->state == JC_PUSH) {
			request_reset(c);
			c->in_request = false;
			continue;	/* input after the head is the push connection's */
		}
		request_done(c);
	}
	if (c->state == JC_CLOSING) {
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			client_free(c);
	}
}

static void
read_cb(struct bufferevent *bev, void *ctx)
{
	(void)bev;
	client_input(ctx);
}

static void
write_cb(struct bufferevent *bev, void *ctx)
{
	struct jmap_client *c = ctx;

	if (c->state == JC_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			client_free(c);
		return;
	}
	if (c->state == JC_PUSH) {
		if (conn_output_drained(bev, CONN_IMAP))
			jmap_pushconn_drained(c->push);
		return;
	}
	if (conn_output_drained(bev, CONN_IMAP))
		client_input(c);
}

static void
event_cb(struct bufferevent *bev, short what, void *ctx)
{
	(void)bev;
	(void)what;
	client_free(ctx);
}

static void
timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct jmap_client *c = ctx;

	(void)fd;
	(void)what;
	if (c->state == JC_CLOSING || c->state == JC_DOWNLOAD) {
		client_free(c);
		return;
	}
	if (c->state == JC_WAIT) {
		/* the waiting method ends by its own timeout (sendmail's) */
		arm_timer(c, JMAP_REQUEST_SECS);
		return;
	}
	if (c->in_request) {
		log_info("jmap timeout user=%s session=%u", c->user, c->id);
		c->keep_alive = false;
		c->method = HTTP_GET;
		respond_text(c, 408, "Request timeout");
		bufferevent_disable(c->bev, EV_READ);
		arm_timer(c, 5);	/* the goodbye must not wait forever */
		return;
	}
	client_free(c);
}

/* ---------------------------------------------------------------- life cycle */

int
jmap_client_create(struct event_base *base, struct mail_user *mu, const char *user,
    const char *home, int fd,
    const void *pending_input, size_t pending_len, const char *client_ip, bool tls)
{
	struct jmap_client *c;
	unsigned char h[32];

	if (evutil_make_socket_nonblocking(fd) < 0) {
		log_error("jmap: cannot make fd non-blocking: %s", strerror(errno));
		close(fd);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->bev = conn_new(base, fd, NULL, CONN_IMAP, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("jmap: bufferevent_socket_new failed");
		close(fd);
		free(c);
		return -1;
	}
	c->mu = mu;
	c->base = base;
	c->home = home != NULL ? xstrdup(home) : NULL;
	c->tls = tls;
	c->id = ++next_id;
	c->user = xstrdup(user);
	c->ip = xstrdup(client_ip != NULL ? client_ip : "");
	c->keep_alive = true;
	c->upload_fd = -1;
	/* the account id: stable for the user, an Id (RFC 8620 §1.2) */
	sha256(user, strlen(user), h);
	snprintf(c->account_id, sizeof(c->account_id), "a%02x%02x%02x%02x%02x%02x%02x%02x",
	    h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
	buf_init(&c->body, JMAP_MAX_SIZE_REQUEST);
	mail_session_register(mu, &c->session, MAIL_PROTO_JMAP, c->ip, &session_ops, c);
	c->timer = evtimer_new(base, timer_cb, c);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	arm_timer(c, JMAP_IDLE_SECS);
	log_info("jmap session user=%s session=%u ip=%s tls=%s", c->user, c->id, c->ip,
	    tls ? "yes" : "no");
	if (pending_len > 0 &&
	    evbuffer_prepend(bufferevent_get_input(c->bev), pending_input, pending_len) != 0)
		panic("jmap: cannot queue the pending input");
	client_input(c);
	return 0;
}

static void
client_free(struct jmap_client *c)
{
	mail_session_unregister(&c->session);
	api_free(c->api);
	c->api = NULL;
	jmap_pushconn_free(&c->push);
	event_free(c->timer);
	bufferevent_free(c->bev);
	request_reset(c);
	download_end(c);
	buf_deinit(&c->body);
	free(c->user);
	free(c->ip);
	free(c->home);
	free(c);
}

/* ---------------------------------------------------------------- for push connections */

struct bufferevent *
jmap_client_bev(struct jmap_client *c)
{
	return c->bev;
}

struct mail_user *
jmap_client_mu(struct jmap_client *c)
{
	return c->mu;
}

const char *
jmap_client_account_id(struct jmap_client *c)
{
	return c->account_id;
}

const char *
jmap_client_user(struct jmap_client *c)
{
	return c->user;
}

unsigned
jmap_client_id(struct jmap_client *c)
{
	return c->id;
}

void
jmap_client_end(struct jmap_client *c, bool flush)
{
	/* never freed here: the caller may be inside a push callback */
	c->state = JC_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (!flush || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		arm_timer(c, 0);
	else
		arm_timer(c, 5);	/* the goodbye must not wait forever */
}
