/*
 * quota.c — `buzon quota get|recalc USER`: the administrator's view of a user's
 * Maildir++ quota (docs/formats.md, "Quota (maildirsize)"). Runs as root or the
 * mailbox owner; as root it looks the user up (the limits come from the configuration
 * and the userdb, as in the mail process) and drops to their uid before touching the
 * Maildir, so maildirsize stays owned by the user. Security role: none beyond that
 * drop; the store does the work.
 */
#include <getopt.h>
#include <string.h>

#include "auth/userdb.h"
#include "cli/cli.h"
#include "cli/deliver.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "store/store.h"

static int
usage_quota(void)
{
	fprintf(stderr, "usage: buzon quota get [-c FILE] USER\n"
	    "       buzon quota recalc [-c FILE] USER\n");
	return DELIVER_EX_USAGE;
}

static void
print_limit(const char *what, uint64_t used, uint64_t limit)
{
	if (limit == 0)
		printf("%-9s %llu (no limit)\n", what, (unsigned long long)used);
	else
		printf("%-9s %llu of %llu (%llu%%)\n", what, (unsigned long long)used,
		    (unsigned long long)limit,
		    (unsigned long long)(used > UINT64_MAX / 100 ? used / (limit / 100 + 1) :
		    used * 100 / limit));
}

int
cli_quota(int argc, char **argv)
{
	const char *cfgpath = "/etc/buzon/buzon.conf", *verb, *user, *uerr = "";
	struct config *cfg = NULL;
	struct mstore *store = NULL;
	struct mstore_quota q;
	struct user_info u;
	bool have_user = false;
	char *err = NULL;
	enum store_status st;
	uint64_t qs, qm;
	int c, r, ret = DELIVER_EX_TEMPFAIL;

	if (argc < 2 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "recalc") != 0))
		return usage_quota();
	verb = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			return usage_quota();
		cfgpath = optarg;
	}
	if (argc - optind != 1)
		return usage_quota();
	user = argv[optind];
	log_set_ident("quota");
	if (config_load(cfgpath, &cfg, &err) < 0) {
		fprintf(stderr, "buzon quota: %s\n", err);
		free(err);
		return DELIVER_EX_CONFIG;
	}
	r = userdb_lookup(cfg, user, &u, &uerr);
	if (r <= 0) {
		fprintf(stderr, "buzon quota: %s: %s\n", user, r == 0 ? "no such user" : uerr);
		ret = r == 0 ? DELIVER_EX_NOUSER : DELIVER_EX_TEMPFAIL;
		goto out;
	}
	have_user = true;
	if (priv_is_root())
		priv_drop(u.uid, u.gid, NULL);
	if (mstore_open(u.mail_root, &store, &uerr) < 0) {
		fprintf(stderr, "buzon quota: cannot open the mail store: %s\n", uerr);
		goto out;
	}
	userdb_quota_limits(cfg, &u, &qs, &qm);
	mstore_set_quota(store, qs, qm, cfg->quota_warning);
	st = strcmp(verb, "get") == 0 ? mstore_quota_get(store, &q) :
	    mstore_quota_recalc(store, &q);
	if (st != STORE_OK) {
		fprintf(stderr, "buzon quota: %s: %s\n", u.name, store_status_str(st));
		goto out;
	}
	printf("user      %s\n", u.name);
	print_limit("storage", q.bytes, q.storage_limit);
	print_limit("messages", q.count, q.messages_limit);
	ret = 0;
out:
	if (store != NULL)
		mstore_close(&store);
	if (have_user)
		userdb_info_free(&u);
	if (cfg != NULL)
		config_free(&cfg);
	return ret;
}
