/*
 * import_dovecot.c — `buzon import-dovecot-config [DIR|FILE|-]`: reads a Dovecot 2.3
 * configuration (dovecot.conf and what it includes, or `doveconf -n` output) with
 * dovecot_conf.c and prints the equivalent buzon.conf on standard output, then, as
 * comments, every setting it did not carry over and why. When standard output is not a
 * terminal that list also goes to standard error, so it is seen when the output is
 * redirected to a file. Only keys config.c knows are written; keys of features this
 * buzon lacks are written as comments. Runs as the invoking user; reads no file the
 * configuration names (certificates, passwd-files), it only copies their paths.
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/dovecot_conf.h"
#include "cli/progress.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/util.h"

#define IMP_MAX_OUT (1024 * 1024)
/* one note or remark: a 4 KiB path, a value of at most a line, fixed text */
#define IMP_NOTE_MAX (DC_MAX_LINE + 8192)

struct imp {
	struct buf notes;		/* "# ..." lines: not carried over */
	unsigned nnotes;
	unsigned notes_cut;		/* notes counted but not listed: the list is full */
	struct buf remarks;		/* "# ..." lines: carried over with a change */
	/* what goes into buzon.conf; NULL / 0 / -1 = not set (buzon's default) */
	bool proto_imap, proto_pop3, proto_lmtp, protocols_set;
	char *listen;
	int imap_port, imaps_port, pop3_port, pop3s_port;	/* -1 = default */
	char *ssl;				/* "yes", "no", "required" */
	char *certs[CONFIG_MAX_SSL], *keys[CONFIG_MAX_SSL];
	unsigned ncerts;			/* local_name pairs, at 1..ncerts */
	char *passwd_file;
	bool system_users;
	char *mail_location;
	char *mail_uid, *mail_gid, *static_home;
	char *first_valid_uid;
	char *mail_max_userip_connections;
	char *recipient_delimiter;
	char *cleartext;			/* auth_allow_cleartext */
	char *idle_keepalive;
	char *login_mode;
	char *lmtp_listen, *lmtp_mode, *lmtp_group;
	char *auth_listen, *auth_mode, *auth_group;
	uint64_t quota_storage, quota_messages;
	bool quota_storage_set, quota_messages_set;
	unsigned quota_warning;
	char *mail_max_size;
	char *sieve_script, *sieve_dir, *sieve_global_dir;
	bool sieve_plugin;			/* mail_plugins has sieve */
};

static void
imp_set(char **field, const char *v)
{
	free(*field);
	*field = xstrdup(v);
}

/* "service auth/unix_listener auth-userdb/mode" */
static void
node_path(const struct dc_node *n, struct buf *b)
{
	if (n->parent != NULL && n->parent->key != NULL) {
		node_path(n->parent, b);
		(void)buf_append_c(b, '/');
	}
	(void)buf_append_str(b, n->key);
	if (n->section && n->value != NULL) {
		(void)buf_append_c(b, ' ');
		(void)buf_append_str(b, n->value);
	}
}

/* a value for a comment line: one line, at most 100 bytes, secrets not shown */
static void
shown_value(const struct dc_node *n, char *out, size_t outsz)
{
	size_t o = 0;

	if (n->hidden) {
		snprintf(out, outsz, "(hidden by doveconf -n)");
		return;
	}
	if (strstr(n->key, "password") != NULL || strstr(n->key, "secret") != NULL ||
	    strstr(n->value, "-----BEGIN") != NULL || strstr(n->value, "password=") != NULL) {
		snprintf(out, outsz, "(not shown)");
		return;
	}
	for (const char *p = n->value; *p != '\0' && o + 4 < outsz && o < 100; p++)
		out[o++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	if (strlen(n->value) > o)
		memcpy(out + o, "...", 3), o += 3;
	out[o] = '\0';
}

/* Control characters a quoted Dovecot value may hold ("\n") never reach the output. */
static void
buf_sanitize_from(struct buf *b, size_t start)
{
	for (size_t i = start; i < b->len; i++)
		if ((unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f)
			b->data[i] = '?';
}

static bool
has_control(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return true;
	return false;
}

static void imp_drop(struct imp *im, struct dc_node *n, const char *fmt, ...) PRINTF(3, 4);

/* A setting that is not carried over, with the reason. */
static void
imp_drop(struct imp *im, struct dc_node *n, const char *fmt, ...)
{
	struct buf path;
	char val[128];
	va_list ap;
	size_t start;

	n->used = true;
	im->nnotes++;
	if (im->notes.len > IMP_MAX_OUT - IMP_NOTE_MAX) {
		/* room for one more note is not certain */
		im->notes_cut++;
		return;
	}
	buf_init(&path, 4096);
	node_path(n, &path);
	buf_sanitize_from(&path, 0);
	shown_value(n, val, sizeof(val));
	start = im->notes.len;
	(void)buf_appendf(&im->notes, "#   %s:%u: %s = %s", n->file, n->line,
	    buf_cstr(&path), val);
	buf_sanitize_from(&im->notes, start);
	(void)buf_append_str(&im->notes, "\n#     ");
	start = im->notes.len;
	va_start(ap, fmt);
	(void)buf_vappendf(&im->notes, fmt, ap);
	va_end(ap);
	buf_sanitize_from(&im->notes, start);
	(void)buf_append_c(&im->notes, '\n');
	buf_deinit(&path);
}

static void imp_remark(struct imp *im, const char *fmt, ...) PRINTF(2, 3);

static void
imp_remark(struct imp *im, const char *fmt, ...)
{
	va_list ap;
	size_t start;

	if (im->remarks.len > IMP_MAX_OUT - IMP_NOTE_MAX)
		return;
	(void)buf_append_str(&im->remarks, "# ");
	start = im->remarks.len;
	va_start(ap, fmt);
	(void)buf_vappendf(&im->remarks, fmt, ap);
	va_end(ap);
	buf_sanitize_from(&im->remarks, start);
	(void)buf_append_c(&im->remarks, '\n');
}

static bool
yes(const char *v)
{
	return str_ieq(v, "yes") || str_ieq(v, "true") || strcmp(v, "1") == 0;
}

/* Dovecot sizes: a number with an optional B, K, M, G or T (kB, MB... too); no unit = deflt */
static int
dovecot_size(const char *v, uint64_t deflt_unit, uint64_t *r)
{
	uint64_t n = 0, mult = deflt_unit;
	const char *p = v;

	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > UINT64_MAX / 10 - 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	while (*p == ' ')
		p++;
	switch (*p) {
	case '\0': break;
	case 'b': case 'B': mult = 1; break;
	case 'k': case 'K': mult = 1024; break;
	case 'm': case 'M': mult = 1024ULL * 1024; break;
	case 'g': case 'G': mult = 1024ULL * 1024 * 1024; break;
	case 't': case 'T': mult = 1024ULL * 1024 * 1024 * 1024; break;
	default: return -1;
	}
	if (*p != '\0') {
		p++;
		if (*p == 'b' || *p == 'B')
			p++;
		if (*p != '\0')
			return -1;
	}
	if (n > UINT64_MAX / mult)
		return -1;
	*r = n * mult;
	return 0;
}

/* Dovecot intervals: "2 mins", "30 secs", "1h", "120" (seconds) */
static int
dovecot_secs(const char *v, uint64_t *r)
{
	uint64_t n = 0, mult = 1;
	const char *p = v;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > 1000000000)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	while (*p == ' ')
		p++;
	if (*p == '\0' || *p == 's')
		mult = 1;
	else if (*p == 'm' && p[1] != 's')
		mult = 60;
	else if (*p == 'h')
		mult = 3600;
	else if (*p == 'd')
		mult = 86400;
	else
		return -1;
	*r = n * mult;
	return 0;
}

static void
size_text(uint64_t v, char *out, size_t outsz)
{
	static const char units[] = "KMG";
	unsigned u = 0;

	while (u < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%llu", (unsigned long long)v);
	else
		snprintf(out, outsz, "%llu%c", (unsigned long long)v, units[u - 1]);
}

/* Octal mode text "0600" -> value; -1 if not one. */
static int
octal_mode(const char *v)
{
	int m = 0;

	if (*v == '\0' || strlen(v) > 4)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '7')
			return -1;
		m = m * 8 + (*v - '0');
	}
	return m;
}

