/*
 * managesieve_client.c — ManageSieve sessions in the per-user mail process (see
 * managesieve_client.h). The scripts are the user's Sieve script store
 * (src/mailproc/sieve_store.h), shared with JMAP: NAME.sieve files in sieve_dir and the
 * sieve_script symlink, as Pigeonhole keeps them, every change atomic, every script
 * checked with the Sieve front end (src/sieve/sieve.h) before it is stored.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "mailproc/mail_user.h"
#include "mailproc/sieve_store.h"
#include "managesieve/managesieve_client.h"
#include "proto/managesieve.h"
#include "sieve/sieve.h"
#include "sieve/sieve_exec.h"
#include "lib/util.h"

#define MS_LINE_MAX		8192	/* bytes of a command line outside literals */

/* MAXREDIRECTS: the redirect limit of a delivery run (src/sieve/sieve_exec.h). */
static unsigned
max_redirects(void)
{
	struct sieve_exec_limits xl;

	sieve_exec_limits_default(&xl);
	return xl.redirects_max;
}

struct ms_client {
	struct mail_session session;	/* in the user's session registry */
	struct mail_user *mu;
	const struct config *cfg;
	char *user, *ip;
	struct sieve_store *st;	/* NULL: sieve_dir cannot be expanded */
	unsigned id;
	struct bufferevent *bev;
	struct event *timer;
	struct ms_limits lim;
	struct ms_cmd *cmd;
	unsigned bad;
	uint64_t skip_left;	/* bytes of a too long literal still to discard */
	bool skip_line;		/* then the rest of its line, then NO (QUOTA/MAXSIZE) */
	bool closing;
	bool input_eof;
	uint64_t last_activity_ms;
};

static unsigned next_id;

static void client_destroy(struct ms_client *c);
static void client_shutdown(struct mail_session *s);
static void client_input(struct ms_client *c);

static void client_kick(struct mail_session *s);

static const struct mail_session_ops session_ops = { .shutdown = client_shutdown,
    .kick = client_kick };

/* ---------------------------------------------------------------- output */

static void client_printf(struct ms_client *c, const char *fmt, ...) PRINTF(2, 3);

static void
client_printf(struct ms_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap) < 0)
		panic("managesieve: evbuffer_add_vprintf failed");
	va_end(ap);
}

/* A string as RFC 5804 §4 allows: quoted when it can be, else a literal {n}. */
static void
put_string(struct buf *b, const char *p, size_t len)
{
	bool quoted = len <= MS_QUOTED_MAX && memchr(p, '\r', len) == NULL &&
	    memchr(p, '\n', len) == NULL && memchr(p, '\0', len) == NULL;

	if (!quoted) {
		(void)buf_appendf(b, "{%zu}\r\n", len);
		(void)buf_append(b, p, len);
		return;
	}
	(void)buf_append_str(b, "\"");
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			(void)buf_append_str(b, "\\");
		(void)buf_append(b, p + i, 1);
	}
	(void)buf_append_str(b, "\"");
}

