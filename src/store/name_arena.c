/*
 * name_arena.c — the file names of a folder's messages ("cur/<name>", "new/<name>") and
 * of a directory scan, kept in 64 KiB chunks that never move: a message array of 100,000
 * entries costs a few dozen allocations instead of one per name. Names replaced by flag
 * renames or dropped by expunges are counted as garbage, and the arena is rebuilt with
 * the live names once most of it is garbage (or when the folder goes into the cache).
 * Runs in the per-user mail process. Security role: none beyond memory — the names come
 * from the folder's own directory entries, already checked by mdname_parse (at most
 * MAILDIR_BASE_MAX bytes and an info part), and an allocation failure aborts.
 */
#include "store/store_private.h"

#include "lib/util.h"

#define NAME_CHUNK	(64 * 1024)

char *
name_arena_alloc(struct name_arena *a, size_t n)
{
	struct name_chunk *c = a->head;
	char *p;

	if (c == NULL || c->size - c->used < n) {
		size_t size = MAX(n, (size_t)NAME_CHUNK);

		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	a->bytes += n;
	return p;
}

/* "<dir>/<name>" (dir is "cur" or "new") copied into the arena, NUL-terminated. */
char *
name_arena_path(struct name_arena *a, const char *dir, const char *name, size_t len)
{
	char *p = name_arena_alloc(a, 4 + len + 1);

	memcpy(p, dir, 3);
	p[3] = '/';
	memcpy(p + 4, name, len);
	p[4 + len] = '\0';
	return p;
}

char *
name_arena_strdup(struct name_arena *a, const char *s)
{
	size_t len = strlen(s) + 1;

	return memcpy(name_arena_alloc(a, len), s, len);
}

void
name_arena_free(struct name_arena *a)
{
	struct name_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
	a->bytes = a->garbage = 0;
}

/* A message's file name is no longer used (replaced, or the message dropped). */
void
mailbox_name_release(struct mailbox *box, const char *filename)
{
	box->names.garbage += strlen(filename) + 1;
}

/* Rebuild the arena with only the names in use. */
void
mailbox_names_compact(struct mailbox *box)
{
	struct name_arena na = { 0 };
	size_t i;

	for (i = 0; i < box->count; i++)
		box->msgs[i].filename = name_arena_strdup(&na, box->msgs[i].filename);
	name_arena_free(&box->names);
	box->names = na;
}

/* Rebuild the arena once most of it is garbage (many flag renames without a rescan). */
void
mailbox_names_maybe_compact(struct mailbox *box)
{
	if (box->names.garbage >= 256 * 1024 && box->names.garbage >= box->names.bytes / 2)
		mailbox_names_compact(box);
}
