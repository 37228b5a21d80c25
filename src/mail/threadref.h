/*
 * threadref.h — the message ids a thread is made from (RFC 8474 §5.2 THREADID, RFC 8621
 * §3 threadId; the same fields as RFC 5256 §4 REFERENCES): 64-bit hashes of the
 * Message-ID and of the ids of References and In-Reply-To. Pure; the header is
 * untrusted: at most `max` ids are kept and each id is what lies between '<' and '>'.
 */
#ifndef BUZON_MAIL_THREADREF_H
#define BUZON_MAIL_THREADREF_H

#include <stddef.h>
#include <stdint.h>

/* The hash of one id (never 0). */
uint64_t mail_msgid_hash(const char *p, size_t len);
/*
 * From the header block hdr[0..len): *own_r the hash of the Message-ID's id (0: none);
 * refs[] the hashes of the ids of References (the first max - 1, root first), then of
 * the first id of In-Reply-To. Returns how many refs were written (≤ max).
 */
size_t mail_thread_refs(const unsigned char *hdr, size_t len, uint64_t *own_r,
    uint64_t *refs, size_t max);

#endif
