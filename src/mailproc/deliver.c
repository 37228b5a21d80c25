/*
 * deliver.c — LMTP deliveries in the mail process (see deliver.h). Runs with the
 * recipient's uid, so every file is created by and for its owner; the store does the
 * durable part (tmp file, fsync, rename into new/, directory fsync, uidlist) in its
 * commit thread and tells the user's IMAP sessions about the new messages at once.
 * Each delivery is its own transaction, so one that fails (a read error, a full disk)
 * never fails the others of its group.
 */
#include <errno.h>
#include <event2/event.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mailproc/deliver.h"
#include "mailproc/deliver_send.h"
#include "mailproc/deliver_sieve.h"
#include "store/store.h"

#define DELIVER_CHUNK (64 * 1024)

static uint32_t
status_of(enum store_status st)
{
	switch (st) {
	case STORE_OK: return IPC_DELIVER_OK;
	case STORE_NOSPACE: return IPC_DELIVER_NOSPACE;
	case STORE_OVERQUOTA: return IPC_DELIVER_OVERQUOTA;
	default: return IPC_DELIVER_TEMPFAIL;
	}
}

/* Copy the delivery into the current message of ctx. */
static enum store_status
write_one(struct mailbox_save *ctx, struct delivery *d)
{
	static unsigned char buf[DELIVER_CHUNK];
	enum store_status st = mailbox_save_msg_begin(ctx);
	off_t off = 0;

	if (st == STORE_OK && d->prefix_len > 0)
		st = mailbox_save_write(ctx, d->prefix, d->prefix_len);
	while (st == STORE_OK) {
		ssize_t r = pread(d->fd, buf, DELIVER_CHUNK, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("deliver read error=%s", strerror(errno));
			return STORE_IOERROR;
		}
		if (r == 0)
			break;
		off += r;
		st = mailbox_save_write(ctx, buf, (size_t)r);
	}
	if (st == STORE_OK)
		st = mailbox_save_msg_end(ctx, 0, 0, 0);
	d->size = (uint64_t)off + d->prefix_len;
	return st;
}

static struct mailbox *
open_folder(struct mstore *store, const char *folder)
{
	struct mailbox *mbox = NULL;

	if (folder[0] != '\0' && mailbox_open(store, folder, &mbox) == STORE_OK)
		return mbox;
	/* no such folder (or a name that is not one): INBOX, as Dovecot's lmtp does */
	if (mailbox_open(store, "INBOX", &mbox) != STORE_OK)
		return NULL;
	return mbox;
}

static void
committed(void *ctx, enum store_status st, uint32_t first, uint32_t last)
{
	struct delivery *d = ctx;

	(void)first;
	(void)last;
	d->status = status_of(st);
	if (st == STORE_OK)
		deliver_quota_warning(d->store, d->base, d->size);
	d->done(d);
}

/* ------------------------------------------------------------------ Sieve */

/*
 * One store of a Sieve plan finished (committed or failed): the delivery's status is
 * the first failure; done once every store and the start itself are through.
 */
static void
part_done(struct delivery *d, uint32_t status)
{
	if (d->status == IPC_DELIVER_OK && status != IPC_DELIVER_OK)
		d->status = status;
	if (--d->pending > 0)
		return;
	if (d->status == IPC_DELIVER_OK)
		deliver_dups_commit(d->sieve, &d->dups);
	else
		deliver_dups_free(&d->dups);
	d->done(d);
}

/* A store that failed before its commit: only the status. */
static void
part_done_status(struct delivery *d, uint32_t status)
{
	if (d->status == IPC_DELIVER_OK)
		d->status = status;
}

static void
part_committed(void *ctx, enum store_status st, uint32_t first, uint32_t last)
{
	struct delivery *d = ctx;

	(void)first;
	(void)last;
	if (st == STORE_OK)
		deliver_quota_warning(d->store, d->base, d->size);
	part_done(d, status_of(st));
}

/* The message as the plan has it: prefix, (edited) header, body. */
static enum store_status
write_planned(struct mailbox_save *ctx, struct delivery *d, const struct deliver_plan *plan,
    const unsigned char *msg, size_t len)
{
	enum store_status st = mailbox_save_msg_begin(ctx);
	size_t body = MIN(plan->body_off, len);

	if (st == STORE_OK && d->prefix_len > 0)
		st = mailbox_save_write(ctx, d->prefix, d->prefix_len);
	if (st == STORE_OK && plan->header != NULL)
		st = mailbox_save_write(ctx, plan->header, plan->header_len);
	else if (st == STORE_OK && body > 0)
		st = mailbox_save_write(ctx, msg, body);
	if (st == STORE_OK && len > body)
		st = mailbox_save_write(ctx, msg + body, len - body);
	d->size = d->prefix_len + (plan->header != NULL ? plan->header_len : body) + len - body;
	return st;
}

