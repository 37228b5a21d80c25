/*
 * cmd_fetch.c — FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2). Flags, UID, size and
 * internal date come from the store without opening files; ENVELOPE, BODY and
 * BODYSTRUCTURE from the rendered-item cache (imap_rcache.c) when there, else from the
 * store's persistent index (read in batches of the request's next messages, one cursor
 * walk each, and put into the rcache), else ENVELOPE from the header alone (read, not
 * mapped) and BODY/BODYSTRUCTURE and body sections from the parsed-message cache; what
 * is rendered is added to the rcache and queued for the index. Body sections are streamed
 * as literals in IMAP_BODY_CHUNK steps: when the output buffer reaches its bound (CONN_IMAP)
 * the command suspends and the write callback resumes it, so a client that does not
 * read cannot make the process buffer a whole mailbox. A non-PEEK body fetch sets \Seen
 * (not in a read-only mailbox) and returns FLAGS. BINARY[...] (RFC 3516) is decoded into
 * memory (bounded by the message's size and IMAP_BINARY_MAX) and sent from there.
 */
#include "imap/imap_fetch_parse.h"
#include "lib/conn.h"
#include "imap/imap_local.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/imapstr.h"
#include "mail/envelope.h"
#include "mail/preview.h"
#include "mailproc/mail_thread.h"
#include "proto/imap_date.h"

/* A FETCH of more messages than this is a scan for the message cache's LRU. */
#define FETCH_SCAN_MIN	16
/* Rendered items read from the index at once: the next this many messages of the
 * request, or this many bytes (one read transaction, one cursor walk each). */
#define FETCH_BATCH_MSGS	4096
#define FETCH_BATCH_BYTES	(1024 * 1024)

/* Rendered items of one field read from the index for the UIDs lo..hi. */
struct item_batch {
	bool valid;
	uint32_t lo, hi;
	uint32_t *uid, *off, *len;	/* ascending uid */
	size_t n, cap, next;		/* next: where the last lookup ended */
	char *data;
	size_t data_len, data_cap;
	/* while loading: where the in-memory cache is filled too (until it is full) */
	struct imap_rcache *rc;
	bool rc_full;
	const char *mailbox;
	uint32_t uidvalidity;
	enum imap_rc_field field;
};

struct fetch_ctx {
	struct imap_msgcache *cache;
	struct imap_fetch_request *req;
	size_t *idx;
	size_t n, pos;
	/* the message being written */
	bool in_msg;
	unsigned item;
	bool emit_flags;
	struct imap_cached_msg *msg;
	struct mail_message *hdrmsg;	/* header-only parse of hdr (ENVELOPE) */
	unsigned char *hdr;		/* header read buffer, reused */
	size_t hdr_cap;
	struct buf tmp;			/* IMAP_RC_HEADER being built */
	/* a body literal being streamed */
	bool streaming;
	bool stream_generated;
	struct mail_octets_reader reader;
	struct mail_section_result res;
	bool res_valid;
	size_t gen_pos, gen_end;
	bool expunged_seen;
	bool unknown_cte;		/* a BINARY part with an unknown encoding was skipped */
	bool error;
	struct buf out;
	struct item_batch batch[IMAP_RC_NRENDERED];
};

/* Append v in decimal (no printf: FETCH 1:* formats several numbers per message). */
static int
append_u64(struct buf *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return buf_append(b, tmp + i, sizeof(tmp) - i);
}

static void
fetch_ctx_free(void *p)
{
	struct fetch_ctx *f = p;
	unsigned i;

	imap_fetch_request_free(&f->req);
	if (f->res_valid)
		mail_section_result_deinit(&f->res);
	if (f->msg != NULL)
		imap_msgcache_release(f->cache, &f->msg);
	if (f->hdrmsg != NULL)
		mail_message_free(&f->hdrmsg);
	free(f->hdr);
	buf_deinit(&f->tmp);
	free(f->idx);
	buf_deinit(&f->out);
	for (i = 0; i < IMAP_RC_NRENDERED; i++) {
		free(f->batch[i].uid);
		free(f->batch[i].off);
		free(f->batch[i].len);
		free(f->batch[i].data);
	}
	free(f);
}

static void
fetch_release_msg(struct imap_client *c, struct fetch_ctx *f)
{
	if (f->res_valid) {
		mail_section_result_deinit(&f->res);
		f->res_valid = false;
	}
	if (f->msg != NULL)
		imap_msgcache_release(c->iu->cache, &f->msg);
	if (f->hdrmsg != NULL)
		mail_message_free(&f->hdrmsg);
}

