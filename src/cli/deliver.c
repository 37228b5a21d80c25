/*
 * deliver.c — `buzon deliver`, the local delivery agent for Postfix's mailbox_command
 * (or procmail-style pipes): reads one message on stdin and saves it durably into new/
 * of the user's INBOX or of -m FOLDER. Postfix runs it as the recipient; run as root it
 * looks the user up and drops to the user's uid/gid before touching the Maildir, so
 * files are always created by their owner. Exit statuses follow sysexits so that the
 * MTA retries every temporary problem (75: disk full, I/O error, lock timeout,
 * configuration it cannot read) and bounces only what will never work (67 no such
 * user, 65 message too big, 77 mailbox over quota unless quota_full_tempfail = yes).
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth/userdb.h"
#include "cli/deliver.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/ipc.h"
#include "mailproc/deliver.h"
#include "mailproc/deliver_sieve.h"
#include "mailproc/mail_thread.h"
#include "store/store.h"
#include "lib/buf.h"

#define DELIVER_HEAD_MAX	(64 * 1024)	/* first read: From_ line and trace headers */
#define DELIVER_CHUNK		(64 * 1024)
#define DELIVER_ADDR_MAX	512

/* Read up to len bytes from fd (short only at EOF). Returns the count or -1. */
static ssize_t
read_full(int fd, unsigned char *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static bool
line_has_prefix(const unsigned char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && mem_ieq((const char *)p, n, prefix);
}

/* An address for a header: printable ASCII without spaces, <= DELIVER_ADDR_MAX. */
static bool
addr_ok(const char *a, size_t len)
{
	if (len > DELIVER_ADDR_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)a[i] <= 32 || (unsigned char)a[i] >= 127 || a[i] == '<' ||
		    a[i] == '>')
			return false;
	return true;
}

/*
 * When started unprivileged (Postfix runs mailbox_command as the recipient), the
 * passwd_file is usually unreadable; the kernel already vouches for the running user,
 * so a user who is the running uid is taken from the system database.
 */
static int
lookup_self(const struct config *cfg, const char *name, struct user_info *u)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	const char *err;

	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) != 0 || res == NULL ||
	    strcmp(pw.pw_name, name) != 0)
		return 0;
	userdb_info_from_passwd(u, &pw);
	if ((u->mail_root = config_mail_root(cfg, pw.pw_name, pw.pw_dir, &err)) == NULL) {
		fprintf(stderr, "buzon deliver: mail_location: %s\n", err);
		userdb_info_free(u);
		return -1;
	}
	return 1;
}

static void
sieve_done(struct delivery *d)
{
	(void)d;
}

/*
 * With an active Sieve script: the whole message (head[0..len) and the rest of stdin
 * when more is to come, at most mail_max_size) goes into a memory file, and the mail
 * process's delivery code stores it where the script says (docs/sieve.md, "Delivery").
 * Returns the exit status.
 */
