/*
 * cli.h — subcommand dispatch of the buzon binary.
 */
#ifndef BUZON_CLI_H
#define BUZON_CLI_H

#include <stdbool.h>

#include "auth/userdb.h"
#include "lib/config.h"
#include "store/store.h"

int cli_main(int argc, char **argv);
/* `buzon user ...` (argv[0] == "user"). */
int cli_user(int argc, char **argv);
/* `buzon index rebuild|check ...` (argv[0] == "index"): exit 0 ok, 1 differences
 * (check), 64 usage, 67 no such user, 75 temporary failure. */
int cli_index(int argc, char **argv);
/* `buzon quota get|recalc [-c FILE] USER` (argv[0] == "quota"): the user's limits and
 * usage (recalc: counted from the folders and maildirsize rewritten). Exit 0, or the
 * sysexits of `buzon deliver` (67 no such user, 64 usage, 75 temporary). */
int cli_quota(int argc, char **argv);

/*
 * `buzon who|kick|mailbox status|ban ...` and, while a server runs, `quota get|recalc`
 * and `index rebuild` (control.c): argv[0..nverb) are the verb's words; the request goes
 * to the server's control socket and its answer is printed. Exit 0, 64 usage, 67 no such
 * user, 69 no server, 75 temporary, 77 not allowed, 1 other errors. With fallback, the
 * return is CLI_CONTROL_OFFLINE when no server listens (or the arguments are not the
 * server's): the caller does the work itself.
 */
#define CLI_CONTROL_OFFLINE	(-1)
int cli_control(int argc, char **argv, int nverb, bool fallback);

/* `buzon sieve check FILE...` (argv[0] == "sieve"): exit 0 all valid, 1 errors
 * (on stderr, "FILE: line L:C: error: ..."; warnings alike), 2 usage. */
int cli_sieve(int argc, char **argv);
/* buzon import-dovecot-config [DIR|FILE|-] (import_dovecot.c) */
int cli_import_dovecot(int argc, char **argv);

/* A user's store opened for an administrator's verb (user_store.c). */
struct cli_user_store {
	struct config *cfg;
	struct user_info u;
	bool have_user;
	struct mstore *store;
};

/* Load cfgpath, look user up, drop to their uid when root, open their store. Returns
 * 0, or the exit status after "buzon PROG: ..." on stderr; call cli_user_store_close
 * either way. */
int cli_user_store_open(struct cli_user_store *us, const char *prog, const char *cfgpath,
    const char *user);
void cli_user_store_close(struct cli_user_store *us);

#endif
