/*
 * dovecot_conf.c — reads Dovecot 2.3 configuration syntax into a tree (see
 * dovecot_conf.h). Runs in the CLI (`buzon import-dovecot-config`) as the invoking user.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/dovecot_conf.h"
#include "lib/buf.h"
#include "lib/util.h"

/* a $variable expansion may not make a value longer than this */
#define DC_MAX_VALUE (64 * 1024)

struct dc_conf *
dc_conf_create(bool follow_includes)
{
	struct dc_conf *c = xcalloc(1, sizeof(*c));

	c->root.section = true;
	c->follow_includes = follow_includes;
	return c;
}

static void
dc_node_free_children(struct dc_node *n)
{
	struct dc_node *ch = n->first, *next;

	while (ch != NULL) {
		next = ch->next;
		dc_node_free_children(ch);
		free(ch->key);
		free(ch->value);
		free(ch);
		ch = next;
	}
}

void
dc_conf_destroy(struct dc_conf **cp)
{
	struct dc_conf *c = *cp;

	if (c == NULL)
		return;
	dc_node_free_children(&c->root);
	for (unsigned i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	for (unsigned i = 0; i < c->chain_len; i++)
		free(c->chain[i]);
	free(c);
	*cp = NULL;
}

struct dc_node *
dc_get(struct dc_node *s, const char *key)
{
	struct dc_node *found = NULL;

	for (struct dc_node *n = s->first; n != NULL; n = n->next)
		if (!n->section && strcmp(n->key, key) == 0)
			found = n;
	return found;
}

static struct dc_node *
dc_add(struct dc_conf *c, struct dc_node *parent, const char *key, size_t klen, char *value,
    bool section, const char *file, unsigned line)
{
	struct dc_node *n = xcalloc(1, sizeof(*n));

	c->nodes++;
	n->key = xstrndup(key, klen);
	n->value = value;
	n->section = section;
	n->file = file;
	n->line = line;
	n->parent = parent;
	if (parent->last != NULL)
		parent->last->next = n;
	else
		parent->first = n;
	parent->last = n;
	return n;
}

static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A setting or section word: anything up to white space, '=', '{', '}' or '"'. */
static bool
is_word_char(char ch)
{
	return ch != '\0' && !is_space(ch) && ch != '=' && ch != '{' && ch != '}' &&
	    ch != '"' && ch != '\'' && ch != '#';
}

/* The value of `$name` seen from section s: the latest setting of that name, inner first. */
static const char *
dc_lookup_var(struct dc_node *s, const char *name, size_t len)
{
	for (; s != NULL; s = s->parent) {
		struct dc_node *found = NULL;

		for (struct dc_node *n = s->first; n != NULL; n = n->next)
			if (!n->section && strlen(n->key) == len && memcmp(n->key, name, len) == 0)
				found = n;
		if (found != NULL)
			return found->value;
	}
	/* settings whose built-in default is empty in Debian's Dovecot (doveconf -n) */
	if ((len == 9 && memcmp(name, "protocols", 9) == 0) ||
	    (len == 12 && memcmp(name, "mail_plugins", 12) == 0))
		return "";
	return NULL;
}

/* Expand $name in a bare value; an unknown name stays as written. NULL if too long. */
static char *
dc_expand(struct dc_node *s, const char *v, size_t len)
{
	struct buf b;
	size_t i = 0;

	buf_init(&b, DC_MAX_VALUE);
	while (i < len) {
		size_t j = i + 1;
		const char *val;

		if (v[i] != '$') {
			if (buf_append_c(&b, v[i++]) < 0)
				goto toolong;
			continue;
		}
		while (j < len && ((v[j] >= 'a' && v[j] <= 'z') || v[j] == '_' ||
		    (v[j] >= '0' && v[j] <= '9')))
			j++;
		val = j > i + 1 ? dc_lookup_var(s, v + i + 1, j - i - 1) : NULL;
		if (val == NULL) {
			if (buf_append(&b, v + i, j - i) < 0)
				goto toolong;
		} else if (buf_append_str(&b, val) < 0) {
			goto toolong;
		}
		i = j;
	}
	if (buf_append_c(&b, '\0') < 0)
		goto toolong;
	buf_truncate(&b, b.len - 1);
	return buf_steal(&b);
toolong:
	buf_deinit(&b);
	return NULL;
}

/*
 * A quoted string at *p (opening quote included): returns the unescaped text and moves
 * *p past the closing quote, or NULL if it is not closed.
 */
static char *
dc_quoted(const char **p, const char *end)
{
	char q = **p;
	const char *s = *p + 1;
	struct buf b;

	buf_init(&b, DC_MAX_LINE + 1);
	while (s < end && *s != q) {
		char ch = *s++;

		if (ch == '\\' && s < end) {
			ch = *s++;
			if (ch == 'n')
				ch = '\n';
			else if (ch == 't')
				ch = '\t';
		}
		(void)buf_append_c(&b, ch);	/* bounded by the line length */
	}
	if (s >= end) {
		buf_deinit(&b);
		return NULL;
	}
	*p = s + 1;
	(void)buf_append_c(&b, '\0');
	buf_truncate(&b, b.len - 1);
	return buf_steal(&b);
}

/* white space, then the end or a comment */
static bool
dc_rest_empty(const char *p, const char *end)
{
	while (p < end && is_space(*p))
		p++;
	return p == end || *p == '#';
}

static const char *
dc_intern_file(struct dc_conf *c, const char *name)
{
	for (unsigned i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i], name) == 0)
			return c->files[i];
	if (c->nfiles == DC_MAX_FILES)
		return NULL;
	c->files[c->nfiles] = xstrdup(name);
	if (c->on_file != NULL)
		c->on_file(c->on_file_ctx, name, c->nfiles + 1);
	return c->files[c->nfiles++];
}