static void
batch_add(void *ctx, uint32_t uid, const unsigned char *data, size_t len)
{
	struct item_batch *b = ctx;

	if (!imap_rc_item_valid(data, len, b->field))
		return;		/* damaged: a miss, rendered again from the file */
	if (b->n == b->cap) {
		b->cap = b->cap == 0 ? 256 : b->cap * 2;
		b->uid = xreallocarray(b->uid, b->cap, sizeof(*b->uid));
		b->off = xreallocarray(b->off, b->cap, sizeof(*b->off));
		b->len = xreallocarray(b->len, b->cap, sizeof(*b->len));
	}
	if (b->data_cap - b->data_len < len) {
		/* the walk stops after FETCH_BATCH_BYTES + one item (MAILBOX_ITEMS_MAX) */
		while (b->data_cap - b->data_len < len)
			b->data_cap = b->data_cap == 0 ? 64 * 1024 : b->data_cap * 2;
		b->data = xrealloc(b->data, b->data_cap);
	}
	memcpy(b->data + b->data_len, data, len);
	b->uid[b->n] = uid;
	b->off[b->n] = (uint32_t)b->data_len;
	b->len[b->n] = (uint32_t)len;
	b->n++;
	b->data_len += len;
	if (!b->rc_full &&
	    !imap_rcache_put(b->rc, b->mailbox, b->uidvalidity, uid, b->field, data, len))
		b->rc_full = true;
}

/* Read field's items of the next messages of the request from uid on. */
static void
batch_load(struct imap_client *c, struct fetch_ctx *f, struct item_batch *b, uint32_t uid,
    enum imap_rc_field field)
{
	struct imap_view *v = c->view;
	size_t last_pos = MIN(f->pos + FETCH_BATCH_MSGS, f->n) - 1;
	uint32_t last = v->msgs[f->idx[last_pos]].uid, done;

	if (last < uid)
		last = uid;	/* a request out of UID order: at least this one */
	b->n = b->next = 0;
	b->data_len = 0;
	b->rc = c->iu->rcache;
	b->mailbox = mailbox_name(v->mbox);
	b->uidvalidity = mailbox_uidvalidity(v->mbox);
	b->field = field;
	b->rc_full = false;
	(void)mailbox_items_walk(v->mbox, (uint8_t)(field + 1), IMAP_RC_RENDER_KIND, uid, last,
	    FETCH_BATCH_BYTES, batch_add, b, &done);
	b->lo = uid;
	b->hi = done;
	b->valid = true;
}

/* Look uid up in the batch b (which covers it): 1 found, 0 not. */
static bool
batch_find(struct item_batch *b, uint32_t uid, const char **data_r, size_t *len_r)
{
	size_t lo, hi;

	/* FETCH 1:* asks in UID order: the entry is usually the next one */
	if (b->next < b->n && b->uid[b->next] < uid)
		b->next++;
	if (b->next < b->n && b->uid[b->next] == uid) {
		lo = b->next;
	} else {
		lo = 0;
		hi = b->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (b->uid[mid] < uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == b->n || b->uid[lo] != uid)
			return false;
	}
	b->next = lo;
	*data_r = b->data + b->off[lo];
	*len_r = b->len[lo];
	return true;
}

/*
 * The rendering of field for message uid: from the batch read from the index when it
 * covers uid (a folder beyond the in-memory cache's bound: no hash probe that misses),
 * else from the in-memory cache, else from the index (read in a batch for the following
 * messages of the request); false when none has it.
 */
static bool
item_find(struct imap_client *c, struct fetch_ctx *f, uint32_t uid, enum imap_rc_field field,
    const char **data_r, size_t *len_r)
{
	struct mailbox *mb = c->view->mbox;
	struct item_batch *b = &f->batch[field];
	bool covered = b->valid && uid >= b->lo && uid <= b->hi;

	if (covered && batch_find(b, uid, data_r, len_r))
		return true;
	/* in memory: cached before, or rendered since the index was read */
	if (imap_rcache_get(c->iu->rcache, mailbox_name(mb), mailbox_uidvalidity(mb), uid, field,
	    data_r, len_r))
		return true;
	if (covered)
		return false;
	batch_load(c, f, b, uid, field);
	return batch_find(b, uid, data_r, len_r);
}

/* Append the cached rendering of field for message uid; false when not cached. */
static bool
rc_append(struct imap_client *c, struct fetch_ctx *f, uint32_t uid, enum imap_rc_field field,
    int *ret)
{
	const char *d;
	size_t len;

	if (!item_find(c, f, uid, field, &d, &len))
		return false;
	*ret = buf_append(&f->out, d, len);
	return true;
}

/* Append the PREVIEW string of the full parse pm to out (through f->tmp). */
static int
preview_render(struct fetch_ctx *f, struct buf *out, const struct mail_message *pm)
{
	buf_reset(&f->tmp);
	if (mail_preview_write(&f->tmp, pm) < 0)
		return -1;
	return imap_append_string(out, f->tmp.len > 0 ? f->tmp.data : "", f->tmp.len);
}

