/*
 * mail_thread.c — the thread id of a message (mail_thread.h).
 */
#include "mailproc/mail_thread.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "mail/message.h"
#include "mail/threadref.h"

#define THREAD_HEADER_READ	(256 * 1024)	/* header read from a message file */

/* Assign the thread of emailid from the header of the message open on fd. */
static uint64_t
thread_assign_fd(struct mstore *store, uint64_t emailid, int fd)
{
	struct mstore_thread_refs r = { emailid, 0, NULL, 0 };
	uint64_t tid = 0, h[MSTORE_THREAD_REFS_MAX];
	struct stat sb;

	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		size_t len = MIN((size_t)sb.st_size, (size_t)THREAD_HEADER_READ);
		unsigned char *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (map != MAP_FAILED) {
			bool complete;
			size_t hlen = mail_header_block_end(map, len, NULL, &complete);

			r.n = mail_thread_refs(map, hlen, &r.own, h, MSTORE_THREAD_REFS_MAX);
			r.hashes = h;
			munmap(map, len);
		}
	}
	mstore_threads_assign(store, 1, &r, &tid);
	return tid;
}

uint64_t
mail_thread_id(struct mstore *store, struct mailbox *box, uint32_t uid, uint64_t emailid)
{
	uint64_t tid = 0;
	int fd;

	mstore_threads_lookup(store, 1, &emailid, &tid);
	if (tid != 0)
		return tid;
	if (mailbox_msg_open(box, uid, &fd) != STORE_OK)
		return emailid;
	tid = thread_assign_fd(store, emailid, fd);
	close(fd);
	return tid;
}

void
mail_thread_added(void *ctx, uint64_t emailid, int fd)
{
	(void)thread_assign_fd(ctx, emailid, fd);
}
