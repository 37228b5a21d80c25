/*
 * preview.h — the text preview of a message (RFC 8970 semantics; IMAP FETCH PREVIEW,
 * and JMAP Email/preview later): a short plain-text abbreviation of the message's first
 * text part. Pure: a parsed message in, UTF-8 text out; no I/O, no globals. Runs in the
 * mail process on untrusted message bytes; the work per message is bounded by
 * MAIL_PREVIEW_SCAN_MAX.
 */
#ifndef BUZON_MAIL_PREVIEW_H
#define BUZON_MAIL_PREVIEW_H

#include <stddef.h>

#include "lib/buf.h"
#include "mail/message.h"

#define MAIL_PREVIEW_CHARS	200		/* Unicode characters at most (RFC 8970 §3.1) */
#define MAIL_PREVIEW_SCAN_MAX	(128 * 1024)	/* raw body bytes examined at most */
/* The part is read in growing prefixes, first this many raw bytes (most previews need
 * no more), then 16 times as many, then MAIL_PREVIEW_SCAN_MAX. */
#define MAIL_PREVIEW_FIRST_READ	1024

/*
 * Append the preview of m to out: the first text/plain part (else the first text/html
 * part, its tags, comments, <script>, <style> and <head> removed and the common entities
 * decoded) that is neither an attachment nor inside an attached message; at most
 * MAIL_PREVIEW_SCAN_MAX bytes of it, transfer-decoded (base64, quoted-printable),
 * converted from its charset to UTF-8 (invalid sequences become U+FFFD), every run of
 * white space and control characters (NUL included) collapsed to one space, trimmed,
 * cut after MAIL_PREVIEW_CHARS characters, never inside a UTF-8 sequence. The result is
 * valid UTF-8 without control characters, at most 4 * MAIL_PREVIEW_CHARS bytes; empty
 * when the message has no such part or it has no text. m must be a full parse (not
 * mail_message_parse_header). Returns 0, or -1 when out's limit was reached (out is
 * then left as it was).
 */
int mail_preview_write(struct buf *out, const struct mail_message *m);

/*
 * The preview of already decoded UTF-8 text (valid UTF-8 expected: invalid bytes are
 * dropped), as above; html selects the tag stripping. Exposed for the unit tests and the
 * fuzz target.
 */
int mail_preview_text(struct buf *out, const unsigned char *utf8, size_t len, bool html);

#endif