/* Keep data as field of uid in the rcache and queue it for the index. */
static void
rc_keep(struct imap_client *c, uint32_t uid, enum imap_rc_field field, const void *data,
    size_t len)
{
	struct mailbox *mb = c->view->mbox;

	imap_rcache_put(c->iu->rcache, mailbox_name(mb), mailbox_uidvalidity(mb), uid, field,
	    data, len);
	/* and in the index, for FETCH after a restart or beyond the cache's bound */
	mailbox_items_put(mb, uid, (uint8_t)(field + 1), IMAP_RC_RENDER_KIND, data, len);
}

/* Cache out[mark..] as field of uid, and the header fields of pm when not yet; with a
 * full parse, the preview too when not yet (the parse is the expensive part). */
static void
rc_store(struct imap_client *c, struct fetch_ctx *f, uint32_t uid, enum imap_rc_field field,
    size_t mark, const struct mail_message *pm)
{
	struct imap_rcache *rc = c->iu->rcache;
	struct mailbox *mb = c->view->mbox;
	const char *name = mailbox_name(mb);
	uint32_t uidv = mailbox_uidvalidity(mb);

	rc_keep(c, uid, field, f->out.data + mark, f->out.len - mark);
	/* not from f->hdrmsg: a parse of the header alone has no body to preview */
	if (field != IMAP_RC_PREVIEW && pm != f->hdrmsg && !pm->header_only &&
	    !imap_rcache_has(rc, name, uidv, uid, IMAP_RC_PREVIEW)) {
		struct buf pv;

		buf_init(&pv, 8 * MAIL_PREVIEW_CHARS);
		if (preview_render(f, &pv, pm) == 0)
			rc_keep(c, uid, IMAP_RC_PREVIEW, pv.data, pv.len);
		buf_deinit(&pv);
	}
	if (!imap_rcache_has(rc, name, uidv, uid, IMAP_RC_HEADER) &&
	    imap_rc_header_build(pm->data + pm->root->hdr_off, pm->root->hdr_len,
	    &f->tmp) == 0) {
		imap_rcache_put(rc, name, uidv, uid, IMAP_RC_HEADER, f->tmp.data, f->tmp.len);
		/* and in the index, for SEARCH after a restart */
		mailbox_hdrcache_put(mb, uid, IMAP_RC_HEADER_KIND, f->tmp.data, f->tmp.len);
	}
}

static void
flush_out(struct imap_client *c, struct fetch_ctx *f)
{
	imap_client_write(c, f->out.data, f->out.len);
	buf_reset(&f->out);
}

/* Start a body section item: writes "NAME {n}\r\n" and prepares the stream. */
static void
section_begin(struct imap_client *c, struct fetch_ctx *f, const struct imap_fetch_item *it)
{
	const struct mail_message *m = f->msg != NULL ? imap_cached_msg_parse(f->msg) :
	    f->hdrmsg;
	uint64_t origin = it->partial ? it->origin : 0;
	uint64_t count = it->partial ? it->count : UINT64_MAX;
	uint64_t total = 0;

	if (mail_section_resolve(m, &it->section, IMAP_SECTION_GEN_MAX, &f->res) < 0) {
		log_warn("imap fetch user=%s session=%u error=\"section output over limit\"",
		    c->user->name, c->id);
	}
	f->res_valid = true;
	if (f->res.generated) {
		size_t len = f->res.buf.len;

		f->gen_pos = origin < len ? (size_t)origin : len;
		f->gen_end = count == UINT64_MAX || count > len - f->gen_pos ?
		    len : f->gen_pos + (size_t)count;
		total = f->gen_end - f->gen_pos;
		f->stream_generated = true;
	} else {
		mail_octets_reader_init(&f->reader, m->data + f->res.raw_off,
		    f->res.raw_len, origin, count, &total);
		f->stream_generated = false;
	}
	(void)buf_appendf(&f->out, "%s {%llu}\r\n", it->name, (unsigned long long)total);
	flush_out(c, f);
	f->streaming = true;
}

/*
 * Start a BINARY[...] item (RFC 3516 §4.2): the decoded content goes out as a literal,
 * a literal8 "~{n}" when the range sent holds a NUL.
 */
static void
binary_begin(struct imap_client *c, struct fetch_ctx *f, const struct imap_fetch_item *it)
{
	const struct mail_message *m = imap_cached_msg_parse(f->msg);
	uint64_t origin = it->partial ? it->origin : 0;
	uint64_t count = it->partial ? it->count : UINT64_MAX;
	size_t len;
	bool nul;

	if (mail_section_binary(m, &it->section, IMAP_BINARY_MAX, &f->res) < 0) {
		log_warn("imap fetch user=%s session=%u error=\"binary section over limit\"",
		    c->user->name, c->id);
		f->error = true;
	}
	f->res_valid = true;
	len = f->res.buf.len;
	f->gen_pos = origin < len ? (size_t)origin : len;
	f->gen_end = count == UINT64_MAX || count > len - f->gen_pos ?
	    len : f->gen_pos + (size_t)count;
	f->stream_generated = true;
	nul = f->gen_end > f->gen_pos &&
	    memchr(f->res.buf.data + f->gen_pos, '\0', f->gen_end - f->gen_pos) != NULL;
	(void)buf_appendf(&f->out, "%s %s{%llu}\r\n", it->name, nul ? "~" : "",
	    (unsigned long long)(f->gen_end - f->gen_pos));
	flush_out(c, f);
	f->streaming = true;
}

