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
	const char *cfgpath = "/etc/buzon/buzon.conf", *verb, *user;
	struct cli_user_store us;
	struct mstore_quota q;
	enum store_status st;
	uint64_t qs, qm;
	int c, ret;

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
	if ((ret = cli_user_store_open(&us, "quota", cfgpath, user)) != 0)
		goto out;
	ret = DELIVER_EX_TEMPFAIL;
	userdb_quota_limits(us.cfg, &us.u, &qs, &qm);
	mstore_set_quota(us.store, qs, qm, us.cfg->quota_warning);
	st = strcmp(verb, "get") == 0 ? mstore_quota_get(us.store, &q) :
	    mstore_quota_recalc(us.store, &q);
	if (st != STORE_OK) {
		fprintf(stderr, "buzon quota: %s: %s\n", us.u.name, store_status_str(st));
		goto out;
	}
	printf("user      %s\n", us.u.name);
	print_limit("storage", q.bytes, q.storage_limit);
	print_limit("messages", q.count, q.messages_limit);
	ret = 0;
out:
	cli_user_store_close(&us);
	return ret;
}
