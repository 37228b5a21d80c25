/*
 * cli.c — parses the command line and runs a subcommand or a child role. Runs as
 * whoever invoked buzon; `serve` becomes the master process, `--role` is how the
 * master starts its children (login, auth, mail) from a fresh exec.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include "auth/auth.h"
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
	    "       buzon check -c FILE             check the configuration and certificates\n"
	    "       buzon reload -c FILE            re-read configuration and certificates\n"
	    "       buzon stop -c FILE              stop a running server\n"
	    "       buzon imap -c FILE -u USER      one PREAUTH IMAP session on stdin/stdout\n"
	    "       buzon deliver [-c FILE] [-d USER] [-f SENDER] [-m FOLDER]   message on stdin\n"
	    "       buzon import mbox [-c FILE] MBOXFILE USER [FOLDER]\n"
	    "       buzon index rebuild [-c FILE] USER [FOLDER]   rebuild the index from Maildir\n"
	    "       buzon index check [-c FILE] USER    compare the index with Maildir\n"
	    "       buzon quota get|recalc [-c FILE] USER   show (or count again) a user's quota\n"
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

static int
cmd_check(const char *path)
{
	struct config *cfg;
	char *err = NULL;
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
	printf("mail_location %s\n", cfg->mail_location);
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
	if (strcmp(argv[1], "index") == 0)
		return cli_index(argc - 1, argv + 1);
	if (strcmp(argv[1], "quota") == 0)
		return cli_quota(argc - 1, argv + 1);
	if (strcmp(argv[1], "sieve") == 0)
		return cli_sieve(argc - 1, argv + 1);
	if (strcmp(argv[1], "import-dovecot-config") == 0)
		return cli_import_dovecot(argc - 1, argv + 1);
	if (strcmp(argv[1], "imap") == 0) {
		if (opts(argc - 1, argv + 1, &cfg, &user) < 0 || user == NULL)
			return usage();
		return imap_preauth_main(cfg, user);
	}
	if (opts(argc - 1, argv + 1, &cfg, NULL) < 0)
		return usage();
	if (strcmp(argv[1], "serve") == 0)
		return master_main(cfg);
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(cfg);
	if (strcmp(argv[1], "reload") == 0)
		return cmd_signal(cfg, SIGHUP);
	if (strcmp(argv[1], "stop") == 0)
		return cmd_signal(cfg, SIGTERM);
	return usage();
}
