/*
 * jmap_pushconn.c — the push connections of jmap_client.c: an EventSource stream (RFC
 * 8620 §7.3) and JMAP over WebSocket (RFC 8887, RFC 6455). Both subscribe to the hub
 * (jmap_push.c) and count against JMAP_PUSH_CONNS_MAX per user. Push output is bounded:
 * a StateChange or ping that finds JMAP_PUSH_OUTPUT_MAX octets still queued (a client
 * that does not read) ends the connection instead of queuing more. On a WebSocket the
 * client's requests are read only while the output is below the high mark (as HTTP
 * requests are), a message is at most maxSizeRequest, and frames are decoded by
 * src/proto/websocket.c. Runs as the mailbox owner.
 */
#include "jmap/jmap_push.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <string.h>

#include "jmap/jmap_request.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/websocket.h"

#define ES_PING_MIN	10	/* seconds: a smaller ping is raised to this (§7.3) */
#define ES_PING_MAX	300
#define ES_SILENT_SECS	1800	/* ping=0: at most this long without an event */
#define WS_PING_SECS	60	/* a server ping frame when the client was quiet */
#define WS_IDLE_SECS	180	/* nothing at all from the client (not even a pong) */
#define WS_INPUT_STEP	(64 * 1024)

enum pc_kind { PC_EVENTSOURCE, PC_WEBSOCKET };

struct jmap_pushconn {
	enum pc_kind kind;
	struct jmap_client *c;
	struct mail_user *mu;
	struct jmap_push_sub *sub;
	struct event *timer;
	bool ended;
	/* EventSource */
	unsigned ping;		/* seconds, 0: none */
	bool close_after_state;
	/* WebSocket */
	struct ws_decoder dec;
	time_t last_input;
	bool busy;		/* a Request waits for a method: no message is read */
	json_t *request_id;	/* its "id" for the Response's requestId, or NULL */
};

static void
end(struct jmap_pushconn *p, bool flush)
{
	if (p->ended)
		return;
	p->ended = true;
	jmap_push_unsubscribe(&p->sub);
	jmap_client_end(p->c, flush);
}

static struct evbuffer *
out(struct jmap_pushconn *p)
{
	return bufferevent_get_output(jmap_client_bev(p->c));
}

/* Room for more push output? Else the connection ends (a client that does not read). */
static bool
room(struct jmap_pushconn *p)
{
	if (evbuffer_get_length(out(p)) <= JMAP_PUSH_OUTPUT_MAX)
		return true;
	log_info("jmap push user=%s session=%u: output not read, closing",
	    jmap_client_user(p->c), jmap_client_id(p->c));
	end(p, false);
	return false;
}

static void
arm(struct jmap_pushconn *p, unsigned secs)
{
	struct timeval tv = { secs, 0 };

	evtimer_add(p->timer, &tv);
}

/* {"@type":"StateChange","changed":{account:changed}} (RFC 8620 §7.1) */
static json_t *
state_change(struct jmap_pushconn *p, json_t *changed)
{
	return json_pack("{s:s, s:{s:O}}", "@type", "StateChange", "changed",
	    jmap_client_account_id(p->c), changed);
}

/* ---------------------------------------------------------------- EventSource */

static void
es_event(struct jmap_pushconn *p, const char *type, json_t *data, const char *id)
{
	char *s = json_dumps(data, JSON_COMPACT);

	if (s == NULL || !room(p)) {
		free(s);
		return;
	}
	/* JSON text has no newline, so one data line (HTML "event stream" format) */
	evbuffer_add_printf(out(p), "event: %s\ndata: %s\n%s%s%s\n", type, s,
	    id != NULL ? "id: " : "", id != NULL ? id : "", id != NULL ? "\n" : "");
	free(s);
	arm(p, p->ping > 0 ? p->ping : ES_SILENT_SECS);	/* §7.3: since the previous event */
}

static void
es_push(void *ctx, json_t *changed, const char *push_state)
{
	struct jmap_pushconn *p = ctx;
	json_t *sc;

	if (p->ended)
		return;
	sc = state_change(p, changed);
	es_event(p, "state", sc, push_state);
	json_decref(sc);
	if (p->close_after_state && !p->ended)
		end(p, true);	/* §7.3 closeafter=state */
}

