/*
 * test_sieve_store.c — the Sieve script store (src/mailproc/sieve_store.c) in a temporary
 * directory: names, ids kept across renames and a damaged id map, the link and the
 * JMAP vacation wrapper (activate, deactivate, rename and delete while it runs, names
 * that need quoting), scripts written by hand, the quota limits and the compile check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/util.h"
#include "mailproc/sieve_store.h"

struct fx {
	char root[64];
	char *dir, *link;
	struct config cfg;
	struct sieve_store *st;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/buzon-sstore.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->dir = xasprintf("%s/sieve", f->root);
	f->link = xasprintf("%s/.dovecot.sieve", f->root);
	f->cfg.sieve = true;
	f->cfg.sieve_dir = f->dir;
	f->cfg.sieve_script = f->link;
	f->cfg.managesieve_max_script_size = 1000;
	f->cfg.managesieve_max_scripts = 4;
	f->st = sieve_store_open(&f->cfg, NULL, true);
	assert_non_null(f->st);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->root);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	sieve_store_close(&f->st);
	assert_null(f->st);
	free(f->dir);
	free(f->link);
	free(f);
	return 0;
}

static void
put(struct fx *f, const char *name, const char *text)
{
	const char *what = "";

	assert_int_equal(sieve_store_put(f->st, name, text, strlen(text), &what),
	    SIEVE_STORE_OK);
}

static char *
slurp(const char *path)
{
	char *data = xmalloc(65536);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, data, 65535);
	assert_true(n >= 0);
	data[n] = '\0';
	close(fd);
	return data;
}

static void
spit(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static char *
link_of(struct fx *f)
{
	static char buf[512];
	ssize_t n = readlink(f->link, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static void
test_names(void **state)
{
	char big[200];

	(void)state;
	assert_true(sieve_store_name_ok("filter", 6));
	assert_true(sieve_store_name_ok("caf\xc3\xa9 \"x\\y\"", 11));
	assert_false(sieve_store_name_ok("", 0));
	assert_false(sieve_store_name_ok("a/b", 3));
	assert_false(sieve_store_name_ok("a\nb", 3));
	assert_false(sieve_store_name_ok("a\0b", 3));
	assert_false(sieve_store_name_ok("\xff", 1));
	assert_false(sieve_store_name_ok(SIEVE_STORE_WRAP, strlen(SIEVE_STORE_WRAP)));
	assert_true(sieve_store_name_ok(SIEVE_STORE_VACATION, strlen(SIEVE_STORE_VACATION)));
	memset(big, 'n', sizeof(big));
	assert_true(sieve_store_name_ok(big, SIEVE_STORE_NAME_MAX));
	assert_false(sieve_store_name_ok(big, SIEVE_STORE_NAME_MAX + 1));
}

static void
test_ids(void **state)
{
	struct fx *f = *state;
	struct sieve_store_list l;
	const char *what = "";
	char ida[SIEVE_STORE_ID_LEN + 1], idb[SIEVE_STORE_ID_LEN + 1];
	char *ids, *p;

	put(f, "b", "keep;\n");
	put(f, "a", "keep;\n");
	p = xasprintf("%s/ignored.txt", f->dir);
	spit(p, "x");	/* not a script */
	free(p);
	assert_int_equal(sieve_store_list(f->st, &l, &what), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].name, "a");
	assert_string_equal(l.v[1].name, "b");
	assert_int_equal(l.v[0].size, 6);
	assert_int_equal(strlen(l.v[0].id), SIEVE_STORE_ID_LEN);
	assert_int_equal(l.v[0].id[0], 'S');
	assert_string_not_equal(l.v[0].id, l.v[1].id);
	memcpy(ida, l.v[0].id, sizeof(ida));
	memcpy(idb, l.v[1].id, sizeof(idb));
	sieve_store_list_free(&l);

	/* the same ids next time, and after a rename */
	assert_int_equal(sieve_store_rename(f->st, "a", "c", &what), SIEVE_STORE_OK);
	assert_int_equal(sieve_store_list(f->st, &l, &what), 0);
	assert_non_null(sieve_store_find(&l, "c"));
	assert_null(sieve_store_find(&l, "a"));
	assert_string_equal(sieve_store_find(&l, "c")->id, ida);
	assert_string_equal(sieve_store_find(&l, "b")->id, idb);
	assert_ptr_equal(sieve_store_find_id(&l, idb), sieve_store_find(&l, "b"));
	sieve_store_list_free(&l);

	/* a deleted name that comes back is a new script */
	assert_int_equal(sieve_store_delete(f->st, "b", &what), SIEVE_STORE_OK);
	put(f, "b", "keep;\n");
	assert_int_equal(sieve_store_list(f->st, &l, &what), 0);
	assert_string_not_equal(sieve_store_find(&l, "b")->id, idb);
	memcpy(idb, sieve_store_find(&l, "b")->id, sizeof(idb));
	sieve_store_list_free(&l);

	/* a damaged map: the good lines are kept, the rest get new ids */
	p = xasprintf("%s/.buzon-sieve-ids", f->dir);
	ids = xasprintf("garbage\nSzzzzzzzzzzzzzzzz b\n%s c\n%s a/b\n%sx c\nS0123 b\n%s b",
	    ida, idb, ida, idb);
	spit(p, ids);
	free(ids);
	assert_int_equal(sieve_store_list(f->st, &l, &what), 0);
	assert_string_equal(sieve_store_find(&l, "c")->id, ida);
	assert_string_not_equal(sieve_store_find(&l, "b")->id, idb);	/* torn last line */
	sieve_store_list_free(&l);
	ids = slurp(p);
	assert_null(strstr(ids, "garbage"));
	assert_non_null(strstr(ids, ida));
	free(ids);
	free(p);
}

