/*
 * lmtp_fake.c — the fake environment of lmtp_session (see lmtp_fake.h). Test code only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lmtp_fake.h"

static void
f_write(void *ctx, const char *data, size_t len)
{
	struct lmtp_fake *f = ctx;

	if (f->closed)
		panic("lmtp_fake: reply after close");
	(void)buf_append(&f->out, data, len);
}

static const unsigned char *
f_input(void *ctx, size_t max, bool whole, size_t *len_r)
{
	struct lmtp_fake *f = ctx;

	if (f->closed)
		panic("lmtp_fake: input read after close");
	*len_r = MIN(f->arrived - f->pos, max);
	return f->in + f->pos;
}

static void
f_consume(void *ctx, size_t n)
{
	struct lmtp_fake *f = ctx;

	if (n > f->arrived - f->pos)
		panic("lmtp_fake: consumed more than arrived");
	f->pos += n;
}

static bool
f_output_full(void *ctx)
{
	struct lmtp_fake *f = ctx;

	/* once, to exercise the stop and lmtp_session_drained */
	if (f->full_once) {
		f->full_once = false;
		return true;
	}
	return false;
}

static int
f_rcpt_lookup(void *ctx, const char *addr, uint32_t *id_r)
{
	struct lmtp_fake *f = ctx;

	if (f->lookup_id != 0)
		panic("lmtp_fake: two lookups at once");
	*id_r = f->lookup_id = ++f->next_id;
	snprintf(f->lookup_addr, sizeof(f->lookup_addr), "%s", addr);
	return 0;
}

static int
f_deliver(void *ctx, const char *addr, const char *folder, const unsigned char *prefix,
    size_t prefix_len, uint32_t *id_r)
{
	struct lmtp_fake *f = ctx;

	if (!f->sealed || f->ndlv >= LMTP_SESSION_DELIVER_WINDOW)
		panic("lmtp_fake: delivery of an unsealed message or past the window");
	*id_r = f->dlv[f->ndlv].id = ++f->next_id;
	snprintf(f->dlv[f->ndlv].addr, sizeof(f->dlv[f->ndlv].addr), "%s", addr);
	f->ndlv++;
	(void)buf_appendf(&f->log, "deliver <%s> folder=%s ", addr, folder);
	(void)buf_append(&f->log, prefix, prefix_len);
	return 0;
}

static int
f_msg_open(void *ctx)
{
	struct lmtp_fake *f = ctx;

	if (f->msg_open)
		panic("lmtp_fake: message opened twice");
	f->msg_open = true;
	f->sealed = false;
	f->in_data = true;
	f->data_start = f->pos;
	f->opens++;
	buf_reset(&f->msg);
	return 0;
}

static int
f_msg_write(void *ctx, const unsigned char *p, size_t n)
{
	struct lmtp_fake *f = ctx;

	if (!f->msg_open || f->sealed)
		panic("lmtp_fake: write to a closed or sealed message");
	f->writes++;
	(void)buf_append(&f->msg, p, MIN(n, f->msg.max - f->msg.len));
	return 0;
}

static int
f_msg_seal(void *ctx)
{
	struct lmtp_fake *f = ctx;

	f->sealed = true;
	if (f->in_data) {
		f->in_data = false;
		if (f->event != NULL)
			f->event(f, LMTP_FAKE_MSG_DONE);
	}
	return 0;
}

static void
f_msg_close(void *ctx, bool release)
{
	struct lmtp_fake *f = ctx;

	f->msg_open = false;
	if (f->in_data) {
		/* refused at the dot, or (release) the session is destroyed inside DATA */
		f->in_data = false;
		if (f->event != NULL)
			f->event(f, release ? LMTP_FAKE_MSG_CUT : LMTP_FAKE_MSG_DONE);
	}
	if (release) {
		if (f->event != NULL)
			f->event(f, LMTP_FAKE_TXN_END);
		buf_reset(&f->acc);
		f->nacc = 0;
	}
}

static void
f_close(void *ctx)
{
	struct lmtp_fake *f = ctx;

	f->closed = true;
}

static const struct lmtp_session_ops fake_ops = {
	.write = f_write,
	.input = f_input,
	.consume = f_consume,
	.output_full = f_output_full,
	.rcpt_lookup = f_rcpt_lookup,
	.deliver = f_deliver,
	.msg_open = f_msg_open,
	.msg_write = f_msg_write,
	.msg_seal = f_msg_seal,
	.msg_close = f_msg_close,
	.close = f_close,
};

void
lmtp_fake_init(struct lmtp_fake *f, const unsigned char *in, const char *hostname,
    uint64_t max_size, size_t msg_max)
{
	struct lmtp_session_conf conf = { hostname, max_size, "+", "192.0.2.1", false };

	memset(f, 0, sizeof(*f));
	f->in = in;
	buf_init(&f->out, SIZE_MAX);
	buf_init(&f->msg, msg_max);
	buf_init(&f->log, SIZE_MAX);
	buf_init(&f->acc, SIZE_MAX);
	f->s = lmtp_session_create(&fake_ops, f, &conf);
}

void
lmtp_fake_deinit(struct lmtp_fake *f)
{
	lmtp_session_destroy(&f->s);
	buf_deinit(&f->out);
	buf_deinit(&f->msg);
	buf_deinit(&f->log);
	buf_deinit(&f->acc);
}

/* Answer what is pending (lookups first, deliveries last-first) until nothing is. */
static void
settle(struct lmtp_fake *f)
{
	for (;;) {
		if (f->closed)
			return;
		if (lmtp_session_drained(f->s)) {
			lmtp_session_process(f->s);
			continue;
		}
		if (f->lookup_id != 0) {
			uint32_t id = f->lookup_id, st = f->answer(f, f->lookup_addr, false);

			f->lookup_id = 0;
			if (st == IPC_DELIVER_OK) {
				size_t n = strlen(f->lookup_addr) + 1;

				(void)buf_append(&f->acc, f->lookup_addr, n);
				f->nacc++;
			}
			if (!lmtp_session_rcpt_result(f->s, id, st))
				panic("lmtp_fake: lookup result not taken");
			continue;
		}
		if (f->ndlv > 0) {
			f->ndlv--;
			if (!lmtp_session_deliver_result(f->s, f->dlv[f->ndlv].id,
			    f->answer(f, f->dlv[f->ndlv].addr, true)))
				panic("lmtp_fake: delivery result not taken");
			continue;
		}
		return;
	}
}

void
lmtp_fake_arrive(struct lmtp_fake *f, size_t n)
{
	if (f->closed)
		return;
	f->arrived += n;
	lmtp_session_process(f->s);
	settle(f);
}

void
lmtp_fake_eof(struct lmtp_fake *f)
{
	if (f->closed)
		return;
	lmtp_session_eof(f->s);
	settle(f);
}