static int
deliver_sieve(const struct config *cfg, const struct user_info *u, struct mstore *store,
    struct deliver_sieve *ds, const char *folder, struct buf *prefix,
    const unsigned char *head, size_t len, bool more, const char *env_from,
    const char *env_to)
{
	struct delivery d = { .folder = (char *)(folder != NULL ? folder : ""),
	    .prefix = (unsigned char *)prefix->data, .prefix_len = prefix->len,
	    .done = sieve_done, .sieve = ds, .env_from = env_from, .env_to = env_to };
	uint64_t total = len;
	unsigned char *chunk = xmalloc(DELIVER_CHUNK);
	int ret = DELIVER_EX_TEMPFAIL;
	ssize_t n = (ssize_t)len;

	d.fd = memfd_create("buzon-deliver", MFD_CLOEXEC);
	if (d.fd < 0) {
		fprintf(stderr, "buzon deliver: memfd_create: %s\n", strerror(errno));
		free(chunk);
		return ret;
	}
	if (total > cfg->mail_max_size)
		goto big;
	if (len > 0 && write(d.fd, head, len) != (ssize_t)len)
		goto ioerr;
	while (more && (n = read_full(STDIN_FILENO, chunk, DELIVER_CHUNK)) > 0) {
		total += (uint64_t)n;
		if (total > cfg->mail_max_size)
			goto big;
		if (write(d.fd, chunk, (size_t)n) != n)
			goto ioerr;
	}
	if (n < 0)
		goto ioerr;
	deliver_start(store, &d);
	if (d.rejected != NULL) {
		/* Postfix's local(8) bounces with our stderr (RFC 5429 §2.1.1) */
		for (char *p = d.rejected; *p != '\0'; p++)
			if ((unsigned char)*p < ' ' || *p == 0x7f)
				*p = ' ';
		fprintf(stderr, "%.900s\n", d.rejected);
		free(d.rejected);
		ret = DELIVER_EX_NOPERM;
	} else if (d.status == IPC_DELIVER_OK) {
		log_debug("deliver user=%s sieve size=%llu", u->name, (unsigned long long)total);
		ret = DELIVER_EX_OK;
	} else if (d.status == IPC_DELIVER_OVERQUOTA) {
		fprintf(stderr, "buzon deliver: %s: mailbox is full\n", u->name);
		ret = cfg->quota_full_tempfail ? DELIVER_EX_TEMPFAIL : DELIVER_EX_NOPERM;
	} else {
		fprintf(stderr, "buzon deliver: %s: cannot save the message\n", u->name);
	}
	goto out;
big:
	fprintf(stderr, "buzon deliver: message larger than mail_max_size (%llu)\n",
	    (unsigned long long)cfg->mail_max_size);
	ret = DELIVER_EX_DATAERR;
	goto out;
ioerr:
	fprintf(stderr, "buzon deliver: buffering the message: %s\n", strerror(errno));
out:
	close(d.fd);
	free(chunk);
	return ret;
}

/*
 * Save the message on stdin for u into folder (or INBOX), with the trace headers.
 * Runs as the user. Returns the exit status; frees everything it allocates.
 */
