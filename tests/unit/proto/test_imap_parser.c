/*
 * test_imap_parser.c — unit tests for the incremental IMAP command parser: a table of
 * commands (valid, malformed, over the limits) each parsed whole, split at every offset
 * and byte by byte with identical outcomes, plus pipelining, limits and helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/imap_parser.h"
#include "lib/buf.h"

#define DONE IMAP_PARSE_DONE
#define ERR IMAP_PARSE_ERROR
#define MORE IMAP_PARSE_MORE
#define E_NONE IMAP_PARSE_ERROR_NONE
#define E_BAD IMAP_PARSE_ERROR_BAD
#define E_TOOBIG IMAP_PARSE_ERROR_TOOBIG
#define E_FATAL IMAP_PARSE_ERROR_FATAL

struct outcome {
	enum imap_parse_result res;
	enum imap_parse_error err;
	char tag[128];
	bool has_tag;
	char cmd[128];
	bool has_cmd;
	struct buf args;
	size_t consumed;
	unsigned conts;
	unsigned streams;
};

static int stream_marker;

static void
ser(struct buf *b, const struct imap_arg *a, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			assert_int_equal(buf_append_c(b, ' '), 0);
		switch (a[i].type) {
		case IMAP_ARG_NIL:
			assert_string_equal(a[i].str, "NIL");
			buf_append_str(b, "#NIL");
			break;
		case IMAP_ARG_ATOM:
			assert_int_equal(a[i].str[a[i].len], '\0');
			buf_append(b, a[i].str, a[i].len);
			break;
		case IMAP_ARG_QUOTED:
			assert_int_equal(a[i].str[a[i].len], '\0');
			buf_appendf(b, "\"%s\"", a[i].str);
			break;
		case IMAP_ARG_LITERAL:
			assert_int_equal(a[i].str[a[i].len], '\0');
			buf_appendf(b, "%s{%zu}", a[i].literal8 ? "~" : "", a[i].len);
			buf_append(b, a[i].str, a[i].len);
			break;
		case IMAP_ARG_LIST:
			buf_append_c(b, '(');
			ser(b, a[i].list, a[i].list_count);
			buf_append_c(b, ')');
			break;
		case IMAP_ARG_LITERAL_STREAM:
			assert_ptr_equal(a[i].stream_handle, &stream_marker);
			buf_appendf(b, "<S%s%llu>", a[i].literal8 ? "~" : "",
			    (unsigned long long)a[i].stream_size);
			break;
		}
	}
}

/*
 * Feed in[0..len) to a new parser, delivering the bytes in chunks: [0,split) then the
 * rest when step == 0, else step bytes at a time. Streamed literals are skipped like a
 * caller writing them to a file would.
 */