static int dc_parse_in(struct dc_conf *c, struct dc_node *base, const char *name,
    const char *data, size_t len, char **error_r);
static int dc_parse_file_in(struct dc_conf *c, struct dc_node *base, const char *path,
    char **error_r);

/* !include / !include_try: a glob relative to the including file's directory */
static int
dc_include(struct dc_conf *c, struct dc_node *cur, const char *from, unsigned line,
    const char *arg, bool try, char **error_r)
{
	char *pattern;
	glob_t g;
	int r, ret = 0;

	if (arg[0] == '/') {
		pattern = xstrdup(arg);
	} else {
		const char *slash = strrchr(from, '/');

		pattern = slash == NULL || strcmp(from, "-") == 0 ? xstrdup(arg) :
		    xasprintf("%.*s/%s", (int)(slash - from), from, arg);
	}
	memset(&g, 0, sizeof(g));
	r = glob(pattern, 0, NULL, &g);
	if (r == GLOB_NOMATCH || (r == 0 && g.gl_pathc == 0)) {
		if (!try)
			*error_r = xasprintf("%s:%u: !include %s: no such file", from, line, pattern);
		ret = try ? 0 : -1;
	} else if (r != 0) {
		*error_r = xasprintf("%s:%u: !include %s: cannot read", from, line, pattern);
		ret = -1;
	} else {
		for (size_t i = 0; i < g.gl_pathc && ret == 0; i++) {
			struct stat st;

			/* a glob like conf.d/NAME may list directories; Dovecot reads files */
			if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
				continue;
			ret = dc_parse_file_in(c, cur, g.gl_pathv[i], error_r);
		}
	}
	if (r == 0 || r == GLOB_NOMATCH)
		globfree(&g);
	free(pattern);
	return ret;
}

static int dc_error(char **error_r, const char *name, unsigned line, const char *fmt, ...)
    PRINTF(4, 5);

static int
dc_error(char **error_r, const char *name, unsigned line, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	*error_r = xasprintf("%s:%u: %s", name, line, what);
	return -1;
}