/* BINARY.SIZE[...] (RFC 3516 §4.2): the size of the decoded content. */
static int
binary_size_write(struct imap_client *c, struct fetch_ctx *f, const struct imap_fetch_item *it)
{
	struct mail_section_result r;
	int ret;

	if (mail_section_binary(imap_cached_msg_parse(f->msg), &it->section, IMAP_BINARY_MAX,
	    &r) < 0) {
		mail_section_result_deinit(&r);
		return -1;
	}
	ret = buf_appendf(&f->out, "%s %llu", it->name, (unsigned long long)r.size);
	mail_section_result_deinit(&r);
	return ret;
}

/* Stream one chunk; returns true when the section is finished. */
static bool
section_step(struct imap_client *c, struct fetch_ctx *f)
{
	if (f->stream_generated) {
		size_t n = MIN(f->gen_end - f->gen_pos, (size_t)IMAP_BODY_CHUNK);

		/* an empty generated section has no buffer at all */
		if (n > 0)
			imap_client_write(c, f->res.buf.data + f->gen_pos, n);
		f->gen_pos += n;
		if (f->gen_pos < f->gen_end)
			return false;
	} else {
		int n;

		buf_reset(&f->out);
		n = mail_octets_read(&f->reader, &f->out, IMAP_BODY_CHUNK);
		if (n < 0)
			panic("imap: fetch chunk buffer too small");
		flush_out(c, f);
		if (n > 0)
			return false;
	}
	f->streaming = false;
	mail_section_result_deinit(&f->res);
	f->res_valid = false;
	return true;
}

/* "EMAILID (M<16 hex>)" (RFC 8474 §5.1; imap_emailid_parse reads it back). */
static int
emailid_write(struct buf *out, uint64_t id)
{
	return buf_appendf(out, "EMAILID (M%016llx)", (unsigned long long)id);
}

/* Append a non-literal item to f->out. */
static void
write_simple_item(struct imap_client *c, struct fetch_ctx *f, const struct imap_fetch_item *it,
    struct imap_view_msg *vm, const struct mailbox_msg *m)
{
	struct imap_view *v = c->view;
	const struct mail_message *pm;
	enum imap_rc_field field;
	size_t mark = f->out.len, rmark;
	int ret = 0;

