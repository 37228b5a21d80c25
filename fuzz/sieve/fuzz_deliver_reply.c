/*
 * fuzz_deliver_reply.c — libFuzzer target for what delivery sends for Sieve
 * (src/mailproc/deliver_send.h): the input is a message; its header fields are read,
 * our Delivered-To fields counted, and the vacation reply and the rejection MDN built
 * from it. Checks that no line of the message can become a header field of either:
 * every line of their header block is one of the fields they write (or the folded
 * boundary parameter).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "mailproc/deliver_send.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_header(const struct buf *b)
{
	static const char *const known[] = {
		"Date: ", "From: ", "To: ", "Subject: ", "In-Reply-To: ", "References: ",
		"Message-ID: ", "Auto-Submitted: ", "Precedence: ", "MIME-Version: ",
		"Content-Type: ", "Content-Transfer-Encoding: ", " boundary=",
	};
	size_t i = 0;

	while (i < b->len && b->data[i] != '\n') {
		const char *nl = memchr(b->data + i, '\n', b->len - i);
		size_t e = nl != NULL ? (size_t)(nl - b->data) : b->len;
		bool ok = false;

		for (unsigned k = 0; k < N_ELEMENTS(known) && !ok; k++)
			ok = e - i >= strlen(known[k]) &&
			    memcmp(b->data + i, known[k], strlen(known[k])) == 0;
		if (!ok || e - i > 2000)
			abort();
		i = e + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sieve_action a = { .type = SIEVE_ACT_VACATION, .text = (char *)"Away." };
	unsigned char key[DELIVER_VACATION_HASH];
	struct buf b;
	char *v;

	v = deliver_header_get(data, size, "Subject");
	if (v != NULL && (strlen(v) > 998 || strchr(v, '\n') != NULL || strchr(v, '\r') != NULL))
		abort();
	free(v);
	(void)deliver_delivered_to_count(data, size, "me@example.org");
	buf_init(&b, BUF_UNLIMITED);
	if (deliver_vacation_build(&b, data, size, "a@example.net", "me@example.org", &a, 0) < 0)
		abort();
	check_header(&b);
	buf_deinit(&b);
	buf_init(&b, BUF_UNLIMITED);
	if (deliver_reject_build(&b, data, size, "a@example.net", "me@example.org", "No.", 0) < 0)
		abort();
	check_header(&b);
	buf_deinit(&b);
	deliver_vacation_key("a@example.net", &a, key);
	return 0;
}
