/*
 * config.c — reads the `key = value` configuration file (see config.h). Runs in the
 * master and the CLI as the invoking user, and again in each child from the same path.
 * The file is trusted (root-owned in production) but still parsed strictly: an unknown
 * key or a bad value stops the start with FILE:LINE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "config.h"
#include "buf.h"
#include "log.h"
#include "pop3_uidl.h"

#define CONFIG_MAX_LINE 4096

enum key_type { K_STR, K_PORT, K_UINT, K_BOOL, K_SIZE, K_LISTEN, K_CLEARTEXT, K_SSLCERT,
	K_SSLKEY, K_UID, K_MODE };

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset;
	uint64_t max;
};

#define OFF(f) offsetof(struct config, f)
/*
 * jmap_base_url: "http[s]://" host [":" port] [path], at most 255 octets of visible ASCII
 * without a query, fragment, quotes, backslash or a trailing '/': it prefixes the URLs of
 * the JMAP session resource (docs/jmap.md).
 */
static bool
jmap_base_url_valid(const char *u)
{
	size_t len = strlen(u), start;
	const char *host, *end;

	if (len > 255 || len == 0 || u[len - 1] == '/')
		return false;
	if (strncmp(u, "https://", 8) == 0)
		start = 8;
	else if (strncmp(u, "http://", 7) == 0)
		start = 7;
	else
		return false;
	for (size_t i = 0; i < len; i++)
		if (u[i] <= 0x20 || u[i] >= 0x7f || strchr("\"'\\<>?#{}|^`", u[i]) != NULL)
			return false;
	host = u + start;
	end = host + strcspn(host, ":/");
	if (end == host)
		return false;
	if (*end == ':') {
		const char *p = end + 1;
		size_t n = strspn(p, "0123456789");

		if (n == 0 || n > 5 || (p[n] != '\0' && p[n] != '/'))
			return false;
	}
	return true;
}

