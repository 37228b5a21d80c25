/*
 * log.c — line logging to stderr (see log.h). Runs in every process.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_ident[32] = "buzon";
static enum log_level log_min = LOG_LEVEL_INFO;
static bool log_json_on;
static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

void
log_set_json(bool on)
{
	log_json_on = on;
}

bool
log_json(void)
{
	return log_json_on;
}

void
log_set_ident(const char *ident)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

bool
log_debug_enabled(void)
{
	return log_min <= LOG_LEVEL_DEBUG;
}

/* "2026-12-06T11:49:36.123Z" */
static void
log_timestamp(char *out, size_t outsz)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (int)(tv.tv_usec / 1000));
}

/*
 * A bounded JSON writer: appends stop (and `full` is set) when fewer than
 * JW_RESERVE bytes would be left, which is always enough to close the object.
 */
#define JW_RESERVE 8
struct jw {
	char *out;
	size_t len, cap;
	bool full;
};

static void
jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->full || n > w->cap - JW_RESERVE - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->out + w->len, s, n);
	w->len += n;
}

/*
 * RFC 8259 §7: escape '"', '\\' and control characters; a byte that does not start a
 * well-formed UTF-8 sequence (RFC 3629 §4) becomes U+FFFD. Returns false (and writes
 * nothing) when not even the opening quote fits; a string that does not fit whole is
 * cut and closed with `..."`, so the line stays one valid object.
 */
static bool
jw_str(struct jw *w, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	if (w->full)
		return false;
	jw_raw(w, "\"", 1);
	if (w->full)
		return false;
	while (i < n && !w->full) {
		unsigned char c = s[i];
		size_t seq = 0;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			jw_raw(w, e, 2);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			jw_raw(w, e, 6);
			i++;
			continue;
		}
		if (c < 0x80) {
			jw_raw(w, (const char *)&s[i], 1);
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			seq = 2;
		else if (c >= 0xe0 && c <= 0xef)
			seq = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			seq = 4;
		if (seq > 0 && i + seq <= n) {
			unsigned char c1 = s[i + 1];
			bool ok = (c1 & 0xc0) == 0x80;

			if ((c == 0xe0 && c1 < 0xa0) || (c == 0xf0 && c1 < 0x90))
				ok = false;	/* overlong */
			if (c == 0xed && c1 >= 0xa0)
				ok = false;	/* UTF-16 surrogates */
			if (c == 0xf4 && c1 >= 0x90)
				ok = false;	/* above U+10FFFF */
			for (size_t k = 2; k < seq; k++)
				if ((s[i + k] & 0xc0) != 0x80)
					ok = false;
			if (ok) {
				jw_raw(w, (const char *)&s[i], seq);
				i += seq;
				continue;
			}
		}
		jw_raw(w, "\\ufffd", 6);
		i++;
	}
	if (w->full) {
		memcpy(w->out + w->len, "...\"", 4);	/* fits: JW_RESERVE */
		w->len += 4;
		return true;
	}
	jw_raw(w, "\"", 1);
	if (w->full) {
		memcpy(w->out + w->len, "\"", 1);
		w->len += 1;
	}
	return true;
}

