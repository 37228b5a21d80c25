/*
 * fuzz_mime.c — libFuzzer target for the MIME parser: parse, write ENVELOPE, BODY and
 * BODYSTRUCTURE, then fetch every section of every part (MIME, HEADER, TEXT,
 * HEADER.FIELDS[.NOT]) with a few partial ranges, and run the SEARCH body walk.
 */
#include <stddef.h>
#include <stdint.h>

#include "mail/envelope.h"
#include "mail/message.h"
#include "mail/search.h"
#include "mail/section.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fetch(const struct mail_message *m, const struct mail_section *s)
{
	struct mail_section_result r;
	struct buf out;

	buf_init(&out, 1 << 24);
	if (mail_section_resolve(m, s, 1 << 20, &r) == 0) {
		if (mail_section_result_append(&out, m, &r, 0, UINT64_MAX) < 0 ||
		    out.len != r.size)
			__builtin_trap();
		buf_reset(&out);
		(void)mail_section_result_append(&out, m, &r, r.size / 3, r.size / 2 + 1);
	}
	mail_section_result_deinit(&r);
	buf_deinit(&out);
}

static void
walk(const struct mail_message *m, const struct mail_part *p, struct mail_section *s)
{
	static const enum mail_section_kind kinds[] = {
		MAIL_SECTION_BODY, MAIL_SECTION_MIME, MAIL_SECTION_HEADER, MAIL_SECTION_TEXT,
		MAIL_SECTION_HEADER_FIELDS, MAIL_SECTION_HEADER_FIELDS_NOT,
	};
	unsigned int n = 1;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		s->kind = kinds[k];
		if (s->kind == MAIL_SECTION_MIME && s->depth == 0)
			continue;
		fetch(m, s);
	}
	if (s->depth >= MAIL_SECTION_MAX_DEPTH)
		return;
	if (p->flags & MAIL_PART_RFC822)
		p = p->children;
	if (p == NULL)
		return;
	if (!(p->flags & MAIL_PART_MULTIPART)) {
		return;
	}
	for (const struct mail_part *c = p->children; c != NULL; c = c->next, n++) {
		s->part[s->depth++] = n;
		walk(m, c, s);
		s->depth--;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_message *m = mail_message_parse(data, size, NULL);
	struct mail_section s;
	struct mail_search_key *k;
	struct buf out;

	buf_init(&out, 1 << 24);
	(void)mail_envelope_write(&out, m, NULL);
	buf_reset(&out);
	(void)mail_bodystructure_write(&out, m, NULL, true);
	buf_reset(&out);
	(void)mail_bodystructure_write(&out, m, NULL, false);
	buf_deinit(&out);

	memset(&s, 0, sizeof(s));
	(void)mail_section_add_field(&s, "Subject", 7);
	(void)mail_section_add_field(&s, "content-type", 12);
	walk(m, m->root, &s);
	mail_section_deinit(&s);

	k = mail_search_key_create("caf\xc3\xa9", 5);
	(void)mail_search_body(k, m, true);
	mail_search_key_destroy(&k);
	mail_message_free(&m);
	return 0;
}
