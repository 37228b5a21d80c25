/*
 * pop3_uidl.h — the POP3 UIDL template (config `pop3_uidl_format`): checked once when the
 * configuration is loaded (any process) and expanded per message by the POP3 server in
 * the mail process. Pure: nothing is allocated, no I/O.
 */
#ifndef BUZON_POP3_UIDL_H
#define BUZON_POP3_UIDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POP3_UIDL_MAX	70	/* unique-id length (RFC 1939 §7) */

/*
 * UIDL template, Dovecot-compatible subset: "%%", and "%" [ "0" [ width 1..2 digits ] ]
 * [ "X" ] ( "u" | "v" ), u = the message UID, v = the folder UIDVALIDITY, X = hexadecimal
 * (lower case, as Dovecot's var_expand prints it), "0" width = pad with zeros to width
 * (space padding would be no valid unique-id). Other bytes are copied and must be
 * printable ASCII without space (RFC 1939 §7).
 * pop3_uidl_format_check returns true if fmt is such a template with at least one "%u"
 * or "%v" that expands to at most POP3_UIDL_MAX octets for every UID and UIDVALIDITY.
 */
bool pop3_uidl_format_check(const char *fmt);
/*
 * Expand fmt into out (out_size bytes incl. NUL; pass POP3_UIDL_MAX + 1). Returns the
 * length (1..POP3_UIDL_MAX), or 0 if fmt is invalid or the result does not fit or is empty.
 */
size_t pop3_uidl_format(const char *fmt, uint32_t uid, uint32_t uidvalidity, char *out,
    size_t out_size);

#endif