static const struct key_def keys[] = {
	{ "listen", K_LISTEN, 0, 0 },
	{ "imap_port", K_PORT, OFF(imap_port), 0 },
	{ "imaps_port", K_PORT, OFF(imaps_port), 0 },
	{ "pop3_port", K_PORT, OFF(pop3_port), 0 },
	{ "pop3s_port", K_PORT, OFF(pop3s_port), 0 },
	{ "managesieve_port", K_PORT, OFF(managesieve_port), 0 },
	{ "jmap_port", K_PORT, OFF(jmap_port), 0 },
	{ "jmap_tls", K_BOOL, OFF(jmap_tls), 0 },
	{ "jmap_base_url", K_STR, OFF(jmap_base_url), 0 },
	{ "webmail", K_BOOL, OFF(webmail), 0 },
	{ "autoconfig_host", K_STR, OFF(autoconfig_host), 0 },
	{ "autoconfig_username", K_STR, OFF(autoconfig_username), 0 },
	{ "autoconfig_submission_port", K_PORT, OFF(autoconfig_submission_port), 0 },
	{ "lmtp_listen", K_STR, OFF(lmtp_listen), 0 },
	{ "lmtp_socket_mode", K_MODE, OFF(lmtp_socket_mode), 0777 },
	{ "lmtp_socket_group", K_STR, OFF(lmtp_socket_group), 0 },
	{ "auth_listen", K_STR, OFF(auth_listen), 0 },
	{ "auth_listen_mode", K_MODE, OFF(auth_listen_mode), 0777 },
	{ "auth_listen_group", K_STR, OFF(auth_listen_group), 0 },
	{ "socketmap_listen", K_STR, OFF(socketmap_listen), 0 },
	{ "socketmap_listen_mode", K_MODE, OFF(socketmap_listen_mode), 0777 },
	{ "socketmap_listen_group", K_STR, OFF(socketmap_listen_group), 0 },
	{ "quota_policy_listen", K_STR, OFF(quota_policy_listen), 0 },
	{ "quota_policy_listen_mode", K_MODE, OFF(quota_policy_listen_mode), 0777 },
	{ "quota_policy_listen_group", K_STR, OFF(quota_policy_listen_group), 0 },
	{ "metrics_listen", K_STR, OFF(metrics_listen), 0 },
	{ "quota_policy_reject", K_STR, OFF(quota_policy_reject), 0 },
	{ "lmtp_spool_dir", K_STR, OFF(lmtp_spool_dir), 0 },
	{ "lmtp_spool_threshold", K_SIZE, OFF(lmtp_spool_threshold), 0 },
	{ "recipient_delimiter", K_STR, OFF(recipient_delimiter), 0 },
	{ "ssl_cert", K_SSLCERT, 0, 0 },
	{ "ssl_key", K_SSLKEY, 0, 0 },
	{ "passwd_file", K_STR, OFF(passwd_file), 0 },
	{ "mail_location", K_STR, OFF(mail_location), 0 },
	{ "base_dir", K_STR, OFF(base_dir), 0 },
	{ "control_socket", K_STR, OFF(control_socket), 0 },
	{ "mail_max_userip_connections", K_UINT, OFF(mail_max_userip_connections), 100000 },
	{ "mail_uid", K_STR, OFF(mail_uid), 0 },
	{ "mail_gid", K_STR, OFF(mail_gid), 0 },
	{ "system_users", K_BOOL, OFF(system_users), 0 },
	{ "login_user", K_STR, OFF(login_user), 0 },
	{ "first_valid_uid", K_UID, OFF(first_valid_uid), 0 },
	{ "auth_allow_cleartext", K_CLEARTEXT, OFF(auth_allow_cleartext), 0 },
	{ "auth_scram", K_BOOL, OFF(auth_scram), 0 },
	{ "oauth_issuer", K_STR, OFF(oauth_issuer), 0 },
	{ "oauth_jwks_file", K_STR, OFF(oauth_jwks_file), 0 },
	{ "oauth_audience", K_STR, OFF(oauth_audience), 0 },
	{ "oauth_clock_skew", K_UINT, OFF(oauth_clock_skew), 3600 },
	{ "oauth_username_claim", K_STR, OFF(oauth_username_claim), 0 },
	{ "auth_trusted_networks", K_STR, OFF(auth_trusted_networks), 0 },
	{ "auth_failure_delay_max", K_UINT, OFF(auth_failure_delay_max), 3600 },
	{ "auth_ban_failures", K_UINT, OFF(auth_ban_failures), 1000000 },
	{ "auth_ban_seconds", K_UINT, OFF(auth_ban_seconds), 86400 * 30 },
	{ "auth_pam_workers", K_UINT, OFF(auth_pam_workers), 16 },
	{ "mail_max_size", K_SIZE, OFF(mail_max_size), 0 },
	{ "mail_idle_exit", K_UINT, OFF(mail_idle_exit), 3600 },
	{ "quota_storage", K_SIZE, OFF(quota_storage), 0 },
	{ "quota_messages", K_SIZE, OFF(quota_messages), 0 },
	{ "quota_full_tempfail", K_BOOL, OFF(quota_full_tempfail), 0 },
	{ "quota_warning", K_UINT, OFF(quota_warning), 100 },
	{ "imap_idle_keepalive", K_UINT, OFF(imap_idle_keepalive), 86400 },
	{ "login_timeout", K_UINT, OFF(login_timeout), 86400 },
	{ "login_processes", K_UINT, OFF(login_processes), 64 },
	{ "login_mode", K_STR, OFF(login_mode), 0 },
	{ "login_max_connections", K_UINT, OFF(login_max_connections), 1000000 },
	{ "login_max_connections_per_ip", K_UINT, OFF(login_max_connections_per_ip), 1000000 },
	{ "login_seccomp", K_BOOL, OFF(login_seccomp), 0 },
	{ "login_vsz_limit", K_SIZE, OFF(login_vsz_limit), 0 },
	{ "imap_autologout", K_UINT, OFF(imap_autologout), 86400 * 7 },
	{ "pop3_uidl_format", K_STR, OFF(pop3_uidl_format), 0 },
	{ "log_level", K_STR, OFF(log_level), 0 },
	{ "log_format", K_STR, OFF(log_format), 0 },
	{ "imap_debug", K_BOOL, OFF(imap_debug), 0 },
	{ "sieve", K_BOOL, OFF(sieve), 0 },
	{ "sieve_script", K_STR, OFF(sieve_script), 0 },
	{ "sieve_dir", K_STR, OFF(sieve_dir), 0 },
	{ "sieve_global_dir", K_STR, OFF(sieve_global_dir), 0 },
	{ "sieve_before", K_STR, OFF(sieve_before), 0 },
	{ "sieve_after", K_STR, OFF(sieve_after), 0 },
	{ "sendmail_path", K_STR, OFF(sendmail_path), 0 },
	{ "sieve_reject_mdn", K_BOOL, OFF(sieve_reject_mdn), 0 },
	{ "managesieve_max_script_size", K_SIZE, OFF(managesieve_max_script_size), 0 },
	{ "managesieve_max_scripts", K_UINT, OFF(managesieve_max_scripts), 100000 },
};