/* The folder of target t: fileinto :create makes it; a missing one is NULL. */
static struct mailbox *
target_folder(struct mstore *store, struct delivery *d, const struct deliver_target *t)
{
	struct mailbox *mbox = NULL;
	const char *name = t->folder != NULL ? t->folder : d->folder[0] != '\0' ? d->folder :
	    "INBOX";
	enum store_status st = mailbox_open(store, name, &mbox);

	if (st == STORE_NONEXISTENT && t->create && mstore_create(store, name) == STORE_OK)
		st = mailbox_open(store, name, &mbox);
	if (st == STORE_OK)
		return mbox;
	if (t->folder == NULL && mailbox_open(store, "INBOX", &mbox) == STORE_OK)
		return mbox;	/* keep with a missing +detail folder: INBOX */
	log_info("deliver folder=%s not written: %s, kept in INBOX", name,
	    store_status_str(st));
	return NULL;
}

/* Save into one target; STORE_OK when it was handed to the commit. */
static enum store_status
save_target(struct mstore *store, struct delivery *d, const struct deliver_plan *plan,
    const struct deliver_target *t, const unsigned char *msg, size_t len)
{
	struct mailbox *mbox = target_folder(store, d, t);
	struct mailbox_save *ctx;
	enum store_status st;
	uint32_t keywords = 0, first, last;

	if (mbox == NULL)
		return STORE_NONEXISTENT;
	for (unsigned i = 0; i < t->nkeywords; i++) {
		unsigned idx;

		if (mailbox_keyword_add(mbox, t->keywords[i], &idx) == STORE_OK)
			keywords |= 1u << idx;
	}
	/* new/ has no flags: a message with flags goes to cur/ (as Dovecot's LDA) */
	ctx = mailbox_save_begin(mbox, t->flags != 0 || keywords != 0 ? 0 :
	    MAILBOX_SAVE_DELIVERY);
	mailbox_unref(&mbox);
	st = write_planned(ctx, d, plan, msg, len);
	if (st == STORE_OK)
		st = mailbox_save_msg_end(ctx, t->flags, keywords, 0);
	if (st != STORE_OK) {
		mailbox_save_abort(&ctx);
		return st;
	}
	d->pending++;
	if (mstore_commit_fd(store) >= 0) {
		(void)mailbox_save_commit_async(&ctx, part_committed, d);
	} else {
		st = mailbox_save_commit(&ctx, &first, &last);
		part_committed(d, st, first, last);
	}
	return STORE_OK;
}

static bool
plan_has_inbox(const struct deliver_plan *plan)
{
	for (unsigned i = 0; i < plan->count; i++)
		if (plan->targets[i].folder == NULL)
			return true;
	return false;
}

/* Carry out a plan; a target that cannot be written is kept in INBOX instead. */
static void
run_plan(struct mstore *store, struct delivery *d, struct deliver_plan *plan,
    const unsigned char *msg, size_t len)
{
	bool need_inbox = false;
	enum store_status st = STORE_OK, inbox_st;

	d->status = IPC_DELIVER_OK;
	d->pending = 1;
	for (unsigned i = 0; i < plan->count; i++) {
		const struct deliver_target *t = &plan->targets[i];

		st = save_target(store, d, plan, t, msg, len);
		if (st != STORE_OK && t->folder != NULL)
			need_inbox = true;
		else if (st != STORE_OK)
			part_done_status(d, status_of(st));
	}
	if (need_inbox && !plan_has_inbox(plan)) {
		struct deliver_target inbox = { 0 };

		inbox_st = save_target(store, d, plan, &inbox, msg, len);
		if (inbox_st != STORE_OK)
			part_done_status(d, status_of(inbox_st));
	}
	log_info("deliver sieve targets=%u", plan->count);
	part_done(d, IPC_DELIVER_OK);
}

/* ------------------------------------------------------------------ sendmail */

/*
 * The plan's sendmail jobs (redirect, vacation, reject) run as children watched by the
 * event loop, so the user's IMAP sessions in this process are served meanwhile; the
 * stores (and the LMTP reply) wait for their results, since a redirect not sent keeps
 * the message in INBOX (docs/sieve.md, "What is sent").
 */
struct send_child {
	struct deliver_sends *ds;
	unsigned idx;
};

struct deliver_sends {
	struct delivery *d;
	struct mstore *store;
	struct deliver_plan plan;
	void *map;
	size_t size;
	unsigned left;
	struct send_child *kids;
};