/*
 * mail_location: maildir:PATH[:OPTIONS]. Dovecot's long variables become buzon's short
 * ones; what buzon cannot do (mbox, dbox, LAYOUT=fs, lower-casing) is refused.
 */
static void
imp_mail_location(struct imp *im, struct dc_node *n)
{
	const char *v = n->value, *colon;
	struct buf b;
	bool lower = false;

	if (*v == '\0') {
		n->used = true;
		return;
	}
	if (str_has_prefix(v, "mbox:") || str_has_prefix(v, "mdbox:") ||
	    str_has_prefix(v, "sdbox:") || str_has_prefix(v, "imapc:")) {
		imp_drop(im, n, "buzon serves Maildir only (Maildir++ folders); mbox files move with "
		    "`buzon import mbox FILE USER [FOLDER]`, dbox with Dovecot's own "
		    "`doveadm sync -u USER maildir:~/Maildir`; buzon uses maildir:~/Maildir");
		return;
	}
	if (!str_has_prefix(v, "maildir:") && v[0] != '~' && v[0] != '/') {
		imp_drop(im, n, "not a Maildir location buzon understands");
		return;
	}
	if (str_has_prefix(v, "maildir:"))
		v += strlen("maildir:");
	colon = strchr(v, ':');
	buf_init(&b, 4096);
	(void)buf_append_str(&b, "maildir:");
	for (const char *p = v; *p != '\0' && p != colon; p++) {
		static const struct { const char *dv; const char *bv; } vars[] = {
			{ "%{user}", "%u" }, { "%{username}", "%n" }, { "%{domain}", "%d" },
			{ "%{home}", "%h" }, { "%Lu", "%u" }, { "%Ln", "%n" }, { "%Ld", "%d" },
			{ "%u", "%u" }, { "%n", "%n" }, { "%d", "%d" }, { "%h", "%h" }, { "%%", "%%" },
		};
		size_t i;

		if (*p != '%') {
			(void)buf_append_c(&b, *p);
			continue;
		}
		for (i = 0; i < N_ELEMENTS(vars); i++)
			if (str_has_prefix(p, vars[i].dv))
				break;
		if (i == N_ELEMENTS(vars)) {
			imp_drop(im, n, "uses a %%-variable buzon does not have (it has %%u, %%n, %%d, "
			    "%%h and ~); buzon uses maildir:~/Maildir");
			buf_deinit(&b);
			return;
		}
		lower |= vars[i].dv[1] == 'L';
		(void)buf_append_str(&b, vars[i].bv);
		p += strlen(vars[i].dv) - 1;
	}
	if (colon != NULL && strstr(colon, "LAYOUT=fs") != NULL) {
		imp_drop(im, n, "LAYOUT=fs (folders as directories) is not Maildir++; buzon keeps "
		    "folders as .Name directories, so these Maildirs would look empty");
		buf_deinit(&b);
		return;
	}
	n->used = true;
	if (colon != NULL)
		imp_remark(im, "mail_location: Dovecot's options '%s' were left out (buzon keeps "
		    "its index in the Maildir)", colon + 1);
	if (lower)
		imp_remark(im, "mail_location: buzon does not lower-case names (%%Lu, %%Ln, %%Ld); "
		    "log in with lower-case names or rename the directories");
	free(im->mail_location);
	im->mail_location = buf_steal(&b);
}

/* passdb/userdb args: "scheme=X username_format=%u /etc/dovecot/users" */
static void
imp_passwd_file_args(struct imp *im, struct dc_node *n, bool passdb)
{
	char *copy = xstrdup(n->value), *save = NULL, *tok, *path = NULL;
	bool ok = true;

	for (tok = strtok_r(copy, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (str_has_prefix(tok, "scheme=")) {
			imp_remark(im, "passwd_file: Dovecot's default scheme %s applied to hashes "
			    "without a {SCHEME} prefix; buzon needs the prefix in every entry "
			    "(e.g. {%s}$6$...)", tok + 7, tok + 7);
		} else if (str_has_prefix(tok, "username_format=")) {
			const char *f = tok + 16;

			if (strcmp(f, "%u") != 0 && strcmp(f, "%{user}") != 0) {
				imp_drop(im, n, "username_format=%s: buzon looks up the whole login "
				    "name (%%u) in passwd_file", f);
				ok = false;
			}
		} else if (strchr(tok, '=') == NULL) {
			path = tok;
		}
	}
	if (ok && path != NULL && strchr(path, '%') != NULL) {
		imp_drop(im, n, "a passwd-file per domain or user: buzon reads one passwd_file; "
		    "concatenate the files (names with @domain)");
		ok = false;
	}
	if (ok && path != NULL) {
		if (im->passwd_file != NULL && strcmp(im->passwd_file, path) != 0)
			imp_drop(im, n, "a second passwd-file: buzon reads one passwd_file (%s)",
			    im->passwd_file);
		else {
			imp_set(&im->passwd_file, path);
			n->used = true;
		}
	} else if (ok && !passdb) {
		n->used = true;
	} else if (ok) {
		imp_drop(im, n, "no file name in the args");
	}
	free(copy);
}

/* "uid=vmail gid=vmail home=/var/vmail/%d/%n" (userdb static args, default_fields) */
static void
imp_user_fields(struct imp *im, struct dc_node *n)
{
	char *copy = xstrdup(n->value), *save = NULL, *tok;

	n->used = true;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (str_has_prefix(tok, "uid="))
			imp_set(&im->mail_uid, tok + 4);
		else if (str_has_prefix(tok, "gid="))
			imp_set(&im->mail_gid, tok + 4);
		else if (str_has_prefix(tok, "home="))
			imp_set(&im->static_home, tok + 5);
		else if (strcmp(tok, "allow_all_users=yes") != 0)
			imp_drop(im, n, "field '%.*s' has no equivalent in buzon",
			    (int)MIN(strlen(tok), 60), tok);
	}
	free(copy);
}

