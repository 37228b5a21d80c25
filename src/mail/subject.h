/*
 * subject.h — the base subject of RFC 5256 §2.1 (SORT SUBJECT, THREAD ORDEREDSUBJECT and
 * REFERENCES): the Subject decoded to UTF-8 with its "Re:", "Fwd:", "[list]" leaders,
 * "(fwd)" trailers and "[fwd: ...]" wrappers removed. Pure; runs in the mail process on
 * untrusted header text, reading at most MAIL_BASE_SUBJECT_MAX octets of the decoded
 * value (the steps are linear but the "[fwd: ...]" unwrapping repeats them).
 */
#ifndef BUZON_MAIL_SUBJECT_H
#define BUZON_MAIL_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define MAIL_BASE_SUBJECT_MAX	4096

/*
 * Append the base subject of the raw (folded or unfolded) header value p[0..len) to out
 * (control characters become spaces), not case-folded (compare with mail_casemap_fold). *reply_r (may be NULL) is set when
 * a reply or forward leader or a "[fwd: ...]" wrapper was removed (RFC 5256 §4, the
 * "is a reply or forward" test). Returns 0, or -1 when out's limit was reached.
 */
int mail_base_subject(const char *p, size_t len, struct buf *out, bool *reply_r);

#endif