	switch (it->kind) {
	case IMAP_FETCH_UID:
		ret = buf_append(&f->out, "UID ", 4);
		if (ret == 0)
			ret = append_u64(&f->out, m->uid);
		break;
	case IMAP_FETCH_FLAGS:
		imap_view_set_reported(v, vm, m->flags, m->keywords);
		ret = buf_append(&f->out, "FLAGS ", 6);
		if (ret == 0)
			ret = imap_view_write_flags(v, &f->out, imap_view_client_flags(v, vm, m),
			    m->keywords);
		break;
	case IMAP_FETCH_INTERNALDATE:
		ret = buf_append_str(&f->out, "INTERNALDATE \"");
		if (ret == 0)
			ret = imap_datetime_format(m->internaldate, 0, &f->out);
		if (ret == 0)
			ret = buf_append_c(&f->out, '"');
		break;
	case IMAP_FETCH_SAVEDATE:
		/* RFC 8514: when the store first saw the message; a message older than
		 * the index has its INTERNALDATE (docs/formats.md, Index) */
		ret = buf_append_str(&f->out, "SAVEDATE \"");
		if (ret == 0)
			ret = imap_datetime_format(m->savedate != 0 ? m->savedate :
			    m->internaldate, 0, &f->out);
		if (ret == 0)
			ret = buf_append_c(&f->out, '"');
		break;
	case IMAP_FETCH_EMAILID:
		/* RFC 8474 §5.1: kept by MOVE and COPY (struct mailbox_msg) */
		ret = emailid_write(&f->out, mailbox_msg_emailid(v->mbox, m));
		break;
	case IMAP_FETCH_THREADID:
		/* RFC 8474 §5.2: the thread kept in the index (mail_thread.h), as JMAP's */
		ret = buf_appendf(&f->out, "THREADID (T%016llx)", (unsigned long long)
		    mail_thread_id(c->user->store, v->mbox, m->uid,
		    mailbox_msg_emailid(v->mbox, m)));
		break;
	case IMAP_FETCH_RFC822_SIZE:
		ret = buf_append(&f->out, "RFC822.SIZE ", 12);
		if (ret == 0)
			ret = append_u64(&f->out, m->vsize != MAILBOX_SIZE_UNKNOWN ? m->vsize : 0);
		break;
	case IMAP_FETCH_ENVELOPE:
		ret = buf_append_str(&f->out, "ENVELOPE ");
		if (ret != 0 || rc_append(c, f, m->uid, IMAP_RC_ENVELOPE, &ret))
			break;
		pm = f->hdrmsg != NULL ? f->hdrmsg : imap_cached_msg_parse(f->msg);
		rmark = f->out.len;
		ret = mail_envelope_write(&f->out, pm, NULL);
		if (ret == 0)
			rc_store(c, f, m->uid, IMAP_RC_ENVELOPE, rmark, pm);
		break;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		field = it->kind == IMAP_FETCH_BODY ? IMAP_RC_BODY : IMAP_RC_BODYSTRUCTURE;
		ret = buf_append_str(&f->out, it->name);
		if (ret == 0)
			ret = buf_append_c(&f->out, ' ');
		if (ret != 0 || rc_append(c, f, m->uid, field, &ret))
			break;
		pm = imap_cached_msg_parse(f->msg);
		rmark = f->out.len;
		ret = mail_bodystructure_write(&f->out, pm, NULL,
		    it->kind == IMAP_FETCH_BODYSTRUCTURE);
		if (ret == 0)
			rc_store(c, f, m->uid, field, rmark, pm);
		break;
	case IMAP_FETCH_PREVIEW:
		ret = buf_append_str(&f->out, "PREVIEW ");
		if (ret != 0 || rc_append(c, f, m->uid, IMAP_RC_PREVIEW, &ret))
			break;
		if (f->msg == NULL) {
			/* RFC 8970 §3.2: LAZY asks only for what is at hand (without LAZY,
			 * fetch_load has loaded the message) */
			ret = buf_append(&f->out, "NIL", 3);
			break;
		}
		pm = imap_cached_msg_parse(f->msg);
		rmark = f->out.len;
		ret = preview_render(f, &f->out, pm);
		if (ret == 0)
			rc_store(c, f, m->uid, IMAP_RC_PREVIEW, rmark, pm);
		break;
	case IMAP_FETCH_MODSEQ:
		v->modseq_told = true;
		ret = buf_append(&f->out, "MODSEQ (", 8);
		if (ret == 0)
			ret = append_u64(&f->out, m->modseq);
		if (ret == 0)
			ret = buf_append_c(&f->out, ')');
		break;
	case IMAP_FETCH_BINARY_SIZE:
		ret = binary_size_write(c, f, it);
		break;
	case IMAP_FETCH_SECTION:
	case IMAP_FETCH_BINARY:
		break;
	}
	if (ret < 0) {
		log_warn("imap fetch user=%s session=%u uid=%u error=\"%s over limit\"",
		    c->user->name, c->id, m->uid, it->name);
		buf_truncate(&f->out, mark);
		(void)buf_appendf(&f->out, "%s NIL", it->name);
		f->error = true;
	}
}

/* Does the section need the message's own header only? */
static bool
root_header_section(const struct mail_section *sec)
{
	return sec->depth == 0 && (sec->kind == MAIL_SECTION_HEADER ||
	    sec->kind == MAIL_SECTION_HEADER_FIELDS ||
	    sec->kind == MAIL_SECTION_HEADER_FIELDS_NOT);
}

/*
 * Load what the items of the request need of message uid and neither the rcache nor the
 * index has: nothing,
 * the header alone (f->hdrmsg, for ENVELOPE and the message's own HEADER sections), or
 * the loaded message (f->msg).
 */