/* One logical line (continuations joined, no NUL); cur is updated for { and }. */
static int
dc_line(struct dc_conf *c, struct dc_node **curp, unsigned *depthp, const char *file,
    unsigned lineno, const char *p, const char *end, char **error_r)
{
	struct dc_node *cur = *curp;
	const char *key;
	size_t klen;

	while (p < end && is_space(*p))
		p++;
	while (end > p && (is_space(end[-1]) || end[-1] == '\r'))
		end--;
	if (p == end || *p == '#')
		return 0;
	if (c->nodes >= DC_MAX_NODES)
		return dc_error(error_r, file, lineno, "more than %d settings", DC_MAX_NODES);
	if (*p == '!') {
		bool try = (size_t)(end - p) > 12 && memcmp(p, "!include_try", 12) == 0 &&
		    is_space(p[12]);
		size_t kl = try ? 12 : 8;
		char *arg;
		int r;

		if (!try && !((size_t)(end - p) > 8 && memcmp(p, "!include", 8) == 0 &&
		    is_space(p[8])))
			return dc_error(error_r, file, lineno, "unknown directive");
		p += kl;
		while (p < end && is_space(*p))
			p++;
		if (p < end && (*p == '"' || *p == '\'')) {
			if ((arg = dc_quoted(&p, end)) == NULL)
				return dc_error(error_r, file, lineno, "unterminated quote");
		} else {
			arg = xstrndup(p, (size_t)(end - p));
		}
		if (arg[0] == '\0') {
			free(arg);
			return dc_error(error_r, file, lineno, "!include without a file");
		}
		if (!c->follow_includes) {
			dc_add(c, cur, try ? "!include_try" : "!include", kl, arg, false, file,
			    lineno);
			return 0;
		}
		r = dc_include(c, cur, file, lineno, arg, try, error_r);
		free(arg);
		return r;
	}
	if (*p == '}') {
		if (*depthp == 0)
			return dc_error(error_r, file, lineno, "'}' without a section");
		if (!dc_rest_empty(p + 1, end))
			return dc_error(error_r, file, lineno, "text after '}'");
		*curp = cur->parent;
		(*depthp)--;
		return 0;
	}
	key = p;
	while (p < end && is_word_char(*p))
		p++;
	klen = (size_t)(p - key);
	if (klen == 0)
		return dc_error(error_r, file, lineno, "expected a setting or a section");
	while (p < end && is_space(*p))
		p++;
	if (p < end && *p == '=') {
		char *value;
		bool hidden = false;

		p++;
		while (p < end && is_space(*p))
			p++;
		if (p < end && (*p == '"' || *p == '\'')) {
			if ((value = dc_quoted(&p, end)) == NULL)
				return dc_error(error_r, file, lineno, "unterminated quote");
			if (!dc_rest_empty(p, end)) {
				free(value);
				return dc_error(error_r, file, lineno, "text after a quoted value");
			}
		} else {
			const char *v = p, *e = p;

			/* a comment starts at a '#' after white space (or the '=') */
			while (e < end && !(*e == '#' && (e == v || is_space(e[-1]))))
				e++;
			hidden = e < end && (size_t)(end - e) >= 8 && memcmp(e, "# hidden", 8) == 0;
			while (e > v && is_space(e[-1]))
				e--;
			if ((value = dc_expand(cur, v, (size_t)(e - v))) == NULL)
				return dc_error(error_r, file, lineno, "value longer than %d bytes",
				    DC_MAX_VALUE);
		}
		dc_add(c, cur, key, klen, value, false, file, lineno)->hidden = hidden;
		return 0;
	}
	/* a section: "type {" or "type name {" */
	{
		char *name = NULL;
		struct dc_node *s;

		if (p < end && (*p == '"' || *p == '\'')) {
			if ((name = dc_quoted(&p, end)) == NULL)
				return dc_error(error_r, file, lineno, "unterminated quote");
		} else if (p < end && *p != '{') {
			const char *n = p;

			while (p < end && !is_space(*p) && *p != '{')
				p++;
			name = xstrndup(n, (size_t)(p - n));
		}
		while (p < end && is_space(*p))
			p++;
		if (p == end || *p != '{' || !dc_rest_empty(p + 1, end)) {
			free(name);
			return dc_error(error_r, file, lineno, "expected '=' or '{' after '%.*s'",
			    (int)MIN(klen, 64), key);
		}
		if (*depthp >= DC_MAX_DEPTH) {
			free(name);
			return dc_error(error_r, file, lineno, "sections nested deeper than %d",
			    DC_MAX_DEPTH);
		}
		s = dc_add(c, cur, key, klen, name, true, file, lineno);
		*curp = s;
		(*depthp)++;
		return 0;
	}
}

