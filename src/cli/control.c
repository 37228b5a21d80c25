/*
 * control.c — the administrator's verbs that ask the running server (`buzon who`, `kick`,
 * `mailbox status`, `ban list|remove`, and `quota get|recalc`, `index rebuild` while a
 * server runs): one request line on the control socket (docs/architecture.md, "The
 * control socket"), the answer printed as it came, its last line ("OK" or "ERR reason")
 * turned into the exit status. Runs as root or the server's user (the server checks).
 * Security role: none; the server decides.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/deliver.h"
#include "lib/config.h"
#include "lib/util.h"
#include "proto/control.h"

#define ANSWER_MAX	(2 * 1024 * 1024)	/* the server's answers are at most 1 MiB */

static int
usage_control(void)
{
	fprintf(stderr, "usage: buzon who [-c FILE] [--json]\n"
	    "       buzon kick [-c FILE] [--json] USER [ADDRESS]\n"
	    "       buzon mailbox status [-c FILE] [--json] USER [FOLDER]\n"
	    "       buzon ban list [-c FILE] [--json]\n"
	    "       buzon ban remove [-c FILE] [--json] ADDRESS\n");
	return DELIVER_EX_USAGE;
}

/* Append word to line, quoted when it must be (control.h). -1 if it does not fit. */
static int
put_word(char *line, size_t size, size_t *len, const char *word)
{
	bool quote = word[0] == '\0' || strpbrk(word, " \"\\") != NULL;
	size_t o = *len;

	if (o > 0) {
		if (o + 1 >= size)
			return -1;
		line[o++] = ' ';
	}
	if (quote) {
		if (o + 1 >= size)
			return -1;
		line[o++] = '"';
	}
	for (const char *p = word; *p != '\0'; p++) {
		if (quote && (*p == '"' || *p == '\\')) {
			if (o + 1 >= size)
				return -1;
			line[o++] = '\\';
		}
		if (o + 1 >= size)
			return -1;
		line[o++] = *p;
	}
	if (quote) {
		if (o + 1 >= size)
			return -1;
		line[o++] = '"';
	}
	line[o] = '\0';
	*len = o;
	return 0;
}

/* A JSON string or, when it is all digits (and short), a number. */
static void
json_value(const char *p, size_t n, bool numbers)
{
	bool digits = numbers && n > 0 && n < 19;

	for (size_t i = 0; i < n && digits; i++)
		digits = p[i] >= '0' && p[i] <= '9';
	if (digits) {
		printf("%.*s", (int)n, p);
		return;
	}
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* The next whitespace-separated word of [*p, end): its start and length; false at end. */
static bool
next_word(const char **p, const char *end, const char **w, size_t *n)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	if (*p == end)
		return false;
	*w = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*n = (size_t)(*p - *w);
	return true;
}

/*
 * --json: the answer's text as JSON. Tables (a header line of upper-case column names:
 * who, ban list) become an array of objects, "key value" lines an object, anything else
 * {"result": "line"}.
 */
