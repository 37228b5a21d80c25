/*
 * deliver_send.c — the sendmail child, the vacation reply and the vacation file
 * (deliver_send.h). Everything here handles untrusted input (the message, the
 * script's strings): header values are bounded and stripped of CR/LF before they go
 * into a reply, and addresses are checked before they go on a command line.
 */
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "mail/message.h"
#include "mailproc/deliver_send.h"

#define HEADER_VALUE_MAX 998

bool
deliver_addr_ok(const char *addr)
{
	if (addr == NULL || addr[0] == '\0' || addr[0] == '-' || strlen(addr) > 512)
		return false;
	for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* ---- the sendmail child ---- */

static int
remaining_ms(uint64_t deadline)
{
	uint64_t now = clock_ms();

	return now >= deadline ? 0 : (int)MIN(deadline - now, (uint64_t)INT32_MAX);
}

static int
write_all(int fd, const unsigned char *p, size_t len, uint64_t deadline)
{
	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t n;
		int r = poll(&pfd, 1, remaining_ms(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		n = write(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
deliver_sendmail_spawn(const char *path, const char *from, const char *to, pid_t *pid_r,
    int *stdin_r, char *err, size_t errlen)
{
	const char *const rcpts[] = { to };

	return deliver_sendmail_spawn_rcpts(path, from, rcpts, 1, pid_r, stdin_r, err, errlen);
}

int
deliver_sendmail_spawn_rcpts(const char *path, const char *from, const char *const *to,
    size_t nto, pid_t *pid_r, int *stdin_r, char *err, size_t errlen)
{
	char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	const char **argv;
	int p[2], devnull;
	pid_t pid;

	if (path == NULL || path[0] != '/' || nto == 0 || nto > DELIVER_SENDMAIL_RCPTS_MAX) {
		snprintf(err, errlen, "no sendmail_path or no recipient");
		return -1;
	}
	for (size_t i = 0; i < nto; i++)
		if (!deliver_addr_ok(to[i])) {
			snprintf(err, errlen, "a bad recipient");
			return -1;
		}
	/* built before fork: the child calls only async-signal-safe functions */
	argv = xcalloc(nto + 6, sizeof(*argv));
	argv[0] = path;
	argv[1] = "-i";
	argv[2] = "-f";
	argv[3] = from != NULL && from[0] != '\0' ? from : "<>";
	argv[4] = "--";
	for (size_t i = 0; i < nto; i++)
		argv[5 + i] = to[i];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(argv);
		return -1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid = devnull < 0 ? -1 : fork();
	if (pid == 0) {
		/* the child: only async-signal-safe calls until exec */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigset_t none;

		/* the daemon ignores SIGPIPE; sendmail gets the default dispositions */
		(void)sigaction(SIGPIPE, &dfl, NULL);
		(void)sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[0], 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
			_exit(75);
		closefrom(3);
		execve(path, (char *const *)argv, envp);
		_exit(75);
	}
	free(argv);
	close(p[0]);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		close(p[1]);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	(void)fcntl(p[1], F_SETFL, O_NONBLOCK);
	*pid_r = pid;
	*stdin_r = p[1];
	return 0;
}

/* ---- a sendmail child in the event loop ---- */

struct deliver_sendmail_child {
	char *path;
	pid_t pid;
	int fd;			/* standard input, -1 once closed */
	int pidfd;		/* readable at the exit; -1: polled */
	unsigned char *data;
	size_t len, off;
	bool wrote_all;
	void (*done)(void *ctx, int r, const char *err);
	void *ctx;
	struct event *ev_write, *ev_exit, *ev_timeout;
};

static void
child_end(struct deliver_sendmail_child *c, int r, const char *err)
{
	if (c->done != NULL)
		c->done(c->ctx, r, err);
	event_free(c->ev_write);
	event_free(c->ev_exit);
	event_free(c->ev_timeout);
	if (c->fd >= 0)
		close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	free(c->data);
	free(c->path);
	free(c);
}

static void
child_stdin_close(struct deliver_sendmail_child *c)
{
	if (c->fd < 0)
		return;
	event_del(c->ev_write);
	close(c->fd);
	c->fd = -1;
}

static void
sm_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver_sendmail_child *c = arg;
	ssize_t n;

	(void)what;
	while (c->off < c->len) {
		n = write(fd, c->data + c->off, c->len - c->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;	/* EPIPE: sendmail stopped reading; its exit tells the rest */
		c->off += (size_t)n;
	}
	c->wrote_all = c->off == c->len;
	child_stdin_close(c);
}

static void
sm_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver_sendmail_child *c = arg;
	char err[256] = "";
	int status = 0;
	pid_t w;

	(void)fd;
	(void)what;
	w = waitpid(c->pid, &status, WNOHANG);
	if (w == 0)
		return;		/* polled, still running */
	if (w < 0) {
		snprintf(err, sizeof(err), "waitpid: %s", strerror(errno));
		child_end(c, -1, err);
		return;
	}
	child_stdin_close(c);
	child_end(c, deliver_sendmail_status(c->path, status, c->wrote_all, err, sizeof(err)),
	    err);
}

static void
sm_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver_sendmail_child *c = arg;
	char err[256];
	int status;

	(void)fd;
	(void)what;
	(void)kill(c->pid, SIGKILL);
	(void)waitpid(c->pid, &status, 0);
	snprintf(err, sizeof(err), "%s timed out", c->path);
	child_end(c, -1, err);
}

struct deliver_sendmail_child *
deliver_sendmail_start(struct event_base *base, const char *path, const char *from,
    const char *const *to, size_t nto, const unsigned char *data, size_t len,
    void (*done)(void *ctx, int r, const char *err), void *ctx, char *err, size_t errlen)
{
	struct timeval tmo = { DELIVER_SENDMAIL_TIMEOUT_MS / 1000,
		(DELIVER_SENDMAIL_TIMEOUT_MS % 1000) * 1000 };
	struct timeval tick = { 0, 20 * 1000 };
	struct deliver_sendmail_child *c;
	pid_t pid;
	int fd;

	if (deliver_sendmail_spawn_rcpts(path, from, to, nto, &pid, &fd, err, errlen) < 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->pid = pid;
	c->fd = fd;
	c->data = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(c->data, data, len);
	c->len = len;
	c->done = done;
	c->ctx = ctx;
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	c->ev_write = event_new(base, c->fd, EV_WRITE | EV_PERSIST, sm_write_cb, c);
	c->ev_exit = c->pidfd >= 0 ?
	    event_new(base, c->pidfd, EV_READ | EV_PERSIST, sm_exit_cb, c) :
	    event_new(base, -1, EV_PERSIST, sm_exit_cb, c);
	c->ev_timeout = evtimer_new(base, sm_timeout_cb, c);
	if (c->ev_write == NULL || c->ev_exit == NULL || c->ev_timeout == NULL)
		fatal("sendmail: out of memory");
	(void)event_add(c->ev_write, NULL);
	(void)event_add(c->ev_exit, c->pidfd >= 0 ? NULL : &tick);
	(void)event_add(c->ev_timeout, &tmo);
	return c;
}

void
deliver_sendmail_detach(struct deliver_sendmail_child *c)
{
	c->done = NULL;
}

int
deliver_sendmail_status(const char *path, int status, bool wrote_all, char *err,
    size_t errlen)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			snprintf(err, errlen, "%s exited with %d", path, WEXITSTATUS(status));
		else
			snprintf(err, errlen, "%s killed by signal %d", path, WTERMSIG(status));
		return -1;
	}
	if (!wrote_all) {
		snprintf(err, errlen, "%s did not read the whole message", path);
		return -1;
	}
	return 0;
}

int
deliver_sendmail(const char *path, const char *from, const char *to,
    const unsigned char *head, size_t hlen, const unsigned char *body, size_t blen,
    char *err, size_t errlen)
{
	uint64_t deadline = clock_ms() + DELIVER_SENDMAIL_TIMEOUT_MS;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	int fd, status = 0, wr;
	pid_t pid, w = 0;

	if (deliver_sendmail_spawn(path, from, to, &pid, &fd, err, errlen) < 0)
		return -1;
	(void)sigaction(SIGPIPE, &ign, &old);
	wr = write_all(fd, head, hlen, deadline);
	if (wr == 0)
		wr = write_all(fd, body, blen, deadline);
	close(fd);
	(void)sigaction(SIGPIPE, &old, NULL);
	/* bounded wait for the exit (docs/sieve.md: the delivery waits for sendmail) */
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && remaining_ms(deadline) > 0) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		(void)nanosleep(&ts, NULL);
	}
	if (w == 0) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		snprintf(err, errlen, "%s timed out", path);
		return -1;
	}
	if (w < 0) {
		snprintf(err, errlen, "waitpid: %s", strerror(errno));
		return -1;
	}
	return deliver_sendmail_status(path, status, wr == 0, err, errlen);
}