/* One query parameter's value, percent-decoded into v (size vsz); false if absent. */
static bool
query_param(const char *q, const char *name, char *v, size_t vsz)
{
	size_t nlen = strlen(name);

	while (*q != '\0') {
		const char *amp = strchr(q, '&'), *e = amp != NULL ? amp : q + strlen(q);

		if ((size_t)(e - q) > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
			size_t o = 0;

			for (const char *s = q + nlen + 1; s < e && o + 1 < vsz; s++) {
				int hi, lo;

				if (*s == '%' && e - s >= 3 && (hi = hex_digit_value((unsigned char)s[1])) >= 0 &&
				    (lo = hex_digit_value((unsigned char)s[2])) >= 0) {
					v[o++] = (char)(hi << 4 | lo);
					s += 2;
				} else
					v[o++] = *s == '+' ? ' ' : *s;
			}
			v[o] = '\0';
			return true;
		}
		q = amp != NULL ? amp + 1 : e;
	}
	return false;
}

static bool
parse_uint(const char *s, unsigned long max, unsigned long *v_r)
{
	unsigned long v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			v = max;	/* clamped below anyway */
	}
	*v_r = v;
	return true;
}

static struct jmap_pushconn *
pc_new(struct jmap_client *c, enum pc_kind kind, event_callback_fn timer_cb)
{
	struct jmap_pushconn *p = xcalloc(1, sizeof(*p));

	p->kind = kind;
	p->c = c;
	p->mu = jmap_client_mu(c);
	p->timer = evtimer_new(bufferevent_get_base(jmap_client_bev(c)), timer_cb, p);
	return p;
}

static void
es_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct jmap_pushconn *p = ctx;
	json_t *d;

	(void)fd;
	(void)what;
	if (p->ping == 0) {
		end(p, true);
		return;
	}
	d = json_pack("{s:I}", "interval", (json_int_t)p->ping);
	es_event(p, "ping", d, NULL);
	json_decref(d);
}

struct jmap_pushconn *
jmap_eventsource_start(struct jmap_client *c, const char *query,
    const struct jmap_push_req *r, unsigned *status_r)
{
	char types[256], closeafter[16] = "", ping[16];
	unsigned long n = 0;
	unsigned t = JMAP_PUSH_ALL;
	struct jmap_pushconn *p;

	if (query_param(query, "types", types, sizeof(types)))
		t = jmap_push_types_parse(types, strlen(types));
	if (query_param(query, "closeafter", closeafter, sizeof(closeafter)) &&
	    strcmp(closeafter, "state") != 0 && strcmp(closeafter, "no") != 0) {
		*status_r = 400;
		return NULL;
	}
	if (query_param(query, "ping", ping, sizeof(ping)) && !parse_uint(ping, 100000, &n)) {
		*status_r = 400;
		return NULL;
	}
	if (!jmap_push_conn_acquire(jmap_client_mu(c))) {
		*status_r = 429;
		return NULL;
	}
	p = pc_new(c, PC_EVENTSOURCE, es_timer);
	p->close_after_state = strcmp(closeafter, "state") == 0;
	/* §7.3: the server may clamp the interval; the ping event says which it uses */
	p->ping = n == 0 ? 0 : n < ES_PING_MIN ? ES_PING_MIN : n > ES_PING_MAX ? ES_PING_MAX :
	    (unsigned)n;
	evbuffer_add_printf(out(p), "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Cache-Control: no-cache, no-store\r\nConnection: close\r\n\r\n: buzon push\n\n");
	p->sub = jmap_push_subscribe(p->mu, t, es_push, p);
	arm(p, p->ping > 0 ? p->ping : ES_SILENT_SECS);
	log_info("jmap push user=%s session=%u kind=eventsource types=%u ping=%u closeafter=%s",
	    jmap_client_user(c), jmap_client_id(c), t, p->ping,
	    p->close_after_state ? "state" : "no");
	/* a client back with an older state (Last-Event-ID: the id we gave) hears now */
	if (r->last_event_id[0] != '\0' && strcmp(r->last_event_id,
	    jmap_push_state(p->sub)) != 0)
		jmap_push_send_all(p->sub);
	return p;
}

/* ---------------------------------------------------------------- WebSocket */

static void
ws_send(struct jmap_pushconn *p, enum ws_opcode op, const void *data, size_t len)
{
	unsigned char h[10];
	size_t hl = ws_frame_header(h, op, len);

	evbuffer_add(out(p), h, hl);
	if (len > 0)
		evbuffer_add(out(p), data, len);
}

static void
ws_send_json(struct jmap_pushconn *p, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	if (s == NULL) {
		log_error("jmap push: json_dumps failed");
		return;
	}
	ws_send(p, WS_OP_TEXT, s, strlen(s));
	free(s);
}

