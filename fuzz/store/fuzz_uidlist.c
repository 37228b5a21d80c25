/*
 * fuzz_uidlist.c — libFuzzer target for the dovecot-uidlist parser (a file that other
 * programs and the user can write). Checks the invariants the store relies on: UIDs
 * strictly ascending and below nextuid, valid base names, and that our own output
 * parses back to the same records (message ids included).
 */
#include <stddef.h>
#include <stdint.h>

#include "store/store_format.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uidlist ul, ul2;
	enum uidlist_parse_result r;
	struct buf out;
	size_t i;

	uidlist_init(&ul);
	uidlist_init(&ul2);
	r = uidlist_parse((const char *)data, size, &ul);
	if (r == UIDLIST_PARSE_BAD_HEADER && ul.count != 0)
		panic("records after a bad header");
	for (i = 0; i < ul.count; i++) {
		if (i > 0 && ul.recs[i].uid <= ul.recs[i - 1].uid)
			panic("uids not ascending");
		if (ul.recs[i].uid >= ul.nextuid && ul.nextuid != UINT32_MAX)
			panic("uid >= nextuid");
		if (!maildir_base_valid(ul.recs[i].base, strlen(ul.recs[i].base)))
			panic("invalid base accepted");
	}
	if (r != UIDLIST_PARSE_BAD_HEADER) {
		buf_init(&out, BUF_UNLIMITED);
		if (uidlist_format(&ul, &out) < 0)
			panic("format failed");
		if (uidlist_parse(out.data, out.len, &ul2) != UIDLIST_PARSE_OK ||
		    ul2.count != ul.count || ul2.uidvalidity != ul.uidvalidity ||
		    ul2.nextuid != ul.nextuid)
			panic("round trip differs");
		for (i = 0; i < ul.count; i++)
			if (ul2.recs[i].uid != ul.recs[i].uid ||
			    strcmp(ul2.recs[i].base, ul.recs[i].base) != 0 ||
			    ul2.recs[i].size != ul.recs[i].size ||
			    ul2.recs[i].vsize != ul.recs[i].vsize ||
			    ul2.recs[i].emailid != ul.recs[i].emailid || ul.recs[i].emailid == 0)
				panic("round trip record differs");
		buf_deinit(&out);
	}
	uidlist_deinit(&ul);
	uidlist_deinit(&ul2);
	return 0;
}
