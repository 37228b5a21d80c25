/*
 * mailbox_emailid.c — which messages of a folder carry a given EMAILID (RFC 8474 §5.1):
 * an open-addressing table over the folder's message array, so JMAP finds an Email in
 * a folder without walking every message (docs/architecture.md, "EMAILID lookup").
 *
 * The table holds positions in box->msgs, keyed by their emailid; it is built from
 * the array the first time it is asked and kept while the array only grows at its end
 * (the new messages are added at the next lookup). Every other change of the array
 * (an expunge, a rescan, a snapshot loaded, the folder deleted) raises box->msgs_gen
 * (mailbox_msgs_changed), and the next lookup builds the table again. A hit is always
 * checked against the array itself, so a slot can never name the wrong message.
 * Runs in the per-user mail process; memory: 4 bytes a slot, 1.5 to 3 slots a message.
 */
#include "store/store_private.h"

#include "lib/log.h"
#include "lib/util.h"

void
mailbox_msgs_changed(struct mailbox *box)
{
	box->msgs_gen++;
}

void
mailbox_emailid_free(struct mailbox *box)
{
	free(box->eid_tab);
	box->eid_tab = NULL;
	box->eid_tabsize = 0;
	box->eid_count = 0;
}

static size_t
eid_slot(uint64_t emailid, size_t mask)
{
	/* EMAILIDs of uidlist records are random, those from base names FNV hashes:
	 * one multiply spreads both */
	return (size_t)((emailid * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
}

static void
eid_insert(struct mailbox *box, size_t idx)
{
	size_t mask = box->eid_tabsize - 1;
	size_t s = eid_slot(box->msgs[idx].emailid, mask);

	while (box->eid_tab[s] != 0)
		s = (s + 1) & mask;
	box->eid_tab[s] = (uint32_t)idx + 1;
}

/* Make the table cover msgs[0 .. count): add appended messages, or build it again. */
static void
eid_update(struct mailbox *box)
{
	size_t want;

	if (box->eid_tab != NULL && box->eid_gen == box->msgs_gen &&
	    box->eid_count <= box->count && box->count * 4 <= box->eid_tabsize * 3) {
		/* only appends since: at most three quarters full after adding them */
		for (size_t i = box->eid_count; i < box->count; i++)
			eid_insert(box, i);
		box->eid_count = box->count;
		return;
	}
	mailbox_emailid_free(box);
	/* at most two thirds full, so that appends fit for a while */
	for (want = 16; want < box->count + box->count / 2 + 16; want *= 2)
		;
	box->eid_tabsize = want;
	box->eid_tab = xcalloc(box->eid_tabsize, sizeof(*box->eid_tab));
	for (size_t i = 0; i < box->count; i++)
		eid_insert(box, i);
	box->eid_count = box->count;
	box->eid_gen = box->msgs_gen;
}

size_t
mailbox_emailid_uids(struct mailbox *box, uint64_t emailid, uint32_t *uids_r, size_t max)
{
	size_t mask, s, n = 0;

	mailbox_msgs_load(box);
	if (box->count == 0 || emailid == 0)
		return 0;
	eid_update(box);
	mask = box->eid_tabsize - 1;
	for (s = eid_slot(emailid, mask); box->eid_tab[s] != 0; s = (s + 1) & mask) {
		size_t idx = box->eid_tab[s] - 1;

		if (idx >= box->count)
			panic("store emailid table past the messages mailbox=%s", box->name);
		if (box->msgs[idx].emailid != emailid)
			continue;
		if (n < max) {
			/* ascending UIDs: insertion into the few found so far */
			size_t j = n;
			uint32_t uid = box->msgs[idx].uid;

			while (j > 0 && uids_r[j - 1] > uid) {
				uids_r[j] = uids_r[j - 1];
				j--;
			}
			uids_r[j] = uid;
		}
		n++;
	}
	return n;
}

size_t
mailbox_emailid_mem(const struct mailbox *box)
{
	return box->eid_tabsize * sizeof(*box->eid_tab);
}
