/*
 * config.h — the buzon configuration file: `key = value` lines, `#` comments.
 * An unknown key or a bad value is an error naming the file and line. Loaded by the
 * master (and by CLI subcommands); children receive the path and load it again.
 */
#ifndef BUZON_CONFIG_H
#define BUZON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_SSL 16
/* RLIMIT_AS of the login and lmtp processes (docs/security.md has the measurements) */
#define CONFIG_LOGIN_VSZ_DEFAULT (256ULL * 1024 * 1024)
#define CONFIG_LOGIN_VSZ_MIN (64ULL * 1024 * 1024)
/* mail_max_size: APPENDLIMIT, APPEND literals after login, LMTP SIZE, `buzon deliver` */
#define CONFIG_MAIL_MAX_SIZE_DEFAULT (50ULL * 1024 * 1024)

enum config_cleartext {
	CLEARTEXT_NO,		/* never accept a password without TLS */
	CLEARTEXT_LOOPBACK,	/* only from the host itself: client address == server address (default) */
	CLEARTEXT_YES,		/* anywhere (testing only) */
};

struct config_ssl {
	char *cert;	/* PEM chain, e.g. fullchain.pem */
	char *key;	/* PEM private key, e.g. privkey.pem */
};

struct config {
	char *path;
	char *listen[CONFIG_MAX_LISTEN];	/* addresses; default 127.0.0.1 */
	unsigned listen_count;
	uint16_t imap_port, imaps_port, pop3_port, pop3s_port;	/* 0 = off */
	uint16_t managesieve_port;	/* RFC 5804 (usually 4190); 0 = off */
	uint16_t jmap_port;		/* JMAP over HTTP/1.1 (docs/jmap.md); 0 = off */
	bool jmap_tls;			/* jmap_port speaks TLS at once (HTTPS); default yes */
	char *jmap_base_url;		/* prefix of the session resource's URLs, or NULL: the request's */
	bool webmail;			/* serve the built-in webmail on jmap_port (docs/webmail.md) */
	char *autoconfig_host;		/* client autoconfiguration on jmap_port: the server
					 * name clients are given (docs/autoconfig.md); NULL off */
	char *autoconfig_username;	/* "localpart" or "address" */
	bool autoconfig_address;	/* autoconfig_username = address */
	uint16_t autoconfig_submission_port;	/* the MTA's submission port; 0 = none */
	char *lmtp_listen;		/* "host:port" or "unix:/path"; NULL = off */
	unsigned lmtp_socket_mode;	/* permission bits of a unix lmtp_listen socket (0666) */
	char *lmtp_socket_group;	/* its group, name or number; NULL = the master's */
	gid_t lmtp_socket_gid;		/* resolved, (gid_t)-1 if unset */
	char *auth_listen;		/* "unix:/path" of the Dovecot auth protocol socket; NULL = off */
	unsigned auth_listen_mode;	/* its permission bits (0660) */
	char *auth_listen_group;	/* its group, name or number; NULL = the master's */
	gid_t auth_listen_gid;		/* resolved, (gid_t)-1 if unset */
	char *socketmap_listen;		/* "unix:/path" of Postfix's socketmap recipient check */
	unsigned socketmap_listen_mode;	/* its permission bits (0660) */
	char *socketmap_listen_group;	/* its group; NULL = the master's */
	gid_t socketmap_listen_gid;	/* resolved, (gid_t)-1 if unset */
	char *quota_policy_listen;	/* "unix:/path" of Postfix's quota policy service */
	unsigned quota_policy_listen_mode;	/* its permission bits (0660) */
	char *quota_policy_listen_group;	/* its group; NULL = the master's */
	gid_t quota_policy_listen_gid;	/* resolved, (gid_t)-1 if unset */
	char *quota_policy_reject;	/* the action for a recipient over quota */
	char *metrics_listen;		/* "host:port" of the metrics endpoint; NULL = off */
	char *lmtp_spool_dir;		/* big LMTP messages in transit; default base_dir/lmtp-spool */
	uint64_t lmtp_spool_threshold;	/* messages above this go to lmtp_spool_dir (1 MiB) */
	char *recipient_delimiter;	/* "user+detail": detail names a folder; NULL = off */
	struct config_ssl ssl[CONFIG_MAX_SSL];	/* ssl[0] is the default certificate */
	unsigned ssl_count;
	char *passwd_file;		/* Dovecot passwd-file format */
	char *mail_location;		/* "maildir:/var/mail/%u" */
	char *base_dir;			/* pid file, sockets, login chroot */
	char *control_socket;		/* the admin verbs' socket; default base_dir/control */
	unsigned mail_max_userip_connections;
	char *mail_uid, *mail_gid;	/* names or numbers, resolved below */
	uid_t mail_uid_num;		/* (uid_t)-1 if unset */
	gid_t mail_gid_num;
	bool system_users;		/* PAM + /etc/passwd users */
	char *login_user;		/* unprivileged user for login processes */
	uid_t first_valid_uid;		/* mail never runs below this uid (default 500) */
	enum config_cleartext auth_allow_cleartext;
	bool auth_scram;		/* offer SCRAM-SHA-* (docs/architecture.md, "SCRAM") */
	/* OAUTHBEARER/XOAUTH2 (docs/oauth.md): offered when issuer and key set are set */
	char *oauth_issuer;		/* the tokens' "iss" */
	char *oauth_jwks_file;		/* the issuer's public keys (JWK Set) */
	char *oauth_audience;		/* required "aud" value; NULL: not checked */
	unsigned oauth_clock_skew;	/* seconds allowed on exp/nbf/iat (60) */
	char *oauth_username_claim;	/* the claim naming the user ("email") */
	char *auth_trusted_networks;	/* CIDR list exempt from the failure delay */
	unsigned auth_failure_delay_max;	/* seconds, default 15 (0 disables) */
	unsigned auth_ban_failures;	/* failures from one network that start a ban (20) */
	unsigned auth_ban_seconds;	/* ban length, default 3600 (0 disables bans) */
	unsigned auth_pam_workers;	/* PAM worker processes of auth, 1..16 (default 2) */
	uint64_t mail_max_size;		/* APPENDLIMIT / LMTP SIZE, CONFIG_MAIL_MAX_SIZE_DEFAULT */
	unsigned mail_idle_exit;	/* seconds a user's mail process outlives its last session */
	uint64_t quota_storage;		/* Maildir++ quota, bytes per user; 0 = unlimited */
	uint64_t quota_messages;	/* messages per user; 0 = unlimited */
	bool quota_full_tempfail;	/* over quota: LMTP 452 4.2.2 / deliver 75, not 552 / 77 */
	unsigned quota_warning;		/* percent of a limit that brings a notice; 0 = off */
	unsigned imap_idle_keepalive;	/* seconds between "* OK Still here" */
	unsigned login_timeout;		/* pre-auth deadline, seconds */
	unsigned login_processes;	/* login process pool size; 0 = one per CPU */
	char *login_mode;		/* "pool" or "per-connection" */
	bool login_per_connection;	/* login_mode = per-connection */
	unsigned login_max_connections;	/* pre-login connections in total */
	unsigned login_max_connections_per_ip;	/* per IPv4 address / IPv6 /64; 0 = no cap */
	bool login_seccomp;		/* seccomp allow-list in login and lmtp (default yes) */
	uint64_t login_vsz_limit;	/* RLIMIT_AS of login and lmtp, bytes; 0 = none */
	unsigned imap_autologout;	/* seconds, >= 30 min */
	char *pop3_uidl_format;		/* UIDL template, default "%08Xu%08Xv" (Dovecot's) */
	char *log_level;		/* debug|info|warn|error */
	char *log_format;		/* text|json */
	bool log_json;			/* log_format = json */
	bool imap_debug;		/* log IMAP traffic (never passwords) */
	bool sieve;			/* run the user's Sieve script at delivery (default yes) */
	char *sieve_script;		/* the active script, "~/.dovecot.sieve"; "" = none */
	char *sieve_dir;		/* the user's scripts, "~/sieve" (ManageSieve, include) */
	char *sieve_global_dir;		/* scripts for include :global; NULL = none */
	char *sieve_before;		/* global script(s) run before the user's; NULL = none */
	char *sieve_after;		/* global script(s) run after the user's; NULL = none */
	bool sieve_reject_mdn;		/* LMTP reject: an MDN instead of a 550 reply */
	char *sendmail_path;		/* Sieve redirect/vacation, "/usr/sbin/sendmail" */
	uint64_t managesieve_max_script_size;	/* bytes of one script (256 KiB) */
	unsigned managesieve_max_scripts;	/* scripts in sieve_dir; 0 = no limit */
};

/*
 * Parse the file at path. On success returns 0 and *cfg_r (free with config_free).
 * On failure returns -1 and *error_r = "FILE:LINE: what is wrong" (caller frees).
 */
int config_load(const char *path, struct config **cfg_r, char **error_r);
void config_free(struct config **cfg);
/* Is name a key of the configuration file? (buzon import-dovecot-config) */
bool config_key_known(const char *name);

/*
 * Expand mail_location for a user: %u user, %n local part, %d domain, ~ home.
 * Returns the Maildir root path (malloc'd) or NULL with *error_r (static text)
 * if the result would be relative or contains "..".
 */
/* A size: decimal octets with an optional K, M or G suffix (powers of 1024). 0 or -1. */
int config_parse_size(const char *v, uint64_t *r);

char *config_mail_root(const struct config *cfg, const char *user, const char *home,
    const char **error_r);

#endif
