/*
 * fuzz_thread.c — libFuzzer target for RFC 5256 threading (src/imap/imap_thread.c). The
 * input is a list of messages separated by NUL bytes; each is four LF-separated fields:
 * Message-ID, References, In-Reply-To and the base subject (missing fields are absent
 * headers), its date the first octet of its subject, its INTERNALDATE the last. The
 * three algorithms (REFERENCES, ORDEREDSUBJECT, REFS) must answer with balanced lists
 * that name every message exactly once, nothing else.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_thread.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS	2000

static void
check(const struct buf *out, uint32_t n)
{
	static unsigned char seen[MAX_MSGS + 1];
	size_t i = 0;
	long depth = 0;
	uint32_t count = 0;

	memset(seen, 0, sizeof(seen));
	while (i < out->len) {
		char c = out->data[i];

		if (c == '(') {
			depth++;
			i++;
		} else if (c == ')') {
			if (--depth < 0)
				__builtin_trap();
			i++;
		} else if (c == ' ') {
			i++;
		} else if (c >= '1' && c <= '9') {
			unsigned long v = 0;

			while (i < out->len && out->data[i] >= '0' && out->data[i] <= '9')
				v = v * 10 + (unsigned long)(out->data[i++] - '0');
			if (v == 0 || v > n || seen[v] || depth == 0)
				__builtin_trap();
			seen[v] = 1;
			count++;
		} else
			__builtin_trap();
	}
	if (depth != 0 || count != n)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = xmalloc(size + 1), *p, *end, *field[4];
	static const enum imap_thread_algorithm algs[3] = {
		IMAP_THREAD_REFERENCES, IMAP_THREAD_ORDEREDSUBJECT, IMAP_THREAD_REFS,
	};
	struct imap_thread *t[3];
	struct buf out;
	uint32_t n = 0;
	int a;

	memcpy(copy, data, size);
	copy[size] = '\0';
	for (a = 0; a < 3; a++)
		t[a] = imap_thread_create();
	for (p = copy, end = copy + size; p <= end && n < MAX_MSGS; n++) {
		char *next = memchr(p, '\0', (size_t)(end - p));
		size_t nf = 0;

		if (next == NULL)
			next = end;
		*next = '\0';
		memset(field, 0, sizeof(field));
		while (nf < 4 && p != NULL) {
			char *lf = strchr(p, '\n');

			field[nf++] = p;
			if (lf != NULL)
				*lf = '\0';
			p = lf != NULL ? lf + 1 : NULL;
		}
		for (a = 0; a < 3; a++) {
			const char *subj = field[3] != NULL ? field[3] : "";
			size_t sl = strlen(subj);
			struct imap_thread_msg m = {
				.id = n + 1, .date = (uint64_t)(unsigned char)subj[0],
				.arrival = sl > 0 ? (uint64_t)(unsigned char)subj[sl - 1] : 0,
				.subject = subj, .subject_len = sl, .reply = subj[0] == 'R',
				.message_id = field[0],
				.message_id_len = field[0] != NULL ? strlen(field[0]) : 0,
				.references = field[1],
				.references_len = field[1] != NULL ? strlen(field[1]) : 0,
				.in_reply_to = field[2],
				.in_reply_to_len = field[2] != NULL ? strlen(field[2]) : 0,
			};

			imap_thread_add(t[a], &m);
		}
		p = next + 1;
	}
	for (a = 0; a < 3; a++) {
		buf_init(&out, BUF_UNLIMITED);
		if (imap_thread_format(t[a], algs[a], &out) != 0)
			__builtin_trap();
		check(&out, n);
		buf_deinit(&out);
		imap_thread_destroy(&t[a]);
	}
	free(copy);
	return 0;
}