bool
config_key_known(const char *name)
{
	for (size_t i = 0; i < N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return true;
	return false;
}

static void
config_defaults(struct config *c)
{
	c->imap_port = 143;
	c->imaps_port = 993;
	c->pop3_port = 0;
	c->pop3s_port = 0;
	c->passwd_file = xstrdup("/etc/buzon/users");
	c->recipient_delimiter = xstrdup("+");
	c->mail_location = xstrdup("maildir:~/Maildir");
	c->sieve = true;
	c->sieve_script = xstrdup("~/.dovecot.sieve");
	c->sieve_dir = xstrdup("~/sieve");
	c->sendmail_path = xstrdup("/usr/sbin/sendmail");
	c->managesieve_max_script_size = 256 * 1024;
	c->managesieve_max_scripts = 100;
	c->jmap_tls = true;
	c->webmail = true;
	c->base_dir = xstrdup("/run/buzon");
	c->oauth_clock_skew = 60;
	c->oauth_username_claim = xstrdup("email");
	c->lmtp_socket_mode = 0666;
	c->lmtp_socket_gid = (gid_t)-1;
	c->auth_listen_mode = 0660;
	c->auth_listen_gid = (gid_t)-1;
	c->socketmap_listen_mode = 0660;
	c->socketmap_listen_gid = (gid_t)-1;
	c->quota_policy_listen_mode = 0660;
	c->quota_policy_listen_gid = (gid_t)-1;
	c->quota_policy_reject = xstrdup("552 5.2.2 Mailbox is full");
	c->lmtp_spool_threshold = 1024 * 1024;
	c->mail_max_userip_connections = 10;
	c->login_user = xstrdup("buzon");
	c->first_valid_uid = 500;
	c->auth_allow_cleartext = CLEARTEXT_LOOPBACK;
	c->auth_failure_delay_max = 15;
	c->auth_ban_failures = 20;
	c->auth_ban_seconds = 3600;
	c->auth_pam_workers = 2;
	c->mail_max_size = CONFIG_MAIL_MAX_SIZE_DEFAULT;
	c->mail_idle_exit = 10;
	c->imap_idle_keepalive = 120;
	c->login_timeout = 60;
	c->login_processes = 0;		/* one per CPU */
	c->login_mode = xstrdup("pool");
	c->login_max_connections = 1000;
	c->login_max_connections_per_ip = 50;
	c->login_seccomp = true;
	c->login_vsz_limit = CONFIG_LOGIN_VSZ_DEFAULT;
	c->imap_autologout = 31 * 60;
	c->pop3_uidl_format = xstrdup("%08Xu%08Xv");
	c->log_level = xstrdup("info");
	c->log_format = xstrdup("text");
	c->autoconfig_username = xstrdup("localpart");
	c->autoconfig_submission_port = 587;
	c->mail_uid_num = (uid_t)-1;
	c->mail_gid_num = (gid_t)-1;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
parse_bool(const char *v, bool *r)
{
	if (str_ieq(v, "yes") || str_ieq(v, "true") || strcmp(v, "1") == 0)
		*r = true;
	else if (str_ieq(v, "no") || str_ieq(v, "false") || strcmp(v, "0") == 0)
		*r = false;
	else
		return -1;
	return 0;
}

/* "50M", "52428800", "1G", "64k" */
int
config_parse_size(const char *v, uint64_t *r)
{
	size_t n = strlen(v);
	uint64_t mult = 1, x;

	if (n > 0) {
		switch (v[n - 1]) {
		case 'k': case 'K': mult = 1024; n--; break;
		case 'm': case 'M': mult = 1024 * 1024; n--; break;
		case 'g': case 'G': mult = 1024ULL * 1024 * 1024; n--; break;
		}
	}
	if (parse_u64(v, n, UINT64_MAX / mult, &x) < 0)
		return -1;
	*r = x * mult;
	return 0;
}

static int
resolve_uid(const char *v, uid_t *r)
{
	struct passwd *pw;
	uint32_t n;

	if (parse_u32(v, strlen(v), &n) == 0) {
		*r = (uid_t)n;
		return 0;
	}
	if ((pw = getpwnam(v)) == NULL)
		return -1;
	*r = pw->pw_uid;
	return 0;
}

static int
resolve_gid(const char *v, gid_t *r)
{
	struct group *gr;
	uint32_t n;

	if (parse_u32(v, strlen(v), &n) == 0) {
		*r = (gid_t)n;
		return 0;
	}
	if ((gr = getgrnam(v)) == NULL)
		return -1;
	*r = gr->gr_gid;
	return 0;
}

static const char *
config_set(struct config *c, const struct key_def *k, const char *v)
{
	char *base = (char *)c;
	uint64_t n;

	switch (k->type) {
	case K_STR: {
		char **p = (char **)(base + k->offset);

		free(*p);
		*p = *v == '\0' ? NULL : xstrdup(v);
		return NULL;
	}
	case K_PORT:
		if (parse_u64(v, strlen(v), 65535, &n) < 0)
			return "expected a port number 0..65535";
		*(uint16_t *)(base + k->offset) = (uint16_t)n;
		return NULL;
	case K_UINT:
		if (parse_u64(v, strlen(v), k->max, &n) < 0)
			return "expected a number";
		*(unsigned *)(base + k->offset) = (unsigned)n;
		return NULL;
	case K_MODE: {
		/* octal permission bits, as chmod(1) takes them: "0660", "660" */
		unsigned mode = 0;
		size_t len = strlen(v);

		if (len == 0 || len > 4)
			return "expected an octal mode like 0660";
		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '7')
				return "expected an octal mode like 0660";
			mode = mode * 8 + (unsigned)(v[i] - '0');
		}
		if (mode > k->max)
			return "expected an octal mode like 0660 (permission bits only)";
		*(unsigned *)(base + k->offset) = mode;
		return NULL;
	}
	case K_UID:
		if (parse_u64(v, strlen(v), UINT32_MAX - 1, &n) < 0)
			return "expected a uid number";
		*(uid_t *)(base + k->offset) = (uid_t)n;
		return NULL;
	case K_BOOL:
		if (parse_bool(v, (bool *)(base + k->offset)) < 0)
			return "expected yes or no";
		return NULL;
	case K_SIZE:
		if (config_parse_size(v, &n) < 0)
			return "expected a size like 52428800 or 50M";
		*(uint64_t *)(base + k->offset) = n;
		return NULL;
	case K_CLEARTEXT:
		if (strcmp(v, "no") == 0)
			c->auth_allow_cleartext = CLEARTEXT_NO;
		else if (strcmp(v, "loopback") == 0)
			c->auth_allow_cleartext = CLEARTEXT_LOOPBACK;
		else if (strcmp(v, "yes") == 0)
			c->auth_allow_cleartext = CLEARTEXT_YES;
		else
			return "expected no, loopback or yes";
		return NULL;
	case K_LISTEN: {
		/* one or more addresses, separated by spaces or commas; replaces the list */
		char *copy = xstrdup(v), *save = NULL, *tok;

		for (unsigned i = 0; i < c->listen_count; i++)
			free(c->listen[i]);
		c->listen_count = 0;
		for (tok = strtok_r(copy, " ,\t", &save); tok != NULL;
		    tok = strtok_r(NULL, " ,\t", &save)) {
			if (c->listen_count == CONFIG_MAX_LISTEN) {
				free(copy);
				return "too many listen addresses";
			}
			c->listen[c->listen_count++] = xstrdup(tok);
		}
		free(copy);
		return c->listen_count == 0 ? "expected an address" : NULL;
	}
	case K_SSLCERT:
		/* each ssl_cert starts a new certificate; the first is the default */
		if (c->ssl_count == CONFIG_MAX_SSL)
			return "too many certificates";
		c->ssl[c->ssl_count++].cert = xstrdup(v);
		return NULL;
	case K_SSLKEY:
		if (c->ssl_count == 0 || c->ssl[c->ssl_count - 1].key != NULL)
			return "ssl_key must follow its ssl_cert";
		c->ssl[c->ssl_count - 1].key = xstrdup(v);
		return NULL;
	}
	return "internal error";
}


