/*
 * login_scram.c — the login process's half of a SCRAM exchange (RFC 5802, RFC 7677,
 * tls-exporter channel binding RFC 9266), shared by the IMAP and POP3 front ends. Runs
 * unprivileged on attacker bytes. It parses the client's messages (src/proto/scram.c),
 * draws the server nonce, asks auth (through the master) for the user's salt and
 * iteration count, checks the nonce and the channel binding itself (it holds the TLS
 * session), and sends auth the ClientProof with the AuthMessage. It never sees
 * StoredKey or ServerKey: auth answers with the ServerSignature only after a good proof
 * (docs/architecture.md, "SCRAM").
 */
#include <event2/bufferevent_ssl.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "login/login_private.h"
#include "proto/sasl.h"

struct lscram {
	enum scram_hash hash;
	bool plus;
	char mech[24];
	struct scram_client_first cf;
	unsigned char gs2[SCRAM_GS2_MAX];
	size_t gs2_len;
	char *bare;			/* client-first-message-bare */
	size_t bare_len;
	char nonce[SCRAM_NONCE_MAX + SCRAM_SNONCE_LEN + 1];	/* client's + server's */
	size_t nonce_len;
	char server_first[512];
	size_t server_first_len;
};

struct lscram *
lscram_create(const struct lconn *c, const char *mech, size_t len)
{
	struct lscram *s;
	enum scram_hash h;
	bool plus;

	if (!lscram_offered(c) || scram_mech_parse(mech, len, &h, &plus) != 1 ||
	    (plus && !c->tls))
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->hash = h;
	s->plus = plus;
	snprintf(s->mech, sizeof(s->mech), "%s%s", scram_mech_name(h), plus ? "-PLUS" : "");
	return s;
}

void
lscram_destroy(struct lscram **sp)
{
	struct lscram *s = *sp;

	if (s == NULL)
		return;
	if (s->bare != NULL) {
		secret_wipe(s->bare, s->bare_len);
		free(s->bare);
	}
	secret_wipe(s, sizeof(*s));
	free(s);
	*sp = NULL;
}

bool
lscram_plus(const struct lscram *s)
{
	return s->plus;
}

const char *
lscram_mech(const struct lscram *s)
{
	return s->mech;
}

bool
lscram_offered(const struct lconn *c)
{
	return lconn_config(c)->auth_scram;
}

void
lscram_capabilities(const struct lconn *c, struct buf *b, const char *prefix)
{
	if (!lscram_offered(c))
		return;
	(void)buf_appendf(b, "%sSCRAM-SHA-1%sSCRAM-SHA-256", prefix, prefix);
	if (c->tls)
		(void)buf_appendf(b, "%sSCRAM-SHA-1-PLUS%sSCRAM-SHA-256-PLUS", prefix, prefix);
}

/*
 * RFC 9266 §2: 32 bytes exported with the label "EXPORTER-Channel-Binding" and an
 * empty context. TLS 1.2 gives them only with the extended master secret (RFC 9266 §3,
 * RFC 7627); without it the exporter does not identify the session.
 */
static int
tls_exporter(struct lconn *c, unsigned char *out, size_t len)
{
	SSL *ssl = c->tls && c->bev != NULL ? bufferevent_openssl_get_ssl(c->bev) : NULL;
	static const char label[] = "EXPORTER-Channel-Binding";

	if (ssl == NULL || !c->tls_ready)
		return -1;
	if (SSL_version(ssl) < TLS1_3_VERSION && SSL_get_extms_support(ssl) != 1)
		return -1;
	if (SSL_export_keying_material(ssl, out, len, label, sizeof(label) - 1, NULL, 0, 1) != 1)
		return -1;
	return 0;
}