static int
dc_parse_in(struct dc_conf *c, struct dc_node *base, const char *name, const char *data,
    size_t len, char **error_r)
{
	const char *file, *p = data, *end = data + len;
	struct dc_node *cur = base;
	unsigned lineno = 0, depth = 0, open_line[DC_MAX_DEPTH + 1];
	struct buf line;
	int ret = 0;

	if ((file = dc_intern_file(c, name)) == NULL)
		return dc_error(error_r, name, 0, "more than %d files", DC_MAX_FILES);
	if (len > DC_MAX_FILE_SIZE)
		return dc_error(error_r, file, 0, "larger than %d bytes", DC_MAX_FILE_SIZE);
	if (memchr(data, '\0', len) != NULL) {
		const char *nul = memchr(data, '\0', len);
		unsigned l = 1;

		for (const char *q = data; q < nul; q++)
			l += *q == '\n';
		return dc_error(error_r, file, l, "NUL byte: not a text file");
	}
	buf_init(&line, DC_MAX_LINE);
	while (p < end && ret == 0) {
		unsigned first = lineno + 1;

		buf_reset(&line);
		/* join lines ending in a backslash */
		for (;;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *le = nl != NULL ? nl : end;
			bool cont;

			lineno++;
			if (le > p && le[-1] == '\r')
				le--;
			cont = le > p && le[-1] == '\\';
			if (buf_append(&line, p, (size_t)(le - p) - (cont ? 1 : 0)) < 0) {
				ret = dc_error(error_r, file, first, "line longer than %d bytes",
				    DC_MAX_LINE);
				break;
			}
			p = nl != NULL ? nl + 1 : end;
			if (!cont || p == end)
				break;
		}
		if (ret != 0)
			break;
		{
			unsigned before = depth;

			ret = dc_line(c, &cur, &depth, file, first, line.data == NULL ? "" : line.data,
			    (line.data == NULL ? "" : line.data) + line.len, error_r);
			if (ret == 0 && depth > before)
				open_line[depth] = first;
		}
	}
	buf_deinit(&line);
	if (ret == 0 && depth > 0)
		ret = dc_error(error_r, file, open_line[depth], "section '%s' is not closed",
		    cur->key);
	return ret;
}

static int
dc_parse_file_in(struct dc_conf *c, struct dc_node *base, const char *path, char **error_r)
{
	char real[PATH_MAX], *data;
	struct stat st;
	ssize_t r;
	size_t len = 0;
	int fd, ret;

	if (realpath(path, real) == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < c->chain_len; i++)
		if (strcmp(c->chain[i], real) == 0) {
			*error_r = xasprintf("%s: include loop (%s includes itself)", path,
			    c->chain[i]);
			return -1;
		}
	if (c->chain_len > DC_MAX_INCLUDE_DEPTH) {
		*error_r = xasprintf("%s: includes nested deeper than %d", path,
		    DC_MAX_INCLUDE_DEPTH);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*error_r = xasprintf("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > DC_MAX_FILE_SIZE) {
		*error_r = xasprintf("%s: larger than %d bytes", path, DC_MAX_FILE_SIZE);
		close(fd);
		return -1;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size + 1 &&
	    (r = read(fd, data + len, (size_t)st.st_size + 1 - len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*error_r = xasprintf("%s: %s", path, strerror(errno));
			free(data);
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	if (len > (size_t)st.st_size) {
		*error_r = xasprintf("%s: changed while being read", path);
		free(data);
		return -1;
	}
	c->chain[c->chain_len++] = xstrdup(real);
	ret = dc_parse_in(c, base, path, data, len, error_r);
	free(c->chain[--c->chain_len]);
	free(data);
	return ret;
}

int
dc_conf_parse_buffer(struct dc_conf *c, const char *name, const char *data, size_t len,
    char **error_r)
{
	return dc_parse_in(c, &c->root, name, data, len, error_r);
}

int
dc_conf_parse_file(struct dc_conf *c, const char *path, char **error_r)
{
	return dc_parse_file_in(c, &c->root, path, error_r);
}