static int
deliver_message(const struct config *cfg, const struct user_info *u, const char *folder,
    const char *sender, const char *rcpt)
{
	char *from_sender = NULL;
	const char *err = "";
	struct mstore *store = NULL;
	struct mailbox *mbox = NULL;
	struct mailbox_save *save = NULL;
	struct deliver_sieve *ds = NULL;
	enum store_status st;
	unsigned char *head, *chunk;
	size_t head_len, pos = 0, lstart;
	uint64_t total;
	bool has_rp = false, has_dt = false, too_big = false;
	struct buf prefix;
	ssize_t n;
	uint32_t first, last;
	int ret = DELIVER_EX_TEMPFAIL;

	head = xmalloc(DELIVER_HEAD_MAX);
	chunk = xmalloc(DELIVER_CHUNK);
	buf_init(&prefix, 4096);
	/* the start of the message: an mbox From_ line and the MTA's trace headers */
	if ((n = read_full(STDIN_FILENO, head, DELIVER_HEAD_MAX)) < 0) {
		fprintf(stderr, "buzon deliver: reading the message: %s\n", strerror(errno));
		goto out;
	}
	head_len = (size_t)n;
	if (head_len >= 5 && memcmp(head, "From ", 5) == 0) {
		const unsigned char *nl = memchr(head, '\n', head_len), *sp;

		if (nl != NULL) {
			pos = (size_t)(nl - head) + 1;
			sp = memchr(head + 5, ' ', (size_t)(nl - head) - 5);
			if (sp != NULL && addr_ok((const char *)head + 5, (size_t)(sp - head) - 5))
				from_sender = xstrndup((const char *)head + 5,
				    (size_t)(sp - head) - 5);
		}
	}
	if (sender == NULL && from_sender != NULL)
		sender = strcmp(from_sender, "MAILER-DAEMON") == 0 ? "" : from_sender;
	/* Postfix's local(8) already prepends Return-Path and Delivered-To: keep those */
	for (lstart = pos; lstart < head_len;) {
		const unsigned char *nl = memchr(head + lstart, '\n', head_len - lstart);
		size_t llen;

		if (nl == NULL)
			break;
		llen = (size_t)(nl - (head + lstart));
		if (line_has_prefix(head + lstart, llen, "Return-Path:"))
			has_rp = true;
		else if (line_has_prefix(head + lstart, llen, "Delivered-To:"))
			has_dt = true;
		else if (!line_has_prefix(head + lstart, llen, "X-Original-To:"))
			break;
		lstart += llen + 1;
	}
	if (!has_rp && sender != NULL) {
		if (!addr_ok(sender, strlen(sender))) {
			fprintf(stderr, "buzon deliver: bad sender address\n");
			ret = DELIVER_EX_USAGE;
			goto out;
		}
		buf_appendf(&prefix, "Return-Path: <%s>\n", sender);
	}
	if (!has_dt)
		buf_appendf(&prefix, "Delivered-To: %s\n", rcpt);

	if (mstore_open(u->mail_root, &store, &err) < 0) {
		fprintf(stderr, "buzon deliver: cannot open the mail store: %s\n", err);
		goto out;
	}
	mstore_set_added_cb(store, mail_thread_added, store);
	{
		uint64_t qs, qm;

		/* the user's own limits when the userdb could be read, else the defaults */
		userdb_quota_limits(cfg, u, &qs, &qm);
		mstore_set_quota(store, qs, qm, cfg->quota_warning);
	}
	ds = deliver_sieve_create(cfg, u->home);
	/* reject: exit 77 for the MTA to bounce, or (sieve_reject_mdn) an MDN as Pigeonhole */
	if (!cfg->sieve_reject_mdn)
		deliver_sieve_reject_by_exit(ds);
	if (deliver_sieve_active(ds)) {
		char *msg_from, *msg_to;

		/* the message's own Return-Path / Delivered-To (not in the prefix then) */
		deliver_prefix_envelope(head + pos, lstart - pos, &msg_from, &msg_to);
		ret = deliver_sieve(cfg, u, store, ds, folder, &prefix, head + pos, head_len - pos,
		    head_len == DELIVER_HEAD_MAX, sender != NULL ? sender : msg_from,
		    msg_to != NULL ? msg_to : rcpt);
		free(msg_from);
		free(msg_to);
		goto out;
	}
	st = STORE_NONEXISTENT;
	if (folder != NULL && folder[0] != '\0')
		st = mailbox_open(store, folder, &mbox);
	if (st != STORE_OK)
		st = mailbox_open(store, "INBOX", &mbox);
	if (st != STORE_OK) {
		fprintf(stderr, "buzon deliver: cannot open INBOX: %s\n", store_status_str(st));
		goto out;
	}
	save = mailbox_save_begin(mbox, MAILBOX_SAVE_DELIVERY);
	st = mailbox_save_msg_begin(save);
	if (st == STORE_OK && prefix.len > 0)
		st = mailbox_save_write(save, prefix.data, prefix.len);
	total = head_len - pos;
	if (total > cfg->mail_max_size)
		too_big = true;
	else if (st == STORE_OK && head_len > pos)
		st = mailbox_save_write(save, head + pos, head_len - pos);
	while (st == STORE_OK && !too_big && head_len == DELIVER_HEAD_MAX) {
		n = read_full(STDIN_FILENO, chunk, DELIVER_CHUNK);
		if (n < 0) {
			fprintf(stderr, "buzon deliver: reading the message: %s\n",
			    strerror(errno));
			st = STORE_IOERROR;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > cfg->mail_max_size) {
			too_big = true;
			break;
		}
		st = mailbox_save_write(save, chunk, (size_t)n);
	}
	if (too_big) {
		fprintf(stderr, "buzon deliver: message larger than mail_max_size (%llu)\n",
		    (unsigned long long)cfg->mail_max_size);
		ret = DELIVER_EX_DATAERR;
		goto out;
	}
	if (st == STORE_OK)
		st = mailbox_save_msg_end(save, 0, 0, 0);
	if (st == STORE_OK)
		st = mailbox_save_commit(&save, &first, &last);
	if (st == STORE_OVERQUOTA) {
		/* RFC 3463 X.2.2 "mailbox full": a bounce, unless configured as temporary */
		fprintf(stderr, "buzon deliver: %s: mailbox is full\n", u->name);
		ret = cfg->quota_full_tempfail ? DELIVER_EX_TEMPFAIL : DELIVER_EX_NOPERM;
		goto out;
	}
	if (st != STORE_OK) {
		fprintf(stderr, "buzon deliver: %s: %s\n", u->name, store_status_str(st));
		goto out;	/* every other store failure is temporary for the MTA */
	}
	deliver_quota_warning(store, NULL, prefix.len + total);
	log_debug("deliver user=%s folder=%s uid=%u size=%llu", u->name, mailbox_name(mbox),
	    first, (unsigned long long)total);
	ret = DELIVER_EX_OK;
out:
	if (save != NULL)
		mailbox_save_abort(&save);
	if (mbox != NULL)
		mailbox_unref(&mbox);
	if (store != NULL)
		mstore_close(&store);
	deliver_sieve_destroy(&ds);
	buf_deinit(&prefix);
	free(from_sender);
	free(head);
	free(chunk);
	return ret;
}