static enum store_status
fetch_load(struct imap_client *c, struct fetch_ctx *f, uint32_t uid)
{
	struct mailbox *mb = c->view->mbox;
	bool need_full = false, need_hdr = false, complete;
	enum store_status st;
	const char *d;
	size_t len;
	unsigned i;

	for (i = 0; i < f->req->count && !need_full; i++) {
		switch (f->req->items[i].kind) {
		case IMAP_FETCH_SECTION:
			/* BODY[HEADER], BODY[HEADER.FIELDS (...)] of the message itself */
			if (root_header_section(&f->req->items[i].section))
				need_hdr = true;
			else
				need_full = true;
			break;
		case IMAP_FETCH_ENVELOPE:
			if (!item_find(c, f, uid, IMAP_RC_ENVELOPE, &d, &len))
				need_hdr = true;
			break;
		case IMAP_FETCH_BODY:
			if (!item_find(c, f, uid, IMAP_RC_BODY, &d, &len))
				need_full = true;
			break;
		case IMAP_FETCH_BODYSTRUCTURE:
			if (!item_find(c, f, uid, IMAP_RC_BODYSTRUCTURE, &d, &len))
				need_full = true;
			break;
		case IMAP_FETCH_PREVIEW:
			if (!f->req->items[i].lazy &&
			    !item_find(c, f, uid, IMAP_RC_PREVIEW, &d, &len))
				need_full = true;
			break;
		case IMAP_FETCH_BINARY:
		case IMAP_FETCH_BINARY_SIZE:
			need_full = true;
			break;
		default:
			break;
		}
	}
	if (!need_full && !need_hdr)
		return STORE_OK;	/* everything from the rcache: no file opened */
	if (!need_full) {
		st = imap_msg_read_header(mb, uid, &f->hdr, &f->hdr_cap, &len, &complete);
		if (st != STORE_OK)
			return st;
		if (complete) {
			f->hdrmsg = mail_message_parse(f->hdr, len, NULL);
			return STORE_OK;
		}
	}
	return imap_msgcache_get_scan(c->iu->cache, mb, uid, f->n > FETCH_SCAN_MIN,
	    &f->msg);
}

/*
 * Prepare message f->idx[f->pos]: set \Seen if needed, load sizes, map the file.
 * Returns 1 ready (*m_r: the message, borrowed until the next store call that changes
 * the mailbox), 0 skip it.
 */
static int
fetch_msg_begin(struct imap_client *c, struct fetch_ctx *f, const struct mailbox_msg **m_r)
{
	struct imap_view *v = c->view;
	struct imap_view_msg *vm = &v->msgs[f->idx[f->pos]];
	const struct mailbox_msg *m;
	enum store_status st;
	bool need_info = false, changed = false;
	unsigned i;

	if (vm->expunged || (m = mailbox_lookup(v->mbox, vm->uid, NULL)) == NULL) {
		f->expunged_seen = true;
		return 0;
	}
	f->emit_flags = false;
	if (f->req->sets_seen && !v->readonly && !(m->flags & MAILBOX_FLAG_SEEN)) {
		/* keep P (passed), which is not an IMAP flag */
		st = mailbox_store_flags(v->mbox, m->uid, (uint8_t)((m->flags &
		    (MAILBOX_FLAGS_IMAP | MAILBOX_FLAG_PASSED)) | MAILBOX_FLAG_SEEN), m->keywords);
		if (st == STORE_EXPUNGED) {
			f->expunged_seen = true;
			return 0;
		}
		if (st != STORE_OK)
			f->error = true;
		f->emit_flags = !f->req->has_flags;
		changed = true;
	}
	for (i = 0; i < f->req->count; i++) {
		enum imap_fetch_kind k = f->req->items[i].kind;

		if (k == IMAP_FETCH_RFC822_SIZE || k == IMAP_FETCH_INTERNALDATE ||
		    k == IMAP_FETCH_SAVEDATE)
			need_info = true;
	}
	if (need_info) {
		m = mailbox_lookup(v->mbox, vm->uid, NULL);
		if (m == NULL || m->vsize == MAILBOX_SIZE_UNKNOWN || m->internaldate == 0) {
			st = mailbox_msg_info(v->mbox, vm->uid, &m);
			if (st != STORE_OK) {
				if (st == STORE_EXPUNGED)
					f->expunged_seen = true;
				else
					f->error = true;
				return 0;
			}
			changed = true;
		}
	}
	if (f->req->need_message) {
		st = fetch_load(c, f, vm->uid);
		/* a file was opened: a vanished one makes the store rescan */
		changed = changed || f->msg != NULL || f->hdrmsg != NULL ||
		    st != STORE_OK;
		if (st != STORE_OK) {
			if (st == STORE_EXPUNGED)
				f->expunged_seen = true;
			else
				f->error = true;
			return 0;
		}
		/* RFC 3516 §4.3: an encoding BINARY cannot remove fails the command */
		for (i = 0; i < f->req->count; i++) {
			const struct imap_fetch_item *it = &f->req->items[i];

			if ((it->kind == IMAP_FETCH_BINARY || it->kind == IMAP_FETCH_BINARY_SIZE) &&
			    !mail_section_binary_known_cte(imap_cached_msg_parse(f->msg),
			    &it->section)) {
				f->unknown_cte = true;
				return 0;
			}
		}
	}
	buf_reset(&f->out);
	(void)buf_append(&f->out, "* ", 2);
	if (c->enabled & IMAP_ENABLE_UIDONLY) {
		/* RFC 9586 §3.3 */
		(void)append_u64(&f->out, vm->uid);
		(void)buf_append(&f->out, " UIDFETCH (", 11);
	} else {
		(void)append_u64(&f->out, f->idx[f->pos] + 1);
		(void)buf_append(&f->out, " FETCH (", 8);
	}
	f->item = 0;
	f->in_msg = true;
	*m_r = changed ? NULL : m;
	return 1;
}