/* "127.x.y.z:PORT" or "[::1]:PORT": a TCP listener only local programs reach. */
static bool
loopback_listen(const char *spec)
{
	const char *colon = strrchr(spec, ':');
	unsigned char a[16];
	char host[64];
	uint32_t port;
	size_t hlen;

	if (colon == NULL || parse_u32(colon + 1, strlen(colon + 1), &port) < 0 || port == 0 ||
	    port > 65535)
		return false;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		if (hlen - 2 >= sizeof(host))
			return false;
		memcpy(host, spec + 1, hlen - 2);
		host[hlen - 2] = '\0';
		return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, "\0\0\0\0\0\0\0\0"
		    "\0\0\0\0\0\0\0\1", 16) == 0;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	return inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
}

/* "host:port" or "[v6]:port" with a numeric address and a port 1..65535 */
static bool
numeric_listen(const char *spec)
{
	const char *colon = strrchr(spec, ':');
	unsigned char a[16];
	char host[64];
	uint32_t port;
	size_t hlen;

	if (colon == NULL || parse_u32(colon + 1, strlen(colon + 1), &port) < 0 || port == 0 ||
	    port > 65535)
		return false;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		if (hlen - 2 >= sizeof(host))
			return false;
		memcpy(host, spec + 1, hlen - 2);
		host[hlen - 2] = '\0';
		return inet_pton(AF_INET6, host, a) == 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	return inet_pton(AF_INET, host, a) == 1;
}