static void
imp_db(struct imp *im, struct dc_node *s, bool passdb)
{
	struct dc_node *drv = dc_get(s, "driver"), *args = dc_get(s, "args");
	const char *d = drv != NULL ? drv->value : "";

	if (drv != NULL)
		drv->used = true;
	if (strcmp(d, "pam") == 0 || strcmp(d, "passwd") == 0 || strcmp(d, "shadow") == 0) {
		im->system_users = true;
		if (args != NULL && strcmp(d, "pam") == 0) {
			if (strcmp(args->value, "dovecot") == 0 || args->value[0] == '\0')
				args->used = true;
			else
				imp_drop(im, args, "buzon always uses the PAM service 'buzon' "
				    "(/etc/pam.d/buzon); copy /etc/pam.d/%s there if it differs",
				    args->value);
		}
	} else if (strcmp(d, "passwd-file") == 0) {
		if (args != NULL)
			imp_passwd_file_args(im, args, passdb);
	} else if (strcmp(d, "static") == 0 && !passdb) {
		if (args != NULL)
			imp_user_fields(im, args);
	} else if (strcmp(d, "prefetch") == 0 && !passdb) {
		;
	} else if (drv != NULL) {
		drv->used = false;
		imp_drop(im, drv, "buzon has no %s %s: users come from passwd_file or, with "
		    "system_users = yes, /etc/passwd and PAM", d, passdb ? "passdb" : "userdb");
		if (args != NULL)
			imp_drop(im, args, "belongs to the %s driver above", d);
	}
	for (struct dc_node *n = s->first; n != NULL; n = n->next) {
		if (n->used || n->section)
			continue;
		if (strcmp(n->key, "default_fields") == 0 || strcmp(n->key, "override_fields") == 0)
			imp_user_fields(im, n);
		else if (strcmp(n->key, "deny") == 0 && yes(n->value))
			imp_drop(im, n, "buzon has no deny lists: remove those users from "
			    "passwd_file or lock them in /etc/passwd");
		else if (strcmp(n->key, "deny") == 0 || strcmp(n->key, "master") == 0 ||
		    strcmp(n->key, "pass") == 0 || strcmp(n->key, "skip") == 0 ||
		    str_has_prefix(n->key, "result_"))
			n->used = !yes(n->value) || strcmp(n->key, "pass") == 0 ||
			    str_has_prefix(n->key, "result_") || strcmp(n->key, "skip") == 0;
		if (!n->used && strcmp(n->key, "master") == 0)
			imp_drop(im, n, "buzon has no master users");
	}
}

/* unix_listener { mode user group } for Postfix: buzon's socket belongs to root */
static void
imp_socket_perm(struct imp *im, struct dc_node *l, const char *what, char **mode_r,
    char **group_r)
{
	struct dc_node *mode = dc_get(l, "mode"), *user = dc_get(l, "user"),
	    *group = dc_get(l, "group");
	int m = mode != NULL ? octal_mode(mode->value) : 0600;
	const char *g = group != NULL && group->value[0] != '\0' ? group->value :
	    user != NULL && user->value[0] != '\0' ? user->value : NULL;
	char buf[16];

	if (mode != NULL)
		mode->used = true;
	if (user != NULL)
		user->used = true;
	if (group != NULL)
		group->used = true;
	if (m < 0) {
		imp_drop(im, mode, "not an octal mode");
		return;
	}
	if (user != NULL && user->value[0] != '\0' && (m & 0070) == 0 && g != NULL) {
		/* buzon cannot give the socket to another user: the group gets the owner's bits */
		m |= (m & 0700) >> 3;
		imp_remark(im, "%s: Dovecot gave the socket to user %s; buzon's belongs to root, "
		    "so group %s gets the owner's permissions (mode %04o)", what, user->value, g, m);
	}
	snprintf(buf, sizeof(buf), "%04o", (unsigned)m);
	imp_set(mode_r, buf);
	if (g != NULL)
		imp_set(group_r, g);
}

static void
imp_service(struct imp *im, struct dc_node *s)
{
	const char *name = s->value != NULL ? s->value : "";
	bool login = strcmp(name, "imap-login") == 0 || strcmp(name, "pop3-login") == 0;

	for (struct dc_node *n = s->first; n != NULL; n = n->next) {
		if (n->section && strcmp(n->key, "inet_listener") == 0 && login) {
			const char *ln = n->value != NULL ? n->value : "";
			struct dc_node *port = dc_get(n, "port"), *addr = dc_get(n, "address"),
			    *ssl = dc_get(n, "ssl");
			int *field = strcmp(ln, "imap") == 0 ? &im->imap_port :
			    strcmp(ln, "imaps") == 0 ? &im->imaps_port :
			    strcmp(ln, "pop3") == 0 ? &im->pop3_port :
			    strcmp(ln, "pop3s") == 0 ? &im->pop3s_port : NULL;
			uint32_t p;

			if (ssl != NULL)
				ssl->used = field != NULL;
			if (port != NULL && field != NULL) {
				if (parse_u32(port->value, strlen(port->value), &p) < 0 || p > 65535) {
					imp_drop(im, port, "not a port number");
				} else {
					*field = (int)p;
					port->used = true;
				}
			}
			if (addr != NULL && field != NULL)
				imp_drop(im, addr, "buzon's listen applies to every port; set listen "
				    "for all of them");
		} else if (n->section && strcmp(n->key, "unix_listener") == 0 &&
		    (strcmp(name, "lmtp") == 0 || strcmp(name, "auth") == 0)) {
			const char *path = n->value != NULL ? n->value : "";
			bool lmtp = strcmp(name, "lmtp") == 0;

			if (path[0] != '/') {
				/* Dovecot's own sockets in its base_dir (lmtp, auth-userdb...) */
				for (struct dc_node *k = n->first; k != NULL; k = k->next)
					if (!k->used)
						imp_drop(im, k, lmtp ? "Dovecot's LMTP socket in its own "
						    "base_dir: give buzon an lmtp_listen the MTA uses" :
						    "Dovecot's internal auth socket (dovecot-lda, doveadm): "
						    "buzon deliver asks the buzon master instead");
				continue;
			}
			if (lmtp) {
				free(im->lmtp_listen);
				im->lmtp_listen = xasprintf("unix:%s", path);
				imp_socket_perm(im, n, "lmtp_listen", &im->lmtp_mode, &im->lmtp_group);
			} else {
				free(im->auth_listen);
				im->auth_listen = xasprintf("unix:%s", path);
				imp_socket_perm(im, n, "auth_listen", &im->auth_mode, &im->auth_group);
			}
		} else if (n->section && strcmp(n->key, "inet_listener") == 0 &&
		    strcmp(name, "lmtp") == 0) {
			struct dc_node *port = dc_get(n, "port"), *addr = dc_get(n, "address");

			if (port != NULL && strcmp(port->value, "0") != 0) {
				const char *a = addr != NULL ? addr->value : "127.0.0.1";
				char *first = xstrndup(a, strcspn(a, " ,"));

				free(im->lmtp_listen);
				im->lmtp_listen = strchr(first, ':') != NULL ?
				    xasprintf("[%s]:%s", first, port->value) :
				    xasprintf("%s:%s", strcmp(first, "*") == 0 ? "0.0.0.0" : first,
				    port->value);
				free(first);
				port->used = true;
				if (addr != NULL)
					addr->used = true;
			}
		} else if (!n->section && login && strcmp(n->key, "service_count") == 0 &&
		    strcmp(n->value, "1") == 0) {
			/* Dovecot's high-security mode: one login process per connection */
			imp_set(&im->login_mode, "per-connection");
			n->used = true;
		} else if (!n->section && (strcmp(n->key, "process_limit") == 0 ||
		    strcmp(n->key, "process_min_avail") == 0 || strcmp(n->key, "client_limit") == 0 ||
		    strcmp(n->key, "service_count") == 0 || strcmp(n->key, "vsz_limit") == 0 ||
		    strcmp(n->key, "user") == 0 || strcmp(n->key, "group") == 0 ||
		    strcmp(n->key, "chroot") == 0 || strcmp(n->key, "executable") == 0 ||
		    strcmp(n->key, "idle_kill") == 0)) {
			imp_drop(im, n, "buzon sizes its processes itself (login_processes, "
			    "login_vsz_limit, login_max_connections; docs/architecture.md)");
		}
	}
}