/* ---- header fields ---- */

char *
deliver_header_get(const unsigned char *msg, size_t len, const char *name)
{
	size_t nlen = strlen(name), end;
	bool complete;

	end = mail_header_block_end(msg, len, NULL, &complete);
	for (size_t i = 0; i < end;) {
		const unsigned char *nl = memchr(msg + i, '\n', end - i);
		size_t e = nl != NULL ? (size_t)(nl - msg) : end;

		if (e - i > nlen && msg[i + nlen] == ':' &&
		    strncasecmp((const char *)msg + i, name, nlen) == 0) {
			struct buf b;
			size_t k = i + nlen + 1;

			buf_init(&b, HEADER_VALUE_MAX + 1);
			/* the value with its continuation lines, control characters as spaces */
			for (;;) {
				for (; k < e; k++) {
					unsigned char c = msg[k];

					if (b.len >= HEADER_VALUE_MAX)
						break;
					(void)buf_append_c(&b, c < ' ' || c == 0x7f ? ' ' : (char)c);
				}
				if (e >= end || e + 1 >= end || (msg[e + 1] != ' ' &&
				    msg[e + 1] != '\t'))
					break;
				k = e + 1;
				nl = memchr(msg + k, '\n', end - k);
				e = nl != NULL ? (size_t)(nl - msg) : end;
			}
			{
				size_t s = 0, l = b.len;
				char *v;

				while (s < l && b.data[s] == ' ')
					s++;
				while (l > s && b.data[l - 1] == ' ')
					l--;
				v = xstrndup(b.data != NULL ? b.data + s : "", l - s);
				buf_deinit(&b);
				return v;
			}
		}
		i = e + 1;
	}
	return NULL;
}

