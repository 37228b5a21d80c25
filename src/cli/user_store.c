/*
 * user_store.c — what the administrator's verbs (`buzon index`, `buzon quota`,
 * `buzon import`) do first: load the configuration, look the user up, drop to the
 * mailbox owner's uid when run as root (mail is touched only with it), and open the
 * user's store. Security role: the privilege drop before any Maildir access.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/deliver.h"
#include "lib/priv.h"
#include "mailproc/mail_thread.h"

int
cli_user_store_open(struct cli_user_store *us, const char *prog, const char *cfgpath,
    const char *user)
{
	const char *uerr = "";
	char *err = NULL;
	int r;

	memset(us, 0, sizeof(*us));
	if (config_load(cfgpath, &us->cfg, &err) < 0) {
		fprintf(stderr, "buzon %s: %s\n", prog, err);
		free(err);
		return DELIVER_EX_CONFIG;
	}
	r = userdb_lookup(us->cfg, user, &us->u, &uerr);
	if (r <= 0) {
		fprintf(stderr, "buzon %s: %s: %s\n", prog, user, r == 0 ? "no such user" : uerr);
		return r == 0 ? DELIVER_EX_NOUSER : DELIVER_EX_TEMPFAIL;
	}
	us->have_user = true;
	if (priv_is_root())
		priv_drop(us->u.uid, us->u.gid, NULL);
	if (mstore_open(us->u.mail_root, &us->store, &uerr) < 0) {
		fprintf(stderr, "buzon %s: cannot open the mail store: %s\n", prog, uerr);
		return DELIVER_EX_TEMPFAIL;
	}
	mstore_set_added_cb(us->store, mail_thread_added, us->store);
	return 0;
}

void
cli_user_store_close(struct cli_user_store *us)
{
	if (us->store != NULL)
		mstore_close(&us->store);
	if (us->have_user)
		userdb_info_free(&us->u);
	us->have_user = false;
	if (us->cfg != NULL)
		config_free(&us->cfg);
}
