/*
 * fuzz_keywords.c — libFuzzer target for the dovecot-keywords parser and the Maildir
 * file-name parser (both read names another program may have written). Checks that
 * accepted keywords are valid IMAP atoms, unique, and survive a format/parse round trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "store/store_format.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *names[STORE_KEYWORDS_MAX], *names2[STORE_KEYWORDS_MAX];
	struct mdname md;
	struct buf out;
	size_t i, j;

	(void)keywords_parse((const char *)data, size, names);
	for (i = 0; i < STORE_KEYWORDS_MAX; i++) {
		if (names[i] == NULL)
			continue;
		if (keyword_name_check(names[i], strlen(names[i])) != STORE_OK)
			panic("invalid keyword accepted");
		for (j = i + 1; j < STORE_KEYWORDS_MAX; j++)
			if (names[j] != NULL && strcasecmp(names[i], names[j]) == 0)
				panic("duplicate keyword");
	}
	buf_init(&out, BUF_UNLIMITED);
	(void)keywords_format(names, &out);
	if (keywords_parse(out.data == NULL ? "" : out.data, out.len, names2) != 0)
		panic("own output rejected");
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		if ((names[i] == NULL) != (names2[i] == NULL) ||
		    (names[i] != NULL && strcmp(names[i], names2[i]) != 0))
			panic("keyword round trip differs");
	keywords_free(names);
	keywords_free(names2);
	buf_deinit(&out);

	/* the same bytes as a Maildir file name */
	if (mdname_parse((const char *)data, size, &md)) {
		if (md.base_len > size || !maildir_base_valid((const char *)data, md.base_len))
			panic("bad base length");
	}
	return 0;
}
