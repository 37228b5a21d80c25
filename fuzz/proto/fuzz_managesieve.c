/*
 * fuzz_managesieve.c — libFuzzer target for the ManageSieve command line parser
 * (src/proto/managesieve.c): the input is parsed as a stream of commands (the first
 * byte picks command or SASL-response lines and a small or large literal limit); every
 * result keeps its arguments inside the input or the quoted buffers, and each growing
 * prefix of a line never gives DONE before the whole input does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/managesieve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_args(const struct ms_cmd *cmd, const uint8_t *data, size_t size)
{
	for (unsigned i = 0; i < cmd->argc; i++) {
		const struct ms_arg *a = &cmd->args[i];
		const char *p = a->p;
		uint32_t n;

		if (a->literal || a->type == MS_ARG_ATOM) {
			if (p < (const char *)data || p + a->len > (const char *)data + size)
				abort();
		} else if (p != cmd->qbuf[i] || a->len > MS_QUOTED_MAX) {
			abort();
		}
		(void)managesieve_arg_u32(a, &n);
		(void)managesieve_name_valid(p, a->len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_limits lim = { 256, 64 };
	static struct ms_cmd cmd, pcmd;
	bool string_only;
	size_t off = 1, used;

	if (size < 1)
		return 0;
	string_only = (data[0] & 1) != 0;
	if (data[0] & 2) {
		lim.line_max = 8192;
		lim.literal_max = 1 << 20;
	}
	while (off < size) {
		enum ms_parse_result r = managesieve_parse(data + off, size - off, &lim,
		    string_only, &cmd, &used);

		if (r == MS_PARSE_MORE) {
			if (used != 0)
				abort();
			break;
		}
		if (r == MS_PARSE_ERROR && used == 0) {
			if (cmd.error != MS_ERR_TOOLONG && cmd.error != MS_ERR_LITERAL)
				abort();
			break;
		}
		if (used > size - off)
			abort();
		if (r == MS_PARSE_DONE) {
			check_args(&cmd, data + off, size - off);
			/* a shorter prefix of this line is never a whole command */
			for (size_t k = 0; k < used; k++) {
				size_t u2;

				if (managesieve_parse(data + off, k, &lim, string_only, &pcmd,
				    &u2) == MS_PARSE_DONE)
					abort();
			}
		}
		off += used;
	}
	return 0;
}