static void
imp_namespace(struct imp *im, struct dc_node *s)
{
	static const char *const builtin[] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };

	for (struct dc_node *n = s->first; n != NULL; n = n->next) {
		if (n->section && strcmp(n->key, "mailbox") == 0) {
			struct dc_node *su = dc_get(n, "special_use"), *au = dc_get(n, "auto");
			const char *mb = n->value != NULL ? n->value : "";
			bool known = false;

			for (size_t i = 0; i < N_ELEMENTS(builtin); i++)
				if (strcmp(mb, builtin[i]) == 0 && su != NULL &&
				    strcasecmp(su->value + (su->value[0] == '\\'), mb) == 0)
					known = true;
			if (su != NULL) {
				if (known)
					su->used = true;
				else
					imp_drop(im, su, "buzon marks only its own Sent, Drafts, Trash, "
					    "Junk and Archive (created at first login); a client can mark "
					    "'%s' with CREATE-SPECIAL-USE or METADATA", mb);
			}
			if (au != NULL) {
				if (known || strcmp(au->value, "no") == 0)
					au->used = true;
				else
					imp_drop(im, au, "buzon creates (and subscribes) only Sent, "
					    "Drafts, Trash, Junk and Archive");
			}
			continue;
		}
		if (n->section)
			continue;
		if ((strcmp(n->key, "inbox") == 0 && yes(n->value)) ||
		    (strcmp(n->key, "prefix") == 0 && n->value[0] == '\0') ||
		    (strcmp(n->key, "location") == 0 && n->value[0] == '\0') ||
		    (strcmp(n->key, "separator") == 0 && strcmp(n->value, ".") == 0) ||
		    (strcmp(n->key, "type") == 0 && strcmp(n->value, "private") == 0) ||
		    strcmp(n->key, "list") == 0 || strcmp(n->key, "subscriptions") == 0)
			n->used = true;
		else if (strcmp(n->key, "separator") == 0)
			imp_drop(im, n, "buzon's hierarchy separator is '.' (Maildir++); clients "
			    "see the same folders with '.'");
		else if (strcmp(n->key, "prefix") == 0)
			imp_drop(im, n, "buzon has one namespace with an empty prefix; folders "
			    "under '%s' appear without it", n->value);
		else
			imp_drop(im, n, "buzon has one private namespace (no shared or public "
			    "namespaces, no other locations)");
	}
}

static void
imp_quota_rule(struct imp *im, struct dc_node *n)
{
	char *copy = xstrdup(n->value), *save = NULL, *tok, *colon = strchr(copy, ':');

	if (colon == NULL || colon - copy != 1 || copy[0] != '*') {
		imp_drop(im, n, "buzon has one quota for all folders: only '*' rules are carried "
		    "over (also per user: userdb_quota_rule=*:storage=... in the passwd-file)");
		free(copy);
		return;
	}
	n->used = true;
	for (tok = strtok_r(colon + 1, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save)) {
		uint64_t v;

		if (str_has_prefix(tok, "storage=") || str_has_prefix(tok, "bytes=")) {
			const char *val = tok + (tok[0] == 's' ? 8 : 6);

			/* storage= without a unit is in kilobytes, bytes= in bytes */
			if (dovecot_size(val, tok[0] == 's' ? 1024 : 1, &v) < 0) {
				imp_drop(im, n, "'%s': buzon takes absolute limits only", tok);
				break;
			}
			im->quota_storage = v;
			im->quota_storage_set = true;
		} else if (str_has_prefix(tok, "messages=")) {
			if (dovecot_size(tok + 9, 1, &v) < 0) {
				imp_drop(im, n, "'%s': buzon takes absolute limits only", tok);
				break;
			}
			im->quota_messages = v;
			im->quota_messages_set = true;
		} else if (strcmp(tok, "ignore") != 0 && !str_has_prefix(tok, "backend=")) {
			imp_drop(im, n, "'%s' has no equivalent in buzon", tok);
			break;
		}
	}
	free(copy);
}