int
lscram_client_first(struct lconn *c, struct lscram *s, const unsigned char *msg,
    size_t len, const char **error_r)
{
	unsigned char rnd[SCRAM_SNONCE_LEN / 4 * 3];
	struct scram_client_first *cf = &s->cf;
	struct buf b;

	if (scram_parse_client_first(msg, len, cf, error_r) < 0)
		return -1;
	*error_r = "Channel binding not supported or not as announced";
	switch (cf->cbflag) {
	case SCRAM_CB_USED:
		if (!s->plus || !c->tls || strcmp(cf->cbname, "tls-exporter") != 0)
			return -1;
		break;
	case SCRAM_CB_NOT_OFFERED:
		/* RFC 5802 §6: "y" while we offer -PLUS means a downgrade */
		if (s->plus || c->tls)
			return -1;
		break;
	case SCRAM_CB_NONE:
		if (s->plus)
			return -1;
		break;
	}
	/* no master users: acting as someone else is refused (docs/security.md) */
	if (cf->authzid_len != 0 && (cf->authzid_len != cf->user_len ||
	    memcmp(cf->authzid, cf->user, cf->user_len) != 0)) {
		*error_r = "Authorization failed";
		return -1;
	}
	memcpy(s->gs2, msg, cf->gs2_len);
	s->gs2_len = cf->gs2_len;
	s->bare_len = len - cf->gs2_len;
	s->bare = xmalloc(s->bare_len + 1);
	memcpy(s->bare, msg + cf->gs2_len, s->bare_len);
	/* the server nonce: printable, from the CSPRNG (RFC 5802 §5.1) */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		*error_r = "Internal error";
		return -1;
	}
	buf_init(&b, SCRAM_SNONCE_LEN);
	if (base64_encode(rnd, sizeof(rnd), &b) < 0 || b.len != SCRAM_SNONCE_LEN)
		abort();
	memcpy(s->nonce, cf->nonce, cf->nonce_len);
	memcpy(s->nonce + cf->nonce_len, b.data, b.len);
	s->nonce_len = cf->nonce_len + b.len;
	s->nonce[s->nonce_len] = '\0';
	buf_deinit(&b);
	return 0;
}

const char *
lscram_user(const struct lscram *s, size_t *len_r)
{
	*len_r = s->cf.user_len;
	return s->cf.user;
}

int
lscram_server_first(struct lscram *s, const unsigned char *salt, size_t salt_len,
    uint32_t iter, struct buf *out)
{
	int n = scram_build_server_first(s->server_first, sizeof(s->server_first), s->nonce,
	    s->nonce_len, salt, salt_len, iter);

	if (n < 0 || salt_len == 0 || iter == 0)
		return -1;
	s->server_first_len = (size_t)n;
	return base64_encode(s->server_first, s->server_first_len, out);
}

int
lscram_client_final_proof(struct lconn *c, struct lscram *s, const unsigned char *msg,
    size_t len, struct buf *am, const char **error_r)
{
	struct scram_client_final f;
	unsigned char cb[32];
	size_t hl = scram_hash_len(s->hash), cb_len = 0;

	buf_init(am, IPC_SCRAM_MAX);
	if (scram_parse_client_final(msg, len, hl, &f, error_r) < 0)
		return -1;
	if (s->cf.cbflag == SCRAM_CB_USED) {
		if (tls_exporter(c, cb, sizeof(cb)) < 0) {
			*error_r = "Channel binding unavailable (TLS 1.2 without extended master "
			    "secret)";
			return -1;
		}
		cb_len = sizeof(cb);
	}
	if (scram_check_final(&f, msg, s->gs2, s->gs2_len, s->nonce, s->nonce_len, cb,
	    cb_len, error_r) < 0)
		return -1;
	/* what auth checks the proof against: ClientProof, then the AuthMessage */
	if (buf_append(am, f.proof, hl) < 0 || buf_append(am, s->bare, s->bare_len) < 0 ||
	    buf_append_c(am, ',') < 0 ||
	    buf_append(am, s->server_first, s->server_first_len) < 0 ||
	    buf_append_c(am, ',') < 0 || buf_append(am, msg, f.without_proof_len) < 0) {
		*error_r = "Authentication data too long";
		return -1;
	}
	return 0;
}

int
lscram_client_final(struct lconn *c, struct lscram *s, const unsigned char *msg,
    size_t len, const char *tag, const char **error_r)
{
	struct buf am;

	if (lscram_client_final_proof(c, s, msg, len, &am, error_r) < 0) {
		buf_deinit(&am);
		return -1;
	}
	lconn_send_auth(c, tag, s->mech, s->cf.user, s->cf.user_len, am.data, am.len);
	buf_deinit(&am);
	return 0;
}

int
lscram_server_final(const unsigned char *sig, size_t len, struct buf *out)
{
	struct buf v;
	int r;

	buf_init(&v, 256);
	r = buf_append_str(&v, "v=") < 0 || base64_encode(sig, len, &v) < 0 ? -1 :
	    base64_encode(v.data, v.len, out);
	buf_deinit(&v);
	return r;
}
