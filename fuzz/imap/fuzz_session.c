/*
 * fuzz_session.c — libFuzzer target for the whole authenticated IMAP session: each input
 * is the byte stream a client sends on a session (over a socketpair; the first byte picks
 * a login tag and how much is passed as the login process's pending input) against a
 * fresh temporary Maildir with two messages. Exercises the parser, the dispatcher, every
 * command handler, literal streaming and the untagged-update logic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "imap/imap_client.h"
#include "mailproc/mail_user.h"
#include "lib/log.h"
#include "lib/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[256];
static struct config cfg;

struct run {
	struct event_base *base;
	const uint8_t *data;
	size_t size, pos;
	int fd;
	struct event *ev;
};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (write(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
}

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[1024];
	struct stat sb;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			rm_rf(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static void
fresh_maildir(void)
{
	char p[512];

	rm_rf(root);
	mkdir(root, 0700);
	snprintf(p, sizeof(p), "%s/cur", root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/new", root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/tmp", root);
	mkdir(p, 0700);
	write_file("cur", "1700000000.M1P1.fuzz:2,S",
	    "From: a@example.org\r\nSubject: one\r\n\r\nhello\r\n");
	write_file("new", "1700000001.M2P1.fuzz",
	    "From: b@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: text/plain\n\nx\n--b--\n");
}

static char top[64];

static void
cleanup(void)
{
	rm_rf(top);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/buzon-fuzz-imap-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		abort();
	snprintf(top, sizeof(top), "%s", tmpl);
	snprintf(root, sizeof(root), "%s/Maildir", tmpl);
	atexit(cleanup);
	log_set_level(LOG_LEVEL_ERROR);
	memset(&cfg, 0, sizeof(cfg));
	cfg.mail_max_size = 1024 * 1024;
	return 0;
}

static void
peer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct run *r = ctx;
	char buf[65536];
	ssize_t n;

	if (what & EV_READ) {
		/* discard the server's output so it never blocks */
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
	}
	if (r->pos < r->size) {
		n = write(fd, r->data + r->pos, r->size - r->pos);
		if (n > 0)
			r->pos += (size_t)n;
		if (r->pos == r->size)
			shutdown(fd, SHUT_WR);
	}
}

static void
empty_cb(void *ctx)
{
	struct run *r = ctx;

	event_base_loopexit(r->base, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct user_info u;
	struct mail_user *mu;
	struct run r;
	struct timeval tv = { 5, 0 };
	const char *login_tag = NULL;
	const uint8_t *pending = NULL;
	size_t pending_len = 0;
	int sv[2];

	fresh_maildir();
	memset(&u, 0, sizeof(u));
	u.name = (char *)"fuzz";
	u.home = (char *)"";
	u.mail_root = root;
	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	mu = mail_user_create(r.base, &cfg, &u);
	if (mu == NULL)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	evutil_make_socket_nonblocking(sv[1]);
	/*
	 * The first byte chooses how much of the rest is handed over as "pending input"
	 * (what the login process read after LOGIN) and whether there is a login tag.
	 */
	if (size > 0) {
		pending_len = MIN((size_t)(data[0] & 0x7f), size - 1);
		login_tag = (data[0] & 0x80) ? "L1" : NULL;
		pending = data + 1;
		data += 1 + pending_len;
		size -= 1 + pending_len;
	}
	r.data = data;
	r.size = size;
	r.fd = sv[1];
	if (size == 0)
		shutdown(sv[1], SHUT_WR);
	r.ev = event_new(r.base, sv[1], EV_READ | EV_WRITE | EV_PERSIST, peer_cb, &r);
	event_add(r.ev, NULL);
	mail_user_set_empty_cb(mu, empty_cb, &r);
	if (imap_client_create(mu, sv[0], login_tag, pending, pending_len, "fuzz", true) == 0) {
		/* a session left in IDLE or a literal ends at EOF; the timer is a safety net */
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	event_free(r.ev);
	close(sv[1]);
	mail_user_destroy(&mu);
	event_base_free(r.base);
	return 0;
}
