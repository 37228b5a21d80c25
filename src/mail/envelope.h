/*
 * envelope.h — the IMAP ENVELOPE, BODY and BODYSTRUCTURE fetch items (RFC 3501 §7.4.2,
 * grammar in §9) written from a parsed message. Runs in the mail process; output goes to
 * a bounded struct buf, strings through lib/imapstr.h (quoted or literal, NIL).
 */
#ifndef BUZON_MAIL_ENVELOPE_H
#define BUZON_MAIL_ENVELOPE_H

#include <stdbool.h>

#include "lib/buf.h"
#include "mail/message.h"

/*
 * Append the parenthesised envelope of `part`, which must be the root or the child of a
 * message/rfc822 part (its header is a message header). Field text is raw (RFC 2047
 * not decoded); Sender and Reply-To default to From (RFC 3501 §7.4.2). part == NULL
 * means the root. Returns 0 or -1 (buffer limit reached; out holds a partial result).
 */
int mail_envelope_write(struct buf *out, const struct mail_message *m,
    const struct mail_part *part);

/*
 * Append BODY (extended == false, the non-extensible form) or BODYSTRUCTURE (extended
 * == true: body-ext-1part / body-ext-mpart with md5, disposition, language, location)
 * of `part` (NULL = root), parenthesised, without the item name. Returns 0 or -1.
 */
int mail_bodystructure_write(struct buf *out, const struct mail_message *m,
    const struct mail_part *part, bool extended);

#endif
