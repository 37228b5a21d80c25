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
#include "lib/config.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "store/store.h"

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
	const char *uerr = "";
	struct config *cfg = NULL;
	struct mstore *store = NULL;
	struct user_info u;
	bool have_user = false;
	char *err = NULL;
	enum store_status st;
	int c, r, ret = DELIVER_EX_TEMPFAIL;
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
	if (config_load(cfgpath, &cfg, &err) < 0) {
		fprintf(stderr, "buzon index: %s\n", err);
		free(err);
		return DELIVER_EX_CONFIG;
	}
	r = userdb_lookup(cfg, user, &u, &uerr);
	if (r <= 0) {
		fprintf(stderr, "buzon index: %s: %s\n", user, r == 0 ? "no such user" : uerr);
		ret = r == 0 ? DELIVER_EX_NOUSER : DELIVER_EX_TEMPFAIL;
		goto out;
	}
	have_user = true;
	if (priv_is_root())
		priv_drop(u.uid, u.gid, NULL);
	if (mstore_open(u.mail_root, &store, &uerr) < 0) {
		fprintf(stderr, "buzon index: cannot open the mail store: %s\n", uerr);
		goto out;
	}
	if (strcmp(verb, "rebuild") == 0) {
		st = mstore_index_rebuild(store, folder);
		if (st != STORE_OK) {
			fprintf(stderr, "buzon index: rebuild of %s failed: %s\n",
			    folder != NULL ? folder : "all folders", store_status_str(st));
			ret = st == STORE_NONEXISTENT || st == STORE_BADNAME ||
			    st == STORE_NOSELECT ? DELIVER_EX_USAGE : DELIVER_EX_TEMPFAIL;
			goto out;
		}
		printf("index of %s rebuilt (%s)\n", u.name,
		    folder != NULL ? folder : "all folders");
		ret = 0;
	} else {
		diffs = mstore_index_check(store, stdout);
		if (diffs < 0) {
			fprintf(stderr, "buzon index: the index is unusable\n");
			goto out;
		}
		printf("%ld difference%s\n", diffs, diffs == 1 ? "" : "s");
		ret = diffs == 0 ? 0 : 1;
	}
out:
	if (store != NULL)
		mstore_close(&store);
	if (have_user)
		userdb_info_free(&u);
	if (cfg != NULL)
		config_free(&cfg);
	return ret;
}