static void
imp_plugin(struct imp *im, struct dc_node *s)
{
	for (struct dc_node *n = s->first; n != NULL; n = n->next) {
		if (n->section || n->used)
			continue;
		if (strcmp(n->key, "quota") == 0 || (str_has_prefix(n->key, "quota") &&
		    n->key[5] >= '0' && n->key[5] <= '9')) {
			if (str_has_prefix(n->value, "maildir"))
				n->used = true;
			else
				imp_drop(im, n, "buzon counts usage in the Maildir's maildirsize "
				    "(Maildir++); run `buzon quota recalc USER` once per user");
		} else if (str_has_prefix(n->key, "quota_rule")) {
			imp_quota_rule(im, n);
		} else if (str_has_prefix(n->key, "quota_warning")) {
			/* "storage=95%% quota-warning 95 %u" */
			const char *pct = strstr(n->value, "=");
			uint32_t p;
			size_t len = 0;

			if (pct != NULL)
				for (pct++; pct[len] >= '0' && pct[len] <= '9'; len++)
					;
			if (pct != NULL && len > 0 && pct[len] == '%' &&
			    parse_u32(pct, len, &p) == 0 && p > 0 && p <= 100) {
				if (im->quota_warning == 0 || p < im->quota_warning)
					im->quota_warning = p;
				n->used = true;
				imp_remark(im, "quota_warning: buzon puts one notice into INBOX when "
				    "a delivery crosses %u%%; it runs no script", (unsigned)p);
			} else {
				imp_drop(im, n, "buzon's quota_warning is one percentage");
			}
		} else if (strcmp(n->key, "quota_max_mail_size") == 0) {
			uint64_t v;
			char t[32];

			if (dovecot_size(n->value, 1, &v) == 0 && v > 0) {
				size_text(v, t, sizeof(t));
				imp_set(&im->mail_max_size, t);
				n->used = true;
			} else {
				imp_drop(im, n, "not a size");
			}
		} else if (str_has_prefix(n->key, "quota")) {
			imp_drop(im, n, "buzon's quota has storage and message limits, a warning "
			    "percentage and quota_full_tempfail, nothing more");
		} else if (strcmp(n->key, "sieve") == 0) {
			/* "file:~/sieve;active=~/.dovecot.sieve", or a script path (Dovecot 2.2) */
			const char *v = n->value, *act = strstr(v, ";active=");

			n->used = true;
			if (str_has_prefix(v, "file:")) {
				size_t len = strcspn(v + 5, ";");

				free(im->sieve_dir);
				im->sieve_dir = xstrndup(v + 5, len);
				if (act != NULL)
					imp_set(&im->sieve_script, act + 8);
				else
					imp_drop(im, n, "no active= script: buzon runs the script "
					    "sieve_script names");
			} else if (strchr(v, ':') == NULL && v[0] != '\0') {
				imp_set(&im->sieve_script, v);
			} else {
				imp_drop(im, n, "buzon reads Sieve scripts from files only");
			}
		} else if (strcmp(n->key, "sieve_dir") == 0) {
			imp_set(&im->sieve_dir, n->value);
			n->used = true;
		} else if (strcmp(n->key, "sieve_global") == 0 ||
		    strcmp(n->key, "sieve_global_dir") == 0) {
			const char *v = n->value;

			if (str_has_prefix(v, "file:"))
				v += 5;
			free(im->sieve_global_dir);
			im->sieve_global_dir = xstrndup(v, strcspn(v, ";"));
			n->used = true;
		} else if (str_has_prefix(n->key, "sieve")) {
			imp_drop(im, n, "buzon's Sieve has a personal script, its directory and "
			    "global scripts for include, nothing more (docs/sieve.md)");
		} else {
			imp_drop(im, n, "Dovecot plugin setting without an equivalent in buzon");
		}
	}
}

/* Reasons for settings buzon deliberately has no key for. */
static const struct {
	const char *key;
	const char *why;
} known_reasons[] = {
	{ "ssl_dh", "buzon offers only ECDHE key exchange; no DH parameters are needed" },
	{ "ssl_client_ca_dir", "buzon does not ask clients for certificates" },
	{ "ssl_client_ca_file", "buzon does not ask clients for certificates" },
	{ "ssl_ca", "buzon does not ask clients for certificates" },
	{ "ssl_verify_client_cert", "buzon does not ask clients for certificates" },
	{ "ssl_cipher_list", "buzon's TLS settings are fixed: TLSv1.2 or later with OpenSSL's "
	    "default suites (docs/security.md)" },
	{ "ssl_cipher_suites", "buzon's TLS settings are fixed (docs/security.md)" },
	{ "ssl_prefer_server_ciphers", "buzon's TLS settings are fixed (docs/security.md)" },
	{ "ssl_curve_list", "buzon's TLS settings are fixed (docs/security.md)" },
	{ "mail_privileged_group", "buzon serves no /var/mail spools (mbox) that need it" },
	{ "mail_access_groups", "buzon's mail processes run with the user's own groups" },
	{ "log_path", "buzon logs to standard error (journald under systemd)" },
	{ "info_log_path", "buzon logs to standard error (journald under systemd)" },
	{ "debug_log_path", "buzon logs to standard error (journald under systemd)" },
	{ "syslog_facility", "buzon logs to standard error (journald under systemd)" },
	{ "log_timestamp", "buzon's log lines carry an ISO 8601 UTC time" },
	{ "auth_verbose", "use log_level = debug" },
	{ "auth_debug", "use log_level = debug" },
	{ "mail_debug", "use log_level = debug" },
	{ "verbose_ssl", "use log_level = debug" },
	{ "auth_username_format", "buzon looks up the login name as given" },
	{ "base_dir", "buzon has its own base_dir (/run/buzon)" },
	{ "default_login_user", "buzon's login processes run as login_user (buzon)" },
	{ "default_internal_user", "buzon has no internal user besides login_user" },
	{ "last_valid_uid", "buzon has first_valid_uid only" },
	{ "first_valid_gid", "buzon has first_valid_uid only" },
	{ "last_valid_gid", "buzon has first_valid_uid only" },
	{ "postmaster_address", "buzon's LMTP does not send bounces; the MTA does" },
	{ "hostname", "buzon's LMTP does not send bounces; the MTA does" },
	{ "lmtp_save_to_detail_mailbox", "buzon always delivers user+detail into folder "
	    "'detail' when it exists (recipient_delimiter)" },
	{ "managesieve_notify_capability", "buzon has no ManageSieve" },
	{ "managesieve_sieve_capability", "buzon has no ManageSieve" },
	{ "login_greeting", "buzon's greeting is fixed" },
	{ "ssl_client_ca", "buzon does not ask clients for certificates" },
	{ "auth_cache_size", "buzon caches no passwords" },
	{ "auth_cache_ttl", "buzon caches no passwords" },
	{ "auth_cache_negative_ttl", "buzon caches no passwords" },
	{ "login_trusted_networks", "buzon takes no client addresses from proxies" },
	{ "imap_client_workarounds", "buzon has no client workarounds" },
	{ "pop3_client_workarounds", "buzon has no client workarounds" },
	{ "pop3_uidl_format", "buzon's default pop3_uidl_format is Dovecot's default; set it "
	    "only if you changed Dovecot's" },
};

static void imp_section(struct imp *im, struct dc_node *s, const char *proto);

