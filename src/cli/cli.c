/*
 * cli.c — parses the command line and runs a subcommand or a child role. Runs as
 * whoever invoked buzon; `serve` becomes the master process, `--role` is how the
 * master starts its children (login, auth, mail) from a fresh exec.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/oauth.h"
#include "cli/cli.h"
#include "cli/deliver.h"
#include "imap/imap_client.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lmtp/lmtp.h"
#include "login/login.h"
#include "mailproc/mailproc.h"
#include "master/master.h"

#define BUZON_VERSION "0.1.0"

static int
usage(void)
{
	fprintf(stderr,
	    "usage: buzon serve -c FILE             run the server in the foreground\n"
	    "       buzon user add|passwd|del|list -c FILE [NAME]\n"
	    "       buzon check -c FILE [-d DOMAIN] [-H HOST]   check the configuration and\n"
	    "                                       certificates; print the domain's DNS records\n"
	    "       buzon reload -c FILE            re-read configuration and certificates\n"
	    "       buzon stop -c FILE              stop a running server\n"
	    "       buzon imap -c FILE -u USER      one PREAUTH IMAP session on stdin/stdout\n"
	    "       buzon deliver [-c FILE] [-d USER] [-f SENDER] [-m FOLDER]   message on stdin\n"
	    "       buzon import mbox [-c FILE] MBOXFILE USER [FOLDER]\n"
	    "       buzon index rebuild [-c FILE] USER [FOLDER]   rebuild the index from Maildir\n"
	    "       buzon index check [-c FILE] USER    compare the index with Maildir\n"
	    "       buzon quota get|recalc [-c FILE] USER   show (or count again) a user's quota\n"
	    "       buzon who [-c FILE]                 sessions of the running server\n"
	    "       buzon kick [-c FILE] USER [ADDRESS]   end a user's sessions\n"
	    "       buzon mailbox status [-c FILE] USER [FOLDER]   a folder's counts\n"
	    "       buzon ban list|remove [-c FILE] [ADDRESS]   the auth failure bans\n"
	    "       buzon sieve check FILE...           check Sieve scripts (RFC 5228)\n"
	    "       buzon sieve test [-u USER] [-f FROM] [-a TO] [-d DIR] FILE MESSAGE   actions\n"
	    "       buzon import-dovecot-config [DIR|FILE|-]   print a buzon.conf for a Dovecot configuration\n"
	    "       buzon version\n");
	return 64;
}

/* Parse "-c FILE" (and "-u USER" when user_r != NULL) from argv[1..]. */
static int
opts(int argc, char **argv, const char **cfg_r, const char **user_r)
{
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "c:u:")) != -1) {
		if (c == 'c')
			*cfg_r = optarg;
		else if (c == 'u' && user_r != NULL)
			*user_r = optarg;
		else
			return -1;
	}
	return *cfg_r == NULL || optind != argc ? -1 : 0;
}

/* The first certificate's first DNS name that is not a wildcard, else its CN, or NULL. */
static char *
cert_host(const char *names)
{
	const char *p, *e;

	for (p = strstr(names, " DNS:"); p != NULL; p = strstr(p + 1, " DNS:")) {
		p += 5;
		e = p + strcspn(p, " ");
		if (*p != '*' && e > p)
			return xstrndup(p, (size_t)(e - p));
	}
	if (strncmp(names, "CN=", 3) == 0 && names[3] != '\0' && names[3] != '*') {
		p = names + 3;
		return xstrndup(p, strcspn(p, " "));
	}
	return NULL;
}

static void
srv_record(const char *service, const char *domain, unsigned prio, unsigned port,
    const char *host)
{
	char owner[300];

	(void)snprintf(owner, sizeof(owner), "_%s._tcp.%s.", service, domain);
	/* RFC 2782: target "." says the service is decidedly not available here */
	if (port == 0)
		printf("%-32s IN SRV 0 0 0 .\n", owner);
	else
		printf("%-32s IN SRV %u 1 %u %s.\n", owner, prio, port, host);
}

/*
 * The DNS records that let clients find the server from an address alone (RFC 6186;
 * implicit TLS preferred, RFC 8314 §5.1; ManageSieve, RFC 5804 §1.8), for a zone file.
 */