static int
fetch_continue(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct fetch_ctx *f = cmd->ctx;
	struct imap_view *v = c->view;
	/* the message being written: looked up once, valid while this loop runs (no store
	 * call that changes the mailbox happens between its items) */
	const struct mailbox_msg *m = NULL;

	for (;;) {
		struct imap_view_msg *vm;

		if (imap_client_output_len(c) >= conn_bounds(CONN_IMAP)->output_high)
			return IMAP_CMD_MORE;
		if (f->streaming) {
			if (!section_step(c, f))
				continue;
			f->item++;
			continue;
		}
		if (!f->in_msg) {
			if (f->pos >= f->n)
				break;
			if (fetch_msg_begin(c, f, &m) == 0) {
				fetch_release_msg(c, f);
				f->pos++;
			}
			continue;
		}
		vm = &v->msgs[f->idx[f->pos]];
		if (m == NULL || m->uid != vm->uid)
			m = mailbox_lookup(v->mbox, vm->uid, NULL);
		if (f->item < f->req->count && m != NULL) {
			const struct imap_fetch_item *it = &f->req->items[f->item];

			if (f->item > 0)
				(void)buf_append_c(&f->out, ' ');
			if (it->kind == IMAP_FETCH_SECTION) {
				section_begin(c, f, it);
				continue;
			}
			if (it->kind == IMAP_FETCH_BINARY) {
				binary_begin(c, f, it);
				continue;
			}
			write_simple_item(c, f, it, vm, m);
			/* THREADID may read the file, which may rescan the folder: look again */
			if (it->kind == IMAP_FETCH_THREADID)
				m = NULL;
			f->item++;
			continue;
		}
		if (f->emit_flags && m != NULL) {
			struct imap_fetch_item fl = { .kind = IMAP_FETCH_FLAGS };

			if (f->item > 0)
				(void)buf_append_c(&f->out, ' ');
			write_simple_item(c, f, &fl, vm, m);
			/* RFC 7162 §3.1: a flag change is reported with its MODSEQ */
			if ((c->enabled & IMAP_ENABLE_CONDSTORE) && !f->req->has_modseq) {
				fl.kind = IMAP_FETCH_MODSEQ;
				(void)buf_append_c(&f->out, ' ');
				write_simple_item(c, f, &fl, vm, m);
			}
		}
		(void)buf_append(&f->out, ")\r\n", 3);
		flush_out(c, f);
		fetch_release_msg(c, f);
		f->in_msg = false;
		f->pos++;
		m = NULL;
	}
	if (f->unknown_cte)
		return imap_cmd_no(cmd, "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding");
	if (f->error)
		return imap_cmd_no(cmd, "[SERVERBUG] Internal error while fetching");
	if (f->expunged_seen && !cmd->uid)
		return imap_cmd_no(cmd, "[EXPUNGEISSUED] Some messages were expunged");
	return imap_cmd_ok(cmd, "Fetch completed.");
}

/* RFC 7162 §3.2.6: "* VANISHED (EARLIER) uids" while it is being built. */
struct vanished_out {
	struct seqset *set;		/* the UIDs asked for */
	struct seqset *out;
};

static void
vanished_add(void *ctx, uint32_t lo, uint32_t hi)
{
	struct vanished_out *vo = ctx;
	const struct seqset_range *r;
	unsigned n, i;

	/* intersect lo..hi with the requested set */
	r = seqset_ranges(vo->set, &n);
	for (i = 0; i < n; i++) {
		uint32_t a = MAX(lo, r[i].lo), b = MIN(hi, r[i].hi);

		if (a <= b)
			(void)seqset_add_range(vo->out, a, b);
	}
}

void
imap_send_vanished_earlier(struct imap_client *c, struct seqset *uids, uint64_t since)
{
	struct vanished_out vo = { uids, seqset_create() };
	struct buf b;

	(void)mailbox_vanished_since(c->view->mbox, since, vanished_add, &vo);
	if (seqset_count(vo.out) > 0) {
		buf_init(&b, IMAP_RESP_MAX);
		if (buf_append_str(&b, "* VANISHED (EARLIER) ") == 0 &&
		    seqset_format(vo.out, &b) == 0 && buf_append(&b, "\r\n", 2) == 0)
			imap_client_write(c, b.data, b.len);
		buf_deinit(&b);
	}
	seqset_destroy(&vo.out);
}

/*
 * FETCH modifiers (RFC 7162 §3.1.4.1, §3.2.6): CHANGEDSINCE n, VANISHED (UID FETCH
 * with QRESYNC enabled, needs CHANGEDSINCE). Returns 0 or -1 (BAD, *error_r).
 */