static bool
log_key_char(unsigned char c, bool first)
{
	return (c >= 'a' && c <= 'z') || c == '_' ||
	    (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

/*
 * The next word of a log text from *pos: a key=value word (key [a-z_][a-z0-9_.-]*,
 * value up to the next space, or "quoted" up to a quote that ends the text or is
 * followed by a space) returns 1 with key and value; any other word returns 0 with
 * the word in val; the end returns -1.
 */
static int
log_next_word(const unsigned char *t, size_t len, size_t *pos, size_t *kstart,
    size_t *klen, size_t *vstart, size_t *vlen)
{
	size_t i = *pos, start, k;

	while (i < len && t[i] == ' ')
		i++;
	if (i == len) {
		*pos = i;
		return -1;
	}
	start = k = i;
	while (k < len && log_key_char(t[k], k == start))
		k++;
	if (k > start && k < len && t[k] == '=') {
		size_t v = k + 1, e;

		*kstart = start;
		*klen = k - start;
		if (v < len && t[v] == '"') {
			e = v + 1;
			while (e < len && !(t[e] == '"' && (e + 1 == len || t[e + 1] == ' ')))
				e++;
			*vstart = v + 1;
			*vlen = e - (v + 1);
			*pos = e < len ? e + 1 : len;
		} else {
			e = v;
			while (e < len && t[e] != ' ')
				e++;
			*vstart = v;
			*vlen = e - v;
			*pos = e;
		}
		return 1;
	}
	while (i < len && t[i] != ' ')
		i++;
	*vstart = start;
	*vlen = i - start;
	*pos = i;
	return 0;
}

static bool
log_key_reserved(const unsigned char *k, size_t n)
{
	static const char *const fixed[] = { "ts", "level", "proc", "pid", "msg" };

	for (size_t i = 0; i < N_ELEMENTS(fixed); i++)
		if (strlen(fixed[i]) == n && memcmp(fixed[i], k, n) == 0)
			return true;
	return false;
}

size_t
log_json_format(char *out, size_t outsz, const char *ts, const char *level,
    const char *proc, long pid, const char *text, size_t len)
{
	const unsigned char *t = (const unsigned char *)text;
	struct jw w = { out, 0, MIN(outsz, (size_t)LOG_JSON_MAX), false };
	char head[160];
	unsigned char msg[2048];
	size_t pos = 0, m = 0, ks = 0, kl = 0, vs = 0, vl = 0;
	int r;

	jw_raw(&w, "{\"ts\":", 6);
	jw_str(&w, (const unsigned char *)ts, strlen(ts));
	jw_raw(&w, ",\"level\":", 9);
	jw_str(&w, (const unsigned char *)level, strlen(level));
	jw_raw(&w, ",\"proc\":", 8);
	jw_str(&w, (const unsigned char *)proc, strlen(proc));
	snprintf(head, sizeof(head), ",\"pid\":%ld,\"msg\":", pid);
	jw_raw(&w, head, strlen(head));
	/* the words that are not key=value, in order, are the message */
	while ((r = log_next_word(t, len, &pos, &ks, &kl, &vs, &vl)) >= 0) {
		if (r == 1 || vl + 1 > sizeof(msg) - m)
			continue;
		if (m > 0)
			msg[m++] = ' ';
		memcpy(msg + m, t + vs, vl);
		m += vl;
	}
	if (!jw_str(&w, msg, m))
		jw_raw(&w, "\"\"", 2);
	pos = 0;
	while ((r = log_next_word(t, len, &pos, &ks, &kl, &vs, &vl)) >= 0) {
		size_t saved = w.len;

		if (r != 1)
			continue;
		/* a field named like a fixed key keeps its value under field_NAME */
		snprintf(head, sizeof(head), ",\"%s%.*s\":",
		    log_key_reserved(t + ks, kl) ? "field_" : "", (int)MIN(kl, 64), text + ks);
		jw_raw(&w, head, strlen(head));
		if (w.full || !jw_str(&w, t + vs, vl)) {
			w.len = saved;
			break;
		}
		if (w.full)
			break;
	}
	memcpy(out + w.len, "}\n", 2);	/* JW_RESERVE keeps room for it */
	return w.len + 2;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap) PRINTF(2, 0);

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	const char *const *names = log_level_names;
	char line[2048], ts[64];
	size_t n;
	int r, saved = errno;

	if (level < log_min)
		return;
	log_timestamp(ts, sizeof(ts));
	if (log_json_on) {
		char json[LOG_JSON_MAX];

		r = vsnprintf(line, sizeof(line), fmt, ap);
		n = r < 0 ? 0 : MIN((size_t)r, sizeof(line) - 1);
		n = log_json_format(json, sizeof(json), ts, names[level], log_ident,
		    (long)getpid(), line, n);
		(void)!write(STDERR_FILENO, json, n);
		errno = saved;
		return;
	}
	r = snprintf(line, sizeof(line), "%s %s[%d] %s: ", ts, log_ident, (int)getpid(),
	    names[level]);
	n = r < 0 ? 0 : (size_t)r;
	if (n < sizeof(line)) {
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (r > 0)
			n += (size_t)r;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	/* A format argument could carry a newline; keep one event per line. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	errno = saved;
}

bool
log_json_child_line(const char *proc, long pid, const char *p, size_t n)
{
	char json[LOG_JSON_MAX], ts[64], ident[32], level[8];
	const char *text = p, *lv = "warn";
	size_t tlen = n, out;

	if (!log_json_on)
		return false;
	if (n > 4096)
		n = tlen = 4096;
	if (n >= 6 && memcmp(p, "{\"ts\":", 6) == 0 && p[n - 1] == '}') {
		/* already one of our JSON lines (the child loaded the same config) */
		char line[4096 + 1];

		memcpy(line, p, n);
		line[n] = '\n';
		(void)!write(STDERR_FILENO, line, n + 1);
		return true;
	}
	log_timestamp(ts, sizeof(ts));
	snprintf(ident, sizeof(ident), "%s", proc);
	/* a text line written before the child read its config: "TS IDENT[PID] LEVEL: text" */
	{
		const char *sp = memchr(p, ' ', MIN(n, 40)), *colon;

		if (sp != NULL && (colon = memchr(sp, ':', (size_t)(p + n - sp))) != NULL &&
		    colon - sp < 48 && colon + 1 < p + n && colon[1] == ' ') {
			const char *lsp = colon;

			while (lsp > sp + 1 && lsp[-1] != ' ')
				lsp--;
			for (size_t i = 0; i < N_ELEMENTS(log_level_names); i++) {
				size_t ln = strlen(log_level_names[i]);

				if ((size_t)(colon - lsp) == ln && memcmp(lsp, log_level_names[i], ln) == 0) {
					snprintf(ts, sizeof(ts), "%.*s", (int)MIN(sp - p, 40), p);
					snprintf(level, sizeof(level), "%s", log_level_names[i]);
					lv = level;
					text = colon + 2;
					tlen = (size_t)(p + n - text);
					break;
				}
			}
		}
	}
	out = log_json_format(json, sizeof(json), ts, lv, ident, pid, text, tlen);
	(void)!write(STDERR_FILENO, json, out);
	return true;
}

#define LOG_FN(name, level)                     \
	void name(const char *fmt, ...)         \
	{                                       \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_vwrite(level, fmt, ap);     \
		va_end(ap);                     \
	}
LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_error, LOG_LEVEL_ERROR)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	abort();
}

char *
log_sanitize(const void *p, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t o = 0, i;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];
		size_t need = (c < 0x20 || c >= 0x7f || c == '\\' || c == '"') ? 4 : 1;

		if (o + need + 4 > outsz) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