static void
print_dns(const struct config *cfg, const char *domain, const char *host)
{
	printf("\n; DNS records for %s (RFC 6186), server %s (others: -d DOMAIN -H HOST)\n",
	    domain, host);
	srv_record("imaps", domain, 0, cfg->imaps_port, host);
	srv_record("imap", domain, 10, cfg->imap_port, host);
	srv_record("pop3s", domain, 20, cfg->pop3s_port, host);
	srv_record("pop3", domain, 30, cfg->pop3_port, host);
	if (cfg->managesieve_port != 0)
		srv_record("sieve", domain, 0, cfg->managesieve_port, host);
	if (cfg->autoconfig_host != NULL && cfg->jmap_port != 0) {
		const char *ac = cfg->autoconfig_host;

		/* docs/autoconfig.md: the names clients ask, served on jmap_port */
		printf("; automatic set-up (docs/autoconfig.md), served on jmap_port %u%s:\n",
		    cfg->jmap_port, cfg->jmap_port == 443 || cfg->jmap_port == 80 ? "" :
		    " (clients ask port 443 or 80: forward it)");
		for (int i = 0; i < 2; i++) {
			char owner[300];

			(void)snprintf(owner, sizeof(owner), "%s.%s.",
			    i == 0 ? "autoconfig" : "autodiscover", domain);
			printf("%-32s IN CNAME %s.\n", owner, ac);
		}
		printf("_autodiscover._tcp.%s. IN SRV 0 1 %u %s.\n", domain, cfg->jmap_port, ac);
	}
	printf("; and for Postfix's submission services (RFC 6186, RFC 8314 §5.1):\n"
	    ";_submissions._tcp.%s. IN SRV 0 1 465 %s.\n"
	    ";_submission._tcp.%s.  IN SRV 10 1 587 %s.\n", domain, host, domain, host);
}

static int
cmd_check(const char *path, const char *domain, const char *host_opt)
{
	struct config *cfg;
	char *err = NULL, *host = NULL;
	int ret = 0;

	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "buzon: %s\n", err);
		free(err);
		return 78;
	}
	printf("config %s: ok\n", path);
	printf("listen:");
	for (unsigned i = 0; i < cfg->listen_count; i++)
		printf(" %s", cfg->listen[i]);
	printf("\nimap_port=%u imaps_port=%u pop3_port=%u pop3s_port=%u\n", cfg->imap_port,
	    cfg->imaps_port, cfg->pop3_port, cfg->pop3s_port);
	if (cfg->managesieve_port != 0)
		printf("managesieve_port=%u\n", cfg->managesieve_port);
	if (cfg->jmap_port != 0) {
		printf("jmap_port=%u jmap_tls=%s\n", cfg->jmap_port, cfg->jmap_tls ? "yes" : "no");
		if (cfg->jmap_tls && cfg->ssl_count == 0) {
			printf("jmap: ERROR jmap_tls = yes needs ssl_cert/ssl_key\n");
			ret = 1;
		}
	}
	for (unsigned i = 0; i < cfg->ssl_count; i++) {
		char *names = NULL;
		long long left;

		if (tls_cert_info(cfg->ssl[i].cert, &names, &left, &err) < 0) {
			printf("certificate %s: ERROR %s\n", cfg->ssl[i].cert, err);
			free(err);
			ret = 1;
			continue;
		}
		printf("certificate %s: %s; %s %lld days\n", cfg->ssl[i].cert, names,
		    left < 0 ? "EXPIRED" : "expires in", (left < 0 ? -left : left) / 86400);
		if (left < 0)
			ret = 1;
		if (host == NULL)
			host = cert_host(names);
		free(names);
	}
	if (cfg->ssl_count > 0) {
		struct tls_server *ts = tls_server_create(cfg, "imap", &err);

		if (ts == NULL) {
			printf("tls: ERROR %s\n", err);
			free(err);
			ret = 1;
		} else {
			printf("tls: certificates and keys load\n");
			tls_server_destroy(&ts);
		}
	}
	if (cfg->passwd_file != NULL && access(cfg->passwd_file, R_OK) < 0)
		printf("passwd_file %s: %s\n", cfg->passwd_file, strerror(errno));
	if (cfg->oauth_jwks_file != NULL) {
		struct jwks *keys;

		if (oauth_jwks_load(cfg->oauth_jwks_file, &keys, &err) < 0) {
			printf("oauth_jwks_file: ERROR %s\n", err);
			free(err);
			ret = 1;
		} else {
			printf("oauth_jwks_file %s: %zu keys; issuer %s%s\n", cfg->oauth_jwks_file,
			    jwks_count(keys), cfg->oauth_issuer, cfg->oauth_audience == NULL ?
			    "; WARNING no oauth_audience: tokens for any audience pass" : "");
			jwks_free(&keys);
		}
	}
	printf("mail_location %s\n", cfg->mail_location);
	if (host_opt != NULL) {
		free(host);
		host = xstrdup(host_opt);
	}
	if (domain == NULL && host != NULL && strchr(host, '.') != NULL &&
	    strchr(strchr(host, '.') + 1, '.') != NULL)
		domain = strchr(host, '.') + 1;		/* mail.example.org: example.org */
	if (domain != NULL && host == NULL) {
		printf("dns: no server name (no certificate names one): give it with -H HOST\n");
		ret = 1;
	} else if (domain != NULL && (!dns_name_valid(domain) || !dns_name_valid(host))) {
		printf("dns: not a DNS name: %s\n", dns_name_valid(domain) ? host : domain);
		ret = 1;
	} else if (domain != NULL) {
		print_dns(cfg, domain, host);
	}
	free(host);
	config_free(&cfg);
	return ret;
}