static int
parse_modifiers(struct imap_cmd *cmd, const struct imap_arg *list, uint64_t *changedsince_r,
    bool *vanished_r, const char **error_r)
{
	unsigned i;

	*changedsince_r = 0;
	*vanished_r = false;
	*error_r = "Invalid FETCH modifier";
	if (list->list_count == 0)
		return -1;
	for (i = 0; i < list->list_count; i++) {
		const struct imap_arg *a = &list->list[i];

		if (imap_arg_atom_equals(a, "CHANGEDSINCE") && *changedsince_r == 0 &&
		    i + 1 < list->list_count) {
			if (!imap_arg_modseq(&a[1], false, changedsince_r))
				return -1;
			i++;
		} else if (imap_arg_atom_equals(a, "VANISHED") && !*vanished_r) {
			*vanished_r = true;
		} else
			return -1;
	}
	if (*vanished_r) {
		if (!cmd->uid || !(cmd->client->enabled & IMAP_ENABLE_QRESYNC) ||
		    *changedsince_r == 0) {
			*error_r = "VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled";
			return -1;
		}
	}
	return 0;
}

/* Is the last argument a FETCH modifier list rather than PREVIEW's (RFC 8970)? */
static bool
has_modifiers(const struct imap_cmd *cmd)
{
	const struct imap_arg *last = &cmd->args[cmd->argc - 1];

	if (cmd->argc < 3 || last->type != IMAP_ARG_LIST)
		return false;
	if (cmd->argc == 3 && imap_arg_atom_equals(&cmd->args[1], "PREVIEW"))
		return last->list_count > 0 &&
		    (imap_arg_atom_equals(&last->list[0], "CHANGEDSINCE") ||
		     imap_arg_atom_equals(&last->list[0], "VANISHED"));
	return true;
}

int
cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->client;
	struct seqset *set = NULL;
	struct fetch_ctx *f;
	const char *err = NULL;
	bool uid_set;
	unsigned nargs = cmd->argc;
	uint64_t changedsince = 0;
	bool vanished = false;

	if (cmd->argc < 2 || cmd->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "Invalid FETCH arguments");
	if (has_modifiers(cmd)) {
		nargs--;
		if (parse_modifiers(cmd, &cmd->args[nargs], &changedsince, &vanished, &err) < 0)
			return imap_cmd_bad(cmd, "%s", err);
	}
	if (imap_view_parse_set(c->view, &cmd->args[0], cmd->uid, &set, &uid_set) < 0)
		return imap_cmd_bad(cmd, "Invalid sequence set");
	f = xcalloc(1, sizeof(*f));
	f->cache = c->iu->cache;
	buf_init(&f->out, IMAP_RESP_MAX);
	buf_init(&f->tmp, IMAP_HDR_READ_MAX);
	cmd->ctx = f;
	cmd->ctx_free = fetch_ctx_free;
	/* RFC 9586 §3.3: UIDFETCH carries the UID; the item only when asked for */
	if (imap_fetch_parse(cmd->args + 1, nargs - 1,
	    cmd->uid && !(c->enabled & IMAP_ENABLE_UIDONLY), &f->req, &err) < 0) {
		seqset_destroy(&set);
		return imap_cmd_bad(cmd, "%s", err);
	}
	if (changedsince != 0 && imap_fetch_request_add_modseq(f->req) < 0) {
		seqset_destroy(&set);
		return imap_cmd_bad(cmd, "Too many FETCH items");
	}
	if (imap_view_resolve(c->view, set, uid_set, &f->idx, &f->n) < 0) {
		seqset_destroy(&set);
		return imap_cmd_bad(cmd, "Invalid sequence number");
	}
	/* RFC 7162 §3.1: MODSEQ and CHANGEDSINCE enable CONDSTORE; once on, flags are
	 * told with their MODSEQ (as Dovecot does) */
	if (f->req->has_modseq)
		imap_client_enable(c, IMAP_ENABLE_CONDSTORE);
	else if (f->req->has_flags && (c->enabled & IMAP_ENABLE_CONDSTORE) &&
	    imap_fetch_request_add_modseq(f->req) < 0) {
		seqset_destroy(&set);
		return imap_cmd_bad(cmd, "Too many FETCH items");
	}
	if (vanished)
		imap_send_vanished_earlier(c, set, changedsince);
	seqset_destroy(&set);
	if (changedsince != 0) {
		size_t i, n = 0;

		for (i = 0; i < f->n; i++) {
			const struct imap_view_msg *vm = &c->view->msgs[f->idx[i]];
			const struct mailbox_msg *m = vm->expunged ? NULL :
			    mailbox_lookup(c->view->mbox, vm->uid, NULL);

			if (m != NULL && m->modseq > changedsince)
				f->idx[n++] = f->idx[i];
		}
		f->n = n;
	}
	cmd->cont = fetch_continue;
	return fetch_continue(cmd);
}
