/*
 * imap_context.h — RFC 5267 contexts (CONTEXT=SEARCH, CONTEXT=SORT): SEARCH and SORT
 * results kept up to date with RETURN (UPDATE) (imap_context.c), and the per-message
 * evaluation and sort-key entry points of cmd_search.c they use. Internal to src/imap
 * (the per-user mail process); memory per context is bounded by the folder's size and
 * the number of contexts per session by IMAP_CONTEXT_MAX.
 */
#ifndef BUZON_IMAP_CONTEXT_H
#define BUZON_IMAP_CONTEXT_H

#include "imap/imap_local.h"
#include "imap/imap_search_parse.h"

#define IMAP_CONTEXT_MAX	5		/* updating results per session */
#define IMAP_CONTEXT_BYTES_MAX	(64u * 1024 * 1024)	/* SORT keys kept per session */

struct sort_run;

/* ---------------------------------------------------------------- cmd_search.c */

/*
 * Does message idx of c's view match prog (whose sets were resolved when its command
 * ran)? 1 yes, 0 no (or the message is gone), -1 the message could not be read.
 */
int imap_search_match(struct imap_client *c, struct imap_search_program *prog, size_t idx);
/* The free_matcher of imap_search_program_free for programs cmd_search.c ran. */
void imap_search_matcher_free(void *matcher);
/*
 * Add message idx of c's view to the sort keys sr as a new item (its number is the
 * count of items before), tie-broken by UID. Returns 0, or -1 (message gone, keys past
 * their bound).
 */
int imap_sort_keys_add(struct sort_run *sr, struct imap_client *c, size_t idx);
/* Compare items a and b in the sort order (negative, 0, positive). */
int imap_sort_keys_cmp(const struct sort_run *sr, uint32_t a, uint32_t b);
/* The UID of item a. */
uint32_t imap_sort_keys_uid(const struct sort_run *sr, uint32_t a);
/* Keep the items i with keep[i] != 0 (renumbered in their order: map[i] is the new
 * number of a kept item i; map has room for every item). */
void imap_sort_keys_keep(struct sort_run *sr, const uint8_t *keep, uint32_t *map);
/* Sort the item numbers items[0..n) in the sort order. */
void imap_sort_keys_order(const struct sort_run *sr, uint32_t *items, size_t n);
/* Items, and the memory they hold (octets). */
size_t imap_sort_keys_count(const struct sort_run *sr);
size_t imap_sort_keys_bytes(const struct sort_run *sr);
void imap_sort_keys_free(struct sort_run **sr);

/* ---------------------------------------------------------------- imap_context.c */

/* Is tag the tag of one of the view's updating results? */
bool imap_context_exists(const struct imap_view *v, const char *tag);
/*
 * The command tag (UID when uid) asked for RETURN (UPDATE): keep prog (taken; its sets
 * resolved) and its result: for SEARCH (sort NULL) uids[0..n) ascending; for SORT, sort
 * (taken) holds the hits as items 0..n-1 (UIDs, tie-broken by UID) and uids[0..n) is
 * their item numbers in the sort order. uids is taken (malloc'ed). When the context
 * cannot be kept (IMAP_CONTEXT_MAX, a program with sequence numbers), sends
 * "* NO [NOUPDATE tag]" and frees what it took.
 */
void imap_context_add(struct imap_client *c, const char *tag, bool uid,
    struct imap_search_program *prog, struct sort_run *sort, uint32_t *uids, size_t n);
/* CANCELUPDATE: end the updates of tag. Returns false when there is no such context. */
bool imap_context_cancel(struct imap_view *v, const char *tag);
/* CANCELUPDATE "tag" ... */
imap_cmd_func cmd_cancelupdate;
/* The view is closing: drop every context. */
void imap_context_free_all(struct imap_view *v);

/* Hooks of imap_view.c (no-ops without contexts). */
/* Flags or keywords of uid changed (store listener): re-evaluate it later. */
void imap_context_changed(struct imap_view *v, uint32_t uid);
/* Before EXPUNGE / VANISHED: REMOVEFROM for the view's expunged messages. */
void imap_context_expunging(struct imap_view *v);
/* After EXISTS: ADDTO for the view's messages from index first on that match. */
void imap_context_added(struct imap_view *v, size_t first);
/* After the flag updates: ADDTO / REMOVEFROM for the changed messages. */
void imap_context_flags(struct imap_view *v);

#endif
