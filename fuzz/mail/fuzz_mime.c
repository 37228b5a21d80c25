/*
 * fuzz_mime.c — libFuzzer target for the MIME parser: parse, write ENVELOPE, BODY and
 * BODYSTRUCTURE, then fetch every section of every part (MIME, HEADER, TEXT,
 * HEADER.FIELDS[.NOT]) with a few partial ranges, and run the SEARCH body walk.
 * Checks that every part's sizes and line counts are those of its byte ranges and that
 * the header-only parse gives the same ENVELOPE.
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

/* Every part's sizes and line counts are those of its byte ranges. */
static void
check_counts(const struct mail_message *m, const struct mail_part *p)
{
	uint64_t size, lines;

	mail_octets_count(m->data + p->hdr_off, p->hdr_len, &size, &lines);
	if (p->hdr_size != size || p->hdr_lines != lines)
		__builtin_trap();
	mail_octets_count(m->data + p->body_off, p->body_len, &size, &lines);
	if (p->body_size != size || p->body_lines != lines)
		__builtin_trap();
	for (const struct mail_part *c = p->children; c != NULL; c = c->next)
		check_counts(m, c);
}

/* The header-only parse gives the same ENVELOPE and root header as the full one. */
static void
check_header_only(const struct mail_message *m, const uint8_t *data, size_t size,
    const struct buf *envelope)
{
	struct mail_message *h = mail_message_parse_header(data, size, NULL);
	struct buf out;
	bool complete;
	size_t end = mail_header_block_end(data, size, NULL, &complete);

	if (h->len != m->root->hdr_len || h->root->hdr_size != m->root->hdr_size ||
	    h->root->hdr_lines != m->root->hdr_lines || end != h->len ||
	    (!complete && end != size) || h->root->children != NULL)
		__builtin_trap();
	buf_init(&out, 1 << 24);
	(void)mail_envelope_write(&out, h, NULL);
	if (out.len != envelope->len ||
	    (out.len > 0 && memcmp(out.data, envelope->data, out.len) != 0))
		__builtin_trap();
	buf_deinit(&out);
	mail_message_free(&h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_message *m = mail_message_parse(data, size, NULL);
	struct mail_section s;
	struct mail_search_key *k;
	struct buf out;

	check_counts(m, m->root);
	buf_init(&out, 1 << 24);
	(void)mail_envelope_write(&out, m, NULL);
	check_header_only(m, data, size, &out);
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
