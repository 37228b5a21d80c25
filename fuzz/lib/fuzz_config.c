/*
 * fuzz_config.c — libFuzzer target for the configuration parser (src/lib/config.c),
 * read by the master (root) at start and reload and by every child at exec. The input
 * is written to a memfd and loaded through /proc/self/fd; a loaded configuration then
 * expands mail_location for hostile user names, which must never yield a relative path
 * or a "..". Invariants: a load either succeeds or gives "FILE:LINE: ..." text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int mfd = -1;
static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *users[] = { "alice", "a@b.example", "../x", "a/../b", "%2e%2e",
		"x@..", "", "~root", "a\nb" };
	struct config *cfg = NULL;
	char *err = NULL;

	if (size > 65536)
		return 0;
	if (mfd < 0) {
		mfd = memfd_create("fuzz-config", MFD_CLOEXEC);
		if (mfd < 0)
			panic("memfd_create failed");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
		log_set_level(LOG_LEVEL_ERROR);
	}
	if (ftruncate(mfd, 0) < 0 || pwrite(mfd, data, size, 0) != (ssize_t)size)
		panic("memfd write failed");
	if (config_load(path, &cfg, &err) < 0) {
		if (err == NULL || strncmp(err, path, strlen(path)) != 0)
			panic("config error without FILE: prefix");
		free(err);
		return 0;
	}
	for (size_t i = 0; i < N_ELEMENTS(users); i++) {
		const char *e = NULL;
		char *root = config_mail_root(cfg, users[i], "/home/u", &e);

		if (root == NULL) {
			if (e == NULL)
				panic("mail root refused without a reason");
			continue;
		}
		if (root[0] != '/' || strstr(root, "/../") != NULL ||
		    (strlen(root) >= 3 && strcmp(root + strlen(root) - 3, "/..") == 0))
			panic("mail root escapes: %s", root);
		free(root);
	}
	config_free(&cfg);
	return 0;
}