/* One setting, at the top level or inside protocol NAME { } (proto, else NULL). */
static void
imp_setting(struct imp *im, struct dc_node *n, const char *proto)
{
	const char *k = n->key, *v = n->value;

	if (strcmp(k, "protocols") == 0 && proto == NULL) {
		char *copy = xstrdup(v), *save = NULL, *tok;

		im->protocols_set = true;
		im->proto_imap = im->proto_pop3 = im->proto_lmtp = false;
		n->used = true;
		for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
		    tok = strtok_r(NULL, " \t,", &save)) {
			if (strcmp(tok, "imap") == 0)
				im->proto_imap = true;
			else if (strcmp(tok, "pop3") == 0)
				im->proto_pop3 = true;
			else if (strcmp(tok, "lmtp") == 0)
				im->proto_lmtp = true;
			else if (strcmp(tok, "none") != 0)
				imp_remark(im, "protocols: buzon has no %s (%s)", tok,
				    strcmp(tok, "sieve") == 0 ? "ManageSieve" :
				    strcmp(tok, "submission") == 0 ? "keep Postfix's submission "
				    "service, with auth_listen for SMTP AUTH" : "not carried over");
		}
		free(copy);
	} else if (strcmp(k, "listen") == 0 && proto == NULL) {
		if (v[0] != '\0')
			imp_set(&im->listen, v);
		n->used = true;
	} else if (strcmp(k, "ssl") == 0 && proto == NULL) {
		if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0 || strcmp(v, "required") == 0) {
			imp_set(&im->ssl, v);
			n->used = true;
		} else {
			imp_drop(im, n, "expected yes, no or required");
		}
	} else if ((strcmp(k, "ssl_cert") == 0 || strcmp(k, "ssl_key") == 0) && proto == NULL) {
		bool cert = k[4] == 'c';

		if (n->hidden)
			imp_drop(im, n, "doveconf -n hides it: import the configuration directory "
			    "instead, or `doveconf -nP`; buzon needs %s = PATH", k);
		else if (v[0] != '<')
			imp_drop(im, n, "buzon reads %s from a file: put the PEM into one and give "
			    "its path", cert ? "certificates" : "keys");
		else {
			/* index 0 is the default pair; local_name { } pairs follow it */
			imp_set(cert ? &im->certs[0] : &im->keys[0], v + 1 + strspn(v + 1, " "));
			n->used = true;
		}
	} else if (strcmp(k, "ssl_min_protocol") == 0 && proto == NULL) {
		if (strcmp(v, "TLSv1.3") == 0)
			imp_drop(im, n, "buzon's minimum is TLSv1.2 and not configurable");
		else {
			n->used = true;
			if (strcmp(v, "TLSv1.2") != 0)
				imp_remark(im, "ssl_min_protocol = %s: buzon never accepts less than "
				    "TLSv1.2", v);
		}
	} else if (strcmp(k, "mail_location") == 0 && proto == NULL) {
		imp_mail_location(im, n);
	} else if ((strcmp(k, "mail_uid") == 0 || strcmp(k, "mail_gid") == 0) && proto == NULL) {
		if (v[0] != '\0')
			imp_set(k[5] == 'u' ? &im->mail_uid : &im->mail_gid, v);
		n->used = true;
	} else if (strcmp(k, "mail_home") == 0 && proto == NULL) {
		/* the home of every user, as a userdb static home= is */
		if (v[0] != '\0')
			imp_set(&im->static_home, v);
		n->used = true;
	} else if (strcmp(k, "first_valid_uid") == 0 && proto == NULL) {
		imp_set(&im->first_valid_uid, v);
		n->used = true;
	} else if (strcmp(k, "mail_max_userip_connections") == 0) {
		uint32_t x;

		if (parse_u32(v, strlen(v), &x) < 0 || x > 100000) {
			imp_drop(im, n, "expected a number up to 100000");
		} else if (proto != NULL && strcmp(proto, "imap") != 0 &&
		    strcmp(proto, "pop3") != 0) {
			n->used = true;
		} else {
			if (im->mail_max_userip_connections != NULL &&
			    strcmp(im->mail_max_userip_connections, v) != 0)
				imp_remark(im, "mail_max_userip_connections differs between "
				    "protocols; buzon has one limit, %s is used", v);
			imp_set(&im->mail_max_userip_connections, v);
			n->used = true;
		}
	} else if (strcmp(k, "recipient_delimiter") == 0) {
		if (strlen(v) > 1) {
			imp_set(&im->recipient_delimiter, (char[]){ v[0], '\0' });
			imp_remark(im, "recipient_delimiter: buzon takes one character; '%c' of "
			    "'%s' is used", v[0], v);
		} else {
			imp_set(&im->recipient_delimiter, v);
		}
		n->used = true;
	} else if (strcmp(k, "disable_plaintext_auth") == 0 && proto == NULL) {
		/* Dovecot counts a connection from the server's own address as secure, too */
		imp_set(&im->cleartext, yes(v) ? "loopback" : "yes");
		n->used = true;
	} else if (strcmp(k, "auth_mechanisms") == 0 && proto == NULL) {
		char *copy = xstrdup(v), *save = NULL, *tok;
		struct buf other;

		buf_init(&other, 4096);
		for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
		    tok = strtok_r(NULL, " \t,", &save))
			if (!str_ieq(tok, "plain") && !str_ieq(tok, "login"))
				(void)buf_appendf(&other, "%s%s", other.len ? " " : "", tok);
		if (other.len > 0)
			imp_drop(im, n, "buzon offers PLAIN and LOGIN only (over TLS); not carried "
			    "over: %s", buf_cstr(&other));
		else
			n->used = true;
		buf_deinit(&other);
		free(copy);
	} else if (strcmp(k, "imap_idle_notify_interval") == 0) {
		uint64_t s;
		char t[24];

		if (dovecot_secs(v, &s) == 0 && s <= 86400) {
			snprintf(t, sizeof(t), "%llu", (unsigned long long)s);
			imp_set(&im->idle_keepalive, t);
			n->used = true;
		} else {
			imp_drop(im, n, "not an interval up to a day");
		}
	} else if (strcmp(k, "mail_plugins") == 0) {
		char *copy = xstrdup(v), *save = NULL, *tok;
		struct buf other;

		buf_init(&other, 4096);
		for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
		    tok = strtok_r(NULL, " \t,", &save))
			if (strcmp(tok, "sieve") == 0)
				im->sieve_plugin = true;
			else if (strcmp(tok, "quota") != 0 && strcmp(tok, "imap_quota") != 0 &&
			    strcmp(tok, "$mail_plugins") != 0)
				(void)buf_appendf(&other, "%s%s", other.len ? " " : "", tok);
		if (other.len > 0)
			imp_drop(im, n, "buzon has no plugins (its quota is built in); not carried "
			    "over: %s", buf_cstr(&other));
		else
			n->used = true;
		buf_deinit(&other);
		free(copy);
	} else {
		for (size_t i = 0; i < N_ELEMENTS(known_reasons); i++)
			if (strcmp(k, known_reasons[i].key) == 0) {
				imp_drop(im, n, "%s", known_reasons[i].why);
				return;
			}
	}
}

static void
imp_section(struct imp *im, struct dc_node *s, const char *proto)
{
	for (struct dc_node *n = s->first; n != NULL; n = n->next) {
		const char *name = n->value != NULL ? n->value : "";

		if (!n->section) {
			imp_setting(im, n, proto);
			continue;
		}
		if (strcmp(n->key, "protocol") == 0 && proto == NULL)
			imp_section(im, n, name);
		else if (strcmp(n->key, "service") == 0 && proto == NULL)
			imp_service(im, n);
		else if (strcmp(n->key, "passdb") == 0 || strcmp(n->key, "userdb") == 0)
			imp_db(im, n, n->key[0] == 'p');
		else if (strcmp(n->key, "namespace") == 0)
			imp_namespace(im, n);
		else if (strcmp(n->key, "plugin") == 0)
			imp_plugin(im, n);
		else if (strcmp(n->key, "local_name") == 0 && proto == NULL) {
			/* a certificate chosen by SNI */
			struct dc_node *c = dc_get(n, "ssl_cert"), *k = dc_get(n, "ssl_key");

			if (c != NULL && k != NULL && c->value[0] == '<' && k->value[0] == '<' &&
			    im->ncerts + 1 < CONFIG_MAX_SSL) {
				im->ncerts++;
				imp_set(&im->certs[im->ncerts], c->value + 1 + strspn(c->value + 1, " "));
				imp_set(&im->keys[im->ncerts], k->value + 1 + strspn(k->value + 1, " "));
				c->used = k->used = true;
			}
		}
	}
}