static void
drive(const struct imap_parser_limits *lim, unsigned flags, const char *in, size_t len,
    size_t split, size_t step, struct outcome *o)
{
	struct imap_parser *p = imap_parser_create(lim, flags);
	size_t pos = 0, avail = 0;
	uint64_t skip = 0;
	bool skipping = false;
	const char *s;

	memset(o, 0, sizeof(*o));
	buf_init(&o->args, 1 << 20);
	o->res = MORE;
	for (;;) {
		enum imap_parse_result r;
		size_t c, before;

		if (pos == avail) {
			if (avail == len)
				break;
			if (step > 0)
				avail = MIN(len, avail + step);
			else
				avail = avail < split ? split : len;
			continue;
		}
		if (skipping) {
			size_t n = (size_t)MIN(skip, (uint64_t)(avail - pos));

			pos += n;
			skip -= n;
			if (skip == 0) {
				skipping = false;
				imap_parser_stream_done(p, &stream_marker);
			}
			continue;
		}
		before = pos;
		r = imap_parser_feed(p, (const unsigned char *)in + pos, avail - pos, &c);
		assert_true(c <= avail - pos);
		pos += c;
		if (r == MORE) {
			assert_int_equal(pos, avail);
			continue;
		}
		if (r == IMAP_PARSE_LITERAL_CONT) {
			assert_true(imap_parser_literal_is_sync(p));
			o->conts++;
			continue;
		}
		if (r == IMAP_PARSE_LITERAL_STREAM) {
			o->streams++;
			skip = imap_parser_literal_size(p);
			skipping = true;
			if (skip == 0) {
				skipping = false;
				imap_parser_stream_done(p, &stream_marker);
			}
			continue;
		}
		(void)before;
		o->res = r;
		break;
	}
	/* a trailing empty stream literal at the very end of the input */
	o->err = imap_parser_error(p, &s);
	if (o->res == ERR) {
		assert_int_not_equal(o->err, E_NONE);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
	if (imap_parser_tag(p) != NULL) {
		o->has_tag = true;
		snprintf(o->tag, sizeof(o->tag), "%s", imap_parser_tag(p));
	}
	if (imap_parser_command(p) != NULL) {
		o->has_cmd = true;
		snprintf(o->cmd, sizeof(o->cmd), "%s", imap_parser_command(p));
	}
	if (o->res == DONE) {
		unsigned n;
		const struct imap_arg *a = imap_parser_args(p, &n);

		ser(&o->args, a, n);
	}
	o->consumed = pos;
	imap_parser_destroy(&p);
	assert_null(p);
}

struct pcase {
	const char *name;
	const char *in;
	size_t len;		/* 0: strlen(in) */
	enum imap_parse_result res;
	enum imap_parse_error err;
	const char *tag;	/* NULL: no valid tag */
	const char *cmd;	/* NULL: don't check */
	const char *args;	/* DONE only */
	size_t args_len;	/* 0: strlen(args) */
	ssize_t consumed;	/* -1: all */
	unsigned conts;
	unsigned streams;
	int limits;		/* 0 post-auth, 1 pre-auth, 2 small */
};

#define L(s) s, sizeof(s) - 1

static const struct pcase cases[] = {
	{ "noop", "a1 NOOP\r\n", 0, DONE, E_NONE, "a1", "NOOP", "", 0, -1, 0, 0, 0 },
	{ "bare LF", "a1 NOOP\n", 0, DONE, E_NONE, "a1", "NOOP", "", 0, -1, 0, 0, 0 },
	{ "trailing space", "a1 NOOP \r\n", 0, DONE, E_NONE, "a1", "NOOP", "", 0, -1, 0, 0, 0 },
	{ "login quoted", "a LOGIN alice \"pass word\"\r\n", 0, DONE, E_NONE, "a", "LOGIN",
	  "alice \"pass word\"", 0, -1, 0, 0, 0 },
	{ "login literals", "a LOGIN {5}\r\nalice {3+}\r\npwd\r\n", 0, DONE, E_NONE, "a",
	  "LOGIN", "{5}alice {3}pwd", 0, -1, 1, 0, 1 },
	{ "fetch sections", "a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048> "
	  "BODY[] BINARY[1.2])\r\n", 0, DONE, E_NONE, "a", "FETCH",
	  "1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048> BODY[] BINARY[1.2])",
	  0, -1, 0, 0, 0 },
	{ "bracket quoted", "a FETCH 1 BODY[HEADER.FIELDS (\"]\" \"a\\\"b\")]\r\n", 0, DONE,
	  E_NONE, "a", "FETCH", "1 BODY[HEADER.FIELDS (\"]\" \"a\\\"b\")]", 0, -1, 0, 0, 0 },
	{ "flags", "a STORE 1,3:5 +FLAGS.SILENT (\\Seen \\* $Junk)\r\n", 0, DONE, E_NONE, "a",
	  "STORE", "1,3:5 +FLAGS.SILENT (\\Seen \\* $Junk)", 0, -1, 0, 0, 0 },
	{ "list wildcards", "a LIST \"\" %/x*\r\n", 0, DONE, E_NONE, "a", "LIST",
	  "\"\" %/x*", 0, -1, 0, 0, 0 },
	{ "nil", "a X NIL \"NIL\" nil NILS\r\n", 0, DONE, E_NONE, "a", "X",
	  "#NIL \"NIL\" #NIL NILS", 0, -1, 0, 0, 0 },
	{ "nested", "a X (a (b (c)) () ( x ))\r\n", 0, DONE, E_NONE, "a", "X",
	  "(a (b (c)) () (x))", 0, -1, 0, 0, 0 },
	{ "escapes", "a X \"a\\\"b\\\\c\" \"\"\r\n", 0, DONE, E_NONE, "a", "X",
	  "\"a\"b\\c\" \"\"", 0, -1, 0, 0, 0 },
	{ "tilde atom", "a X ~abc ]x\r\n", 0, DONE, E_NONE, "a", "X", "~abc ]x", 0, -1, 0, 0, 0 },
	{ "literal8", L("a X ~{3}\r\na\0b\r\n"), DONE, E_NONE, "a", "X", L("~{3}a\0b"), -1,
	  1, 0, 0 },
	{ "literal8 nonsync", L("a X ~{3+}\r\na\0b\r\n"), DONE, E_NONE, "a", "X", L("~{3}a\0b"),
	  -1, 0, 0, 0 },
	{ "literal crlf", "a X {4}\r\na\r\nb (c)\r\n", 0, DONE, E_NONE, "a", "X", "{4}a\r\nb (c)",
	  0, -1, 1, 0, 0 },
	{ "literal in list", "a X (a {1}\r\nb)\r\n", 0, DONE, E_NONE, "a", "X", "(a {1}b)", 0,
	  -1, 1, 0, 0 },
	{ "empty literal", "a X {0}\r\n {0+}\r\n\r\n", 0, DONE, E_NONE, "a", "X", "{0} {0}", 0,
	  -1, 1, 0, 0 },
	{ "append stream", "a APPEND INBOX (\\Seen) \"1-Feb-1994 01:02:03 +0000\" {5}\r\n"
	  "Hello\r\n", 0, DONE, E_NONE, "a", "APPEND",
	  "INBOX (\\Seen) \"1-Feb-1994 01:02:03 +0000\" <S5>", 0, -1, 0, 1, 0 },
	{ "multiappend", "a APPEND INBOX {3}\r\nabc (\\Seen) {2+}\r\nde ~{1}\r\nx\r\n", 0,
	  DONE, E_NONE, "a", "APPEND", "INBOX <S3> (\\Seen) <S2> <S~1>", 0, -1, 0, 3, 0 },
	{ "append mailbox literal", "a append {5}\r\nINBOX {3}\r\nabc\r\n", 0, DONE, E_NONE,
	  "a", "append", "{5}INBOX <S3>", 0, -1, 1, 1, 0 },
	/* RFC 4469 §5: a CATENATE TEXT part streams like a message literal */
	{ "append catenate", "a APPEND INBOX CATENATE (TEXT {3}\r\nabc URL \"/x\")\r\n", 0,
	  DONE, E_NONE, "a", "APPEND", "INBOX CATENATE (TEXT <S3> URL \"/x\")", 0, -1, 0, 1,
	  0 },
	{ "append catenate multi", "a APPEND INBOX (\\Seen) CATENATE (URL \"/x\" TEXT {1+}\r\n"
	  "a TEXT ~{2}\r\nbc) catenate (text {1}\r\nd)\r\n", 0, DONE, E_NONE, "a", "APPEND",
	  "INBOX (\\Seen) CATENATE (URL \"/x\" TEXT <S1> TEXT <S~2>) catenate (text <S1>)", 0,
	  -1, 0, 3, 0 },
	{ "append catenate url literal", "a APPEND INBOX CATENATE (URL {2}\r\n/x)\r\n", 0,
	  DONE, E_NONE, "a", "APPEND", "INBOX CATENATE (URL {2}/x)", 0, -1, 1, 0, 0 },
	{ "append catenate mailbox position", "a APPEND CATENATE (TEXT {3}\r\nabc)\r\n", 0,
	  DONE, E_NONE, "a", "APPEND", "CATENATE (TEXT {3}abc)", 0, -1, 1, 0, 0 },
	{ "other command catenate", "a X INBOX CATENATE (TEXT {3}\r\nabc)\r\n", 0, DONE,
	  E_NONE, "a", "X", "INBOX CATENATE (TEXT {3}abc)", 0, -1, 1, 0, 0 },
	/* RFC 8508: REPLACE seq mailbox message, UID REPLACE uid mailbox message */
	{ "replace stream", "a REPLACE 1 Drafts (\\Draft) {3}\r\nabc\r\n", 0, DONE, E_NONE,
	  "a", "REPLACE", "1 Drafts (\\Draft) <S3>", 0, -1, 0, 1, 0 },
	{ "replace mailbox literal", "a REPLACE 1 {6}\r\nDrafts {3}\r\nabc\r\n", 0, DONE,
	  E_NONE, "a", "REPLACE", "1 {6}Drafts <S3>", 0, -1, 1, 1, 0 },
	{ "uid replace stream", "a UID REPLACE 7 {6}\r\nDrafts CATENATE (TEXT {3}\r\nabc)"
	  "\r\n", 0, DONE, E_NONE, "a", "UID", "REPLACE 7 {6}Drafts CATENATE (TEXT <S3>)", 0,
	  -1, 1, 1, 0 },
	{ "uid other literal", "a UID FETCH 1 {3}\r\nabc\r\n", 0, DONE, E_NONE, "a", "UID",
	  "FETCH 1 {3}abc", 0, -1, 1, 0, 0 },
	{ "append empty stream", "a APPEND x {0}\r\n\r\n", 0, DONE, E_NONE, "a", "APPEND",
	  "x <S0>", 0, -1, 0, 1, 0 },
	/* RFC 6855 §4: "UTF8 (literal8)" streams like a top-level message literal */
	{ "append utf8", "a APPEND INBOX UTF8 (~{3}\r\nabc)\r\n", 0, DONE, E_NONE, "a",
	  "APPEND", "INBOX UTF8 (<S~3>)", 0, -1, 0, 1, 0 },
	{ "append utf8 multi", "a APPEND INBOX UTF8 (~{1+}\r\na) (\\Seen) utf8 (~{2+}\r\nbc)"
	  "\r\n", 0, DONE, E_NONE, "a", "APPEND", "INBOX UTF8 (<S~1>) (\\Seen) utf8 (<S~2>)", 0,
	  -1, 0, 2, 0 },
	{ "append utf8 plain literal", "a APPEND INBOX UTF8 ({3}\r\nabc)\r\n", 0, DONE,
	  E_NONE, "a", "APPEND", "INBOX UTF8 ({3}abc)", 0, -1, 1, 0, 0 },
	{ "append utf8 second item", "a APPEND INBOX UTF8 (x ~{3}\r\nabc)\r\n", 0, DONE,
	  E_NONE, "a", "APPEND", "INBOX UTF8 (x ~{3}abc)", 0, -1, 1, 0, 0 },
	{ "append other atom list", "a APPEND INBOX X (~{3}\r\nabc)\r\n", 0, DONE,
	  E_NONE, "a", "APPEND", "INBOX X (~{3}abc)", 0, -1, 1, 0, 0 },
	{ "uid fetch", "A003 UID FETCH 4827313:4828442 FLAGS\r\n", 0, DONE, E_NONE, "A003",
	  "UID", "FETCH 4827313:4828442 FLAGS", 0, -1, 0, 0, 0 },
	{ "pipelined", "a NOOP\r\nb NOOP\r\n", 0, DONE, E_NONE, "a", "NOOP", "", 0, 8, 0, 0, 0 },

	/* malformed */
	{ "tag only", "a\r\n", 0, ERR, E_BAD, "a", NULL, NULL, 0, -1, 0, 0, 0 },
	{ "tag space", "a \r\n", 0, ERR, E_BAD, "a", NULL, NULL, 0, -1, 0, 0, 0 },
	{ "empty line", "\r\nb NOOP\r\n", 0, ERR, E_BAD, NULL, NULL, NULL, 0, 2, 0, 0, 0 },
	{ "space first", " NOOP\r\n", 0, ERR, E_BAD, NULL, NULL, NULL, 0, -1, 0, 0, 0 },
	{ "tag plus", "a+b NOOP\r\nc", 0, ERR, E_BAD, NULL, NULL, NULL, 0, 10, 0, 0, 0 },
	{ "tag html", "<script> NOOP\r\n", 0, ERR, E_BAD, NULL, NULL, NULL, 0, -1, 0, 0, 0 },
	{ "tag quote", "a\"b NOOP\r\n", 0, ERR, E_BAD, NULL, NULL, NULL, 0, -1, 0, 0, 0 },
	{ "tag star", "* NOOP\r\n", 0, ERR, E_BAD, NULL, NULL, NULL, 0, -1, 0, 0, 0 },
	{ "tag 8bit", "\xc3\xa9 NOOP\r\n", 0, ERR, E_BAD, NULL, NULL, NULL, 0, -1, 0, 0, 0 },
	{ "tag 64", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa NOOP\r\n",
	  0, DONE, E_NONE, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "NOOP", "", 0, -1, 0, 0, 0 },
	{ "tag 65", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa NOOP\r\n",
	  0, ERR, E_BAD, NULL, NULL, NULL, 0, -1, 0, 0, 0 },
	/* syntactically a command: the command layer rejects "/" (and must not echo) */
	{ "http", "GET / HTTP/1.1\r\n", 0, DONE, E_NONE, "GET", "/", "HTTP/1.1", 0, -1, 0, 0,
	  0 },
	{ "bad command char", "a NO\"OP\r\n", 0, ERR, E_BAD, "a", NULL, NULL, 0, -1, 0, 0, 0 },
	{ "command too long", "a XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	  "XXXXXXXXXXXXXXXXX\r\n", 0, ERR, E_BAD, "a", NULL, NULL, 0, -1, 0, 0, 0 },
	{ "bare CR", "a NOOP\rX\r\nb", 0, ERR, E_BAD, "a", "NOOP", NULL, 0, 10, 0, 0, 0 },
	{ "CR CR LF", "a NOOP\r\r\n", 0, ERR, E_BAD, "a", "NOOP", NULL, 0, -1, 0, 0, 0 },
	{ "unterminated quoted", "a X \"abc\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0,
	  0 },
	{ "NUL quoted", L("a X \"a\0b\"\r\n"), ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "8bit quoted", "a X \"\xc3\xa9\"\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "bad escape", "a X \"\\n\"\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "missing space", "a X \"a\"\"b\"\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0,
	  0 },
	{ "missing space list", "a X (a)(b)\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0,
	  0 },
	{ "missing paren", "a X (a\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "extra paren", "a X a)\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "atom brace", "a X ab{5}\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "atom ctl", "a X a\x01 b\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "atom 8bit", "a X \xff\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	/* '[' is an ATOM-CHAR: an unclosed one ends with the line (the command judges) */
	{ "bracket open", "a FETCH 1 BODY[HEADER\r\n", 0, DONE, E_NONE, "a", "FETCH",
	  "1 BODY[HEADER", 0, -1, 0, 0, 0 },
	{ "bracket open mailbox", "a SELECT foo[bar\r\n", 0, DONE, E_NONE, "a", "SELECT",
	  "foo[bar", 0, -1, 0, 0, 0 },
	{ "close brace atom", "a SELECT foo}bar\r\n", 0, DONE, E_NONE, "a", "SELECT",
	  "foo}bar", 0, -1, 0, 0, 0 },
	{ "literal no digits", "a X {}\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "literal letters", "a X {1a}\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "literal minus", "a X {-1}\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "literal no crlf", "a X {5}x\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "literal plus junk", "a X {5+x}\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "literal NUL", L("a X {3}\r\na\0b\r\n"), ERR, E_BAD, "a", "X", NULL, 0, -1, 1, 0, 0 },
	{ "after literal", "a X {1}\r\naB\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 1, 0, 0 },
	{ "sync too big", "a X {65537}\r\nb NOOP\r\n", 0, ERR, E_TOOBIG, "a", "X", NULL, 0, 13,
	  0, 0, 0 },
	{ "sync over line", "a X {65530}\r\n", 0, ERR, E_TOOBIG, "a", "X", NULL, 0, -1, 0, 0,
	  0 },
	{ "sync overflow", "a X {99999999999999999999999}\r\n", 0, ERR, E_TOOBIG, "a", "X",
	  NULL, 0, -1, 0, 0, 0 },
	{ "nonsync 4097", "a X {4097+}\r\n", 0, ERR, E_FATAL, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "nonsync overflow", "a X {99999999999999999999999+}\r\n", 0, ERR, E_FATAL, "a", "X",
	  NULL, 0, -1, 0, 0, 0 },
	{ "nonsync 4096", "a X {4096+}\r\n", 0, MORE, E_NONE, "a", "X", NULL, 0, -1, 0, 0, 0 },
	{ "bad line nonsync literal", "a X \x01 {5+}\r\nb NO\n\r\nc NOOP\r\n", 0, ERR, E_BAD,
	  "a", "X", NULL, 0, 19, 0, 0, 0 },
	{ "bad line sync literal", "a X \x01 {5}\r\nb NOOP\r\n", 0, ERR, E_BAD, "a", "X", NULL,
	  0, 11, 0, 0, 0 },
	{ "bad line big nonsync", "a X \x01 {5000+}\r\n", 0, ERR, E_FATAL, "a", "X", NULL, 0,
	  -1, 0, 0, 0 },
	{ "append too big", "a APPEND x {52428801}\r\n", 0, ERR, E_TOOBIG, "a", "APPEND",
	  NULL, 0, -1, 0, 0, 0 },
	{ "append nonsync big", "a APPEND x {5000+}\r\n", 0, ERR, E_FATAL, "a", "APPEND", NULL,
	  0, -1, 0, 0, 0 },
	{ "append max", "a APPEND x {52428800}\r\n", 0, MORE, E_NONE, "a", "APPEND", NULL, 0,
	  -1, 0, 1, 0 },
	/* small limits: max_line 64, max_literal 16, depth 2, items 5, tag 8 */
	{ "small deep", "a X ((a))\r\n", 0, DONE, E_NONE, "a", "X", "((a))", 0, -1, 0, 0, 2 },
	{ "small too deep", "a X (((a)))\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 2 },
	{ "small items", "a X a (c d) e\r\n", 0, DONE, E_NONE, "a", "X", "a (c d) e", 0,
	  -1, 0, 0, 2 },
	{ "small too many", "a X a b (c d) e\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0,
	  0, 2 },
	{ "small literal", "a X {16}\r\n0123456789abcdef\r\n", 0, DONE, E_NONE, "a", "X",
	  "{16}0123456789abcdef", 0, -1, 1, 0, 2 },
	{ "small literal big", "a X {17}\r\n", 0, ERR, E_TOOBIG, "a", "X", NULL, 0, -1, 0, 0,
	  2 },
	{ "small line", "a X 01234567890123456789012345678901234567890123456789012345678\r\n",
	  0, ERR, E_FATAL, "a", "X", NULL, 0, 64, 0, 0, 2 },
	{ "small line exact", "a X 012345678901234567890123456789012345678901234567890123456\r\n",
	  0, DONE, E_NONE, "a", "X", "012345678901234567890123456789012345678901234567890123456",
	  0, -1, 0, 0, 2 },
	{ "small bad line long", "a X \x01xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxx\r\n", 0, ERR, E_FATAL, "a", "X", NULL, 0, 64, 0, 0, 2 },
	{ "small tag", "abcdefghi NOOP\r\n", 0, ERR, E_BAD, NULL, NULL, NULL, 0, -1, 0, 0, 2 },
	/* pre-auth: one list level, 8 KiB */
	{ "preauth list", "a X (a b)\r\n", 0, DONE, E_NONE, "a", "X", "(a b)", 0, -1, 0, 0,
	  1 },
	{ "preauth nested", "a X ((a))\r\n", 0, ERR, E_BAD, "a", "X", NULL, 0, -1, 0, 0, 1 },
	{ "preauth literal", "a X {8192}\r\n", 0, ERR, E_TOOBIG, "a", "X", NULL, 0, -1, 0, 0,
	  1 },
};

static void
get_limits(int which, struct imap_parser_limits *l)
{
	imap_parser_limits_default(l, which != 1);
	if (which == 2) {
		l->max_line = 64;
		l->max_literal = 16;
		l->max_depth = 2;
		l->max_items = 5;
		l->max_tag = 8;
	}
}

static void
check_outcome(const struct pcase *c, const struct outcome *o)
{
	size_t len = c->len ? c->len : strlen(c->in);

	if (o->res != c->res || o->err != c->err)
		fail_msg("%s: result %d/%d, want %d/%d", c->name, o->res, o->err, c->res, c->err);
	if (c->tag == NULL) {
		if (o->has_tag)
			fail_msg("%s: tag %s, want none", c->name, o->tag);
	} else {
		if (!o->has_tag)
			fail_msg("%s: no tag", c->name);
		assert_string_equal(o->tag, c->tag);
	}
	if (c->cmd != NULL) {
		if (!o->has_cmd)
			fail_msg("%s: no command", c->name);
		assert_string_equal(o->cmd, c->cmd);
	}
	if (c->res == DONE) {
		size_t al = c->args_len ? c->args_len : strlen(c->args);

		if (o->args.len != al || (al > 0 && memcmp(o->args.data, c->args, al) != 0))
			fail_msg("%s: args [%s], want [%s]", c->name, buf_cstr(&o->args), c->args);
	}
	if (o->consumed != (c->consumed >= 0 ? (size_t)c->consumed : len))
		fail_msg("%s: consumed %zu", c->name, o->consumed);
	if (o->conts != c->conts || o->streams != c->streams)
		fail_msg("%s: conts %u streams %u, want %u %u", c->name, o->conts, o->streams,
		    c->conts, c->streams);
}

static void
test_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct pcase *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct imap_parser_limits lim;
		struct outcome o;

		get_limits(c->limits, &lim);
		drive(&lim, 0, c->in, len, len, 0, &o);
		check_outcome(c, &o);
		buf_deinit(&o.args);
		for (size_t split = 0; split <= len; split++) {
			drive(&lim, 0, c->in, len, split, 0, &o);
			check_outcome(c, &o);
			buf_deinit(&o.args);
		}
		drive(&lim, 0, c->in, len, 0, 1, &o);
		check_outcome(c, &o);
		buf_deinit(&o.args);
		drive(&lim, 0, c->in, len, 0, 3, &o);
		check_outcome(c, &o);
		buf_deinit(&o.args);
	}
}

static void
test_utf8_flag(void **state)
{
	struct imap_parser_limits lim;
	struct outcome o;
	const char *in = "a SELECT \"Entw\xc3\xbcrfe\"\r\n";

	imap_parser_limits_default(&lim, true);
	drive(&lim, IMAP_PARSER_FLAG_UTF8, in, strlen(in), 0, 1, &o);
	assert_int_equal(o.res, DONE);
	assert_string_equal(buf_cstr(&o.args), "\"Entw\xc3\xbcrfe\"");
	buf_deinit(&o.args);
	drive(&lim, 0, in, strlen(in), strlen(in), 0, &o);
	assert_int_equal(o.res, ERR);
	assert_int_equal(o.err, E_BAD);
	buf_deinit(&o.args);
	/* 8-bit that is not UTF-8 stays BAD with the flag (RFC 6855 §3) */
	in = "a LOGIN u \"\xc3(\"\r\n";
	drive(&lim, IMAP_PARSER_FLAG_UTF8, in, strlen(in), 0, 1, &o);
	assert_int_equal(o.res, ERR);
	assert_int_equal(o.err, E_BAD);
	buf_deinit(&o.args);
	in = "a LOGIN u \"contrase\xc3\xb1" "a\"\r\n";
	drive(&lim, IMAP_PARSER_FLAG_UTF8, in, strlen(in), 0, 3, &o);
	assert_int_equal(o.res, DONE);
	assert_string_equal(buf_cstr(&o.args), "u \"contrase\xc3\xb1" "a\"");
	buf_deinit(&o.args);
}

/* Feed s (built in b) with LITERAL+ and return the outcome; checks all was consumed. */
static void
drive_plus(const struct imap_parser_limits *lim, struct buf *b, size_t step,
    struct outcome *o)
{
	drive(lim, IMAP_PARSER_FLAG_LITERAL_PLUS, b->data, b->len, 0, step, o);
}

static void
test_literal_plus(void **state)
{
	struct imap_parser_limits lim;
	struct outcome o;
	struct buf b;

	imap_parser_limits_default(&lim, true);
	lim.max_stream_literal = 1000000;
	buf_init(&b, BUF_UNLIMITED);

	/* a non-APPEND literal over the in-memory limit: read and discarded, then BAD,
	 * and the commands inside it are never seen */
	buf_appendf(&b, "a SELECT {%zu+}\r\n", (size_t)200000);
	for (size_t i = 0; i < 200000 / 10; i++)
		buf_append_str(&b, "x NOOP\r\nzz");
	buf_append_str(&b, "\r\n");
	drive_plus(&lim, &b, 0, &o);
	assert_int_equal(o.res, ERR);
	assert_int_equal(o.err, E_BAD);
	assert_int_equal(o.consumed, b.len);
	assert_string_equal(o.tag, "a");
	buf_deinit(&o.args);
	drive_plus(&lim, &b, 4093, &o);
	assert_int_equal(o.res, ERR);
	assert_int_equal(o.consumed, b.len);
	buf_deinit(&o.args);

	/* an APPEND literal within the stream limit: streamed, no continuation */
	buf_reset(&b);
	buf_appendf(&b, "a APPEND INBOX {%zu+}\r\n", (size_t)500000);
	for (size_t i = 0; i < 500000; i++)
		buf_append_c(&b, 'y');
	buf_append_str(&b, "\r\n");
	drive_plus(&lim, &b, 0, &o);
	assert_int_equal(o.res, DONE);
	assert_int_equal(o.streams, 1);
	assert_int_equal(o.conts, 0);
	assert_string_equal(buf_cstr(&o.args), "INBOX <S500000>");
	buf_deinit(&o.args);

	/* one over it (second message of a MULTIAPPEND): discarded, then TOOBIG */
	buf_reset(&b);
	buf_appendf(&b, "a APPEND INBOX {3+}\r\nabc {%zu+}\r\n", (size_t)1000001);
	for (size_t i = 0; i < 1000001; i++)
		buf_append_c(&b, 'w');
	buf_append_str(&b, " {2+}\r\nzz\r\n");
	drive_plus(&lim, &b, 65536, &o);
	assert_int_equal(o.res, ERR);
	assert_int_equal(o.err, IMAP_PARSE_ERROR_TOOBIG);
	assert_int_equal(o.consumed, b.len);
	buf_deinit(&o.args);

	/* past what one command may discard: the connection's end (FATAL) */
	buf_reset(&b);
	buf_appendf(&b, "a SELECT {%llu+}\r\n", (unsigned long long)lim.max_stream_literal +
	    64ULL * 1024 * 1024 + 1);
	drive_plus(&lim, &b, 0, &o);
	assert_int_equal(o.res, ERR);
	assert_int_equal(o.err, E_FATAL);
	buf_deinit(&o.args);
	buf_reset(&b);
	buf_append_str(&b, "a SELECT {99999999999999999999+}\r\n");
	drive_plus(&lim, &b, 0, &o);
	assert_int_equal(o.err, E_FATAL);
	buf_deinit(&o.args);

	/* without the flag, LITERAL- stays: over 4096 is FATAL */
	buf_reset(&b);
	buf_append_str(&b, "a SELECT {5000+}\r\n");
	drive(&lim, 0, b.data, b.len, 0, 0, &o);
	assert_int_equal(o.err, E_FATAL);
	buf_deinit(&o.args);
	buf_deinit(&b);
}

/* FLAG_SKIP_LONG: an overlong line is read to its LF, then BAD; without the flag FATAL. */
static void
test_skip_long(void **state)
{
	struct imap_parser_limits lim;
	struct outcome o;
	struct buf b;

	imap_parser_limits_default(&lim, true);
	buf_init(&b, BUF_UNLIMITED);
	buf_append_str(&b, "a LIST \"\" \"");
	for (size_t i = 0; i < lim.max_line + 1000; i++)
		buf_append_c(&b, 'x');
	buf_append_str(&b, "\"\r\n");
	drive(&lim, IMAP_PARSER_FLAG_SKIP_LONG, b.data, b.len, 0, 777, &o);
	assert_int_equal(o.res, ERR);
	assert_int_equal(o.err, E_BAD);
	assert_int_equal(o.consumed, b.len);
	assert_string_equal(o.tag, "a");
	buf_deinit(&o.args);
	drive(&lim, 0, b.data, b.len, 0, 0, &o);
	assert_int_equal(o.err, E_FATAL);
	buf_deinit(&o.args);
	buf_deinit(&b);
}

/* Several commands through one parser with resets, the way the session uses it. */
static void
test_sequence(void **state)
{
	static const char in[] = "a NOOP\r\nb\x01 X\r\nc LOGIN {3}\r\nabc x\r\n"
	    "d X {99999}\r\ne SELECT INBOX\r\nf X {99999999999999999999}\r\n";
	static const struct { enum imap_parse_result res; const char *tag; } want[] = {
		{ DONE, "a" }, { ERR, NULL }, { IMAP_PARSE_LITERAL_CONT, "c" }, { DONE, "c" },
		{ ERR, "d" }, { DONE, "e" }, { ERR, "f" },
	};
	struct imap_parser_limits lim;
	struct imap_parser *p;
	size_t pos = 0, used;
	unsigned i;

	imap_parser_limits_default(&lim, true);
	p = imap_parser_create(&lim, 0);
	for (i = 0; i < N_ELEMENTS(want); i++) {
		enum imap_parse_result r;

		r = imap_parser_feed(p, (const unsigned char *)in + pos, sizeof(in) - 1 - pos,
		    &used);
		pos += used;
		assert_int_equal(r, want[i].res);
		if (want[i].tag == NULL)
			assert_null(imap_parser_tag(p));
		else
			assert_string_equal(imap_parser_tag(p), want[i].tag);
		if (r == IMAP_PARSE_LITERAL_CONT) {
			assert_int_equal(imap_parser_literal_size(p), 3);
			assert_false(imap_parser_literal_is_binary(p));
			continue;
		}
		if (r == ERR) {
			const char *text;
			enum imap_parse_error e = imap_parser_error(p, &text);

			assert_true(e == E_BAD || e == E_TOOBIG);
			if (e == E_TOOBIG)
				assert_int_equal(imap_parser_literal_size(p),
				    want[i].tag[0] == 'd' ? 99999 : UINT64_MAX);
		}
		imap_parser_reset(p);
	}
	assert_int_equal(pos, sizeof(in) - 1);
	imap_parser_destroy(&p);
	imap_parser_destroy(&p);
}

/* set_limits applies from the next command; login raises the limits. */
static void
test_set_limits(void **state)
{
	struct imap_parser_limits pre, post;
	struct imap_parser *p;
	const char *cmd = "a X ((a))\r\n";
	size_t used;

	imap_parser_limits_default(&pre, false);
	imap_parser_limits_default(&post, true);
	p = imap_parser_create(&pre, 0);
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)cmd, 5, &used), MORE);
	imap_parser_set_limits(p, &post);
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)cmd + 5, strlen(cmd) - 5,
	    &used), ERR);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)cmd, strlen(cmd), &used),
	    DONE);
	imap_parser_destroy(&p);
}

