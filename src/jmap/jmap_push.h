/*
 * jmap_push.h — push (RFC 8620 §7) in the user's mail process: the hub that learns of
 * every change of the user's mail (the store's listeners on every folder, the Maildir
 * root's folder-level watch) and tells its subscribers, debounced, the types whose state
 * changed; the EventSource (§7.3) and WebSocket (RFC 8887) connections that subscribe
 * (jmap_pushconn.c); and what jmap_client.c lends them (docs/jmap.md, "Push").
 */
#ifndef BUZON_JMAP_PUSH_H
#define BUZON_JMAP_PUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct jmap_client;
struct mail_user;

/* The types a subscriber may ask for (RFC 8620 §7.1 TypeState names). */
#define JMAP_PUSH_MAILBOX	0x1u
#define JMAP_PUSH_EMAIL		0x2u
#define JMAP_PUSH_DELIVERY	0x4u	/* EmailDelivery (RFC 8621 §1.5) */
#define JMAP_PUSH_THREAD	0x8u	/* Thread: its state is the Email state */
#define JMAP_PUSH_ALL		0xfu

#define JMAP_PUSH_CONNS_MAX	16	/* EventSource + WebSocket connections per user */
#define JMAP_PUSH_DEBOUNCE_MS	150	/* changes within this are one StateChange */
#define JMAP_PUSH_FOLDERS_MAX	2000	/* folders watched (and a quarter of the descriptor
					 * limit); beyond, rescans every 30 s */
#define JMAP_PUSH_OUTPUT_MAX	(256 * 1024)	/* queued push output: then close */

/*
 * changed: the type → state object of the subscriber's types whose state changed
 * (borrowed); push_state: an opaque token of every type's state (RFC 8887 §4.3.5).
 */
typedef void jmap_push_cb(void *ctx, json_t *changed, const char *push_state);

struct jmap_push_sub;

/* A comma-separated list of type names or "*" as JMAP_PUSH_* bits; unknown names are
 * ignored (§7.3). */
unsigned jmap_push_types_parse(const char *list, size_t len);
/* A JSON array of type names, or null (all). false when not such a value. */
bool jmap_push_types_json(json_t *v, unsigned *types_r);

/* A push connection of mu's: false when JMAP_PUSH_CONNS_MAX are open (429). */
bool jmap_push_conn_acquire(struct mail_user *mu);
void jmap_push_conn_release(struct mail_user *mu);

/* Subscribe: told of changes after the states of now. */
struct jmap_push_sub *jmap_push_subscribe(struct mail_user *mu, unsigned types,
    jmap_push_cb *cb, void *ctx);
void jmap_push_unsubscribe(struct jmap_push_sub **sub);
/* The current push state token (borrowed until the next change is pushed). */
const char *jmap_push_state(struct jmap_push_sub *sub);
/* Tell the subscriber every state of its types now, changed or not (a client that
 * comes back with an older push state). */
void jmap_push_send_all(struct jmap_push_sub *sub);

/* ---- what jmap_client.c lends a push connection */
struct bufferevent *jmap_client_bev(struct jmap_client *c);
struct mail_user *jmap_client_mu(struct jmap_client *c);
const char *jmap_client_account_id(struct jmap_client *c);
const char *jmap_client_user(struct jmap_client *c);
unsigned jmap_client_id(struct jmap_client *c);
/*
 * Run a Request object (RFC 8620 §3.3) given as text. -1: a request-level error (§3.6.1),
 * *problem_r the problem details (owned), done is not called. Otherwise done(c, resp,
 * done_ctx) gets the Response (borrowed, may be changed) once every call has run: at
 * once (1), or later from the event loop when a call waits (0; EmailSubmission/set
 * waits for sendmail) — no other request of c may start until then.
 */
typedef void jmap_api_done_fn(struct jmap_client *c, json_t *resp, void *ctx);
int jmap_client_run(struct jmap_client *c, const unsigned char *p, size_t len,
    json_t **problem_r, jmap_api_done_fn *done, void *done_ctx);
/* End the connection: at once, or once its output is sent (flush). */
void jmap_client_end(struct jmap_client *c, bool flush);

/* ---- jmap_pushconn.c: the connection kinds */
struct jmap_pushconn;

/* What a push request's head said (copied from struct http_request). */
struct jmap_push_req {
	bool upgrade;		/* Upgrade: websocket and Connection: upgrade */
	bool has_upgrade;	/* either of them */
	bool version13;		/* Sec-WebSocket-Version: 13 */
	bool proto_jmap;	/* Sec-WebSocket-Protocol lists jmap */
	char ws_key[32];	/* Sec-WebSocket-Key ("" when absent or not 24 octets) */
	char last_event_id[40];	/* Last-Event-ID ("" when absent or too long) */
};
/*
 * GET /jmap/eventsource/?types=&closeafter=&ping= (RFC 8620 §7.3): the response head
 * and the stream; NULL with *status_r (400, 429) when refused (nothing written).
 */
struct jmap_pushconn *jmap_eventsource_start(struct jmap_client *c, const char *query,
    const struct jmap_push_req *r, unsigned *status_r);
/*
 * A WebSocket upgrade request (RFC 8887 §4.1, RFC 6455 §4.2): the 101 response and the
 * session; NULL with *status_r (400, 426, 429) when refused.
 */
struct jmap_pushconn *jmap_websocket_start(struct jmap_client *c,
    const struct jmap_push_req *r, unsigned *status_r);
/* Input arrived / the output drained (below the low mark). */
void jmap_pushconn_input(struct jmap_pushconn *p);
void jmap_pushconn_drained(struct jmap_pushconn *p);
void jmap_pushconn_free(struct jmap_pushconn **p);

#endif