/* every setting nobody took or explained: no equivalent */
static void
imp_rest(struct imp *im, struct dc_node *s)
{
	for (struct dc_node *n = s->first; n != NULL; n = n->next) {
		if (n->section) {
			imp_rest(im, n);
			continue;
		}
		if (n->used)
			continue;
		if (s->key != NULL && s->section && (strcmp(s->key, "local") == 0 ||
		    strcmp(s->key, "remote") == 0))
			imp_drop(im, n, "buzon has no per-address settings (%s %s { })", s->key,
			    s->value != NULL ? s->value : "");
		else if (s->key != NULL && strcmp(s->key, "protocol") == 0 && s->value != NULL &&
		    strcmp(s->value, "imap") != 0 && strcmp(s->value, "pop3") != 0 &&
		    strcmp(s->value, "lmtp") != 0)
			imp_drop(im, n, "buzon has no %s", s->value);
		else if (s->key != NULL && strcmp(s->key, "service") == 0)
			imp_drop(im, n, "buzon has no such service setting");
		else
			imp_drop(im, n, "no equivalent in buzon");
	}
}

static void
out_kv(struct buf *o, const char *key, const char *value)
{
	if (has_control(value) || strchr(value, '#') != NULL)
		(void)buf_appendf(o, "# %s: the value has a control character or '#', which "
		    "buzon.conf cannot hold; not written\n", key);
	else if (!config_key_known(key))
		(void)buf_appendf(o, "# %s = %s   (needs a buzon that has %s)\n", key, value, key);
	else
		(void)buf_appendf(o, "%s = %s\n", key, value);
}

static void
out_port(struct buf *o, const char *key, int port, bool on, int deflt_on)
{
	char t[16];

	if (!on)
		port = 0;
	else if (port < 0)
		port = deflt_on;
	snprintf(t, sizeof(t), "%d", port);
	out_kv(o, key, t);
}

static void
imp_write(struct imp *im, const char *source, struct buf *o)
{
	bool ssl_off = im->ssl != NULL && strcmp(im->ssl, "no") == 0;
	char t[32];

	size_t start;

	(void)buf_append_str(o, "# buzon.conf from the Dovecot configuration ");
	start = o->len;
	(void)buf_append_str(o, source);
	buf_sanitize_from(o, start);
	(void)buf_append_str(o, "\n"
	    "# written by `buzon import-dovecot-config`; check it with `buzon check -c FILE`.\n"
	    "# Settings that were not carried over are listed at the end.\n\n");
	if (!im->protocols_set) {
		/* Dovecot's built-in default */
		im->proto_imap = im->proto_pop3 = im->proto_lmtp = true;
	}
	if (im->listen == NULL) {
		/* Dovecot's default; buzon's is 127.0.0.1 */
		im->listen = xstrdup("*, ::");
		imp_remark(im, "listen: not set, so Dovecot listened on every address (*, ::); "
		    "buzon would listen on 127.0.0.1 only, so listen = *, :: is written");
	}
	out_kv(o, "listen", im->listen);
	out_port(o, "imap_port", im->imap_port, im->proto_imap, 143);
	out_port(o, "imaps_port", im->imaps_port, im->proto_imap && !ssl_off, 993);
	out_port(o, "pop3_port", im->pop3_port, im->proto_pop3, 110);
	out_port(o, "pop3s_port", im->pop3s_port, im->proto_pop3 && !ssl_off, 995);
	if (!ssl_off)
		for (unsigned i = 0; i <= im->ncerts; i++) {
			if (im->certs[i] == NULL || im->keys[i] == NULL) {
				if (im->certs[i] != NULL || im->keys[i] != NULL)
					(void)buf_appendf(o, "# %s = %s   (its %s is missing: buzon "
					    "serves no TLS without both)\n", im->certs[i] ? "ssl_cert" :
					    "ssl_key", im->certs[i] ? im->certs[i] : im->keys[i],
					    im->certs[i] ? "ssl_key" : "ssl_cert");
				continue;
			}
			out_kv(o, "ssl_cert", im->certs[i]);
			out_kv(o, "ssl_key", im->keys[i]);
		}
	/*
	 * Dovecot counts a connection as secured when it is TLS or comes from the server's
	 * own address (local IP = remote IP), for disable_plaintext_auth and ssl = required
	 * alike; buzon's "loopback" is that rule. With PLAIN and LOGIN only, ssl = required
	 * then refuses what disable_plaintext_auth = yes refuses.
	 */
	if (im->ssl != NULL && strcmp(im->ssl, "required") == 0)
		imp_set(&im->cleartext, "loopback");
	if (im->cleartext != NULL)
		out_kv(o, "auth_allow_cleartext", im->cleartext);
	if (im->system_users)
		out_kv(o, "system_users", "yes");
	if (im->passwd_file != NULL)
		out_kv(o, "passwd_file", im->passwd_file);
	if (im->mail_location != NULL && im->static_home != NULL &&
	    str_has_prefix(im->mail_location, "maildir:~")) {
		/* userdb static home=...: buzon's ~ is the passwd-file's home, so spell it out */
		char *loc = xasprintf("maildir:%s%s", im->static_home,
		    im->mail_location + strlen("maildir:~"));

		free(im->mail_location);
		im->mail_location = loc;
	}
	if (im->mail_location != NULL)
		out_kv(o, "mail_location", im->mail_location);
	if (im->mail_uid != NULL)
		out_kv(o, "mail_uid", im->mail_uid);
	if (im->mail_gid != NULL)
		out_kv(o, "mail_gid", im->mail_gid);
	if (im->first_valid_uid != NULL)
		out_kv(o, "first_valid_uid", im->first_valid_uid);
	if (im->mail_max_userip_connections != NULL)
		out_kv(o, "mail_max_userip_connections", im->mail_max_userip_connections);
	if (im->recipient_delimiter != NULL)
		out_kv(o, "recipient_delimiter", im->recipient_delimiter);
	if (im->idle_keepalive != NULL)
		out_kv(o, "imap_idle_keepalive", im->idle_keepalive);
	if (im->login_mode != NULL)
		out_kv(o, "login_mode", im->login_mode);
	if (im->lmtp_listen != NULL && im->proto_lmtp) {
		out_kv(o, "lmtp_listen", im->lmtp_listen);
		if (im->lmtp_mode != NULL)
			out_kv(o, "lmtp_socket_mode", im->lmtp_mode);
		if (im->lmtp_group != NULL)
			out_kv(o, "lmtp_socket_group", im->lmtp_group);
	}
	if (im->auth_listen != NULL) {
		out_kv(o, "auth_listen", im->auth_listen);
		if (im->auth_mode != NULL)
			out_kv(o, "auth_listen_mode", im->auth_mode);
		if (im->auth_group != NULL)
			out_kv(o, "auth_listen_group", im->auth_group);
	}
	if (im->quota_storage_set) {
		size_text(im->quota_storage, t, sizeof(t));
		out_kv(o, "quota_storage", t);
	}
	if (im->quota_messages_set) {
		snprintf(t, sizeof(t), "%llu", (unsigned long long)im->quota_messages);
		out_kv(o, "quota_messages", t);
	}
	if (im->quota_warning > 0) {
		snprintf(t, sizeof(t), "%u", im->quota_warning);
		out_kv(o, "quota_warning", t);
	}
	if (im->mail_max_size != NULL)
		out_kv(o, "mail_max_size", im->mail_max_size);
	if (im->sieve_plugin || im->sieve_script != NULL || im->sieve_dir != NULL) {
		/* Dovecot runs Sieve only with the sieve plugin in LMTP's or LDA's mail_plugins */
		out_kv(o, "sieve", im->sieve_plugin ? "yes" : "no");
		if (im->sieve_script != NULL)
			out_kv(o, "sieve_script", im->sieve_script);
		if (im->sieve_dir != NULL)
			out_kv(o, "sieve_dir", im->sieve_dir);
		if (im->sieve_global_dir != NULL)
			out_kv(o, "sieve_global_dir", im->sieve_global_dir);
		if (!config_key_known("sieve_script"))
			imp_remark(im, "sieve: this buzon does not run Sieve scripts at delivery; "
			    "the sieve keys above are comments (`buzon sieve check` checks scripts)");
	}
	if (im->proto_lmtp && im->lmtp_listen == NULL)
		imp_remark(im, "protocols: lmtp, but only on Dovecot's own socket; set "
		    "lmtp_listen to what the MTA connects to (docs/delivery.md)");
	if (im->remarks.len > 0)
		(void)buf_appendf(o, "\n# Carried over with a change:\n%s", buf_cstr(&im->remarks));
	if (im->nnotes > 0)
		(void)buf_appendf(o, "\n# Not carried over (%u):\n%s", im->nnotes,
		    buf_cstr(&im->notes));
	if (im->notes_cut > 0)
		(void)buf_appendf(o, "#   ... and %u more, not listed (the list stops at %d "
		    "bytes)\n", im->notes_cut, IMP_MAX_OUT);
	else
		(void)buf_append_str(o, "\n# Every setting was carried over.\n");
}