static void
sends_finish(struct deliver_sends *ss)
{
	struct delivery *d = ss->d;

	free(ss->kids);
	run_plan(ss->store, d, &ss->plan, ss->map, ss->size);
	deliver_plan_deinit(&ss->plan);
	(void)munmap(ss->map, ss->size);
	free(ss);
}

/* A job's sendmail is done (deliver_sendmail_start's callback, or it could not start). */
static void
child_done(void *ctx, int r, const char *err)
{
	struct send_child *c = ctx;
	struct deliver_sends *ss = c->ds;

	deliver_sieve_sent(ss->d->sieve, &ss->plan, c->idx, r, err);
	if (--ss->left == 0)
		sends_finish(ss);
}

/* Job i's sendmail, watched by the event loop (deliver_send.c). */
static void
child_start(struct deliver_sends *ss, unsigned i)
{
	struct send_child *c = &ss->kids[i];
	const struct deliver_send_job *j = &ss->plan.sends[i];
	const char *const to[] = { j->to };
	char err[256];

	c->ds = ss;
	c->idx = i;
	if (deliver_sendmail_start(ss->d->base, deliver_sieve_sendmail_path(ss->d->sieve),
	    j->from, to, 1, (const unsigned char *)j->data, j->len, child_done, c, err,
	    sizeof(err)) == NULL)
		child_done(c, -1, err);
}

/* Run the user's script; -1: deliver as without one (no script, unreadable file). */
static int
sieve_start(struct mstore *store, struct delivery *d)
{
	struct deliver_plan plan;
	struct deliver_sends *ss;
	struct stat st;
	char *from, *to;
	void *map;

	/* no script file: the plain path below, as without Sieve */
	if (!deliver_sieve_active(d->sieve) || fstat(d->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0)
		return -1;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, d->fd, 0);
	if (map == MAP_FAILED) {
		log_error("deliver sieve mmap error=%s", strerror(errno));
		return -1;
	}
	deliver_prefix_envelope(d->prefix, d->prefix_len, &from, &to);
	if (from == NULL && d->env_from != NULL)
		from = xstrdup(d->env_from);
	if (to == NULL && d->env_to != NULL)
		to = xstrdup(d->env_to);
	if (d->base != NULL)
		deliver_sieve_defer_sends(d->sieve);
	deliver_sieve_plan(d->sieve, map, (size_t)st.st_size, from, to, store, &plan);
	free(from);
	free(to);
	if (plan.count == 0 && plan.nsends == 0)
		log_info("deliver sieve discarded the message");
	d->dups = plan.dups;
	plan.dups = NULL;
	if (plan.reject != NULL) {
		/* RFC 5429: rejected, stored nowhere; the caller answers with the reason */
		d->rejected = plan.reject;
		plan.reject = NULL;
		deliver_dups_free(&d->dups);
	}
	if (plan.nsends > 0) {
		ss = xcalloc(1, sizeof(*ss));
		ss->d = d;
		ss->store = store;
		ss->plan = plan;
		ss->map = map;
		ss->size = (size_t)st.st_size;
		ss->left = plan.nsends + 1;	/* + 1 while starting them */
		ss->kids = xcalloc(plan.nsends, sizeof(*ss->kids));
		for (unsigned i = 0; i < plan.nsends; i++)
			child_start(ss, i);
		if (--ss->left == 0)
			sends_finish(ss);
		return 0;
	}
	run_plan(store, d, &plan, map, (size_t)st.st_size);
	deliver_plan_deinit(&plan);
	(void)munmap(map, (size_t)st.st_size);
	return 0;
}

void
deliver_start(struct mstore *store, struct delivery *d)
{
	struct mailbox *mbox;
	struct mailbox_save *ctx;
	enum store_status st;
	uint32_t first, last;

	d->store = store;
	if (d->sieve != NULL && sieve_start(store, d) == 0)
		return;
	mbox = open_folder(store, d->folder);
	if (mbox == NULL) {
		d->status = IPC_DELIVER_TEMPFAIL;
		d->done(d);
		return;
	}
	ctx = mailbox_save_begin(mbox, MAILBOX_SAVE_DELIVERY);
	mailbox_unref(&mbox);		/* the transaction holds its own reference */
	st = write_one(ctx, d);
	if (st != STORE_OK) {
		mailbox_save_abort(&ctx);
		d->status = status_of(st);
		d->done(d);
	} else if (mstore_commit_fd(store) >= 0) {
		(void)mailbox_save_commit_async(&ctx, committed, d);
	} else {
		st = mailbox_save_commit(&ctx, &first, &last);
		d->status = status_of(st);
		if (st == STORE_OK)
			deliver_quota_warning(store, NULL, d->size);
		d->done(d);
	}
}