unsigned
deliver_delivered_to_count(const unsigned char *msg, size_t len, const char *addr)
{
	static const char name[] = "Delivered-To:";
	size_t end, alen = strlen(addr);
	unsigned n = 0;
	bool complete;

	end = mail_header_block_end(msg, len, NULL, &complete);
	for (size_t i = 0; i < end;) {
		const unsigned char *nl = memchr(msg + i, '\n', end - i);
		size_t e = nl != NULL ? (size_t)(nl - msg) : end, vs, ve;

		if (e - i > sizeof(name) - 1 &&
		    strncasecmp((const char *)msg + i, name, sizeof(name) - 1) == 0) {
			vs = i + sizeof(name) - 1;
			ve = e;
			while (vs < ve && (msg[vs] == ' ' || msg[vs] == '\t' || msg[vs] == '<'))
				vs++;
			while (ve > vs && (msg[ve - 1] == '\r' || msg[ve - 1] == ' ' ||
			    msg[ve - 1] == '>'))
				ve--;
			if (ve - vs == alen && strncasecmp((const char *)msg + vs, addr, alen) == 0)
				n++;
		}
		i = e + 1;
	}
	return n;
}

/* ---- the vacation reply ---- */

/* s with CR, LF and other control characters as spaces, at most HEADER_VALUE_MAX. */
static void
append_clean(struct buf *out, const char *s)
{
	for (size_t i = 0; s[i] != '\0' && i < HEADER_VALUE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		(void)buf_append_c(out, c < ' ' || c == 0x7f ? ' ' : (char)c);
	}
}

int
deliver_vacation_build(struct buf *out, const unsigned char *msg, size_t len,
    const char *env_from, const char *me, const struct sieve_action *a, time_t now)
{
	char date[64], *subject, *msgid, *refs;
	unsigned char rnd[12];
	struct tm tm;
	const char *text = a->text != NULL ? a->text : "";

	if (!deliver_addr_ok(env_from))
		return -1;
	(void)gmtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_appendf(out, "Date: %s\n", date);
	buf_append_str(out, "From: ");
	append_clean(out, a->from != NULL ? a->from : me != NULL ? me : "");
	buf_append_str(out, "\nTo: ");
	append_clean(out, env_from);
	buf_append_str(out, "\nSubject: ");
	if (a->subject != NULL) {
		append_clean(out, a->subject);
	} else {
		/* RFC 5230 §5.5: "Auto: " and the original subject */
		subject = deliver_header_get(msg, len, "Subject");
		buf_append_str(out, "Auto: ");
		append_clean(out, subject != NULL ? subject : "");
		free(subject);
	}
	buf_append_c(out, '\n');
	msgid = deliver_header_get(msg, len, "Message-ID");
	if (msgid != NULL && msgid[0] != '\0') {
		/* RFC 5230 §5.8: In-Reply-To and References from the original */
		refs = deliver_header_get(msg, len, "References");
		buf_append_str(out, "In-Reply-To: ");
		append_clean(out, msgid);
		buf_append_str(out, "\nReferences: ");
		if (refs != NULL && refs[0] != '\0' && strlen(refs) + strlen(msgid) < 900) {
			append_clean(out, refs);
			buf_append_c(out, ' ');
		}
		append_clean(out, msgid);
		buf_append_c(out, '\n');
		free(refs);
	}
	free(msgid);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	buf_append_str(out, "Message-ID: <vacation.");
	for (unsigned i = 0; i < sizeof(rnd); i++)
		buf_appendf(out, "%02x", rnd[i]);
	buf_appendf(out, ".%lld@buzon>\n", (long long)now);
	/* RFC 3834 §5: marks the reply as automatic, so other responders stay quiet */
	buf_append_str(out, "Auto-Submitted: auto-replied (vacation)\n");
	buf_append_str(out, "Precedence: bulk\nMIME-Version: 1.0\n");
	if (a->mime) {
		/* RFC 5230 §4.7: the reason is a MIME entity, its own header first */
		buf_append(out, text, strlen(text));
	} else {
		buf_append_str(out, "Content-Type: text/plain; charset=utf-8\n"
		    "Content-Transfer-Encoding: 8bit\n\n");
		buf_append(out, text, strlen(text));
	}
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		buf_append_c(out, '\n');
	return 0;
}