static void
imp_free(struct imp *im)
{
	char **strs[] = { &im->listen, &im->ssl, &im->passwd_file, &im->mail_location,
		&im->mail_uid, &im->mail_gid, &im->static_home, &im->first_valid_uid,
		&im->mail_max_userip_connections, &im->recipient_delimiter, &im->cleartext,
		&im->idle_keepalive, &im->login_mode, &im->lmtp_listen, &im->lmtp_mode,
		&im->lmtp_group, &im->auth_listen, &im->auth_mode, &im->auth_group,
		&im->mail_max_size, &im->sieve_script, &im->sieve_dir, &im->sieve_global_dir };

	for (size_t i = 0; i < N_ELEMENTS(strs); i++)
		free(*strs[i]);
	for (unsigned i = 0; i < CONFIG_MAX_SSL; i++) {
		free(im->certs[i]);
		free(im->keys[i]);
	}
	buf_deinit(&im->notes);
	buf_deinit(&im->remarks);
}

int
import_dovecot_convert(struct dc_conf *dc, const char *source, char **out_r, unsigned *dropped_r)
{
	struct imp im;
	struct buf o;

	memset(&im, 0, sizeof(im));
	im.imap_port = im.imaps_port = im.pop3_port = im.pop3s_port = -1;
	buf_init(&im.notes, IMP_MAX_OUT);
	buf_init(&im.remarks, IMP_MAX_OUT);
	buf_init(&o, 3 * IMP_MAX_OUT);
	imp_section(&im, &dc->root, NULL);
	imp_rest(&im, &dc->root);
	imp_write(&im, source, &o);
	/* comments too: values in them stay one printable line (out_kv refuses them) */
	for (size_t i = 0; i < o.len; i++)
		if (((unsigned char)o.data[i] < 0x20 && o.data[i] != '\n' && o.data[i] != '\t') ||
		    o.data[i] == 0x7f)
			o.data[i] = '?';
	*dropped_r = im.nnotes;
	imp_free(&im);
	(void)buf_append_c(&o, '\0');
	*out_r = buf_steal(&o);
	return 0;
}

static void
file_progress(void *ctx, const char *name, unsigned nfiles)
{
	progress_update(ctx, false, "reading: %u file%s (%s)", nfiles, nfiles == 1 ? "" : "s",
	    name);
}

int
cli_import_dovecot(int argc, char **argv)
{
	const char *src = argc >= 2 ? argv[1] : "/etc/dovecot";
	struct dc_conf *dc;
	struct stat st;
	char *err = NULL, *out = NULL, *path = NULL;
	struct progress progress;
	unsigned dropped = 0;
	int r;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1] != '\0')) {
		fprintf(stderr, "usage: buzon import-dovecot-config [DIR|FILE|-]\n");
		return 64;
	}
	dc = dc_conf_create(true);
	progress_init(&progress);
	dc->on_file = file_progress;
	dc->on_file_ctx = &progress;
	if (strcmp(src, "-") == 0) {
		/* `doveconf -n | buzon import-dovecot-config -` */
		struct buf in;
		char tmp[65536];
		size_t n;

		buf_init(&in, DC_MAX_FILE_SIZE);
		r = 0;
		while ((n = fread(tmp, 1, sizeof(tmp), stdin)) > 0)
			if (buf_append(&in, tmp, n) < 0) {
				err = xasprintf("-: larger than %d bytes", DC_MAX_FILE_SIZE);
				r = -1;
				break;
			}
		if (r == 0 && ferror(stdin)) {
			err = xasprintf("-: %s", strerror(errno));
			r = -1;
		}
		if (r == 0)
			r = dc_conf_parse_buffer(dc, "-", in.data == NULL ? "" : (const char *)in.data,
			    in.len, &err);
		buf_deinit(&in);
	} else {
		if (stat(src, &st) == 0 && S_ISDIR(st.st_mode))
			path = xasprintf("%s/dovecot.conf", src);
		else
			path = xstrdup(src);
		r = dc_conf_parse_file(dc, path, &err);
	}
	progress_done(&progress);
	if (r < 0) {
		fprintf(stderr, "buzon import-dovecot-config: %s\n", err);
		free(err);
		free(path);
		dc_conf_destroy(&dc);
		return 1;
	}
	import_dovecot_convert(dc, path != NULL ? path : "(standard input)", &out, &dropped);
	fputs(out, stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "buzon import-dovecot-config: writing the output: %s\n",
		    strerror(errno));
		r = 1;
	} else if (dropped > 0 && !isatty(STDOUT_FILENO)) {
		/* the list at the end of the output, also where the administrator looks */
		const char *list = strstr(out, "\n# Not carried over");

		fprintf(stderr, "buzon import-dovecot-config: %u setting%s not carried over:%s",
		    dropped, dropped == 1 ? "" : "s", list != NULL ? strchr(list + 1, '\n') : "\n");
	}
	free(out);
	free(path);
	dc_conf_destroy(&dc);
	return r < 0 ? 1 : 0;
}
