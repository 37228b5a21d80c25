/*
 * fuzz_dovecot_conf.c — libFuzzer target for the Dovecot configuration reader
 * (src/cli/dovecot_conf.c) and the conversion of `buzon import-dovecot-config`
 * (src/cli/import_dovecot.c). Includes are not followed (they become nodes). Invariants:
 * a parse either succeeds or gives "NAME:LINE: ..." text; a converted configuration has
 * only comments, empty lines and "KEY = VALUE" lines with keys config.c knows, and no
 * control character but newline and tab.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/dovecot_conf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dc_conf *dc = dc_conf_create(false);
	char *err = NULL, *out = NULL;
	unsigned dropped = 0;

	if (dc_conf_parse_buffer(dc, "in", (const char *)data, size, &err) < 0) {
		if (err == NULL || strncmp(err, "in:", 3) != 0)
			panic("parse error without NAME:LINE");
		free(err);
		dc_conf_destroy(&dc);
		return 0;
	}
	import_dovecot_convert(dc, "in", &out, &dropped);
	for (char *line = out, *nl; *line != '\0'; line = nl + 1) {
		char *eq;

		if ((nl = strchr(line, '\n')) == NULL)
			panic("output does not end in a newline");
		*nl = '\0';
		for (char *p = line; *p != '\0'; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
				panic("control character in the output");
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((eq = strstr(line, " = ")) == NULL)
			panic("output line is neither a comment nor key = value");
		*eq = '\0';
		if (!config_key_known(line))
			panic("output has a key config.c does not know");
		if (strchr(eq + 3, '#') != NULL)
			panic("output value holds a comment character");
	}
	free(out);
	dc_conf_destroy(&dc);
	return 0;
}