static void
print_json(const char *verb, const char *text, size_t len)
{
	const char *end = text + len, *line = text, *nl;
	bool table = strcmp(verb, "who") == 0 || strcmp(verb, "ban") == 0;
	bool kv = strcmp(verb, "mailbox") == 0 || strcmp(verb, "quota") == 0;
	const char *cols[8];
	size_t ncols = 0, clen[8];
	bool first = true;

	if (strcmp(verb, "kick") == 0) {
		const char *w, *p = text;
		size_t n;

		printf("{\"sessions_ended\": ");
		if (next_word(&p, end, &w, &n))
			json_value(w, n, true);
		else
			printf("0");
		printf("}\n");
		return;
	}
	if (!table && !kv) {
		while (len > 0 && text[len - 1] == '\n')
			len--;
		printf("{\"result\": ");
		json_value(text, len, false);
		printf("}\n");
		return;
	}
	putchar(table ? '[' : '{');
	for (; line < end; line = nl + 1) {
		const char *p = line, *w, *le;
		size_t n;

		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		le = nl;
		if (table && ncols == 0) {
			while (ncols < 8 && next_word(&p, le, &cols[ncols], &clen[ncols]))
				ncols++;
			continue;
		}
		if (!next_word(&p, le, &w, &n))
			continue;
		printf("%s", first ? "" : ", ");
		first = false;
		if (kv) {
			while (p < le && *p == ' ')
				p++;
			json_value(w, n, false);
			printf(": ");
			json_value(p, (size_t)(le - p), true);
			continue;
		}
		putchar('{');
		for (size_t i = 0; i < ncols; i++) {
			if (i > 0 && !next_word(&p, le, &w, &n))
				break;
			printf("%s\"", i > 0 ? ", " : "");
			for (size_t k = 0; k < clen[i]; k++) {
				char ch = cols[i][k];

				putchar(ch == '-' ? '_' : ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
			}
			printf("\": ");
			json_value(w, n, strcmp(verb, "who") != 0 || i == ncols - 1);
		}
		putchar('}');
	}
	printf(table ? "]\n" : "}\n");
}

int
cli_control(int argc, char **argv, int nverb, bool fallback)
{
	const char *cfgpath = "/etc/buzon/buzon.conf";
	struct timeval tv = { 660, 0 };	/* the server's longest deadline is 600 s */
	struct sockaddr_un sun;
	struct config *cfg;
	char line[CONTROL_LINE_MAX], *answer, *last, *err = NULL;
	size_t len = 0, alen = 0;
	int c, fd, ret;
	bool json = false;
	ssize_t n;

	/* --json, anywhere: taken out before getopt sees it */
	for (int i = nverb; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
			for (int k = i; k + 1 < argc; k++)
				argv[k] = argv[k + 1];
			argc--;
			i--;
		}
	if (argc < nverb)
		return fallback ? CLI_CONTROL_OFFLINE : usage_control();
	for (int i = 0; i < nverb; i++)
		if (put_word(line, sizeof(line) - 1, &len, argv[i]) < 0)
			return usage_control();
	optind = 1;
	while ((c = getopt(argc - (nverb - 1), argv + (nverb - 1), "c:")) != -1) {
		if (c != 'c')
			return fallback ? CLI_CONTROL_OFFLINE : usage_control();
		cfgpath = optarg;
	}
	for (int i = optind + nverb - 1; i < argc; i++)
		if (put_word(line, sizeof(line) - 1, &len, argv[i]) < 0) {
			fprintf(stderr, "buzon: request too long\n");
			return DELIVER_EX_USAGE;
		}
	line[len++] = '\n';
	if (config_load(cfgpath, &cfg, &err) < 0) {
		if (fallback)
			return CLI_CONTROL_OFFLINE;	/* the offline command says why */
		fprintf(stderr, "buzon: %s\n", err);
		free(err);
		return DELIVER_EX_CONFIG;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cfg->control_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		if (fallback && (e == ENOENT || e == ECONNREFUSED)) {
			config_free(&cfg);
			return CLI_CONTROL_OFFLINE;	/* no server: the store is ours */
		}
		fprintf(stderr, "buzon: %s: %s (is buzon running?)\n", cfg->control_socket,
		    strerror(e));
		config_free(&cfg);
		return e == EACCES ? DELIVER_EX_NOPERM : 69;
	}
	config_free(&cfg);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len && errno != EPIPE) {
		fprintf(stderr, "buzon: control socket: %s\n", strerror(errno));
		close(fd);
		return DELIVER_EX_TEMPFAIL;
	}
	answer = xmalloc(ANSWER_MAX + 1);
	while (alen < ANSWER_MAX && (n = recv(fd, answer + alen, ANSWER_MAX - alen, 0)) > 0)
		alen += (size_t)n;
	close(fd);
	answer[alen] = '\0';
	/* the last line is the status */
	while (alen > 0 && answer[alen - 1] == '\n')
		answer[--alen] = '\0';
	last = memrchr(answer, '\n', alen);
	last = last != NULL ? last + 1 : answer;
	if (json && strcmp(last, "OK") == 0)
		print_json(argv[0], answer, (size_t)(last - answer));
	else
		fwrite(answer, 1, (size_t)(last - answer), stdout);
	if (strcmp(last, "OK") == 0) {
		ret = 0;
	} else if (strncmp(last, "ERR ", 4) == 0) {
		fprintf(stderr, "buzon: %s\n", last + 4);
		ret = strcmp(last + 4, "no such user") == 0 ? DELIVER_EX_NOUSER :
		    strcmp(last + 4, "permission denied") == 0 ? DELIVER_EX_NOPERM :
		    strcmp(last + 4, "temporary failure") == 0 ? DELIVER_EX_TEMPFAIL :
		    strcmp(last + 4, "unknown verb") == 0 ||
		    strcmp(last + 4, "no such folder") == 0 ||
		    strcmp(last + 4, "wrong number of arguments") == 0 ? DELIVER_EX_USAGE : 1;
	} else {
		fprintf(stderr, "buzon: the server's answer was cut short\n");
		ret = DELIVER_EX_TEMPFAIL;
	}
	free(answer);
	return ret;
}