static int
config_finish(struct config *c, const char **err_r)
{
	if (c->listen_count == 0)
		c->listen[c->listen_count++] = xstrdup("127.0.0.1");
	if (c->ssl_count > 0 && c->ssl[c->ssl_count - 1].key == NULL) {
		*err_r = "ssl_cert without ssl_key";
		return -1;
	}
	if (c->mail_location == NULL || !str_has_prefix(c->mail_location, "maildir:")) {
		*err_r = "mail_location must start with maildir:";
		return -1;
	}
	if (c->mail_uid != NULL && resolve_uid(c->mail_uid, &c->mail_uid_num) < 0) {
		*err_r = "mail_uid: no such user";
		return -1;
	}
	if (c->mail_gid != NULL && resolve_gid(c->mail_gid, &c->mail_gid_num) < 0) {
		*err_r = "mail_gid: no such group";
		return -1;
	}
	if (c->lmtp_socket_group != NULL &&
	    resolve_gid(c->lmtp_socket_group, &c->lmtp_socket_gid) < 0) {
		*err_r = "lmtp_socket_group: no such group";
		return -1;
	}
	if (c->auth_listen_group != NULL &&
	    resolve_gid(c->auth_listen_group, &c->auth_listen_gid) < 0) {
		*err_r = "auth_listen_group: no such group";
		return -1;
	}
	if (c->auth_listen != NULL && (!str_has_prefix(c->auth_listen, "unix:/") ||
	    strlen(c->auth_listen) - 5 >= 108)) {
		*err_r = "auth_listen must be unix:/absolute/path (at most 107 octets)";
		return -1;
	}
	if (c->socketmap_listen_group != NULL &&
	    resolve_gid(c->socketmap_listen_group, &c->socketmap_listen_gid) < 0) {
		*err_r = "socketmap_listen_group: no such group";
		return -1;
	}
	if (c->socketmap_listen != NULL && (!str_has_prefix(c->socketmap_listen, "unix:/") ||
	    strlen(c->socketmap_listen) - 5 >= 108)) {
		*err_r = "socketmap_listen must be unix:/absolute/path (at most 107 octets)";
		return -1;
	}
	if (c->quota_policy_listen_group != NULL &&
	    resolve_gid(c->quota_policy_listen_group, &c->quota_policy_listen_gid) < 0) {
		*err_r = "quota_policy_listen_group: no such group";
		return -1;
	}
	if (c->quota_policy_listen != NULL && (str_has_prefix(c->quota_policy_listen, "unix:") ?
	    (!str_has_prefix(c->quota_policy_listen, "unix:/") ||
	    strlen(c->quota_policy_listen) - 5 >= 108) :
	    !loopback_listen(c->quota_policy_listen))) {
		*err_r = "quota_policy_listen must be unix:/absolute/path (at most 107 octets) or "
		    "a loopback address and port (127.0.0.1:PORT, [::1]:PORT)";
		return -1;
	}
	if (c->metrics_listen != NULL && !numeric_listen(c->metrics_listen)) {
		*err_r = "metrics_listen must be a numeric address and port (127.0.0.1:9154, "
		    "[::1]:9154)";
		return -1;
	}
	if (c->quota_policy_reject == NULL || c->quota_policy_reject[0] == '\0' ||
	    strlen(c->quota_policy_reject) > 200 ||
	    strpbrk(c->quota_policy_reject, "\t\r\n") != NULL) {
		*err_r = "quota_policy_reject must be one line of 1..200 octets";
		return -1;
	}
	if (c->lmtp_spool_threshold > 64 * 1024 * 1024) {
		*err_r = "lmtp_spool_threshold must be at most 64M";
		return -1;
	}
	if (c->recipient_delimiter != NULL && strlen(c->recipient_delimiter) != 1) {
		*err_r = "recipient_delimiter must be one character";
		return -1;
	}
	/* keys whose empty value would leave a NULL the daemons use (found by fuzz_config) */
	if (c->log_level == NULL || c->base_dir == NULL || c->login_user == NULL ||
	    (c->passwd_file == NULL && !c->system_users)) {
		*err_r = c->log_level == NULL ? "log_level must not be empty" :
		    c->base_dir == NULL ? "base_dir must not be empty" :
		    c->login_user == NULL ? "login_user must not be empty" :
		    "passwd_file must not be empty (or set system_users = yes)";
		return -1;
	}
	if (c->control_socket == NULL)
		c->control_socket = xasprintf("%s/control", c->base_dir);
	if (strlen(c->control_socket) >= 108) {
		*err_r = "control_socket must be a path of at most 107 octets";
		return -1;
	}
	if (c->lmtp_spool_dir == NULL)
		c->lmtp_spool_dir = xasprintf("%s/lmtp-spool", c->base_dir);
	else if (c->lmtp_spool_dir[0] != '/') {
		*err_r = "lmtp_spool_dir must be an absolute path";
		return -1;
	}
	if ((c->sieve_before != NULL && c->sieve_before[0] != '\0' &&
	    c->sieve_before[0] != '/') ||
	    (c->sieve_after != NULL && c->sieve_after[0] != '\0' && c->sieve_after[0] != '/')) {
		*err_r = "sieve_before and sieve_after must be absolute paths";
		return -1;
	}
	if (c->auth_pam_workers < 1) {
		*err_r = "auth_pam_workers must be at least 1";
		return -1;
	}
	if (c->login_vsz_limit != 0 && c->login_vsz_limit < CONFIG_LOGIN_VSZ_MIN) {
		/* below this a login process cannot even map its libraries and TLS contexts */
		*err_r = "login_vsz_limit must be 0 (no limit) or at least 64M";
		return -1;
	}
	if (c->imap_autologout < 30 * 60) {
		*err_r = "imap_autologout must be at least 1800 (RFC 3501 §5.4)";
		return -1;
	}
	if (c->pop3_uidl_format == NULL || !pop3_uidl_format_check(c->pop3_uidl_format)) {
		*err_r = "pop3_uidl_format: %u, %v, %08Xu, %08Xv, %% and printable text, at most 70 characters";
		return -1;
	}
	if (c->login_mode == NULL || (strcmp(c->login_mode, "pool") != 0 &&
	    strcmp(c->login_mode, "per-connection") != 0)) {
		*err_r = "login_mode must be pool or per-connection";
		return -1;
	}
	c->login_per_connection = strcmp(c->login_mode, "per-connection") == 0;
	if (c->login_max_connections == 0) {
		*err_r = "login_max_connections must be at least 1";
		return -1;
	}
	if (strcmp(c->log_level, "debug") != 0 && strcmp(c->log_level, "info") != 0 &&
	    strcmp(c->log_level, "warn") != 0 && strcmp(c->log_level, "error") != 0) {
		*err_r = "log_level must be debug, info, warn or error";
		return -1;
	}
	if (c->log_format == NULL || (strcmp(c->log_format, "text") != 0 &&
	    strcmp(c->log_format, "json") != 0)) {
		*err_r = "log_format must be text or json";
		return -1;
	}
	c->log_json = strcmp(c->log_format, "json") == 0;
	if (c->autoconfig_username == NULL ||
	    (strcmp(c->autoconfig_username, "localpart") != 0 &&
	    strcmp(c->autoconfig_username, "address") != 0)) {
		*err_r = "autoconfig_username must be localpart or address";
		return -1;
	}
	c->autoconfig_address = strcmp(c->autoconfig_username, "address") == 0;
	if (c->jmap_base_url != NULL && !jmap_base_url_valid(c->jmap_base_url)) {
		*err_r = "jmap_base_url must be http:// or https:// and a host, with an optional "
		    "port and path, no query and no trailing /";
		return -1;
	}
	if (c->autoconfig_host != NULL && !dns_name_valid(c->autoconfig_host)) {
		*err_r = "autoconfig_host must be a DNS name (mail.example.org)";
		return -1;
	}
	if (c->oauth_username_claim == NULL) {
		*err_r = "oauth_username_claim must name a claim";
		return -1;
	}
	if ((c->oauth_issuer == NULL) != (c->oauth_jwks_file == NULL)) {
		*err_r = "oauth_issuer and oauth_jwks_file are set together";
		return -1;
	}
	return 0;
}

