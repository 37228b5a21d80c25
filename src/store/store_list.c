/*
 * store_list.c — LIST's view of the user's store (every folder with its attributes:
 * \\Noselect levels, children, subscribed, special use) and the subscriptions file
 * (Dovecot's version 2; version 1 is read too), with the special-use folders created and
 * subscribed at the first login. Runs in the per-user mail process. Security role:
 * directory entries whose names are not valid mailbox names, symlinks and non-directories
 * are skipped; the subscriptions file, which the user can write, is read with a 16 MiB
 * limit and parsed by subs_parse, which ignores invalid lines; it is replaced atomically.
 */
#include "store/store_private.h"
#include "store/metadata.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

static const char *const special_names[] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };
static const unsigned int special_attrs[] = {
	MSTORE_ATTR_SENT, MSTORE_ATTR_DRAFTS, MSTORE_ATTR_TRASH, MSTORE_ATTR_JUNK,
	MSTORE_ATTR_ARCHIVE
};

static const char *const special_attr_names[] = {
	"\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"
};

/* ------------------------------------------------------------------ special use */

int
mstore_special_use_parse(const char *s, size_t len, unsigned int *attrs_r)
{
	unsigned int attrs = 0;
	size_t i = 0, start, j;

	while (i < len) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		for (start = i; i < len && s[i] != ' '; i++)
			;
		for (j = 0; j < N_ELEMENTS(special_attr_names); j++)
			if (mem_ieq(s + start, i - start, special_attr_names[j]))
				break;
		if (j == N_ELEMENTS(special_attr_names))
			return -1;
		attrs |= special_attrs[j];
	}
	*attrs_r = attrs;
	return 0;
}

void
mstore_special_use_format(unsigned int attrs, char out[MSTORE_SPECIAL_USE_TEXT_MAX])
{
	size_t j, n = 0;

	out[0] = '\0';
	for (j = 0; j < N_ELEMENTS(special_attr_names); j++) {
		if ((attrs & special_attrs[j]) == 0)
			continue;
		/* all five with their spaces fit (MSTORE_SPECIAL_USE_TEXT_MAX) */
		n += (size_t)snprintf(out + n, MSTORE_SPECIAL_USE_TEXT_MAX - n, "%s%s",
		    n > 0 ? " " : "", special_attr_names[j]);
	}
}

unsigned int
mstore_special_use_by_name(const char *name)
{
	size_t j;

	for (j = 0; j < N_ELEMENTS(special_names); j++)
		if (strcmp(name, special_names[j]) == 0)
			return special_attrs[j];
	return 0;
}

/* ------------------------------------------------------------------ listing */