/* ------------------------------------------------------------------ quota warning */

struct quota_notice {
	struct mstore *store;
	struct mstore_quota q;
};

static unsigned int
percent_of(uint64_t used, uint64_t limit)
{
	if (limit == 0)
		return 0;
	if (used > UINT64_MAX / 100)
		return (unsigned int)MIN(used / (limit / 100 + 1), 999);
	return (unsigned int)MIN(used * 100 / limit, 999);
}

/* The notice as a message (LF line ends, as deliveries are stored). */
static void
notice_text(const struct mstore_quota *q, struct buf *b)
{
	char host[256], date[64];
	unsigned int pct = MAX(percent_of(q->bytes, q->storage_limit),
	    percent_of(q->count, q->messages_limit));
	time_t now = time(NULL);
	struct tm tm;

	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p != '\0'; p++)	/* a header value: printable, no spaces */
		if (*p <= ' ' || *p >= 0x7f || *p == '>' || *p == '<')
			*p = '-';
	(void)localtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	(void)buf_appendf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\n", host);
	(void)buf_appendf(b, "Subject: Your mailbox is %u%% full\n", pct);
	(void)buf_appendf(b, "Date: %s\n", date);
	(void)buf_appendf(b, "Message-ID: <quota-warning.%lld.%ld@%s>\n", (long long)now,
	    (long)getpid(), host);
	(void)buf_append_str(b, "Auto-Submitted: auto-generated\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n");
	(void)buf_appendf(b, "Your mailbox has passed %u%% of its quota.\n\n",
	    q->warn_percent);
	if (q->storage_limit != 0)
		(void)buf_appendf(b, "Storage:  %llu KiB used of %llu KiB (%u%%)\n",
		    (unsigned long long)((q->bytes + 1023) / 1024),
		    (unsigned long long)(q->storage_limit / 1024),
		    percent_of(q->bytes, q->storage_limit));
	if (q->messages_limit != 0)
		(void)buf_appendf(b, "Messages: %llu of %llu (%u%%)\n",
		    (unsigned long long)q->count, (unsigned long long)q->messages_limit,
		    percent_of(q->count, q->messages_limit));
	(void)buf_append_str(b, "\nWhen the mailbox is full, new mail is refused. Please delete "
	    "messages you no longer need\n(and empty the Trash folder).\n");
}

static void
notice_save(struct mstore *store, const struct mstore_quota *q)
{
	struct mailbox_save *ctx;
	struct mailbox *mbox;
	enum store_status st;
	uint32_t first, last;
	struct buf b;

	if (mailbox_open(store, "INBOX", &mbox) != STORE_OK) {
		log_error("deliver quota warning: cannot open INBOX");
		return;
	}
	buf_init(&b, 4096);
	notice_text(q, &b);
	ctx = mailbox_save_begin(mbox, MAILBOX_SAVE_DELIVERY | MAILBOX_SAVE_NOQUOTA);
	mailbox_unref(&mbox);
	st = mailbox_save_msg_begin(ctx);
	if (st == STORE_OK)
		st = mailbox_save_write(ctx, b.data, b.len);
	if (st == STORE_OK)
		st = mailbox_save_msg_end(ctx, 0, 0, 0);
	buf_deinit(&b);
	if (st != STORE_OK)
		mailbox_save_abort(&ctx);
	else if (mstore_commit_fd(store) >= 0)
		(void)mailbox_save_commit_async(&ctx, NULL, NULL);
	else
		st = mailbox_save_commit(&ctx, &first, &last);
	if (st != STORE_OK)
		log_error("deliver quota warning not saved: %s", store_status_str(st));
	else
		log_info("deliver quota warning bytes=%llu messages=%llu",
		    (unsigned long long)q->bytes, (unsigned long long)q->count);
}

static void
notice_cb(evutil_socket_t fd, short what, void *arg)
{
	struct quota_notice *n = arg;

	(void)fd;
	(void)what;
	notice_save(n->store, &n->q);
	free(n);
}

void
deliver_quota_warning(struct mstore *store, struct event_base *base, uint64_t size)
{
	struct timeval now = { 0, 0 };
	struct quota_notice *n;
	struct mstore_quota q;

	if (!mstore_quota_warn_crossed(store, size, 1, &q))
		return;
	if (base == NULL) {
		notice_save(store, &q);
		return;
	}
	/* not from inside the commit's callbacks: a new save would join the group that
	 * is finishing */
	n = xmalloc(sizeof(*n));
	n->store = store;
	n->q = q;
	if (event_base_once(base, -1, EV_TIMEOUT, notice_cb, n, &now) < 0) {
		log_error("deliver quota warning: cannot schedule");
		free(n);
	}
}