/* "OK"/"NO"/"BYE" [(CODE)] text. */
static void
reply(struct ms_client *c, const char *status, const char *code, const char *text)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	(void)buf_append_str(&b, status);
	if (code != NULL)
		(void)buf_appendf(&b, " (%s)", code);
	if (text != NULL) {
		(void)buf_append_str(&b, " ");
		put_string(&b, text, strlen(text));
	}
	(void)buf_append_str(&b, "\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

static void
client_close_after(struct ms_client *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

static void
reply_bad(struct ms_client *c, const char *text)
{
	reply(c, "NO", NULL, text);
	if (++c->bad >= MANAGESIEVE_MAX_BAD) {
		log_info("managesieve disconnect user=%s session=%u reason=too_many_bad_commands",
		    c->user, c->id);
		reply(c, "BYE", NULL, "Too many bad commands.");
		client_close_after(c);
	}
}

/* A storage failure: logged with the details, the client gets a short reply. */
static void
reply_error(struct ms_client *c, const char *what, int err)
{
	log_error("managesieve user=%s session=%u error=\"%s: %s\"", c->user, c->id, what,
	    strerror(err));
	if (err == ENOSPC || err == EDQUOT)
		reply(c, "NO", "QUOTA", "Not enough disk space.");
	else
		reply(c, "NO", "TRYLATER", "Internal error, try again later.");
}

/* ---------------------------------------------------------------- scripts */

/* The argument as a script name we may store (caller frees), or NULL. */
static char *
arg_name(const struct ms_arg *a)
{
	if (a->type != MS_ARG_STRING || !sieve_store_name_ok(a->p, a->len))
		return NULL;
	return xstrndup(a->p, a->len);
}

/*
 * Compile the script. Returns true if it compiles; else the NO reply ("line:column:
 * message", one line per error) has been sent. *warn_r gets the warnings (caller frees),
 * NULL if none.
 */
static bool
check_script(struct ms_client *c, const struct ms_arg *script, char **warn_r)
{
	char *msg;

	*warn_r = NULL;
	if (!sieve_store_check(c->st, script->p, script->len, "\r\n", &msg)) {
		reply(c, "NO", NULL, msg);
		free(msg);
		c->bad = 0;
		return false;
	}
	*warn_r = msg;
	return true;
}

static void
reply_checked(struct ms_client *c, char *warn, const char *text)
{
	if (warn != NULL)
		reply(c, "OK", "WARNINGS", warn);
	else
		reply(c, "OK", NULL, text);
	free(warn);
}

/* The reply of a store result other than OK; true when it was OK. */
static bool
store_reply(struct ms_client *c, enum sieve_store_result r, const char *what)
{
	switch (r) {
	case SIEVE_STORE_OK:
		return true;
	case SIEVE_STORE_ERROR:
		reply_error(c, what, errno);
		break;
	case SIEVE_STORE_NONEXISTENT:
		reply(c, "NO", "NONEXISTENT", "There is no script by that name.");
		break;
	case SIEVE_STORE_EXISTS:
		reply(c, "NO", "ALREADYEXISTS", "A script with the new name exists.");
		break;
	case SIEVE_STORE_ACTIVE:
		reply(c, "NO", "ACTIVE", "The active script cannot be deleted.");
		break;
	case SIEVE_STORE_TOOLARGE:
		reply(c, "NO", "QUOTA/MAXSIZE", "The script is too large.");
		break;
	case SIEVE_STORE_TOOMANY:
		reply(c, "NO", "QUOTA/MAXSCRIPTS", "Too many scripts.");
		break;
	case SIEVE_STORE_NOLINK:
		reply(c, "NO", NULL, "No active script is configured (sieve_script).");
		break;
	case SIEVE_STORE_FOREIGN:
		/* a script written by hand (or by Dovecot without sieve_dir): never clobbered */
		reply(c, "NO", NULL, "The active script is a file, not a link: move it into "
		    "the script directory first.");
		break;
	case SIEVE_STORE_RESERVED:
		reply(c, "NO", NULL, SIEVE_STORE_VACATION " belongs to the JMAP vacation "
		    "response: change it there.");
		break;
	}
	return false;
}

/* ---------------------------------------------------------------- commands */

static void
cmd_capability(struct ms_client *c)
{
	struct buf b;

	buf_init(&b, 4096);
	(void)buf_append_str(&b, "\"IMPLEMENTATION\" \"buzon\"\r\n\"SIEVE\" \"");
	for (unsigned i = 0; i < SIEVE_CAP_COUNT; i++)
		(void)buf_appendf(&b, "%s%s", i ? " " : "", sieve_cap_name((enum sieve_cap)i));
	(void)buf_appendf(&b, "\"\r\n\"MAXREDIRECTS\" \"%u\"\r\n", max_redirects());
	/* RFC 5804 §1.7: OWNER, the logged-in user, after authentication */
	(void)buf_append_str(&b, "\"OWNER\" ");
	put_string(&b, c->user, strlen(c->user));
	(void)buf_append_str(&b, "\r\n\"VERSION\" \"1.0\"\r\nOK \"Capability completed.\"\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

static void
cmd_listscripts(struct ms_client *c)
{
	struct sieve_store_list l;
	const char *what = "";
	struct buf b;

	/* the vacation wrapper is not listed: the script it runs is the active one */
	if (sieve_store_list(c->st, &l, &what) < 0) {
		reply_error(c, what, errno);
		return;
	}
	buf_init(&b, 64 * 1024 * 1024);
	for (size_t i = 0; i < l.n; i++) {
		put_string(&b, l.v[i].name, strlen(l.v[i].name));
		if (l.v[i].active)
			(void)buf_append_str(&b, " ACTIVE");
		(void)buf_append_str(&b, "\r\n");
	}
	sieve_store_list_free(&l);
	(void)buf_append_str(&b, "OK \"Listscripts completed.\"\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

static void
cmd_putscript(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *script = &cmd->args[1];
	const char *what = "";
	char *name, *warn;

	if (cmd->argc != 2 || cmd->args[0].type != MS_ARG_STRING ||
	    script->type != MS_ARG_STRING) {
		reply_bad(c, "Invalid PUTSCRIPT arguments.");
		return;
	}
	if ((name = arg_name(&cmd->args[0])) == NULL) {
		reply_bad(c, "Invalid script name.");
		return;
	}
	/* RFC 5804 §2.6: the quota first, then the script is checked */
	if (store_reply(c, sieve_store_quota(c->st, name, script->len), "") &&
	    check_script(c, script, &warn)) {
		if (store_reply(c, sieve_store_put(c->st, name, script->p, script->len, &what),
		    what)) {
			log_info("managesieve putscript user=%s session=%u size=%zu", c->user,
			    c->id, script->len);
			reply_checked(c, warn, "Putscript completed.");
		} else {
			free(warn);
		}
	}
	free(name);
}

static void
cmd_checkscript(struct ms_client *c, const struct ms_cmd *cmd)
{
	char *warn;

	if (cmd->argc != 1 || cmd->args[0].type != MS_ARG_STRING) {
		reply_bad(c, "Invalid CHECKSCRIPT arguments.");
		return;
	}
	if (cmd->args[0].len > c->lim.literal_max) {
		reply(c, "NO", "QUOTA/MAXSIZE", "The script is too large.");
		return;
	}
	if (check_script(c, &cmd->args[0], &warn))
		reply_checked(c, warn, "Script is valid.");
}

static void
cmd_setactive(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *a = &cmd->args[0];
	const char *what = "";
	char *name = NULL;

	if (cmd->argc != 1 || a->type != MS_ARG_STRING) {
		reply_bad(c, "Invalid SETACTIVE arguments.");
		return;
	}
	/* RFC 5804 §2.8: the empty name deactivates */
	if (a->len > 0 && (name = arg_name(a)) == NULL) {
		reply_bad(c, "Invalid script name.");
		return;
	}
	if (store_reply(c, sieve_store_activate(c->st, name, &what), what)) {
		log_info("managesieve setactive user=%s session=%u", c->user, c->id);
		reply(c, "OK", NULL, name != NULL ? "Setactive completed." :
		    "No script is active now.");
	}
	free(name);
}

static void
cmd_getscript(struct ms_client *c, const struct ms_cmd *cmd)
{
	char *name, *data;
	size_t len;
	int r;

	if (cmd->argc != 1 || (name = arg_name(&cmd->args[0])) == NULL) {
		reply_bad(c, "Invalid GETSCRIPT arguments.");
		return;
	}
	r = sieve_store_read(c->st, name, 16 * (size_t)SIEVE_STORE_HARD_MAX, &data, &len);
	free(name);
	if (r == 0) {
		reply(c, "NO", "NONEXISTENT", "There is no script by that name.");
	} else if (r < 0 && errno == EFBIG) {
		reply(c, "NO", NULL, "The script cannot be read.");
	} else if (r < 0) {
		reply_error(c, "open script", errno);
	} else {
		client_printf(c, "{%zu}\r\n", len);
		evbuffer_add(bufferevent_get_output(c->bev), data, len);
		client_printf(c, "\r\nOK \"Getscript completed.\"\r\n");
		free(data);
	}
}

static void
cmd_deletescript(struct ms_client *c, const struct ms_cmd *cmd)
{
	const char *what = "";
	char *name;

	if (cmd->argc != 1 || (name = arg_name(&cmd->args[0])) == NULL) {
		reply_bad(c, "Invalid DELETESCRIPT arguments.");
		return;
	}
	if (store_reply(c, sieve_store_delete(c->st, name, &what), what))
		reply(c, "OK", NULL, "Deletescript completed.");
	free(name);
}

static void
cmd_renamescript(struct ms_client *c, const struct ms_cmd *cmd)
{
	char *from = NULL, *to = NULL;
	const char *what = "";

	if (cmd->argc != 2 || (from = arg_name(&cmd->args[0])) == NULL ||
	    (to = arg_name(&cmd->args[1])) == NULL) {
		reply_bad(c, "Invalid RENAMESCRIPT arguments.");
	} else if (store_reply(c, sieve_store_rename(c->st, from, to, &what), what)) {
		reply(c, "OK", NULL, "Renamescript completed.");
	}
	free(from);
	free(to);
}

static void
cmd_havespace(struct ms_client *c, const struct ms_cmd *cmd)
{
	uint32_t size;
	char *name;

	if (cmd->argc != 2 || managesieve_arg_u32(&cmd->args[1], &size) < 0 ||
	    (name = arg_name(&cmd->args[0])) == NULL) {
		reply_bad(c, "Invalid HAVESPACE arguments.");
		return;
	}
	if (store_reply(c, sieve_store_quota(c->st, name, size), ""))
		reply(c, "OK", NULL, "Putscript would succeed.");
	free(name);
}

static void
cmd_noop(struct ms_client *c, const struct ms_cmd *cmd)
{
	struct buf b;

	if (cmd->argc > 1 || (cmd->argc == 1 && cmd->args[0].type != MS_ARG_STRING)) {
		reply_bad(c, "Invalid NOOP arguments.");
		return;
	}
	if (cmd->argc == 0) {
		reply(c, "OK", NULL, "Done.");
		return;
	}
	/* RFC 5804 §2.11: the tag comes back in a TAG response code */
	buf_init(&b, 4096);
	(void)buf_append_str(&b, "OK (TAG ");
	put_string(&b, cmd->args[0].p, cmd->args[0].len);
	(void)buf_append_str(&b, ") \"Done.\"\r\n");
	evbuffer_add(bufferevent_get_output(c->bev), b.data, b.len);
	buf_deinit(&b);
}

static void
command(struct ms_client *c, const struct ms_cmd *cmd)
{
	const struct ms_arg *n = &cmd->name;

	if (mem_ieq(n->p, n->len, "LOGOUT")) {
		reply(c, "OK", NULL, "Logout completed.");
		client_close_after(c);
		return;
	}
	if (mem_ieq(n->p, n->len, "CAPABILITY"))
		cmd_capability(c);
	else if (mem_ieq(n->p, n->len, "NOOP"))
		cmd_noop(c, cmd);
	else if (mem_ieq(n->p, n->len, "LISTSCRIPTS"))
		cmd_listscripts(c);
	else if (mem_ieq(n->p, n->len, "PUTSCRIPT"))
		cmd_putscript(c, cmd);
	else if (mem_ieq(n->p, n->len, "CHECKSCRIPT"))
		cmd_checkscript(c, cmd);
	else if (mem_ieq(n->p, n->len, "SETACTIVE"))
		cmd_setactive(c, cmd);
	else if (mem_ieq(n->p, n->len, "GETSCRIPT"))
		cmd_getscript(c, cmd);
	else if (mem_ieq(n->p, n->len, "DELETESCRIPT"))
		cmd_deletescript(c, cmd);
	else if (mem_ieq(n->p, n->len, "RENAMESCRIPT"))
		cmd_renamescript(c, cmd);
	else if (mem_ieq(n->p, n->len, "HAVESPACE"))
		cmd_havespace(c, cmd);
	else if (mem_ieq(n->p, n->len, "UNAUTHENTICATE"))
		/* RFC 5804 §2.14.1: not advertised, so refused */
		reply(c, "NO", NULL, "UNAUTHENTICATE is not supported.");
	else if (mem_ieq(n->p, n->len, "AUTHENTICATE") || mem_ieq(n->p, n->len, "STARTTLS"))
		reply_bad(c, "Already authenticated.");
	else
		reply_bad(c, "Unknown command.");
}

/* ---------------------------------------------------------------- input */

static void
client_input(struct ms_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (!c->closing) {
		size_t len = evbuffer_get_length(in), used = 0;
		enum ms_parse_result r;
		unsigned char *data;

		if (len == 0 || evbuffer_get_length(out) >= conn_bounds(CONN_POP3)->output_high)
			return;
		if (c->skip_left > 0) {
			/* RFC 5804 §2.6: a script over the limit gets NO (QUOTA/MAXSIZE) */
			size_t n = (size_t)MIN((uint64_t)len, c->skip_left);

			evbuffer_drain(in, n);
			c->skip_left -= n;
			continue;
		}
		data = evbuffer_pullup(in, -1);
		if (c->skip_line) {
			const unsigned char *lf = memchr(data, '\n', len);

			if (lf == NULL && len <= MS_LINE_MAX)
				return;
			if (lf == NULL) {
				reply(c, "BYE", NULL, "Line too long.");
				client_close_after(c);
				return;
			}
			evbuffer_drain(in, (size_t)(lf - data) + 1);
			c->skip_line = false;
			reply(c, "NO", "QUOTA/MAXSIZE", "The script is too large.");
			continue;
		}
		r = managesieve_parse(data, len, &c->lim, false, c->cmd, &used);
		if (r == MS_PARSE_MORE)
			return;
		if (r == MS_PARSE_ERROR && c->cmd->error == MS_ERR_LITERAL && used > 0) {
			log_info("managesieve user=%s session=%u literal_too_long=%llu", c->user,
			    c->id, (unsigned long long)c->cmd->skip);
			evbuffer_drain(in, used);
			c->skip_left = c->cmd->skip;
			c->skip_line = true;
			continue;
		}
		if (r == MS_PARSE_ERROR && used == 0) {
			/* overlong line or literal: the stream cannot be resynchronised */
			log_info("managesieve disconnect user=%s session=%u reason=%s", c->user,
			    c->id, c->cmd->error == MS_ERR_LITERAL ? "literal_too_long" :
			    "line_too_long");
			if (c->cmd->error == MS_ERR_LITERAL)
				reply(c, "BYE", "QUOTA/MAXSIZE", "Literal too long.");
			else
				reply(c, "BYE", NULL, "Line too long.");
			client_close_after(c);
			return;
		}
		if (r == MS_PARSE_ERROR) {
			reply_bad(c, c->cmd->error == MS_ERR_NUL ? "Invalid command (NUL)." :
			    c->cmd->error == MS_ERR_ARGS ? "Too many arguments." :
			    "Invalid command.");
		} else {
			c->bad = 0;
			command(c, c->cmd);
		}
		evbuffer_drain(in, used);
	}
}

static bool
client_progress(struct ms_client *c)
{
	if (!c->closing)
		client_input(c);
	if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		client_destroy(c);
		return false;
	}
	if (c->input_eof && !c->closing) {
		log_info("managesieve disconnect user=%s session=%u reason=eof", c->user, c->id);
		client_destroy(c);
		return false;
	}
	return true;
}

static void
read_cb(struct bufferevent *bev, void *ctx)
{
	struct ms_client *c = ctx;

	c->last_activity_ms = clock_ms();
	(void)client_progress(c);
}

static void
write_cb(struct bufferevent *bev, void *ctx)
{
	(void)client_progress(ctx);
}

static void
event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct ms_client *c = ctx;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !c->closing) {
		/* answer what was sent before the half-close (LOGOUT included) */
		c->input_eof = true;
		bufferevent_disable(bev, EV_READ);
		(void)client_progress(c);
		return;
	}
	log_info("managesieve disconnect user=%s session=%u reason=%s", c->user, c->id,
	    (what & BEV_EVENT_TIMEOUT) ? "output_timeout" : (what & BEV_EVENT_EOF) ? "eof" :
	    "error");
	client_destroy(c);
}

static void
timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ms_client *c = ctx;
	uint64_t idle = clock_ms() - c->last_activity_ms;
	struct timeval tv = { 0, 0 };

	if (idle >= (uint64_t)MANAGESIEVE_AUTOLOGOUT_SECS * 1000 && !c->closing) {
		log_info("managesieve disconnect user=%s session=%u reason=autologout", c->user,
		    c->id);
		reply(c, "BYE", NULL, "Disconnected for inactivity.");
		client_close_after(c);
		tv.tv_sec = 10;		/* then give up on a client that does not read */
	} else if (c->closing) {
		client_destroy(c);
		return;
	} else {
		tv.tv_sec = (time_t)((MANAGESIEVE_AUTOLOGOUT_SECS * 1000 - idle) / 1000 + 1);
	}
	evtimer_add(c->timer, &tv);
}

/* ---------------------------------------------------------------- life cycle */

int
managesieve_client_create(struct event_base *base, struct mail_user *mu,
    const struct config *cfg, const char *user, const char *home, int fd,
    const void *pending_input, size_t pending_len, const char *client_ip, bool secured)
{
	struct ms_client *c;
	struct timeval tv = { MANAGESIEVE_AUTOLOGOUT_SECS, 0 };

	if (evutil_make_socket_nonblocking(fd) < 0) {
		log_error("managesieve: cannot make fd non-blocking: %s", strerror(errno));
		close(fd);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->bev = conn_new(base, fd, NULL, CONN_POP3, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("managesieve: bufferevent_socket_new failed");
		close(fd);
		free(c);
		return -1;
	}
	c->mu = mu;
	c->cfg = cfg;
	c->id = ++next_id;
	c->user = xstrdup(user);
	c->ip = xstrdup(client_ip != NULL ? client_ip : "");
	c->st = sieve_store_open(cfg, home, false);
	c->cmd = xmalloc(sizeof(*c->cmd));
	c->last_activity_ms = clock_ms();
	c->lim.line_max = MS_LINE_MAX;
	c->lim.literal_max = c->st != NULL ? c->st->max_size : SIEVE_STORE_HARD_MAX;
	mail_session_register(mu, &c->session, MAIL_PROTO_MANAGESIEVE, c->ip, &session_ops, c);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* a whole command (one script literal) fits the input buffer, no more */
	bufferevent_setwatermark(c->bev, EV_READ, 0, (size_t)c->lim.literal_max + MS_LINE_MAX +
	    1024);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	c->timer = evtimer_new(base, timer_cb, c);
	evtimer_add(c->timer, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (c->st == NULL) {
		log_error("managesieve user=%s error=\"sieve_dir needs a home directory\"", user);
		reply(c, "NO", "TRYLATER", "Scripts are not available.");
		client_close_after(c);
		return 0;
	}
	log_info("managesieve session user=%s session=%u ip=%s secured=%s", c->user, c->id,
	    c->ip, secured ? "yes" : "no");
	reply(c, "OK", NULL, "Logged in.");
	/* libevent freezes the end of the input buffer: prepend into the empty buffer */
	if (pending_len > 0 &&
	    evbuffer_prepend(bufferevent_get_input(c->bev), pending_input, pending_len) != 0)
		panic("managesieve: cannot queue the pending input");
	client_input(c);
	return 0;
}

static void
client_free(struct ms_client *c)
{
	/* the empty callback runs from the loop, after this callback has returned */
	mail_session_unregister(&c->session);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c->cmd);
	free(c->user);
	free(c->ip);
	sieve_store_close(&c->st);
	free(c);
}

static void
client_destroy(struct ms_client *c)
{
	client_free(c);
}

/* `buzon kick`: BYE (RFC 5804 §1.3), then the connection closes. */
static void
client_kick(struct mail_session *s)
{
	struct ms_client *c = s->ctx;

	if (c->closing)
		return;
	log_info("managesieve disconnect user=%s session=%u reason=kick", c->user, c->id);
	reply(c, "BYE", NULL, "Disconnected by the administrator.");
	client_close_after(c);
}

/* Registry shutdown (mail_user_destroy): close at once, no reply. */
static void
client_shutdown(struct mail_session *s)
{
	client_free(s->ctx);
}