static void
namelist_add(struct mstore_namelist *l, char *name)
{
	if (l->count == l->cap) {
		l->cap = l->cap == 0 ? 32 : l->cap * 2;
		l->names = xreallocarray(l->names, l->cap, sizeof(*l->names));
	}
	l->names[l->count++] = name;
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All existing folder names (not INBOX) from the root directory, sorted, unique. */
enum store_status
mstore_folder_names(struct mstore *store, struct mstore_namelist *l)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd;

	fd = openat(store->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		log_error("store list failed root=%s error=%s", store->root_path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return STORE_IOERROR;
	}
	while ((de = readdir(dir)) != NULL) {
		const char *n = de->d_name;

		if (strncmp(n, DELETED_PREFIX, strlen(DELETED_PREFIX)) == 0) {
			mstore_sweep_deleted(store, n);
			continue;
		}
		if (n[0] != '.' || n[1] == '\0' || n[1] == '.')
			continue;
		if (store_name_check_len(n + 1, strlen(n + 1)) != STORE_OK)
			continue;
		if (strncasecmp(n + 1, "INBOX", 5) == 0 && n[6] == '\0')
			continue;
		if (fstatat(store->root_fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;	/* ".Evil -> /etc" is not a folder */
		namelist_add(l, xstrdup(n + 1));
	}
	closedir(dir);
	if (l->count > 0)
		qsort(l->names, l->count, sizeof(char *), strp_cmp);
	return STORE_OK;
}

void
mstore_namelist_free(struct mstore_namelist *l)
{
	mstore_names_free(l->names, l->count);
	l->names = NULL;
	l->count = l->cap = 0;
}

static bool
sorted_contains(char *const *names, size_t count, const char *name)
{
	return count > 0 && bsearch(&name, names, count, sizeof(char *), strp_cmp) != NULL;
}

static int
folder_cmp(const void *a, const void *b)
{
	const struct mstore_folder *fa = a, *fb = b;

	if (strcmp(fa->name, "INBOX") == 0)
		return strcmp(fb->name, "INBOX") == 0 ? 0 : -1;
	if (strcmp(fb->name, "INBOX") == 0)
		return 1;
	return strcmp(fa->name, fb->name);
}

/*
 * The special-use attributes the user gave folders (CREATE ... (USE (...))), kept as
 * their METADATA entries. Without a metadata file nothing is opened (no lock file is
 * made by a LIST); a file that cannot be read leaves the attributes by name (logged).
 */
static void
list_add_special_use(struct mstore *store, struct mstore_folder *out, size_t n)
{
	struct metadata *md;
	struct stat st;
	size_t i;

	if (fstatat(store->root_fd, METADATA_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    metadata_open(store, false, &md) < 0)
		return;
	for (i = 0; i < md->count; i++) {
		const struct metadata_entry *e = &md->e[i];
		struct mstore_folder key, *f;
		unsigned int attrs;

		if (e->mailbox[0] == '\0' || strcmp(e->name, METADATA_SPECIALUSE_ENTRY) != 0 ||
		    mstore_special_use_parse((const char *)e->value, e->value_len, &attrs) < 0)
			continue;
		key.name = e->mailbox;
		f = bsearch(&key, out, n, sizeof(*out), folder_cmp);
		if (f != NULL && (f->attrs & MSTORE_ATTR_NONEXISTENT) == 0)
			f->attrs |= attrs;
	}
	metadata_close(&md);
}

enum store_status
mstore_list(struct mstore *store, struct mstore_folder **list_r, size_t *count_r)
{
	struct mstore_namelist l = { 0 }, all = { 0 };
	struct mstore_folder *out;
	char **subs = NULL, *dir;
	size_t nsubs = 0, i, j, n;
	enum store_status st;

	st = mstore_folder_names(store, &l);
	if (st != STORE_OK)
		return st;
	st = mstore_subscriptions(store, &subs, &nsubs);
	if (st != STORE_OK) {
		mstore_namelist_free(&l);
		return st;
	}
	/* existing names, their missing parents, INBOX */
	namelist_add(&all, xstrdup("INBOX"));
	for (i = 0; i < l.count; i++) {
		namelist_add(&all, xstrdup(l.names[i]));
		for (j = strlen(l.names[i]); j > 0; j--)
			if (l.names[i][j] == STORE_SEP)
				namelist_add(&all, xstrndup(l.names[i], j));
	}
	for (i = 0; i < nsubs; i++)
		namelist_add(&all, xstrdup(subs[i]));
	qsort(all.names, all.count, sizeof(char *), strp_cmp);
	out = xcalloc(all.count, sizeof(*out));
	for (i = 0, n = 0; i < all.count; i++) {
		const char *name = all.names[i];
		size_t len = strlen(name);
		unsigned int attrs = 0;

		if (n > 0 && strcmp(out[n - 1].name, name) == 0)
			continue;
		if (strcmp(name, "INBOX") != 0 && !sorted_contains(l.names, l.count, name)) {
			/* a parent level or a subscription: does it have existing children? */
			bool parent = false;

			for (j = 0; j < l.count && !parent; j++)
				parent = strncmp(l.names[j], name, len) == 0 &&
				    l.names[j][len] == STORE_SEP;
			attrs |= MSTORE_ATTR_NOSELECT;
			if (!parent)
				attrs |= MSTORE_ATTR_NONEXISTENT;
		} else if (strcmp(name, "INBOX") != 0) {
			dir = mstore_dirname(name);
			if (mstore_folder_stat(store, dir) != 1)
				attrs |= MSTORE_ATTR_NOSELECT;
			free(dir);
		}
		/* children: any sorted successor starting with "name." */
		attrs |= MSTORE_ATTR_HASNOCHILDREN;
		for (j = 0; j < l.count; j++)
			if (strncmp(l.names[j], name, len) == 0 && l.names[j][len] == STORE_SEP) {
				attrs &= ~MSTORE_ATTR_HASNOCHILDREN;
				attrs |= MSTORE_ATTR_HASCHILDREN;
				break;
			}
		if (sorted_contains(subs, nsubs, name))
			attrs |= MSTORE_ATTR_SUBSCRIBED;
		attrs |= mstore_special_use_by_name(name);
		out[n].name = xstrdup(name);
		out[n].attrs = attrs;
		n++;
	}
	qsort(out, n, sizeof(*out), folder_cmp);
	list_add_special_use(store, out, n);
	mstore_namelist_free(&l);
	mstore_namelist_free(&all);
	mstore_names_free(subs, nsubs);
	*list_r = out;
	*count_r = n;
	return STORE_OK;
}

void
mstore_list_free(struct mstore_folder *list, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(list[i].name);
	free(list);
}

void
mstore_names_free(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* ------------------------------------------------------------------ subscriptions */

enum store_status
mstore_subscriptions(struct mstore *store, char ***names_r, size_t *count_r)
{
	struct buf b;
	int ret;

	buf_init(&b, 16 * 1024 * 1024);
	ret = mstore_read_file(store->root_fd, SUBSCRIPTIONS_NAME, b.max, &b, NULL);
	if (ret < 0) {
		log_error("store subscriptions read failed error=%s", strerror(errno));
		buf_deinit(&b);
		return STORE_IOERROR;
	}
	if (subs_parse(b.data == NULL ? "" : b.data, b.len, names_r, count_r) > 0)
		log_warn("store subscriptions: invalid lines ignored");
	buf_deinit(&b);
	return STORE_OK;
}

enum store_status
mstore_subscribe(struct mstore *store, const char *name, bool on)
{
	enum store_status st;
	char **names, *canon;
	size_t count, i;
	bool found = false;
	struct buf out;

	st = mstore_name_check(name);
	if (st != STORE_OK)
		return st;
	st = mstore_subscriptions(store, &names, &count);
	if (st != STORE_OK)
		return st;
	canon = mstore_canonical(name);
	for (i = 0; i < count; i++)
		if (strcmp(names[i], canon) == 0) {
			found = true;
			break;
		}
	if (found == on) {
		free(canon);
		mstore_names_free(names, count);
		return STORE_OK;
	}
	if (on) {
		names = xreallocarray(names, count + 1, sizeof(*names));
		names[count++] = canon;
		canon = NULL;
	} else {
		free(names[i]);
		names[i] = names[--count];
	}
	free(canon);
	if (count > 0)
		qsort(names, count, sizeof(*names), strp_cmp);
	buf_init(&out, BUF_UNLIMITED);
	(void)subs_format(names, count, &out);
	if (mstore_write_file(store, store->root_fd, SUBSCRIPTIONS_NAME, out.data,
	    out.len) < 0)
		st = mstore_errno_status(errno) == STORE_NONEXISTENT ? STORE_IOERROR :
		    mstore_errno_status(errno);
	buf_deinit(&out);
	mstore_names_free(names, count);
	return st;
}

enum store_status
mstore_ensure_special_use(struct mstore *store)
{
	enum store_status st;
	size_t i;

	for (i = 0; i < N_ELEMENTS(special_names); i++) {
		st = mstore_create(store, special_names[i]);
		if (st == STORE_EXISTS)
			continue;
		if (st != STORE_OK)
			return st;
		st = mstore_subscribe(store, special_names[i], true);
		if (st != STORE_OK)
			return st;
	}
	return STORE_OK;
}