/* Error texts are constants: none may contain a byte the client sent. */
static void
test_error_no_echo(void **state)
{
	static const char *bad[] = {
		"<img src=x> NOOP\r\n", "a QQQ\"ZZZ\r\n", "a X \"ZZZ\\q\"\r\n", "a X {ZZZ}\r\n",
		"a X ZZZ{\r\n", "a X ((ZZZ\r\n", "QQQ\r\n",
	};
	struct imap_parser_limits lim;

	imap_parser_limits_default(&lim, true);
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		struct imap_parser *p = imap_parser_create(&lim, 0);
		const char *text;
		size_t used;

		assert_int_equal(imap_parser_feed(p, (const unsigned char *)bad[i],
		    strlen(bad[i]), &used), ERR);
		imap_parser_error(p, &text);
		assert_null(strstr(text, "ZZZ"));
		assert_null(strstr(text, "QQQ"));
		assert_null(strchr(text, '<'));
		assert_null(strchr(text, '\r'));
		imap_parser_destroy(&p);
	}
}

static void
test_helpers(void **state)
{
	static const char in[] = "a X NIL abc \"q\" {1}\r\nl (x) {0}\r\n\r\n";
	struct imap_parser_limits lim;
	struct imap_parser *p;
	const struct imap_arg *a, *l;
	const char *s;
	size_t used, len;
	unsigned n, ln;

	imap_parser_limits_default(&lim, true);
	p = imap_parser_create(&lim, 0);
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)in, sizeof(in) - 1, &used),
	    IMAP_PARSE_LITERAL_CONT);
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)in + used,
	    sizeof(in) - 1 - used, &len), IMAP_PARSE_LITERAL_CONT);
	used += len;
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)in + used,
	    sizeof(in) - 1 - used, &len), DONE);
	a = imap_parser_args(p, &n);
	assert_int_equal(n, 6);
	assert_true(imap_arg_atom_equals(&a[0], "nil"));
	assert_true(imap_arg_get_astring(&a[0], &s, &len));
	assert_string_equal(s, "NIL");
	assert_true(imap_arg_get_nstring(&a[0], &s, &len));
	assert_null(s);
	assert_false(imap_arg_get_string(&a[0], &s, &len));
	assert_true(imap_arg_atom_equals(&a[1], "ABC"));
	assert_false(imap_arg_atom_equals(&a[1], "AB"));
	assert_false(imap_arg_get_string(&a[1], &s, &len));
	assert_false(imap_arg_get_nstring(&a[1], &s, &len));
	assert_true(imap_arg_get_astring(&a[1], &s, &len));
	assert_false(imap_arg_atom_equals(&a[2], "q"));
	assert_true(imap_arg_get_string(&a[2], &s, &len));
	assert_true(imap_arg_get_nstring(&a[3], &s, &len));
	assert_int_equal(len, 1);
	assert_string_equal(s, "l");
	assert_false(imap_arg_get_astring(&a[4], &s, &len));
	assert_true(imap_arg_get_list(&a[4], &l, &ln));
	assert_int_equal(ln, 1);
	assert_true(imap_arg_atom_equals(&l[0], "x"));
	assert_false(imap_arg_get_list(&a[0], &l, &ln));
	assert_true(imap_arg_get_astring(&a[5], &s, &len));
	assert_int_equal(len, 0);
	imap_parser_destroy(&p);
}