static void
ws_close(struct jmap_pushconn *p, uint16_t code)
{
	unsigned char b[2] = { (unsigned char)(code >> 8), (unsigned char)code };

	ws_send(p, WS_OP_CLOSE, b, 2);
	end(p, true);
}

static void
ws_push(void *ctx, json_t *changed, const char *push_state)
{
	struct jmap_pushconn *p = ctx;
	json_t *sc;

	if (p->ended || !room(p))
		return;
	sc = state_change(p, changed);
	(void)json_object_set_new(sc, "pushState", json_string(push_state));	/* RFC 8887 §4.3.5 */
	ws_send_json(p, sc);
	json_decref(sc);
}

/* RFC 8887 §4.3.4: a RequestError is problem details with @type and requestId. */
static void
ws_request_error(struct jmap_pushconn *p, json_t *problem, json_t *id)
{
	(void)json_object_set_new(problem, "@type", json_string("RequestError"));
	if (id != NULL)
		(void)json_object_set(problem, "requestId", id);
	ws_send_json(p, problem);
}

static void
ws_problem(struct jmap_pushconn *p, const char *type, const char *detail, json_t *id)
{
	json_t *e = json_pack("{s:s, s:i, s:s}", "type", type, "status", 400, "detail", detail);

	ws_request_error(p, e, id);
	json_decref(e);
}

/* The Response of a Request (RFC 8887 §4.3.2), now or after a call waited. */
static void
ws_response(struct jmap_client *c, json_t *resp, void *ctx)
{
	struct jmap_pushconn *p = ctx;

	(void)c;
	(void)json_object_set_new(resp, "@type", json_string("Response"));
	if (p->request_id != NULL)
		(void)json_object_set(resp, "requestId", p->request_id);
	json_decref(p->request_id);
	p->request_id = NULL;
	p->busy = false;
	ws_send_json(p, resp);
}

static void
ws_message(struct jmap_pushconn *p, const unsigned char *msg, size_t len)
{
	json_error_t err;
	json_t *m = json_loadb((const char *)msg, len, JSON_REJECT_DUPLICATES, &err);
	json_t *id;
	const char *type;

	if (m == NULL || !json_is_object(m)) {
		ws_problem(p, jmap_problem_type(m == NULL ? JMAP_NOT_JSON : JMAP_NOT_REQUEST),
		    m == NULL ? "The message is not JSON" : "The message is not an object",
		    NULL);
		json_decref(m);
		return;
	}
	type = json_string_value(json_object_get(m, "@type"));
	id = json_object_get(m, "id");
	if (id != NULL && !json_is_string(id))
		id = NULL;
	if (type == NULL) {
		ws_problem(p, jmap_problem_type(JMAP_NOT_REQUEST), "@type is missing", id);
	} else if (strcmp(type, "Request") == 0) {
		json_t *problem;
		int r;

		json_decref(p->request_id);
		p->request_id = json_incref(id);
		r = jmap_client_run(p->c, msg, len, &problem, ws_response, p);
		if (r < 0) {
			ws_request_error(p, problem, id);
			json_decref(problem);
		} else if (r == 0) {
			p->busy = true;		/* ws_response reads on */
		}
	} else if (strcmp(type, "WebSocketPushEnable") == 0) {
		json_t *ps = json_object_get(m, "pushState");
		unsigned types;

		if (!jmap_push_types_json(json_object_get(m, "dataTypes"), &types) ||
		    (ps != NULL && !json_is_string(ps) && !json_is_null(ps))) {
			ws_problem(p, jmap_problem_type(JMAP_NOT_REQUEST),
			    "dataTypes must be null or type names, pushState a string", id);
		} else {
			/* a new enable replaces the previous one (subscribed first, so the
			 * hub keeps its folders open) */
			struct jmap_push_sub *old = p->sub;

			p->sub = jmap_push_subscribe(p->mu, types, ws_push, p);
			jmap_push_unsubscribe(&old);
			if (json_is_string(ps) && strcmp(json_string_value(ps),
			    jmap_push_state(p->sub)) != 0)
				jmap_push_send_all(p->sub);
		}
	} else if (strcmp(type, "WebSocketPushDisable") == 0) {
		jmap_push_unsubscribe(&p->sub);
	} else {
		ws_problem(p, jmap_problem_type(JMAP_NOT_REQUEST), "Unknown @type", id);
	}
	json_decref(m);
}

