/*
 * cmd_compress.c — COMPRESS=DEFLATE (RFC 4978): the COMPRESS command and the zlib
 * filter that the session's bufferevent becomes. After "<tag> OK DEFLATE active"
 * (sent uncompressed) a libevent filter bufferevent sits on the socket's bufferevent:
 * the session reads decompressed input from the filter's input buffer and writes
 * uncompressed output into the filter's output buffer, so APPEND's and IDLE's input
 * hooks, the watermarks and FETCH backpressure work unchanged.
 * Bounds (docs/architecture.md, "COMPRESS"): the filter's input buffer has the CONN_IMAP
 * input bound and inflate never produces more than the room left under it (a small
 * compressed input cannot expand without limit); deflate moves output into the socket
 * buffer only while that holds less than the output bound (the socket bufferevent's
 * write high-water mark), so a client that stops reading fills the socket buffer, then
 * the filter's output buffer, and FETCH stops there. Security role: inflates client
 * bytes; every zlib error ends the session with BYE.
 */
#include <zlib.h>

#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"

#define ZLIB_LEVEL	6
/* deflate state = 2^(15+2) + 2^(memLevel+9) bytes: 128 KiB + 32 KiB; inflate ~39 KiB */
#define ZLIB_MEMLEVEL	6
#define ZLIB_STEP	(16 * 1024)	/* output space reserved per zlib call */
#define ZLIB_BUDGET	(64 * 1024)	/* output made per filter call at most */
/* after a full budget with no input left, inflate may still hold the rest of a match:
 * a few KiB at most (RFC 1951 §3.2.5: 258 octets per length code) */
#define ZLIB_TAIL_MAX	(64 * 1024)

struct imap_zlib {
	struct imap_client *client;	/* NULL once the session is torn down */
	struct bufferevent *sock;	/* the socket bufferevent under the filter */
	struct evbuffer_cb_entry *drain_cb;	/* on sock's output buffer */
	struct event *ev;		/* flush, error report, close once flushed */
	z_stream in;
	z_stream out;
	bool out_pending;		/* deflate took input since its last sync flush */
	bool in_failed;			/* corrupt or ended input stream */
	bool failure_reported;
};

static void
zlib_fail(struct imap_zlib *z, struct evbuffer *src)
{
	z->in_failed = true;
	evbuffer_drain(src, evbuffer_get_length(src));
	if (z->ev != NULL)
		event_active(z->ev, EV_TIMEOUT, 0);
}

/* One inflate call from src into dst making at most room bytes: the bytes made. */
static size_t
zlib_inflate_step(struct imap_zlib *z, struct evbuffer *src, struct evbuffer *dst,
    size_t room, int *ret_r)
{
	struct evbuffer_iovec v;
	size_t n = evbuffer_get_contiguous_space(src), used, got;
	unsigned char *data = NULL;

	if (n == 0)
		n = MIN(evbuffer_get_length(src), (size_t)ZLIB_STEP);
	if (n > 0)
		data = evbuffer_pullup(src, (ssize_t)n);
	if (evbuffer_reserve_space(dst, (ev_ssize_t)room, &v, 1) < 1)
		panic("imap: evbuffer_reserve_space failed");
	room = MIN(room, v.iov_len);
	z->in.next_in = data;
	z->in.avail_in = (uInt)MIN(n, (size_t)UINT32_MAX);
	z->in.next_out = v.iov_base;
	z->in.avail_out = (uInt)room;
	*ret_r = inflate(&z->in, Z_SYNC_FLUSH);
	used = n - z->in.avail_in;
	got = room - z->in.avail_out;
	evbuffer_drain(src, used);
	v.iov_len = got;
	if (evbuffer_commit_space(dst, &v, 1) != 0)
		panic("imap: evbuffer_commit_space failed");
	return got;
}

