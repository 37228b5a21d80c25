/*
 * fuzz_index_rec.c — libFuzzer target for the index decoders (src/store/index_format.c):
 * the folder header and a message chunk, both read from a file the mailbox owner can
 * write. Checks that an accepted chunk re-encodes to the same bytes, that every accepted
 * record keeps its invariants and that the name check agrees with mdname_parse, and that
 * an accepted header keeps its invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_private.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char hb[INDEX_HDR_SIZE];
	struct index_chunk c;
	struct index_rec r;
	struct index_hdr h;
	uint8_t fl;
	uint32_t kw;

	if (index_chunk_open(data, size, &c) == 0) {
		unsigned char *out = malloc(size);
		size_t off = 0;
		uint32_t i = 0;
		int got;

		if (out == NULL)
			return 0;
		index_chunk_begin(out, c.n, c.names_len);
		while ((got = index_chunk_next(&c, &r)) == 1) {
			struct mdname md;

			if (r.uid == 0 || r.modseq == 0 || r.emailid == 0 || r.name_len == 0 ||
			    r.name_len > INDEX_NAME_MAX || r.internaldate < 0 || r.savedate < 0 ||
			    !mdname_parse(r.name, r.name_len, &md) || md.flags != r.flags ||
			    md.keywords != r.keywords || r.name[r.name_len] != '\0')
				panic("record accepted with bad fields");
			off = index_chunk_put(out, c.n, i++, off, &r);
		}
		if (got == 0 && (i != c.n || off != c.names_len || memcmp(out, data, size) != 0))
			panic("chunk round trip differs");
		free(out);
	}
	/* the name check alone, against mdname_parse */
	if (size <= INDEX_NAME_MAX && memchr(data, '\0', size) == NULL) {
		struct mdname md;
		bool a = index_name_parse((const char *)data, size, &fl, &kw);

		if (a != mdname_parse((const char *)data, size, &md) ||
		    (a && (fl != md.flags || kw != md.keywords)))
			panic("name check disagrees with mdname_parse");
	}
	if (index_hdr_decode(data, size, &h) == 0) {
		if (h.uidvalidity == 0 || h.nextuid == 0 || h.count >= h.nextuid ||
		    h.modseq_ceiling < h.highestmodseq || strlen(h.guid) != 32 ||
		    h.unseen > h.count || h.first_unseen_seq > h.count ||
		    h.first_unseen_uid >= h.nextuid ||
		    (h.unseen == 0) != (h.first_unseen_uid == 0) ||
		    (h.unseen == 0) != (h.first_unseen_seq == 0))
			panic("header accepted with bad fields");
		index_hdr_encode(&h, hb);
		if (index_hdr_decode(hb, sizeof(hb), &h) != 0)
			panic("own header rejected");
	}
	return 0;
}