void
jmap_pushconn_input(struct jmap_pushconn *p)
{
	struct bufferevent *bev = jmap_client_bev(p->c);
	struct evbuffer *in = bufferevent_get_input(bev);

	if (p->ended || p->busy)
		return;
	if (p->kind == PC_EVENTSOURCE) {
		/* nothing is expected from an EventSource client */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (!p->ended && !conn_output_full(bev, CONN_IMAP)) {
		size_t len = evbuffer_get_length(in), used;
		enum ws_event ev;

		if (len == 0)
			break;
		p->last_input = time(NULL);
		if (len > WS_INPUT_STEP)
			len = WS_INPUT_STEP;
		ev = ws_decoder_feed(&p->dec, evbuffer_pullup(in, (ssize_t)len), len, &used);
		evbuffer_drain(in, used);
		switch (ev) {
		case WS_MORE:
			if (used == 0)
				return;		/* a frame header still incomplete */
			break;
		case WS_MESSAGE:
			ws_message(p, (const unsigned char *)p->dec.msg.data, p->dec.msg.len);
			break;
		case WS_PING:
			ws_send(p, WS_OP_PONG, p->dec.ctl, p->dec.ctl_len);
			break;
		case WS_PONG:
			break;
		case WS_CLOSE:
			/* RFC 6455 §5.5.1: answer with a close, echoing the code */
			ws_close(p, p->dec.close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL :
			    p->dec.close_code);
			return;
		case WS_ERROR:
			log_info("jmap websocket user=%s session=%u: protocol error, close %u",
			    jmap_client_user(p->c), jmap_client_id(p->c), p->dec.close_code);
			ws_close(p, p->dec.close_code);
			return;
		}
	}
}

void
jmap_pushconn_drained(struct jmap_pushconn *p)
{
	if (p->kind == PC_WEBSOCKET)
		jmap_pushconn_input(p);
}

static void
ws_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct jmap_pushconn *p = ctx;

	(void)fd;
	(void)what;
	if (time(NULL) - p->last_input >= WS_IDLE_SECS) {
		ws_close(p, WS_CLOSE_GOING_AWAY);
		return;
	}
	if (room(p))
		ws_send(p, WS_OP_PING, "", 0);	/* a browser answers with a pong */
	arm(p, WS_PING_SECS);
}

/* Sec-WebSocket-Accept (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)). */
static void
ws_accept(const char *key, char out[32])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char in[24 + sizeof(guid)], md[20];
	unsigned int n = sizeof(md);

	memcpy(in, key, 24);
	memcpy(in + 24, guid, sizeof(guid) - 1);
	if (EVP_Digest(in, 24 + sizeof(guid) - 1, md, &n, EVP_sha1(), NULL) != 1)
		panic("jmap: SHA-1 failed");
	(void)EVP_EncodeBlock((unsigned char *)out, md, 20);
}

struct jmap_pushconn *
jmap_websocket_start(struct jmap_client *c, const struct jmap_push_req *r, unsigned *status_r)
{
	struct jmap_pushconn *p;
	char accept[32];

	if (!r->upgrade || r->ws_key[0] == '\0' || !r->proto_jmap) {
		*status_r = 400;	/* RFC 8887 §4.2: the subprotocol "jmap" is required */
		return NULL;
	}
	if (!r->version13) {
		*status_r = 426;	/* RFC 6455 §4.4 */
		return NULL;
	}
	if (!jmap_push_conn_acquire(jmap_client_mu(c))) {
		*status_r = 429;
		return NULL;
	}
	p = pc_new(c, PC_WEBSOCKET, ws_timer);
	ws_decoder_init(&p->dec, JMAP_MAX_SIZE_REQUEST);	/* RFC 8887 §4.2: maxSizeRequest */
	p->last_input = time(NULL);
	ws_accept(r->ws_key, accept);
	evbuffer_add_printf(out(p), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: jmap\r\n"
	    "\r\n", accept);
	arm(p, WS_PING_SECS);
	log_info("jmap push user=%s session=%u kind=websocket", jmap_client_user(c),
	    jmap_client_id(c));
	return p;
}

void
jmap_pushconn_free(struct jmap_pushconn **pp)
{
	struct jmap_pushconn *p = *pp;

	if (p == NULL)
		return;
	jmap_push_unsubscribe(&p->sub);
	jmap_push_conn_release(p->mu);
	event_free(p->timer);
	if (p->kind == PC_WEBSOCKET)
		ws_decoder_deinit(&p->dec);
	json_decref(p->request_id);
	free(p);
	*pp = NULL;
}