int
deliver_reject_build(struct buf *out, const unsigned char *msg, size_t len,
    const char *env_from, const char *me, const char *reason, time_t now)
{
	char date[64], bnd[40], *subject, *msgid;
	unsigned char rnd[12];
	struct tm tm;

	if (!deliver_addr_ok(env_from))
		return -1;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	snprintf(bnd, sizeof(bnd), "buzon-reject-");
	for (unsigned i = 0; i < sizeof(rnd); i++)
		snprintf(bnd + strlen(bnd), sizeof(bnd) - strlen(bnd), "%02x", rnd[i]);
	(void)gmtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	subject = deliver_header_get(msg, len, "Subject");
	msgid = deliver_header_get(msg, len, "Message-ID");
	buf_appendf(out, "Date: %s\nFrom: ", date);
	append_clean(out, me != NULL && me[0] != '\0' ? me : "MAILER-DAEMON");
	buf_append_str(out, "\nTo: ");
	append_clean(out, env_from);
	buf_append_str(out, "\nSubject: Rejected: ");
	append_clean(out, subject != NULL ? subject : "");
	buf_append_c(out, '\n');
	if (msgid != NULL && msgid[0] != '\0') {
		buf_append_str(out, "In-Reply-To: ");
		append_clean(out, msgid);
		buf_append_c(out, '\n');
	}
	buf_appendf(out, "Message-ID: <%s.%lld@buzon>\n", bnd, (long long)now);
	/* RFC 5429 §2.1.1: an automatic MDN, never answered automatically */
	buf_append_str(out, "Auto-Submitted: auto-replied (rejected)\nMIME-Version: 1.0\n");
	buf_appendf(out, "Content-Type: multipart/report; report-type=disposition-notification;"
	    "\n boundary=\"%s\"\n\nThis is a MIME-encapsulated message.\n\n--%s\n", bnd, bnd);
	buf_append_str(out, "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\nYour message to ");
	append_clean(out, me != NULL ? me : "");
	buf_appendf(out, " was automatically rejected:\n%s\n\n--%s\n", reason, bnd);
	buf_append_str(out, "Content-Type: message/disposition-notification\n\n"
	    "Reporting-UA: buzon; Sieve\nFinal-Recipient: rfc822; ");
	append_clean(out, me != NULL ? me : "");
	if (msgid != NULL && msgid[0] != '\0') {
		buf_append_str(out, "\nOriginal-Message-ID: ");
		append_clean(out, msgid);
	}
	buf_appendf(out, "\nDisposition: automatic-action/MDN-sent-automatically; deleted\n"
	    "\n--%s\nContent-Type: message/rfc822\n\n", bnd);
	buf_append(out, msg, len);
	if (len > 0 && msg[len - 1] != '\n')
		buf_append_c(out, '\n');
	buf_appendf(out, "\n--%s--\n", bnd);
	free(subject);
	free(msgid);
	return 0;
}