int
config_load(const char *path, struct config **cfg_r, char **error_r)
{
	struct config *c;
	char line[CONFIG_MAX_LINE + 2];
	const char *err = NULL;
	unsigned lineno = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	config_defaults(c);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p, *eq, *key, *val;
		size_t n = strlen(line);
		const struct key_def *k = NULL;

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			err = "line too long";
			break;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = trim(line);
		if (*p == '\0')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			err = "expected key = value";
			break;
		}
		*eq = '\0';
		key = trim(p);
		val = trim(eq + 1);
		for (size_t i = 0; i < N_ELEMENTS(keys); i++)
			if (strcmp(keys[i].name, key) == 0)
				k = &keys[i];
		if (k == NULL) {
			char safe[128];

			*error_r = xasprintf("%s:%u: unknown key '%s'", path, lineno,
			    log_sanitize(key, strlen(key), safe, sizeof(safe)));
			fclose(f);
			config_free(&c);
			return -1;
		}
		if ((err = config_set(c, k, val)) != NULL) {
			*error_r = xasprintf("%s:%u: %s: %s", path, lineno, key, err);
			fclose(f);
			config_free(&c);
			return -1;
		}
	}
	fclose(f);
	if (err != NULL) {
		*error_r = xasprintf("%s:%u: %s", path, lineno, err);
		config_free(&c);
		return -1;
	}
	if (config_finish(c, &err) < 0) {
		*error_r = xasprintf("%s: %s", path, err);
		config_free(&c);
		return -1;
	}
	*cfg_r = c;
	return 0;
}

