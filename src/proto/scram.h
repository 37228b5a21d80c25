/*
 * scram.h — the SCRAM SASL mechanisms (RFC 5802, SCRAM-SHA-256 RFC 7677, channel
 * binding tls-exporter RFC 9266): parsing the client's messages, building the
 * server's, and the key arithmetic. The login process runs the exchange with the
 * client (parse, build, nonce and channel-binding checks); the auth process alone
 * holds StoredKey and ServerKey and checks the proof (scram_verify_proof). Pure: no
 * I/O, no logging, no globals; every field is bounded; error texts are constants.
 */
#ifndef BUZON_SCRAM_H
#define BUZON_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_USER_MAX		255	/* decoded user name / authzid (octets) */
#define SCRAM_NONCE_MAX		128	/* client nonce (printable octets) */
#define SCRAM_SNONCE_LEN	24	/* server nonce: base64 of 18 random bytes */
#define SCRAM_SALT_MAX		64	/* decoded salt (octets) */
#define SCRAM_KEY_MAX		32	/* the longest hash output (SHA-256) */
#define SCRAM_CBIND_MAX		64	/* channel-binding data (tls-exporter: 32) */
#define SCRAM_GS2_MAX		(4 + 32 + 3 + 3 * SCRAM_USER_MAX)	/* gs2 header */
#define SCRAM_MSG_MAX		4096	/* one decoded client message */
#define SCRAM_ITER_MIN		4096	/* RFC 7677 §4: at least 4096 */
#define SCRAM_ITER_MAX		10000000
/* AuthMessage: client-first-bare, server-first, client-final-without-proof. */
#define SCRAM_AUTHMSG_MAX	(3 * SCRAM_MSG_MAX)

enum scram_hash {
	SCRAM_SHA1 = 1,
	SCRAM_SHA256 = 2,
};

/* The hash's output length (20 or 32). */
size_t scram_hash_len(enum scram_hash h);
/*
 * A mechanism name ("SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", any case): 1 with *hash_r and
 * *plus_r set, 0 when it is not a SCRAM mechanism.
 */
int scram_mech_parse(const char *name, size_t len, enum scram_hash *hash_r, bool *plus_r);
/* The mechanism's name ("SCRAM-SHA-256"), without -PLUS. */
const char *scram_mech_name(enum scram_hash h);

enum scram_cbflag {
	SCRAM_CB_NONE,		/* "n": the client does not support channel binding */
	SCRAM_CB_NOT_OFFERED,	/* "y": it does, but thinks the server does not */
	SCRAM_CB_USED,		/* "p=name": it binds to the channel */
};

struct scram_client_first {
	enum scram_cbflag cbflag;
	char cbname[33];	/* with SCRAM_CB_USED: "tls-exporter" */
	char authzid[SCRAM_USER_MAX + 1];	/* decoded; "" when absent */
	size_t authzid_len;
	char user[SCRAM_USER_MAX + 1];		/* decoded (=2C, =3D) */
	size_t user_len;
	size_t gs2_len;		/* the gs2 header is msg[0..gs2_len) */
	char nonce[SCRAM_NONCE_MAX + 1];
	size_t nonce_len;
};

/*
 * Parse a decoded client-first-message (RFC 5802 §7) of msg[0..len). Rejects: a
 * mandatory extension (m=), a missing or empty n= or r=, a user name or authzid with a
 * NUL, a bad =XX escape or over SCRAM_USER_MAX, a nonce with non-printable characters or
 * over SCRAM_NONCE_MAX, a message over SCRAM_MSG_MAX. Optional extensions after r= are
 * checked for syntax and ignored. Returns 0, or -1 with *error_r a client-safe text.
 */
int scram_parse_client_first(const unsigned char *msg, size_t len,
    struct scram_client_first *out, const char **error_r);

struct scram_client_final {
	size_t without_proof_len;	/* client-final-message-without-proof: msg[0..this) */
	unsigned char cbind[SCRAM_GS2_MAX + SCRAM_CBIND_MAX];	/* decoded c= */
	size_t cbind_len;
	size_t nonce_off, nonce_len;	/* r= value: msg[nonce_off..+nonce_len) */
	unsigned char proof[SCRAM_KEY_MAX];
	size_t proof_len;
};