/* Deep nesting and many items at the post-auth limits stay bounded and parse. */
static void
test_big(void **state)
{
	struct imap_parser_limits lim;
	struct imap_parser *p;
	struct buf in;
	size_t used;
	unsigned i, n;

	imap_parser_limits_default(&lim, true);
	buf_init(&in, BUF_UNLIMITED);
	buf_append_str(&in, "a X ");
	for (i = 0; i < 32; i++)
		buf_append_c(&in, '(');
	for (i = 0; i < 32; i++)
		buf_append_c(&in, ')');
	/* 32 lists + 9968 atoms = max_items */
	for (i = 0; i < 9968; i++)
		buf_append_str(&in, " a");
	buf_append_str(&in, "\r\n");
	p = imap_parser_create(&lim, 0);
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)in.data, in.len, &used),
	    DONE);
	imap_parser_args(p, &n);
	assert_int_equal(n, 9969);
	imap_parser_reset(p);
	/* one more item is too many */
	buf_truncate(&in, in.len - 2);
	buf_append_str(&in, " a\r\n");
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)in.data, in.len, &used),
	    ERR);
	assert_int_equal(used, in.len);
	imap_parser_reset(p);
	/* 33 levels */
	buf_reset(&in);
	buf_append_str(&in, "a X ");
	for (i = 0; i < 33; i++)
		buf_append_c(&in, '(');
	for (i = 0; i < 33; i++)
		buf_append_c(&in, ')');
	buf_append_str(&in, "\r\n");
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)in.data, in.len, &used),
	    ERR);
	imap_parser_destroy(&p);
	buf_deinit(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_utf8_flag),
		cmocka_unit_test(test_literal_plus),
		cmocka_unit_test(test_skip_long),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_set_limits),
		cmocka_unit_test(test_error_no_echo),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