void
deliver_vacation_key(const char *sender, const struct sieve_action *a,
    unsigned char key[DELIVER_VACATION_HASH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned hl = 0;
	char *low = xstrdup(sender != NULL ? sender : "");
	const char *parts[] = { a->subject, a->from, a->text, a->mime ? "mime" : "" };

	for (char *p = low; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, low, strlen(low) + 1) != 1)
		fatal("vacation key: sha256 failed");
	if (a->handle != NULL) {
		(void)EVP_DigestUpdate(md, "h", 2);
		(void)EVP_DigestUpdate(md, a->handle, strlen(a->handle) + 1);
	} else {
		/* RFC 5230 §4.2: no :handle, one made from the reason and the arguments */
		(void)EVP_DigestUpdate(md, "a", 2);
		for (unsigned i = 0; i < N_ELEMENTS(parts); i++)
			(void)EVP_DigestUpdate(md, parts[i] != NULL ? parts[i] : "",
			    (parts[i] != NULL ? strlen(parts[i]) : 0) + 1);
	}
	if (EVP_DigestFinal_ex(md, key, &hl) != 1 || hl != DELIVER_VACATION_HASH)
		fatal("vacation key: sha256 failed");
	EVP_MD_CTX_free(md);
	free(low);
}

/* ---- the vacation file ---- */

struct vac_entry {
	int64_t when;
	unsigned char key[DELIVER_VACATION_HASH];
};

static unsigned
vac_load(const char *path, struct vac_entry *out, unsigned max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	size_t cap = (size_t)max * 100, len = 0;
	char *text;
	unsigned n = 0;

	if (fd < 0)
		return 0;
	text = xmalloc(cap);
	while (len < cap) {
		ssize_t r = read(fd, text + len, cap - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	for (size_t i = 0; i < len && n < max;) {
		const char *nl = memchr(text + i, '\n', len - i), *sp;
		size_t e = nl != NULL ? (size_t)(nl - text) : len;
		uint64_t when;
		bool ok;

		sp = memchr(text + i, ' ', e - i);
		ok = nl != NULL && sp != NULL &&
		    (size_t)(text + e - sp - 1) == 2 * DELIVER_VACATION_HASH &&
		    parse_u64(text + i, (size_t)(sp - text) - i, INT64_MAX, &when) == 0;
		for (unsigned k = 0; ok && k < DELIVER_VACATION_HASH; k++) {
			int hi = hex_digit_value((unsigned char)sp[1 + 2 * k]);
			int lo = hex_digit_value((unsigned char)sp[2 + 2 * k]);

			ok = hi >= 0 && lo >= 0;
			out[n].key[k] = (unsigned char)(hi * 16 + lo);
		}
		if (ok)
			out[n++].when = (int64_t)when;
		i = e + 1;
	}
	free(text);
	return n;
}

bool
deliver_vacation_recent(const char *path, const unsigned char *key, time_t now,
    uint64_t seconds)
{
	struct vac_entry *e = xcalloc(DELIVER_VACATION_MAX, sizeof(*e));
	unsigned n = vac_load(path, e, DELIVER_VACATION_MAX);
	bool recent = false;

	for (unsigned i = 0; i < n && !recent; i++)
		if (memcmp(e[i].key, key, DELIVER_VACATION_HASH) == 0)
			recent = e[i].when <= (int64_t)now &&
			    (uint64_t)((int64_t)now - e[i].when) < seconds;
	free(e);
	return recent;
}

int
deliver_vacation_record(const char *path, const unsigned char *key, time_t now)
{
	struct vac_entry *e = xcalloc(DELIVER_VACATION_MAX, sizeof(*e));
	unsigned n = vac_load(path, e, DELIVER_VACATION_MAX);
	struct buf b;
	char *tmp;
	int fd, ret = 0;
	bool ok;

	buf_init(&b, BUF_UNLIMITED);
	buf_appendf(&b, "%lld ", (long long)now);
	for (unsigned k = 0; k < DELIVER_VACATION_HASH; k++)
		buf_appendf(&b, "%02x", key[k]);
	buf_append_c(&b, '\n');
	/* newest first: past DELIVER_VACATION_MAX the oldest fall off the end */
	for (unsigned i = 0, kept = 1; i < n && kept < DELIVER_VACATION_MAX; i++) {
		if (memcmp(e[i].key, key, DELIVER_VACATION_HASH) == 0)
			continue;
		buf_appendf(&b, "%lld ", (long long)e[i].when);
		for (unsigned k = 0; k < DELIVER_VACATION_HASH; k++)
			buf_appendf(&b, "%02x", e[i].key[k]);
		buf_append_c(&b, '\n');
		kept++;
	}
	free(e);
	tmp = xasprintf("%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ok = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len && fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		log_error("sieve vacation file path=%s error=%s", path, strerror(errno));
		(void)unlink(tmp);
		ret = -1;
	}
	free(tmp);
	buf_deinit(&b);
	return ret;
}