/*
 * Parse a decoded client-final-message (RFC 5802 §7): c=, r=, optional extensions,
 * p= last. The proof must be hash_len octets. Returns 0, or -1 with *error_r.
 */
int scram_parse_client_final(const unsigned char *msg, size_t len, size_t hash_len,
    struct scram_client_final *out, const char **error_r);

/*
 * The checks the login process makes on a client-final-message: the nonce is the
 * client's and the server's (nonce[0..nonce_len)), and c= is exactly the gs2 header of
 * the client-first-message followed by cb_data (cb_len octets, 0 unless "p=" was
 * used). gs2 is msg[0..cf->gs2_len) of the client-first-message. Constant time over
 * the channel-binding data. Returns 0, or -1 with *error_r.
 */
int scram_check_final(const struct scram_client_final *f, const unsigned char *final_msg,
    const unsigned char *gs2, size_t gs2_len, const char *nonce, size_t nonce_len,
    const unsigned char *cb_data, size_t cb_len, const char **error_r);

/*
 * server-first-message "r=<nonce>,s=<base64 salt>,i=<iter>" into out (out_size bytes,
 * NUL-terminated). Returns its length, or -1 when it does not fit.
 */
int scram_build_server_first(char *out, size_t out_size, const char *nonce, size_t nonce_len,
    const unsigned char *salt, size_t salt_len, uint32_t iter);

/* Stored credentials, Dovecot's "{SCRAM-SHA-256}ITER,SALT,STOREDKEY,SERVERKEY". */
struct scram_stored {
	enum scram_hash hash;
	uint32_t iter;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned char stored_key[SCRAM_KEY_MAX];
	unsigned char server_key[SCRAM_KEY_MAX];
};

/*
 * Parse the part after "{SCRAM-SHA-…}" (s[0..len)) for hash h. Returns 0, or -1 when
 * it is malformed (iteration count outside [1, SCRAM_ITER_MAX], bad base64, wrong key
 * length). SECRET: wipe *out after use.
 */
int scram_stored_parse(enum scram_hash h, const char *s, size_t len, struct scram_stored *out);
/*
 * Derive the stored credentials from a password (Hi = PBKDF2, RFC 5802 §3). Returns 0,
 * -1 on a crypto library error. SECRET: wipe *out after use.
 */
int scram_stored_derive(enum scram_hash h, const char *password, size_t password_len,
    const unsigned char *salt, size_t salt_len, uint32_t iter, struct scram_stored *out);
/*
 * "{SCRAM-SHA-256}ITER,SALT,STOREDKEY,SERVERKEY" of st, malloc'd.
 */
char *scram_stored_format(const struct scram_stored *st);
/*
 * Does password give st's StoredKey (PLAIN and LOGIN against SCRAM credentials)?
 * 1 yes, 0 no, -1 crypto error. Constant time in the comparison.
 */
int scram_password_matches(const struct scram_stored *st, const char *password,
    size_t password_len);
/*
 * The auth side (RFC 5802 §3): ClientSignature = HMAC(StoredKey, AuthMessage),
 * ClientKey = proof XOR ClientSignature, and H(ClientKey) must equal StoredKey
 * (constant-time). On success (1) server_sig gets HMAC(ServerKey, AuthMessage)
 * (scram_hash_len bytes). 0: wrong proof; -1: crypto error or proof of the wrong length.
 */
int scram_verify_proof(const struct scram_stored *st, const unsigned char *auth_msg,
    size_t auth_msg_len, const unsigned char *proof, size_t proof_len,
    unsigned char *server_sig);
/*
 * The client side of the same arithmetic, for tests and test clients: the proof for
 * a password. Returns 0 or -1.
 */
int scram_client_proof(enum scram_hash h, const char *password, size_t password_len,
    const unsigned char *salt, size_t salt_len, uint32_t iter, const unsigned char *auth_msg,
    size_t auth_msg_len, unsigned char *proof, unsigned char *server_sig);

#endif