static void
test_link_and_wrapper(void **state)
{
	struct fx *f = *state;
	const char *what = "";
	char *name, *wrap, *text;

	put(f, "one", "keep;\n");
	put(f, "tw\"o\\", "keep;\n");
	put(f, SIEVE_STORE_VACATION, "keep;\n");
	assert_int_equal(sieve_store_active(f->st, &name), 0);
	assert_int_equal(sieve_store_activate(f->st, "none", &what), SIEVE_STORE_NONEXISTENT);
	assert_int_equal(sieve_store_activate(f->st, SIEVE_STORE_VACATION, &what),
	    SIEVE_STORE_RESERVED);
	assert_int_equal(sieve_store_activate(f->st, "one", &what), SIEVE_STORE_OK);
	assert_string_equal(link_of(f), "sieve/one.sieve");
	assert_int_equal(sieve_store_active(f->st, &name), 1);
	assert_string_equal(name, "one");
	free(name);
	assert_int_equal(sieve_store_delete(f->st, "one", &what), SIEVE_STORE_ACTIVE);
	assert_false(sieve_store_wrapped(f->st));

	/* the vacation wrapper: the link's target, the user's script still "active" */
	assert_int_equal(sieve_store_wrap(f->st, &what), SIEVE_STORE_OK);
	assert_true(sieve_store_wrapped(f->st));
	assert_string_equal(link_of(f), "sieve/" SIEVE_STORE_WRAP ".sieve");
	wrap = xasprintf("%s/" SIEVE_STORE_WRAP ".sieve", f->dir);
	text = slurp(wrap);
	assert_non_null(strstr(text, "include :personal \"jmap-vacation\";\n"
	    "include :personal \"one\";\n"));
	free(text);
	assert_int_equal(sieve_store_active(f->st, &name), 1);
	assert_string_equal(name, "one");
	free(name);
	assert_int_equal(sieve_store_wrap(f->st, &what), SIEVE_STORE_OK);	/* idempotent */

	/* activating another rewrites it; a name that needs quoting comes back whole */
	assert_int_equal(sieve_store_activate(f->st, "tw\"o\\", &what), SIEVE_STORE_OK);
	assert_true(sieve_store_wrapped(f->st));
	text = slurp(wrap);
	assert_non_null(strstr(text, "include :personal \"tw\\\"o\\\\\";\n"));
	free(text);
	assert_int_equal(sieve_store_active(f->st, &name), 1);
	assert_string_equal(name, "tw\"o\\");
	free(name);
	assert_int_equal(sieve_store_delete(f->st, "one", &what), SIEVE_STORE_OK);

	/* the active one renamed: the wrapper follows; jmap-vacation stays where it is */
	assert_int_equal(sieve_store_rename(f->st, "tw\"o\\", "two", &what), SIEVE_STORE_OK);
	assert_int_equal(sieve_store_active(f->st, &name), 1);
	assert_string_equal(name, "two");
	free(name);
	assert_int_equal(sieve_store_rename(f->st, SIEVE_STORE_VACATION, "v", &what),
	    SIEVE_STORE_RESERVED);
	assert_int_equal(sieve_store_rename(f->st, "two", SIEVE_STORE_VACATION, &what),
	    SIEVE_STORE_RESERVED);
	assert_int_equal(sieve_store_delete(f->st, SIEVE_STORE_VACATION, &what),
	    SIEVE_STORE_ACTIVE);

	/* none active: the wrapper runs the vacation alone */
	assert_int_equal(sieve_store_activate(f->st, NULL, &what), SIEVE_STORE_OK);
	assert_true(sieve_store_wrapped(f->st));
	assert_int_equal(sieve_store_active(f->st, &name), 0);
	text = slurp(wrap);
	assert_non_null(strstr(text, "include :personal \"jmap-vacation\";\n"));
	assert_null(strstr(text, "two"));
	free(text);
	free(wrap);
}

