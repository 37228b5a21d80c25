/*
 * fuzz_index_rec.c — libFuzzer target for the index record decoders
 * (src/store/index_format.c): the folder header and a message record, both read from
 * a file the mailbox owner can write. Checks that an accepted record re-encodes to the
 * same bytes and that an accepted header keeps its invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/store_private.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[INDEX_REC_FIXED + INDEX_NAME_MAX], hb[INDEX_HDR_SIZE];
	struct index_rec r;
	struct index_hdr h;

	if (index_rec_decode(data, size, &r)) {
		if (r.name_len == 0 || r.name_len > INDEX_NAME_MAX ||
		    index_rec_size(&r) != size || r.modseq == 0)
			panic("record accepted with bad fields");
		index_rec_encode(&r, out);
		if (memcmp(out, data, size) != 0)
			panic("record round trip differs");
	}
	if (index_hdr_decode(data, size, &h) == 0) {
		if (h.uidvalidity == 0 || h.nextuid == 0 || h.count >= h.nextuid ||
		    h.modseq_ceiling < h.highestmodseq || strlen(h.guid) != 32)
			panic("header accepted with bad fields");
		index_hdr_encode(&h, hb);
		if (index_hdr_decode(hb, sizeof(hb), &h) != 0)
			panic("own header rejected");
	}
	return 0;
}