/* Input filter: compressed socket input (src) to the session's input (dst). */
static enum bufferevent_filter_result
zlib_in_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *ctx)
{
	struct imap_zlib *z = ctx;
	size_t budget = limit < 0 || limit > ZLIB_BUDGET ? ZLIB_BUDGET : (size_t)limit;
	size_t made = 0, tail = 0, got;
	int ret = Z_OK;

	/* a lingering session (its last response sent) only discards input: its read
	 * bound is off then, and nothing of it is parsed */
	if (z->in_failed || (z->client != NULL && z->client->lingering)) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	while (made < budget && evbuffer_get_length(src) > 0) {
		got = zlib_inflate_step(z, src, dst, MIN(budget - made, (size_t)ZLIB_STEP), &ret);
		made += got;
		if (ret == Z_BUF_ERROR && got == 0)
			break;
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			break;
	}
	/* the input is used up but inflate may still hold output: take it now, since no
	 * further input may come to make the filter run again */
	while (ret == Z_OK && made >= budget && evbuffer_get_length(src) == 0 &&
	    tail < ZLIB_TAIL_MAX) {
		got = zlib_inflate_step(z, src, dst, 1024, &ret);
		if (got == 0)
			break;
		tail += got;
	}
	if (ret == Z_STREAM_END || (ret != Z_OK && ret != Z_BUF_ERROR)) {
		/* a final block ends the stream the session still reads from (RFC 4978 §3:
		 * compression lasts as long as the connection): treated like corruption */
		zlib_fail(z, src);
		return made > 0 ? BEV_OK : BEV_ERROR;
	}
	return made > 0 || mode != BEV_NORMAL ? BEV_OK : BEV_NEED_MORE;
}

/* Emit everything deflate holds (Z_SYNC_FLUSH, RFC 4978 §4) into dst. */
static void
zlib_flush(struct imap_zlib *z, struct evbuffer *dst)
{
	struct evbuffer_iovec v;
	size_t room;

	do {
		if (evbuffer_reserve_space(dst, 4096, &v, 1) < 1)
			panic("imap: evbuffer_reserve_space failed");
		room = MIN(v.iov_len, (size_t)UINT32_MAX);
		z->out.next_in = NULL;
		z->out.avail_in = 0;
		z->out.next_out = v.iov_base;
		z->out.avail_out = (uInt)room;
		(void)deflate(&z->out, Z_SYNC_FLUSH);
		v.iov_len = room - z->out.avail_out;
		if (evbuffer_commit_space(dst, &v, 1) != 0)
			panic("imap: evbuffer_commit_space failed");
	} while (z->out.avail_out == 0);
	z->out_pending = false;
}

/* Output filter: the session's output (src) to compressed socket output (dst). */
static enum bufferevent_filter_result
zlib_out_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *ctx)
{
	struct imap_zlib *z = ctx;
	size_t budget = limit < 0 || limit > ZLIB_BUDGET ? ZLIB_BUDGET : (size_t)limit;
	size_t made = 0;

	while (made < budget && evbuffer_get_length(src) > 0) {
		struct evbuffer_iovec v;
		size_t n = evbuffer_get_contiguous_space(src), room, used;
		unsigned char *data;

		if (n == 0)
			n = MIN(evbuffer_get_length(src), (size_t)ZLIB_STEP);
		data = evbuffer_pullup(src, (ssize_t)n);
		if (evbuffer_reserve_space(dst, ZLIB_STEP, &v, 1) < 1)
			panic("imap: evbuffer_reserve_space failed");
		room = MIN(v.iov_len, (size_t)ZLIB_STEP);
		z->out.next_in = data;
		z->out.avail_in = (uInt)MIN(n, (size_t)UINT32_MAX);
		z->out.next_out = v.iov_base;
		z->out.avail_out = (uInt)room;
		(void)deflate(&z->out, Z_NO_FLUSH);	/* cannot fail with room and a valid state */
		used = n - z->out.avail_in;
		v.iov_len = room - z->out.avail_out;
		made += v.iov_len;
		evbuffer_drain(src, used);
		if (evbuffer_commit_space(dst, &v, 1) != 0)
			panic("imap: evbuffer_commit_space failed");
		if (used > 0)
			z->out_pending = true;
	}
	if (mode != BEV_NORMAL && evbuffer_get_length(src) == 0)
		zlib_flush(z, dst);
	/* the rest of this batch of writes is flushed from the event loop */
	if (z->out_pending && z->ev != NULL)
		event_active(z->ev, EV_TIMEOUT, 0);
	return BEV_OK;
}

static void
zlib_ev_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct imap_zlib *z = ctx;
	struct imap_client *c = z->client;

	if (c == NULL || c->destroyed)
		return;
	imap_compress_input_end(c);
	if (c->destroyed)
		return;
	if (z->out_pending)
		zlib_flush(z, bufferevent_get_output(z->sock));
	imap_client_output_sent(c);
}

/* The socket's output buffer lost bytes: a closing session may be done now. */
static void
zlib_drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *ctx)
{
	struct imap_zlib *z = ctx;

	if (info->n_deleted > 0 && evbuffer_get_length(buf) == 0 && z->client != NULL &&
	    z->client->closing)
		event_active(z->ev, EV_TIMEOUT, 0);
}

