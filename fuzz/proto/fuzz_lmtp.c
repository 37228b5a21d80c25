/*
 * fuzz_lmtp.c — libFuzzer target for the LMTP parsers: the input is split into command
 * lines with lmtp_line_find and each line parsed (field invariants checked), and the
 * whole input is decoded as a DATA stream both in one piece and byte by byte, which
 * must give identical output, sizes and end position.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/lmtp_cmd.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_cmd(const struct lmtp_cmd *cmd)
{
	if (strlen(cmd->arg) > LMTP_ARG_MAX || cmd->addr_len > LMTP_PATH_MAX ||
	    strlen(cmd->addr) != cmd->addr_len)
		abort();
	for (size_t i = 0; i < cmd->addr_len; i++)
		if ((unsigned char)cmd->addr[i] < 32 || (unsigned char)cmd->addr[i] > 126)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, line_len, consumed;
	struct lmtp_cmd cmd;
	const char *reply;
	struct lmtp_data d1, d2;
	unsigned char *out1, *out2, tmp[2];
	size_t w1, used1, o2 = 0, p2 = 0;
	bool done1, done2 = false;

	for (;;) {
		enum lmtp_line_result r = lmtp_line_find(data + pos, size - pos, &line_len,
		    &consumed);

		if (r != LMTP_LINE_DONE)
			break;
		if (consumed > LMTP_LINE_MAX || line_len >= consumed)
			abort();
		if (lmtp_cmd_parse((const char *)data + pos, line_len, &cmd, &reply) == 0)
			check_cmd(&cmd);
		else if (reply == NULL || reply[0] < '4' || reply[0] > '5')
			abort();
		pos += consumed;
	}

	out1 = xmalloc(size + 1);
	out2 = xmalloc(size + 1);
	lmtp_data_init(&d1);
	done1 = lmtp_data_feed(&d1, data, size, out1, &w1, &used1);
	if (w1 > size || used1 > size || (!done1 && used1 != size) || d1.size != w1)
		abort();
	lmtp_data_init(&d2);
	while (p2 < size && !done2) {
		size_t w, u;

		done2 = lmtp_data_feed(&d2, data + p2, 1, tmp, &w, &u);
		if (w > 2 || u != 1)
			abort();
		memcpy(out2 + o2, tmp, w);
		o2 += w;
		p2 += u;
	}
	if (done1 != done2 || p2 != used1 || o2 != w1 || memcmp(out1, out2, w1) != 0 ||
	    d1.bare_cr != d2.bare_cr || d1.bare_lf != d2.bare_lf)
		abort();
	free(out1);
	free(out2);
	return 0;
}