int
cli_deliver(int argc, char **argv)
{
	const char *cfgpath = "/etc/buzon/buzon.conf", *user = NULL, *sender = NULL;
	const char *folder = NULL, *rcpt, *uerr = "";
	char *err = NULL;
	struct config *cfg;
	struct user_info u;
	int c, r, ret;

	optind = 1;
	while ((c = getopt(argc, argv, "c:d:f:m:")) != -1) {
		switch (c) {
		case 'c': cfgpath = optarg; break;
		case 'd': user = optarg; break;
		case 'f': sender = optarg; break;
		case 'm': folder = optarg; break;
		default:
			fprintf(stderr, "usage: buzon deliver [-c FILE] [-d USER] [-f SENDER] "
			    "[-m FOLDER] < message\n");
			return DELIVER_EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "buzon deliver: unexpected argument %s\n", argv[optind]);
		return DELIVER_EX_USAGE;
	}
	log_set_ident("deliver");
	if (user == NULL && (user = getenv("USER")) == NULL && (user = getenv("LOGNAME")) == NULL) {
		fprintf(stderr, "buzon deliver: no user (-d USER, $USER or $LOGNAME)\n");
		return DELIVER_EX_USAGE;
	}
	if (sender == NULL)
		sender = getenv("SENDER");	/* set by Postfix's local(8) */
	if (config_load(cfgpath, &cfg, &err) < 0) {
		fprintf(stderr, "buzon deliver: %s\n", err);
		free(err);
		return DELIVER_EX_CONFIG;
	}
	r = userdb_lookup(cfg, user, &u, &uerr);
	if (r < 0 && !priv_is_root()) {
		/* not found here stays a temporary failure: the lookup itself failed */
		int self = lookup_self(cfg, user, &u);

		if (self != 0)
			r = self;
	}
	if (r <= 0) {
		if (r == 0)
			fprintf(stderr, "buzon deliver: %s: no such user\n", user);
		else
			fprintf(stderr, "buzon deliver: user lookup failed: %s\n", uerr);
		config_free(&cfg);
		return r == 0 ? DELIVER_EX_NOUSER : DELIVER_EX_TEMPFAIL;
	}
	if (priv_is_root()) {
		if (u.uid == 0 || u.gid == 0) {
			fprintf(stderr, "buzon deliver: refusing to deliver as root\n");
			userdb_info_free(&u);
			config_free(&cfg);
			return DELIVER_EX_CONFIG;
		}
		priv_drop(u.uid, u.gid, NULL);
	}
	rcpt = getenv("RECIPIENT");	/* Postfix: the full recipient address */
	if (rcpt == NULL || rcpt[0] == '\0' || !addr_ok(rcpt, strlen(rcpt)))
		rcpt = u.name;
	ret = deliver_message(cfg, &u, folder, sender, rcpt);
	userdb_info_free(&u);
	config_free(&cfg);
	return ret;
}