static void
zlib_free(void *ctx)
{
	struct imap_zlib *z = ctx;

	(void)inflateEnd(&z->in);
	(void)deflateEnd(&z->out);
	free(z);
}

void
imap_compress_input_end(struct imap_client *c)
{
	struct imap_zlib *z = c->zlib;

	if (z == NULL || !z->in_failed || z->failure_reported || c->closing || c->destroyed)
		return;
	/* the commands inflated before the error are answered first */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		return;
	z->failure_reported = true;
	log_info("imap disconnect user=%s session=%u reason=compression_error", c->user->name,
	    c->id);
	imap_client_bye(c, "Invalid compressed input");
}

size_t
imap_compress_unsent(const struct imap_client *c)
{
	const struct imap_zlib *z = c->zlib;

	if (z == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(z->sock)) + (z->out_pending ? 1 : 0);
}

void
imap_compress_detach(struct imap_client *c)
{
	struct imap_zlib *z = c->zlib;

	if (z == NULL)
		return;
	event_free(z->ev);
	z->ev = NULL;
	evbuffer_remove_cb_entry(bufferevent_get_output(z->sock), z->drain_cb);
	z->client = NULL;
	c->zlib = NULL;	/* freed with the filter bufferevent (zlib_free) */
}

int
cmd_compress(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	const struct conn_bounds *b = conn_bounds(CONN_IMAP);
	struct imap_zlib *z;
	struct bufferevent *filter;

	if (cmd->argc != 1 || cmd->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "COMPRESS takes one mechanism");
	if (!str_ieq(cmd->args[0].str, "DEFLATE"))
		return imap_cmd_bad(cmd, "Unknown compression mechanism");
	if (c->zlib != NULL)	/* RFC 4978 §3 */
		return imap_cmd_no(cmd, "[COMPRESSIONACTIVE] DEFLATE active already");
	z = xcalloc(1, sizeof(*z));
	/* RFC 4978 §3: raw DEFLATE (RFC 1951), no zlib header: negative windowBits */
	if (inflateInit2(&z->in, -15) != Z_OK) {
		free(z);
		return imap_cmd_no(cmd, "[SERVERBUG] Cannot start compression");
	}
	if (deflateInit2(&z->out, ZLIB_LEVEL, Z_DEFLATED, -15, ZLIB_MEMLEVEL,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		(void)inflateEnd(&z->in);
		free(z);
		return imap_cmd_no(cmd, "[SERVERBUG] Cannot start compression");
	}
	/* the tagged OK is the last uncompressed octets (RFC 4978 §3) */
	imap_cmd_ok(cmd, "DEFLATE active");
	z->client = c;
	z->sock = c->bev;
	/* deferred callbacks: a write into the filter must not run the session's write
	 * callback from inside the writer (FETCH) */
	filter = bufferevent_filter_new(c->bev, zlib_in_filter, zlib_out_filter,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, zlib_free, z);
	if (filter == NULL)
		panic("imap: bufferevent_filter_new failed");
	z->ev = event_new(bufferevent_get_base(filter), -1, 0, zlib_ev_cb, z);
	z->drain_cb = evbuffer_add_cb(bufferevent_get_output(z->sock), zlib_drain_cb, z);
	if (z->ev == NULL || z->drain_cb == NULL)
		panic("imap: cannot set up compression events");
	/* compressed output waits in the socket buffer up to the output bound; the
	 * filter's own buffers get the usual bounds */
	bufferevent_setwatermark(z->sock, EV_WRITE, b->output_low, b->output_high);
	conn_set_kind(filter, CONN_IMAP);
	c->zlib = z;
	c->bev = filter;
	imap_client_attach_bev(c);
	/* bufferevent_filter_new enabled reading the socket: not after the client's EOF */
	if (c->input_eof) {
		bufferevent_disable(z->sock, EV_READ);
		bufferevent_enable(filter, EV_WRITE);
	} else {
		bufferevent_enable(filter, EV_READ | EV_WRITE);
	}
	/* compressed input the client sent right after the command */
	if (evbuffer_get_length(bufferevent_get_input(z->sock)) > 0)
		bufferevent_trigger(z->sock, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
	log_info("imap compress user=%s session=%u mechanism=DEFLATE", c->user->name, c->id);
	return IMAP_CMD_DONE;
}
