/*
 * fuzz_rc_item.c — libFuzzer target for imap_rc_item_valid (src/imap/imap_rcache.c), the
 * check of rendered FETCH items read back from the persistent index, a file the mailbox
 * owner can write. The first byte picks the field, the rest is the value. Besides running
 * clean under ASan and UBSan: an accepted list item (ENVELOPE, BODY, BODYSTRUCTURE)
 * starts with '(' and ends with ')', an accepted PREVIEW with '"' or is a literal, and a
 * value is never accepted for IMAP_RC_HEADER or IMAP_RC_SORT.
 */
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum imap_rc_field field;
	const unsigned char *p = data + 1;
	size_t len;

	if (size == 0)
		return 0;
	field = (enum imap_rc_field)(data[0] % IMAP_RC_NFIELDS);
	len = size - 1;
	if (!imap_rc_item_valid(p, len, field))
		return 0;
	if (field >= IMAP_RC_NRENDERED || len == 0)
		__builtin_trap();
	if (field == IMAP_RC_PREVIEW) {
		if (p[0] != '"' && p[0] != '{')
			__builtin_trap();
	} else if (p[0] != '(' || p[len - 1] != ')')
		__builtin_trap();
	return 0;
}