static void
test_foreign(void **state)
{
	struct fx *f = *state;
	const char *what = "";
	char *name;

	put(f, "one", "keep;\n");
	spit(f->link, "discard;\n");	/* written by hand: not ours */
	assert_int_equal(sieve_store_active(f->st, &name), -1);
	assert_int_equal(sieve_store_activate(f->st, "one", &what), SIEVE_STORE_FOREIGN);
	assert_int_equal(sieve_store_wrap(f->st, &what), SIEVE_STORE_FOREIGN);
	unlink(f->link);
	/* a link out of sieve_dir is not wrapped either */
	name = xasprintf("%s/elsewhere.sieve", f->root);
	spit(name, "keep;\n");
	free(name);
	assert_int_equal(symlink("elsewhere.sieve", f->link), 0);
	assert_int_equal(sieve_store_active(f->st, &name), 0);
	assert_int_equal(sieve_store_wrap(f->st, &what), SIEVE_STORE_FOREIGN);
	/* a dangling link is as good as none */
	unlink(f->link);
	assert_int_equal(symlink("sieve/gone.sieve", f->link), 0);
	assert_int_equal(sieve_store_active(f->st, &name), 0);
	assert_int_equal(sieve_store_wrap(f->st, &what), SIEVE_STORE_OK);
}

static void
test_quota_and_check(void **state)
{
	struct fx *f = *state;
	char *msg;

	assert_int_equal(sieve_store_quota(f->st, "a", 1000), SIEVE_STORE_OK);
	assert_int_equal(sieve_store_quota(f->st, "a", 1001), SIEVE_STORE_TOOLARGE);
	put(f, "a", "keep;\n");
	put(f, "b", "keep;\n");
	put(f, "c", "keep;\n");
	put(f, "d", "keep;\n");
	assert_int_equal(sieve_store_quota(f->st, "e", 10), SIEVE_STORE_TOOMANY);
	assert_int_equal(sieve_store_quota(f->st, "d", 10), SIEVE_STORE_OK);	/* replaced */

	assert_true(sieve_store_check(f->st, "keep;\n", 6, "\n", &msg));
	assert_null(msg);
	assert_false(sieve_store_check(f->st, "keep;\nfileinto \"x\";\n", 20, "\n", &msg));
	assert_non_null(msg);
	assert_true(strncmp(msg, "2:", 2) == 0);
	free(msg);
	/* the empty script compiles */
	assert_true(sieve_store_check(f->st, NULL, 0, "\n", &msg));
	free(msg);
}

static void
test_open(void **state)
{
	struct config cfg;
	struct sieve_store *st;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.sieve = true;
	cfg.sieve_dir = (char *)"~/sieve";
	cfg.sieve_script = (char *)"~/.dovecot.sieve";
	assert_null(sieve_store_open(&cfg, NULL, false));	/* no home */
	assert_null(sieve_store_open(&cfg, "", false));
	st = sieve_store_open(&cfg, "/home/u", true);
	assert_non_null(st);
	assert_string_equal(st->dir, "/home/u/sieve");
	assert_string_equal(st->active, "/home/u/.dovecot.sieve");
	assert_int_equal(st->max_size, SIEVE_STORE_HARD_MAX);
	sieve_store_close(&st);
	cfg.sieve_script = (char *)"";
	assert_null(sieve_store_open(&cfg, "/home/u", true));	/* JMAP needs the link */
	st = sieve_store_open(&cfg, "/home/u", false);	/* ManageSieve lists all the same */
	assert_non_null(st);
	assert_null(st->active);
	sieve_store_close(&st);
	cfg.sieve_script = (char *)"~/.dovecot.sieve";
	cfg.sieve = false;
	assert_null(sieve_store_open(&cfg, "/home/u", true));
	cfg.sieve_dir = (char *)"relative";
	assert_null(sieve_store_open(&cfg, "/home/u", false));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_open),
		cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_and_wrapper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_and_check, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