void
config_free(struct config **cfgp)
{
	struct config *c = *cfgp;

	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->listen_count; i++)
		free(c->listen[i]);
	for (unsigned i = 0; i < c->ssl_count; i++) {
		free(c->ssl[i].cert);
		free(c->ssl[i].key);
	}
	free(c->path);
	free(c->lmtp_listen);
	free(c->lmtp_socket_group);
	free(c->auth_listen);
	free(c->auth_listen_group);
	free(c->socketmap_listen);
	free(c->socketmap_listen_group);
	free(c->quota_policy_listen);
	free(c->metrics_listen);
	free(c->autoconfig_host);
	free(c->jmap_base_url);
	free(c->autoconfig_username);
	free(c->quota_policy_listen_group);
	free(c->quota_policy_reject);
	free(c->lmtp_spool_dir);
	free(c->recipient_delimiter);
	free(c->passwd_file);
	free(c->mail_location);
	free(c->base_dir);
	free(c->control_socket);
	free(c->mail_uid);
	free(c->mail_gid);
	free(c->login_user);
	free(c->auth_trusted_networks);
	free(c->oauth_issuer);
	free(c->oauth_jwks_file);
	free(c->oauth_audience);
	free(c->oauth_username_claim);
	free(c->log_level);
	free(c->log_format);
	free(c->login_mode);
	free(c->pop3_uidl_format);
	free(c->sieve_script);
	free(c->sieve_dir);
	free(c->sieve_global_dir);
	free(c->sieve_before);
	free(c->sieve_after);
	free(c->sendmail_path);
	free(c);
	*cfgp = NULL;
}

