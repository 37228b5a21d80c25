/*
 * index.c — `buzon index rebuild|check`: the administrator's tools for the persistent
 * per-user index (docs/formats.md, "Index (LMDB)"). Runs as root or the mailbox owner;
 * as root it looks the user up and drops to their uid before touching the Maildir, as
 * `buzon import` does, so the index stays owned by the user. Security role: none beyond
 * that drop; the store does the work.
 */
#include <getopt.h>
#include <string.h>

#include "auth/userdb.h"
#include "cli/cli.h"
#include "cli/deliver.h"
#include "cli/progress.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "store/store.h"

static void
rebuild_progress(void *ctx, size_t i, size_t count, const char *folder)
{
	progress_update(ctx, false, "rebuilding: folder %zu of %zu: %s", i + 1, count, folder);
}

static int
usage_index(void)
{
	fprintf(stderr, "usage: buzon index rebuild [-c FILE] USER [FOLDER]\n"
	    "       buzon index check [-c FILE] USER\n");
	return DELIVER_EX_USAGE;
}

int
cli_index(int argc, char **argv)
{
	const char *cfgpath = "/etc/buzon/buzon.conf", *verb, *user, *folder = NULL;
	struct cli_user_store us;
	struct progress progress;
	enum store_status st;
	int c, ret;
	long diffs;

	if (argc < 2 || (strcmp(argv[1], "rebuild") != 0 && strcmp(argv[1], "check") != 0))
		return usage_index();
	verb = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			return usage_index();
		cfgpath = optarg;
	}
	if (argc - optind < 1 || argc - optind > (strcmp(verb, "rebuild") == 0 ? 2 : 1))
		return usage_index();
	user = argv[optind];
	if (argc - optind == 2)
		folder = argv[optind + 1];
	log_set_ident("index");
	if ((ret = cli_user_store_open(&us, "index", cfgpath, user)) != 0)
		goto out;
	ret = DELIVER_EX_TEMPFAIL;
	if (strcmp(verb, "rebuild") == 0) {
		progress_init(&progress);
		st = mstore_index_rebuild_cb(us.store, folder, rebuild_progress, &progress);
		progress_done(&progress);
		if (st != STORE_OK) {
			fprintf(stderr, "buzon index: rebuild of %s failed: %s\n",
			    folder != NULL ? folder : "all folders", store_status_str(st));
			ret = st == STORE_NONEXISTENT || st == STORE_BADNAME ||
			    st == STORE_NOSELECT ? DELIVER_EX_USAGE : DELIVER_EX_TEMPFAIL;
			goto out;
		}
		printf("index of %s rebuilt (%s)\n", us.u.name,
		    folder != NULL ? folder : "all folders");
		ret = 0;
	} else {
		diffs = mstore_index_check(us.store, stdout);
		if (diffs < 0) {
			fprintf(stderr, "buzon index: the index is unusable\n");
			goto out;
		}
		printf("%ld difference%s\n", diffs, diffs == 1 ? "" : "s");
		ret = diffs == 0 ? 0 : 1;
	}
out:
	cli_user_store_close(&us);
	return ret;
}