static int
cmd_signal(const char *path, int sig)
{
	struct config *cfg;
	char *err = NULL, *pidpath, buf[32];
	FILE *f;
	uint32_t pid;
	size_t n;

	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "buzon: %s\n", err);
		free(err);
		return 78;
	}
	pidpath = master_pid_path(cfg->base_dir);
	config_free(&cfg);
	if ((f = fopen(pidpath, "re")) == NULL) {
		fprintf(stderr, "buzon: %s: %s (is buzon running?)\n", pidpath, strerror(errno));
		free(pidpath);
		return 69;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (parse_u32(buf, n, &pid) < 0 || pid <= 1 || kill((pid_t)pid, sig) < 0) {
		fprintf(stderr, "buzon: cannot signal the server listed in %s\n", pidpath);
		free(pidpath);
		return 69;
	}
	free(pidpath);
	return 0;
}

int
cli_main(int argc, char **argv)
{
	const char *cfg = NULL, *user = NULL;
	int ret;

	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "--role") == 0 && argc >= 3) {
		if (strcmp(argv[2], "login") == 0)
			return login_main(argc - 3, argv + 3);
		if (strcmp(argv[2], "auth") == 0)
			return auth_main(argc - 3, argv + 3);
		if (strcmp(argv[2], "mail") == 0)
			return mailproc_main(argc - 3, argv + 3);
		if (strcmp(argv[2], "lmtp") == 0)
			return lmtp_main(argc - 3, argv + 3);
		return usage();
	}
	if (strcmp(argv[1], "version") == 0) {
		printf("buzon %s\n", BUZON_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "user") == 0)
		return cli_user(argc - 1, argv + 1);
	if (strcmp(argv[1], "deliver") == 0)
		return cli_deliver(argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return cli_import(argc - 1, argv + 1);
	if (strcmp(argv[1], "index") == 0) {
		/* a running server rebuilds through its mail process (its state stays right) */
		if (argc >= 3 && strcmp(argv[2], "rebuild") == 0 &&
		    (ret = cli_control(argc - 1, argv + 1, 2, true)) != CLI_CONTROL_OFFLINE)
			return ret;
		return cli_index(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "quota") == 0) {
		if (argc >= 3 && (strcmp(argv[2], "get") == 0 || strcmp(argv[2], "recalc") == 0) &&
		    (ret = cli_control(argc - 1, argv + 1, 2, true)) != CLI_CONTROL_OFFLINE)
			return ret;
		return cli_quota(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "who") == 0 || strcmp(argv[1], "kick") == 0)
		return cli_control(argc - 1, argv + 1, 1, false);
	if (strcmp(argv[1], "mailbox") == 0 || strcmp(argv[1], "ban") == 0)
		return cli_control(argc - 1, argv + 1, 2, false);
	if (strcmp(argv[1], "sieve") == 0)
		return cli_sieve(argc - 1, argv + 1);
	if (strcmp(argv[1], "import-dovecot-config") == 0)
		return cli_import_dovecot(argc - 1, argv + 1);
	if (strcmp(argv[1], "imap") == 0) {
		if (opts(argc - 1, argv + 1, &cfg, &user) < 0 || user == NULL)
			return usage();
		return imap_preauth_main(cfg, user);
	}
	if (strcmp(argv[1], "check") == 0) {
		const char *domain = NULL, *host = NULL;
		int c;

		optind = 1;
		while ((c = getopt(argc - 1, argv + 1, "c:d:H:")) != -1) {
			if (c == 'c')
				cfg = optarg;
			else if (c == 'd')
				domain = optarg;
			else if (c == 'H')
				host = optarg;
			else
				return usage();
		}
		if (cfg == NULL || optind != argc - 1)
			return usage();
		return cmd_check(cfg, domain, host);
	}
	if (opts(argc - 1, argv + 1, &cfg, NULL) < 0)
		return usage();
	if (strcmp(argv[1], "serve") == 0)
		return master_main(cfg);
	if (strcmp(argv[1], "reload") == 0)
		return cmd_signal(cfg, SIGHUP);
	if (strcmp(argv[1], "stop") == 0)
		return cmd_signal(cfg, SIGTERM);
	return usage();
}