char *
config_mail_root(const struct config *cfg, const char *user, const char *home,
    const char **error_r)
{
	const char *loc = cfg->mail_location + strlen("maildir:");
	const char *at = strchr(user, '@');
	struct buf b;

	buf_init(&b, 4096);
	for (const char *p = loc; *p != '\0'; p++) {
		int r = 0;

		if (*p == '~' && p == loc) {
			if (home == NULL || home[0] != '/') {
				*error_r = "mail_location uses ~ but the user has no home";
				buf_deinit(&b);
				return NULL;
			}
			r = buf_append_str(&b, home);
		} else if (*p == '%' && p[1] != '\0') {
			p++;
			switch (*p) {
			case 'u': r = buf_append_str(&b, user); break;
			case 'n': r = buf_append(&b, user, at ? (size_t)(at - user) : strlen(user)); break;
			case 'd': r = buf_append_str(&b, at ? at + 1 : ""); break;
			case 'h': r = buf_append_str(&b, home ? home : ""); break;
			case '%': r = buf_append_c(&b, '%'); break;
			default:
				*error_r = "mail_location: unknown %-variable";
				buf_deinit(&b);
				return NULL;
			}
		} else {
			r = buf_append_c(&b, *p);
		}
		if (r < 0) {
			*error_r = "mail_location too long";
			buf_deinit(&b);
			return NULL;
		}
	}
	/* strip a trailing ":OPTIONS" part Dovecot allows (e.g. :INDEX=...) */
	{
		char *colon = strchr(b.data == NULL ? "" : b.data, ':');

		if (colon != NULL)
			buf_truncate(&b, (size_t)(colon - b.data));
	}
	while (b.len > 1 && b.data[b.len - 1] == '/')
		buf_truncate(&b, b.len - 1);
	if (b.len == 0 || b.data[0] != '/' || strstr(b.data, "/../") != NULL ||
	    (b.len >= 3 && strcmp(b.data + b.len - 3, "/..") == 0)) {
		*error_r = "mail_location does not give an absolute path";
		buf_deinit(&b);
		return NULL;
	}
	return buf_steal(&b);
}
