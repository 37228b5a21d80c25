/*
 * mimefield.h — MIME header field value parsers used by the message parser (internal to
 * src/mail, exported for tests and fuzzing): Content-Type, parameters with RFC 2231
 * continuations, tokens (Content-Transfer-Encoding, Content-Disposition) and
 * Content-Language lists. Runs in the mail process on untrusted, unfolded header text.
 */
#ifndef BUZON_MAIL_MIMEFIELD_H
#define BUZON_MAIL_MIMEFIELD_H

#include <stddef.h>

#include "mail/message.h"

/*
 * "type/subtype" at the start of p[0..len) (comments and whitespace allowed). Returns 0
 * with malloc'd *type_r, *subtype_r (as written) and the offset where parameters start,
 * or -1 if there is no valid type/subtype.
 */
int mail_mime_content_type_parse(const unsigned char *p, size_t len, char **type_r,
    char **subtype_r, size_t *params_start_r);
/*
 * Parameters "; a=b; c*0=..." from p[start..len): at most max_params raw parameters are
 * kept, RFC 2231 continuations merged (see struct mail_param). Malformed parameters are
 * skipped. *params_r is freed with mail_params_free (NULL when *n_r == 0).
 */
void mail_mime_params_parse(const unsigned char *p, size_t len, size_t start,
    unsigned int max_params, struct mail_param **params_r, unsigned int *n_r);
void mail_params_free(struct mail_param *params, unsigned int n);
/* The first token (after CFWS): malloc'd, or NULL if none. *end_r: offset after it. */
char *mail_mime_token_parse(const unsigned char *p, size_t len, size_t *end_r);
/* Content-Language: comma-separated tokens, at most max kept; malloc'd array of strings. */
void mail_mime_language_parse(const unsigned char *p, size_t len, char ***langs_r,
    unsigned int *n_r, unsigned int max);

#endif
